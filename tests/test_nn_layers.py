"""spiking.nn layers: coefficients from the declarations, the fused kernels (numba and torch) equal
to per-step autograd, state handling."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import spiking as sp  # noqa: E402
import spiking.nn as snn  # noqa: E402
from spiking.nn import functional as F  # noqa: E402


def _close(a, b, rtol=1e-5, atol=1e-6):
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


# -- coefficients come from the declarations ---------------------------------------------------
def test_decay_from_declaration():
    lif = snn.LIF(tau_m=20.0, dt=0.5).double()
    assert float(lif.beta) == sp.LIF(tau_m=20.0).propagators(0.5)["p22"]
    lif = snn.LIF(0.9, dt=1.0).double()
    assert abs(float(lif.beta) - 0.9) < 1e-7
    assert abs(lif.model.tau_m - (-1.0 / math.log(0.9))) < 1e-12
    assert snn.LIF(1.0).model.tau_m == math.inf and float(snn.LIF(1.0).beta) == 1.0
    assert float(snn.LIF(0.0).beta) == 0.0
    ro = snn.LeakyReadout(tau_m=10.0, dt=1.0)
    assert ro.beta == sp.LIF(tau_m=10.0).propagators(1.0)["p22"]
    c = snn.CubaLIF(tau_m=10.0, tau_syn=5.0, dt=1.0)
    p = sp.CubaLIF(tau_m=10.0, tau_syn_e=5.0, tau_syn_i=5.0, t_ref=0.0).propagators(1.0)
    assert (c.p["beta"], c.p["p11"], c.p["p21"]) == (p["p22"], p["p11e"], p["p21e"])


def test_from_model_and_back():
    model = sp.LIF(tau_m=15.0, v_rest=-65.0, v_reset=-70.0, v_th=-50.0, reset="soft")
    lif = snn.LIF.from_model(model, dt=0.1).double()
    back = lif.to_model()
    assert back.reset == "soft" and back.v_th == -50.0 and back.v_reset == -70.0 and back.v_rest == -65.0
    assert abs(back.tau_m - 15.0) < 1e-9
    with pytest.raises(ValueError, match="t_ref"):
        snn.LIF.from_model(sp.LIF(t_ref=2.0), dt=0.1)


def test_bad_parameters():
    with pytest.raises(ValueError, match="exactly one of beta"):
        snn.LIF()
    with pytest.raises(ValueError, match="exactly one of beta"):
        snn.LIF(0.9, tau_m=10.0)
    with pytest.raises(ValueError, match="beta=1.5"):
        snn.LIF(1.5)
    with pytest.raises(ValueError, match="v_reset"):
        snn.LIF(0.9, v_th=0.0, v_reset=0.5)
    with pytest.raises(ValueError, match="reset='sideways'"):
        snn.LIF(0.9, reset="sideways")
    with pytest.raises(ValueError, match="expected input"):
        snn.LIF(0.9)(torch.zeros(3, 2, 4), F.LIFState(torch.zeros(2, 5)))
    with pytest.raises(ValueError, match="backend"):
        snn.LIF(0.9, backend="cuda-magic")(torch.zeros(3, 2, 4))


# -- fused kernels against per-step autograd ---------------------------------------------------
CASES = [(reset, dr, di) for reset in ("hard", "soft") for dr in (False, True) for di in (False, True)]


def _run(backend, reset, dr, di, dtype, learn_beta=False, v_rest=0.0, surrogate="atan"):
    torch.manual_seed(3)
    x = (torch.rand(30, 4, 40) < 0.3).to(dtype)
    lin = snn.Linear(40, 24).to(dtype)
    with torch.no_grad():
        lin.weight.mul_(2.0 if not di else 8.0)
    lif = snn.LIF(0.85, reset=reset, detach_reset=dr, decay_input=di, backend=backend, learn_beta=learn_beta,
                  v_th=v_rest + 0.6, v_reset=v_rest - 0.1, v_rest=v_rest, surrogate=surrogate).to(dtype)
    v0 = torch.full((4, 24), v_rest, dtype=dtype) + 0.3 * torch.rand(4, 24, dtype=dtype)
    v0.requires_grad_(True)
    z, st = lif(lin(x), F.LIFState(v0))
    loss = (z * torch.linspace(-1, 1, 24, dtype=dtype)).sum() + (st.v ** 2).sum()
    loss.backward()
    grads = [lin.weight.grad, v0.grad] + ([lif.beta.grad] if learn_beta else [])
    return z.detach(), st.v.detach(), grads


@pytest.mark.parametrize("reset,dr,di", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_backends_equal_step_autograd(reset, dr, di, dtype):
    ref = _run("step", reset, dr, di, dtype)
    assert 0.02 < ref[0].mean() < 0.6, "test input should make neurons fire sometimes"
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    for backend in ("numba", "torch"):
        z, v, grads = _run(backend, reset, dr, di, dtype)
        assert torch.equal(z, ref[0]), backend
        _close(v, ref[1], **tol)
        for g, gr in zip(grads, ref[2]):
            _close(g, gr, **tol)


@pytest.mark.parametrize("reset,dr,di", CASES[::3])
def test_numba_equals_torch_fallback_bitwise(reset, dr, di):
    """Both fused backends perform the same float32 operations in the same order."""
    a = _run("numba", reset, dr, di, torch.float32)
    b = _run("torch", reset, dr, di, torch.float32)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for g, h in zip(a[2], b[2]):
        assert torch.equal(g, h)


@pytest.mark.parametrize("reset,di", [("hard", False), ("soft", True)])
def test_learnable_decay_gradient(reset, di):
    ref = _run("step", reset, False, di, torch.float64, learn_beta=True, v_rest=-0.5)
    for backend in ("numba", "torch"):
        z, v, grads = _run(backend, reset, False, di, torch.float64, learn_beta=True, v_rest=-0.5)
        assert torch.equal(z, ref[0])
        for g, gr in zip(grads, ref[2]):
            _close(g, gr, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("temporal_grad", [True, False])
def test_sltt_mode_of_fused_kernel(temporal_grad):
    """temporal_grad=False equals autograd through steps whose previous state is detached."""
    torch.manual_seed(0)
    x = torch.rand(12, 3, 7, dtype=torch.float64) * 0.8
    for backend in ("numba", "torch", "step"):
        xi = x.clone().requires_grad_(True)
        z, _ = snn.LIF(0.7, backend=backend, v_th=0.5).double()(xi, None, temporal_grad)
        (z * torch.arange(7.0, dtype=torch.float64)).sum().backward()
        if backend == "numba":
            ref = xi.grad.clone()
        else:
            _close(xi.grad, ref, rtol=1e-12, atol=1e-14)


def test_state_continuation_equals_one_run():
    """Two halves with the state passed on equal one run over the whole sequence (and gradients)."""
    torch.manual_seed(1)
    model = snn.Sequential(snn.Linear(10, 8), snn.LIF(0.8, v_th=0.4), snn.Linear(8, 3), snn.LeakyReadout(0.9)).double()
    x = torch.rand(20, 2, 10, dtype=torch.float64)
    y1, _ = model(x)
    y1.sum().backward()
    g1 = model[0].weight.grad.clone()
    model.zero_grad()
    a, st = model(x[:11])
    b, _ = model(x[11:], st)
    torch.cat([a, b]).sum().backward()
    _close(torch.cat([a, b]), y1, rtol=1e-12, atol=1e-12)
    _close(model[0].weight.grad, g1, rtol=1e-10, atol=1e-12)


def test_no_state_kept_between_calls():
    model = snn.Sequential(snn.Linear(5, 4), snn.LIF(0.9, v_th=0.3))
    x = torch.rand(8, 2, 5)
    assert torch.equal(model(x)[0], model(x)[0])


def test_single_step_form_equals_sequence():
    torch.manual_seed(2)
    model = snn.Sequential(snn.Linear(6, 5), snn.LIF(0.8, v_th=0.3, reset="soft"), snn.Linear(5, 3),
                           snn.LeakyReadout(0.7)).double()
    x = torch.rand(9, 2, 6, dtype=torch.float64)
    y, _ = model(x)
    st, ys = None, []
    for t in range(9):
        yt, st = model.step(x[t], st)
        ys.append(yt)
    _close(torch.stack(ys), y, rtol=1e-12, atol=1e-12)
    lif = model[1]
    z_seq, s_seq = lif(x[:, :, :5])
    s, zs = None, []
    for t in range(9):
        z, s = lif.step(x[t, :, :5], s)
        zs.append(z)
    assert torch.equal(torch.stack(zs), z_seq)


def test_readout_matches_step_and_gradient():
    torch.manual_seed(4)
    x = torch.randn(15, 3, 4, dtype=torch.float64)
    outs = {}
    for backend in ("numba", "torch", "step"):
        for di in (False, True):
            xi = x.clone().requires_grad_(True)
            ro = snn.LeakyReadout(0.8, decay_input=di, backend=backend)
            y, st = ro(xi)
            (y * torch.linspace(0, 1, 15, dtype=torch.float64)[:, None, None]).sum().backward()
            outs[(backend, di)] = (y.detach(), xi.grad)
            assert torch.equal(st.v, y[-1].detach()) or torch.allclose(st.v, y[-1])
    for di in (False, True):
        for backend in ("torch", "step"):
            _close(outs[(backend, di)][0], outs[("numba", di)][0], rtol=1e-12, atol=1e-12)
            _close(outs[(backend, di)][1], outs[("numba", di)][1], rtol=1e-12, atol=1e-12)


def test_cuba_lif_fused_equals_step():
    torch.manual_seed(5)
    x = torch.rand(25, 3, 6, dtype=torch.float64) * 0.6
    res = {}
    for backend in ("auto", "torch", "step"):
        xi = x.clone().requires_grad_(True)
        layer = snn.CubaLIF(0.9, 0.7, v_th=0.5, backend=backend)
        z, st = layer(xi)
        ((z * torch.arange(6.0, dtype=torch.float64)).sum() + st.v.sum()).backward()
        res[backend] = (z.detach(), st, xi.grad)
    assert res["auto"][0].sum() > 0
    for b in ("torch", "step"):
        assert torch.equal(res[b][0], res["auto"][0])
        _close(res[b][1].v, res["auto"][1].v, rtol=1e-12, atol=1e-12)
        _close(res[b][1].i, res["auto"][1].i, rtol=1e-12, atol=1e-12)
        _close(res[b][2], res["auto"][2], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="SLTT"):
        snn.CubaLIF(0.9, 0.7)(x, None, False)


def test_recurrent_lif_matches_manual_loop():
    torch.manual_seed(6)
    layer = snn.RecurrentLIF(5, 0.8, v_th=0.4).double()
    x = torch.rand(10, 2, 5, dtype=torch.float64) * 0.5
    z, st = layer(x)
    v = torch.zeros(2, 5, dtype=torch.float64)
    zp = torch.zeros(2, 5, dtype=torch.float64)
    for t in range(10):
        up = float(layer.beta) * v + x[t] + zp @ layer.weight.detach().T
        zp = (up >= 0.4).double()
        v = torch.where(zp > 0, torch.zeros_like(up), up)
        assert torch.equal(z[t].detach(), zp)
    _close(st.v.detach(), v, rtol=1e-12, atol=1e-12)
    no_self = snn.RecurrentLIF(4, 0.8, allow_self=False)
    assert torch.all(torch.diagonal(no_self.recurrent_weight()) == 0)


def test_conv_and_flatten_over_sequences():
    model = snn.Sequential(snn.Conv2d(2, 4, 3, padding=1), snn.LIF(0.9), snn.Flatten(), snn.Linear(4 * 6 * 6, 3),
                           snn.LeakyReadout(0.9))
    y, st = model(torch.rand(5, 2, 2, 6, 6))
    assert y.shape == (5, 2, 3) and st[1].v.shape == (2, 4, 6, 6)


def test_model_config_round_trip():
    model = snn.Sequential(snn.Linear(6, 5), snn.LIF(0.8, reset="soft", surrogate="triangle", decay_input=True),
                           snn.Linear(5, 5), snn.RecurrentLIF(5, tau_m=12.0, dt=0.5), snn.Linear(5, 2),
                           snn.CubaLIF(0.9, 0.8), snn.LeakyReadout(0.95))
    rebuilt = snn.build_model(model.config())
    rebuilt.load_state_dict(model.state_dict())
    x = torch.rand(6, 2, 6)
    torch.testing.assert_close(rebuilt(x)[0], model(x)[0])
    assert rebuilt.config() == model.config()


def test_float32_numba_has_no_global_state_between_threads():
    """The kernels write only their outputs: calling one layer twice gives equal results."""
    lif = snn.LIF(0.9, v_th=0.2)
    x = torch.rand(50, 16, 300)
    a, _ = lif(x)
    b, _ = lif(x)
    assert torch.equal(a, b)


def test_spike_output_is_binary_and_time_major():
    lif = snn.LIF(0.5, v_th=0.5)
    x = torch.tensor([0.3, 0.3, 0.3, 0.0, 1.0]).reshape(5, 1, 1)
    z, st = lif(x)
    # v: 0.3 -> 0.45 -> 0.525 (spike, reset 0) -> 0 -> 1.0 (spike)
    assert z.flatten().tolist() == [0.0, 0.0, 1.0, 0.0, 1.0]
    assert np.isclose(float(st.v), 0.0)


@pytest.mark.parametrize("name", ["atan", "fast_sigmoid", "triangle", "sigmoid", "rectangle"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_in_kernel_surrogates_equal_torch_definitions(name, dtype):
    """The numba backward evaluates the built-in surrogates itself; it matches the torch path."""
    a = _run("numba", "hard", False, False, dtype, surrogate=name)
    b = _run("torch", "hard", False, False, dtype, surrogate=name)
    assert torch.equal(a[0], b[0])
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    for g, h in zip(a[2], b[2]):
        _close(g, h, **tol)
        if name != "sigmoid":       # same float operations in the same order (sigmoid: exp differs)
            assert torch.equal(g, h), name


def _uses_sparse(y):
    """Whether the autograd graph of y (a few levels deep) contains the binary-input product."""
    todo, seen = [y.grad_fn], 0
    while todo and seen < 10:
        fn = todo.pop()
        seen += 1
        if fn is None:
            continue
        if "BinaryLinear" in type(fn).__name__:
            return True
        todo.extend(f for f, _ in fn.next_functions)
    return False


@pytest.mark.parametrize("dtype,K", [(torch.float32, 64), (torch.float32, 63), (torch.float64, 64)])
def test_binary_linear_equals_dense(dtype, K):
    """The spike-input path (CSR of active inputs) gives F.linear's result and gradients."""
    from spiking.nn.sparse import binary_linear

    torch.manual_seed(0)
    x = (torch.rand(40, 8, K) < 0.07).to(dtype).requires_grad_(True)
    w = torch.randn(17, K, dtype=dtype, requires_grad=True)
    cache = {}
    y = binary_linear(x, w, cache=cache)
    assert _uses_sparse(y)
    x2 = x.detach().clone().requires_grad_(True)
    w2 = w.detach().clone().requires_grad_(True)
    y2 = torch.nn.functional.linear(x2, w2)
    g = torch.randn_like(y2)
    y.backward(g)
    y2.backward(g)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    _close(y.detach(), y2.detach(), **tol)
    _close(x.grad, x2.grad, **tol)
    _close(w.grad, w2.grad, **tol)
    # the cached transpose follows in-place weight updates
    with torch.no_grad():
        w.add_(1.0)
        w2.add_(1.0)
    _close(binary_linear(x, w, cache=cache).detach(), torch.nn.functional.linear(x2, w2).detach(), **tol)


def test_binary_linear_falls_back_to_dense():
    from spiking.nn.sparse import binary_linear

    w = torch.randn(5, 30)
    graded = torch.rand(300, 30)                       # not binary
    assert _uses_sparse(binary_linear((torch.rand(300, 30) < 0.05).float(), w.requires_grad_()))
    assert not _uses_sparse(binary_linear(graded, w))
    dense = (torch.rand(300, 30) < 0.6).float()        # binary but dense
    assert not _uses_sparse(binary_linear(dense, w))
    few_rows = (torch.rand(10, 30) < 0.05).float()     # too small to be worth it
    assert not _uses_sparse(binary_linear(few_rows, w))
    torch.testing.assert_close(binary_linear(graded, w), torch.nn.functional.linear(graded, w))
    lin = snn.Linear(30, 5, sparse_input=False)
    assert not _uses_sparse(lin((torch.rand(300, 30) < 0.05).float()))
