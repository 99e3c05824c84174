"""spiking-sim: one spiking-network description, many ways to run it.

>>> import spiking as sp
>>> net = sp.Network(dt=0.1)

The core (this package) never imports ``spiking.hardware``, ``spiking.datasets`` or
``spiking.experiments``; torch is imported only by ``spiking.nn``.
"""
from .connectors import AllToAll, FixedProbability, FromList, OneToOne, TripartiteConnect
from .engines import EventEngine, simulate
from .models import IF, LIF, AdExAstro, Astrocyte, CubaLIF, PoissonSource, SpikeSourceArray, TsodyksSynapse
from .network import Network, Population, Projection
from .recording import ActivityLedger, Recording, SpikeTrains

__version__ = "0.1.0"

__all__ = [
    "Network", "Population", "Projection",
    "LIF", "IF", "CubaLIF", "SpikeSourceArray", "PoissonSource",
    "Astrocyte", "AdExAstro", "TsodyksSynapse",
    "OneToOne", "AllToAll", "FixedProbability", "FromList", "TripartiteConnect",
    "EventEngine", "simulate", "Recording", "SpikeTrains", "ActivityLedger",
]
