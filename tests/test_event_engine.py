"""The event engine: delays and ring buffers, clock vs exact mode, exact mode against analytic
spike times, seeded Poisson input, run-time validation, and the activity ledger."""
from __future__ import annotations

import math

import numpy as np
import pytest

import spiking as sp


def steps_of(times, dt):
    return np.rint(np.asarray(times) / dt).astype(np.int64)


def spike_keys(trains, dt):
    """(step, id) pairs of a population's spikes in a canonical order."""
    s = steps_of(trains.times, dt)
    order = np.lexsort((trains.ids, s))
    return s[order], trains.ids[order]


def regular_trains(rng, n, n_steps, min_gap, max_gap):
    """Per-neuron spike steps with gaps in [min_gap, max_gap] (at most one spike per step)."""
    out = []
    for _ in range(n):
        k = np.cumsum(rng.integers(min_gap, max_gap + 1, size=n_steps // max(min_gap, 1) + 1))
        out.append(k[k < n_steps])
    return out


# -- 4. delays and ring-buffer wrap-around --------------------------------------------------------

@pytest.mark.parametrize("mode", ["clock", "exact"])
def test_spike_reaches_target_after_exactly_its_delay(mode):
    """Spikes spread over 400 ms (80x the 5 ms = 50-step maximum delay), often closer together
    than the delay, through two projections with different delays: each target fires exactly
    at source time + delay."""
    dt, n_steps = 0.1, 4000
    rng = np.random.default_rng(0)
    d = np.array([1, 2, 7, 23, 49, 50])           # steps; max delay 50
    d2 = np.array([50, 31, 3, 1, 12, 40])         # second projection, same sources
    n = d.size
    trains = regular_trains(rng, n, n_steps - 60, 1, 30)
    src = sp.SpikeSourceArray.from_lists([k * dt for k in trains])
    net = sp.Network(dt=dt)
    net.add_source("src", n, src)
    net.add_population("tgt", 2 * n, sp.LIF(tau_m=5.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=0.0))
    net.connect("src", "tgt", sp.FromList(np.arange(n), np.arange(n)), weight=1.5, delay=d * dt)
    net.connect("src", "tgt", sp.FromList(np.arange(n), np.arange(n, 2 * n)), weight=1.5, delay=d2 * dt)
    rec = sp.simulate(net, n_steps * dt, mode=mode)
    out = rec.spikes["tgt"]
    assert sum(k.size for k in trains) > 500
    for j in range(2 * n):
        i, delay = (j, d[j]) if j < n else (j - n, d2[j - n])
        got = np.sort(out.times[out.ids == j])
        expected = trains[i] * dt + delay * dt
        assert got.size == expected.size, f"target {j}"
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        if mode == "clock":
            np.testing.assert_array_equal(steps_of(got, dt), trains[i] + delay)


def test_delayed_input_moves_v_in_the_arrival_step():
    """Subthreshold view of the same: a non-leaky neuron counts its inputs; after step n its v is
    w times the number of spikes with source step + delay <= n."""
    dt, n_steps, w = 0.1, 3000, 0.01
    rng = np.random.default_rng(1)
    trains = regular_trains(rng, 3, n_steps, 1, 12)
    delays = np.array([50, 17, 1])
    net = sp.Network(dt=dt)
    net.add_source("src", 3, sp.SpikeSourceArray.from_lists([k * dt for k in trains]))
    net.add_population("acc", 3, sp.IF(v_th=1e6, v_reset=0.0))
    net.connect("src", "acc", sp.OneToOne(), weight=w, delay=delays * dt)
    rec = sp.simulate(net, n_steps * dt, record={"acc": ["v"]})
    v = rec.state["acc"]["v"]
    n = np.arange(n_steps)
    for i in range(3):
        arrivals = trains[i] + delays[i]
        expected = w * np.searchsorted(np.sort(arrivals), n, side="right")
        np.testing.assert_allclose(v[:, i], expected, atol=1e-9)


def test_source_times_are_rounded_to_the_grid_in_clock_mode():
    dt = 0.1
    net = sp.Network(dt=dt)
    net.add_source("src", 1, sp.SpikeSourceArray([0.94, 1.06, 2.049], [0, 0, 0]))
    net.add_population("tgt", 1, sp.LIF(v_rest=0.0, v_reset=0.0, v_th=1.0))
    net.connect("src", "tgt", sp.OneToOne(), weight=2.0, delay=0.3)
    rec = sp.simulate(net, 5.0)
    np.testing.assert_array_equal(steps_of(rec.spikes["src"].times, dt), [9, 11, 20])
    np.testing.assert_array_equal(steps_of(rec.spikes["tgt"].times, dt), [12, 14, 23])


# -- 5. clock vs exact ------------------------------------------------------------------------------

def mixed_delta_net(seed, dt):
    """Delta LIF/IF network with grid-aligned source spikes, recurrence, inhibition, refractoriness,
    hard and soft reset (soft-reset units get inputs up to 2.4 x (v_th - v_reset): after a large one
    the soft reset leaves v above threshold and the neuron fires again in the next step)."""
    rng = np.random.default_rng(seed)
    n_steps = int(round(150.0 / dt))
    net = sp.Network(dt=dt)
    k = rng.integers(0, n_steps, size=500)
    net.add_source("src", 20, sp.SpikeSourceArray(k * dt, rng.integers(0, 20, 500)))
    net.add_source("reg", 10, sp.SpikeSourceArray.from_lists([t * dt for t in regular_trains(rng, 10, n_steps, 3, 40)]))
    net.add_population("lif", 50, sp.LIF(tau_m=12.0, v_rest=0.0, v_reset=-0.3, v_th=1.0, t_ref=0.5))
    net.add_population("if", 15, sp.IF(v_th=1.0, v_reset=-0.2, t_ref=1.0))
    net.add_population("soft", 10, sp.LIF(tau_m=8.0, v_rest=0.0, v_reset=0.0, v_th=1.0, reset="soft"))
    p = net.connect("src", "lif", sp.FixedProbability(0.25), weight=0.0, rng=rng, delay=rng.integers(1, 8) * dt)
    p.weight[:] = rng.uniform(0.1, 0.7, p.size)
    net.connect("lif", "lif", sp.FixedProbability(0.08, allow_self=False), weight=0.25, rng=rng, delay=4 * dt)
    net.connect("lif", "lif", sp.FixedProbability(0.08), weight=0.4, rng=rng, delay=11 * dt, receptor="inhibitory")
    # irregular weights: sums of "round" weights can land exactly on the threshold, where the two
    # modes' different summation orders legitimately round differently
    p = net.connect("src", "if", sp.FixedProbability(0.3), weight=0.0, rng=rng, delay=2 * dt)
    p.weight[:] = rng.uniform(0.2, 0.4, p.size)
    net.connect("lif", "if", sp.FixedProbability(0.1), weight=0.2137, rng=rng, delay=dt, receptor="inhibitory")
    net.connect("reg", "soft", sp.OneToOne(), weight=rng.uniform(0.3, 2.4, 10), delay=3 * dt)
    return net


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dt", [0.125, 0.1])
def test_clock_and_exact_modes_agree_on_grid_inputs(seed, dt):
    """Grid-aligned inputs, neurons at rest, no resting drive: the two modes must produce the same
    spikes. dt = 0.125 ms is exact in binary; with dt = 0.1 the sums t + delay differ in the last
    bit unless exact mode's 1e-9 ms time quantum makes grid-coincident arrivals coincide."""
    net = mixed_delta_net(seed, dt)
    clock = sp.simulate(net, 150.0, mode="clock")
    exact = sp.simulate(net, 150.0, mode="exact")
    for name in ("lif", "if", "soft"):
        sc, ic = spike_keys(clock.spikes[name], dt)
        se, ie = spike_keys(exact.spikes[name], dt)
        assert len(sc) > 5, f"{name} silent: test not meaningful"
        np.testing.assert_array_equal(sc, se, err_msg=name)
        np.testing.assert_array_equal(ic, ie, err_msg=name)
        np.testing.assert_allclose(exact.spikes[name].times, np.sort(exact.spikes[name].times))
        assert np.abs(exact.spikes[name].times - steps_of(exact.spikes[name].times, dt) * dt).max() < 1e-9


def test_exact_mode_off_grid_coincidence_window_matches_analytic():
    """Two 0.6 mV inputs Delta apart on a resting LIF (tau 10 ms, threshold 1 mV above rest) make it
    fire iff 0.6 exp(-Delta/tau) + 0.6 >= 1, i.e. Delta <= tau ln 1.5 = 4.0546 ms; the spike time is
    the second arrival. Input times are off the 0.1 ms grid."""
    tau, dt, d_steps = 10.0, 0.1, 3
    deltas = np.array([0.0137, 1.5, 4.0, 4.05, 4.06, 4.5, 9.0])
    t1 = 3.0371 + np.arange(deltas.size) * 0.777
    n = deltas.size
    times = np.concatenate([t1, t1 + deltas])
    ids = np.tile(np.arange(n), 2)
    net = sp.Network(dt=dt)
    net.add_source("src", n, sp.SpikeSourceArray(times, ids))
    net.add_population("lif", n, sp.LIF(tau_m=tau, v_rest=0.0, v_reset=0.0, v_th=1.0))
    net.add_population("if", n, sp.IF(v_th=1.0))   # no leak: always fires on the second input
    net.connect("src", "lif", sp.OneToOne(), weight=0.6, delay=d_steps * dt)
    net.connect("src", "if", sp.OneToOne(), weight=0.6, delay=d_steps * dt)
    rec = sp.simulate(net, 30.0, mode="exact")
    fires = 0.6 * np.exp(-deltas / tau) + 0.6 >= 1.0
    np.testing.assert_array_equal(fires, deltas <= tau * math.log(1.5))
    lif = rec.spikes["lif"]
    np.testing.assert_array_equal(np.sort(lif.ids), np.flatnonzero(fires))
    for i in np.flatnonzero(fires):
        assert lif.times[lif.ids == i][0] == pytest.approx(t1[i] + deltas[i] + d_steps * dt, abs=1e-12)
    ift = rec.spikes["if"]
    np.testing.assert_array_equal(np.sort(ift.ids), np.arange(n))
    np.testing.assert_allclose(ift.times[np.argsort(ift.ids)], t1 + deltas + d_steps * dt, atol=1e-12)


def test_exact_mode_refractoriness_matches_analytic():
    """A kick fires the neuron at t0 (v -> v_reset = -2 mV, t_ref = 1 ms). A 5 mV kick inside
    (t0, t0 + t_ref] is discarded, one after it fires again. A 2.9 mV input at t0 + t_ref + x gives
    v = -2 exp(-x/tau) + 2.9, above threshold (1 mV) iff x >= tau ln(2/1.9) = 0.513 ms: v is held
    during t_ref and decays only afterwards."""
    tau, dt, t_ref, t0 = 10.0, 0.1, 1.0, 2.0371
    second = [(t0 + 0.999, 5.0), (t0 + 1.001, 5.0), (t0 + t_ref + 0.45, 2.9), (t0 + t_ref + 0.58, 2.9)]
    n = len(second)
    times = np.array([t0 - dt] * n + [t - dt for t, _ in second])   # delay: one step
    ids = np.tile(np.arange(n), 2)
    w = np.array([5.0] * n + [x for _, x in second])
    net = sp.Network(dt=dt)
    net.add_source("src", 2 * n, sp.SpikeSourceArray(times, np.arange(2 * n)))
    net.add_population("lif", n, sp.LIF(tau_m=tau, v_rest=0.0, v_reset=-2.0, v_th=1.0, t_ref=t_ref))
    net.connect("src", "lif", sp.FromList(np.arange(2 * n), ids), weight=w, delay=dt)
    rec = sp.simulate(net, 10.0, mode="exact")
    tr = rec.spikes["lif"]
    counts = tr.counts()
    assert counts.tolist() == [1, 2, 1, 2]
    np.testing.assert_allclose(tr.times[tr.ids == 0], [t0], atol=1e-12)
    np.testing.assert_allclose(tr.times[tr.ids == 1], [t0, t0 + 1.001], atol=1e-12)
    np.testing.assert_allclose(tr.times[tr.ids == 3], [t0, t0 + t_ref + 0.58], atol=1e-12)


# -- known disagreements (bugs) --------------------------------------------------------------------

@pytest.mark.xfail(strict=True, reason="clock mode labels the update that advances v from t_n to "
                   "t_{n+1} as t_n: a neuron driven from rest fires dt before its analytic threshold crossing")
def test_first_spike_not_before_analytic_threshold_crossing():
    dt, tau = 0.1, 10.0
    net = sp.Network(dt=dt)
    net.add_population("pop", 1, sp.LIF(tau_m=tau, v_rest=0.0, v_reset=0.0, v_th=1.0, i_offset=0.2))  # v_inf = 2
    rec = sp.simulate(net, 20.0)
    t_cross = tau * math.log(2.0)            # 6.931 ms: v(t) = 2 (1 - exp(-t/tau)) reaches 1
    first = rec.spikes["pop"].times[0]
    assert t_cross <= first < t_cross + dt   # observed: 6.9 ms < 6.931 ms


@pytest.mark.xfail(strict=True, reason="same root cause: in clock mode the initial state is advanced "
                   "one step before the input of step 0 can arrive, so the resting drive is one step ahead "
                   "of exact mode (and of the analytic solution) when inputs arrive")
def test_clock_and_exact_agree_with_subthreshold_resting_drive():
    dt, tau = 0.1, 10.0
    net = sp.Network(dt=dt)
    net.add_source("src", 1, sp.SpikeSourceArray([2.0], [0]))
    net.add_population("pop", 1, sp.LIF(tau_m=tau, v_rest=0.0, v_reset=0.0, v_th=1.0, i_offset=0.099))  # v_inf 0.99
    net.connect("src", "pop", sp.OneToOne(), weight=0.81, delay=dt)
    # analytic: v(2.1 ms) = 0.99 (1 - exp(-0.21)) + 0.81 = 0.9976 < 1: no spike
    assert 0.99 * (1 - math.exp(-2.1 / tau)) + 0.81 < 1.0
    exact = sp.simulate(net, 10.0, mode="exact")
    assert len(exact.spikes["pop"]) == 0
    clock = sp.simulate(net, 10.0, mode="clock")
    assert len(clock.spikes["pop"]) == 0     # observed: a spike at 2.1 ms


def test_exact_mode_sums_grid_coincident_inputs_for_dt_0_1():
    dt = 0.1
    net = sp.Network(dt=dt)
    net.add_source("e", 1, sp.SpikeSourceArray([0.1], [0]))
    net.add_source("i", 1, sp.SpikeSourceArray([0.4], [0]))
    net.add_population("pop", 1, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0))
    net.connect("e", "pop", sp.OneToOne(), weight=1.2, delay=0.5)
    net.connect("i", "pop", sp.OneToOne(), weight=0.5, delay=0.2, receptor="inhibitory")
    # both arrive at 0.6 ms: net +0.7 mV, below threshold
    assert len(sp.simulate(net, 5.0, mode="clock").spikes["pop"]) == 0
    assert len(sp.simulate(net, 5.0, mode="exact").spikes["pop"]) == 0 


def test_exact_mode_integrates_negative_drive_of_if_neuron():
    dt = 0.1
    net = sp.Network(dt=dt)
    net.add_source("src", 1, sp.SpikeSourceArray([1.0, 2.0, 3.0, 4.0], [0] * 4))
    net.add_population("pop", 1, sp.IF(v_rest=0.0, v_reset=0.0, v_th=1.0, i_offset=-0.1))  # -0.1 mV/ms
    net.connect("src", "pop", sp.OneToOne(), weight=0.3, delay=dt)
    # analytic: v(4.1 ms) = 4 * 0.3 - 0.1 * 4.1 = 0.79 < 1: no spike
    assert len(sp.simulate(net, 10.0, mode="clock").spikes["pop"]) == 0
    assert len(sp.simulate(net, 10.0, mode="exact").spikes["pop"]) == 0


def test_exact_mode_soft_reset_overshoot_fires_again():
    dt = 0.1
    net = sp.Network(dt=dt)
    net.add_source("src", 1, sp.SpikeSourceArray([1.0], [0]))
    net.add_population("pop", 1, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, reset="soft"))
    net.connect("src", "pop", sp.OneToOne(), weight=2.5, delay=dt)
    # v jumps to 2.5 at 1.1 ms; soft reset leaves 1.5 >= v_th: the neuron must fire again
    clock = sp.simulate(net, 5.0, mode="clock").spikes["pop"]
    exact = sp.simulate(net, 5.0, mode="exact").spikes["pop"]
    assert len(clock) == 2
    assert len(exact) == len(clock)


