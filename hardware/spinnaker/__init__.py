"""The SpiNNaker backend: a network mapped as sPyNNaker/PACMAN map it, run in SpiNNaker's fixed point.

>>> from spiking.hardware import spinnaker
>>> mapping = spinnaker.map_network(net, "spinnaker1")          # doctest: +SKIP
>>> rec = spinnaker.SpiNNakerEngine(net, mapping=mapping).run(1000.0)   # doctest: +SKIP
>>> rec.ledger.backend["spinnaker"]["timer_tick_overruns"]     # doctest: +SKIP

Modules: ``machine`` (chip presets, machine geometry), ``mapping`` (the pipeline's stages),
``synapses`` (ring-buffer shifts, 16-bit weights), ``pipeline`` (:func:`map_network`,
:class:`Mapping`), ``fixedpoint`` (s16.15, u0.32, STDP fixed point), ``kernel`` (the numba
tick loop), ``engine`` (:class:`SpiNNakerEngine`), ``budget`` (the per-tick cycle model and
provenance), ``cli`` (``spiking map``). The backend computes no joules: its counts go to
``ledger.backend["spinnaker"]`` for ``spiking.hardware.energy``. See docs/spinnaker.md.
"""
from .budget import CycleModel, provenance_report
from .engine import BACKEND_KEYS, SpiNNakerEngine, simulate
from .machine import PRESETS, SPINNAKER1, SPINNAKER2, ChipSpec, Machine, preset
from .mapping import MappingError
from .pipeline import Mapping, map_network

__all__ = ["ChipSpec", "Machine", "PRESETS", "SPINNAKER1", "SPINNAKER2", "preset", "MappingError", "Mapping",
           "map_network", "SpiNNakerEngine", "simulate", "BACKEND_KEYS", "CycleModel", "provenance_report"]
