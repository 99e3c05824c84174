"""Exact mode in continuous time against NEST 3.10's precise-spiking ``iaf_psc_delta_ps``.

The network, NEST's setup and the reasons for NEST's resolution are in
``benchmarks/exact_nest_ps_reference.py``; ``--write`` there stores NEST's spikes in
``tests/data/exact_ps/network.npz``, which the first tests compare against without NEST. The live
tests rerun NEST (``pytest.importorskip("nest")``).
"""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

import spiking as sp

ROOT = Path(__file__).resolve().parents[1]


def _reference_module():
    spec = importlib.util.spec_from_file_location("exact_nest_ps_reference",
                                                  ROOT / "benchmarks" / "exact_nest_ps_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


R = _reference_module()


def _network(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # off-grid t_ref: the clock-mode rounding warning
        return R.build_network(**kw)


@pytest.fixture(scope="module")
def stored():
    d = np.load(ROOT / "tests" / "data" / "exact_ps" / "network.npz")
    assert int(d["seed"]) == R.SEED and float(d["duration"]) == R.DURATION
    return {name: (d[f"{name}_times"], d[f"{name}_ids"]) for name in R.POPS}


@pytest.fixture(scope="module")
def ours_open():
    net = _network()
    return net, R.run_ours(net, "open")


def _assert_same_spikes(ours, ref):
    for name, result in R.compare(ours, ref).items():
        assert result["spikes"] > 100, f"{name}: too few spikes for a meaningful test"
        assert result["counts_equal"], f"{name}: spike counts per neuron differ from NEST: {result}"
        assert result["max_dt_ms"] <= 1e-9, f"{name}: spike times differ from NEST by {result['max_dt_ms']} ms"


def test_network_has_off_grid_refractory_periods_and_inputs():
    net = _network()
    t_ref = {name: net.populations[name].model.t_ref for name in R.POPS}
    off = [name for name, t in t_ref.items() if abs(round(t / net.dt) * net.dt - t) > 1e-9]
    assert sorted(off) == ["inh", "slow"] and "exc" not in off
    src = net.populations["src"].model.times
    assert np.mean(np.abs(src / net.dt - np.round(src / net.dt)) > 1e-6) > 0.9   # sources off the grid


def test_exact_mode_matches_stored_nest_ps_spikes(stored, ours_open):
    """Identical spike counts per neuron and spike times within 1e-9 ms of iaf_psc_delta_ps."""
    _assert_same_spikes(ours_open[1], stored)


def test_refractory_end_coincidences_occur_and_the_convention_matters(stored, ours_open):
    """The network has inputs at exactly t_spike + t_ref; discarding them (the default, clock
    mode's convention) loses agreement with NEST, so the stored-data test above checks it."""
    net, ours = ours_open
    assert R.boundary_arrivals(net, stored) > 0
    closed = R.compare(R.run_ours(net, "closed"), stored)
    assert not all(r["counts_equal"] for r in closed.values())


def test_whole_step_refractory_period_does_not_reproduce_nest(stored):
    """t_ref rounded to whole steps of dt (exact mode's former behaviour) gives other spikes:
    the continuous t_ref is what makes the match."""
    rounded = R.compare(R.run_ours(_network(t_ref=R.ROUNDED_T_REF), "open"), stored)
    assert not rounded["inh"]["counts_equal"] or not rounded["slow"]["counts_equal"]


def test_refractory_period_in_continuous_time_single_neuron():
    """Analytic: a kick fires at t0; t_ref = 0.37 ms (dt = 0.1). A second kick at t0 + 0.365 is
    discarded, one at t0 + 0.375 fires (whole steps would give 0.4 ms and discard it); one exactly
    at t0 + t_ref is discarded by default and fires with exact_refractory_end="open"."""
    dt, t_ref, t0 = 0.1, 0.37, 2.0371
    seconds = [t0 + 0.365, t0 + 0.375, t0 + t_ref]
    n = len(seconds)
    times = np.array([t0 - dt] * n + [t - dt for t in seconds])
    net = sp.Network(dt=dt)
    net.add_source("src", 2 * n, sp.SpikeSourceArray(times, np.arange(2 * n)))
    net.add_population("lif", n, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=t_ref))
    net.connect("src", "lif", sp.FromList(np.arange(2 * n), np.tile(np.arange(n), 2)), weight=5.0, delay=dt)
    with pytest.warns(UserWarning, match="in clock mode .* exact mode keeps it in continuous time"):
        engine = sp.EventEngine(net, mode="exact")
    assert engine.run(5.0).spikes["lif"].counts().tolist() == [1, 2, 1]
    with pytest.warns(UserWarning):
        engine = sp.EventEngine(net, mode="exact", exact_refractory_end="open")
    tr = engine.run(5.0).spikes["lif"]
    assert tr.counts().tolist() == [1, 2, 2]
    np.testing.assert_allclose(tr.times[tr.ids == 2], [t0, t0 + t_ref], atol=1e-12)
    with pytest.raises(ValueError, match="exact_refractory_end='half'"):
        sp.EventEngine(net, mode="exact", exact_refractory_end="half")


def test_microsecond_inputs_keep_their_times():
    """IF/LIF input at arbitrary microsecond times: every output spike of a one-kick-fires neuron
    is its input time plus the delay, to the 1e-9 ms quantum (no dt grid)."""
    rng = np.random.default_rng(7)
    dt, n = 0.1, 30
    t = np.sort(np.round(rng.uniform(0.0, 50.0, n) * 1000.0) / 1000.0)
    net = sp.Network(dt=dt)
    net.add_source("src", n, sp.SpikeSourceArray(t, np.arange(n)))
    net.add_population("if", n, sp.IF(v_th=1.0, t_ref=0.0))
    net.connect("src", "if", sp.OneToOne(), weight=1.5, delay=3 * dt)
    tr = sp.simulate(net, 60.0, mode="exact").spikes["if"]
    np.testing.assert_array_equal(np.sort(tr.ids), np.arange(n))
    np.testing.assert_allclose(tr.times[np.argsort(tr.ids)], t + 3 * dt, atol=1e-9)


def test_exact_mode_matches_live_nest_ps(stored, ours_open):
    """Live NEST: its spikes are the stored ones, and ours match them."""
    pytest.importorskip("nest")
    net, ours = ours_open
    live = R.run_nest(net)
    for name in R.POPS:
        np.testing.assert_array_equal(live[name][1], stored[name][1])
        np.testing.assert_allclose(live[name][0], stored[name][0], atol=1e-12, rtol=0)
    _assert_same_spikes(ours, live)


def test_nest_rounds_off_grid_t_ref_up_to_its_resolution():
    """Why NEST runs at resolution 0.001 ms: at 0.1 ms, iaf_psc_delta_ps treats t_ref = 0.25 as
    0.3 ms (a kick at t0 + 0.27 is discarded), which exact mode, in continuous time, does not."""
    nest = pytest.importorskip("nest")
    t0, t_ref = 5.0371, 0.25
    out = {}
    for res in (0.1, 0.001):
        nest.ResetKernel()
        nest.SetKernelStatus({"resolution": res})
        nrn = nest.Create("iaf_psc_delta_ps", params={"E_L": 0.0, "V_m": 0.0, "V_reset": 0.0, "V_th": 1.0,
                                                       "t_ref": t_ref, "tau_m": 10.0})
        rec = nest.Create("spike_recorder")
        nest.Connect(nrn, rec)
        for t in (t0, t0 + 0.27):
            g = nest.Create("spike_generator", params={"precise_times": True, "spike_times": [t]})
            nest.Connect(g, nrn, syn_spec={"weight": 5.0, "delay": 1.0})
        nest.Simulate(10.0)
        out[res] = len(rec.get("events")["times"])
    assert out == {0.1: 1, 0.001: 2}
    net = sp.Network(dt=0.1)
    net.add_source("src", 2, sp.SpikeSourceArray([t0, t0 + 0.27], [0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net.add_population("lif", 1, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=t_ref))
        net.connect("src", "lif", sp.AllToAll(), weight=5.0, delay=1.0)
        assert len(sp.simulate(net, 10.0, mode="exact").spikes["lif"]) == 2
