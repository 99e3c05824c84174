"""Ring-buffer left shifts and 16-bit weights, chosen per post population and synapse type as
sPyNNaker 7 chooses them (``abstract_population_vertex.py``: ``_Stats``, ``get_ring_buffer_shifts``).

For each synapse type of a population, every incoming projection adds: its largest weight times
the most connections any one post neuron receives from it (``total_weights``, times the
presynaptic spikes per tick: max(1, spikes_per_second / ticks per second), 1 for spike arrays);
the largest single weight (``biggest_weight``); and its weight statistics. When no projection of
that type has a spread of delays (delay variance 0) the largest summed input is
max(total, biggest); otherwise it is the expected upper bound (mean + sigma SD,
:func:`~spiking.hardware.spinnaker.fixedpoint.expected_upper_bound`, with spikes_per_second 30
and sigma 5) limited to [biggest, total]. The shift is then
:func:`~spiking.hardware.spinnaker.fixedpoint.max_weight_power` of it. A plastic projection counts
with its rule's ``w_max`` (sPyNNaker: the weight dependence's maximum).
"""
from __future__ import annotations

import math

import numpy as np

from spiking.models.sources import PoissonSource, SpikeSourceArray

from . import fixedpoint as fx

RECEPTOR_INDEX = {"excitatory": 0, "inhibitory": 1}


def _max_in_degree(proj, n_post) -> int:
    if proj.size == 0:
        return 0
    return int(np.bincount(proj.post_idx, minlength=n_post).max())


def _spikes_per_tick(net, proj, spikes_per_second) -> float:
    ticks_per_second = 1000.0 / net.dt
    pre = net.populations[proj.pre].model
    if isinstance(pre, SpikeSourceArray):
        return 1.0                            # at most one spike per neuron and tick on the grid
    if isinstance(pre, PoissonSource):
        lam = pre.rate / ticks_per_second
        return max(1.0, math.ceil(lam + 3 * math.sqrt(lam)))
    return max(1.0, spikes_per_second / ticks_per_second)


def _rate(net, proj, spikes_per_second) -> float:
    pre = net.populations[proj.pre].model
    if isinstance(pre, PoissonSource) and pre.rate > 0:
        return pre.rate
    return spikes_per_second


def max_summed_weight(net, post: str, receptor: str, spikes_per_second=fx.SPIKES_PER_SECOND,
                      sigma=fx.RING_BUFFER_SIGMA) -> float:
    """The largest input (weight units) one ring-buffer slot of ``post``'s ``receptor`` is
    expected to hold (see the module docstring)."""
    n_post = net.populations[post].size
    total, biggest = 0.0, 0.0
    n_items, s_w, s_w2, s_rate = 0, 0.0, 0.0, 0.0
    delay_var = 0.0
    for proj in net.projections:
        if proj.post != post or proj.receptor != receptor or proj.size == 0:
            continue
        n_conns = _max_in_degree(proj, n_post)
        w = proj.weight
        w_max = float(w.max())
        if proj.plasticity is not None:
            w_max = max(w_max, float(proj.plasticity.w_max))
        w_mean, w_var = float(w.mean()), float(w.var())
        biggest = max(biggest, w_max)
        total += _spikes_per_tick(net, proj, spikes_per_second) * w_max * n_conns
        # running statistics over all connections (RunningStats.add_items)
        s_w += w_mean * n_conns
        s_w2 += (w_var + w_mean ** 2) * n_conns
        s_rate += _rate(net, proj, spikes_per_second) * n_conns
        n_items += n_conns
        delay_var += float(np.var(proj.delay)) * n_conns
    if n_items == 0:
        return 0.0
    if delay_var == 0.0:
        return max(total, biggest)
    mean = s_w / n_items
    std = math.sqrt(max(0.0, s_w2 / n_items - mean ** 2))
    bound = fx.expected_upper_bound(mean, std, s_rate / n_items, n_items, sigma, 1000.0 / net.dt)
    return max(min(bound, total), biggest)


def ring_buffer_shifts(net, spikes_per_second=fx.SPIKES_PER_SECOND, sigma=fx.RING_BUFFER_SIGMA) -> dict:
    """{population: (excitatory shift, inhibitory shift)} for every neuron population."""
    out = {}
    for pop in net.populations.values():
        if pop.is_source:
            continue
        out[pop.name] = tuple(fx.max_weight_power(max_summed_weight(net, pop.name, r, spikes_per_second, sigma))
                              for r in ("excitatory", "inhibitory"))
    return out


def encoded_weights(net, shifts) -> dict:
    """{projection name: 16-bit weights} at the shift of its post population and receptor."""
    out = {}
    for proj in net.projections:
        shift = shifts[proj.post][RECEPTOR_INDEX[proj.receptor]]
        out[proj.name] = fx.encode_weights(proj.weight, shift, proj.name)
    return out
