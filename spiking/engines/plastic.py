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

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from ..plasticity import PairSTDP
from ..recording import Recording
from ._threads import (_deliver_range, _range_pointers, _sorted_by_target, _update_range, join_step, neuron_weight,
                       plan_threads, thread_plan, thread_pool)
from .kernels import deliver, new_refractory, update_neurons

# columns of the rule table handed to the kernel (one row per plastic projection)
R_TAU_P, R_TAU_M, R_A_P, R_A_M, R_W_MIN, R_W_MAX = 0, 1, 2, 3, 4, 5
R_NEAREST, R_ONLINE, R_CLIP_END, R_ZERO_LAG, R_BACKPROP, R_HIST = 6, 7, 8, 9, 10, 11
N_RULE = 12

NEVER = np.int64(-(1 << 62))   # "no spike yet"


def _rule_row(rule: PairSTDP) -> np.ndarray:
    r = np.zeros(N_RULE)
    r[R_TAU_P], r[R_TAU_M] = rule.tau_plus, rule.tau_minus
    r[R_A_P], r[R_A_M] = rule.a_plus, rule.a_minus
    r[R_W_MIN], r[R_W_MAX] = rule.w_min, rule.w_max
    r[R_NEAREST] = rule.traces == "nearest"
    r[R_ONLINE] = rule.update == "online"
    r[R_CLIP_END] = rule.clip == "end"
    r[R_ZERO_LAG] = rule.zero_lag_depression
    r[R_BACKPROP] = rule.backprop_delay
    r[R_HIST] = rule.post_history
    return r


# ---------------------------------------------------------------------------------------------
# numba pieces

@njit(cache=True, nogil=True)
def _log_post_events(ns, scratch, step, dt, post_ptr, post_q, q_proj, rule, q_last,
                     ev_t, ev_y, ev_prev, ev_q, n_ev):
    """Append a postsynaptic event for every post slot of every spiking unit."""
    m = n_ev[0]
    for s in range(ns):
        g = scratch[s]
        for a in range(post_ptr[g], post_ptr[g + 1]):
            q = post_q[a]
            r = rule[q_proj[q]]
            last = q_last[q]
            if r[R_NEAREST] > 0.5 or last < 0:
                y = 1.0
            else:
                y = ev_y[last] * math.exp(-(step - ev_t[last]) * dt / r[R_TAU_M]) + 1.0
            ev_t[m] = step
            ev_y[m] = y
            ev_prev[m] = last
            ev_q[m] = q
            q_last[q] = m
            m += 1
    n_ev[0] = m


@njit(cache=True, nogil=True)
def _online_potentiation(step, dt, ev_lo, ev_hi, ev_t, ev_q, q_proj, in_ptr, in_syn, ps_seg, ps_shift, ps_w,
                         seg_last_t, seg_last_x, seg_x_step, seg_x_now, rule):
    """Online rules: postsynaptic events logged in [ev_lo, ev_hi) whose spike reaches a synapse
    in this step (t_post + D == step) potentiate it with the presynaptic trace. ``in_syn`` lists
    each post slot's incoming synapses sorted by their shift D."""
    for e in range(ev_lo, ev_hi):
        q = ev_q[e]
        r = rule[q_proj[q]]
        if r[R_ONLINE] < 0.5:
            continue
        lag_post = step - ev_t[e]
        # first incoming synapse with shift >= lag_post (binary search)
        lo = in_ptr[q]
        hi = in_ptr[q + 1]
        while lo < hi:
            mid = (lo + hi) >> 1
            if ps_shift[in_syn[mid]] < lag_post:
                lo = mid + 1
            else:
                hi = mid
        a_p = r[R_A_P]
        tau_p = r[R_TAU_P]
        w_min = r[R_W_MIN]
        w_max = r[R_W_MAX]
        for a in range(lo, in_ptr[q + 1]):
            k = in_syn[a]
            if ps_shift[k] != lag_post:
                break
            sg = ps_seg[k]
            t_last = seg_last_t[sg]
            if t_last == NEVER or t_last >= step:
                continue
            if seg_x_step[sg] != step:      # the presynaptic trace now, computed once per step
                seg_x_now[sg] = seg_last_x[sg] * math.exp(-(step - t_last) * dt / tau_p)
                seg_x_step[sg] = step
            w = ps_w[k] + a_p * seg_x_now[sg]
            ps_w[k] = min(max(w, w_min), w_max)


