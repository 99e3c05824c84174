"""Large CUBA networks: time and memory of our event engine from 4,000 to 1,000,000 neurons.

The network is the CUBA benchmark of :mod:`spiking.experiments.cuba` (Vogels & Abbott 2005, as in
Brette et al. 2007, benchmark 2) with the connection probability scaled as ``80 / (N - 1)``, so
every neuron keeps 80 inputs on average and the weights, hence the mean input and the rates,
stay those of the 4,000-neuron network.

Each size runs in a fresh worker process (``--worker N``), so its peak resident memory
(``ru_maxrss``) belongs to that size alone. A worker first runs a 10-neuron network for 1 ms so
that loading (or compiling) the numba kernels is timed apart (``compile_s``), then times:

* ``draw_s``: :func:`~spiking.experiments.cuba.draw_cuba` (vectorised, seeded connection draw);
* ``network_s``: :func:`~spiking.experiments.cuba.build_cuba` (the network description);
* ``engine_s``: ``EventEngine(net)`` (flattening into CSR arrays and the ring-buffer offsets);
* ``simulate_s``: ``engine.run(duration)``.

Memory is reported two ways: the resident set after each stage and its peak (what the machine
must have), and an exact account of the arrays that stay alive, split by length into per-synapse
arrays (length = number of synapses) and per-neuron arrays (length N or N + 1), for the network
description and the engine separately. The summary fits bytes per synapse and per neuron to the
array account and resident memory per neuron (80 synapses included) over the sizes.

    python benchmarks/scale.py --sizes 4000 16000 160000 --duration 1000 --json benchmarks/results/scale.json
    nice -n 10 python benchmarks/scale.py --sizes 1000000 --duration 100 --json benchmarks/results/scale-1m.json

With ``--nest`` each size also runs in NEST 3.10 (``iaf_psc_exp``, one thread), in a worker of
its own, on the same connection list and initial potentials (``cuba.NestCuba`` of
``benchmarks/cuba.py``): ``draw_s``, NEST's build (``Create``, ``Connect``, ``Prepare``:
``nest_build_s``), ``nest.Run`` (``simulate_s``), peak resident memory, and the spike count, which
should equal ours (it does at 4,000 and 16,000 neurons, ``benchmarks/cuba.py``).

    python benchmarks/scale.py --sizes 4000 160000 --duration 100 --nest

Figures and their reading: docs/scale.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SYNAPSES_PER_NEURON = 80


def _rss_bytes() -> int:
    """Current resident set of this process (Linux /proc/self/statm, pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # ru_maxrss is in KiB on Linux


def array_account(obj, n_synapses: int, n_neurons: int) -> dict:
    """Bytes of the numpy arrays held by ``obj`` (attributes, lists of arrays, tuples), split into
    per-synapse (first dimension == n_synapses), per-neuron (n_neurons or n_neurons + 1) and other."""
    out = {"synapse": 0, "neuron": 0, "other": 0}

    def visit(x):
        if isinstance(x, np.ndarray):
            n = x.shape[0] if x.ndim else 0
            key = "synapse" if n == n_synapses else "neuron" if n in (n_neurons, n_neurons + 1) else "other"
            out[key] += x.nbytes
        elif isinstance(x, (list, tuple)):
            for y in x:
                visit(y)
        elif isinstance(x, dict):
            for y in x.values():
                visit(y)

    for value in vars(obj).values():
        visit(value)
    return out


def network_account(net) -> dict:
    out = {"synapse": 0, "neuron": 0, "other": 0}
    for proj in net.projections:
        out["synapse"] += sum(getattr(proj, a).nbytes for a in ("pre_idx", "post_idx", "weight", "delay"))
    for pop in net.populations.values():
        out["neuron"] += sum(np.asarray(v).nbytes for v in pop.initial.values())
    return out


def cuba_params(n_neurons: int):
    from spiking.experiments.cuba import CubaParams
    return CubaParams(n_neurons=n_neurons, p_connect=min(1.0, SYNAPSES_PER_NEURON / (n_neurons - 1)))


def worker(n_neurons: int, duration: float, seed: int) -> dict:
    """One size, in this process: times, memory and spikes (see the module docstring)."""
    import spiking as sp
    from spiking.experiments.cuba import build_cuba, draw_cuba

    row = {"n_neurons": n_neurons, "duration_ms": duration, "seed": seed, "rss_start": _rss_bytes()}
    t = time.perf_counter()
    tiny = build_cuba(draw_cuba(cuba_params(10), np.random.default_rng(0)))
    sp.EventEngine(tiny).run(1.0, progress=False)
    row["compile_s"] = time.perf_counter() - t
    t = time.perf_counter()
    conn = draw_cuba(cuba_params(n_neurons), np.random.default_rng(seed))
    row["draw_s"] = time.perf_counter() - t
    row["rss_after_draw"] = _rss_bytes()
    t = time.perf_counter()
    net = build_cuba(conn)
    del conn   # the description holds its own copy of the connection list
    row["network_s"] = time.perf_counter() - t
    row["rss_after_network"] = _rss_bytes()
    row["n_synapses"] = net.n_synapses
    t = time.perf_counter()
    engine = sp.EventEngine(net)
    row["engine_s"] = time.perf_counter() - t
    row["rss_after_engine"] = _rss_bytes()
    row["peak_rss_after_build"] = _peak_rss_bytes()
    t = time.perf_counter()
    rec = engine.run(duration, progress=None)
    row["simulate_s"] = time.perf_counter() - t
    row["rss_after_run"] = _rss_bytes()
    row["peak_rss"] = _peak_rss_bytes()
    spikes = rec.spikes["neurons"]
    row["spikes"] = int(spikes.times.size)
    row["mean_rate_hz"] = row["spikes"] / n_neurons / (duration / 1000.0)
    n_engine_syn = int(engine.syn_post.size)
    row["arrays_network"] = network_account(net)
    row["arrays_engine"] = array_account(engine, n_engine_syn, engine.n_total)
    return row


def nest_worker(n_neurons: int, duration: float, seed: int) -> dict:
    """One size in NEST, in this process (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cuba import NestCuba
    from spiking.experiments.cuba import draw_cuba

    row = {"simulator": "nest", "n_neurons": n_neurons, "duration_ms": duration, "seed": seed}
    t = time.perf_counter()
    conn = draw_cuba(cuba_params(n_neurons), np.random.default_rng(seed))
    row["draw_s"] = time.perf_counter() - t
    sim = NestCuba(conn, duration, threads=1)
    row.update(sim.prepare())
    out = sim.measure()
    row.update(nest_build_s=out["build_s"], simulate_s=out["simulate_s"], spikes=int(out["spikes"]),
               n_synapses=int(out["n_connections"]), peak_rss=_peak_rss_bytes())
    row["mean_rate_hz"] = row["spikes"] / n_neurons / (duration / 1000.0)
    return row


def fit_per_unit(rows: list[dict]) -> dict:
    """Least-squares slopes over the sizes: array bytes per synapse and per neuron (network and
    engine), resident bytes per neuron (with its 80 synapses) after the build and at the peak."""
    n = np.array([r["n_neurons"] for r in rows], dtype=float)
    s = np.array([r["n_synapses"] for r in rows], dtype=float)
    fit = {}
    for part in ("arrays_network", "arrays_engine"):
        for kind, x in (("synapse", s), ("neuron", n)):
            y = np.array([r[part][kind] for r in rows], dtype=float)
            fit[f"{part}_bytes_per_{kind}"] = float(y.sum() / x.sum())
    if len(rows) >= 2:
        for key in ("rss_after_engine", "peak_rss"):
            y = np.array([r[key] for r in rows], dtype=float)
            slope, icpt = np.polyfit(n, y, 1)
            fit[f"{key}_bytes_per_neuron"] = float(slope)
            fit[f"{key}_intercept_bytes"] = float(icpt)
            # linearity: largest deviation of a size from the line, relative to its value
            fit[f"{key}_max_rel_dev_from_line"] = float(np.max(np.abs(y - (slope * n + icpt)) / y))
    return fit


def _run_worker(n: int, duration: float, seed: int, nest: bool = False) -> dict:
    env = dict(os.environ)
    env.setdefault("NUMBA_NUM_THREADS", "1")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    flag = "--nest-worker" if nest else "--worker"
    out = subprocess.run([sys.executable, __file__, flag, str(n), "--duration", str(duration),
                          "--seed", str(seed)], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_nest(rows: list[dict], ours: list[dict]):
    mine = {r["n_neurons"]: r for r in ours}
    print(f"{'NEST 3.10':>10} {'synapses':>12} {'draw_s':>7} {'build_s':>8} {'sim_s':>8} {'spikes':>10} "
          f"{'peak MB':>8} {'sim vs ours':>11} {'spikes = ours':>13}")
    for r in rows:
        m = mine.get(r["n_neurons"])
        ratio = f"{r['simulate_s'] / m['simulate_s']:.1f}x" if m else "-"
        same = str(m["spikes"] == r["spikes"]) if m else "-"
        print(f"{r['n_neurons']:>10,} {r['n_synapses']:>12,} {r['draw_s']:>7.2f} {r['nest_build_s']:>8.2f} "
              f"{r['simulate_s']:>8.2f} {r['spikes']:>10,} {_mb(r['peak_rss']):>8} {ratio:>11} {same:>13}")


def _mb(x) -> str:
    return f"{x / 2**20:,.0f}"


def print_table(rows: list[dict], fit: dict):
    print(f"{'neurons':>10} {'synapses':>12} {'draw_s':>7} {'net_s':>6} {'engine_s':>8} {'sim_s':>7} "
          f"{'compile_s':>9} {'spikes':>10} {'rate_Hz':>7} {'RSS MB':>8} {'peak MB':>8}")
    for r in rows:
        print(f"{r['n_neurons']:>10,} {r['n_synapses']:>12,} {r['draw_s']:>7.2f} {r['network_s']:>6.2f} "
              f"{r['engine_s']:>8.2f} {r['simulate_s']:>7.2f} {r['compile_s']:>9.2f} {r['spikes']:>10,} "
              f"{r['mean_rate_hz']:>7.3f} {_mb(r['rss_after_engine']):>8} {_mb(r['peak_rss']):>8}")
    for k, v in fit.items():
        print(f"  {k}: {v:,.3f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000, 160000], help="numbers of neurons")
    p.add_argument("--duration", type=float, default=1000.0, help="simulated ms per size")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, help="write the results here (atomically)")
    p.add_argument("--nest", action="store_true", help="also run every size in NEST (one thread)")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--nest-worker", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.duration, args.seed)))
        return 0
    if args.nest_worker is not None:
        print(json.dumps(nest_worker(args.nest_worker, args.duration, args.seed)))
        return 0
    for n in args.sizes:
        if n < 10:
            raise SystemExit(f"--sizes {n}: expected at least 10 neurons")
    from tqdm import tqdm
    rows = [_run_worker(n, args.duration, args.seed) for n in tqdm(args.sizes, desc="sizes", disable=None)]
    fit = fit_per_unit(rows)
    print_table(rows, fit)
    nest_rows = []
    if args.nest:
        nest_rows = [_run_worker(n, args.duration, args.seed, nest=True)
                     for n in tqdm(args.sizes, desc="NEST", disable=None)]
        print_nest(nest_rows, rows)
    if args.json:
        from spiking.atomic import write_text_atomic
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.json, json.dumps({"rows": rows, "fit": fit, "nest": nest_rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
