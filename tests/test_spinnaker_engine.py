"""The fixed-point engine: hand-computed s16.15 trajectories, ring-buffer saturation, delays and
delay extensions, the tick budget and provenance, the counts contract, and agreement with the
float event engine (CUBA rates, the CA3 recordings row for row)."""
import math

import numpy as np
import pytest

from spiking import AllToAll, CubaLIF, EventEngine, Network, OneToOne, SpikeSourceArray
from spiking.hardware.spinnaker import BACKEND_KEYS, SpiNNakerEngine, map_network, provenance_report
from spiking.hardware.spinnaker import fixedpoint as fx
from spiking.hardware.spinnaker.machine import SPINNAKER1, Machine


def one_neuron(weight=1.0, delay=1.0, v_th=-50.0, times=(0.0,), tau_m=10.0, t_ref=1.0):
    net = Network(dt=1.0)
    net.add_source("src", 1, SpikeSourceArray(list(times), [0] * len(times)))
    net.add_population("n", 1, CubaLIF(tau_m=tau_m, c_m=1.0, v_rest=-65.0, v_reset=-65.0, v_th=v_th, t_ref=t_ref,
                                       tau_syn_e=1.0, tau_syn_i=1.0, update_order="spinnaker"))
    net.connect("src", "n", OneToOne(), weight=weight, delay=delay, name="in")
    return net


def test_if_curr_exp_trajectory_equals_hand_computed_s1615():
    net = one_neuron(weight=1.0)
    rec = SpiNNakerEngine(net).run(6.0, record={"n": ["v", "i_e"]})
    # by hand: total input 1 nA -> shift 1, scale 2^14: w16 = 16384, slot value << 1 = 32768 (1.0 nA)
    R = 10 * 32768                                         # tau_m / c_m = 10 MOhm
    exp_tc = round(math.exp(-0.1) * 32768)                 # 29650
    init = round((1 - math.exp(-1.0)) * 2 ** 32)            # tau_s/dt (1 - exp(-dt/tau_s)), u0.32
    decay = round(math.exp(-1.0) * 2 ** 32)
    assert exp_tc == 29650
    v, i = -65 * 32768, 0
    want_v, want_i = [], []
    for step in range(6):
        inp = 32768 if step == 1 else 0                    # the spike of step 0 arrives (delay 1) in step 1
        i = i + ((inp * init) >> 32)
        alpha = ((i * R + 16384) >> 15) - 65 * 32768
        v = alpha - ((exp_tc * (alpha - v) + 16384) >> 15)
        i = (i * decay) >> 32
        want_v.append(v / 32768)
        want_i.append(i / 32768)
    assert rec.state["n"]["v"][:, 0].tolist() == want_v
    assert rec.state["n"]["i_e"][:, 0].tolist() == want_i
    # and the float engine within the rounding of s16.15
    ref = EventEngine(net).run(6.0, record={"n": ["v"]})
    assert np.allclose(rec.state["n"]["v"][:, 0], ref.state["n"]["v"][:, 0], atol=2e-4)


def test_refractory_and_reset_in_fixed_point():
    net = one_neuron(weight=30.0, v_th=-60.0, times=(0.0, 1.0, 2.0), t_ref=2.0)
    rec = SpiNNakerEngine(net).run(8.0, record={"n": ["v"]})
    ref = EventEngine(net).run(8.0)
    assert rec.spikes["n"].times.tolist() == ref.spikes["n"].times.tolist() == [1.0, 4.0]
    v = rec.state["n"]["v"][:, 0]
    assert v[1] == v[2] == v[3] == -65.0                   # reset, then held two ticks


def test_ring_buffer_saturation_is_counted_as_hand_computed():
    # 100 sources, delays 1 and 2 alternating (spread: expected upper bound 11.66 nA -> shift 4,
    # scale 2048): 50 inputs of 2048 land in each slot; 31 fit below 65535, the other 19 saturate
    net = Network(dt=1.0)
    net.add_source("src", 100, SpikeSourceArray([0.0] * 100, list(range(100))))
    net.add_population("n", 1, CubaLIF(update_order="spinnaker", t_ref=1.0, tau_syn_e=1.0, v_th=1000.0))
    d = np.where(np.arange(100) % 2 == 0, 1.0, 2.0)
    net.connect("src", "n", AllToAll(), weight=1.0, delay=d, name="in")
    eng = SpiNNakerEngine(net)
    assert eng.mapping.shifts["n"] == (4, 0) and eng.w16["in"][0] == 2048
    rec = eng.run(5.0)
    b = rec.ledger.backend["spinnaker"]
    assert b["synaptic_weight_saturations"] == 2 * 19
    assert "Times_synaptic_weights_have_saturated: 38" in provenance_report(b)


