"""Training across processes (torch ``DistributedDataParallel``): process group set-up from the
environment ``torchrun`` writes, a batch sampler that splits every global batch over the ranks,
shards for evaluation, and the reductions the :class:`~spiking.nn.Trainer` needs.

Under ``torchrun --nproc_per_node=N`` every process runs the same script; ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` come from the environment
(torch's ``env://`` initialisation). The backend is NCCL when CUDA is available (one GPU per
process, ``cuda:LOCAL_RANK``) and gloo on CPU.

How the ranks share the work, and why 2 ranks reproduce 1 rank:

* every rank draws the same shuffled order of the whole training set from the same seed; each
  global batch of ``batch_size`` samples is cut into ``world_size`` contiguous parts
  (``np.array_split``: sizes differ by at most one) and rank ``r`` takes part ``r``;
* each rank's gradient is weighted by its share of the global batch, ``n_r / N``, and summed over
  the ranks in one all-reduce (:func:`reduce_gradients`), which is the gradient of the mean loss
  over the global batch, as one process computes it, also when a batch does not split evenly;
* evaluation shards (:func:`shard`) cover the split once, without the padding of torch's
  ``DistributedSampler``; losses, correct counts and sample counts are summed over the ranks, so
  the reported metrics are those of the whole split.

Sources: torch.distributed (``init_process_group``, ``all_reduce``), ``DistributedDataParallel``
and ``DistributedSampler`` documentation (pytorch.org/docs/stable/distributed.html,
notes/ddp.html); the gradient weighting is the per-sample mean written out.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "init_from_env", "is_distributed", "rank", "world_size", "is_main",
           "barrier", "all_reduce_sum", "reduce_gradients", "split_batch", "shard",
           "DistributedBatchSampler"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank among ``world_size`` and the device it trains on."""

    rank: int
    world_size: int
    local_rank: int
    backend: str | None
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment {name}={raw!r}: expected an integer (as torchrun sets it)") from None


def init_from_env(backend: str | None = None) -> DistributedContext:
    """Join the process group described by torchrun's environment; one process without it.

    ``backend``: "gloo" or "nccl" (default: NCCL when CUDA is available, else gloo). Calling it
    again in a process that already joined returns the same context.
    """
    world = _env_int("WORLD_SIZE", 1)
    rnk = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", 0)
    if world < 1 or not (0 <= rnk < world):
        raise ValueError(f"RANK={rnk}, WORLD_SIZE={world}: expected 0 <= RANK < WORLD_SIZE")
    if backend is not None and backend not in ("gloo", "nccl"):
        raise ValueError(f"backend={backend!r}: expected 'gloo' or 'nccl'")
    if world == 1 and not is_distributed():
        return DistributedContext(0, 1, 0, None, torch.device("cpu"))
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise ValueError("backend='nccl' needs CUDA: use backend='gloo' on CPU")
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local, dist.get_backend(), device)


def is_distributed() -> bool:
    """A process group with more than one rank is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0 (the process that writes files), or the only process."""
    return rank() == 0


def barrier():
    if is_distributed():
        dist.barrier()


def _device_for_collectives() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_sum(values) -> list[float]:
    """Sum a few numbers over the ranks (float64, one all-reduce); unchanged in one process."""
    values = [float(v) for v in values]
    if not is_distributed():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_device_for_collectives())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def reduce_gradients(parameters, n_local: int) -> int:
    """Replace each gradient by the global-batch gradient: ``sum_r (n_r / N) grad_r``, with
    ``N = sum_r n_r``, in one all-reduce of a flat buffer (the gradients and ``n_r`` together).
    Returns ``N``. Parameters without a gradient on every rank are left alone."""
    params = [p for p in parameters if p.grad is not None]
    if not is_distributed():
        return int(n_local)
    flat = torch.cat([p.grad.detach().reshape(-1).to(torch.float64) * float(n_local) for p in params]
                     + [torch.tensor([float(n_local)], dtype=torch.float64, device=params[0].grad.device
                                     if params else _device_for_collectives())])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    total = float(flat[-1])
    if total <= 0:
        raise ValueError(f"reduce_gradients: {total} samples over all ranks; expected a non-empty global batch")
    pos = 0
    for p in params:
        k = p.grad.numel()
        p.grad.copy_((flat[pos:pos + k] / total).reshape(p.grad.shape).to(p.grad.dtype))
        pos += k
    return int(round(total))


def split_batch(global_size: int, rnk: int, world: int) -> slice:
    """Rank ``rnk``'s contiguous part of a global batch of ``global_size`` samples
    (``np.array_split`` sizes: the first ``global_size % world`` parts one larger)."""
    base, extra = divmod(int(global_size), int(world))
    start = rnk * base + min(rnk, extra)
    return slice(start, start + base + (1 if rnk < extra else 0))


def shard(n: int, rnk: int | None = None, world: int | None = None) -> np.ndarray:
    """Indices ``0..n-1`` of this rank's contiguous share (for evaluation: no padding, no repeats)."""
    rnk = rank() if rnk is None else rnk
    world = world_size() if world is None else world
    return np.arange(n)[split_batch(n, rnk, world)]


class DistributedBatchSampler:
    """Index batches of this rank's part of every global batch (usable as a DataLoader's
    ``batch_sampler``). The order is a seeded permutation of ``indices`` per epoch (``set_epoch``),
    the same on every rank; a last global batch with fewer samples than ranks is dropped, so every
    rank runs the same number of steps. ``indices`` restricts sampling to a split (e.g. the
    training ids, leaving the validation ids out)."""

    def __init__(self, indices, batch_size: int, *, seed: int = 0, shuffle: bool = True,
                 rank: int | None = None, world_size: int | None = None):
        self.indices = np.asarray(indices, dtype=np.int64).ravel()
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}: expected a positive integer (the global batch)")
        self.batch_size = int(batch_size)
        self.seed, self.shuffle = int(seed), bool(shuffle)
        self.rank = globals()["rank"]() if rank is None else int(rank)
        self.world = globals()["world_size"]() if world_size is None else int(world_size)
        if not (0 <= self.rank < self.world):
            raise ValueError(f"rank={self.rank}, world_size={self.world}: expected 0 <= rank < world_size")
        if self.batch_size < self.world:
            raise ValueError(f"batch_size={self.batch_size} < world_size={self.world}: "
                             "expected a global batch of at least one sample per rank")
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = int(epoch)

    def global_batches(self):
        order = self.indices
        if self.shuffle:
            g = np.random.default_rng([self.seed, self.epoch])
            order = order[g.permutation(order.size)]
        for i in range(0, order.size, self.batch_size):
            batch = order[i:i + self.batch_size]
            if batch.size >= self.world:
                yield batch

    def __iter__(self):
        for batch in self.global_batches():
            yield batch[split_batch(batch.size, self.rank, self.world)].tolist()

    def __len__(self):
        full, rest = divmod(self.indices.size, self.batch_size)
        return full + (1 if rest >= self.world else 0)
