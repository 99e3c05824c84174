"""Liquid state machines (Lin et al., Nat. Comput. Sci. 2025): a frozen LIF reservoir, software or
formed in RRAM, with trained linear readouts; N-MNIST and spoken-digit classification and zero-shot
audio-image retrieval.

``spiking run lsm --task nmnist|fsdd|zero-shot [--device ideal|rram] --out DIR`` (or :func:`run`).

* reservoir (``spiking.models.lsm``): 200 LIF units, decay 0.9, threshold 5, weight scale 0.07,
  50 time bins; ``--device ideal``: weights from a seeded numpy generator (the software
  reservoir); ``--device rram``: the conductance differences of one-shot formed RRAM pairs drawn
  from the crossbar backend's ``rram_random_reservoir`` device (clipped Gaussian conductances,
  ``sample_pairs``), normalised by their nominal spread and read with per-read noise
  (``RRAM_READ_NOISE`` of g_max per device and read);
* features: spike counts per unit in ``windows`` time windows, computed once per (reservoir,
  data) and cached as HDF5 in the cache folder (a cache made with other parameters is rebuilt
  with a warning);
* readouts: ridge regression (penalty chosen on validation) and logistic regression trained with
  Adam (``spiking.nn.readout``); for each readout the input gain and windows are chosen on that
  readout's validation accuracy (grids ``GAINS``, ``WINDOWS_GRID``); the baseline is the same
  readout on the raw input counts, its windows chosen the same way (no reservoir);
* Test is only reported: per kind and readout, mean +- sd over seeds, and paired comparisons on
  the same Test items (exact McNemar per seed, paired bootstrap pooled over seeds);
* N-MNIST: the shared recordings' Train split outside the validation ids (1,138) for training,
  the validation ids (200) for every choice, Test (100) reported; FSDD (converted to SHD's
  schema): the official split, validation = 10 % of the training recordings (seeded), and the
  speaker-held-out split, validation = every recording of one training speaker (seeded), as
  its Test is a speaker never heard; zero-shot: see :func:`zero_shot`.

Files in DIR: ``metrics.json`` (``test_accuracy``, ``val_accuracy``, per-seed tables, the
configuration), ``confusion.png``, ``features.png`` (PCA of the reservoir features), and for
zero-shot ``retrieval.png``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from spiking.models.lsm import (Reservoir, ReservoirParams, RidgeReadout, cached_arrays, features_from_spikes,
                                scale_weights, select_ridge)

from .lsm_data import (FSDD_ROOT_DEFAULT, FSDD_SPLITS, FSDD_WINDOW_MS, NMNIST_RECORDING_US,  # noqa: F401
                       POOLS, Inputs, fsdd_data, load_fsdd, load_nmnist, nmnist_data, nmnist_inputs, pool_frames)
from .lsm_stats import _mean_std, mcnemar_exact, paired_bootstrap, paired_comparisons  # noqa: F401
from .lsm_zero_shot import DIRECTIONS, seen_class_profile, zero_shot  # noqa: F401

TASKS = ("nmnist", "fsdd", "zero-shot")
DEVICES = ("ideal", "rram")
# Per-read noise of one formed device, as a fraction of g_max: a round number (the RRAMGeneric
# preset's default read noise, hardware/crossbar/devices.py), not a fit; RRAMRandomReservoir
# itself defaults to no read noise.
RRAM_READ_NOISE = 0.01


# -- reservoirs and features --------------------------------------------------------------------
def device_reservoir(params: ReservoirParams, seed: int, read_noise: float = RRAM_READ_NOISE) -> Reservoir:
    """The reservoir formed in RRAM: each weight is the difference of a pair of one-shot formed
    devices of ``RRAMRandomReservoir`` (``sample_pairs``, a torch generator seeded with ``seed``),
    divided by the pair difference's nominal spread sqrt(2) g_std / (g_max - g_min) so that it has
    the software reservoir's scale; the sparse mask is the software draw's (numpy, ``seed``).
    Read noise: ``read_noise`` g_max per device and read, i.e. sqrt(2) read_noise g_max per pair
    against the pair spread sqrt(2) g_std, a relative read error read_noise g_max / g_std."""
    import torch

    from spiking.hardware.crossbar import RRAMRandomReservoir
    from spiking.models.lsm import standard_normal_weights
    dev = RRAMRandomReservoir(read_noise=read_noise)
    gen = torch.Generator().manual_seed(int(seed))
    spread = math.sqrt(2.0) * dev.g_std / (dev.g_max - dev.g_min)
    z_in = dev.sample_weights((params.n_inputs, params.n_units), gen).numpy() / spread
    z_rec = dev.sample_weights((params.n_units, params.n_units), gen).numpy() / spread
    _, mask = standard_normal_weights(params, np.random.default_rng(seed))
    w_in, w_rec = scale_weights(params, z_in, z_rec * (mask != 0))
    relative = dev.read_noise_std / dev.g_std
    return Reservoir(replace(params, read_noise=relative), w_in, w_rec,
                     origin=f"{dev.name} seed {seed} (g_mean {dev.g_mean}, g_std {dev.g_std}, read noise {read_noise} g_max)")


def make_reservoir(params: ReservoirParams, device: str, seed: int) -> Reservoir:
    if device not in DEVICES:
        raise ValueError(f"device={device!r}: expected one of {DEVICES}")
    return Reservoir.seeded(params, seed) if device == "ideal" else device_reservoir(params, seed)


def reservoir_spikes_cached(reservoir: Reservoir, data: dict, data_identity: dict, cache_dir: Path, tag: str,
                            seed: int, progress=True) -> dict:
    """Spikes [T, N, units] (uint8) of every split in ``data`` ({split: counts [T, N, n_in]}),
    computed once and cached in ``cache_dir/lsm-TAG-...h5`` under the reservoir's identity
    (parameters except the feature windows, weights hash) and the data's."""
    ident = reservoir.identity()
    ident["params"] = {k: v for k, v in ident["params"].items() if k != "windows"}
    identity = {"reservoir": ident, "data": data_identity, "noise_seed": seed, "engine": "dense"}
    short = hashlib_short({"p": ident["params"], "o": reservoir.origin.split(" (")[0], "tag": tag, "d": data_identity})
    path = Path(cache_dir) / f"lsm-{tag}-{short}.h5"

    def compute():
        out = {}
        for k, (split, x) in enumerate(sorted(data.items())):
            rng = np.random.default_rng([seed, 7, k])
            out[split] = np.ascontiguousarray(dense_spikes_progress(reservoir, x, rng, progress))
        return out
    return cached_arrays(path, identity, compute)


