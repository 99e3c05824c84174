"""A cochlea front end: audio -> one spike train per frequency channel, in the spirit of SHD's.

SHD (Cramer et al., IEEE TNNLS 2022, arXiv 1910.07407) passed spoken digits through a
hydrodynamic basilar-membrane model, a hair-cell model and bushy cells, 700 channels in all. This
module is a simpler model of the same chain, each stage a standard one:

1. **Level**: the recording is scaled to a fixed RMS (``target_rms``), so the loudness of a
   speaker or microphone does not set the spike rates.
2. **Basilar membrane**: a bank of 4th-order gammatone band-pass filters (Patterson et al. 1992)
   whose centre frequencies are spaced evenly on the ERB-number scale of Glasberg & Moore 1990,
   ``ERB_number(f) = 21.4 log10(1 + 0.00437 f)``, from ``f_min`` to ``f_max``. The filters are
   designed by :func:`scipy.signal.gammatone` (IIR, unit gain at the centre frequency).
3. **Hair cell**: half-wave rectification, power-law compression ``x ** compression`` (0.3: the
   compressive growth of basilar-membrane and loudness responses, Stevens' exponent), and a
   2nd-order Butterworth low-pass at ``lowpass_hz`` (the loss of phase locking above ~1 kHz is
   modelled by smoothing the rectified signal), sampled at ``unit_rate_hz``.
4. **Spiking unit**: one leaky integrate-and-fire unit per channel (``tau_ms``, threshold 1,
   reset to 0, absolute refractory period ``refractory_ms``) driven by ``gain`` x the hair-cell
   output; the leak makes a channel with a weak drive stay silent.

The default of 700 channels is SHD's. At FSDD's 8 kHz sampling rate the channels can only span
up to the Nyquist frequency (4 kHz; ``f_max`` = 3.8 kHz keeps the top filter's pass band below
it), where SHD's spanned the full audible range; the time resolution of the spikes is
``1 / unit_rate_hz`` (0.5 ms by default, finer than SHD's float16 times carry above 0.5 s).

Pure numpy/scipy: no torch, no spiking core (the datasets layering rule).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal

__all__ = ["CochleaParams", "erb_space", "cochlea_spikes", "hair_cell_drive"]


def _positive(name, value, owner="CochleaParams"):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}.{name}={value!r}: expected a finite number > 0")
    return value


@dataclass(frozen=True)
class CochleaParams:
    """Parameters of :func:`cochlea_spikes` (frequencies in Hz, times in ms)."""

    n_channels: int = 700
    f_min: float = 50.0
    f_max: float = 3800.0
    target_rms: float = 0.1
    compression: float = 0.3
    lowpass_hz: float = 400.0
    unit_rate_hz: float = 2000.0
    tau_ms: float = 2.0
    gain: float = 5.0
    refractory_ms: float = 2.0

    def __post_init__(self):
        if isinstance(self.n_channels, bool) or not isinstance(self.n_channels, int) or not 1 <= self.n_channels <= 65535:
            raise ValueError(f"CochleaParams.n_channels={self.n_channels!r}: expected an integer in 1..65535 "
                             "(SHD stores channels as uint16)")
        for name in ("f_min", "f_max", "target_rms", "compression", "lowpass_hz", "unit_rate_hz", "tau_ms",
                     "gain"):
            _positive(name, getattr(self, name))
        if self.refractory_ms < 0 or not math.isfinite(self.refractory_ms):
            raise ValueError(f"CochleaParams.refractory_ms={self.refractory_ms!r}: expected a finite number >= 0")
        if self.f_min >= self.f_max:
            raise ValueError(f"CochleaParams f_min={self.f_min} >= f_max={self.f_max}: expected f_min < f_max")
        if self.lowpass_hz >= self.unit_rate_hz / 2:
            raise ValueError(f"CochleaParams.lowpass_hz={self.lowpass_hz}: expected below half unit_rate_hz "
                             f"({self.unit_rate_hz / 2} Hz) so the hair-cell signal is not aliased")

    def to_dict(self) -> dict:
        return asdict(self)


def erb_space(f_min: float, f_max: float, n: int) -> np.ndarray:
    """``n`` centre frequencies (Hz) evenly spaced on the ERB-number scale (Glasberg & Moore 1990,
    Hear. Res. 47:103, eq. 4: ERB_number = 21.4 log10(1 + 0.00437 f)), from f_min to f_max."""
    e_lo, e_hi = (21.4 * np.log10(1.0 + 0.00437 * f) for f in (f_min, f_max))
    e = np.linspace(e_lo, e_hi, n) if n > 1 else np.array([e_lo])
    return (10.0 ** (e / 21.4) - 1.0) / 0.00437


_FILTER_CACHE: dict = {}
_BLOCK = 128      # channels filtered together (bounds the memory of long recordings)


def _filter_bank(params: CochleaParams, rate: float):
    key = (params.n_channels, params.f_min, params.f_max, float(rate))
    bank = _FILTER_CACHE.get(key)
    if bank is None:
        if params.f_max >= rate / 2:
            raise ValueError(f"CochleaParams.f_max={params.f_max} Hz: expected below the Nyquist frequency "
                             f"{rate / 2} Hz of audio sampled at {rate} Hz")
        freqs = erb_space(params.f_min, params.f_max, params.n_channels)
        bank = (freqs, [signal.gammatone(f, "iir", fs=rate) for f in freqs])
        _FILTER_CACHE.clear()
        _FILTER_CACHE[key] = bank
    return bank


def hair_cell_drive(audio: np.ndarray, rate: float, params: CochleaParams = CochleaParams()) -> np.ndarray:
    """Stages 1-3: the hair-cell output ``[steps, n_channels]`` (float64) sampled at ``unit_rate_hz``."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"audio of shape {x.shape}: expected one mono channel (1-D samples)")
    if x.size == 0:
        raise ValueError("audio with 0 samples: expected a non-empty recording")
    if not np.isfinite(x).all():
        raise ValueError("audio contains NaN or infinite samples: expected finite samples")
    rate = _positive("rate", float(rate), owner="hair_cell_drive")
    rms = float(np.sqrt(np.mean((x - x.mean()) ** 2)))
    if rms == 0.0:
        raise ValueError("audio is silent (constant samples): expected a recording with sound in it")
    x = (x - x.mean()) * (params.target_rms / rms)
    _, bank = _filter_bank(params, rate)
    step = rate / params.unit_rate_hz
    n_out = max(1, int(np.floor(x.size / step)))
    take = np.minimum(np.rint(np.arange(n_out) * step).astype(np.int64), x.size - 1)
    lp = signal.butter(2, params.lowpass_hz, fs=rate, output="sos")
    out = np.empty((n_out, params.n_channels))
    block = np.empty((min(_BLOCK, params.n_channels), x.size))
    for start in range(0, params.n_channels, _BLOCK):
        stop = min(start + _BLOCK, params.n_channels)
        bm = block[: stop - start]
        for c in range(start, stop):
            b, a = bank[c]
            bm[c - start] = signal.lfilter(b, a, x)                  # basilar membrane
        np.maximum(bm, 0.0, out=bm)                                  # half-wave rectification
        bm **= params.compression                                    # compression
        out[:, start:stop] = signal.sosfilt(lp, bm, axis=1)[:, take].T   # smoothing, resampling
    np.maximum(out, 0.0, out=out)                                    # filter ringing below 0
    return out


