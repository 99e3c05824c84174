"""The event engine's clock mode on 1, 2, ... threads (issue 16, item 1): wall time of the CUBA
network per thread count, in one process, medians over rounds, the speed-up over one thread
printed, and a check that every thread count gave the same spikes.

    .venv/bin/python benchmarks/threads.py --sizes 4000 16000 --threads 1 2 --duration 1000 --rounds 5
    .venv/bin/python benchmarks/threads.py --sizes 160000 --threads 1 2 4 8 --duration 100 --json out.json
    .venv/bin/python benchmarks/threads.py --sizes 16000 64000 --delay 1.0   # 10-step windows per region

The rounds interleave the thread counts (1, 2, 1, 2, ...), so that a change in the machine's load
hits them alike. On a machine shared with other work the figures are noisy: a step is one
parallel region, and a thread that the OS does not run holds the step up for its time slice.
Set ``OMP_WAIT_POLICY=passive`` there (threads that wait sleep instead of spinning).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _network(n, seed, delay=0.1):
    from spiking.experiments.cuba import CubaParams, build_cuba, draw_cuba
    return build_cuba(draw_cuba(CubaParams(n_neurons=n, p_connect=min(1.0, 80.0 / (n - 1)), delay=delay),
                                np.random.default_rng(seed)))


def measure(n, threads, duration, rounds, seed=1, delay=0.1):
    from spiking import EventEngine
    import numba
    net = _network(n, seed, delay)
    engines = {t: EventEngine(net, threads=t) for t in threads}
    ref = None
    identical = True
    for t in threads:                       # warm-up: compile or load the kernels, make the plans
        engines[t].run(min(duration, 10.0))
    walls = {t: [] for t in threads}
    spikes = None
    for _ in range(rounds):
        for t in threads:
            t0 = time.perf_counter()
            rec = engines[t].run(duration)
            walls[t].append(time.perf_counter() - t0)
            s = rec.spikes["neurons"]
            key = (s.times, s.ids)
            if ref is None:
                ref = key
                spikes = len(s)
            identical &= bool(np.array_equal(key[0], ref[0]) and np.array_equal(key[1], ref[1]))
    med = {t: statistics.median(w) for t, w in walls.items()}
    return {"n_neurons": n, "duration_ms": duration, "delay_ms": delay, "rounds": rounds, "spikes": spikes,
            "identical_spikes": identical, "wall_s": walls, "median_s": med,
            "speedup_vs_1": {t: med[threads[0]] / med[t] for t in threads},
            "threading_layer": numba.threading_layer()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="the first is the baseline")
    ap.add_argument("--duration", type=float, default=1000.0, help="ms per run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--delay", type=float, default=0.1,
                    help="synaptic delay in ms (CUBA: 0.1 = one step; a longer delay lets the threads run "
                         "delay/dt steps per parallel region)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = {"machine": {"cpu_count": os.cpu_count(), "load_1min_at_start": load, "platform": platform.platform(),
                           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}, "runs": []}
    print(f"cores {os.cpu_count()}, load average {load:.2f}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')!r}")
    for n in a.sizes:
        r = measure(n, a.threads, a.duration, a.rounds, delay=a.delay)
        results["runs"].append(r)
        base = a.threads[0]
        cells = ", ".join(f"{t} thr {r['median_s'][t]:.3f} s (x{r['speedup_vs_1'][t]:.2f})" for t in a.threads)
        print(f"CUBA {n:>8} neurons, delay {a.delay:g} ms, {a.duration:g} ms, {r['spikes']} spikes: {cells} vs {base} thread; "
              f"same spikes: {r['identical_spikes']}", flush=True)
    results["machine"]["load_1min_at_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if a.json:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from spiking.atomic import write_text_atomic
        a.json.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(a.json, json.dumps(results, indent=2, default=str))
        print(f"wrote {a.json}")
    return 0 if all(r["identical_spikes"] for r in results["runs"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
