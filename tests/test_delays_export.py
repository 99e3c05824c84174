"""Export of a trained delay network: per-synapse integer delays in the network description, and
the event engine's spikes equal the torch model's (eval mode, one-hot kernels), step for step."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import spiking.nn as snn
from spiking.nn.delays import DelayedLinear, TimeDropout


def _model(M=7, beta=0.9, seed=0, n=(16, 12, 10, 4)):
    g = torch.Generator().manual_seed(seed)
    model = snn.Sequential(
        DelayedLinear(n[0], n[1], M, generator=g), snn.LIF(beta, detach_reset=True), TimeDropout(0.4),
        DelayedLinear(n[1], n[2], M, generator=g), snn.LIF(beta, detach_reset=True), TimeDropout(0.4),
        DelayedLinear(n[2], n[3], M, generator=g), snn.LeakyReadout(beta)).double()
    with torch.no_grad():                 # excitatory on average, so that every layer fires
        for m in model:
            if isinstance(m, DelayedLinear):
                m.weight.add_(0.25)
    return model.eval()


def _torch_spikes(model, x):
    out, h = [], x
    with torch.no_grad():
        for layer in model:
            h, _ = layer(h)
            if isinstance(layer, snn.LIF):
                out.append(h[:, 0])
    return out


@pytest.mark.parametrize("M, beta", [(7, 0.9), (25, 1 - 1 / 1.005)])   # 1 - 1/1.005: the authors' SHD LIF
def test_event_engine_reproduces_the_delay_network_spike_for_spike(M, beta):
    model = _model(M, beta)
    g = torch.Generator().manual_seed(1)
    T0, tail = 40, 3 * M                  # input spikes in the first T0 steps, then silence
    x = torch.zeros(T0 + tail, 1, 16, dtype=torch.float64)
    x[:T0] = (torch.rand(T0, 1, 16, generator=g) < 0.3).double()
    torch_spikes = _torch_spikes(model, x)
    exp = snn.to_network(model, x[:, 0])
    assert exp.skipped == ["5:TimeDropout", "6:DelayedLinear", "7:LeakyReadout"]
    # the description holds each synapse's delay: d + 1 steps
    d1 = model[0].delays().numpy()
    proj = [p for p in exp.network.projections if p.pre == "input" and p.post == "layer1"]
    for p in proj:
        assert np.array_equal(p.delay, d1[p.post_idx, p.pre_idx] + 1)
    assert sum(p.pre_idx.size for p in proj) == int((model[0].weight != 0).sum())
    steps = torch_spikes[-1].shape[0]
    ev = exp.run(steps)
    total = 0
    for name, ts in zip(exp.populations, torch_spikes):
        es = ev[name].double()
        assert torch.equal(es[: ts.shape[0]], ts), name
        assert es[ts.shape[0]:].sum() == 0          # nothing fires after the torch window either
        total += int(ts.sum())
        assert ts.sum() > 5, (name, int(ts.sum()))
    assert total > 20


def test_delays_change_the_exported_spikes():
    """The same weights with all delays 0 give other spikes: the engine really runs the delays."""
    model = _model()
    x = torch.zeros(60, 1, 16, dtype=torch.float64)
    x[:30] = (torch.rand(30, 1, 16, generator=torch.Generator().manual_seed(2)) < 0.3).double()
    with_delays = snn.to_network(model, x[:, 0]).run(70)
    for m in model:
        if isinstance(m, DelayedLinear):
            m.set_delays(torch.zeros_like(m.delays()))
    without = snn.to_network(model, x[:, 0]).run(70)
    assert not torch.equal(with_delays["layer2"], without["layer2"])
    assert torch.equal(without["layer1"][:63], _torch_spikes(model, x)[0][:63])


def test_a_delayed_layer_composed_with_another_linear_is_refused():
    model = snn.Sequential(snn.Linear(5, 5), DelayedLinear(5, 4, 3), snn.LIF(0.9))
    with pytest.raises(ValueError, match="DelayedLinear.*follows another linear layer"):
        snn.to_network(model.eval(), input_size=5)
    model = snn.Sequential(DelayedLinear(5, 4, 3), snn.Linear(4, 4), snn.LIF(0.9))
    with pytest.raises(ValueError, match="follows a DelayedLinear"):
        snn.to_network(model.eval())
