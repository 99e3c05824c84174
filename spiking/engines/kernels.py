"""numba kernels of the event engine.

Both kernels read the per-population coefficient rows that the neuron declarations produce
(``NeuronModel.coefficients(dt)``; column meaning in ``spiking.models.neurons.COEF_NAMES``),
so the equations' constants live in one place.

``clock_run``: fixed-step simulation; spikes are delivered through a ring buffer of
``L = max_delay + 1`` slots per receptor and neuron, so delivery costs spikes x fan-out.
``exact_run``: continuous-time event-driven simulation of delta-synapse LIF/IF neurons; a binary
heap orders synaptic events and a neuron is touched only when an event reaches it, with the
analytic decay since its last update.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..models.neurons import COEF, KIND_DELTA, KIND_EXP_NEST

_P22, _DRIVE = COEF["p22"], COEF["drive"]
_P11E, _P11I, _P21E, _P21I = COEF["p11e"], COEF["p11i"], COEF["p21e"], COEF["p21i"]
_VREST, _VRESET, _VTH = COEF["v_rest"], COEF["v_reset"], COEF["v_th"]
_SOFT, _REF = COEF["soft_reset"], COEF["ref_steps"]
_SCALE_E, _SCALE_I, _RM, _IOFF = COEF["in_scale_e"], COEF["in_scale_i"], COEF["r_m"], COEF["i_offset"]


# Refractory counter: a neuron integrates in a step iff refr <= 0 at the step's start; each
# update writes max(refr - 1, -1) (a select, so the loops stay branch-free and vectorise); after the
# update refr < 0 means "integrated this step"; a spike sets refr = ref_steps.

@njit(cache=True, nogil=True, fastmath=True)
def _update_delta(v, refr, be, bi, c):
    """Delta-synapse LIF (NEST iaf_psc_delta): decay, drive and this step's input jumps;
    refractory neurons hold v and discard their input."""
    p22 = c[_P22]
    drive = c[_DRIVE]
    vrest = c[_VREST]
    for j in range(v.shape[0]):
        r = refr[j]
        vo = v[j]
        vn = vrest + (vo - vrest) * p22 + drive + be[j] - bi[j]
        v[j] = vn if r <= 0 else vo
        refr[j] = r - 1 if r > 0 else -1
        be[j] = 0.0
        bi[j] = 0.0


@njit(cache=True, nogil=True, fastmath=True)
def _update_exp_nest(v, ie, ii, refr, be, bi, c):
    """NEST iaf_psc_exp: membrane from the old currents, then the currents decay and take this
    step's input."""
    p22 = c[_P22]
    drive = c[_DRIVE]
    vrest = c[_VREST]
    p11e = c[_P11E]
    p11i = c[_P11I]
    p21e = c[_P21E]
    p21i = c[_P21I]
    for j in range(v.shape[0]):
        r = refr[j]
        vo = v[j]
        e = ie[j]
        i = ii[j]
        vn = vrest + (vo - vrest) * p22 + p21e * e - p21i * i + drive
        v[j] = vn if r <= 0 else vo
        refr[j] = r - 1 if r > 0 else -1
        ie[j] = e * p11e + be[j]
        ii[j] = i * p11i + bi[j]
        be[j] = 0.0
        bi[j] = 0.0


@njit(cache=True, nogil=True, fastmath=True)
def _update_exp_spinnaker(v, ie, ii, refr, be, bi, c):
    """sPyNNaker: scaled input joins the currents first; closed-form membrane with the current
    held over the step; then the currents decay. (sPyNNaker decays after the threshold test; the
    test does not read the currents, so the decay is folded in here.)"""
    p22 = c[_P22]
    vrest = c[_VREST]
    rm = c[_RM]
    ioff = c[_IOFF]
    p11e = c[_P11E]
    p11i = c[_P11I]
    se = c[_SCALE_E]
    si = c[_SCALE_I]
    for j in range(v.shape[0]):
        e = ie[j] + be[j] * se
        i = ii[j] + bi[j] * si
        r = refr[j]
        vo = v[j]
        vinf = vrest + rm * (e - i + ioff)
        vn = vinf + (vo - vinf) * p22
        v[j] = vn if r <= 0 else vo
        refr[j] = r - 1 if r > 0 else -1
        ie[j] = e * p11e
        ii[j] = i * p11i
        be[j] = 0.0
        bi[j] = 0.0