@njit(cache=True, nogil=True)
def _update_synapse(k, step, dt, r, t_last, x_last, shift, q_last_e, ev_t, ev_y, ev_prev, ps_w, win):
    """Deferred window potentiation (deferred rules) and depression of plastic synapse k for a
    presynaptic spike at ``step``. Returns the new weight (also stored)."""
    w = ps_w[k]
    w_min = r[R_W_MIN]
    w_max = r[R_W_MAX]
    deferred = r[R_ONLINE] < 0.5
    clip_end = r[R_CLIP_END] > 0.5
    hist = int(r[R_HIST])
    end = step - shift
    # walk the post log from the newest event: skip events after the window's end, collect the
    # window (deferred rules, when there was an earlier presynaptic spike), stop at the first
    # event at or before the window's start (that event is the "previous" one)
    has_window = deferred and t_last != NEVER
    begin = t_last - shift if has_window else NEVER
    e = q_last_e
    seen = 0
    n_win = 0
    prev = -1
    while e >= 0:
        if hist > 0 and seen >= hist - 1:
            e = -1          # sPyNNaker's history ends at its placeholder entry (time 0, trace 0)
            break
        te = ev_t[e]
        if te <= begin:
            break
        if te <= end:
            if has_window:
                win[n_win] = e
                n_win += 1
            else:
                break       # newest event within reach: nothing to potentiate, it is "previous"
        seen += 1
        e = ev_prev[e]
    if n_win > 0:
        prev = win[0]
    elif e >= 0 and ev_t[e] <= end:
        prev = e
    pot = 0.0
    if n_win > 0:
        a_p = r[R_A_P]
        tau_p = r[R_TAU_P]
        for i in range(n_win - 1, -1, -1):
            ew = win[i]
            lag = ev_t[ew] + shift - t_last
            if lag <= 0:
                continue
            dw = a_p * x_last * math.exp(-lag * dt / tau_p)
            if clip_end:
                pot += dw
            else:
                w = min(w + dw, w_max)
    dep = 0.0
    if prev >= 0:
        lag = step - (ev_t[prev] + shift)
        if lag == 0 and r[R_ZERO_LAG] < 0.5:
            prev = ev_prev[prev]
            lag = step - (ev_t[prev] + shift) if prev >= 0 else 0
        if prev >= 0:
            dep = r[R_A_M] * ev_y[prev] * math.exp(-lag * dt / r[R_TAU_M])
    if clip_end:
        w = min(max(w + pot - dep, w_min), w_max)
    elif dep > 0.0:
        w = max(w - dep, w_min)
    ps_w[k] = w
    return w


