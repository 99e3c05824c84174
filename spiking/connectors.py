"""Connectors: rules that produce the (pre, post) index pairs of a projection.

Each connector is a small frozen dataclass; ``build`` returns int64 arrays of equal length.
Random connectors draw only from the generator passed to ``build``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneToOne:
    """Neuron i of the presynaptic population to neuron i of the postsynaptic one."""

    def build(self, n_pre: int, n_post: int, same: bool, rng=None):
        if n_pre != n_post:
            raise ValueError(f"OneToOne between sizes {n_pre} and {n_post}: expected equal sizes")
        idx = np.arange(n_pre, dtype=np.int64)
        return idx, idx.copy()


@dataclass(frozen=True)
class AllToAll:
    """Every presynaptic neuron to every postsynaptic one; ``allow_self=False`` drops i -> i
    (only meaningful when a population projects onto itself, or between equal-sized populations
    where index i stands for the same unit, as in the CA3 memory's "all-to-all without self")."""

    allow_self: bool = True

    def build(self, n_pre: int, n_post: int, same: bool, rng=None):
        pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        if not self.allow_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post


@dataclass(frozen=True)
class FixedProbability:
    """Each (pre, post) pair connected independently with probability ``p``."""

    p: float
    allow_self: bool = True

    def __post_init__(self):
        if not (0.0 <= float(self.p) <= 1.0):
            raise ValueError(f"p={self.p}: expected a connection probability in [0, 1]")

    def build(self, n_pre: int, n_post: int, same: bool, rng=None):
        if rng is None:
            raise ValueError("FixedProbability needs a seeded generator: pass rng=np.random.default_rng(seed)")
        pre_list, post_list = [], []
        # Row by row keeps memory at O(n_post) for large populations.
        for i in range(n_pre):
            post = np.flatnonzero(rng.random(n_post) < self.p)
            if not self.allow_self and same:
                post = post[post != i]
            pre_list.append(np.full(post.size, i, dtype=np.int64))
            post_list.append(post.astype(np.int64))
        if not pre_list:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(pre_list), np.concatenate(post_list)


@dataclass(frozen=True, eq=False)
class FromList:
    """Explicit connection list: ``pre[k] -> post[k]``."""

    pre: np.ndarray
    post: np.ndarray

    def build(self, n_pre: int, n_post: int, same: bool, rng=None):
        pre = np.asarray(self.pre)
        post = np.asarray(self.post)
        if pre.ndim != 1 or post.shape != pre.shape:
            raise ValueError(f"FromList pre {pre.shape} and post {post.shape}: expected two 1-D arrays of equal length")
        for name, idx, n in (("pre", pre, n_pre), ("post", post, n_post)):
            if idx.size and not np.issubdtype(idx.dtype, np.integer):
                raise TypeError(f"FromList {name} indices of dtype {idx.dtype}: expected integers")
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
                raise ValueError(f"FromList {name} index {bad}: expected indices in [0, {n})")
        return pre.astype(np.int64), post.astype(np.int64)
