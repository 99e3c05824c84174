"""SHD with learnable delays (DCLS): train, select on validation, report test once.

``spiking run shd --data DIR [--delays learned|fixed|none] [--quick] --out OUT`` (or :func:`run`):

* data: ``DIR/shd_train.h5`` and ``DIR/shd_test.h5`` in SHD's schema, the real SHD files
  (Cramer et al. 2022) or FSDD converted by ``spiking convert fsdd`` (``DIR = .../official`` or
  ``.../speaker-NAME``); 700 channels summed in groups of 5 (140 inputs), 10 ms bins from the
  first spike, at most ``--max-time-bins`` bins. A validation split (drawn with a fixed generator
  independent of ``--seed``) is held out of the training file: every recording of one training
  speaker where the test speakers are none of the training speakers (a speaker-held-out split),
  else ``--val-fraction`` (default 10 %) of each class; model selection uses it only, and the
  test file is evaluated once, with the selected model;
* model, the authors' SHD configuration (Hammouamri et al., ICLR 2024; ``Thvnvtos/SNN-delays``
  ``best_config_SHD.py``): 2 hidden layers of 256, each a delayed linear layer (M = 25 taps:
  250 ms at 10 ms), batch norm, LIF (tau 10.05 ms at dt 10 ms in SpikingJelly's Euler form,
  beta = 1 - dt/tau; threshold 1, hard reset, reset detached, ATan surrogate alpha 5) and
  dropout 0.4 shared over time; a delayed readout layer into a non-spiking leaky readout
  (same beta); loss: cross-entropy of the readout's softmax summed over time; 150 epochs,
  batch 256; Adam for the weights (1e-3, one-cycle to 5e-3, weight decay 1e-5) and for the
  positions (0.1, cosine), sigma from 12 to 0.23 over the first quarter;
* ``--delays``: ``learned`` (DCLS), ``fixed`` (random integer delays drawn as the initial
  positions, one-hot kernels, only the weights trained), ``none`` (M = 1: plain linear layers);
* ``--quick``: 128 hidden units, 16 epochs, batch 64 (the schedules scale with the epochs);
* evaluation uses one-hot kernels at the rounded positions (what the event engine runs).

Files in OUT: ``metrics.json`` (``test_accuracy``, ``val_accuracy``, the selected epoch, the
configuration, per-epoch history), ``learning_curve.png``, ``delays.png`` (the learned delays)
and ``model.pt`` (the selected state_dict).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

DELAY_MODES = ("learned", "fixed", "none")
TAU_MS, DT_MS = 10.05, 10.0            # best_config_SHD.py: init_tau 10.05 ms, time_step 10 ms
SPLIT_SEED = 20240501                  # the validation split does not depend on the training seed


def add_arguments(parser):
    parser.add_argument("--data", type=Path, required=True, help="folder with shd_train.h5 and shd_test.h5")
    parser.add_argument("--delays", choices=DELAY_MODES, default="learned")
    parser.add_argument("--quick", action="store_true", help="128 hidden units, 16 epochs, batch 64")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default out/shd-DELAYS)")
    parser.add_argument("--epochs", type=int, default=None, help="default 150 (quick: 16)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 256 (quick: 64)")
    parser.add_argument("--hidden", type=int, default=None, help="hidden units per layer (default 256, quick 128)")
    parser.add_argument("--max-delay", type=int, default=25, help="taps M (odd; 25 = 250 ms at 10 ms bins)")
    parser.add_argument("--dropout", type=float, default=0.4)
    parser.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--max-time-bins", type=int, default=150, help="longest input in 10 ms bins (longer: cut)")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch and numba threads")
    parser.add_argument("--no-progress", action="store_true")


def _check(name, value, ok, expected):
    if not ok:
        raise ValueError(f"{name}={value!r}: expected {expected}")


def config(delays="learned", quick=False, epochs=None, batch_size=None, hidden=None, max_delay=25, dropout=0.4,
           batch_norm=True, max_time_bins=150, val_fraction=0.1, seed=0) -> dict:
    cfg = dict(delays=delays, quick=bool(quick), epochs=epochs or (16 if quick else 150),
               batch_size=batch_size or (64 if quick else 256), hidden=hidden or (128 if quick else 256),
               max_delay=max_delay if delays != "none" else 1, dropout=dropout, batch_norm=bool(batch_norm),
               max_time_bins=max_time_bins, val_fraction=val_fraction, seed=seed, tau_ms=TAU_MS, dt_ms=DT_MS,
               beta=1.0 - DT_MS / TAU_MS, lr_w=1e-3, lr_pos=0.1, weight_decay=1e-5, surrogate_alpha=5.0)
    _check("delays", delays, delays in DELAY_MODES, f"one of {DELAY_MODES}")
    for key in ("epochs", "batch_size", "hidden", "max_time_bins"):
        v = cfg[key]
        _check(key, v, isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a positive integer")
    m = cfg["max_delay"]
    _check("max_delay", m, isinstance(m, int) and m >= 1 and m % 2 == 1, "an odd integer >= 1")
    _check("dropout", dropout, 0.0 <= dropout < 1.0, "a probability in [0, 1)")
    _check("val_fraction", val_fraction, 0.0 < val_fraction < 0.5, "a fraction in (0, 0.5)")
    return cfg


def load(root: Path, split: str, max_time_bins: int):
    """Spike counts ``[T_i, 140]`` float32 per sample, labels, the class names and the speakers
    (``None`` where the file has none) of one file."""
    from spiking.datasets import SHD, ToChannelCounts

    ds = SHD(root, split, transform=ToChannelCounts(bin_width=1000.0 * DT_MS, n_channels=700, channel_group=5))
    xs = [ds[i][0][:max_time_bins] for i in range(len(ds))]
    speakers = None if ds.speakers is None else np.asarray(ds.speakers).copy()
    ds.close()
    return xs, ds.labels.copy(), ds.classes, speakers


def validation_split(labels: np.ndarray, fraction: float, speakers=None, test_speakers=None):
    """(train positions, validation positions, what the validation is), drawn with a fixed seed.

    Validation mirrors the test condition: where no test speaker is a training speaker (FSDD's
    speaker-held-out splits), it is every recording of one training speaker, so that the epoch is
    chosen on a voice the network has not heard, as the test asks; otherwise (real SHD, whose test
    speakers include training speakers, and FSDD's official split) ``fraction`` of each class."""
    rng = np.random.default_rng(SPLIT_SEED)
    labels = np.asarray(labels)
    if speakers is not None and test_speakers is not None:
        speakers, test_speakers = np.asarray(speakers), np.asarray(test_speakers)
        if speakers.shape != labels.shape:
            raise ValueError(f"speakers of shape {speakers.shape}: expected one per label, {labels.shape}")
        train_set = np.unique(speakers)
        if train_set.size > 1 and not np.intersect1d(train_set, np.unique(test_speakers)).size:
            held = int(rng.choice(train_set))
            val = np.flatnonzero(speakers == held)
            return np.flatnonzero(speakers != held), val, {"speaker": held}
    val = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        val.extend(rng.choice(idx, size=max(1, int(round(fraction * idx.size))), replace=False).tolist())
    val = np.sort(np.array(val, dtype=np.int64))
    return np.setdiff1d(np.arange(labels.size), val), val, {"fraction": fraction, "stratified": "by class"}


def batches(xs, ys, idx, batch_size, generator=None):
    """(x [T, B, 140] zero-padded to the batch's longest sample, y [B]) over ``idx`` (shuffled
    with ``generator`` when given)."""
    import torch

    order = idx if generator is None else idx[torch.randperm(len(idx), generator=generator).numpy()]
    for start in range(0, len(order), batch_size):
        part = order[start:start + batch_size]
        T = max(1, max(xs[i].shape[0] for i in part))
        x = np.zeros((T, len(part), xs[part[0]].shape[1]), np.float32)
        for j, i in enumerate(part):
            x[: xs[i].shape[0], j] = xs[i]
        yield torch.from_numpy(x), torch.from_numpy(ys[part].astype(np.int64))


def build_network(cfg: dict, n_in: int, n_classes: int, generator):
    """The network of the module docstring, a ``spiking.nn.Sequential``."""
    import torch
    from torch import nn

    import spiking.nn as snn
    from spiking.nn.delays import DelayedLinear, TimeDropout

    H, M, mode = cfg["hidden"], cfg["max_delay"], cfg["delays"]

    def synapses(n, m):
        if mode == "none":
            lin = snn.Linear(n, m)
            with torch.no_grad():        # Kaiming uniform (ReLU gain), as the delayed layers
                bound = math.sqrt(6.0 / n)
                lin.weight.copy_(torch.rand(lin.weight.shape, generator=generator) * 2 * bound - bound)
            return lin
        return DelayedLinear(n, m, M, hard=(mode == "fixed"), learn_positions=(mode == "learned"),
                             generator=generator)

    lif = dict(beta=cfg["beta"], v_th=1.0, reset="hard", detach_reset=True,
               surrogate={"name": "atan", "alpha": cfg["surrogate_alpha"]})
    layers = []
    for n in (n_in, H):
        layers.append(synapses(n, H))
        if cfg["batch_norm"]:
            layers.append(nn.BatchNorm1d(H))
        layers += [snn.LIF(**lif), TimeDropout(cfg["dropout"])]
    layers += [synapses(H, n_classes), snn.LeakyReadout(beta=cfg["beta"])]
    return snn.Sequential(*layers)


def summed_softmax(out):
    """The authors' 'sum' readout: softmax over classes at each step, summed over time ([B, C])."""
    return out.softmax(-1).sum(0)


def evaluate(model, xs, ys, idx, batch_size=256):
    import torch

    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for x, y in batches(xs, ys, idx, batch_size):
            m = summed_softmax(model(x)[0])
            loss += float(torch.nn.functional.cross_entropy(m, y, reduction="sum"))
            correct += int((m.argmax(1) == y).sum())
    return loss / len(idx), correct / len(idx)


def plot_curves(history, path, title):
    from spiking.experiments.nmnist import plot_learning_curve

    plot_learning_curve(history, path, title, loss_label="loss (CE of summed softmax)",
                        train_label="train (training kernels, dropout)",
                        val_label="validation (one-hot kernels)")


def plot_delays(model, initial, path, title):
    """Histograms of the initial and final integer delays per delayed layer, and the delays of
    the first layer's synapses (rows: hidden units, columns: inputs), in ms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spiking.atomic import atomic_path
    from spiking.nn.delays import DelayedLinear

    layers = [m for m in model if isinstance(m, DelayedLinear)]
    fig, axes = plt.subplots(1, len(layers) + 1, figsize=(4 * (len(layers) + 1), 3.6))
    for k, (ax, lay) in enumerate(zip(axes, layers)):
        M = lay.max_delay
        bins = np.arange(M + 1) - 0.5
        ax.hist(DT_MS * initial[k].ravel(), bins=DT_MS * bins, alpha=0.5, label="initial")
        ax.hist(DT_MS * lay.delays().numpy().ravel(), bins=DT_MS * bins, alpha=0.6, label="final")
        ax.set_xlabel("delay (ms)"); ax.set_ylabel("synapses"); ax.set_title(f"layer {k + 1}"); ax.legend()
    im = axes[-1].imshow(DT_MS * layers[0].delays().numpy()[:64], aspect="auto", cmap="viridis")
    axes[-1].set_xlabel("input channel group"); axes[-1].set_ylabel("hidden unit (first 64)")
    axes[-1].set_title("layer 1 delays (ms)")
    fig.colorbar(im, ax=axes[-1])
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def run(data, out=None, *, threads=None, progress=True, **options) -> dict:
    """Train and evaluate; returns the metrics written to ``out/metrics.json``."""
    import torch
    from tqdm.auto import tqdm

    from spiking.atomic import atomic_path, write_text_atomic
    from spiking.nn.delays import DelayedLinear, SigmaSchedule, delay_optimizers

    cfg = config(**options)
    data = Path(data)
    out = Path(out) if out is not None else Path(f"out/shd-{cfg['delays']}")
    out.mkdir(parents=True, exist_ok=True)
    if threads is not None:
        torch.set_num_threads(int(threads))
        import numba

        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
    cfg["torch_threads"] = torch.get_num_threads()
    cfg["data"] = str(data)

    t0 = time.perf_counter()
    xs, ys, classes, speakers = load(data, "train", cfg["max_time_bins"])
    xs_test, ys_test, _, test_speakers = load(data, "test", cfg["max_time_bins"])
    n_classes = max(len(classes), int(ys.max()) + 1)
    train_idx, val_idx, cfg["validation"] = validation_split(ys, cfg["val_fraction"], speakers, test_speakers)
    test_idx = np.arange(len(ys_test))
    cfg["samples"] = {"train": int(train_idx.size), "val": int(val_idx.size), "test": int(test_idx.size)}
    cfg["classes"] = n_classes
    data_s = time.perf_counter() - t0

    gen = torch.Generator().manual_seed(cfg["seed"])
    torch.manual_seed(cfg["seed"])                      # dropout masks and batch norm
    model = build_network(cfg, xs[0].shape[1], n_classes, gen)
    delayed = [m for m in model if isinstance(m, DelayedLinear)]
    initial = [m.delays().numpy().copy() for m in delayed]
    optimizers, schedulers = delay_optimizers(model, cfg["epochs"], lr_w=cfg["lr_w"], lr_pos=cfg["lr_pos"],
                                              weight_decay=cfg["weight_decay"])
    sigma = SigmaSchedule.for_training(cfg["max_delay"], cfg["epochs"])
    # model selection on validation only; for learned delays from the end of the sigma schedule
    # on (before it the training kernels are wide and the one-hot evaluation says little), as the
    # authors' code saves its best model only from final_epoch - 1 on
    select_from = max(0, sigma.final_epoch - 1) if cfg["delays"] == "learned" else 0
    history, best = [], None
    for epoch in range(cfg["epochs"]):
        start = time.perf_counter()
        if cfg["delays"] == "learned":
            for m in delayed:
                m.set_sigma(sigma(epoch))
        model.train()
        tot_loss, tot_correct, seen = 0.0, 0, 0
        n_batches = math.ceil(train_idx.size / cfg["batch_size"])
        bar = tqdm(batches(xs, ys, train_idx, cfg["batch_size"], gen), total=n_batches, disable=None if progress
                   else True, desc=f"epoch {epoch + 1}/{cfg['epochs']}", leave=False)
        for x, y in bar:
            m = summed_softmax(model(x)[0])
            loss = torch.nn.functional.cross_entropy(m, y)
            for opt in optimizers:
                opt.zero_grad()
            loss.backward()
            for opt in optimizers:
                opt.step()
            for lay in delayed:
                lay.clamp_positions()
            tot_loss += float(loss.detach()) * y.numel()
            tot_correct += int((m.argmax(1) == y).sum())
            seen += y.numel()
        for sched in schedulers:
            sched.step()
        val_loss, val_acc = evaluate(model, xs, ys, val_idx)
        history.append({"epoch": epoch + 1, "train_loss": tot_loss / seen, "train_acc": tot_correct / seen,
                        "val_loss": val_loss, "val_acc": val_acc, "sigma": sigma(epoch) if delayed else None,
                        "time_s": time.perf_counter() - start})
        if progress:
            h = history[-1]
            tqdm.write(f"epoch {epoch + 1}: train {100 * h['train_acc']:.1f} %, val {100 * val_acc:.1f} %, "
                       f"{h['time_s']:.0f} s")
        if epoch >= select_from and (best is None or val_acc > best[0]):
            best = (val_acc, epoch + 1, {k: v.detach().clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[2])
    test_loss, test_acc = evaluate(model, xs_test, ys_test, test_idx)
    val_loss, val_acc = evaluate(model, xs, ys, val_idx)
    metrics = {
        "test_accuracy": test_acc, "val_accuracy": val_acc, "test_loss": test_loss, "val_loss": val_loss,
        "selected_epoch": best[1], "selection": "best validation accuracy" + (
            f" from epoch {select_from + 1} on" if select_from else ""),
        "final_epoch_val_accuracy": history[-1]["val_acc"],
        "epoch_seconds": [h["time_s"] for h in history],
        "train_seconds": float(sum(h["time_s"] for h in history)), "data_seconds": data_s,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "config": cfg, "epochs": history,
    }
    with atomic_path(out / "model.pt") as tmp:
        torch.save(best[2], tmp)
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1))
    title = f"{data.name}, delays {cfg['delays']}: test {100 * test_acc:.1f} %, val {100 * val_acc:.1f} %"
    plot_curves(history, out / "learning_curve.png", title)
    if delayed:
        plot_delays(model, initial, out / "delays.png", title)
    return metrics


def main(args) -> int:
    m = run(args.data, args.out, threads=args.threads, progress=not args.no_progress, delays=args.delays,
            quick=args.quick, epochs=args.epochs, batch_size=args.batch_size, hidden=args.hidden,
            max_delay=args.max_delay, dropout=args.dropout, batch_norm=args.batch_norm,
            max_time_bins=args.max_time_bins, val_fraction=args.val_fraction, seed=args.seed)
    out = args.out or Path(f"out/shd-{args.delays}")
    print(f"SHD ({args.data}), delays {args.delays}: test accuracy {100 * m['test_accuracy']:.1f} % "
          f"(validation {100 * m['val_accuracy']:.1f} %, epoch {m['selected_epoch']}), "
          f"{m['train_seconds'] / 60:.1f} min training; files in {out}")
    return 0
