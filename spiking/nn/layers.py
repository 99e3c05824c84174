"""Torch modules on the shared neuron declarations.

Every neuron layer builds a declaration of :mod:`spiking.models.neurons` (validated there) and
takes its coefficients from ``propagators(dt)``: a layer given ``tau_m`` and ``dt`` uses
``LIF(tau_m=...).propagators(dt)["p22"]``; a layer given a decay ``beta`` maps it to
``tau_m = -dt / ln(beta)`` first. So the equations' coefficients live in one place, and a trained
layer converts back to a declaration (:meth:`LIF.to_model`) for the event engine.

Layers take whole sequences ``x[T, B, ...]`` and return ``(output[T, B, ...], final_state)``;
with ``state=None`` they start from rest, so nothing needs resetting between batches and no
layer keeps hidden state on itself. ``step(x[B, ...], state)`` is the single-step form.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..models import neurons as M
from . import functional as F
from .sparse import binary_linear
from .surrogate import get_surrogate

__all__ = [
    "SpikingModule", "LIF", "CubaLIF", "RecurrentLIF", "LeakyReadout", "Linear", "Conv2d", "Flatten",
    "Sequential", "tau_from_beta", "build_layer", "build_model",
]


def tau_from_beta(beta: float, dt: float) -> float:
    """The membrane time constant whose exact decay over ``dt`` is ``beta``: -dt / ln(beta).

    beta = 1 gives tau = inf (integrate-and-fire); beta = 0 gives a time constant so short that
    exp(-dt/tau) is exactly 0 in floating point (no memory from one step to the next).
    """
    beta = float(beta)
    if not (0.0 <= beta <= 1.0):
        raise ValueError(f"beta={beta}: expected a decay factor in [0, 1]")
    if beta == 1.0:
        return math.inf
    if beta == 0.0:
        return dt * 1e-300
    return -dt / math.log(beta)


def _decay(beta, tau, dt, what="tau_m"):
    """(tau, p22) from exactly one of beta and tau, via the LIF declaration."""
    if (beta is None) == (tau is None):
        raise ValueError(f"give exactly one of beta (decay per step) and {what} (ms), got beta={beta}, {what}={tau}")
    M._check_finite("dt", dt, positive=True)
    if tau is None:
        tau = tau_from_beta(beta, dt)
    return tau


class SpikingModule(nn.Module):
    """Base of layers with state: ``forward(x[T, ...], state=None, temporal_grad=True) -> (y, state)``."""

    def config(self) -> dict:
        raise NotImplementedError


class LIF(SpikingModule):
    """Delta-synapse LIF layer (the :class:`spiking.LIF` declaration; an input adds to v).

    Give the decay as ``beta`` (per step) or ``tau_m`` (ms) with ``dt`` (ms).
    ``reset``: "hard" (v <- v_reset) or "soft" (v <- v - (v_th - v_reset)); ``detach_reset``: no
    gradient through the reset; ``decay_input``: scale the input by (1 - beta), SpikingJelly's
    ``decay_input=True`` (Fang et al. 2021, parametric LIF); ``learn_beta``: train the decay
    (per layer); ``surrogate``: a name, config dict or :class:`~spiking.nn.surrogate.Surrogate`;
    ``backend``: "auto" (fused numba kernel on CPU, fused torch loop elsewhere), "numba", "torch"
    or "step" (per-step autograd, the reference).
    """

    def __init__(self, beta: float | None = None, *, tau_m: float | None = None, dt: float = 1.0,
                 v_th: float = 1.0, v_reset: float = 0.0, v_rest: float = 0.0, reset: str = "hard",
                 detach_reset: bool = False, decay_input: bool = False, surrogate="atan",
                 learn_beta: bool = False, i_offset: float = 0.0, c_m: float = 1.0, backend: str = "auto"):
        super().__init__()
        tau = _decay(beta, tau_m, dt)
        self.dt = float(dt)
        self.model = M.LIF(tau_m=tau, v_rest=v_rest, v_reset=v_reset, v_th=v_th, t_ref=0.0, c_m=c_m,
                           i_offset=i_offset, reset=reset)
        prop = self.model.propagators(self.dt)
        self.drive = float(prop["drive"])
        self.detach_reset = bool(detach_reset)
        self.decay_input = bool(decay_input)
        self.surrogate = get_surrogate(surrogate)
        self.learn_beta = bool(learn_beta)
        self.backend = backend
        if self.learn_beta:
            self.beta = nn.Parameter(torch.tensor(prop["p22"], dtype=torch.get_default_dtype()))
        else:
            # a plain float: exact P22 of the declaration whatever the module's dtype
            self.beta = float(prop["p22"])

    def decay(self) -> float:
        """The decay per step in use (the trained value for a learnable decay)."""
        if self.learn_beta:
            return float(self.beta.detach().clamp(0.0, 1.0))
        return self.beta

    @classmethod
    def from_model(cls, model: M.LIF, dt: float, **options) -> "LIF":
        """A layer from a :class:`spiking.LIF` declaration (t_ref must be 0 in torch)."""
        if not isinstance(model, M.LIF):
            raise TypeError(f"model {model!r}: expected a spiking.LIF declaration")
        if model.t_ref != 0:
            raise ValueError(f"t_ref={model.t_ref}: the torch LIF layers support t_ref = 0 only")
        return cls(tau_m=model.tau_m, dt=dt, v_th=model.v_th, v_reset=model.v_reset, v_rest=model.v_rest,
                   reset=model.reset, i_offset=model.i_offset, c_m=model.c_m, **options)

    def to_model(self) -> M.LIF:
        """The declaration with the layer's current (possibly trained) decay."""
        return M.LIF(tau_m=tau_from_beta(self.decay(), self.dt), v_rest=self.model.v_rest, v_reset=self.model.v_reset,
                     v_th=self.model.v_th, t_ref=0.0, c_m=self.model.c_m, i_offset=self.model.i_offset,
                     reset=self.model.reset)

    @property
    def parameters_record(self) -> F.LIFParameters:
        m = self.model
        return F.LIFParameters(beta=self.beta, v_th=m.v_th, v_reset=m.v_reset, v_rest=m.v_rest, reset=m.reset,
                               detach_reset=self.detach_reset, decay_input=self.decay_input, drive=self.drive,
                               surrogate=self.surrogate)

    def forward(self, x, state: F.LIFState | None = None, temporal_grad: bool = True):
        return F.lif_sequence(x, state, self.parameters_record, temporal_grad=temporal_grad, backend=self.backend)

    def step(self, x, state: F.LIFState | None = None, temporal_grad: bool = True):
        return F.lif_step(x, state, self.parameters_record, temporal_grad=temporal_grad)

    def config(self):
        m = self.model
        return {"type": "LIF", "tau_m": m.tau_m, "dt": self.dt, "v_th": m.v_th, "v_reset": m.v_reset,
                "v_rest": m.v_rest, "reset": m.reset, "detach_reset": self.detach_reset,
                "decay_input": self.decay_input, "surrogate": self.surrogate.config(),
                "learn_beta": self.learn_beta, "i_offset": m.i_offset, "c_m": m.c_m, "backend": self.backend}

    def extra_repr(self):
        m = self.model
        return (f"beta={self.decay():.4g}, v_th={m.v_th}, v_reset={m.v_reset}, reset={m.reset!r}, "
                f"decay_input={self.decay_input}, surrogate={self.surrogate!r}")


