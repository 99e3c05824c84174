"""Energy model: presets pinned to their sources, hand-computed energies of tiny runs (a
two-neuron network, one crossbar read, one SpiNNaker packet over two hops), and bad input."""
import json
from dataclasses import replace

import pytest

import spiking as sp
from spiking.hardware import energy as en
from spiking.hardware.energy import tables as T
from spiking.recording import ActivityLedger

pJ, nJ = 1e-12, 1e-9


# -- presets against their sources ----------------------------------------------------------

def test_horowitz45_numbers():
    p = T.HOROWITZ45
    assert p.add == {"int8": 0.03 * pJ, "int16": 0.05 * pJ, "int32": 0.1 * pJ, "fp16": 0.4 * pJ, "fp32": 0.9 * pJ}
    assert p.mult == {"int8": 0.2 * pJ, "int32": 3.1 * pJ, "fp16": 1.1 * pJ, "fp32": 3.7 * pJ}
    assert [(n, c, e) for n, c, e in p.memory[:3]] == [("SRAM 8 KB", 8192, 10 * pJ), ("SRAM 32 KB", 32768, 20 * pJ),
                                                      ("SRAM 1 MB", 2 ** 20, 100 * pJ)]
    assert T.horowitz.DRAM_RANGE == (1.3 * nJ, 2.6 * nJ) and p.memory[3][2] == pytest.approx(1.95 * nJ)
    assert p.e_ac == 0.9 * pJ and p.e_mac == pytest.approx(4.6 * pJ)
    assert p.level(8192) == ("SRAM 8 KB", 10 * pJ) and p.level(8193) == ("SRAM 32 KB", 20 * pJ)
    assert p.level(2e6)[0] == "DRAM"
    assert T.HOROWITZ45_INT8.e_ac == 0.03 * pJ and T.HOROWITZ45_INT8.weight_bits == 8


def test_node_scaling():
    s = T.HOROWITZ45.scaled(22.5)
    assert s.e_ac == pytest.approx(0.45 * pJ) and s.memory[0][2] == pytest.approx(5 * pJ)
    assert s.name == "horowitz45@22.5nm" and any("scaled" in a for a in s.assumptions)
    back = s.scaled(45)
    assert back.e_mac == pytest.approx(T.HOROWITZ45.e_mac)
    assert T.HOROWITZ45.scaled(22.5, exponent=2).e_ac == pytest.approx(0.9 * pJ / 4)
    with pytest.raises(ValueError, match="node_nm"):
        T.HOROWITZ45.scaled(0)


def test_chip_presets():
    assert (T.LOIHI.e_ac, T.LOIHI.e_neuron, T.LOIHI.e_neuron_idle) == (23.6 * pJ, 81 * pJ, 52 * pJ)
    assert T.LOIHI.e_hop == pytest.approx(3.5 * pJ) and T.LOIHI.e_mac is None
    assert T.TRUENORTH.e_ac == 26 * pJ
    # keras-spiking's device table (ModelEnergy.devices)
    assert (T.CPU.e_mac, T.CPU.e_neuron, T.CPU.event_driven) == (8.6 * nJ, 8.6 * nJ, False)
    assert (T.GPU.e_mac, T.ARM.e_mac) == (0.3 * nJ, 0.9 * nJ)
    assert (T.SPINNAKER1.e_synaptic_event, T.SPINNAKER1.e_neuron_update) == (13.3 * nJ, 26 * nJ)
    assert (T.SPINNAKER2.e_synaptic_event, T.SPINNAKER2.e_neuron_update) == (0.45 * nJ, 2.19 * nJ)
    # SpiNNMachine version_spin1.py
    assert (T.SPINNAKER1.w_idle_chip, T.SPINNAKER1.w_active_core) == (0.35, 0.034)
    assert (T.SPINNAKER1.e_packet, T.SPINNAKER1.e_packet_72bit) == (pytest.approx(40 * 25 * pJ), pytest.approx(72 * 25 * pJ))
    for p in T.PRESETS.values():
        assert p.citation and p.assumptions and p.modes


