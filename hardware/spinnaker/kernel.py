"""The fixed-point numba kernel of the SpiNNaker backend (one 1-tick loop, all cores at once).

Per tick ``n`` (sPyNNaker 7's order, ``neuron_impl_standard.h``), for every neuron: the
ring-buffer slot of tick n (16-bit, per synapse type) is shifted left into s16.15 and joins the
synaptic input; the neuron updates (or counts down its refractory timer); the threshold test
(``v >= v_th``) resets and starts the timer; the synaptic input decays. Then the tick's spikes
(neurons, then spike sources) are delivered: each synapse adds its 16-bit weight into the slot
``n + delay`` with saturation at 0xFFFF (``synapses.c``: the saturation counter); plastic
synapses first run sPyNNaker's deferred pair-STDP update in fixed point. Finally every core's
cycle count for the tick is set against the tick's cycle budget.

Arithmetic per neuron kind (``fx`` table columns below; all state as s16.15 bits in int64):

* ``KIND_EXP_SPINNAKER`` (IF_curr_exp, sPyNNaker order): ``i += decay_s1615(in << shift, init)``
  (floor); ``alpha = mul_round(i_e - i_i + i_offset, R) + v_rest``;
  ``v = alpha - mul_round(exp_tc, alpha - v)`` (round to nearest, ``neuron_model_lif_impl.h``);
  after the test ``i = decay_s1615(i, decay)``.
* ``KIND_EXP_NEST`` (the NEST order, for networks declared so; sPyNNaker has no such model, the
  formats are ours): ``v = v_rest + drive + mul_coef(v - v_rest, p22) + mul_coef(i_e, p21e) -
  mul_coef(i_i, p21i)`` with the propagators as u0.32 multipliers rounded to nearest
  (``fixedpoint.mul_coef``); then ``i = decay_s1615(i, p11) + (in << shift)``.
* ``KIND_DELTA`` (IF_curr_delta): ``v = v_rest + drive + mul_coef(v - v_rest, p22) + in_e - in_i``
  (a refractory neuron discards its input).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from spiking.models.neurons import KIND_DELTA, KIND_EXP_NEST

from .fixedpoint import mul_accum_fixed, mul_coef, stdp_mul16

# columns of the per-population fixed-point table
(F_KIND, F_VREST, F_VRESET, F_VTH, F_R, F_EXPTC, F_IOFF, F_INIT_E, F_INIT_I, F_DECAY_E, F_DECAY_I,
 F_SHIFT_E, F_SHIFT_I, F_TREF, F_SOFT, F_P22, F_P21E, F_P21I, F_DRIVE, F_P22_U, F_P21E_U, F_P21I_U) = range(22)
N_F = 22

# columns of the plastic rule table (one row per plastic projection)
(P_SHIFT, P_A2P, P_A2M, P_WMIN, P_WMAX, P_LUTP0, P_LUTPN, P_LUTM0, P_LUTMN, P_NEAREST, P_ZERO_LAG,
 P_HIST) = range(12)
N_P = 12

NEVER = np.int64(-(1 << 62))
SAT16 = 0xFFFF


@njit(cache=True, nogil=True, inline="always")
def _lut(luts, base, size, t):
    if t < 0 or t >= size:
        return np.int64(0)
    return luts[base + t]


# Refractory state as in the float kernels: ``ref_end[j]`` is the last tick of neuron j's
# refractory period; it integrates in tick n iff ref_end[j] < n, and a spike in tick n sets
# ref_end[j] = n + T_refract. This is sPyNNaker's countdown (``refract_timer = T_refract`` at the
# spike, decremented while > 0; integrate when <= 0) written as an absolute tick, which the update
# loop only reads, so it can run branch-free over a block; the spikes of a block are then listed
# in index order by a second pass over blocks that have a candidate.

_BLOCK = 256      # loop indices are unsigned: numba then emits no negative-index wraparound,
                  # which would keep the loops from vectorising (as in spiking.engines.kernels)
_MAX32 = 2147483647
_MIN32 = -2147483648


@njit(cache=True, nogil=True, inline="always")
def _s(x):
    return min(max(x, _MIN32), _MAX32)


@njit(cache=True, nogil=True)
def _spikes(a0, b0, step, v, ref_end, vth, vreset, soft, tref, scratch, ns):
    for j in range(a0, b0):
        if v[j] >= vth and ref_end[j] < step:
            v[j] = v[j] - (vth - vreset) if soft else vreset
            ref_end[j] = step + tref
            scratch[ns] = j
            ns += 1
    return ns


@njit(cache=True, nogil=True)
def _exp_spinnaker(lo, hi, step, be, bi, ring, v, ie, ii, ref_end, c, scratch, ns):
    vrest, vth, vreset, tref = c[F_VREST], c[F_VTH], c[F_VRESET], c[F_TREF]
    soft = c[F_SOFT] != 0
    sh_e, sh_i = c[F_SHIFT_E], c[F_SHIFT_I]
    init_e, init_i, dec_e, dec_i = c[F_INIT_E], c[F_INIT_I], c[F_DECAY_E], c[F_DECAY_I]
    r_m, exptc, ioff = c[F_R], c[F_EXPTC], c[F_IOFF]
    ube = np.uint64(be)
    ubi = np.uint64(bi)
    for a0 in range(np.uint64(lo), np.uint64(hi), np.uint64(_BLOCK)):
        b0 = min(a0 + np.uint64(_BLOCK), np.uint64(hi))
        cand = 0
        for j in range(a0, b0):
            in_e = ring[ube + j] << sh_e
            in_i = ring[ubi + j] << sh_i
            ring[ube + j] = 0
            ring[ubi + j] = 0
            e = _s(ie[j] + ((in_e * init_e) >> 32))
            i = _s(ii[j] + ((in_i * init_i) >> 32))
            alpha = _s(((_s(e - i + ioff) * r_m + 16384) >> 15) + vrest)
            vo = v[j]
            vn = _s(alpha - ((exptc * _s(alpha - vo) + 16384) >> 15))
            x = vn if ref_end[j] < step else vo
            v[j] = x
            cand += x >= vth
            ie[j] = (e * dec_e) >> 32
            ii[j] = (i * dec_i) >> 32
        if cand > 0:
            ns = _spikes(a0, b0, step, v, ref_end, vth, vreset, soft, tref, scratch, ns)
    return ns


@njit(cache=True, nogil=True)
def _exp_nest(lo, hi, step, be, bi, ring, v, ie, ii, ref_end, c, scratch, ns):
    vrest, vth, vreset, tref = c[F_VREST], c[F_VTH], c[F_VRESET], c[F_TREF]
    soft = c[F_SOFT] != 0
    sh_e, sh_i = c[F_SHIFT_E], c[F_SHIFT_I]
    dec_e, dec_i = c[F_DECAY_E], c[F_DECAY_I]
    base = vrest + c[F_DRIVE]
    p22, p22u = c[F_P22], c[F_P22_U] != 0
    p21e, p21eu = c[F_P21E], c[F_P21E_U] != 0
    p21i, p21iu = c[F_P21I], c[F_P21I_U] != 0
    ube = np.uint64(be)
    ubi = np.uint64(bi)
    for a0 in range(np.uint64(lo), np.uint64(hi), np.uint64(_BLOCK)):
        b0 = min(a0 + np.uint64(_BLOCK), np.uint64(hi))
        cand = 0
        for j in range(a0, b0):
            in_e = ring[ube + j] << sh_e
            in_i = ring[ubi + j] << sh_i
            ring[ube + j] = 0
            ring[ubi + j] = 0
            e = ie[j]
            i = ii[j]
            vo = v[j]
            vn = _s(base + mul_coef(vo - vrest, p22, p22u) + mul_coef(e, p21e, p21eu) - mul_coef(i, p21i, p21iu))
            x = vn if ref_end[j] < step else vo
            v[j] = x
            cand += x >= vth
            ie[j] = _s(((e * dec_e) >> 32) + in_e)
            ii[j] = _s(((i * dec_i) >> 32) + in_i)
        if cand > 0:
            ns = _spikes(a0, b0, step, v, ref_end, vth, vreset, soft, tref, scratch, ns)
    return ns


@njit(cache=True, nogil=True)
def _delta(lo, hi, step, be, bi, ring, v, ref_end, c, scratch, ns):
    vrest, vth, vreset, tref = c[F_VREST], c[F_VTH], c[F_VRESET], c[F_TREF]
    soft = c[F_SOFT] != 0
    sh_e, sh_i = c[F_SHIFT_E], c[F_SHIFT_I]
    base = vrest + c[F_DRIVE]
    p22, p22u = c[F_P22], c[F_P22_U] != 0
    ube = np.uint64(be)
    ubi = np.uint64(bi)
    for a0 in range(np.uint64(lo), np.uint64(hi), np.uint64(_BLOCK)):
        b0 = min(a0 + np.uint64(_BLOCK), np.uint64(hi))
        cand = 0
        for j in range(a0, b0):
            in_e = ring[ube + j] << sh_e
            in_i = ring[ubi + j] << sh_i
            ring[ube + j] = 0
            ring[ubi + j] = 0
            vo = v[j]
            vn = _s(base + mul_coef(vo - vrest, p22, p22u) + in_e - in_i)
            x = vn if ref_end[j] < step else vo
            v[j] = x
            cand += x >= vth
        if cand > 0:
            ns = _spikes(a0, b0, step, v, ref_end, vth, vreset, soft, tref, scratch, ns)
    return ns


@njit(cache=True, nogil=True)
def _neurons(step, slot, pop_start, pop_stop, fx, v, ie, ii, ref_end, ring, n_total, scratch):
    """Tick ``step`` of every neuron population (reading and clearing ring slot ``slot``);
    returns the number of spiking neurons, listed in ``scratch`` in index order."""
    ns = 0
    be = slot * 2 * n_total
    bi = be + n_total
    for p in range(pop_start.shape[0]):
        kind = fx[p, F_KIND]
        if kind < 0:
            continue
        c = fx[p]
        if kind == KIND_DELTA:
            ns = _delta(pop_start[p], pop_stop[p], step, be, bi, ring, v, ref_end, c, scratch, ns)
        elif kind == KIND_EXP_NEST:
            ns = _exp_nest(pop_start[p], pop_stop[p], step, be, bi, ring, v, ie, ii, ref_end, c, scratch, ns)
        else:
            ns = _exp_spinnaker(pop_start[p], pop_stop[p], step, be, bi, ring, v, ie, ii, ref_end, c, scratch, ns)
    return ns


@njit(cache=True, nogil=True)
def _add_sat(ring, f, w, sat):
    x = ring[f] + w
    if x > SAT16:
        x = SAT16
        sat[0] += 1
    ring[f] = x


@njit(cache=True, nogil=True)
def _plastic_update(k, step, rule, luts, t_last, x_last, shift, q_last_e, ev_t, ev_y, ev_prev, ps_w, win):
    """sPyNNaker's deferred pair-STDP update of plastic synapse k for a presynaptic spike at
    ``step`` (the float kernel's ``_update_synapse`` in fixed point). Returns the new 16-bit weight."""
    wshift = rule[P_SHIFT]
    w = np.int64(ps_w[k]) << wshift              # weight_get_initial: s16.15
    w_min = rule[P_WMIN]
    w_max = rule[P_WMAX]
    hist = rule[P_HIST]
    end = step - shift
    has_window = t_last != NEVER
    begin = t_last - shift if has_window else NEVER
    e = q_last_e
    seen = 0
    n_win = 0
    prev = -1
    while e >= 0:
        if hist > 0 and seen >= hist - 1:
            e = -1
            break
        te = ev_t[e]
        if te <= begin:
            break
        if te <= end:
            if has_window:
                win[n_win] = e
                n_win += 1
            else:
                break
        seen += 1
        e = ev_prev[e]
    if n_win > 0:
        prev = win[0]
    elif e >= 0 and ev_t[e] <= end:
        prev = e
    for n in range(n_win - 1, -1, -1):
        ew = win[n]
        lag = ev_t[ew] + shift - t_last
        if lag <= 0:
            continue
        decayed_r1 = stdp_mul16(x_last, _lut(luts, rule[P_LUTP0], rule[P_LUTPN], lag))
        w = w + mul_accum_fixed(rule[P_A2P], decayed_r1)
        if w > w_max:
            w = w_max
    if prev >= 0:
        lag = step - (ev_t[prev] + shift)
        if lag == 0 and rule[P_ZERO_LAG] == 0:
            prev = ev_prev[prev]
            lag = step - (ev_t[prev] + shift) if prev >= 0 else 0
        if prev >= 0:
            decayed_o1 = stdp_mul16(ev_y[prev], _lut(luts, rule[P_LUTM0], rule[P_LUTMN], lag))
            w = w - mul_accum_fixed(rule[P_A2M], decayed_o1)
            if w < w_min:
                w = w_min
    w16 = w >> wshift                              # weight_get_final
    ps_w[k] = w16
    return w16


@njit(cache=True, nogil=True)
def fixed_run(step0, step1, pop_start, pop_stop, fx, v, ie, ii, ref_end, ring, n_slots,
              syn_ptr, syn_off, syn_w16,
              seg_ptr, seg_proj, seg_syn_ptr, seg_last_t, seg_last_x,
              ps_off, ps_w, ps_q, ps_shift, post_ptr, post_q, q_proj, q_last,
              ev_t, ev_y, ev_prev, n_ev, rule, luts, win,
              src_ptr, src_ids, spike_count, out_step, out_id, n_out,
              unit_core_ptr, unit_core, unit_core_syn, unit_core_rows, unit_core_bytes,
              core_neurons, c_neuron, c_syn, c_dma, c_fixed, budget,
              tick_syn, tick_rows, tick_pk, prov, core_max_cycles,
              rec_ids, rec_v, rec_ie, rec_ii, sat, scratch):
    """Advance ticks [step0, step1); returns the first tick not simulated (when an output array
    is full). ``prov``: [timer tick overruns, max overrun cycles, input buffer packets lost,
    synaptic events, rows fetched, bytes fetched]; ``sat[0]``: ring-buffer saturations."""
    n_total = v.shape[0]
    n_cores = core_neurons.shape[0]
    n_rec = rec_ids.shape[0]
    n_q = post_q.shape[0]
    flat_size = np.uint64(ring.shape[0])
    for step in range(step0, step1):
        n_src = src_ptr[step + 1] - src_ptr[step]
        if n_out[0] + n_total + n_src > out_step.shape[0]:
            return step
        if n_ev[0] + n_q > ev_t.shape[0]:
            return step
        slot = step % n_slots
        ns = _neurons(step, slot, pop_start, pop_stop, fx, v, ie, ii, ref_end, ring, n_total, scratch)
        for k in range(src_ptr[step], src_ptr[step + 1]):
            scratch[ns] = src_ids[k]
            ns += 1
        # postsynaptic events (the post history of every plastic projection's target)
        for s in range(ns):
            g = scratch[s]
            for a in range(post_ptr[g], post_ptr[g + 1]):
                q = post_q[a]
                r = rule[q_proj[q]]
                last = q_last[q]
                if r[P_NEAREST] != 0 or last < 0:
                    y = np.int64(2048)
                else:
                    y = stdp_mul16(ev_y[last], _lut(luts, r[P_LUTM0], r[P_LUTMN], step - ev_t[last])) + 2048
                m = n_ev[0]
                ev_t[m] = step
                ev_y[m] = y
                ev_prev[m] = last
                q_last[q] = m
                n_ev[0] = m + 1
        # deliveries
        m = n_out[0]
        for s in range(ns):
            out_step[m + s] = step
            out_id[m + s] = scratch[s]
        base = np.int64(slot) * 2 * n_total
        for s in range(ns):
            j = out_id[m + s]
            spike_count[j] += 1
            for k in range(np.uint64(syn_ptr[j]), np.uint64(syn_ptr[j + 1])):
                f = np.uint64(base) + np.uint64(syn_off[k])
                if f >= flat_size:
                    f -= flat_size
                x = ring[f] + syn_w16[k]
                if x > SAT16:
                    x = SAT16
                    sat[0] += 1
                ring[f] = x
            for sg in range(seg_ptr[j], seg_ptr[j + 1]):
                r = rule[seg_proj[sg]]
                t_last = seg_last_t[sg]
                x_last = seg_last_x[sg]
                for k in range(seg_syn_ptr[sg], seg_syn_ptr[sg + 1]):
                    w16 = _plastic_update(k, step, r, luts, t_last, x_last, ps_shift[k], q_last[ps_q[k]],
                                          ev_t, ev_y, ev_prev, ps_w, win)
                    if w16 != 0:
                        f = np.uint64(base) + np.uint64(ps_off[k])
                        if f >= flat_size:
                            f -= flat_size
                        _add_sat(ring, f, w16, sat)
                if r[P_NEAREST] != 0 or t_last == NEVER:
                    seg_last_x[sg] = 2048
                else:
                    seg_last_x[sg] = stdp_mul16(x_last, _lut(luts, r[P_LUTP0], r[P_LUTPN], step - t_last)) + 2048
                seg_last_t[sg] = step
            for a in range(unit_core_ptr[j], unit_core_ptr[j + 1]):
                c = unit_core[a]
                tick_syn[c] += unit_core_syn[a]
                tick_rows[c] += unit_core_rows[a]
                tick_pk[c] += 1
                prov[5] += unit_core_bytes[a]
        n_out[0] = m + ns
        # the tick's time budget, core by core
        for c in range(n_cores):
            cycles = core_neurons[c] * c_neuron + tick_syn[c] * c_syn + tick_rows[c] * c_dma + c_fixed
            if cycles > core_max_cycles[c]:
                core_max_cycles[c] = cycles
            if cycles > budget:
                prov[0] += 1
                over = cycles - budget
                if over > prov[1]:
                    prov[1] = over
                if tick_pk[c] > 256:
                    prov[2] += tick_pk[c] - 256
            prov[3] += tick_syn[c]
            prov[4] += tick_rows[c]
            tick_syn[c] = 0
            tick_rows[c] = 0
            tick_pk[c] = 0
        if n_rec > 0:
            for qq in range(n_rec):
                jj = rec_ids[qq]
                rec_v[step, qq] = v[jj] / 32768.0
                rec_ie[step, qq] = ie[jj] / 32768.0
                rec_ii[step, qq] = ii[jj] / 32768.0
    return step1