def test_long_delay_goes_through_a_delay_extension():
    fast = one_neuron(weight=30.0, v_th=-60.0, delay=20.0)
    eng = SpiNNakerEngine(fast)
    kinds = [s.kind for s in eng.mapping.slices]
    assert kinds == ["source", "delay", "neurons"]
    rec = eng.run(30.0)
    assert rec.spikes["n"].times.tolist() == EventEngine(fast).run(30.0).spikes["n"].times.tolist() == [20.0]
    # the source spike: one packet to the delay extension, one from it after the stage
    assert rec.ledger.backend["spinnaker"]["packets"] == 2


def test_counts_contract_and_router_traversals_across_chips():
    net = Network(dt=1.0)
    net.add_source("src", 1, SpikeSourceArray([0.0, 3.0], [0, 0]))
    net.add_population("filler", 16, CubaLIF(update_order="spinnaker", t_ref=1.0))
    net.add_population("n", 1, CubaLIF(update_order="spinnaker", t_ref=1.0, tau_syn_e=1.0))
    net.connect("src", "n", OneToOne(), weight=1.0, name="in")
    m = map_network(net, machine=Machine.boards(SPINNAKER1, 1), per_population={"filler": 1}, time_scale_factor=2.0)
    assert len(m.chips_used) == 2
    rec = SpiNNakerEngine(net, mapping=m).run(10.0)
    b = rec.ledger.backend["spinnaker"]
    assert set(BACKEND_KEYS) <= set(b)
    assert b["machine"] == "spinnaker1" and b["chips"] == 2 and b["cores"] == 18
    assert b["ticks"] == 10 and b["tick_ms"] == 1.0 and b["time_scale_factor"] == 2.0
    assert b["run_time_s"] == pytest.approx(10 * 1.0 / 1000 * 2.0)
    assert b["active_core_seconds"] == pytest.approx(18 * b["run_time_s"])
    assert b["packets"] == 2 and b["packets_72bit"] == 0
    assert b["router_traversals"] == 2 * 2                # source chip's router and the target chip's
    assert b["synaptic_events"] == 2 and b["sdram_rows_fetched"] == 2
    assert b["sdram_bytes_fetched"] == 2 * (3 + 1) * 4
    assert b["neuron_updates"] == 17 * 10
    # the ledger has the float engine's fields and the same spikes
    ref = EventEngine(net).run(10.0)
    assert rec.ledger.spikes == ref.ledger.spikes
    assert rec.ledger.neuron_updates == ref.ledger.neuron_updates
    assert rec.ledger.synaptic_events == ref.ledger.synaptic_events


def test_input_buffer_loss_and_overruns_as_hand_computed():
    # 300 sources fire in tick 0 into one core: 300 packets, 300 rows of one synapse:
    # 1 x 150 + 300 x 32 + 300 x 120 + 2000 = 47750 cycles; budget 200 MHz x 1 ms x tsf
    net = Network(dt=1.0)
    net.add_source("src", 300, SpikeSourceArray([0.0] * 300, list(range(300))))
    net.add_population("n", 1, CubaLIF(update_order="spinnaker", v_th=1000.0, t_ref=1.0))
    net.connect("src", "n", AllToAll(), weight=0.01, name="in")
    ok = SpiNNakerEngine(net).run(3.0).ledger.backend["spinnaker"]
    assert ok["max_cycles_per_tick"] == 47750 and ok["timer_tick_overruns"] == 0
    assert ok["input_buffer_packets_lost"] == 0
    slow = SpiNNakerEngine(net, time_scale_factor=0.2).run(3.0).ledger.backend["spinnaker"]
    assert slow["budget_cycles_per_tick"] == 40000
    assert slow["timer_tick_overruns"] == 1 and slow["max_overrun_cycles"] == 7750
    assert slow["input_buffer_packets_lost"] == 300 - 256
    text = provenance_report(slow)
    assert "Times_the_timer_tic_over_ran: 1" in text and "time_scale_factor" in text


def test_online_stdp_is_refused_with_the_setting_named():
    from spiking.plasticity import PairSTDP
    net = one_neuron()
    net.connect("src", "n", OneToOne(), weight=0.1, plasticity=PairSTDP(w_max=1.0), name="plastic")
    with pytest.raises(ValueError, match="update='online'.*expected update='deferred'"):
        SpiNNakerEngine(net)


# -- agreement with the float engine ------------------------------------------------------------

@pytest.fixture(scope="module")
def cuba4k():
    from spiking.experiments.cuba import CubaParams, build_cuba, draw_cuba
    return build_cuba(draw_cuba(CubaParams(n_neurons=4000), np.random.default_rng(1)))


