"""The NEST export against NEST 3.10: reference spikes and agreement on two networks.

* ``multipop``: a spike-source population (600 given spikes), a delta-synapse ``LIF`` population
  (NEST ``iaf_psc_delta``) and a ``CubaLIF`` population (``iaf_psc_exp``), both with a constant
  current, refractory periods, random initial potentials, excitatory and inhibitory projections
  between and within them, delays of 1 to 7 steps. Connections are drawn here with
  ``rng.random`` (independent of our connectors) and given as ``FromList``.
* ``cuba``: the CUBA network of :mod:`spiking.experiments.cuba` (4000 neurons, seed 1).

Both are exported with :func:`spiking.export.to_nest`, run for the same time in NEST and in our
event engine, and compared: spike counts per neuron, and spike times after NEST's one-step stamp
shift (``t_ours = t_nest - dt``).

``python benchmarks/nest_export_reference.py --write`` stores NEST's multipop spikes in
``tests/data/nest_export/multipop.npz`` (what ``tests/test_nest_export.py`` compares our engine
against where NEST is not installed). Without ``--write`` it prints the agreement and the times.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "nest_export" / "multipop.npz"
MULTIPOP_MS = 200.0
CUBA_MS = 300.0


def _pairs(rng, n_pre, n_post, p, allow_self=True):
    mask = rng.random((n_pre, n_post)) < p
    if not allow_self:
        np.fill_diagonal(mask, False)
    pre, post = np.nonzero(mask)
    return pre.astype(np.int64), post.astype(np.int64)


def multipop(seed: int = 3):
    """The several-population network with delays (see the module docstring)."""
    import spiking as sp

    rng = np.random.default_rng(seed)
    dt = 0.1
    net = sp.Network(dt=dt)
    net.add_source("input", 30, sp.SpikeSourceArray(np.sort(rng.uniform(0, 150, 600)), rng.integers(0, 30, 600)))
    net.add_population("delta", 50, sp.LIF(tau_m=15.0, v_rest=-65.0, v_reset=-70.0, v_th=-52.0, t_ref=2.0,
                                           c_m=0.25, i_offset=0.2), initial={"v": rng.uniform(-70, -53, 50)})
    net.add_population("exp", 40, sp.CubaLIF(tau_m=12.0, c_m=0.3, v_rest=-60.0, v_reset=-65.0, v_th=-50.0,
                                             t_ref=1.5, tau_syn_e=3.0, tau_syn_i=7.0, i_offset=0.1),
                       initial={"v": rng.uniform(-65, -51, 40)})
    links = [("input", "delta", 0.3, 2.5, 3, "excitatory", True),
             ("input", "exp", 0.25, 1.2, 1, "excitatory", True),
             ("delta", "exp", 0.2, 0.9, 5, "excitatory", True),
             ("exp", "delta", 0.2, 1.5, 7, "inhibitory", True),
             ("delta", "delta", 0.1, 1.0, 2, "excitatory", False),
             ("exp", "exp", 0.15, 0.8, 4, "inhibitory", False)]
    for pre, post, p, w, d, receptor, self_ok in links:
        i, j = _pairs(rng, net.populations[pre].size, net.populations[post].size, p, self_ok)
        # per-connection weights around w: the export must carry arrays, not one value
        net.connect(pre, post, sp.FromList(i, j), weight=w * rng.uniform(0.8, 1.2, i.size),
                    delay=d * dt, receptor=receptor, name=f"{pre}->{post}")
    return net


def cuba(seed: int = 1):
    from spiking.experiments.cuba import CubaParams, build_cuba, draw_cuba

    return build_cuba(draw_cuba(CubaParams(), np.random.default_rng(seed)))


def run_ours(net, duration: float) -> dict:
    import spiking as sp

    rec = sp.EventEngine(net).run(duration, progress=False)
    return {name: (s.times, s.ids) for name, s in rec.spikes.items() if not net.populations[name].is_source}


def to_nest_result(net, duration: float) -> dict:
    """NEST's spikes of the exported network, in NEST's own stamps."""
    from spiking.export import to_nest

    built = to_nest(net)
    built.run(duration)
    return built.spikes(convention="nest")


def agreement(net, ours: dict, nest_spikes: dict) -> dict:
    """Per population: equal counts per neuron, and the largest time difference after the shift."""
    out = {}
    for name, (t, i) in ours.items():
        tn, inn = nest_spikes[name]
        size = net.populations[name].size
        same_counts = bool(np.array_equal(np.bincount(i, minlength=size), np.bincount(inn, minlength=size)))
        order = np.lexsort((i, t))
        max_dt = float(np.max(np.abs(t[order] - (tn - net.dt)))) if same_counts and t.size else None
        out[name] = {"spikes_ours": int(t.size), "spikes_nest": int(tn.size), "same_counts": same_counts,
                     "max_time_difference_ms": max_dt}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help=f"store NEST's multipop spikes in {REFERENCE}")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    report = {}
    for name, build, duration in (("multipop", multipop, MULTIPOP_MS), ("cuba", cuba, CUBA_MS)):
        net = build()
        t0 = time.perf_counter()
        ours = run_ours(net, duration)
        t1 = time.perf_counter()
        theirs = to_nest_result(net, duration)
        t2 = time.perf_counter()
        report[name] = {"duration_ms": duration, "ours_s": t1 - t0, "nest_build_and_run_s": t2 - t1,
                        "populations": agreement(net, ours, theirs)}
        if name == "multipop" and args.write:
            import nest

            REFERENCE.parent.mkdir(parents=True, exist_ok=True)
            tmp = REFERENCE.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, nest_version=nest.__version__, duration_ms=duration,
                                **{f"{k}_times": v[0] for k, v in theirs.items()},
                                **{f"{k}_ids": v[1] for k, v in theirs.items()})
            tmp.replace(REFERENCE)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
