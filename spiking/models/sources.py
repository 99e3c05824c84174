"""Spike sources: populations whose spikes are given, not computed.

Source spikes are drawn or read before a run and handed to the engines as a schedule; a Poisson
source draws from the generator passed to the run, so the same seed gives the same spikes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class SpikeSourceArray:
    """Given spike times (ms), one array per neuron (PyNN ``SpikeSourceArray``).

    Stored flat: ``times`` (ms, float64) and ``ids`` (neuron index), sorted by time.
    """

    times: np.ndarray
    ids: np.ndarray

    def __post_init__(self):
        times = np.asarray(self.times, dtype=np.float64).ravel()
        ids = np.asarray(self.ids).ravel()
        if times.shape != ids.shape:
            raise ValueError(f"spike times ({times.size}) and ids ({ids.size}): expected equal lengths")
        if not np.all(np.isfinite(times)):
            raise ValueError("spike times contain nan or inf: expected finite times in ms")
        if times.size and times.min() < 0:
            raise ValueError(f"spike time {times.min()} ms: expected times >= 0")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"spike ids of dtype {ids.dtype}: expected integers")
        order = np.argsort(times, kind="stable")
        object.__setattr__(self, "times", times[order])
        object.__setattr__(self, "ids", ids.astype(np.int64)[order])

    @classmethod
    def from_lists(cls, spike_times) -> "SpikeSourceArray":
        """From a list (one entry per neuron) of spike-time sequences in ms."""
        times = [np.asarray(t, dtype=np.float64).ravel() for t in spike_times]
        ids = [np.full(t.size, i, dtype=np.int64) for i, t in enumerate(times)]
        if not times:
            return cls(np.zeros(0), np.zeros(0, dtype=np.int64))
        return cls(np.concatenate(times), np.concatenate(ids))

    def check_size(self, size: int):
        if self.ids.size and (self.ids.min() < 0 or self.ids.max() >= size):
            raise ValueError(f"spike source id {int(self.ids.max()) if self.ids.max() >= size else int(self.ids.min())}: "
                             f"expected ids in [0, {size})")

    def draw(self, size: int, duration: float, rng) -> tuple[np.ndarray, np.ndarray]:
        keep = self.times < duration
        return self.times[keep], self.ids[keep]

    def parameters(self) -> dict:
        return {}


@dataclass(frozen=True)
class PoissonSource:
    """Independent Poisson spike trains of ``rate`` Hz between ``start`` and ``stop`` ms."""

    rate: float
    start: float = 0.0
    stop: float = math.inf

    def __post_init__(self):
        for name in ("rate", "start"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name}={v}: expected a finite value >= 0")
        if math.isnan(self.stop) or self.stop < self.start:
            raise ValueError(f"stop={self.stop}: expected stop >= start={self.start}")

    def check_size(self, size: int):
        pass

    def draw(self, size: int, duration: float, rng) -> tuple[np.ndarray, np.ndarray]:
        if rng is None:
            raise ValueError("PoissonSource needs a seeded generator: pass rng=np.random.default_rng(seed)")
        stop = min(self.stop, duration)
        span = max(0.0, stop - self.start)
        counts = rng.poisson(self.rate * span / 1000.0, size=size)
        ids = np.repeat(np.arange(size, dtype=np.int64), counts)
        times = self.start + rng.random(ids.size) * span
        order = np.argsort(times, kind="stable")
        return times[order], ids[order]

    def parameters(self) -> dict:
        return {"rate": self.rate, "start": self.start, "stop": self.stop}
