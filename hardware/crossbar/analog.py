"""An analog weight matrix on crossbar tiles: programming, drift, compensation, reads, counts.

Shared by the torch layers (:mod:`.layers`) and the network backend (:mod:`.engine`). The
semantics follow aihwkit where it is the model (``inference/tiles``, ``inference/noise``,
``inference/compensation/drift.py``):

* ``program``: the target weights are mapped to pairs (:mod:`.mapping`) and **both** devices of
  each pair are programmed (the one at g_min gets its noise too); the drift parameters are drawn
  from the target conductances;
* ``drift(t)``: conductances are re-derived from the programmed weights (a fresh abs-max scale,
  one device of each pair at g_min again), then drift and accumulated 1/f noise are applied,
  drawn once per call and frozen into the weights (not redrawn per read);
* per-read noise is output noise of the periphery (``io.out_noise``, plus the device's per-read
  noise where it has one, as an equivalent Gaussian output noise);
* drift compensation ("global" or "per_column"): a readout of the identity input through the
  same noisy, quantised periphery, at programming (the baseline) and at every ``drift``; the
  outputs are multiplied by baseline / readout (aihwkit's ``GlobalDriftCompensation`` reads
  ``mean |y|``, the per-column variant ``mean |y|`` of each column).
"""
from __future__ import annotations

import math

import torch

from .devices import get_device
from .mapping import TileLayout, from_pairs, to_pairs, weight_scale
from .periphery import IOParameters, tiles_forward

__all__ = ["AnalogMatrix", "COMPENSATIONS", "empty_counts", "add_counts", "V_READ", "T_READ"]

COMPENSATIONS = (None, "global", "per_column")
V_READ = 0.2        # V, read voltage (contract with the energy model; its tables cite the source)
T_READ = 10e-9      # s, read pulse


def empty_counts(device_name: str = "", tile_rows: int = 0, tile_cols: int = 0) -> dict:
    """The crossbar counts of the activity ledger (keys fixed by the energy model's contract)."""
    return {"device": device_name, "t_inference_s": 0.0, "tiles": 0, "tile_rows": int(tile_rows),
            "tile_cols": int(tile_cols), "reads": 0, "row_activations": 0, "cells_read": 0,
            "conductance_sum_S": 0.0, "adc_conversions": {}, "dac_conversions": {},
            "digital_accumulations": 0, "v_read_V": V_READ, "t_read_s": T_READ}


def add_counts(total: dict, part: dict) -> dict:
    """Add ``part``'s counts into ``total`` (in place; tiles add; time and names are kept)."""
    for k in ("tiles", "reads", "row_activations", "cells_read", "digital_accumulations"):
        total[k] = int(total[k]) + int(part[k])
    total["conductance_sum_S"] = float(total["conductance_sum_S"]) + float(part["conductance_sum_S"])
    for k in ("adc_conversions", "dac_conversions"):
        for bits, n in part[k].items():
            total[k][bits] = int(total[k].get(bits, 0)) + int(n)
    if not total["device"]:
        total["device"] = part["device"]
    total["t_inference_s"] = max(float(total["t_inference_s"]), float(part["t_inference_s"]))
    return total


def is_binary(x: torch.Tensor) -> bool:
    """All values 0 or 1 (spikes). The first row is checked first: analog inputs fail there."""
    if x.numel() == 0:
        return True
    head = x[:1]
    if not bool(((head == 0) | (head == 1)).all()):
        return False
    return bool(((x == 0) | (x == 1)).all())


