"""Clock-mode numba kernels of the event engine (one thread): neuron updates, ring-buffer delivery,
``clock_run``. Re-exported by :mod:`spiking.engines.kernels`, whose docstring describes them.

In a file of their own so that numba's on-disk cache of these kernels (keyed by the source file)
survives edits to the exact-mode and threaded kernels, and theirs edits to this one.
"""
from __future__ import annotations

import math
import types

import numpy as np
from numba import njit
from numba.extending import overload

from ..models.neurons import COEF, KIND_DELTA, KIND_EXP_NEST, KIND_EXP_SPINNAKER

_P22, _DRIVE = COEF["p22"], COEF["drive"]
_P11E, _P11I, _P21E, _P21I = COEF["p11e"], COEF["p11i"], COEF["p21e"], COEF["p21i"]
_VREST, _VRESET, _VTH = COEF["v_rest"], COEF["v_reset"], COEF["v_th"]
_SOFT, _REF = COEF["soft_reset"], COEF["ref_steps"]
_SCALE_E, _SCALE_I, _RM, _IOFF = COEF["in_scale_e"], COEF["in_scale_i"], COEF["r_m"], COEF["i_offset"]


# Refractory state: ``ref_end[j]`` is the last step of unit j's refractory period (-1 before its
# first spike). A neuron integrates in step n iff ``ref_end[j] < n``; a spike in step n sets
# ``ref_end[j] = n + ref_steps``, so v is held in steps n+1 .. n+ref_steps. (An absolute step
# rather than a down-counter: the update reads it and never writes it, one store fewer per neuron
# and step.) int32 when every step of the run fits, else int64 (see :func:`new_refractory`).
#
# Each update kernel also does the threshold test, block by block: the vectorised loop updates a
# block of _BLOCK neurons and counts the candidates (v >= v_th after the update); only a block with
# a candidate is scanned, in index order, for the spikes (candidate that integrated this step:
# a refractory neuron holds v below threshold, except after a soft reset from far above it). So
# spikes are listed in the order of a separate full threshold pass, and v is read from L1.
#
# A refractory neuron's v is written back as ``vo + 0.0`` (the same value; -0.0 becomes +0.0),
# an unconditional store of a select: storing ``vo`` itself lets LLVM turn the store into a masked
# store (vmaskmovpd, microcoded and slow on AMD cores; it made the old kernel ~25 % slower).
# ``_FASTMATH`` leaves out "nsz" so that ``+ 0.0`` is not folded away. Loop indices are unsigned
# so that numba emits no negative-index wraparound, which would stop the loops from vectorising.

_BLOCK = 256

# fastmath without reassociation (and without "nsz", see above): the sums are evaluated in the
# order written, with fused multiply-adds, whatever LLVM does to the loop. The orders written are
# the ones LLVM chose under full fastmath for the vectorised body of the earlier kernels, so the
# results are bit-identical to them. (Under full fastmath the earlier delta-synapse kernel summed
# in another order in its scalar remainder loop, i.e. for the last few neurons of a population:
# there v now differs from before in the last bit; the sPyNNaker and NEST-order kernels had one
# order and are unchanged.)
_FASTMATH = {"nnan", "ninf", "arcp", "contract", "afn"}


def new_refractory(n_total: int, n_steps: int, coef: np.ndarray) -> np.ndarray:
    """Refractory state for ``n_total`` units at the start of a run of ``n_steps`` steps (no unit
    refractory): int32 (less memory traffic) when ``step + ref_steps`` always fits, else int64."""
    max_ref = int(coef[:, _REF].max()) if coef.size else 0
    dtype = np.int32 if n_steps + max_ref < np.iinfo(np.int32).max else np.int64
    return np.full(n_total, -1, dtype=dtype)


def _step_like(step, ref_end):
    """``step`` in the integer type of ``ref_end`` (numba only, see the overload below)."""
    return step


