"""spiking.nir: our export and import, round trips, the conventions written and announced, bad input."""
import math
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import spiking.nn as snn
from spiking.nir import CONVENTIONS, NIRConventionWarning, from_nir, to_nir
from spiking.nir.modules import Delay, SumPool2d
from spiking.nir.trace import trace

nir = pytest.importorskip("nir")


def _spiking_outputs(model, x):
    return [r["out"] for r in trace(model, x) if isinstance(r["layer"], (snn.LIF, snn.CubaLIF))]


def _seeded(model, seed, gain):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain / math.sqrt(m.weight[0].numel()))
            if isinstance(m, snn.RecurrentLIF):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.5 / math.sqrt(m.size))
    return model


def _inputs(shape, p=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).float()


def _round_trip(model, x, tmp_path, **kw):
    path = tmp_path / "model.nir"
    to_nir(model, path, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NIRConventionWarning)     # our files leave nothing open
        imp = from_nir(path, integrator=kw.get("integrator", "euler"))
    a = _spiking_outputs(model, x)
    b = _spiking_outputs(imp.model, x)
    assert len(a) == len(b) and len(a) > 0
    for k, (sa, sb) in enumerate(zip(a, b)):
        assert sa.sum() > 0, f"spiking layer {k} never fires: the round trip would test nothing"
        torch.testing.assert_close(sb, sa, rtol=0, atol=0, msg=f"spiking layer {k}")
    return imp


# -- round trips -----------------------------------------------------------------------------------
@pytest.mark.parametrize("integrator", ["euler", "exact"])
def test_round_trip_feed_forward(tmp_path, integrator):
    model = _seeded(snn.Sequential(
        snn.Linear(12, 10), snn.LIF(tau_m=5.0, dt=0.5), snn.Linear(10, 8),
        snn.LIF(beta=0.8, dt=0.5, decay_input=True, v_th=0.3), snn.Linear(8, 6), snn.LIF(beta=1.0, dt=0.5)), 1, 2.5)
    imp = _round_trip(model, _inputs((60, 3, 12)), tmp_path, integrator=integrator)
    assert imp.dt == 0.5e-3 and imp.integrator == integrator


def test_round_trip_biological_units(tmp_path):
    model = _seeded(snn.Sequential(snn.Linear(12, 10), snn.LIF(tau_m=20.0, dt=1.0, v_rest=-65.0, v_reset=-70.0,
                                                                  v_th=-50.0)), 2, 60.0)
    _round_trip(model, _inputs((80, 3, 12)), tmp_path)


def test_round_trip_recurrent_cuba_and_delay(tmp_path):
    model = _seeded(snn.Sequential(
        snn.Linear(10, 8), snn.RecurrentLIF(8, beta=0.9, dt=1.0), snn.Linear(8, 8), Delay(2),
        snn.CubaLIF(beta=0.9, alpha=0.7, dt=1.0), snn.Linear(8, 5), snn.LIF(beta=0.9, dt=1.0)), 3, 3.0)
    imp = _round_trip(model, _inputs((80, 3, 10)), tmp_path)
    g = nir.read(tmp_path / "model.nir")
    assert ("1.lif", "1.w_rec") in g.edges and ("1.w_rec", "1.lif") in g.edges
    assert isinstance(g.nodes["4.delay"], nir.Delay)        # our CubaLIF's one-step current lag, made explicit
    assert imp.conventions["recurrent_delay"] == ("edge leaving the neuron", "file metadata")


def test_round_trip_conv_pool(tmp_path):
    model = _seeded(snn.Sequential(
        snn.Conv2d(2, 4, 3, padding=1), snn.LIF(beta=0.9), SumPool2d(2), snn.Flatten(), snn.Linear(64, 5),
        snn.LIF(beta=0.9)), 4, 3.0)
    _round_trip(model, _inputs((30, 2, 2, 8, 8)), tmp_path, input_shape=(2, 8, 8), dt=1e-3)


def test_soft_reset_refused_unless_asked_and_then_round_trips(tmp_path):
    model = _seeded(snn.Sequential(snn.Linear(10, 8), snn.LIF(beta=0.9, reset="soft")), 5, 3.0)
    with pytest.raises(ValueError, match=r"layer 1 \(LIF\): soft reset"):
        to_nir(model, tmp_path / "soft.nir")
    assert not (tmp_path / "soft.nir").exists()
    imp = _round_trip(model, _inputs((60, 3, 10)), tmp_path, soft_reset="metadata")
    assert imp.model[1].model.reset == "soft"


