"""Plastic networks on several threads (issue 16: "1 and 2 threads give identical spikes on a
recurrent network with delays and plasticity"): ``EventEngine(net, threads=N)`` runs the threaded
plastic kernel (``plastic.plastic_clock_run_par``), and its spikes (times, ids and order), recorded
state, final weights, weight records and ledger are bit for bit those of the single-threaded
``plastic_clock_run``, the oracle (itself checked against a plain-Python STDP reference in
test_stdp_pair.py), for 1, 2 and 3 threads.

The network: excitatory (delta LIF) and inhibitory (NEST-order exponential) populations plus a
sPyNNaker-order one, recurrently connected with delays of 1 to 5 steps; spike-source input with
repeated (unit, step) spikes; three pair-STDP projections (online all-to-all traces with dendritic
delay, online nearest-pair, deferred with clipping at the end), two of them from the same
presynaptic population (two segments per unit); unsorted targets and repeated pairs, so that the
per-segment sort by target is exercised. Thread counts above the machine's cores still split the
work into that many ranges, so 3 checks the partition on a 2-core machine.
"""
from __future__ import annotations

import numpy as np
import pytest

import spiking as sp
from spiking.engines import _progress, plastic
from spiking.plasticity import PairSTDP

THREADS = [2, 3]
DURATION = 250.0
RECORD = {"exc": ["v"], "inh": ["v", "i_e", "i_i"], "spn": ["v", "i_i"]}
RECORD_IDS = {"exc": [0, 3, 400, 899], "inh": [0, 111, 199], "spn": [0, 63, 127]}


