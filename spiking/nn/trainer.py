"""A small trainer: strategy by name, progress bar, metrics per epoch as JSON, atomic checkpoints,
resume.

Files written under ``out_dir`` (each replaced atomically, so a run that is interrupted leaves the
previous complete file behind, never a half-written one):

* ``metrics.json``: ``{"config": {...}, "epochs": [{"epoch", "train_loss", "train_acc",
  "val_loss", "val_acc", "time_s", "samples_per_s"}, ...]}``;
* ``checkpoint.pt``: ``torch.save`` of ``{"state_dict", "optimizer", "config", "epoch",
  "metrics", "rng"}`` (tensors and plain data only; loaded with ``weights_only=True``).

Across processes (``torchrun``, see :mod:`spiking.nn.distributed` and docs/scale.md): with a
process group of more than one rank the model is wrapped in ``DistributedDataParallel``; each
rank trains on its part of every global batch, and the gradients are weighted by each rank's
share of the batch and summed in one all-reduce per step (so SLTT's several backward passes per
step cost one reduction, and an uneven split still gives the global-batch gradient). Epoch and
evaluation metrics are summed over the ranks; only rank 0 writes files and shows progress; every
rank resumes from the same checkpoint file.
"""
from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_path, write_text_atomic
from . import distributed as ddp
from .strategies import STRATEGIES, sequence_loss

__all__ = ["Trainer"]


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if torch.is_tensor(obj) and obj.numel() == 1:
        return obj.item()
    return repr(obj)


