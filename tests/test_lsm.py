"""The liquid state machine core (spiking.models.lsm): event engine against the dense recurrence,
determinism, weights, read noise, the feature cache, the ridge readout, bad input."""
import warnings

import h5py
import numpy as np
import pytest

from spiking.models.lsm import (FeatureCacheWarning, Reservoir, ReservoirParams, RidgeReadout, cached_arrays,
                                dense_spikes, draw_weights, event_runner, event_spikes, features_from_spikes,
                                reservoir_features, select_ridge)


def _counts(rng, t, b, n, lam=0.3):
    return rng.poisson(lam, (t, b, n)).astype(np.float64)


def _reference_recurrence(w_in, w_rec, x, decay, threshold):
    """The paper's equation, written independently of the module:
    u[t] = decay u[t-1] (1 - s[t-1]) + W_in x[t] + W_rec s[t-1]; s[t] = u[t] >= threshold."""
    T, n_units = x.shape[0], w_in.shape[1]
    u = np.zeros(n_units)
    s = np.zeros(n_units)
    out = np.zeros((T, n_units), dtype=np.uint8)
    for t in range(T):
        u = decay * u * (1 - s) + x[t] @ w_in + s @ w_rec
        s = (u >= threshold).astype(float)
        out[t] = s
    return out


@pytest.mark.parametrize("recurrence", ["none", "sparse"])
def test_event_engine_spikes_equal_dense_recurrence(recurrence):
    # inputs with several events per bin, recurrence strong enough to matter, inhibition and excitation
    p = ReservoirParams(n_inputs=40, n_units=60, time_bins=30, threshold=1.0, weight_scale=0.3, p_rec=0.2,
                        spectral_radius=1.5, recurrence=recurrence, dt=2.0)
    res = Reservoir.seeded(p, 3)
    x = _counts(np.random.default_rng(4), p.time_bins, 6, p.n_inputs)
    dense, v_dense = dense_spikes(res, x, return_v=True)
    assert dense.sum() > 200                      # the test means something: many spikes
    net, eng = event_runner(res)
    for b in range(x.shape[1]):
        ev = event_spikes(res, x[:, b], net, eng)
        np.testing.assert_array_equal(ev, dense[:, b])
        # the membrane too: engine state row t + 1 is bin t
        rec = eng.run((p.time_bins + 1) * p.dt, record={"reservoir": ["v"]}, progress=False)
        np.testing.assert_allclose(rec.state["reservoir"]["v"][1:], v_dense[:, b], rtol=0, atol=1e-9)
    # and the paper's equation as written (decay 0.9 vs exp(-dt/tau_m): equal to ~1e-16)
    ref = _reference_recurrence(res.w_in, res.w_rec, x[:, 0], p.decay, p.threshold)
    np.testing.assert_array_equal(ref, dense[:, 0])


def test_network_description_of_authors_settings():
    p = ReservoirParams(n_inputs=578)
    assert (p.n_units, p.decay, p.threshold, p.weight_scale, p.time_bins) == (200, 0.9, 5.0, 0.07, 50)
    res = Reservoir.seeded(p, 0)
    net = res.to_network()
    lif = net.populations["reservoir"].model
    assert lif.propagators(p.dt)["p22"] == pytest.approx(0.9, abs=1e-15)
    assert (lif.v_rest, lif.v_reset, lif.v_th, lif.t_ref) == (0.0, 0.0, 5.0, 0.0)
    # every non-zero weight appears once, with its sign as the receptor
    total = {("input", "excitatory"): 0, ("input", "inhibitory"): 0,
             ("reservoir", "excitatory"): 0, ("reservoir", "inhibitory"): 0}
    w_back = {"input": np.zeros_like(res.w_in), "reservoir": np.zeros_like(res.w_rec)}
    for proj in net.projections:
        sign = 1.0 if proj.receptor == "excitatory" else -1.0
        w_back[proj.pre][proj.pre_idx, proj.post_idx] += sign * proj.weight
        total[(proj.pre, proj.receptor)] += proj.size
        assert np.all(proj.delay == 1)
    np.testing.assert_array_equal(w_back["input"], res.w_in)
    np.testing.assert_array_equal(w_back["reservoir"], res.w_rec)


