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
        exclude_self = same and not self.allow_self
        if float(self.p) > 0.5:   # dense: a Bernoulli draw per pair costs little more than the output
            return _bernoulli_pairs(n_pre, n_post, float(self.p), exclude_self, rng)
        return fixed_probability_pairs(n_pre, n_post, float(self.p), exclude_self, rng)


_ROWS_PER_BLOCK = 1 << 16   # rows drawn together: bounds the padded block to ~65k x max out-degree


def fixed_probability_pairs(n_pre: int, n_post: int, p: float, exclude_self: bool, rng):
    """Pairs (pre, post) with each pair present independently with probability ``p``, vectorised.

    The out-degree of each presynaptic unit is drawn from Binomial(n_choices, p), then that many
    distinct targets, uniformly: targets are drawn with replacement for a block of rows at once
    (a padded ``[rows, max degree]`` array, sorted along the rows) and only the slots that repeat
    a target are drawn again until none does. The redraw rule treats every target label alike, so
    the resulting set of targets is uniform among sets of its size, as sampling without
    replacement requires. Cost is O(synapses) memory and about O(synapses log degree) time, with
    a few rounds of redraws touching only the rows that had a repeat. ``exclude_self`` (a
    population onto itself without autapses) draws from the ``n_post - 1`` other units.
    Rows come out in ascending ``pre`` order with ascending, distinct ``post`` in each row.
    """
    n_choices = n_post - 1 if exclude_self else n_post
    if n_pre == 0 or n_choices <= 0 or p == 0.0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    counts = rng.binomial(n_choices, p, size=n_pre)
    pre = np.repeat(np.arange(n_pre, dtype=np.int64), counts)
    post = np.empty(pre.size, dtype=np.int64)
    pos = 0
    for start in range(0, n_pre, _ROWS_PER_BLOCK):
        c = counts[start:start + _ROWS_PER_BLOCK]
        width = int(c.max()) if c.size else 0
        if width == 0:
            continue
        valid = np.arange(width)[None, :] < c[:, None]
        block = np.where(valid, rng.integers(0, n_choices, size=(c.size, width)), n_choices)  # pad sorts last
        block.sort(axis=1)
        while True:
            repeat = (block[:, 1:] == block[:, :-1]) & valid[:, 1:]
            rows = np.flatnonzero(repeat.any(axis=1))
            if rows.size == 0:
                break
            sub = block[rows]
            slots = np.zeros(sub.shape, dtype=bool)
            slots[:, 1:] = repeat[rows]
            sub[slots] = rng.integers(0, n_choices, size=int(slots.sum()))
            sub.sort(axis=1)
            block[rows] = sub
        targets = block[valid]          # row-major: rows in order, targets ascending
        if exclude_self:
            own = np.repeat(np.arange(start, start + c.size, dtype=np.int64), c)
            targets += targets >= own   # skip the unit itself; keeps the order
        post[pos:pos + targets.size] = targets
        pos += targets.size
    return pre, post