def test_export_refuses_what_nir_cannot_say(tmp_path):
    with pytest.raises(ValueError, match=r"layer 1 \(LIF\): i_offset=0.5"):
        to_nir(snn.Sequential(snn.Linear(4, 3), snn.LIF(beta=0.9, i_offset=0.5)))
    with pytest.raises(TypeError, match=r"layer 1 \(ReLU\)"):
        to_nir(snn.Sequential(snn.Linear(4, 3), torch.nn.ReLU(), snn.LIF(beta=0.9)))
    with pytest.raises(ValueError, match=r"dt=0.002 s, but layers were built with dt \[1.0\] ms"):
        to_nir(snn.Sequential(snn.Linear(4, 3), snn.LIF(beta=0.9, dt=1.0)), dt=2e-3)


def test_metadata_written(tmp_path):
    model = snn.Sequential(snn.Linear(4, 3), snn.LIF(beta=0.9, dt=0.25))
    to_nir(model, tmp_path / "m.nir")
    g = nir.read(tmp_path / "m.nir")
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.metadata.items()}
    assert float(meta["dt"]) == 0.25e-3
    assert meta["integrator"] == "euler" and meta["spike_condition"] == "v >= v_threshold"
    for key in CONVENTIONS:
        assert key in meta
    node_meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.nodes["1"].metadata.items()}
    assert node_meta["reset"] == "hard"
    # Euler mapping: 1 - dt/tau is the decay, dt r / tau the input gain (1 here)
    tau, r = float(g.nodes["1"].tau[0]), float(g.nodes["1"].r[0])
    assert 1 - 0.25e-3 / tau == pytest.approx(0.9, abs=1e-12)
    assert 0.25e-3 * r / tau == pytest.approx(1.0, abs=1e-12)


