"""Resistive device models: programming noise, drift, 1/f and read noise, levels, stuck faults.

Every model is a small frozen dataclass. Conductances are torch tensors in microsiemens (uS);
every random number comes from the ``torch.Generator`` passed in. The interface shared by all:

* ``program(g_target, generator) -> Programmed``: the conductances reached by programming
  (with finite ``levels`` the target is first rounded to the nearest level; stuck devices are
  drawn with ``p_stuck_min`` / ``p_stuck_max`` and sit at g_min / g_max whatever the target);
* ``at_time(g_prog, programmed, t_inference, generator)``: conductances at ``t_inference`` seconds
  after programming (drift and accumulated 1/f noise, drawn once per call);
* ``read_noise_std``: per-read noise of one device (uS), applied by the periphery at every read.

Sources (each model's docstring has its own):

* ``PCM`` (preset ``pcm_ibm``): IBM aihwkit ``PCMLikeNoiseModel``
  (``src/aihwkit/inference/noise/pcm.py``), fitted by Nandakumar et al., ICECS 2019, and used by
  Joshi et al., Nat. Commun. 11, 2473 (2020).
* ``RRAMWan2022`` (``rram_wan2022``): aihwkit ``ReRamWan2022NoiseModel``
  (``inference/noise/reram.py``), approximating Wan et al., Nature 608, 504 (2022).
* ``RRAMMilo`` (``rram_milo``): CrossSim ``RRAMMilo`` (``simulator/devices/custom/RRAM_Milo.py``),
  Milo et al., IRPS 2021, Fig. 4.
* ``RRAMGeneric`` (``rram_generic``) and ``RRAMRandomReservoir`` (``rram_random_reservoir``):
  parametric models whose defaults are round numbers, not fits (see their docstrings).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

__all__ = ["Device", "Programmed", "PCM", "RRAMWan2022", "RRAMMilo", "RRAMGeneric", "RRAMRandomReservoir",
           "IdealDevice", "PRESETS", "get_device"]

_ZERO_CLIP = 1e-7   # aihwkit pcm.py: relative conductance floor in the drift-exponent fit


def _randn(like: torch.Tensor, generator) -> torch.Tensor:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator={generator!r}: expected a torch.Generator")
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


def _check_time(t: float) -> float:
    t = float(t)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"t_inference={t}: expected a finite time >= 0 in seconds since programming")
    return t


@dataclass
class Programmed:
    """What programming left in the array: the programmed conductances, the per-device
    parameter that later drift needs (aihwkit's "drift noise parameters": nu for PCM, the target
    for the Wan model), and the masks of stuck devices."""

    g_prog: torch.Tensor
    drift_param: torch.Tensor | None
    stuck_min: torch.Tensor | None = None
    stuck_max: torch.Tensor | None = None


@dataclass(frozen=True)
class Device:
    """Common part of every device model.

    g_max, g_min: conductance range (uS) used by the weight mapping; levels: number of
    programmable conductance levels between g_min and g_max (0: continuous); p_stuck_min,
    p_stuck_max: probabilities that a device is stuck at g_min / g_max (drawn at programming;
    a stuck device keeps its stuck value at every later time).
    """

    g_max: float = 25.0
    g_min: float = 0.0
    levels: int = 0
    p_stuck_min: float = 0.0
    p_stuck_max: float = 0.0
    name: str = field(default="device", compare=False)

    def __post_init__(self):
        for key in ("g_max", "g_min"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{type(self).__name__} {key}={v!r}: expected a finite conductance >= 0 (uS)")
        if not self.g_max > self.g_min:
            raise ValueError(f"{type(self).__name__} g_max={self.g_max} <= g_min={self.g_min}: expected g_max > g_min")
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) or self.levels < 0 or self.levels == 1:
            raise ValueError(f"{type(self).__name__} levels={self.levels!r}: expected 0 (continuous) or an integer >= 2")
        for key in ("p_stuck_min", "p_stuck_max"):
            p = getattr(self, key)
            if not (0.0 <= p <= 1.0):
                raise ValueError(f"{type(self).__name__} {key}={p!r}: expected a probability in [0, 1]")
        if self.p_stuck_min + self.p_stuck_max > 1.0:
            raise ValueError(f"{type(self).__name__} p_stuck_min + p_stuck_max = "
                             f"{self.p_stuck_min + self.p_stuck_max}: expected at most 1")

    # -- to be provided by each model ----------------------------------------------------------
    def programming_noise(self, g_target: torch.Tensor, generator) -> torch.Tensor:
        return g_target.clone()

    def drift_parameter(self, g_target: torch.Tensor, generator):
        return None

    def drift(self, g_prog: torch.Tensor, drift_param, t_inference: float, generator) -> torch.Tensor:
        return g_prog.clone()

    @property
    def read_noise_std(self) -> float:
        """Standard deviation (uS) of the fresh noise of one device at every read."""
        return 0.0

    @property
    def is_ideal(self) -> bool:
        return False

    # -- shared ---------------------------------------------------------------------------------
    def quantise_levels(self, g: torch.Tensor) -> torch.Tensor:
        """``g`` rounded to the nearest of ``levels`` equally spaced levels in [g_min, g_max]."""
        if self.levels == 0:
            return g
        step = (self.g_max - self.g_min) / (self.levels - 1)
        k = torch.round((g.clamp(self.g_min, self.g_max) - self.g_min) / step)
        return self.g_min + k * step

    def program(self, g_target: torch.Tensor, generator=None) -> Programmed:
        """Program every device to ``g_target`` (uS): levels, then programming noise, then the
        drift parameters (from the target, as aihwkit), then stuck devices."""
        g_target = torch.as_tensor(g_target)
        if not torch.isfinite(g_target).all():
            raise ValueError("g_target contains nan or inf: expected finite conductances in uS")
        g_t = self.quantise_levels(g_target)
        g_prog = self.programming_noise(g_t, generator)
        param = self.drift_parameter(g_t, generator)
        smin = smax = None
        if self.p_stuck_min > 0 or self.p_stuck_max > 0:
            u = torch.rand(g_t.shape, generator=generator, dtype=g_t.dtype, device=g_t.device)
            smin = u < self.p_stuck_min
            smax = (u >= self.p_stuck_min) & (u < self.p_stuck_min + self.p_stuck_max)
            g_prog = torch.where(smin, torch.full_like(g_prog, self.g_min), g_prog)
            g_prog = torch.where(smax, torch.full_like(g_prog, self.g_max), g_prog)
        return Programmed(g_prog, param, smin, smax)

    def at_time(self, g_prog: torch.Tensor, programmed: Programmed, t_inference: float, generator=None):
        """Conductances ``t_inference`` s after programming, from (re-derived) programmed
        conductances ``g_prog``; stuck devices keep their stuck value."""
        t = _check_time(t_inference)
        g = self.drift(g_prog, programmed.drift_param, t, generator)
        if programmed.stuck_min is not None:
            g = torch.where(programmed.stuck_min, torch.full_like(g, self.g_min), g)
            g = torch.where(programmed.stuck_max, torch.full_like(g, self.g_max), g)
        return g


@dataclass(frozen=True)
class IdealDevice(Device):
    """A device that reaches its target exactly and never changes (for tests and baselines)."""

    g_max: float = 1.0
    name: str = field(default="ideal", compare=False)

    @property
    def is_ideal(self) -> bool:
        return self.levels == 0 and self.p_stuck_min == 0 and self.p_stuck_max == 0


@dataclass(frozen=True)
class PCM(Device):
    """Phase-change memory, aihwkit's ``PCMLikeNoiseModel`` (Nandakumar et al., ICECS 2019;
    Joshi et al., Nat. Commun. 2020).

    Programming noise sigma_p = (c0 + c1 x + c2 x^2) uS * g_max / 25 with x = g_T / g_max,
    clamped at 0 only. Drift exponent per device from the target: nu = |mu + s N(0, 1)|,
    mu = clip(-0.0155 ln g_r + 0.0244, 0.049, 0.1), s = clip(-0.0125 ln g_r - 0.0059, 0.008, 0.045),
    g_r = max(x, 1e-7). At t_inference: g = g_prog ((t_inf + t0) / t0)^-nu (none at t_inf = 0), then
    accumulated 1/f noise g + |g| q_s sqrt(ln((t + t_read) / (2 t_read))) N(0, 1) with
    t = t_inf + t0 and q_s = min(0.0088 / max((g_prog / g_max)^0.65, 1e-3), 0.2), clamped at 0.
    """

    g_max: float = 25.0
    g_min: float = 0.0
    prog_coeff: tuple = (0.26348, 1.9650, -1.1731)
    prog_coeff_g_max_reference: float = 25.0
    t0: float = 20.0
    t_read: float = 250e-9
    prog_noise_scale: float = 1.0
    read_noise_scale: float = 1.0
    drift_scale: float = 1.0
    name: str = field(default="pcm_ibm", compare=False)

    def sigma_programming(self, g_target):
        """sigma_p (uS) at target conductance(s) ``g_target`` (uS)."""
        x = torch.as_tensor(g_target, dtype=torch.float64) / self.g_max
        sig = torch.zeros_like(x) + self.prog_coeff[0]
        mat = torch.ones_like(x)
        for c in self.prog_coeff[1:]:
            mat = mat * x
            sig = sig + mat * c
        return sig * (self.g_max / self.prog_coeff_g_max_reference)

    def programming_noise(self, g_target, generator):
        sig = self.sigma_programming(g_target).to(g_target.dtype)
        return (g_target + self.prog_noise_scale * sig * _randn(g_target, generator)).clamp(min=0.0)

    @staticmethod
    def drift_mu(g_relative):
        g_r = torch.as_tensor(g_relative, dtype=torch.float64).abs().clamp(min=_ZERO_CLIP)
        return (-0.0155 * torch.log(g_r) + 0.0244).clamp(0.049, 0.1)

    @staticmethod
    def drift_sigma(g_relative):
        g_r = torch.as_tensor(g_relative, dtype=torch.float64).abs().clamp(min=_ZERO_CLIP)
        return (-0.0125 * torch.log(g_r) - 0.0059).clamp(0.008, 0.045)

    def drift_parameter(self, g_target, generator):
        g_r = g_target / self.g_max
        mu = self.drift_mu(g_r).to(g_target.dtype)
        s = self.drift_sigma(g_r).to(g_target.dtype)
        return (mu + s * _randn(g_target, generator)).abs() * self.drift_scale

    def drift_factor(self, t_inference: float, nu):
        """((t_inf + t0) / t0)^-nu, 1 at t_inf = 0."""
        t = _check_time(t_inference)
        nu = torch.as_tensor(nu)
        if t == 0:
            return torch.ones_like(nu)
        return ((t + self.t0) / self.t0) ** (-nu)

    def q_s(self, g_prog):
        g = torch.as_tensor(g_prog, dtype=torch.float64)
        return (0.0088 / ((g.abs() / self.g_max) ** 0.65).clamp(min=1e-3)).clamp(max=0.2)

    def read_sigma_factor(self, t_inference: float) -> float:
        """sqrt(ln((t + t_read) / (2 t_read))) with t = t_inf + t0."""
        t = _check_time(t_inference) + self.t0
        return math.sqrt(math.log((t + self.t_read) / (2 * self.t_read)))

    def drift(self, g_prog, nu, t_inference, generator):
        g = g_prog * self.drift_factor(t_inference, nu).to(g_prog.dtype)
        sig = (self.q_s(g_prog) * self.read_sigma_factor(t_inference)).to(g_prog.dtype)
        g = g + g.abs() * self.read_noise_scale * sig * _randn(g_prog, generator)
        return g.clamp(min=0.0)


# aihwkit reram.py: 4th-order fits (uS, ascending powers of g / g_max, at g_max = 40 uS) of the
# deviation from target at 1 s, 1 day and 2 days after programming (Wan et al. 2022).
WAN2022_COEFFICIENTS = {
    1.0: (0.348, 16.030, -43.853, 45.393, -16.815),
    86400.0: (0.701, 22.086, -50.773, 47.095, -16.458),
    172800.0: (0.782, 20.274, -43.507, 37.062, -11.934),
}


@dataclass(frozen=True)
class RRAMWan2022(Device):
    """RRAM after Wan et al., Nature 608, 504 (2022), as aihwkit's ``ReRamWan2022NoiseModel``.

    sigma(g) = sum_i c_i (g / g_max)^i uS * g_max / 40 with the coefficients of
    :data:`WAN2022_COEFFICIENTS` for 1 s (programming), 1 day and 2 days; at one of those times the
    conductance is redrawn around the target with that sigma (not accumulated), clamped at 0.
    Other times have no fit: they raise, as in aihwkit. ``read_noise`` (fraction of g_max,
    default 1 %) is the per-read noise aihwkit recommends adding for this model
    (``forward.w_noise = 0.01``, additive constant).
    """

    g_max: float = 40.0
    g_min: float = 0.0
    coefficients: tuple = tuple(WAN2022_COEFFICIENTS.items())
    coeff_g_max_reference: float = 40.0
    noise_scale: float = 1.0
    read_noise: float = 0.01
    name: str = field(default="rram_wan2022", compare=False)

    @property
    def times(self) -> list:
        return [t for t, _ in self.coefficients]

    def sigma(self, g, t: float = 1.0):
        coeff = dict(self.coefficients).get(float(t))
        if coeff is None:
            raise ValueError(f"t_inference={t}: the Wan 2022 fit exists at {self.times} s only")
        x = torch.as_tensor(g, dtype=torch.float64) / self.g_max
        sig = torch.zeros_like(x) + coeff[0]
        mat = torch.ones_like(x)
        for c in coeff[1:]:
            mat = mat * x
            sig = sig + mat * c
        return sig * (self.g_max / self.coeff_g_max_reference)

    def _draw(self, g_target, t, generator):
        sig = self.sigma(g_target, t).to(g_target.dtype)
        return (g_target + self.noise_scale * sig * _randn(g_target, generator)).clamp(min=0.0)

    def programming_noise(self, g_target, generator):
        return self._draw(g_target, min(self.times), generator)

    def drift_parameter(self, g_target, generator):
        return g_target.clone()

    def drift(self, g_prog, g_target, t_inference, generator):
        if t_inference == 0:
            return g_prog.clone()
        if float(t_inference) not in self.times:
            raise ValueError(f"t_inference={t_inference}: the Wan 2022 fit exists at {self.times} s only "
                             "(or 0: as programmed)")
        return self._draw(g_target, float(t_inference), generator)

    @property
    def read_noise_std(self) -> float:
        return self.read_noise * self.g_max


@dataclass(frozen=True)
class RRAMMilo(Device):
    """Multilevel HfO2 RRAM after Milo et al., IRPS 2021 (Fig. 4, IGVVA-100 programming), as
    CrossSim's ``RRAMMilo``: sigma = max(-0.009107 G + 4.782321 uS, 0) on 50-225 uS (on/off 4.5).
    No retention model: ``at_time`` with t > 0 raises, as CrossSim does."""

    g_max: float = 225.0
    g_min: float = 50.0
    slope: float = -0.009107
    intercept: float = 4.782321
    name: str = field(default="rram_milo", compare=False)

    def sigma(self, g):
        return (self.slope * torch.as_tensor(g, dtype=torch.float64) + self.intercept).clamp(min=0.0)

    def programming_noise(self, g_target, generator):
        sig = self.sigma(g_target).to(g_target.dtype)
        return (g_target + sig * _randn(g_target, generator)).clamp(min=0.0)

    def drift(self, g_prog, param, t_inference, generator):
        if t_inference != 0:
            raise ValueError(f"t_inference={t_inference}: rram_milo has no drift model (CrossSim's RRAMMilo is "
                             "programming error only); use t_inference=0")
        return g_prog.clone()


@dataclass(frozen=True)
class RRAMGeneric(Device):
    """A generic RRAM: state-independent programming noise ``prog_noise`` (fraction of
    g_max - g_min), on/off ratio ``on_off`` (g_min = g_max / on_off), per-read noise ``read_noise``
    (fraction of g_max), no drift. Defaults are round numbers for studies, not a fit."""

    g_max: float = 100.0
    on_off: float = 10.0
    g_min: float = 10.0
    prog_noise: float = 0.03
    read_noise: float = 0.01
    name: str = field(default="rram_generic", compare=False)

    def __post_init__(self):
        if not (math.isfinite(self.on_off) and self.on_off > 1):
            raise ValueError(f"RRAMGeneric on_off={self.on_off!r}: expected a ratio > 1")
        if abs(self.g_min - self.g_max / self.on_off) > 1e-9 * self.g_max:
            object.__setattr__(self, "g_min", self.g_max / self.on_off)
        super().__post_init__()

    def programming_noise(self, g_target, generator):
        sig = self.prog_noise * (self.g_max - self.g_min)
        return (g_target + sig * _randn(g_target, generator)).clamp(min=0.0)

    @property
    def read_noise_std(self) -> float:
        return self.read_noise * self.g_max


@dataclass(frozen=True)
class RRAMRandomReservoir(Device):
    """One-shot electroformed RRAM whose random conductances are the weights of a reservoir, as in
    the memristive liquid state machine of Lin et al., Nat. Comput. Sci. (2025): each device of a
    differential pair is drawn from N(g_mean, g_std) clipped to [g_min, g_max], so the pair
    difference is a zero-mean Gaussian weight of spread sqrt(2) g_std. There is no target:
    :meth:`sample_pairs` draws the array. The defaults are round numbers (the authors' model files
    are not public), with ``g_std`` the settable spread. Per-read noise ``read_noise`` (fraction of
    g_max), no drift."""

    g_max: float = 100.0
    g_min: float = 0.0
    g_mean: float = 50.0
    g_std: float = 10.0
    read_noise: float = 0.0
    name: str = field(default="rram_random_reservoir", compare=False)

    def sample_pairs(self, shape, generator=None, dtype=torch.float64):
        """(G+, G-) of an array of ``shape`` weights, each device i.i.d. N(g_mean, g_std) in range."""
        if not (math.isfinite(self.g_std) and self.g_std >= 0):
            raise ValueError(f"g_std={self.g_std!r}: expected a spread >= 0 in uS")
        z = torch.empty(tuple(shape), dtype=dtype)
        gp = (self.g_mean + self.g_std * _randn(z, generator)).clamp(self.g_min, self.g_max)
        gm = (self.g_mean + self.g_std * _randn(z, generator)).clamp(self.g_min, self.g_max)
        return gp, gm

    def sample_weights(self, shape, generator=None, dtype=torch.float64):
        """Reservoir weights (G+ - G-) / (g_max - g_min), dimensionless."""
        gp, gm = self.sample_pairs(shape, generator, dtype)
        return (gp - gm) / (self.g_max - self.g_min)

    @property
    def read_noise_std(self) -> float:
        return self.read_noise * self.g_max


PRESETS = {
    "pcm_ibm": PCM,
    "rram_wan2022": RRAMWan2022,
    "rram_milo": RRAMMilo,
    "rram_generic": RRAMGeneric,
    "rram_random_reservoir": RRAMRandomReservoir,
    "ideal": IdealDevice,
}


def get_device(device, **overrides) -> Device:
    """A device model from a preset name (with field ``overrides``) or a :class:`Device` as is."""
    if isinstance(device, Device):
        return replace(device, **overrides) if overrides else device
    if device is None:
        device = "ideal"
    if not isinstance(device, str) or device not in PRESETS:
        raise ValueError(f"device={device!r}: unknown preset; known presets are {sorted(PRESETS)}")
    return PRESETS[device](**overrides)
