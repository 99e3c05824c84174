"""SpiNNaker 1 and 2.

* Whole-machine model (hardware mode), from SpiNNaker's own software: SpiNNMachine
  ``spinn_machine/version/version_spin1.py`` (used by SpiNNFrontEndCommon's
  ``compute_energy_used``): 0.35 W per idle chip (48-chip board: 5.23 + 5.17 + 5.52 W + 0.90 W
  SDRAM = 16.82 W idle), 0.034 W active overhead per core (27.50 W over 806 cores), router
  25 pJ per bit: 1 nJ per 40-bit multicast packet, 1.8 nJ per 72-bit packet with payload.
* Per-operation figures (ops and memory modes), Hoeppner et al., "Dynamic power management for
  neuromorphic many-core systems", IEEE TCAS-I 66(8) 2019, as keras-spiking tabulates them:
  SpiNNaker 1 13.3 nJ per synaptic event and 26 nJ per neuron update; SpiNNaker 2 0.45 nJ and
  2.19 nJ.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import Preset, nJ

SPINN_MACHINE = ("SpiNNakerManchester/SpiNNMachine, spinn_machine/version/version_spin1.py "
                 "(WATTS_PER_IDLE_CHIP, WATTS_PER_CORE_ACTIVE_OVERHEAD, JOULES_PER_ROUTER_BIT), used by "
                 "SpiNNFrontEndCommon compute_energy_used")
HOEPPNER = ("S. Hoeppner et al., \"Dynamic power management for neuromorphic many-core systems\", "
            "IEEE TCAS-I 66(8):2973-2986, 2019, as tabulated by keras-spiking (keras_spiking/model_energy.py)")


@dataclass(frozen=True)
class SpiNNakerPreset(Preset):
    """``e_synaptic_event`` / ``e_neuron_update``: per-operation energies (ops, memory modes);
    ``w_idle_chip``, ``w_active_core``, ``e_packet``, ``e_packet_72bit``: the whole-machine model
    (hardware mode; None where no source gives the number)."""

    machine: str = "spinnaker1"
    e_synaptic_event: float = 0.0
    e_neuron_update: float = 0.0
    w_idle_chip: float | None = None
    w_active_core: float | None = None
    e_packet: float | None = None
    e_packet_72bit: float | None = None
    machine_citation: str = ""


SPINNAKER1 = SpiNNakerPreset(
    name="spinnaker1", machine="spinnaker1", citation=HOEPPNER, machine_citation=SPINN_MACHINE,
    e_synaptic_event=13.3 * nJ, e_neuron_update=26 * nJ,
    w_idle_chip=0.35, w_active_core=0.034, e_packet=1.0 * nJ, e_packet_72bit=1.8 * nJ,
    modes=("ops", "memory", "hardware"),
    assumptions=("ops/memory: 13.3 nJ per synaptic event, 26 nJ per neuron update (Hoeppner 2019), "
                 "measured per operation, SDRAM row fetches and core energy included",
                 "hardware: idle chips 0.35 W for the whole run, 0.034 W per active core for its active time, "
                 "1 nJ per 40-bit / 1.8 nJ per 72-bit packet at every router it passes (SpiNNMachine)",
                 "hardware: no FPGA, frame, cooling or host costs"))

SPINNAKER2 = SpiNNakerPreset(
    name="spinnaker2", machine="spinnaker2", citation=HOEPPNER, machine_citation=HOEPPNER,
    e_synaptic_event=0.45 * nJ, e_neuron_update=2.19 * nJ,
    modes=("ops", "memory", "hardware"),
    assumptions=("0.45 nJ per synaptic event, 2.19 nJ per neuron update (Hoeppner 2019, SpiNNaker 2 prototype "
                 "with dynamic power management)",
                 "hardware: the backend's synaptic events and neuron updates at these per-op energies; no cited "
                 "idle-chip, per-core or per-packet figure for SpiNNaker 2, so static and router energy are not "
                 "modelled (reported as such)"))
