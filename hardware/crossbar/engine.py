"""Run a network description with its projections held in crossbar tiles.

``CrossbarEngine(net, device=..., io=..., t_inference=..., projections=None)`` programs every
projection named in ``projections`` (default: all) onto crossbars of ``device`` (one
:class:`~.analog.AnalogMatrix` per projection and delay value: rows are the presynaptic units,
columns the postsynaptic ones), lets it drift to ``t_inference`` seconds, and then simulates on
the event engine's clock: each step the neuron kernels of the event engine
(``spiking.engines.kernels.update_neurons``) update every population and report the spikes; the
rows of the spiking presynaptic units are driven with binary read pulses, the column currents go
through the ADC, the tiles' partial sums are added digitally, and the result enters the same
ring buffer the event engine delivers into (slot ``step + delay``, the projection's receptor).
Projections not on crossbars are delivered as in the event engine.

``run`` returns the same :class:`~spiking.recording.Recording` as ``EventEngine.run`` (clock
mode), with the crossbar's counts in ``ledger.backend["crossbar"]``: the keys of
:func:`~.analog.empty_counts` (the energy model's contract) and ``reads_by_projection``.

With the ideal device and ``io=PERFECT`` the column sums are the weights' sums: the spikes are the
event engine's, spike for spike (the sums are added in another order, so ``v`` may differ in the
last bits).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from spiking.engines import EventEngine, kernels
from spiking.network import Network

from .analog import AnalogMatrix, add_counts, empty_counts
from .periphery import PERFECT, IOParameters

__all__ = ["CrossbarEngine"]


@njit(cache=True, nogil=True)
def _deliver_spikes(spikes, slot, syn_ptr, unit_w, syn_off, syn_w, flat, slot_size):
    for s in range(spikes.shape[0]):
        kernels.deliver_unit(spikes[s], slot, syn_ptr, unit_w, syn_off, syn_w, flat, slot_size)


class _Crossbar:
    """One projection's synapses of one delay value on an analog matrix."""

    def __init__(self, proj, delay, pre_start, n_pre, post_start, n_post, matrix):
        self.proj, self.delay = proj.name, int(delay)
        self.receptor = 0 if proj.receptor == "excitatory" else 1
        self.pre_start, self.n_pre = pre_start, n_pre
        self.post_start, self.n_post = post_start, n_post
        self.matrix = matrix


