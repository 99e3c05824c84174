"""Delayed recall: the astrocyte-modulated layer against plain and adaptive LIF, equal parameters.

``spiking run astro-memory --out DIR [--delays ...] [--seeds ...] [--quick]`` (or :func:`run`).

The task and the models are in ``spiking.experiments.astro_recall``: a 5-step cue (one of two
groups of input channels), ``delay`` steps of background noise, a 5-step recall signal; the
readout must name the cue. ``lif`` (Linear(20, 57) + LIF), ``alif`` (the same with Bellec et al.
2018 threshold adaptation, fixed) and ``astro`` (Linear(20, 48) + ``spiking.nn.AstroLIF``, one
astrocyte per neuron) have 1254, 1254 and 1248 parameters; hidden beta = 0.9, i.e. a membrane
memory of about 10 steps. Each (model, delay, seed) trains on fresh batches drawn from a
generator seeded with ``seed`` (initial weights from torch's generator seeded with ``seed``) and
is scored on ``n_test`` fresh trials from a generator seeded with ``10_000 + seed``.

Files in DIR: ``astro_memory.json`` (accuracy per model, delay and seed, their means, parameter
counts, the configuration; wall times under ``timing``) and ``astro_memory.png`` (accuracy
against delay, min-max over seeds shaded).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from spiking.atomic import atomic_path, write_text_atomic

KINDS = ("lif", "alif", "astro")
STRATEGIES = ("bptt", "sltt")
DELAYS = (10, 50, 100, 200)
QUICK = dict(delays=(5, 50), iters=30, batch=32, n_test=256)


def run(out_dir, delays=DELAYS, iters=200, seeds=(0,), kinds=KINDS, batch=64, n_test=512, strategy="bptt",
        progress=None) -> dict:
    """Accuracy against delay per model; writes ``astro_memory.json`` and ``.png`` in ``out_dir``."""
    import torch
    from tqdm.auto import tqdm

    from .astro_recall import CUE, N_IN, RECALL, train_eval

    delays, seeds, kinds = [int(d) for d in delays], [int(s) for s in seeds], list(kinds)
    if not delays or min(delays) < 0:
        raise ValueError(f"delays={delays}: expected one or more delays >= 0 (steps)")
    if not seeds:
        raise ValueError("seeds=[]: expected at least one seed")
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"model {kind!r}: expected one of {', '.join(KINDS)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r}: expected one of {', '.join(STRATEGIES)}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)       # small models: one thread is fastest and leaves the machine to others
    results = {"task": {"n_inputs": N_IN, "cue_steps": CUE, "recall_steps": RECALL},
               "delays": delays, "iters": int(iters), "batch": int(batch), "n_test": int(n_test), "seeds": seeds,
               "strategy": strategy, "accuracy": {}, "mean_accuracy": {}, "params": {}, "timing": {"wall_s": {}}}
    try:
        jobs = [(k, d, s) for k in kinds for d in delays for s in seeds]
        for kind, delay, seed in tqdm(jobs, desc="astro-memory", disable=None if progress is None else not progress):
            t0 = time.perf_counter()
            acc, n = train_eval(kind, delay, iters, seed, batch=batch, strategy=strategy, n_test=n_test)
            results["accuracy"].setdefault(kind, {}).setdefault(str(delay), []).append(acc)
            results["params"][kind] = n
            wall = results["timing"]["wall_s"]
            wall[kind] = wall.get(kind, 0.0) + time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    results["mean_accuracy"] = {k: {d: float(np.mean(v)) for d, v in by.items()}
                                for k, by in results["accuracy"].items()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "astro_memory.json", json.dumps(results, indent=1, allow_nan=False))
    plot(results, out_dir / "astro_memory.png")
    return results


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    delays = results["delays"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for kind, by_delay in results["accuracy"].items():
        acc = [by_delay[str(d)] for d in delays]
        mean = [np.mean(a) for a in acc]
        line, = ax.plot(delays, mean, "o-", label=f"{kind} ({results['params'][kind]} params)")
        if len(results["seeds"]) > 1:   # min-max over seeds
            ax.fill_between(delays, [min(a) for a in acc], [max(a) for a in acc], color=line.get_color(), alpha=0.2)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xlabel("delay (steps)")
    ax.set_ylabel("recall accuracy")
    if min(delays) > 0:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(delays, [str(d) for d in delays])
    ax.set_ylim(0.3, 1.05)
    ax.set_title(f"delayed recall, {results['iters']} iterations x {results['batch']}, "
                 f"{len(results['seeds'])} seed(s)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=Path("out/astro-memory"), help="output folder")
    parser.add_argument("--delays", type=int, nargs="+", default=None,
                        help=f"delays in steps (default {' '.join(map(str, DELAYS))}; --quick: "
                             f"{' '.join(map(str, QUICK['delays']))})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (one training run each)")
    parser.add_argument("--models", nargs="+", default=list(KINDS), choices=KINDS, help="models to train")
    parser.add_argument("--iters", type=int, default=None, help="Adam steps per run (default 200; --quick: 30)")
    parser.add_argument("--batch", type=int, default=None, help="trials per step (default 64; --quick: 32)")
    parser.add_argument("--n-test", type=int, default=None, help="test trials (default 512; --quick: 256)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="bptt", help="training through time")
    parser.add_argument("--quick", action="store_true",
                        help="a short check: delays 5 and 50, 30 iterations of 32 trials, 256 test trials")


def main(args) -> int:
    base = QUICK if args.quick else dict(delays=DELAYS, iters=200, batch=64, n_test=512)
    pick = lambda given, key: base[key] if given is None else given   # noqa: E731
    res = run(args.out, delays=pick(args.delays, "delays"), iters=pick(args.iters, "iters"), seeds=args.seeds,
              kinds=args.models, batch=pick(args.batch, "batch"), n_test=pick(args.n_test, "n_test"),
              strategy=args.strategy)
    print(f"delayed recall ({res['iters']} iterations x {res['batch']}, {res['strategy']}, seeds {res['seeds']}):")
    print("model  params  " + "  ".join(f"d={d:<4d}" for d in res["delays"]))
    for kind, by in res["mean_accuracy"].items():
        print(f"{kind:<6} {res['params'][kind]:>6}  " + "  ".join(f"{by[str(d)]:.3f} " for d in res["delays"]))
    print(f"wrote {args.out}/astro_memory.json, {args.out}/astro_memory.png")
    return 0