# -- 6. seeded Poisson input -------------------------------------------------------------------------

def poisson_net():
    net = sp.Network(dt=0.1)
    net.add_source("poi", 100, sp.PoissonSource(50.0))
    net.add_population("lif", 20, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=1.0))
    net.connect("poi", "lif", sp.FixedProbability(0.3), weight=0.25, rng=np.random.default_rng(0))
    return net


@pytest.mark.parametrize("mode", ["clock", "exact"])
def test_same_seed_same_spikes_different_seed_different(mode):
    engine = sp.EventEngine(poisson_net(), mode=mode)
    a = engine.run(200.0, rng=np.random.default_rng(42))
    b = engine.run(200.0, rng=np.random.default_rng(42))
    c = engine.run(200.0, rng=np.random.default_rng(43))
    for name in ("poi", "lif"):
        np.testing.assert_array_equal(a.spikes[name].times, b.spikes[name].times)
        np.testing.assert_array_equal(a.spikes[name].ids, b.spikes[name].ids)
    assert len(a.spikes["lif"]) > 20
    assert not (len(a.spikes["poi"]) == len(c.spikes["poi"]) and np.array_equal(a.spikes["poi"].times, c.spikes["poi"].times))
    assert not (len(a.spikes["lif"]) == len(c.spikes["lif"]) and np.array_equal(a.spikes["lif"].times, c.spikes["lif"].times))