def test_crossbar_periphery():
    p = T.PCM_IBM
    # NeuroSim SarADC.cpp: (0.538 log2 L + 4.3753) uW x (log2 L + 1) ns
    assert p.e_adc(5) == pytest.approx((0.538 * 5 + 4.3753) * 6 * 1e-15) == pytest.approx(42.39e-15, rel=1e-3)
    assert p.e_adc(8) == pytest.approx((0.538 * 8 + 4.3753) * 9e-15)
    # ISAAC: 4 mW over 8 x 128 one-bit DACs at 10 MHz
    assert p.dac_1bit == pytest.approx(4e-3 / 1024 / 10e6, rel=0.01)
    assert p.e_dac(4) == pytest.approx(8 * p.dac_1bit)
    assert p.e_accumulate == pytest.approx(0.1 * pJ * 22 / 45)
    with pytest.raises(ValueError, match="ADC bits"):
        p.e_adc(0)


def test_register_a_preset_in_a_few_lines():
    mine = T.OpsPreset(name="my-chip", citation="my measurement, lab book p. 3", e_ac=1 * pJ, e_neuron=2 * pJ)
    try:
        en.register(mine)
        L = _two_neuron().ledger
        assert en.estimate(L, "my-chip", "ops").total_joules == pytest.approx(L.total_synaptic_events * pJ)
        with pytest.raises(ValueError, match="already registered"):
            en.register(replace(mine, e_ac=3 * pJ))
    finally:
        T.PRESETS.pop("my-chip", None)
    with pytest.raises(ValueError, match="citation"):
        T.OpsPreset(name="uncited", citation="")


# -- hand-computed runs --------------------------------------------------------------------

def _two_neuron():
    """src fires at 0 and 3 ms -> a (LIF, weight 1.5: fires each time) -> b (LIF, weight 0.2)."""
    net = sp.Network(dt=1.0)
    net.add_source("src", 1, sp.SpikeSourceArray([0.0, 3.0], [0, 0]))
    net.add_population("a", 1, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=0.0))
    net.add_population("b", 1, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=0.0))
    net.connect("src", "a", sp.OneToOne(), weight=1.5, delay=1.0, name="src->a")
    net.connect("a", "b", sp.OneToOne(), weight=0.2, delay=1.0, name="a->b")
    return sp.EventEngine(net).run(6.0, progress=False)


def test_two_neuron_network_by_hand():
    rec = _two_neuron()
    L = rec.ledger
    # src spikes at steps 0, 3 -> a updated with input at 1, 4 and fires then; b gets input at 2, 5
    assert L.spikes == {"src": 2, "a": 2, "b": 0}
    assert L.synaptic_events == {"src->a": 2, "a->b": 2}
    assert L.active_updates == {"src": 0, "a": 2, "b": 2} and L.neuron_updates == {"src": 0, "a": 6, "b": 6}
    ops = en.estimate(rec, "loihi", "ops")
    assert ops.total_joules == pytest.approx(4 * 23.6 * pJ)
    mem = en.estimate(rec, "loihi", "memory")
    assert mem.total_joules == pytest.approx(4 * 23.6 * pJ + 4 * 81 * pJ + 8 * 52 * pJ + 4 * 3.5 * pJ)
    assert mem.breakdown()["communication"] == pytest.approx(4 * 3.5 * pJ)
    h = en.estimate(rec, "horowitz45", "memory")
    # 4 ACs x 0.9; 12 updates x (0.9 + 3.7); weights 2 synapses x 4 B = 8 B -> 8 KB SRAM (10 pJ / 8 B)
    e8 = 10 * pJ / 8
    want = (4 * 0.9 * pJ + 12 * 4.6 * pJ + 4 * 4 * e8          # weight bytes of 4 events
            + 2 * 4 * 4 * e8 + 24 * 4 * e8 + 4 * 4 * e8)       # accumulators, state r+w, spike addresses
    assert h.total_joules == pytest.approx(want)
    assert h.breakdown()["memory"] > 10 * en.estimate(rec, "horowitz45", "ops").total_joules
    cpu = en.estimate(rec, "cpu", "memory")
    assert cpu.total_joules == pytest.approx((2 * 6 + 12) * 8.6 * nJ)   # 2 synapses x 6 steps, 12 updates
    assert h.per_inference == h.total_joules and h.inferences == 1


