"""Pair STDP in the event engine (spiking.plasticity, spiking.engines.plastic).

The engine's weights are checked against a plain-Python reference that follows the rule's
definition (traces as explicit sums over spikes, events in time order), driven by the spikes the
engine recorded. Every convention switch is exercised.
"""
import math

import numpy as np
import pytest

from spiking import LIF, AllToAll, EventEngine, FromList, Network, OneToOne, SpikeSourceArray
from spiking.engines.plastic import run_clock_plastic
from spiking.network_io import load_network
from spiking.plasticity import PairSTDP


# -- reference ---------------------------------------------------------------------------------

def reference_weight(w0, pre, post, d, rule: PairSTDP, n_steps, dt):
    """Final weight of one synapse (delay d steps) given its pre and post spike steps."""
    D = d if rule.backprop_delay else 0
    tp, tm = rule.tau_plus / dt, rule.tau_minus / dt          # in steps
    pre = sorted(pre)
    post = sorted(post)
    nearest = rule.traces == "nearest"

    def x_at(t):        # presynaptic trace at time t from pre spikes strictly before t
        s = [p for p in pre if p < t]
        if not s:
            return 0.0
        if nearest:
            return math.exp(-(t - s[-1]) / tp)
        return sum(math.exp(-(t - p) / tp) for p in s)

    def y_at(t, visible):  # postsynaptic trace at pre time t, from the given post spikes
        ok = [q for q in visible if (q + D <= t if rule.zero_lag_depression else q + D < t)]
        if not ok:
            return 0.0
        if nearest:
            return math.exp(-(t - ok[-1] - D) / tm)
        return sum(math.exp(-(t - q - D) / tm) for q in ok)

    def clip(w):
        return min(max(w, rule.w_min), rule.w_max)

    w = w0
    if rule.update == "online":
        # events in time order; at equal times potentiation (post reaching the synapse) first
        events = [(q + D, 0, q) for q in post if q + D < n_steps] + [(p, 1, p) for p in pre]
        for t, kind, _ in sorted(events):
            if kind == 0:
                w = clip(w + rule.a_plus * x_at(t))
            else:
                w = clip(w - rule.a_minus * y_at(t, post))
        return w
    assert not rule.post_history, "the reference keeps the whole history"
    last = None
    for p in pre:
        window = [q for q in post if last is not None and last - D < q <= p - D]
        pots = [rule.a_plus * x_at(q + D) for q in window]
        dep = rule.a_minus * y_at(p, post)
        if rule.clip == "end":
            w = clip(w + sum(pots) - dep)
        else:
            for dw in pots:
                w = clip(w + dw)
            w = clip(w - dep)
        last = p
    return w


def _network(rule, seed=3, n_pre=12, n_post=6, dt=0.5, duration=150.0, delays=(0.5, 1.0, 1.5), w0=None):
    """Random pre spikes -> LIF posts (driven to fire by their own sources) through a plastic
    all-to-all projection with random per-synapse delays."""
    rng = np.random.default_rng(seed)
    net = Network(dt=dt)
    n_spk = 90
    t_pre = np.round(rng.random(n_spk) * duration / dt) * dt
    i_pre = rng.integers(0, n_pre, n_spk)
    net.add_source("pre", n_pre, SpikeSourceArray(t_pre, i_pre))
    t_drv = np.round(rng.random(60) * duration / dt) * dt
    i_drv = rng.integers(0, n_post, 60)
    net.add_source("drive", n_post, SpikeSourceArray(t_drv, i_drv))
    net.add_population("post", n_post, LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=1.0))
    net.connect("drive", "post", OneToOne(), weight=1.5, delay=dt)
    pre_idx = np.repeat(np.arange(n_pre), n_post)
    post_idx = np.tile(np.arange(n_post), n_pre)
    d = rng.choice(np.asarray(delays), size=pre_idx.size)
    w = rng.uniform(rule.w_min, rule.w_max, pre_idx.size) if w0 is None else w0
    net.connect("pre", "post", FromList(pre_idx, post_idx), weight=w, delay=d, plasticity=rule, name="plastic")
    return net, duration


def _check_against_reference(rule, **kw):
    net, duration = _network(rule, **kw)
    rec = EventEngine(net).run(duration)
    dt = net.dt
    proj = net.projections[-1]
    pre_steps = np.rint(rec.spikes["pre"].times / dt).astype(int)
    post_steps = np.rint(rec.spikes["post"].times / dt).astype(int)
    pre_ids, post_ids = rec.spikes["pre"].ids, rec.spikes["post"].ids
    assert len(rec.spikes["post"]) > 20, "the test needs postsynaptic activity"
    n_steps = int(round(duration / dt))
    got = rec.final_weights["plastic"]
    for k in range(proj.size):
        i, j, d = proj.pre_idx[k], proj.post_idx[k], int(proj.delay[k])
        want = reference_weight(proj.weight[k], pre_steps[pre_ids == i].tolist(),
                                post_steps[post_ids == j].tolist(), d, rule, n_steps, dt)
        assert got[k] == pytest.approx(want, abs=1e-9), (k, i, j, d)
    return rec


