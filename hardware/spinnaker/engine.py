"""The SpiNNaker backend's engine: a mapped network run tick by tick in sPyNNaker's fixed point.

:class:`SpiNNakerEngine` reads the same :class:`~spiking.network.Network` and neuron declarations
as :class:`~spiking.engines.EventEngine` and returns the same :class:`~spiking.recording.Recording`
(spikes, recorded state, the activity ledger with the same fields), plus its own counts in
``recording.ledger.backend["spinnaker"]`` (keys: :data:`BACKEND_KEYS`, the contract of the energy
model). The float engine and this one differ only in number format and rounding, documented per
operation in ``kernel.py`` and ``fixedpoint.py``; the EventEngine's flattening (sources, initial
state, recording layout, plastic-synapse bookkeeping) is reused as is.

What is not modelled bit for bit (docs/spinnaker.md): ``R = tau_m / c_m``, ``exp(-dt / tau_m)``
and the synaptic ``decay`` / ``init`` multipliers are the exactly rounded values, where sPyNNaker 7
computes them on the chip (``kdivk``, ``expk``, ``expulr`` in ``neuron_model_initialise`` and
``decay_and_init``); packets lost in an overloaded core are counted but still delivered.
"""
from __future__ import annotations

import math

import numpy as np

from spiking.engines.event import EventEngine, _progress
from spiking.models.neurons import KIND_EXP_NEST, KIND_EXP_SPINNAKER, KIND_SOURCE
from spiking.plasticity import PairSTDP

from . import fixedpoint as fx
from . import kernel as K
from .budget import CycleModel
from .mapping import MAX_SUPPORTED_DELAY_TICS, MAX_TIMER_TICS_SUPPORTED_PER_BLOCK, PLASTIC_ROW_EXTRA_WORDS, \
    SYNAPTIC_ROW_HEADER_WORDS
from .pipeline import Mapping, map_network
from .synapses import RECEPTOR_INDEX

BACKEND = "spinnaker"
BACKEND_KEYS = ("machine", "chips", "cores", "ticks", "tick_ms", "time_scale_factor", "run_time_s",
                "active_core_seconds", "packets", "packets_72bit", "router_traversals", "synaptic_events",
                "neuron_updates", "sdram_rows_fetched", "sdram_bytes_fetched", "timer_tick_overruns",
                "max_overrun_cycles", "synaptic_weight_saturations", "input_buffer_packets_lost")

_CHUNK_TICKS = 2000


def fixed_table(net, pops, shifts) -> np.ndarray:
    """The per-population fixed-point parameter table of the kernel (``kernel.F_*`` columns)."""
    dt = net.dt
    t = np.zeros((len(pops), K.N_F), dtype=np.int64)
    for k, p in enumerate(pops):
        if p.is_source:
            t[k, K.F_KIND] = KIND_SOURCE
            continue
        m = p.model
        c = m.propagators(dt)
        kind = m.kind
        t[k, K.F_KIND] = kind
        t[k, K.F_VREST] = fx.to_s1615(m.v_rest)
        t[k, K.F_VRESET] = fx.to_s1615(m.v_reset)
        t[k, K.F_VTH] = fx.to_s1615(m.v_th)
        t[k, K.F_TREF] = int(c["ref_steps"])
        t[k, K.F_SOFT] = 1 if m.reset == "soft" else 0
        t[k, K.F_SHIFT_E], t[k, K.F_SHIFT_I] = shifts[p.name]
        t[k, K.F_IOFF] = fx.to_s1615(m.i_offset)
        t[k, K.F_P22], t[k, K.F_P22_U] = fx.coef_bits(c["p22"])
        t[k, K.F_DRIVE] = fx.to_s1615(c["drive"])
        if kind == KIND_EXP_SPINNAKER:
            t[k, K.F_R] = fx.to_s1615(m.r_m)
            t[k, K.F_EXPTC] = fx.to_s1615(c["p22"])
            t[k, K.F_INIT_E] = fx.to_u032(c["in_scale_e"])
            t[k, K.F_INIT_I] = fx.to_u032(c["in_scale_i"])
        if kind in (KIND_EXP_SPINNAKER, KIND_EXP_NEST):
            t[k, K.F_DECAY_E] = fx.to_u032(c["p11e"])
            t[k, K.F_DECAY_I] = fx.to_u032(c["p11i"])
            t[k, K.F_P21E], t[k, K.F_P21E_U] = fx.coef_bits(c["p21e"])
            t[k, K.F_P21I], t[k, K.F_P21I_U] = fx.coef_bits(c["p21i"])
    return t


