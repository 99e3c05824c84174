"""Pure neuron functions over named parameter and state records (the style of Norse).

Each neuron has

* a parameter record (``NamedTuple``) holding the coefficients, taken from the model declarations
  of :mod:`spiking.models.neurons` by the layers of :mod:`spiking.nn.layers`;
* a state record (``NamedTuple`` of tensors);
* ``*_step(x, state, p)``: one time step, plain autograd (the reference for the fused kernels and
  the single-step form of every layer);
* ``*_sequence(x, state, p, temporal_grad=True)``: a whole sequence ``x[T, B, ...]``; starts
  from the zero (resting) state when ``state`` is None, and returns ``(output, final_state)``.

LIF update per step, the event engine's convention (reset before decay, as in the SLTT paper's
``u[t] = lambda (u[t-1] - V_th s[t-1]) + I[t]``)::

    v_pre[t] = v_rest + beta (v[t-1] - v_rest) + c x[t] + drive,   c = 1 - beta if decay_input else 1
    s[t]     = H(v_pre[t] - v_th)
    v[t]     = v_reset where s[t] else v_pre[t]            (hard reset)
    v[t]     = v_pre[t] - (v_th - v_reset) s[t]            (soft reset)

``detach_reset`` stops the gradient through s[t] in the reset term (Zenke & Vogels 2021);
``temporal_grad=False`` treats v[t-1] as a constant (SLTT, Meng et al. 2023).
"""
from __future__ import annotations

from typing import NamedTuple, Union

import torch

from .fused import LIFConfig, filter_fused, lif_fused
from .surrogate import ATan, Surrogate, spike

Scalar = Union[float, torch.Tensor]

__all__ = [
    "LIFParameters", "LIFState", "lif_step", "lif_sequence",
    "CubaLIFParameters", "CubaLIFState", "cuba_lif_step", "cuba_lif_sequence",
    "LIParameters", "LIState", "li_step", "li_sequence",
    "RecurrentLIFState", "recurrent_lif_sequence",
]


class LIFParameters(NamedTuple):
    """Coefficients of a delta-synapse LIF layer (``beta`` = P22 of :class:`spiking.LIF`)."""

    beta: Scalar = 0.9            # membrane decay over one step, exp(-dt/tau_m)
    v_th: float = 1.0
    v_reset: float = 0.0
    v_rest: float = 0.0
    reset: str = "hard"           # "hard" or "soft"
    detach_reset: bool = False
    decay_input: bool = False     # scale the input by (1 - beta) (Fang et al. 2021)
    drive: float = 0.0            # constant increment per step (i_offset)
    surrogate: Surrogate = ATan()


class LIFState(NamedTuple):
    v: torch.Tensor


def _beta_value(beta):
    return beta.clamp(0.0, 1.0) if torch.is_tensor(beta) else beta


def _input_scale(p):
    beta = _beta_value(p.beta)
    return (1.0 - beta) if p.decay_input else 1.0


def _reset(v_pre_shifted, z, th, ur, p):
    zr = z.detach() if p.detach_reset else z
    if p.reset == "soft":
        return v_pre_shifted - (th - ur) * zr
    return v_pre_shifted * (1.0 - zr) + ur * zr


def lif_step(x: torch.Tensor, state: LIFState | None, p: LIFParameters, *, temporal_grad: bool = True):
    """One LIF step with autograd through the surrogate; returns ``(spikes, LIFState)``."""
    v = torch.full_like(x, p.v_rest) if state is None else state.v
    u = v - p.v_rest
    if not temporal_grad:
        u = u.detach()
    beta = _beta_value(p.beta)
    th, ur = p.v_th - p.v_rest, p.v_reset - p.v_rest
    up = beta * u + _input_scale(p) * x + p.drive
    z = spike(up - th, p.surrogate)
    return z, LIFState(_reset(up, z, th, ur, p) + p.v_rest)


def _config(p, temporal_grad, backend):
    if p.reset not in ("hard", "soft"):
        raise ValueError(f"reset={p.reset!r}: expected 'hard' or 'soft'")
    return LIFConfig(drive=float(p.drive), th=float(p.v_th - p.v_rest), ur=float(p.v_reset - p.v_rest),
                     soft=p.reset == "soft", detach_reset=bool(p.detach_reset),
                     decay_input=bool(p.decay_input), surrogate=p.surrogate,
                     temporal_grad=bool(temporal_grad), backend=backend)


def lif_sequence(x: torch.Tensor, state: LIFState | None, p: LIFParameters, *, temporal_grad: bool = True,
                 backend: str = "auto"):
    """LIF over ``x[T, ...]`` with the fused recurrence; returns ``(spikes[T, ...], LIFState)``.

    ``backend``: "auto" (numba on CPU float32/float64, torch otherwise), "numba", "torch", or
    "step" (a Python loop over :func:`lif_step`, plain autograd; the slow reference).
    """
    if backend == "step":
        zs = []
        for xt in x.unbind(0):
            z, state = lif_step(xt, state, p, temporal_grad=temporal_grad)
            zs.append(z)
        return torch.stack(zs), state
    u0 = x.new_zeros(x.shape[1:]) if state is None else state.v - p.v_rest
    if not temporal_grad:
        u0 = u0.detach()
    beta = _beta_value(p.beta)
    z, uT = lif_fused(x, u0, beta, _config(p, temporal_grad, backend))
    return z, LIFState(uT + p.v_rest if p.v_rest != 0 else uT)


