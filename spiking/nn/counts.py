"""Activity counts of a torch model (``spiking.nn``) as an :class:`~spiking.recording.ActivityLedger`.

The same counts the event engine writes (docs/energy.md defines each), named as
:func:`spiking.nn.to_network` names populations and projections, so the two ledgers can be
compared key by key and priced by the same energy model:

* ``count_activity(model, x)``: what the torch model does on ``x[T, B, ...]``, every layer over
  its T steps (the torch engine's own timing: a spike is used by the next layer in the same
  step). A trailing :class:`LeakyReadout` is counted too (population ``"readout"``, its input as
  projection ``"<last>->readout"``), since the torch model computes it.
* ``count_activity(model, x, steps=E)``: the counts of the *exported* network run for ``E``
  engine steps on the same input (``x`` padded with empty steps). Each projection of the
  description has a delay of one step, so population number l lags its torch layer by l steps
  (:class:`~spiking.nn.Exported`); its first l engine steps are updates at rest, and its torch
  steps beyond ``E - l`` fall outside the run. ``E = T + number of spiking layers`` is what
  :meth:`Exported.run` simulates. The readout is not part of the description and is not counted.

Effective ACs and MACs follow NeuroBench (``neurobench.metrics.workload.SynapticOperations``):
an input element that is non-zero drives one operation per non-zero weight it reaches; a layer
whose inputs are all 0, 1 or -1 counts ACs, otherwise MACs. NeuroBench's "Dense" counts every weight
entry, zero or not, every step; ``dense_synapses`` counts the weights that the description
stores (the non-zero ones: the exporter drops zeros), which is the same for trained weights.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..recording import ActivityLedger
from .export import _dense_of
from .layers import Conv2d, CubaLIF, Flatten, LeakyReadout, LIF, Linear, RecurrentLIF, Sequential, SpikingModule

__all__ = ["count_activity", "activation_sparsity"]


def _is_binary(x: torch.Tensor) -> bool:
    """Spike-valued input (NeuroBench's test: every element is 0, 1 or -1), priced as ACs."""
    return bool(torch.all((x == 0) | (x == 1) | (x == -1)))


class _Counts:
    """Accumulates ledger dicts."""

    def __init__(self):
        self.led = ActivityLedger(mode="clock")

    def population(self, name, size, n_var, updates, spikes, active):
        L = self.led
        L.neurons[name] = int(size)
        L.state_variables[name] = int(n_var)
        L.spikes[name] = int(spikes)
        L.neuron_updates[name] = int(updates)
        L.active_updates[name] = int(active)
        L.state_reads[name] = int(updates) * int(n_var)
        L.state_writes[name] = int(updates) * int(n_var)

    def projection(self, name, nnz, steps_b, events, graded):
        L = self.led
        L.synapses[name] = int(nnz)
        L.dense_synapses[name] = int(nnz) * int(steps_b)
        L.synaptic_events[name] = int(events)
        L.ac_ops[name] = 0 if graded else int(events)
        L.mac_ops[name] = int(events) if graded else 0


def _signed(w):
    """(excitatory mask, inhibitory mask) of a signed dense matrix w[post, pre], as float64 tensors."""
    w = torch.from_numpy(np.asarray(w, dtype=np.float64))
    return (w > 0).double(), (w < 0).double()


def _events(raster, mask):
    """Synaptic events of a projection with connectivity ``mask[post, pre]``: non-zero inputs
    times their out-degree. ``raster[steps, B, pre]``."""
    nz = (raster != 0).double().sum(dim=(0, 1))        # per pre: non-zero input elements
    return int(round(float(nz @ mask.sum(dim=0))))


def _arrivals(raster, mask):
    """``[steps, B, post]`` boolean: at least one non-zero input reaches the post neuron."""
    return ((raster != 0).double() @ mask.T) > 0


def count_activity(model: Sequential, x: torch.Tensor, *, steps: int | None = None, input_name: str = "input",
                   prefix: str = "layer", input_shape: tuple | None = None) -> ActivityLedger:
    """The :class:`ActivityLedger` of ``model`` on ``x[T, B, ...]`` (see the module docstring).

    ``steps``: None for the torch model's own T steps; an engine step count ``E >= T`` for the
    counts of the exported network simulated for E steps. ``input_shape``: (C, H, W) for a
    model that starts with a Conv2d (as for :func:`~spiking.nn.to_network`).
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model of type {type(model).__name__}: expected a spiking.nn.Sequential")
    if not torch.is_tensor(x) or x.dim() < 3:
        raise ValueError(f"x of shape {tuple(getattr(x, 'shape', ()))}: expected a tensor [T, B, features...]")
    T, B = int(x.shape[0]), int(x.shape[1])
    layers = list(model)
    if not any(isinstance(m, (LIF, CubaLIF)) for m in layers):
        raise ValueError("model has no spiking layer (LIF, CubaLIF, RecurrentLIF) to count")
    engine = steps is not None
    if engine:
        steps = int(steps)
        if steps < T:
            raise ValueError(f"steps={steps}: expected at least the input's T={T} steps")
        E = steps
        x = torch.cat([x, x.new_zeros((E - T,) + tuple(x.shape[1:]))]) if E > T else x
    else:
        E = T
    shape = tuple(input_shape) if input_shape is not None else tuple(x.shape[2:])
    n_in = int(np.prod(shape))
    c = _Counts()
    c.led.steps, c.led.inferences = E, B
    c.population(input_name, n_in, 0, 0, int((x != 0).sum()), 0)
    raster = x.detach().reshape(E, B, n_in)
    graded = not _is_binary(raster)
    h = x.detach()
    was_training = model.training
    model.eval()                     # inference counts: dropout off (restored below)
    try:
        return _count(layers, c, h, raster, graded, engine, E, B, input_name, prefix, shape)
    finally:
        model.train(was_training)


def _count(layers, c, h, raster, graded, engine, E, B, input_name, prefix, shape):
    pre, lag_pre, pending, pre_shape = input_name, 0, None, shape
    n_pop = 0
    with torch.no_grad():
        for idx, layer in enumerate(layers):
            if isinstance(layer, SpikingModule):          # as Sequential.forward applies each layer
                out, _ = layer(h)
            elif isinstance(layer, (Linear, Conv2d, Flatten, nn.Linear)):
                out = layer(h)
            else:
                out = layer(h.flatten(0, 1)).unflatten(0, (E, B))
            if isinstance(layer, (LIF, CubaLIF, LeakyReadout)):
                readout = isinstance(layer, LeakyReadout)
                if readout and (engine or idx != len(layers) - 1):
                    if not engine:
                        raise ValueError(f"layer {idx} (LeakyReadout) is non-spiking: only a trailing readout is counted")
                    break
                n = int(np.prod(pre_shape))
                w = np.eye(n) if pending is None else pending
                n_pop += 1
                name = "readout" if readout else f"{prefix}{n_pop}"
                lag = n_pop if engine else 0
                if engine:
                    m = layer.to_model()
                    vinf = m.v_infinity() if hasattr(m, "v_infinity") else m.v_rest
                    if not vinf < m.v_th:
                        raise ValueError(f"layer {idx}: its resting drive reaches v={vinf} >= v_th={m.v_th}, so it "
                                         "fires before its input arrives in the exported network; count with steps=None")
                win = E - lag                       # torch steps of this population inside the run
                pre_win = E - lag_pre
                pre_r = raster[:pre_win]
                arrive = torch.zeros(win, B, n, dtype=torch.bool)
                for sign, mask in zip(("exc", "inh"), _signed(w)):
                    nnz = int(mask.sum())
                    if nnz:
                        c.projection(f"{pre}->{name}:{sign}", nnz, E * B, _events(pre_r, mask),
                                     graded and pre == input_name)
                        arrive |= _arrivals(pre_r[:win], mask)
                z = out.detach().reshape(E, B, -1)
                if isinstance(layer, RecurrentLIF):
                    wr = layer.recurrent_weight().detach().double().cpu().numpy()
                    for sign, mask in zip(("exc", "inh"), _signed(wr)):
                        nnz = int(mask.sum())
                        if nnz:
                            c.projection(f"{name}->{name}:{sign}", nnz, E * B, _events(z[:win], mask), False)
                            arrive[1:] |= _arrivals(z[:win - 1], mask)
                n_var = 1 if readout else len(layer.to_model().state_variables)
                spikes = 0 if readout else int((z[:win] != 0).sum())
                c.population(name, n, n_var, n * E * B, spikes, int(arrive.sum()))
                pre, lag_pre, pending, raster = name, lag, None, z
                h = out
                continue
            if isinstance(layer, SpikingModule):
                raise TypeError(f"layer {idx} ({type(layer).__name__}) cannot be counted")
            if isinstance(layer, (nn.Dropout, nn.Identity)):
                h = out
                continue
            mat, pre_shape = _dense_of(layer, pre_shape)
            if mat is not None:
                pending = mat if pending is None else mat @ pending
            h = out
    return c.led


def activation_sparsity(ledger: ActivityLedger, exclude=("readout",)) -> float:
    """NeuroBench's activation sparsity: the fraction of neuron outputs (per neuron, per step,
    per sample) of the spiking populations that are zero (sources and the readout excluded)."""
    pops = [k for k, v in ledger.neuron_updates.items() if v > 0 and k not in exclude]
    total = sum(ledger.neuron_updates[k] for k in pops)
    if total == 0:
        raise ValueError("ledger has no neuron updates of spiking populations: activation sparsity is undefined")
    return 1.0 - sum(ledger.spikes[k] for k in pops) / total
