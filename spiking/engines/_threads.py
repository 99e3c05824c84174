"""Clock mode on several threads, with results that do not depend on the thread count.

The units are split into ``T`` contiguous target ranges ``[bounds[t], bounds[t+1])``. Thread ``t``
alone updates the neurons of its range and alone adds to the ring-buffer entries of its range, so
no two threads write the same memory and no atomics are needed. Each step is one parallel region:

1. every thread delivers the previous step's spikes (all of them, in the order they were
   recorded) to the synapses whose targets lie in its range, then
2. updates its neurons for this step (the kernels of ``_clock.py``, the same code as one thread),
   lists its spikes, and clears the ring slot it has just read in its range.

Then, on one thread, the per-range spike lists are joined in range order (which is index order,
the order of the single-threaded ``clock_run``), followed by the step's source spikes.

Why the result is bit-for-bit that of ``clock_run`` for every ``T``: a neuron's update reads only
its own state and its own ring-buffer entries, with the same arithmetic. A ring-buffer entry is a
floating-point sum whose value depends on the order of its additions. Here, as in ``clock_run``,
the additions to one entry come spike by spike in recorded order, and within a spike in synapse
order. The synapses of each unit are kept sorted by target (a stable sort, see
:func:`thread_plan`), so each thread's share of a unit's synapses is one contiguous run that keeps
their relative order. So every entry receives the same additions in the same order.

Clearing a slot right after the update has read it, and delivering at the start of the next
step, keeps the single-threaded order (read, clear, deliver), seen from each range.

Windows of several steps (NEST's min-delay communication interval; Morrison et al. 2005,
"Advancing the boundaries of high-connectivity network simulation with distributed computing",
Neural Comput. 17:1776): when every synapse has a delay of at least D steps, a spike of step s
is read no earlier than step s + D. So the threads can run up to D steps (``window``) on their
own ranges before any spike is exchanged, and one parallel region per window replaces one per
step. The window's spikes are joined step by step, as above, and delivered at the start of the
next window, each from the ring slot of its own step: every entry still receives the same
additions in the same order, and every addition lands before the step that reads it (arrival
s + d >= window end for d >= D) and after the clearing of the entry's previous use (arrival
< window start + max_delay). State recording reads v after each step, so a run that records
state uses windows of one step.

NEST splits its work the same way: a synapse is stored and delivered on the thread (virtual
process) that owns its target neuron, so no two threads write the same state (Ippen et al. 2017,
"Constructing neuronal network models in massively parallel environments", Front. Neuroinform.
11:30).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from ..models.neurons import KIND_DELTA, KIND_EXP_NEST, KIND_EXP_SPINNAKER
from ._clock import _twin, _update_delta, _update_delta_ie, _update_exp_nest, _update_exp_spinnaker, add_synapses

# Range boundaries are multiples of this many units (64 float64 = 8 cache lines), so that two
# threads never write the same cache line of v, i_e, i_i or the ring buffer.
_ALIGN = 64


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports one), at most
    numba's thread pool size (``NUMBA_NUM_THREADS``)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, numba.config.NUMBA_NUM_THREADS))


def check_threads(threads) -> int | None:
    """``threads`` validated: None (the cores available) or an int >= 1."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads={threads!r}: expected a whole number >= 1 (or None for the cores available)")
    return int(threads)


@dataclass(frozen=True)
class ThreadPlan:
    """Target ranges and the synapse arrays ordered for them (see :func:`thread_plan`)."""

    bounds: np.ndarray    # int64 [T + 1]: thread t owns units [bounds[t], bounds[t+1])
    tptr: np.ndarray      # int64 [n_units, T + 1]: unit j's synapses onto range t are tptr[j, t]:tptr[j, t+1]
    syn_off: np.ndarray   # ring-buffer offsets (as EventEngine.syn_off), sorted by target within each unit
    syn_w: np.ndarray     # weights in the same order

    @property
    def threads(self) -> int:
        return int(self.bounds.size - 1)