@overload(_step_like)
def _step_like_numba(step, ref_end):
    # The update's refractory test compares ref_end[j] (int32 for most runs) with the step: an
    # int64 step makes every vector iteration widen the int32 lanes to int64 first; the step cast
    # once per call to ref_end's type keeps the compare in int32 (about a fifth off the update of
    # the 4k CUBA network). new_refractory picks int64 whenever a step might not fit int32.
    dtype = ref_end.dtype

    def impl(step, ref_end):
        return dtype(step)
    return impl


@njit(cache=True, nogil=True)
def _spikes(a0, b0, step, v, ref_end, c, scratch, ns):
    """Spike test, reset and refractory start over units [a0, b0); appends global ids to scratch."""
    vth = c[_VTH]
    vreset = c[_VRESET]
    soft = c[_SOFT] > 0.5
    jump = vth - vreset
    ref = np.int64(c[_REF])
    for j in range(a0, b0):
        if v[j] >= vth:
            if ref_end[j] < step:
                v[j] = v[j] - jump if soft else vreset
                ref_end[j] = step + ref
                scratch[ns] = j
                ns += 1
    return ns


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _update_delta(lo, hi, step, v, ref_end, be, bi, c, scratch, ns, act, p):
    """Delta-synapse LIF (NEST iaf_psc_delta) on units [lo, hi): decay, drive and this step's input
    jumps; refractory neurons hold v and discard their input. Then the threshold test. Adds the
    number of units with input this step to ``act[p]`` (see ``_count_active``)."""
    p22 = c[_P22]
    vrest = c[_VREST]
    base = vrest + c[_DRIVE]
    vth = c[_VTH]
    st = _step_like(step, ref_end)
    na = 0
    for a0 in range(np.uint64(lo), np.uint64(hi), np.uint64(_BLOCK)):
        b0 = min(a0 + np.uint64(_BLOCK), np.uint64(hi))
        cand = 0
        for j in range(a0, b0):
            vo = v[j]
            xe = be[j]
            xi = bi[j]
            na += xe + xi > 0.0
            vn = (vo - vrest) * p22 + (base + xe) - xi
            x = vn if ref_end[j] < st else vo + 0.0
            v[j] = x
            cand += x >= vth
        if cand > 0:
            ns = _spikes(a0, b0, step, v, ref_end, c, scratch, ns)
    act[p] += na
    return ns


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _update_exp_nest(lo, hi, step, v, ie, ii, ref_end, be, bi, c, scratch, ns, act, p):
    """NEST iaf_psc_exp on units [lo, hi): membrane from the old currents, then the currents
    decay and take this step's input. Then the threshold test; ``act[p]`` as ``_update_delta``."""
    p22 = c[_P22]
    vrest = c[_VREST]
    base = vrest + c[_DRIVE]
    p11e = c[_P11E]
    p11i = c[_P11I]
    p21e = c[_P21E]
    p21i = c[_P21I]
    vth = c[_VTH]
    st = _step_like(step, ref_end)
    na = 0
    for a0 in range(np.uint64(lo), np.uint64(hi), np.uint64(_BLOCK)):
        b0 = min(a0 + np.uint64(_BLOCK), np.uint64(hi))
        cand = 0
        for j in range(a0, b0):
            vo = v[j]
            e = ie[j]
            i = ii[j]
            xe = be[j]
            xi = bi[j]
            na += xe + xi > 0.0
            vn = base + (vo - vrest) * p22 + p21e * e - p21i * i
            x = vn if ref_end[j] < st else vo + 0.0
            v[j] = x
            cand += x >= vth
            ie[j] = e * p11e + xe
            ii[j] = i * p11i + xi
        if cand > 0:
            ns = _spikes(a0, b0, step, v, ref_end, c, scratch, ns)
    act[p] += na
    return ns


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _update_exp_spinnaker(lo, hi, step, v, ie, ii, ref_end, be, bi, c, scratch, ns, act, p):
    """sPyNNaker on units [lo, hi): scaled input joins the currents first; closed-form membrane
    with the current held over the step; then the currents decay. (sPyNNaker decays after the
    threshold test; the test does not read the currents, so the decay is folded in here.)
    Then the threshold test; ``act[p]`` as ``_update_delta``."""
    p22 = c[_P22]
    vrest = c[_VREST]
    rm = c[_RM]
    ioff = c[_IOFF]
    p11e = c[_P11E]
    p11i = c[_P11I]
    se = c[_SCALE_E]
    si = c[_SCALE_I]
    vth = c[_VTH]
    st = _step_like(step, ref_end)
    na = 0
    for a0 in range(np.uint64(lo), np.uint64(hi), np.uint64(_BLOCK)):
        b0 = min(a0 + np.uint64(_BLOCK), np.uint64(hi))
        cand = 0
        for j in range(a0, b0):
            xe = be[j]
            xi = bi[j]
            na += xe + xi > 0.0
            e = xe * se + ie[j]
            i = xi * si + ii[j]
            vo = v[j]
            vinf = (e + ioff - i) * rm + vrest
            vn = (vo - vinf) * p22 + vinf
            x = vn if ref_end[j] < st else vo + 0.0
            v[j] = x
            cand += x >= vth
            ie[j] = e * p11e
            ii[j] = i * p11i
        if cand > 0:
            ns = _spikes(a0, b0, step, v, ref_end, c, scratch, ns)
    act[p] += na
    return ns


