"""Resistive-crossbar backend: device models pinned to their sources, the mapping of weights to
differential conductance pairs on tiles, the periphery (DAC, ADC, noise and bound management,
drift compensation, a nonlinear ADC), torch layers for noise-aware training and evaluation, and
:class:`CrossbarEngine`, which runs a network description with its projections on crossbars.

>>> from spiking.hardware import crossbar as xb
>>> layer = xb.AnalogLinear(64, 32, device=xb.PCM(), io=xb.IOParameters(), drift_compensation="global")

See ``docs/crossbar.md``. A backend never computes joules: the counts go to
``recording.ledger.backend["crossbar"]`` (and ``layer.counts()``) for the energy model.
"""
from .analog import AnalogMatrix, empty_counts
from .devices import (PCM, PRESETS, Device, IdealDevice, RRAMGeneric, RRAMMilo, RRAMRandomReservoir, RRAMWan2022,
                      get_device)
from .engine import CrossbarEngine
from .layers import (AnalogConv2d, AnalogLinear, HWATraining, analog_layers, convert_to_analog, drift_model,
                     model_counts, program_model, reset_model_counts)
from .mapping import TileLayout, from_pairs, to_pairs, weight_scale
from .periphery import PERFECT, IOParameters, NonlinearADC, resolution_bits

__all__ = [
    "Device", "PCM", "RRAMWan2022", "RRAMMilo", "RRAMGeneric", "RRAMRandomReservoir", "IdealDevice", "PRESETS",
    "get_device", "IOParameters", "PERFECT", "NonlinearADC", "resolution_bits", "TileLayout", "to_pairs",
    "from_pairs", "weight_scale", "AnalogMatrix", "empty_counts", "AnalogLinear", "AnalogConv2d", "HWATraining",
    "convert_to_analog", "analog_layers", "program_model", "drift_model", "model_counts", "reset_model_counts",
    "CrossbarEngine",
]