def _check_rule(proj):
    r = proj.plasticity
    if not isinstance(r, PairSTDP):
        raise TypeError(f"projection {proj.name!r} plasticity {type(r).__name__}: the SpiNNaker backend runs PairSTDP")
    if r.update != "deferred":
        raise ValueError(f"projection {proj.name!r} PairSTDP update={r.update!r}: SpiNNaker applies STDP when a "
                         "presynaptic spike is processed; expected update='deferred' (PairSTDP.spinnaker())")
    if r.clip != "each":
        raise ValueError(f"projection {proj.name!r} PairSTDP clip={r.clip!r}: the backend models sPyNNaker 7's "
                         "additive rule, which bounds after each update; expected clip='each'")


class SpiNNakerEngine:
    """A network mapped onto a SpiNNaker machine and run in fixed point.

    ``target``: "spinnaker1" or "spinnaker2" (or pass ``mapping``, from :func:`map_network`);
    ``time_scale_factor``: the board runs each tick that many times slower than real time;
    ``cycle_model``: the per-tick cycle constants (:mod:`~spiking.hardware.spinnaker.budget`).
    """

    def __init__(self, net, target: str = "spinnaker1", mapping: Mapping | None = None,
                 time_scale_factor: float = 1.0, neurons_per_core: int | None = None,
                 per_population: dict | None = None, cycle_model: CycleModel | None = None):
        self.net = net
        self.mapping = mapping if mapping is not None else map_network(
            net, target, neurons_per_core=neurons_per_core, per_population=per_population,
            time_scale_factor=time_scale_factor)
        self.spec = self.mapping.machine.spec
        self.time_scale_factor = float(self.mapping.time_scale_factor)
        self.cycles = cycle_model or CycleModel()
        self.flat = EventEngine(net)           # sources, initial state, recording layout, ledger
        if getattr(self.flat, "_astro", False):
            raise ValueError("the network has astrocytes, SIC or Tsodyks synapses: the SpiNNaker backend runs "
                             "CubaLIF/LIF populations with static and pair-STDP projections only")
        for proj in net.projections:
            if proj.plasticity is not None:
                _check_rule(proj)
        self._build()

    # -- flattening ----------------------------------------------------------------------------
    def _build(self):
        net, eng, mp = self.net, self.flat, self.mapping
        n = eng.n_total
        self.fx = fixed_table(net, eng.pops, mp.shifts)
        shift_of = {name: s for name, s in mp.shifts.items()}
        pre, off, w16, dmax = [], [], [], 1
        self.w16 = {}
        for proj in net.projections:
            shift = shift_of[proj.post][RECEPTOR_INDEX[proj.receptor]]
            w = fx.encode_weights(proj.weight, shift, proj.name)
            self.w16[proj.name] = w
            if proj.size:
                dmax = max(dmax, int(proj.delay.max()))
            if proj.plasticity is not None:
                continue
            keep = w > 0
            gpre = proj.pre_idx[keep].astype(np.int64) + eng.offset[proj.pre]
            gpost = proj.post_idx[keep].astype(np.int64) + eng.offset[proj.post]
            rec = RECEPTOR_INDEX[proj.receptor]
            pre.append(gpre)
            off.append((proj.delay[keep].astype(np.int64) * 2 + rec) * n + gpost)
            w16.append(w[keep])
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
        pre, off, w16 = cat(pre), cat(off), cat(w16)
        order = np.argsort(pre, kind="stable")
        self.syn_off, self.syn_w16 = off[order], w16[order]
        self.syn_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre, minlength=n), out=self.syn_ptr[1:])
        self.n_slots = dmax + 1
        self._build_plastic()
        self._build_cores()

    def _build_plastic(self):
        net, eng = self.net, self.flat
        self.plastic = any(p.plasticity is not None for p in net.projections)
        if not self.plastic:
            z = np.zeros(0, np.int64)
            n = eng.n_total
            self.ps = None
            self.seg_ptr = np.zeros(n + 1, np.int64)
            self.post_ptr = np.zeros(n + 1, np.int64)
            self.seg_proj = self.seg_syn_ptr = self.ps_off = self.ps_w0 = self.ps_q = self.ps_shift = z
            self.post_q = self.q_proj = z
            self.n_seg = self.n_q = 0
            self.rule = np.zeros((1, K.N_P), np.int64)
            self.luts = np.zeros(1, np.int64)
            return
        from spiking.engines.plastic import PlasticSynapses
        ps = PlasticSynapses(eng)
        self.ps = ps
        dt = net.dt
        rules, luts = [], []
        base = 0
        w0 = np.zeros(ps.ps_pre.size, dtype=np.int64)
        for p, k in enumerate(ps.proj_ids):
            proj = net.projections[k]
            r = proj.plasticity
            shift = self.mapping.shifts[proj.post][RECEPTOR_INDEX[proj.receptor]]
            lp, lm = fx.exp_lut(dt, r.tau_plus), fx.exp_lut(dt, r.tau_minus)
            row = np.zeros(K.N_P, np.int64)
            row[K.P_SHIFT] = shift
            row[K.P_A2P], row[K.P_A2M] = fx.to_s1615(r.a_plus), fx.to_s1615(r.a_minus)
            row[K.P_WMIN], row[K.P_WMAX] = fx.to_s1615(r.w_min), fx.to_s1615(r.w_max)
            row[K.P_LUTP0], row[K.P_LUTPN] = base, lp.size
            row[K.P_LUTM0], row[K.P_LUTMN] = base + lp.size, lm.size
            base += lp.size + lm.size
            luts += [lp, lm]
            row[K.P_NEAREST] = r.traces == "nearest"
            row[K.P_ZERO_LAG] = r.zero_lag_depression
            row[K.P_HIST] = r.post_history
            rules.append(row)
            sel = ps.ps_proj == p
            w0[sel] = self.w16[proj.name][ps.ps_local[sel]]
        self.rule = np.asarray(rules)
        self.luts = np.concatenate(luts)
        self.ps_off, self.ps_w0, self.ps_q, self.ps_shift = ps.ps_off, w0, ps.ps_q, ps.ps_shift
        self.seg_ptr, self.seg_proj, self.seg_syn_ptr = ps.seg_ptr, ps.seg_proj, ps.seg_syn_ptr
        self.post_ptr, self.post_q, self.q_proj = ps.post_ptr, ps.post_q, ps.q_proj
        self.n_seg, self.n_q = ps.n_seg, ps.n_q

    def _build_cores(self):
        """Per source unit: the cores its spike reaches, with the synapses and rows (and row
        bytes) each spike costs there; per unit the packets and router traversals of a spike."""
        net, eng, mp = self.net, self.flat, self.mapping
        n = eng.n_total
        n_sl = len(mp.slices)
        starts = {}
        for sid, s in enumerate(mp.slices):
            starts.setdefault((s.population, s.kind), []).append((s.lo, sid))
        slice_arr = {k: (np.array([a for a, _ in v]), np.array([b for _, b in v])) for k, v in starts.items()}

        def slice_ids(pop, kind, idx):
            lo, ids = slice_arr[(pop, kind)]
            return ids[np.searchsorted(lo, idx, side="right") - 1]

        e = mp.edges
        ekey = (e.pairs[:, 0] * (n_sl + 1) + e.pairs[:, 1]) * (n_sl + 1) + e.pairs[:, 2]
        eorder = np.argsort(ekey)
        ekey_sorted, erow = ekey[eorder], e.max_row[eorder]
        units, cores, syn, rows, nbytes = [], [], [], [], []
        stage_units, stage_counts = [], []
        for k, proj in enumerate(net.projections):
            if proj.size == 0:
                continue
            pre_kind = "source" if net.populations[proj.pre].is_source else "neurons"
            far = proj.delay > MAX_SUPPORTED_DELAY_TICS
            src = np.where(far, slice_ids(proj.pre, "delay", proj.pre_idx) if far.any() else 0,
                           slice_ids(proj.pre, pre_kind, proj.pre_idx))
            dst = slice_ids(proj.post, "neurons", proj.post_idx)
            g = proj.pre_idx.astype(np.int64) + eng.offset[proj.pre]
            stage = np.where(far, (proj.delay.astype(np.int64) - 1) // MAX_TIMER_TICS_SUPPORTED_PER_BLOCK, 0)
            # one row per (unit, core, stage); synapses per (unit, core)
            rk = (g * (n_sl + 1) + dst) * 16 + stage
            ur, first = np.unique(rk, return_index=True)
            ug = ur // 16 // (n_sl + 1)
            uc = (ur // 16) % (n_sl + 1)
            mk = (k * (n_sl + 1) + src[first]) * (n_sl + 1) + dst[first]
            mrow = erow[np.searchsorted(ekey_sorted, mk)]
            extra = PLASTIC_ROW_EXTRA_WORDS if proj.plasticity is not None else 0
            units.append(ug)
            cores.append(uc)
            rows.append(np.ones(ug.size, np.int64))
            nbytes.append((SYNAPTIC_ROW_HEADER_WORDS + extra + mrow) * 4)
            ck = g * (n_sl + 1) + dst
            uk, cnt = np.unique(ck, return_counts=True)
            units.append(uk // (n_sl + 1))
            cores.append(uk % (n_sl + 1))
            syn.append(cnt)
            if far.any():
                sk = np.unique(g[far] * 16 + stage[far])
                stage_units.append(sk // 16)
        # combine: rows/bytes entries and synapse entries share (unit, core) keys
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
        u_r, c_r = cat(units[0::2]), cat(cores[0::2])
        u_s, c_s = cat(units[1::2]), cat(cores[1::2])
        key_r = u_r * (n_sl + 1) + c_r
        key_s = u_s * (n_sl + 1) + c_s
        allk = np.unique(np.concatenate([key_r, key_s]))
        a_rows = np.zeros(allk.size, np.int64)
        a_bytes = np.zeros(allk.size, np.int64)
        a_syn = np.zeros(allk.size, np.int64)
        np.add.at(a_rows, np.searchsorted(allk, key_r), cat(rows))
        np.add.at(a_bytes, np.searchsorted(allk, key_r), cat(nbytes))
        np.add.at(a_syn, np.searchsorted(allk, key_s), cat(syn))
        au = allk // (n_sl + 1)
        self.unit_core = (allk % (n_sl + 1)).astype(np.int64)
        self.unit_core_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(au, minlength=n), out=self.unit_core_ptr[1:])
        self.unit_core_syn, self.unit_core_rows, self.unit_core_bytes = a_syn, a_rows, a_bytes
        self.core_neurons = np.array([s.n if s.kind == "neurons" else 0 for s in mp.slices], np.int64)
        # packets and router visits per spike: the unit's slice tree, plus one packet per delay stage
        pk = np.zeros(n, np.int64)
        trav = np.zeros(n, np.int64)
        for pop in net.populations.values():
            kind = "source" if pop.is_source else "neurons"
            idx = np.arange(pop.size)
            sids = slice_ids(pop.name, kind, idx)
            g = idx + eng.offset[pop.name]
            for sid in np.unique(sids):
                t = mp.trees.get(int(sid))
                if t is not None:
                    sel = g[sids == sid]
                    pk[sel] += 1
                    trav[sel] += len(t.chips)
        su = cat(stage_units)
        if su.size:
            for u in su:
                pop = next(p for p in eng.pops if eng.offset[p.name] <= u < eng.offset[p.name] + p.size)
                sid = int(slice_ids(pop.name, "delay", np.array([u - eng.offset[pop.name]]))[0])
                t = mp.trees.get(sid)
                pk[u] += 1
                trav[u] += len(t.chips) if t is not None else 1
        self.packets_per_spike, self.traversals_per_spike = pk, trav

    # -- running -------------------------------------------------------------------------------
    def run(self, duration: float, *, rng=None, record=None, record_ids=None, progress=None):
        """Simulate ``duration`` ms (ticks of the network's dt); same arguments as EventEngine.run."""
        duration = float(duration)
        if not math.isfinite(duration) or duration <= 0:
            raise ValueError(f"duration={duration}: expected a positive number of ms")
        eng, dt = self.flat, self.net.dt
        n = eng.n_total
        n_steps, src_i, src_ptr = eng._source_schedule(duration, rng)
        v0, ie0, ii0 = eng._initial_state()
        v = fx.to_s1615(v0).astype(np.int64)
        ie = fx.to_s1615(ie0).astype(np.int64)
        ii = fx.to_s1615(ii0).astype(np.int64)
        ref_end = np.full(n, -1, np.int64)          # last refractory tick (none yet)
        ring = np.zeros(self.n_slots * 2 * n, np.int64)
        rec_gids, layout = eng._record_ids(record, record_ids)
        rows = n_steps if rec_gids.size else 0
        rec_v = np.zeros((rows, rec_gids.size))
        rec_ie = np.zeros((rows, rec_gids.size))
        rec_ii = np.zeros((rows, rec_gids.size))
        spike_count = np.zeros(n, np.int64)
        cap = max(1 << 16, 2 * (n + src_i.size))
        out_step = np.empty(cap, np.int64)
        out_id = np.empty(cap, np.int64)
        n_out = np.zeros(1, np.int64)
        scratch = np.empty(n + max(1, int(np.diff(src_ptr).max(initial=0))), np.int64)
        ps_w = self.ps_w0.copy()
        seg_last_t = np.full(self.n_seg, K.NEVER, np.int64)
        seg_last_x = np.zeros(self.n_seg, np.int64)
        q_last = np.full(self.n_q, -1, np.int64)
        ev_cap = max(1 << 12, 4 * self.n_q)
        ev_t = np.empty(ev_cap, np.int64)
        ev_y = np.empty(ev_cap, np.int64)
        ev_prev = np.empty(ev_cap, np.int64)
        n_ev = np.zeros(1, np.int64)
        win = np.empty(ev_cap, np.int64)
        n_cores = len(self.mapping.slices)
        tick_syn = np.zeros(n_cores, np.int64)
        tick_rows = np.zeros(n_cores, np.int64)
        tick_pk = np.zeros(n_cores, np.int64)
        core_max = np.zeros(n_cores, np.int64)
        prov = np.zeros(6, np.int64)
        sat = np.zeros(1, np.int64)
        cm = self.cycles
        budget = cm.budget(self.spec.clock_hz, dt, self.time_scale_factor)
        show = progress or (progress is None and n_steps * max(n, 1) > 200_000_000)
        bar = _progress(n_steps, "simulating (SpiNNaker fixed point)", unit="tick") if show else None
        step = 0
        while step < n_steps:
            stop = min(n_steps, step + (_CHUNK_TICKS if bar is not None else n_steps))
            reached = K.fixed_run(
                step, stop, eng.pop_start, eng.pop_stop, self.fx, v, ie, ii, ref_end, ring, self.n_slots,
                self.syn_ptr, self.syn_off, self.syn_w16,
                self.seg_ptr, self.seg_proj, self.seg_syn_ptr, seg_last_t, seg_last_x,
                self.ps_off, ps_w, self.ps_q, self.ps_shift, self.post_ptr, self.post_q, self.q_proj, q_last,
                ev_t, ev_y, ev_prev, n_ev, self.rule, self.luts, win,
                src_ptr, src_i, spike_count, out_step, out_id, n_out,
                self.unit_core_ptr, self.unit_core, self.unit_core_syn, self.unit_core_rows, self.unit_core_bytes,
                self.core_neurons, cm.c_neuron, cm.c_syn, cm.c_dma, cm.c_fixed, budget,
                tick_syn, tick_rows, tick_pk, prov, core_max,
                rec_gids, rec_v, rec_ie, rec_ii, sat, scratch)
            if reached < stop:
                if n_out[0] + n + (src_ptr[reached + 1] - src_ptr[reached]) > out_step.size:
                    out_step = np.concatenate([out_step, np.empty_like(out_step)])
                    out_id = np.concatenate([out_id, np.empty_like(out_id)])
                if n_ev[0] + self.n_q > ev_t.size:
                    ev_t = np.concatenate([ev_t, np.empty_like(ev_t)])
                    ev_y = np.concatenate([ev_y, np.empty_like(ev_y)])
                    ev_prev = np.concatenate([ev_prev, np.empty_like(ev_prev)])
                    win = np.empty(ev_t.size, np.int64)
            if bar is not None:
                bar.update(reached - step)
            step = reached
        if bar is not None:
            bar.close()
        rec = eng._finish_clock(duration, n_steps, out_step, out_id, n_out, spike_count,
                                {"v": rec_v, "i_e": rec_ie, "i_i": rec_ii}, layout)
        # plastic and zero-weight synapses: every synapse carries every presynaptic spike
        for proj in self.net.projections:
            if proj.plasticity is not None:
                g = proj.pre_idx.astype(np.int64) + eng.offset[proj.pre]
                rec.ledger.synaptic_events[proj.name] = int(spike_count[g].sum())
                if isinstance(getattr(rec.ledger, "ac_ops", None), dict):   # as the float plastic kernel
                    rec.ledger.ac_ops[proj.name] = rec.ledger.synaptic_events[proj.name]
        if self.plastic:
            rec.final_weights = self._final_weights(ps_w)
        rec.ledger.backend[BACKEND] = self._counts(rec, n_steps, spike_count, prov, sat, budget, core_max)
        rec.mapping = self.mapping
        return rec

    def _final_weights(self, ps_w) -> dict:
        """{projection: weights (weight units) in the projection's synapse order}: the 16-bit
        weights divided by their scale."""
        ps, out = self.ps, {}
        for p, k in enumerate(ps.proj_ids):
            proj = self.net.projections[k]
            sel = ps.ps_proj == p
            w = np.empty(proj.size)
            shift = self.mapping.shifts[proj.post][RECEPTOR_INDEX[proj.receptor]]
            w[ps.ps_local[sel]] = ps_w[sel] / fx.weight_scale(shift)
            out[proj.name] = w
        return out

    def _counts(self, rec, n_steps, spike_count, prov, sat, budget, core_max) -> dict:
        mp, dt = self.mapping, self.net.dt
        run_time_s = n_steps * dt / 1000.0 * self.time_scale_factor
        re = mp.router_entries()
        return {
            "machine": self.spec.name,
            "chips": len(mp.chips_used),
            "cores": mp.n_cores,
            "ticks": int(n_steps),
            "tick_ms": float(dt),
            "time_scale_factor": self.time_scale_factor,
            "run_time_s": run_time_s,
            "active_core_seconds": mp.n_cores * run_time_s,
            "packets": int(spike_count @ self.packets_per_spike),
            "packets_72bit": 0,
            "router_traversals": int(spike_count @ self.traversals_per_spike),
            "synaptic_events": int(prov[3]),
            "neuron_updates": int(self.core_neurons.sum() * n_steps),
            "sdram_rows_fetched": int(prov[4]),
            "sdram_bytes_fetched": int(prov[5]),
            "timer_tick_overruns": int(prov[0]),
            "max_overrun_cycles": int(prov[1]),
            "synaptic_weight_saturations": int(sat[0]),
            "input_buffer_packets_lost": int(prov[2]),
            # beyond the contract
            "budget_cycles_per_tick": int(budget),
            "max_cycles_per_tick": int(core_max.max()) if core_max.size else 0,
            "max_tick_load": float(core_max.max() / budget) if core_max.size and budget else 0.0,
            "router_entries_max_uncompressed": max((a for a, _ in re.values()), default=0),
            "router_entries_max_compressed": max((b for _, b in re.values()), default=0),
            "max_cycles_per_core": {f"{x},{y},{p}": int(c) for (x, y, p), c in zip(mp.placements, core_max)},
            "cycle_model": {"c_neuron": self.cycles.c_neuron, "c_syn": self.cycles.c_syn,
                            "c_dma": self.cycles.c_dma, "c_fixed": self.cycles.c_fixed},
        }


def simulate(net, duration: float, target: str = "spinnaker1", *, rng=None, record=None, record_ids=None,
             time_scale_factor: float = 1.0, neurons_per_core: int | None = None, progress=None):
    """Map ``net`` onto ``target`` and run it in fixed point (see :class:`SpiNNakerEngine`)."""
    eng = SpiNNakerEngine(net, target, time_scale_factor=time_scale_factor, neurons_per_core=neurons_per_core)
    return eng.run(duration, rng=rng, record=record, record_ids=record_ids, progress=progress)
