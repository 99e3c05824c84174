"""Differentiable engine: spiking layers on the shared neuron declarations, surrogate gradients,
BPTT / SLTT / SLTT-K training, and export to the network description.

torch is imported only here (``import spiking`` does not need it).

>>> import spiking.nn as snn
>>> model = snn.Sequential(snn.Linear(700, 256), snn.LIF(beta=0.9),
...                        snn.Linear(256, 20), snn.LeakyReadout(beta=0.9))
>>> out, state = model(x)            # x: [T, B, 700]; starts from rest, returns the final state

See docs/training.md.
"""
from . import functional, surrogate
from .astro import AstroLIF, AstroLIFState, astro_to_network
from .delays import DelayedLinear, SigmaSchedule, TimeDropout, delay_optimizers
from .export import Exported, spikes_to_source, to_network
from .fused import filter_fused, lif_fused
from .layers import (Conv2d, CubaLIF, Flatten, LeakyReadout, LIF, Linear, RecurrentLIF, Sequential,
                     SpikingModule, build_layer, build_model, tau_from_beta)
from .strategies import STRATEGIES, register_strategy, sequence_loss
from .surrogate import (ATan, FastSigmoid, Rectangle, Sigmoid, Surrogate, Triangle, available_surrogates,
                        get_surrogate, register_surrogate, spike)
from .trainer import Trainer

__all__ = [
    "functional", "surrogate",
    "LIF", "CubaLIF", "RecurrentLIF", "LeakyReadout", "Linear", "Conv2d", "Flatten", "Sequential",
    "SpikingModule", "build_layer", "build_model", "tau_from_beta",
    "Surrogate", "ATan", "FastSigmoid", "Triangle", "Sigmoid", "Rectangle", "spike",
    "register_surrogate", "get_surrogate", "available_surrogates",
    "STRATEGIES", "register_strategy", "sequence_loss", "Trainer",
    "to_network", "spikes_to_source", "Exported", "lif_fused", "filter_fused",
    "AstroLIF", "AstroLIFState", "astro_to_network",
    "DelayedLinear", "SigmaSchedule", "TimeDropout", "delay_optimizers",
]
