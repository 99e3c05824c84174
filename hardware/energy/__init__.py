"""Energy model: prices what a run did (its activity ledger) with cited per-operation costs.

>>> from spiking.hardware.energy import estimate
>>> e = estimate(recording, target="loihi", mode="memory")
>>> print(e)                    # every line with its count, unit cost and source
>>> e.per_inference, e.breakdown()

Targets: ``tables.PRESETS`` (``horowitz45``, ``loihi``, ``truenorth``, ``spinnaker1``,
``spinnaker2``, ``pcm_ibm``, ``cpu``, ``gpu``, ...); modes ``"ops"``, ``"memory"``,
``"hardware"``. See docs/energy.md.
"""
from . import tables
from .estimate import CATEGORIES, Estimate, Item, MissingCounts, estimate
from .ledgers import combine
from .report import bar_chart, compare, table, write_json
from .tables import PRESETS, get_preset, register

__all__ = ["estimate", "Estimate", "Item", "MissingCounts", "CATEGORIES", "tables", "PRESETS", "register",
           "get_preset", "compare", "table", "write_json", "bar_chart", "combine"]
