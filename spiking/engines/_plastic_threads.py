"""The plastic clock mode on several threads (``plastic_clock_run_par``) and its per-thread-count plan
(``plastic_thread_plan``): the scheme and why its spikes are bit for bit those of one thread are in
the docstring of ``spiking.engines.plastic``."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from ._plastic_kernels import (NEVER, R_A_P, R_NEAREST, R_ONLINE, R_TAU_P, R_W_MAX, R_W_MIN, _log_post_events,
                               _update_synapse)
from ._threads import (_deliver_range, _range_pointers, _sorted_by_target, _update_range, join_step, neuron_weight,
                       thread_plan)

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


@dataclass(frozen=True)
class PlasticThreadPlan:
    """The arrays of :func:`plastic_clock_run_par` for one thread count (made by
    :func:`plastic_thread_plan`, kept on the engine's ``plastic.PlasticSynapses``)."""

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


def plastic_thread_plan(engine, ps, threads: int) -> PlasticThreadPlan:
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
