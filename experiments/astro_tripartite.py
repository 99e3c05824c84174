"""The single astrocyte and the tripartite pair, as NEST's astrocyte examples show them.

``spiking run astro-tripartite --out DIR [--seed S] [--integrator rkf45|rk4] [--quick]`` (or :func:`run`).

Two cases, each a network of the event engine (dt = 0.1 ms) driven by a Poisson train drawn from
a ``np.random.Generator`` seeded with ``seed`` (the train is given as a ``SpikeSourceArray``):

* **single** (NEST ``astrocyte_single.py``): one ``Astrocyte`` (NEST ``astrocyte_lr_1994``,
  ``delta_IP3 = 0.02``) driven by a 10 Hz Poisson train of weight 1 for 30 s: IP3 jumps and
  relaxes with ``tau_IP3``, calcium follows, SIC appears once Ca exceeds ``SIC_th``. A check
  against a closed form goes into the metrics: a Poisson train of rate r makes the mean IP3 at
  time t ``IP3_0 + delta_IP3 w r tau_IP3 (1 - exp(-t / tau_IP3))`` (Campbell's theorem for a
  train filtered by an exponential), compared with the trace's mean over the last third.
* **pair** (NEST ``astrocyte_interaction.py``, driven harder; see docs/astrocytes.md): a
  presynaptic ``AdExAstro`` neuron under 1500 Hz Poisson drive of weight 2 nS, an astrocyte
  (``delta_IP3 = 0.2``) listening to it, and two postsynaptic ``AdExAstro`` neurons held below
  rheobase (``I_e = 500 pA``) that take the same synaptic input from the presynaptic neuron; only
  neuron 0 gets the astrocyte's SIC (weight 20). The twin without SIC is the control: the SIC is
  what makes neuron 0 fire. (NEST's own example parameters give a SIC of a few pA, which moves an
  AdEx neuron with rheobase about 546 pA hardly at all.)

``build_single`` and ``build_pair`` take the source's spike times, so that the NEST comparison
(``benchmarks/astro_figures.py``, ``tests/test_astro_experiments.py``) runs the same networks on
NEST's reference trains.

Files in DIR: ``metrics.json`` (spike counts and rates, peak and mean IP3, Ca, SIC, the IP3 check,
the configuration; wall times under ``timing``), ``astro_single.png``, ``astro_pair.png`` and
``traces.h5`` (the traces at 1 ms and the spikes).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spiking.atomic import atomic_path, write_text_atomic

DT = 0.1                  # ms, the step of NEST's examples
TRACE_EVERY = 10          # steps between the stored trace samples (1 ms)
INTEGRATORS = ("rkf45", "rk4")


@dataclass(frozen=True)
class SingleParams:
    """One astrocyte under a Poisson train (NEST astrocyte_single.py: delta_IP3 = 0.02 per unit weight)."""
    duration: float = 30_000.0    # ms
    rate: float = 10.0            # Hz of the Poisson train
    weight: float = 1.0           # weight of the train onto the astrocyte (IP3 jump = delta_IP3 x weight)
    delta_IP3: float = 0.02       # uM per unit weight

    def validate(self):
        _positive(self, "duration", "rate", "weight")
        _nonneg(self, "delta_IP3")


@dataclass(frozen=True)
class PairParams:
    """The tripartite pair, driven harder than NEST's astrocyte_interaction.py (see the module docstring)."""
    duration: float = 10_000.0    # ms
    rate: float = 1500.0          # Hz of the Poisson drive onto the presynaptic neuron (the example's)
    w_in: float = 2.0             # nS, drive -> pre (the example: 1)
    w_syn: float = 1.0            # nS, pre -> each post neuron
    w_astro: float = 1.0          # pre -> astrocyte (IP3 jump = delta_IP3 x w_astro)
    w_sic: float = 20.0           # astrocyte -> post neuron 0 (the SIC is multiplied by it)
    delta_IP3: float = 0.2        # uM per unit weight (the example's)
    post_I_e: float = 500.0       # pA onto both post neurons (rheobase about 546 pA)
    tau_syn_ex: float = 2.0       # ms (the example's)

    def validate(self):
        _positive(self, "duration", "rate", "w_in", "tau_syn_ex")
        _nonneg(self, "w_syn", "w_astro", "w_sic", "delta_IP3")


