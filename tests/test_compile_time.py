"""Compile time (issue 16, item 2): runs report numba's time apart from the simulation, the
kernels of a fresh install are cached and loaded again (the one-kind twins of ``clock_run`` too,
which are made by rebinding globals and would silently recompile every time if numba could not
cache them), and a one-kind network compiles only the population kernel it uses.

Cold runs happen in a subprocess with its own empty ``NUMBA_CACHE_DIR``: the caches the other
tests and users share are never touched. (How long a cold compile takes is measured by
benchmarks/compile_time.py, not asserted here.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from spiking.engines import kernels

CHILD = r"""
import json, numpy as np, spiking as sp
from spiking.experiments.cuba import CubaParams, build_cuba, draw_cuba
net = build_cuba(draw_cuba(CubaParams(n_neurons=300, p_connect=0.2), np.random.default_rng(4)))
rec = sp.EventEngine(net, threads=1).run(50.0)
s = rec.spikes["neurons"]
print("RESULT " + json.dumps({"timing": rec.timing, "times": s.times.tolist(), "ids": s.ids.tolist()}))
"""


def _child(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    p = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_cold_then_warm_cache_and_only_the_kernels_used(tmp_path):
    cold = _child(tmp_path)
    t = cold["timing"]
    assert t["jit_compile_s"] > 0 and t["compile_s"] >= t["jit_compile_s"] and t["simulate_s"] >= 0
    assert t["threads"] == 1 and len(cold["ids"]) > 0
    files = sorted(os.path.basename(f) for _, _, fs in os.walk(tmp_path) for f in fs)
    names = {f.split("-")[0] for f in files if f.endswith(".nbi")}
    # CUBA is one kind (NEST-order exponential synapses): its twin of clock_run, and no other
    # population kernel, no exact-mode or threaded kernel
    assert "_clock.clock_run_nest" in names and "_clock._update_exp_nest" in names, names
    assert not names & {"_clock._update_delta", "_clock._update_exp_spinnaker", "_clock.clock_run",
                        "_exact.exact_run"}, names
    assert not any(n.startswith("_threads.") for n in names), names
    warm = _child(tmp_path)
    assert warm["timing"]["jit_compile_s"] == 0.0          # everything loaded from the cache
    assert warm["timing"]["compile_s"] > 0                  # loading is counted too
    assert warm["times"] == cold["times"] and warm["ids"] == cold["ids"]


def test_compile_timer_counts_compiles_and_not_calls():
    @njit(cache=False)
    def fresh(x):
        return x * 2.0 + 1.0

    with kernels.compile_timer() as t:
        assert fresh(1.5) == 4.0
    assert t.jit_s > 0 and t.compile_s >= t.jit_s and t.total_s >= t.compile_s
    with kernels.compile_timer() as t2:
        fresh(2.5)                                         # compiled already: no numba time
    assert t2.compile_s == 0.0 and t2.jit_s == 0.0
    r = t.report()
    assert r["simulate_s"] == max(0.0, t.total_s - t.compile_s)


def test_every_run_reports_compile_apart_from_simulation():
    import spiking as sp
    net = sp.Network(dt=0.1)
    net.add_source("s", 3, sp.SpikeSourceArray.from_lists([[1.0], [2.0], [3.0]]))
    net.add_population("n", 3, sp.LIF(v_th=-64.0))
    net.connect("s", "n", sp.OneToOne(), weight=5.0, delay=0.1)
    for mode in ("clock", "exact"):
        rec = sp.simulate(net, 10.0, mode=mode)
        assert set(rec.timing) == {"compile_s", "jit_compile_s", "simulate_s", "threads"}
        assert all(np.isfinite(v) and v >= 0 for v in rec.timing.values())
        assert len(rec.spikes["n"]) == 3


WARM_CHILD = r"""
import json, sys
from spiking.engines.warmup import warm
print("RESULT " + json.dumps(warm(tuple(sys.argv[1:]))))
"""


def _warm(cache_dir, targets):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    p = subprocess.run([sys.executable, "-c", WARM_CHILD, *targets], env=env, capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT "):])


def _warm_twice(tmp_path, targets):
    cold = _warm(tmp_path, targets)
    assert all(r["jit_compile_s"] > 0 for r in cold.values()), cold      # a cold cache compiles
    warm = _warm(tmp_path, targets)
    # after the warm-up (what `make install` runs) a new process compiles nothing: every kernel
    # it runs was written to numba's cache and is loaded from it
    assert {k: r["jit_compile_s"] for k, r in warm.items()} == {k: 0.0 for k in cold}, warm


def test_warmup_leaves_nothing_to_compile(tmp_path):
    _warm_twice(tmp_path, ["nest", "delta"])


@pytest.mark.slow
def test_warmup_every_kernel_is_cached(tmp_path):
    """Every warm-up target, exact mode, plastic and threaded kernels included (~45 s cold)."""
    from spiking.engines.warmup import TARGETS

    _warm_twice(tmp_path, list(TARGETS))
