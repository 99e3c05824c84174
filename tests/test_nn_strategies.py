"""BPTT, SLTT and SLTT-K: exact identities between them, and memory that does not grow with T for SLTT."""
import pytest

torch = pytest.importorskip("torch")

import spiking.nn as snn  # noqa: E402
from spiking.nn import functional as F  # noqa: E402
from spiking.nn.memory import saved_tensors_meter  # noqa: E402
from spiking.nn.strategies import STRATEGIES, sequence_loss  # noqa: E402


def _model(beta, reset="hard", decay_input=False, seed=0, n_in=12, hidden=10, n_out=4, backend="auto", sparse=True):
    torch.manual_seed(seed)
    m = snn.Sequential(snn.Linear(n_in, hidden, sparse_input=sparse),
                       snn.LIF(beta, v_th=0.5, reset=reset, decay_input=decay_input, backend=backend),
                       snn.Linear(hidden, hidden, sparse_input=sparse),
                       snn.LIF(beta, v_th=0.5, reset=reset, decay_input=decay_input, backend=backend),
                       snn.Linear(hidden, n_out, sparse_input=sparse), snn.LeakyReadout(beta, backend=backend)).double()
    with torch.no_grad():
        for layer in (m[0], m[2], m[4]):
            layer.weight.mul_(3.0 if not decay_input else 10.0)
    return m


def _data(T=16, B=5, n_in=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, n_in, generator=g) < 0.4).double()
    y = torch.randint(0, 4, (B,), generator=g)
    return x, y


def _grads(model, strategy, x, y, **opts):
    model.zero_grad(set_to_none=True)
    loss, out = STRATEGIES[strategy](model, x, y, torch.nn.CrossEntropyLoss(), **opts)
    return loss, out, [p.grad.clone() for p in model.parameters()]


def _assert_grads_equal(a, b, rtol=1e-10, atol=1e-12):
    assert len(a) == len(b)
    for ga, gb in zip(a, b):
        torch.testing.assert_close(ga, gb, rtol=rtol, atol=atol)


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_decay_zero_sltt_equals_bptt(reset):
    """With decay 0 nothing carries over from one step to the next: SLTT's gradient is BPTT's."""
    x, y = _data()
    model = _model(0.0, reset=reset)
    lb, ob, gb = _grads(model, "bptt", x, y)
    ls, os_, gs = _grads(model, "sltt", x, y)
    assert torch.equal(ob, os_)
    assert abs(lb - ls) < 1e-12
    assert any(g.abs().sum() > 0 for g in gb)
    _assert_grads_equal(gs, gb)


def test_with_decay_sltt_differs_from_bptt():
    x, y = _data()
    model = _model(0.9)
    _, _, gb = _grads(model, "bptt", x, y)
    _, _, gs = _grads(model, "sltt", x, y)
    assert max((a - b).abs().max() for a, b in zip(gb, gs)) > 1e-6


class _DetachedGraph(torch.nn.Module):
    """The same model, run step by step with plain autograd, u[t-1] detached at every step."""

    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, x, state=None, temporal_grad=True):
        layers = list(self.m)
        outs, states = [], [None] * len(layers)
        for xt in x.unbind(0):
            h = xt
            for i, layer in enumerate(layers):
                if isinstance(layer, snn.LIF):
                    st = states[i]
                    st = None if st is None else F.LIFState(st.v.detach())
                    h, states[i] = F.lif_step(h, st, layer.parameters_record)
                elif isinstance(layer, snn.LeakyReadout):
                    st = states[i]
                    st = None if st is None else F.LIState(st.v.detach())
                    h, states[i] = F.li_step(h, st, layer.parameters_record)
                else:
                    h = layer(h)
            outs.append(h)
        return torch.stack(outs), states


@pytest.mark.parametrize("reset,decay_input", [("hard", False), ("soft", False), ("hard", True)])
def test_sltt_equals_bptt_on_detached_graph(reset, decay_input):
    x, y = _data()
    model = _model(0.8, reset=reset, decay_input=decay_input)
    _, out_s, gs = _grads(model, "sltt", x, y)
    _, out_b, gb = _grads(_DetachedGraph(model), "bptt", x, y)
    assert torch.equal(out_s, out_b)
    _assert_grads_equal(gs, gb)


@pytest.mark.parametrize("chunk", [3, 16, 100])
def test_sltt_chunks_give_the_same_gradient(chunk):
    x, y = _data()
    model = _model(0.8)
    _, _, g1 = _grads(model, "sltt", x, y)
    _, _, gc = _grads(model, "sltt", x, y, chunk=chunk)
    _assert_grads_equal(gc, g1)