@njit(cache=True, nogil=True)
def plastic_clock_run(step0, step1, dt, pop_start, pop_stop, pop_kind, coef,
                      v, ie, ii, ref_end, buf,
                      syn_ptr, syn_off, syn_w,
                      seg_ptr, seg_proj, seg_syn_ptr, seg_last_t, seg_last_x, seg_x_step, seg_x_now,
                      ps_off, ps_w, ps_q, ps_shift, ps_seg,
                      post_ptr, post_q, q_proj, q_last, in_ptr, in_syn,
                      ev_t, ev_y, ev_prev, ev_q, n_ev, ring_step, ring_lo, ring_hi, max_shift, any_online,
                      rule, src_ptr, src_ids,
                      spike_count, out_step, out_id, n_out,
                      rec_ids, rec_v, rec_ie, rec_ii, rec_step0, scratch, win,
                      wrec_every, wrec_idx, wrec, n_wrec, act):
    """Advance steps [step0, step1). Returns the first step not simulated (step1, or earlier when
    an output array is too full for another step; the caller grows it and calls again). ``act``:
    the shared kernels' active-update counts (unused: a plastic weight may reach zero, and its
    events are not added, so the ledger counts arrivals from the spikes)."""
    n_slots = buf.shape[0]
    n_total = v.shape[0]
    n_rec = rec_ids.shape[0]
    flat = buf.reshape(-1)
    slot_size = 2 * n_total
    n_q_slots = post_q.shape[0]
    n_ring = ring_step.shape[0]
    for step in range(step0, step1):
        n_src = src_ptr[step + 1] - src_ptr[step]
        if n_out[0] + n_total + n_src > out_step.shape[0]:
            return step
        if n_ev[0] + n_q_slots > ev_t.shape[0]:
            return step
        slot = step % n_slots
        ns = update_neurons(step, slot, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end, buf, scratch, act)
        buf[slot] = 0.0
        for k in range(src_ptr[step], src_ptr[step + 1]):
            scratch[ns] = src_ids[k]
            ns += 1
        # postsynaptic events of this step
        lo = n_ev[0]
        _log_post_events(ns, scratch, step, dt, post_ptr, post_q, q_proj, rule, q_last,
                         ev_t, ev_y, ev_prev, ev_q, n_ev)
        hi = n_ev[0]
        ri = step % n_ring
        ring_step[ri] = step
        ring_lo[ri] = lo
        ring_hi[ri] = hi
        # online potentiation by postsynaptic spikes reaching their synapses now
        if any_online:
            for d in range(0, max_shift + 1):
                st = step - d
                if st < 0:
                    break
                rj = st % n_ring
                if ring_step[rj] != st:
                    continue
                _online_potentiation(step, dt, ring_lo[rj], ring_hi[rj], ev_t, ev_q, q_proj, in_ptr, in_syn,
                                     ps_seg, ps_shift, ps_w, seg_last_t, seg_last_x, seg_x_step, seg_x_now, rule)
        # deliveries
        m = n_out[0]
        for s in range(ns):
            j = scratch[s]
            spike_count[j] += 1
            out_step[m] = step
            out_id[m] = j
            m += 1
            deliver(j, slot, syn_ptr, syn_off, syn_w, flat, slot_size)
            base = slot * slot_size
            for sg in range(seg_ptr[j], seg_ptr[j + 1]):
                r = rule[seg_proj[sg]]
                t_last = seg_last_t[sg]
                x_last = seg_last_x[sg]
                for k in range(seg_syn_ptr[sg], seg_syn_ptr[sg + 1]):
                    w = _update_synapse(k, step, dt, r, t_last, x_last, ps_shift[k], q_last[ps_q[k]],
                                        ev_t, ev_y, ev_prev, ps_w, win)
                    if w != 0.0:
                        f = base + ps_off[k]
                        if f >= flat.shape[0]:
                            f -= flat.shape[0]
                        flat[f] += w
                if r[R_NEAREST] > 0.5 or t_last == NEVER:
                    seg_last_x[sg] = 1.0
                else:
                    seg_last_x[sg] = x_last * math.exp(-(step - t_last) * dt / r[R_TAU_P]) + 1.0
                seg_last_t[sg] = step
        n_out[0] = m
        if n_rec > 0:
            rr = step - rec_step0
            for qq in range(n_rec):
                j = rec_ids[qq]
                rec_v[rr, qq] = v[j]
                rec_ie[rr, qq] = ie[j]
                rec_ii[rr, qq] = ii[j]
        if wrec_every > 0 and (step + 1) % wrec_every == 0:
            row = n_wrec[0]
            if row < wrec.shape[0]:
                for c in range(wrec_idx.shape[0]):
                    wrec[row, c] = ps_w[wrec_idx[c]]
                n_wrec[0] = row + 1
    return step1


# ---------------------------------------------------------------------------------------------
# several threads (module docstring): one parallel region per step, the rest on one thread

@njit(cache=True, nogil=True)
def _online_range(lo_u, hi_u, step, dt, ev_lo, ev_hi, ev_t, ev_q, q_gid, q_proj, in_ptr, in_syn, ps_seg,
                  ps_shift, ps_w, seg_last_t, seg_last_x, seg_prev_t, seg_prev_x, x_step, x_now, rule):
    """:func:`_online_potentiation` restricted to the post slots whose neuron lies in units
    [lo_u, hi_u). Called after the presynaptic traces have taken step ``step``'s spikes: a
    segment that spiked in ``step`` (``seg_last_t == step``) is read from its values before the
    step (``seg_prev_*``), which are the ones the one-thread kernel reads. ``x_step``/``x_now``:
    this range's own row of the per-step trace cache."""
    for e in range(ev_lo, ev_hi):
        q = ev_q[e]
        g = q_gid[q]
        if g < lo_u or g >= hi_u:
            continue
        r = rule[q_proj[q]]
        if r[R_ONLINE] < 0.5:
            continue
        lag_post = step - ev_t[e]
        lo = in_ptr[q]
        hi = in_ptr[q + 1]
        while lo < hi:
            mid = (lo + hi) >> 1
            if ps_shift[in_syn[mid]] < lag_post:
                lo = mid + 1
            else:
                hi = mid
        a_p = r[R_A_P]
        tau_p = r[R_TAU_P]
        w_min = r[R_W_MIN]
        w_max = r[R_W_MAX]
        for a in range(lo, in_ptr[q + 1]):
            k = in_syn[a]
            if ps_shift[k] != lag_post:
                break
            sg = ps_seg[k]
            t_last = seg_last_t[sg]
            x_last = seg_last_x[sg]
            if t_last == step:
                t_last = seg_prev_t[sg]
                x_last = seg_prev_x[sg]
            if t_last == NEVER or t_last >= step:
                continue
            if x_step[sg] != step:
                x_now[sg] = x_last * math.exp(-(step - t_last) * dt / tau_p)
                x_step[sg] = step
            w = ps_w[k] + a_p * x_now[sg]
            ps_w[k] = min(max(w, w_min), w_max)


