"""Clock-mode kernel for networks with plastic projections (pair STDP, ``spiking.plasticity``).

``EventEngine.run`` hands over to :func:`run_clock_plastic` when any projection has a
``plasticity`` rule. The neuron update and the delivery of static synapses are the shared pieces
of ``kernels`` (``update_neurons``, ``deliver``); this module adds the plastic synapses' own
bookkeeping:

* plastic synapses in CSR by presynaptic unit, grouped in *segments*: one segment per
  (plastic projection, presynaptic unit), which holds that unit's presynaptic trace and last
  spike step for that projection's rule;
* one *post slot* per (plastic projection, postsynaptic neuron), with a chained log of that
  neuron's spikes (step and postsynaptic trace after the spike), so that a presynaptic spike can
  find the postsynaptic spikes of its window (deferred scheme) and the trace for depression;
* per post slot the list of its incoming plastic synapses, for the online scheme's potentiation
  when a postsynaptic spike reaches the synapse.

Order within step ``n`` (sPyNNaker's: the neuron update records the postsynaptic events before
the spikes of the step are processed):

1. every neuron updates (reading ring slot ``n``) and the spiking ones are listed;
2. their postsynaptic events are logged;
3. online rules: each postsynaptic spike of step ``n - D`` potentiates the synapses with that
   shift ``D`` (the synapse delay, or 0 without ``backprop_delay``);
4. every spike of step ``n`` is delivered: static synapses as in ``kernels.clock_run``; plastic
   synapses are first updated (deferred rules: the window's potentiations; all rules: the
   depression) and then transmit their new weight into ring slot ``n + delay``; finally the
   presynaptic traces take the spike.

On several threads (``EventEngine(net, threads=N)``, N > 1: :func:`plastic_clock_run_par`) the
units are split into the contiguous target ranges of ``_threads.py`` (``split_ranges``), and each
step is one parallel region in which thread ``t``, for its range alone,

a. (online rules) applies the potentiation of the previous step ``n - 1`` to the plastic synapses
   whose target lies in its range (step 3 above),
b. delivers the spikes of step ``n - 1``, spike by spike in recorded order: its share of the static
   synapses (``_threads._deliver_range``), then its share of each plastic segment, whose synapses
   it updates (``_update_synapse``: window potentiation, depression) and whose new weights it adds
   to its range of the ring buffer (step 4), and then
c. updates its neurons for step ``n`` with the threshold test (``_threads._update_range``) and
   clears the slot it read in its range (step 1).

Then, on one thread: the per-range spike lists joined in range order (= index order) followed by
the step's source spikes; the postsynaptic events logged (step 2); each spiking unit's presynaptic
traces advanced (the end of step 4; the values before the spike are kept for (a) and (b)); the
state recorded; and, after the region that delivered a step, the weight record of that step.
So the neuron update, the threshold test, all deliveries and all synapse weight updates run in
parallel; the event log, the presynaptic traces and the spike list run on one thread (their cost
is per spike and per plastic projection, not per synapse).

Why the result is bit for bit that of :func:`plastic_clock_run`: no two threads write the same
memory (a synapse's weight is written only by the thread owning its target; the online rule's
per-step trace cache is one row per range); every synapse update reads the same inputs (its own
weight, the post log of its target, its segment's trace before the spike) in the same order (online
potentiation of step n before the depression of step n); and every ring-buffer entry receives its
additions in the same order: spike by spike, static before plastic, and within a segment in the
synapses' order, kept by sorting each segment's synapses by target with a stable sort (a
permutation the weights are mapped back through). The split is NEST's: a plastic synapse lives
and is updated on the thread of its target neuron, which keeps that neuron's spike history
(Morrison, Aertsen & Diesmann 2007, "Spike-timing-dependent plasticity in balanced random
networks", Neural Comput. 19:1437).

After a run the plastic weights are in ``EventEngine.final_weights`` and
``Recording.final_weights`` (``{projection name: weights in the projection's synapse order}``);
the network description itself is not changed, so the next run starts again from its weights.
"""
from __future__ import annotations