BASE = dict(tau_plus=8.0, tau_minus=12.0, a_plus=0.15, a_minus=0.18, w_min=0.1, w_max=1.0)


@pytest.mark.parametrize("options", [
    dict(),
    dict(traces="nearest"),
    dict(zero_lag_depression=True),
    dict(backprop_delay=False),
    dict(update="deferred"),
    dict(update="deferred", traces="nearest", zero_lag_depression=True),
    dict(update="deferred", clip="end"),
    dict(update="deferred", backprop_delay=False, zero_lag_depression=True),
])
def test_weights_match_reference(options):
    _check_against_reference(PairSTDP(**BASE, **options))


def test_large_amplitudes_hit_both_bounds():
    rule = PairSTDP(tau_plus=5.0, tau_minus=5.0, a_plus=2.0, a_minus=2.5, w_min=0.0, w_max=1.0)
    rec = _check_against_reference(rule)
    w = rec.final_weights["plastic"]
    assert (w == 0.0).any() and (w == 1.0).any()


def test_post_history_limit_matches_spinnaker_semantics():
    # one presynaptic spike, then 20 postsynaptic spikes, then a second presynaptic spike: with a
    # 16-entry history only the 15 latest postsynaptic spikes potentiate
    net = Network(dt=1.0)
    net.add_source("pre", 1, SpikeSourceArray([5.0, 100.0], [0, 0]))
    post_times = 6.0 + 4.0 * np.arange(20)
    net.add_source("drive", 1, SpikeSourceArray(post_times, np.zeros(20, int)))
    net.add_population("post", 1, LIF(tau_m=5.0, v_rest=0.0, v_reset=0.0, v_th=1.0))
    net.connect("drive", "post", OneToOne(), weight=2.0, delay=1.0)
    weights = {}
    for hist in (0, 16):
        rule = PairSTDP(tau_plus=20.0, tau_minus=20.0, a_plus=0.01, a_minus=0.0, w_min=0.0, w_max=10.0,
                        update="deferred", post_history=hist)
        n2 = Network(dt=1.0)
        for p in net.populations.values():
            n2.add_population(p.name, p.size, p.model)
        n2.connect("drive", "post", OneToOne(), weight=2.0, delay=1.0)
        n2.connect("pre", "post", OneToOne(), weight=0.0, delay=1.0, plasticity=rule, name="plastic")
        rec = EventEngine(n2).run(110.0)
        assert len(rec.spikes["post"]) == 20
        weights[hist] = float(rec.final_weights["plastic"][0])
    post_steps = post_times + 1          # spikes arrive one step after the drive
    lags = post_steps + 1 - 5            # post shifted by the dendritic delay, minus the pre step
    full = 0.01 * np.exp(-lags / 20.0).sum()
    assert weights[0] == pytest.approx(full)
    assert weights[16] == pytest.approx(0.01 * np.exp(-lags[-15:] / 20.0).sum())


def test_online_and_deferred_transmit_the_same_weights():
    # a recurrent excitatory network where the learned weights shape the activity: both update
    # schemes must give the same spikes; their final weights differ only by the potentiation of
    # postsynaptic spikes after each synapse's last presynaptic spike
    rng = np.random.default_rng(7)
    t = np.round(np.sort(rng.random(200) * 300.0))
    i = rng.integers(0, 20, 200)
    spikes = {}
    finals = {}
    for update in ("online", "deferred"):
        net = Network(dt=1.0)
        net.add_source("in", 20, SpikeSourceArray(t, i))
        net.add_population("exc", 30, LIF(tau_m=15.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=2.0))
        conn = np.random.default_rng(1)
        net.connect("in", "exc", AllToAll(), weight=conn.uniform(0, 0.4, 600), delay=1.0)
        rule = PairSTDP(tau_plus=10.0, tau_minus=10.0, a_plus=0.05, a_minus=0.04, w_min=0.0, w_max=0.6,
                        update=update, zero_lag_depression=True)
        net.connect("exc", "exc", AllToAll(allow_self=False), weight=conn.uniform(0, 0.3, 870),
                    delay=conn.choice([1.0, 2.0], 870), plasticity=rule, name="rec")
        rec = EventEngine(net).run(300.0)
        spikes[update] = (rec.spikes["exc"].times.copy(), rec.spikes["exc"].ids.copy())
        finals[update] = rec.final_weights["rec"]
    assert len(spikes["online"][0]) > 100
    np.testing.assert_array_equal(spikes["online"][0], spikes["deferred"][0])
    np.testing.assert_array_equal(spikes["online"][1], spikes["deferred"][1])
    assert np.all(finals["online"] >= finals["deferred"] - 1e-12)
    assert np.any(finals["online"] > finals["deferred"])


