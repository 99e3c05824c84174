"""CrossbarEngine: with the ideal device and periphery it gives the event engine's Recording
(spikes, spike for spike, and the ledger), on a recurrent network and on a network exported from
a trained spiking.nn model; the crossbar counts follow from the spikes; noisy runs are seeded."""
import numpy as np
import pytest
import torch

import spiking as sp
import spiking.nn as snn
from spiking.hardware import crossbar as xb


def recurrent_net(seed=1):
    rng = np.random.default_rng(seed)
    net = sp.Network(dt=0.1)
    net.add_source("in", 50, sp.PoissonSource(rate=40.0))
    net.add_population("exc", 80, sp.LIF(tau_m=10.0, v_th=-50.0, v_reset=-65.0, v_rest=-65.0, t_ref=2.0),
                       initial={"v": rng.uniform(-65, -50, 80)})
    net.add_population("inh", 20, sp.CubaLIF(tau_m=10.0, v_th=-50.0, v_reset=-65.0, v_rest=-65.0))
    net.connect("in", "exc", sp.FixedProbability(0.3), weight=2.0,
                rng=rng)
    net.connect("exc", "exc", sp.FixedProbability(0.1), weight=0.8, delay=0.3, rng=rng)
    net.connect("exc", "inh", sp.FixedProbability(0.2), weight=0.5, rng=rng)
    net.connect("inh", "exc", sp.FixedProbability(0.2), weight=1.5, receptor="inhibitory", delay=0.2, rng=rng)
    # per-synapse weights and mixed delays on one projection
    proj = net.projections[1]
    proj.weight = rng.uniform(0.2, 1.4, proj.size)
    proj.delay = rng.integers(1, 4, proj.size).astype(np.int32)
    return net


def same_recording(a, b):
    for k in a.spikes:
        assert np.array_equal(a.spikes[k].times, b.spikes[k].times), k
        assert np.array_equal(a.spikes[k].ids, b.spikes[k].ids), k
    da, db = a.ledger.to_dict(), b.ledger.to_dict()
    db.pop("backend")
    da.pop("backend")
    assert da == db


@pytest.mark.parametrize("projections,tile", [(None, (256, 256)), (["exc->exc#1", "inh->exc#3"], (16, 8))])
def test_ideal_crossbar_equals_event_engine_recurrent(projections, tile):
    net = recurrent_net()
    ref = sp.EventEngine(net).run(150.0, rng=np.random.default_rng(5), record={"exc": ["v"]})
    eng = xb.CrossbarEngine(net, device="ideal", io=xb.PERFECT, projections=projections, tile_size=tile)
    rec = eng.run(150.0, rng=np.random.default_rng(5), record={"exc": ["v"]})
    assert ref.ledger.total_spikes > 250
    same_recording(ref, rec)
    assert np.allclose(ref.state["exc"]["v"], rec.state["exc"]["v"], atol=1e-9)
    c = rec.ledger.backend["crossbar"]
    assert c["device"] == "ideal" and c["v_read_V"] == 0.2 and c["t_read_s"] == 10e-9
    if projections is None:
        # one tile per matrix (every population fits): each presynaptic spike drives its row once
        # in every delay matrix of its projection (every presynaptic unit has a row)
        expect_rows = sum(len(rec.spikes[proj.pre]) * np.unique(proj.delay).size for proj in net.projections)
        assert c["row_activations"] == expect_rows
        assert c["tiles"] == len(eng.crossbars)
    else:
        assert c["digital_accumulations"] > 0 and c["tiles"] > len(eng.crossbars)


def test_ideal_crossbar_equals_event_engine_on_trained_export():
    torch.manual_seed(0)
    model = snn.Sequential(snn.Linear(30, 24), snn.LIF(0.9), snn.Linear(24, 10), snn.LIF(0.85),
                           snn.Linear(10, 4), snn.LeakyReadout(0.9))
    model.double()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(20, 16, 30, generator=g, dtype=torch.float64) < 0.3).double()
    y = torch.randint(0, 4, (16,), generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(15):                                  # a short training: weights leave their init
        opt.zero_grad()
        out, _ = model(x)
        loss = torch.nn.functional.cross_entropy(out.mean(0), y)
        loss.backward()
        opt.step()
    exp = snn.to_network(model, x[:, 0])
    steps = x.shape[0] + max(exp.lag.values())
    ref = sp.EventEngine(exp.network).run(steps * exp.dt)
    rec = xb.CrossbarEngine(exp.network, device="ideal", io=xb.PERFECT, tile_size=(8, 8)).run(steps * exp.dt)
    assert ref.ledger.total_spikes > 50
    same_recording(ref, rec)


def test_noisy_crossbar_is_seeded_and_counts(tmp_path):
    net = recurrent_net()
    runs = [xb.CrossbarEngine(net, device="pcm_ibm", t_inference=3600.0, seed=3).run(100.0,
                                                                                     rng=np.random.default_rng(2))
            for _ in range(2)]
    for k in runs[0].spikes:
        assert np.array_equal(runs[0].spikes[k].ids, runs[1].spikes[k].ids)
    c = runs[0].ledger.backend["crossbar"]
    assert c["device"] == "pcm_ibm" and c["t_inference_s"] == 3600.0
    assert c["adc_conversions"] and set(c["adc_conversions"]) == {"9"} and c["dac_conversions"] == {}
    assert c["cells_read"] > 0 and c["conductance_sum_S"] > 0
    # the summed conductance is bounded by every read cell at g_max (plus programming noise)
    assert c["conductance_sum_S"] < c["cells_read"] * 30e-6
    runs[0].save(tmp_path / "rec.h5")                  # the counts travel with the Recording
    assert sp.Recording.load(tmp_path / "rec.h5").ledger.backend["crossbar"] == c


def test_engine_bad_input():
    net = recurrent_net()
    with pytest.raises(ValueError, match=r"projections \['nope'\]"):
        xb.CrossbarEngine(net, projections=["nope"])
    with pytest.raises(ValueError, match="unknown preset.*pcm_ibm"):
        xb.CrossbarEngine(net, device="pcm_x")
    with pytest.raises(ValueError, match="t_inference=-1"):
        xb.CrossbarEngine(net, t_inference=-1.0)
    with pytest.raises(ValueError, match="tile cols=0"):
        xb.CrossbarEngine(net, tile_size=(4, 0))


def test_engine_drift_compensation_and_energy_contract():
    net = recurrent_net()
    run = lambda **kw: xb.CrossbarEngine(net, device="pcm_ibm", seed=4, **kw).run(  # noqa: E731
        100.0, rng=np.random.default_rng(2))
    fresh = run(t_inference=0.0).ledger.spikes["exc"]
    aged = run(t_inference=365 * 86400.0).ledger.spikes["exc"]
    comp = run(t_inference=365 * 86400.0, drift_compensation="global").ledger.spikes["exc"]
    # a year of drift weakens every synapse; compensation brings the activity back towards t = 0
    assert aged < 0.8 * fresh
    assert abs(comp - fresh) < abs(aged - fresh)
    energy = pytest.importorskip("spiking.hardware.energy")
    rec = run(t_inference=3600.0)
    e = energy.estimate(rec, target="pcm_ibm", mode="hardware")
    c = rec.ledger.backend["crossbar"]
    assert e.total_joules > 0
    # the array term is V_read^2 t_read sum G of the cells read, from our counts
    arr = [i for i in e.items if i.what.startswith("array reads")]
    assert arr and arr[0].count == pytest.approx(c["conductance_sum_S"])
