"""Neuron models against closed-form solutions: subthreshold trajectories, PSPs, firing periods,
resets and refractoriness, run through the event engine's clock mode.

Time convention used throughout (see ``Recording.state_times`` and the module docstring of
``spiking.models.neurons``): recorded row ``n`` holds the state *after the update of step n*, i.e.
after ``n + 1`` updates of length ``dt`` from the initial state. The closed forms below are therefore
evaluated at ``t = (n + 1) * dt``. An input spike that "arrives in step a" was emitted by a source at
step ``a - 1`` with a one-step delay.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import spiking as sp
from spiking.models.neurons import exp_current_to_voltage

INF = math.inf


# -- helpers ----------------------------------------------------------------------------------

def run_one(model, duration, dt=0.1, initial=None, inputs=(), variables=("v",), size=1):
    """Simulate ``size`` neurons of ``model``; ``inputs`` is a list of
    (arrival_step, weight, receptor, target) — each is one source spike that arrives at
    ``target`` in step ``arrival_step``. Returns the Recording."""
    net = sp.Network(dt=dt)
    net.add_population("pop", size, model, initial=initial)
    for receptor in ("excitatory", "inhibitory"):
        sel = [x for x in inputs if x[2] == receptor]
        if not sel:
            continue
        steps = np.array([x[0] for x in sel])
        assert np.all(steps >= 1)
        src = sp.SpikeSourceArray((steps - 1) * dt, np.arange(len(sel)))
        name = f"src_{receptor[:3]}"
        net.add_source(name, len(sel), src)
        net.connect(name, "pop", sp.FromList(np.arange(len(sel)), np.array([x[3] for x in sel])),
                    weight=np.array([x[1] for x in sel], dtype=float), delay=dt, receptor=receptor)
    return sp.simulate(net, duration, record={"pop": list(variables)})


def after_updates(rec):
    """Continuous time reached by each recorded row: (n + 1) * dt."""
    return (np.arange(rec.state["pop"]["v"].shape[0]) + 1) * rec.dt


def psp_exp(t, w, c_m, tau_m, tau_s):
    """Analytic voltage response to a current w exp(-t/tau_s) (nA) injected at t = 0
    into a membrane with time constant tau_m and capacitance c_m (nF); mV."""
    t = np.asarray(t, dtype=float)
    if math.isinf(tau_m):
        out = w * tau_s * (1.0 - np.exp(-t / tau_s)) / c_m
    elif tau_m == tau_s:
        out = w * t * np.exp(-t / tau_m) / c_m
    else:
        out = w / c_m * tau_m * tau_s / (tau_m - tau_s) * (np.exp(-t / tau_m) - np.exp(-t / tau_s))
    return np.where(t > 0, out, 0.0)


# -- 1. subthreshold trajectories under constant current ----------------------------------------

LIF_CASES = [
    # (model factory, v0)
    ("LIF", lambda **kw: sp.LIF(**kw)),
    ("CubaLIF-nest", lambda **kw: sp.CubaLIF(update_order="nest", **kw)),
    ("CubaLIF-spinnaker", lambda **kw: sp.CubaLIF(update_order="spinnaker", **kw)),
]


@pytest.mark.parametrize("label,make", LIF_CASES, ids=[c[0] for c in LIF_CASES])
@pytest.mark.parametrize("v0", [-65.0, -60.0, -56.0])
def test_subthreshold_trajectory_matches_closed_form(label, make, v0):
    tau_m, c_m, i_off, v_rest = 20.0, 0.5, 0.2, -65.0   # R = 40 MOhm, R I = 8 mV
    model = make(tau_m=tau_m, c_m=c_m, v_rest=v_rest, v_reset=-70.0, v_th=-50.0, t_ref=0.0, i_offset=i_off)
    rec = run_one(model, 150.0, initial={"v": v0})
    v = rec.state["pop"]["v"][:, 0]
    t = after_updates(rec)
    v_inf = v_rest + (tau_m / c_m) * i_off
    expected = v_inf + (v0 - v_inf) * np.exp(-t / tau_m)   # = v_rest + RI(1-e^-t/tau) + (v0-v_rest)e^-t/tau
    assert v.shape == (1500,)
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-9)
    assert np.all(v < -50.0) and len(rec.spikes["pop"]) == 0


@pytest.mark.parametrize("make", [lambda **kw: sp.IF(**kw),
                                  lambda **kw: sp.CubaLIF(tau_m=INF, update_order="nest", t_ref=0.0, **kw)],
                         ids=["IF", "CubaLIF-nest-tau_inf"])
@pytest.mark.parametrize("i_off", [0.05, -0.03])
def test_non_leaky_neuron_ramps_linearly(make, i_off):
    c_m, v0 = 2.0, 0.5
    model = make(v_rest=0.0, v_reset=-100.0, v_th=100.0, c_m=c_m, i_offset=i_off)
    rec = run_one(model, 80.0, initial={"v": v0})
    v = rec.state["pop"]["v"][:, 0]
    np.testing.assert_allclose(v, v0 + i_off * after_updates(rec) / c_m, rtol=0, atol=1e-9)


@pytest.mark.parametrize("tau_m,tau_s", [(20.0, 5.0), (10.0, 10.0), (5.0, 8.0), (INF, 5.0)])
def test_cuba_nest_decay_of_initial_current_is_exact(tau_m, tau_s):
    """Exact integration (Rotter & Diesmann): an initial current i_e(0) = I0 with no input gives
    v - v_rest = PSP(t) and i_e = I0 exp(-t/tau_s) exactly at every grid point."""
    c_m, i0 = 1.5, 2.0
    model = sp.CubaLIF(tau_m=tau_m, c_m=c_m, tau_syn_e=tau_s, v_rest=0.0, v_reset=-1.0, v_th=1000.0,
                       t_ref=0.0, update_order="nest")
    rec = run_one(model, 60.0, initial={"i_e": i0}, variables=("v", "i_e"))
    t = after_updates(rec)
    np.testing.assert_allclose(rec.state["pop"]["i_e"][:, 0], i0 * np.exp(-t / tau_s), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rec.state["pop"]["v"][:, 0], psp_exp(t, i0, c_m, tau_m, tau_s), rtol=0, atol=1e-9)


@pytest.mark.parametrize("tau_m,tau_s", [(20.0, 5.0), (10.0, 10.0), (INF, 3.0)])
@pytest.mark.parametrize("receptor", ["excitatory", "inhibitory"])
def test_cuba_nest_single_spike_psp_is_exact(tau_m, tau_s, receptor):
    """NEST iaf_psc_exp: a spike of weight w arriving in step a sets the current to w in step a
    (v unchanged in step a) and moves v from step a + 1 on along the analytic double exponential."""
    dt, c_m, w, a = 0.1, 2.0, 1.5, 40
    kw = {"tau_syn_e": tau_s} if receptor == "excitatory" else {"tau_syn_i": tau_s}
    model = sp.CubaLIF(tau_m=tau_m, c_m=c_m, v_rest=-70.0, v_reset=-200.0, v_th=0.0, t_ref=0.0,
                       update_order="nest", **kw)
    rec = run_one(model, 100.0, dt=dt, inputs=[(a, w, receptor, 0)], variables=("v", "i_e", "i_i"))
    v = rec.state["pop"]["v"][:, 0]
    cur = rec.state["pop"]["i_e" if receptor == "excitatory" else "i_i"][:, 0]
    n = np.arange(v.size)
    sign = 1.0 if receptor == "excitatory" else -1.0
    expected = -70.0 + sign * psp_exp((n - a) * dt, w, c_m, tau_m, tau_s)
    assert np.all(v[: a + 1] == -70.0)
    assert cur[a - 1] == 0.0 and cur[a] == pytest.approx(w, rel=1e-12)
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-10)
    assert abs(v - (-70.0)).max() > 0.1  # the PSP is there


def test_cuba_spinnaker_single_spike_psp_close_to_analytic():
    """sPyNNaker order: input arriving in step a moves v in step a; the scaled, step-held current
    reproduces the exact PSP to second order in dt. At dt = 1 ms, tau_s = 5 ms the input scaling
    (tau_s/dt)(1 - exp(-dt/tau_s)) = 0.906 matters: without it the error would be ~10 %."""
    dt, c_m, w, a, tau_m, tau_s = 1.0, 2.0, 1.5, 10, 20.0, 5.0
    model = sp.CubaLIF(tau_m=tau_m, c_m=c_m, tau_syn_e=tau_s, v_rest=0.0, v_reset=-1.0, v_th=100.0,
                       t_ref=0.0, update_order="spinnaker")
    rec = run_one(model, 150.0, dt=dt, inputs=[(a, w, "excitatory", 0)], variables=("v", "i_e"))
    v = rec.state["pop"]["v"][:, 0]
    n = np.arange(v.size)
    assert np.all(v[:a] == 0.0) and v[a] > 0.0
    expected = psp_exp((n - a + 1) * dt, w, c_m, tau_m, tau_s)
    assert np.abs(v - expected).max() < 2e-3 * expected.max()
    # the current: w * scale joins in step a, then decays by exp(-dt/tau_s) per step
    scale = tau_s / dt * (1 - math.exp(-dt / tau_s))
    i_e = rec.state["pop"]["i_e"][:, 0]
    k = n[a:] - a + 1
    np.testing.assert_allclose(i_e[a:], w * scale * np.exp(-k * dt / tau_s), rtol=1e-12)


@pytest.mark.parametrize("dt,tau_m,tau_s,c_m", [(0.1, 20.0, 5.0, 1.0), (1.0, 10.0, 10.0, 2.0),
                                                (0.5, 10.0, 10.0 * (1 + 1e-11), 1.0), (0.25, INF, 2.0, 0.5),
                                                (0.1, 3.0, 30.0, 1.0)])
def test_current_to_voltage_propagator_against_quadrature(dt, tau_m, tau_s, c_m):
    """P21 = (1/c_m) int_0^dt exp(-(dt-s)/tau_m) exp(-s/tau_s) ds, by composite Simpson's rule."""
    s = np.linspace(0.0, dt, 2001)
    decay_m = np.ones_like(s) if math.isinf(tau_m) else np.exp(-(dt - s) / tau_m)
    f = decay_m * np.exp(-s / tau_s)
    h = s[1] - s[0]
    simpson = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    assert exp_current_to_voltage(dt, tau_m, tau_s, c_m) == pytest.approx(simpson / c_m, rel=1e-10)


