"""Astrocytes and the tripartite synapse: the declarations (NEST 3.10 semantics, NEST units).

* :class:`Astrocyte`: NEST ``astrocyte_lr_1994`` (Li & Rinzel 1994, J. Theor. Biol. 166:461, as
  parameterised by Nadkarni & Jung 2003, PRL 91:268101). State IP3 (uM), cytosolic calcium
  ``Ca_astro`` (uM), the IP3R gating variable ``h_IP3R``; its output, the slow inward current
  ``SIC``. Equations (NEST ``models/astrocyte_lr_1994.cpp``, read, not copied)::

      dIP3/dt = (IP3_0 - IP3) / tau_IP3
      dCa/dt  = J_chan - J_pump + J_leak
      dh/dt   = alpha_h (1 - h) - beta_h h
      m_inf = IP3/(IP3 + Kd_IP3_1),  n_inf = Ca/(Ca + Kd_act)
      Ca_ER = (Ca_tot - Ca)/ratio_ER_cyt
      J_chan = ratio_ER_cyt rate_IP3R m_inf^3 n_inf^3 h^3 (Ca_ER - Ca)
      J_leak = ratio_ER_cyt rate_L (Ca_ER - Ca)
      J_pump = rate_SERCA Ca^2/(Km_SERCA^2 + Ca^2)
      alpha_h = k_IP3R Kd_inh (IP3 + Kd_IP3_1)/(IP3 + Kd_IP3_2),  beta_h = k_IP3R Ca

  with Ca read clamped to [0, Ca_tot] inside the derivative. Step order of one step (NEST):
  integrate over the step; clamp Ca to [0, Ca_tot]; ``IP3 += delta_IP3 * (sum of the weights of
  the presynaptic spikes arriving in this step)``; ``y = (Ca - SIC_th) * 1000`` (nM);
  ``SIC = SIC_scale * ln(y)`` for ``y > 1``, else 0; the SIC is sent (reaching each target
  after the SIC projection's delay). An astrocyte emits no spikes.

* :class:`AdExAstro`: NEST ``aeif_cond_alpha_astro`` (Brette & Gerstner 2005 adaptive exponential
  integrate-and-fire, alpha-shaped conductances, plus the SIC as an input current). NEST units:
  mV, ms, pF, nS, pA; projection weights onto it are conductances in nS. Step order (NEST):
  integrate with the SIC and stimulus frozen over the step (V read as V_reset while refractory,
  and bounded by V_peak); after each integrator sub-step a refractory neuron is held at
  V_reset, and V >= V_peak fires (V <- V_reset, w += b, refractory for round(t_ref/dt) steps);
  then the refractory count goes down, the spikes arriving in this step are added
  (``dg += weight * e / tau_syn``), and the SIC arriving in this step is loaded for the next step.

* ``CubaLIF`` (``update_order="nest"``) also takes SIC input: the SIC (pA, as NEST's value) times
  the SIC projection's weight is a current held constant over the next step, entering like
  ``i_offset`` (converted to the model's nA).

Integrators (field ``integrator`` of both declarations):

* ``"rkf45"`` (default): Runge-Kutta-Fehlberg 4(5) with GSL's ``gsl_odeiv`` step-size control,
  as NEST runs these models: the astrocyte with ``gsl_odeiv_control_y_new(1e-3, 0)`` (absolute
  error 1e-3), AdExAstro with ``gsl_odeiv_control_yp_new(gsl_error_tol, gsl_error_tol)``; the
  step size is carried from step to step per unit. Spikes agree with NEST's step for step.
* ``"rk4"``: classic fourth-order Runge-Kutta with ``substeps`` fixed sub-steps per ``dt``: no
  error control, no rejected steps, cheaper (4 derivative evaluations per sub-step against 7 or
  more). docs/astrocytes.md states how close it comes.

Bad input is refused as NEST refuses it (``BadProperty``), with the value named.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .neurons import N_COEF, NeuronModel, _check_finite

KIND_ASTROCYTE = 20
KIND_ADEX_ASTRO = 21
INTEGRATORS = ("rkf45", "rk4")


def _check_integrator(model):
    if model.integrator not in INTEGRATORS:
        raise ValueError(f"integrator={model.integrator!r}: expected one of {INTEGRATORS}")
    s = model.substeps
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
        raise ValueError(f"substeps={s!r}: expected a positive integer (rk4 sub-steps per dt)")


@dataclass(frozen=True)
class Astrocyte(NeuronModel):
    """Li & Rinzel astrocyte as NEST 3.10 ``astrocyte_lr_1994`` (defaults and units are NEST's).

    Concentrations in uM, rates per ms, times in ms. ``delta_IP3`` is the IP3 jump (uM) per unit
    of presynaptic weight. See the module docstring for the equations and step order.
    """

    Ca_tot: float = 2.0          # total free Ca in terms of cytosolic volume, uM
    IP3_0: float = 0.16          # baseline IP3, uM
    Kd_IP3_1: float = 0.13       # first IP3R dissociation constant of IP3, uM
    Kd_IP3_2: float = 0.9434     # second IP3R dissociation constant of IP3, uM
    Kd_act: float = 0.08234      # IP3R dissociation constant of Ca (activation), uM
    Kd_inh: float = 1.049        # IP3R dissociation constant of Ca (inhibition), uM
    Km_SERCA: float = 0.1        # SERCA pump activation constant, uM
    SIC_scale: float = 1.0       # SIC amplitude scale (SIC in pA where it enters a neuron)
    SIC_th: float = 0.19669      # calcium threshold of SIC, uM
    delta_IP3: float = 0.0002    # IP3 jump per unit presynaptic weight, uM
    k_IP3R: float = 0.0002       # IP3R binding constant for Ca inhibition, 1/(uM ms)
    rate_IP3R: float = 0.006     # maximal rate of Ca release by IP3R, 1/ms
    rate_L: float = 0.00011      # Ca leak rate from ER, 1/ms
    rate_SERCA: float = 0.0009   # maximal SERCA uptake rate, uM/ms
    ratio_ER_cyt: float = 0.185  # ER to cytosol volume ratio
    tau_IP3: float = 7142.0      # IP3 decay time constant, ms
    integrator: str = "rkf45"
    substeps: int = 1

    state_variables = ("IP3", "Ca_astro", "h_IP3R", "SIC")
    kind = KIND_ASTROCYTE
    takes_sic = False

    def validate(self):
        names = ("Ca_tot", "IP3_0", "Kd_IP3_1", "Kd_IP3_2", "Kd_act", "Kd_inh", "Km_SERCA", "SIC_scale",
                 "SIC_th", "delta_IP3", "k_IP3R", "rate_IP3R", "rate_L", "rate_SERCA", "ratio_ER_cyt", "tau_IP3")
        for name in names:
            _check_finite(name, getattr(self, name))
        for name in ("Ca_tot", "Kd_act", "Kd_IP3_1", "Kd_IP3_2", "Km_SERCA", "ratio_ER_cyt", "SIC_scale", "tau_IP3"):
            _check_finite(name, getattr(self, name), positive=True)
        for name in ("IP3_0", "Kd_inh", "delta_IP3", "k_IP3R", "SIC_th", "rate_L", "rate_IP3R", "rate_SERCA"):
            _check_finite(name, getattr(self, name), nonneg=True)
        _check_integrator(self)

    def default_state(self) -> dict:
        # initial values of NEST (Li & Rinzel 1994; Nadkarni & Jung 2003)
        return {"IP3": self.IP3_0, "Ca_astro": 0.073, "h_IP3R": 0.793, "SIC": 0.0}

    def check_state(self, state: dict, name: str):
        """Initial concentrations must be >= 0 and h_IP3R within [0, 1] (NEST's checks)."""
        for var in ("IP3", "Ca_astro"):
            a = np.asarray(state[var])
            if a.size and a.min() < 0:
                raise ValueError(f"population {name!r} initial {var}={float(a.min())}: "
                                 "expected a concentration >= 0 uM")
        h = np.asarray(state["h_IP3R"])
        if h.size and (h.min() < 0 or h.max() > 1):
            bad = float(h.min()) if h.min() < 0 else float(h.max())
            raise ValueError(f"population {name!r} initial h_IP3R={bad}: expected a fraction in [0, 1]")

    def coefficients(self, dt: float) -> np.ndarray:
        # the shared clock kernels do not run astrocytes (spiking.engines.astro does)
        return np.zeros(N_COEF)

    # closed forms used by tests and docs ------------------------------------------------------
    def sic(self, ca):
        """SIC for calcium ``ca`` (uM): SIC_scale ln((ca - SIC_th) 1000) where that argument > 1."""
        y = (np.asarray(ca, dtype=np.float64) - self.SIC_th) * 1000.0
        return np.where(y > 1.0, self.SIC_scale * np.log(np.maximum(y, 1.0)), 0.0)

    def ca_derivative(self, ip3, ca, h):
        """dCa/dt (uM/ms) of the model at (IP3, Ca, h)."""
        ca = min(max(ca, 0.0), self.Ca_tot)
        m = ip3 / (ip3 + self.Kd_IP3_1)
        n = ca / (ca + self.Kd_act)
        ca_er = (self.Ca_tot - ca) / self.ratio_ER_cyt
        j_chan = self.ratio_ER_cyt * self.rate_IP3R * m ** 3 * n ** 3 * h ** 3 * (ca_er - ca)
        j_leak = self.ratio_ER_cyt * self.rate_L * (ca_er - ca)
        j_pump = self.rate_SERCA * ca ** 2 / (self.Km_SERCA ** 2 + ca ** 2)
        return j_chan - j_pump + j_leak

    def h_infinity(self, ip3, ca):
        """Steady state of h at fixed IP3 and Ca."""
        alpha = self.k_IP3R * self.Kd_inh * (ip3 + self.Kd_IP3_1) / (ip3 + self.Kd_IP3_2)
        return alpha / (alpha + self.k_IP3R * ca)


@dataclass(frozen=True)
class AdExAstro(NeuronModel):
    """Adaptive exponential integrate-and-fire neuron with alpha conductances and SIC input,
    NEST 3.10 ``aeif_cond_alpha_astro`` (defaults and units are NEST's: mV, ms, pF, nS, pA).

    Projection weights onto it are peak conductances in nS (``receptor`` picks g_ex or g_in).
    """

    V_peak: float = 0.0        # spike detection threshold, mV
    V_reset: float = -60.0     # mV
    t_ref: float = 0.0         # ms
    g_L: float = 30.0          # nS
    C_m: float = 281.0         # pF
    E_ex: float = 0.0          # mV
    E_in: float = -85.0        # mV
    E_L: float = -70.6         # mV
    Delta_T: float = 2.0       # mV
    tau_w: float = 144.0       # ms
    a: float = 4.0             # nS
    b: float = 80.5            # pA
    V_th: float = -50.4        # mV
    tau_syn_ex: float = 0.2    # ms
    tau_syn_in: float = 2.0    # ms
    I_e: float = 0.0           # pA
    gsl_error_tol: float = 1e-6
    integrator: str = "rkf45"
    substeps: int = 1

    state_variables = ("v", "g_ex", "g_in", "w", "dg_ex", "dg_in", "I_SIC")
    kind = KIND_ADEX_ASTRO
    takes_sic = True

    def validate(self):
        for name in ("V_peak", "V_reset", "t_ref", "g_L", "C_m", "E_ex", "E_in", "E_L", "Delta_T", "tau_w",
                     "a", "b", "V_th", "tau_syn_ex", "tau_syn_in", "I_e", "gsl_error_tol"):
            _check_finite(name, getattr(self, name))
        if self.V_reset >= self.V_peak:
            raise ValueError(f"V_reset={self.V_reset} >= V_peak={self.V_peak}: expected V_reset < V_peak")
        if self.Delta_T < 0:
            raise ValueError(f"Delta_T={self.Delta_T}: expected a value >= 0 mV")
        if self.Delta_T > 0:
            max_exp_arg = math.log(np.finfo(float).max / 1e20)   # NEST's overflow margin
            if (self.V_peak - self.V_th) / self.Delta_T >= max_exp_arg:
                raise ValueError(f"(V_peak - V_th)/Delta_T = {(self.V_peak - self.V_th) / self.Delta_T}: "
                                 f"expected below {max_exp_arg:.1f} (overflow at spike time)")
        if self.V_peak < self.V_th:
            raise ValueError(f"V_peak={self.V_peak} < V_th={self.V_th}: expected V_peak >= V_th")
        for name in ("C_m", "tau_syn_ex", "tau_syn_in", "tau_w", "gsl_error_tol"):
            _check_finite(name, getattr(self, name), positive=True)
        _check_finite("t_ref", self.t_ref, nonneg=True)
        _check_integrator(self)

    def default_state(self) -> dict:
        return {"v": self.E_L, "g_ex": 0.0, "g_in": 0.0, "w": 0.0, "dg_ex": 0.0, "dg_in": 0.0, "I_SIC": 0.0}

    def check_state(self, state: dict, name: str):
        for var in ("g_ex", "g_in"):
            a = np.asarray(state[var])
            if a.size and a.min() < 0:
                raise ValueError(f"population {name!r} initial {var}={float(a.min())}: expected a conductance >= 0 nS")

    def coefficients(self, dt: float) -> np.ndarray:
        return np.zeros(N_COEF)

    def refractory_steps(self, dt: float) -> int:
        # NEST: Time(Time::ms(t_ref)).get_steps(), i.e. rounded to the grid
        return int(round(self.t_ref / dt))


KIND_LEAKY_ASTRO = 22
MODULATIONS = ("current", "threshold")


@dataclass(frozen=True)
class LeakyAstrocyte(NeuronModel):
    """A slow leaky integrator unit (our own, the event-engine form of the trainable
    astrocyte-modulated unit of ``spiking.nn.astro``; not a NEST model):
    ``a <- exp(-dt/tau_a) a + (sum of the signed weights arriving in this step)``, and ``a`` is
    sent as its SIC every step (to neurons through SIC projections, whose weight may be signed by
    the receptor). It emits no spikes."""

    tau_a: float = 200.0     # ms

    state_variables = ("a",)
    kind = KIND_LEAKY_ASTRO
    takes_sic = False

    def validate(self):
        _check_finite("tau_a", self.tau_a, positive=True, allow_inf=True)

    def default_state(self) -> dict:
        return {"a": 0.0}

    def check_state(self, state, name):
        pass

    def coefficients(self, dt: float) -> np.ndarray:
        return np.zeros(N_COEF)

    def decay(self, dt: float) -> float:
        return 0.0 if self.tau_a == 0 else math.exp(-dt / self.tau_a)


@dataclass(frozen=True)
class ModulatedLIF(NeuronModel):
    """A delta-synapse LIF (as :class:`spiking.LIF`) whose SIC input ``m`` (the weighted sum of the
    SIC that reached it, loaded in the previous step) either adds ``m`` mV to the membrane per step
    (``modulation="current"``; a plain ``LIF`` taking SIC does the same) or raises the threshold to
    ``v_th + m`` (``"threshold"``). The event-engine form of ``spiking.nn.AstroLIF``."""

    tau_m: float = 20.0
    v_rest: float = 0.0
    v_reset: float = 0.0
    v_th: float = 1.0
    t_ref: float = 0.0
    reset: str = "hard"
    modulation: str = "current"

    kind = KIND_LEAKY_ASTRO + 1
    takes_sic = True

    def validate(self):
        _check_finite("tau_m", self.tau_m, positive=True, allow_inf=True)
        for name in ("v_rest", "v_reset", "v_th"):
            _check_finite(name, getattr(self, name))
        _check_finite("t_ref", self.t_ref, nonneg=True)
        if self.reset not in ("hard", "soft"):
            raise ValueError(f"reset={self.reset!r}: expected 'hard' or 'soft'")
        if self.modulation not in MODULATIONS:
            raise ValueError(f"modulation={self.modulation!r}: expected one of {MODULATIONS}")
        if self.v_reset >= self.v_th:
            raise ValueError(f"v_reset={self.v_reset} >= v_th={self.v_th}: expected v_reset below threshold")

    def default_state(self) -> dict:
        return {"v": self.v_rest}

    def check_state(self, state, name):
        pass

    def as_lif(self):
        from .neurons import LIF
        return LIF(tau_m=self.tau_m, v_rest=self.v_rest, v_reset=self.v_reset, v_th=self.v_th, t_ref=self.t_ref,
                   reset=self.reset)

    def coefficients(self, dt: float) -> np.ndarray:
        return self.as_lif().coefficients(dt)


ASTRO_MODELS = {"Astrocyte": Astrocyte, "AdExAstro": AdExAstro, "LeakyAstrocyte": LeakyAstrocyte,
                "ModulatedLIF": ModulatedLIF}