@njit(cache=True, nogil=True)
def _plastic_thread_step(t, step, slot, prev_slot, m_prev, m, pending, update, dt, arrays):
    """Range t's share of a step (module docstring, a-c): when ``pending``, the online
    potentiation and the deliveries of step ``step - 1`` (spikes ``out_id[m_prev:m]``, emitted in
    ring slot ``prev_slot``); then, when ``update``, its neurons for step ``step``. ``arrays``: the
    arrays (and two flags) of :func:`plastic_clock_run_par` in one tuple (see there)."""
    (bounds, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end, buf,
     tptr, unit_w, syn_off, syn_w,
     seg_ptr, seg_proj, pptr, pre_t, pre_x, seg_last_t, seg_last_x, seg_prev_t, seg_prev_x,
     x_step, x_now, ps_off, ps_w, ps_q, ps_shift, ps_seg,
     q_gid, q_proj, q_last, in_ptr, in_syn,
     ev_t, ev_y, ev_prev, ev_q, ring_step, ring_lo, ring_hi, max_shift, any_online, rule,
     out_id, scratch, win, n_spk, act) = arrays
    lo_u = bounds[t]
    hi_u = bounds[t + 1]
    flat = buf.reshape(-1)
    slot_size = 2 * v.shape[0]
    if pending:
        pstep = step - 1
        xs = x_step[t]
        xn = x_now[t]
        if any_online:
            n_ring = ring_step.shape[0]
            for d in range(0, max_shift + 1):
                st = pstep - d
                if st < 0:
                    break
                rj = st % n_ring
                if ring_step[rj] != st:
                    continue
                _online_range(lo_u, hi_u, pstep, dt, ring_lo[rj], ring_hi[rj], ev_t, ev_q, q_gid, q_proj,
                              in_ptr, in_syn, ps_seg, ps_shift, ps_w, seg_last_t, seg_last_x, seg_prev_t,
                              seg_prev_x, xs, xn, rule)
        wt = win[t]
        base = prev_slot * slot_size
        n_flat = flat.shape[0]
        for s in range(m_prev, m):
            j = out_id[s]
            _deliver_range(t, s, s + 1, out_id, prev_slot, tptr, unit_w, syn_off, syn_w, flat, slot_size)
            g0 = seg_ptr[j]
            for sg in range(g0, seg_ptr[j + 1]):
                r = rule[seg_proj[sg]]
                t_last = pre_t[s - m_prev, sg - g0]
                x_last = pre_x[s - m_prev, sg - g0]
                for k in range(pptr[sg, t], pptr[sg, t + 1]):
                    w = _update_synapse(k, pstep, dt, r, t_last, x_last, ps_shift[k], q_last[ps_q[k]],
                                        ev_t, ev_y, ev_prev, ps_w, wt)
                    if w != 0.0:
                        f = base + ps_off[k]
                        if f >= n_flat:
                            f -= n_flat
                        flat[f] += w
    if update:
        be = buf[slot, 0]
        bi = buf[slot, 1]
        n_spk[t] = _update_range(lo_u, hi_u, step, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end,
                                 be, bi, scratch, act[t])
        for j in range(lo_u, hi_u):
            be[j] = 0.0
            bi[j] = 0.0


@njit(cache=True, nogil=True, parallel=True)
def _plastic_parallel_step(n_thr, step, slot, prev_slot, m_prev, m, pending, update, dt, arrays):
    """:func:`_plastic_thread_step` for every range on the thread pool (the only parallel loop,
    kept alone so that numba's parallel passes see a small body, as ``_threads._parallel_step``)."""
    for t in prange(n_thr):
        _plastic_thread_step(np.int64(t), step, slot, prev_slot, m_prev, m, pending, update, dt, arrays)