# -- when an input can make the neuron fire -------------------------------------------------------

@pytest.mark.parametrize("model,lag", [
    (sp.LIF(v_rest=0.0, v_reset=0.0, v_th=1.0), 0),
    (sp.CubaLIF(v_rest=0.0, v_reset=0.0, v_th=1.0, update_order="spinnaker", t_ref=0.0), 0),
    (sp.CubaLIF(v_rest=0.0, v_reset=0.0, v_th=1.0, update_order="nest", t_ref=0.0), 1),
], ids=["LIF", "CubaLIF-spinnaker", "CubaLIF-nest"])
def test_strong_input_fires_in_the_documented_step(model, lag):
    a = 25
    rec = run_one(model, 10.0, inputs=[(a, 500.0, "excitatory", 0)])
    steps = np.rint(rec.spikes["pop"].times / rec.dt).astype(int)
    assert steps[0] == a + lag


# -- 2. firing period under constant suprathreshold current ---------------------------------------

@pytest.mark.parametrize("i_off,t_ref", [(1.0, 2.0), (0.87, 0.0), (2.3, 5.0), (0.81, 1.3)])
def test_lif_period_matches_formula_hard_reset(i_off, t_ref):
    dt, tau_m, c_m = 0.1, 20.0, 1.0
    v_rest, v_reset, v_th = -65.0, -70.0, -50.0
    model = sp.LIF(tau_m=tau_m, c_m=c_m, v_rest=v_rest, v_reset=v_reset, v_th=v_th, t_ref=t_ref, i_offset=i_off)
    v_inf = v_rest + tau_m / c_m * i_off
    assert v_inf > v_th
    t_star = tau_m * math.log((v_inf - v_reset) / (v_inf - v_th))   # continuous time from reset to threshold
    x = t_star / dt
    assert abs(x - round(x)) > 1e-6, "test parameters too close to a grid point"
    ref_steps = round(t_ref / dt)
    period_discrete = (ref_steps + math.ceil(x)) * dt   # grid-constrained: first step that reaches threshold
    rec = sp.simulate(_single(model, dt, {"v": v_reset}), 1000.0)
    times = rec.spikes["pop"].times
    assert times.size >= 10
    isi = np.diff(times)
    np.testing.assert_allclose(isi, period_discrete, atol=1e-9)
    assert t_ref + t_star <= isi.mean() < t_ref + t_star + dt
    # the firing rate (Hz) from the spike count over the run agrees with 1000 / period
    count = rec.spikes["pop"].counts()[0]
    span = times[-1] - times[0]
    assert count - 1 == round(span / period_discrete)
    assert 1000.0 / (t_ref + t_star + dt) < 1000.0 / isi.mean() <= 1000.0 / (t_ref + t_star)