def cochlea_spikes(audio: np.ndarray, rate: float, params: CochleaParams = CochleaParams()):
    """Spikes of the cochlea model for one mono recording.

    Returns ``(times, units)``: spike times in seconds (float64, ascending) and channel numbers
    (uint16, 0 = lowest frequency), the content of one SHD sample.
    """
    drive = hair_cell_drive(audio, rate, params)
    dt = 1.0 / params.unit_rate_hz                                   # s
    decay = math.exp(-1000.0 * dt / params.tau_ms)
    scale = params.gain * (1000.0 * dt / params.tau_ms)             # drive 1/gain holds v at 1 in steady state
    refractory = int(round(params.refractory_ms * 1e-3 / dt))
    v = np.zeros(params.n_channels)
    hold = np.zeros(params.n_channels, dtype=np.int64)
    steps, chans = [], []
    for n in range(drive.shape[0]):
        v *= decay
        v += scale * drive[n]
        v[hold > 0] = 0.0
        fired = np.flatnonzero(v >= 1.0)
        if fired.size:
            v[fired] = 0.0
            hold[fired] = refractory + 1
            steps.append(np.full(fired.size, n, dtype=np.int64))
            chans.append(fired)
        np.subtract(hold, 1, out=hold, where=hold > 0)
    if not steps:
        return np.zeros(0), np.zeros(0, dtype=np.uint16)
    t = np.concatenate(steps).astype(np.float64) * dt
    u = np.concatenate(chans).astype(np.uint16)
    return t, u