def _bernoulli_pairs(n_pre: int, n_post: int, p: float, exclude_self: bool, rng):
    """Dense case: one uniform draw per (pre, post) pair, a block of rows at a time."""
    rows = max(1, (1 << 22) // max(1, n_post))
    pre_list, post_list = [], []
    for start in range(0, n_pre, rows):
        stop = min(n_pre, start + rows)
        mask = rng.random((stop - start, n_post)) < p
        if exclude_self:
            i = np.arange(start, stop)
            mask[i - start, i] = False
        r, c = np.nonzero(mask)
        pre_list.append(r.astype(np.int64) + start)
        post_list.append(c.astype(np.int64))
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


@dataclass(frozen=True)
class TripartiteConnect:
    """NEST's ``TripartiteConnect`` with the ``third_factor_bernoulli_with_pool`` rule
    (``nestkernel/conn_builder.cpp``, ThirdBernoulliWithPoolBuilder; read, not copied).

    The primary connections come from ``primary`` (a connector, e.g. ``FixedProbability(p)``,
    NEST's ``pairwise_bernoulli``). Each primary connection ``pre -> post`` is then paired, with
    probability ``p``, with one astrocyte of ``post``'s pool, chosen uniformly within the pool
    (the only one when ``pool_size == 1``); a pairing adds ``pre -> astrocyte`` (third_in) and
    ``astrocyte -> post`` (third_out, the SIC). Pools are fixed per target the first time it is
    paired:

    * ``pool_type="random"``: ``pool_size`` distinct astrocytes drawn at random;
    * ``pool_type="block"``: consecutive astrocytes; with ``pool_size > 1`` target i gets
      astrocytes ``[i * pool_size, (i + 1) * pool_size)`` (needs ``n_post * pool_size == n_astro``),
      with ``pool_size == 1`` target i gets astrocyte ``i // (n_post / n_astro)`` (needs
      ``n_post`` a multiple of ``n_astro``).

    ``pool_size=None`` means all astrocytes (NEST's default). Use with
    :meth:`spiking.network.Network.connect_tripartite`.
    """

    primary: object
    p: float = 1.0
    pool_size: int | None = None
    pool_type: str = "random"

    def __post_init__(self):
        if not hasattr(self.primary, "build"):
            raise TypeError(f"primary={self.primary!r}: expected a connector (e.g. FixedProbability(0.1))")
        if not (0.0 <= float(self.p) <= 1.0):
            raise ValueError(f"p={self.p}: expected a conditional pairing probability in [0, 1]")
        if self.pool_type not in ("random", "block"):
            raise ValueError(f"pool_type={self.pool_type!r}: expected 'random' or 'block'")
        ps = self.pool_size
        if ps is not None and (isinstance(ps, bool) or not isinstance(ps, (int, np.integer)) or ps < 1):
            raise ValueError(f"pool_size={ps!r}: expected a positive integer or None (all astrocytes)")

    def build_tripartite(self, n_pre: int, n_post: int, n_astro: int, same: bool, rng=None):
        """(pre, post) of the primary connections, (pre, astro) of third_in, (astro, post) of
        third_out; third_in[k] and third_out[k] belong to the k-th paired primary connection."""
        pool_size = n_astro if self.pool_size is None else int(self.pool_size)
        if pool_size > n_astro:
            raise ValueError(f"pool_size={pool_size}: expected at most the {n_astro} astrocytes of the third population")
        if self.pool_type == "block" and not (n_post * pool_size == n_astro
                                              or (pool_size == 1 and n_post % n_astro == 0)):
            raise ValueError(f"block pools of size {pool_size} for {n_post} targets and {n_astro} astrocytes: expected "
                             "n_post * pool_size == n_astro, or pool_size == 1 with n_post a multiple of n_astro "
                             "(use pool_type='random' otherwise)")
        if rng is None and (self.p < 1.0 or self.pool_type == "random" or pool_size > 1):
            raise ValueError("TripartiteConnect needs a seeded generator: pass rng=np.random.default_rng(seed)")
        pre, post = self.primary.build(n_pre, n_post, same, rng)
        # NEST loops over targets; pairing draws are made in that order
        order = np.lexsort((pre, post))
        pre, post = pre[order], post[order]
        pools: dict[int, np.ndarray] = {}
        per_third = n_post // n_astro if n_astro else 0
        a_pre, a_astro, a_post = [], [], []
        for i, j in zip(pre.tolist(), post.tolist()):
            if rng is not None and not rng.random() < self.p:
                continue
            pool = pools.get(j)
            if pool is None:
                if self.pool_type == "random":
                    pool = rng.choice(n_astro, size=pool_size, replace=False)
                else:
                    first = j * pool_size if pool_size > 1 else j // per_third
                    pool = np.arange(first, first + pool_size)
                pools[j] = pool
            a = int(pool[0] if pool_size == 1 else pool[rng.integers(pool_size)])
            a_pre.append(i)
            a_astro.append(a)
            a_post.append(j)
        as_arr = (lambda xs: np.asarray(xs, dtype=np.int64))
        return (pre, post), (as_arr(a_pre), as_arr(a_astro)), (as_arr(a_astro), as_arr(a_post))