@njit(cache=True, nogil=True)
def _threshold(v, refr, c, offset, scratch, ns):
    """Spike test, reset and refractory start; appends spiking global ids to scratch.
    (A refractory neuron holds v below threshold, except after a soft reset from far above it,
    hence the refr test, which runs only when v >= v_th.)"""
    vth = c[_VTH]
    vreset = c[_VRESET]
    soft = c[_SOFT] > 0.5
    jump = vth - vreset
    ref = np.int32(c[_REF])
    for j in range(v.shape[0]):
        if v[j] >= vth:
            if refr[j] < 0:
                v[j] = v[j] - jump if soft else vreset
                refr[j] = ref
                scratch[ns] = offset + j
                ns += 1
    return ns


@njit(cache=True, nogil=True)
def update_neurons(slot, pop_start, pop_stop, pop_kind, coef, v, ie, ii, refr, buf, scratch):
    """One step of every neuron population, reading (and clearing) ring-buffer slot ``slot``.
    Returns the number of spiking neurons written to ``scratch``. Shared by all clock kernels."""
    ns = 0
    for p in range(pop_start.shape[0]):
        kind = pop_kind[p]
        if kind < 0:
            continue
        a = pop_start[p]
        b = pop_stop[p]
        c = coef[p]
        be = buf[slot, 0, a:b]
        bi = buf[slot, 1, a:b]
        if kind == KIND_DELTA:
            _update_delta(v[a:b], refr[a:b], be, bi, c)
        elif kind == KIND_EXP_NEST:
            _update_exp_nest(v[a:b], ie[a:b], ii[a:b], refr[a:b], be, bi, c)
        else:
            _update_exp_spinnaker(v[a:b], ie[a:b], ii[a:b], refr[a:b], be, bi, c)
        ns = _threshold(v[a:b], refr[a:b], c, a, scratch, ns)
    return ns


@njit(cache=True, nogil=True)
def deliver(j, slot, syn_ptr, syn_off, syn_w, flat, slot_size):
    """Add the synaptic events of a spike of unit ``j``, emitted in ring slot ``slot``, to the
    ring buffer (flattened). ``syn_off[k] = delay[k] * 2N + receptor[k] * N + post[k]`` is
    synapse k's entry relative to the current slot: one add per synapse."""
    flat_size = flat.shape[0]
    base = slot * slot_size
    for k in range(syn_ptr[j], syn_ptr[j + 1]):
        f = base + syn_off[k]
        if f >= flat_size:
            f -= flat_size
        flat[f] += syn_w[k]


@njit(cache=True, nogil=True)
def clock_run(step0, step1, pop_start, pop_stop, pop_kind, coef,
              v, ie, ii, refr, buf,
              syn_ptr, syn_off, syn_w,
              src_ptr, src_ids,
              spike_count, out_step, out_id, n_out,
              rec_ids, rec_v, rec_ie, rec_ii, rec_step0, scratch):
    """Advance steps [step0, step1). Returns the first step not simulated (step1, or earlier
    when the spike output arrays are too full to hold another step; the caller grows them)."""
    n_slots = buf.shape[0]
    cap = out_step.shape[0]
    n_total = v.shape[0]
    n_rec = rec_ids.shape[0]
    flat = buf.reshape(-1)
    slot_size = 2 * n_total
    for step in range(step0, step1):
        n_src = src_ptr[step + 1] - src_ptr[step]
        if n_out[0] + n_total + n_src > cap:
            return step
        slot = step % n_slots
        ns = update_neurons(slot, pop_start, pop_stop, pop_kind, coef, v, ie, ii, refr, buf, scratch)
        for k in range(src_ptr[step], src_ptr[step + 1]):
            scratch[ns] = src_ids[k]
            ns += 1
        m = n_out[0]
        for s in range(ns):
            j = scratch[s]
            spike_count[j] += 1
            out_step[m] = step
            out_id[m] = j
            m += 1
            deliver(j, slot, syn_ptr, syn_off, syn_w, flat, slot_size)
        n_out[0] = m
        if n_rec > 0:
            r = step - rec_step0
            for q in range(n_rec):
                j = rec_ids[q]
                rec_v[r, q] = v[j]
                rec_ie[r, q] = ie[j]
                rec_ii[r, q] = ii[j]
    return step1


# ---------------------------------------------------------------------------------------------
# exact event-driven mode (delta synapses)

