"""Device models against their sources: pinned values and Monte-Carlo statistics vs closed forms.

Sources: aihwkit ``inference/noise/pcm.py`` (PCMLikeNoiseModel), ``inference/noise/reram.py``
(ReRamWan2022NoiseModel), CrossSim ``devices/custom/RRAM_Milo.py``; the closed forms are written
out in each test (rectified and folded normal moments, the drift-factor expectation by quadrature).
"""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from spiking.hardware import crossbar as xb

N = 40_000          # Monte-Carlo draws per check; tolerances are 5 standard errors


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# -- pinned numbers ------------------------------------------------------------------------------

def test_pcm_pinned_to_aihwkit():
    d = xb.PCM()
    assert d.g_max == 25.0 and d.g_min == 0.0
    assert float(d.sigma_programming(25.0)) == pytest.approx(1.0554, abs=5e-5)   # 0.26348 + 1.9650 - 1.1731
    assert float(d.sigma_programming(0.0)) == pytest.approx(0.26348)
    assert float(d.drift_mu(1.0)) == pytest.approx(0.049)        # -0.0155 ln 1 + 0.0244 clipped up to 0.049
    assert float(d.drift_mu(1e-9)) == pytest.approx(0.1)         # g_r floored at 1e-7 -> 0.2743, clipped to 0.1
    assert float(d.drift_sigma(1.0)) == pytest.approx(0.008)
    assert float(d.drift_sigma(0.1)) == pytest.approx(-0.0125 * math.log(0.1) - 0.0059)
    assert float(d.drift_sigma(1e-3)) == pytest.approx(0.045)
    assert float(d.drift_factor(86400.0, torch.tensor(0.049))) == pytest.approx(0.664, abs=5e-4)
    assert float(d.drift_factor(0.0, torch.tensor(0.08))) == 1.0
    assert float(d.q_s(25.0)) == pytest.approx(0.0088)
    assert float(d.q_s(0.0)) == pytest.approx(0.2)               # 0.0088 / 1e-3 = 8.8, capped at 0.2
    # g_max other than 25 uS scales sigma_p by g_max / 25
    assert float(xb.PCM(g_max=50.0).sigma_programming(50.0)) == pytest.approx(2 * 1.05538)


def test_wan2022_pinned():
    d = xb.RRAMWan2022()
    assert d.g_max == 40.0
    s = d.sigma(torch.tensor([0.0, 10.0, 40.0]), 1.0)
    assert s.tolist() == pytest.approx([0.348, 2.2583, 1.103], abs=5e-4)
    assert round(float(s[1]), 2) == 2.26 and round(float(s[2]), 2) == 1.10
    assert float(d.sigma(0.0, 86400.0)) == pytest.approx(0.701)
    assert d.read_noise_std == pytest.approx(0.4)                # 1 % of 40 uS


def test_periphery_steps_pinned():
    io = xb.IOParameters()
    assert io.dac_step == pytest.approx(2 / 126) and io.adc_step == pytest.approx(24 / 510)
    assert (io.inp_bits, io.out_bits) == (7, 9)
    assert (io.out_bound, io.inp_bound, io.out_noise) == (12.0, 1.0, 0.06)
    assert (io.noise_management, io.bound_management) == ("abs_max", "iterative")
    assert xb.IOParameters.from_bits(5, 8).out_res == pytest.approx(1 / 254)


def test_milo_and_generic_sigma():
    m = xb.RRAMMilo()
    assert (m.g_min, m.g_max) == (50.0, 225.0)
    assert float(m.sigma(100.0)) == pytest.approx(-0.009107 * 100 + 4.782321)
    g = xb.RRAMGeneric(g_max=100.0, on_off=20.0, prog_noise=0.05)
    assert g.g_min == pytest.approx(5.0)


# -- Monte Carlo ---------------------------------------------------------------------------------

