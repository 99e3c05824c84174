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
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from spiking.models.lsm import (Reservoir, ReservoirParams, RidgeReadout, cached_arrays, features_from_spikes,
                                scale_weights, select_ridge)

TASKS = ("nmnist", "fsdd", "zero-shot")
DEVICES = ("ideal", "rram")
NMNIST_RECORDING_US = 300_000
FSDD_ROOT_DEFAULT = Path("/work/cache/fsdd_shd")
FSDD_SPLITS = ("official", "speaker-george")
# FSDD recordings as converted span 180-530 ms (5th-95th percentile, at most 671 ms) from their first
# spike: a 600 ms window of 50 bins of 12 ms.
FSDD_WINDOW_MS = 600.0
# Per-read noise of one formed device, as a fraction of g_max: a round number (the RRAMGeneric
# preset's default read noise, hardware/crossbar/devices.py), not a fit; RRAMRandomReservoir
# itself defaults to no read noise.
RRAM_READ_NOISE = 0.01
DIRECTIONS = ("audio_to_image", "image_to_audio", "audio_to_image_prototype", "image_to_audio_prototype",
              "audio_to_image_profile", "image_to_audio_profile")


# -- data ---------------------------------------------------------------------------------------
def pool_frames(frames: np.ndarray, pool: int) -> np.ndarray:
    """N-MNIST frames [N, T, 2, 34, 34] -> counts [T, N, 2 * (34 // pool)^2] summed over pool x pool."""
    n, t, c, h, w = frames.shape
    if pool > 1:
        hh, ww = h // pool, w // pool
        frames = frames[..., :hh * pool, :ww * pool].reshape(n, t, c, hh, pool, ww, pool).sum(axis=(4, 6))
    return np.ascontiguousarray(frames.reshape(n, t, -1).transpose(1, 0, 2))


def load_nmnist(split: str, time_bins: int = 50, root=None, cache_dir=None, limit=None, progress=True):
    """Event counts of one N-MNIST split: frames uint8 [N, T, 2, 34, 34] and labels [N] (a fixed
    grid of 300 ms / T windows from the first event, as ``spiking run nmnist``)."""
    from spiking.datasets import NMNIST, CachedDataset, ToFrames
    frames = ToFrames(NMNIST.sensor_size, time_window=NMNIST_RECORDING_US // time_bins, n_time_bins=time_bins,
                      dtype="uint8")
    ds = CachedDataset(NMNIST(root=root, split=split, transform=frames), cache_dir, progress=progress)
    if len(ds) == 0:
        raise ValueError(f"N-MNIST split {split!r} under {root or 'the data root'} holds no recordings")
    picks = np.arange(len(ds)) if limit is None or limit >= len(ds) else \
        np.unique(np.linspace(0, len(ds) - 1, limit).round().astype(np.int64))
    x = np.zeros((picks.size, time_bins, 2, 34, 34), dtype=np.uint8)
    y = np.empty(picks.size, dtype=np.int64)
    for i, j in enumerate(picks):
        f, label = ds[int(j)]
        k = min(time_bins, f.shape[0])
        x[i, :k] = f[:k]
        y[i] = label
    identity = {"dataset": "nmnist", "split": split, "time_bins": time_bins, "n": int(picks.size),
                "key": ds.key if hasattr(ds, "key") else None, "limit": limit}
    ds.close()
    return x, y, identity


