"""Fused multi-step recurrences as autograd Functions with their own backward pass.

A per-step Python loop of element-wise torch ops costs tens of microseconds per op and per step,
forward and backward; over T = 100 steps that overhead dominates a small network's training
step. Here the whole recurrence over ``[T, ...]`` is one autograd node:

* forward: one loop over time (a numba kernel on CPU for float32/float64, a torch loop on other
  devices and dtypes) that saves only ``h[t] = v_pre[t] - v_th`` for the backward pass;
* backward: the surrogate derivative is evaluated once over the whole ``[T, ...]`` tensor, then one
  reverse-time loop accumulates dL/dI (BPTT); with ``temporal_grad=False`` (SLTT, Meng et al.
  2023) the previous state is treated as a constant, so dL/dI[t] = c dL/ds[t] g(h[t]) needs no
  loop at all.

Both backends perform the same operations in the same order and dtype; the tests require them
to agree (spikes exactly, gradients to rounding) and require the fused gradient to equal autograd
through the step function :func:`spiking.nn.functional.lif_step`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .surrogate import Surrogate

BACKENDS = ("auto", "numba", "torch")

try:  # numba is a core dependency, but keep the torch path usable without it
    from . import _kernels
    _HAVE_NUMBA = True
except Exception:  # pragma: no cover
    _kernels = None
    _HAVE_NUMBA = False


def _np_dtype(dtype):
    return np.float32 if dtype == torch.float32 else np.float64


def resolve_backend(backend: str, x: torch.Tensor) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: expected one of {BACKENDS}")
    numba_ok = _HAVE_NUMBA and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
    if backend == "numba" and not numba_ok:
        raise ValueError(f"backend='numba' needs a CPU float32/float64 tensor (numba available: {_HAVE_NUMBA}), "
                         f"got {x.dtype} on {x.device}")
    if backend == "auto":
        return "numba" if numba_ok else "torch"
    return backend


@dataclass(frozen=True)
class LIFConfig:
    """Constant (non-tensor) settings of a fused LIF recurrence, in v_rest-shifted coordinates."""

    drive: float          # constant increment per step (from i_offset)
    th: float             # v_th - v_rest
    ur: float             # v_reset - v_rest
    soft: bool
    detach_reset: bool
    decay_input: bool     # input scaled by c = 1 - beta (Fang et al. 2021), else c = 1
    surrogate: Surrogate
    temporal_grad: bool = True
    backend: str = "auto"


def _scalars(beta: float, cfg: LIFConfig, dtype):
    """[beta, c, drive, th, ur, dc/dbeta] rounded to ``dtype``, so both backends use equal values."""
    c = 1.0 - beta if cfg.decay_input else 1.0
    dc = -1.0 if cfg.decay_input else 0.0
    return np.array([beta, c, cfg.drive, cfg.th, cfg.ur, dc], dtype=_np_dtype(dtype))


def _surrogate_constants(spec, dtype):
    code, values = spec
    dt = _np_dtype(dtype)
    vals = list(values)
    if code == 4:  # rectangle: 1/width rounded in the data dtype, as torch's mask / width
        vals[1] = dt(1) / dt(values[1])
    return code, np.array(vals, dtype=dt)


# --------------------------------------------------------------------------------------------
# torch reference loops (GPU, half precision, or when forced): same operations as the kernels
# --------------------------------------------------------------------------------------------
def _lif_forward_torch(I, u0, prm, soft):
    beta, c, drive, th, ur = (float(v) for v in prm[:5])
    jump = float(prm[3] - prm[4])
    T = I.shape[0]
    h = torch.empty_like(I)
    s = torch.empty_like(I)
    u = u0.clone()
    for t in range(T):
        up = beta * u + c * I[t] + drive
        ht = up - th
        h[t] = ht
        fired = ht >= 0
        s[t] = fired
        u = torch.where(fired, up - jump, up) if soft else torch.where(fired, torch.full_like(up, ur), up)
    return s, h, u


def _lif_backward_torch(gs, h, sg, gT, prm, soft, detach_reset):
    beta, c, _, th, ur = (float(v) for v in prm[:5])
    jump = float(prm[3] - prm[4])
    T = h.shape[0]
    gpre_all = torch.empty_like(h)
    g = gT.clone()
    for t in range(T - 1, -1, -1):
        if detach_reset:
            tmp = gs[t] * sg[t]
        elif soft:
            tmp = (gs[t] - g * jump) * sg[t]
        else:
            tmp = (gs[t] + g * (ur - (h[t] + th))) * sg[t]
        gpre = g + tmp if soft else torch.where(h[t] < 0, g + tmp, tmp)
        gpre_all[t] = gpre
        g = beta * gpre
    return gpre_all, g


def _u_prev_torch(h, u0, prm, soft):
    """u[t-1] for every t, rebuilt from the saved h (for the gradient of a learnable decay)."""
    th, ur = float(prm[3]), float(prm[4])
    jump = float(prm[3] - prm[4])
    up = h[:-1] + th
    fired = h[:-1] >= 0
    post = torch.where(fired, up - jump, up) if soft else torch.where(fired, torch.full_like(up, ur), up)
    return torch.cat([u0.unsqueeze(0), post], 0)


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, I, u0, beta, cfg: LIFConfig):
        T = I.shape[0]
        shape = I.shape
        beta_f = float(beta) if not torch.is_tensor(beta) else float(beta.detach())
        prm = _scalars(beta_f, cfg, I.dtype)
        I2 = I.detach().contiguous().view(T, -1)
        u02 = u0.detach().contiguous().view(-1)
        backend = resolve_backend(cfg.backend, I)
        if backend == "numba":
            s = torch.empty_like(I2)
            h = torch.empty_like(I2)
            uT = torch.empty_like(u02)
            _kernels.lif_forward(I2.numpy(), u02.numpy(), prm, cfg.soft, s.numpy(), h.numpy(), uT.numpy())
        else:
            s, h, uT = _lif_forward_torch(I2, u02, prm, cfg.soft)
        learn_beta = torch.is_tensor(beta) and beta.requires_grad
        ctx.cfg, ctx.prm, ctx.backend, ctx.shape, ctx.learn_beta = cfg, prm, backend, shape, learn_beta
        if learn_beta:
            ctx.save_for_backward(h, u02, I2)
        else:
            ctx.save_for_backward(h)
        return s.view(shape), uT.view(shape[1:])

    @staticmethod
    def backward(ctx, gs, guT):
        cfg, prm, shape = ctx.cfg, ctx.prm, ctx.shape
        h = ctx.saved_tensors[0]
        T = h.shape[0]
        gs = torch.zeros_like(h) if gs is None else gs.contiguous().view(T, -1)
        g_beta = None
        spec = cfg.surrogate.kernel_spec()
        in_kernel = (cfg.temporal_grad and ctx.backend == "numba" and not ctx.learn_beta and spec is not None)
        sg = None if in_kernel else cfg.surrogate.derivative(h)
        if not cfg.temporal_grad:
            # SLTT: u[t-1] is a constant, so each step's gradient is local in time.
            gpre = gs * sg
            gI = float(prm[1]) * gpre
            g_u0 = None
            if ctx.learn_beta:
                _, u0, I = ctx.saved_tensors
                dc = float(prm[5])
                up = _u_prev_torch(h, u0, prm, cfg.soft)
                g_beta = (gpre * (up + dc * I)).sum()
        else:
            gT = torch.zeros_like(h[0]) if guT is None else guT.contiguous().view(-1)
            if ctx.backend == "numba":
                gI = torch.empty_like(h)
                g_u0 = torch.empty_like(gT)
                if ctx.learn_beta:
                    _, u0, I = ctx.saved_tensors
                    gb = torch.empty_like(gT)
                    _kernels.lif_backward_beta(gs.numpy(), h.numpy(), sg.numpy(), gT.numpy(), prm, cfg.soft,
                                               cfg.detach_reset, u0.numpy(), I.numpy(), gI.numpy(),
                                               g_u0.numpy(), gb.numpy())
                    g_beta = gb.sum()
                elif in_kernel:
                    code, sp = _surrogate_constants(spec, h.dtype)
                    _kernels.lif_backward(gs.numpy(), h.numpy(), h[:1].numpy(), gT.numpy(), prm, cfg.soft,
                                          cfg.detach_reset, gI.numpy(), g_u0.numpy(), code, sp)
                else:
                    _kernels.lif_backward(gs.numpy(), h.numpy(), sg.numpy(), gT.numpy(), prm, cfg.soft,
                                          cfg.detach_reset, gI.numpy(), g_u0.numpy(), -1, prm)
            else:
                gpre, g_u0 = _lif_backward_torch(gs, h, sg, gT, prm, cfg.soft, cfg.detach_reset)
                gI = float(prm[1]) * gpre
                if ctx.learn_beta:
                    _, u0, I = ctx.saved_tensors
                    up = _u_prev_torch(h, u0, prm, cfg.soft)
                    g_beta = (gpre * (up + float(prm[5]) * I)).sum()
            g_u0 = g_u0.view(shape[1:])
        if g_beta is not None:
            g_beta = g_beta.to(ctx.saved_tensors[0].dtype).reshape(())
        return gI.view(shape), g_u0, g_beta, None


def lif_fused(I: torch.Tensor, u0: torch.Tensor, beta, cfg: LIFConfig):
    """Run the LIF recurrence over the first axis of ``I`` (shifted coordinates).

    ``I``: input [T, ...] (already summed synaptic input per step); ``u0``: state u[-1] [...];
    ``beta``: float, or a 0-d tensor (learnable decay). Returns spikes [T, ...] and u[T-1].
    """
    if I.dim() < 1 or I.shape[1:] != u0.shape:
        raise ValueError(f"input of shape {tuple(I.shape)} and state of shape {tuple(u0.shape)}: "
                         "expected input [T, *state.shape]")
    if I.shape[0] == 0:
        raise ValueError("input with T = 0 steps: expected at least one step")
    return _LIFSequence.apply(I, u0, beta, cfg)


# --------------------------------------------------------------------------------------------
# first-order linear filter y[t] = a y[t-1] + b x[t] (leaky readout, synaptic current)
# --------------------------------------------------------------------------------------------
def _filter_forward_torch(x, y0, a, b):
    y = torch.empty_like(x)
    prev = y0
    for t in range(x.shape[0]):
        prev = a * prev + b * x[t]
        y[t] = prev
    return y


def _filter_backward_torch(gy, gT, a, b):
    gx = torch.empty_like(gy)
    g = gT.clone()
    for t in range(gy.shape[0] - 1, -1, -1):
        g = gy[t] + g
        gx[t] = b * g
        g = a * g
    return gx, g


class _Filter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y0, a: float, b: float, temporal_grad: bool, backend: str):
        T, shape = x.shape[0], x.shape
        prm = np.array([a, b], dtype=_np_dtype(x.dtype))
        x2 = x.detach().contiguous().view(T, -1)
        y02 = y0.detach().contiguous().view(-1)
        backend = resolve_backend(backend, x)
        if backend == "numba":
            y = torch.empty_like(x2)
            _kernels.filter_forward(x2.numpy(), y02.numpy(), prm, y.numpy())
        else:
            y = _filter_forward_torch(x2, y02, float(prm[0]), float(prm[1]))
        ctx.prm, ctx.backend, ctx.shape, ctx.temporal_grad = prm, backend, shape, temporal_grad
        return y.view(shape)

    @staticmethod
    def backward(ctx, gy):
        prm, shape = ctx.prm, ctx.shape
        T = shape[0]
        gy = gy.contiguous().view(T, -1)
        if not ctx.temporal_grad:
            return (float(prm[1]) * gy).view(shape), None, None, None, None, None
        gT = torch.zeros_like(gy[0])
        if ctx.backend == "numba":
            gx = torch.empty_like(gy)
            g0 = torch.empty_like(gT)
            _kernels.filter_backward(gy.numpy(), gT.numpy(), prm, gx.numpy(), g0.numpy())
        else:
            gx, g0 = _filter_backward_torch(gy, gT, float(prm[0]), float(prm[1]))
        return gx.view(shape), g0.view(shape[1:]), None, None, None, None


def filter_fused(x: torch.Tensor, y0: torch.Tensor, a: float, b: float, *, temporal_grad: bool = True,
                 backend: str = "auto") -> torch.Tensor:
    """``y[t] = a y[t-1] + b x[t]`` over the first axis of ``x`` with ``y[-1] = y0``; returns all y.

    The final state is ``y[-1]``, so the gradient through it reaches ``x`` via the returned sequence.
    With ``temporal_grad=False`` the dependence on ``y[t-1]`` is treated as constant (SLTT).
    """
    if x.shape[1:] != y0.shape:
        raise ValueError(f"input of shape {tuple(x.shape)} and state of shape {tuple(y0.shape)}: "
                         "expected input [T, *state.shape]")
    return _Filter.apply(x, y0, float(a), float(b), bool(temporal_grad), backend)
