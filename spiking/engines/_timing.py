"""Time spent in numba (compiling kernels, or loading them from numba's on-disk cache) during a
block of code, so that a run reports it apart from the simulation.

numba announces every ``Dispatcher.compile`` (a cache load or a fresh compile, callees nested inside)
with the event ``numba:compiler_lock`` and fresh compiles alone with ``numba:compile``; a
``TimingListener`` counts nested events once (numba.core.event).
"""
from __future__ import annotations

import time
from contextlib import contextmanager

from numba.core import event as _ev


class CompileTimer:
    """Seconds of the block: ``total_s``; spent in numba: ``compile_s`` (of which fresh compiles,
    not cache loads: ``jit_s``)."""

    def __init__(self):
        self._lock = _ev.TimingListener()
        self._jit = _ev.TimingListener()
        self.total_s = 0.0

    @property
    def compile_s(self) -> float:
        return float(self._lock.duration) if self._lock.done else 0.0

    @property
    def jit_s(self) -> float:
        return float(self._jit.duration) if self._jit.done else 0.0

    def report(self) -> dict:
        """``{"compile_s", "jit_compile_s", "simulate_s"}``: simulate_s is the block's time less compile_s."""
        return {"compile_s": self.compile_s, "jit_compile_s": self.jit_s,
                "simulate_s": max(0.0, self.total_s - self.compile_s)}


@contextmanager
def compile_timer():
    """``with compile_timer() as t: ...``; then ``t.report()``."""
    t = CompileTimer()
    t0 = time.perf_counter()
    with _ev.install_listener("numba:compiler_lock", t._lock), _ev.install_listener("numba:compile", t._jit):
        try:
            yield t
        finally:
            t.total_s = time.perf_counter() - t0
