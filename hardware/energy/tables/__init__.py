"""Cost tables, one module per source; every preset is a frozen dataclass carrying its citation
and assumptions. ``PRESETS`` maps target names to presets; :func:`register` adds one.

>>> from dataclasses import replace
>>> from spiking.hardware.energy.tables import HOROWITZ45, register
>>> register(HOROWITZ45.scaled(7, name="horowitz7"))      # a 7 nm digital accelerator
"""
from .base import MODES, Preset
from .crossbar import CROSSBAR, PCM_IBM, RRAM_WAN2022, CrossbarPreset
from .horowitz import HOROWITZ45, HOROWITZ45_INT8, DigitalPreset
from .neuromorphic import ARM, CPU, GPU, LOIHI, TRUENORTH, OpsPreset
from .spinnaker import SPINNAKER1, SPINNAKER2, SpiNNakerPreset

__all__ = ["MODES", "Preset", "DigitalPreset", "OpsPreset", "SpiNNakerPreset", "CrossbarPreset", "PRESETS",
           "register", "get_preset", "HOROWITZ45", "HOROWITZ45_INT8", "LOIHI", "TRUENORTH", "CPU", "GPU", "ARM",
           "SPINNAKER1", "SPINNAKER2", "CROSSBAR", "PCM_IBM", "RRAM_WAN2022"]

PRESETS: dict = {}


def register(preset: Preset, *, overwrite: bool = False) -> Preset:
    """Make ``preset`` available as a target by its name."""
    if not isinstance(preset, Preset):
        raise TypeError(f"preset {preset!r}: expected a cost-table Preset (DigitalPreset, OpsPreset, ...)")
    if preset.name in PRESETS and not overwrite and PRESETS[preset.name] is not preset:
        raise ValueError(f"target {preset.name!r} is already registered: pass overwrite=True to replace it")
    PRESETS[preset.name] = preset
    return preset


def get_preset(target) -> Preset:
    """The preset of a target name (or a Preset itself)."""
    if isinstance(target, Preset):
        return target
    if not isinstance(target, str) or target not in PRESETS:
        raise ValueError(f"target={target!r}: unknown; known targets are {sorted(PRESETS)}")
    return PRESETS[target]


for _p in (HOROWITZ45, HOROWITZ45_INT8, LOIHI, TRUENORTH, CPU, GPU, ARM, SPINNAKER1, SPINNAKER2,
           CROSSBAR, PCM_IBM, RRAM_WAN2022):
    register(_p)