def test_write_is_atomic(tmp_path, monkeypatch):
    """nir.write fails half-way (as it does on 0-d arrays): the target keeps its old content and no
    temporary file is left."""
    target = tmp_path / "m.nir"
    target.write_bytes(b"old")
    real_write = nir.write

    def failing(path, graph, **kw):
        with h5py.File(path, "w") as f:
            f.create_dataset("version", data="partial")
        raise TypeError("Scalar datasets don't support chunk/filter options")

    monkeypatch.setattr(nir, "write", failing)
    with pytest.raises(TypeError):
        to_nir(snn.Sequential(snn.Linear(4, 3), snn.LIF(beta=0.9)), target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nir"]
    monkeypatch.setattr(nir, "write", real_write)


# -- import: semantics checked against closed forms --------------------------------------------------
def _graph(*nodes, metadata=None):
    g = nir.NIRGraph.from_list(*nodes, type_check=False)
    if metadata is not None:
        g.metadata = metadata
    return g


def test_lif_euler_and_exact_against_closed_form():
    """One input pulse into tau dv/dt = -v + r I: v[t] = c beta^t with (beta, c) = (1 - dt/tau, dt r/tau)
    (Euler) or (exp(-dt/tau), r (1 - exp(-dt/tau))) (input held over the step, exact)."""
    dt, tau, r = 1e-3, 8e-3, 2.0
    node = nir.LIF(tau=np.full(1, tau), r=np.full(1, r), v_leak=np.zeros(1), v_threshold=np.full(1, 1e9),
                   v_reset=np.zeros(1))
    x = torch.zeros(10, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    t = np.arange(10)
    for integrator, beta, c in (("euler", 1 - dt / tau, dt * r / tau),
                                ("exact", math.exp(-dt / tau), r * (1 - math.exp(-dt / tau)))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NIRConventionWarning)
            imp = from_nir(_graph(nir.Input(np.array([1])), node), dt=dt, integrator=integrator, dtype=torch.float64)
        v = [rec["v"] for rec in trace(imp.model.double(), x) if rec["v"] is not None][0]
        np.testing.assert_allclose(v[:, 0, 0].numpy(), c * beta ** t, rtol=1e-12)


def test_spike_condition_at_the_threshold():
    """IF with r = 1/dt and two inputs of 0.5: v reaches the threshold 1.0 exactly at step 1."""
    dt = 1e-4
    nodes = (nir.Input(np.array([1])), nir.IF(r=np.full(1, 1 / dt), v_threshold=np.ones(1), v_reset=np.zeros(1)))
    x = torch.full((3, 1, 1), 0.5)
    spikes = {}
    for cond in ("v > v_threshold", "v >= v_threshold"):
        imp = from_nir(_graph(*nodes), dt=dt, spike_condition=cond)
        spikes[cond] = imp.model(x)[0][:, 0, 0].tolist()
    assert spikes["v >= v_threshold"] == [0.0, 1.0, 0.0]
    assert spikes["v > v_threshold"] == [0.0, 0.0, 1.0]


def test_cuba_current_first_order():
    """CubaLIF with Euler: the current takes this step's input and the membrane this step's current."""
    dt, ts, tm = 1e-3, 4e-3, 10e-3
    node = nir.CubaLIF(tau_syn=np.full(1, ts), tau_mem=np.full(1, tm), r=np.full(1, tm / dt), v_leak=np.zeros(1),
                       v_threshold=np.full(1, 1e9), v_reset=np.zeros(1), w_in=np.full(1, ts / dt))
    with pytest.warns(NIRConventionWarning, match="CubaLIF update order"):
        imp = from_nir(_graph(nir.Input(np.array([1])), node), dt=dt, dtype=torch.float64)
    x = torch.zeros(6, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    v = [rec["v"] for rec in trace(imp.model, x) if isinstance(rec["layer"], snn.LIF)][0][:, 0, 0].numpy()
    a, b = 1 - dt / ts, 1 - dt / tm
    i = a ** np.arange(6)
    expect = np.zeros(6)
    for t in range(6):
        expect[t] = (b * expect[t - 1] if t else 0.0) + i[t]
    np.testing.assert_allclose(v, expect, rtol=1e-12)
    assert v[0] == 1.0          # the input moves the membrane in its own step


def test_open_conventions_are_announced():
    lif = nir.LIF(tau=np.full(3, 5e-3), r=np.ones(3) * 5, v_leak=np.zeros(3), v_threshold=np.ones(3),
                  v_reset=np.zeros(3))
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "lif": lif, "w": nir.Linear(np.eye(3)),
                            "output": nir.Output(np.array([3]))},
                     edges=[("input", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "output")], type_check=False)
    with pytest.warns(NIRConventionWarning) as record:
        imp = from_nir(g, dt=1e-3)
    text = " | ".join(str(w.message) for w in record)
    for what in ("spike condition", "reset", "cycles"):
        assert what in text
    assert imp.conventions["spike_condition"] == ("v > v_threshold", "assumed")
    assert isinstance(imp.model[-1], snn.RecurrentLIF)


def test_to_network_of_an_imported_model(tmp_path):
    """Where every node maps, the import gives a network description; the event engine reproduces
    the imported torch model's spikes (the input gain of a decay_input layer is folded into the weights)."""
    model = _seeded(snn.Sequential(snn.Linear(10, 8), snn.LIF(beta=0.8, decay_input=True, v_th=0.3),
                                   snn.Linear(8, 6), snn.LIF(beta=0.9)), 6, 3.0)
    to_nir(model, tmp_path / "m.nir")
    imp = from_nir(tmp_path / "m.nir")
    x = _inputs((40, 1, 10), seed=3).double()
    net_model = imp.model.double()
    exp = imp.to_network(x[:, 0])
    spikes = exp.run(40)
    torch_spikes = _spiking_outputs(net_model, x)
    for name, s in zip(exp.populations, torch_spikes):
        assert s.sum() > 0
        torch.testing.assert_close(spikes[name], s[:, 0].float(), rtol=0, atol=0)


# -- bad input ---------------------------------------------------------------------------------------
def test_missing_dt(tmp_path):
    g = _graph(nir.Input(np.array([2])), nir.Linear(np.ones((2, 2))))
    with pytest.raises(ValueError, match="dt is required"):
        from_nir(g)


def test_not_a_nir_file(tmp_path):
    p = tmp_path / "x.nir"
    p.write_text("hello")
    with pytest.raises(ValueError, match=r"x.nir: not a NIR file \(not readable as HDF5"):
        from_nir(p, dt=1e-3)
    with h5py.File(tmp_path / "y.nir", "w") as f:
        f.create_dataset("weights", data=np.ones(3))
    with pytest.raises(ValueError, match=r"y.nir: not a NIR file \(expected the 'version' and 'node'"):
        from_nir(tmp_path / "y.nir", dt=1e-3)
    with pytest.raises(FileNotFoundError):
        from_nir(tmp_path / "none.nir", dt=1e-3)


def test_unknown_node_type_is_named(tmp_path):
    to_nir(snn.Sequential(snn.Linear(4, 3), snn.LIF(beta=0.9)), tmp_path / "m.nir")
    with h5py.File(tmp_path / "m.nir", "r+") as f:
        del f["node/nodes/1/type"]
        f["node/nodes/1"].create_dataset("type", data="Izhikevich", dtype=h5py.string_dtype())
    with pytest.raises(ValueError, match=r"node 'nodes.1'|node '1'.*unknown type 'Izhikevich'"):
        from_nir(tmp_path / "m.nir")


def test_shapes_that_do_not_connect():
    g = _graph(nir.Input(np.array([4])), nir.Linear(np.ones((3, 5))))
    with pytest.raises(ValueError, match=r"takes 5 inputs but receives shape \[4\]: shapes do not connect"):
        from_nir(g, dt=1e-3)
    lif = nir.LIF(tau=np.full(2, 5e-3), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2))
    g = _graph(nir.Input(np.array([4])), nir.Linear(np.ones((3, 4))), lif)
    with pytest.raises(ValueError, match=r"tau has 2 values for 3 neurons: shapes do not connect"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NIRConventionWarning)
            from_nir(g, dt=1e-3)