def _rectified_mean(mu, s):
    """E[max(X, 0)], X ~ N(mu, s^2)."""
    a = mu / s
    return mu * stats.norm.cdf(a) + s * stats.norm.pdf(a)


@pytest.mark.parametrize("g_t", [0.0, 2.0, 12.5, 25.0])
def test_pcm_programming_statistics(g_t):
    d = xb.PCM()
    g = d.program(torch.full((N,), g_t, dtype=torch.float64), gen(1)).g_prog.numpy()
    sig = float(d.sigma_programming(g_t))
    mean = _rectified_mean(g_t, sig)
    assert abs(g.mean() - mean) < 5 * sig / math.sqrt(N)
    if g_t >= 5 * sig:                 # clamping at 0 negligible: the std is sigma_p
        assert abs(g.std() / sig - 1) < 5 / math.sqrt(2 * N)


def _folded_mean(mu, s):
    return s * math.sqrt(2 / math.pi) * math.exp(-mu ** 2 / (2 * s ** 2)) + mu * (1 - 2 * stats.norm.cdf(-mu / s))


@pytest.mark.parametrize("x", [1e-3, 0.1, 0.5, 1.0])
def test_pcm_drift_exponent_statistics(x):
    d = xb.PCM()
    nu = d.drift_parameter(torch.full((N,), 25.0 * x, dtype=torch.float64), gen(2)).numpy()
    mu, s = float(d.drift_mu(x)), float(d.drift_sigma(x))
    assert nu.min() >= 0
    assert abs(nu.mean() - _folded_mean(mu, s)) < 5 * s / math.sqrt(N)


@pytest.mark.parametrize("t", [0.0, 3600.0, 86400.0, 365 * 86400.0])
def test_pcm_drift_ratio_and_read_noise(t):
    d = xb.PCM(read_noise_scale=0.0)
    x = 0.6
    g_t = torch.full((N,), 25.0 * x, dtype=torch.float64)
    p = d.program(g_t, gen(3))
    ratio = (d.at_time(p.g_prog, p, t, gen(4)) / p.g_prog).numpy()
    mu, s = float(d.drift_mu(x)), float(d.drift_sigma(x))
    # E[((t + t0) / t0)^-|nu|], nu ~ N(mu, s^2), by quadrature
    base = (t + d.t0) / d.t0
    f = lambda z: base ** (-abs(mu + s * z)) * stats.norm.pdf(z)  # noqa: E731
    expect = integrate.quad(f, -10, 10)[0] if t > 0 else 1.0
    second = integrate.quad(lambda z: base ** (-2 * abs(mu + s * z)) * stats.norm.pdf(z), -10, 10)[0] if t > 0 else 1.0
    sd = math.sqrt(max(second - expect ** 2, 1e-30))
    assert abs(ratio.mean() - expect) <= 5 * sd / math.sqrt(N) + 1e-12
    # accumulated 1/f noise alone (no drift): relative std q_s(g_prog) sqrt(ln((t + t_read) / 2 t_read))
    d2 = xb.PCM(drift_scale=0.0, prog_noise_scale=0.0)
    p2 = d2.program(g_t, gen(5))
    rel = (d2.at_time(p2.g_prog, p2, t, gen(6)) / p2.g_prog - 1).numpy()
    sig = float(d2.q_s(25.0 * x)) * d2.read_sigma_factor(t)
    assert abs(rel.mean()) < 5 * sig / math.sqrt(N)
    assert abs(rel.std() / sig - 1) < 5 / math.sqrt(2 * N)


@pytest.mark.parametrize("t", [1.0, 86400.0, 172800.0])
def test_wan2022_statistics(t):
    d = xb.RRAMWan2022()
    g_t = torch.full((N,), 20.0, dtype=torch.float64)
    p = d.program(g_t, gen(7))
    g = d.at_time(p.g_prog, p, t, gen(8)).numpy()
    sig = float(d.sigma(20.0, t))
    assert abs(g.mean() - 20.0) < 5 * sig / math.sqrt(N)
    assert abs(g.std() / sig - 1) < 5 / math.sqrt(2 * N)
    with pytest.raises(ValueError, match="t_inference=3600"):
        d.at_time(p.g_prog, p, 3600.0, gen(9))