def _recurrent_plastic_net(seed=4):
    rng = np.random.default_rng(seed)
    dt = 0.1
    n_in, n_e, n_i, n_s = 80, 900, 200, 128
    net = sp.Network(dt=dt)
    t_in = np.round(rng.random(1200) * DURATION, 1)
    i_in = rng.integers(0, n_in, 1200)
    dup = rng.integers(0, 1200, 60)            # the same unit twice in one step
    net.add_source("in", n_in, sp.SpikeSourceArray(np.concatenate([t_in, t_in[dup]]),
                                                   np.concatenate([i_in, i_in[dup]])))
    net.add_source("noise", 100, sp.PoissonSource(rate=30.0))
    net.add_population("exc", n_e, sp.LIF(tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_th=-50.0, t_ref=1.0),
                       initial={"v": rng.uniform(-65.0, -51.0, n_e)})
    net.add_population("inh", n_i, sp.CubaLIF(tau_m=10.0, t_ref=0.5, tau_syn_e=2.0, tau_syn_i=5.0,
                                              update_order="nest"),
                       initial={"v": rng.uniform(-65.0, -52.0, n_i)})
    net.add_population("spn", n_s, sp.CubaLIF(tau_m=15.0, t_ref=0.3, update_order="spinnaker"))

    def pairs(n_pre, n_post, k):
        pre = rng.integers(0, n_pre, k)
        post = rng.integers(0, n_post, k)       # unsorted targets
        d = rng.integers(0, k, k // 20)         # repeated (pre, post) pairs
        return np.concatenate([pre, pre[d]]), np.concatenate([post, post[d]])

    def delays(k):
        return rng.integers(1, 6, k) * dt       # 1..5 steps

    online = PairSTDP(tau_plus=12.0, tau_minus=15.0, a_plus=0.03, a_minus=0.033, w_min=0.0, w_max=1.2)
    nearest = PairSTDP(tau_plus=8.0, tau_minus=10.0, a_plus=0.02, a_minus=0.025, w_min=0.05, w_max=1.5,
                       traces="nearest", backprop_delay=False, zero_lag_depression=True)
    deferred = PairSTDP(tau_plus=10.0, tau_minus=10.0, a_plus=0.05, a_minus=0.05, w_min=0.0, w_max=4.0,
                        update="deferred", clip="end")
    pre, post = pairs(n_in, n_e, 12 * n_e)
    net.connect("in", "exc", sp.FromList(pre, post), weight=rng.uniform(0.5, 3.0, pre.size), delay=delays(pre.size),
                plasticity=deferred, name="in-exc")
    pre, post = pairs(100, n_e + 0, 5 * n_e)
    net.connect("noise", "exc", sp.FromList(pre, post), weight=2.0, delay=delays(pre.size), name="noise-exc")
    pre, post = pairs(n_e, n_e, 15 * n_e)
    net.connect("exc", "exc", sp.FromList(pre, post), weight=rng.uniform(0.05, 0.5, pre.size),
                delay=delays(pre.size), plasticity=online, name="exc-exc")
    pre, post = pairs(n_e, n_s, 10 * n_s)
    net.connect("exc", "spn", sp.FromList(pre, post), weight=rng.uniform(0.3, 1.0, pre.size),
                delay=delays(pre.size), plasticity=nearest, name="exc-spn")
    pre, post = pairs(n_e, n_i, 20 * n_i)
    net.connect("exc", "inh", sp.FromList(pre, post), weight=0.6, delay=delays(pre.size), name="exc-inh")
    pre, post = pairs(n_i, n_e, 4 * n_e)
    net.connect("inh", "exc", sp.FromList(pre, post), weight=rng.uniform(1.0, 3.0, pre.size),
                delay=delays(pre.size), receptor="inhibitory", name="inh-exc")
    pre, post = pairs(n_i, n_s, 10 * n_s)
    net.connect("inh", "spn", sp.FromList(pre, post), weight=0.1, delay=delays(pre.size),
                receptor="inhibitory", name="inh-spn")
    return net


def _run(net, threads, seed=21, **kw):
    eng = sp.EventEngine(net, threads=threads)
    return eng, eng.run(DURATION, rng=np.random.default_rng(seed), record=RECORD, record_ids=RECORD_IDS, **kw)


def _assert_identical(a, b):
    for name in a.spikes:
        np.testing.assert_array_equal(a.spikes[name].times, b.spikes[name].times, err_msg=name)
        np.testing.assert_array_equal(a.spikes[name].ids, b.spikes[name].ids, err_msg=name)    # order too
    for name, d in a.state.items():
        for var, x in d.items():
            assert np.array_equal(x, b.state[name][var]), f"{name}.{var} differs"
    assert a.final_weights.keys() == b.final_weights.keys()
    for name, w in a.final_weights.items():
        assert np.array_equal(w, b.final_weights[name]), f"final weights of {name} differ"
    assert a.ledger.to_dict() == b.ledger.to_dict()


@pytest.fixture(scope="module")
def reference():
    net = _recurrent_plastic_net()
    _, rec = _run(net, 1)
    return net, rec


def test_reference_is_active_and_plastic(reference):
    """The oracle: the one-thread kernel, with every population firing and every rule moving
    weights (so that identity below compares real work)."""
    net, ref = reference
    assert ref.timing["threads"] == 1
    counts = {k: len(s) for k, s in ref.spikes.items()}
    assert counts["exc"] > 3000 and counts["inh"] > 500 and counts["spn"] > 300, counts
    for proj in net.projections:
        if proj.plasticity is not None:
            moved = np.mean(ref.final_weights[proj.name] != proj.weight)
            assert moved > 0.3, (proj.name, moved)


@pytest.mark.parametrize("threads", THREADS)
def test_threads_give_identical_spikes_state_and_weights(reference, threads):
    net, ref = reference
    eng, rec = _run(net, threads)
    assert rec.timing["threads"] == threads
    _assert_identical(ref, rec)
    plan = eng._plastic_synapses._thread_plans[threads]
    assert plan.threads == threads
    # every range holds neurons that spiked: the per-range spike lists are really joined
    b = plan.bounds
    ids = np.concatenate([rec.spikes[p].ids + eng.offset[p] for p in ("exc", "inh", "spn")])
    assert all(np.any((ids >= b[t]) & (ids < b[t + 1])) for t in range(threads)), b
    # targets were unsorted within segments, so the plan reorders the plastic synapses
    assert not np.array_equal(plan.perm, np.arange(plan.perm.size))


def test_threaded_run_goes_through_the_parallel_kernel(reference, monkeypatch):
    """With threads > 1 the one-thread kernel is never called (replaced here by one that fails),
    and the parallel one is, with as many ranges as threads; with threads=1 it is the other way."""
    net, ref = reference
    calls = []
    par = plastic.plastic_clock_run_par

    def spy(*args):
        calls.append(args[12].size - 1)      # bounds: ranges + 1
        return par(*args)

    def refuse(*args):
        raise AssertionError("the one-thread plastic kernel ran")

    monkeypatch.setattr(plastic, "plastic_clock_run_par", spy)
    monkeypatch.setattr(plastic, "plastic_clock_run", refuse)
    _, rec = _run(net, 2)
    assert calls and set(calls) == {2}
    _assert_identical(ref, rec)
    with pytest.raises(AssertionError, match="one-thread plastic kernel ran"):
        _run(net, 1)


def test_other_seed_other_spikes(reference):
    """The comparison can fail: another Poisson seed gives other spikes and weights."""
    net, ref = reference
    _, other = _run(net, 2, seed=22)
    assert not np.array_equal(other.spikes["exc"].ids, ref.spikes["exc"].ids)
    assert not np.array_equal(other.final_weights["exc-exc"], ref.final_weights["exc-exc"])


def test_chunked_calls_log_growth_and_weight_records(reference, monkeypatch):
    """Many kernel calls (small chunks, as with a progress bar), the event log grown on the way
    (the kernel returns early and is called again), and the weight records: the same bit for bit,
    for 1 and 2 threads."""
    net, ref = reference
    monkeypatch.setattr(_progress, "CHUNK_WORK", 37 * 1408)    # 37 steps per call
    recs = {}
    for threads in (1, 2):
        eng = sp.EventEngine(net, threads=threads)
        recs[threads] = plastic.run_clock_plastic(eng, DURATION, np.random.default_rng(21), RECORD, RECORD_IDS,
                                                  progress=True, record_weights_every=10.0)
    n_slots = 2 * 900 + 128                    # post slots: (plastic projection, post neuron)
    n_events = 2 * len(ref.spikes["exc"]) + len(ref.spikes["spn"])
    assert n_events > 2 * max(1 << 12, 4 * n_slots), n_events   # the log (run_clock_plastic) grows twice
    for threads in (1, 2):
        _assert_identical(ref, recs[threads])
    a, b = recs[1], recs[2]
    np.testing.assert_array_equal(a.weight_times, b.weight_times)
    for name in a.weights:
        assert a.weights[name].shape == (25, ref.final_weights[name].size)
        assert np.array_equal(a.weights[name], b.weights[name]), name
        assert np.array_equal(a.weights[name][-1], ref.final_weights[name])


VARIANTS = [
    dict(),
    dict(traces="nearest"),
    dict(zero_lag_depression=True, backprop_delay=False),
    dict(update="deferred"),
    dict(update="deferred", traces="nearest", zero_lag_depression=True),
    dict(update="deferred", clip="end", backprop_delay=False),
    dict(update="deferred", post_history=4),
]


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_every_rule_variant_is_thread_independent(options):
    """Each convention switch of PairSTDP on the recurrent projection (the two others unchanged):
    2 threads give the one-thread result bit for bit."""
    net = _recurrent_plastic_net(seed=5)
    proj = next(p for p in net.projections if p.name == "exc-exc")
    proj.plasticity = PairSTDP(tau_plus=12.0, tau_minus=15.0, a_plus=0.03, a_minus=0.033, w_min=0.0, w_max=1.2,
                               **options)
    _, ref = _run(net, 1, seed=3)
    assert np.mean(ref.final_weights["exc-exc"] != proj.weight) > 0.3
    _, rec = _run(net, 2, seed=3)
    _assert_identical(ref, rec)


def test_more_threads_than_ranges_of_neurons():
    """A network smaller than one range alignment (64 units): with 3 threads two ranges are empty;
    the result is still the one-thread result."""
    rng = np.random.default_rng(8)
    net = sp.Network(dt=0.5)
    net.add_source("pre", 12, sp.SpikeSourceArray(np.round(rng.random(120) * 100.0 / 0.5) * 0.5,
                                                  rng.integers(0, 12, 120)))
    net.add_source("drive", 6, sp.SpikeSourceArray(np.round(rng.random(60) * 100.0 / 0.5) * 0.5,
                                                    rng.integers(0, 6, 60)))
    net.add_population("post", 6, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=1.0))
    net.connect("drive", "post", sp.OneToOne(), weight=1.5, delay=0.5)
    rule = PairSTDP(tau_plus=8.0, tau_minus=12.0, a_plus=0.15, a_minus=0.18, w_min=0.1, w_max=1.0)
    net.connect("pre", "post", sp.AllToAll(), weight=rng.uniform(0.1, 1.0, 72),
                delay=rng.choice([0.5, 1.0, 1.5], 72), plasticity=rule, name="plastic")
    net.connect("post", "post", sp.AllToAll(allow_self=False), weight=0.2, delay=1.0, plasticity=rule, name="rec")
    runs = {t: sp.EventEngine(net, threads=t).run(100.0, record={"post": ["v"]}) for t in (1, 3)}
    assert len(runs[1].spikes["post"]) > 10
    assert runs[3].timing["threads"] == 3
    _assert_identical(runs[1], runs[3])