@njit(cache=True, nogil=True)
def plastic_clock_run_par(step0, step1, dt, pop_start, pop_stop, pop_kind, coef,
                          v, ie, ii, ref_end, buf,
                          bounds, tptr, unit_w, syn_off, syn_w,
                          seg_ptr, seg_proj, pptr, seg_last_t, seg_last_x, seg_prev_t, seg_prev_x, pre_t, pre_x,
                          x_step, x_now,
                          ps_off, ps_w, ps_q, ps_shift, ps_seg,
                          post_ptr, post_q, q_gid, q_proj, q_last, in_ptr, in_syn,
                          ev_t, ev_y, ev_prev, ev_q, n_ev, ring_step, ring_lo, ring_hi, max_shift, any_online,
                          rule, src_ptr, src_ids,
                          spike_count, out_step, out_id, n_out,
                          rec_ids, rec_v, rec_ie, rec_ii, rec_step0, scratch, win, n_spk,
                          wrec_every, wrec_idx, wrec, n_wrec, act):
    """:func:`plastic_clock_run` on ``bounds.shape[0] - 1`` target ranges (module docstring): the
    same spikes, state, weights and weight records bit for bit. Steps [step0, step1); returns the
    first step not simulated (earlier when an output array is too full, as there). Nothing is
    pending on return: the last pass only applies the last step's online potentiation and
    deliveries. Arrays beyond ``plastic_clock_run``'s: ``pptr[sg, t]:pptr[sg, t+1]`` the synapses
    of segment sg onto range t (sorted by target within the segment); ``seg_prev_*`` the segment
    traces before the current step; ``pre_t``/``pre_x`` [spikes of a step, segments per unit] the
    traces each spike's synapses read; ``x_step``/``x_now``/``win`` one row per range;
    ``q_gid`` the neuron of each post slot; ``act`` one row per range (see plastic_clock_run)."""
    n_thr = bounds.shape[0] - 1
    n_slots = buf.shape[0]
    n_total = v.shape[0]
    n_rec = rec_ids.shape[0]
    n_q_slots = post_q.shape[0]
    n_ring = ring_step.shape[0]
    cap = out_step.shape[0]
    m = n_out[0]
    m_prev = m
    prev_slot = np.int64(0)
    pending = False
    step = step0
    # one tuple argument for the parallel loop: with ~50 separate arguments numba's parallel
    # passes took about 10 s more to compile it (cold cache)
    arrays = (bounds, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end, buf,
              tptr, unit_w, syn_off, syn_w,
              seg_ptr, seg_proj, pptr, pre_t, pre_x, seg_last_t, seg_last_x, seg_prev_t, seg_prev_x,
              x_step, x_now, ps_off, ps_w, ps_q, ps_shift, ps_seg,
              q_gid, q_proj, q_last, in_ptr, in_syn,
              ev_t, ev_y, ev_prev, ev_q, ring_step, ring_lo, ring_hi, max_shift, any_online, rule,
              out_id, scratch, win, n_spk, act)
    while True:
        last = step >= step1
        if not last:
            n_src = src_ptr[step + 1] - src_ptr[step]
            last = m + n_total + n_src > cap or n_ev[0] + n_q_slots > ev_t.shape[0]
        if last and not pending:
            break
        slot = step % n_slots
        _plastic_parallel_step(n_thr, step, slot, prev_slot, m_prev, m, pending, not last, dt, arrays)
        if pending and wrec_every > 0 and step % wrec_every == 0:   # step - 1 is complete
            row = n_wrec[0]
            if row < wrec.shape[0]:
                for c in range(wrec_idx.shape[0]):
                    wrec[row, c] = ps_w[wrec_idx[c]]
                n_wrec[0] = row + 1
        if last:
            break
        # this step's spikes: the ranges' lists in range order (index order), then the sources
        m_prev = m
        m = join_step(step, bounds, n_spk, scratch, src_ptr, src_ids, spike_count, out_step, out_id, m)
        # postsynaptic events of this step
        lo_ev = n_ev[0]
        _log_post_events(m - m_prev, out_id[m_prev:m], step, dt, post_ptr, post_q, q_proj, rule, q_last,
                         ev_t, ev_y, ev_prev, ev_q, n_ev)
        ri = step % n_ring
        ring_step[ri] = step
        ring_lo[ri] = lo_ev
        ring_hi[ri] = n_ev[0]
        # presynaptic traces take the spikes (in spike order, as the one-thread deliveries do);
        # the values each spike's synapses read, and those before the step, are kept
        for s in range(m_prev, m):
            j = out_id[s]
            g0 = seg_ptr[j]
            for sg in range(g0, seg_ptr[j + 1]):
                t_last = seg_last_t[sg]
                x_last = seg_last_x[sg]
                pre_t[s - m_prev, sg - g0] = t_last
                pre_x[s - m_prev, sg - g0] = x_last
                if t_last != step:
                    seg_prev_t[sg] = t_last
                    seg_prev_x[sg] = x_last
                r = rule[seg_proj[sg]]
                if r[R_NEAREST] > 0.5 or t_last == NEVER:
                    seg_last_x[sg] = 1.0
                else:
                    seg_last_x[sg] = x_last * math.exp(-(step - t_last) * dt / r[R_TAU_P]) + 1.0
                seg_last_t[sg] = step
        if n_rec > 0:
            rr = step - rec_step0
            for qq in range(n_rec):
                j = rec_ids[qq]
                rec_v[rr, qq] = v[j]
                rec_ie[rr, qq] = ie[j]
                rec_ii[rr, qq] = ii[j]
        prev_slot = slot
        pending = True
        step += 1
    n_out[0] = m
    return step


