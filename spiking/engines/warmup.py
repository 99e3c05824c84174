"""Compile the event engine's kernels into numba's on-disk cache ahead of the first real run.

numba compiles a kernel the first time it is called with new argument types and keeps the
machine code in its cache (``__pycache__`` beside the source, or ``NUMBA_CACHE_DIR``). On a fresh
install that first call costs seconds (docs/scale.md, "Compile time"). ``make install`` runs this
module once, so that a user's first run only loads the kernels (about 0.3-1 s); after
``pip install spiking-sim`` the same is ``spiking warmup`` or ``python -m spiking.engines.warmup``.

Each warm-up network is tiny (a few hundred units, tens of ms) and exercises one kernel with the
argument types of ordinary runs (float64 state, int32 refractory steps and ring offsets):

* ``nest``: exponential-synapse ``CubaLIF`` (NEST order, the CUBA quickstart), one delay;
* ``delta``: delta-synapse ``LIF`` with several delays (the ring-buffer path and the ledger's
  ring of arrivals), spike-source input;
* ``mixed``: both kinds in one network (the generic clock kernel);
* ``exact``: the delta network in exact mode;
* ``plastic``: pair STDP on a projection;
* ``threads``: the ``nest``, ``delta`` and ``plastic`` networks on 2 threads (only where 2 cores
  are there).

Nothing here is imported by the engine; it only runs it. Compiling is not done at import time.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ..connectors import FixedProbability, OneToOne
from ..models import LIF, CubaLIF, SpikeSourceArray
from ..network import Network
from ..plasticity import PairSTDP
from ._threads import available_cores
from .event import EventEngine

TARGETS = ("nest", "delta", "mixed", "exact", "plastic", "threads")


def _source(net, n, duration, rng):
    t = np.sort(np.round(rng.random(4 * n) * (duration - 1.0), 1))
    net.add_source("input", n, SpikeSourceArray(t, rng.integers(0, n, t.size)))


def _nest_net(rng, n=300):
    net = Network(dt=0.1)
    net.add_population("exc", n, CubaLIF(tau_m=20.0, tau_syn_e=5.0, tau_syn_i=10.0, v_rest=-49.0, v_reset=-60.0,
                                         v_th=-50.0, t_ref=5.0))
    net.connect("exc", "exc", FixedProbability(0.05), weight=0.5, delay=0.1, rng=rng)
    net.connect("exc", "exc", FixedProbability(0.02), weight=1.0, delay=0.1, receptor="inhibitory", rng=rng)
    return net


def _delta_net(rng, n=300, duration=50.0):
    net = Network(dt=0.1)
    _source(net, 50, duration, rng)
    net.add_population("lif", n, LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=2.0))
    for delay in (0.1, 0.5, 1.0):   # several delays: a ring of slots
        net.connect("input", "lif", FixedProbability(0.1), weight=0.6, delay=delay, rng=rng)
    net.connect("lif", "lif", FixedProbability(0.05), weight=0.2, delay=0.3, receptor="inhibitory", rng=rng)
    return net


def build(target: str, rng: np.random.Generator) -> tuple[Network, dict]:
    """The warm-up network of ``target`` and the engine options it runs with."""
    if target == "nest":
        return _nest_net(rng), {}
    if target == "delta":
        return _delta_net(rng), {}
    if target == "exact":
        net = Network(dt=0.1)
        _source(net, 50, 50.0, rng)
        net.add_population("lif", 200, LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=2.0))
        net.connect("input", "lif", FixedProbability(0.2), weight=0.6, delay=0.5, rng=rng)
        return net, {"mode": "exact"}
    if target == "mixed":
        net = _nest_net(rng, 200)
        net.add_population("lif", 200, LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=2.0))
        net.connect("exc", "lif", FixedProbability(0.1), weight=0.5, delay=0.2, rng=rng)
        return net, {}
    if target == "plastic":
        net = Network(dt=0.1)
        _source(net, 50, 50.0, rng)
        net.add_population("lif", 100, LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=2.0))
        net.connect("input", "lif", FixedProbability(0.3), weight=0.5, delay=0.2, rng=rng,
                    plasticity=PairSTDP(tau_plus=20.0, tau_minus=20.0, a_plus=0.01, a_minus=0.012,
                                        w_min=0.0, w_max=1.0))
        net.connect("lif", "lif", OneToOne(), weight=0.1, delay=0.1)
        return net, {}
    raise ValueError(f"target={target!r}: expected one of {TARGETS}")


def warm(targets=TARGETS, *, log=None) -> dict:
    """Run the warm-up networks of ``targets`` (see the module docstring); returns, per run, the
    seconds numba spent compiling (``jit_compile_s``; 0 when the cache was already warm)."""
    rng = np.random.default_rng(0)
    out = {}
    runs = []
    for target in targets:
        if target == "threads":
            if available_cores() < 2:
                continue
            runs += [("threads-nest", "nest", {"threads": 2}), ("threads-delta", "delta", {"threads": 2}),
                     ("threads-plastic", "plastic", {"threads": 2})]
        else:
            runs.append((target, target, {}))
    for name, target, extra in runs:
        net, options = build(target, rng)
        options = dict(options, **extra)
        options.setdefault("threads", 1)
        t0 = time.perf_counter()
        rec = EventEngine(net, **options).run(50.0, progress=False)
        out[name] = {"jit_compile_s": round(float(rec.timing["jit_compile_s"]), 3),
                     "wall_s": round(time.perf_counter() - t0, 3)}
        if log is not None:
            log(f"warm-up {name:<16} compiled {out[name]['jit_compile_s']:6.2f} s (wall {out[name]['wall_s']:.2f} s)")
    return out


def add_arguments(parser):
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))


def main(args=None) -> int:
    if not isinstance(args, argparse.Namespace):
        p = argparse.ArgumentParser(prog="python -m spiking.engines.warmup", description=__doc__.splitlines()[0])
        add_arguments(p)
        args = p.parse_args(args)
    t0 = time.perf_counter()
    warm(tuple(args.targets), log=print)
    print(f"numba cache warm ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