class CubaLIF(SpikingModule):
    """Current-based LIF layer (the :class:`spiking.CubaLIF` declaration, NEST update order).

    One exponential current carries inputs of both signs (tau_syn_e = tau_syn_i = ``tau_syn``), so a
    signed weight matrix exports as an excitatory and an inhibitory projection. Decays as
    ``beta``/``tau_m`` and ``alpha``/``tau_syn`` (snnTorch's ``Synaptic`` naming).
    """

    def __init__(self, beta: float | None = None, alpha: float | None = None, *, tau_m: float | None = None,
                 tau_syn: float | None = None, dt: float = 1.0, v_th: float = 1.0, v_reset: float = 0.0,
                 v_rest: float = 0.0, reset: str = "hard", detach_reset: bool = False, surrogate="atan",
                 c_m: float = 1.0, i_offset: float = 0.0, backend: str = "auto"):
        super().__init__()
        tau = _decay(beta, tau_m, dt)
        tau_s = _decay(alpha, tau_syn, dt, what="tau_syn")
        self.dt = float(dt)
        self.model = M.CubaLIF(tau_m=tau, c_m=c_m, v_rest=v_rest, v_reset=v_reset, v_th=v_th, t_ref=0.0,
                               tau_syn_e=tau_s, tau_syn_i=tau_s, i_offset=i_offset, reset=reset,
                               update_order="nest")
        prop = self.model.propagators(self.dt)
        self.p = dict(beta=prop["p22"], p11=prop["p11e"], p21=prop["p21e"], drive=prop["drive"])
        self.detach_reset = bool(detach_reset)
        self.surrogate = get_surrogate(surrogate)
        self.backend = backend

    @property
    def parameters_record(self) -> F.CubaLIFParameters:
        m = self.model
        return F.CubaLIFParameters(beta=self.p["beta"], p11=self.p["p11"], p21=self.p["p21"], v_th=m.v_th,
                                   v_reset=m.v_reset, v_rest=m.v_rest, reset=m.reset,
                                   detach_reset=self.detach_reset, drive=self.p["drive"], surrogate=self.surrogate)

    def to_model(self) -> M.CubaLIF:
        return self.model

    def forward(self, x, state: F.CubaLIFState | None = None, temporal_grad: bool = True):
        return F.cuba_lif_sequence(x, state, self.parameters_record, temporal_grad=temporal_grad,
                                   backend=self.backend)

    def step(self, x, state: F.CubaLIFState | None = None, temporal_grad: bool = True):
        if not temporal_grad:
            raise ValueError("temporal_grad=False (SLTT) is not available for a current-based LIF")
        return F.cuba_lif_step(x, state, self.parameters_record)

    def config(self):
        m = self.model
        return {"type": "CubaLIF", "tau_m": m.tau_m, "tau_syn": m.tau_syn_e, "dt": self.dt, "v_th": m.v_th,
                "v_reset": m.v_reset, "v_rest": m.v_rest, "reset": m.reset, "detach_reset": self.detach_reset,
                "surrogate": self.surrogate.config(), "c_m": m.c_m, "i_offset": m.i_offset,
                "backend": self.backend}