def test_poisson_rate_statistics():
    n, rate, duration = 500, 40.0, 1000.0
    net = sp.Network(dt=0.1)
    net.add_source("poi", n, sp.PoissonSource(rate))
    rec = sp.simulate(net, duration, rng=np.random.default_rng(7))
    counts = rec.spikes["poi"].counts()
    expected = rate * duration / 1000.0            # 40 spikes per neuron (Hz * s)
    assert abs(counts.sum() - n * expected) < 6 * math.sqrt(n * expected)
    assert 0.75 < counts.var() / counts.mean() < 1.25  # Poisson: Fano factor 1
    assert rec.spikes["poi"].rates(duration).mean() == pytest.approx(rate, rel=0.05)


def test_poisson_window_start_stop():
    n, rate = 400, 100.0
    net = sp.Network(dt=0.1)
    net.add_source("poi", n, sp.PoissonSource(rate, start=50.0, stop=150.0))
    rec = sp.simulate(net, 300.0, mode="exact", rng=np.random.default_rng(3))
    t = rec.spikes["poi"].times
    assert t.min() >= 50.0 and t.max() < 150.0
    expected = n * rate * 0.1                      # 100 ms window
    assert abs(t.size - expected) < 6 * math.sqrt(expected)
    # stop beyond the run: spikes only up to the duration
    net2 = sp.Network(dt=0.1)
    net2.add_source("poi", n, sp.PoissonSource(rate))
    t2 = sp.simulate(net2, 80.0, mode="exact", rng=np.random.default_rng(3)).spikes["poi"].times
    assert t2.max() < 80.0 and abs(t2.size - n * rate * 0.08) < 6 * math.sqrt(n * rate * 0.08)


