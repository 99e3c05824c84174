"""SpiNNaker backend benchmark: mapping and fixed-point run of CUBA against the float event engine.

On the CUBA network (``spiking.experiments.cuba``: Brette et al. 2007 benchmark 2, dt 0.1 ms),
in one run:

* for ``--size`` (default 16,000 neurons): the float event engine (``EventEngine.run``), the
  mapping (``map_network``) and the fixed-point run (``SpiNNakerEngine.run``) of the same
  network, wall times and their ratio; the mean rates of both engines, and as the yardstick of
  the difference the rate of a float run whose initial potentials are moved by 1e-4 mV (CUBA is
  chaotic: any change of one spike changes the trajectory); cores, chips, router entries per
  chip before and after compression, the busiest core-tick against the tick budget, and the
  time_scale_factor a board would need to run in real time;
* the mapping time at ``--scaling`` sizes (default 4k, 16k, 64k neurons). CUBA's connection
  probability 0.02 gives 82 million synapses at 64k, beyond a shared test machine; sizes above
  16k keep the 16k fan-in (320 synapses per neuron, p = 0.02 x 16000 / N), and the synapse count
  is reported beside each time.

    python benchmarks/spinnaker.py --json results/spinnaker.json

Medians of ``--repeats`` runs (the first call of each numba kernel compiles and is run once
before timing).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _cuba(n, seed, fan_in_from=16000):
    from spiking.experiments.cuba import CubaParams, build_cuba, draw_cuba
    p = 0.02 if n <= fan_in_from else 0.02 * fan_in_from / n
    conn = draw_cuba(CubaParams(n_neurons=n, p_connect=p), np.random.default_rng(seed))
    return conn, build_cuba(conn), p


def _median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def compare(n, duration, seed, repeats):
    from spiking.engines import EventEngine
    from spiking.experiments.cuba import build_cuba
    from spiking.hardware.spinnaker import SpiNNakerEngine, map_network

    conn, net, p = _cuba(n, seed)
    flt = EventEngine(net)
    flt.run(10.0)                                  # compile
    t_float, t_float_all, ref = _median_time(lambda: flt.run(duration), repeats)
    t_map, t_map_all, mapping = _median_time(lambda: map_network(net), repeats)
    t0 = time.perf_counter()
    eng = SpiNNakerEngine(net, mapping=mapping)
    t_build = time.perf_counter() - t0
    eng.run(10.0)                                  # compile
    t_fixed, t_fixed_all, rec = _median_time(lambda: eng.run(duration), repeats)
    conn.v0[:] += 1e-4
    pert = EventEngine(build_cuba(conn)).run(duration)
    rate = lambda r: len(r.spikes["neurons"]) / n / (duration / 1000.0)
    b = rec.ledger.backend["spinnaker"]
    entries = mapping.router_entries()
    return {
        "neurons": n, "p_connect": p, "synapses": int(net.n_synapses), "duration_ms": duration,
        "float_run_s": t_float, "float_run_s_all": t_float_all,
        "mapping_s": t_map, "mapping_s_all": t_map_all, "mapping_stages_s": mapping.timings,
        "fixed_build_s": t_build, "fixed_run_s": t_fixed, "fixed_run_s_all": t_fixed_all,
        "fixed_over_float_run": t_fixed / t_float,
        "rate_float_hz": rate(ref), "rate_fixed_hz": rate(rec), "rate_float_perturbed_hz": rate(pert),
        "rate_fixed_vs_float": rate(rec) / rate(ref) - 1, "rate_perturbed_vs_float": rate(pert) / rate(ref) - 1,
        "cores": b["cores"], "chips": b["chips"],
        "router_entries_per_chip": {f"{c[0]},{c[1]}": {"uncompressed": u, "compressed": v}
                                    for c, (u, v) in entries.items()},
        "budget_cycles_per_tick": b["budget_cycles_per_tick"], "max_cycles_per_tick": b["max_cycles_per_tick"],
        "timer_tick_overruns": b["timer_tick_overruns"], "real_time_at_tsf_1": b["timer_tick_overruns"] == 0,
        "time_scale_factor_needed": max(1.0, b["max_tick_load"]),
        "synaptic_weight_saturations": b["synaptic_weight_saturations"],
        "input_buffer_packets_lost": b["input_buffer_packets_lost"],
        "packets": b["packets"], "router_traversals": b["router_traversals"],
    }


def scaling(sizes, seed, repeats):
    from spiking.hardware.spinnaker import map_network
    out = []
    for n in sizes:
        _, net, p = _cuba(n, seed)
        t, ts, m = _median_time(lambda: map_network(net), repeats)
        out.append({"neurons": n, "p_connect": p, "synapses": int(net.n_synapses), "mapping_s": t,
                    "mapping_s_all": ts, "cores": m.n_cores, "chips": len(m.chips_used),
                    "max_router_entries": max(v for _, v in m.router_entries().values())})
        print(f"  mapping {n:>6} neurons ({net.n_synapses / 1e6:.1f} M synapses): {t:.2f} s, {m.n_cores} cores "
              f"on {len(m.chips_used)} chips", flush=True)
        del net, m
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=16000)
    p.add_argument("--duration", type=float, default=1000.0, help="biological time, ms")
    p.add_argument("--scaling", type=int, nargs="*", default=[4000, 16000, 64000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    r = compare(args.size, args.duration, args.seed, args.repeats)
    print(f"CUBA {r['neurons']} neurons, {r['synapses']} synapses, {r['duration_ms']:g} ms:")
    print(f"  float event engine run   {r['float_run_s']:.2f} s")
    print(f"  mapping                  {r['mapping_s']:.2f} s")
    print(f"  fixed-point run          {r['fixed_run_s']:.2f} s   (fixed / float = {r['fixed_over_float_run']:.2f})")
    print(f"  rates: float {r['rate_float_hz']:.3f} Hz, fixed {r['rate_fixed_hz']:.3f} Hz "
          f"({100 * r['rate_fixed_vs_float']:+.2f} %); float with v0 + 1e-4 mV {r['rate_float_perturbed_hz']:.3f} Hz "
          f"({100 * r['rate_perturbed_vs_float']:+.2f} %)")
    u = max(v["uncompressed"] for v in r["router_entries_per_chip"].values())
    c = max(v["compressed"] for v in r["router_entries_per_chip"].values())
    print(f"  {r['cores']} cores on {r['chips']} chips; router entries per chip up to {u} -> {c} compressed")
    print(f"  busiest core-tick {r['max_cycles_per_tick']} of {r['budget_cycles_per_tick']} cycles: real time "
          f"{'met' if r['real_time_at_tsf_1'] else 'not met'} at time_scale_factor 1; needs "
          f"{r['time_scale_factor_needed']:.2f}")
    print("mapping time against size:")
    sc = scaling(args.scaling, args.seed, max(1, args.repeats // 3)) if args.scaling else []
    payload = {"benchmark": "spinnaker", "compare": r, "scaling": sc}
    if args.json:
        from spiking.atomic import write_text_atomic
        write_text_atomic(args.json, json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