def test_other_refusals():
    lif = nir.LIF(tau=np.array([5e-3, 6e-3]), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
                  v_reset=np.zeros(2))
    with pytest.raises(ValueError, match=r"tau differs between neurons"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NIRConventionWarning)
            from_nir(_graph(nir.Input(np.array([2])), lif), dt=1e-3)
    with pytest.raises(ValueError, match=r"not whole multiples of dt"):
        from_nir(_graph(nir.Input(np.array([2])), nir.Delay(np.full(2, 1.5e-3))), dt=1e-3)
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "a": nir.Linear(np.eye(2)), "b": nir.Linear(np.eye(2)),
                            "output": nir.Output(np.array([2]))},
                     edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")], type_check=False)
    with pytest.raises(ValueError, match=r"cycle through \['a', 'b', 'output'\]"):
        from_nir(g, dt=1e-3)
    with pytest.raises(ValueError, match=r"integrator='rk4'"):
        from_nir(g, dt=1e-3, integrator="rk4")
    with pytest.raises(ValueError, match=r"source='brian'"):
        from_nir(g, source="brian")


# -- read back by another library ---------------------------------------------------------------------
def test_snntorch_reads_our_export():
    """snnTorch's importer (import_from_nir, dt = 1e-4 s hard-coded) reads our LIF export made at
    dt = 0.1 ms and gives the same spikes (its condition is v > threshold, ours v >= threshold: with
    continuous random weights no membrane lands exactly on the threshold here)."""
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir
    import snntorch.utils as su

    model = _seeded(snn.Sequential(snn.Linear(12, 10), snn.LIF(beta=0.9, dt=0.1), snn.Linear(10, 6),
                                   snn.LIF(beta=0.85, dt=0.1)), 7, 2.5)
    graph = to_nir(model)
    net = import_from_nir(graph)
    x = _inputs((60, 4, 12), seed=5)
    su.reset(net)
    with torch.no_grad():
        theirs = []
        for t in range(60):
            out = net(x[t])
            theirs.append(out[0] if isinstance(out, tuple) else out)
        theirs = torch.stack(theirs)
    ours = _spiking_outputs(model, x)[-1]
    assert ours.sum() > 0
    torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


# -- network descriptions -------------------------------------------------------------------------------
def test_network_export_reproduces_the_event_engine(tmp_path):
    """A network description (here the export of a torch model: projections with one step of delay,
    a recurrent projection, a CubaLIF population) written to NIR and read back runs in torch with
    the event engine's spikes, step for step (delays are Delay nodes, so no lag correction)."""
    from spiking.engines import EventEngine

    model = _seeded(snn.Sequential(
        snn.Linear(10, 8), snn.LIF(beta=0.9, dt=1.0), snn.Linear(8, 8), snn.RecurrentLIF(8, beta=0.9, dt=1.0),
        snn.Linear(8, 6), snn.CubaLIF(beta=0.9, alpha=0.7, dt=1.0)), 8, 3.0)
    x = _inputs((50, 1, 10), seed=9).double()
    exp = snn.to_network(model.double(), x[:, 0])
    to_nir(exp.network, tmp_path / "net.nir")
    g = nir.read(tmp_path / "net.nir")
    assert isinstance(g.nodes["delay_layer2_layer3_d1"], nir.Delay)
    assert float(g.nodes["delay_layer2_layer3_d1"].delay[0]) == pytest.approx(2e-3)   # 1 step + the CubaLIF lag
    with warnings.catch_warnings():
        warnings.simplefilter("error", NIRConventionWarning)
        imp = from_nir(tmp_path / "net.nir", dtype=torch.float64)
    rec = EventEngine(exp.network).run(50.0, progress=False)
    ours = _spiking_outputs(imp.model, x)
    for name, s in zip(exp.populations, ours):
        raster = np.zeros((50, exp.network.populations[name].size))
        t = np.rint(np.asarray(rec.spikes[name].times) / exp.dt).astype(int)
        raster[t, np.asarray(rec.spikes[name].ids)] = 1
        assert raster.sum() > 0
        np.testing.assert_array_equal(s[:, 0].numpy(), raster, err_msg=name)