# -- 7 (engine). run-time validation names the bad value --------------------------------------------

def base_net():
    net = sp.Network(dt=0.1)
    net.add_source("src", 3, sp.SpikeSourceArray([1.0], [0]))
    net.add_population("a", 4, sp.LIF())
    net.add_population("b", 2, sp.CubaLIF())
    net.connect("src", "a", sp.AllToAll())
    return net


@pytest.mark.parametrize("kwargs,match", [
    ({"record": {"a": ["i_e"]}}, "'i_e'"),
    ({"record": {"a": ["u"]}}, "'u'"),
    ({"record": {"nope": ["v"]}}, "'nope'"),
    ({"record": {"src": ["v"]}}, "'src'"),
    ({"record": {"a": ["v"]}, "record_ids": {"a": [0, 4]}}, "record_ids"),
    ({"duration": 0.0}, "duration"),
    ({"duration": -5.0}, "duration"),
    ({"duration": float("nan")}, "duration"),
    ({"duration": float("inf")}, "duration"),
])
def test_bad_run_arguments(kwargs, match):
    kwargs = dict(kwargs)
    duration = kwargs.pop("duration", 5.0)
    with pytest.raises(ValueError, match=match):
        sp.simulate(base_net(), duration, **kwargs)


def test_bad_mode_and_exact_restrictions():
    with pytest.raises(ValueError, match="mode"):
        sp.EventEngine(base_net(), mode="fast")
    with pytest.raises(ValueError, match="'b'.*CubaLIF"):
        sp.EventEngine(base_net(), mode="exact")
    net = sp.Network(dt=0.1)
    net.add_population("driven", 2, sp.LIF(i_offset=1.0))   # v_inf = -45 mV > v_th
    with pytest.raises(ValueError, match="'driven'.*v_th"):
        sp.EventEngine(net, mode="exact")
    net = sp.Network(dt=0.1)
    net.add_population("a", 2, sp.LIF())
    with pytest.raises(ValueError, match="record"):
        sp.simulate(net, 5.0, mode="exact", record={"a": ["v"]})


