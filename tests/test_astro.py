"""Astrocytes, SIC, Tsodyks synapses and TripartiteConnect: closed forms, properties, bad input.

Agreement with NEST itself is in tests/test_astro_nest.py.
"""
import math

import numpy as np
import pytest

import spiking as sp
from spiking.models.astrocytes import Astrocyte

DT = 0.1


def _astro_net(model, spikes=(), weights=None, initial=None):
    """One astrocyte fed by one source unit per (time list, weight)."""
    net = sp.Network(dt=DT)
    net.add_population("a", 1, model, initial=initial)
    for k, times in enumerate(spikes):
        net.add_source(f"s{k}", 1, sp.SpikeSourceArray(np.asarray(times, float), np.zeros(len(times), int)))
        net.connect(f"s{k}", "a", sp.OneToOne(), weight=1.0 if weights is None else weights[k], delay=DT)
    return net


def test_ip3_relaxes_exponentially_between_jumps_and_jumps_by_summed_weight():
    m = Astrocyte(delta_IP3=0.1)
    # two sources spike in the same step (weights 1 and 2: one jump of 3 delta), one later alone
    net = _astro_net(m, spikes=([100.0, 600.0], [100.0]), weights=[1.0, 2.0])
    rec = sp.simulate(net, 1500.0, record={"a": ["IP3"]})
    ip3 = rec.state["a"]["IP3"][:, 0]
    t = (np.arange(ip3.size) + 1) * DT     # row n holds the state at t_{n+1}
    # a spike of step 1000 arrives in step 1001 (delay 1), added after that step's integration
    n1, n2 = 1001, 6001
    assert ip3[n1] - (m.IP3_0 + (ip3[n1 - 1] - m.IP3_0) * math.exp(-DT / m.tau_IP3)) == pytest.approx(0.3, rel=1e-9)
    assert ip3[n2] - (m.IP3_0 + (ip3[n2 - 1] - m.IP3_0) * math.exp(-DT / m.tau_IP3)) == pytest.approx(0.1, rel=1e-9)
    seg = slice(n1, n2)
    expect = m.IP3_0 + (ip3[n1] - m.IP3_0) * np.exp(-(t[seg] - t[n1]) / m.tau_IP3)
    np.testing.assert_allclose(ip3[seg], expect, rtol=1e-11)
    seg = slice(n2, ip3.size)
    expect = m.IP3_0 + (ip3[n2] - m.IP3_0) * np.exp(-(t[seg] - t[n2]) / m.tau_IP3)
    np.testing.assert_allclose(ip3[seg], expect, rtol=1e-11)
    assert np.all(ip3[:n1] == pytest.approx(m.IP3_0))


def test_sic_is_the_formula_of_calcium_and_reaches_the_neuron_after_its_delay():
    net = sp.Network(dt=DT)
    rng = np.random.default_rng(3)
    t = np.sort(rng.choice(np.arange(1, 20000) * DT, 400, replace=False))
    net.add_source("s", 1, sp.SpikeSourceArray(t, np.zeros(t.size, int)))
    net.add_population("a", 1, Astrocyte(delta_IP3=0.3))
    net.add_population("n", 1, sp.AdExAstro())
    net.connect("s", "a", sp.OneToOne(), weight=1.0)
    net.connect("a", "n", sp.OneToOne(), weight=2.5, delay=0.5)   # 5 steps
    rec = sp.simulate(net, 2000.0, record={"a": ["Ca_astro", "SIC"], "n": ["I_SIC"]})
    ca = rec.state["a"]["Ca_astro"][:, 0]
    sic = rec.state["a"]["SIC"][:, 0]
    y = (ca - 0.19669) * 1000.0
    expect = np.where(y > 1.0, np.log(np.maximum(y, 1.0)), 0.0)
    np.testing.assert_allclose(sic, expect, rtol=1e-15, atol=0)   # numba's log vs numpy's: last bit
    assert sic.max() > 3.0 and (sic == 0).any()        # the case crosses the threshold
    i_sic = rec.state["n"]["I_SIC"][:, 0]
    np.testing.assert_allclose(i_sic[5:], 2.5 * sic[:-5], rtol=0, atol=1e-12)
    assert np.all(i_sic[:5] == 0.0)


def test_calcium_is_clamped_to_total_calcium():
    m = Astrocyte()
    net = _astro_net(m, initial={"Ca_astro": 2.4})
    rec = sp.simulate(net, 50.0, record={"a": ["Ca_astro"]})
    ca = rec.state["a"]["Ca_astro"][:, 0]
    assert ca[0] == m.Ca_tot        # integrated down a little from 2.4, then clamped to Ca_tot
    assert ca.max() <= m.Ca_tot and ca.min() >= 0.0


