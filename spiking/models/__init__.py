"""Neuron models and spike sources, each declared once (see ``neurons``)."""
from .neurons import IF, LIF, CubaLIF, NeuronModel
from .sources import PoissonSource, SpikeSourceArray
from .astrocytes import AdExAstro, Astrocyte, LeakyAstrocyte, ModulatedLIF
from .tsodyks import TsodyksSynapse

__all__ = ["LIF", "IF", "CubaLIF", "NeuronModel", "SpikeSourceArray", "PoissonSource",
           "Astrocyte", "AdExAstro", "LeakyAstrocyte", "ModulatedLIF", "TsodyksSynapse"]
