"""Figures of the astrocyte cases, ours against NEST's reference files (the plots NEST's examples
show): ``benchmarks/results/astro_{single,clamp,pair,network}.png``.

    python benchmarks/astro_figures.py

Needs only the committed reference files in tests/data/astro (not NEST itself). The single
astrocyte and the tripartite pair are the networks and plots of ``spiking run astro-tripartite``
(``spiking.experiments.astro_tripartite``), here fed NEST's reference trains; the clamped scan
and the network are the cases of ``benchmarks/astro_nest_reference.py``.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


def _ref_module():
    spec = importlib.util.spec_from_file_location("astro_nest_reference",
                                                  ROOT / "benchmarks" / "astro_nest_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _save(fig, name):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    print("wrote", path.relative_to(ROOT))


def _nest_times(n_rows, sample_ms):
    return (np.arange(n_rows) + 1) * sample_ms   # NEST's multimeter rows at t = k * sample


def _tripartite_figures(R, data):
    """astro_single.png and astro_pair.png: the experiment's networks on NEST's trains (each NEST
    generator time moved one step earlier, see astro_nest_reference), NEST's traces underneath."""
    from spiking.experiments import astro_tripartite as AT

    every = int(round(R.SAMPLE / AT.DT))
    spec = R.case_spec("single")
    params = AT.SingleParams(duration=spec["T"], delta_IP3=spec["astro"]["delta_IP3"])
    net, record = AT.build_single(params, spec["train"] - R.DT)
    rec, _ = AT.simulate(net, record, params.duration)
    n = data["single"]
    keys = ("IP3", "Ca_astro", "h_IP3R")
    ours = {k: rec.state["astro"][k][every - 1::every, 0] for k in keys}
    AT.plot_single(OUT / "astro_single.png", AT.trace_times(rec.state["astro"]["IP3"].shape[0], every), ours,
                   sic_th=net.populations["astro"].model.SIC_th, label="spiking (RKF45)",
                   reference=(_nest_times(n["astro.IP3"].shape[0], R.SAMPLE), {k: n[f"astro.{k}"][:, 0] for k in keys}),
                   title="astrocyte_lr_1994 driven by a 10 Hz Poisson train (delta_IP3 = 0.02)")
    print("wrote", OUT / "astro_single.png")

    spec = R.case_spec("pair")
    params = AT.PairParams(duration=spec["T"], w_in=spec["w_in"], w_sic=spec["w_sic"], post_I_e=spec["post_I_e"],
                           delta_IP3=spec["astro"]["delta_IP3"], tau_syn_ex=spec["neuron"]["tau_syn_ex"])
    net, record = AT.build_pair(params, spec["train"] - R.DT)
    rec, _ = AT.simulate(net, record, params.duration)
    n = data["pair"]
    post = rec.spikes["post"]
    traces = {f"{pop}.{var}": rec.state[pop][var][every - 1::every] for pop, vs in record.items() for var in vs}
    for key in ("pre.v", "astro.IP3", "astro.Ca_astro"):
        traces[key] = traces[key][:, 0]
    # the reference stores our step n (NEST's stamp (n + 1) dt); our spike times are n dt
    nest_spikes = {k: n["post.spike_steps"][n["post.spike_ids"] == k] * R.DT for k in (0, 1)}
    AT.plot_pair(OUT / "astro_pair.png", AT.trace_times(rec.state["pre"]["v"].shape[0], every), traces,
                 {k: post.times[post.ids == k] for k in (0, 1)}, reference_spikes=nest_spikes)
    print("wrote", OUT / "astro_pair.png")


def main(argv=None) -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    R = _ref_module()
    data = {c: dict(np.load(ROOT / "tests" / "data" / "astro" / f"{c}.npz"))
            for c in ("single", "clamp", "pair", "network")}
    OUT.mkdir(parents=True, exist_ok=True)
    _tripartite_figures(R, data)
    ours = {c: R.run_ours(R.spec_from_reference(c, data[c])) for c in ("clamp", "network")}

    # clamped IP3 scan
    n, o = data["clamp"], ours["clamp"]
    spec = R.case_spec("clamp")
    fig, ax = plt.subplots(figsize=(6, 4))
    t = (np.arange(n["a0.Ca_astro"].shape[0]) + 1) * spec["sample"] / 1000.0
    for k, v in enumerate(spec["ip3"]):
        if v in (0.2, 0.4, 0.5, 0.7, 1.5):
            ax.plot(t, n[f"a{k}.Ca_astro"][:, 0] + 0.0, lw=2.5, color="0.75")
            ax.plot(t, o[f"a{k}.Ca_astro"][:len(t), 0], lw=0.9, label=f"IP3 = {v} uM")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Ca (uM)")
    ax.set_title("clamped IP3: oscillations only in a middle band (grey: NEST)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, "astro_clamp.png")

    # network
    n, o = data["network"], ours["network"]
    fig, axes = plt.subplots(2, 1, sharex=True, figsize=(6.5, 5))
    axes[0].plot(o["E.spike_steps"] * R.DT, o["E.spike_ids"], ".", ms=1, color="C0")
    axes[0].plot(o["I.spike_steps"] * R.DT, o["I.spike_ids"] + 100, ".", ms=1, color="C3")
    axes[0].set_ylabel("neuron (E, then I)")
    t = (np.arange(n["A.Ca_astro"].shape[0]) + 1) * R.SAMPLE
    axes[1].plot(t, o["A.Ca_astro"][:len(t)], lw=0.7)
    axes[1].set_ylabel("astrocyte Ca (uM)")
    axes[1].set_xlabel("time (ms)")
    axes[0].set_title("100 E + 25 I AdExAstro, 20 astrocytes: spikes equal NEST's")
    fig.tight_layout()
    _save(fig, "astro_network.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