def test_network_export_refusals():
    import spiking
    from spiking.connectors import AllToAll

    net = spiking.Network(dt=0.1)
    net.add_source("in", 3, spiking.SpikeSourceArray(np.zeros(0), np.zeros(0, np.int64)))
    net.add_population("p", 2, spiking.LIF(t_ref=2.0))
    net.connect("in", "p", AllToAll(), weight=1.0)
    with pytest.raises(ValueError, match=r"population 'p': t_ref=2.0 ms"):
        to_nir(net)


def test_readouts_conv1d_and_subgraph():
    """LI and Integrator against closed forms, a Conv1d against torch, and a subgraph inlined."""
    dt = 1e-3
    li = nir.LI(tau=np.full(2, 4e-3), r=np.full(2, 3.0), v_leak=np.zeros(2))
    integ = nir.I(r=np.full(2, 500.0))
    sub = nir.NIRGraph(nodes={"in": nir.Input(np.array([2])), "li": li, "out": nir.Output(np.array([2]))},
                       edges=[("in", "li"), ("li", "out")], type_check=False)
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "block": sub, "i": integ,
                            "output": nir.Output(np.array([2]))},
                     edges=[("input", "block"), ("block", "i"), ("i", "output")], type_check=False)
    imp = from_nir(g, dt=dt, dtype=torch.float64)
    assert set(imp.layers) == {"block.li", "i"}
    x = torch.zeros(8, 1, 2, dtype=torch.float64)
    x[0] = 1.0
    y = imp.model(x)[0][:, 0, 0].numpy()
    beta, c = 1 - dt / 4e-3, dt * 3.0 / 4e-3
    li_trace = c * beta ** np.arange(8)
    np.testing.assert_allclose(y, np.cumsum(li_trace) * dt * 500.0, rtol=1e-12)
    w = np.random.default_rng(0).normal(size=(3, 2, 3))
    conv = nir.Conv1d(input_shape=10, weight=w, stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(3))
    imp = from_nir(_graph(nir.Input(np.array([2, 10])), conv), dt=dt, dtype=torch.float64)
    xs = torch.from_numpy(np.random.default_rng(1).normal(size=(4, 3, 2, 10)))
    ref = torch.nn.functional.conv1d(xs.flatten(0, 1), torch.from_numpy(w), padding=1).unflatten(0, (4, 3))
    torch.testing.assert_close(imp.model(xs)[0], ref)
    assert imp.output_shape == (3, 10)


