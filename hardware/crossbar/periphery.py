"""Crossbar periphery: input DAC, output ADC, output noise, noise and bound management, and a
nonlinear ADC.

Names and defaults follow aihwkit's ``IOParameters`` (``src/aihwkit/simulator/parameters/io.py``)
so that its users feel at home: ``inp_res`` and ``out_res`` are the DAC / ADC step as a fraction
of the full range (``2 * inp_bound`` and ``2 * out_bound``): 1/126 (7 bits) and 1/510 (9 bits), so
a DAC step of 2/126 and an ADC step of 24/510 at the default bounds 1 and 12; ``out_noise`` is
additive Gaussian noise on every analog output (in units of a fully driven row of full-scale
weights); ``noise_management="abs_max"`` divides each input vector by its absolute maximum
before the DAC, ``"constant"`` by ``nm_constant``, ``"none"`` not at all; ``bound_management=
"iterative"`` halves the input of a vector whose output saturated the ADC and reads again, at most
``max_bm_halvings`` (4) times, i.e. 16x, the issue's reading of aihwkit; ``is_perfect`` switches all of it off.

Spike inputs (values 0/1) drive rows as binary read pulses: no DAC, no noise management.

The analog computation of one tile, for an input vector x (rows) and normalised weights W_n
(|W_n| <= 1, ``[cols, rows]``), is

    s = nm(x);  x_q = DAC(x / s / f);  y = ADC(clip(W_n x_q + out_noise N(0, 1), +-out_bound)) * s * f

with f = 1, 2, 4, ... chosen by bound management. With ``out_noise = 0`` this is a pure function of
the programmed weights and the input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["IOParameters", "PERFECT", "resolution_bits", "tile_forward", "NonlinearADC"]

_NOISE_MANAGEMENT = ("abs_max", "constant", "none")
_BOUND_MANAGEMENT = ("iterative", "none")


def resolution_bits(res: float) -> int:
    """Bits of a converter with step ``res`` (fraction of the full range): ceil(log2(1/res + 1));
    1/126 -> 7, 1/510 -> 9."""
    if res <= 0:
        return 0
    return int(math.ceil(math.log2(round(1.0 / res) + 1) - 1e-12))


@dataclass(frozen=True)
class IOParameters:
    """Periphery of a tile (aihwkit names and defaults; see the module docstring)."""

    inp_res: float = 1 / 126
    inp_bound: float = 1.0
    out_res: float = 1 / 510
    out_bound: float = 12.0
    out_noise: float = 0.06
    noise_management: str = "abs_max"
    nm_constant: float = 1.0
    bound_management: str = "iterative"
    max_bm_halvings: int = 4
    is_perfect: bool = False

    def __post_init__(self):
        for key in ("inp_res", "out_res"):
            r = getattr(self, key)
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or not (0 <= r <= 0.5):
                raise ValueError(f"IOParameters {key}={r!r}: expected a step in (0, 0.5] as a fraction of the "
                                 "full range (at least 1 bit; 1/126 is 7 bits), or 0 for no quantisation")
            if r > 0 and round(1.0 / r) > 2 ** 24:
                raise ValueError(f"IOParameters {key}={r!r}: finer than 24 bits; use 0 for no quantisation")
        for key in ("inp_bound", "out_bound", "nm_constant"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"IOParameters {key}={v!r}: expected a positive finite number")
        if not (math.isfinite(self.out_noise) and self.out_noise >= 0):
            raise ValueError(f"IOParameters out_noise={self.out_noise!r}: expected a standard deviation >= 0")
        if self.noise_management not in _NOISE_MANAGEMENT:
            raise ValueError(f"IOParameters noise_management={self.noise_management!r}: expected one of "
                             f"{_NOISE_MANAGEMENT}")
        if self.bound_management not in _BOUND_MANAGEMENT:
            raise ValueError(f"IOParameters bound_management={self.bound_management!r}: expected one of "
                             f"{_BOUND_MANAGEMENT}")
        if isinstance(self.max_bm_halvings, bool) or not isinstance(self.max_bm_halvings, int) \
                or not (0 <= self.max_bm_halvings <= 30):
            raise ValueError(f"IOParameters max_bm_halvings={self.max_bm_halvings!r}: expected an integer in 0..30")

    @classmethod
    def from_bits(cls, inp_bits: int = 7, out_bits: int = 9, **kw) -> "IOParameters":
        """DAC / ADC of ``inp_bits`` / ``out_bits`` (aihwkit's 1 / (2^b - 2) steps)."""
        for key, b in (("inp_bits", inp_bits), ("out_bits", out_bits)):
            if isinstance(b, bool) or not isinstance(b, int) or not (2 <= b <= 24):
                raise ValueError(f"{key}={b!r}: expected an ADC/DAC resolution of 2..24 bits")
        return cls(inp_res=1 / (2 ** inp_bits - 2), out_res=1 / (2 ** out_bits - 2), **kw)

    @property
    def dac_step(self) -> float:
        return 2 * self.inp_bound * self.inp_res

    @property
    def adc_step(self) -> float:
        return 2 * self.out_bound * self.out_res

    @property
    def inp_bits(self) -> int:
        return resolution_bits(self.inp_res)

    @property
    def out_bits(self) -> int:
        return resolution_bits(self.out_res)


PERFECT = IOParameters(is_perfect=True)


def _quantise(x, step):
    return x if step <= 0 else torch.round(x / step) * step


def tile_forward(x: torch.Tensor, w_n: torch.Tensor, io: IOParameters, generator=None, *, binary: bool = False,
                 extra_noise_std: torch.Tensor | float | None = None, nl_adc: "NonlinearADC | None" = None):
    """One tile read for every input vector: ``x[N, rows]`` (raw input), ``w_n[cols, rows]``
    (normalised weights). Returns ``(y[N, cols], reads[N])``: ``y`` in units of x times normalised
    weights, ``reads`` the array reads done for each vector (bound management reads again).
    (:func:`tiles_forward` with one tile.)"""
    e = None if extra_noise_std is None else torch.as_tensor(extra_noise_std, dtype=x.dtype).reshape(1, -1)
    y, reads = tiles_forward(x.unsqueeze(0), w_n.T.unsqueeze(0), io, generator, binary=binary,
                             extra_noise_std=e, nl_adc=nl_adc, cols=w_n.shape[0])
    return y[0], reads[0, :, 0]


def tiles_forward(xt: torch.Tensor, wt: torch.Tensor, io: IOParameters, generator=None, *, binary: bool = False,
                  extra_noise_std: torch.Tensor | None = None, nl_adc: "NonlinearADC | None" = None, cols: int):
    """Reads of ``R`` row tiles at once: ``xt[R, N, rows]`` (raw inputs of each row block),
    ``wt[R, rows, C * cols]`` (normalised weights, ``C`` column tiles of ``cols``). Each
    (row tile, vector, column tile) has its own noise management, DAC, ADC and bound management.
    Returns ``(y[R, N, C * cols], reads[R, N, C])``; ``extra_noise_std``: ``[R, N]`` or None."""
    R, n, _ = xt.shape
    out = wt.shape[2]
    C = out // cols
    if io.is_perfect:
        return torch.bmm(xt, wt), torch.ones(R, n, C, dtype=torch.int64, device=xt.device)
    if binary or io.noise_management == "none":
        scale = None
    elif io.noise_management == "abs_max":
        scale = xt.abs().amax(dim=2, keepdim=True)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    else:
        scale = torch.full((R, n, 1), io.nm_constant, dtype=xt.dtype, device=xt.device)
    xs = xt if scale is None else xt / scale
    extra = None if extra_noise_std is None else extra_noise_std.reshape(R, n, 1)
    y, sat = _read(xs, wt, io, generator, binary, extra, nl_adc, 1.0, cols)
    reads = torch.ones(R, n, C, dtype=torch.int64, device=xt.device)
    halvings = io.max_bm_halvings if (io.bound_management == "iterative" and nl_adc is None) else 0
    factor = 1.0
    for k in range(1, halvings + 1):
        todo = sat.any(dim=2)                                   # [R, N]: vectors with a saturated tile
        if not bool(todo.any()):
            break
        factor *= 2.0
        for r in range(R):
            idx = torch.nonzero(todo[r]).flatten()
            if idx.numel() == 0:
                continue
            e = None if extra is None else extra[r:r + 1, idx]
            yk, sk = _read(xs[r:r + 1, idx], wt[r:r + 1], io, generator, binary, e, None, factor, cols)
            redo = sat[r, idx]                                  # [M, C]: only saturated tiles read again
            reads[r, idx] += redo.to(torch.int64)
            mask = redo.repeat_interleave(cols, dim=1)          # [M, C * cols]
            y[r, idx] = torch.where(mask, yk[0], y[r, idx])
            sat[r, idx] = (redo & sk[0]) if k < halvings else torch.zeros_like(redo)
    if scale is not None:
        y.mul_(scale)
    return y, reads


def _read(xs, wt, io, generator, binary, extra, nl_adc, factor, cols):
    """One array read of normalised inputs ``xs[R, N, rows]`` divided by ``factor``: DAC,
    product, output noise, ADC. Returns (output times factor, saturated[R, N, C]). (In-place steps
    on fresh tensors: fewer allocations; the arithmetic of the module docstring's formula.)"""
    if binary:
        xk = xs if factor == 1.0 else xs / factor
    else:
        xk = (xs / factor).clamp_(-io.inp_bound, io.inp_bound)
        if io.dac_step > 0:
            xk.div_(io.dac_step).round_().mul_(io.dac_step)
    yk = torch.bmm(xk, wt)
    noise = io.out_noise
    if extra is not None:
        noise = torch.sqrt(noise ** 2 + (extra / factor) ** 2)
    if torch.is_tensor(noise) or noise > 0:
        yk.add_(torch.randn(yk.shape, generator=generator, dtype=yk.dtype, device=yk.device).mul_(noise))
    if nl_adc is not None:
        return nl_adc.convert(yk), None
    R, n, out = yk.shape
    saturated = yk.abs().reshape(R, n, out // cols, cols).amax(dim=3) >= io.out_bound
    yk.clamp_(-io.out_bound, io.out_bound)
    if io.adc_step > 0:
        yk.div_(io.adc_step).round_().mul_(io.adc_step)
    return (yk if factor == 1.0 else yk.mul_(factor)), saturated


@dataclass(frozen=True, eq=False)
class NonlinearADC:
    """A nonlinear ADC after Yang et al., Nat. Commun. (2025), "Efficient nonlinear function
    approximation in analog resistive crossbars": the ramp of the ADC is a column of memristors
    programmed to the thresholds ``f^-1`` of equally spaced output levels, so the conversion
    itself applies the nonlinearity ``f`` and the thresholds carry the device's programming noise.

    function: "sigmoid", "tanh" or "threshold" (a neuron's spike condition: output 1 where the
    input >= ``threshold``, else 0; one comparator); bits: output resolution (2^bits levels);
    in_range: analog inputs covered by the ramp (|y| <= in_range; beyond, the end levels).
    """

    function: str = "sigmoid"
    bits: int = 5
    in_range: float = 8.0
    threshold: float = 1.0
    thresholds_g: torch.Tensor | None = None     # programmed ramp (uS), set by program()
    g_per_unit: float = 1.0

    def __post_init__(self):
        if self.function not in ("sigmoid", "tanh", "threshold"):
            raise ValueError(f"NonlinearADC function={self.function!r}: expected 'sigmoid', 'tanh' or 'threshold'")
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not (1 <= self.bits <= 12):
            raise ValueError(f"NonlinearADC bits={self.bits!r}: expected a resolution of 1..12 bits")
        if not (math.isfinite(self.in_range) and self.in_range > 0):
            raise ValueError(f"NonlinearADC in_range={self.in_range!r}: expected a positive number")

    def levels(self) -> torch.Tensor:
        """Output value of each code 0..L-1."""
        if self.function == "threshold":
            return torch.tensor([0.0, 1.0], dtype=torch.float64)
        L = 2 ** self.bits
        lo, hi = (0.0, 1.0) if self.function == "sigmoid" else (-1.0, 1.0)
        return torch.linspace(lo, hi, L, dtype=torch.float64)

    def ideal_thresholds(self) -> torch.Tensor:
        """Analog input at which the code steps from k to k + 1: f^-1 of the midpoint of the two
        levels (so the ADC rounds f(y) to the nearest level), clipped to the ramp's range."""
        if self.function == "threshold":
            return torch.tensor([float(self.threshold)], dtype=torch.float64)
        lv = self.levels()
        mid = 0.5 * (lv[1:] + lv[:-1])
        inv = torch.logit(mid) if self.function == "sigmoid" else torch.atanh(mid)
        return inv.clamp(-self.in_range, self.in_range)

    def program(self, device, generator=None) -> "NonlinearADC":
        """The same ADC with its ramp programmed into a column of ``device`` (thresholds mapped
        linearly from [-in_range, in_range] onto [g_min, g_max], with programming noise)."""
        th = self.ideal_thresholds()
        span = max(self.in_range, float(th.abs().max()))
        g_per_unit = (device.g_max - device.g_min) / (2 * span)
        g_t = device.g_min + (th + span) * g_per_unit
        g = device.program(g_t, generator).g_prog
        return NonlinearADC(self.function, self.bits, self.in_range, self.threshold,
                            thresholds_g=(g - device.g_min) / g_per_unit - span, g_per_unit=g_per_unit)

    def thresholds(self) -> torch.Tensor:
        """Thresholds in use: the programmed ones, else the ideal ones."""
        return self.ideal_thresholds() if self.thresholds_g is None else self.thresholds_g

    def convert(self, y: torch.Tensor) -> torch.Tensor:
        """Output level of each analog value: code = number of thresholds at or below y (a ramp
        comparison, so noisy thresholds that cross simply merge codes)."""
        th = self.thresholds().to(y.dtype)
        code = (y.unsqueeze(-1) >= th).sum(-1)
        return self.levels().to(y.dtype)[code]
