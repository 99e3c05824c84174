"""Export a trained :class:`~spiking.nn.Sequential` to the network description.

Each spiking layer becomes a population with the layer's declaration (:meth:`LIF.to_model`,
with its trained decay); the linear maps between two spiking layers (``Linear``, ``Conv2d``,
``Flatten``, in any composition) become one dense matrix whose positive entries form an
excitatory projection and whose negative entries form an inhibitory one (weights are magnitudes
in the description, PyNN's convention). ``decay_input`` layers get their input scale (1 - beta)
folded into the weights. A recurrent layer adds a projection onto itself with a delay of one
step, which is exactly the torch layer's ``w_rec @ z[t-1]``.

Timing: torch layers pass spikes on within the same step, while every projection of the
description has a delay of at least one step. So population number l (counting from the input)
fires ``lag = l`` steps after its torch layer: the engine's step ``t + lag`` is the torch step
``t``. :meth:`Exported.run` undoes that shift.

Not exportable: biases (the description's LIF has a per-population constant current only; an
exported ``Linear`` must have ``bias=False``), refractory periods other than 0 in torch, and
learnable per-neuron parameters. A trailing :class:`LeakyReadout` (non-spiking) is skipped, with
the synaptic layers that feed it, and listed in ``Exported.skipped``.

A :class:`~spiking.nn.delays.DelayedLinear` between two spiking layers exports its evaluation
kernel: synapse (o, i) gets its weight and the integer delay ``d[o, i]`` of the rounded position,
as a projection delay of ``d + 1`` steps (the one step every projection has, plus ``d``), so the
lag bookkeeping above is unchanged. It cannot be composed with other linear layers (a delay has
no matrix product), and the torch model matches the engine in ``eval()`` mode (one-hot kernels).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..connectors import FromList
from ..models.sources import SpikeSourceArray
from ..network import Network
from .delays import DelayedLinear
from .layers import Conv2d, CubaLIF, Flatten, LeakyReadout, LIF, Linear, RecurrentLIF, Sequential

__all__ = ["Exported", "to_network", "spikes_to_source"]


def spikes_to_source(spikes, dt: float) -> SpikeSourceArray:
    """A :class:`SpikeSourceArray` from a binary spike raster ``[T, N]`` (time step t -> t * dt ms)."""
    s = spikes.detach().cpu().numpy() if torch.is_tensor(spikes) else np.asarray(spikes)
    if s.ndim != 2:
        raise ValueError(f"spike raster of shape {s.shape}: expected [T, N] (one sample, no batch)")
    if not np.all((s == 0) | (s == 1)):
        raise ValueError("spike raster: expected binary values (0 or 1) to export as spike times")
    t, i = np.nonzero(s)
    return SpikeSourceArray(t.astype(np.float64) * dt, i.astype(np.int64))


@dataclass
class Exported:
    """The network description of a torch model, and how its spikes line up with torch's."""

    network: Network
    input: str                                   # the spike-source population
    populations: list[str]                       # one per spiking layer, in order
    lag: dict[str, int]                          # engine step = torch step + lag
    skipped: list[str] = field(default_factory=list)

    @property
    def dt(self) -> float:
        return self.network.dt

    def run(self, steps: int, **run_kwargs) -> dict[str, torch.Tensor]:
        """Simulate with the event engine; returns ``{population: spikes[steps, N]}`` aligned to the
        torch steps 0..steps-1 (the engine runs ``steps + max lag`` steps)."""
        from ..engines import EventEngine

        steps = int(steps)
        if steps < 1:
            raise ValueError(f"steps={steps}: expected a positive number of time steps")
        extra = max(self.lag.values()) if self.lag else 0
        rec = EventEngine(self.network).run((steps + extra) * self.dt, progress=False, **run_kwargs)
        out = {}
        for name in self.populations:
            n = self.network.populations[name].size
            raster = torch.zeros(steps, n)
            tr = rec.spikes[name]
            t = np.rint(np.asarray(tr.times) / self.dt).astype(np.int64) - self.lag[name]
            ids = np.asarray(tr.ids, dtype=np.int64)
            keep = (t >= 0) & (t < steps)
            raster[torch.from_numpy(t[keep]), torch.from_numpy(ids[keep])] = 1.0
            out[name] = raster
        return out