def dense_spikes_progress(reservoir, x, rng, progress):
    from spiking.models.lsm import dense_spikes
    return dense_spikes(reservoir, x, rng=rng, progress=None if progress else False)


def hashlib_short(obj) -> str:
    import hashlib
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def default_cache_dir(cache_dir=None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from spiking.datasets import default_cache_dir as dcd
    return Path(dcd()) / "lsm"


# -- readouts -----------------------------------------------------------------------------------
# Grids searched on validation. Each extends one decade beyond every value chosen in our runs
# (docs/lsm.md), so that no choice sits at an edge of its grid.
RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0)
LOGISTIC_DECAYS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
GAINS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
WINDOWS_GRID = (1, 5, 10, 25, 50)


def evaluate_readouts(f: dict, y: dict, seed: int, logistic: bool = True, readouts=None) -> dict:
    """Ridge (penalty on validation) and logistic/Adam (weight decay on validation) on features
    f[split] (``readouts``: a subset of ("ridge", "logistic"), default both, or ridge alone
    without ``logistic``); returns val and test accuracy of each and the Test predictions of each."""
    readouts = readouts or (("ridge", "logistic") if logistic else ("ridge",))
    out = {}
    if "ridge" in readouts:
        alpha, scores = select_ridge(f["train"], y["train"], f["val"], y["val"], RIDGE_ALPHAS)
        ridge = RidgeReadout.fit(f["train"], y["train"], alpha)
        out["ridge"] = {"alpha": alpha, "val_accuracy": scores[alpha], "test_accuracy": ridge.accuracy(f["test"], y["test"]),
                        "test_pred": ridge.predict(f["test"]).tolist()}
    if "logistic" in readouts:
        from spiking.nn.readout import select_logistic
        wd, sc, lo = select_logistic(f["train"], y["train"], f["val"], y["val"], LOGISTIC_DECAYS, seed=seed)
        out["logistic"] = {"weight_decay": wd, "val_accuracy": sc[wd], "test_accuracy": lo.accuracy(f["test"], y["test"]),
                           "test_pred": lo.predict(f["test"]).tolist()}
    return out