def test_branching_graph():
    """Two edges into one node are summed (NIR's semantics): Input -> A -> LIF and Input -> B -> LIF
    equals one Linear with A + B; a skip from the first LIF to the readout adds its spikes."""
    from spiking.nir.importer import GraphModel

    rng = np.random.default_rng(3)
    A, B, C = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 5))
    lif = dict(tau=np.full(5, 2e-3), r=np.full(5, 2.0), v_leak=np.zeros(5), v_threshold=np.full(5, 0.5),
               v_reset=np.zeros(5))
    nodes = {"input": nir.Input(np.array([4])), "a": nir.Linear(A), "b": nir.Linear(B), "lif1": nir.LIF(**lif),
             "c": nir.Linear(C), "lif2": nir.LIF(**lif), "output": nir.Output(np.array([5]))}
    edges = [("input", "a"), ("input", "b"), ("a", "lif1"), ("b", "lif1"), ("lif1", "c"), ("c", "lif2"),
             ("lif1", "lif2"), ("lif2", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRConventionWarning)
        imp = from_nir(g, dt=1e-3, dtype=torch.float64, spike_condition="v >= v_threshold")
    assert isinstance(imp.model, GraphModel)
    x = _inputs((40, 3, 4), seed=11).double()
    y, _ = imp.model(x)
    # the same network by hand: beta = 1 - dt/tau = 0.5, gain dt r / tau = 1
    l1 = snn.LIF(beta=0.5, v_th=0.5).double()
    s1, _ = l1(x @ torch.from_numpy(A + B).T)
    s2, _ = snn.LIF(beta=0.5, v_th=0.5).double()(s1 @ torch.from_numpy(C).T + s1)
    assert s1.sum() > 0 and s2.sum() > 0
    torch.testing.assert_close(y, s2, rtol=0, atol=0)
    with pytest.raises(ValueError, match="the graph branches"):
        imp.to_network()
    # and back: to_nir writes the graph (two edges into lif1, a skip into lif2), from_nir reads it
    back = from_nir(to_nir(imp.model), dtype=torch.float64)
    assert isinstance(back.model, GraphModel)
    torch.testing.assert_close(back.model(x)[0], y, rtol=0, atol=0)


def test_cli_reports_conventions(tmp_path):
    import argparse
    import json

    from spiking.nir import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    path = Path(__file__).parent / "data" / "nir" / "snntorch_rleaky.nir"
    args = parser.parse_args([str(path), "--source", "snntorch", "--json", str(tmp_path / "r.json")])
    assert cli.main(args) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["dt_s"] == 1e-4 and rep["conventions"]["recurrent_delay"]["value"] == "edge leaving the neuron"
    assert any("subtract" in text for text in rep["open_conventions"])


def test_spikingjelly_reads_our_export():
    """SpikingJelly's importer (import_from_nir at dt = 1e-4 s, single-step with explicit state) reads
    our export of a two-layer LIF model made at dt = 0.1 ms: the same spikes."""
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    model = _seeded(snn.Sequential(snn.Linear(12, 10), snn.LIF(beta=0.9, dt=0.1), snn.Linear(10, 6),
                                   snn.LIF(beta=0.85, dt=0.1)), 7, 2.5)
    net = import_from_nir(to_nir(model), dt=1e-4)
    x = _inputs((60, 4, 12), seed=5)
    state, theirs = None, []
    with torch.no_grad():
        for t in range(60):
            y, state = net(x[t], state)
            theirs.append(y)
    ours = _spiking_outputs(model, x)[-1]
    assert ours.sum() > 0
    torch.testing.assert_close(torch.stack(theirs), ours, rtol=0, atol=0)


def test_dt_conflict_and_small_tau(tmp_path):
    to_nir(snn.Sequential(snn.Linear(4, 3), snn.LIF(beta=0.9, dt=1.0)), tmp_path / "m.nir")
    with pytest.raises(ValueError, match=r"dt=0.002 given, but the file says dt=0.001"):
        from_nir(tmp_path / "m.nir", dt=2e-3)
    lif = nir.LIF(tau=np.full(2, 5e-4), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2))
    g = _graph(nir.Input(np.array([2])), lif)
    with pytest.warns(NIRConventionWarning, match=r"time constants below dt"):
        imp = from_nir(g, dt=1e-3, integrator="exact")
    assert imp.model[-1].decay() == pytest.approx(math.exp(-2.0))


def test_cuba_li_and_threshold():
    dt, ts, tm = 1e-3, 4e-3, 10e-3
    node = nir.CubaLI(tau_syn=np.full(1, ts), tau_mem=np.full(1, tm), r=np.full(1, 2.0), v_leak=np.zeros(1),
                      w_in=np.full(1, ts / dt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRConventionWarning)
        imp = from_nir(_graph(nir.Input(np.array([1])), node), dt=dt, dtype=torch.float64)
    x = torch.zeros(6, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    y = imp.model(x)[0][:, 0, 0].numpy()
    a, b, c = 1 - dt / ts, 1 - dt / tm, dt * 2.0 / tm
    expect, v = [], 0.0
    for t in range(6):
        v = b * v + c * a ** t
        expect.append(v)
    np.testing.assert_allclose(y, expect, rtol=1e-12)
    th = nir.Threshold(threshold=np.array([0.5, 1.0]))
    xs = torch.tensor([[[0.5, 1.0]], [[0.6, 0.9]]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRConventionWarning)
        strict = from_nir(_graph(nir.Input(np.array([2])), th), dt=dt).model(xs)[0]
        loose = from_nir(_graph(nir.Input(np.array([2])), th), dt=dt, spike_condition="v >= v_threshold").model(xs)[0]
    assert strict[:, 0].tolist() == [[0.0, 0.0], [1.0, 0.0]]
    assert loose[:, 0].tolist() == [[1.0, 1.0], [1.0, 0.0]]