QUICK_SINGLE = SingleParams(duration=10_000.0)
QUICK_PAIR = PairParams(duration=5_000.0)


def _positive(p, *names):
    for name in names:
        v = getattr(p, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{type(p).__name__}.{name}={v}: expected a positive finite number")


def _nonneg(p, *names):
    for name in names:
        v = getattr(p, name)
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{type(p).__name__}.{name}={v}: expected a finite number >= 0")


def poisson_times(rate_hz: float, duration_ms: float, rng: np.random.Generator, dt: float = DT) -> np.ndarray:
    """Poisson spike times (ms) on the dt grid in [0, duration - dt), at most one per step."""
    n = rng.poisson(rate_hz * duration_ms / 1000.0)
    t = np.unique(np.round(rng.uniform(0.0, duration_ms, n) / dt) * dt)
    return t[t < duration_ms - dt]


# -- networks -----------------------------------------------------------------------------------
def build_single(params: SingleParams, train, integrator="rkf45", substeps=1):
    """(network, record) of the single astrocyte fed by ``train`` (spike times in ms)."""
    import spiking as sp
    params.validate()
    opt = dict(integrator=integrator, substeps=substeps)
    net = sp.Network(dt=DT)
    net.add_source("drive", 1, sp.SpikeSourceArray.from_lists([np.asarray(train, dtype=float)]))
    net.add_population("astro", 1, sp.Astrocyte(delta_IP3=params.delta_IP3, **opt))
    net.connect("drive", "astro", sp.OneToOne(), weight=params.weight, delay=DT)
    return net, {"astro": ["IP3", "Ca_astro", "h_IP3R", "SIC"]}


def build_pair(params: PairParams, train, integrator="rkf45", substeps=1):
    """(network, record) of the tripartite pair fed by ``train`` (spike times in ms); post neuron 0
    gets the SIC, post neuron 1 is its twin without it."""
    import spiking as sp
    params.validate()
    opt = dict(integrator=integrator, substeps=substeps)
    net = sp.Network(dt=DT)
    net.add_source("drive", 1, sp.SpikeSourceArray.from_lists([np.asarray(train, dtype=float)]))
    net.add_population("pre", 1, sp.AdExAstro(tau_syn_ex=params.tau_syn_ex, **opt))
    net.add_population("post", 2, sp.AdExAstro(tau_syn_ex=params.tau_syn_ex, I_e=params.post_I_e, **opt))
    net.add_population("astro", 1, sp.Astrocyte(delta_IP3=params.delta_IP3, **opt))
    net.connect("drive", "pre", sp.OneToOne(), weight=params.w_in, delay=DT)
    net.connect("pre", "post", sp.AllToAll(), weight=params.w_syn, delay=DT)
    net.connect("pre", "astro", sp.OneToOne(), weight=params.w_astro, delay=DT)
    net.connect("astro", "post", sp.FromList(np.array([0]), np.array([0])), weight=params.w_sic, delay=DT)
    return net, {"pre": ["v"], "post": ["v", "I_SIC"], "astro": ["IP3", "Ca_astro", "SIC"]}


def simulate(net, record, duration):
    """Run in the event engine; (Recording, wall seconds of the run after the kernel is loaded)."""
    import spiking as sp
    engine = sp.EventEngine(net)
    engine.run(10 * DT, record=record)   # compile or load the kernel outside the timed run
    t0 = time.perf_counter()
    rec = engine.run(duration, record=record)
    return rec, time.perf_counter() - t0


def trace_times(n_rows: int, every: int = 1) -> np.ndarray:
    """Times (ms) of recorded rows 0, every, 2 every, ...: row k holds the state at the end of step
    k, i.e. at (k + 1) dt (NEST's multimeter stamp)."""
    return (np.arange(0, n_rows, every) + 1) * DT


# -- metrics ------------------------------------------------------------------------------------
def ip3_mean_expected(model, rate_hz: float, weight: float, t_ms: np.ndarray) -> np.ndarray:
    """Mean IP3 (uM) at times t under a Poisson train from IP3 = IP3_0 at t = 0 (Campbell's theorem)."""
    jump = model.delta_IP3 * weight
    return model.IP3_0 + jump * rate_hz / 1000.0 * model.tau_IP3 * (1.0 - np.exp(-np.asarray(t_ms) / model.tau_IP3))


def single_metrics(rec, net, params: SingleParams, train) -> dict:
    s = rec.state["astro"]
    ip3, ca, h, sic = (s[k][:, 0] for k in ("IP3", "Ca_astro", "h_IP3R", "SIC"))
    model = net.populations["astro"].model
    t = trace_times(ip3.size)
    last = t > params.duration * 2.0 / 3.0
    expected = float(ip3_mean_expected(model, params.rate, params.weight, t[last]).mean())
    above = np.flatnonzero(ca > model.SIC_th)
    return {
        "input_spikes": int(len(train)),
        "input_rate_hz": len(train) / params.duration * 1000.0,
        "IP3_max_uM": float(ip3.max()), "IP3_mean_last_third_uM": float(ip3[last].mean()),
        "IP3_mean_last_third_expected_uM": expected,
        "Ca_max_uM": float(ca.max()), "Ca_mean_uM": float(ca.mean()),
        "h_IP3R_min": float(h.min()), "h_IP3R_max": float(h.max()),
        "SIC_max": float(sic.max()), "SIC_fraction_of_time": float((sic > 0).mean()),
        "Ca_first_above_SIC_th_ms": float(t[above[0]]) if above.size else None,
    }


def pair_metrics(rec, params: PairParams) -> dict:
    post = rec.spikes["post"]
    n_pre = len(rec.spikes["pre"])
    counts = np.bincount(post.ids, minlength=2)
    s = rec.state["astro"]
    i_sic = rec.state["post"]["I_SIC"]
    first = post.times[post.ids == 0]
    return {
        "pre_spikes": int(n_pre), "pre_rate_hz": n_pre / params.duration * 1000.0,
        "post_with_sic_spikes": int(counts[0]), "post_without_sic_spikes": int(counts[1]),
        "post_with_sic_rate_hz": counts[0] / params.duration * 1000.0,
        "post_without_sic_rate_hz": counts[1] / params.duration * 1000.0,
        "post_with_sic_first_spike_ms": float(first[0]) if first.size else None,
        "IP3_max_uM": float(s["IP3"][:, 0].max()), "Ca_max_uM": float(s["Ca_astro"][:, 0].max()),
        "SIC_max": float(s["SIC"][:, 0].max()),
        "I_SIC_max_pA": [float(i_sic[:, k].max()) for k in range(i_sic.shape[1])],
    }


# -- plots --------------------------------------------------------------------------------------
def _save(fig, path):
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    import matplotlib.pyplot as plt
    plt.close(fig)


def plot_single(path, t_ms, traces: dict, sic_th=None, reference=None, title=None, label="spiking"):
    """IP3, Ca, h and SIC of one astrocyte against time; ``traces`` {var: 1-d array at t_ms};
    ``reference`` (optional): (t_ms, {var: array}) drawn underneath in grey (NEST)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    units = (("IP3", "IP3 (uM)"), ("Ca_astro", "Ca (uM)"), ("h_IP3R", "h_IP3R"), ("SIC", "SIC (pA/weight)"))
    panels = [(k, u) for k, u in units if k in traces]
    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(6.5, 1.6 * len(panels) + 0.8))
    for ax, (key, unit) in zip(np.atleast_1d(axes), panels):
        if reference is not None and key in reference[1]:
            ax.plot(np.asarray(reference[0]) / 1000.0, reference[1][key], lw=2.5, color="0.7", label="NEST 3.10")
        ax.plot(np.asarray(t_ms) / 1000.0, traces[key], lw=0.9, color="C0", label=label)
        if key == "Ca_astro" and sic_th is not None:
            ax.axhline(sic_th, color="C3", lw=0.8, ls=":", label="SIC_th")
            ax.legend(fontsize=8)
        ax.set_ylabel(unit)
    axes = np.atleast_1d(axes)
    if reference is not None:
        axes[0].legend(fontsize=8)
    axes[0].set_title(title or "astrocyte_lr_1994 under a Poisson train", fontsize=10)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    _save(fig, path)


def plot_pair(path, t_ms, traces: dict, spikes: dict, reference_spikes=None, title=None):
    """The tripartite pair: pre V, astrocyte IP3 and Ca, the SIC current into post neuron 0, both
    post neurons' V and their spikes. ``traces``: {"pre.v", "astro.IP3", "astro.Ca_astro",
    "post.I_SIC", "post.v"} at t_ms (post.* 2-d, one column per neuron); ``spikes``: {post neuron:
    spike times in ms}; ``reference_spikes`` (optional, NEST's) the same, drawn in grey."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = np.asarray(t_ms) / 1000.0
    fig, axes = plt.subplots(5, 1, sharex=True, figsize=(6.5, 8.5))
    axes[0].plot(t, traces["pre.v"], lw=0.5)
    axes[0].set_ylabel("pre V (mV)")
    axes[1].plot(t, traces["astro.IP3"], label="IP3")
    axes[1].plot(t, traces["astro.Ca_astro"], label="Ca")
    axes[1].set_ylabel("astrocyte (uM)")
    axes[1].legend(fontsize=8)
    axes[2].plot(t, traces["post.I_SIC"][:, 0], color="C3")
    axes[2].set_ylabel("SIC x w into\npost 0 (pA)")
    for k, label in ((1, "without SIC"), (0, "with SIC")):
        axes[3].plot(t, traces["post.v"][:, k], lw=0.5, label=label, color="C0" if k == 0 else "0.5")
    axes[3].set_ylabel("post V (mV)")
    axes[3].legend(fontsize=8, loc="lower right")
    for k in (0, 1):
        axes[4].eventplot([np.asarray(spikes[k]) / 1000.0], lineoffsets=2 * k + 1, linelengths=0.8, colors="C0")
        if reference_spikes is not None:
            axes[4].eventplot([np.asarray(reference_spikes[k]) / 1000.0], lineoffsets=2 * k + 0.2,
                              linelengths=0.6, colors="0.6")
    axes[4].set_yticks([0.6, 2.6], [f"with SIC ({len(spikes[0])})", f"without SIC ({len(spikes[1])})"])
    axes[4].set_ylim(-0.3, 3.8)
    axes[4].set_ylabel("post spikes" + ("\n(blue ours, grey NEST)" if reference_spikes is not None else ""))
    axes[4].set_xlabel("time (s)")
    axes[0].set_title(title or "tripartite pair (NEST astrocyte_interaction, driven harder)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def _sampled(rec, pop, var, every=TRACE_EVERY):
    return rec.state[pop][var][every - 1::every]   # rows at t = k * every * dt, k = 1, 2, ...


def _write_traces(path, recs: dict):
    import h5py
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["dt_ms"] = DT
            f.attrs["sample_ms"] = TRACE_EVERY * DT
            for case, rec in recs.items():
                g = f.create_group(case)
                for pop, d in rec.state.items():
                    for var in d:
                        g.create_dataset(f"{pop}.{var}", data=_sampled(rec, pop, var), compression="gzip")
                for pop, st in rec.spikes.items():
                    g.create_dataset(f"{pop}.spike_times_ms", data=st.times)
                    g.create_dataset(f"{pop}.spike_ids", data=st.ids)


# -- the experiment -----------------------------------------------------------------------------
def run(out, seed: int = 0, single: SingleParams = SingleParams(), pair: PairParams = PairParams(),
        integrator: str = "rkf45", substeps: int = 1) -> dict:
    """Both cases; writes metrics.json, astro_single.png, astro_pair.png and traces.h5 in ``out``."""
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator={integrator!r}: expected one of {INTEGRATORS}")
    if int(substeps) < 1:
        raise ValueError(f"substeps={substeps}: expected an integer >= 1")
    single.validate()
    pair.validate()
    rng = np.random.default_rng(seed)
    train_single = poisson_times(single.rate, single.duration, rng)
    train_pair = poisson_times(pair.rate, pair.duration, rng)

    net_s, record_s = build_single(single, train_single, integrator, substeps)
    rec_s, wall_s = simulate(net_s, record_s, single.duration)
    net_p, record_p = build_pair(pair, train_pair, integrator, substeps)
    rec_p, wall_p = simulate(net_p, record_p, pair.duration)

    metrics = {
        "config": {"seed": int(seed), "dt_ms": DT, "integrator": integrator, "substeps": int(substeps),
                   "single": asdict(single), "pair": asdict(pair)},
        "single": single_metrics(rec_s, net_s, single, train_single),
        "pair": pair_metrics(rec_p, pair),
        "timing": {"single_simulate_s": wall_s, "pair_simulate_s": wall_p},
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, allow_nan=False))
    _write_traces(out / "traces.h5", {"single": rec_s, "pair": rec_p})

    sic_th = net_s.populations["astro"].model.SIC_th
    n = rec_s.state["astro"]["IP3"].shape[0]
    plot_single(out / "astro_single.png", trace_times(n, TRACE_EVERY),
                {k: _sampled(rec_s, "astro", k)[:, 0] for k in ("IP3", "Ca_astro", "h_IP3R", "SIC")}, sic_th=sic_th,
                title=f"astrocyte_lr_1994 under a {single.rate:g} Hz Poisson train "
                      f"(delta_IP3 = {single.delta_IP3:g}, {integrator})")
    n = rec_p.state["pre"]["v"].shape[0]
    post = rec_p.spikes["post"]
    plot_pair(out / "astro_pair.png", trace_times(n, TRACE_EVERY),
              {"pre.v": _sampled(rec_p, "pre", "v")[:, 0], "astro.IP3": _sampled(rec_p, "astro", "IP3")[:, 0],
               "astro.Ca_astro": _sampled(rec_p, "astro", "Ca_astro")[:, 0],
               "post.I_SIC": _sampled(rec_p, "post", "I_SIC"), "post.v": _sampled(rec_p, "post", "v")},
              {k: post.times[post.ids == k] for k in (0, 1)})
    return metrics


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=Path("out/astro-tripartite"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Poisson trains")
    parser.add_argument("--integrator", choices=INTEGRATORS, default="rkf45",
                        help="rkf45: NEST's adaptive RKF45 (spikes equal NEST's); rk4: fixed-step, faster")
    parser.add_argument("--substeps", type=int, default=1, help="RK4 sub-steps per 0.1 ms step")
    parser.add_argument("--single-duration", type=float, default=None, help="ms (default 30000; --quick: 10000)")
    parser.add_argument("--pair-duration", type=float, default=None, help="ms (default 10000; --quick: 5000)")
    parser.add_argument("--quick", action="store_true", help="shorter runs: 10 s single astrocyte, 5 s pair")


def main(args) -> int:
    from dataclasses import replace
    single, pair = (QUICK_SINGLE, QUICK_PAIR) if args.quick else (SingleParams(), PairParams())
    if args.single_duration is not None:
        single = replace(single, duration=args.single_duration)
    if args.pair_duration is not None:
        pair = replace(pair, duration=args.pair_duration)
    m = run(args.out, args.seed, single, pair, args.integrator, args.substeps)
    s, p = m["single"], m["pair"]
    print(f"single astrocyte ({single.duration / 1000:g} s, {s['input_spikes']} input spikes): IP3 max "
          f"{s['IP3_max_uM']:.3f} uM, mean over the last third {s['IP3_mean_last_third_uM']:.3f} "
          f"(Poisson closed form {s['IP3_mean_last_third_expected_uM']:.3f}); Ca max {s['Ca_max_uM']:.3f} uM; "
          f"SIC max {s['SIC_max']:.2f}, present {100 * s['SIC_fraction_of_time']:.0f} % of the time")
    print(f"tripartite pair ({pair.duration / 1000:g} s): pre {p['pre_spikes']} spikes ({p['pre_rate_hz']:.1f} Hz); "
          f"post with SIC {p['post_with_sic_spikes']}, without SIC {p['post_without_sic_spikes']}; "
          f"SIC x w max {p['I_SIC_max_pA'][0]:.1f} pA")
    print(f"wrote {args.out}/metrics.json, astro_single.png, astro_pair.png, traces.h5")
    return 0