def load_fsdd(split_name: str, part: str, time_bins: int = 50, window_ms: float = FSDD_WINDOW_MS, channel_group: int = 7,
              root=None):
    """Converted FSDD (SHD schema) counts [T, N, 700 / channel_group] in ``time_bins`` bins of
    ``window_ms / time_bins`` from each recording's first spike (later spikes dropped)."""
    from spiking.datasets import SHD, ToChannelCounts
    root = Path(root or os.environ.get("SPIKING_FSDD", FSDD_ROOT_DEFAULT)) / split_name
    bin_us = window_ms * 1000.0 / time_bins
    ds = SHD(root=root, split=part, transform=ToChannelCounts(bin_width=bin_us, n_channels=700,
                                                               channel_group=channel_group))
    n_in = -(-700 // channel_group)
    x = np.zeros((time_bins, len(ds), n_in), dtype=np.uint16)
    y = np.asarray(ds.labels, dtype=np.int64) % 10
    for i in range(len(ds)):
        c, _ = ds[i]
        k = min(time_bins, c.shape[0])
        x[:k, i] = c[:k]
    speakers = None if ds.speakers is None else np.asarray(ds.speakers)
    identity = {"dataset": "fsdd", "split": split_name, "part": part, "path": str(ds.path),
                "mtime": os.path.getmtime(ds.path), "time_bins": time_bins, "window_ms": window_ms,
                "channel_group": channel_group}
    ds.close()
    return x, y, speakers, identity


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
def mcnemar_exact(correct_a, correct_b) -> dict:
    """Exact two-sided McNemar test of two classifiers on the same items (McNemar, Psychometrika
    1947; the exact binomial form recommended by Dietterich, Neural Comput. 1998): of the ``n01``
    items only ``a`` gets right and the ``n10`` only ``b`` gets right, under "equal accuracy" each
    discordant item is a fair coin; p = min(1, 2 P[Binomial(n01 + n10, 1/2) <= min(n01, n10)])."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"correct_a {a.shape} and correct_b {b.shape}: expected two [n] arrays")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = only_a + only_b
    k = min(only_a, only_b)
    p = 1.0 if n == 0 else min(1.0, 2.0 * sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n)
    return {"only_a": only_a, "only_b": only_b, "difference": float(a.mean() - b.mean()), "p_value": p}


def paired_bootstrap(correct_a, correct_b, rng: np.random.Generator, n_boot: int = 10000, level: float = 0.95) -> dict:
    """Paired bootstrap over items of the difference of mean accuracy (Efron & Tibshirani 1993,
    ch. 13, percentile interval): ``correct_a``, ``correct_b`` [seeds, n] (or [n]) correctness on
    the same ``n`` items; each resample draws ``n`` items with replacement, the same items for
    every seed and both classifiers, and takes the mean over seeds of a's accuracy minus b's. It
    measures the uncertainty from the finite set of Test items, not that from drawing reservoirs
    (the seed-to-seed spread). Returns the difference, the ``level`` interval, the fraction of
    resamples with a difference <= 0 (one-sided bootstrap p of "a beats b") and >= 0."""
    a = np.atleast_2d(np.asarray(correct_a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(correct_b, dtype=np.float64))
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"correct_a {a.shape} and correct_b {b.shape}: expected two [seeds, n] arrays")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng: expected a numpy.random.Generator")
    _positive_int_arg("n_boot", n_boot)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level!r}: expected a value in (0, 1)")
    d = (a - b).mean(axis=0)                          # per item, mean over seeds
    n = d.size
    boots = np.empty(n_boot)
    for i in range(0, n_boot, 1000):                   # chunks: bounded memory
        m = min(1000, n_boot - i)
        boots[i:i + m] = d[rng.integers(0, n, (m, n))].mean(axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return {"difference": float(d.mean()), "ci": [float(lo), float(hi)], "level": level, "n_items": int(n),
            "n_seeds": int(a.shape[0]), "n_boot": int(n_boot), "p_le_0": float(np.mean(boots <= 0)),
            "p_ge_0": float(np.mean(boots >= 0))}


def _positive_int_arg(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")


def paired_comparisons(runs: dict, table: dict, y_test, seed: int = 0, n_boot: int = 10000) -> dict:
    """Reservoir against raw counts and RRAM against software on the same Test items: for the
    readout chosen on validation for each side and for each readout on both sides, per seed the
    exact McNemar test (:func:`mcnemar_exact`), pooled over seeds the paired bootstrap
    (:func:`paired_bootstrap`, generator seeded with ``seed``)."""
    y_test = np.asarray(y_test)
    readouts = [ro for ro in ("ridge", "logistic") if all(ro in r for rs in runs.values() for r in rs)]
    out = {}
    for name, (ka, kb) in {"ideal_vs_raw": ("ideal", "raw"), "rram_vs_raw": ("rram", "raw"),
                           "rram_vs_ideal": ("rram", "ideal")}.items():
        if ka not in runs or kb not in runs:
            continue
        pairs = [(f"chosen ({table[ka]['chosen_readout']} vs {table[kb]['chosen_readout']})",
                  table[ka]["chosen_readout"], table[kb]["chosen_readout"])]
        pairs += [(ro, ro, ro) for ro in readouts]
        rows = {}
        for label, ra, rb in pairs:
            by_seed_b = {r["seed"]: r for r in runs[kb]}
            ca, cb, per_seed = [], [], []
            for r in runs[ka]:
                a = np.asarray(r[ra]["test_pred"]) == y_test
                b = np.asarray(by_seed_b[r["seed"]][rb]["test_pred"]) == y_test
                ca.append(a)
                cb.append(b)
                per_seed.append(dict(mcnemar_exact(a, b), seed=r["seed"]))
            boot = paired_bootstrap(np.stack(ca), np.stack(cb), np.random.default_rng([seed, 11]), n_boot)
            rows[label] = {"a": f"{ka} {ra}", "b": f"{kb} {rb}", "per_seed_mcnemar": per_seed, "pooled_bootstrap": boot}
        out[name] = rows
    return out


def _mean_std(values):
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "values": v.tolist()}


def _features(spikes: dict, windows: int) -> dict:
    return {s: features_from_spikes(v, windows) for s, v in spikes.items()}


def _subset(y, n, rng):
    """``n`` training indices drawn without replacement (all when n >= len(y))."""
    return np.arange(len(y)) if n >= len(y) else np.sort(rng.permutation(len(y))[:n])


def classification(data: dict, y: dict, data_identity: dict, tag: str, base: ReservoirParams, *, device="ideal",
                   seeds=(0, 1, 2, 3, 4), gains=GAINS, windows_grid=WINDOWS_GRID, cache_dir=None,
                   logistic=True, learning_curve=(100, 300, 1000), sensitivity=True, progress=True) -> dict:
    """The classification protocol. For each readout (ridge; logistic unless ``logistic=False``)
    the input gain and feature windows are chosen on that readout's validation accuracy (software
    reservoir, seed 0; ties: fewer windows, then the smaller gain), and the raw-count baseline's
    windows likewise (the same grid, the same readouts, the same rule); then for every seed the
    software and rram reservoirs and the raw counts with each readout in its own choice; the
    readout of each kind chosen by mean validation accuracy; Test only reported, with paired
    comparisons on the Test items (:func:`paired_comparisons`); learning curve and recurrence
    sensitivity with the ridge readout in its choice."""
    cache_dir = default_cache_dir(cache_dir)
    t0 = time.time()
    readouts = ("ridge", "logistic") if logistic else ("ridge",)
    search = []
    for gain in gains:
        p = replace(base, input_gain=float(gain))
        spikes = reservoir_spikes_cached(make_reservoir(p, "ideal", 0), data, data_identity, cache_dir, tag, 0, progress)
        for w in windows_grid:
            f = _features(spikes, w)
            row = {"input_gain": float(gain), "windows": int(w), "spikes_per_unit_per_bin": float(spikes["train"].mean())}
            for ro in readouts:
                row[f"{ro}_val_accuracy"], row[f"{ro}_hyper"] = _val_only(f, y, ro, 0)
            search.append(row)
    chosen = {ro: max(search, key=lambda r: (r[f"{ro}_val_accuracy"], -r["windows"], -r["input_gain"]))
              for ro in readouts}
    params_by = {ro: replace(base, input_gain=c["input_gain"], windows=c["windows"]) for ro, c in chosen.items()}
    params = params_by["ridge"]
    raw_search = []
    for w in windows_grid:
        f = _features(data, w)
        row = {"windows": int(w)}
        for ro in readouts:
            row[f"{ro}_val_accuracy"], row[f"{ro}_hyper"] = _val_only(f, y, ro, 0)
        raw_search.append(row)
    raw_w_by = {ro: max(raw_search, key=lambda r: (r[f"{ro}_val_accuracy"], -r["windows"]))["windows"]
                for ro in readouts}
    f_raw_by = {ro: _features(data, w) for ro, w in raw_w_by.items()}
    t_search = time.time() - t0

    runs = {"ideal": [], "rram": [], "raw": []}
    feats0 = {}
    for dev in ("ideal", "rram"):
        for seed in seeds:
            r = {"seed": seed}
            for ro in readouts:
                pr = params_by[ro]
                spikes = reservoir_spikes_cached(make_reservoir(pr, dev, seed), data, data_identity, cache_dir, tag,
                                                 seed, progress)
                f = _features(spikes, pr.windows)
                if seed == seeds[0]:
                    feats0.setdefault(dev, {})[ro] = f
                r.update(evaluate_readouts(f, y, seed, readouts=(ro,)))
                r[ro]["input_gain"], r[ro]["windows"] = pr.input_gain, pr.windows
                r[ro]["spikes_per_unit_per_bin"] = float(spikes["train"].mean())
            runs[dev].append(r)
    for seed in seeds:
        r = {"seed": seed}
        for ro in readouts:
            r.update(evaluate_readouts(f_raw_by[ro], y, seed, readouts=(ro,)))
            r[ro]["windows"] = raw_w_by[ro]
        runs["raw"].append(r)
    table = {}
    for kind, rs in runs.items():
        table[kind] = {ro: {"val_accuracy": _mean_std([r[ro]["val_accuracy"] for r in rs]),
                            "test_accuracy": _mean_std([r[ro]["test_accuracy"] for r in rs])} for ro in readouts}
        # the readout of this reservoir chosen on validation (mean over seeds)
        table[kind]["chosen_readout"] = max(readouts, key=lambda ro: table[kind][ro]["val_accuracy"]["mean"])
    f_raw = f_raw_by["ridge"]
    raw_w = raw_w_by["ridge"]
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
                        spikes = reservoir_spikes_cached(make_reservoir(params, "ideal", seed), data, data_identity,
                                                         cache_dir, tag, seed, progress)
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
                spikes = reservoir_spikes_cached(make_reservoir(p, "ideal", seed), data, data_identity, cache_dir, tag,
                                                 seed, progress)
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
            "params": asdict(params), "params_by_readout": {ro: asdict(v) for ro, v in params_by.items()},
            "runs": runs, "table": table, "paired": paired, "learning_curve": curve, "sensitivity": sens,
            "seconds": {"search": t_search, "runs": t_runs, "total": time.time() - t0},
            "_features": feats0, "_f_raw": f_raw}


def headline(result: dict, device: str) -> dict:
    """test/val accuracy of the chosen readout of the ``device`` reservoir, mean over seeds."""
    t = result["table"][device]
    ro = t["chosen_readout"]
    return {"test_accuracy": t[ro]["test_accuracy"]["mean"], "val_accuracy": t[ro]["val_accuracy"]["mean"],
            "readout": ro}


# -- tasks --------------------------------------------------------------------------------------
def nmnist_data(pool=2, time_bins=50, root=None, cache_dir=None, limit=None, progress=True):
    data, y, ident = {}, {}, {"pool": pool}
    for split in ("train", "val", "test"):
        frames, labels, i = load_nmnist(split, time_bins, root, cache_dir, limit, progress)
        data[split], y[split], ident[split] = pool_frames(frames, pool), labels, i
    return data, y, ident


def fsdd_data(split_name: str, time_bins=50, window_ms=FSDD_WINDOW_MS, channel_group=7, root=None, val_fraction=0.1,
              limit=None):
    """Train/val/test counts of one converted FSDD split, never the test recordings in val.

    Validation mirrors the split's test condition: where the test speakers are none of the
    training speakers (the speaker-held-out split), it is every recording of one training
    speaker (a seeded choice, generator seed 0), so that the choices of gain, windows and penalty
    are made on a speaker the readout has not heard, as Test asks; otherwise a seeded
    ``val_fraction`` of the training recordings (generator seed 0)."""
    xtr, ytr, str_, itr = load_fsdd(split_name, "train", time_bins, window_ms, channel_group, root)
    xte, yte, ste, ite = load_fsdd(split_name, "test", time_bins, window_ms, channel_group, root)
    held_out = str_ is not None and ste is not None and not set(np.unique(ste)) & set(np.unique(str_))
    if held_out:
        val_speaker = int(np.random.default_rng(0).choice(np.unique(str_)))
        is_val = str_ == val_speaker
        val, tr = np.flatnonzero(is_val), np.flatnonzero(~is_val)
    else:
        val_speaker = None
        perm = np.random.default_rng(0).permutation(ytr.size)
        n_val = int(round(val_fraction * ytr.size))
        val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    data = {"train": xtr[:, tr], "val": xtr[:, val], "test": xte}
    y = {"train": ytr[tr], "val": ytr[val], "test": yte}
    if limit is not None:
        for s in data:
            keep = np.unique(np.linspace(0, y[s].size - 1, min(limit, y[s].size)).round().astype(np.int64))
            data[s], y[s] = data[s][:, keep], y[s][keep]
    return data, y, {"train": itr, "test": ite, "limit": limit,
                     "validation": ({"speaker": val_speaker} if held_out else {"fraction": val_fraction})}


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


def seen_class_profile(z, z_train, y_train, seen):
    """Profiles [n, len(seen)]: cosine similarity of each row of ``z`` to the mean training feature
    of each seen class (same modality, standardised features), centred and scaled to unit length
    per row, so that the dot product of two profiles is their Pearson correlation. Profiles of two
    modalities are comparable (one entry per seen class) without any training: the
    "semantic output code" idea of Palatucci et al. (NeurIPS 2009) with the seen classes as the
    code. It asks whether an unseen class resembles the seen ones alike in both modalities."""
    import torch
    import torch.nn.functional as F
    y_train = np.asarray(y_train)
    protos = torch.stack([z_train[torch.as_tensor(y_train == c)].mean(0) for c in seen])
    sim = F.normalize(z, dim=1) @ F.normalize(protos, dim=1).T
    return F.normalize(sim - sim.mean(1, keepdim=True), dim=1)


def zero_shot(image: dict, y_image: dict, audio: dict, y_audio: dict, *, seen=(1, 2, 3, 4, 5, 6, 7), unseen=(8, 9),
              seeds=(0, 1, 2, 3, 4), dim=64, temperatures=(0.05, 0.1, 0.2), hiddens=(0, 256), steps=1500) -> dict:
    """Zero-shot retrieval: projections trained on digit-matched (audio, image) pairs of the seen
    classes (training splits), temperature and projection (``hiddens``: 0 linear, > 0 an MLP with
    that many hidden ReLU units) chosen on the seen classes' validation items; reported:
    top-1 retrieval (nearest item by dot product has the query's class; and, ``*_prototype``, the
    nearest class-mean embedding of the gallery is the query's class) on the seen classes' Test
    items and on every item of the unseen classes outside the training splits, both directions,
    against chance (1 / number of classes in the gallery)."""
    import torch

    from spiking.models.lsm import Standardizer
    from spiking.nn.readout import prototype_top1, retrieval_top1, train_projections
    seen, unseen = np.asarray(seen), np.asarray(unseen)
    if np.intersect1d(seen, unseen).size:
        raise ValueError(f"seen {seen.tolist()} and unseen {unseen.tolist()} classes overlap")
    tr_a, tr_i = np.isin(y_audio["train"], seen), np.isin(y_image["train"], seen)
    sa, si = Standardizer.fit(audio["train"][tr_a]), Standardizer.fit(image["train"][tr_i])

    def pick(feats, labels, scaler, splits, classes):
        x = np.concatenate([feats[s][np.isin(labels[s], classes)] for s in splits])
        lab = np.concatenate([labels[s][np.isin(labels[s], classes)] for s in splits])
        return torch.as_tensor(scaler(x), dtype=torch.float32), lab

    za, ya = pick(audio, y_audio, sa, ["train"], seen)
    zi, yi = pick(image, y_image, si, ["train"], seen)
    evals = {"val_seen": (["val"], seen), "test_seen": (["test"], seen), "unseen": (["val", "test"], unseen)}
    sets = {k: (pick(audio, y_audio, sa, s, c), pick(image, y_image, si, s, c)) for k, (s, c) in evals.items()}

    # training-free reference: every item as its profile of similarities to the seen classes'
    # training prototypes in its own modality, retrieved across modalities by profile correlation
    profiles = {k: (seen_class_profile(qa, za, ya, seen), seen_class_profile(qi, zi, yi, seen))
                for k, ((qa, _), (qi, _)) in sets.items()}

    def score(model, key):
        (qa, la), (qi, li) = sets[key]
        pa, pi = profiles[key]
        with torch.no_grad():
            ea, ei = model.embed_audio(qa), model.embed_image(qi)
        return {"audio_to_image": retrieval_top1(ea, la, ei, li), "image_to_audio": retrieval_top1(ei, li, ea, la),
                "audio_to_image_prototype": prototype_top1(ea, la, ei, li),
                "image_to_audio_prototype": prototype_top1(ei, li, ea, la),
                "audio_to_image_profile": retrieval_top1(pa, la, pi, li),
                "image_to_audio_profile": retrieval_top1(pi, li, pa, la)}

    rows = []
    for seed in seeds:
        cands = []
        for hidden in hiddens:
            for temp in temperatures:
                m = train_projections(za.numpy(), ya, zi.numpy(), yi, dim=dim, temperature=temp, steps=steps, seed=seed,
                                      hidden=int(hidden))
                v = score(m, "val_seen")
                cands.append((0.5 * (v["audio_to_image"] + v["image_to_audio"]), -int(hidden), -temp, m, v))
        # best seen-class validation retrieval; ties: the linear map, then the lower temperature
        _, neg_hidden, neg_temp, model, v = max(cands, key=lambda c: c[:3])
        rows.append({"seed": seed, "temperature": -neg_temp, "hidden": -neg_hidden, "val_seen": v,
                     "test_seen": score(model, "test_seen"), "unseen": score(model, "unseen"),
                     "candidates": [{"hidden": -c[1], "temperature": -c[2], "val_seen": c[0],
                                     "unseen": score(c[3], "unseen")} for c in cands]})
    summary = {}
    for key in ("val_seen", "test_seen", "unseen"):
        summary[key] = {d: _mean_std([r[key][d] for r in rows]) for d in DIRECTIONS}
    summary["chance"] = {"seen": 1.0 / seen.size, "unseen": 1.0 / unseen.size}
    summary["n_items"] = {k: {"audio": int(len(a[1])), "image": int(len(i[1]))} for k, (a, i) in sets.items()}
    return {"per_seed": rows, "summary": summary, "seen": seen.tolist(), "unseen": unseen.tolist(), "dim": dim}


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


def run(out, *, task="nmnist", device="ideal", seeds=(0, 1, 2, 3, 4), n_units=200, time_bins=50, pool=2,
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
        data, y, ident = nmnist_data(pool, time_bins, data_root, None, limit, progress)
        base = ReservoirParams(n_inputs=data["train"].shape[2], n_units=n_units, time_bins=time_bins,
                               dt=NMNIST_RECORDING_US / 1000.0 / time_bins)
        res = classification(data, y, ident, f"nmnist-p{pool}", base, device=device, seeds=seeds, gains=gains,
                             windows_grid=windows_grid, cache_dir=cache_dir, logistic=logistic, progress=progress,
                             learning_curve=learning_curve, sensitivity=sensitivity)
        metrics.update(headline(res, device))
        metrics["n"] = {s: int(v.size) for s, v in y.items()}
        metrics["nmnist"] = _strip(res)
        _plots(res, y, out, device, "N-MNIST")
        if energy:
            params = ReservoirParams(**res["params_by_readout"][res["table"][device]["chosen_readout"]])
            metrics["energy_per_inference_j"] = _energy_or_gap(make_reservoir(params, device, seeds[0]),
                                                               data["test"][:, 0])
    elif task == "fsdd":
        metrics["splits"] = {}
        for i, split in enumerate(FSDD_SPLITS):
            data, y, ident = fsdd_data(split, time_bins, root=fsdd_root, limit=limit)
            base = ReservoirParams(n_inputs=data["train"].shape[2], n_units=n_units, time_bins=time_bins,
                                   dt=FSDD_WINDOW_MS / time_bins)
            res = classification(data, y, ident, f"fsdd-{split}", base, device=device, seeds=seeds, gains=gains,
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
    parser.add_argument("--pool", type=int, default=2, help="N-MNIST: sum pool x pool pixels per input channel")
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
            time_bins=args.time_bins, pool=args.pool, gains=tuple(args.gains), windows_grid=tuple(args.windows_grid),
            input_gain=args.input_gain, audio_gain=args.audio_gain, windows=args.windows, audio_windows=args.audio_windows,
            zero_shot_steps=args.zero_shot_steps, logistic=not args.no_logistic,
            energy=not args.no_energy, data_root=args.data_root, cache_dir=args.cache_dir, fsdd_root=args.fsdd_root,
            limit=args.limit, threads=args.threads, progress=not args.no_progress)
    print(f"{args.task} ({args.device}): test {m['test_accuracy']:.4f}, val {m['val_accuracy']:.4f} -> {out}/metrics.json")
    if args.task in ("nmnist", "fsdd"):
        tables = [("", m["nmnist"]["table"])] if args.task == "nmnist" else \
            [(f"{k}: ", v["table"]) for k, v in m["splits"].items()]
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
