"""How close the event engine's clock kernel is to the bare cost of its neuron update.

The CUBA network at N neurons needs, per 0.1 ms step, one update of every neuron (NEST's
``iaf_psc_exp`` arithmetic in float64: membrane, two synaptic currents, refractory test) and the
delivery of that step's few spikes. This script times, in one process and interleaved:

* ``floor``: a loop that does only the neuron update of the engine's kernel (the same
  arithmetic on arrays of the same types, no threshold test, no spikes, no delivery), for the
  same number of steps;
* ``engine``: ``EventEngine(net, threads=1).run`` on the CUBA network (the benchmark's
  ``simulate_s``; the ledger's active-update count is part of the kernel's update loop).

The floor bounds from below what any float64 clock-driven engine with this update order can
reach on this machine; with it, the ratio to Brian2's ``cpp_standalone`` time that would be
possible at best is ``brian2 / floor`` (printed when ``--brian2-s`` gives Brian2's time from
``benchmarks/cuba.py``). Usage::

    python benchmarks/update_floor.py --sizes 4000 16000 --repeats 5 --brian2-s 0.155 0.425
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent))

_FASTMATH = {"nnan", "ninf", "arcp", "contract", "afn"}   # the engine's flags (_clock.py)


@njit(fastmath=_FASTMATH, nogil=True)
def update_only(v, ie, ii, ref_end, be, bi, steps, c):
    """The membrane and current update of ``_update_exp_nest`` for every neuron and step."""
    base, vrest, p22, p21e, p21i, p11e, p11i = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    for step in range(steps):
        st = np.int32(step)
        for j in range(np.uint64(0), np.uint64(v.shape[0])):
            vo = v[j]
            e = ie[j]
            i = ii[j]
            vn = base + (vo - vrest) * p22 + p21e * e - p21i * i
            v[j] = vn if ref_end[j] < st else vo + 0.0
            ie[j] = e * p11e + be[j]
            ii[j] = i * p11i + bi[j]
    return 0


def floor_time(n: int, steps: int) -> float:
    dt, tau_m, tau_e, tau_i = 0.1, 20.0, 5.0, 10.0
    p22, p11e, p11i = np.exp(-dt / tau_m), np.exp(-dt / tau_e), np.exp(-dt / tau_i)
    c = np.array([-49.0, -49.0, p22, 0.001, 0.001, p11e, p11i])
    v = np.full(n, -60.0)
    ie, ii, be, bi = (np.zeros(n) for _ in range(4))
    ref_end = np.full(n, -1, np.int32)
    t0 = time.perf_counter()
    update_only(v, ie, ii, ref_end, be, bi, steps, c)
    return time.perf_counter() - t0


def engine_time(n: int, duration: float) -> float:
    import spiking
    from cuba import cuba_params
    from spiking.experiments.cuba import build_cuba, draw_cuba

    net = build_cuba(draw_cuba(cuba_params(n), rng=np.random.default_rng(1)))
    eng = spiking.EventEngine(net, threads=1)
    eng.run(duration)   # load the kernels
    t0 = time.perf_counter()
    eng.run(duration)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--duration", type=float, default=1000.0, help="ms (0.1 ms steps)")
    ap.add_argument("--brian2-s", type=float, nargs="*", default=None,
                    help="Brian2 cpp_standalone simulate_s per size (from benchmarks/cuba.py)")
    args = ap.parse_args(argv)
    steps = int(round(args.duration / 0.1))
    update_only(np.zeros(8), *(np.zeros(8) for _ in range(2)), np.full(8, -1, np.int32), np.zeros(8), np.zeros(8),
                2, np.ones(7))
    print(f"{'neurons':>8} {'floor_s':>9} {'run_s':>9} {'run/floor':>10} {'best ratio to Brian2':>21}")
    for k, n in enumerate(args.sizes):
        fl, ru = [], []
        for _ in range(args.repeats):
            fl.append(floor_time(n, steps))
            ru.append(engine_time(n, args.duration))
        f, r = min(fl), min(ru)
        best = f"{args.brian2_s[k] / f:.2f}x" if args.brian2_s and k < len(args.brian2_s) else "-"
        print(f"{n:>8} {f:>9.4f} {r:>9.4f} {r / f:>10.2f} {best:>21}")
    print("min over repeats; floor: the update alone (no spikes, no delivery); run: EventEngine.run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
