"""Paired comparisons of two classifiers on the same Test items, for the liquid-state-machine
experiment: the exact McNemar test per seed and the paired bootstrap over items pooled over seeds."""
from __future__ import annotations

import math

import numpy as np


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

