"""Large networks: the vectorised connection draw (spiking.connectors.fixed_probability_pairs),
the scaled CUBA network, and memory that grows linearly with the synapses.

Oracles: the definition of fixed-probability connectivity (each pair independently with
probability p: inclusion frequency p, co-occurrence p**2, binomial out-degrees, uniform targets),
the mean-field property that CUBA with 80 inputs per neuron keeps its rate as it grows, and exact
array accounting (bytes per synapse the same at every size). The timed 160,000- and
1,000,000-neuron runs are in benchmarks/scale.py (figures in docs/scale.md).
"""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import spiking as sp
from spiking.connectors import fixed_probability_pairs

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("scale_benchmark", ROOT / "benchmarks" / "scale.py")
scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale)


@pytest.mark.parametrize("p", [0.3, 0.7])   # 0.3: draw with redraws of repeats; 0.7: dense Bernoulli path
def test_each_pair_is_drawn_independently_with_probability_p(p):
    n, reps = 12, 3000
    rng = np.random.default_rng(11)
    hits = np.zeros((n, n))
    both = 0.0          # rows holding targets j and j + 1 together
    degrees = []
    conn = sp.FixedProbability(p, allow_self=False)
    for _ in range(reps):
        pre, post = conn.build(n, n, True, rng)
        m = np.zeros((n, n), dtype=bool)
        m[pre, post] = True
        assert m.sum() == pre.size and not m.diagonal().any()      # distinct pairs, no autapse
        hits += m
        both += (m[:, :-1] & m[:, 1:])[~np.eye(n, n - 1, dtype=bool) & ~np.eye(n, n - 1, -1, dtype=bool)].sum()
        degrees.append(m.sum(1))
    freq = hits[~np.eye(n, dtype=bool)] / reps
    sd = math.sqrt(p * (1 - p) / reps)
    assert np.all(np.abs(freq - p) < 5 * sd)                  # every pair: probability p
    pairs = reps * (n * (n - 1) - 2 * (n - 1))                # (j, j+1) pairs with neither being i
    assert abs(both / pairs - p * p) < 5 * math.sqrt(p * p * (1 - p * p) / pairs)  # independence
    deg = np.concatenate(degrees)
    assert deg.var() == pytest.approx((n - 1) * p * (1 - p), rel=0.1)   # binomial, not a fixed count


def test_large_draw_is_sorted_distinct_uniform_and_reproducible():
    n = 70_000            # more rows than one block (65,536): rows of two blocks stay in order
    p = 80 / (n - 1)
    pre, post = fixed_probability_pairs(n, n, p, True, np.random.default_rng(5))
    key = pre * n + post
    assert np.all(np.diff(key) > 0)                           # rows ascending, targets ascending, distinct
    assert not np.any(pre == post)
    expected = n * (n - 1) * p
    assert abs(pre.size - expected) < 5 * math.sqrt(expected)
    counts = np.bincount(post * 20 // n, minlength=20)       # 20 equal bins of target ids
    chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum()
    assert chi2 < 45.3                                        # chi2(19) 99.9 % quantile
    again = fixed_probability_pairs(n, n, p, True, np.random.default_rng(5))
    other = fixed_probability_pairs(n, n, p, True, np.random.default_rng(6))
    assert np.array_equal(pre, again[0]) and np.array_equal(post, again[1])
    assert not (pre.size == other[0].size and np.array_equal(post, other[1]))


def test_draw_needs_a_generator_and_handles_empty_cases():
    with pytest.raises(ValueError, match="seeded generator"):
        sp.FixedProbability(0.1).build(5, 5, False)
    for args in ((0, 5, 0.5, False), (5, 1, 0.5, True), (5, 5, 0.0, False)):
        pre, post = fixed_probability_pairs(*args, np.random.default_rng(0))
        assert pre.size == post.size == 0
    pre, post = sp.FixedProbability(1.0, allow_self=False).build(6, 6, True, np.random.default_rng(0))
    assert pre.size == 30 and not np.any(pre == post)


def test_scaled_cuba_keeps_eighty_inputs_and_its_rate():
    from spiking.experiments.cuba import build_cuba, draw_cuba

    rates = {}
    for n in (4000, 40_000):
        conn = draw_cuba(scale.cuba_params(n), np.random.default_rng(1))
        in_degree = np.bincount(conn.post, minlength=n)
        assert in_degree.mean() == pytest.approx(80, abs=5 * math.sqrt(80 / n))
        rec = sp.EventEngine(build_cuba(conn)).run(1000.0, progress=False)
        rates[n] = rec.spikes["neurons"].times.size / n
    assert rates[4000] > 2                                   # the network is active (about 5.5 Hz)
    assert abs(rates[40_000] - rates[4000]) < 0.1 * rates[4000]


def test_memory_per_synapse_and_per_neuron_is_the_same_at_every_size():
    from spiking.experiments.cuba import build_cuba, draw_cuba

    accounts = []
    for n in (2000, 8000):
        net = build_cuba(draw_cuba(scale.cuba_params(n), np.random.default_rng(2)))
        eng = sp.EventEngine(net)
        accounts.append((n, net.n_synapses, scale.network_account(net),
                         scale.array_account(eng, int(eng.syn_post.size), eng.n_total)))
    (n1, s1, net1, eng1), (n2, s2, net2, eng2) = accounts
    for a1, a2 in ((net1, net2), (eng1, eng2)):
        assert a1["synapse"] / s1 == a2["synapse"] / s2 > 0    # bytes per synapse: a constant
        # bytes per neuron: a constant (up to the one extra entry of a CSR pointer array)
        assert a1["neuron"] / n1 == pytest.approx(a2["neuron"] / n2, rel=1e-3) and a1["neuron"] > 0
        assert a2["other"] <= 4 * max(a1["other"], 1024)          # nothing else grows with N squared
    # the synapses dominate: 80 per neuron
    assert eng2["synapse"] > 10 * eng2["neuron"]


def test_fit_per_unit_recovers_a_linear_model():
    rows = [{"n_neurons": n, "n_synapses": 80 * n, "arrays_network": {"synapse": 28 * 80 * n, "neuron": 8 * n},
             "arrays_engine": {"synapse": 52 * 80 * n, "neuron": 16 * n},
             "rss_after_engine": 2e8 + 7000 * n, "peak_rss": 2e8 + 12000 * n} for n in (4000, 16000, 160000)]
    fit = scale.fit_per_unit(rows)
    assert fit["arrays_engine_bytes_per_synapse"] == pytest.approx(52)
    assert fit["arrays_network_bytes_per_neuron"] == pytest.approx(8)
    assert fit["peak_rss_bytes_per_neuron"] == pytest.approx(12000)
    assert fit["peak_rss_max_rel_dev_from_line"] < 1e-9