def _val_only(f: dict, y: dict, readout: str, seed: int) -> tuple[float, float]:
    """(best validation accuracy, its hyper-parameter) of one readout on features f; Test unused."""
    if readout == "ridge":
        alpha, sc = select_ridge(f["train"], y["train"], f["val"], y["val"], RIDGE_ALPHAS)
        return sc[alpha], alpha
    from spiking.nn.readout import select_logistic
    wd, sc, _ = select_logistic(f["train"], y["train"], f["val"], y["val"], LOGISTIC_DECAYS, seed=seed)
    return sc[wd], wd


# -- paired comparisons on the same Test items --------------------------------------------------
def _features(spikes: dict, windows: int) -> dict:
    return {s: features_from_spikes(v, windows) for s, v in spikes.items()}


def _subset(y, n, rng):
    """``n`` training indices drawn without replacement (all when n >= len(y))."""
    return np.arange(len(y)) if n >= len(y) else np.sort(rng.permutation(len(y))[:n])


def classification(inputs, y: dict, base: ReservoirParams, *, device="ideal",
                   seeds=(0, 1, 2, 3, 4), gains=GAINS, windows_grid=WINDOWS_GRID, cache_dir=None,
                   logistic=True, learning_curve=(100, 300, 1000), sensitivity=True, progress=True) -> dict:
    """The classification protocol over ``inputs`` (one or more :class:`Inputs`, preprocessings
    of the same recordings, labels ``y``). For each readout (ridge; logistic unless
    ``logistic=False``) the input, the input gain and the feature windows are chosen on that
    readout's validation accuracy (software reservoir, seed 0; ties: fewer windows, then the
    smaller gain, then fewer inputs), and the raw-count baseline's input and windows likewise
    (the same grid, the same readouts; ties: fewer features); then for every seed the
    software and rram reservoirs and the raw counts with each readout in its own choice; the
    readout of each kind chosen by mean validation accuracy; Test only reported, with paired
    comparisons on the Test items (:func:`paired_comparisons`); learning curve and recurrence
    sensitivity with the ridge readout in its choice."""
    inputs = [inputs] if isinstance(inputs, Inputs) else list(inputs)
    if not inputs or len({i.name for i in inputs}) != len(inputs):
        raise ValueError(f"inputs {[i.name for i in inputs]}: expected at least one, with distinct names")
    for inp in inputs:
        sizes = {s: int(x.shape[1]) for s, x in inp.data.items()}
        if sizes != {s: int(np.asarray(v).size) for s, v in y.items()}:
            raise ValueError(f"inputs {inp.name!r}: recordings per split {sizes}, expected the labels' "
                             f"{ {s: int(np.asarray(v).size) for s, v in y.items()} }")
    by_name = {i.name: i for i in inputs}
    cache_dir = default_cache_dir(cache_dir)
    t0 = time.time()
    readouts = ("ridge", "logistic") if logistic else ("ridge",)
    search = []
    for inp in inputs:
        b_in = replace(base, n_inputs=inp.n_inputs)
        for gain in gains:
            p = replace(b_in, input_gain=float(gain))
            spikes = reservoir_spikes_cached(make_reservoir(p, "ideal", 0), inp.data, inp.identity, cache_dir, inp.tag,
                                             0, progress)
            for w in windows_grid:
                f = _features(spikes, w)
                row = {"input": inp.name, "n_inputs": inp.n_inputs, "input_gain": float(gain), "windows": int(w),
                       "spikes_per_unit_per_bin": float(spikes["train"].mean())}
                for ro in readouts:
                    row[f"{ro}_val_accuracy"], row[f"{ro}_hyper"] = _val_only(f, y, ro, 0)
                search.append(row)
    chosen = {ro: max(search, key=lambda r: (r[f"{ro}_val_accuracy"], -r["windows"], -r["input_gain"], -r["n_inputs"]))
              for ro in readouts}
    params_by = {ro: replace(base, n_inputs=c["n_inputs"], input_gain=c["input_gain"], windows=c["windows"])
                 for ro, c in chosen.items()}
    input_by = {ro: by_name[c["input"]] for ro, c in chosen.items()}
    params, inp_ridge = params_by["ridge"], input_by["ridge"]
    raw_search = []
    for inp in inputs:
        for w in windows_grid:
            f = _features(inp.data, w)
            row = {"input": inp.name, "n_inputs": inp.n_inputs, "windows": int(w)}
            for ro in readouts:
                row[f"{ro}_val_accuracy"], row[f"{ro}_hyper"] = _val_only(f, y, ro, 0)
            raw_search.append(row)
    raw_chosen = {ro: max(raw_search, key=lambda r: (r[f"{ro}_val_accuracy"], -r["windows"] * r["n_inputs"]))
                  for ro in readouts}
    raw_w_by = {ro: c["windows"] for ro, c in raw_chosen.items()}
    f_raw_by = {ro: _features(by_name[c["input"]].data, c["windows"]) for ro, c in raw_chosen.items()}
    t_search = time.time() - t0

    runs = {"ideal": [], "rram": [], "raw": []}
    feats0 = {}
    for dev in ("ideal", "rram"):
        for seed in seeds:
            r = {"seed": seed}
            for ro in readouts:
                pr = params_by[ro]
                inp = input_by[ro]
                spikes = reservoir_spikes_cached(make_reservoir(pr, dev, seed), inp.data, inp.identity, cache_dir,
                                                 inp.tag, seed, progress)
                f = _features(spikes, pr.windows)
                if seed == seeds[0]:
                    feats0.setdefault(dev, {})[ro] = f
                r.update(evaluate_readouts(f, y, seed, readouts=(ro,)))
                r[ro]["input"], r[ro]["input_gain"], r[ro]["windows"] = inp.name, pr.input_gain, pr.windows
                r[ro]["spikes_per_unit_per_bin"] = float(spikes["train"].mean())
            runs[dev].append(r)
    for seed in seeds:
        r = {"seed": seed}
        for ro in readouts:
            r.update(evaluate_readouts(f_raw_by[ro], y, seed, readouts=(ro,)))
            r[ro]["input"], r[ro]["windows"] = raw_chosen[ro]["input"], raw_w_by[ro]
        runs["raw"].append(r)
    table = {}
    for kind, rs in runs.items():
        table[kind] = {ro: {"val_accuracy": _mean_std([r[ro]["val_accuracy"] for r in rs]),
                            "test_accuracy": _mean_std([r[ro]["test_accuracy"] for r in rs])} for ro in readouts}
        # the readout of this reservoir chosen on validation (mean over seeds)
        table[kind]["chosen_readout"] = max(readouts, key=lambda ro: table[kind][ro]["val_accuracy"]["mean"])
    f_raw = f_raw_by["ridge"]
    t_runs = time.time() - t0 - t_search

    curve = {}
    if learning_curve:
        sizes = [n for n in learning_curve if n < len(y["train"])] + [len(y["train"])]
        for kind in ("ideal", "raw"):
            rows = {}
            for n in sizes:
                accs, vals = [], []
                for seed in seeds:
                    if kind == "ideal":
                        spikes = reservoir_spikes_cached(make_reservoir(params, "ideal", seed), inp_ridge.data,
                                                         inp_ridge.identity, cache_dir, inp_ridge.tag, seed, progress)
                        f = _features(spikes, params.windows)
                    else:
                        f = f_raw
                    idx = _subset(y["train"], n, np.random.default_rng([seed, n]))
                    alpha, sc = select_ridge(f["train"][idx], y["train"][idx], f["val"], y["val"], RIDGE_ALPHAS)
                    ro = RidgeReadout.fit(f["train"][idx], y["train"][idx], alpha, n_classes=10)
                    accs.append(ro.accuracy(f["test"], y["test"]))
                    vals.append(sc[alpha])
                rows[str(n)] = {"test_accuracy": _mean_std(accs), "val_accuracy": _mean_std(vals)}
            curve[kind] = rows

    sens = []
    if sensitivity:
        variants = [("none", None), ("sparse", 0.5), ("sparse", 0.9), ("sparse", 1.5), ("sparse", 3.0)]
        for rec, rho in variants:
            p = replace(params, recurrence=rec, spectral_radius=rho if rho is not None else params.spectral_radius)
            vals, tests, rates = [], [], []
            for seed in seeds[:3]:
                spikes = reservoir_spikes_cached(make_reservoir(p, "ideal", seed), inp_ridge.data, inp_ridge.identity,
                                                 cache_dir, inp_ridge.tag, seed, progress)
                f = _features(spikes, p.windows)
                alpha, sc = select_ridge(f["train"], y["train"], f["val"], y["val"], RIDGE_ALPHAS)
                vals.append(sc[alpha])
                tests.append(RidgeReadout.fit(f["train"], y["train"], alpha).accuracy(f["test"], y["test"]))
                rates.append(float(spikes["train"].mean()))
            sens.append({"recurrence": rec, "spectral_radius": rho, "p_rec": p.p_rec,
                         "val_accuracy": _mean_std(vals), "test_accuracy": _mean_std(tests),
                         "spikes_per_unit_per_bin": float(np.mean(rates))})
    paired = paired_comparisons(runs, table, y["test"])
    return {"search": search, "chosen": chosen, "raw_search": raw_search, "raw_windows": raw_w_by,
            "raw_chosen": raw_chosen, "inputs": [i.name for i in inputs],
            "params": asdict(params), "params_by_readout": {ro: asdict(v) for ro, v in params_by.items()},
            "runs": runs, "table": table, "paired": paired, "learning_curve": curve, "sensitivity": sens,
            "seconds": {"search": t_search, "runs": t_runs, "total": time.time() - t0},
            "_features": feats0, "_f_raw": f_raw, "_inputs": input_by}


