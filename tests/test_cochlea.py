"""Cochlea front end (spiking.datasets.cochlea): ERB spacing, tonotopy, timing, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from spiking.datasets.cochlea import CochleaParams, cochlea_spikes, erb_space, hair_cell_drive

RATE = 8000


def tone(freq, seconds=0.3, rate=RATE, onset=0.0):
    t = np.arange(int(seconds * rate)) / rate
    x = np.sin(2 * np.pi * freq * t)
    x[t < onset] = 0.0
    return x


def test_erb_space_is_even_on_the_glasberg_moore_scale():
    f = erb_space(50.0, 3800.0, 700)
    assert f[0] == pytest.approx(50.0) and f[-1] == pytest.approx(3800.0)
    erb_number = 21.4 * np.log10(1 + 0.00437 * f)           # Glasberg & Moore 1990, eq. 4
    steps = np.diff(erb_number)
    assert np.allclose(steps, steps[0], rtol=1e-9)
    # the ERB number of 1 kHz is 15.6 (Glasberg & Moore's table / Moore 2003)
    assert 21.4 * np.log10(1 + 0.00437 * 1000.0) == pytest.approx(15.62, abs=0.01)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2500.0])
def test_a_pure_tone_drives_the_channel_tuned_to_it(freq):
    params = CochleaParams(n_channels=64)
    centres = erb_space(params.f_min, params.f_max, params.n_channels)
    drive = hair_cell_drive(tone(freq), RATE, params)
    peak = int(np.argmax(drive[100:].mean(axis=0)))           # after the filters' build-up
    assert abs(peak - int(np.argmin(np.abs(centres - freq)))) <= 1
    t, u = cochlea_spikes(tone(freq), RATE, params)
    counts = np.bincount(u, minlength=params.n_channels)
    assert counts.sum() > 0
    # spikes concentrate around the tone's place: 90 % within +-8 channels (about 2.7 ERB)
    near = np.abs(np.arange(params.n_channels) - peak) <= 8
    assert counts[near].sum() >= 0.9 * counts.sum()


def test_spikes_follow_the_sound_in_time_and_are_sorted():
    params = CochleaParams(n_channels=32)
    x = tone(1000.0, seconds=0.4, onset=0.2) + 1e-4 * np.random.default_rng(0).standard_normal(3200)
    t, u = cochlea_spikes(x, RATE, params)
    assert np.all(np.diff(t) >= 0) and u.dtype == np.uint16
    assert t.size > 0 and t.min() >= 0.2                       # nothing fires in the near-silent first half
    # refractory period: a channel never fires twice within refractory_ms
    gaps = np.concatenate([np.diff(t[u == c]) for c in np.unique(u)])
    assert gaps.size > 0 and gaps.min() >= params.refractory_ms * 1e-3 - 1e-12


def test_level_normalisation_makes_the_spikes_independent_of_loudness():
    x = tone(700.0) + 0.3 * tone(1900.0)
    a = cochlea_spikes(x, RATE, CochleaParams(n_channels=16))
    b = cochlea_spikes(100.0 * x, RATE, CochleaParams(n_channels=16))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("audio, match", [
    (np.zeros(0), "0 samples"),
    (np.zeros(800), "silent"),
    (np.zeros((800, 2)), "mono"),
    (np.array([0.0, np.nan, 1.0]), "NaN"),
])
def test_bad_audio_is_refused(audio, match):
    with pytest.raises(ValueError, match=match):
        cochlea_spikes(audio, RATE, CochleaParams(n_channels=4))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_channels": 0}, "n_channels"),
    ({"f_min": 4000.0, "f_max": 3000.0}, "f_min"),
    ({"tau_ms": -1.0}, "tau_ms"),
    ({"lowpass_hz": 1500.0}, "lowpass_hz"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CochleaParams(**kwargs)


def test_channels_above_nyquist_are_refused():
    with pytest.raises(ValueError, match="Nyquist"):
        cochlea_spikes(tone(300.0, rate=6000), 6000, CochleaParams(n_channels=4, f_max=3500.0))