# ---------------------------------------------------------------------------------------------
# Python side

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


@dataclass(frozen=True)
class PlasticThreadPlan:
    """The arrays of :func:`plastic_clock_run_par` for one thread count (made by
    :func:`plastic_thread_plan`, kept on the :class:`PlasticSynapses`)."""

    static: object         # _threads.ThreadPlan of the static synapses (its bounds are the ranges)
    perm: np.ndarray       # plastic synapse i of the threaded arrays is synapse perm[i] of PlasticSynapses
    inv: np.ndarray        # and synapse c is at inv[c]
    pptr: np.ndarray       # int64 [n_seg, T + 1]: segment sg's synapses onto range t
    ps_off: np.ndarray
    ps_q: np.ndarray
    ps_shift: np.ndarray
    w0: np.ndarray
    in_syn: np.ndarray     # incoming synapses per post slot by shift, in threaded indices
    q_gid: np.ndarray      # the neuron (global unit) of each post slot

    @property
    def threads(self) -> int:
        return self.static.threads

    @property
    def bounds(self) -> np.ndarray:
        return self.static.bounds


def plastic_thread_plan(engine, ps: PlasticSynapses, threads: int) -> PlasticThreadPlan:
    """The static synapses split into ``threads`` target ranges by ``_threads.thread_plan`` (its
    ranges, from ``split_ranges`` with one weight per neuron, are the plan's), and the plastic
    synapses of each segment stably sorted by target and split at the same bounds. Made once per
    thread count and kept on ``ps``."""
    plans = ps.__dict__.setdefault("_thread_plans", {})
    if threads in plans:
        return plans[threads]
    n_total = engine.n_total
    weight = neuron_weight(engine)
    static_post = (np.asarray(ps.syn_off, dtype=np.int64) % max(n_total, 1)).astype(np.int64)
    static = thread_plan(threads, ps.syn_ptr, static_post, ps.syn_off, ps.syn_w, weight)
    bounds = static.bounds
    ps_post = ps.ps_off % max(n_total, 1)
    if _sorted_by_target(ps.seg_syn_ptr, ps_post):
        perm = np.arange(ps_post.size, dtype=np.int64)
    else:   # within each segment by target, stably (segments are contiguous and ascending)
        perm = np.lexsort((ps_post, ps.ps_seg)).astype(np.int64)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size, dtype=np.int64)
    ps_off, ps_q, ps_shift = ps.ps_off[perm], ps.ps_q[perm], ps.ps_shift[perm]
    pptr = np.empty((ps.n_seg, threads + 1), dtype=np.int64)
    _range_pointers(ps.seg_syn_ptr, ps_post[perm], bounds, pptr)
    in_syn = np.lexsort((ps_shift, ps_q)).astype(np.int64)
    q_gid = np.empty(ps.n_q, dtype=np.int64)
    q_gid[ps.post_q] = np.repeat(np.arange(n_total, dtype=np.int64), np.diff(ps.post_ptr))
    plan = PlasticThreadPlan(static, perm, inv, pptr, ps_off, ps_q, ps_shift, ps.w0[perm], in_syn, q_gid)
    plans[threads] = plan
    return plan


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
