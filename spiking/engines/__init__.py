"""Engines: the event-driven simulator (numba); the torch engine lives in ``spiking.nn``."""
from .event import EventEngine, simulate

__all__ = ["EventEngine", "simulate"]
