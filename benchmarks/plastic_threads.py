"""The event engine's plastic kernel on 1, 2, ... threads (issue 16, item 1, plastic networks):
wall time of the CUBA network with pair STDP on its excitatory synapses, per thread count, in one
process, medians over rounds, the speed-up over the first thread count printed, and a check that
every thread count gave the same spikes and the same final weights bit for bit.

    .venv/bin/python benchmarks/plastic_threads.py --sizes 4000 16000 --threads 1 2 --duration 1000 --rounds 3

The network: ``experiments.cuba`` (Vogels & Abbott 2005 benchmark 2 as in Brian2's and NEST's
examples; 80 synapses per neuron at every size), with each synapse's delay drawn from 1..5 steps
and the excitatory projection plastic (additive all-to-all pair STDP, online, weights in
[0, 2 w_e]; Song, Miller & Abbott 2000, Nat. Neurosci. 3:919). The rounds interleave the thread
counts (1, 2, 1, 2, ...), so that a change in the machine's load hits them alike.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def plastic_cuba(n, seed=1):
    """The CUBA network of ``n`` neurons with delays of 1..5 steps and a plastic excitatory
    projection (seeded: the connections, initial potentials and delays)."""
    from experiments.cuba import CubaParams, draw_cuba
    from spiking import FromList, Network
    from spiking.plasticity import PairSTDP
    rng = np.random.default_rng(seed)
    prm = CubaParams(n_neurons=n, p_connect=min(1.0, 80.0 / (n - 1)))
    conn = draw_cuba(prm, rng)
    net = Network(dt=prm.dt)
    net.add_population("neurons", n, prm.model(), initial={"v": conn.v0})
    exc = conn.exc_mask
    rule = PairSTDP(tau_plus=20.0, tau_minus=20.0, a_plus=0.01 * prm.w_e, a_minus=0.0105 * prm.w_e,
                    w_min=0.0, w_max=2.0 * prm.w_e)
    for name, sel, w, receptor, plasticity in (("exc", exc, prm.w_e, "excitatory", rule),
                                               ("inh", ~exc, prm.w_i, "inhibitory", None)):
        k = int(sel.sum())
        net.connect("neurons", "neurons", FromList(conn.pre[sel], conn.post[sel]), weight=w,
                    delay=rng.integers(1, 6, k) * prm.dt, receptor=receptor, name=name, plasticity=plasticity)
    return net


def measure(n, threads, duration, rounds, seed=1):
    import numba

    from spiking import EventEngine
    net = plastic_cuba(n, seed)
    engines = {t: EventEngine(net, threads=t) for t in threads}
    for t in threads:                       # warm-up: compile or load the kernels, make the plans
        engines[t].run(min(duration, 10.0))
    walls = {t: [] for t in threads}
    ref = None
    identical = True
    spikes = None
    for _ in range(rounds):
        for t in threads:
            t0 = time.perf_counter()
            rec = engines[t].run(duration)
            walls[t].append(time.perf_counter() - t0)
            s = rec.spikes["neurons"]
            key = (s.times, s.ids, rec.final_weights["exc"])
            if ref is None:
                ref, spikes = key, len(s)
                w0 = net.projections[0].weight
                moved = float(np.mean(key[2] != w0))
            identical &= all(np.array_equal(a, b) for a, b in zip(key, ref))
    med = {t: statistics.median(w) for t, w in walls.items()}
    return {"n_neurons": n, "synapses": int(sum(p.size for p in net.projections)), "duration_ms": duration,
            "rounds": rounds, "spikes": spikes, "weights_changed_fraction": moved,
            "identical_spikes_and_weights": bool(identical), "wall_s": walls, "median_s": med,
            "speedup_vs_first": {t: med[threads[0]] / med[t] for t in threads},
            "threading_layer": numba.threading_layer()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="the first is the baseline")
    ap.add_argument("--duration", type=float, default=1000.0, help="ms per run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = {"machine": {"cpu_count": os.cpu_count(), "load_1min_at_start": load,
                           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}, "runs": []}
    print(f"cores {os.cpu_count()}, load average {load:.2f}")
    for n in a.sizes:
        r = measure(n, a.threads, a.duration, a.rounds)
        results["runs"].append(r)
        cells = ", ".join(f"{t} thr {r['median_s'][t]:.3f} s (x{r['speedup_vs_first'][t]:.2f})" for t in a.threads)
        print(f"plastic CUBA {n:>7} neurons, {r['synapses']} synapses, {a.duration:g} ms, {r['spikes']} spikes, "
              f"{r['weights_changed_fraction']:.0%} of plastic weights moved: {cells}; "
              f"same spikes and weights: {r['identical_spikes_and_weights']}", flush=True)
    results["machine"]["load_1min_at_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if a.json:
        from spiking.atomic import write_text_atomic
        a.json.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(a.json, json.dumps(results, indent=2, default=str))
        print(f"wrote {a.json}")
    return 0 if all(r["identical_spikes_and_weights"] for r in results["runs"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
