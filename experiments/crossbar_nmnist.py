"""N-MNIST on modelled PCM crossbars: accuracy after drift, plain vs hardware-aware training.

``spiking run crossbar-nmnist --out DIR [--quick]`` (or :func:`run` from Python):

* the N-MNIST conv SNN of :mod:`spiking.experiments.nmnist` (its data, model and batches, by
  import) is trained twice with BPTT: plainly, and with hardware-aware noise (every conv and
  linear layer an analog layer of ``pcm_ibm`` with the default periphery and
  ``HWATraining(weight_noise)``, Joshi et al. 2020);
* both are converted to ``pcm_ibm`` crossbars (``convert_to_analog``), programmed with several
  seeds, drifted to t = 0, 1 h, 1 day, 1 month, 1 year, and evaluated on the test split with and
  without global drift compensation;
* files in DIR: ``metrics.json`` (the accuracy table: mean and std over programming seeds for
  every model, time and compensation; the crossbar counts and, where the energy model is
  installed, energy per inference), ``accuracy_vs_time.png``.

``--quick``: a small configuration that runs in a few minutes on one thread (fewer recordings,
frames, channels, epochs and seeds); its accuracies are far below the full schedule's.
``--medium``: every recording of the splits with the quick model size, 8 epochs and 2 programming
seeds (9-14 minutes measured on one thread of a loaded 2-core machine).

HWA weight noise (default 0.05 of the abs-max weight, drawn once per mini-batch and layer, as
aihwkit's ``AddNormal`` modifier with ``rel_to_actual_wmax``; the output noise ``io.out_noise`` =
0.06 stays on during training, as aihwkit's ``forward.out_noise``): 0.05 is the deviation of the
drift-compensated ``pcm_ibm`` weights from their targets after a year (measured: 0.031 of the
abs-max weight at t = 0, 0.041 after a day, 0.052 after a year), the noise the model has to
tolerate; Joshi et al. 2020 train with noise of the order of the inference noise.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

TIMES = (0.0, 3600.0, 86400.0, 30 * 86400.0, 365 * 86400.0)
TIME_LABELS = ("0 s", "1 h", "1 day", "1 month", "1 year")

FULL = dict(epochs=20, limit=None, time_bins=15, channels=(16, 32), seeds=5, batch_size=32)
QUICK = dict(epochs=4, limit=400, time_bins=8, channels=(8, 16), seeds=3, batch_size=32, lr=5e-3)
MEDIUM = dict(epochs=8, limit=None, time_bins=8, channels=(8, 16), seeds=2, batch_size=32, lr=5e-3)
WEIGHT_NOISE = 0.05     # HWA training weight noise (relative to the abs-max weight), see the docstring


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=Path("out/crossbar-nmnist"))
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small configuration (minutes on one thread)")
    size.add_argument("--medium", action="store_true",
                      help="all recordings, quick model size, 8 epochs, 2 seeds (~15 min on one thread)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="recordings per split (default: all; quick: 400)")
    parser.add_argument("--time-bins", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None, help="programming seeds per model and time")
    parser.add_argument("--weight-noise", type=float, default=WEIGHT_NOISE,
                        help=f"HWA training weight noise, relative to the abs-max weight (default {WEIGHT_NOISE})")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate (default 3e-3; quick, medium: 5e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--no-progress", action="store_true")


def _train(model, data, cfg, seed, progress, out_dir):
    import torch

    import spiking.nn as snn

    from .nmnist import ShiftedBatches, _batches

    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    train = ShiftedBatches(*data["train"], cfg["batch_size"], 2, seed)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=cfg["epochs"] * len(train))
    trainer = snn.Trainer(model, opt, "bptt", out_dir=None, progress=progress, seed=seed, scheduler=sched)
    trainer.fit(train, cfg["epochs"], val_loader=_batches(*data["val"]))
    return trainer


def _accuracy(model, x, y, batch=25):
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, y.shape[0], batch):
            out, _ = model(x[:, i:i + batch])
            correct += int((out.mean(0).argmax(-1) == y[i:i + batch]).sum())
    return correct / y.shape[0]


def _energy_per_inference(counts: dict, n_inferences: int):
    """Energy of the analog reads per inference through the energy model, if it is installed."""
    try:
        from spiking.hardware.energy import estimate
        from spiking.recording import ActivityLedger
    except ImportError as e:  # the energy model is its own package
        return {"error": f"energy model not available: {e}"}
    try:
        led = ActivityLedger(backend={"crossbar": counts})
        led.inferences = n_inferences
        led.state_reads = {}
        e = estimate(led, target="pcm_ibm", mode="hardware")
        return {"joules_per_inference": float(e.per_inference), "target": "pcm_ibm", "mode": "hardware",
                "note": "crossbar reads, ADC/DAC and digital accumulation only (neuron updates not counted here)"}
    except Exception as e:  # report, do not hide: the table stays valid without energy
        return {"error": f"{type(e).__name__}: {e}"}


def run(out="out/crossbar-nmnist", *, quick=False, medium=False, epochs=None, limit=None, time_bins=None,
        seeds=None, weight_noise=WEIGHT_NOISE, lr=None, seed=0, threads=None, data_root=None, cache_dir=None,
        progress=True) -> dict:
    """Train, convert, drift, evaluate; returns the metrics written to ``out/metrics.json``."""
    import torch

    from spiking.atomic import write_text_atomic
    from spiking.hardware import crossbar as xb

    from .nmnist import build_network, load_split

    if quick and medium:
        raise ValueError("quick=True and medium=True: expected at most one of them")
    base = dict(QUICK if quick else MEDIUM if medium else FULL)
    base.setdefault("lr", 3e-3)
    if lr is not None:
        base["lr"] = lr
    for k, v in (("epochs", epochs), ("limit", limit), ("time_bins", time_bins), ("seeds", seeds)):
        if v is not None:
            base[k] = v
    for k in ("epochs", "time_bins", "seeds"):
        if not (isinstance(base[k], int) and base[k] >= 1):
            raise ValueError(f"{k}={base[k]!r}: expected a positive integer")
    if not (isinstance(base["lr"], (int, float)) and math.isfinite(base["lr"]) and base["lr"] > 0):
        raise ValueError(f"lr={base['lr']!r}: expected a positive learning rate")
    if not (math.isfinite(weight_noise) and weight_noise >= 0):
        raise ValueError(f"weight_noise={weight_noise!r}: expected a relative std >= 0")
    cfg = dict(base, weight_noise=weight_noise, seed=seed, beta=0.8, dropout=0.3, batch_norm=False,
               channels=list(base["channels"]), quick=bool(quick), medium=bool(medium))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if threads is not None:
        torch.set_num_threads(int(threads))
    cfg["torch_threads"] = torch.get_num_threads()
    t0 = time.perf_counter()
    data = {s: load_split(s, cfg["time_bins"], data_root, cache_dir, cfg["limit"], progress)
            for s in ("train", "val", "test")}
    cfg["samples"] = {s: int(v[1].shape[0]) for s, v in data.items()}

    models = {}
    torch.manual_seed(seed)
    plain = build_network(cfg)
    init = {k: v.clone() for k, v in plain.state_dict().items()}
    t_train = time.perf_counter()
    _train(plain, data, cfg, seed, progress, out)
    models["plain"] = plain
    hwa = build_network(cfg)
    hwa.load_state_dict(init)                 # the same initial weights
    hwa = xb.convert_to_analog(hwa, device="pcm_ibm", io=xb.IOParameters(),
                               hwa=xb.HWATraining(weight_noise=weight_noise))
    for m in hwa.modules():
        if isinstance(m, (xb.AnalogLinear, xb.AnalogConv2d)):
            m.generator = torch.Generator().manual_seed(seed + 7)
    _train(hwa, data, cfg, seed, progress, out)
    models["hwa"] = hwa
    train_s = time.perf_counter() - t_train

    xt, yt = data["test"]
    table = {}
    counts = None
    from tqdm.auto import tqdm
    bar = tqdm(total=2 * cfg["seeds"] * len(TIMES), desc="crossbar evaluation", disable=None if progress else True)
    for name, trained in models.items():
        digital = _accuracy(trained, xt, yt) if name == "plain" else None
        rows = {"digital_test_accuracy": digital, "by_time": {}}
        acc = {lab: {"uncompensated": [], "global": []} for lab in TIME_LABELS}
        for s in range(cfg["seeds"]):
            ana = xb.convert_to_analog(trained, device="pcm_ibm", io=xb.IOParameters(), drift_compensation="global")
            for m in xb.analog_layers(ana):          # read noise of the evaluation, seeded
                m.generator = torch.Generator().manual_seed(10_000 + s)
            g = torch.Generator().manual_seed(1000 * (s + 1) + (0 if name == "plain" else 1))
            xb.program_model(ana, g)
            for t, lab in zip(TIMES, TIME_LABELS):
                xb.drift_model(ana, t, g)
                layers = xb.analog_layers(ana)
                xb.reset_model_counts(ana)
                acc[lab]["global"].append(_accuracy(ana, xt, yt))
                if counts is None and name == "plain":
                    counts = xb.model_counts(ana)
                saved = [m.analog.alpha for m in layers]
                for m in layers:
                    m.analog.alpha = None
                acc[lab]["uncompensated"].append(_accuracy(ana, xt, yt))
                for m, a in zip(layers, saved):
                    m.analog.alpha = a
                bar.update(1)
        for lab in TIME_LABELS:
            rows["by_time"][lab] = {c: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v}
                                    for c, v in acc[lab].items()}
        table[name] = rows
    bar.close()
    n_inf = int(yt.shape[0])
    metrics = {
        "experiment": "crossbar-nmnist",
        "device": "pcm_ibm",
        "times_s": list(TIMES),
        "time_labels": list(TIME_LABELS),
        "accuracy": table,
        "crossbar_counts_per_test_set": counts,
        "energy": _energy_per_inference(counts, n_inf) if counts is not None else None,
        "train_seconds": train_s,
        "total_seconds": time.perf_counter() - t0,
        "config": cfg,
    }
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1))
    plot(metrics, out / "accuracy_vs_time.png")
    return metrics


def plot(metrics, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spiking.atomic import atomic_path

    labels = metrics["time_labels"]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, style in (("plain", "-"), ("hwa", "--")):
        for comp, marker in (("uncompensated", "o"), ("global", "s")):
            m = [metrics["accuracy"][name]["by_time"][lab][comp]["mean"] * 100 for lab in labels]
            s = [metrics["accuracy"][name]["by_time"][lab][comp]["std"] * 100 for lab in labels]
            ax.errorbar(x, m, yerr=s, linestyle=style, marker=marker, capsize=3,
                        label=f"{'HWA' if name == 'hwa' else 'plain'} training, {comp}")
    dig = metrics["accuracy"]["plain"]["digital_test_accuracy"]
    if dig is not None:
        ax.axhline(100 * dig, color="grey", linewidth=0.8, label="plain, digital")
    ax.set_xticks(x, labels)
    ax.set_xlabel("time since programming")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("N-MNIST SNN on pcm_ibm crossbars")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def main(args) -> int:
    m = run(args.out, quick=args.quick, medium=args.medium, epochs=args.epochs, limit=args.limit,
            time_bins=args.time_bins, seeds=args.seeds, weight_noise=args.weight_noise, lr=args.lr, seed=args.seed,
            threads=args.threads, data_root=args.data_root, cache_dir=args.cache_dir, progress=not args.no_progress)
    print(f"{'model':<8}{'compensation':<15}" + "".join(f"{lab:>10}" for lab in m["time_labels"]))
    for name in ("plain", "hwa"):
        for comp in ("uncompensated", "global"):
            row = [m["accuracy"][name]["by_time"][lab][comp]["mean"] * 100 for lab in m["time_labels"]]
            print(f"{name:<8}{comp:<15}" + "".join(f"{v:>9.1f}%" for v in row))
    print(f"files in {args.out}")
    return 0