def test_authors_settings_event_engine_matches_on_realistic_input():
    p = ReservoirParams(n_inputs=578, input_gain=2.0)
    res = Reservoir.seeded(p, 1)
    rng = np.random.default_rng(2)
    x = _counts(rng, p.time_bins, 2, p.n_inputs, lam=98 / 578)   # ~98 events per bin, as N-MNIST
    dense = dense_spikes(res, x)
    assert dense.sum() > 100
    net, eng = event_runner(res)
    for b in range(2):
        np.testing.assert_array_equal(event_spikes(res, x[:, b], net, eng), dense[:, b])


def test_weights_connectivity_and_spectral_radius():
    p = ReservoirParams(n_inputs=50, n_units=200, p_rec=0.1, spectral_radius=0.9)
    w_in, w_rec = draw_weights(p, np.random.default_rng(0))
    assert np.all(np.diag(w_rec) == 0)
    density = np.mean(w_rec != 0) * p.n_units / (p.n_units - 1)
    assert density == pytest.approx(0.1, abs=0.01)
    assert np.max(np.abs(np.linalg.eigvals(w_rec))) == pytest.approx(0.9, rel=1e-9)
    assert np.std(w_in) == pytest.approx(0.07, rel=0.02)
    w_in0, w_rec0 = draw_weights(ReservoirParams(n_inputs=50, recurrence="none"), np.random.default_rng(0))
    assert not np.any(w_rec0)
    np.testing.assert_array_equal(w_in0, w_in)


def test_determinism_same_seed_same_features_other_seed_differs():
    p = ReservoirParams(n_inputs=30, n_units=40, time_bins=20, threshold=1.0, weight_scale=0.3, windows=4)
    x = _counts(np.random.default_rng(0), 20, 8, 30)
    f1 = reservoir_features(Reservoir.seeded(p, 5), x)
    f2 = reservoir_features(Reservoir.seeded(p, 5), x)
    np.testing.assert_array_equal(f1, f2)
    assert Reservoir.seeded(p, 5).identity() == Reservoir.seeded(p, 5).identity()
    assert not np.array_equal(f1, reservoir_features(Reservoir.seeded(p, 6), x))
    assert f1.shape == (8, 4 * 40)
    # with read noise the draw comes from the generator passed in
    pn = ReservoirParams(n_inputs=30, n_units=40, time_bins=20, threshold=1.0, weight_scale=0.3, read_noise=0.2)
    r = Reservoir.seeded(pn, 5)
    a = dense_spikes(r, x, rng=np.random.default_rng(9))
    b = dense_spikes(r, x, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="read_noise"):
        dense_spikes(r, x)


def test_read_noise_has_the_stated_variance():
    # threshold out of reach: after one bin u = x W_in + error, error ~ N(0, (rn * spread)^2 * events)
    p = ReservoirParams(n_inputs=20, n_units=500, time_bins=1, threshold=1e6, weight_scale=0.1, read_noise=0.3,
                        recurrence="none")
    r = Reservoir.seeded(p, 0)
    x = np.zeros((1, 400, 20))
    x[0, :, :5] = 2.0                                        # 10 events per sample
    _, v = dense_spikes(r, x, rng=np.random.default_rng(1), return_v=True)
    err = v[0] - x[0] @ r.w_in
    expected = 0.3 * np.std(r.w_in) * np.sqrt(10.0)
    assert np.std(err) == pytest.approx(expected, rel=0.02)
    assert abs(np.mean(err)) < 0.01 * expected


