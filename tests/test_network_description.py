"""The network description: validation on construction (every bad value is named), connectors,
and the HDF5 save/load round trip."""
from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

import spiking as sp
from spiking.network import Projection


def small_net(dt=0.1):
    net = sp.Network(dt=dt)
    net.add_source("src", 4, sp.SpikeSourceArray.from_lists([[1.0], [2.0], [], [3.0]]))
    net.add_population("a", 5, sp.LIF())
    net.add_population("b", 3, sp.CubaLIF())
    return net


# -- 7. invalid network parameters and connections ----------------------------------------------

@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan"), float("inf")])
def test_network_rejects_bad_dt(dt):
    with pytest.raises(ValueError, match="dt"):
        sp.Network(dt=dt)


def test_duplicate_population_name():
    net = small_net()
    with pytest.raises(ValueError, match="'a'.*already used"):
        net.add_population("a", 2, sp.LIF())


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_bad_population_size(size):
    with pytest.raises(ValueError, match="size"):
        sp.Network().add_population("p", size, sp.LIF())


def test_bad_population_name_and_model():
    net = sp.Network()
    with pytest.raises(ValueError, match="name"):
        net.add_population("", 2, sp.LIF())
    with pytest.raises(TypeError, match="model"):
        net.add_population("p", 2, object())
    with pytest.raises(TypeError, match="source"):
        net.add_source("s", 2, sp.LIF())


def test_bad_initial_state():
    net = sp.Network()
    with pytest.raises(ValueError, match="'w'"):
        net.add_population("p", 3, sp.LIF(), initial={"w": 0.0})
    with pytest.raises(ValueError, match="'i_e'"):
        net.add_population("p", 3, sp.LIF(), initial={"i_e": 0.0})  # LIF has no current
    with pytest.raises(ValueError, match="'v'.*shape"):
        net.add_population("p", 3, sp.LIF(), initial={"v": np.zeros(4)})
    with pytest.raises(ValueError, match="'v'.*nan"):
        net.add_population("p", 3, sp.LIF(), initial={"v": [0.0, np.nan, 0.0]})
    with pytest.raises(ValueError, match="initial"):
        net.add_source("s", 2, sp.PoissonSource(5.0))
        net.populations.pop("s")
        net.add_population("s", 2, sp.PoissonSource(5.0), initial={"v": 0.0})


@pytest.mark.parametrize("pre,post,role", [("nope", "a", "pre"), ("a", "nope", "post")])
def test_unknown_population_in_connect(pre, post, role):
    with pytest.raises(ValueError, match=f"{role} population 'nope'"):
        small_net().connect(pre, post, sp.AllToAll())


def test_connect_to_source_and_bad_receptor():
    net = small_net()
    with pytest.raises(ValueError, match="'src'"):
        net.connect("a", "src", sp.AllToAll())
    with pytest.raises(ValueError, match="receptor"):
        net.connect("src", "a", sp.AllToAll(), receptor="exc")


def test_duplicate_projection_name():
    net = small_net()
    net.connect("src", "a", sp.AllToAll(), name="p")
    with pytest.raises(ValueError, match="'p'.*already used"):
        net.connect("src", "b", sp.AllToAll(), name="p")


@pytest.mark.parametrize("weight,match", [
    (-0.5, "weight"),
    (np.array([1.0, -1.0] * 10), "weight"),
    (np.nan, "weight.*nan"),
    (np.ones(7), r"weight of shape \(7,\)"),
    (np.ones((4, 5)), "weight of shape"),
])
def test_bad_weights(weight, match):
    with pytest.raises(ValueError, match=match):
        small_net().connect("src", "a", sp.AllToAll(), weight=weight)  # 20 connections


@pytest.mark.parametrize("delay,match", [
    (0.15, "delay 0.15"),       # off the 0.1 ms grid
    (0.05, "delay 0.05"),       # off the grid and below one step
    (0.0, "delay 0.0"),         # zero steps
    (-0.2, "delay"),            # negative
    (np.nan, "delay.*nan"),
    (np.full(3, 0.1), r"delay of shape \(3,\)"),
])
def test_bad_delays(delay, match):
    with pytest.raises(ValueError, match=match):
        small_net().connect("src", "a", sp.AllToAll(), delay=delay)


def test_delays_on_grid_become_steps():
    net = small_net(dt=0.1)
    proj = net.connect("src", "a", sp.AllToAll(), delay=np.repeat([0.1, 0.3, 0.7, 5.0], 5))
    assert proj.delay.dtype.kind == "i"
    np.testing.assert_array_equal(proj.delay, np.repeat([1, 3, 7, 50], 5))
    assert net.connect("src", "b", sp.AllToAll()).delay.tolist() == [1] * 12  # default: one step


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_fixed_probability_outside_unit_interval(p):
    with pytest.raises(ValueError, match="p="):
        sp.FixedProbability(p)