def test_milo_generic_reservoir_statistics():
    m = xb.RRAMMilo()
    g = m.program(torch.full((N,), 150.0, dtype=torch.float64), gen(10)).g_prog.numpy()
    sig = -0.009107 * 150 + 4.782321
    assert abs(g.std() / sig - 1) < 5 / math.sqrt(2 * N) and abs(g.mean() - 150) < 5 * sig / math.sqrt(N)
    with pytest.raises(ValueError, match="no drift model"):
        p = m.program(torch.full((3,), 100.0, dtype=torch.float64), gen(0))
        m.at_time(p.g_prog, p, 10.0)
    r = xb.RRAMGeneric()
    g = r.program(torch.full((N,), 60.0, dtype=torch.float64), gen(11)).g_prog.numpy()
    sig = r.prog_noise * (r.g_max - r.g_min)
    assert abs(g.std() / sig - 1) < 5 / math.sqrt(2 * N)
    res = xb.RRAMRandomReservoir(g_std=8.0)
    w = res.sample_weights((N,), gen(12)).numpy()
    sw = math.sqrt(2) * 8.0 / 100.0
    assert abs(w.mean()) < 5 * sw / math.sqrt(N) and abs(w.std() / sw - 1) < 5 / math.sqrt(2 * N)


def test_levels_and_stuck_faults():
    d = xb.IdealDevice(g_max=10.0, levels=5)
    g = d.program(torch.linspace(0, 10, 101, dtype=torch.float64)).g_prog
    assert set(np.round(g.numpy(), 12)) == {0.0, 2.5, 5.0, 7.5, 10.0}
    assert torch.all((g - torch.linspace(0, 10, 101, dtype=torch.float64)).abs() <= 1.25 + 1e-12)
    pcm = xb.PCM(p_stuck_min=0.02, p_stuck_max=0.05)
    g_t = torch.full((N,), 12.0, dtype=torch.float64)
    p = pcm.program(g_t, gen(13))
    for mask, prob in ((p.stuck_min, 0.02), (p.stuck_max, 0.05)):
        assert abs(mask.double().mean().item() - prob) < 5 * math.sqrt(prob * (1 - prob) / N)
    assert torch.all(p.g_prog[p.stuck_min] == 0.0) and torch.all(p.g_prog[p.stuck_max] == 25.0)
    later = pcm.at_time(p.g_prog, p, 86400.0, gen(14))
    assert torch.all(later[p.stuck_max] == 25.0) and torch.all(later[p.stuck_min] == 0.0)


def test_preset_lookup_and_bad_input():
    for name in ("pcm_ibm", "rram_wan2022", "rram_milo", "rram_generic", "rram_random_reservoir", "ideal"):
        assert xb.get_device(name).name == name
    assert xb.get_device("pcm_ibm", g_max=20.0).g_max == 20.0
    with pytest.raises(ValueError, match=r"device='pcm'.*pcm_ibm.*rram_wan2022"):
        xb.get_device("pcm")
    with pytest.raises(ValueError, match="levels=1"):
        xb.PCM(levels=1)
    with pytest.raises(ValueError, match="p_stuck_min=1.5"):
        xb.PCM(p_stuck_min=1.5)
    with pytest.raises(ValueError, match="g_max=1.0 <= g_min=2.0"):
        xb.IdealDevice(g_max=1.0, g_min=2.0)
    d = xb.PCM()
    with pytest.raises(ValueError, match="nan"):
        d.program(torch.tensor([1.0, float("nan")]))
    p = d.program(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="t_inference=-1"):
        d.at_time(p.g_prog, p, -1.0)
