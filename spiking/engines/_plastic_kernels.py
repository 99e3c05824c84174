"""Numba kernels of the plastic clock mode on one thread (``plastic_clock_run``) and the per-synapse
pieces the threaded kernel (``_plastic_threads``) shares: the rule table's columns, the postsynaptic
event log, online potentiation and the update of one synapse. The scheme is in the docstring of
``spiking.engines.plastic``."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..plasticity import PairSTDP
from .kernels import deliver, update_neurons

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
