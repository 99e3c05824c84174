"""Exact (continuous-time) event-driven kernel of the event engine: a binary heap of synaptic
events, delta-synapse LIF/IF neurons updated only when an event reaches them, the refractory
period in continuous time (NEST ``iaf_psc_delta_ps``, ``tests/test_exact_nest_ps.py``). Re-exported by
:mod:`spiking.engines.kernels`; a file of its own so that numba caches it apart from the clock kernels.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

# Exact mode resolves time to 1e-9 ms: 0.1 + 0.5 and 0.4 + 0.2 are the same instant. Counts of
# quanta are exact in a double below 2**53; runs stop at 2**52 quanta (about 75 minutes) so that
# the rounding half (+0.5) is still represented.
QUANTA_PER_MS = 1e9
TIME_QUANTUM = 1.0 / QUANTA_PER_MS
MAX_EXACT_MS = 2.0 ** 52 * TIME_QUANTUM


# Where an input that arrives exactly at t_spike + t_ref goes (exact_run's refractory_open):
# "closed" discards it (clock mode, NEST iaf_psc_delta), "open" takes it (NEST iaf_psc_delta_ps).
REFRACTORY_ENDS = ("closed", "open")


def refractory_is_open(end: str) -> bool:
    """``exact_run``'s ``refractory_open`` for an end convention named in :data:`REFRACTORY_ENDS`."""
    if end not in REFRACTORY_ENDS:
        raise ValueError(f"exact_refractory_end={end!r}: expected one of {REFRACTORY_ENDS}")
    return end == "open"


@njit(cache=True, nogil=True)
def snap_time(t):
    """``t`` (ms) rounded to the nearest multiple of TIME_QUANTUM."""
    return math.floor(t * QUANTA_PER_MS + 0.5) / QUANTA_PER_MS


def snap_times(t: np.ndarray) -> np.ndarray:
    """:func:`snap_time` of every element (the same arithmetic, for arrays outside the kernel)."""
    return np.floor(t * QUANTA_PER_MS + 0.5) / QUANTA_PER_MS


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
def exact_run(t_stop, pop_of, tau, vinf, drift, vreset, vth, soft, tref, dt,
              v, last_t, refr_until,
              syn_ptr, syn_post, syn_w_signed, syn_delay_ms,
              src_t, src_ids, src_pos,
              ht, hj, hw, hsize,
              spike_count, update_count, out_t, out_id, n_out, refractory_open=False):
    """Process every event with time < t_stop. Returns the (possibly grown) heap and output arrays.

    ``src_pos[0]`` is the index of the next unprocessed source spike; ``hsize[0]`` the heap size.
    Arrival times are snapped to :data:`TIME_QUANTUM` so that inputs that coincide on a decimal
    grid coincide here too. ``drift`` is the constant voltage slope (mV/ms) of non-leaky neurons.
    A soft reset that leaves v at or above threshold queues a zero-weight event one ``dt`` after
    the refractory period, where the neuron fires again (as clock mode does in its next step).

    ``tref`` (ms) is the refractory period in continuous time; its end ``t_spike + t_ref`` is put on
    the time quantum. An input that arrives exactly at that end is discarded (the closed interval
    ``(t_spike, t_spike + t_ref]``, as clock mode and NEST's ``iaf_psc_delta`` count), or with
    ``refractory_open`` taken after the neuron leaves refractoriness (``[t_spike, t_spike + t_ref)``:
    NEST's ``iaf_psc_delta_ps`` hands its end-of-refractoriness pseudo-event out before an input of
    the same time, ``SliceRingBuffer::get_next_spike`` in nestkernel/slice_ring_buffer.h).
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
                size = _heap_push(ht, hj, hw, size, snap_time(t_src + syn_delay_ms[k]), syn_post[k],
                                  syn_w_signed[k])
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
        if t < refr_until[j] or (t == refr_until[j] and not refractory_open):
            continue  # input during the refractory period is discarded
        p = pop_of[j]
        update_count[j] += 1
        if tau[p] < np.inf:
            vj = vinf[p] + (v[j] - vinf[p]) * math.exp(-(t - last_t[j]) / tau[p])
        else:
            vj = v[j] + drift[p] * (t - last_t[j])
        vj += x
        last_t[j] = t
        if vj >= vth[p]:
            vj = vj - (vth[p] - vreset[p]) if soft[p] else vreset[p]
            refr_until[j] = snap_time(t + tref[p])   # continuous t_ref, on the time quantum
            last_t[j] = refr_until[j]  # v is held during the refractory period
            if vj >= vth[p]:  # soft reset left it above threshold: look again after the refractory period
                if size + 1 > ht.shape[0]:
                    ht = _grow(ht, size + 1)
                    hj = _grow(hj, size + 1)
                    hw = _grow(hw, size + 1)
                size = _heap_push(ht, hj, hw, size, snap_time(refr_until[j] + dt), j, 0.0)
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
                size = _heap_push(ht, hj, hw, size, snap_time(t + syn_delay_ms[k]), syn_post[k], syn_w_signed[k])
        v[j] = vj
    hsize[0] = size
    n_out[0] = m
    src_pos[0] = sp
    return ht, hj, hw, out_t, out_id