def _single(model, dt, initial=None):
    net = sp.Network(dt=dt)
    net.add_population("pop", 1, model, initial=initial)
    return net


def test_if_soft_reset_conserves_charge():
    """Non-leaky IF with soft reset: v = v0 + n*delta - k*(v_th - v_reset) after n updates and k
    spikes; the k-th spike happens in the first update that brings n*delta to k*theta."""
    dt, c_m, i_off = 0.1, 1.0, 0.3141592653589793
    theta = 1.0
    delta = i_off * dt / c_m
    model = sp.IF(v_rest=0.0, v_reset=0.0, v_th=theta, i_offset=i_off, c_m=c_m, reset="soft")
    n_steps = 3000
    rec = sp.simulate(_single(model, dt), n_steps * dt, record={"pop": ["v"]})
    steps = np.rint(rec.spikes["pop"].times / dt).astype(int)
    k = np.arange(1, int(n_steps * delta / theta) + 1)
    x = k * theta / delta
    assert np.all(np.abs(x - np.round(x)) > 1e-6)
    np.testing.assert_array_equal(steps, np.ceil(x).astype(int) - 1)
    v = rec.state["pop"]["v"][:, 0]
    n_updates = np.arange(1, n_steps + 1)
    k_so_far = np.cumsum(np.bincount(steps, minlength=n_steps))
    np.testing.assert_allclose(v, n_updates * delta - k_so_far * theta, atol=1e-9)