def test_cuba_4000_rates_within_2_percent_and_real_time_verdict(cuba4k):
    # 1 s, the benchmark's duration: over shorter runs the initial transient dominates and even
    # a float run with v0 moved by 1e-4 mV differs by up to 3 % (docs/spinnaker.md)
    T = 1000.0
    ref = EventEngine(cuba4k).run(T)
    eng = SpiNNakerEngine(cuba4k)
    rec = eng.run(T)
    r_float, r_fixed = len(ref.spikes["neurons"]), len(rec.spikes["neurons"])
    assert r_float > 4000 * 0.3 * 2          # the network is active (> 2 Hz)
    assert abs(r_fixed / r_float - 1) < 0.02
    b = rec.ledger.backend["spinnaker"]
    assert b["cores"] == 16 and b["chips"] == 1
    # 256 neurons x 150 cycles alone exceed the 20,000 cycles of a 0.1 ms tick at 200 MHz
    assert b["budget_cycles_per_tick"] == 20000 and b["timer_tick_overruns"] > 0
    again = SpiNNakerEngine(cuba4k, mapping=eng.mapping).run(T)
    assert np.array_equal(again.spikes["neurons"].ids, rec.spikes["neurons"].ids)   # deterministic


def test_cuba_meets_real_time_with_enough_time_scale(cuba4k):
    b1 = SpiNNakerEngine(cuba4k).run(50.0).ledger.backend["spinnaker"]
    tsf = math.ceil(b1["max_tick_load"] * 10) / 10
    b = SpiNNakerEngine(cuba4k, time_scale_factor=tsf).run(50.0).ledger.backend["spinnaker"]
    assert b["timer_tick_overruns"] == 0


ca3 = pytest.importorskip("spiking.experiments.ca3_cam")
_have_ca3 = (ca3.dataset_dir() / "results").is_dir()


@pytest.mark.skipif(not _have_ca3, reason="CA3 recordings not found (set SPIKING_DATA)")
@pytest.mark.parametrize("experiment", [1, 2, 3])
def test_ca3_fixed_point_equals_the_recordings_row_for_row(experiment):
    result, table = ca3.run(experiment, backend="spinnaker1")
    golden = ca3.read_golden(experiment)
    assert len(table) == len(golden)
    assert [i for i, (a, b) in enumerate(zip(table, golden)) if a != b] == []
    # and the learning did happen in fixed point: weights are multiples of the 16-bit weight unit
    top = 0.0
    for name, w in result.recording.final_weights.items():
        post = name.split("->")[1]
        unit = 1 / fx.weight_scale(result.recording.mapping.shifts[post][0])
        assert np.allclose(w / unit, np.round(w / unit))
        top = max(top, w.max())
    assert top > 1.0


@pytest.mark.skipif(not _have_ca3, reason="CA3 recordings not found (set SPIKING_DATA)")
def test_ca3_fixed_point_weights_track_the_float_weights():
    fl, _ = ca3.run(1)
    fi, _ = ca3.run(1, backend="spinnaker1")
    # the same spikes give the same ledger, plastic projections included
    for field in ("spikes", "neuron_updates", "synaptic_events"):
        assert getattr(fi.recording.ledger, field) == getattr(fl.recording.ledger, field)
    for name, w in fl.recording.final_weights.items():
        # within a few weight units of 1/512 nA (truncation per update) of the float rule
        assert np.max(np.abs(fi.recording.final_weights[name] - w)) < 0.05


def test_delta_synapse_neurons_match_the_float_engine():
    from spiking import LIF
    net = Network(dt=1.0)
    net.add_source("src", 20, SpikeSourceArray(np.arange(0, 40, 2.0), np.arange(20) % 20))
    net.add_population("n", 5, LIF(tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_th=-55.0, t_ref=2.0))
    net.connect("src", "n", AllToAll(), weight=4.0, delay=2.0, name="in")
    net.connect("n", "n", AllToAll(allow_self=False), weight=1.5, receptor="inhibitory", name="inh")
    rec = SpiNNakerEngine(net).run(50.0)
    ref = EventEngine(net).run(50.0)
    assert len(ref.spikes["n"]) > 5
    assert rec.spikes["n"].times.tolist() == ref.spikes["n"].times.tolist()
    assert rec.spikes["n"].ids.tolist() == ref.spikes["n"].ids.tolist()


@pytest.mark.slow
def test_cuba_16000_maps_and_runs_within_2_percent():
    from spiking.experiments.cuba import CubaParams, build_cuba, draw_cuba
    net = build_cuba(draw_cuba(CubaParams(n_neurons=16000), np.random.default_rng(1)))
    ref = EventEngine(net).run(1000.0)
    rec = SpiNNakerEngine(net).run(1000.0)
    assert abs(len(rec.spikes["neurons"]) / len(ref.spikes["neurons"]) - 1) < 0.02
    b = rec.ledger.backend["spinnaker"]
    assert (b["cores"], b["chips"]) == (63, 4)
    assert b["router_entries_max_compressed"] < b["router_entries_max_uncompressed"] == 63
    assert b["timer_tick_overruns"] > 0 and b["synaptic_weight_saturations"] == 0