def headline(result: dict, device: str) -> dict:
    """test/val accuracy of the chosen readout of the ``device`` reservoir, mean over seeds."""
    t = result["table"][device]
    ro = t["chosen_readout"]
    return {"test_accuracy": t[ro]["test_accuracy"]["mean"], "val_accuracy": t[ro]["val_accuracy"]["mean"],
            "readout": ro}


# -- tasks --------------------------------------------------------------------------------------
def energy_comparison(reservoir: Reservoir, counts: np.ndarray) -> dict:
    """Energy per inference of the reservoir on one sample: the network description on the
    crossbar backend (``CrossbarEngine`` with the ``rram_random_reservoir`` device, priced by the
    energy model's ``crossbar`` preset in hardware mode) against the event engine's ledger priced
    on digital targets (energy model, ops and memory modes)."""
    from spiking.engines import EventEngine
    from spiking.hardware.crossbar import CrossbarEngine
    from spiking.hardware.energy import estimate
    net = reservoir.to_network(counts)
    duration = (reservoir.params.time_bins + 1) * reservoir.params.dt
    out = {}
    xb = CrossbarEngine(net, device="rram_random_reservoir", seed=0).run(duration, progress=False)
    ev = EventEngine(net).run(duration, progress=False)
    out["spikes_event"] = int(ev.spikes["reservoir"].times.size)
    out["spikes_crossbar"] = int(xb.spikes["reservoir"].times.size)
    for target in ("crossbar", "rram_wan2022"):
        try:
            out[f"{target}/hardware"] = estimate(xb, target=target, mode="hardware").per_inference
        except Exception as err:  # noqa: BLE001 - report what the energy model could not price
            out[f"{target}/hardware"] = f"not priced: {err}"
    for target in ("horowitz45", "horowitz45_int8", "loihi", "truenorth", "spinnaker2", "cpu", "gpu"):
        for mode in ("ops", "memory"):
            try:
                out[f"{target}/{mode}"] = estimate(ev, target=target, mode=mode).per_inference
            except Exception as err:  # noqa: BLE001
                out[f"{target}/{mode}"] = f"not priced: {err}"
    return out


