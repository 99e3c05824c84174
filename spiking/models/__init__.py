"""Neuron models and spike sources, each declared once (see ``neurons``)."""
from .neurons import IF, LIF, CubaLIF, NeuronModel
from .sources import PoissonSource, SpikeSourceArray

__all__ = ["LIF", "IF", "CubaLIF", "NeuronModel", "SpikeSourceArray", "PoissonSource"]