import numpy as np

from ..recording import Recording
from ..plasticity import PairSTDP
from ._plastic_kernels import NEVER, N_RULE, R_ONLINE, _rule_row, plastic_clock_run
from ._plastic_threads import PlasticThreadPlan, plastic_clock_run_par, plastic_thread_plan
from ._threads import plan_threads, thread_pool
from .kernels import new_refractory


# ---------------------------------------------------------------------------------------------
# Python side
__all__ = ["NEVER", "N_RULE", "PlasticSynapses", "PlasticThreadPlan", "plastic_clock_run", "plastic_clock_run_par",
           "plastic_thread_plan", "run_clock_plastic"]


class PlasticSynapses:
    """The plastic projections of an engine's network, flattened for the kernel (built once)."""

    def __init__(self, engine):
        net = engine.net
        n_total = engine.n_total
        plastic = [k for k, p in enumerate(net.projections) if p.plasticity is not None]
        self.proj_ids = plastic
        for k in plastic:
            proj = net.projections[k]
            if not isinstance(proj.plasticity, PairSTDP):
                raise TypeError(f"projection {proj.name!r} plasticity {type(proj.plasticity).__name__}: "
                                "the event engine runs PairSTDP rules")
            proj.plasticity.check_weights(proj.weight, proj.name)
        self.rule = np.zeros((max(1, len(plastic)), N_RULE))
        for p, k in enumerate(plastic):
            self.rule[p] = _rule_row(net.projections[k].plasticity)
        # static synapses: the engine's CSR without the plastic projections
        is_plastic = np.zeros(len(net.projections) + 1, dtype=bool)
        is_plastic[plastic] = True
        keep = ~is_plastic[engine.syn_proj]
        pre = engine.syn_pre[keep]
        self.syn_off = engine.syn_off[keep]
        self.syn_w = engine.syn_w[keep]
        self.syn_ptr = np.zeros(n_total + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre, minlength=n_total), out=self.syn_ptr[1:])
        static_max_delay = int(engine.syn_delay[keep].max()) if keep.any() else 1
        # post slots: one per (plastic projection, post neuron)
        q_base, q_proj, q_gid = [], [], []
        n_q = 0
        for p, k in enumerate(plastic):
            proj = net.projections[k]
            size = net.populations[proj.post].size
            q_base.append(n_q)
            q_proj.append(np.full(size, p, dtype=np.int64))
            q_gid.append(np.arange(size, dtype=np.int64) + engine.offset[proj.post])
            n_q += size
        self.n_q = n_q
        self.q_proj = np.concatenate(q_proj) if q_proj else np.zeros(0, np.int64)
        q_gid = np.concatenate(q_gid) if q_gid else np.zeros(0, np.int64)
        order = np.argsort(q_gid, kind="stable")
        self.post_q = order.astype(np.int64)
        self.post_ptr = np.zeros(n_total + 1, dtype=np.int64)
        np.cumsum(np.bincount(q_gid, minlength=n_total), out=self.post_ptr[1:])
        # plastic synapses, sorted by (pre unit, projection) = by segment
        pre, proj_of, q, off, shift, w, delay, local = [], [], [], [], [], [], [], []
        for p, k in enumerate(plastic):
            proj = net.projections[k]
            gpre = proj.pre_idx.astype(np.int64) + engine.offset[proj.pre]
            gpost = proj.post_idx.astype(np.int64) + engine.offset[proj.post]
            d = proj.delay.astype(np.int64)
            rec = 0 if proj.receptor == "excitatory" else 1
            pre.append(gpre)
            proj_of.append(np.full(proj.size, p, dtype=np.int64))
            q.append(proj.post_idx.astype(np.int64) + q_base[p])
            off.append((d * 2 + rec) * n_total + gpost)
            shift.append(d if proj.plasticity.backprop_delay else np.zeros_like(d))
            w.append(proj.weight.astype(np.float64))
            delay.append(d)
            local.append(np.arange(proj.size, dtype=np.int64))
        cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
        pre, proj_of, q = cat(pre, np.int64), cat(proj_of, np.int64), cat(q, np.int64)
        off, shift, w0 = cat(off, np.int64), cat(shift, np.int64), cat(w, np.float64)
        delay, local = cat(delay, np.int64), cat(local, np.int64)
        order = np.lexsort((proj_of, pre))
        self.ps_pre, self.ps_proj, self.ps_q = pre[order], proj_of[order], q[order]
        self.ps_off, self.ps_shift, self.w0 = off[order], shift[order], w0[order]
        self.ps_local = local[order]
        self.max_delay = max(static_max_delay, int(delay.max()) if delay.size else 1)
        self.max_shift = int(shift.max()) if shift.size else 0
        # segments: runs of equal (pre, proj)
        n_ps = self.ps_pre.size
        if n_ps:
            new = np.ones(n_ps, dtype=bool)
            new[1:] = (self.ps_pre[1:] != self.ps_pre[:-1]) | (self.ps_proj[1:] != self.ps_proj[:-1])
            starts = np.flatnonzero(new)
        else:
            starts = np.zeros(0, np.int64)
        self.n_seg = starts.size
        self.seg_syn_ptr = np.append(starts, n_ps).astype(np.int64)
        self.seg_proj = self.ps_proj[starts].astype(np.int64)
        seg_pre = self.ps_pre[starts]
        self.seg_ptr = np.zeros(n_total + 1, dtype=np.int64)
        np.cumsum(np.bincount(seg_pre, minlength=n_total), out=self.seg_ptr[1:])
        self.ps_seg = np.repeat(np.arange(self.n_seg, dtype=np.int64), np.diff(self.seg_syn_ptr))
        # incoming plastic synapses per post slot, by shift (online potentiation)
        by_q = np.lexsort((self.ps_shift, self.ps_q))
        self.in_syn = by_q.astype(np.int64)
        self.in_ptr = np.zeros(n_q + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.ps_q, minlength=n_q), out=self.in_ptr[1:])
        self.any_online = bool(self.rule[:len(plastic), R_ONLINE].any()) if plastic else False
        self.projections = list(net.projections)

    def weights_by_projection(self, ps_w) -> dict:
        """{projection name: weights in the projection's own synapse order}."""
        out = {}
        for p, k in enumerate(self.proj_ids):
            proj = self.projections[k]
            sel = self.ps_proj == p
            w = np.empty(proj.size)
            w[self.ps_local[sel]] = ps_w[sel]
            out[proj.name] = w
        return out