def test_poisson_without_rng_is_refused():
    with pytest.raises(ValueError, match="PoissonSource.*rng"):
        sp.simulate(poisson_net(), 10.0)


# -- 9. activity ledger -------------------------------------------------------------------------------

def expected_events(net, rec):
    """Synaptic events per projection from the recorded spikes and the connection lists."""
    return {p.name: int(rec.spikes[p.pre].counts()[p.pre_idx].sum()) for p in net.projections}


def test_ledger_clock_mode():
    dt, duration = 0.1, 120.0
    net = mixed_delta_net(4, dt)
    net.add_population("cuba", 12, sp.CubaLIF(v_rest=0.0, v_reset=-1.0, v_th=1.0, t_ref=0.0))
    net.connect("lif", "cuba", sp.FixedProbability(0.3), weight=0.8, rng=np.random.default_rng(9), delay=0.5)
    rec = sp.simulate(net, duration)
    led = rec.ledger
    n_steps = round(duration / dt)
    assert led.mode == "clock" and led.steps == n_steps
    for name, pop in net.populations.items():
        assert led.spikes[name] == len(rec.spikes[name])
        assert led.neuron_updates[name] == (0 if pop.is_source else pop.size * n_steps)
    exp = expected_events(net, rec)
    assert all(v > 0 for v in exp.values())
    assert led.synaptic_events == exp
    assert led.total_synaptic_events == sum(exp.values())
    assert led.total_neuron_updates == net.n_neurons * n_steps