def test_per_inference_divides_by_inferences():
    L = _two_neuron().ledger
    L2 = ActivityLedger.from_dict({**L.to_dict(), "inferences": 4})
    assert en.estimate(L2, "loihi", "memory").per_inference == pytest.approx(en.estimate(L, "loihi", "memory").total_joules / 4)


def _backend_ledger(name, counts, **base):
    L = ActivityLedger(spikes={"a": 1}, neuron_updates={"a": 1}, synaptic_events={"p": 1}, steps=1,
                       backend={name: counts}, active_updates={"a": 1}, state_reads={"a": 1}, state_writes={"a": 1},
                       neurons={"a": 1}, state_variables={"a": 1}, synapses={"p": 1}, dense_synapses={"p": 1},
                       ac_ops={"p": 1}, mac_ops={"p": 0})
    return L


def test_one_crossbar_read_by_hand():
    """One read of one row of a 1-column tile: a differential pair (25 uS + 0 uS), 5-bit ADC."""
    counts = {"device": "pcm_ibm", "t_inference_s": 86400.0, "tiles": 1, "tile_rows": 1, "tile_cols": 1, "reads": 1,
              "row_activations": 1, "cells_read": 2, "conductance_sum_S": 25e-6, "adc_conversions": {"5": 1},
              "dac_conversions": {}, "digital_accumulations": 0, "v_read_V": 0.2, "t_read_s": 10e-9}
    e = en.estimate(_backend_ledger("crossbar", counts), "pcm_ibm", "hardware")
    array = 0.2 ** 2 * 25e-6 * 10e-9                     # 1e-14 J
    adc = (0.538 * 5 + 4.3753) * 1e-6 * 6e-9
    neuron = (0.9 + 3.7) * pJ * 22 / 45
    assert array == pytest.approx(1e-14)
    assert e.total_joules == pytest.approx(array + adc + neuron)
    assert e.breakdown()["conversion"] == pytest.approx(adc)
    # a graded input adds its DAC conversion; another device is refused by the device's preset
    e2 = en.estimate(_backend_ledger("crossbar", {**counts, "dac_conversions": {"4": 1}}), "crossbar", "hardware")
    assert e2.total_joules - e.total_joules == pytest.approx(8 * T.CROSSBAR.dac_1bit)
    with pytest.raises(ValueError, match="rram_wan2022"):
        en.estimate(_backend_ledger("crossbar", {**counts, "device": "rram_wan2022"}), "pcm_ibm", "hardware")


