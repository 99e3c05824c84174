"""SpiNNaker number formats against hand-computed values, and the weight-shift rule against its formula."""
import math

import numpy as np
import pytest

from spiking import AllToAll, CubaLIF, Network, SpikeSourceArray
from spiking.hardware.spinnaker import fixedpoint as fx
from spiking.hardware.spinnaker.synapses import max_summed_weight, ring_buffer_shifts


def test_s1615_encoding_rounds_to_nearest():
    assert fx.to_s1615(1.0) == 32768
    assert fx.to_s1615(-60.0) == -60 * 32768
    assert fx.to_s1615(1 / 3) == 10923                      # 10922.67 -> 10923
    assert fx.to_s1615(2 ** -16) == 0 and fx.to_s1615(3 * 2 ** -16) == 2   # halves to even (numpy rint)
    assert fx.from_s1615(49152) == 1.5
    with pytest.raises(ValueError, match="70000.0: outside the s16.15 range"):
        fx.to_s1615(70000.0)


def test_multiply_round_to_nearest_and_saturate():
    assert fx.mul_round(3 * 32768, 16384) == 49152           # 3.0 x 0.5 = 1.5
    assert fx.mul_round(1, 16384) == 1                       # half an LSB rounds up
    assert fx.mul_round(-1, 16384) == 0                      # ... toward +inf (the + 2^14 of round.h)
    assert fx.mul_round(3, 10923) == 1                       # (32769 + 16384) >> 15
    assert fx.mul_round(2 ** 31 - 1, 2 * 32768) == 2 ** 31 - 1   # saturates at the s16.15 maximum
    assert fx.mul_round(-(2 ** 31), 2 * 32768) == -(2 ** 31)
    assert fx.mul_round_py(123456, -98765) == (123456 * -98765 + 16384) >> 15


def test_u032_decay_floors():
    half = fx.to_u032(0.5)
    assert half == 2 ** 31
    assert fx.to_u032(1.0) == 2 ** 32 - 1                    # 1.0 is not representable: saturates
    assert fx.decay_s1615(32768, half) == 16384
    assert fx.decay_s1615(3, half) == 1                      # 1.5 -> 1
    assert fx.decay_s1615(-1, half) == -1                    # -0.5 -> -1: a floor, not a truncation
    with pytest.raises(ValueError, match="1.5: expected a value in"):
        fx.to_u032(1.5)


def test_stdp_fixed_point():
    assert fx.stdp_mul16(2048, 1024) == 1024                 # 1.0 x 0.5 in 11-bit fixed point
    assert fx.stdp_mul16(3000, 2048) == 3000
    assert fx.stdp_mul16(40000, 2048) == 40000 - 65536       # __smulbb reads the low 16 bits, signed
    assert fx.mul_accum_fixed(6 * 32768, 2048) == 6 * 32768  # 6 nA x 1.0
    assert fx.mul_accum_fixed(6 * 32768, 1467) == (6 * 32768 * (1467 << 4)) >> 15


def test_exp_lut_is_spynnakers_table():
    lut = fx.exp_lut(1.0, 3.0)
    # ln(2048) x 3 = 22.9 -> rounded up to an even size: 24
    assert lut.size == 24
    assert lut[0] == 2048 and lut[1] == math.floor(2048 * math.exp(-1 / 3)) == 1467
    assert np.all(np.diff(lut) <= 0)
    assert fx.exp_lut(1.0, 20.0).size == 154                 # ln(2048) x 20 = 152.5 -> 154


@pytest.mark.parametrize("w, shift", [(0.5, 0), (1.0, 1), (1.5, 1), (32.0, 6), (36.0, 6), (480.0, 9), (512.0, 10)])
def test_max_weight_power(w, shift):
    # ceil(log2 w), one more when 2^p == w (the 16-bit range stops below 2^p)
    assert fx.max_weight_power(w) == shift
    assert 2 ** shift > w


def test_weights_shifted_back_are_their_s1615_value():
    rng = np.random.default_rng(0)
    for shift in range(0, 12):
        top = 2.0 ** shift * 0.99
        w = rng.uniform(0, top, 50)
        q = fx.encode_weights(w, shift)
        assert q.max() <= fx.WEIGHT_MAX
        # w16 << shift is an s16.15 number: the weight to within half a weight unit
        assert np.all(np.abs((q << shift) / 32768.0 - w) <= 0.5 * 2.0 ** (shift - 15) + 1e-12)
    assert fx.weight_scale(6) == 512
    with pytest.raises(ValueError, match="weight 3.0: exceeds the 16-bit weight range"):
        fx.encode_weights([3.0], 0, "p")


def test_expected_upper_bound_without_weight_spread():
    # constant weights: mean + sigma SD of a Poisson count = lam w + sigma sqrt(lam) w
    w, n = 0.7, 100
    lam = n * 30 / 1000.0
    assert fx.expected_upper_bound(w, 0.0, 30.0, n, 5.0) == pytest.approx(lam * w + 5 * math.sqrt(lam) * w)


