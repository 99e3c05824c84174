"""Export: a torch model and its network description give the same spikes, spike for spike.

The exported network runs in the event engine (float64); the torch model runs in float64 too, so
the two differ only by summation order (about 1e-15 mV), far below any threshold crossing here.
Each exported layer fires ``lag`` steps later than its torch layer (one step of delay per
projection); ``Exported.run`` shifts the engine's spikes back.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import spiking as sp  # noqa: E402
import spiking.nn as snn  # noqa: E402


def _input(T, n, rate, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, 1, n, generator=g, dtype=torch.float64) < rate).double()


def _scale(model, gains, seed=0):
    torch.manual_seed(seed)
    linear = [m for m in model if isinstance(m, (snn.Linear, snn.Conv2d))]
    with torch.no_grad():
        for m, g in zip(linear, gains):
            m.weight.normal_(0.05, 1.0).mul_(g)   # signed weights, slightly excitatory on average
    return model


def _agree(model, x, **kw):
    T = x.shape[0]
    # torch: spikes of every spiking layer
    spikes, h = [], x
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, snn.SpikingModule):
                h, _ = layer(h)
                if isinstance(layer, (snn.LIF, snn.CubaLIF)):
                    spikes.append(h[:, 0].reshape(T, -1))
            else:
                h = layer(h)
    exp = snn.to_network(model, x[:, 0].reshape(T, -1), **kw)
    assert isinstance(exp.network, sp.Network)
    ev = exp.run(T)
    assert len(exp.populations) == len(spikes)
    total = 0
    for name, ts in zip(exp.populations, spikes):
        es = ev[name].double()
        assert es.shape == ts.shape
        mism = (es != ts).sum().item()
        assert mism == 0, f"{name}: {mism} spikes differ (torch {int(ts.sum())}, engine {int(es.sum())})"
        total += int(ts.sum())
    return exp, total, spikes


@pytest.mark.parametrize("reset,decay_input", [("hard", False), ("soft", False), ("hard", True), ("soft", True)])
def test_feed_forward_agreement(reset, decay_input):
    model = snn.Sequential(snn.Linear(40, 30), snn.LIF(0.9, reset=reset, decay_input=decay_input, v_th=1.0),
                           snn.Linear(30, 20), snn.LIF(tau_m=8.0, dt=1.0, reset=reset, decay_input=decay_input),
                           snn.Linear(20, 10), snn.LIF(0.7, reset=reset, decay_input=decay_input),
                           snn.Linear(10, 3), snn.LeakyReadout(0.9)).double()
    g = 8.0 if decay_input else 0.6
    _scale(model, [g, g * 1.5, g * 1.5, 1.0])
    exp, total, spikes = _agree(model, _input(120, 40, 0.1, 1))
    assert all(s.sum() > 10 for s in spikes), [int(s.sum()) for s in spikes]
    assert exp.skipped == ["6:Linear", "7:LeakyReadout"]
    assert exp.lag == {"layer1": 1, "layer2": 2, "layer3": 3}
    # the exported populations carry the layers' declarations
    m = exp.network.populations["layer2"].model
    assert isinstance(m, sp.LIF) and abs(m.tau_m - 8.0) < 1e-9 and m.reset == reset
    # signed weights: excitatory and inhibitory projections with weights >= 0
    recs = {p.receptor for p in exp.network.projections}
    assert recs == {"excitatory", "inhibitory"}


def test_agreement_with_rest_potential_and_offsets():
    """Biological units: v_rest -65 mV, threshold -50 mV, reset -70 mV, dt 0.5 ms."""
    model = snn.Sequential(snn.Linear(20, 15), snn.LIF(tau_m=10.0, dt=0.5, v_rest=-65.0, v_th=-50.0, v_reset=-70.0),
                           snn.Linear(15, 8), snn.LIF(tau_m=20.0, dt=0.5, v_rest=-65.0, v_th=-50.0, v_reset=-65.0,
                                                      reset="soft")).double()
    _scale(model, [8.0, 10.0])
    exp, total, spikes = _agree(model, _input(150, 20, 0.15, 2))
    assert all(s.sum() > 5 for s in spikes)


def test_recurrent_agreement():
    model = snn.Sequential(snn.Linear(25, 20), snn.RecurrentLIF(20, 0.85, reset="soft"),
                           snn.Linear(20, 6), snn.LIF(0.8)).double()
    _scale(model, [0.8, 1.0])
    with torch.no_grad():
        model[1].weight.normal_(0.0, 0.4)
    exp, total, spikes = _agree(model, _input(100, 25, 0.1, 3))
    assert all(s.sum() > 10 for s in spikes)
    self_proj = [p for p in exp.network.projections if p.pre == p.post == "layer1"]
    assert self_proj and all(int(d) == 1 for p in self_proj for d in p.delay)


def test_cuba_lif_agreement():
    model = snn.Sequential(snn.Linear(20, 12), snn.CubaLIF(tau_m=10.0, tau_syn=5.0, dt=1.0),
                           snn.Linear(12, 6), snn.CubaLIF(0.9, 0.6)).double()
    _scale(model, [0.5, 1.0])
    exp, total, spikes = _agree(model, _input(120, 20, 0.15, 4))
    assert all(s.sum() > 5 for s in spikes)
    assert isinstance(exp.network.populations["layer1"].model, sp.CubaLIF)


def test_conv_agreement():
    model = snn.Sequential(snn.Conv2d(2, 3, 3, padding=1), snn.LIF(0.8), snn.Flatten(), snn.Linear(3 * 5 * 5, 4),
                           snn.LIF(0.8)).double()
    _scale(model, [1.0, 0.5])
    x = _input(60, 2 * 5 * 5, 0.15, 5).reshape(60, 1, 2, 5, 5)
    exp, total, spikes = _agree(model, x, input_shape=(2, 5, 5))
    assert all(s.sum() > 5 for s in spikes)


def test_trained_model_exports_and_agrees():
    """Train briefly (float32, numba path), then export: spikes still agree (run in float64)."""
    torch.manual_seed(0)
    model = snn.Sequential(snn.Linear(10, 12), snn.LIF(0.9, v_th=0.5), snn.Linear(12, 2), snn.LIF(0.9, v_th=0.5))
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(20, 16, 10, generator=g) < 0.3).float()
    y = torch.randint(0, 2, (16,), generator=g)
    tr = snn.Trainer(model, torch.optim.Adam(model.parameters(), 1e-2), "sltt", progress=False)
    for _ in range(5):
        tr.train_step(x, y)
    model = model.double()
    _agree(model, x[:, :1].double())


def test_export_errors():
    with pytest.raises(ValueError, match="has a bias"):
        snn.to_network(snn.Sequential(snn.Linear(3, 2, bias=True), snn.LIF(0.9)))
    with pytest.raises(ValueError, match="input_shape"):
        snn.to_network(snn.Sequential(snn.Conv2d(1, 2, 3), snn.LIF(0.9)))
    with pytest.raises(ValueError, match="no spiking layer"):
        snn.to_network(snn.Sequential(snn.Linear(3, 2), snn.LeakyReadout(0.9)))
    with pytest.raises(ValueError, match="dt="):
        snn.to_network(snn.Sequential(snn.Linear(3, 2), snn.LIF(0.9, dt=1.0)), dt=0.5)
    with pytest.raises(ValueError, match="binary"):
        snn.to_network(snn.Sequential(snn.Linear(3, 2), snn.LIF(0.9)), torch.full((4, 3), 0.5))
    exp = snn.to_network(snn.Sequential(snn.Linear(3, 2), snn.LIF(0.9)))
    assert exp.network.populations["input"].size == 3
    assert np.all([p.weight.min() >= 0 for p in exp.network.projections])