@pytest.mark.parametrize("ip3", [0.1, 3.0])
def test_steady_state_at_clamped_ip3(ip3):
    """At clamped IP3 outside the oscillating band, Ca and h settle where dCa/dt = 0 with
    h = h_inf(IP3, Ca) (found here by bisection on the model's closed-form fluxes)."""
    from scipy.optimize import brentq
    m = Astrocyte(IP3_0=ip3, delta_IP3=0.0)
    net = _astro_net(m, initial={"IP3": ip3})
    rec = sp.simulate(net, 200_000.0, record={"a": ["Ca_astro", "h_IP3R"]}, record_ids={"a": [0]})
    ca_end, h_end = rec.state["a"]["Ca_astro"][-1, 0], rec.state["a"]["h_IP3R"][-1, 0]
    ca_star = brentq(lambda c: m.ca_derivative(ip3, c, m.h_infinity(ip3, c)), 1e-6, 1.5, xtol=1e-14)
    assert ca_end == pytest.approx(ca_star, abs=2e-6)
    assert h_end == pytest.approx(m.h_infinity(ip3, ca_star), abs=2e-6)


def test_calcium_oscillates_only_in_a_middle_band_of_clamped_ip3():
    """Li-Rinzel with NEST's defaults: sustained oscillations for IP3 around 0.4-0.6 uM with a
    period of about 11-13 s, none at low or high IP3 (what NEST's model shows, see
    tests/test_astro_nest.py for the scan against NEST)."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "astro_ref", Path(__file__).resolve().parents[1] / "benchmarks" / "astro_nest_reference.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    periods = {}
    for ip3 in (0.2, 0.4, 0.5, 0.6, 2.0):
        net = _astro_net(Astrocyte(IP3_0=ip3, delta_IP3=0.0), initial={"IP3": ip3})
        ca = sp.simulate(net, 60_000.0, record={"a": ["Ca_astro"]}).state["a"]["Ca_astro"][499::500, 0]
        periods[ip3] = ref.oscillation_period(ca, dt_ms=50.0)
    for ip3 in (0.4, 0.5, 0.6):
        assert 10_000.0 < periods[ip3] < 14_000.0, periods
    assert math.isnan(periods[0.2]) and math.isnan(periods[2.0]), periods


# -- SIC onto CubaLIF -----------------------------------------------------------------------------

def _frozen_astrocyte(ca):
    """An astrocyte whose calcium cannot move (all fluxes off): a constant SIC."""
    return Astrocyte(rate_IP3R=0.0, rate_L=0.0, rate_SERCA=0.0, k_IP3R=0.0, delta_IP3=0.0), {"Ca_astro": ca}


def test_constant_sic_drives_cubalif_as_its_closed_form():
    model, init = _frozen_astrocyte(0.5)
    sic = math.log((0.5 - 0.19669) * 1000.0)
    lif = sp.CubaLIF(tau_m=20.0, c_m=0.5, v_rest=-65.0, v_th=100.0, v_reset=-70.0)
    net = sp.Network(dt=DT)
    net.add_population("a", 1, model, initial=init)
    net.add_population("n", 1, lif)
    w, d = 40.0, 3
    net.connect("a", "n", sp.OneToOne(), weight=w, delay=d * DT)
    v = sp.simulate(net, 100.0, record={"n": ["v"]}).state["n"]["v"][:, 0]
    # SIC of step 0 arrives in step d and drives the membrane from step d + 1 on
    i_na = w * sic * 1e-3
    t = (np.arange(v.size) - d) * DT
    expect = np.where(t > 0, -65.0 + lif.r_m * i_na * (1.0 - np.exp(-t / lif.tau_m)), -65.0)
    np.testing.assert_allclose(v, expect, atol=1e-9)


def test_cubalif_under_the_astro_kernel_matches_the_shared_kernel():
    """A CubaLIF network with a zero-weight SIC projection runs its neurons in the astro kernel;
    the spikes and membrane traces must equal those of the shared kernel without it."""
    def build(with_astro):
        net = sp.Network(dt=DT)
        net.add_source("p", 40, sp.PoissonSource(rate=40.0))
        net.add_population("n", 30, sp.CubaLIF(tau_m=10.0, v_th=-55.0, t_ref=2.0, tau_syn_e=3.0, tau_syn_i=6.0))
        net.connect("p", "n", sp.FixedProbability(0.3), weight=1.2, rng=np.random.default_rng(1))
        net.connect("n", "n", sp.FixedProbability(0.2), weight=0.8, receptor="inhibitory", delay=0.3,
                    rng=np.random.default_rng(2))
        if with_astro:
            net.add_population("a", 2, Astrocyte())
            net.connect("a", "n", sp.AllToAll(), weight=0.0)
        return net
    recs = [sp.simulate(build(a), 500.0, rng=np.random.default_rng(5), record={"n": ["v", "i_e"]})
            for a in (False, True)]
    assert len(recs[0].spikes["n"]) > 50
    np.testing.assert_array_equal(recs[0].spikes["n"].times, recs[1].spikes["n"].times)
    np.testing.assert_array_equal(recs[0].spikes["n"].ids, recs[1].spikes["n"].ids)
    np.testing.assert_allclose(recs[0].state["n"]["v"], recs[1].state["n"]["v"], atol=1e-9)


# -- Tsodyks ------------------------------------------------------------------------------------

def _tsodyks_run(rule, times, w=2.0, tau_syn=2.0):
    net = sp.Network(dt=DT)
    net.add_source("s", 1, sp.SpikeSourceArray(np.asarray(times, float), np.zeros(len(times), int)))
    net.add_population("n", 1, sp.CubaLIF(tau_syn_e=tau_syn, v_th=1e3))
    net.connect("s", "n", sp.OneToOne(), weight=w, plasticity=rule)
    ie = sp.simulate(net, max(times) + 5.0, record={"n": ["i_e"]}).state["n"]["i_e"][:, 0]
    p11 = math.exp(-DT / tau_syn)
    steps = np.rint(np.asarray(times) / DT).astype(int) + 1        # arrival (delay one step)
    jumps = ie[steps] - p11 * ie[steps - 1]
    return jumps / w


def test_tsodyks_one_and_two_spikes_closed_form():
    """Three-state model solved by hand: after a spike x = 1 - U, y = U, z = 0; over an interval D
    y = U e^(-D/tau_psc), z = U tau_rec/(tau_rec - tau_psc) (e^(-D/tau_rec) - e^(-D/tau_psc)),
    x = 1 - y - z; u = U e^(-D/tau_fac) + U (1 - U e^(-D/tau_fac))."""
    U, tp, tr, tf, D = 0.4, 3.0, 300.0, 100.0, 25.0
    rel = _tsodyks_run(sp.TsodyksSynapse(U=U, tau_psc=tp, tau_rec=tr, tau_fac=tf), [10.0, 10.0 + D])
    y = U * math.exp(-D / tp)
    z = U * tr / (tr - tp) * (math.exp(-D / tr) - math.exp(-D / tp))
    x = 1.0 - y - z
    uf = U * math.exp(-D / tf)
    u2 = uf + U * (1.0 - uf)
    assert rel[0] == pytest.approx(U, rel=1e-12)
    assert rel[1] == pytest.approx(u2 * x, rel=1e-10)
    # depression only (tau_fac = 0: u resets to U)
    rel = _tsodyks_run(sp.TsodyksSynapse(U=U, tau_psc=tp, tau_rec=tr), [10.0, 10.0 + D])
    assert rel[1] == pytest.approx(U * x, rel=1e-10)
    # the pure-Python reference in the declaration agrees
    ref, _ = sp.TsodyksSynapse(U=U, tau_psc=tp, tau_rec=tr).release([10.0 + DT, D])
    np.testing.assert_allclose(rel, ref, rtol=1e-10)


def test_tsodyks_steady_state_of_a_regular_train():
    """Depression with tau_psc << interval: the two-state steady state
    x_ss = (1 - e^(-D/tau_rec)) / (1 - (1 - U) e^(-D/tau_rec)), released u x = U x_ss."""
    U, tr, D = 0.5, 800.0, 50.0
    times = 10.0 + D * np.arange(200)
    rel = _tsodyks_run(sp.TsodyksSynapse(U=U, tau_psc=0.5, tau_rec=tr), times)
    e = math.exp(-D / tr)
    x_ss = (1 - e) / (1 - (1 - U) * e)
    assert rel[-1] == pytest.approx(U * x_ss, rel=2e-3)
    assert rel[0] == pytest.approx(U)
    assert np.all(np.diff(rel) <= 1e-12)       # monotone depression toward it


def test_tsodyks_state_is_per_connection():
    """Two sources onto one neuron through one Tsodyks projection: each connection depresses with
    its own spikes only."""
    net = sp.Network(dt=DT)
    net.add_source("s", 2, sp.SpikeSourceArray(np.array([10.0, 20.0, 30.0, 25.0]), np.array([0, 0, 0, 1])))
    net.add_population("n", 1, sp.CubaLIF(tau_syn_e=2.0, v_th=1e3))
    rule = sp.TsodyksSynapse(U=0.5, tau_rec=500.0)
    net.connect("s", "n", sp.AllToAll(), weight=1.0, plasticity=rule)
    ie = sp.simulate(net, 40.0, record={"n": ["i_e"]}).state["n"]["i_e"][:, 0]
    p11 = math.exp(-DT / 2.0)
    jump = lambda t: ie[int(round(t / DT)) + 1] - p11 * ie[int(round(t / DT))]
    assert jump(25.0) == pytest.approx(0.5, rel=1e-12)    # unit 1's first spike: fresh resources
    d, _ = rule.release([10.0 + DT, 10.0, 10.0])
    assert jump(30.0) == pytest.approx(d[2], rel=1e-10)


# -- TripartiteConnect -------------------------------------------------------------------------------

def test_tripartite_block_pools_pair_each_target_with_its_astrocyte():
    rule = sp.TripartiteConnect(sp.FixedProbability(0.2), p=0.5, pool_size=1, pool_type="block")
    (pre, post), (i_pre, i_a), (o_a, o_post) = rule.build_tripartite(100, 100, 20, True, np.random.default_rng(0))
    assert np.array_equal(i_a, o_a)
    np.testing.assert_array_equal(o_a, o_post // 5)          # 5 targets per astrocyte, in order
    primary = set(zip(pre.tolist(), post.tolist()))
    assert set(zip(i_pre.tolist(), o_post.tolist())) <= primary
    # pairing probability p: count within 4 sigma of Binomial(n_primary, 0.5)
    n = pre.size
    assert abs(i_pre.size - 0.5 * n) < 4 * math.sqrt(n * 0.25)
    # block pools of size 2: target j gets astrocytes 2j, 2j + 1
    rule2 = sp.TripartiteConnect(sp.AllToAll(), p=1.0, pool_size=2, pool_type="block")
    _, (_, a2), (_, p2) = rule2.build_tripartite(30, 10, 20, False, np.random.default_rng(1))
    assert np.all((a2 == 2 * p2) | (a2 == 2 * p2 + 1))
    assert set(a2.tolist()) == set(range(20))


def test_tripartite_random_pools_are_fixed_per_target_and_seeded():
    rule = sp.TripartiteConnect(sp.AllToAll(), p=1.0, pool_size=3, pool_type="random")
    out1 = rule.build_tripartite(30, 40, 20, False, np.random.default_rng(4))
    out2 = rule.build_tripartite(30, 40, 20, False, np.random.default_rng(4))
    for a, b in zip(out1, out2):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    _, (_, astro), (_, post) = out1
    per_target = [set(astro[post == j].tolist()) for j in range(40)]
    assert all(len(s) == 3 for s in per_target)   # 30 pairings per target all fall in a pool of 3
    assert len(set(map(frozenset, per_target))) > 10  # pools differ between targets


def test_connect_tripartite_builds_three_projections_and_runs():
    net = sp.Network(dt=DT)
    net.add_source("x", 20, sp.PoissonSource(rate=3000.0))
    net.add_population("E", 20, sp.AdExAstro(tau_syn_ex=2.0))
    net.add_population("A", 4, Astrocyte(delta_IP3=0.5))
    net.connect("x", "E", sp.OneToOne(), weight=2.0)
    prim, tin, tout = net.connect_tripartite(
        "E", "E", "A", sp.TripartiteConnect(sp.FixedProbability(0.3), p=1.0, pool_size=1, pool_type="block"),
        primary={"weight": 1.0}, third_in={"weight": 1.0}, third_out={"weight": 5.0, "delay": 0.2},
        rng=np.random.default_rng(2))
    assert tin.size == tout.size == prim.size
    assert np.all(tout.delay == 2) and tout.pre == "A" and tin.post == "A"
    rec = sp.simulate(net, 300.0, rng=np.random.default_rng(0), record={"A": ["IP3"]})
    assert len(rec.spikes["E"]) > 0 and rec.state["A"]["IP3"][-1].min() > 0.16


# -- persistence -----------------------------------------------------------------------------------

def test_network_with_astrocytes_saves_and_loads(tmp_path):
    net = sp.Network(dt=DT)
    net.add_source("x", 5, sp.SpikeSourceArray(np.arange(1, 200) * 1.0, np.arange(199) % 5))
    net.add_population("E", 5, sp.AdExAstro(I_e=600.0, integrator="rk4", substeps=2))
    net.add_population("A", 2, Astrocyte(delta_IP3=0.4), initial={"Ca_astro": [0.1, 0.2]})
    net.connect("x", "E", sp.OneToOne(), weight=3.0, plasticity=sp.TsodyksSynapse(U=0.3, tau_fac=50.0))
    net.connect("x", "A", sp.AllToAll(), weight=1.0)
    net.connect("A", "E", sp.AllToAll(), weight=10.0, delay=0.5)
    path = tmp_path / "astro.h5"
    net.save(path)
    back = sp.Network.load(path)
    assert back.populations["A"].model == net.populations["A"].model
    assert back.populations["E"].model == net.populations["E"].model
    assert back.projections[0].plasticity == net.projections[0].plasticity
    r1 = sp.simulate(net, 200.0, record={"A": ["Ca_astro"], "E": ["v"]})
    r2 = sp.simulate(back, 200.0, record={"A": ["Ca_astro"], "E": ["v"]})
    np.testing.assert_array_equal(r1.spikes["E"].times, r2.spikes["E"].times)
    np.testing.assert_array_equal(r1.state["E"]["v"], r2.state["E"]["v"])
    assert len(r1.spikes["E"]) > 0


# -- bad input -------------------------------------------------------------------------------------

def test_bad_input_is_refused_with_the_value_named():
    with pytest.raises(ValueError, match="rate_L=-0.1"):
        Astrocyte(rate_L=-0.1)
    with pytest.raises(ValueError, match="tau_IP3=0"):
        Astrocyte(tau_IP3=0.0)
    with pytest.raises(ValueError, match="integrator='euler'"):
        Astrocyte(integrator="euler")
    with pytest.raises(ValueError, match="U=1.5"):
        sp.TsodyksSynapse(U=1.5)
    with pytest.raises(ValueError, match="x \\+ y"):
        sp.TsodyksSynapse(x=0.8, y=0.5)
    with pytest.raises(ValueError, match="V_reset=0.0 >= V_peak=0.0"):
        sp.AdExAstro(V_reset=0.0)
    # negative concentration
    net = _astro_net(Astrocyte(), initial={"IP3": -0.1})
    with pytest.raises(ValueError, match="IP3=-0.1"):
        sp.EventEngine(net)
    # SIC onto a neuron that takes no SIC
    net = sp.Network(dt=DT)
    net.add_population("a", 1, Astrocyte())
    net.add_population("n", 1, sp.CubaLIF(update_order="spinnaker"))
    net.connect("a", "n", sp.OneToOne())
    with pytest.raises(ValueError, match="takes SIC input"):
        sp.EventEngine(net)
    # a "negative weight" onto an astrocyte: weights are magnitudes, so an inhibitory receptor
    net = sp.Network(dt=DT)
    net.add_population("n", 1, sp.AdExAstro())
    net.add_population("a", 1, Astrocyte())
    net.connect("n", "a", sp.OneToOne(), receptor="inhibitory")
    with pytest.raises(ValueError, match="non-negative weights"):
        sp.EventEngine(net)
    with pytest.raises(ValueError, match="weight -1.0 < 0"):
        net.connect("n", "a", sp.OneToOne(), weight=-1.0)
    # pool larger than the astrocyte population; block sizes that do not fit
    rule = sp.TripartiteConnect(sp.AllToAll(), pool_size=30)
    with pytest.raises(ValueError, match="pool_size=30"):
        rule.build_tripartite(10, 10, 20, False, np.random.default_rng(0))
    with pytest.raises(ValueError, match="block pools"):
        sp.TripartiteConnect(sp.AllToAll(), pool_size=1, pool_type="block").build_tripartite(
            10, 7, 2, False, np.random.default_rng(0))
    with pytest.raises(ValueError, match="p=1.5"):
        sp.TripartiteConnect(sp.AllToAll(), p=1.5)
    # exact mode
    with pytest.raises(ValueError, match="clock"):
        sp.EventEngine(_astro_net(Astrocyte()), mode="exact")


def test_connect_tripartite_adds_all_three_projections_or_none():
    net = sp.Network(dt=DT)
    net.add_population("E", 10, sp.AdExAstro())
    net.add_population("A", 2, Astrocyte())
    rule = sp.TripartiteConnect(sp.AllToAll(), p=1.0, pool_size=1, pool_type="block")
    with pytest.raises(ValueError, match="weight -1.0 < 0"):
        net.connect_tripartite("E", "E", "A", rule, third_out={"weight": -1.0}, rng=np.random.default_rng(0))
    assert net.projections == []