@njit(cache=True, nogil=True)
def _heap_push(ht, hj, hw, size, t, j, w):
    i = size
    ht[i] = t
    hj[i] = j
    hw[i] = w
    while i > 0:
        parent = (i - 1) >> 1
        if ht[parent] < t or (ht[parent] == t and hj[parent] <= j):
            break
        ht[i] = ht[parent]
        hj[i] = hj[parent]
        hw[i] = hw[parent]
        i = parent
    ht[i] = t
    hj[i] = j
    hw[i] = w
    return size + 1


@njit(cache=True, nogil=True)
def _heap_pop(ht, hj, hw, size):
    """Remove the root; returns new size (root values must be read before the call)."""
    size -= 1
    if size == 0:
        return 0
    t = ht[size]
    j = hj[size]
    w = hw[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and (ht[child + 1] < ht[child] or (ht[child + 1] == ht[child] and hj[child + 1] < hj[child])):
            child += 1
        if ht[child] < t or (ht[child] == t and hj[child] < j):
            ht[i] = ht[child]
            hj[i] = hj[child]
            hw[i] = hw[child]
            i = child
        else:
            break
    ht[i] = t
    hj[i] = j
    hw[i] = w
    return size


@njit(cache=True, nogil=True)
def _grow(a, n):
    b = np.empty(max(2 * a.shape[0], n), a.dtype)
    b[:a.shape[0]] = a
    return b


@njit(cache=True, nogil=True)
def exact_run(t_stop, pop_of, tau, vinf, vreset, vth, soft, tref,
              v, last_t, refr_until,
              syn_ptr, syn_post, syn_w_signed, syn_delay_ms,
              src_t, src_ids, src_pos,
              ht, hj, hw, hsize,
              spike_count, update_count, out_t, out_id, n_out):
    """Process every event with time < t_stop. Returns the (possibly grown) heap and output arrays.

    ``src_pos[0]`` is the index of the next unprocessed source spike; ``hsize[0]`` the heap size.
    """
    size = hsize[0]
    m = n_out[0]
    sp = src_pos[0]
    n_src = src_t.shape[0]
    while True:
        t_heap = ht[0] if size > 0 else np.inf
        t_src = src_t[sp] if sp < n_src else np.inf
        if t_src <= t_heap:
            if t_src >= t_stop:
                break
            # a scheduled source spike: record it and queue its deliveries
            j = src_ids[sp]
            sp += 1
            if m >= out_t.shape[0]:
                out_t = _grow(out_t, m + 1)
                out_id = _grow(out_id, m + 1)
            out_t[m] = t_src
            out_id[m] = j
            m += 1
            spike_count[j] += 1
            need = size + syn_ptr[j + 1] - syn_ptr[j]
            if need > ht.shape[0]:
                ht = _grow(ht, need)
                hj = _grow(hj, need)
                hw = _grow(hw, need)
            for k in range(syn_ptr[j], syn_ptr[j + 1]):
                size = _heap_push(ht, hj, hw, size, t_src + syn_delay_ms[k], syn_post[k], syn_w_signed[k])
            continue
        if t_heap >= t_stop:
            break
        # all events for the same neuron at the same time are summed before the threshold test
        t = t_heap
        j = hj[0]
        x = 0.0
        while size > 0 and ht[0] == t and hj[0] == j:
            x += hw[0]
            size = _heap_pop(ht, hj, hw, size)
        if t <= refr_until[j]:
            continue  # input during the refractory period is discarded
        p = pop_of[j]
        update_count[j] += 1
        if tau[p] < np.inf:
            vj = vinf[p] + (v[j] - vinf[p]) * math.exp(-(t - last_t[j]) / tau[p])
        else:
            vj = v[j]
        vj += x
        last_t[j] = t
        if vj >= vth[p]:
            vj = vj - (vth[p] - vreset[p]) if soft[p] else vreset[p]
            refr_until[j] = t + tref[p]
            last_t[j] = t + tref[p]  # v is held during the refractory period
            if m >= out_t.shape[0]:
                out_t = _grow(out_t, m + 1)
                out_id = _grow(out_id, m + 1)
            out_t[m] = t
            out_id[m] = j
            m += 1
            spike_count[j] += 1
            need = size + syn_ptr[j + 1] - syn_ptr[j]
            if need > ht.shape[0]:
                ht = _grow(ht, need)
                hj = _grow(hj, need)
                hw = _grow(hw, need)
            for k in range(syn_ptr[j], syn_ptr[j + 1]):
                size = _heap_push(ht, hj, hw, size, t + syn_delay_ms[k], syn_post[k], syn_w_signed[k])
        v[j] = vj
    hsize[0] = size
    n_out[0] = m
    src_pos[0] = sp
    return ht, hj, hw, out_t, out_id