class Trainer:
    """Train a :class:`~spiking.nn.Sequential` (or any module with the same call signature).

    ``strategy``: "bptt", "sltt" or "sltt-k" (see :mod:`spiking.nn.strategies`); ``k``: backward
    steps for SLTT-K; ``chunk``: steps per backward pass for SLTT; ``loss``: a per-step loss
    ``loss(output[t], target)`` (default cross-entropy; the objective is its mean over time);
    ``time_first``: batches come as ``x[T, B, ...]`` (else ``x[B, T, ...]``, transposed here);
    ``out_dir``: where metrics and checkpoints go (None: nothing written); ``grad_clip``: max
    gradient norm (None: no clipping); ``seed``: seeds the generator that draws SLTT-K's steps;
    ``scheduler``: a ``torch.optim.lr_scheduler`` stepped after every optimiser step (per batch),
    saved in and restored from checkpoints; ``distributed``: train across the ranks of the
    active process group with ``DistributedDataParallel`` (default: when one with more than one
    rank is initialised, see :func:`spiking.nn.distributed.init_from_env`).
    Accuracy is the argmax of the output averaged over time.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, strategy: str = "bptt", *,
                 k: int | None = None, chunk: int = 1, loss=None, out_dir=None, progress: bool = True,
                 time_first: bool = True, grad_clip: float | None = None, seed: int = 0,
                 device=None, config: dict | None = None, scheduler=None, distributed: bool | None = None):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy={strategy!r}: expected one of {sorted(STRATEGIES)}")
        if strategy == "sltt-k" and (k is None or isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"strategy 'sltt-k' needs k, a positive integer number of backward steps; got k={k!r}")
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk={chunk!r}: expected a positive integer")
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.strategy = strategy
        self.k = k
        self.chunk = chunk
        self.loss_fn = loss if loss is not None else nn.CrossEntropyLoss()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        self.time_first = time_first
        self.grad_clip = grad_clip
        self.seed = int(seed)
        self.device = torch.device(device) if device is not None else None
        self.generator = torch.Generator().manual_seed(self.seed)
        self.extra_config = dict(config or {})
        self.epoch = 0            # epochs completed
        self.history: list[dict] = []
        if distributed is None:
            distributed = ddp.is_distributed()
        if distributed and not ddp.is_distributed():
            raise ValueError("distributed=True needs an initialised process group of more than one rank: "
                             "run under torchrun and call spiking.nn.distributed.init_from_env()")
        self._ddp = None
        if distributed:
            from torch.nn.parallel import DistributedDataParallel
            on_gpu = self.device is not None and self.device.type == "cuda"
            # DDP broadcasts rank 0's parameters and buffers here, so every rank starts alike
            self._ddp = DistributedDataParallel(model, device_ids=[self.device] if on_gpu else None)

    # -- configuration -------------------------------------------------------------------------
    def config(self) -> dict:
        cfg = {"strategy": self.strategy, "k": self.k, "chunk": self.chunk,
               "loss": type(self.loss_fn).__name__, "time_first": self.time_first,
               "grad_clip": self.grad_clip, "seed": self.seed,
               "optimizer": {"type": type(self.optimizer).__name__,
                             "defaults": _jsonable(self.optimizer.defaults)}}
        if hasattr(self.model, "config"):
            try:
                cfg["model"] = self.model.config()
            except (TypeError, NotImplementedError):
                pass
        cfg.update(self.extra_config)
        return _jsonable(cfg)

    # -- one batch -----------------------------------------------------------------------------
    def _prepare(self, x, y):
        if not self.time_first:
            x = x.transpose(0, 1)
        if self.device is not None:
            x, y = x.to(self.device), y.to(self.device)
        return x, y

    def train_step(self, x, y) -> dict:
        """One optimiser step on one batch; returns ``{"loss", "correct", "n"}``."""
        self.model.train()
        x, y = self._prepare(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        fn = STRATEGIES[self.strategy]
        model = self.model if self._ddp is None else _Wrapped(self._ddp)
        # under DDP, gradients stay local through the strategy's backward passes (no_sync), then
        # one weighted all-reduce gives the gradient of the whole global batch
        with (nullcontext() if self._ddp is None else self._ddp.no_sync()):
            loss, out = fn(model, x, y, self.loss_fn, k=self.k, chunk=self.chunk, generator=self.generator)
        if self._ddp is not None:
            ddp.reduce_gradients(self.model.parameters(), int(y.shape[0]))
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return {"loss": loss, **self._correct(out, y)}

    @staticmethod
    def _correct(out, y):
        if y.dim() == 1 and not torch.is_floating_point(y):
            return {"correct": int((out.mean(0).argmax(-1) == y).sum()), "n": int(y.shape[0])}
        return {"correct": 0, "n": int(y.shape[0])}

    @torch.no_grad()
    def evaluate(self, loader) -> dict:
        """Mean loss (the training objective) and accuracy over a loader, without gradients."""
        self.model.eval()
        tot_loss, correct, n = 0.0, 0, 0
        for x, y in loader:
            x, y = self._prepare(x, y)
            out, _ = self.model(x)
            b = int(y.shape[0])
            tot_loss += float(sequence_loss(self.loss_fn, out, y, x.shape[0])) * b
            c = self._correct(out, y)
            correct += c["correct"]
            n += b
        tot_loss, correct, n = ddp.all_reduce_sum([tot_loss, correct, n])   # the whole split over the ranks
        if n == 0:
            raise ValueError("evaluate: the loader yielded no batches")
        return {"loss": tot_loss / n, "acc": correct / n}

    # -- epochs --------------------------------------------------------------------------------
    def fit(self, train_loader, epochs: int, val_loader=None, *, resume: bool = False) -> list[dict]:
        """Train until ``epochs`` epochs are complete (counting those of a resumed checkpoint).

        With ``resume=True`` and ``out_dir/checkpoint.pt`` present, continue from it.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs={epochs!r}: expected a positive integer")
        if resume and self.out_dir is not None and (self.out_dir / "checkpoint.pt").exists():
            self.load_checkpoint(self.out_dir / "checkpoint.pt")
        from tqdm.auto import tqdm

        while self.epoch < epochs:
            t0 = time.perf_counter()
            tot_loss, correct, n = 0.0, 0, 0
            try:
                total = len(train_loader)
            except TypeError:
                total = None
            _set_epoch(train_loader, self.epoch)
            bar = tqdm(train_loader, total=total, desc=f"epoch {self.epoch + 1}/{epochs} [{self.strategy}]",
                       disable=None if (self.progress and ddp.is_main()) else True, leave=False)
            for x, y in bar:
                r = self.train_step(x, y)
                tot_loss += r["loss"] * r["n"]
                correct += r["correct"]
                n += r["n"]
                bar.set_postfix(loss=f"{tot_loss / n:.4f}", acc=f"{correct / n:.3f}")
            bar.close()
            tot_loss, correct, n = ddp.all_reduce_sum([tot_loss, correct, n])
            if n == 0:
                raise ValueError("fit: the training loader yielded no batches")
            elapsed = time.perf_counter() - t0
            self.epoch += 1
            m = {"epoch": self.epoch, "train_loss": tot_loss / n, "train_acc": correct / n,
                 "time_s": elapsed, "samples_per_s": n / elapsed}
            if val_loader is not None:
                v = self.evaluate(val_loader)
                m.update(val_loss=v["loss"], val_acc=v["acc"])
            self.history.append(m)
            if self.progress and ddp.is_main():
                print(json.dumps(m))
            if self.out_dir is not None:
                self.write_metrics()
                self.save_checkpoint()
            ddp.barrier()   # the checkpoint of this epoch is complete before any rank goes on
        return self.history

    # -- files ---------------------------------------------------------------------------------
    def write_metrics(self, path=None):
        path = Path(path) if path is not None else self._out("metrics.json")
        if not ddp.is_main():   # rank 0 writes; the others hold the same reduced history
            return path
        write_text_atomic(path, json.dumps({"config": self.config(), "epochs": self.history}, indent=1))
        return path

    def _out(self, name):
        if self.out_dir is None:
            raise ValueError("no out_dir given: pass a path or set Trainer(out_dir=...)")
        return self.out_dir / name

    def checkpoint(self) -> dict:
        ck = {"state_dict": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
              "config": self.config(), "epoch": self.epoch, "metrics": self.history,
              "rng": self.generator.get_state(), "torch_rng": torch.get_rng_state()}
        if self.scheduler is not None:
            ck["scheduler"] = self.scheduler.state_dict()
        return ck

    def save_checkpoint(self, path=None) -> Path:
        """``torch.save`` of :meth:`checkpoint` through a temporary file and ``os.replace``."""
        path = Path(path) if path is not None else self._out("checkpoint.pt")
        if not ddp.is_main():   # rank 0 writes; the others hold the same parameters
            return path
        with atomic_path(path) as tmp:
            torch.save(self.checkpoint(), tmp)
        return path

    def load_checkpoint(self, path) -> dict:
        """Restore model, optimiser, epoch count, metrics history and the SLTT-K generator."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {path}: no such file")
        ck = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "optimizer", "epoch"):
            if key not in ck:
                raise ValueError(f"checkpoint {path}: missing {key!r} (expected a spiking.nn Trainer checkpoint)")
        saved = ck.get("config", {}).get("strategy")
        if saved is not None and saved != self.strategy:
            raise ValueError(f"checkpoint {path} was trained with strategy {saved!r}, this trainer uses "
                             f"{self.strategy!r}: build the Trainer with strategy={saved!r} to resume")
        self.model.load_state_dict(ck["state_dict"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.epoch = int(ck["epoch"])
        self.history = list(ck.get("metrics", []))
        if "rng" in ck:
            self.generator.set_state(ck["rng"])
        if "torch_rng" in ck:  # torch's global generator draws dropout masks and initialisations
            torch.set_rng_state(ck["torch_rng"])
        if self.scheduler is not None:
            if "scheduler" not in ck:
                raise ValueError(f"checkpoint {path} holds no scheduler state, but this trainer has a scheduler")
            self.scheduler.load_state_dict(ck["scheduler"])
        return ck


class _Wrapped:
    """The DDP-wrapped model as the strategies see it: calls go through DistributedDataParallel,
    other attributes (``detach_state``, ``config``) to the module inside."""

    def __init__(self, wrapped):
        self._wrapped = wrapped

    def __call__(self, *args, **kwargs):
        return self._wrapped(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._wrapped.module, name)


def _set_epoch(loader, epoch: int):
    """Tell a distributed sampler (ours or torch's) which epoch's order to draw."""
    for obj in (loader, getattr(loader, "batch_sampler", None), getattr(loader, "sampler", None)):
        if obj is not None and callable(getattr(obj, "set_epoch", None)):
            obj.set_epoch(epoch)
            return
