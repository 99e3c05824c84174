"""Figures of the astrocyte cases, ours against NEST's reference files (the plots NEST's examples
show): ``benchmarks/results/astro_{single,clamp,pair,network}.png``.

    python benchmarks/astro_figures.py

Needs only the committed reference files in tests/data/astro (not NEST itself).
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


def main(argv=None) -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    R = _ref_module()
    data = {c: dict(np.load(ROOT / "tests" / "data" / "astro" / f"{c}.npz"))
            for c in ("single", "clamp", "pair", "network")}
    ours = {c: R.run_ours(R.spec_from_reference(c, data[c])) for c in data}

    # single astrocyte
    n, o = data["single"], ours["single"]
    t = (np.arange(n["astro.IP3"].shape[0]) + 1) * R.SAMPLE / 1000.0
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(6, 5))
    for ax, key, label in zip(axes, ("IP3", "Ca_astro", "h_IP3R"), ("IP3 (uM)", "Ca (uM)", "h_IP3R")):
        ax.plot(t, n[f"astro.{key}"][:, 0], lw=2.5, color="0.7", label="NEST 3.10")
        ax.plot(t, o[f"astro.{key}"][:len(t), 0], lw=0.9, color="C0", label="spiking (RKF45)")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    axes[0].set_title("astrocyte_lr_1994 driven by a 10 Hz Poisson train (delta_IP3 = 0.02)")
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    _save(fig, "astro_single.png")

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

    # tripartite pair
    n, o = data["pair"], ours["pair"]
    t = (np.arange(n["pre.v"].shape[0]) + 1) * R.SAMPLE / 1000.0
    fig, axes = plt.subplots(4, 1, sharex=True, figsize=(6.5, 7))
    axes[0].plot(t, o["pre.v"][:len(t), 0], lw=0.6)
    axes[0].set_ylabel("pre V (mV)")
    axes[1].plot(t, o["astro.IP3"][:len(t), 0], label="IP3")
    axes[1].plot(t, o["astro.Ca_astro"][:len(t), 0], label="Ca")
    axes[1].set_ylabel("astrocyte (uM)")
    axes[1].legend(fontsize=8)
    axes[2].plot(t, o["post.I_SIC"][:len(t), 0], color="C3")
    axes[2].set_ylabel("SIC x w (pA)")
    for k, label in ((0, "post with SIC"), (1, "post without SIC")):
        steps = o["post.spike_steps"][o["post.spike_ids"] == k]
        nsteps = n["post.spike_steps"][n["post.spike_ids"] == k]
        axes[3].eventplot([steps * R.DT / 1000.0], lineoffsets=k * 2 + 1, linelengths=0.8, colors="C0")
        axes[3].eventplot([nsteps * R.DT / 1000.0], lineoffsets=k * 2 + 0.2, linelengths=0.6, colors="0.6")
    axes[3].set_yticks([0.6, 2.6], ["with SIC", "without SIC"])
    axes[3].set_ylabel("post spikes\n(blue ours, grey NEST)")
    axes[3].set_xlabel("time (s)")
    axes[0].set_title("tripartite pair (NEST astrocyte_interaction, driven harder)")
    fig.tight_layout()
    _save(fig, "astro_pair.png")

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
