"""Price what a run did: ``estimate(recording_or_ledger, target=..., mode=...)``.

Three modes (docs/energy.md):

* ``"ops"``: the synaptic-operation proxy most papers print, E_AC x ACs + E_MAC x MACs (on a
  dense, clock-driven device: every synapse every step, as MACs). Nothing else.
* ``"memory"``: adds neuron updates, the memory traffic (weight fetches, membrane state and
  input-accumulator reads and writes, priced at the memory level where they live) and spike
  communication. For chips priced by measured per-operation energies (Loihi, TrueNorth,
  SpiNNaker), their on-chip memory is inside those measurements, and the report says so.
* ``"hardware"``: the model of a backend from its own counts (``ledger.backend["crossbar"]``,
  ``ledger.backend["spinnaker"]``).

Every line of the result names its count, its unit cost, the preset and the citation. Energies
are totals of the run and per inference (``ledger.inferences``), split into the categories
compute, memory, communication, conversion and static. The estimator reads only the ledger and
the cost tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from spiking.recording import ActivityLedger, Recording

from .tables import (MODES, CrossbarPreset, DigitalPreset, OpsPreset, Preset, SpiNNakerPreset, get_preset)

__all__ = ["CATEGORIES", "Item", "Estimate", "estimate", "MissingCounts"]

CATEGORIES = ("compute", "memory", "communication", "conversion", "static")

# which engine writes each count (for the error of a ledger that lacks one)
_PROVIDERS = {
    "ac_ops": "the event engine (spiking.EventEngine) or spiking.nn.counts.count_activity",
    "crossbar": "the crossbar backend (spiking.hardware.crossbar.CrossbarEngine, or AnalogLinear.counts())",
    "spinnaker": "the SpiNNaker backend (spiking.hardware.spinnaker)",
}


class MissingCounts(ValueError):
    """A ledger lacks a count that the requested target and mode price."""


@dataclass(frozen=True)
class Item:
    """One priced line: ``count`` of ``unit`` at ``unit_joules`` each (``joules`` for the run)."""

    category: str
    what: str
    count: float
    unit: str
    unit_joules: float
    source: str
    note: str = ""

    @property
    def joules(self) -> float:
        return float(self.count) * float(self.unit_joules)


@dataclass(frozen=True)
class Estimate:
    target: str
    mode: str
    citation: str
    assumptions: tuple
    items: tuple
    inferences: int = 1
    notes: tuple = field(default=())

    @property
    def total_joules(self) -> float:
        return float(sum(i.joules for i in self.items))

    @property
    def per_inference(self) -> float:
        return self.total_joules / self.inferences

    def breakdown(self, per_inference: bool = True) -> dict:
        """Joules per category (per inference by default)."""
        d = {c: 0.0 for c in CATEGORIES}
        for i in self.items:
            d[i.category] += i.joules
        div = self.inferences if per_inference else 1
        return {c: v / div for c, v in d.items()}

    def to_dict(self) -> dict:
        return {"target": self.target, "mode": self.mode, "citation": self.citation,
                "assumptions": list(self.assumptions), "inferences": self.inferences,
                "total_joules": self.total_joules, "joules_per_inference": self.per_inference,
                "breakdown_per_inference": self.breakdown(), "notes": list(self.notes),
                "items": [{"category": i.category, "what": i.what, "count": i.count, "unit": i.unit,
                           "unit_joules": i.unit_joules, "joules": i.joules, "source": i.source, "note": i.note}
                          for i in self.items]}

    def __str__(self):
        lines = [f"{self.target} ({self.mode} mode): {self.per_inference:.4g} J per inference "
                 f"({self.inferences} inference{'s' if self.inferences != 1 else ''}, {self.total_joules:.4g} J total)",
                 f"  source: {self.citation}"]
        for i in self.items:
            lines.append(f"  {i.category:<14}{i.what:<44}{i.count:>14.6g} {i.unit:<10} x {i.unit_joules:.4g} J"
                         f" = {i.joules:.4g} J{('  (' + i.note + ')') if i.note else ''}")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  assumes: {a}" for a in self.assumptions]
        return "\n".join(lines)


# -- reading the ledger ---------------------------------------------------------------------

def _ledger(x) -> ActivityLedger:
    if isinstance(x, Recording):
        return x.ledger
    if isinstance(x, ActivityLedger):
        return x
    if isinstance(x, dict) and "spikes" in x and "neuron_updates" in x:
        return ActivityLedger.from_dict(x)
    raise TypeError(f"estimate() of {type(x).__name__}: expected a Recording, an ActivityLedger or its to_dict()")


def _need(led: ActivityLedger, name: str, target: str, mode: str) -> dict:
    d = getattr(led, name)
    if not d and (led.spikes or led.synaptic_events):
        raise MissingCounts(f"target {target!r}, mode {mode!r} needs the count {name!r}, which this ledger lacks: "
                            f"{_PROVIDERS['ac_ops']} writes it (a recording saved before these counts existed "
                            "must be simulated again)")
    return d


def _backend(led: ActivityLedger, name: str, keys, target: str) -> dict:
    b = led.backend.get(name)
    if not b:
        raise MissingCounts(f"target {target!r} in hardware mode needs ledger.backend[{name!r}], which this ledger "
                            f"lacks (it has {sorted(led.backend) or 'no backend counts'}): run the network on "
                            f"{_PROVIDERS[name]}")
    missing = [k for k in keys if k not in b]
    if missing:
        raise MissingCounts(f"ledger.backend[{name!r}] lacks {missing} (needed by target {target!r}); "
                            f"{_PROVIDERS[name]} writes them")
    return b


def _total(d: dict) -> int:
    return int(sum(d.values()))


# -- pricing per kind of preset -------------------------------------------------------------

def _synaptic(p, led, mode, items, src):
    """The op proxy: ACs and MACs (or dense MACs on a clock-driven device)."""
    if isinstance(p, OpsPreset) and not p.event_driven:
        dense = _total(_need(led, "dense_synapses", p.name, mode))
        items.append(Item("compute", "dense synaptic MACs (every synapse, every step)", dense, "MAC", p.e_mac, src))
        return
    acs = _total(_need(led, "ac_ops", p.name, mode))
    macs = _total(_need(led, "mac_ops", p.name, mode))
    e_ac = p.e_synaptic_event if isinstance(p, SpiNNakerPreset) else p.e_ac
    e_mac = None if isinstance(p, SpiNNakerPreset) else p.e_mac
    items.append(Item("compute", "synaptic accumulations (ACs)", acs, "AC", e_ac, src))
    if macs:
        if e_mac is None:
            graded = sorted(k for k, v in led.mac_ops.items() if v)
            raise ValueError(f"target {p.name!r} takes spike inputs only, but the ledger has {macs} MACs (graded "
                             f"inputs) in projections {graded}: binarise the input or pick a target with MACs")
        items.append(Item("compute", "synaptic multiply-accumulates (MACs)", macs, "MAC", e_mac, src))


def _ops_memory(p: OpsPreset, led, items, notes, src):
    active = _total(_need(led, "active_updates", p.name, "memory"))
    updates = led.total_neuron_updates
    if p.e_neuron_idle is None:
        items.append(Item("compute", "neuron updates", updates, "update", p.e_neuron, src))
    else:
        items.append(Item("compute", "neuron updates, active (received input)", active, "update", p.e_neuron, src))
        items.append(Item("compute", "neuron updates, idle", updates - active, "update", p.e_neuron_idle, src))
    if p.e_hop is not None:
        items.append(Item("communication", f"spike messages ({p.hops_per_spike:g} mesh hop each)",
                          led.total_spikes * p.hops_per_spike, "hop", p.e_hop, src))
    notes.append(f"memory: {p.name}'s per-operation energies are chip measurements that include its on-chip "
                 "memory accesses; no separate memory line")


def _digital_memory(p: DigitalPreset, led, items, notes, src):
    synapses = _need(led, "synapses", p.name, "memory")
    neurons = _need(led, "neurons", p.name, "memory")
    n_var = _need(led, "state_variables", p.name, "memory")
    reads = _total(_need(led, "state_reads", p.name, "memory"))
    writes = _total(_need(led, "state_writes", p.name, "memory"))
    events = led.total_synaptic_events
    e_neuron = p.add[p.precision] + p.mult[p.precision]
    items.append(Item("compute", "neuron updates (multiply + add per state variable)", reads, "state op",
                      e_neuron, src))
    w_bytes = _total(synapses) * p.weight_bits / 8
    w_level, w_e = p.level(w_bytes)
    s_bytes = sum(int(neurons[k]) * int(n_var.get(k, 0)) for k in neurons) * p.state_bits / 8
    s_level, s_e = p.level(s_bytes)
    items.append(Item("memory", f"weight bytes fetched ({w_level})", events * p.weight_bits / 8, "byte", w_e / 8, src,
                      f"{w_bytes:.0f} weight bytes stored"))
    items.append(Item("memory", f"accumulator bytes read + written ({s_level})", 2 * events * p.state_bits / 8, "byte",
                      s_e / 8, src))
    items.append(Item("memory", f"membrane state bytes read + written ({s_level})", (reads + writes) * p.state_bits / 8,
                      "byte", s_e / 8, src, f"{s_bytes:.0f} state bytes stored"))
    q_level, q_e = p.level(0)
    items.append(Item("communication", f"spike addresses written ({q_level})", led.total_spikes * p.spike_bits / 8,
                      "byte", q_e / 8, src))


def _spinnaker_memory(p: SpiNNakerPreset, led, items, notes, src):
    items.append(Item("compute", "neuron updates", led.total_neuron_updates, "update", p.e_neuron_update, src))
    notes.append("memory: Hoeppner's per-operation energies are measurements that include the SDRAM synaptic-row "
                 "fetches; no separate memory line")


_SPINN_KEYS = ("machine", "chips", "cores", "run_time_s", "active_core_seconds", "packets", "packets_72bit",
               "router_traversals", "synaptic_events", "neuron_updates")


def _spinnaker_hardware(p: SpiNNakerPreset, led, items, notes):
    b = _backend(led, "spinnaker", _SPINN_KEYS, p.name)
    if b["machine"] != p.machine:
        raise ValueError(f"target {p.name!r} prices a {p.machine} machine, but the run was mapped on "
                         f"{b['machine']!r}: use target {b['machine']!r}")
    msrc = p.machine_citation
    if p.w_idle_chip is not None:
        items.append(Item("static", f"idle chips ({b['chips']} chips x run time)", float(b["chips"]) * float(b["run_time_s"]),
                          "chip-second", p.w_idle_chip, msrc))
        items.append(Item("compute", "active core overhead", float(b["active_core_seconds"]), "core-second",
                          p.w_active_core, msrc))
        packets = int(b["packets"])
        f72 = int(b["packets_72bit"]) / packets if packets else 0.0
        e = p.e_packet * (1 - f72) + p.e_packet_72bit * f72
        items.append(Item("communication", "router traversals (packet x router passed)", int(b["router_traversals"]),
                          "traversal", e, msrc, f"{packets} packets, {int(b['packets_72bit'])} of 72 bits"))
        notes.append("memory: SDRAM traffic "
                     f"({int(b.get('sdram_bytes_fetched', 0))} bytes fetched) is inside the chip powers; no separate line")
    else:
        items.append(Item("compute", "synaptic events (backend)", int(b["synaptic_events"]), "event",
                          p.e_synaptic_event, p.citation))
        items.append(Item("compute", "neuron updates (backend)", int(b["neuron_updates"]), "update",
                          p.e_neuron_update, p.citation))
        notes.append(f"{p.name}: static (idle chip), per-core and router energy not modelled: no cited figure")
    over = int(b.get("timer_tick_overruns", 0))
    if over:
        notes.append(f"the run overran its real-time tick budget {over} times (max {b.get('max_overrun_cycles', '?')} "
                     "cycles): real-time operation is not met, and the energy assumes the run as simulated")
    lost = int(b.get("input_buffer_packets_lost", 0))
    if lost:
        notes.append(f"{lost} packets were lost at input buffers: the run computed less than the network asks")


_XBAR_KEYS = ("device", "conductance_sum_S", "adc_conversions", "dac_conversions", "digital_accumulations")


def _crossbar_hardware(p: CrossbarPreset, led, items, notes):
    b = _backend(led, "crossbar", _XBAR_KEYS, p.name)
    if p.device is not None and b["device"] != p.device:
        raise ValueError(f"target {p.name!r} prices the {p.device!r} device, but the run used {b['device']!r}: use "
                         f"target {b['device']!r} if it is registered, or 'crossbar' for any device")
    src = p.citation
    v = float(b.get("v_read_V", 0.2))
    t = float(b.get("t_read_s", 10e-9))
    items.append(Item("compute", f"array reads (V_read^2 G t_read, {v:g} V, {t:g} s)", float(b["conductance_sum_S"]),
                      "S summed", v * v * t, src, f"{int(b.get('reads', 0))} tile reads, "
                      f"{int(b.get('cells_read', 0))} cells"))
    for bits, n in sorted(b["adc_conversions"].items(), key=lambda kv: int(kv[0])):
        items.append(Item("conversion", f"ADC conversions, {bits} bit", int(n), "conversion", p.e_adc(int(bits)), src))
    for bits, n in sorted(b["dac_conversions"].items(), key=lambda kv: int(kv[0])):
        items.append(Item("conversion", f"DAC conversions, {bits} bit", int(n), "conversion", p.e_dac(int(bits)), src))
    items.append(Item("compute", "digital partial-sum accumulations", int(b["digital_accumulations"]), "add",
                      p.e_accumulate, src))
    reads = _total(_need(led, "state_reads", p.name, "hardware"))
    items.append(Item("compute", "digital neuron updates (per state variable)", reads, "state op", p.e_neuron_op, src))
    notes.append("memory: weights are stationary in the array (no weight fetch); static power not modelled")


def estimate(recording_or_ledger, target="horowitz45", mode: str = "ops") -> Estimate:
    """The energy of a run on ``target`` (a preset name or a Preset) in ``mode`` (see module)."""
    led = _ledger(recording_or_ledger)
    p: Preset = get_preset(target)
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {MODES}")
    if mode not in p.modes:
        raise ValueError(f"target {p.name!r} has no {mode!r} mode: it prices {list(p.modes)}")
    items, notes = [], []
    src = p.citation
    if mode == "hardware":
        if isinstance(p, SpiNNakerPreset):
            _spinnaker_hardware(p, led, items, notes)
        elif isinstance(p, CrossbarPreset):
            _crossbar_hardware(p, led, items, notes)
        else:
            raise ValueError(f"target {p.name!r}: no hardware model")
    else:
        _synaptic(p, led, mode, items, src)
        if mode == "memory":
            if isinstance(p, OpsPreset):
                _ops_memory(p, led, items, notes, src)
            elif isinstance(p, DigitalPreset):
                _digital_memory(p, led, items, notes, src)
            elif isinstance(p, SpiNNakerPreset):
                _spinnaker_memory(p, led, items, notes, src)
    inferences = int(led.inferences) if led.inferences else 1
    return Estimate(target=p.name, mode=mode, citation=src, assumptions=tuple(p.assumptions), items=tuple(items),
                    inferences=inferences, notes=tuple(notes))