def test_ledger_weights_recording_and_no_mutation():
    rule = PairSTDP(**BASE)
    net, duration = _network(rule)
    w_before = net.projections[-1].weight.copy()
    rec = run_clock_plastic(EventEngine(net), duration, record_weights_every=10.0)
    proj = net.projections[-1]
    n_pre_spikes = np.bincount(rec.spikes["pre"].ids, minlength=12)
    assert rec.ledger.synaptic_events["plastic"] == int(n_pre_spikes[proj.pre_idx].sum())
    assert rec.weights["plastic"].shape == (int(duration / 10.0), proj.size)
    np.testing.assert_allclose(rec.weight_times, np.arange(1, 16) * 10.0 - net.dt)
    np.testing.assert_array_equal(rec.weights["plastic"][-1], rec.final_weights["plastic"])
    np.testing.assert_array_equal(net.projections[-1].weight, w_before)   # the description is untouched
    rec2 = EventEngine(net).run(duration)                                  # and a new run starts over
    np.testing.assert_array_equal(rec2.final_weights["plastic"], rec.final_weights["plastic"])


def test_save_load_round_trip(tmp_path):
    rule = PairSTDP.spinnaker(tau_plus=3.0, tau_minus=4.0, A_plus=6.0, A_minus=5.0, w_min=0.0, w_max=6.0)
    net, duration = _network(PairSTDP(**BASE))
    net.projections[-1].plasticity = rule
    net.projections[-1].weight = np.clip(net.projections[-1].weight, 0.0, 6.0)
    path = tmp_path / "net.h5"
    net.save(path)
    with pytest.raises(ValueError, match="PairSTDP"):
        load_network(path)
    back = load_network(path, plasticity_rules={"PairSTDP": PairSTDP})
    assert back.projections[-1].plasticity == rule
    assert PairSTDP(**rule.parameters()) == rule
    a = EventEngine(net).run(duration)
    b = EventEngine(back).run(duration)
    np.testing.assert_array_equal(a.final_weights["plastic"], b.final_weights["plastic"])
    np.testing.assert_array_equal(a.spikes["post"].times, b.spikes["post"].times)


def test_spinnaker_presets():
    r7 = PairSTDP.spinnaker(tau_plus=3, tau_minus=3, A_plus=6, A_minus=6, w_min=0, w_max=6)
    assert (r7.a_plus, r7.update, r7.clip) == (6.0, "deferred", "each")
    assert (r7.zero_lag_depression, r7.post_history) == (True, 16)
    r6 = PairSTDP.spinnaker(tau_plus=3, tau_minus=3, A_plus=6, A_minus=6, w_min=0, w_max=6, version=6)
    assert (r6.a_plus, r6.clip, r6.zero_lag_depression) == (36.0, "end", False)
    assert PairSTDP.from_pynn(A_plus=0.5, w_max=4.0).a_plus == 2.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(tau_plus=-1.0), "tau_plus=-1.0"),
    (dict(a_minus=-0.1), "a_minus=-0.1"),
    (dict(w_min=2.0, w_max=1.0), "w_min=2.0 > w_max=1.0"),
    (dict(traces="triplet"), "traces='triplet'"),
    (dict(update="later"), "update='later'"),
    (dict(clip="end"), "clip='end'"),
    (dict(post_history=1, update="deferred"), "post_history=1"),
    (dict(post_history=16), "post_history"),
    (dict(tau_minus=float("nan")), "tau_minus=nan"),
])
def test_rule_validation_names_the_value(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match.replace("(", r"\(").replace(")", r"\)")):
        PairSTDP(**kwargs)


def test_engine_checks():
    rule = PairSTDP(w_min=0.0, w_max=1.0)
    net = Network(dt=1.0)
    net.add_source("a", 2, SpikeSourceArray([1.0], [0]))
    net.add_population("b", 2, LIF())
    net.connect("a", "b", OneToOne(), weight=[0.5, 2.0], plasticity=rule, name="p")
    with pytest.raises(ValueError, match="initial weight 2.0"):
        EventEngine(net).run(10.0)
    with pytest.raises(ValueError, match="clock mode"):
        EventEngine(net, mode="exact")