def _dense_of(layer, shape):
    """(matrix [out, in] float64, output shape) of a linear, bias-free layer on inputs of ``shape``."""
    if isinstance(layer, (Linear, nn.Linear)):
        if layer.bias is not None:
            raise ValueError(f"{type(layer).__name__}({layer.in_features}, {layer.out_features}) has a bias: "
                             "exported populations have no per-neuron bias; build it with bias=False")
        if shape is not None and int(np.prod(shape)) != layer.in_features:
            raise ValueError(f"Linear with {layer.in_features} inputs after a layer of shape {shape}")
        return layer.weight.detach().double().cpu().numpy(), (layer.out_features,)
    if isinstance(layer, (Conv2d, nn.Conv2d)):
        if layer.bias is not None:
            raise ValueError("Conv2d has a bias: exported populations have no per-neuron bias; use bias=False")
        if shape is None or len(shape) != 3:
            raise ValueError(f"Conv2d needs the input shape (C, H, W): pass input_shape= to to_network (got {shape})")
        n_in = int(np.prod(shape))
        eye = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *shape)
        conv = nn.functional.conv2d(eye, layer.weight.detach().double().cpu(), None, layer.stride, layer.padding,
                                    layer.dilation, layer.groups)
        out_shape = tuple(conv.shape[1:])
        return conv.reshape(n_in, -1).T.numpy().copy(), out_shape
    if isinstance(layer, (Flatten, nn.Flatten, nn.Identity, nn.Dropout)):
        n = int(np.prod(shape)) if shape is not None else None
        return None, ((n,) if isinstance(layer, (Flatten, nn.Flatten)) and n is not None else shape)
    raise TypeError(f"layer {type(layer).__name__} cannot be exported (expected Linear, Conv2d, Flatten, "
                    "LIF, CubaLIF, RecurrentLIF, or a trailing LeakyReadout)")


def _connect_signed(net, pre, post, w, dt, name, delays=None):
    """Signed dense matrix w[post, pre] -> excitatory and inhibitory projections (magnitudes);
    ``delays[post, pre]``: extra integer delays in steps (a DelayedLinear's), added to the one step."""
    for sign, receptor in ((1.0, "excitatory"), (-1.0, "inhibitory")):
        post_idx, pre_idx = np.nonzero(sign * w > 0)
        if post_idx.size:
            delay = dt if delays is None else (delays[post_idx, pre_idx] + 1.0) * dt
            net.connect(pre, post, FromList(pre_idx, post_idx), weight=sign * w[post_idx, pre_idx], delay=delay,
                        receptor=receptor, name=f"{name}:{receptor[:3]}")