def test_lif_soft_reset_subtracts_threshold_gap():
    """Soft reset keeps the overshoot: right after each spike v = v_pre - (v_th - v_reset), where
    v_pre is the one-step closed-form update of the previous row; and the soft-reset neuron fires
    at least as often as the hard-reset one."""
    dt, tau_m, i_off = 0.1, 20.0, 1.3
    kw = dict(tau_m=tau_m, c_m=1.0, v_rest=-65.0, v_reset=-60.0, v_th=-50.0, t_ref=0.0, i_offset=i_off)
    rec_soft = sp.simulate(_single(sp.LIF(reset="soft", **kw), dt), 500.0, record={"pop": ["v"]})
    rec_hard = sp.simulate(_single(sp.LIF(reset="hard", **kw), dt), 500.0)
    v = rec_soft.state["pop"]["v"][:, 0]
    v_inf = -65.0 + tau_m * i_off
    p22 = math.exp(-dt / tau_m)
    one_step = v_inf + (v[:-1] - v_inf) * p22           # closed-form step from each row to the next
    spiked = np.zeros(v.size, bool)
    spiked[np.rint(rec_soft.spikes["pop"].times / dt).astype(int)] = True
    assert spiked.sum() > 20
    nxt = spiked[1:]
    np.testing.assert_allclose(v[1:][nxt], one_step[nxt] - 10.0, atol=1e-9)
    np.testing.assert_allclose(v[1:][~nxt], one_step[~nxt], atol=1e-9)
    assert np.all(one_step[nxt] >= -50.0) and np.all(one_step[~nxt] < -50.0)
    assert np.all(v[spiked] > -60.0 - 1e-12)  # overshoot kept: above v_reset
    assert len(rec_soft.spikes["pop"]) >= len(rec_hard.spikes["pop"])


