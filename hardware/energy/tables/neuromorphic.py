"""Measured per-operation energies of neuromorphic chips and the conventional-processor figures
that keras-spiking tabulates (``keras_spiking.ModelEnergy.devices``).

* Loihi: Davies et al., IEEE Micro 38(1) 2018, Table 2: synaptic spike operation 23.6 pJ (min),
  neuron update 81 pJ (active) / 52 pJ (inactive), mesh hop 3.0 pJ (east-west) / 4.0 pJ
  (north-south). These are chip-level measurements: they include the on-chip SRAM accesses.
* TrueNorth: Merolla et al., Science 345(6197) 2014: 26 pJ per synaptic event.
* cpu / gpu / arm: keras-spiking's table (Degnan, Marr & Hasler, IEEE TVLSI 24(1) 2016):
  8.6 nJ (Intel i7-4960X), 0.3 nJ (Nvidia GTX Titan Black), 0.9 nJ (ARM Cortex-A) per synaptic
  operation and per neuron update, the processor's energy per MAC (memory and overheads included);
  these devices compute every synapse every step (keras-spiking's ``spiking=False``).
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import Preset, nJ, pJ


@dataclass(frozen=True)
class OpsPreset(Preset):
    """A device priced by measured energy per operation.

    ``event_driven``: synapses are computed per input event (ACs/MACs); otherwise every synapse
    every step (``dense_synapses``, as MACs). ``e_mac`` None: the device takes spikes only (a run
    with graded inputs is refused). ``e_neuron_idle`` None: idle updates cost as much as active
    ones. ``e_hop``: energy of one spike message per mesh hop (None: not modelled);
    ``hops_per_spike``: the hops assumed per spike when no mapping gives them.
    """

    e_ac: float = 0.0
    e_mac: float | None = None
    e_neuron: float = 0.0
    e_neuron_idle: float | None = None
    e_hop: float | None = None
    hops_per_spike: float = 1.0
    event_driven: bool = True


LOIHI = OpsPreset(
    name="loihi", citation="M. Davies et al., \"Loihi: a neuromorphic manycore processor with on-chip learning\", "
                           "IEEE Micro 38(1):82-99, 2018, Table 2",
    e_ac=23.6 * pJ, e_neuron=81 * pJ, e_neuron_idle=52 * pJ, e_hop=(3.0 + 4.0) / 2 * pJ,
    assumptions=("synaptic spike op 23.6 pJ (Davies' minimum), chip measurement incl. SRAM access",
                 "neuron update 81 pJ active (received input), 52 pJ inactive",
                 "one mesh hop per spike at 3.5 pJ, the mean of the E-W (3.0 pJ) and N-S (4.0 pJ) hop "
                 "(keras-spiking adds the same 3.5 pJ to each synaptic op)",
                 "spike inputs only (no MACs); no static power"))

TRUENORTH = OpsPreset(
    name="truenorth", citation="P. A. Merolla et al., \"A million spiking-neuron integrated circuit with a "
                               "scalable communication network and interface\", Science 345(6197):668-673, 2014",
    e_ac=26 * pJ,
    assumptions=("26 pJ per synaptic event, chip measurement (includes neuron and routing energy at the "
                 "measured operating point)", "neuron updates and static power not priced separately",
                 "spike inputs only (no MACs)"))

_DEGNAN = ("B. Degnan, B. Marr, J. Hasler, \"Assessing trends in performance per watt for signal processing "
           "applications\", IEEE TVLSI 24(1):58-66, 2016, as tabulated by keras-spiking "
           "(nengo/keras-spiking, keras_spiking/model_energy.py, ModelEnergy.devices)")


def _conventional(name, e, device):
    return OpsPreset(name=name, citation=_DEGNAN, e_ac=e, e_mac=e, e_neuron=e, event_driven=False,
                     assumptions=(f"{device}: {e / nJ:g} nJ per MAC, memory and overheads included",
                                  "computes every synapse every step (dense), as keras-spiking's non-spiking "
                                  "devices", "one MAC per neuron update"))


CPU = _conventional("cpu", 8.6 * nJ, "Intel i7-4960X")
GPU = _conventional("gpu", 0.3 * nJ, "Nvidia GTX Titan Black")
ARM = _conventional("arm", 0.9 * nJ, "ARM Cortex-A")