def test_sltt_k_with_k_equal_t_is_sltt():
    x, y = _data()
    model = _model(0.8)
    ls, os_, gs = _grads(model, "sltt", x, y)
    lk, ok, gk = _grads(model, "sltt-k", x, y, k=x.shape[0], generator=torch.Generator().manual_seed(0))
    assert ls == lk and torch.equal(os_, ok)
    for a, b in zip(gs, gk):
        assert torch.equal(a, b)


def test_sltt_k_backpropagates_only_chosen_steps():
    """SLTT-K's gradient is the SLTT gradient restricted to the K drawn steps."""
    x, y = _data(T=12)
    model = _model(0.8)
    gen = torch.Generator().manual_seed(7)
    chosen = torch.randperm(12, generator=torch.Generator().manual_seed(7))[:4].tolist()
    _, _, gk = _grads(model, "sltt-k", x, y, k=4, generator=gen)

    # reference: SLTT where the loss of unchosen steps is multiplied by 0
    model.zero_grad(set_to_none=True)
    state = None
    for t in range(12):
        out, state = model(x[t:t + 1], state, temporal_grad=False)
        w = 1.0 if t in chosen else 0.0
        (w * sequence_loss(torch.nn.CrossEntropyLoss(), out, y, 12)).backward()
        state = model.detach_state(state)
    gref = [p.grad.clone() for p in model.parameters()]
    _assert_grads_equal(gk, gref)
    with pytest.raises(ValueError, match="k=13"):
        _grads(model, "sltt-k", x, y, k=13)


def _saved_peak(model, strategy, T, n_in=12):
    x, y = _data(T=T, B=4, n_in=n_in)
    with saved_tensors_meter() as m:
        _grads(model, strategy, x, y)
    assert m.live_bytes == 0, "every saved tensor is released after the backward passes"
    return m.peak_bytes


def test_saved_memory_grows_with_t_for_bptt_and_is_flat_for_sltt():
    model = _model(0.9, sparse=False)     # dense inputs saved: the bytes are exactly linear in T
    Ts = (10, 20, 40, 80)
    bptt = [_saved_peak(model, "bptt", T) for T in Ts]
    sltt = [_saved_peak(model, "sltt", T) for T in Ts]
    # BPTT: linear in T (equal increments for equal steps of T)
    inc = [b - a for a, b in zip(bptt, bptt[1:])]
    assert inc[1] == 2 * inc[0] and inc[2] == 2 * inc[1] and inc[0] > 0
    per_step = inc[0] / 10
    assert all(abs(b - per_step * T) <= 0.5 * per_step * 10 for b, T in zip(bptt, Ts))
    # SLTT: the same at every T, and the size of about one step of BPTT
    assert len(set(sltt)) == 1
    assert sltt[0] <= 2 * per_step
    # SLTT-K holds one step at a time as well
    x, y = _data(T=80, B=4)
    with saved_tensors_meter() as m:
        _grads(model, "sltt-k", x, y, k=20, generator=torch.Generator().manual_seed(0))
    assert m.peak_bytes == sltt[0]


def test_sparse_inputs_are_saved_compactly():
    """With the binary-input path, BPTT saves spike indices instead of dense inputs: less memory,
    still growing with T; SLTT stays flat; the gradients are those of the dense path."""
    dense, sparse = _model(0.9, sparse=False, n_in=64), _model(0.9, sparse=True, n_in=64)
    x, y = _data(T=200, B=4, n_in=64)
    x = x * (torch.rand_like(x) < 0.25)            # ~10 % input density
    for m in (dense, sparse):
        with saved_tensors_meter() as meter:
            _grads(m, "bptt", x, y)
        m.peak = meter.peak_bytes
    assert sparse.peak < 0.8 * dense.peak
    _, _, gd = _grads(dense, "bptt", x, y)
    _, _, gs = _grads(sparse, "bptt", x, y)
    _assert_grads_equal(gs, gd, rtol=1e-9, atol=1e-11)
    bp = [_saved_peak(sparse, "bptt", T, 64) for T in (80, 160, 320)]
    assert bp[0] < bp[1] < bp[2]
    assert len({_saved_peak(sparse, "sltt", T, 64) for T in (80, 160, 320)}) == 1


def test_strategy_registry_and_loss_fallback():
    x, y = _data()
    model = _model(0.8)

    class WeirdLoss(torch.nn.Module):  # not vectorisable: evaluated step by step
        def forward(self, out, target):
            return torch.nn.functional.cross_entropy(out, target) * 1.0

    l1, _, g1 = _grads(model, "bptt", x, y)
    model.zero_grad(set_to_none=True)
    l2, _ = STRATEGIES["bptt"](model, x, y, WeirdLoss())
    g2 = [p.grad.clone() for p in model.parameters()]
    assert abs(l1 - l2) < 1e-12
    _assert_grads_equal(g1, g2)
    with pytest.raises(ValueError, match="non-empty"):
        snn.register_strategy("", lambda *a, **k: None)
