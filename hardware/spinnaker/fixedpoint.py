"""SpiNNaker's number formats, as sPyNNaker uses them.

* ``accum`` (s16.15): a signed 32-bit word with 15 fraction bits; state (mV, nA) lives in it.
  :func:`to_s1615` rounds to the nearest representable value (sPyNNaker's ``DataType.S1615``
  encoding of parameters); :func:`mul_round` is ``MULT_ROUND_NEAREST_ACCUM`` of sPyNNaker 7's
  ``round.h`` (64-bit product, + 2^14, >> 15), used by the LIF closed form
  (``neuron_model_lif_impl.h``); results saturate at the s16.15 range
  (:data:`S1615_MAX`, :data:`S1615_MIN`).
* ``decay_t`` (u0.32, an ``unsigned long fract``): multipliers in [0, 1) for the synaptic current
  (``decay.h``: ``decay_s1615(x, d) = (x * d) >> 32``, a floor).
* 16-bit unsigned synaptic weights with a per-synapse-type left shift into s16.15
  (:func:`ring_buffer_shift`, :func:`weight_scale`, :func:`encode_weights`; sPyNNaker 7
  ``abstract_population_vertex.py``: ``get_ring_buffer_shifts``, ``_get_weight_scale``,
  ``_ring_buffer_expected_upper_bound``; ``synapse_io.py`` rounds ``|w| * scale`` to the nearest
  integer).
* STDP fixed point (``stdp_typedefs.h``: 11 fraction bits, ``STDP_FIXED_POINT_ONE = 2048``) with
  exponential look-up tables (``spynnaker/pyNN/models/neuron/plasticity/stdp/common.py``,
  ``get_exp_lut_array``: ``floor(exp(-t dt / tau) * 2048)`` for t = 0 .. ceil-to-even of
  ``ln(2048) tau / dt``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

FRAC_BITS = 15
ONE = 1 << FRAC_BITS
S1615_MAX = (1 << 31) - 1
S1615_MIN = -(1 << 31)
U032_ONE = 1 << 32

STDP_FIXED_POINT = 11
STDP_ONE = 1 << STDP_FIXED_POINT
S1615_TO_STDP_RIGHT_SHIFT = FRAC_BITS - STDP_FIXED_POINT   # 4

# sPyNNaker's spynnaker.cfg [Simulation] defaults for the ring-buffer shift
SPIKES_PER_SECOND = 30.0
RING_BUFFER_SIGMA = 5.0
POISSON_SIGMA_SUMMATION_LIMIT = 3.0   # spynnaker/pyNN/utilities/constants.py
WEIGHT_BITS = 16
WEIGHT_MAX = (1 << WEIGHT_BITS) - 1


def to_s1615(x) -> np.ndarray | int:
    """Nearest s16.15 value (as its integer bits) of ``x``; raises when out of range."""
    a = np.asarray(x, dtype=np.float64)
    bits = np.rint(a * ONE)
    if np.any(bits > S1615_MAX) or np.any(bits < S1615_MIN):
        bad = float(a.ravel()[np.argmax(np.abs(a.ravel()))])
        raise ValueError(f"value {bad}: outside the s16.15 range [-65536, 65536)")
    out = bits.astype(np.int64)
    return int(out) if out.ndim == 0 else out


def from_s1615(bits):
    return np.asarray(bits, dtype=np.float64) / ONE


def to_u032(x) -> int:
    """A multiplier in [0, 1] as u0.32 bits (nearest; 1.0 saturates to 2^32 - 1)."""
    x = float(x)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"decay multiplier {x}: expected a value in [0, 1]")
    return min(int(round(x * U032_ONE)), U032_ONE - 1)


@njit(cache=True, nogil=True, inline="always")
def sat32(x):
    """Saturate an integer to the s16.15 word."""
    if x > 2147483647:
        return 2147483647
    if x < -2147483648:
        return -2147483648
    return x


@njit(cache=True, nogil=True, inline="always")
def mul_round(a, b):
    """s16.15 x s16.15 rounded to nearest (``MULT_ROUND_NEAREST_ACCUM``), saturated."""
    return sat32((np.int64(a) * np.int64(b) + 16384) >> 15)


@njit(cache=True, nogil=True, inline="always")
def decay_s1615(x, d):
    """s16.15 x u0.32 with the product's low 32 bits dropped (a floor), ``decay.h``."""
    return (np.int64(x) * np.int64(d)) >> 32


@njit(cache=True, nogil=True, inline="always")
def mul_coef(x, c, is_u032):
    """s16.15 times a propagator: a u0.32 multiplier (``is_u032``, for coefficients in [0, 1),
    rounded to nearest: (x c + 2^31) >> 32) or an s16.15 one (:func:`mul_round`). Used by the
    NEST-order and delta kernels, which sPyNNaker does not have: our choice of format, 17 more
    fraction bits for the small current-to-voltage propagators."""
    if is_u032:
        return (np.int64(x) * np.int64(c) + 2147483648) >> 32
    return mul_round(x, c)