def test_fixed_probability_needs_rng():
    with pytest.raises(ValueError, match="rng"):
        small_net().connect("a", "a", sp.FixedProbability(0.5))


@pytest.mark.parametrize("pre,post,match", [
    ([0, 4], [0, 1], "pre index 4"),      # src has 4 units
    ([0, 1], [0, 5], "post index 5"),     # a has 5 units
    ([-1, 1], [0, 1], "pre index -1"),
    ([0, 1, 2], [0, 1], "pre .* and post"),
])
def test_from_list_indices(pre, post, match):
    with pytest.raises(ValueError, match=match):
        small_net().connect("src", "a", sp.FromList(np.array(pre), np.array(post)))


def test_from_list_rejects_float_indices():
    with pytest.raises(TypeError, match="pre"):
        small_net().connect("src", "a", sp.FromList(np.array([0.0, 1.0]), np.array([0, 1])))


def test_one_to_one_size_mismatch():
    with pytest.raises(ValueError, match="OneToOne"):
        small_net().connect("src", "a", sp.OneToOne())


def test_add_projection_is_validated_and_rolled_back():
    net = small_net()
    idx = np.arange(3)
    bad = Projection("bad", "src", "b", idx, np.array([0, 1, 3]), np.ones(3), np.ones(3, np.int32))
    with pytest.raises(ValueError, match="post index"):
        net.add_projection(bad)
    assert net.projections == []
    zero_delay = Projection("z", "src", "b", idx, idx, np.ones(3), np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="delay"):
        net.add_projection(zero_delay)
    assert net.projections == []


def test_spike_source_validation():
    with pytest.raises(ValueError, match="spike time"):
        sp.SpikeSourceArray([-1.0], [0])
    with pytest.raises(ValueError, match="nan"):
        sp.SpikeSourceArray([np.nan], [0])
    with pytest.raises(ValueError, match="lengths"):
        sp.SpikeSourceArray([1.0, 2.0], [0])
    with pytest.raises(ValueError, match="id 3"):
        sp.Network().add_source("s", 3, sp.SpikeSourceArray([1.0], [3]))
    for kw, name in [({"rate": -1.0}, "rate"), ({"rate": np.nan}, "rate"), ({"rate": 5.0, "start": -1.0}, "start"),
                     ({"rate": 5.0, "start": 10.0, "stop": 5.0}, "stop")]:
        with pytest.raises(ValueError, match=name):
            sp.PoissonSource(**kw)


# -- connectors ------------------------------------------------------------------------------------

def test_connectors_produce_the_documented_pairs():
    pre, post = sp.AllToAll().build(3, 4, False)
    assert sorted(zip(pre.tolist(), post.tolist())) == [(i, j) for i in range(3) for j in range(4)]
    pre, post = sp.AllToAll(allow_self=False).build(4, 4, True)
    assert len(pre) == 12 and not np.any(pre == post)
    pre, post = sp.OneToOne().build(5, 5, False)
    assert pre.tolist() == post.tolist() == list(range(5))


def test_fixed_probability_statistics_and_self_exclusion():
    n, p = 400, 0.05
    pre, post = sp.FixedProbability(p, allow_self=False).build(n, n, True, np.random.default_rng(3))
    assert not np.any(pre == post)
    expected, sd = n * (n - 1) * p, math.sqrt(n * (n - 1) * p * (1 - p))
    assert abs(pre.size - expected) < 5 * sd
    # the same seed gives the same connectivity; another seed another
    again = sp.FixedProbability(p, allow_self=False).build(n, n, True, np.random.default_rng(3))
    other = sp.FixedProbability(p, allow_self=False).build(n, n, True, np.random.default_rng(4))
    assert np.array_equal(pre, again[0]) and np.array_equal(post, again[1])
    assert not (pre.size == other[0].size and np.array_equal(post, other[1]))


# -- 8. HDF5 round trip -----------------------------------------------------------------------------

def rich_net(seed=5):
    rng = np.random.default_rng(seed)
    net = sp.Network(dt=0.1)
    net.add_source("poisson", 40, sp.PoissonSource(80.0, start=5.0))
    net.add_source("array", 3, sp.SpikeSourceArray([2.0, 7.5, 7.5, 30.1], [0, 2, 1, 0]))
    net.add_population("lif", 60, sp.LIF(tau_m=15.0, v_rest=-70.0, v_reset=-72.0, v_th=-54.0, t_ref=2.0),
                       initial={"v": rng.uniform(-72, -55, 60)})
    net.add_population("if", 10, sp.IF(v_th=1.0, reset="soft", t_ref=0.3), initial={"v": 0.2})
    net.add_population("cuba", 30, sp.CubaLIF(tau_syn_i=8.0, update_order="spinnaker", i_offset=0.1),
                       initial={"v": rng.uniform(-65, -51, 30), "i_e": 0.5})
    p = net.connect("poisson", "lif", sp.FixedProbability(0.2), weight=0.0, rng=rng, name="drive")
    p.weight[:] = rng.uniform(0.5, 3.0, p.size)
    net.connect("array", "if", sp.AllToAll(), weight=0.6, delay=0.4)
    net.connect("lif", "lif", sp.FixedProbability(0.1, allow_self=False), weight=1.0, rng=rng,
                delay=rng.integers(1, 30, size=1)[0] * 0.1, receptor="inhibitory")
    n = 200
    net.connect("lif", "cuba", sp.FromList(rng.integers(0, 60, n), rng.integers(0, 30, n)),
                weight=rng.uniform(0, 2, n), delay=rng.integers(1, 50, n) * 0.1, name="lif->cuba")
    net.connect("if", "cuba", sp.AllToAll(), weight=0.3, receptor="inhibitory", delay=1.2)
    return net