def test_one_spinnaker_packet_over_two_hops_by_hand():
    """One 40-bit packet from chip (0,0) over two links: three routers pass it (1 nJ each); three
    chips idle for 1 ms of run, two cores active for it."""
    counts = {"machine": "spinnaker1", "chips": 3, "cores": 2, "ticks": 1, "tick_ms": 1.0, "time_scale_factor": 1,
              "run_time_s": 1e-3, "active_core_seconds": 2e-3, "packets": 1, "packets_72bit": 0,
              "router_traversals": 3, "synaptic_events": 1, "neuron_updates": 1, "sdram_rows_fetched": 1,
              "sdram_bytes_fetched": 16, "timer_tick_overruns": 0, "max_overrun_cycles": 0,
              "synaptic_weight_saturations": 0, "input_buffer_packets_lost": 0}
    e = en.estimate(_backend_ledger("spinnaker", counts), "spinnaker1", "hardware")
    b = e.breakdown()
    assert b["communication"] == pytest.approx(3 * nJ)
    assert b["static"] == pytest.approx(3 * 0.35 * 1e-3)
    assert b["compute"] == pytest.approx(2e-3 * 0.034)
    assert e.total_joules == pytest.approx(3 * nJ + 1.05e-3 + 6.8e-5)
    e72 = en.estimate(_backend_ledger("spinnaker", {**counts, "packets_72bit": 1}), "spinnaker1", "hardware")
    assert e72.breakdown()["communication"] == pytest.approx(3 * 1.8 * nJ)
    over = en.estimate(_backend_ledger("spinnaker", {**counts, "timer_tick_overruns": 2}), "spinnaker1", "hardware")
    assert any("overran" in n for n in over.notes)
    s2 = en.estimate(_backend_ledger("spinnaker", {**counts, "machine": "spinnaker2"}), "spinnaker2", "hardware")
    assert s2.total_joules == pytest.approx(0.45 * nJ + 2.19 * nJ) and any("not modelled" in n for n in s2.notes)
    with pytest.raises(ValueError, match="spinnaker2"):
        en.estimate(_backend_ledger("spinnaker", {**counts, "machine": "spinnaker2"}), "spinnaker1", "hardware")


# -- bad input -----------------------------------------------------------------------------

def test_unknown_target_lists_known_ones():
    with pytest.raises(ValueError) as e:
        en.estimate(_two_neuron(), "loihi3", "ops")
    assert "loihi3" in str(e.value) and "spinnaker1" in str(e.value) and "horowitz45" in str(e.value)
    with pytest.raises(ValueError, match="mode='joules'"):
        en.estimate(_two_neuron(), "loihi", "joules")
    with pytest.raises(ValueError, match="no 'hardware' mode"):
        en.estimate(_two_neuron(), "loihi", "hardware")


def test_missing_counts_name_the_count_and_engine():
    L = _two_neuron().ledger
    old = ActivityLedger.from_dict({k: v for k, v in L.to_dict().items()
                                    if k in ("mode", "steps", "spikes", "neuron_updates", "synaptic_events")})
    with pytest.raises(en.MissingCounts, match="'ac_ops'.*event engine"):
        en.estimate(old, "loihi", "ops")
    with pytest.raises(en.MissingCounts, match=r"backend\['crossbar'\].*CrossbarEngine"):
        en.estimate(L, "pcm_ibm", "hardware")
    with pytest.raises(en.MissingCounts, match=r"lacks \['router_traversals'\]"):
        en.estimate(_backend_ledger("spinnaker", {"machine": "spinnaker1", "chips": 1, "cores": 1, "run_time_s": 1,
                                                  "active_core_seconds": 1, "packets": 0, "packets_72bit": 0,
                                                  "synaptic_events": 0, "neuron_updates": 0}), "spinnaker1", "hardware")
    graded = ActivityLedger.from_dict({**L.to_dict(), "mac_ops": {"src->a": 5, "a->b": 0}})
    with pytest.raises(ValueError, match="spike inputs only.*src->a"):
        en.estimate(graded, "loihi", "ops")
    assert en.estimate(graded, "horowitz45", "ops").total_joules == pytest.approx(4 * 0.9 * pJ + 5 * 4.6 * pJ)


# -- command line --------------------------------------------------------------------------