# -- 3. refractoriness ---------------------------------------------------------------------------

@pytest.mark.parametrize("t_ref", [0.5, 1.04, 1.06, 2.0])
def test_refractory_holds_v_and_discards_input(t_ref):
    """Delta LIF: round(t_ref/dt) steps after the spike step v stays at v_reset and input is
    discarded; input in the next step counts again."""
    dt, tau_m, v_reset = 0.1, 10.0, -2.0
    R = round(t_ref / dt)
    a = 20
    model = sp.LIF(tau_m=tau_m, v_rest=0.0, v_reset=v_reset, v_th=1.0, t_ref=t_ref)
    inputs = [(a, 5.0, "excitatory", n) for n in range(3)]          # all three fire in step a
    inputs += [(a + k, 0.5, "excitatory", 0) for k in range(1, R + 6)]  # neuron 0: weak input every step
    inputs += [(a + R, 5.0, "excitatory", 1)]                          # neuron 1: kick in the last refractory step
    inputs += [(a + R + 1, 5.0, "excitatory", 2)]                      # neuron 2: kick right after it
    if abs(R * dt - t_ref) > 1e-9:  # off the grid: rounded, with a warning naming both values
        with pytest.warns(UserWarning, match=rf"t_ref={t_ref} ms is not a multiple of dt=0.1 ms.*{R} steps"):
            rec = run_one(model, 10.0, dt=dt, inputs=inputs, size=3)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rec = run_one(model, 10.0, dt=dt, inputs=inputs, size=3)
    v = rec.state["pop"]["v"]
    sp_steps = np.rint(rec.spikes["pop"].times / dt).astype(int)
    ids = rec.spikes["pop"].ids
    assert sp_steps[ids == 0].tolist() == [a]
    assert sp_steps[ids == 1].tolist() == [a]
    assert sp_steps[ids == 2].tolist() == [a, a + R + 1]
    np.testing.assert_array_equal(v[a:a + R + 1, 0], v_reset)  # spike step and R refractory steps
    p22 = math.exp(-dt / tau_m)
    assert v[a + R + 1, 0] == pytest.approx(v_reset * p22 + 0.5, abs=1e-12)
    assert v[a + R + 2, 0] == pytest.approx((v_reset * p22 + 0.5) * p22 + 0.5, abs=1e-12)


def test_constant_current_never_fires_within_t_ref():
    dt, t_ref = 0.1, 3.0
    model = sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=t_ref, i_offset=50.0)  # fires asap
    rec = sp.simulate(_single(model, dt), 200.0, record={"pop": ["v"]})
    isi = np.diff(rec.spikes["pop"].times)
    assert isi.min() > t_ref
    # with a huge drive the neuron fires in the first step after refractoriness
    np.testing.assert_allclose(isi, t_ref + dt, atol=1e-9)