# -- plots --------------------------------------------------------------------------------------
def plot_confusion(y_true, y_pred, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from spiking.atomic import atomic_path
    k = 10
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title=title, xticks=range(k), yticks=range(k))
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_features(f, y, path, title):
    """The first two principal components of standardised features, by class."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from spiking.atomic import atomic_path
    from spiking.models.lsm import Standardizer
    z = Standardizer.fit(f)(f)
    _, _, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    pc = z @ vt[:2].T
    fig, ax = plt.subplots(figsize=(5, 4))
    sc = ax.scatter(pc[:, 0], pc[:, 1], c=y, cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
    fig.colorbar(sc, ax=ax, ticks=range(10), label="class")
    ax.set(xlabel="PC 1", ylabel="PC 2", title=title)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def plot_retrieval(summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from spiking.atomic import atomic_path
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels, means, stds = [], [], []
    for dev, s in summary.items():
        for key in ("test_seen", "unseen"):
            for d in ("audio_to_image", "image_to_audio"):
                labels.append(f"{dev}\n{key}\n{d.replace('_to_', '->')}")
                means.append(s[key][d]["mean"])
                stds.append(s[key][d]["std"])
    ax.bar(range(len(means)), means, yerr=stds, color="tab:blue")
    first = next(iter(summary.values()))
    ax.axhline(first["chance"]["seen"], ls=":", color="k", label="chance (seen)")
    ax.axhline(first["chance"]["unseen"], ls="--", color="k", label="chance (unseen)")
    ax.set_xticks(range(len(means)), labels, fontsize=6)
    ax.set(ylabel="top-1 retrieval", ylim=(0, 1))
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


# -- the experiment -----------------------------------------------------------------------------
def _strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if not k.startswith("_")}


def _plots(result, y, out: Path, device: str, name: str):
    runs = result["runs"][device]
    ro = result["table"][device]["chosen_readout"]
    plot_confusion(y["test"], runs[0][ro]["test_pred"], out / "confusion.png",
                   f"{name} Test, {device} reservoir seed {runs[0]['seed']}, {ro}")
    plot_features(result["_features"][device][ro]["val"], y["val"], out / "features.png",
                  f"{name} reservoir features ({device}), validation")


def run(out, *, task="nmnist", device="ideal", seeds=(0, 1, 2, 3, 4), n_units=200, time_bins=50, pools=POOLS, pool=2,
        gains=GAINS, windows_grid=WINDOWS_GRID, input_gain=32.0, audio_gain=64.0, windows=5, audio_windows=None,
        logistic=True,
        energy=True, zero_shot_steps=1500,
        data_root=None, cache_dir=None, fsdd_root=None, limit=None, threads=1, progress=True,
        learning_curve=(100, 300, 1000), sensitivity=True) -> dict:
    """Run one task; writes ``out/metrics.json`` and the plots; returns the metrics."""
    if task not in TASKS:
        raise ValueError(f"task={task!r}: expected one of {TASKS}")
    if device not in DEVICES:
        raise ValueError(f"device={device!r}: expected one of {DEVICES}")
    import torch
    from spiking.atomic import write_text_atomic
    if threads:
        torch.set_num_threads(int(threads))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = default_cache_dir(cache_dir)
    t0 = time.time()
    metrics = {"task": task, "device": device, "seeds": list(seeds)}
    if task == "nmnist":
        inputs, y = nmnist_inputs(pools, time_bins, data_root, None, limit, progress)
        base = ReservoirParams(n_inputs=inputs[0].n_inputs, n_units=n_units, time_bins=time_bins,
                               dt=NMNIST_RECORDING_US / 1000.0 / time_bins)
        res = classification(inputs, y, base, device=device, seeds=seeds, gains=gains,
                             windows_grid=windows_grid, cache_dir=cache_dir, logistic=logistic, progress=progress,
                             learning_curve=learning_curve, sensitivity=sensitivity)
        metrics.update(headline(res, device))
        metrics["n"] = {s: int(v.size) for s, v in y.items()}
        metrics["nmnist"] = _strip(res)
        _plots(res, y, out, device, "N-MNIST")
        if energy:
            ro = res["table"][device]["chosen_readout"]
            params = ReservoirParams(**res["params_by_readout"][ro])
            metrics["energy_per_inference_j"] = _energy_or_gap(make_reservoir(params, device, seeds[0]),
                                                               res["_inputs"][ro].data["test"][:, 0])
    elif task == "fsdd":
        metrics["splits"] = {}
        for i, split in enumerate(FSDD_SPLITS):
            data, y, ident = fsdd_data(split, time_bins, root=fsdd_root, limit=limit)
            base = ReservoirParams(n_inputs=data["train"].shape[2], n_units=n_units, time_bins=time_bins,
                                   dt=FSDD_WINDOW_MS / time_bins)
            res = classification(Inputs(split, data, ident, f"fsdd-{split}"), y, base, device=device, seeds=seeds,
                                 gains=gains,
                                 windows_grid=windows_grid, cache_dir=cache_dir, logistic=logistic,
                                 learning_curve=None, sensitivity=False, progress=progress)
            h = headline(res, device)
            metrics["splits"][split] = dict(h, n={s: int(v.size) for s, v in y.items()}, **_strip(res))
            if i == 0:
                metrics.update(h)
                _plots(res, y, out, device, f"FSDD ({split})")
    else:
        img, yi, iid = nmnist_data(pool, time_bins, data_root, None, limit, progress)
        aud, ya, aid = fsdd_data("official", time_bins, root=fsdd_root, limit=limit)
        metrics["zero_shot"] = {}
        pi = ReservoirParams(n_inputs=img["train"].shape[2], n_units=n_units, time_bins=time_bins,
                             dt=NMNIST_RECORDING_US / 1000.0 / time_bins, input_gain=input_gain, windows=windows)
        pa = ReservoirParams(n_inputs=aud["train"].shape[2], n_units=n_units, time_bins=time_bins,
                             dt=FSDD_WINDOW_MS / time_bins, input_gain=audio_gain, windows=audio_windows or windows)
        for dev in ("ideal", "rram"):
            rows = []
            for seed in seeds:     # reservoir seed = projection seed: a new pair of reservoirs per seed
                fi = _features(reservoir_spikes_cached(make_reservoir(pi, dev, seed), img, iid, cache_dir,
                                                       f"nmnist-p{pool}", seed, progress), windows)
                fa = _features(reservoir_spikes_cached(make_reservoir(pa, dev, seed), aud, aid, cache_dir,
                                                       "fsdd-official", seed, progress), pa.windows)
                rows.append(zero_shot(fi, yi, fa, ya, seeds=(seed,), steps=zero_shot_steps))
            merged = rows[0]
            merged["per_seed"] = [r["per_seed"][0] for r in rows]
            for key in ("val_seen", "test_seen", "unseen"):
                merged["summary"][key] = {d: _mean_std([r["per_seed"][0][key][d] for r in rows]) for d in DIRECTIONS}
            merged["image_params"], merged["audio_params"] = asdict(pi), asdict(pa)
            metrics["zero_shot"][dev] = merged
        s = metrics["zero_shot"][device]["summary"]
        metrics["test_accuracy"] = s["unseen"]["audio_to_image"]["mean"]
        metrics["val_accuracy"] = 0.5 * (s["val_seen"]["audio_to_image"]["mean"] + s["val_seen"]["image_to_audio"]["mean"])
        metrics["note"] = ("test_accuracy: unseen-class audio->image top-1 retrieval (mean over seeds); "
                           "val_accuracy: seen-class validation retrieval (both directions)")
        plot_retrieval({d: v["summary"] for d, v in metrics["zero_shot"].items()}, out / "retrieval.png")
    metrics["seconds"] = time.time() - t0
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1, default=_json_default))
    return metrics


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-able: {type(o).__name__}")


def _energy_or_gap(reservoir, counts):
    try:
        return energy_comparison(reservoir, counts)
    except ImportError as err:
        return {"gap": f"energy model not available: {err}"}


def add_arguments(parser):
    parser.add_argument("--task", choices=TASKS, default="nmnist")
    parser.add_argument("--device", choices=DEVICES, default="ideal",
                        help="ideal: software reservoir (seeded numpy); rram: formed RRAM pairs with read noise")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default out/lsm-TASK-DEVICE)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--time-bins", type=int, default=50)
    parser.add_argument("--pools", type=int, nargs="+", default=list(POOLS),
                        help="N-MNIST classification: input resolutions searched on validation (sums over pool x pool "
                             "pixels per polarity)")
    parser.add_argument("--pool", type=int, default=2,
                        help="zero-shot: pool x pool pixels per input of the image reservoir")
    parser.add_argument("--gains", type=float, nargs="+", default=list(GAINS),
                        help="input gains searched on validation (classification)")
    parser.add_argument("--windows-grid", type=int, nargs="+", default=list(WINDOWS_GRID),
                        help="feature windows searched on validation (classification)")
    parser.add_argument("--input-gain", type=float, default=32.0,
                        help="zero-shot: input gain of the image reservoir (N-MNIST's choice on validation)")
    parser.add_argument("--audio-gain", type=float, default=64.0,
                        help="zero-shot: input gain of the audio reservoir (FSDD official split's choice on validation)")
    parser.add_argument("--zero-shot-steps", type=int, default=1500, help="zero-shot: Adam steps per projection pair")
    parser.add_argument("--windows", type=int, default=5, help="zero-shot: feature windows of the image reservoir")
    parser.add_argument("--audio-windows", type=int, default=None,
                        help="zero-shot: feature windows of the audio reservoir (default: --windows)")
    parser.add_argument("--no-logistic", action="store_true", help="ridge readout only")
    parser.add_argument("--no-energy", action="store_true")
    parser.add_argument("--data-root", type=Path, default=None, help="N-MNIST folder (default: data_root()/nmnist)")
    parser.add_argument("--fsdd-root", type=Path, default=None,
                        help=f"converted FSDD folder with official/ and speaker-george/ (default $SPIKING_FSDD or {FSDD_ROOT_DEFAULT})")
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache (default: the dataset cache /lsm)")
    parser.add_argument("--limit", type=int, default=None, help="N evenly spaced recordings per split (smoke runs)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-progress", action="store_true")


def main(args) -> int:
    out = args.out or Path("out") / f"lsm-{args.task}-{args.device}"
    m = run(out, task=args.task, device=args.device, seeds=tuple(args.seeds), n_units=args.units,
            time_bins=args.time_bins, pools=tuple(args.pools), pool=args.pool, gains=tuple(args.gains), windows_grid=tuple(args.windows_grid),
            input_gain=args.input_gain, audio_gain=args.audio_gain, windows=args.windows, audio_windows=args.audio_windows,
            zero_shot_steps=args.zero_shot_steps, logistic=not args.no_logistic,
            energy=not args.no_energy, data_root=args.data_root, cache_dir=args.cache_dir, fsdd_root=args.fsdd_root,
            limit=args.limit, threads=args.threads, progress=not args.no_progress)
    print(f"{args.task} ({args.device}): test {m['test_accuracy']:.4f}, val {m['val_accuracy']:.4f} -> {out}/metrics.json")
    if args.task in ("nmnist", "fsdd"):
        results = [("", m["nmnist"])] if args.task == "nmnist" else [(f"{k}: ", v) for k, v in m["splits"].items()]
        for prefix, res in results:
            for kind, t in res["table"].items():
                ro = t["chosen_readout"]
                print(f"  {prefix}{kind:5s} {ro:8s} test {t[ro]['test_accuracy']['mean']:.4f} "
                      f"+- {t[ro]['test_accuracy']['std']:.4f}  val {t[ro]['val_accuracy']['mean']:.4f}")
            for name, rows in res.get("paired", {}).items():
                label = next(iter(rows))
                b = rows[label]["pooled_bootstrap"]
                print(f"  {prefix}{name} {label}: Test difference {100 * b['difference']:+.1f} points, "
                      f"{100 * b['level']:.0f} % CI [{100 * b['ci'][0]:+.1f}, {100 * b['ci'][1]:+.1f}] (paired bootstrap "
                      f"over {b['n_items']} Test items)")
    return 0
