"""A trainable astrocyte-modulated spiking layer: :class:`AstroLIF` (our own formulation).

Inspiration: the astrocyte-modulated spiking unit (AM-SU) of Shen et al., "Astrocyte-Enabled
Advancements in Spiking Neural Networks for Large Language Modeling" (arXiv 2312.07625). Its
equations are not public; what follows is **our** design, not a reproduction of AM-SU. It keeps
the idea that a slow astrocytic state, fed by local synaptic activity, modulates the neurons, and
it is written so that the event engine runs it exactly (``LeakyAstrocyte`` and ``ModulatedLIF`` of
``spiking.models.astrocytes``, with SIC projections; :func:`astro_to_network`).

Per step t, for the N neurons of the layer split into G groups of N/G consecutive neurons (one
astrocyte per group; G = N: one per neuron), with input current ``I[t]`` (the output of the
preceding ``Linear``) and spikes ``s``::

    a_g[t]   = lambda_g a_g[t-1] + k_pre_g mean_{i in g} I_i[t] + k_post_g mean_{i in g} s_i[t-1]
    m_i[t]   = gain_i a_{g(i)}[t-2]
    v_pre[t] = v_rest + beta (v[t-1] - v_rest) + I[t] (+ m[t])          modulation="current"
    s[t]     = 1[v_pre[t] >= v_th (+ m[t])]                               modulation="threshold"
    v[t]     = v_reset where s[t] (hard), v_pre[t] - (v_th - v_reset) s[t] (soft)

* ``lambda_g = exp(-dt / tau_a_g)``, learnable per group (parameterised as a logit, so it stays in
  (0, 1)), initialised from ``tau_a``; ``k_pre``, ``k_post`` (per group) and ``gain`` (per neuron)
  are learnable.
* The astrocyte reaches the neurons two steps after it has integrated its input (``a[t-2]``): in
  the event engine an astrocyte's SIC of step n arrives after the SIC projection's delay (one step)
  and acts in the step after that (NEST's order), and the layer keeps that timing so that torch and
  the engine give the same spikes.
* The spike uses the surrogate gradient of ``spiking.nn.surrogate``; the layer trains under
  BPTT, SLTT and SLTT-K like the other layers. Under SLTT (``temporal_grad=False``) the state
  arrives detached, and the astrocyte acts two steps late, so no backward pass would reach its
  parameters; the layer therefore carries the forward derivatives ``e = d a / d (k_pre, k_post,
  rho_a)`` of the astrocyte's linear recursion (``e[t] = lambda e[t-1] + (pre, post,
  lambda (1 - lambda) a[t-1])``, three numbers per astrocyte, no graph) and attaches them to the
  detached ``a[t-2]``: the SLTT gradient of the astrocyte parameters is exact for the astrocyte's
  own recursion, with its inputs held fixed as SLTT holds the neurons' history fixed; memory stays
  constant in T.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..connectors import FromList
from ..models.astrocytes import LeakyAstrocyte, ModulatedLIF
from ..network import Network
from .export import Exported, spikes_to_source
from .layers import Linear, Sequential, SpikingModule, _decay
from .surrogate import get_surrogate, spike

__all__ = ["AstroLIF", "AstroLIFState", "astro_to_network"]


class AstroLIFState(NamedTuple):
    v: torch.Tensor      # [B, N]
    s: torch.Tensor      # [B, N] spikes of the previous step
    a1: torch.Tensor     # [B, G] astrocyte state a[t-1]
    a2: torch.Tensor     # [B, G] astrocyte state a[t-2]
    e1: torch.Tensor     # [B, G, 3] d a[t-1] / d (k_pre, k_post, rho_a), carried forward (no graph)
    e2: torch.Tensor     # [B, G, 3] the same for a[t-2]


class AstroLIF(SpikingModule):
    """Astrocyte-modulated delta-synapse LIF layer (see the module docstring for the equations).

    size: neurons; groups: astrocytes (a divisor of size; default size, one per neuron);
    beta or tau_m (+ dt): membrane decay; tau_a (ms): initial astrocyte time constant;
    modulation: "current" (additive) or "threshold"; k_pre, k_post, gain_init: initial values.
    """

    def __init__(self, size: int, beta: float | None = None, *, tau_m: float | None = None, dt: float = 1.0,
                 groups: int | None = None, tau_a: float = 50.0, modulation: str = "current",
                 k_pre: float = 1.0, k_post: float = 0.0, gain_init: float = 0.0, learn_tau_a: bool = True,
                 v_th: float = 1.0, v_reset: float = 0.0, v_rest: float = 0.0, reset: str = "hard",
                 detach_reset: bool = False, surrogate="atan"):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size={size!r}: expected a positive number of neurons")
        groups = size if groups is None else groups
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or size % groups:
            raise ValueError(f"groups={groups!r}: expected a positive divisor of size={size}")
        if not (isinstance(tau_a, (int, float)) and math.isfinite(tau_a) and tau_a > 0):
            raise ValueError(f"tau_a={tau_a!r}: expected a positive time constant in ms")
        self.size, self.groups, self.dt = size, groups, float(dt)
        tau = _decay(beta, tau_m, dt)
        # the declaration validates the neuron parameters and gives the exact decay
        self.model = ModulatedLIF(tau_m=tau, v_rest=v_rest, v_reset=v_reset, v_th=v_th, reset=reset,
                                  modulation=modulation)
        self.beta = float(self.model.as_lif().propagators(self.dt)["p22"])
        self.detach_reset = bool(detach_reset)
        self.surrogate = get_surrogate(surrogate)
        lam = math.exp(-self.dt / tau_a)
        logit = math.log(lam / (1.0 - lam))
        self.rho_a = nn.Parameter(torch.full((groups,), logit), requires_grad=bool(learn_tau_a))
        self.k_pre = nn.Parameter(torch.full((groups,), float(k_pre)))
        self.k_post = nn.Parameter(torch.full((groups,), float(k_post)))
        self.gain = nn.Parameter(torch.full((size,), float(gain_init)))
        self._init = dict(tau_a=tau_a, k_pre=k_pre, k_post=k_post, gain_init=gain_init, learn_tau_a=learn_tau_a)

    # -- parameters --------------------------------------------------------------------------------
    def astro_decay(self) -> torch.Tensor:
        """lambda per group, in (0, 1)."""
        return torch.sigmoid(self.rho_a)

    def tau_a(self) -> np.ndarray:
        """The (trained) astrocyte time constants in ms."""
        lam = self.astro_decay().detach().double().cpu().numpy()
        return -self.dt / np.log(lam)

    def _group_mean(self, x):      # [B, N] -> [B, G]
        return x.unflatten(-1, (self.groups, self.size // self.groups)).mean(-1)

    def _expand(self, a):          # [B, G] -> [B, N]
        return a.repeat_interleave(self.size // self.groups, dim=-1)

    # -- dynamics -------------------------------------------------------------------------------
    def initial_state(self, x0) -> AstroLIFState:
        B = x0.shape[0]
        z = x0.new_zeros((B, self.size))
        g = x0.new_zeros((B, self.groups))
        e = x0.new_zeros((B, self.groups, 3))
        return AstroLIFState(z + self.model.v_rest, z, g, g, e, e)

    def step(self, x, state: AstroLIFState | None = None, temporal_grad: bool = True):
        if x.shape[-1] != self.size:
            raise ValueError(f"input with {x.shape[-1]} features: the layer has {self.size} neurons")
        st = self.initial_state(x) if state is None else state
        if not temporal_grad:
            st = AstroLIFState(*(t.detach() for t in st))
        lam = self.astro_decay()
        a2 = st.a2
        if not temporal_grad:
            # the state arrived detached (SLTT): give a[t-2] the gradient of the forward traces,
            # a2 + e2 . (theta - sg(theta)), whose value is a2 and whose gradient is e2
            theta = torch.stack([self.k_pre, self.k_post, self.rho_a], dim=-1)        # [G, 3]
            a2 = a2 + (st.e2 * (theta - theta.detach())).sum(-1)
        m = self.gain * self._expand(a2)
        pre, post = self._group_mean(x), self._group_mean(st.s)
        a = lam * st.a1 + self.k_pre * pre + self.k_post * post
        with torch.no_grad():    # forward-mode derivatives of the linear recursion (inputs held fixed)
            ld = lam.detach()
            e = ld[..., None] * st.e1
            e = e + torch.stack([pre.detach(), post.detach(), ld * (1.0 - ld) * st.a1.detach()], dim=-1)
        p = self.model
        th = p.v_th - p.v_rest
        up = self.beta * (st.v - p.v_rest) + x
        if p.modulation == "current":
            up = up + m
            h = up - th
        else:
            h = up - (th + m)
        z = spike(h, self.surrogate)
        zr = z.detach() if self.detach_reset else z
        if p.reset == "soft":
            vn = up - (p.v_th - p.v_reset) * zr
        else:
            vn = up * (1.0 - zr) + (p.v_reset - p.v_rest) * zr
        return z, AstroLIFState(vn + p.v_rest, z, a, st.a1, e, st.e1)

    def forward(self, x, state: AstroLIFState | None = None, temporal_grad: bool = True):
        out = []
        for t in range(x.shape[0]):
            z, state = self.step(x[t], state, temporal_grad)
            out.append(z)
        return torch.stack(out), state

    def config(self) -> dict:
        return {"type": "AstroLIF", "size": self.size, "groups": self.groups, "dt": self.dt,
                "tau_m": self.model.tau_m, "modulation": self.model.modulation, "v_th": self.model.v_th,
                "v_reset": self.model.v_reset, "v_rest": self.model.v_rest, "reset": self.model.reset,
                "detach_reset": self.detach_reset, **self._init}

    def extra_repr(self):
        return (f"size={self.size}, groups={self.groups}, beta={self.beta:.4f}, modulation={self.model.modulation!r}, "
                f"tau_a={self._init['tau_a']}")

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _signed(net, pre, post, pre_idx, post_idx, w, dt, name):
    for sign, receptor in ((1.0, "excitatory"), (-1.0, "inhibitory")):
        keep = sign * w > 0
        if keep.any():
            net.connect(pre, post, FromList(pre_idx[keep], post_idx[keep]), weight=sign * w[keep], delay=dt,
                        receptor=receptor, name=f"{name}:{receptor[:3]}")


def astro_to_network(model: Sequential, input_spikes=None, *, input_name: str = "input") -> Exported:
    """The network description of ``Sequential(Linear(n_in, N, bias=False), AstroLIF(N), ...)``
    (a trailing ``Linear`` + ``LeakyReadout`` is skipped, as ``to_network`` does): the input source,
    the neurons (``ModulatedLIF``), the astrocytes (``LeakyAstrocyte`` with the trained time
    constants), input -> neurons (the Linear), input -> astrocytes (``k_pre`` times the group's mean
    row of the Linear), neurons -> astrocytes (``k_post / group size``) and the SIC projections
    astrocytes -> neurons (``gain``), all with one-step delays. The neurons fire one step after
    torch (``Exported.lag``)."""
    layers = list(model)
    if len(layers) < 2 or not isinstance(layers[0], (Linear, nn.Linear)) or not isinstance(layers[1], AstroLIF):
        raise ValueError("astro_to_network exports Sequential(Linear(bias=False), AstroLIF, ...)")
    lin, layer = layers[0], layers[1]
    if lin.bias is not None:
        raise ValueError("the Linear before AstroLIF has a bias: exported populations have none; use bias=False")
    skipped = [f"{k}:{type(m).__name__}" for k, m in enumerate(layers[2:], start=2)]
    dt = layer.dt
    W = lin.weight.detach().double().cpu().numpy()              # [N, n_in]
    n, n_in, G = layer.size, W.shape[1], layer.groups
    per = n // G
    net = Network(dt=dt)
    if input_spikes is None:
        from ..models.sources import SpikeSourceArray
        src = SpikeSourceArray(np.zeros(0), np.zeros(0, np.int64))
    else:
        src = spikes_to_source(input_spikes, dt)
    net.add_source(input_name, n_in, src)
    net.add_population("neurons", n, layer.model)
    tau = layer.tau_a()
    # astrocytes: one population of G units needs one tau_a; the trained values differ per group,
    # so each group's astrocyte is its own single-unit population
    names = []
    for g in range(G):
        name = f"astro{g}"
        net.add_population(name, 1, LeakyAstrocyte(tau_a=float(tau[g])))
        names.append(name)
    post, pre = np.nonzero(W)
    _signed(net, input_name, "neurons", pre, post, W[post, pre], dt, f"{input_name}->neurons")
    k_pre = layer.k_pre.detach().double().cpu().numpy()
    k_post = layer.k_post.detach().double().cpu().numpy()
    gain = layer.gain.detach().double().cpu().numpy()
    for g, name in enumerate(names):
        w_in = k_pre[g] * W[g * per:(g + 1) * per].mean(axis=0)
        idx = np.arange(n_in)
        _signed(net, input_name, name, idx, np.zeros(n_in, np.int64), w_in, dt, f"{input_name}->{name}")
        nid = np.arange(g * per, (g + 1) * per)
        _signed(net, "neurons", name, nid, np.zeros(per, np.int64), np.full(per, k_post[g] / per), dt,
                f"neurons->{name}")
        _signed(net, name, "neurons", np.zeros(per, np.int64), nid, gain[nid], dt, f"{name}->neurons")
    return Exported(net, input_name, ["neurons"], {input_name: 0, "neurons": 1}, skipped)