class RecurrentLIF(LIF):
    """LIF layer with all-to-all recurrent weights ``weight[post, pre]`` (no bias).

    The recurrent input of step t is ``weight @ z[t-1]``: a recurrent projection with a delay of
    one step in the network description. Takes the feed-forward input current (e.g. the output of
    a :class:`Linear`). Runs as a per-step loop (the recurrent matrix product couples the steps).
    """

    def __init__(self, size: int, beta: float | None = None, *, allow_self: bool = True, **kwargs):
        kwargs.pop("backend", None)
        super().__init__(beta, **kwargs)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size={size!r}: expected a positive integer")
        self.size = size
        self.allow_self = bool(allow_self)
        self.weight = nn.Parameter(torch.empty(size, size))
        nn.init.orthogonal_(self.weight, gain=0.5)
        if not allow_self:
            mask = 1.0 - torch.eye(size)
            self.register_buffer("mask", mask)
            with torch.no_grad():
                self.weight.mul_(mask)
        else:
            self.mask = None

    def recurrent_weight(self):
        return self.weight if self.mask is None else self.weight * self.mask

    def forward(self, x, state: F.RecurrentLIFState | None = None, temporal_grad: bool = True):
        return F.recurrent_lif_sequence(x, state, self.parameters_record, self.recurrent_weight(),
                                        temporal_grad=temporal_grad)

    def step(self, x, state: F.RecurrentLIFState | None = None, temporal_grad: bool = True):
        z, st = self.forward(x.unsqueeze(0), state, temporal_grad)
        return z[0], st

    def config(self):
        c = super().config()
        c.pop("backend")
        c.update(type="RecurrentLIF", size=self.size, allow_self=self.allow_self)
        return c


class LeakyReadout(SpikingModule):
    """Non-spiking leaky integrator ``y[t] = beta y[t-1] + c x[t]`` (c = 1 - beta with decay_input),
    returning the membrane trace; the decay comes from the LIF declaration's P22."""

    def __init__(self, beta: float | None = None, *, tau_m: float | None = None, dt: float = 1.0,
                 decay_input: bool = False, backend: str = "auto"):
        super().__init__()
        tau = _decay(beta, tau_m, dt)
        self.dt = float(dt)
        self.tau_m = tau
        self.beta = M.LIF(tau_m=tau).propagators(self.dt)["p22"]
        self.decay_input = bool(decay_input)
        self.backend = backend

    @property
    def parameters_record(self):
        return F.LIParameters(beta=self.beta, decay_input=self.decay_input)

    def forward(self, x, state: F.LIState | None = None, temporal_grad: bool = True):
        return F.li_sequence(x, state, self.parameters_record, temporal_grad=temporal_grad, backend=self.backend)

    def step(self, x, state: F.LIState | None = None, temporal_grad: bool = True):
        return F.li_step(x, state, self.parameters_record, temporal_grad=temporal_grad)

    def config(self):
        return {"type": "LeakyReadout", "tau_m": self.tau_m, "dt": self.dt, "decay_input": self.decay_input,
                "backend": self.backend}

    def extra_repr(self):
        return f"beta={self.beta:.4g}, decay_input={self.decay_input}"


