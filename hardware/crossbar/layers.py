"""Torch layers on modelled crossbars, for noise-aware training and evaluation after drift.

>>> from spiking.hardware import crossbar as xb
>>> layer = xb.AnalogLinear(64, 32, bias=False, device=xb.PCM(), io=xb.IOParameters(),
...                         drift_compensation="global")
>>> layer.set_weights(W); layer.program(generator=g); layer.drift(86400.0, generator=g)
>>> layer.eval(); y = layer(x)

* training mode: the trainable ``weight`` is read through the periphery (DAC, ADC, output noise,
  bound management) with, when ``hwa`` is given, hardware-aware training noise (Joshi et al.,
  Nat. Commun. 2020; aihwkit's weight modifier and forward noise): Gaussian weight noise of
  ``hwa.weight_noise`` times the weight scale (the abs-max weight with ``weight_scaling="tensor"``,
  aihwkit's ``AddNormal`` with ``rel_to_actual_wmax``), drawn afresh every forward and shared by the
  samples of the batch (aihwkit's ``per_batch_sample=False``), and ``hwa.out_noise`` in place of
  ``io.out_noise``. Gradients are those of the ideal product with the noisy weights
  (straight through the quantisers, as aihwkit's analog forward with a perfect backward);
* eval mode after ``program``: the programmed (and drifted) conductances, drift compensation
  applied; before ``program``: the ideal weights through the periphery.

The bias is digital (added after the ADC). ``counts()`` gives the crossbar counts of the forward
passes since ``reset_counts()`` in the activity-ledger layout of :mod:`.engine`.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from .analog import AnalogMatrix, add_counts, empty_counts
from .mapping import weight_scale
from .periphery import IOParameters

__all__ = ["HWATraining", "AnalogLinear", "AnalogConv2d", "convert_to_analog", "program_model", "drift_model",
           "model_counts", "reset_model_counts", "analog_layers"]


@dataclass(frozen=True)
class HWATraining:
    """Hardware-aware training noise: relative Gaussian weight noise (of the abs-max weight scale)
    drawn every forward, and the output noise used during training (None: ``io.out_noise``)."""

    weight_noise: float = 0.02
    out_noise: float | None = None

    def __post_init__(self):
        if not (math.isfinite(self.weight_noise) and self.weight_noise >= 0):
            raise ValueError(f"HWATraining weight_noise={self.weight_noise!r}: expected a relative std >= 0")
        if self.out_noise is not None and not (math.isfinite(self.out_noise) and self.out_noise >= 0):
            raise ValueError(f"HWATraining out_noise={self.out_noise!r}: expected a std >= 0 or None")


class _AnalogBase(nn.Module):
    def _init_analog(self, device, io, tile_size, weight_scaling, drift_compensation, hwa, nl_adc):
        if hwa is not None and not isinstance(hwa, HWATraining):
            raise TypeError(f"hwa={hwa!r}: expected an HWATraining or None")
        self.hwa = hwa
        self.analog = AnalogMatrix(self._matrix().detach(), device, io, tile_size, weight_scaling,
                                   drift_compensation, nl_adc)
        self.generator = None        # torch.Generator for the noise of forward passes (None: global)

    def _matrix(self):
        return self.weight.reshape(self.weight.shape[0], -1)

    def set_weights(self, weight: torch.Tensor):
        """Copy ``weight`` (the layer's weight shape) into the layer; forgets programming."""
        weight = torch.as_tensor(weight)
        if tuple(weight.shape) != tuple(self.weight.shape):
            raise ValueError(f"weight of shape {tuple(weight.shape)}: expected {tuple(self.weight.shape)}")
        if not torch.isfinite(weight).all():
            raise ValueError("weights contain nan or inf: expected finite values")
        with torch.no_grad():
            self.weight.copy_(weight)
        self.analog.set_weights(self._matrix().detach())

    def program(self, generator=None):
        """Program the current weights onto the devices (both devices of every pair get noise)."""
        self.analog.set_weights(self._matrix().detach())
        self.analog.program(generator)
        return self

    def drift(self, t_inference: float, generator=None):
        """Drift to ``t_inference`` s after programming (and measure the compensation)."""
        self.analog.drift(t_inference, generator)
        return self

    @property
    def programmed(self) -> bool:
        return self.analog.programmed is not None

    def counts(self) -> dict:
        return self.analog.ledger_counts()

    def reset_counts(self):
        self.analog.reset_counts()

    def _analog_matmul(self, x2d: torch.Tensor) -> torch.Tensor:
        """``x2d[N, in] -> y[N, out]`` through the crossbar (see the module docstring)."""
        a = self.analog
        dtype = x2d.dtype
        if self.training:
            w = self._matrix()
            s = weight_scale(w, a.weight_scaling)
            w_n = (w / s).detach()
            io = a.io
            if self.hwa is not None:
                if self.hwa.weight_noise > 0:
                    w_n = w_n + self.hwa.weight_noise * torch.randn(w_n.shape, generator=self.generator,
                                                                    dtype=w_n.dtype)
                if self.hwa.out_noise is not None:
                    io = _replace_noise(io, self.hwa.out_noise)
            with torch.no_grad():
                saved = a.io
                a.io = io
                try:
                    y_an = a.forward(x2d.detach(), self.generator, w_n=w_n, scale=s.detach(),
                                     compensate=False)
                finally:
                    a.io = saved
            w_noisy = w + ((w_n.to(w.dtype) * s) - w).detach()
            y_id = x2d @ w_noisy.T
            return y_id + (y_an.to(dtype) - y_id).detach()
        with torch.no_grad():
            if not self.programmed:
                a.set_weights(self._matrix().detach())
            return a.forward(x2d.detach(), self.generator).to(dtype)


def _replace_noise(io: IOParameters, out_noise: float) -> IOParameters:
    from dataclasses import replace
    return replace(io, out_noise=out_noise)


class AnalogLinear(_AnalogBase):
    """``nn.Linear`` on crossbar tiles; any leading dimensions (``[T, B, in]`` works)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False, *, device="pcm_ibm",
                 io: IOParameters | None = None, tile_size=(256, 256), weight_scaling: str = "tensor",
                 drift_compensation=None, hwa: HWATraining | None = None, nl_adc=None):
        super().__init__()
        ref = nn.Linear(in_features, out_features, bias=bias)
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None
        self._init_analog(device, io, tile_size, weight_scaling, drift_compensation, hwa, nl_adc)

    def forward(self, x):
        lead = x.shape[:-1]
        y = self._analog_matmul(x.reshape(-1, self.in_features)).reshape(*lead, self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return (f"{self.in_features}, {self.out_features}, bias={self.bias is not None}, "
                f"device={self.analog.device.name}, {self.analog.layout}")


class AnalogConv2d(_AnalogBase):
    """``nn.Conv2d`` on crossbar tiles (im2col: one tile row per input patch element); inputs
    ``[..., C, H, W]`` with any leading dimensions (``[T, B, C, H, W]`` works)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = False, *, device="pcm_ibm", io: IOParameters | None = None, tile_size=(256, 256),
                 weight_scaling: str = "tensor", drift_compensation=None, hwa: HWATraining | None = None,
                 nl_adc=None):
        super().__init__()
        ref = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=bias)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = ref.kernel_size, ref.stride, ref.padding, \
            ref.dilation
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None
        self._init_analog(device, io, tile_size, weight_scaling, drift_compensation, hwa, nl_adc)

    def forward(self, x):
        if x.dim() < 3:
            raise ValueError(f"input of shape {tuple(x.shape)}: expected [..., C, H, W]")
        lead = x.shape[:-3]
        xb = x.reshape(-1, *x.shape[-3:])
        n, _, h, w = xb.shape
        cols = nn.functional.unfold(xb, self.kernel_size, self.dilation, self.padding, self.stride)  # [n, CKK, L]
        ho = (h + 2 * self.padding[0] - self.dilation[0] * (self.kernel_size[0] - 1) - 1) // self.stride[0] + 1
        wo = (w + 2 * self.padding[1] - self.dilation[1] * (self.kernel_size[1] - 1) - 1) // self.stride[1] + 1
        y = self._analog_matmul(cols.transpose(1, 2).reshape(-1, cols.shape[1]))      # [n L, out]
        y = y.reshape(n, ho * wo, self.out_channels).transpose(1, 2).reshape(n, self.out_channels, ho, wo)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return y.reshape(*lead, self.out_channels, ho, wo)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, device={self.analog.device.name}, {self.analog.layout}")


