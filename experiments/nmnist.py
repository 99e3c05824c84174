"""N-MNIST: train a convolutional spiking network with BPTT, SLTT or SLTT-K, report val and Test.

``spiking run nmnist --strategy {bptt,sltt,sltt-k} --out DIR`` (or :func:`run` from Python):

* data: ``spiking.datasets.NMNIST`` splits ``train`` (training recordings outside the validation
  ids 801-1000), ``val`` and ``test``; each recording becomes ``T`` binary frames ``[2, 34, 34]``
  (a fixed grid of ``300 ms / T`` windows from the first event; a pixel that fires in a window is
  a spike), cached in HDF5 by ``CachedDataset``;
* model: conv(2->c1, 5x5) - maxpool 2 - LIF - conv(c1->c2, 3x3) - maxpool 2 - LIF - dropout -
  linear(c2*8*8 -> 10) - leaky readout; hard reset with the reset detached from the graph
  (as in SLTT's reference code), atan surrogate; the class is the argmax of the readout averaged
  over time;
* training: Adam with a one-cycle learning-rate schedule (stepped per batch), random translations
  of up to ``--max-shift`` pixels, drawn per recording (the same shift for all its frames), the
  per-step cross-entropy objective shared by the three strategies (``spiking.nn.strategies``);
* files in DIR: ``metrics.json`` (``test_accuracy``, ``val_accuracy``, ``epoch_seconds``,
  ``peak_memory_mb``, the configuration and the per-epoch history), ``learning_curve.png`` and
  ``checkpoint.pt`` (the trainer's state_dict checkpoint, written atomically every epoch;
  ``--resume`` continues from it).

Across processes: ``torchrun --nproc_per_node=N -m spiking.experiments.cli run nmnist ...`` (see
docs/scale.md) trains with ``DistributedDataParallel`` (gloo on CPU, NCCL with one GPU per
process). ``--batch-size`` is then the global batch: every rank draws the same order and shifts
and takes its part of each batch (:func:`spiking.nn.distributed.split_batch`), the validation
ids stay out of training, validation and Test are evaluated in shards whose metrics are summed
over the ranks, and rank 0 alone writes the files; ``--resume`` works as in one process.

``peak_memory_mb`` is the peak of the tensors autograd holds for the backward pass during a
training step (:func:`spiking.nn.memory.saved_tensors_meter`, the activation memory that the
strategies differ in), measured on the first batches; ``peak_rss_mb`` is the process's peak
resident set, which includes the data held in memory.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import time
from pathlib import Path

import numpy as np

STRATEGIES = ("bptt", "sltt", "sltt-k")
RECORDING_US = 300_000      # N-MNIST recordings last ~300 ms (3 saccades of ~100 ms)


def add_arguments(parser):
    parser.add_argument("--strategy", choices=STRATEGIES, default="bptt", help="training strategy")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default out/nmnist-STRATEGY)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    parser.add_argument("--time-bins", type=int, default=15, help="frames T per recording (300 ms / T each)")
    parser.add_argument("--channels", type=int, nargs=2, default=(16, 32), metavar=("C1", "C2"))
    parser.add_argument("--beta", type=float, default=0.8, help="membrane decay per frame")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=False,
                        help="batch normalisation after each convolution (statistics over time and batch)")
    parser.add_argument("--max-shift", type=int, default=3, help="random translation in pixels (0: none)")
    parser.add_argument("--k", type=int, default=None, help="SLTT-K: backward steps per sample (default T/3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder holding Train/ and Test/ (default: spiking.datasets.data_root()/nmnist)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="frame cache (default: SPIKING_CACHE or ~/.cache)")
    parser.add_argument("--limit", type=int, default=None, help="use N evenly spaced recordings of each split (smoke runs)")
    parser.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    parser.add_argument("--no-progress", action="store_true")


def _check(name, value, ok, expected):
    if not ok:
        raise ValueError(f"{name}={value!r}: expected {expected}")


def validate_config(cfg: dict) -> None:
    _check("strategy", cfg["strategy"], cfg["strategy"] in STRATEGIES, f"one of {STRATEGIES}")
    for key in ("epochs", "batch_size", "time_bins"):
        v = cfg[key]
        _check(key, v, isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a positive integer")
    _check("channels", cfg["channels"], len(cfg["channels"]) == 2 and all(int(c) >= 1 for c in cfg["channels"]),
           "two positive channel counts")
    _check("lr", cfg["lr"], math.isfinite(cfg["lr"]) and cfg["lr"] > 0, "a positive learning rate")
    _check("beta", cfg["beta"], 0.0 <= cfg["beta"] < 1.0, "a decay in [0, 1)")
    _check("dropout", cfg["dropout"], 0.0 <= cfg["dropout"] < 1.0, "a probability in [0, 1)")
    _check("max_shift", cfg["max_shift"], 0 <= cfg["max_shift"] <= 8, "an integer in 0..8")
    if cfg["strategy"] == "sltt-k":
        k = cfg["k"]
        _check("k", k, isinstance(k, int) and 1 <= k <= cfg["time_bins"], f"an integer in [1, T={cfg['time_bins']}]")
    if cfg["limit"] is not None:
        _check("limit", cfg["limit"], cfg["limit"] >= 1, "a positive number of recordings")


def load_split(split: str, time_bins: int, root=None, cache_dir=None, limit=None, progress=True):
    """Frames of one split as tensors: ``x[T, N, 2, 34, 34]`` (0/1 float32) and labels ``y[N]``."""
    import torch

    from spiking.datasets import NMNIST, CachedDataset, ToFrames

    frames = ToFrames(NMNIST.sensor_size, time_window=RECORDING_US // time_bins, n_time_bins=time_bins,
                      dtype="uint8")
    ds = CachedDataset(NMNIST(root=root, split=split, transform=frames), cache_dir, progress=progress)
    if len(ds) == 0:
        raise ValueError(f"N-MNIST split {split!r} under {root or 'the data root'} holds no recordings")
    # a limit takes evenly spaced recordings of the (digit, id)-ordered index, so every digit appears
    picks = np.arange(len(ds)) if limit is None or limit >= len(ds) else \
        np.unique(np.linspace(0, len(ds) - 1, limit).round().astype(np.int64))
    x = np.empty((time_bins, picks.size, 2, 34, 34), dtype=np.float32)
    y = np.empty(picks.size, dtype=np.int64)
    for i, j in enumerate(picks):
        f, label = ds[int(j)]
        x[:, i] = np.minimum(f, 1)
        y[i] = label
    ds.close()
    return torch.from_numpy(x), torch.from_numpy(y)


def build_network(cfg: dict):
    """The spiking CNN of the module docstring (a ``spiking.nn.Sequential``)."""
    from torch import nn

    import spiking.nn as snn

    c1, c2 = (int(c) for c in cfg["channels"])
    lif = dict(beta=cfg["beta"], detach_reset=True, surrogate="atan")
    bn = (lambda c: [nn.BatchNorm2d(c)]) if cfg.get("batch_norm", False) else (lambda c: [])
    return snn.Sequential(
        snn.Conv2d(2, c1, 5, padding=2), *bn(c1), nn.MaxPool2d(2), snn.LIF(**lif),
        snn.Conv2d(c1, c2, 3, padding=1), *bn(c2), nn.MaxPool2d(2), snn.LIF(**lif),
        snn.Flatten(), nn.Dropout(cfg["dropout"]), snn.Linear(c2 * 8 * 8, 10),
        snn.LeakyReadout(beta=cfg["beta"]),
    )


class ShiftedBatches:
    """Shuffled mini-batches of ``x[T, N, ...]``; each recording translated by its own random
    (dx, dy) in ``[-max_shift, max_shift]`` (zero-filled, not wrapped). One seeded generator drives the order
    and the shifts; a run resumed at epoch e continues the sequence of an uninterrupted run."""

    def __init__(self, x, y, batch_size: int, max_shift: int, seed: int, *, rank: int = 0, world_size: int = 1):
        self.x, self.y, self.batch_size, self.max_shift, self.seed = x, y, batch_size, max_shift, seed
        # across processes: rank ``rank`` of ``world_size`` yields its part of each global batch
        # (same order and shifts on every rank); a last batch with fewer samples than ranks is dropped
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0

    def __len__(self):
        full, rest = divmod(self.y.shape[0], self.batch_size)
        return full + (1 if rest >= self.world_size else 0)

    def __iter__(self):
        import torch

        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        perm = torch.randperm(self.y.shape[0], generator=g)
        s = self.max_shift
        from spiking.nn.distributed import split_batch

        for i in range(0, perm.numel(), self.batch_size):
            idx = perm[i:i + self.batch_size]
            if idx.numel() < self.world_size:
                break
            # one (dx, dy) per recording, the same for all its frames; drawn for the whole global
            # batch, so the sequence does not depend on the number of ranks
            shifts = torch.randint(-s, s + 1, (idx.numel(), 2), generator=g).tolist() if s else None
            part = split_batch(idx.numel(), self.rank, self.world_size)
            idx = idx[part]
            xb = self.x[:, idx]
            if s:
                xb = torch.stack([_shift(xb[:, j], dx, dy) for j, (dx, dy) in enumerate(shifts[part])], dim=1)
            yield xb, self.y[idx]


def _shift(x, dx: int, dy: int):
    """Translate ``x[..., H, W]`` by dy rows and dx columns, filling with zeros."""
    import torch

    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    src_y = slice(max(0, -dy), H - max(0, dy))
    dst_y = slice(max(0, dy), H - max(0, -dy))
    src_x = slice(max(0, -dx), W - max(0, dx))
    dst_x = slice(max(0, dx), W - max(0, -dx))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


def _batches(x, y, size=100):
    return [(x[:, i:i + size], y[i:i + size]) for i in range(0, y.shape[0], size)]


def _measure_peak_saved(trainer, loader, n_batches=3) -> float:
    """Peak MB held by autograd for backward over a few training steps (weights are updated: these
    steps are part of the first epoch's schedule only in that they use the same data)."""
    import torch

    from spiking.nn.memory import saved_tensors_meter

    peak = 0
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    opt_state = trainer.optimizer.state_dict()
    sched_state = trainer.scheduler.state_dict() if trainer.scheduler is not None else None
    rng_state = trainer.generator.get_state()
    torch_rng = torch.get_rng_state()      # dropout draws from torch's global generator
    for b, (xb, yb) in enumerate(loader):
        if b >= n_batches:
            break
        with saved_tensors_meter() as m:
            trainer.train_step(xb, yb)
        peak = max(peak, m.peak_bytes)
    # leave the run exactly as if the measurement had not happened
    trainer.model.load_state_dict(state)
    trainer.optimizer.load_state_dict(opt_state)
    if sched_state is not None:
        trainer.scheduler.load_state_dict(sched_state)
    trainer.generator.set_state(rng_state)
    torch.set_rng_state(torch_rng)
    loader.epoch = 0
    return peak / 2**20


def plot_learning_curve(history, path, title, *, loss_label="loss (per-step cross-entropy)",
                        train_label="train", val_label="validation"):
    """Loss and accuracy per epoch from a trainer history, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spiking.atomic import atomic_path

    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.plot(ep, [h["train_loss"] for h in history], label="train")
    a1.plot(ep, [h["val_loss"] for h in history], label="validation")
    a1.set_xlabel("epoch"); a1.set_ylabel(loss_label); a1.legend()
    a2.plot(ep, [100 * h["train_acc"] for h in history], label=train_label)
    a2.plot(ep, [100 * h["val_acc"] for h in history], label=val_label)
    a2.set_xlabel("epoch"); a2.set_ylabel("accuracy (%)"); a2.set_ylim(0, 100); a2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def run(out=None, *, strategy="bptt", epochs=40, batch_size=32, lr=3e-3, time_bins=15, channels=(16, 32),
        beta=0.8, dropout=0.3, batch_norm=False, max_shift=3, k=None, seed=0, threads=None, data_root=None,
        cache_dir=None, limit=None, resume=False, progress=True) -> dict:
    """Train and evaluate; returns the metrics written to ``out/metrics.json``."""
    import torch

    from spiking.nn import distributed as dd

    if strategy == "sltt-k" and k is None:
        k = max(1, time_bins // 3)
    cfg = dict(strategy=strategy, epochs=epochs, batch_size=batch_size, lr=lr, time_bins=time_bins,
               channels=[int(c) for c in channels], beta=beta, dropout=dropout, batch_norm=bool(batch_norm),
               max_shift=max_shift, k=k, seed=seed, limit=limit)
    validate_config(cfg)
    out = Path(out) if out is not None else Path(f"out/nmnist-{strategy}")
    # under torchrun (WORLD_SIZE > 1): join the process group; one process otherwise
    owns_group = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dd.is_distributed()
    ctx = dd.init_from_env()
    try:
        return _run(out, cfg, ctx, threads, data_root, cache_dir, resume, progress and ctx.is_main)
    finally:
        if owns_group:
            torch.distributed.destroy_process_group()


def _run(out, cfg, ctx, threads, data_root, cache_dir, resume, progress) -> dict:
    import torch

    import spiking.nn as snn
    from spiking.atomic import write_text_atomic
    from spiking.nn import distributed as dd

    strategy, epochs, batch_size, lr = cfg["strategy"], cfg["epochs"], cfg["batch_size"], cfg["lr"]
    time_bins, max_shift, k, seed, limit = cfg["time_bins"], cfg["max_shift"], cfg["k"], cfg["seed"], cfg["limit"]
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    if threads is not None:
        torch.set_num_threads(int(threads))
    cfg["torch_threads"] = torch.get_num_threads()
    cfg["world_size"] = ctx.world_size

    t0 = time.perf_counter()
    if not ctx.is_main:
        dd.barrier()    # rank 0 fills the frame cache first; the others then read it
    data = {s: load_split(s, time_bins, data_root, cache_dir, limit, progress) for s in ("train", "val", "test")}
    if ctx.is_main:
        dd.barrier()
    data_s = time.perf_counter() - t0
    cfg["samples"] = {s: int(v[1].shape[0]) for s, v in data.items()}

    torch.manual_seed(seed)
    model = build_network(cfg).to(ctx.device)
    if ctx.rank > 0:    # dropout masks: each rank its own stream (rank 0 keeps the one-process stream)
        torch.manual_seed(seed * 1_000_003 + ctx.rank)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    train = ShiftedBatches(*data["train"], batch_size, max_shift, seed, rank=ctx.rank, world_size=ctx.world_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(train))
    trainer = snn.Trainer(model, opt, strategy, k=k, out_dir=out, progress=progress, seed=seed,
                          scheduler=sched, config={"experiment": "nmnist", "network": cfg},
                          device=ctx.device if ctx.world_size > 1 else None)
    peak_saved_mb = _measure_peak_saved(trainer, train)
    if resume and (out / "checkpoint.pt").exists():
        trainer.load_checkpoint(out / "checkpoint.pt")
        train.epoch = trainer.epoch
    # validation and Test in shards, one per rank; the trainer sums their metrics over the ranks
    shard = {s: dd.shard(int(data[s][1].shape[0])) for s in ("val", "test")}
    val_batches = _batches(data["val"][0][:, shard["val"]], data["val"][1][shard["val"]])
    trainer.fit(train, epochs, val_loader=val_batches)
    val = trainer.evaluate(val_batches)
    test = trainer.evaluate(_batches(data["test"][0][:, shard["test"]], data["test"][1][shard["test"]]))
    hist = trainer.history
    metrics = {
        "test_accuracy": test["acc"],
        "val_accuracy": val["acc"],
        "test_loss": test["loss"],
        "val_loss": val["loss"],
        "epoch_seconds": [h["time_s"] for h in hist],
        "mean_epoch_seconds": float(np.mean([h["time_s"] for h in hist])),
        "train_seconds": float(sum(h["time_s"] for h in hist)),
        "data_seconds": data_s,
        "peak_memory_mb": peak_saved_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "config": cfg,
        "epochs": hist,
    }
    if ctx.is_main:
        write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1))
        plot_learning_curve(hist, out / "learning_curve.png",
                            f"N-MNIST, {strategy}: test {100 * test['acc']:.1f} %, val {100 * val['acc']:.1f} %")
    return metrics


def main(args) -> int:
    m = run(args.out, strategy=args.strategy, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            time_bins=args.time_bins, channels=args.channels, beta=args.beta, dropout=args.dropout,
            batch_norm=args.batch_norm, max_shift=args.max_shift, k=args.k, seed=args.seed, threads=args.threads,
            data_root=args.data_root, cache_dir=args.cache_dir, limit=args.limit, resume=args.resume,
            progress=not args.no_progress)
    out = args.out or Path(f"out/nmnist-{args.strategy}")
    if int(os.environ.get("RANK", "0")) != 0:    # under torchrun: rank 0 reports
        return 0
    print(f"N-MNIST {args.strategy}: test accuracy {100 * m['test_accuracy']:.1f} % "
          f"(validation {100 * m['val_accuracy']:.1f} %), {m['mean_epoch_seconds']:.1f} s per epoch, "
          f"peak autograd memory {m['peak_memory_mb']:.1f} MB; files in {out}")
    return 0