class Linear(nn.Linear):
    """``nn.Linear`` with ``bias=False`` by default (an exported population has no per-neuron bias);
    applies to any leading dimensions, so to ``[T, B, in]`` in one matrix product.

    ``sparse_input=True`` (default): when the input is a sparse binary CPU tensor (spikes), the
    product and the weight gradient are computed from the active inputs only
    (:mod:`spiking.nn.sparse`); other inputs take the dense path. False: always dense.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False, sparse_input: bool = True, **kw):
        super().__init__(in_features, out_features, bias=bias, **kw)
        self.sparse_input = bool(sparse_input)
        self._wt_cache: dict = {}

    def forward(self, x):
        if self.sparse_input:
            return binary_linear(x, self.weight, self.bias, cache=self._wt_cache)
        return nn.functional.linear(x, self.weight, self.bias)

    def config(self):
        return {"type": "Linear", "in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "sparse_input": self.sparse_input}


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (``bias=False`` by default) that takes ``[T, B, C, H, W]`` (time folded into the
    batch) as well as ``[B, C, H, W]``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias: bool = False, **kw):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias, **kw)

    def forward(self, x):
        if x.dim() == 5:
            T, B = x.shape[:2]
            y = super().forward(x.flatten(0, 1))
            return y.unflatten(0, (T, B))
        return super().forward(x)

    def config(self):
        return {"type": "Conv2d", "in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "bias": self.bias is not None}


class Flatten(nn.Module):
    """Flattens the feature dimensions of ``[T, B, ...]`` to ``[T, B, features]``."""

    def forward(self, x):
        return x.flatten(2)

    def config(self):
        return {"type": "Flatten"}


def _detach(state):
    if state is None:
        return None
    if torch.is_tensor(state):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(_detach(s) for s in state))
    if isinstance(state, (list, tuple)):
        return type(state)(_detach(s) for s in state)
    return state


class Sequential(nn.Sequential):
    """A stack of layers over sequences: ``model(x[T, B, ...], state=None) -> (y[T, B, ...], states)``.

    Stateful layers (:class:`SpikingModule`) get their own entry of ``states`` (a list, None for
    stateless layers); other modules (``Linear``, ``Conv2d``, any torch module) are applied to the
    sequence with time folded into the batch.
    """

    def forward(self, x, state=None, temporal_grad: bool = True):
        if state is None:
            state = [None] * len(self)
        elif len(state) != len(self):
            raise ValueError(f"state with {len(state)} entries for {len(self)} layers")
        new_state = []
        for layer, st in zip(self, state):
            if isinstance(layer, SpikingModule):
                x, st = layer(x, st, temporal_grad)
            elif isinstance(layer, (Linear, Conv2d, Flatten, nn.Linear)):
                x = layer(x)
            else:
                T, B = x.shape[:2]
                x = layer(x.flatten(0, 1)).unflatten(0, (T, B))
            new_state.append(st)
        return x, new_state

    def step(self, x, state=None, temporal_grad: bool = True):
        """One time step: ``x[B, ...] -> (y[B, ...], states)``."""
        y, state = self.forward(x.unsqueeze(0), state, temporal_grad)
        return y[0], state

    @staticmethod
    def detach_state(state):
        """The same state with every tensor detached (to cut the graph between chunks)."""
        return _detach(state)

    def config(self) -> dict:
        layers = []
        for layer in self:
            if not hasattr(layer, "config"):
                raise TypeError(f"layer {type(layer).__name__} has no config(): the model cannot be rebuilt "
                                "from a checkpoint's config (state_dict still works)")
            layers.append(layer.config())
        return {"type": "Sequential", "layers": layers}


_BUILDERS = {
    "LIF": LIF, "CubaLIF": CubaLIF, "RecurrentLIF": RecurrentLIF, "LeakyReadout": LeakyReadout,
    "Linear": Linear, "Conv2d": Conv2d, "Flatten": Flatten,
}


def build_layer(cfg: dict) -> nn.Module:
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in _BUILDERS:
        raise ValueError(f"layer type {kind!r}: expected one of {sorted(_BUILDERS)}")
    if kind == "RecurrentLIF":
        size = cfg.pop("size")
        return RecurrentLIF(size, **cfg)
    if kind == "Conv2d":
        return Conv2d(cfg.pop("in_channels"), cfg.pop("out_channels"), tuple(cfg.pop("kernel_size")),
                      stride=tuple(cfg.pop("stride")), padding=tuple(cfg.pop("padding")), **cfg)
    return _BUILDERS[kind](**cfg)


def build_model(cfg: dict) -> Sequential:
    """Rebuild a :class:`Sequential` from its ``config()`` (then load the checkpoint's state_dict)."""
    if cfg.get("type") != "Sequential":
        raise ValueError(f"model config type {cfg.get('type')!r}: expected 'Sequential'")
    return Sequential(*(build_layer(c) for c in cfg["layers"]))