def split_ranges(weight: np.ndarray, threads: int) -> np.ndarray:
    """Boundaries of ``threads`` contiguous ranges of units with about equal total ``weight``
    (1 per neuron, 0 per spike-source unit: sources are not updated), on multiples of _ALIGN."""
    n = weight.size
    cum = np.concatenate([[0.0], np.cumsum(weight, dtype=np.float64)])
    targets = cum[-1] * np.arange(1, threads) / threads
    inner = np.searchsorted(cum, targets, side="left")
    inner = np.minimum((inner + _ALIGN // 2) // _ALIGN * _ALIGN, n)
    bounds = np.concatenate([[0], inner, [n]]).astype(np.int64)
    return np.maximum.accumulate(bounds)          # empty ranges are allowed, never negative ones


def thread_plan(threads: int, syn_ptr, syn_post, syn_off, syn_w, unit_weight) -> ThreadPlan:
    """The ranges for ``threads`` threads and each unit's synapses split by target range.

    The synapses of each unit are stably sorted by target; arrays that are sorted already (e.g.
    FixedProbability connections, whose targets come out ascending) are used as they are, without
    a copy."""
    threads = int(threads)
    n = syn_ptr.size - 1
    bounds = split_ranges(np.asarray(unit_weight, dtype=np.float64), threads)
    if not _sorted_by_target(syn_ptr, syn_post):
        pre = np.repeat(np.arange(n, dtype=np.int64), np.diff(syn_ptr))
        order = np.lexsort((syn_post, pre))       # by unit, then target; stable (lexsort is)
        syn_post, syn_off, syn_w = syn_post[order], syn_off[order], syn_w[order]
    tptr = np.empty((n, threads + 1), dtype=np.int64)
    _range_pointers(syn_ptr, syn_post, bounds, tptr)
    return ThreadPlan(bounds, tptr, syn_off, syn_w)


@njit(cache=True, nogil=True)
def _sorted_by_target(syn_ptr, syn_post):
    """Whether each unit's synapses are in ascending target order (one pass, no temporaries:
    80 M synapses at a million neurons)."""
    for j in range(syn_ptr.shape[0] - 1):
        for k in range(syn_ptr[j] + 1, syn_ptr[j + 1]):
            if syn_post[k] < syn_post[k - 1]:
                return False
    return True


@njit(cache=True, nogil=True)
def _range_pointers(syn_ptr, syn_post, bounds, tptr):
    """``tptr[j, t]``: the first synapse of unit j onto range t or above (targets sorted per unit)."""
    n_thr = bounds.shape[0] - 1
    for j in range(syn_ptr.shape[0] - 1):
        k = syn_ptr[j]
        tptr[j, 0] = k
        for t in range(1, n_thr):
            while k < syn_ptr[j + 1] and syn_post[k] < bounds[t]:
                k += 1
            tptr[j, t] = k
        tptr[j, n_thr] = syn_ptr[j + 1]


@njit(cache=True, nogil=True)
def _update_range(lo, hi, step, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end, be, bi, scratch, act):
    """The neurons of units [lo, hi) for step ``step`` (the population kernels on each
    population's share of the range); spikes listed from ``scratch[lo]`` on. Returns how many.
    ``act[p]``: the range's active updates of population p (``_clock.update_neurons``)."""
    ns = np.int64(lo)
    for p in range(pop_start.shape[0]):
        kind = pop_kind[p]
        a = max(pop_start[p], lo)
        b = min(pop_stop[p], hi)
        if kind < 0 or a >= b:
            continue
        c = coef[p]
        if kind == KIND_DELTA:
            ns = _update_delta(a, b, step, v, ref_end, be, bi, c, scratch, ns, act, p)
        elif kind == KIND_EXP_NEST:
            ns = _update_exp_nest(a, b, step, v, ie, ii, ref_end, be, bi, c, scratch, ns, act, p)
        else:
            ns = _update_exp_spinnaker(a, b, step, v, ie, ii, ref_end, be, bi, c, scratch, ns, act, p)
    return ns - lo


@njit(cache=True, nogil=True)
def _deliver_range(t, s0, s1, out_id, slot, tptr, unit_w, syn_off, syn_w, flat, slot_size):
    """The spikes ``out_id[s0:s1]``, emitted in ring slot ``slot``, delivered to range t's targets
    (the additions of ``_clock.deliver_unit``, in the same order, restricted to the range)."""
    base = np.uint64(slot * slot_size)
    for s in range(s0, s1):
        j = out_id[s]
        add_synapses(np.uint64(tptr[j, t]), np.uint64(tptr[j, t + 1]), base, unit_w[j], syn_off, syn_w, flat)


@njit(cache=True, nogil=True)
def _deliver_range_steps(t, s0, s1, out_id, out_step, n_slots, tptr, unit_w, syn_off, syn_w, flat, slot_size):
    """:func:`_deliver_range` for spikes of several steps: spike s is delivered from the ring slot
    of its own step ``out_step[s]``. Same additions in the same order as step-by-step delivery."""
    for s in range(s0, s1):
        j = out_id[s]
        base = np.uint64((out_step[s] % n_slots) * slot_size)
        add_synapses(np.uint64(tptr[j, t]), np.uint64(tptr[j, t + 1]), base, unit_w[j], syn_off, syn_w, flat)


@njit(cache=True, nogil=True)
def join_step(step, bounds, counts, scratch, src_ptr, src_ids, spike_count, out_step, out_id, m):
    """Step ``step``'s spikes appended to the output from position ``m``: range t's list
    ``scratch[bounds[t]:bounds[t] + counts[t]]`` in range order (which is index order, as one
    thread lists them), then the step's source spikes; counted in ``spike_count``. Returns the
    new end of the output. Shared by the static and plastic threaded kernels."""
    for t in range(bounds.shape[0] - 1):
        lo = bounds[t]
        for s in range(counts[t]):
            j = scratch[lo + s]
            spike_count[j] += 1
            out_step[m] = step
            out_id[m] = j
            m += 1
    for k in range(src_ptr[step], src_ptr[step + 1]):
        j = src_ids[k]
        spike_count[j] += 1
        out_step[m] = step
        out_id[m] = j
        m += 1
    return m


@njit(cache=True, nogil=True)
def _thread_step(t, step, n_win, m_prev, m, bounds, pop_start, pop_stop, pop_kind, coef,
                 v, ie, ii, ref_end, buf, tptr, unit_w, syn_off, syn_w, out_id, out_step, scratch, n_spk, act):
    """Thread t's share of a window of ``n_win`` steps from ``step`` (module docstring): the
    spikes ``out_id[m_prev:m]`` of the previous window delivered to its range, then its neurons
    updated step by step, each step's spikes listed in ``scratch[i * N + lo:]`` (N units, step
    ``step + i``) and the slot read cleared in its range; its active updates are added to
    ``act[t]``. (One call is the whole body of the parallel loop: numba's parallel passes then see
    a small loop body, which keeps the compile short.)"""
    lo = bounds[t]
    hi = bounds[t + 1]
    n_total = v.shape[0]
    n_slots = buf.shape[0]
    flat = buf.reshape(-1)
    _deliver_range_steps(t, m_prev, m, out_id, out_step, n_slots, tptr, unit_w, syn_off, syn_w, flat, 2 * n_total)
    for i in range(n_win):
        st = step + i
        slot = st % n_slots
        be = buf[slot, 0]
        bi = buf[slot, 1]
        n_spk[i, t] = _update_range(lo, hi, st, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end,
                                    be, bi, scratch[i * n_total:(i + 1) * n_total], act[t])
        for j in range(lo, hi):
            be[j] = 0.0
            bi[j] = 0.0


@njit(cache=True, nogil=True, parallel=True)
def _parallel_step(n_thr, step, n_win, m_prev, m, bounds, pop_start, pop_stop, pop_kind, coef,
                   v, ie, ii, ref_end, buf, tptr, unit_w, syn_off, syn_w, out_id, out_step, scratch, n_spk, act):
    """:func:`_thread_step` for every range, on the thread pool: the only parallel function,
    kept to this one loop so that numba's parallel passes (the slow part of compiling it) see
    nothing else."""
    for t in prange(n_thr):
        _thread_step(np.int64(t), step, n_win, m_prev, m, bounds, pop_start, pop_stop, pop_kind,
                     coef, v, ie, ii, ref_end, buf, tptr, unit_w, syn_off, syn_w, out_id, out_step, scratch, n_spk,
                     act)


@njit(cache=True, nogil=True)
def _clock_run_par(step0, step1, pop_start, pop_stop, pop_kind, coef,
                   v, ie, ii, ref_end, buf,
                   bounds, tptr, unit_w, syn_off, syn_w,
                   src_ptr, src_ids,
                   spike_count, out_step, out_id, n_out,
                   rec_ids, rec_v, rec_ie, rec_ii, rec_step0, scratch, n_spk, act):
    """Steps [step0, step1) as in ``_clock.clock_run``: one parallel loop over the ranges per
    window of up to ``n_spk.shape[0]`` steps (:func:`_parallel_step`), then the window's spikes
    joined on this thread, step by step (module docstring). Windows longer than one step need
    every delay to be at least that long and no state recording (the caller sees to both)."""
    n_thr = bounds.shape[0] - 1
    window = n_spk.shape[0]
    cap = out_step.shape[0]
    n_total = v.shape[0]
    n_rec = rec_ids.shape[0]
    m = n_out[0]
    m_prev = m          # out_id[m_prev:m]: the previous window's spikes, not yet delivered
    step = step0
    while True:
        # the steps of this window that fit the run and the spike output; none: the last pass,
        # which only delivers the pending spikes, so that nothing is pending on return
        n_win = 0
        need = m
        while n_win < window and step + n_win < step1:
            need += n_total + src_ptr[step + n_win + 1] - src_ptr[step + n_win]
            if need > cap:
                break
            n_win += 1
        if n_win == 0 and m == m_prev:
            break
        _parallel_step(n_thr, step, n_win, m_prev, m, bounds, pop_start, pop_stop, pop_kind,
                       coef, v, ie, ii, ref_end, buf, tptr, unit_w, syn_off, syn_w, out_id, out_step, scratch, n_spk,
                     act)
        m_prev = m
        if n_win == 0:
            break
        for i in range(n_win):
            st = step + i
            m = join_step(st, bounds, n_spk[i], scratch[i * n_total:(i + 1) * n_total], src_ptr, src_ids,
                          spike_count, out_step, out_id, m)
            if n_rec > 0:
                r = st - rec_step0
                for q in range(n_rec):
                    j = rec_ids[q]
                    rec_v[r, q] = v[j]
                    rec_ie[r, q] = ie[j]
                    rec_ii[r, q] = ii[j]
        step += n_win
    n_out[0] = m
    return step


# One-kind twins of the threaded kernel, as ``_clock.clock_kernel`` has for one thread: the
# range update calls that kind's population kernel alone, and each function above it is
# recompiled from its own code with the callee below rebound (``_clock._twin``).
_KIND, _KERNEL = KIND_DELTA, _update_delta_ie   # bound anew in each twin


def _update_range_one_kind(lo, hi, step, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end, be, bi, scratch,
                           act):
    """``_update_range`` for networks whose neuron populations are all of kind ``_KIND``: the
    same calls in the same order."""
    ns = np.int64(lo)
    for p in range(pop_start.shape[0]):
        a = max(pop_start[p], lo)
        b = min(pop_stop[p], hi)
        if pop_kind[p] != _KIND or a >= b:
            continue
        ns = _KERNEL(a, b, step, v, ie, ii, ref_end, be, bi, coef[p], scratch, ns, act, p)
    return ns - lo


_ONE_KIND = {}
for _kind, _kernel, _tag in ((KIND_DELTA, _update_delta_ie, "delta"), (KIND_EXP_NEST, _update_exp_nest, "nest"),
                             (KIND_EXP_SPINNAKER, _update_exp_spinnaker, "spinnaker")):
    _f = _twin(_update_range_one_kind, f"_update_range_{_tag}", _KIND=_kind, _KERNEL=_kernel)
    _f = _twin(_thread_step, f"_thread_step_{_tag}", _update_range=_f)
    _f = _twin(_parallel_step, f"_parallel_step_{_tag}", {"parallel": True}, _thread_step=_f)
    _ONE_KIND[_kind] = _twin(_clock_run_par, f"_clock_run_par_{_tag}", _parallel_step=_f)


def _kernel_for(pop_kind):
    kinds = {int(k) for k in pop_kind if k >= 0}
    if len(kinds) == 1 and kinds <= _ONE_KIND.keys():
        return _ONE_KIND[kinds.pop()]
    return _clock_run_par


def _passive_wait():
    """OpenMP threads that wait for the next step sleep rather than spin, unless the user chose
    (``OMP_WAIT_POLICY``). Each step is one parallel loop; on a machine with more runnable threads
    than cores, spinning waiters take the core from the thread the step waits for. Measured on a
    loaded 2-core machine (docs/scale.md, section 4): 2 threads 30x slower than 1 with spinning,
    1.5x faster with sleeping. Set here, just before numba starts its thread pool (the first
    ``get_num_threads``), and not at import, so that other OpenMP users in the process (torch)
    keep their defaults; once the pool runs, a later change has no effect."""
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def clock_run_threads(plan: ThreadPlan, step0, step1, pop_start, pop_stop, pop_kind, coef,
                      v, ie, ii, ref_end, buf,
                      unit_w, src_ptr, src_ids,
                      spike_count, out_step, out_id, n_out,
                      rec_ids, rec_v, rec_ie, rec_ii, rec_step0, scratch, window: int = 1, act=None) -> int:
    """``clock_run`` on ``plan.threads`` threads (the arguments as there; the synapses come from
    ``plan``). The same spikes, spike counts, state and recorded state, bit for bit, as
    ``clock_run`` for any thread count; returns the first step not simulated likewise. Nothing is
    carried between calls (the ring-buffer slots are left as ``clock_run`` leaves them, without its
    one-slot ``touched`` list: a call of this kernel clears slots densely). ``act``: per
    population, the active updates are added to it (``update_neurons``); None: not counted."""
    if scratch.shape[0] < v.shape[0]:
        raise ValueError(f"scratch holds {scratch.shape[0]} entries: expected at least {v.shape[0]} (one per unit)")
    window = int(window)
    if window < 1 or (window > 1 and rec_ids.shape[0] > 0):
        raise ValueError(f"window={window}: expected 1, or more than 1 only without state recording")
    if window > 1:   # one list of spikes per unit and step of the window
        scratch = np.empty(window * v.shape[0], dtype=np.int64)
    n_spk = np.zeros((window, plan.threads), dtype=np.int64)   # [step of the window, range]
    act_rows = np.zeros((plan.threads, pop_kind.shape[0]), dtype=np.int64)   # [range, population]
    _passive_wait()
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(plan.threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        kernel = _kernel_for(pop_kind)   # a one-kind twin, or the kernel for every kind
        reached = int(kernel(step0, step1, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end, buf,
                             plan.bounds, plan.tptr, unit_w, plan.syn_off, plan.syn_w, src_ptr, src_ids,
                             spike_count, out_step, out_id, n_out,
                             rec_ids, rec_v, rec_ie, rec_ii, rec_step0, scratch, n_spk, act_rows))
    finally:
        numba.set_num_threads(before)
    if act is not None:
        act += act_rows.sum(axis=0)
    return reached


class thread_pool:
    """``with thread_pool(n):`` numba's pool limited to ``n`` threads (at most its size) for the
    block, with passive OpenMP waiting (:func:`_passive_wait`), as :func:`clock_run_threads` sets
    them; the previous thread count is restored on exit. For other threaded kernels (``_plastic_threads.py``)."""

    def __init__(self, threads: int):
        self.threads = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))

    def __enter__(self):
        _passive_wait()
        self.before = numba.get_num_threads()
        numba.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        numba.set_num_threads(self.before)
        return False


def neuron_weight(engine) -> np.ndarray:
    """Per unit of ``engine``: 1 for a neuron, 0 for a spike-source unit (the ``unit_weight`` of
    :func:`thread_plan`: sources are not updated)."""
    weight = np.zeros(engine.n_total)
    for start, stop, kind in zip(engine.pop_start, engine.pop_stop, engine.pop_kind):
        if kind >= 0:
            weight[start:stop] = 1.0
    return weight


# Longest window (steps per parallel region) when delays allow more: bounds the spike lists kept
# per window (window x units entries) at a million units.
MAX_WINDOW = 16


def window_for(engine, recording: bool) -> int:
    """Steps per parallel region of a threaded static clock run of ``engine``: its shortest delay
    (at most MAX_WINDOW), or 1 when state is recorded (module docstring)."""
    return 1 if recording else max(1, min(int(engine.min_delay), MAX_WINDOW))


# Below this many neurons per thread a step's work is too small to pay for waking the threads:
# the default (threads=None) uses fewer threads. Measured on the 2-core development machine,
# idle, passive waiting (benchmarks/threads.py, CUBA, 2026-12-03): 2 threads ran at 0.07x of one
# at 4,000 neurons, 0.25x at 16,000, 0.64x at 64,000 and 0.98x at 160,000 (1.18x with
# OMP_WAIT_POLICY=active), so the default takes a second thread only from 2 x 32,768 neurons.
# (It was 2,048, which put the 16,000-neuron CUBA network on two threads at a quarter the speed.)
MIN_NEURONS_PER_THREAD = 32768


def plan_threads(engine) -> int:
    """The number of threads ``engine.run`` uses: ``engine.threads`` when given, else the cores
    available, at most one per MIN_NEURONS_PER_THREAD neurons; 1 where only one-thread kernels
    exist (exact mode, astrocyte networks). Plastic networks have a threaded kernel of their own
    (``_plastic_threads.py``) and follow the same rule."""
    if engine.mode != "clock" or getattr(engine, "_astro", False):
        return 1
    if engine.threads is not None:
        return engine.threads
    n_neurons = int(sum(stop - start for start, stop, kind in
                        zip(engine.pop_start, engine.pop_stop, engine.pop_kind) if kind >= 0))
    return max(1, min(available_cores(), n_neurons // MIN_NEURONS_PER_THREAD))


def plan_for(engine):
    """The :class:`ThreadPlan` of an EventEngine's clock run, made once per thread count and kept
    on the engine; None for one thread (``clock_run`` then)."""
    threads = plan_threads(engine)
    if threads == 1:
        return None
    plans = engine.__dict__.setdefault("_thread_plans", {})
    if threads not in plans:
        plans[threads] = thread_plan(threads, engine.syn_ptr, engine.syn_post, engine.syn_off, engine.syn_w,
                                     neuron_weight(engine))
    return plans[threads]
