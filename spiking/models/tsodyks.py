"""Tsodyks-Markram short-term plasticity, as NEST's ``tsodyks_synapse`` (Tsodyks, Uziel & Markram
2000, J. Neurosci. 20:RC50, Eqs. 3-4, solved exactly between spikes).

Each connection keeps the resources in the recovered state ``x``, the active state ``y``, the
inactive state ``z = 1 - x - y`` and the release probability ``u``. At a presynaptic spike,
after ``h`` ms since the previous one (NEST ``models/tsodyks_synapse.h``, read, not copied)::

    u <- u exp(-h/tau_fac)                    (u <- 0 when tau_fac = 0)
    x <- x + Pxy y + (1 - exp(-h/tau_rec)) z,  Pxy = ((Pzz - 1) tau_rec - (Pyy - 1) tau_psc)/(tau_psc - tau_rec)
    y <- y exp(-h/tau_psc)
    u <- u + U (1 - u)
    delta = u x;  x <- x - delta;  y <- y + delta

and the spike is transmitted with weight ``delta * w`` (w the projection's weight). As in NEST,
the previous-spike time starts at 0 ms (it matters only when the initial ``x + y < 1``).

Attach it to any projection: ``net.connect(..., plasticity=TsodyksSynapse(U=0.5, tau_rec=800))``;
the event engine's astro kernel (``spiking.engines.astro``) runs it, state per connection.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields


def _num(name, value, *, lo=None, lo_open=False, hi=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name}={value!r}: expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value}: expected a finite number")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"{name}={value}: expected a value {'>' if lo_open else '>='} {lo}")
    if hi is not None and value > hi:
        raise ValueError(f"{name}={value}: expected a value <= {hi}")
    return value


@dataclass(frozen=True)
class TsodyksSynapse:
    """Short-term depression/facilitation (NEST ``tsodyks_synapse``; defaults are NEST's).

    U: increment of u per spike, in [0, 1]; tau_psc (ms, > 0): decay of the active state y;
    tau_rec (ms, > 0): recovery; tau_fac (ms, >= 0; 0 = no facilitation); x, y: initial
    fractions (x + y <= 1); u: initial release probability.
    """

    U: float = 0.5
    tau_psc: float = 3.0
    tau_rec: float = 800.0
    tau_fac: float = 0.0
    x: float = 1.0
    y: float = 0.0
    u: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "U", _num("U", self.U, lo=0.0, hi=1.0))
        object.__setattr__(self, "tau_psc", _num("tau_psc", self.tau_psc, lo=0.0, lo_open=True))
        object.__setattr__(self, "tau_rec", _num("tau_rec", self.tau_rec, lo=0.0, lo_open=True))
        object.__setattr__(self, "tau_fac", _num("tau_fac", self.tau_fac, lo=0.0))
        object.__setattr__(self, "x", _num("x", self.x, lo=0.0, hi=1.0))
        object.__setattr__(self, "y", _num("y", self.y, lo=0.0, hi=1.0))
        object.__setattr__(self, "u", _num("u", self.u, lo=0.0, hi=1.0))
        if self.x + self.y > 1.0:
            raise ValueError(f"x + y = {self.x + self.y}: expected x + y <= 1")
        if self.tau_psc == self.tau_rec:
            raise ValueError(f"tau_psc = tau_rec = {self.tau_rec}: expected different values (NEST's propagator "
                             "divides by tau_psc - tau_rec)")

    def parameters(self) -> dict:
        """All fields as a JSON-able dict; ``TsodyksSynapse(**rule.parameters())`` rebuilds it."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def check_weights(self, weights, name: str):
        """Any weight >= 0 (the projection checks that already)."""

    def release(self, intervals, state=None):
        """Transmitted fractions ``delta`` for a train with the given inter-spike ``intervals``
        (ms; the first entry is the time since t = 0), by the update above (a pure-Python
        reference for tests and docs). Returns (deltas, final (x, y, u))."""
        x, y, u = (self.x, self.y, self.u) if state is None else state
        out = []
        for h in intervals:
            puu = 0.0 if self.tau_fac == 0 else math.exp(-h / self.tau_fac)
            pyy = math.exp(-h / self.tau_psc)
            pzz = math.exp(-h / self.tau_rec)
            pxy = ((pzz - 1.0) * self.tau_rec - (pyy - 1.0) * self.tau_psc) / (self.tau_psc - self.tau_rec)
            z = 1.0 - x - y
            u *= puu
            x += pxy * y + (1.0 - pzz) * z
            y *= pyy
            u += self.U * (1.0 - u)
            d = u * x
            x -= d
            y += d
            out.append(d)
        return out, (x, y, u)


RULES = {"TsodyksSynapse": TsodyksSynapse}