class CrossbarEngine:
    """A network whose projections (all, or those named) run on modelled crossbars.

    device: a preset name or :class:`~.devices.Device` (default "ideal"); io: the periphery
    (default :data:`~.periphery.PERFECT` for the ideal device, else aihwkit's defaults);
    t_inference: seconds between programming and the run; weight_scaling: "column" (default:
    each postsynaptic neuron's weights use the full conductance range) or "tensor";
    drift_compensation: None, "global" or "per_column"; generator: a ``torch.Generator`` for
    programming, drift and read noise (or ``seed``).
    """

    def __init__(self, net: Network, device="ideal", io: IOParameters | None = None, t_inference: float = 0.0,
                 projections=None, *, tile_size=(256, 256), weight_scaling: str = "column",
                 drift_compensation=None, generator: torch.Generator | None = None, seed: int | None = None):
        if not isinstance(net, Network):
            raise TypeError(f"net of type {type(net).__name__}: expected a spiking.Network")
        net.validate()
        t = float(t_inference)
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"t_inference={t_inference}: expected a finite time >= 0 in seconds since programming")
        names = [p.name for p in net.projections]
        chosen = names if projections is None else list(projections)
        unknown = [p for p in chosen if p not in names]
        if unknown:
            raise ValueError(f"projections {unknown}: not in the network (has {names})")
        for proj in net.projections:
            if proj.plasticity is not None:
                raise ValueError(f"projection {proj.name!r} is plastic: CrossbarEngine runs static networks only")
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        elif not isinstance(generator, torch.Generator):
            raise TypeError(f"generator={generator!r}: expected a torch.Generator")
        self.generator = generator
        self.net = net
        self.t_inference = t
        self.on_crossbar = [p for p in names if p in set(chosen)]
        rest = Network(dt=net.dt)
        rest.populations = dict(net.populations)
        rest.projections = [p for p in net.projections if p.name not in set(chosen)]
        self._ev = EventEngine(rest, mode="clock")           # delivers the projections not on crossbars
        self._full = EventEngine(net, mode="clock")          # the Recording and ledger of the whole network
        if getattr(self._full, "_astro", False):
            raise ValueError("the network has astrocytes, SIC or Tsodyks synapses: CrossbarEngine runs LIF/IF/CubaLIF "
                             "populations with static synapses only")
        ev = self._ev
        from .devices import get_device
        self.device = get_device(device)
        self.io = io if io is not None else (PERFECT if self.device.is_ideal else IOParameters())
        self.crossbars: list[_Crossbar] = []
        for proj in net.projections:
            if proj.name not in set(chosen):
                continue
            keep = proj.weight > 0       # as the event engine: a zero weight is no synapse
            pre_pop, post_pop = net.populations[proj.pre], net.populations[proj.post]
            for d in np.unique(proj.delay[keep]):
                sel = keep & (proj.delay == d)
                w = np.zeros((post_pop.size, pre_pop.size))
                np.add.at(w, (proj.post_idx[sel], proj.pre_idx[sel]), proj.weight[sel])
                m = AnalogMatrix(torch.from_numpy(w), self.device, self.io, tile_size, weight_scaling,
                                 drift_compensation)
                m.program(generator)
                m.drift(t, generator)
                m.reset_counts()
                self.crossbars.append(_Crossbar(proj, d, ev.offset[proj.pre], pre_pop.size, ev.offset[proj.post],
                                                post_pop.size, m))
        delays = [xb.delay for xb in self.crossbars]
        self.n_slots = max([ev.max_delay] + delays)
        self.tile_size = tuple(tile_size)

    @property
    def tiles(self) -> int:
        return sum(xb.matrix.layout.n_tiles for xb in self.crossbars)

    def mapping_report(self) -> str:
        lines = [f"CrossbarEngine: {len(self.crossbars)} crossbar matrices, {self.tiles} tiles of "
                 f"{self.tile_size[0]} x {self.tile_size[1]} weights, device {self.device.name}, "
                 f"t_inference {self.t_inference:g} s"]
        for xb in self.crossbars:
            lines.append(f"  {xb.proj} (delay {xb.delay}): {xb.matrix.layout}")
        return "\n".join(lines)

    def run(self, duration: float, *, rng=None, record=None, record_ids=None, progress=None,
            generator: torch.Generator | None = None):
        """Simulate ``duration`` ms (arguments as ``EventEngine.run``; ``generator`` for read noise,
        default the engine's)."""
        ev = self._ev
        duration = float(duration)
        if not math.isfinite(duration) or duration <= 0:
            raise ValueError(f"duration={duration}: expected a positive number of ms")
        gen = self.generator if generator is None else generator
        dt = ev.dt
        n_steps, src_i, src_ptr = ev._source_schedule(duration, rng)
        v, ie, ii = ev._initial_state()
        ref_end = kernels.new_refractory(ev.n_total, n_steps, ev.coef)
        n_slots = self.n_slots
        buf = np.zeros((n_slots, 2, ev.n_total))
        flat = buf.reshape(-1)
        slot_size = 2 * ev.n_total
        # the event path's synapse offsets assume its own ring size: recompute for ours
        syn_off = ((ev.syn_delay.astype(np.int64) * 2 + ev.syn_rec) * ev.n_total + ev.syn_post).astype(np.int64)
        rec_gids, layout = ev._record_ids(record, record_ids)
        n_rec = rec_gids.size
        rows = n_steps if n_rec else 0
        rec = {"v": np.zeros((rows, n_rec)), "i_e": np.zeros((rows, n_rec)), "i_i": np.zeros((rows, n_rec))}
        spike_count = np.zeros(ev.n_total, dtype=np.int64)
        out_step, out_id = [], []
        scratch = np.empty(ev.n_total + max(1, int(np.diff(src_ptr).max(initial=0))), dtype=np.int64)
        # the kernel's count of updates with input is not the ledger's here: a crossbar's output
        # current may be zero or negative, so the ledger counts arrivals from the spikes
        active = np.zeros(len(ev.pops), dtype=np.int64)
        for xb in self.crossbars:
            xb.matrix.reset_counts()
        show = progress if progress is not None else n_steps * max(len(self.crossbars), 1) > 200_000
        bar = None
        if show:
            from tqdm.auto import tqdm
            bar = tqdm(total=n_steps, desc="crossbar", unit="step", leave=False, disable=None)
        for step in range(n_steps):
            slot = step % n_slots
            ns = kernels.update_neurons(step, slot, ev.pop_start, ev.pop_stop, ev.pop_kind, ev.coef, v, ie, ii,
                                        ref_end, buf, scratch, active)
            buf[slot] = 0.0
            a, b = src_ptr[step], src_ptr[step + 1]
            scratch[ns:ns + b - a] = src_i[a:b]
            spikes = scratch[:ns + b - a].copy()
            if spikes.size:
                np.add.at(spike_count, spikes, 1)
                out_step.append(np.full(spikes.size, step, dtype=np.int64))
                out_id.append(spikes)
                _deliver_spikes(spikes, slot, ev.syn_ptr, ev.unit_w, syn_off, ev.syn_w, flat, slot_size)
                for xb in self.crossbars:
                    local = spikes[(spikes >= xb.pre_start) & (spikes < xb.pre_start + xb.n_pre)] - xb.pre_start
                    if local.size == 0:
                        continue
                    # a unit that spikes twice in a step (a source) drives its row with two pulses:
                    # one binary read per multiplicity
                    mult = np.bincount(local, minlength=xb.n_pre)
                    x = torch.from_numpy((mult[None, :] >= np.arange(1, mult.max() + 1)[:, None]).astype(np.float64))
                    y = xb.matrix.forward(x, gen, binary=True).sum(dim=0).numpy()
                    buf[(slot + xb.delay) % n_slots, xb.receptor, xb.post_start:xb.post_start + xb.n_post] += y
            if n_rec:
                rec["v"][step] = v[rec_gids]
                rec["i_e"][step] = ie[rec_gids]
                rec["i_i"][step] = ii[rec_gids]
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        steps_arr = np.concatenate(out_step) if out_step else np.zeros(0, np.int64)
        ids_arr = np.concatenate(out_id) if out_id else np.zeros(0, np.int64)
        # the full network's engine writes the Recording and the ledger (every projection, in its
        # order, counted as the event engine counts them)
        recording = self._full._finish_clock(duration, n_steps, steps_arr, ids_arr, np.array([steps_arr.size]),
                                             spike_count, rec, layout)
        recording.ledger.backend["crossbar"] = self.counts()
        return recording

    def counts(self) -> dict:
        """Crossbar counts of the last run (the ledger layout)."""
        total = empty_counts(self.device.name, *self.tile_size)
        by_proj = {}
        for xb in self.crossbars:
            c = xb.matrix.ledger_counts()
            add_counts(total, c)
            by_proj[xb.proj] = by_proj.get(xb.proj, 0) + int(c["reads"])
        total["device"] = self.device.name
        total["t_inference_s"] = self.t_inference
        total["reads_by_projection"] = by_proj
        return total