@njit(cache=True, nogil=True, inline="always")
def mul_accum_fixed(a, stdp_fixed):
    """``mul_accum_fixed`` of stdp_typedefs.h: an accum times an STDP fixed-point number,
    (a * (f << 4)) >> 15 (the accum product truncates toward minus infinity)."""
    return sat32((np.int64(a) * (np.int64(stdp_fixed) << 4)) >> 15)


@njit(cache=True, nogil=True, inline="always")
def stdp_mul16(a, b):
    """``STDP_FIXED_MUL_16X16``: the low 16 bits of both, signed, multiplied, >> 11."""
    a16 = np.int64(np.int16(a & 0xFFFF))
    b16 = np.int64(np.int16(b & 0xFFFF))
    return (a16 * b16) >> 11


def coef_bits(c: float) -> tuple[int, int]:
    """(bits, is_u032) of a propagator for :func:`mul_coef`: u0.32 when 0 <= c < 1, else s16.15."""
    if 0.0 <= c < 1.0:
        return min(int(round(c * U032_ONE)), U032_ONE - 1), 1
    return to_s1615(c), 0


def mul_round_py(a: int, b: int) -> int:
    return int(max(S1615_MIN, min(S1615_MAX, (int(a) * int(b) + 16384) >> 15)))


def decay_py(x: int, d: int) -> int:
    return (int(x) * int(d)) >> 32


# -- weights ----------------------------------------------------------------------------------

def expected_upper_bound(weight_mean, weight_std, spikes_per_second, n_synapses_in, sigma,
                         steps_per_second=1000.0) -> float:
    """sPyNNaker's ``_ring_buffer_expected_upper_bound``: mean + sigma SD of the input summed in
    one ring-buffer slot, for ``n_synapses_in`` Poisson inputs at ``spikes_per_second``."""
    from scipy import special
    lam = float(n_synapses_in * spikes_per_second) / steps_per_second
    poisson_variance = lam * weight_mean ** 2
    upper = int(round(lam + POISSON_SIGMA_SUMMATION_LIMIT * math.sqrt(lam)))
    weight_variance = 0.0
    if weight_std > 0 and lam > 0:
        lngamma = special.gammaln(1 + upper)
        gammai = special.gammaincc(1 + upper, lam)
        big_ratio = math.log(lam) * upper - lngamma
        if -701.0 < big_ratio < 701.0 and big_ratio != 0.0:
            inner = math.exp(lam) * gammai - math.exp(big_ratio)
            if inner > 0:
                weight_variance = math.exp(-lam + math.log(lam) + 2.0 * math.log(weight_std) + math.log(inner))
    return lam * weight_mean + sigma * math.sqrt(poisson_variance + weight_variance)


def max_weight_power(max_weight: float) -> int:
    """The left shift for a largest summed input ``max_weight``: ceil(log2(w)) (0 for w <= 1),
    plus one when 2^shift equals w, since the 16-bit range stops just below 2^shift
    (``get_ring_buffer_shifts``)."""
    if max_weight <= 0:
        return 0
    p = int(math.ceil(max(0.0, math.log2(max_weight))))
    return p + 1 if 2 ** p <= max_weight else p


def weight_scale(shift: int) -> float:
    """Integer weight units per nA (or mV): 2^(16 - (shift + 1)) (``_get_weight_scale``), so
    that ``w16 << shift`` is the weight's s16.15 bits."""
    return float(2 ** (WEIGHT_BITS - (shift + 1)))


def encode_weights(w, shift: int, name: str = "") -> np.ndarray:
    """Weights (>= 0) as 16-bit integers at the scale of ``shift`` (rounded to nearest, as
    sPyNNaker's synapse_io); a weight beyond 65535 units is an error naming it."""
    q = np.rint(np.abs(np.asarray(w, dtype=np.float64)) * weight_scale(shift))
    if q.size and q.max() > WEIGHT_MAX:
        raise ValueError(f"projection {name!r} weight {float(np.max(w))}: exceeds the 16-bit weight range "
                         f"at ring-buffer shift {shift} (max {WEIGHT_MAX / weight_scale(shift)})")
    return q.astype(np.int64)


def exp_lut(dt_ms: float, tau_ms: float) -> np.ndarray:
    """sPyNNaker's STDP exponential decay table (``get_exp_lut_array``, shift 0): entry t is
    floor(exp(-t dt / tau) * 2048); the size is ln(2048) tau / dt rounded up to an even number;
    times beyond the table decay to 0 (``maths_lut_exponential_decay``)."""
    lam = dt_ms / float(tau_ms)
    size = math.log(STDP_ONE) / lam
    half, extra = divmod(size, 2)
    size = (int(half) + (extra > 0)) * 2
    a = np.exp(np.arange(size) * -lam)
    return np.floor(a * STDP_ONE).astype(np.int64)
