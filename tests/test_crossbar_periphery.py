"""Periphery: the deterministic part exactly (out_noise = 0 against a scalar re-derivation of the
DAC / ADC / noise- and bound-management rules), output-noise statistics, drift compensation,
the nonlinear ADC, and bad input."""
import math

import numpy as np
import pytest
import torch

from spiking.hardware import crossbar as xb
from spiking.hardware.crossbar.periphery import tile_forward


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def reference_tile(x, w_n, io, binary=False):
    """The rules of the periphery written out per vector in numpy (no shared code)."""
    out = np.zeros((x.shape[0], w_n.shape[0]))
    dac = 2 * io.inp_bound * io.inp_res
    adc = 2 * io.out_bound * io.out_res
    for n, v in enumerate(x):
        s = 1.0 if binary else (np.abs(v).max() or 1.0)
        f = 1.0
        for k in range(io.max_bm_halvings + 1):
            u = v / s / f
            if not binary:
                u = np.round(np.clip(u, -io.inp_bound, io.inp_bound) / dac) * dac
            y = w_n @ u
            sat = np.any(np.abs(y) >= io.out_bound)
            yq = np.round(np.clip(y, -io.out_bound, io.out_bound) / adc) * adc
            if not sat or k == io.max_bm_halvings or io.bound_management == "none":
                out[n] = yq * f * s
                break
            f *= 2
    return out


@pytest.mark.parametrize("bm", ["iterative", "none"])
def test_deterministic_periphery_is_exact(bm):
    rng = np.random.default_rng(0)
    w_n = rng.uniform(-1, 1, (24, 64))
    w_n[:, :32] = np.abs(w_n[:, :32])                    # some columns saturate on large inputs
    x = rng.normal(0, 1, (50, 64)) * rng.uniform(0.1, 5, (50, 1))
    x[:5] = rng.uniform(0.8, 1.0, (5, 64))               # near full scale on every row: saturate
    io = xb.IOParameters(out_noise=0.0, bound_management=bm)
    y, reads = tile_forward(torch.from_numpy(x), torch.from_numpy(w_n), io)
    ref = reference_tile(x, w_n, io)
    assert np.array_equal(y.numpy(), ref)
    if bm == "iterative":
        assert reads.max() > 1 and reads.min() == 1      # some vectors needed bound management
    y2, _ = tile_forward(torch.from_numpy(x), torch.from_numpy(w_n), io, gen(5))
    assert torch.equal(y, y2)                            # a pure function: no draw from the generator
    # binary (spike) rows: no DAC, no noise management
    xs = (rng.random((20, 64)) < 0.3).astype(float)
    yb, _ = tile_forward(torch.from_numpy(xs), torch.from_numpy(w_n), io, binary=True)
    assert np.array_equal(yb.numpy(), reference_tile(xs, w_n, io, binary=True))


def test_perfect_io_is_the_product_and_noise_statistics():
    rng = np.random.default_rng(1)
    w_n = torch.from_numpy(rng.uniform(-1, 1, (8, 16)))
    x = torch.from_numpy(rng.uniform(-1, 1, (4000, 16)))
    y, _ = tile_forward(x, w_n, xb.PERFECT)
    assert torch.equal(y, x @ w_n.T)
    io = xb.IOParameters(out_noise=0.1, out_res=0.0, inp_res=0.0, bound_management="none")
    s = x.abs().amax(dim=1, keepdim=True)
    e = (tile_forward(x, w_n, io, gen(3))[0] - x @ w_n.T) / s        # noise in the normalised domain
    assert abs(e.std().item() / 0.1 - 1) < 5 / math.sqrt(2 * e.numel())
    assert abs(e.mean().item()) < 5 * 0.1 / math.sqrt(e.numel())


def test_bad_io_parameters():
    with pytest.raises(ValueError, match="out_res=0.7"):
        xb.IOParameters(out_res=0.7)
    with pytest.raises(ValueError, match="inp_res=-0.1"):
        xb.IOParameters(inp_res=-0.1)
    with pytest.raises(ValueError, match="out_bits=30"):
        xb.IOParameters.from_bits(7, 30)
    with pytest.raises(ValueError, match="noise_management='max'"):
        xb.IOParameters(noise_management="max")
    with pytest.raises(ValueError, match="out_noise=-1"):
        xb.IOParameters(out_noise=-1)
    with pytest.raises(ValueError, match="tile rows=0"):
        xb.TileLayout(10, 10, 0, 4)


def test_drift_compensation_restores_the_scale():
    g = gen(4)
    W = torch.randn(32, 64, generator=g, dtype=torch.float64) * 0.1
    x = torch.rand(200, 64, generator=g, dtype=torch.float64)
    ideal = x @ W.T
    slopes = {}
    for comp in (None, "global", "per_column"):
        m = xb.AnalogMatrix(W, "pcm_ibm", xb.IOParameters(), drift_compensation=comp)
        m.program(gen(10)).drift(365 * 86400.0, gen(11))
        y = m.forward(x, gen(12))
        slopes[comp] = float((y * ideal).sum() / (ideal * ideal).sum())
    assert slopes[None] < 0.8                         # a year of PCM drift: outputs shrink
    assert abs(slopes["global"] - 1) < 0.05 and abs(slopes["per_column"] - 1) < 0.05
    # ideal device: nothing drifts, alpha is exactly 1 with a perfect periphery
    m = xb.AnalogMatrix(W, "ideal", xb.PERFECT, drift_compensation="global")
    m.program().drift(1e6)
    assert float(m.alpha) == pytest.approx(1.0, abs=1e-12)
    m2 = xb.AnalogMatrix(W, "pcm_ibm")
    with pytest.raises(RuntimeError, match="before program"):
        m2.drift(10.0)
    m2.program(gen(0))
    with pytest.raises(ValueError, match="t_inference=-5"):
        m2.drift(-5.0)
    with pytest.raises(ValueError, match="nan"):
        m2.set_weights(torch.full((32, 64), float("nan"), dtype=torch.float64))


