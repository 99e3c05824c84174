"""CUBA network of Vogels & Abbott (2005): 4000 LIF neurons, 1 s, rates, ISI CV, ledger, raster.

``spiking run quickstart --out DIR`` prints the population statistics and the activity ledger
and writes ``DIR/raster.png``, ``DIR/recording.h5`` and ``DIR/metrics.json``. ``--threads N`` runs
the event engine on N threads (default: the cores available; the spikes are the same for every N).
Compile time (numba compiling the kernels, or loading them from its cache) is reported apart from
simulation time.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from spiking import EventEngine
from spiking.atomic import atomic_path, write_text_atomic

from .cuba import CubaParams, build_cuba, draw_cuba


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=Path("out/quickstart"), help="output folder")
    parser.add_argument("--seed", type=int, default=1, help="seed of connectivity and initial state")
    parser.add_argument("--neurons", type=int, default=4000, help="network size (80 inputs per neuron kept)")
    parser.add_argument("--duration", type=float, default=1000.0, help="biological time in ms")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of the event engine (default: the cores available, fewer for small networks)")


def run(out: Path, seed: int = 1, n_neurons: int = 4000, duration: float = 1000.0, threads: int | None = None) -> dict:
    if n_neurons < 10:
        raise ValueError(f"--neurons {n_neurons}: expected at least 10")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"--threads {threads!r}: expected a whole number >= 1")
    params = CubaParams(n_neurons=n_neurons, p_connect=min(1.0, 80.0 / n_neurons))
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    net = build_cuba(draw_cuba(params, rng))
    engine = EventEngine(net, threads=threads)
    build_s = time.perf_counter() - t0
    rec = engine.run(duration, record={"neurons": ["v"]}, record_ids={"neurons": np.arange(5)})
    spikes = rec.spikes["neurons"]
    rates = spikes.rates(duration)
    cv = spikes.isi_cv()
    exc = np.arange(n_neurons) < params.n_exc
    metrics = {
        "network": {"n_neurons": n_neurons, "n_synapses": net.n_synapses, "dt_ms": net.dt, "duration_ms": duration,
                    "seed": seed},
        "mean_rate_hz": float(rates.mean()),
        "mean_rate_exc_hz": float(rates[exc].mean()),
        "mean_rate_inh_hz": float(rates[~exc].mean()),
        # null (not NaN, which is not JSON) when no neuron fired the 3 spikes a CV needs
        "isi_cv_mean": float(np.nanmean(cv)) if np.isfinite(cv).any() else None,
        "neurons_with_cv": int(np.isfinite(cv).sum()),
        "build_s": build_s,
        # numba's share of the run (compiling the kernels, or loading them from its cache) apart
        # from the simulation itself; jit_compile_s: fresh compiles only (0 with a warm cache)
        "compile_s": rec.timing["compile_s"],
        "jit_compile_s": rec.timing["jit_compile_s"],
        "simulate_s": rec.timing["simulate_s"],
        "threads": rec.timing["threads"],
        "ledger": rec.ledger.to_dict(),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rec.save(out / "recording.h5")
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, allow_nan=False))
    _raster(spikes, rec, duration, out / "raster.png", params.n_exc)
    return metrics


def _raster(spikes, rec, duration, path, n_exc):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    exc = spikes.ids < n_exc
    ax.plot(spikes.times[exc], spikes.ids[exc], ",", color="tab:blue", label="excitatory")
    ax.plot(spikes.times[~exc], spikes.ids[~exc], ",", color="tab:red", label="inhibitory")
    ax.set_ylabel("neuron")
    ax.set_title(f"CUBA network: {spikes.size} neurons, {len(spikes)} spikes in {duration:g} ms")
    ax.legend(loc="upper right", markerscale=20)
    v = rec.state["neurons"]["v"]
    ax2.plot(rec.state_times, v[:, 0], lw=0.7)
    ax2.set_ylabel("v of neuron 0 (mV)")
    ax2.set_xlabel("time (ms)")
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main(args) -> int:
    m = run(args.out, args.seed, args.neurons, args.duration, args.threads)
    print(f"CUBA network: {m['network']['n_neurons']} neurons, {m['network']['n_synapses']} synapses, "
          f"{m['network']['duration_ms']:g} ms at dt = {m['network']['dt_ms']} ms")
    print(f"mean rate {m['mean_rate_hz']:.2f} Hz (exc {m['mean_rate_exc_hz']:.2f}, inh {m['mean_rate_inh_hz']:.2f}); "
          + (f"mean ISI CV {m['isi_cv_mean']:.3f} over {m['neurons_with_cv']} neurons" if m["isi_cv_mean"] is not None
             else "no neuron fired often enough for an ISI CV"))
    print(f"build {m['build_s']:.2f} s, compile {m['compile_s']:.2f} s"
          + (" (kernels loaded from numba's cache)" if m["jit_compile_s"] == 0 else "")
          + f", simulate {m['simulate_s']:.3f} s on {m['threads']} thread{'s' if m['threads'] > 1 else ''}")
    led = m["ledger"]
    print(f"activity ledger ({led['mode']} mode, {led['steps']} steps):")
    for k, v in led["spikes"].items():
        print(f"  population {k}: {v} spikes, {led['neuron_updates'][k]} neuron updates")
    for k, v in led["synaptic_events"].items():
        print(f"  projection {k}: {v} synaptic events")
    print(f"wrote {args.out}/raster.png, {args.out}/recording.h5, {args.out}/metrics.json")
    return 0
