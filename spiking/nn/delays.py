"""Learnable synaptic delays: DCLS, Dilated Convolution with Learnable Spacings, over time.

Hammouamri, Khalfaoui-Hassani & Masquelier, "Learning Delays in Spiking Neural Networks using
Dilated Convolutions with Learnable Spacings", ICLR 2024 (code: ``Thvnvtos/SNN-delays``,
``snn_delays.py`` and ``best_config_SHD.py``; kernel construction: the authors' library ``dcls``,
``DCLS/construct/modules.py``, ``ConstructKernel1d.forward_vgauss``).

Each synapse (o, i) has a weight ``w`` and a position ``p``; its temporal kernel over ``M`` taps
(``M`` odd, ``M = max_delay``) is one Gaussian element::

    g[n] = exp(-1/2 ((n - (p + M//2)) / (|sigma| + 0.27))^2),     n = 0..M-1
    k[n] = w g[n] / (sum_n g[n] + 1e-7)

and the layer is a 1-D convolution over time of the input padded by ``M - 1`` steps on the left
(causal) and ``right_pad`` steps on the right (default ``(M - 1) // 2``, as the authors), so
delayed spikes still arrive: ``y[t] = sum_n k[n] x[t - (M - 1) + n]`` for
``t = 0..T + right_pad - 1``. Tap ``n`` is a delay of ``M - 1 - n`` steps; the Gaussian's centre
is the delay ``d = M//2 - p``. Positions are clamped to ``[-(M//2), M//2]`` (so ``0 <= d <= M-1``)
by :meth:`DelayedLinear.clamp_positions`, called after each optimiser step.

``sigma`` starts at ``M // 2`` and shrinks by ``(0.23 / sigma0) ** (1 / final_epoch)`` per epoch
for the first quarter of training (:class:`SigmaSchedule`), reaching 0.23, an effective width
0.23 + 0.27 = 0.5. In evaluation mode (``module.eval()``), or with ``hard=True``, the kernel is
the limit sigma -> 0 with rounded positions: exactly ``w`` at the integer delay ``d`` and 0
elsewhere (the authors' code evaluates with ``sigma = 0``, i.e. width 0.27, whose neighbouring
taps still hold 0.1 % of the weight; we take the exact limit, which is what an event engine
runs). One-hot kernels take a gather path (numba, CPU): ``y[t, o] += w[o, i] x[t - d[o, i], i]``
over the input rows that have any spike, instead of a dense convolution with ``M`` times the
work; :func:`delay_line` is the plain reference of the same operation.

Two optimisers, as the authors' SHD configuration (:func:`delay_optimizers`): Adam for the
weights (lr 1e-3, one-cycle to 5e-3 over the epochs, weight decay 1e-5) and Adam for the
positions (lr 0.1 = 100 x lr_w, cosine annealing), both stepped once per epoch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .layers import SpikingModule

try:
    from numba import njit
    _HAVE_NUMBA = True
except Exception:  # pragma: no cover
    _HAVE_NUMBA = False

__all__ = ["DelayedLinear", "SigmaSchedule", "TimeDropout", "gaussian_kernel", "onehot_kernel", "onehot_delay", "delay_line",
           "delay_optimizers", "SIGMA_OFFSET", "SIGMA_FINAL"]

SIGMA_OFFSET = 0.27      # added to |sigma| in the Gaussian (dcls forward_vgauss)
SIGMA_FINAL = 0.23       # sigma at the end of the schedule: width 0.23 + 0.27 = 0.5 (snn_delays.decrease_sig)
KERNEL_EPS = 1e-7        # normaliser of the kernel (dcls forward_vgauss)


def _check_max_delay(max_delay) -> int:
    if isinstance(max_delay, bool) or not isinstance(max_delay, (int, np.integer)):
        raise ValueError(f"max_delay={max_delay!r}: expected an odd integer >= 1 (taps M of the delay kernel)")
    if max_delay < 1 or max_delay % 2 == 0:
        raise ValueError(f"max_delay={max_delay}: expected an odd integer >= 1 (taps M of the delay kernel, "
                         "so that the kernel has a centre tap)")
    return int(max_delay)


def gaussian_kernel(weight: torch.Tensor, positions: torch.Tensor, sigma, max_delay: int) -> torch.Tensor:
    """The DCLS Gaussian kernel ``k[o, i, n]`` ([out, in, M]) of weights and positions [out, in]."""
    M = _check_max_delay(max_delay)
    n = torch.arange(M, dtype=weight.dtype, device=weight.device)
    sig = torch.as_tensor(sigma, dtype=weight.dtype, device=weight.device).abs() + SIGMA_OFFSET
    g = torch.exp(-0.5 * ((n - (positions.unsqueeze(-1) + M // 2)) / sig) ** 2)
    return (g / (g.sum(-1, keepdim=True) + KERNEL_EPS)) * weight.unsqueeze(-1)


def onehot_kernel(weight: torch.Tensor, delays: torch.Tensor, max_delay: int) -> torch.Tensor:
    """The kernel of integer delays: ``k[o, i, M-1-d[o, i]] = w[o, i]``, 0 elsewhere."""
    M = _check_max_delay(max_delay)
    _check_delays(delays, M)
    tap = (M - 1 - delays).long().unsqueeze(-1)
    return torch.zeros(*weight.shape, M, dtype=weight.dtype, device=weight.device).scatter(
        -1, tap, weight.unsqueeze(-1))


def _check_delays(delays, M):
    d = torch.as_tensor(delays)
    if d.numel() and (int(d.min()) < 0 or int(d.max()) > M - 1):
        bad = int(d.max()) if int(d.max()) > M - 1 else int(d.min())
        raise ValueError(f"delay {bad} steps: expected delays in 0..{M - 1} for a kernel of M={M} taps")


def delay_line(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor, right_pad: int = 0) -> torch.Tensor:
    """Reference: ``y[t, b, o] = sum_i w[o, i] x[t - d[o, i], b, i]`` for t = 0..T + right_pad - 1,
    one shifted copy of the input per synapse (slow; for tests)."""
    T, B, n_in = x.shape
    out = torch.zeros(T + right_pad, B, weight.shape[0], dtype=x.dtype)
    for o in range(weight.shape[0]):
        for i in range(n_in):
            d = int(delays[o, i])
            stop = min(T, T + right_pad - d)
            if stop > 0:
                out[d:d + stop, :, o] += weight[o, i] * x[:stop, :, i]
    return out


# --------------------------------------------------------------------------- gather path

if _HAVE_NUMBA:
    # Row kernels on 1-D contiguous slices: in this form LLVM vectorises them (measured: the
    # same loops written over 3-D indices ran 4-5x slower, scalar). fastmath lets the adds fuse
    # with the products (FMA); with binary spikes w * 1 is exact, so the forward sums still equal
    # the reference delay line's bit for bit.
    @njit(cache=True, nogil=True, fastmath=True)
    def _axpy(dst, src, a):
        for t in range(dst.shape[0]):
            dst[t] += a * src[t]

    @njit(cache=True, nogil=True, fastmath=True)
    def _dot(a, b):
        acc = 0.0
        for t in range(a.shape[0]):
            acc += a[t] * b[t]
        return acc

    @njit(cache=True, nogil=True)
    def _row_events(x):
        """CSR of the nonzero entries of each row x[b, i, :]: (indptr [B*I+1], times, values)."""
        B, I, T = x.shape
        indptr = np.zeros(B * I + 1, np.int64)
        for r in range(B * I):
            b, i = r // I, r % I
            c = 0
            for t in range(T):
                if x[b, i, t] != 0:
                    c += 1
            indptr[r + 1] = indptr[r] + c
        times = np.empty(indptr[-1], np.int64)
        values = np.empty(indptr[-1], x.dtype)
        for r in range(B * I):
            b, i = r // I, r % I
            k = indptr[r]
            for t in range(T):
                if x[b, i, t] != 0:
                    times[k] = t
                    values[k] = x[b, i, t]
                    k += 1
        return indptr, times, values

    @njit(cache=True, nogil=True)
    def _onehot_forward(x, indptr, times, values, w, d, y):
        """y[b, o, t + d] += w[o, i] x[b, i, t] (x [B, I, T], y [B, O, T_out] zeroed). Rows with few
        events are added event by event (work = events x O), dense rows as shifted vector adds."""
        B, I, T = x.shape
        O, T_out = y.shape[1], y.shape[2]
        for b in range(B):
            for i in range(I):
                r = b * I + i
                lo, hi = indptr[r], indptr[r + 1]
                if hi == lo:
                    continue
                if 8 * (hi - lo) < T:
                    for o in range(O):
                        wv = w[o, i]
                        dd = d[o, i]
                        for k in range(lo, hi):
                            t = times[k] + dd
                            if t < T_out:
                                y[b, o, t] += wv * values[k]
                else:
                    for o in range(O):
                        dd = d[o, i]
                        n = min(T, T_out - dd)
                        _axpy(y[b, o, dd:dd + n], x[b, i, :n], w[o, i])

    @njit(cache=True, nogil=True)
    def _onehot_backward(x, indptr, times, values, w, d, gy, gx, gw, need_x, need_w):
        """gx[b, i, t] = sum_o w[o, i] gy[b, o, t + d]; gw[o, i] = sum_b,t x[b, i, t] gy[b, o, t + d]."""
        B, I, T = x.shape
        O, T_out = gy.shape[1], gy.shape[2]
        for b in range(B):
            for o in range(O):
                go = gy[b, o]
                for i in range(I):
                    dd = d[o, i]
                    if need_x:
                        n = min(T, T_out - dd)
                        _axpy(gx[b, i, :n], go[dd:dd + n], w[o, i])
                    if need_w:
                        r = b * I + i
                        acc = 0.0
                        for k in range(indptr[r], indptr[r + 1]):
                            t = times[k] + dd
                            if t < T_out:
                                acc += values[k] * go[t]
                        gw[o, i] += acc


class _OneHotDelay(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, delays, t_out):
        # x [T, B, I] -> [B, I, T] (the time axis innermost, so the shifted adds vectorise)
        xb = x.detach().permute(1, 2, 0).contiguous()
        events = _row_events(xb.numpy())
        w = weight.detach().contiguous().numpy()
        d = delays.contiguous().numpy()
        y = torch.zeros(xb.shape[0], w.shape[0], t_out, dtype=x.dtype)
        _onehot_forward(xb.numpy(), *events, w, d, y.numpy())
        ctx.save_for_backward(xb, weight, delays)
        ctx.events = events
        return y.permute(2, 0, 1)

    @staticmethod
    def backward(ctx, grad_out):
        xb, weight, delays = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gy = grad_out.permute(1, 2, 0).contiguous()
        gx = torch.zeros_like(xb)
        gw = torch.zeros(weight.shape, dtype=torch.float64)
        _onehot_backward(xb.numpy(), *ctx.events, weight.detach().contiguous().numpy(), delays.contiguous().numpy(),
                         gy.numpy(), gx.numpy(), gw.numpy(), need_x, need_w)
        return (gx.permute(2, 0, 1) if need_x else None, gw.to(weight.dtype) if need_w else None, None, None)


def onehot_delay(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor, right_pad: int,
                 max_delay: int, gather: bool | None = None) -> torch.Tensor:
    """``y[t, b, o] = sum_i w[o, i] x[t - d[o, i], b, i]`` for t < T + right_pad: the gather path
    (numba, CPU float32/float64) or, elsewhere or with ``gather=False``, a convolution with the
    one-hot kernel."""
    T = x.shape[0]
    usable = (_HAVE_NUMBA and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
              and weight.dtype == x.dtype)
    if gather is None:
        gather = usable
    if gather:
        if not usable:
            raise ValueError(f"gather=True needs numba and CPU float32/float64 tensors of one dtype "
                             f"(got {x.device}, {x.dtype}, weight {weight.dtype})")
        return _OneHotDelay.apply(x, weight, delays.to(torch.int64), T + right_pad)
    return _conv(x, onehot_kernel(weight, delays, max_delay), max_delay, right_pad)


def _conv(x, kernel, M, right_pad):
    xb = F.pad(x.permute(1, 2, 0), (M - 1, right_pad))
    return F.conv1d(xb, kernel).permute(2, 0, 1)


# --------------------------------------------------------------------------- the layer

class DelayedLinear(SpikingModule):
    """A linear layer with one learnable delay per synapse (DCLS, Gaussian kernel of M taps).

    ``x[T, B, in] -> y[T + right_pad, B, out]``. ``max_delay`` (M) must be odd; M = 1 is a plain
    linear layer. ``sigma``: the initial width parameter (default M // 2, the authors' sigInit);
    ``hard``: always use the one-hot kernel (fixed integer delays: train the weights only);
    ``learn_positions``: False freezes the positions (no gradient); ``generator``: the
    torch.Generator of the initial weights (Kaiming uniform) and positions (uniform in
    [-(M//2), M//2], the authors' init). In training mode (and not ``hard``) the kernel is
    Gaussian; in evaluation mode it is one-hot at the rounded positions.
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int = 25, *, sigma: float | None = None,
                 right_pad: int | None = None, hard: bool = False, learn_positions: bool = True,
                 gather: bool | None = None, generator: torch.Generator | None = None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: expected a positive integer")
        self.in_features, self.out_features = in_features, out_features
        self.max_delay = _check_max_delay(max_delay)
        self.lim = self.max_delay // 2
        self.right_pad = (self.max_delay - 1) // 2 if right_pad is None else int(right_pad)
        if self.right_pad < 0:
            raise ValueError(f"right_pad={right_pad}: expected >= 0 steps")
        self.hard = bool(hard)
        self.gather = gather
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.positions = nn.Parameter(torch.empty(out_features, in_features), requires_grad=bool(learn_positions))
        self.register_buffer("sigma", torch.tensor(float(self.lim if sigma is None else sigma)))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        with torch.no_grad():
            # Kaiming uniform for a ReLU gain (snn_delays.init_model): bound sqrt(6 / fan_in)
            bound = math.sqrt(6.0 / self.in_features)
            self.weight.copy_(torch.rand(self.weight.shape, generator=generator) * (2 * bound) - bound)
            self.positions.copy_(torch.rand(self.positions.shape, generator=generator) * (2 * self.lim) - self.lim)

    # -- delays ----------------------------------------------------------------------------

    def clamp_positions(self) -> None:
        """Positions back into [-(M//2), M//2] (call after each optimiser step)."""
        with torch.no_grad():
            self.positions.clamp_(-self.lim, self.lim)

    def set_sigma(self, sigma: float) -> None:
        self.sigma.fill_(float(sigma))

    def delays(self) -> torch.Tensor:
        """Integer delays in steps, ``M//2 - round(p)`` with p clamped (int64 [out, in])."""
        p = self.positions.detach().clamp(-self.lim, self.lim)
        return (self.lim - torch.round(p)).to(torch.int64)

    def set_delays(self, delays) -> None:
        """Set the positions to integer delays (0..M-1 steps) [out, in]."""
        d = torch.as_tensor(delays)
        if d.shape != self.positions.shape:
            raise ValueError(f"delays of shape {tuple(d.shape)}: expected {tuple(self.positions.shape)}")
        _check_delays(d, self.max_delay)
        with torch.no_grad():
            self.positions.copy_(self.lim - d.to(self.positions.dtype))

    def is_onehot(self) -> bool:
        return self.hard or not self.training

    def kernel(self) -> torch.Tensor:
        """The kernel in use, [out, in, M] (Gaussian in training, one-hot otherwise)."""
        if self.is_onehot():
            return onehot_kernel(self.weight, self.delays(), self.max_delay)
        return gaussian_kernel(self.weight, self.positions, self.sigma, self.max_delay)

    # -- forward ---------------------------------------------------------------------------

    def forward(self, x, state=None, temporal_grad: bool = True):
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"input of shape {tuple(x.shape)}: expected [T, B, {self.in_features}]")
        if self.is_onehot():
            y = onehot_delay(x, self.weight, self.delays(), self.right_pad, self.max_delay, self.gather)
        else:
            y = _conv(x, self.kernel(), self.max_delay, self.right_pad)
        return y, None

    def config(self):
        return {"type": "DelayedLinear", "in_features": self.in_features, "out_features": self.out_features,
                "max_delay": self.max_delay, "right_pad": self.right_pad, "hard": self.hard,
                "learn_positions": self.positions.requires_grad}

    def extra_repr(self):
        return (f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, right_pad={self.right_pad}, "
                f"sigma={float(self.sigma):.4g}, hard={self.hard}")


class TimeDropout(nn.Dropout, SpikingModule):
    """Dropout whose mask is drawn once per sample and shared by all time steps of ``[T, B, ...]``
    (SpikingJelly's ``layer.Dropout`` in multi-step mode, which the authors' SHD network uses).
    An ``nn.Dropout``, so export treats it as the identity it is in evaluation."""

    def forward(self, x, state=None, temporal_grad: bool = True):
        if not self.training or self.p == 0:
            return x, None
        keep = torch.empty(x.shape[1:], dtype=x.dtype, device=x.device).bernoulli_(1 - self.p) / (1 - self.p)
        return x * keep, None

    def config(self):
        return {"type": "TimeDropout", "p": self.p}


# --------------------------------------------------------------------------- training schedule

@dataclass(frozen=True)
class SigmaSchedule:
    """sigma for each epoch: ``sigma0 * alpha ** epoch`` with ``alpha = (0.23 / sigma0) ** (1 / final_epoch)``
    until ``final_epoch`` (the first quarter of training, ``epochs // 4``), 0.23 from then on.

    The authors multiply sigma by alpha after each epoch while ``epoch < final_epoch``
    (snn_delays.decrease_sig); this is the same sequence written in closed form, with the last
    value set to 0.23 exactly (width 0.5) rather than the product's rounding of it.
    """

    sigma0: float
    final_epoch: int

    def __post_init__(self):
        if not (self.sigma0 > 0 and math.isfinite(self.sigma0)):
            raise ValueError(f"SigmaSchedule.sigma0={self.sigma0}: expected a finite number > 0")
        if isinstance(self.final_epoch, bool) or not isinstance(self.final_epoch, int) or self.final_epoch < 0:
            raise ValueError(f"SigmaSchedule.final_epoch={self.final_epoch!r}: expected an integer >= 0")

    @classmethod
    def for_training(cls, max_delay: int, epochs: int) -> "SigmaSchedule":
        return cls(float(_check_max_delay(max_delay) // 2 or SIGMA_FINAL), int(epochs) // 4)

    @property
    def alpha(self) -> float:
        return (SIGMA_FINAL / self.sigma0) ** (1.0 / self.final_epoch) if self.final_epoch else 1.0

    def __call__(self, epoch: int) -> float:
        """sigma during epoch ``epoch`` (0-based)."""
        if epoch < 0:
            raise ValueError(f"epoch={epoch}: expected >= 0")
        if epoch >= self.final_epoch or self.sigma0 <= SIGMA_FINAL:
            return SIGMA_FINAL if self.sigma0 > SIGMA_FINAL else self.sigma0
        return self.sigma0 * self.alpha ** epoch

    def width(self, epoch: int) -> float:
        """The effective Gaussian width |sigma| + 0.27."""
        return self(epoch) + SIGMA_OFFSET


def delay_optimizers(model: nn.Module, epochs: int, lr_w: float = 1e-3, lr_pos: float = 0.1,
                     weight_decay: float = 1e-5):
    """(optimizers, schedulers) of the authors' SHD configuration (best_config_SHD.py):
    Adam(weights and all other parameters, lr_w, weight decay) with a one-cycle schedule to 5 lr_w
    over ``epochs`` steps, and Adam(positions, lr_pos) with cosine annealing over ``epochs``;
    step the schedulers once per epoch. Positions that do not require grad get no optimiser."""
    positions = [m.positions for m in model.modules() if isinstance(m, DelayedLinear) and m.positions.requires_grad]
    pos_ids = {id(p) for m in model.modules() if isinstance(m, DelayedLinear) for p in [m.positions]}
    others = [p for p in model.parameters() if id(p) not in pos_ids and p.requires_grad]
    opt_w = torch.optim.Adam(others, lr=lr_w, weight_decay=weight_decay)
    optimizers = [opt_w]
    schedulers = [torch.optim.lr_scheduler.OneCycleLR(opt_w, max_lr=5 * lr_w, total_steps=max(1, int(epochs)))]
    if positions:
        opt_p = torch.optim.Adam(positions, lr=lr_pos)
        optimizers.append(opt_p)
        schedulers.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt_p, T_max=max(1, int(epochs))))
    return optimizers, schedulers