def test_nonlinear_adc():
    adc = xb.NonlinearADC("sigmoid", bits=4, in_range=8.0)
    y = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    out = adc.convert(y)
    levels = adc.levels()
    nearest = levels[(torch.sigmoid(y)[:, None] - levels[None]).abs().argmin(dim=1)]
    # the ramp quantises sigmoid(y) to its nearest level (ties at the thresholds aside)
    assert (out != nearest).sum() <= 2
    t = xb.NonlinearADC("tanh", bits=3).convert(y)
    assert torch.all(t.diff() >= 0) and t.min() == -1 and t.max() == 1
    step = xb.NonlinearADC("threshold", threshold=1.0).convert(torch.tensor([0.5, 0.999, 1.0, 3.0]))
    assert step.tolist() == [0.0, 0.0, 1.0, 1.0]
    # programmed into PCM: the thresholds carry the programming noise of their conductances
    pcm = xb.PCM()
    errs = []
    for s in range(300):
        p = adc.program(pcm, gen(s))
        errs.append((p.thresholds() - adc.ideal_thresholds()).numpy())
    errs = np.array(errs)
    th = adc.ideal_thresholds()
    span = max(adc.in_range, float(th.abs().max()))
    g_t = (th + span) * (25.0 / (2 * span))
    expect = pcm.sigma_programming(g_t).numpy() / (25.0 / (2 * span))
    inner = (g_t > 3.0).numpy()                        # away from the clamp at 0 uS
    assert np.allclose(errs.std(axis=0)[inner], expect[inner], rtol=5 / math.sqrt(2 * 300))
    with pytest.raises(ValueError, match="bits=0"):
        xb.NonlinearADC(bits=0)
    with pytest.raises(ValueError, match="function='relu'"):
        xb.NonlinearADC("relu")


def test_matrix_forward_is_the_sum_of_exact_tile_reads():
    """Tiles of 16 x 8 on a 40 x 20 matrix: each tile reads through its own periphery and the
    partial sums add digitally; with out_noise = 0 the whole read is exact and deterministic."""
    rng = np.random.default_rng(3)
    W = rng.normal(0, 0.3, (20, 40))
    x = rng.uniform(-2, 2, (30, 40))
    x[3, :16] = 0.0                                       # a vector that leaves the first row block dark
    io = xb.IOParameters(out_noise=0.0)
    m = xb.AnalogMatrix(torch.from_numpy(W), "ideal", io, tile_size=(16, 8), weight_scaling="column")
    y = m.forward(torch.from_numpy(x)).numpy()
    s = np.abs(W).max(axis=1)
    w_n = W / s[:, None]
    ref = np.zeros_like(y)
    for r0 in range(0, 40, 16):
        for c0 in range(0, 20, 8):
            xr = x[:, r0:r0 + 16]
            part = reference_tile(xr, w_n[c0:c0 + 8, r0:r0 + 16], io)
            part[~(xr != 0).any(axis=1)] = 0.0            # a tile with no driven row is not read
            ref[:, c0:c0 + 8] += part
    assert np.allclose(y, ref * s[None, :], rtol=0, atol=1e-12)
    c = m.ledger_counts()
    assert c["tiles"] == 3 * 3
    assert c["digital_accumulations"] == (3 - 1) * 20 * 30 - 20     # vector 3 reads 2 row blocks
    first_reads = sum(int((x[:, r0:r0 + 16] != 0).any(axis=1).sum()) * 3 for r0 in range(0, 40, 16))
    assert c["reads"] >= first_reads
    if c["reads"] == first_reads:                          # no bound-management re-read happened
        assert c["row_activations"] == int((x != 0).sum()) * 3
    assert c["dac_conversions"] == {"7": c["row_activations"]}     # analog rows: one DAC per driven row


def test_nonlinear_adc_in_a_matrix_read():
    """The ADC applies the nonlinearity to each tile's column output (normalised units)."""
    rng = np.random.default_rng(7)
    W = torch.from_numpy(rng.uniform(-1, 1, (6, 12)))
    W[0, 0] = 1.0                                                   # scale 1: normalised = weight units
    x = torch.from_numpy((rng.random((40, 12)) < 0.5).astype(float))
    adc = xb.NonlinearADC("sigmoid", bits=3, in_range=8.0)
    m = xb.AnalogMatrix(W, "ideal", xb.IOParameters(out_noise=0.0), nl_adc=adc)
    y = m.forward(x)
    levels = adc.levels()
    pre = x @ W.T
    nearest = levels[(torch.sigmoid(pre)[..., None] - levels).abs().argmin(-1)]
    lit = x.any(dim=1)
    assert torch.equal(y[lit], nearest[lit]) and torch.all(y[~lit] == 0)
    assert m.ledger_counts()["adc_conversions"] == {"3": 6 * int(lit.sum())}
