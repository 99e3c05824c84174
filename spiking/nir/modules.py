"""The few layers NIR needs that :mod:`spiking.nn` does not have: an elementwise gain, a bias,
a delay line and sum pooling. They take ``[T, B, ...]`` like the other layers; ``Delay`` carries
state and so is a :class:`~spiking.nn.SpikingModule` (``forward(x, state) -> (y, state)``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..nn.layers import LIF, LeakyReadout, SpikingModule

__all__ = ["Scale", "Bias", "Delay", "Threshold", "RecurrentCubaLIF", "SumPool2d", "AvgPool2d", "Conv1d"]


class Scale(nn.Module):
    """``y = x * scale`` elementwise over the feature dimensions (NIR ``Scale``; also the input gain
    ``dt r / tau`` of an Euler-integrated neuron, kept apart from the weights so that the imported
    model does the peer library's floating-point operations)."""

    def __init__(self, scale):
        super().__init__()
        # kept in float64 until the model is cast (from_nir casts it to the dtype it runs in)
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float64)))

    def forward(self, x):
        return x * self.scale.to(x.dtype)

    def config(self):
        return {"type": "Scale", "scale": self.scale.tolist()}


class Bias(nn.Module):
    """``y = x + bias`` (the bias of a recurrent Affine, which acts on every step)."""

    def __init__(self, bias):
        super().__init__()
        self.register_buffer("bias", torch.as_tensor(np.asarray(bias, dtype=np.float64)))

    def forward(self, x):
        return x + self.bias.to(x.dtype)

    def config(self):
        return {"type": "Bias", "bias": self.bias.tolist()}


class Delay(SpikingModule):
    """``y[t] = x[t - d]`` with ``d`` whole steps (a scalar or one per feature; 0 allowed); the
    state holds the last ``max(d)`` inputs (zeros at the start)."""

    def __init__(self, steps, feature_shape=None):
        super().__init__()
        d = np.asarray(steps)
        if d.size == 0 or not np.all(d == np.round(d)) or np.any(d < 0):
            raise ValueError(f"Delay steps={steps!r}: expected whole numbers of steps >= 0")
        d = d.astype(np.int64)
        if feature_shape is not None and d.ndim > 0 and d.size > 1:
            d = d.reshape(tuple(feature_shape))
        self.register_buffer("steps", torch.as_tensor(d))
        self.max_steps = int(d.max())

    def forward(self, x, state=None, temporal_grad: bool = True):
        D = self.max_steps
        if D == 0:
            return x, state
        T = x.shape[0]
        if state is None:
            state = x.new_zeros((D,) + tuple(x.shape[1:]))
        xc = torch.cat([state, x], 0)                         # [D + T, B, ...]
        d = self.steps
        if d.dim() == 0 or d.numel() == 1:
            k = int(d.reshape(()))
            y = xc[D - k:D - k + T]
        else:
            y = torch.zeros_like(x)
            dd = d.expand(x.shape[2:]) if d.dim() <= x.dim() - 2 else d
            for k in torch.unique(dd).tolist():
                m = (dd == k).to(x.dtype)
                y = y + xc[D - k:D - k + T] * m
        return y, xc[-D:]

    def step(self, x, state=None, temporal_grad: bool = True):
        y, st = self.forward(x.unsqueeze(0), state)
        return y[0], st

    def config(self):
        return {"type": "Delay", "steps": self.steps.tolist()}


class Threshold(nn.Module):
    """NIR ``Threshold``: ``y = 1[x > threshold]`` (``strict=False``: ``x >= threshold``), no state,
    no gradient (a forward-only step; train through a neuron layer instead)."""

    def __init__(self, threshold, strict: bool = True):
        super().__init__()
        self.register_buffer("threshold", torch.as_tensor(np.asarray(threshold, dtype=np.float64)))
        self.strict = bool(strict)

    def forward(self, x):
        th = self.threshold.to(x.dtype)
        return (x > th).to(x.dtype) if self.strict else (x >= th).to(x.dtype)

    def config(self):
        return {"type": "Threshold", "threshold": self.threshold.tolist(), "strict": self.strict}


class RecurrentCubaLIF(SpikingModule):
    """A current-based LIF layer with recurrent weights into its current, current first (snnTorch's
    ``RSynaptic``; a NIR ``CubaLIF <-> Affine`` loop):

    ``I[t] = alpha I[t-1] + g_syn (x[t] + W z[t-1] + b)``, then the membrane layer ``mem`` (a
    :class:`spiking.nn.LIF`) takes ``g_mem I[t]``. ``syn`` is the :class:`spiking.nn.LeakyReadout`
    of the current. Runs one step at a time (the recurrence couples the steps).
    """

    def __init__(self, syn: LeakyReadout, mem: LIF, weight, bias=None, g_syn=1.0, g_mem=1.0):
        super().__init__()
        self.syn, self.mem = syn, mem
        self.weight = nn.Parameter(torch.as_tensor(np.asarray(weight, dtype=np.float64)))
        self.bias = None if bias is None else nn.Parameter(torch.as_tensor(np.asarray(bias, dtype=np.float64)))
        self.register_buffer("g_syn", torch.as_tensor(np.asarray(g_syn, dtype=np.float64)))
        self.register_buffer("g_mem", torch.as_tensor(np.asarray(g_mem, dtype=np.float64)))

    def forward(self, x, state=None, temporal_grad: bool = True):
        si, sm, z = (None, None, torch.zeros_like(x[0])) if state is None else state
        zs = []
        g_syn, g_mem = self.g_syn.to(x.dtype), self.g_mem.to(x.dtype)
        for t in range(x.shape[0]):
            inp = x[t] + nn.functional.linear(z, self.weight, self.bias)
            i, si = self.syn.step(inp if self.g_syn.numel() == 1 and float(self.g_syn) == 1.0 else g_syn * inp, si,
                                  temporal_grad)
            z, sm = self.mem.step(i if self.g_mem.numel() == 1 and float(self.g_mem) == 1.0 else g_mem * i, sm,
                                  temporal_grad)
            zs.append(z)
        return torch.stack(zs), (si, sm, z)

    def step(self, x, state=None, temporal_grad: bool = True):
        y, st = self.forward(x.unsqueeze(0), state, temporal_grad)
        return y[0], st


class SumPool2d(nn.AvgPool2d):
    """Sum pooling (NIR ``SumPool2d``): average pooling with divisor 1."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride=stride, padding=padding, divisor_override=1)

    def config(self):
        return {"type": "SumPool2d", "kernel_size": list(_pair(self.kernel_size)),
                "stride": list(_pair(self.stride)), "padding": list(_pair(self.padding))}


class AvgPool2d(nn.AvgPool2d):
    """Average pooling (NIR ``AvgPool2d``; zero padding counted, as torch's default)."""

    def config(self):
        return {"type": "AvgPool2d", "kernel_size": list(_pair(self.kernel_size)),
                "stride": list(_pair(self.stride)), "padding": list(_pair(self.padding))}


class Conv1d(nn.Conv1d):
    """``nn.Conv1d`` on ``[T, B, C, L]`` (time folded into the batch) or ``[B, C, L]``."""

    def forward(self, x):
        if x.dim() == 4:
            T, B = x.shape[:2]
            return super().forward(x.flatten(0, 1)).unflatten(0, (T, B))
        return super().forward(x)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