def test_cuba_refractory_holds_v_while_current_evolves():
    """CubaLIF (NEST order): v is held at v_reset during t_ref, but the synaptic current keeps
    decaying and taking input (NEST iaf_psc_exp)."""
    dt, tau_s, t_ref, a = 0.1, 5.0, 2.0, 10
    R = round(t_ref / dt)
    model = sp.CubaLIF(tau_m=10.0, c_m=1.0, v_rest=0.0, v_reset=-1.0, v_th=1.0, t_ref=t_ref,
                       tau_syn_e=tau_s, update_order="nest")
    w1, w2, b = 200.0, 3.0, a + 8   # w1 fires the neuron in step a + 1; w2 arrives while refractory
    rec = run_one(model, 8.0, dt=dt, inputs=[(a, w1, "excitatory", 0), (b, w2, "excitatory", 0)],
                  variables=("v", "i_e"))
    v, i_e = rec.state["pop"]["v"][:, 0], rec.state["pop"]["i_e"][:, 0]
    steps = np.rint(rec.spikes["pop"].times / dt).astype(int)
    assert steps[0] == a + 1
    s0 = steps[0]
    np.testing.assert_array_equal(v[s0:s0 + R + 1], -1.0)
    n = np.arange(v.size)
    expected_i = np.where(n >= a, w1 * np.exp(-(n - a) * dt / tau_s), 0) + \
        np.where(n >= b, w2 * np.exp(-(n - b) * dt / tau_s), 0)
    np.testing.assert_allclose(i_e, expected_i, rtol=1e-12, atol=1e-12)
    # the current is still strong: the neuron integrates and fires again right after t_ref
    assert steps[1] == s0 + R + 1


# -- 7 (models). invalid parameters name themselves -------------------------------------------------

BAD_PARAMS = [
    (sp.LIF, {"tau_m": -5.0}, "tau_m"),
    (sp.LIF, {"tau_m": 0.0}, "tau_m"),
    (sp.LIF, {"tau_m": float("nan")}, "tau_m"),
    (sp.LIF, {"tau_m": -INF}, "tau_m"),
    (sp.LIF, {"v_th": float("nan")}, "v_th"),
    (sp.LIF, {"v_rest": INF}, "v_rest"),
    (sp.LIF, {"v_reset": -50.0, "v_th": -50.0}, "v_reset"),
    (sp.LIF, {"v_reset": -40.0}, "v_reset"),
    (sp.LIF, {"reset": "sof"}, "reset"),
    (sp.LIF, {"t_ref": -0.1}, "t_ref"),
    (sp.LIF, {"t_ref": INF}, "t_ref"),
    (sp.LIF, {"c_m": 0.0}, "c_m"),
    (sp.LIF, {"i_offset": float("nan")}, "i_offset"),
    (sp.LIF, {"tau_m": "20"}, "tau_m"),
    (sp.CubaLIF, {"tau_m": 0.0}, "tau_m"),
    (sp.CubaLIF, {"tau_m": float("nan")}, "tau_m"),
    (sp.CubaLIF, {"v_th": float("nan")}, "v_th"),
    (sp.CubaLIF, {"v_reset": -49.0}, "v_reset"),
    (sp.CubaLIF, {"reset": "HARD"}, "reset"),
    (sp.CubaLIF, {"update_order": "brian"}, "update_order"),
    (sp.CubaLIF, {"t_ref": -1.0}, "t_ref"),
    (sp.CubaLIF, {"tau_syn_e": 0.0}, "tau_syn_e"),
    (sp.CubaLIF, {"tau_syn_i": -2.0}, "tau_syn_i"),
    (sp.CubaLIF, {"c_m": -1.0}, "c_m"),
]


@pytest.mark.parametrize("cls,kw,name", BAD_PARAMS,
                         ids=[f"{c.__name__}-{'-'.join(k)}-{i}" for i, (c, k, _) in enumerate(BAD_PARAMS)])
def test_invalid_model_parameter_is_named(cls, kw, name):
    with pytest.raises((ValueError, TypeError), match=name):
        cls(**kw)


def test_if_helper_validates_like_lif():
    with pytest.raises(ValueError, match="v_reset"):
        sp.IF(v_reset=1.0, v_th=1.0)
    assert math.isinf(sp.IF().tau_m)


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan")])
def test_propagators_reject_bad_dt(dt):
    with pytest.raises(ValueError, match="dt"):
        sp.LIF().propagators(dt)
    with pytest.raises(ValueError, match="dt"):
        sp.CubaLIF().propagators(dt)


def test_spinnaker_order_needs_finite_tau_m():
    net = sp.Network(dt=0.1)
    with pytest.raises(ValueError, match="tau_m"):
        net.add_population("pop", 1, sp.CubaLIF(tau_m=INF, update_order="spinnaker"))
        sp.simulate(net, 1.0)
