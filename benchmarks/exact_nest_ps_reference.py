"""Exact mode against NEST 3.10's precise-spiking ``iaf_psc_delta_ps``: reference spikes and agreement.

The network (ours, :func:`build_network`): 40 spike sources with random times at whole microseconds
(off every step grid), three delta-LIF populations -- ``exc`` (t_ref 2.0 ms, on the 0.1 ms grid),
``inh`` (t_ref 0.37 ms) and ``slow`` (t_ref 1.234 ms, both off it) -- with recurrent excitation,
inhibition, per-synapse delays of 1-15 steps and reset potentials below rest (so the decay after
the refractory period matters).

NEST side: ``iaf_psc_delta_ps`` neurons, ``spike_generator(precise_times=True)`` sources, kernel
``off_grid_spiking`` on (read-only in 3.10: NEST sets it for precise models; checked after the
run), the same connection list (weights in mV, inhibitory ones negative, delays in ms). NEST 3.10 rounds ``t_ref`` up to whole steps of its resolution (``pre_run_hook`` of
``models/iaf_psc_delta_ps.cpp``: ``Time(Time::ms(t_ref)).get_steps()``, and ``Time::get_steps``
rounds tics up), so NEST runs at ``resolution = 0.001`` ms, where every t_ref above is whole steps
and NEST's model is the continuous-time one; the delays (steps of our dt = 0.1 ms) lie on that grid.

One instant needs a choice: NEST ends the refractory period before it delivers an input that
arrives exactly at ``t_spike + t_ref`` (``SliceRingBuffer::get_next_spike``), while exact mode by
default discards it, as clock mode and NEST's grid ``iaf_psc_delta`` do (so that exact and clock
mode agree on grid inputs). ``EventEngine(..., exact_refractory_end="open")`` takes NEST's side; it is what
is compared here. On this network such arrivals happen (recurrent paths whose delays differ by
t_ref = 2.0 ms); :func:`boundary_arrivals` counts them.

``python benchmarks/exact_nest_ps_reference.py --write`` stores NEST's spikes in
``tests/data/exact_ps/network.npz`` (what ``tests/test_exact_nest_ps.py`` compares against without
NEST). Without ``--write`` it runs both and prints the agreement and the run times as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "exact_ps"
DT = 0.1                 # our step (delays are whole steps of it)
NEST_RESOLUTION = 0.001  # divides every t_ref below, so NEST keeps them exactly
DURATION = 300.0
SEED = 2026
POPS = {  # name: (size, tau_m, v_rest, v_reset, v_th, t_ref)
    "exc": (60, 10.0, -65.0, -70.0, -55.0, 2.0),
    "inh": (20, 5.0, -65.0, -66.0, -58.0, 0.37),
    "slow": (20, 25.0, -60.0, -63.0, -52.0, 1.234),
}

# t_ref rounded to whole steps of DT (what exact mode did before): must not reproduce NEST
ROUNDED_T_REF = {name: round(p[5] / DT) * DT for name, p in POPS.items()}


def build_network(seed: int = SEED, t_ref: dict | None = None):
    """The reference network (a :class:`spiking.Network`); ``t_ref`` overrides per population."""
    import spiking as sp
    rng = np.random.default_rng(seed)
    net = sp.Network(dt=DT)
    n_src = 40
    n = rng.poisson(60.0 * DURATION / 1000.0 * n_src)
    times = np.round(rng.uniform(1.0, DURATION - 20.0, n) * 1000.0) / 1000.0   # whole microseconds
    net.add_source("src", n_src, sp.SpikeSourceArray(times, rng.integers(0, n_src, n)))
    for name, (size, tau, rest, reset, th, tr) in POPS.items():
        tr = (t_ref or {}).get(name, tr)
        net.add_population(name, size, sp.LIF(tau_m=tau, v_rest=rest, v_reset=reset, v_th=th, t_ref=tr))

    def connect(pre, post, p, w_lo, w_hi, receptor="excitatory"):
        proj = net.connect(pre, post, sp.FixedProbability(p, allow_self=False), weight=0.0, rng=rng,
                           delay=DT, receptor=receptor)
        proj.weight[:] = rng.uniform(w_lo, w_hi, proj.size)
        proj.delay[:] = rng.integers(1, 16, proj.size)
        return proj

    connect("src", "exc", 0.25, 1.0, 5.0)
    connect("src", "inh", 0.2, 1.0, 4.0)
    connect("src", "slow", 0.2, 1.0, 4.0)
    connect("exc", "exc", 0.1, 0.5, 3.0)
    connect("exc", "inh", 0.2, 1.0, 3.0)
    connect("exc", "slow", 0.15, 1.0, 3.0)
    connect("inh", "exc", 0.3, 1.0, 4.0, receptor="inhibitory")
    connect("inh", "slow", 0.3, 0.5, 2.0, receptor="inhibitory")
    connect("slow", "exc", 0.2, 0.5, 2.0)
    connect("slow", "inh", 0.2, 0.5, 2.0)
    return net


def run_ours(net, refractory_end: str = "open") -> dict:
    """Exact mode; ``refractory_end="open"`` takes an input at exactly t_spike + t_ref, as NEST does."""
    import warnings

    import spiking as sp
    with warnings.catch_warnings():   # the off-grid t_ref warning is about clock mode's rounding
        warnings.simplefilter("ignore", UserWarning)
        engine = sp.EventEngine(net, mode="exact", exact_refractory_end=refractory_end)
    rec = engine.run(DURATION)
    return {name: (rec.spikes[name].times, rec.spikes[name].ids) for name in POPS}


def run_nest(net, resolution: float = NEST_RESOLUTION) -> dict:
    """The network in NEST 3.10 (iaf_psc_delta_ps, precise spike_generators); spikes per population."""
    import nest
    nest.ResetKernel()
    # off_grid_spiking is read-only in NEST 3.10: the kernel turns it on for precise models
    nest.SetKernelStatus({"resolution": resolution, "local_num_threads": 1})
    nodes = {}
    src = net.populations["src"].model
    gens = nest.Create("spike_generator", net.populations["src"].size, params={"precise_times": True})
    for i in range(len(gens)):
        gens[i].spike_times = src.times[src.ids == i].tolist()
    nodes["src"] = gens
    for name, pop in net.populations.items():
        if pop.is_source:
            continue
        m = pop.model
        nodes[name] = nest.Create("iaf_psc_delta_ps", pop.size, params={
            "tau_m": m.tau_m, "E_L": m.v_rest, "V_m": m.v_rest, "V_reset": m.v_reset, "V_th": m.v_th,
            "t_ref": m.t_ref, "C_m": 1000.0 * m.c_m, "I_e": 0.0})
    for proj in net.projections:
        sign = -1.0 if proj.receptor == "inhibitory" else 1.0
        pre = np.asarray(nodes[proj.pre].tolist())[proj.pre_idx]
        post = np.asarray(nodes[proj.post].tolist())[proj.post_idx]
        nest.Connect(pre, post, "one_to_one", syn_spec={"synapse_model": "static_synapse",
                                                        "weight": sign * proj.weight,
                                                        "delay": proj.delay * net.dt})
    recorders = {}
    for name in POPS:
        recorders[name] = nest.Create("spike_recorder")
        nest.Connect(nodes[name], recorders[name])
    nest.Simulate(DURATION)
    assert nest.GetKernelStatus("off_grid_spiking"), "NEST did not switch to off-grid spiking"
    out = {}
    for name, r in recorders.items():
        ev = r.get("events")
        first = nodes[name].tolist()[0]
        t = np.asarray(ev["times"], dtype=np.float64)
        i = np.asarray(ev["senders"], dtype=np.int64) - first
        order = np.lexsort((i, t))
        out[name] = (t[order], i[order])
    return out


def boundary_arrivals(net, spikes: dict, tol: float = 5e-10) -> int:
    """Inputs that reach a neuron exactly (within ``tol``) at the end of its refractory period,
    ``t_spike + t_ref``: the one instant where exact mode and iaf_psc_delta_ps differ."""
    src = net.populations["src"].model
    fired = dict(spikes)
    fired["src"] = (src.times[src.times < DURATION], src.ids[src.times < DURATION])
    ends = {name: {} for name in POPS}
    for name in POPS:
        t, i = fired[name]
        tr = net.populations[name].model.t_ref
        for tk, ik in zip(t, i):
            ends[name].setdefault(int(ik), []).append(tk + tr)
    count = 0
    for proj in net.projections:
        t, i = fired[proj.pre]
        for s in range(proj.size):
            sel = t[i == proj.pre_idx[s]] + proj.delay[s] * net.dt
            e = np.asarray(ends[proj.post].get(int(proj.post_idx[s]), []))
            if e.size and sel.size:
                count += int((np.abs(sel[:, None] - e[None, :]) < tol).sum())
    return count


def compare(ours: dict, ref: dict) -> dict:
    """Per population: equal per-neuron counts, and the largest spike-time difference (ms)."""
    out = {}
    for name, (tr, ir) in ref.items():
        to, io = ours[name]
        size = POPS[name][0]
        same = np.array_equal(np.bincount(io, minlength=size), np.bincount(ir, minlength=size))
        dmax = None
        if same:
            a, b = np.lexsort((to, io)), np.lexsort((tr, ir))
            dmax = float(np.abs(to[a] - tr[b]).max()) if tr.size else 0.0
        out[name] = {"spikes": int(tr.size), "ours": int(to.size), "counts_equal": bool(same), "max_dt_ms": dmax}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="store NEST's spikes in tests/data/exact_ps/")
    args = parser.parse_args(argv)
    import nest
    from spiking.atomic import atomic_path
    net = build_network()
    t0 = time.perf_counter()
    ref = run_nest(net)
    t_nest = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = run_ours(net)
    t_ours = time.perf_counter() - t0
    closed = compare(run_ours(net, "closed"), ref)
    rounded = compare(run_ours(build_network(t_ref=ROUNDED_T_REF), "open"), ref)
    report = {"nest": nest.__version__, "nest_resolution_ms": NEST_RESOLUTION, "dt_ms": DT,
              "boundary_arrivals": boundary_arrivals(net, ref), "populations": compare(ours, ref),
              "closed_end_counts_equal": {k: v["counts_equal"] for k, v in closed.items()},
              "whole_step_t_ref_counts_equal": {k: v["counts_equal"] for k, v in rounded.items()},
              "wall_s": {"nest": round(t_nest, 3), "ours_exact_incl_compile": round(t_ours, 3)}}
    print(json.dumps(report, indent=1))
    if args.write:
        arrays = {"seed": np.int64(SEED), "duration": np.float64(DURATION), "nest_resolution": NEST_RESOLUTION}
        for name, (t, i) in ref.items():
            arrays[f"{name}_times"], arrays[f"{name}_ids"] = t, i
        with atomic_path(DATA / "network.npz") as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)   # a file object: savez would add ".npz" to a path
        print(f"wrote {DATA / 'network.npz'}")
    ok = all(p["counts_equal"] and p["max_dt_ms"] <= 1e-9 for p in report["populations"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