# ------------------------------------------------------------------------------------------------
class CubaLIFParameters(NamedTuple):
    """Current-based LIF (NEST ``iaf_psc_exp`` update order, one current for both signs).

    ``beta`` = P22, ``p11`` = exp(-dt/tau_syn), ``p21`` = current-to-voltage propagator; all from
    :class:`spiking.CubaLIF` ``propagators(dt)``.
    """

    beta: float = 0.9
    p11: float = 0.8
    p21: float = 1.0
    v_th: float = 1.0
    v_reset: float = 0.0
    v_rest: float = 0.0
    reset: str = "hard"
    detach_reset: bool = False
    drive: float = 0.0
    surrogate: Surrogate = ATan()


class CubaLIFState(NamedTuple):
    v: torch.Tensor
    i: torch.Tensor


def _cuba_as_lif(p: CubaLIFParameters) -> LIFParameters:
    return LIFParameters(beta=p.beta, v_th=p.v_th, v_reset=p.v_reset, v_rest=p.v_rest, reset=p.reset,
                         detach_reset=p.detach_reset, decay_input=False, drive=p.drive, surrogate=p.surrogate)


def cuba_lif_step(x: torch.Tensor, state: CubaLIFState | None, p: CubaLIFParameters):
    """NEST order: v takes the current of the previous step, then the current decays and takes x."""
    if state is None:
        state = CubaLIFState(torch.full_like(x, p.v_rest), torch.zeros_like(x))
    z, ls = lif_step(p.p21 * state.i, LIFState(state.v), _cuba_as_lif(p))
    i = p.p11 * state.i + x
    return z, CubaLIFState(ls.v, i)


def cuba_lif_sequence(x: torch.Tensor, state: CubaLIFState | None, p: CubaLIFParameters, *,
                      temporal_grad: bool = True, backend: str = "auto"):
    """Current-based LIF over ``x[T, ...]``: the current is a linear filter of the input
    (no reset), so it runs as one fused filter, and the membrane as one fused LIF recurrence."""
    if not temporal_grad:
        raise ValueError("temporal_grad=False (SLTT) with a current-based LIF: input reaches the membrane "
                         "one step later through the synaptic current, so cutting every temporal "
                         "dependency leaves no gradient for the weights; use BPTT or a delta-synapse LIF")
    if backend == "step":
        zs = []
        for xt in x.unbind(0):
            z, state = cuba_lif_step(xt, state, p)
            zs.append(z)
        return torch.stack(zs), state
    shape = x.shape[1:]
    i0 = x.new_zeros(shape) if state is None else state.i
    v0 = None if state is None else LIFState(state.v)
    fb = backend if backend != "step" else "auto"
    i = filter_fused(x, i0, p.p11, 1.0, backend=fb)                   # i[t], t = 0..T-1
    i_prev = torch.cat([i0.unsqueeze(0), i[:-1]], 0)                   # the current v sees at step t
    z, ls = lif_sequence(p.p21 * i_prev, v0, _cuba_as_lif(p), backend=fb)
    return z, CubaLIFState(ls.v, i[-1])


# ------------------------------------------------------------------------------------------------
class LIParameters(NamedTuple):
    """Non-spiking leaky integrator (readout): ``y[t] = beta y[t-1] + c x[t]``."""

    beta: float = 0.9
    decay_input: bool = False


class LIState(NamedTuple):
    v: torch.Tensor


def li_step(x: torch.Tensor, state: LIState | None, p: LIParameters, *, temporal_grad: bool = True):
    v = torch.zeros_like(x) if state is None else state.v
    if not temporal_grad:
        v = v.detach()
    c = (1.0 - p.beta) if p.decay_input else 1.0
    y = p.beta * v + c * x
    return y, LIState(y)


def li_sequence(x: torch.Tensor, state: LIState | None, p: LIParameters, *, temporal_grad: bool = True,
                backend: str = "auto"):
    """Leaky integrator over ``x[T, ...]``; returns the membrane sequence and the final state."""
    if backend == "step":
        ys = []
        for xt in x.unbind(0):
            y, state = li_step(xt, state, p, temporal_grad=temporal_grad)
            ys.append(y)
        return torch.stack(ys), state
    v0 = x.new_zeros(x.shape[1:]) if state is None else state.v
    if not temporal_grad:
        v0 = v0.detach()
    c = (1.0 - p.beta) if p.decay_input else 1.0
    y = filter_fused(x, v0, p.beta, c, temporal_grad=temporal_grad, backend=backend)
    return y, LIState(y[-1])


# ------------------------------------------------------------------------------------------------
class RecurrentLIFState(NamedTuple):
    v: torch.Tensor
    z: torch.Tensor   # spikes of the previous step (the recurrent input)


def recurrent_lif_sequence(x: torch.Tensor, state: RecurrentLIFState | None, p: LIFParameters,
                           w_rec: torch.Tensor, *, temporal_grad: bool = True):
    """LIF with recurrent weights ``w_rec[post, pre]``: the input of step t is
    ``x[t] + w_rec @ z[t-1]`` (a recurrent projection with a delay of one step)."""
    T = x.shape[0]
    if state is None:
        state = RecurrentLIFState(torch.full_like(x[0], p.v_rest), torch.zeros_like(x[0]))
    v, z = state.v, state.z
    zs = []
    for t in range(T):
        if not temporal_grad:
            v, z = v.detach(), z.detach()
        inp = x[t] + torch.nn.functional.linear(z, w_rec)
        z, ls = lif_step(inp, LIFState(v), p)
        v = ls.v
        zs.append(z)
    return torch.stack(zs), RecurrentLIFState(v, z)