def test_ledger_exact_mode_touches_only_neurons_that_receive_events():
    """Exact mode: a population that receives nothing is never updated; one that receives events is
    updated once per distinct (arrival time, neuron) group (no refractoriness, no spikes here)."""
    dt, duration = 0.1, 100.0
    rng = np.random.default_rng(2)
    times = rng.uniform(0, 90, 300)
    ids = rng.integers(0, 10, 300)
    net = sp.Network(dt=dt)
    net.add_source("src", 10, sp.SpikeSourceArray(times, ids))
    net.add_population("fed", 30, sp.LIF(v_th=1e3))        # never reaches threshold
    net.add_population("idle", 50, sp.LIF())
    net.connect("src", "fed", sp.FixedProbability(0.3), weight=0.5, rng=rng, delay=0.2)
    proj2 = net.connect("src", "fed", sp.FixedProbability(0.2), weight=0.7, rng=rng, delay=0.7, receptor="inhibitory")
    net.connect("fed", "idle", sp.AllToAll(), weight=1.0)   # fed never spikes: idle gets nothing
    rec = sp.simulate(net, duration, mode="exact")
    led = rec.ledger
    assert led.neuron_updates["idle"] == 0
    assert led.neuron_updates["src"] == 0
    groups = set()
    for proj in net.projections[:2]:
        for pre, post, d in zip(proj.pre_idx, proj.post_idx, proj.delay):
            for t in times[ids == pre]:
                if t + d * dt < duration:
                    groups.add((t + d * dt, int(post)))
    assert len(groups) > 100 and proj2.size > 0
    assert led.neuron_updates["fed"] == len(groups)
    assert led.neuron_updates["fed"] < net.populations["fed"].size * round(duration / dt) / 5
    assert led.synaptic_events == expected_events(net, rec)
    assert led.spikes == {"src": 300, "fed": 0, "idle": 0}


def test_ledger_exact_mode_recurrent_events():
    dt = 0.125
    net = mixed_delta_net(5, dt)
    rec = sp.simulate(net, 150.0, mode="exact")
    assert rec.ledger.synaptic_events == expected_events(net, rec)
    assert rec.ledger.spikes == {k: len(v) for k, v in rec.spikes.items()}


def test_exact_mode_refuses_runs_beyond_its_time_resolution():
    net = sp.Network(dt=0.1)
    net.add_source("src", 1, sp.SpikeSourceArray([1.0], [0]))
    net.add_population("pop", 1, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0))
    net.connect("src", "pop", sp.OneToOne(), weight=0.5, delay=0.1)
    with pytest.raises(ValueError, match=r"duration=5000000.0 ms: exact mode resolves time to 1e-09 ms"):
        sp.simulate(net, 5e6, mode="exact")
