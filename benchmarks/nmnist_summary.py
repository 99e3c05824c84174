"""Summarise N-MNIST runs (``spiking run nmnist ... --out DIR``) per strategy over seeds.

    python benchmarks/nmnist_summary.py runs/final/*/metrics.json [--json PATH]

Prints one row per run and, per strategy, the mean and the spread (min-max) of Test and
validation accuracy, the training time and the peak autograd memory; ``--json`` writes the same
as ``{"runs": [...], "strategies": {name: {...}}}``. The Test split holds 100 recordings, so one
error is one point: averages over seeds are the figures to compare.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from spiking.atomic import write_text_atomic


def load_run(path: Path) -> dict:
    m = json.loads(Path(path).read_text())
    for key in ("test_accuracy", "val_accuracy", "train_seconds", "peak_memory_mb", "config"):
        if key not in m:
            raise ValueError(f"{path}: no {key!r}; expected the metrics.json of `spiking run nmnist`")
    cfg = m["config"]
    return {"path": str(path), "strategy": cfg["strategy"], "seed": cfg["seed"], "k": cfg.get("k"),
            "torch_threads": cfg.get("torch_threads"), "epochs": cfg["epochs"],
            "test_accuracy": m["test_accuracy"], "val_accuracy": m["val_accuracy"],
            "train_minutes": m["train_seconds"] / 60, "mean_epoch_seconds": m["mean_epoch_seconds"],
            "peak_memory_mb": m["peak_memory_mb"]}


def summarise(runs: list[dict]) -> dict:
    out = {}
    for name in sorted({r["strategy"] for r in runs}):
        rs = [r for r in runs if r["strategy"] == name]
        row = {"runs": len(rs), "seeds": sorted(r["seed"] for r in rs)}
        for key in ("test_accuracy", "val_accuracy", "train_minutes", "peak_memory_mb"):
            v = np.array([r[key] for r in rs], dtype=float)
            row[key] = {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
        out[name] = row
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", nargs="+", type=Path, help="metrics.json files of nmnist runs")
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    args = ap.parse_args(argv)
    runs = sorted((load_run(p) for p in args.metrics), key=lambda r: (r["strategy"], r["seed"]))
    print(f"{'strategy':8} {'seed':>4} {'Test %':>7} {'val %':>7} {'train min':>9} {'MB':>7}")
    for r in runs:
        print(f"{r['strategy']:8} {r['seed']:>4} {100 * r['test_accuracy']:7.1f} {100 * r['val_accuracy']:7.1f} "
              f"{r['train_minutes']:9.1f} {r['peak_memory_mb']:7.1f}")
    summary = summarise(runs)
    print()
    for name, row in summary.items():
        t, v = row["test_accuracy"], row["val_accuracy"]
        print(f"{name:8} {row['runs']} runs: Test {100 * t['mean']:.1f} % ({100 * t['min']:.0f}-{100 * t['max']:.0f}), "
              f"val {100 * v['mean']:.1f} % ({100 * v['min']:.1f}-{100 * v['max']:.1f}), "
              f"train {row['train_minutes']['mean']:.1f} min (max {row['train_minutes']['max']:.1f}), "
              f"peak autograd memory {row['peak_memory_mb']['mean']:.1f} MB")
    if args.json is not None:
        write_text_atomic(args.json, json.dumps({"runs": runs, "strategies": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
