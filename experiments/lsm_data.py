"""Inputs of the liquid-state-machine experiment (:mod:`spiking.experiments.lsm`): N-MNIST
recordings as time-binned event counts (optionally summed over pool x pool pixels) and the
converted spoken digits (FSDD in SHD's schema) as time-binned channel counts, with their
train / validation / Test splits and the identities the feature cache is keyed on."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NMNIST_RECORDING_US = 300_000
FSDD_ROOT_DEFAULT = Path("/work/cache/fsdd_shd")
FSDD_SPLITS = ("official", "speaker-george")
# FSDD recordings as converted span 180-530 ms (5th-95th percentile, at most 671 ms) from their first
# spike: a 600 ms window of 50 bins of 12 ms.
FSDD_WINDOW_MS = 600.0


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



@dataclass(frozen=True)
class Inputs:
    """One preprocessing of a task's recordings, as the classification protocol searches over
    them: ``data`` {split: counts [T, N, n_inputs]}, ``identity`` (what the feature cache is
    keyed on), ``tag`` (the cache file's prefix) and ``name`` (e.g. "pool 4")."""
    name: str
    data: dict
    identity: dict
    tag: str

    @property
    def n_inputs(self) -> int:
        return int(self.data["train"].shape[2])


# N-MNIST input resolutions searched on validation: sums over pool x pool pixels (1: the full 34 x 34
# sensor, 2312 inputs; 2: 578; 4: 128; 8: 32). The reservoir's 200 units expand a coarse input and
# compress a fine one; the authors feed 256 inputs (a 16 x 16 centre crop, one polarity).
POOLS = (1, 2, 4, 8)


def nmnist_inputs(pools=POOLS, time_bins=50, root=None, cache_dir=None, limit=None, progress=True):
    """N-MNIST counts at every resolution of ``pools`` (the recordings read once):
    ([Inputs per pool], labels {split: [N]})."""
    pools = tuple(int(q) for q in pools)
    if not pools or any(q < 1 or q > 34 for q in pools) or len(set(pools)) != len(pools):
        raise ValueError(f"pools={pools!r}: expected distinct pool sizes in 1..34")
    frames, y, ident = {}, {}, {}
    for split in ("train", "val", "test"):
        frames[split], y[split], ident[split] = load_nmnist(split, time_bins, root, cache_dir, limit, progress)
    inputs = [Inputs(f"pool {q}", {s: pool_frames(f, q) for s, f in frames.items()}, dict(ident, pool=q),
                     f"nmnist-p{q}") for q in pools]
    return inputs, y


def nmnist_data(pool=2, time_bins=50, root=None, cache_dir=None, limit=None, progress=True):
    """N-MNIST counts at one resolution: (data {split: counts}, labels, identity)."""
    (inp,), y = nmnist_inputs((pool,), time_bins, root, cache_dir, limit, progress)
    return inp.data, y, inp.identity


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