@njit(cache=True, nogil=True)
def update_neurons(step, slot, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end, buf, scratch, act):
    """Step ``step`` of every neuron population, reading ring-buffer slot ``slot``, with the
    threshold test. Returns the number of spiking neurons, whose global ids are written to
    ``scratch`` (population by population, in index order); adds population p's units with
    input this step to ``act[p]``. The caller clears the slot before it delivers the step's
    spikes. Shared by all clock kernels."""
    ns = np.int64(0)   # not the literal 0: numba would compile every callee once for Literal[int](0) too
    be = buf[slot, 0]
    bi = buf[slot, 1]
    for p in range(pop_start.shape[0]):
        kind = pop_kind[p]
        if kind < 0:
            continue
        a = pop_start[p]
        b = pop_stop[p]
        c = coef[p]
        if kind == KIND_DELTA:
            ns = _update_delta(a, b, step, v, ref_end, be, bi, c, scratch, ns, act, p)
        elif kind == KIND_EXP_NEST:
            ns = _update_exp_nest(a, b, step, v, ie, ii, ref_end, be, bi, c, scratch, ns, act, p)
        else:
            ns = _update_exp_spinnaker(a, b, step, v, ie, ii, ref_end, be, bi, c, scratch, ns, act, p)
    return ns


@njit(cache=True, nogil=True)
def deliver(j, slot, syn_ptr, syn_off, syn_w, flat, slot_size):
    """Add the synaptic events of a spike of unit ``j``, emitted in ring slot ``slot``, to the
    ring buffer (flattened). ``syn_off[k] = delay[k] * 2N + receptor[k] * N + post[k]`` is
    synapse k's entry relative to the current slot: one add per synapse. (Unsigned indices: no
    negative-index wraparound code in the loop.)"""
    flat_size = np.uint64(flat.shape[0])
    base = np.uint64(slot * slot_size)
    for k in range(np.uint64(syn_ptr[j]), np.uint64(syn_ptr[j + 1])):
        f = base + np.uint64(syn_off[k])
        if f >= flat_size:
            f -= flat_size
        flat[f] += syn_w[k]


# Delivery in clock_run: ``unit_w[j]`` is the weight shared by all synapses of unit j, or NaN
# when they differ. With a shared weight it is read once per spike and the loop streams only
# ``syn_off`` (int32 where the offsets fit); otherwise the weights are read per synapse from
# ``syn_w``. Either way the same additions in the same order. Both delivery kernels are inlined
# into their callers by numba (``inline="always"``): no compile and cache entry of their own, a
# tenth less to compile on a fresh install; a loop of additions to distinct entries gives the
# same sums under any caller's fastmath flags.

