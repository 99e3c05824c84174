"""Neuron model declarations.

Each model is declared once, as a frozen dataclass of validated parameters (units documented per
field) plus the exact propagators of its linear dynamics for a time step ``dt``. The event engine's
numba kernels (``spiking.engines.kernels``) and the torch functions (``spiking.nn``) both read
``propagators(dt)``; neither keeps its own copy of the equations' coefficients.

Units follow PyNN/sPyNNaker: time ms, potential mV, current nA, capacitance nF, so that
``tau_m / c_m`` is a resistance in MOhm and nA * MOhm = mV.

Update order within one step ``n`` (the step labelled ``t_n = n * dt``; see docs/architecture.md):

* ``LIF`` (delta synapses, NEST ``iaf_psc_delta``): unless refractory,
  ``v <- v_rest + (v - v_rest) * P22 + drive + sum(w_exc) - sum(w_inh)`` with the input that
  arrives in step n; refractory neurons discard their input. Then threshold, reset, refractory.
* ``CubaLIF`` with ``update_order="nest"`` (NEST ``iaf_psc_exp``, PyNN ``IF_curr_exp``, exact
  integration, Rotter & Diesmann 1999): unless refractory,
  ``v <- v_rest + (v - v_rest) P22 + P21e i_e - P21i i_i + drive``; then the currents decay and
  take this step's input, ``i <- P11 i + w``; then threshold, reset, refractory. Input arriving in
  step n therefore moves v from step n + 1 on.
* ``CubaLIF`` with ``update_order="spinnaker"`` (sPyNNaker, as documented with the CA3 data):
  ``i <- i + w * (tau_s/dt)(1 - exp(-dt/tau_s))``; unless refractory, v follows the closed form
  toward ``v_rest + R (i_e - i_i + i_offset)`` with the current held over the step; threshold,
  reset, refractory; then ``i <- i * exp(-dt/tau_s)``. Input arriving in step n can fire the
  neuron in step n.

Refractory period: ``round(t_ref / dt)`` steps after the spike step in which v is held at
``v_reset`` (NEST's and sPyNNaker's counting). A ``t_ref`` that is not a whole number of steps is
rounded with a ``UserWarning`` that names both values.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

import numpy as np

RESETS = ("hard", "soft")
UPDATE_ORDERS = ("nest", "spinnaker")

# Kernel families: the integer code the numba kernels branch on, once per population.
KIND_SOURCE = -1
KIND_DELTA = 0
KIND_EXP_NEST = 1
KIND_EXP_SPINNAKER = 2

# Layout of the coefficient vector handed to the kernels (one row per population).
COEF_NAMES = (
    "p22",          # membrane decay over one step
    "drive",        # constant voltage increment per step from i_offset (NEST order: exact)
    "p11e", "p11i",  # synaptic current decay over one step
    "p21e", "p21i",  # current-to-voltage propagators (NEST order)
    "v_rest", "v_reset", "v_th",
    "soft_reset",   # 1.0: subtract (v_th - v_reset) on spike; 0.0: set v to v_reset
    "ref_steps",    # refractory period in steps
    "in_scale_e", "in_scale_i",  # ring-buffer input scaling (sPyNNaker order)
    "r_m",          # membrane resistance (MOhm), for the sPyNNaker closed form
    "i_offset",     # constant current (nA)
)
N_COEF = len(COEF_NAMES)
COEF = {name: i for i, name in enumerate(COEF_NAMES)}


def _check_finite(name: str, value: float, *, positive=False, allow_inf=False, nonneg=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}={value!r}: expected a number")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name}=nan: expected a number")
    if math.isinf(value) and not allow_inf:
        raise ValueError(f"{name}={value}: expected a finite number")
    if positive and not value > 0:
        raise ValueError(f"{name}={value}: expected a positive value")
    if nonneg and value < 0:
        raise ValueError(f"{name}={value}: expected a value >= 0")


def membrane_decay(dt: float, tau: float) -> float:
    """exp(-dt/tau), 1 for tau = inf (integrate-and-fire)."""
    return 1.0 if math.isinf(tau) else math.exp(-dt / tau)


def integrated_decay(dt: float, tau: float) -> float:
    """Integral of exp(-s/tau) over [0, dt], i.e. tau (1 - exp(-dt/tau)); dt for tau = inf."""
    return dt if math.isinf(tau) else -tau * math.expm1(-dt / tau)


def exp_current_to_voltage(dt: float, tau_m: float, tau_s: float, c_m: float) -> float:
    """Exact propagator P21: voltage after dt from a unit current decaying with tau_s.

    (1/c_m) * integral_0^dt exp(-(dt-s)/tau_m) exp(-s/tau_s) ds, with the limits for
    tau_m = inf and tau_m = tau_s (Rotter & Diesmann 1999, Biol. Cybern. 81:381).
    """
    if math.isinf(tau_m):
        return integrated_decay(dt, tau_s) / c_m
    if abs(tau_m - tau_s) < 1e-9 * max(tau_m, tau_s):
        return dt * math.exp(-dt / tau_m) / c_m
    a = 1.0 / tau_s - 1.0 / tau_m
    # exp(-dt/tau_m) * (1 - exp(-a dt)) / a, written with expm1 for accuracy
    return math.exp(-dt / tau_m) * (-math.expm1(-a * dt)) / a / c_m


def refractory_steps(t_ref: float, dt: float) -> float:
    """``t_ref`` in whole steps of ``dt`` (rounded; warns when ``t_ref`` is off the grid)."""
    steps = round(t_ref / dt)
    if abs(steps * dt - t_ref) > 1e-9 * max(1.0, abs(t_ref)):
        warnings.warn(f"t_ref={t_ref} ms is not a multiple of dt={dt} ms; in clock mode the refractory period "
                      f"is rounded to {steps} steps ({steps * dt:g} ms); exact mode keeps it in continuous time",
                      UserWarning, stacklevel=3)
    return float(steps)


@dataclass(frozen=True)
class NeuronModel:
    """Base of all neuron declarations: validation, state variables, kernel coefficients."""

    state_variables = ("v",)
    kind = None

    def __post_init__(self):
        self.validate()

    def validate(self):  # pragma: no cover - overridden
        pass

    def parameters(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def default_state(self) -> dict:
        return {"v": self.v_rest}

    def coefficients(self, dt: float) -> np.ndarray:
        c = np.zeros(N_COEF)
        for name, value in self.propagators(dt).items():
            c[COEF[name]] = value
        return c

    def kernel_kind(self) -> int:
        return self.kind


@dataclass(frozen=True)
class LIF(NeuronModel):
    """Leaky integrate-and-fire neuron with delta (voltage-jump) synapses, NEST ``iaf_psc_delta``.

    dv/dt = -(v - v_rest)/tau_m + i_offset/c_m; an input spike of weight w (mV) adds w to v.
    ``tau_m = inf`` gives the (non-leaky) integrate-and-fire neuron, see :func:`IF`.
    """

    tau_m: float = 20.0      # membrane time constant, ms (inf: no leak)
    v_rest: float = -65.0    # resting potential, mV
    v_reset: float = -65.0   # reset potential, mV
    v_th: float = -50.0      # threshold, mV
    t_ref: float = 0.0       # refractory period, ms
    c_m: float = 1.0         # membrane capacitance, nF (only scales i_offset)
    i_offset: float = 0.0    # constant current, nA
    reset: str = "hard"      # "hard": v <- v_reset; "soft": v <- v - (v_th - v_reset)

    kind = KIND_DELTA

    def validate(self):
        _check_finite("tau_m", self.tau_m, positive=True, allow_inf=True)
        for name in ("v_rest", "v_reset", "v_th", "i_offset"):
            _check_finite(name, getattr(self, name))
        _check_finite("t_ref", self.t_ref, nonneg=True)
        _check_finite("c_m", self.c_m, positive=True)
        if self.reset not in RESETS:
            raise ValueError(f"reset={self.reset!r}: expected one of {RESETS}")
        if self.v_reset >= self.v_th:
            raise ValueError(f"v_reset={self.v_reset} >= v_th={self.v_th}: expected v_reset below threshold")

    @property
    def r_m(self) -> float:
        return math.inf if math.isinf(self.tau_m) else self.tau_m / self.c_m

    def propagators(self, dt: float) -> dict:
        _check_finite("dt", dt, positive=True)
        return {
            "p22": membrane_decay(dt, self.tau_m),
            # exact response to a constant current over one step
            "drive": self.i_offset * integrated_decay(dt, self.tau_m) / self.c_m,
            "v_rest": self.v_rest, "v_reset": self.v_reset, "v_th": self.v_th,
            "soft_reset": 1.0 if self.reset == "soft" else 0.0,
            "ref_steps": refractory_steps(self.t_ref, dt),
            "in_scale_e": 1.0, "in_scale_i": 1.0,
            "r_m": 0.0 if math.isinf(self.tau_m) else self.r_m,
            "i_offset": self.i_offset,
        }

    def v_infinity(self) -> float:
        """Asymptotic potential under i_offset (inf for a driven IF neuron)."""
        if math.isinf(self.tau_m):
            return self.v_rest if self.i_offset == 0 else math.copysign(math.inf, self.i_offset)
        return self.v_rest + self.r_m * self.i_offset


def IF(v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=0.0, c_m=1.0, i_offset=0.0, reset="hard") -> LIF:
    """Non-leaky integrate-and-fire neuron: a :class:`LIF` with tau_m = inf."""
    return LIF(tau_m=math.inf, v_rest=v_rest, v_reset=v_reset, v_th=v_th, t_ref=t_ref, c_m=c_m,
               i_offset=i_offset, reset=reset)


@dataclass(frozen=True)
class CubaLIF(NeuronModel):
    """Current-based LIF with exponential excitatory and inhibitory synaptic currents.

    Semantics of NEST ``iaf_psc_exp`` / PyNN ``IF_curr_exp``:
    c_m dv/dt = -c_m (v - v_rest)/tau_m + i_e - i_i + i_offset, di_x/dt = -i_x/tau_syn_x,
    and a spike of weight w (nA) adds w to i_e or i_i. ``update_order="spinnaker"`` gives
    sPyNNaker's per-step order instead (see the module docstring).
    """

    tau_m: float = 20.0      # ms
    c_m: float = 1.0         # nF
    v_rest: float = -65.0    # mV
    v_reset: float = -65.0   # mV
    v_th: float = -50.0      # mV
    t_ref: float = 0.1       # ms
    tau_syn_e: float = 5.0   # ms
    tau_syn_i: float = 5.0   # ms
    i_offset: float = 0.0    # nA
    reset: str = "hard"
    update_order: str = "nest"

    state_variables = ("v", "i_e", "i_i")

    def validate(self):
        _check_finite("tau_m", self.tau_m, positive=True, allow_inf=True)
        _check_finite("c_m", self.c_m, positive=True)
        for name in ("v_rest", "v_reset", "v_th", "i_offset"):
            _check_finite(name, getattr(self, name))
        _check_finite("t_ref", self.t_ref, nonneg=True)
        _check_finite("tau_syn_e", self.tau_syn_e, positive=True)
        _check_finite("tau_syn_i", self.tau_syn_i, positive=True)
        if self.reset not in RESETS:
            raise ValueError(f"reset={self.reset!r}: expected one of {RESETS}")
        if self.update_order not in UPDATE_ORDERS:
            raise ValueError(f"update_order={self.update_order!r}: expected one of {UPDATE_ORDERS}")
        if self.v_reset >= self.v_th:
            raise ValueError(f"v_reset={self.v_reset} >= v_th={self.v_th}: expected v_reset below threshold")

    @property
    def kind(self):  # type: ignore[override]
        return KIND_EXP_NEST if self.update_order == "nest" else KIND_EXP_SPINNAKER

    @property
    def r_m(self) -> float:
        return math.inf if math.isinf(self.tau_m) else self.tau_m / self.c_m

    def default_state(self) -> dict:
        return {"v": self.v_rest, "i_e": 0.0, "i_i": 0.0}

    def propagators(self, dt: float) -> dict:
        _check_finite("dt", dt, positive=True)
        p = {
            "p22": membrane_decay(dt, self.tau_m),
            "drive": self.i_offset * integrated_decay(dt, self.tau_m) / self.c_m,
            "p11e": math.exp(-dt / self.tau_syn_e),
            "p11i": math.exp(-dt / self.tau_syn_i),
            "p21e": exp_current_to_voltage(dt, self.tau_m, self.tau_syn_e, self.c_m),
            "p21i": exp_current_to_voltage(dt, self.tau_m, self.tau_syn_i, self.c_m),
            "v_rest": self.v_rest, "v_reset": self.v_reset, "v_th": self.v_th,
            "soft_reset": 1.0 if self.reset == "soft" else 0.0,
            "ref_steps": refractory_steps(self.t_ref, dt),
            "in_scale_e": 1.0, "in_scale_i": 1.0,
            "r_m": 0.0 if math.isinf(self.tau_m) else self.r_m,
            "i_offset": self.i_offset,
        }
        if self.update_order == "spinnaker":
            # sPyNNaker scales ring-buffer input so that the current's integral over the step
            # matches the exponential's: (tau_s/dt)(1 - exp(-dt/tau_s)).
            p["in_scale_e"] = integrated_decay(dt, self.tau_syn_e) / dt
            p["in_scale_i"] = integrated_decay(dt, self.tau_syn_i) / dt
            if math.isinf(self.tau_m):
                raise ValueError("tau_m=inf: the sPyNNaker update order needs a finite tau_m")
        return p


MODELS = {"LIF": LIF, "CubaLIF": CubaLIF}


def model_from_dict(kind: str, params: dict) -> NeuronModel:
    if kind not in MODELS:
        raise ValueError(f"neuron model {kind!r}: expected one of {sorted(MODELS)}")
    return MODELS[kind](**params)