def assert_same_structure(a, b):
    assert a.dt == b.dt
    assert list(a.populations) == list(b.populations)
    for name, pa in a.populations.items():
        pb = b.populations[name]
        assert pa.size == pb.size and type(pa.model) is type(pb.model)
        assert pa.model.parameters() == pb.model.parameters()
        if isinstance(pa.model, sp.SpikeSourceArray):
            np.testing.assert_array_equal(pa.model.times, pb.model.times)
            np.testing.assert_array_equal(pa.model.ids, pb.model.ids)
        sa, sb = pa.initial_state() if not pa.is_source else {}, pb.initial_state() if not pb.is_source else {}
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])
    assert [p.name for p in a.projections] == [p.name for p in b.projections]
    for x, y in zip(a.projections, b.projections):
        assert (x.pre, x.post, x.receptor) == (y.pre, y.post, y.receptor)
        for attr in ("pre_idx", "post_idx", "weight", "delay"):
            np.testing.assert_array_equal(getattr(x, attr), getattr(y, attr))


def test_save_load_round_trip(tmp_path):
    net = rich_net()
    path = tmp_path / "net.h5"
    net.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["net.h5"]  # atomic write: no temp file left
    back = sp.Network.load(path)
    assert_same_structure(net, back)
    assert math.isinf(back.populations["if"].model.tau_m)
    assert math.isinf(back.populations["poisson"].model.stop)
    r1 = sp.simulate(net, 200.0, rng=np.random.default_rng(11))
    r2 = sp.simulate(back, 200.0, rng=np.random.default_rng(11))
    assert all(len(r1.spikes[name]) > 0 for name in net.populations)  # every population is active
    for name in net.populations:
        np.testing.assert_array_equal(r1.spikes[name].times, r2.spikes[name].times)
        np.testing.assert_array_equal(r1.spikes[name].ids, r2.spikes[name].ids)
    assert r1.ledger.to_dict() == r2.ledger.to_dict()


def test_saved_file_layout(tmp_path):
    net = rich_net()
    net.save(tmp_path / "net.h5")
    with h5py.File(tmp_path / "net.h5", "r") as f:
        assert f.attrs["format"] == "spiking-sim network"
        assert float(f.attrs["dt"]) == 0.1
        assert set(f["populations"]) == set(net.populations)
        assert len(f["projections"]) == len(net.projections)
        g = f["projections"]["000003"]
        assert g.attrs["name"] == "lif->cuba" and g["delay"].shape == (200,)


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file_raises_clear_error(tmp_path, keep):
    path = tmp_path / "net.h5"
    rich_net().save(path)
    data = path.read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ValueError, match="truncated.h5"):
        sp.Network.load(bad)


def test_corrupt_or_foreign_file_raises_clear_error(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file at all" * 50)
    with pytest.raises(ValueError, match="garbage.h5"):
        sp.Network.load(garbage)
    path = tmp_path / "net.h5"
    rich_net().save(path)
    data = bytearray(path.read_bytes())
    data[:8] = b"\0" * 8  # destroy the HDF5 signature
    broken = tmp_path / "broken.h5"
    broken.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="broken.h5"):
        sp.Network.load(broken)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(ValueError, match="format"):
        sp.Network.load(foreign)
    with pytest.raises(FileNotFoundError):
        sp.Network.load(tmp_path / "missing.h5")


def test_incomplete_file_names_the_file_and_what_is_missing(tmp_path):
    path = tmp_path / "net.h5"
    rich_net().save(path)
    with h5py.File(path, "a") as f:
        del f["projections/000000/weight"]
    with pytest.raises(ValueError, match=r"net\.h5: damaged or incomplete network file .*weight"):
        sp.Network.load(path)


def test_save_refuses_invalid_network_and_leaves_no_file(tmp_path):
    net = small_net()
    net.projections.append(Projection("bad", "src", "a", np.array([0]), np.array([9]), np.ones(1), np.ones(1, np.int32)))
    with pytest.raises(ValueError, match="post index"):
        net.save(tmp_path / "bad.h5")
    assert list(tmp_path.iterdir()) == []