def to_network(model: Sequential, input_spikes=None, *, dt: float | None = None, input_size: int | None = None,
               input_shape: tuple | None = None, input_name: str = "input", prefix: str = "layer") -> Exported:
    """Convert a feed-forward or recurrent spiking ``model`` to a :class:`~spiking.network.Network`.

    ``input_spikes``: a binary raster ``[T, N_in]`` for the input source (one sample; None: an
    input source without spikes); ``dt``: the time step (default: the layers' ``dt``, which must
    agree); ``input_shape``: (C, H, W) when the model starts with a Conv2d.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model of type {type(model).__name__}: expected a spiking.nn.Sequential")
    layers = list(model)
    spiking_layers = [m for m in layers if isinstance(m, (LIF, CubaLIF))]
    if not spiking_layers:
        raise ValueError("model has no spiking layer (LIF, CubaLIF, RecurrentLIF) to export")
    dts = {m.dt for m in spiking_layers}
    if dt is None:
        if len(dts) != 1:
            raise ValueError(f"layers use different dt {sorted(dts)}: pass dt= explicitly")
        dt = dts.pop()
    elif any(abs(d - dt) > 1e-12 * dt for d in dts):
        raise ValueError(f"dt={dt}: the layers were built with dt {sorted(dts)}; their decays are per step of that dt")
    skipped = []
    if layers and isinstance(layers[-1], LeakyReadout):
        # the non-spiking readout and the synaptic layers that feed it have no population to go to
        skipped.append(f"{len(layers) - 1}:LeakyReadout")
        layers.pop()
        while layers and not isinstance(layers[-1], (LIF, CubaLIF, LeakyReadout)):
            skipped.append(f"{len(layers) - 1}:{type(layers[-1]).__name__}")
            layers.pop()
        skipped.reverse()

    # input size / shape
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
    elif input_size is not None:
        shape = (int(input_size),)
    else:
        first = next((m for m in layers if isinstance(m, (nn.Linear, nn.Conv2d, LIF, CubaLIF, DelayedLinear))), None)
        if isinstance(first, (nn.Linear, DelayedLinear)):
            shape = (first.in_features,)
        elif isinstance(first, nn.Conv2d):
            raise ValueError("the model starts with a Conv2d: pass input_shape=(C, H, W)")
        else:
            raise ValueError("cannot infer the input size: pass input_size=")
    n_in = int(np.prod(shape))

    net = Network(dt=dt)
    if input_spikes is None:
        src = SpikeSourceArray(np.zeros(0), np.zeros(0, np.int64))
    else:
        src = spikes_to_source(input_spikes, dt)
        if input_spikes.shape[1] != n_in:
            raise ValueError(f"input_spikes with {input_spikes.shape[1]} channels: the model takes {n_in}")
    net.add_source(input_name, n_in, src)

    pre, pre_shape, lag = input_name, shape, {input_name: 0}
    pending = None          # composed dense matrix since the last population (None = identity)
    pending_delays = None   # integer delays [post, pre] of a DelayedLinear in pending
    pops = []
    for idx, layer in enumerate(layers):
        if isinstance(layer, LeakyReadout):
            raise ValueError(f"layer {idx} (LeakyReadout) is non-spiking: only a trailing readout can be skipped")
        if isinstance(layer, (LIF, CubaLIF)):
            n = int(np.prod(pre_shape))   # a neuron layer keeps the shape of its input
            if isinstance(layer, RecurrentLIF) and n != layer.size:
                raise ValueError(f"RecurrentLIF of size {layer.size} receives {n} inputs")
            w = np.eye(n) if pending is None else pending
            if isinstance(layer, LIF) and layer.decay_input:
                w = w * (1.0 - layer.decay())
            name = f"{prefix}{len(pops) + 1}"
            net.add_population(name, n, layer.to_model())
            _connect_signed(net, pre, name, w, dt, f"{pre}->{name}", delays=pending_delays)
            if isinstance(layer, RecurrentLIF):
                wr = layer.recurrent_weight().detach().double().cpu().numpy()
                if layer.decay_input:
                    wr = wr * (1.0 - layer.decay())
                _connect_signed(net, name, name, wr, dt, f"{name}->{name}")
            lag[name] = lag[pre] + 1
            pops.append(name)
            pre, pending, pending_delays = name, None, None
            continue
        if isinstance(layer, DelayedLinear):
            if pending is not None:
                raise ValueError(f"layer {idx} (DelayedLinear) follows another linear layer: a delayed layer must "
                                 "connect two spiking layers (or the input and a spiking layer) directly")
            if pre_shape is not None and int(np.prod(pre_shape)) != layer.in_features:
                raise ValueError(f"DelayedLinear with {layer.in_features} inputs after a layer of shape {pre_shape}")
            pending = layer.weight.detach().double().cpu().numpy()
            pending_delays = layer.delays().cpu().numpy()
            pre_shape = (layer.out_features,)
            continue
        if pending_delays is not None and not isinstance(layer, (Flatten, nn.Flatten, nn.Identity, nn.Dropout)):
            raise ValueError(f"layer {idx} ({type(layer).__name__}) follows a DelayedLinear: a delayed layer must "
                             "feed a spiking layer directly")
        mat, pre_shape_next = _dense_of(layer, pre_shape)
        if mat is not None:
            pending = mat if pending is None else mat @ pending
        pre_shape = pre_shape_next
    if pending is not None:
        raise ValueError("the model ends with a linear layer after its last spiking layer: nothing to export it into")
    net.validate()
    return Exported(network=net, input=input_name, populations=pops,
                    lag={k: v for k, v in lag.items() if k != input_name}, skipped=skipped)
