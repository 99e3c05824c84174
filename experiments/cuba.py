"""The CUBA benchmark network of Vogels & Abbott (2005), as specified in the simulator review of
Brette et al. (2007, J. Comput. Neurosci. 23:349, benchmark 2) and Brian2's ``examples/CUBA.py``.

4000 LIF neurons (80 % excitatory), connection probability 0.02, tau_m = 20 ms, exponential
currents tau_e = 5 ms and tau_i = 10 ms, V_t = -50 mV, V_r = -60 mV, E_l = -49 mV, refractory
5 ms, w_e = 1.62 mV, w_i = -9 mV, initial V uniform in [V_r, V_t]. Weights are voltages: we take
R = tau_m / c_m = 1 MOhm so that a current of 1 nA moves the potential by 1 mV (c_m = 20 nF).
Synaptic delay: one step (the reference model has none; every engine needs at least one).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spiking import CubaLIF, FixedProbability, FromList, Network


@dataclass(frozen=True)
class CubaParams:
    n_neurons: int = 4000
    p_connect: float = 0.02
    exc_fraction: float = 0.8
    tau_m: float = 20.0
    tau_e: float = 5.0
    tau_i: float = 10.0
    v_th: float = -50.0
    v_reset: float = -60.0
    e_l: float = -49.0
    t_ref: float = 5.0
    w_e: float = 1.62
    w_i: float = 9.0       # magnitude; the inhibitory receptor gives the sign (-9 mV)
    dt: float = 0.1
    delay: float = 0.1

    @property
    def n_exc(self) -> int:
        return int(round(self.n_neurons * self.exc_fraction))

    def model(self) -> CubaLIF:
        return CubaLIF(tau_m=self.tau_m, c_m=self.tau_m / 1.0, v_rest=self.e_l, v_reset=self.v_reset,
                       v_th=self.v_th, t_ref=self.t_ref, tau_syn_e=self.tau_e, tau_syn_i=self.tau_i)


@dataclass
class CubaConnectivity:
    """Connection list and initial potentials, drawn once so every simulator gets the same network."""

    params: CubaParams
    pre: np.ndarray    # presynaptic index in 0..n-1 (first n_exc are excitatory)
    post: np.ndarray
    v0: np.ndarray

    @property
    def exc_mask(self) -> np.ndarray:
        return self.pre < self.params.n_exc


def draw_cuba(params: CubaParams = CubaParams(), rng=None) -> CubaConnectivity:
    """Draw connections (fixed probability, no autapses, as Brian2's ``condition='i != j'``)
    and initial potentials from ``rng``."""
    if rng is None:
        raise ValueError("draw_cuba needs a seeded generator: rng=np.random.default_rng(seed)")
    n, p = params.n_neurons, params.p_connect
    # vectorised, O(synapses) draw (spiking.connectors.fixed_probability_pairs): binomial
    # out-degrees, then distinct targets other than the source
    pre, post = FixedProbability(p, allow_self=False).build(n, n, True, rng)
    v0 = params.v_reset + rng.random(n) * (params.v_th - params.v_reset)
    return CubaConnectivity(params, pre, post, v0)


def build_cuba(conn: CubaConnectivity) -> Network:
    """The network description of the drawn CUBA network: one population, two projections."""
    prm = conn.params
    net = Network(dt=prm.dt)
    net.add_population("neurons", prm.n_neurons, prm.model(), initial={"v": conn.v0})
    exc = conn.exc_mask
    net.connect("neurons", "neurons", FromList(conn.pre[exc], conn.post[exc]), weight=prm.w_e,
                delay=prm.delay, receptor="excitatory", name="exc")
    net.connect("neurons", "neurons", FromList(conn.pre[~exc], conn.post[~exc]), weight=prm.w_i,
                delay=prm.delay, receptor="inhibitory", name="inh")
    return net