def analog_layers(model: nn.Module) -> list:
    return [m for m in model.modules() if isinstance(m, _AnalogBase)]


def convert_to_analog(model: nn.Module, device="pcm_ibm", io: IOParameters | None = None, *, tile_size=(256, 256),
                      weight_scaling: str = "tensor", drift_compensation=None, hwa: HWATraining | None = None,
                      nl_adc=None) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` / ``nn.Conv2d`` (``spiking.nn.Linear`` and
    ``Conv2d`` included) replaced by its analog counterpart holding the same weights; analog
    layers already there are rebuilt with these settings (their weights kept, programming not)."""
    model = copy.deepcopy(model)
    kw = dict(device=device, io=io, tile_size=tile_size, weight_scaling=weight_scaling,
              drift_compensation=drift_compensation, hwa=hwa, nl_adc=nl_adc)

    def swap(parent):
        for name, child in parent.named_children():
            # an analog layer is rebuilt with the new settings (e.g. an HWA-trained model converted
            # for evaluation): its weights carry over, its training noise does not
            if isinstance(child, (nn.Linear, AnalogLinear)):
                new = AnalogLinear(child.in_features, child.out_features, child.bias is not None, **kw)
            elif isinstance(child, AnalogConv2d):
                new = AnalogConv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                   child.padding, child.dilation, child.bias is not None, **kw)
            elif isinstance(child, nn.Conv2d):
                if child.groups != 1 or child.padding_mode != "zeros":
                    raise ValueError(f"{name}: Conv2d with groups={child.groups}, padding_mode={child.padding_mode!r}"
                                     ": expected groups=1 and zero padding")
                new = AnalogConv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                   child.padding, child.dilation, child.bias is not None, **kw)
            else:
                swap(child)
                continue
            with torch.no_grad():
                new.weight.copy_(child.weight)
                if child.bias is not None:
                    new.bias.copy_(child.bias)
            new.set_weights(new.weight.detach())
            new.train(child.training)
            setattr(parent, name, new)

    swap(model)
    return model


def program_model(model: nn.Module, generator=None) -> nn.Module:
    for m in analog_layers(model):
        m.program(generator)
    return model


def drift_model(model: nn.Module, t_inference: float, generator=None) -> nn.Module:
    for m in analog_layers(model):
        m.drift(t_inference, generator)
    return model


def model_counts(model: nn.Module) -> dict:
    """Crossbar counts of all analog layers of ``model``, summed (the ledger layout)."""
    layers = analog_layers(model)
    total = empty_counts("", layers[0].analog.layout.rows if layers else 0, layers[0].analog.layout.cols if layers else 0)
    for m in layers:
        add_counts(total, m.counts())
    return total


def reset_model_counts(model: nn.Module):
    for m in analog_layers(model):
        m.reset_counts()
