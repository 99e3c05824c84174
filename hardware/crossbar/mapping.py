"""Signed weights to differential conductance pairs, and matrices to tiles.

A weight w (``[out, in]``, weight units) with scale s (the absolute maximum, per tensor or per
output column) is held by a pair G+ / G-, one of them at g_min, as aihwkit's
``SinglePairConductanceConverter`` (``src/aihwkit/inference/converter/conductance.py``):

    G+ = g_min + (g_max - g_min) max(w / s, 0),   G- = g_min + (g_max - g_min) max(-w / s, 0),
    w  = (G+ - G-) s / (g_max - g_min).

Tiles hold at most ``rows x cols`` weights (inputs on rows, outputs on columns; a weight is two
cells, its pair); the partial sums of the tiles of one column block are added digitally.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["SCALINGS", "weight_scale", "to_pairs", "from_pairs", "TileLayout"]

SCALINGS = ("tensor", "column")


def weight_scale(w: torch.Tensor, scaling: str = "tensor") -> torch.Tensor:
    """Abs-max scale of ``w[out, in]``: a scalar tensor (per tensor) or ``[out, 1]`` (per column);
    an all-zero tensor or column gets scale 1."""
    if scaling not in SCALINGS:
        raise ValueError(f"weight_scaling={scaling!r}: expected one of {SCALINGS}")
    s = w.detach().abs().amax() if scaling == "tensor" else w.detach().abs().amax(dim=1, keepdim=True)
    return torch.where(s > 0, s, torch.ones_like(s))


def to_pairs(w: torch.Tensor, device, scale: torch.Tensor) -> torch.Tensor:
    """Target conductances (uS) ``[2, out, in]``: G+ and G- of every weight."""
    if not torch.isfinite(w).all():
        bad = w[~torch.isfinite(w)].flatten()[0].item()
        raise ValueError(f"weights contain {bad}: expected finite values")
    wn = w / scale
    span = device.g_max - device.g_min
    return torch.stack([device.g_min + span * wn.clamp(min=0), device.g_min + span * (-wn).clamp(min=0)])


def from_pairs(g: torch.Tensor, device, scale: torch.Tensor) -> torch.Tensor:
    """Weights (weight units) of conductance pairs ``g[2, out, in]``."""
    return (g[0] - g[1]) * (scale / (device.g_max - device.g_min))


def _positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name}={v!r}: expected a positive integer")
    return v


@dataclass(frozen=True)
class TileLayout:
    """How an ``n_in x n_out`` matrix is cut into tiles of at most ``rows x cols`` weights."""

    n_in: int
    n_out: int
    rows: int = 256
    cols: int = 256

    def __post_init__(self):
        for key in ("n_in", "n_out"):
            _positive_int(key, getattr(self, key))
        _positive_int("tile rows", self.rows)
        _positive_int("tile cols", self.cols)

    @property
    def row_blocks(self) -> list[tuple[int, int]]:
        return [(a, min(a + self.rows, self.n_in)) for a in range(0, self.n_in, self.rows)]

    @property
    def col_blocks(self) -> list[tuple[int, int]]:
        return [(a, min(a + self.cols, self.n_out)) for a in range(0, self.n_out, self.cols)]

    @property
    def n_tiles(self) -> int:
        return math.ceil(self.n_in / self.rows) * math.ceil(self.n_out / self.cols)

    def __str__(self):
        return (f"{self.n_in} x {self.n_out} weights on {self.n_tiles} tile(s) of {self.rows} x {self.cols} "
                f"({len(self.row_blocks)} row block(s) x {len(self.col_blocks)} column block(s))")
