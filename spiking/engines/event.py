"""The event-driven engine (numba): runs a :class:`~spiking.network.Network` and returns a
:class:`~spiking.recording.Recording`.

Two modes:

* ``"clock"`` (default): fixed step ``net.dt``; every neuron model; per-delay ring buffers.
* ``"exact"``: continuous time, for networks whose neurons are all delta-synapse ``LIF``/``IF``
  with a sub-threshold resting drive; a neuron is updated only when an event reaches it, so the
  cost follows the events (suited to sparse sensor streams with microsecond timestamps).
  Delays are the projections' steps times ``dt``; times are resolved to 1e-9 ms (arrival and source
  spike times are rounded to that quantum, so inputs that coincide on a decimal grid coincide).

In clock mode spike-source times are placed on the grid at ``round(t / dt)``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..models.neurons import KIND_SOURCE, LIF, N_COEF
from ..network import Network
from ..recording import ActivityLedger, Recording, SpikeTrains
from . import kernels
from ._progress import CHUNK_WORK as _CHUNK_WORK, PROGRESS_WORK as _PROGRESS_WORK, progress_bar as _progress


class EventEngine:
    """A network flattened once into arrays; ``run`` may be called many times.

    Each run starts from the network's initial state: nothing carries over between runs.

    threads: clock mode on this many threads, neurons and deliveries split by target range, with
    the same spikes bit for bit for every count (``kernels._threads``); None: the cores available,
    fewer for small networks. With plastic projections (``engines.plastic``) the neuron update,
    the threshold test, the static and plastic deliveries and the synapse weight updates run on
    the threads, split by target range; the postsynaptic event log, the presynaptic traces and
    the joined spike list run on one thread; spikes, state and final weights are the same bit for
    bit for every count. Exact and astrocyte runs use one thread.
    """

    def __init__(self, net: Network, mode: str = "clock", threads: int | None = None, *,
                 exact_refractory_end: str = "closed"):
        if mode not in ("clock", "exact"):
            raise ValueError(f"mode={mode!r}: expected 'clock' or 'exact'")
        # exact mode: an input arriving exactly at t_spike + t_ref is discarded ("closed", as clock
        # mode and NEST's iaf_psc_delta) or taken ("open", as NEST's iaf_psc_delta_ps)
        from ._exact import refractory_is_open
        refractory_is_open(exact_refractory_end)   # validates the name
        self.exact_refractory_end = exact_refractory_end
        self.threads = kernels.check_threads(threads)
        net.validate()
        self._plastic = any(proj.plasticity is not None for proj in net.projections)
        if self._plastic and mode != "clock":
            raise ValueError("plastic projections run in clock mode only: use mode='clock'")
        from .astro import uses_astro_kernel  # astrocytes, SIC, Tsodyks: the kernel of engines/astro.py
        self._astro = uses_astro_kernel(net)
        if self._astro and mode != "clock":
            raise ValueError("astrocytes, SIC and Tsodyks synapses run in clock mode only: use mode='clock'")
        self.net = net
        self.mode = mode
        self.dt = net.dt
        pops = list(net.populations.values())
        self.pops = pops
        sizes = np.array([p.size for p in pops], dtype=np.int64)
        self.offset = dict(zip((p.name for p in pops), np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()))
        self.n_total = int(sizes.sum())
        self.pop_start = np.array([self.offset[p.name] for p in pops], dtype=np.int64)
        self.pop_stop = self.pop_start + sizes
        self.pop_kind = np.array([KIND_SOURCE if p.is_source else p.model.kind for p in pops], dtype=np.int64)
        self.coef = np.zeros((len(pops), N_COEF))
        for k, p in enumerate(pops):
            if not p.is_source:
                self.coef[k] = p.model.coefficients(self.dt)
        if mode == "exact":
            self._check_exact()
        self._build_synapses()

    def _check_exact(self):
        for p in self.pops:
            if p.is_source:
                continue
            if not isinstance(p.model, LIF):
                raise ValueError(f"population {p.name!r} uses {type(p.model).__name__}: exact event-driven mode "
                                 "supports delta-synapse LIF/IF only; use mode='clock'")
            vinf = p.model.v_infinity()
            if not vinf < p.model.v_th:
                raise ValueError(f"population {p.name!r}: resting drive reaches v={vinf} >= v_th={p.model.v_th}; "
                                 "exact mode needs neurons that fire only on input events (use mode='clock')")

    def _build_synapses(self):
        """The synapses of every projection as flat arrays sorted (stably) by presynaptic unit.

        Built so that each per-synapse array exists about once at a time (at 1,000,000 neurons
        and 80 M synapses the earlier build held three copies, docs/scale.md): the zero-weight
        mask and the sort are skipped when there is nothing to drop or the concatenation is
        already in ``pre`` order (projections drawn row by row, in population order, are), and
        each array is gathered into its final order straight from the projections."""
        net = self.net
        projs = net.projections
        sizes = [proj.size for proj in projs]
        n_syn = int(sum(sizes))
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

        def gather(part, dtype):
            out = np.empty(n_syn, dtype=dtype)
            for k, proj in enumerate(projs):
                out[starts[k]:starts[k + 1]] = part(k, proj)
            return out

        pre = gather(lambda k, proj: proj.pre_idx + self.offset[proj.pre], np.int64)
        keep = None
        if any(np.any(proj.weight <= 0) for proj in projs):
            # a zero weight has no effect; dropping it keeps delivery bookkeeping exact
            keep = np.flatnonzero(gather(lambda k, proj: proj.weight > 0, np.bool_))
            pre = pre[keep]
        order = None
        if pre.size > 1 and np.any(pre[1:] < pre[:-1]):
            order = np.argsort(pre, kind="stable")
            pre = pre[order]
        if keep is not None:
            order = keep if order is None else keep[order]

        def final(part, dtype):
            arr = gather(part, dtype)
            return arr if order is None else arr[order]

        self.syn_pre = pre
        self.syn_post = final(lambda k, proj: proj.post_idx + self.offset[proj.post], np.int64)
        self.syn_w = final(lambda k, proj: proj.weight, np.float64)
        self.syn_delay = final(lambda k, proj: proj.delay, np.int64)
        self.syn_rec = final(lambda k, proj: 0 if proj.receptor == "excitatory" else 1, np.int64)
        self.syn_proj = final(lambda k, proj: k, np.int64)
        del order, keep
        self.syn_ptr = np.zeros(self.n_total + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.syn_pre, minlength=self.n_total), out=self.syn_ptr[1:])
        self.max_delay = int(self.syn_delay.max()) if self.syn_delay.size else 1
        self.min_delay = int(self.syn_delay.min()) if self.syn_delay.size else 1
        # Ring buffer of max_delay slots: slot n % max_delay is read (and cleared) by the neuron
        # update of step n before step n's spikes are delivered, so a delivery with the maximum
        # delay can reuse it. (One slot for the common case of one-step delays.)
        self.n_slots = self.max_delay
        # per projection: its presynaptic units and their out-degrees (synaptic events of a run =
        # spike counts of these units times their out-degrees, without a pass over all synapses)
        self.proj_pre_degree = []
        for k in range(len(net.projections)):
            pre_k = self.syn_pre[self.syn_proj == k]   # sorted: the synapses are sorted by pre
            starts = np.flatnonzero(np.diff(pre_k, prepend=-1))
            self.proj_pre_degree.append((pre_k[starts], np.diff(starts, append=pre_k.size).astype(np.int64)))
        # shared outgoing weight per unit (kernels.deliver_unit), NaN where a unit's weights differ
        self.unit_w = np.full(self.n_total, np.nan)
        starts = self.syn_ptr[:-1][np.diff(self.syn_ptr) > 0]
        if starts.size:
            first = np.repeat(self.syn_w[starts], np.diff(np.append(starts, self.syn_w.size)))
            same = np.minimum.reduceat((self.syn_w == first).astype(np.int8), starts) > 0
            self.unit_w[self.syn_pre[starts[same]]] = self.syn_w[starts[same]]
        # entry of each synapse in the flattened [slot, receptor, neuron] ring buffer,
        # relative to the slot being delivered from
        self.syn_off = (self.syn_delay * 2 + self.syn_rec) * self.n_total + self.syn_post
        if self.syn_off.size and self.syn_off.max() <= np.iinfo(np.int32).max:
            self.syn_off = self.syn_off.astype(np.int32)   # half the bytes streamed per delivery

    # -- inputs -------------------------------------------------------------------------------
    def _source_spikes(self, duration: float, rng):
        times, ids = [], []
        for p in self.pops:
            if p.is_source:
                t, i = p.model.draw(p.size, duration, rng)
                times.append(np.asarray(t, dtype=np.float64))
                ids.append(np.asarray(i, dtype=np.int64) + self.offset[p.name])
        if not times:
            return np.zeros(0), np.zeros(0, np.int64)
        t = np.concatenate(times)
        i = np.concatenate(ids)
        order = np.argsort(t, kind="stable")
        return t[order], i[order]

    def _source_schedule(self, duration: float, rng):
        """Spike-source input of a clock run, shared by every clock kernel (static, plastic,
        astrocyte, and the hardware backends): the number of steps, the source unit of each spike
        placed on the grid at ``round(t / dt)`` (those past the run dropped), and the pointer
        ``src_ptr`` such that step n's spikes are ``src_i[src_ptr[n]:src_ptr[n + 1]]``."""
        n_steps = int(round(duration / self.dt))
        src_t, src_i = self._source_spikes(duration, rng)
        src_step = np.rint(src_t / self.dt).astype(np.int64)
        keep = src_step < n_steps
        src_step, src_i = src_step[keep], src_i[keep]
        src_ptr = np.searchsorted(src_step, np.arange(n_steps + 1), side="left").astype(np.int64)
        return n_steps, src_i, src_ptr

    def _initial_state(self):
        v = np.zeros(self.n_total)
        ie = np.zeros(self.n_total)
        ii = np.zeros(self.n_total)
        for p in self.pops:
            if p.is_source:
                continue
            a = self.offset[p.name]
            st = p.initial_state()
            v[a:a + p.size] = st["v"]
            if "i_e" in st:
                ie[a:a + p.size] = st["i_e"]
                ii[a:a + p.size] = st["i_i"]
        return v, ie, ii

    def _record_ids(self, record, record_ids):
        record = dict(record or {})
        record_ids = dict(record_ids or {})
        gids, layout = [], []
        for name, variables in record.items():
            if name not in self.net.populations:
                raise ValueError(f"record: population {name!r} not in the network")
            pop = self.net.populations[name]
            if pop.is_source:
                raise ValueError(f"record: population {name!r} is a spike source and has no state")
            variables = [variables] if isinstance(variables, str) else list(variables)
            for var in variables:
                if var not in pop.model.state_variables:
                    raise ValueError(f"record: {name!r} has no state variable {var!r} (has {pop.model.state_variables})")
            ids = np.arange(pop.size) if name not in record_ids else np.asarray(record_ids[name], dtype=np.int64).ravel()
            if ids.size and (ids.min() < 0 or ids.max() >= pop.size):
                raise ValueError(f"record_ids for {name!r}: expected ids in [0, {pop.size})")
            layout.append((name, variables, ids, len(gids) and sum(g.size for g in gids)))
            gids.append(ids + self.offset[name])
        all_ids = np.concatenate(gids) if gids else np.zeros(0, np.int64)
        return all_ids.astype(np.int64), layout

    # -- running ------------------------------------------------------------------------------
    def run(self, duration: float, *, rng=None, record=None, record_ids=None, progress=None) -> Recording:
        """Simulate ``duration`` ms.

        rng: ``np.random.Generator`` for Poisson sources (required when there are any);
        record: {population: [state variables]} (clock mode); record_ids: {population: ids};
        progress: show a progress bar (default: only for long runs).
        """
        duration = float(duration)
        if not math.isfinite(duration) or duration <= 0:
            raise ValueError(f"duration={duration}: expected a positive number of ms")
        if self.mode == "exact" and record:
            raise ValueError("exact mode records spikes only: drop record= or use mode='clock'")
        with kernels.compile_timer() as timer:   # numba compile / cache-load time, apart from simulation
            if self.mode == "exact":
                rec = self._run_exact(duration, rng, progress)
            else:
                rec = self._run_clock(duration, rng, record, record_ids, progress)
        rec.timing = dict(timer.report(), threads=kernels.plan_threads(self))
        return rec

    def _run_clock(self, duration, rng, record, record_ids, progress):
        if self._astro:  # astrocytes, SIC or Tsodyks synapses: the kernel of spiking.engines.astro
            from .astro import run_clock_astro
            return run_clock_astro(self, duration, rng, record, record_ids, progress)
        if self._plastic:  # plastic projections: the kernel of spiking.engines.plastic
            from .plastic import run_clock_plastic
            return run_clock_plastic(self, duration, rng, record, record_ids, progress)
        n_steps, src_i, src_ptr = self._source_schedule(duration, rng)
        v, ie, ii = self._initial_state()
        ref_end = kernels.new_refractory(self.n_total, n_steps, self.coef)
        buf = np.zeros((self.n_slots, 2, self.n_total))
        rec_gids, layout = self._record_ids(record, record_ids)
        n_rec = rec_gids.size
        rows = n_steps if n_rec else 0
        rec_v = np.zeros((rows, n_rec))
        rec_ie = np.zeros((rows, n_rec))
        rec_ii = np.zeros((rows, n_rec))
        spike_count = np.zeros(self.n_total, dtype=np.int64)
        cap = max(1 << 16, 2 * (self.n_total + src_i.size))
        out_step = np.empty(cap, dtype=np.int64)
        out_id = np.empty(cap, dtype=np.int64)
        n_out = np.zeros(1, dtype=np.int64)
        scratch = np.empty(self.n_total + max(1, int(np.diff(src_ptr).max(initial=0))), dtype=np.int64)
        touched = np.empty(2 * self.n_total + 1 if self.n_slots == 1 else 0, dtype=np.int64)
        n_touched = np.zeros(1, dtype=np.int64)
        active = np.zeros(len(self.pops), dtype=np.int64)   # per population: updates with input
        work = n_steps * max(self.n_total, 1)
        chunk = n_steps if not (progress or (progress is None and work > _PROGRESS_WORK)) \
            else max(1, _CHUNK_WORK // max(self.n_total, 1))
        bar = _progress(n_steps, "simulating", unit="step") if chunk < n_steps else None
        step = 0
        plan = kernels.plan_for(self)   # None: one thread
        clock = kernels.clock_kernel(self.pop_kind)   # clock_run, or its twin for one population kind
        while step < n_steps:
            stop = min(n_steps, step + chunk)
            if plan is not None:   # several threads: kernels._threads, the same result bit for bit
                reached = kernels.clock_run_threads(plan, step, stop, self.pop_start, self.pop_stop, self.pop_kind,
                                                    self.coef, v, ie, ii, ref_end, buf, self.unit_w, src_ptr, src_i,
                                                    spike_count, out_step, out_id, n_out,
                                                    rec_gids, rec_v, rec_ie, rec_ii, 0, scratch,
                                                    window=kernels.window_for(self, rec_gids.size > 0), act=active)
            else:
                reached = clock(step, stop, self.pop_start, self.pop_stop, self.pop_kind, self.coef,
                            v, ie, ii, ref_end, buf,
                            self.syn_ptr, self.unit_w, self.syn_off, self.syn_w,
                            src_ptr, src_i,
                            spike_count, out_step, out_id, n_out,
                            rec_gids, rec_v, rec_ie, rec_ii, 0, scratch, touched, n_touched, active)
            if reached < stop:  # spike output full: grow and continue where it stopped
                out_step = np.concatenate([out_step, np.empty_like(out_step)])
                out_id = np.concatenate([out_id, np.empty_like(out_id)])
            if bar is not None:
                bar.update(reached - step)
            step = reached
        if bar is not None:
            bar.close()
        return self._finish_clock(duration, n_steps, out_step, out_id, n_out, spike_count,
                                  {"v": rec_v, "i_e": rec_ie, "i_i": rec_ii}, layout, active)

    def _finish_clock(self, duration, n_steps, out_step, out_id, n_out, spike_count, rec_states, layout,
                      active=None):
        """The Recording of a clock-mode run (shared with the plastic and astrocyte kernels' runs):
        trims the spike output, slices the recorded state columns into per-population dicts,
        counts updates. ``active``: the active updates per population as the static kernels count
        them (None: counted here from the spikes, :func:`active_inputs`)."""
        m = int(n_out[0])
        times = out_step[:m] * self.dt
        ids = out_id[:m]
        state, state_ids = {}, {}
        for name, variables, ids_local, col0 in layout:
            cols = slice(col0, col0 + ids_local.size)
            state[name] = {var: rec_states[var][:, cols].copy() for var in variables}
            state_ids[name] = ids_local
        updates = {p.name: (0 if p.is_source else p.size * n_steps) for p in self.pops}
        return self._finish(duration, times, ids, spike_count, updates, state, state_ids, n_steps, "clock", active)

    def _run_exact(self, duration, rng, progress):
        if duration > kernels.MAX_EXACT_MS:
            raise ValueError(f"duration={duration} ms: exact mode resolves time to {kernels.TIME_QUANTUM} ms "
                             f"and runs at most {kernels.MAX_EXACT_MS:.0f} ms; use mode='clock' or shorter runs")
        dt = self.dt
        pops = self.pops
        pop_of = np.zeros(self.n_total, dtype=np.int64)
        tau = np.full(len(pops), np.inf)
        vinf = np.zeros(len(pops))
        drift = np.zeros(len(pops))
        vreset = np.zeros(len(pops))
        vth = np.full(len(pops), np.inf)
        soft = np.zeros(len(pops), dtype=np.bool_)
        tref = np.zeros(len(pops))
        for k, p in enumerate(pops):
            pop_of[self.pop_start[k]:self.pop_stop[k]] = k
            if p.is_source:
                continue
            m = p.model
            tau[k] = m.tau_m
            if math.isinf(m.tau_m):
                vinf[k] = m.v_rest
                drift[k] = m.i_offset / m.c_m    # mV/ms; only <= 0 passes _check_exact
            else:
                vinf[k] = m.v_infinity()
            vreset[k], vth[k] = m.v_reset, m.v_th
            soft[k] = m.reset == "soft"
            tref[k] = m.t_ref   # continuous time (clock mode rounds it to whole steps)
        # an input at exactly t_spike + t_ref: "closed" (default) discards it as clock mode does,
        # "open" takes it as NEST's iaf_psc_delta_ps does (set engine.exact_refractory_end)
        from ._exact import refractory_is_open
        refractory_open = refractory_is_open(self.exact_refractory_end)
        sign = np.where(self.syn_rec == 0, 1.0, -1.0)
        w_signed = self.syn_w * sign
        delay_ms = self.syn_delay * dt
        src_t, src_i = self._source_spikes(duration, rng)
        src_t = kernels.snap_times(src_t)
        v, _, _ = self._initial_state()
        last_t = np.zeros(self.n_total)
        refr_until = np.full(self.n_total, -np.inf)
        cap = 1 << 12
        ht, hj, hw = np.empty(cap), np.empty(cap, np.int64), np.empty(cap)
        hsize = np.zeros(1, np.int64)
        out_t, out_id = np.empty(cap), np.empty(cap, np.int64)
        n_out = np.zeros(1, np.int64)
        src_pos = np.zeros(1, np.int64)
        spike_count = np.zeros(self.n_total, np.int64)
        update_count = np.zeros(self.n_total, np.int64)
        n_chunks = 100 if (progress or (progress is None and src_t.size > 5_000_000)) else 1
        bar = _progress(n_chunks, "simulating (exact)", unit="chunk") if n_chunks > 1 else None
        for c in range(1, n_chunks + 1):
            t_stop = duration * c / n_chunks
            ht, hj, hw, out_t, out_id = kernels.exact_run(
                t_stop, pop_of, tau, vinf, drift, vreset, vth, soft, tref, dt, v, last_t, refr_until,
                self.syn_ptr, self.syn_post, w_signed, delay_ms, src_t, src_i, src_pos,
                ht, hj, hw, hsize, spike_count, update_count, out_t, out_id, n_out, refractory_open)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        m = int(n_out[0])
        updates = {p.name: int(update_count[self.pop_start[k]:self.pop_stop[k]].sum()) for k, p in enumerate(pops)}
        return self._finish(duration, out_t[:m], out_id[:m], spike_count, updates, {}, {}, 0, "exact")

    def _finish(self, duration, times, ids, spike_count, updates, state, state_ids, steps, mode, active=None):
        spikes = {}
        for k, p in enumerate(self.pops):
            sel = (ids >= self.pop_start[k]) & (ids < self.pop_stop[k])
            spikes[p.name] = SpikeTrains(times[sel].copy(), ids[sel] - self.pop_start[k], p.size)
        # synaptic events per projection = sum over its synapses of the presynaptic spike count
        events = [int(spike_count[units] @ degree) for units, degree in self.proj_pre_degree]
        ledger = ActivityLedger(
            spikes={p.name: int(len(spikes[p.name])) for p in self.pops},
            neuron_updates=updates,
            synaptic_events={proj.name: events[k] for k, proj in enumerate(self.net.projections)},
            steps=steps, mode=mode)
        self._energy_counts(ledger, duration, times, ids, updates, active)
        return Recording(self.dt, duration, spikes, state, state_ids, ledger)

    def _energy_counts(self, ledger, duration, times, ids, updates, active=None):
        """The counts the energy model prices (ActivityLedger docstring, docs/energy.md), from the
        run's spikes and the synapse arrays, except the active updates of a static clock run:
        those the kernels count as they read the ring buffer (``active``, per population)."""
        steps = ledger.steps if ledger.mode == "clock" else int(round(duration / self.dt))
        if ledger.mode == "clock" and active is not None:
            # static clock kernels: a unit's update is active when its ring-buffer entries for the
            # step are not zero; every weight is > 0 (zero weights are dropped when the synapse
            # arrays are built), so that is exactly when an event arrives, as active_inputs counts
            active = {p.name: 0 if p.is_source else int(active[k]) for k, p in enumerate(self.pops)}
        elif ledger.mode == "clock":
            # a neuron update is active when at least one synaptic event arrives in its step
            per_unit = active_inputs(np.rint(times / self.dt).astype(np.int64), ids.astype(np.int64),
                                     self.syn_ptr, self.syn_post, self.syn_delay, steps, self.n_total,
                                     self.min_delay, self.max_delay)
            active = {p.name: 0 if p.is_source else int(per_unit[self.pop_start[k]:self.pop_stop[k]].sum())
                      for k, p in enumerate(self.pops)}
        else:  # exact mode updates a neuron only when an event reaches it
            active = dict(updates)
        n_var = {p.name: 0 if p.is_source else len(p.model.state_variables) for p in self.pops}
        ledger.active_updates = active
        ledger.neurons = {p.name: int(p.size) for p in self.pops}
        ledger.state_variables = n_var
        ledger.state_reads = {k: int(updates[k]) * n_var[k] for k in updates}
        ledger.state_writes = dict(ledger.state_reads)
        ledger.synapses = {proj.name: int(proj.size) for proj in self.net.projections}
        ledger.dense_synapses = {proj.name: int(proj.size) * steps for proj in self.net.projections}
        ledger.ac_ops = dict(ledger.synaptic_events)   # every input of a description is a spike
        ledger.mac_ops = {proj.name: 0 for proj in self.net.projections}


@njit(cache=True, nogil=True)
def _active_inputs(spk_step, spk_id, syn_ptr, syn_post, syn_delay, n_steps, min_delay, state, count):
    """Per unit, the number of steps < n_steps in which at least one synaptic event arrives
    (a spike of step s reaches synapse k's target in step s + delay[k]).

    Spikes come in step order, so the arrivals still to be told apart lie in
    [s + min_delay, s + max_delay]: a ring of ``rows`` (a power of two > max_delay - min_delay)
    entries per unit of "last arrival step counted" tells a new (target, step) pair from one
    already counted. With one delay for every synapse (the common case) one row suffices and the
    delays are not read. Each unit's "last step" and count sit side by side (one cache line per
    random access), and indices are unsigned (no wraparound code): about 3x the speed of the
    plain two-array loop on the 16k CUBA network (docs/scale.md). The arrays are made by
    :func:`active_inputs` (allocating inside numba costs ~0.5 s of a cold compile)."""
    n_total = count.shape[0]
    rows = state.shape[0] // (2 * n_total)   # 1: one delay for every synapse
    uniform = rows == 1
    mask = np.uint64(rows - 1)
    stride = np.uint64(2 * n_total)
    one = np.uint64(1)
    two = np.uint64(2)
    for s in range(spk_step.shape[0]):
        st = spk_step[s]
        j = spk_id[s]
        k0 = np.uint64(syn_ptr[j])
        k1 = np.uint64(syn_ptr[j + 1])
        if uniform:
            a = st + min_delay
            if a >= n_steps:
                break          # every later spike arrives later still
            for k in range(k0, k1):
                f = two * np.uint64(syn_post[k])
                x = state[f]
                state[f] = a
                state[f + one] += x != a
        else:
            for k in range(k0, k1):
                a = st + syn_delay[k]
                if a >= n_steps:
                    continue
                p = np.uint64(syn_post[k])
                f = (np.uint64(a) & mask) * stride + two * p
                x = state[f]
                state[f] = a
                count[p] += x != a
    if uniform:
        for p in range(n_total):
            count[p] = state[2 * p + 1] + 1   # the count started from -1
    return count


def active_inputs(spk_step, spk_id, syn_ptr, syn_post, syn_delay, n_steps, n_total, min_delay, max_delay):
    """Per unit, the number of steps < n_steps in which at least one synaptic event arrives (see
    :func:`_active_inputs`). Spikes in step order; ``min_delay``/``max_delay``: of the synapses."""
    count = np.zeros(n_total, np.int64)
    if n_total == 0:
        return count
    rows = 1      # a power of two > max_delay - min_delay; 1 (no ring) when every delay is equal
    while rows <= max_delay - min_delay:
        rows *= 2
    state = np.full(rows * 2 * n_total, -1, np.int64)
    return _active_inputs(spk_step, spk_id, syn_ptr, syn_post, syn_delay, n_steps, min_delay, state, count)


def simulate(net: Network, duration: float, *, mode: str = "clock", rng=None, record=None, record_ids=None,
             progress=None, threads: int | None = None) -> Recording:
    """Simulate ``net`` for ``duration`` ms with the event engine (see :class:`EventEngine`)."""
    return EventEngine(net, mode=mode, threads=threads).run(duration, rng=rng, record=record, record_ids=record_ids,
                                           progress=progress)