def test_cli_table_json_and_chart(tmp_path, capsys):
    from spiking.experiments.cli import main

    rec = _two_neuron()
    rec.save(tmp_path / "rec.h5")
    assert main(["energy", str(tmp_path / "rec.h5"), "--targets", "loihi,horowitz45,spinnaker1",
                 "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "loihi" in out and "Davies" in out and "skipped: spinnaker1 hardware" in out
    doc = json.loads((tmp_path / "o" / "energy.json").read_text())
    got = {(e["target"], e["mode"]): e["joules_per_inference"] for e in doc["estimates"]}
    assert got[("loihi", "ops")] == pytest.approx(4 * 23.6 * pJ)
    assert set(got) == {("loihi", "ops"), ("loihi", "memory"), ("horowitz45", "ops"), ("horowitz45", "memory"),
                        ("spinnaker1", "ops"), ("spinnaker1", "memory")}
    assert (tmp_path / "o" / "energy.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in (tmp_path / "o").iterdir() if p.name.startswith(".")]     # no temporary files left
    with pytest.raises(ValueError, match="known targets"):
        main(["energy", str(tmp_path / "rec.h5"), "--targets", "nope", "--out", str(tmp_path / "o")])
    # a network file is simulated first (with --duration)
    net = sp.Network(dt=1.0)
    net.add_source("s", 3, sp.SpikeSourceArray([0.0, 1.0], [0, 2]))
    net.add_population("n", 2, sp.LIF(tau_m=10.0, t_ref=0.0))
    net.connect("s", "n", sp.AllToAll(), weight=0.5, delay=1.0)
    net.save(tmp_path / "net.h5")
    with pytest.raises(ValueError, match="--duration"):
        main(["energy", str(tmp_path / "net.h5"), "--out", str(tmp_path / "o2")])
    assert main(["energy", str(tmp_path / "net.h5"), "--duration", "5", "--targets", "truenorth", "--mode", "ops",
                 "--out", str(tmp_path / "o2")]) == 0
    doc = json.loads((tmp_path / "o2" / "energy.json").read_text())
    assert doc["estimates"][0]["total_joules"] == pytest.approx(2 * 2 * 26 * pJ)


def test_combine_adds_work_and_keeps_structure():
    a, b = _two_neuron().ledger, _two_neuron().ledger
    a.backend["crossbar"] = {"device": "pcm_ibm", "tiles": 2, "reads": 3, "adc_conversions": {"5": 4},
                             "conductance_sum_S": 1e-5}
    b.backend["crossbar"] = {"device": "pcm_ibm", "tiles": 2, "reads": 1, "adc_conversions": {"5": 1, "6": 2},
                             "conductance_sum_S": 2e-5}
    c = en.combine([a, b])
    assert c.inferences == 2 and c.spikes == {k: 2 * v for k, v in a.spikes.items()}
    assert c.synapses == a.synapses and c.neurons == a.neurons                    # structure, not summed
    assert c.dense_synapses == {k: 2 * v for k, v in a.dense_synapses.items()}
    x = c.backend["crossbar"]
    assert (x["device"], x["tiles"], x["reads"], x["adc_conversions"]) == ("pcm_ibm", 2, 4, {"5": 5, "6": 2})
    assert x["conductance_sum_S"] == pytest.approx(3e-5)
    for mode in ("ops", "memory"):
        assert en.estimate(c, "loihi", mode).per_inference == pytest.approx(en.estimate(a, "loihi", mode).total_joules)
    b.backend["crossbar"]["device"] = "rram_wan2022"
    with pytest.raises(ValueError, match="device"):
        en.combine([a, b])


def test_prices_a_torch_analog_layer_counts():
    """The crossbar backend's torch layers expose the same counts (``counts()``): priced as is."""
    torch = pytest.importorskip("torch")
    xb = pytest.importorskip("spiking.hardware.crossbar")
    layer = xb.AnalogLinear(40, 8, device="pcm_ibm", io=xb.IOParameters())
    x = (torch.rand(5, 40, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    with torch.no_grad():
        layer(x)
    c = layer.counts()
    L = _backend_ledger("crossbar", c)
    e = en.estimate(L, "pcm_ibm", "hardware")
    adc = sum(n * T.PCM_IBM.e_adc(int(b)) for b, n in c["adc_conversions"].items())
    assert c["reads"] > 0 and adc > 0
    assert e.breakdown()["conversion"] == pytest.approx(adc + sum(n * T.PCM_IBM.e_dac(int(b))
                                                                for b, n in c["dac_conversions"].items()))
    assert e.items[0].joules == pytest.approx(c["v_read_V"] ** 2 * c["conductance_sum_S"] * c["t_read_s"])
