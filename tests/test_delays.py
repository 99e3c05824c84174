"""DCLS delayed linear layer (spiking.nn.delays): kernels, delay lines, gradients, schedule,
optimisers, and agreement with the authors' library ``dcls`` (live, and through a committed
reference file written by ``benchmarks/delays.py --write-reference``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spiking.nn.delays import (DelayedLinear, SigmaSchedule, delay_line, delay_optimizers, gaussian_kernel,
                               onehot_delay, onehot_kernel)

REFERENCE = Path(__file__).parent / "data" / "dcls1d_reference.npz"


def spikes(T, B, n, p=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n, generator=g) < p).float()


def layer(n_in=7, n_out=5, M=9, seed=0, **kw):
    return DelayedLinear(n_in, n_out, M, generator=torch.Generator().manual_seed(seed), **kw)


# --------------------------------------------------------------------------- one-hot = delay line

@pytest.mark.parametrize("M", [1, 5, 25])
def test_onehot_layer_is_a_delay_line_bit_for_bit(M):
    lay = layer(n_in=11, n_out=6, M=M).eval()
    x = spikes(40, 3, 11)
    y, _ = lay(x)
    ref = delay_line(x, lay.weight.detach(), lay.delays(), lay.right_pad)
    assert y.shape == (40 + (M - 1) // 2, 3, 6)
    assert torch.equal(y, ref)                      # gather path: same products, same order of sums
    # the one-hot convolution is the same delay line (its sums run in another order)
    conv = onehot_delay(x, lay.weight.detach(), lay.delays(), lay.right_pad, M, gather=False)
    assert torch.allclose(conv, ref, atol=1e-6, rtol=0)
    # with dyadic weights every sum is exact, so the orders agree bit for bit
    with torch.no_grad():
        lay.weight.copy_(torch.round(lay.weight * 64) / 64)
    ref = delay_line(x, lay.weight.detach(), lay.delays(), lay.right_pad)
    assert torch.equal(lay(x)[0], ref)
    assert torch.equal(onehot_delay(x, lay.weight.detach(), lay.delays(), lay.right_pad, M, gather=False), ref)


def test_a_single_synapse_delays_its_input_by_d_steps():
    lay = DelayedLinear(1, 1, 25, right_pad=0).eval()
    with torch.no_grad():
        lay.weight.fill_(0.75)
    x = torch.zeros(30, 1, 1)
    x[3, 0, 0] = 1.0
    for d in (0, 1, 12, 24):
        lay.set_delays(torch.tensor([[d]]))
        y = lay(x)[0][:, 0, 0]
        assert torch.nonzero(y).flatten().tolist() == [3 + d] and float(y[3 + d].detach()) == 0.75
    expected = torch.zeros(25)
    expected[0] = 0.75                                 # delay 24 = tap M - 1 - 24 = 0
    assert torch.equal(lay.kernel()[0, 0], expected)


def test_evaluation_kernel_is_onehot_at_the_rounded_position():
    lay = layer(M=9)
    with torch.no_grad():
        lay.positions.copy_(torch.linspace(-4, 4, 35).view(5, 7))
    lay.eval()
    k = lay.kernel()
    d = 4 - torch.round(lay.positions.detach())
    assert torch.equal(lay.delays(), d.long())
    assert torch.equal((k != 0).sum(-1), torch.ones(5, 7, dtype=torch.long))
    assert torch.equal(k.sum(-1), lay.weight.detach())
    assert torch.equal(torch.nonzero(k)[:, 2].view(5, 7), (8 - d).long())


# --------------------------------------------------------------------------- the Gaussian kernel

@pytest.mark.parametrize("sigma", [0.0, 0.23, 1.7, 12.0])
def test_gaussian_kernel_sums_to_the_weight(sigma):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(4, 6, generator=g, dtype=torch.float64)
    p = (torch.rand(4, 6, generator=g, dtype=torch.float64) * 2 - 1) * 12
    p[0, 0], p[0, 1] = -12.0, 12.0                     # both ends of the clamp range
    k = gaussian_kernel(w, p, sigma, 25)
    # sum_n k = w S / (S + 1e-7), S = sum_n g > 0.3 for an in-range centre: w within 1e-6 relative
    assert torch.allclose(k.sum(-1), w, rtol=1e-6, atol=0)
    if sigma <= 0.23:                                  # narrow: the peak tap is the rounded centre p + M//2
        assert torch.equal(k.abs().argmax(-1), torch.round(p + 12).long())


def test_gaussian_kernel_formula():
    w = torch.tensor([[2.0]], dtype=torch.float64)
    p = torch.tensor([[1.3]], dtype=torch.float64)
    k = gaussian_kernel(w, p, -0.5, 7)[0, 0]           # |sigma| is used
    n = np.arange(7)
    g = np.exp(-0.5 * ((n - (1.3 + 3)) / (0.5 + 0.27)) ** 2)
    assert np.allclose(k.numpy(), 2.0 * g / (g.sum() + 1e-7), rtol=1e-15, atol=0)


def test_position_gradient_matches_finite_differences():
    torch.manual_seed(0)
    lay = layer(n_in=4, n_out=3, M=7).double().train()
    lay.set_sigma(1.3)
    x = spikes(15, 2, 4, p=0.4).double()
    r = torch.randn(15 + 3, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def loss():
        return (lay(x)[0] * r).sum()

    loss().backward()
    gp, gw = lay.positions.grad.clone(), lay.weight.grad.clone()
    eps = 1e-6
    for param, grad in ((lay.positions, gp), (lay.weight, gw)):
        for idx in [(0, 0), (1, 2), (2, 3)]:
            with torch.no_grad():
                param[idx] += eps
                up = float(loss())
                param[idx] -= 2 * eps
                down = float(loss())
                param[idx] += eps
            assert float(grad[idx]) == pytest.approx((up - down) / (2 * eps), rel=1e-6, abs=1e-8)


def test_gather_path_gradients_equal_the_convolution():
    lay = layer(n_in=9, n_out=4, M=11).eval()
    x = spikes(30, 3, 9, p=0.3).requires_grad_(True)
    r = torch.randn(35, 3, 4, generator=torch.Generator().manual_seed(3))
    (lay(x)[0] * r).sum().backward()
    gx, gw = x.grad.clone(), lay.weight.grad.clone()
    x.grad, lay.weight.grad = None, None
    lay.gather = False
    (lay(x)[0] * r).sum().backward()
    assert torch.allclose(gx, x.grad, atol=1e-5) and torch.allclose(gw, lay.weight.grad, atol=1e-5)
    assert lay.positions.grad is None                  # one-hot kernels carry no position gradient


# --------------------------------------------------------------------------- schedule, clamping, optimisers

def test_sigma_schedule_reaches_width_one_half_exactly_at_the_quarter():
    s = SigmaSchedule.for_training(25, 150)            # the authors' SHD run: sigInit 12, final_epoch 37
    assert (s.sigma0, s.final_epoch) == (12.0, 37)
    assert s(0) == 12.0 and s.width(37) == 0.5 and s(37) == 0.23 and s(149) == 0.23
    # the authors' iteration: SIG *= alpha after each epoch while epoch < final_epoch
    sig, alpha = 12.0, (0.23 / 12.0) ** (1 / 37)
    for epoch in range(150):
        assert s(epoch) == pytest.approx(sig, rel=1e-12)
        if epoch < 37:
            sig *= alpha
    assert all(s(e + 1) < s(e) for e in range(37))


def test_positions_are_clamped_after_an_optimiser_step():
    lay = layer(M=9).train()
    opt = torch.optim.SGD([lay.positions], lr=100.0)
    lay(spikes(20, 2, 7, p=0.5))[0].pow(2).sum().backward()
    opt.step()
    assert lay.positions.detach().abs().max() > 4      # the step left the range ...
    lay.clamp_positions()
    assert lay.positions.detach().abs().max() <= 4     # ... and the clamp brings it back
    d = lay.delays()
    assert int(d.min()) >= 0 and int(d.max()) <= 8


def test_weights_and_positions_have_separate_optimisers():
    model = torch.nn.ModuleList([layer(M=9), torch.nn.BatchNorm1d(5), layer(n_in=5, M=9, hard=True,
                                                                           learn_positions=False)])
    (opt_w, opt_p), (sch_w, sch_p) = delay_optimizers(model, epochs=8)
    ids_w = {id(p) for g in opt_w.param_groups for p in g["params"]}
    ids_p = {id(p) for g in opt_p.param_groups for p in g["params"]}
    assert ids_p == {id(model[0].positions)}
    assert id(model[0].weight) in ids_w and id(model[1].weight) in ids_w and not ids_w & ids_p
    assert id(model[2].positions) not in ids_w     # frozen positions are in no optimiser
    assert opt_w.defaults["weight_decay"] == 1e-5 and opt_p.defaults["lr"] == 0.1
    assert isinstance(sch_w, torch.optim.lr_scheduler.OneCycleLR) and opt_w.param_groups[0]["max_lr"] == 5e-3
    assert isinstance(sch_p, torch.optim.lr_scheduler.CosineAnnealingLR) and sch_p.T_max == 8


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("M", [0, -3, 4, 24, 2.0, True])
def test_max_delay_must_be_odd_and_positive(M):
    with pytest.raises(ValueError, match="max_delay"):
        DelayedLinear(3, 2, M)


def test_delays_beyond_the_kernel_are_refused():
    lay = layer(n_in=2, n_out=1, M=5)
    with pytest.raises(ValueError, match="delay 5 steps: expected delays in 0..4"):
        lay.set_delays(torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match="delay -1 steps"):
        onehot_kernel(torch.ones(1, 2), torch.tensor([[-1, 0]]), 5)
    with pytest.raises(ValueError, match=r"expected \[T, B, 2\]"):
        lay(torch.zeros(4, 3))


# --------------------------------------------------------------------------- the authors' library

def _dcls_case(seed, n_in=6, n_out=4, M=9):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n_out, n_in, generator=g)
    p = (torch.rand(n_out, n_in, generator=g) * 2 - 1) * (M // 2)
    return w, p


def test_kernel_equals_the_committed_dcls1d_reference():
    ref = np.load(REFERENCE)
    for case in range(int(ref["cases"])):
        w, p = torch.from_numpy(ref[f"w{case}"]), torch.from_numpy(ref[f"p{case}"])
        M, sigma = int(ref[f"M{case}"]), float(ref[f"sigma{case}"])
        k = gaussian_kernel(w, p, sigma, M)
        assert np.allclose(k.numpy(), ref[f"kernel{case}"], rtol=1e-6, atol=1e-7), case
        x = torch.from_numpy(ref[f"x{case}"])
        lay = DelayedLinear(w.shape[1], w.shape[0], M).train()
        with torch.no_grad():
            lay.weight.copy_(w)
            lay.positions.copy_(p)
        lay.set_sigma(sigma)
        assert np.allclose(lay(x)[0].detach().numpy(), ref[f"y{case}"], rtol=1e-5, atol=1e-5), case


@pytest.mark.parametrize("sigma", [12.0, 3.0, 0.23, 0.0])
def test_agrees_with_dcls1d_live(sigma):
    modules = pytest.importorskip("DCLS.construct.modules")
    w, p = _dcls_case(int(sigma * 10))
    M = 9
    theirs = modules.Dcls1d(6, 4, kernel_count=1, dilated_kernel_size=M, bias=False, version="gauss")
    with torch.no_grad():
        theirs.weight.copy_(w.unsqueeze(-1))
        theirs.P.copy_(p.view(1, 4, 6, 1))
        theirs.SIG.fill_(sigma)
    ours = DelayedLinear(6, 4, M).train()
    with torch.no_grad():
        ours.weight.copy_(w)
        ours.positions.copy_(p)
    ours.set_sigma(sigma)
    k_theirs = theirs.DCK(theirs.weight, theirs.P, theirs.SIG)
    assert torch.allclose(ours.kernel(), k_theirs, rtol=1e-6, atol=1e-7)
    x = spikes(20, 2, 6, p=0.3)
    y_theirs = theirs(F.pad(x.permute(1, 2, 0), (M - 1, (M - 1) // 2))).permute(2, 0, 1)
    y_ours = ours(x)[0]
    assert torch.allclose(y_ours, y_theirs, rtol=1e-5, atol=1e-6)
    r = torch.randn(y_ours.shape, generator=torch.Generator().manual_seed(5))
    (y_ours * r).sum().backward()
    (y_theirs * r).sum().backward()
    assert torch.allclose(ours.weight.grad, theirs.weight.grad[..., 0], rtol=1e-4, atol=1e-5)
    assert torch.allclose(ours.positions.grad, theirs.P.grad.view(4, 6), rtol=1e-4, atol=1e-5)