@njit(cache=True, nogil=True, inline="always")
def add_synapses(k0, k1, base, w, syn_off, syn_w, flat):
    """The additions of synapses [k0, k1) (unsigned) to the flattened ring buffer, relative to
    the entry ``base`` of their emission slot: weight ``w`` for every synapse, or ``syn_w[k]``
    when ``w`` is NaN (see above). The one delivery loop of the clock kernels, one and several
    threads."""
    flat_size = np.uint64(flat.shape[0])
    if math.isnan(w):
        for k in range(k0, k1):
            f = base + np.uint64(syn_off[k])
            if f >= flat_size:
                f -= flat_size
            flat[f] += syn_w[k]
    else:
        for k in range(k0, k1):
            f = base + np.uint64(syn_off[k])
            if f >= flat_size:
                f -= flat_size
            flat[f] += w


@njit(cache=True, nogil=True, inline="always")
def deliver_unit(j, slot, syn_ptr, unit_w, syn_off, syn_w, flat, slot_size):
    """``deliver`` with the shared weight of unit j where it has one (see above)."""
    add_synapses(np.uint64(syn_ptr[j]), np.uint64(syn_ptr[j + 1]), np.uint64(slot * slot_size), unit_w[j],
                 syn_off, syn_w, flat)


@njit(cache=True, nogil=True, inline="always")
def deliver_tracked(j, syn_ptr, unit_w, syn_off, syn_w, flat, touched, n_touched):
    """``deliver_unit`` for a one-slot ring buffer (every delay one step), listing each entry
    that becomes non-zero in ``touched`` (weights are > 0, so a sum never returns to zero and
    every entry is listed once); returns the new length of the list. The slot is then cleared
    entry by entry after it has been read, instead of by a dense pass."""
    flat_size = np.uint64(flat.shape[0])
    nt = np.uint64(n_touched)
    k0 = np.uint64(syn_ptr[j])
    k1 = np.uint64(syn_ptr[j + 1])
    w = unit_w[j]
    if math.isnan(w):
        for k in range(k0, k1):
            f = np.uint64(syn_off[k]) - flat_size   # delay 1: base 0, one wrap
            x = flat[f]
            touched[nt] = f                        # kept only if the entry was still zero
            nt += np.uint64(x == 0.0)
            flat[f] = x + syn_w[k]
    else:
        for k in range(k0, k1):
            f = np.uint64(syn_off[k]) - flat_size
            x = flat[f]
            touched[nt] = f
            nt += np.uint64(x == 0.0)
            flat[f] = x + w
    return np.int64(nt)


@njit(cache=True, nogil=True)
def clock_run(step0, step1, pop_start, pop_stop, pop_kind, coef,
              v, ie, ii, ref_end, buf,
              syn_ptr, unit_w, syn_off, syn_w,
              src_ptr, src_ids,
              spike_count, out_step, out_id, n_out,
              rec_ids, rec_v, rec_ie, rec_ii, rec_step0, scratch, touched, n_touched, act):
    """Advance steps [step0, step1). Returns the first step not simulated (step1, or earlier
    when the spike output arrays are too full to hold another step; the caller grows them).

    The slot the neuron update has read is cleared before the step's spikes are delivered (a
    delivery with the maximum delay reuses it). With one ring slot (every delay one step) the
    entries written are listed in ``touched`` (``n_touched[0]`` of them, carried over between
    calls; ``touched`` holds 2N + 1: every entry once, plus the scratch position of the
    branch-free append) and only those are cleared; with more slots the whole slot is.
    ``act[p]`` counts population p's active updates (``update_neurons``)."""
    n_slots = buf.shape[0]
    tracked = n_slots == 1
    nt = n_touched[0]
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
        ns = update_neurons(step, slot, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end, buf, scratch, act)
        if tracked:
            for t in range(nt):
                flat[touched[t]] = 0.0
            nt = 0
        else:
            buf[slot] = 0.0
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
            if tracked:
                nt = deliver_tracked(j, syn_ptr, unit_w, syn_off, syn_w, flat, touched, nt)
            else:
                deliver_unit(j, slot, syn_ptr, unit_w, syn_off, syn_w, flat, slot_size)
        n_out[0] = m
        n_touched[0] = nt
        if n_rec > 0:
            r = step - rec_step0
            for q in range(n_rec):
                j = rec_ids[q]
                rec_v[r, q] = v[j]
                rec_ie[r, q] = ie[j]
                rec_ii[r, q] = ii[j]
    return step1