class AnalogMatrix:
    """``weight[out, in]`` held on crossbar tiles of ``device`` with periphery ``io``."""

    def __init__(self, weight: torch.Tensor, device="pcm_ibm", io: IOParameters | None = None,
                 tile_size=(256, 256), weight_scaling: str = "tensor", drift_compensation=None, nl_adc=None):
        if drift_compensation not in COMPENSATIONS:
            raise ValueError(f"drift_compensation={drift_compensation!r}: expected one of {COMPENSATIONS}")
        if io is not None and not isinstance(io, IOParameters):
            raise TypeError(f"io={io!r}: expected an IOParameters")
        if not (isinstance(tile_size, (tuple, list)) and len(tile_size) == 2):
            raise ValueError(f"tile_size={tile_size!r}: expected (rows, cols)")
        self.device = get_device(device)
        self.io = io if io is not None else IOParameters()
        self.weight_scaling = weight_scaling
        self.drift_compensation = drift_compensation
        self.nl_adc = nl_adc
        weight = torch.as_tensor(weight)
        if weight.dim() != 2:
            raise ValueError(f"weight of shape {tuple(weight.shape)}: expected [out, in]")
        self.layout = TileLayout(int(weight.shape[1]), int(weight.shape[0]), *tile_size)
        weight_scale(weight, weight_scaling)  # validates the scaling name
        self.set_weights(weight)
        self.counts = empty_counts(self.device.name, self.layout.rows, self.layout.cols)

    # -- state ----------------------------------------------------------------------------------
    def set_weights(self, weight: torch.Tensor):
        """New target weights (weight units); forgets any programming."""
        weight = torch.as_tensor(weight).detach()
        if tuple(weight.shape) != (self.layout.n_out, self.layout.n_in):
            raise ValueError(f"weight of shape {tuple(weight.shape)}: expected {(self.layout.n_out, self.layout.n_in)}")
        if not torch.isfinite(weight).all():
            raise ValueError("weights contain nan or inf: expected finite values")
        self.target = weight.clone()
        self.programmed = None
        self.t_inference = 0.0
        self.alpha = None
        self.baseline = None
        s = weight_scale(self.target, self.weight_scaling)
        self._set_state(to_pairs(self.target, self.device, s), s)

    def _set_state(self, g: torch.Tensor, scale: torch.Tensor):
        """Current conductances ``g[2, out, in]`` (uS) and their weight scale."""
        self.g = g
        self.scale = scale
        self.w_n = (g[0] - g[1]) / (self.device.g_max - self.device.g_min)    # normalised weights
        self._wt = self._tiled(self.w_n)
        # per tile: summed conductance (S) of each row's cells, [R, rows, C], for the ledger
        self._row_g = self._tiled((g[0] + g[1]).to(torch.float64) * 1e-6)
        R, rows, _ = self._row_g.shape
        self._row_g = self._row_g.reshape(R, rows, -1, self._block[1]).sum(dim=3)

    @property
    def _block(self) -> tuple[int, int]:
        """(rows, cols) of the computed blocks: the tile size, or the matrix where it is smaller
        (a matrix in one tile is not padded to the tile's size)."""
        L = self.layout
        return min(L.rows, L.n_in), min(L.cols, L.n_out)

    def _tiled(self, w: torch.Tensor) -> torch.Tensor:
        """``w[out, in]`` as ``[R, rows, C * cols]`` (zero padded): row block r of the transpose."""
        L = self.layout
        rows, cols = self._block
        R, C = len(L.row_blocks), len(L.col_blocks)
        if R * rows == L.n_in and C * cols == L.n_out:
            return w.T.reshape(R, rows, C * cols).contiguous()
        pad = torch.zeros(C * cols, R * rows, dtype=w.dtype)
        pad[:L.n_out, :L.n_in] = w
        return pad.T.reshape(R, rows, C * cols).contiguous()

    @property
    def weight(self) -> torch.Tensor:
        """The weights the array holds now (weight units)."""
        return from_pairs(self.g, self.device, self.scale)

    def program(self, generator=None):
        """Program the target weights (both devices of every pair get programming noise)."""
        s = weight_scale(self.target, self.weight_scaling)
        g_t = to_pairs(self.target, self.device, s)
        self.programmed = self.device.program(g_t, generator)
        self.prog_scale = s
        self.w_prog = from_pairs(self.programmed.g_prog, self.device, s)
        self.t_inference = 0.0
        self._set_state(self.programmed.g_prog, s)
        self.alpha = None
        self.baseline = self._readout(generator) if self.drift_compensation else None
        return self

    def drift(self, t_inference: float, generator=None):
        """Conductances ``t_inference`` s after programming, re-derived from the programmed weights."""
        if self.programmed is None:
            raise RuntimeError(f"drift(t_inference={t_inference}) before program(): program the weights first")
        t = float(t_inference)
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"t_inference={t_inference}: expected a finite time >= 0 in seconds since programming")
        s = weight_scale(self.w_prog, self.weight_scaling)
        g_re = to_pairs(self.w_prog, self.device, s)
        g_t = self.device.at_time(g_re, self.programmed, t, generator)
        self.t_inference = t
        self._set_state(g_t, s)
        if self.drift_compensation:
            now = self._readout(generator)
            self.alpha = self.baseline / now.clamp(min=1e-12)
        return self

    def _readout(self, generator):
        """The compensation readout: identity input through the periphery; mean |y| (global) or
        per column."""
        eye = torch.eye(self.layout.n_in, dtype=self.w_n.dtype)
        y = self.forward(eye, generator, count=False, compensate=False)
        return y.abs().mean() if self.drift_compensation == "global" else y.abs().mean(dim=0)

    # -- reads ----------------------------------------------------------------------------------
    def read_noise_std(self) -> float:
        """Per-read noise of one device in normalised weight units."""
        return self.device.read_noise_std / (self.device.g_max - self.device.g_min)

    def forward(self, x: torch.Tensor, generator=None, *, count: bool = True, compensate: bool = True,
                w_n: torch.Tensor | None = None, scale: torch.Tensor | None = None, binary: bool | None = None):
        """``y[N, out]`` for inputs ``x[N, in]`` (weight units): every tile reads through its own
        periphery (:func:`~.periphery.tiles_forward`, all tiles in one batched product), a tile
        with no driven row is not read, partial sums add digitally.

        ``w_n``/``scale``: other normalised weights and scale (training with noise); ``binary``:
        inputs are spikes (default: detected from the values)."""
        L = self.layout
        wt = self._wt if w_n is None else self._tiled(w_n)
        scale = self.scale if scale is None else scale
        if binary is None:
            binary = is_binary(x)
        n = x.shape[0]
        dt = wt.dtype
        R, C = len(L.row_blocks), len(L.col_blocks)
        x = x.to(dt)
        rows, cols = self._block
        if R * rows != L.n_in:
            x = torch.nn.functional.pad(x, (0, R * rows - L.n_in))
        xt = x.reshape(n, R, rows).transpose(0, 1).contiguous()               # [R, N, rows]
        active = xt != 0
        nz = active.any(dim=2)                                                  # [R, N]: tile read
        io = self.io
        extra = None
        sig_dev = self.read_noise_std() * math.sqrt(2.0)                       # two devices per weight
        if sig_dev > 0 and not io.is_perfect:
            s_nm = torch.ones(R, n, dtype=dt) if binary else xt.abs().amax(dim=2).clamp(min=1e-30)
            extra = sig_dev * torch.linalg.vector_norm(xt, dim=2) / s_nm
        y, reads = tiles_forward(xt, wt, io, generator, binary=binary, extra_noise_std=extra,
                                 nl_adc=self.nl_adc, cols=cols)
        reads = reads * nz.unsqueeze(2)
        if not bool(nz.all()):
            y.mul_(nz.unsqueeze(2))                       # a tile not read contributes nothing
        out = y[0] if R == 1 else y.sum(dim=0)
        out = out[:, :L.n_out]
        if count and n > 0:
            self._count(active, nz, reads, binary)
        out = out * (scale.reshape(1, -1) if scale.dim() else scale)
        if compensate and self.alpha is not None:
            out = out * (self.alpha.reshape(1, -1) if self.alpha.dim() else self.alpha)
        return out

    def _count(self, active, nz, reads, binary):
        L, c = self.layout, self.counts
        widths = torch.tensor([c1 - c0 for c0, c1 in L.col_blocks], dtype=torch.int64)
        rows_per = active.sum(dim=2)                                           # [R, N]
        n_reads = int(reads.sum())
        rows = int((reads * rows_per.unsqueeze(2)).sum())
        c["reads"] += n_reads
        c["row_activations"] += rows
        c["cells_read"] += 2 * int((reads * rows_per.unsqueeze(2) * widths).sum())
        g_tile = torch.bmm(active.to(torch.float64), self._row_g)              # [R, N, C] (S)
        c["conductance_sum_S"] += float((g_tile * reads).sum())
        tiles_per_vec = nz.sum(dim=0)                                          # [N]
        c["digital_accumulations"] += int((tiles_per_vec - 1).clamp(min=0).sum()) * int(widths.sum())
        if not self.io.is_perfect:
            bits = str(self.nl_adc.bits if self.nl_adc is not None else self.io.out_bits)
            c["adc_conversions"][bits] = c["adc_conversions"].get(bits, 0) + int((reads * widths).sum())
            if not binary:
                b = str(self.io.inp_bits)
                c["dac_conversions"][b] = c["dac_conversions"].get(b, 0) + rows

    def ledger_counts(self) -> dict:
        """A copy of the counts since the last :meth:`reset_counts`, with tiles and time."""
        c = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.counts.items()}
        c["tiles"] = self.layout.n_tiles
        c["t_inference_s"] = float(self.t_inference)
        return c

    def reset_counts(self):
        self.counts = empty_counts(self.device.name, self.layout.rows, self.layout.cols)