def _plastic(engine) -> PlasticSynapses:
    ps = getattr(engine, "_plastic_synapses", None)
    if ps is None:
        ps = PlasticSynapses(engine)
        engine._plastic_synapses = ps
    return ps


def run_clock_plastic(engine, duration, rng=None, record=None, record_ids=None, progress=None,
                      record_weights_every: float | None = None) -> Recording:
    """Clock-mode run of an engine whose network has plastic projections (see the module
    docstring). ``record_weights_every`` (ms): also record every plastic weight at that interval
    (``Recording.weights``: {projection: array [samples, synapses]}, ``Recording.weight_times``).
    """
    from ._progress import CHUNK_WORK as _CHUNK_WORK, PROGRESS_WORK as _PROGRESS_WORK, progress_bar as _progress

    ps = _plastic(engine)
    dt = engine.dt
    n_total = engine.n_total
    n_steps, src_i, src_ptr = engine._source_schedule(duration, rng)
    v, ie, ii = engine._initial_state()
    ref_end = new_refractory(n_total, n_steps, engine.coef)
    buf = np.zeros((ps.max_delay + 1, 2, n_total))
    rec_gids, layout = engine._record_ids(record, record_ids)
    n_rec = rec_gids.size
    rows = n_steps if n_rec else 0
    rec_v = np.zeros((rows, n_rec))
    rec_ie = np.zeros((rows, n_rec))
    rec_ii = np.zeros((rows, n_rec))
    spike_count = np.zeros(n_total, dtype=np.int64)
    cap = max(1 << 16, 2 * (n_total + src_i.size))
    out_step = np.empty(cap, dtype=np.int64)
    out_id = np.empty(cap, dtype=np.int64)
    n_out = np.zeros(1, dtype=np.int64)
    scratch = np.empty(n_total + max(1, int(np.diff(src_ptr).max(initial=0))), dtype=np.int64)
    # plastic state
    ps_w = ps.w0.copy()
    seg_last_t = np.full(ps.n_seg, NEVER, dtype=np.int64)
    seg_last_x = np.zeros(ps.n_seg)
    seg_x_step = np.full(ps.n_seg, -1, dtype=np.int64)    # online: step of the cached trace value
    seg_x_now = np.zeros(ps.n_seg)
    q_last = np.full(ps.n_q, -1, dtype=np.int64)
    ev_cap = max(1 << 12, 4 * ps.n_q)
    ev_t = np.empty(ev_cap, dtype=np.int64)
    ev_y = np.empty(ev_cap)
    ev_prev = np.empty(ev_cap, dtype=np.int64)
    n_ev = np.zeros(1, dtype=np.int64)
    n_ring = ps.max_shift + 1
    ring_step = np.full(n_ring, -1, dtype=np.int64)
    ring_lo = np.zeros(n_ring, dtype=np.int64)
    ring_hi = np.zeros(n_ring, dtype=np.int64)
    # the post slot of every event is needed by online potentiation: kept beside the log
    ev_q = np.empty(ev_cap, dtype=np.int64)
    # weight recording
    if record_weights_every:
        every = int(round(float(record_weights_every) / dt))
        if every < 1:
            raise ValueError(f"record_weights_every={record_weights_every} ms: expected at least one step (dt={dt} ms)")
    else:
        every = 0
    wrec_idx = np.arange(ps.ps_pre.size, dtype=np.int64) if every else np.zeros(0, np.int64)
    wrec = np.zeros((n_steps // every if every else 0, wrec_idx.size))
    n_wrec = np.zeros(1, dtype=np.int64)
    win = np.empty(0, dtype=np.int64)
    threads = plan_threads(engine)
    plan = plastic_thread_plan(engine, ps, threads) if threads > 1 else None
    if plan is not None:    # the threaded kernel's arrays: synapses in the plan's order
        ps_w = plan.w0.copy()
        wrec_idx = plan.inv.copy() if every else wrec_idx
        seg_prev_t = np.full(ps.n_seg, NEVER, dtype=np.int64)
        seg_prev_x = np.zeros(ps.n_seg)
        per_unit = max(1, int(np.diff(ps.seg_ptr).max(initial=0)))
        pre_t = np.empty((scratch.size, per_unit), dtype=np.int64)
        pre_x = np.empty((scratch.size, per_unit))
        x_step = np.full((threads, ps.n_seg), -1, dtype=np.int64)
        x_now = np.zeros((threads, ps.n_seg))
        n_spk = np.zeros(threads, dtype=np.int64)
        unit_w = np.full(n_total, np.nan)       # per-synapse weights, as ``deliver``
        win = np.empty((threads, 0), dtype=np.int64)
    act = np.zeros((threads, engine.pop_kind.shape[0]), dtype=np.int64)   # unused (plastic_clock_run)
    work = n_steps * max(n_total, 1)
    chunk = n_steps if not (progress or (progress is None and work > _PROGRESS_WORK)) \
        else max(1, _CHUNK_WORK // max(n_total, 1))
    bar = _progress(n_steps, "simulating (plastic)", unit="step") if chunk < n_steps else None
    step = 0
    while step < n_steps:
        stop = min(n_steps, step + chunk)
        if win.shape[-1] < max(1, ev_t.size):
            win = np.empty(win.shape[:-1] + (ev_t.size,), dtype=np.int64)
        if plan is not None:
            with thread_pool(threads):
                reached = plastic_clock_run_par(
                    step, stop, dt, engine.pop_start, engine.pop_stop, engine.pop_kind, engine.coef,
                    v, ie, ii, ref_end, buf,
                    plan.bounds, plan.static.tptr, unit_w, plan.static.syn_off, plan.static.syn_w,
                    ps.seg_ptr, ps.seg_proj, plan.pptr, seg_last_t, seg_last_x, seg_prev_t, seg_prev_x, pre_t, pre_x,
                    x_step, x_now,
                    plan.ps_off, ps_w, plan.ps_q, plan.ps_shift, ps.ps_seg,
                    ps.post_ptr, ps.post_q, plan.q_gid, ps.q_proj, q_last, ps.in_ptr, plan.in_syn,
                    ev_t, ev_y, ev_prev, ev_q, n_ev, ring_step, ring_lo, ring_hi, ps.max_shift, ps.any_online,
                    ps.rule, src_ptr, src_i,
                    spike_count, out_step, out_id, n_out,
                    rec_gids, rec_v, rec_ie, rec_ii, 0, scratch, win, n_spk,
                    every, wrec_idx, wrec, n_wrec, act)
        else:
            reached = plastic_clock_run(
                step, stop, dt, engine.pop_start, engine.pop_stop, engine.pop_kind, engine.coef,
                v, ie, ii, ref_end, buf,
                ps.syn_ptr, ps.syn_off, ps.syn_w,
                ps.seg_ptr, ps.seg_proj, ps.seg_syn_ptr, seg_last_t, seg_last_x, seg_x_step, seg_x_now,
                ps.ps_off, ps_w, ps.ps_q, ps.ps_shift, ps.ps_seg,
                ps.post_ptr, ps.post_q, ps.q_proj, q_last, ps.in_ptr, ps.in_syn,
                ev_t, ev_y, ev_prev, ev_q, n_ev, ring_step, ring_lo, ring_hi, ps.max_shift, ps.any_online,
                ps.rule, src_ptr, src_i,
                spike_count, out_step, out_id, n_out,
                rec_gids, rec_v, rec_ie, rec_ii, 0, scratch, win,
                every, wrec_idx, wrec, n_wrec, act[0])
        if reached < stop:
            if n_out[0] + n_total + (src_ptr[reached + 1] - src_ptr[reached]) > out_step.size:
                out_step = np.concatenate([out_step, np.empty_like(out_step)])
                out_id = np.concatenate([out_id, np.empty_like(out_id)])
            if n_ev[0] + ps.post_q.size > ev_t.size:
                ev_t = np.concatenate([ev_t, np.empty_like(ev_t)])
                ev_y = np.concatenate([ev_y, np.empty_like(ev_y)])
                ev_prev = np.concatenate([ev_prev, np.empty_like(ev_prev)])
                ev_q = np.concatenate([ev_q, np.empty_like(ev_q)])
        if bar is not None:
            bar.update(reached - step)
        step = reached
    if bar is not None:
        bar.close()
    rec = engine._finish_clock(duration, n_steps, out_step, out_id, n_out, spike_count,
                               {"v": rec_v, "i_e": rec_ie, "i_i": rec_ii}, layout)
    # plastic projections: every synapse carries every presynaptic spike (its weight may change)
    for p, k in enumerate(ps.proj_ids):
        proj = engine.net.projections[k]
        gpre = proj.pre_idx.astype(np.int64) + engine.offset[proj.pre]
        rec.ledger.synaptic_events[proj.name] = int(spike_count[gpre].sum())
        rec.ledger.ac_ops[proj.name] = rec.ledger.synaptic_events[proj.name]
    if plan is not None:    # back to the synapse order of PlasticSynapses
        ps_w = ps_w[plan.inv]
    final = ps.weights_by_projection(ps_w)
    engine.final_weights = final
    rec.final_weights = final
    if every:
        nw = int(n_wrec[0])
        rec.weight_times = (np.arange(1, nw + 1) * every - 1) * dt
        rec.weights = {}
        for p, k in enumerate(ps.proj_ids):
            proj = engine.net.projections[k]
            sel = np.flatnonzero(ps.ps_proj == p)
            arr = np.empty((nw, proj.size))
            arr[:, ps.ps_local[sel]] = wrec[:nw][:, sel]
            rec.weights[proj.name] = arr
    return rec