# -- one-kind twins of the clock kernel ---------------------------------------------------------
# ``update_neurons`` branches on the population kind at run time, so numba compiles all three
# population kernels for every network. Most networks use one kind. For them ``clock_kernel``
# picks a twin of ``clock_run`` compiled from the same source, whose update calls that kind's
# kernel alone: about a quarter less to compile on a fresh install (docs/scale.md, section 4).

@njit(cache=True, nogil=True)
def _update_delta_ie(lo, hi, step, v, ie, ii, ref_end, be, bi, c, scratch, ns, act, p):
    """``_update_delta`` with the argument list of the exponential-synapse kernels."""
    return _update_delta(lo, hi, step, v, ref_end, be, bi, c, scratch, ns, act, p)


_KIND, _KERNEL = KIND_DELTA, _update_delta_ie   # bound anew in each twin by _twin


def _update_one_kind(step, slot, pop_start, pop_stop, pop_kind, coef, v, ie, ii, ref_end, buf, scratch, act):
    """``update_neurons`` for networks whose neuron populations are all of kind ``_KIND`` (a global
    bound per twin, with ``_KERNEL``, by :func:`_twin`): the same calls in the same order."""
    ns = np.int64(0)
    be = buf[slot, 0]
    bi = buf[slot, 1]
    for p in range(pop_start.shape[0]):
        if pop_kind[p] == _KIND:
            ns = _KERNEL(pop_start[p], pop_stop[p], step, v, ie, ii, ref_end, be, bi, coef[p], scratch, ns, act, p)
    return ns


def _twin(kernel, name, options=None, **bind):
    """``kernel`` (a function or a numba dispatcher) compiled anew from the same code, with the
    globals in ``bind`` replaced: a plain module-level function (no closure, so numba caches it
    like any other, under its own ``name``). ``options``: more numba options (``parallel``)."""
    f = getattr(kernel, "py_func", kernel)
    fn = types.FunctionType(f.__code__, dict(f.__globals__, **bind), name, f.__defaults__)
    fn.__qualname__ = name
    fn.__doc__ = f"``{f.__name__}`` for {name.rsplit('_', 1)[-1]}-kind networks. " + (f.__doc__ or "")
    return njit(cache=True, nogil=True, **(options or {}))(fn)


_ONE_KIND = {}
for _kind, _kernel, _tag in ((KIND_DELTA, _update_delta_ie, "delta"), (KIND_EXP_NEST, _update_exp_nest, "nest"),
                             (KIND_EXP_SPINNAKER, _update_exp_spinnaker, "spinnaker")):
    _upd = _twin(_update_one_kind, f"update_neurons_{_tag}", _KIND=_kind, _KERNEL=_kernel)
    _ONE_KIND[_kind] = _twin(clock_run, f"clock_run_{_tag}", update_neurons=_upd)


def clock_kernel(pop_kind: np.ndarray):
    """The clock kernel for populations of these kinds: the one-kind twin of ``clock_run`` when
    every neuron population is of one kind, else ``clock_run``. Both give the same result (the
    same calls in the same order) where both apply."""
    kinds = {int(k) for k in pop_kind if k >= 0}
    if len(kinds) == 1 and kinds <= _ONE_KIND.keys():
        return _ONE_KIND[kinds.pop()]
    return clock_run