def _net(delays, post="post"):
    net = Network(dt=1.0)
    net.add_source("src", 100, SpikeSourceArray([0.0], [0]))
    net.add_population(post, 1, CubaLIF(update_order="spinnaker", t_ref=1.0, tau_syn_e=1.0))
    net.connect("src", post, AllToAll(), weight=1.0, delay=delays, name="p")
    return net


def test_shift_rule_worst_case_without_delay_spread_expected_bound_with_it():
    # one delay: every input may land in the same slot -> 100 x 1 nA -> shift 7
    assert max_summed_weight(_net(1.0), "post", "excitatory") == 100.0
    assert ring_buffer_shifts(_net(1.0))["post"] == (7, 0)
    # spread delays: the expected upper bound 3 + 5 sqrt(3) = 11.66 -> shift 4
    d = np.where(np.arange(100) % 2 == 0, 1.0, 2.0)
    assert max_summed_weight(_net(d), "post", "excitatory") == pytest.approx(3 + 5 * math.sqrt(3))
    assert ring_buffer_shifts(_net(d))["post"] == (4, 0)


def test_ring_buffer_sigma_changes_the_shift_as_the_formula_says():
    from spiking.hardware.spinnaker import map_network
    d = np.where(np.arange(100) % 2 == 0, 1.0, 2.0)
    # sigma 10: 3 + 10 sqrt(3) = 20.3 -> shift 5 (sigma 5 gave 4)
    assert map_network(_net(d), ring_buffer_sigma=10.0).shifts["post"] == (5, 0)
    # 300 spikes/s: lam = 30, 30 + 5 sqrt(30) = 57.4 -> shift 6
    assert map_network(_net(d), spikes_per_second=300.0).shifts["post"] == (6, 0)


# -- against sPyNNaker itself (tests/data/spinnaker/make_spynnaker_reference.py, sPyNNaker 7.4.1) --

import json  # noqa: E402
from pathlib import Path  # noqa: E402

REFERENCE = Path(__file__).parent / "data" / "spinnaker" / "spynnaker_reference.json"


def _reference_networks():
    """Our descriptions of the generator's networks (see its docstring)."""
    from spiking.models.ca3 import CA3Memory
    nets = {"one_delay": _net(1.0, "one_delay"),
            "delay_spread": _net(np.where(np.arange(100) % 2 == 0, 1.0, 2.0), "delay_spread")}
    n, n_exc = 400, 320
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j and (7 * i + 3 * j) % 23 == 0]
    cuba = Network(dt=1.0)
    cuba.add_population("cuba_list", n, CubaLIF(update_order="spinnaker", t_ref=1.0))
    from spiking import FromList
    e = np.array([p for p in pairs if p[0] < n_exc])
    i = np.array([p for p in pairs if p[0] >= n_exc])
    cuba.connect("cuba_list", "cuba_list", FromList(e[:, 0], e[:, 1]), weight=1.62, name="exc")
    cuba.connect("cuba_list", "cuba_list", FromList(i[:, 0], i[:, 1]), weight=9.0, receptor="inhibitory", name="inh")
    nets["cuba_list"] = cuba
    nets["ca3"] = CA3Memory(5, 10).network([0.0], [0], [0.0], [0])
    return nets


def test_ring_buffer_shifts_equal_spynnakers():
    ref = json.loads(REFERENCE.read_text())["cases"]
    for case, net in _reference_networks().items():
        ours = ring_buffer_shifts(net)
        for pop, shifts in ref[case].items():
            if (case, pop) == ("ca3", "CA3cueContRecall"):
                # the one departure: sPyNNaker's AllToAllConnector(allow_self_connections=False)
                # reports n_pre connections per post neuron (self included), we count the real
                # in-degree n_pre - 1: 2 x 5 x 60 nA = 600 -> 10 there, 2 x 4 x 60 = 480 -> 9 here
                assert shifts == [7, 10] and ours[pop] == (7, 9)
                assert fx.max_weight_power(2 * 5 * 60.0) == 10
                continue
            assert list(ours[pop]) == shifts, (case, pop)


def test_ring_buffer_shifts_live_against_spynnaker(tmp_path):
    pytest.importorskip("spynnaker")
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_ref", REFERENCE.parent / "make_spynnaker_reference.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    try:
        gen.main(tmp_path / "live.json")
    except Exception as e:   # no ~/.spynnaker.cfg with a virtual board
        pytest.skip(f"sPyNNaker did not set up a virtual board: {e}")
    live = json.loads((tmp_path / "live.json").read_text())["cases"]
    assert live == json.loads(REFERENCE.read_text())["cases"]


def test_exp_luts_and_s1615_encoding_equal_spynnakers():
    ref = json.loads(REFERENCE.read_text())
    for key, values in ref["exp_luts"].items():
        ts, tau = map(float, key.split("/"))
        assert fx.exp_lut(ts, tau).tolist() == values, key
    for text, bits in ref["s1615"].items():
        assert fx.to_s1615(float(text)) == bits, text