def test_features_are_windowed_counts():
    s = np.zeros((10, 1, 3), dtype=np.uint8)
    s[0, 0, 0] = s[4, 0, 0] = s[5, 0, 2] = s[9, 0, 1] = 1
    f = features_from_spikes(s, 2)
    np.testing.assert_array_equal(f[0], [2, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(features_from_spikes(s, 1)[0], [2, 1, 1])


def test_bad_input_names_the_value():
    p = ReservoirParams(n_inputs=30, n_units=10, time_bins=5)
    r = Reservoir.seeded(p, 0)
    with pytest.raises(ValueError, match=r"input of shape \(5, 2, 31\).*n_inputs=30"):
        dense_spikes(r, np.zeros((5, 2, 31)))
    with pytest.raises(ValueError, match="time_bins=5"):
        dense_spikes(r, np.zeros((6, 2, 30)))
    with pytest.raises(ValueError, match=">= 0"):
        dense_spikes(r, -np.ones((5, 2, 30)))
    with pytest.raises(ValueError, match=r"w_in of shape \(29, 10\)"):
        Reservoir(p, np.zeros((29, 10)), np.zeros((10, 10)))
    with pytest.raises(ValueError, match="whole numbers"):
        r.to_network(np.full((5, 30), 0.5))
    with pytest.raises(ValueError, match="decay=1.0"):
        ReservoirParams(n_inputs=3, decay=1.0)
    with pytest.raises(ValueError, match="recurrence='dense'"):
        ReservoirParams(n_inputs=3, recurrence="dense")
    with pytest.raises(ValueError, match="windows=60"):
        ReservoirParams(n_inputs=3, windows=60)


def test_feature_cache_reuses_and_rebuilds_on_other_parameters(tmp_path):
    path = tmp_path / "features.h5"
    calls = []

    def compute(v):
        def f():
            calls.append(v)
            return {"train": np.full((3, 2), v)}
        return f

    ident = {"params": {"decay": 0.9, "threshold": 5.0}, "data": "a"}
    a = cached_arrays(path, ident, compute(1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = cached_arrays(path, ident, compute(2.0))     # same identity: read, not recomputed
    assert calls == [1.0]
    np.testing.assert_array_equal(a["train"], b["train"])
    other = {"params": {"decay": 0.8, "threshold": 5.0}, "data": "a"}
    with pytest.warns(FeatureCacheWarning, match=r"params.decay: 0.9 -> 0.8"):
        c = cached_arrays(path, other, compute(3.0))
    assert calls == [1.0, 3.0] and c["train"][0, 0] == 3.0
    with h5py.File(path, "r") as f:
        assert f["train"][0, 0] == 3.0                    # the file now holds the rebuilt features
    path.write_bytes(b"not hdf5")
    with pytest.warns(FeatureCacheWarning, match="unreadable"):
        cached_arrays(path, other, compute(4.0))
    assert not list(tmp_path.glob(".*tmp"))               # no temporary file left behind


def test_ridge_readout_against_augmented_least_squares():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 7))
    y = rng.integers(0, 3, 120)
    alpha = 3.0
    ro = RidgeReadout.fit(x, y, alpha)
    # independent formulation: least squares on [Z 1; sqrt(alpha) I 0] against [Y; 0]
    z = (x - x.mean(0)) / x.std(0)
    yy = np.eye(3)[y]
    a = np.block([[z, np.ones((120, 1))], [np.sqrt(alpha) * np.eye(7), np.zeros((7, 1))]])
    sol = np.linalg.lstsq(a, np.vstack([yy, np.zeros((7, 3))]), rcond=None)[0]
    np.testing.assert_allclose(ro.weight, sol[:7], atol=1e-10)
    np.testing.assert_allclose(ro.bias, sol[7], atol=1e-10)


def test_ridge_selection_uses_validation():
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(4, 10)) * 3
    y = rng.integers(0, 4, 300)
    x = centers[y] + rng.normal(size=(300, 10))
    alpha, scores = select_ridge(x[:200], y[:200], x[200:], y[200:], alphas=(1.0, 1e6))
    assert scores[1.0] > 0.95 and alpha == 1.0
    assert RidgeReadout.fit(x[:200], y[:200], alpha).accuracy(x[200:], y[200:]) == scores[1.0]
