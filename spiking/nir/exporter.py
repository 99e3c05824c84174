"""Write a :mod:`spiking.nn` model as a NIR graph, with the conventions the others drop.

The parameters are mapped so that the file's integrator (``"euler"`` by default, as the other
exporters do; or ``"exact"``) at the file's ``dt`` reproduces our discrete update:

* ``LIF(beta, decay_input)``: ``tau = dt / (1 - beta)`` and ``r = c tau / dt`` (euler) or
  ``tau = -dt / ln(beta)`` and ``r = c / (1 - beta)`` (exact), ``c = 1 - beta`` with input decay
  else 1, ``v_leak = v_rest``; ``beta = 1`` is an ``IF`` node with ``r = c / dt``.
* ``RecurrentLIF``: a LIF node and a ``Linear`` loop on it (the delay on the edge leaving the neuron).
* ``CubaLIF``: our NEST update order lets the input reach the membrane one step after it enters
  the current; NIR readers update the current first, so the node is written as
  ``Delay(dt) -> CubaLIF`` with ``w_in = tau_syn / dt`` (the current jumps by the input).
* ``LeakyReadout``: ``LI`` (``I`` for beta = 1).

The graph's metadata records ``dt`` (s), the integrator, the spike condition (ours:
``v >= v_threshold``), the CubaLIF update order, the place of the recurrent delay and the initial
state; each neuron node's metadata records its reset. What NIR cannot express is refused with an
error naming the layer: a soft reset (unless ``soft_reset="metadata"``, which writes it into the
node metadata only, so other readers see a hard reset), a constant drive (``i_offset``), a
refractory period. The file is written to a temporary file, read back, and renamed (nir.write
leaves a partial file behind when it fails).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .. import nn as snn
from ..atomic import atomic_path
from .importer import INTEGRATORS
from .modules import AvgPool2d, Bias, Delay, RecurrentCubaLIF, Scale, SumPool2d, Threshold

__all__ = ["to_nir", "CONVENTIONS"]

CONVENTIONS = {
    "time_unit": "s",
    "spike_condition": "v >= v_threshold",
    "cuba_update_order": "current first",
    "recurrent_delay": "edge leaving the neuron",
    "initial_state": "v = v_leak, I = 0",
}


def _producer():
    try:
        from importlib.metadata import version
        return f"spiking-sim {version('spiking-sim')}"
    except Exception:  # pragma: no cover
        return "spiking-sim"


def _decay_to_tau(beta, c, dt, integrator, where):
    """(tau, r) such that the integrator at dt gives decay ``beta`` and input gain ``c``."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"{where}: decay {beta} outside [0, 1)")
    if integrator == "euler":
        tau = dt / (1.0 - beta)
        return tau, c * tau / dt
    if beta == 0.0:
        raise ValueError(f"{where}: decay 0 has no time constant under exact integration; use integrator='euler'")
    return -dt / math.log(beta), c / (1.0 - beta)


def _full(shape, v):
    return np.full(tuple(shape), float(v), dtype=np.float64)


def _check_neuron(layer, idx, soft_reset):
    m = layer.model
    name = f"layer {idx} ({type(layer).__name__})"
    if m.reset == "soft" and soft_reset != "metadata":
        raise ValueError(f"{name}: soft reset (v <- v - (v_th - v_reset)) has no NIR equivalent (NIR resets to "
                         "v_reset); pass soft_reset='metadata' to write it into the node metadata, which only our "
                         "importer reads")
    if m.i_offset != 0.0:
        raise ValueError(f"{name}: i_offset={m.i_offset} (a constant drive) has no NIR equivalent in a neuron node")
    if getattr(m, "t_ref", 0.0) != 0.0:
        raise ValueError(f"{name}: t_ref={m.t_ref} (a refractory period) has no NIR equivalent")
    return {"reset": m.reset, "layer": type(layer).__name__}


def _lif_node(layer, idx, shape, dt, integrator, soft_reset):
    import nir

    meta = _check_neuron(layer, idx, soft_reset)
    m = layer.model
    beta = float(layer.decay())
    c = (1.0 - beta) if layer.decay_input else 1.0
    if beta == 1.0:
        if m.v_rest != 0.0:
            raise ValueError(f"layer {idx} (LIF with decay 1): v_rest={m.v_rest}: a NIR IF node has no rest potential")
        return nir.IF(r=_full(shape, c / dt), v_threshold=_full(shape, m.v_th), v_reset=_full(shape, m.v_reset),
                      metadata=meta)
    tau, r = _decay_to_tau(beta, c, dt, integrator, f"layer {idx} (LIF)")
    return nir.LIF(tau=_full(shape, tau), r=_full(shape, r), v_leak=_full(shape, m.v_rest),
                   v_threshold=_full(shape, m.v_th), v_reset=_full(shape, m.v_reset), metadata=meta)


def _cuba_nodes(layer, idx, shape, dt, integrator, soft_reset):
    import nir

    meta = _check_neuron(layer, idx, soft_reset)
    m, p = layer.model, layer.p
    where = f"layer {idx} (CubaLIF)"
    ts, w_in = _decay_to_tau(float(p["p11"]), 1.0, dt, integrator, where)
    tm, r = _decay_to_tau(float(p["beta"]), float(p["p21"]), dt, integrator, where)
    delay = nir.Delay(delay=_full(shape, dt), metadata={"why": "our CubaLIF (NEST order) lets an input reach the "
                                                              "membrane one step after it enters the current"})
    node = nir.CubaLIF(tau_syn=_full(shape, ts), tau_mem=_full(shape, tm), r=_full(shape, r),
                       v_leak=_full(shape, m.v_rest), v_threshold=_full(shape, m.v_th),
                       v_reset=_full(shape, m.v_reset), w_in=_full(shape, w_in), metadata=meta)
    return delay, node


def _readout_node(layer, idx, shape, dt, integrator):
    import nir

    beta = float(layer.beta)
    c = (1.0 - beta) if layer.decay_input else 1.0
    if beta == 1.0:
        return nir.I(r=_full(shape, c / dt))
    tau, r = _decay_to_tau(beta, c, dt, integrator, f"layer {idx} (LeakyReadout)")
    return nir.LI(tau=_full(shape, tau), r=_full(shape, r), v_leak=_full(shape, 0.0))


def _np(t):
    return t.detach().double().cpu().numpy()


def _out_shape(layer, shape):
    with torch.no_grad():
        return tuple(layer(torch.zeros((1,) + tuple(shape))).shape[1:])


def _graph_of(model, dt, input_shape, integrator, soft_reset):
    import nir

    layers = list(model)
    if input_shape is None and getattr(model, "input_shape", None) is not None:
        input_shape = model.input_shape
    if input_shape is None:
        first = next((m for m in layers if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv1d, snn.RecurrentLIF))), None)
        if isinstance(first, nn.Linear):
            input_shape = (first.in_features,)
        elif isinstance(first, snn.RecurrentLIF):
            input_shape = (first.size,)
        else:
            raise ValueError("cannot infer the input shape from the first layer: pass input_shape=(C, H, W) or (N,)")
    shape = tuple(int(s) for s in input_shape)
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges = []
    last, shape = _emit(layers, ["input"], shape, "", nodes, edges, dt, integrator, soft_reset)
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges += [(p, "output") for p in last]
    return nodes, edges


def _graph_model_of(model, dt, input_shape, integrator, soft_reset):
    """A GraphModel's blocks as chains of nodes named ``<node>.<layer index>``, wired as its graph."""
    import nir

    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    if input_shape is None:
        raise ValueError("pass input_shape= for a GraphModel")
    nodes = {"input": nir.Input(input_type={"input": np.array(tuple(input_shape))})}
    edges, tails, shapes = [], {model.input_name: ["input"]}, {model.input_name: tuple(int(s) for s in input_shape)}
    for name in model.order:
        if name == model.input_name:
            continue
        preds = model.preds.get(name, [])
        prevs = [t for p in preds for t in tails[p]]
        shape = shapes[preds[0]]
        key = name.replace(".", "__")
        if key in model.blocks:
            tails[name], shapes[name] = _emit(list(model.blocks[key]), prevs, shape, f"{_safe(name)}.", nodes, edges,
                                              dt, integrator, soft_reset)
        else:       # the Output (no layers): pass through
            tails[name], shapes[name] = prevs, shape
    out = model.output_name
    nodes["output"] = nir.Output(output_type={"output": np.array(shapes[out])})
    edges += [(p, "output") for p in tails[out]]
    return nodes, edges


def _emit(layers, prevs, shape, prefix, nodes, edges, dt, integrator, soft_reset):
    """Append the nodes of a chain of layers after ``prevs`` (edges from each, summed); returns
    (the last node names, the output shape)."""
    import nir

    prev = list(prevs)

    def add(name, node):
        nonlocal prev
        name = prefix + name
        nodes[name] = node
        edges.extend((p, name) for p in prev)
        prev = [name]

    for idx, layer in enumerate(layers):
        name = f"{idx}"
        if isinstance(layer, snn.RecurrentLIF):
            if shape != (layer.size,):
                raise ValueError(f"layer {idx} (RecurrentLIF of size {layer.size}) receives shape {list(shape)}")
            add(f"{name}.lif", _lif_node(layer, idx, shape, dt, integrator, soft_reset))
            # with decay_input the LIF node's r scales the recurrent input too, as the layer's (1 - beta) does
            nodes[f"{prefix}{name}.w_rec"] = nir.Linear(weight=_np(layer.recurrent_weight()))
            edges += [(f"{prefix}{name}.lif", f"{prefix}{name}.w_rec"), (f"{prefix}{name}.w_rec", f"{prefix}{name}.lif")]
        elif isinstance(layer, RecurrentCubaLIF):
            n = int(np.prod(shape))
            if shape != (layer.weight.shape[0],):
                raise ValueError(f"layer {idx} (RecurrentCubaLIF of size {layer.weight.shape[0]}) receives shape "
                                 f"{list(shape)}")
            meta = _check_neuron(layer.mem, idx, soft_reset)
            m = layer.mem.model
            where = f"layer {idx} (RecurrentCubaLIF)"
            g_syn = np.broadcast_to(_np(layer.g_syn), (n,))
            g_mem = np.broadcast_to(_np(layer.g_mem), (n,))
            ts, w_in = _decay_to_tau(float(layer.syn.beta), 1.0, dt, integrator, where)
            tm, r = _decay_to_tau(float(layer.mem.decay()), 1.0, dt, integrator, where)
            add(f"{name}.lif", nir.CubaLIF(tau_syn=_full(shape, ts), tau_mem=_full(shape, tm), r=r * g_mem,
                                           v_leak=_full(shape, m.v_rest), v_threshold=_full(shape, m.v_th),
                                           v_reset=_full(shape, m.v_reset), w_in=w_in * g_syn, metadata=meta))
            w = _np(layer.weight)
            nodes[f"{prefix}{name}.w_rec"] = (nir.Affine(weight=w, bias=_np(layer.bias)) if layer.bias is not None
                                              else nir.Linear(weight=w))
            edges += [(f"{prefix}{name}.lif", f"{prefix}{name}.w_rec"), (f"{prefix}{name}.w_rec", f"{prefix}{name}.lif")]
        elif isinstance(layer, Threshold):
            add(name, nir.Threshold(threshold=np.broadcast_to(_np(layer.threshold), shape).copy(),
                                    metadata={"condition": "v > threshold" if layer.strict else "v >= threshold"}))
        elif isinstance(layer, snn.LIF):
            add(name, _lif_node(layer, idx, shape, dt, integrator, soft_reset))
        elif isinstance(layer, snn.CubaLIF):
            d, node = _cuba_nodes(layer, idx, shape, dt, integrator, soft_reset)
            add(f"{name}.delay", d)
            add(name, node)
        elif isinstance(layer, snn.LeakyReadout):
            add(name, _readout_node(layer, idx, shape, dt, integrator))
        elif isinstance(layer, nn.Linear):
            if len(shape) != 1 or shape[0] != layer.in_features:
                raise ValueError(f"layer {idx} (Linear with {layer.in_features} inputs) receives shape {list(shape)}")
            w = _np(layer.weight)
            add(name, nir.Affine(weight=w, bias=_np(layer.bias)) if layer.bias is not None else nir.Linear(weight=w))
            shape = (layer.out_features,)
        elif isinstance(layer, (nn.Conv2d, nn.Conv1d)):
            nd = 2 if isinstance(layer, nn.Conv2d) else 1
            if len(shape) != nd + 1:
                raise ValueError(f"layer {idx} ({type(layer).__name__}) receives shape {list(shape)}")
            if layer.padding_mode != "zeros":
                raise ValueError(f"layer {idx}: padding_mode={layer.padding_mode!r}: NIR convolutions pad with zeros")
            bias = _np(layer.bias) if layer.bias is not None else np.zeros(layer.out_channels)
            pad = layer.padding if isinstance(layer.padding, str) else tuple(layer.padding)
            if nd == 2:
                node = nir.Conv2d(input_shape=tuple(shape[1:]), weight=_np(layer.weight), stride=tuple(layer.stride),
                                  padding=pad, dilation=tuple(layer.dilation), groups=layer.groups, bias=bias)
            else:
                node = nir.Conv1d(input_shape=int(shape[1]), weight=_np(layer.weight), stride=int(layer.stride[0]),
                                  padding=pad if isinstance(pad, str) else int(pad[0]),
                                  dilation=int(layer.dilation[0]), groups=layer.groups, bias=bias)
            add(name, node)
            shape = _out_shape(layer, shape)
        elif isinstance(layer, (snn.Flatten, nn.Flatten)):
            s, e = (0, -1) if isinstance(layer, snn.Flatten) else (layer.start_dim - 1, layer.end_dim)
            if e > 0:
                e -= 1
            add(name, nir.Flatten(input_type={"input": np.array(shape)}, start_dim=s, end_dim=e))
            shape = _out_shape(layer, shape) if not isinstance(layer, snn.Flatten) else (int(np.prod(shape)),)
        elif isinstance(layer, (SumPool2d, AvgPool2d)):
            cls = nir.SumPool2d if isinstance(layer, SumPool2d) else nir.AvgPool2d
            k, st, p = (np.array(_pair(v)) for v in (layer.kernel_size, layer.stride, layer.padding))
            add(name, cls(kernel_size=k, stride=st, padding=p))
            shape = _out_shape(layer, shape)
        elif isinstance(layer, Scale):
            add(name, nir.Scale(scale=np.broadcast_to(_np(layer.scale), shape).copy()))
        elif isinstance(layer, Bias):
            n = int(np.prod(shape))
            if len(shape) != 1:
                raise ValueError(f"layer {idx} (Bias) on shape {list(shape)}: expected one dimension")
            add(name, nir.Affine(weight=np.eye(n), bias=np.broadcast_to(_np(layer.bias), (n,)).copy()))
        elif isinstance(layer, Delay):
            steps = np.broadcast_to(layer.steps.cpu().numpy(), shape)
            add(name, nir.Delay(delay=steps.astype(np.float64) * dt))
        else:
            raise TypeError(f"layer {idx} ({type(layer).__name__}) has no NIR counterpart here (expected Linear, Conv1d, "
                            "Conv2d, Flatten, pooling, Scale, Bias, Delay, LIF, RecurrentLIF, CubaLIF, LeakyReadout)")
    return prev, shape


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


# ------------------------------------------------------------------------------------------------
def _safe(name):
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(name))


def _population_node(pop, dt_ms, integrator, soft_reset):
    """(NIR neuron node, extra lag in steps) of a population of the network description."""
    import nir

    from ..models import neurons as M

    m, n, where = pop.model, pop.size, f"population {pop.name!r}"
    if not isinstance(m, (M.LIF, M.CubaLIF)):
        raise ValueError(f"{where}: model {type(m).__name__} has no NIR counterpart (expected LIF or CubaLIF)")
    if m.reset == "soft" and soft_reset != "metadata":
        raise ValueError(f"{where}: soft reset has no NIR equivalent (NIR resets to v_reset); pass "
                         "soft_reset='metadata' to write it into the node metadata, which only our importer reads")
    if m.t_ref != 0.0:
        raise ValueError(f"{where}: t_ref={m.t_ref} ms (a refractory period) has no NIR equivalent")
    if m.i_offset != 0.0:
        raise ValueError(f"{where}: i_offset={m.i_offset} nA (a constant drive) has no NIR equivalent in a neuron node")
    if pop.initial:
        raise ValueError(f"{where}: an initial state {sorted(pop.initial)} has no NIR equivalent (readers start at v_leak)")
    dt = dt_ms * 1e-3
    meta = {"reset": m.reset, "model": type(m).__name__}
    prop = m.propagators(dt_ms)
    shape = (n,)
    if isinstance(m, M.LIF):
        if prop["p22"] == 1.0:
            if m.v_rest != 0.0:
                raise ValueError(f"{where}: an IF neuron with v_rest={m.v_rest}: a NIR IF node has no rest potential")
            return nir.IF(r=_full(shape, 1.0 / dt), v_threshold=_full(shape, m.v_th), v_reset=_full(shape, m.v_reset),
                          metadata=meta), 0
        tau, r = _decay_to_tau(prop["p22"], 1.0, dt, integrator, where)
        return nir.LIF(tau=_full(shape, tau), r=_full(shape, r), v_leak=_full(shape, m.v_rest),
                       v_threshold=_full(shape, m.v_th), v_reset=_full(shape, m.v_reset), metadata=meta), 0
    if m.update_order != "nest" or m.tau_syn_e != m.tau_syn_i:
        raise ValueError(f"{where}: CubaLIF with update_order={m.update_order!r}, tau_syn_e={m.tau_syn_e}, "
                         f"tau_syn_i={m.tau_syn_i}: NIR's CubaLIF has one current (NEST order, equal time constants)")
    ts, w_in = _decay_to_tau(prop["p11e"], 1.0, dt, integrator, where)
    tm, r = _decay_to_tau(prop["p22"], prop["p21e"], dt, integrator, where)
    return nir.CubaLIF(tau_syn=_full(shape, ts), tau_mem=_full(shape, tm), r=_full(shape, r),
                       v_leak=_full(shape, m.v_rest), v_threshold=_full(shape, m.v_th),
                       v_reset=_full(shape, m.v_reset), w_in=_full(shape, w_in), metadata=meta), 1


def _network_graph(net, integrator, soft_reset):
    """Nodes and edges of a network description: a neuron node per population, an Input per
    spike source, and per (pre, post, delay) one signed Linear followed by a Delay of that many
    steps (one more into a CubaLIF, whose current reaches the membrane a step later)."""
    import nir

    dt = net.dt * 1e-3
    nodes, edges, lag, names = {}, [], {}, {}
    for pop in net.populations.values():
        name = _safe(pop.name)
        if name in nodes:
            raise ValueError(f"population names {pop.name!r} and another map to the same NIR name {name!r}")
        names[pop.name] = name
        if pop.is_source:
            nodes[name] = nir.Input(input_type={"input": np.array([pop.size])})
            lag[pop.name] = 0
        else:
            nodes[name], lag[pop.name] = _population_node(pop, net.dt, integrator, soft_reset)
    blocks = {}
    for proj in net.projections:
        if proj.plasticity is not None:
            raise ValueError(f"projection {proj.name!r}: plasticity has no NIR equivalent")
        if net.populations[proj.post].is_source:
            raise ValueError(f"projection {proj.name!r} targets the spike source {proj.post!r}")
        sign = 1.0 if proj.receptor == "excitatory" else -1.0
        n_pre, n_post = net.populations[proj.pre].size, net.populations[proj.post].size
        for d in np.unique(proj.delay):
            sel = proj.delay == d
            key = (proj.pre, proj.post, int(d))
            w = blocks.setdefault(key, np.zeros((n_post, n_pre)))
            np.add.at(w, (proj.post_idx[sel], proj.pre_idx[sel]), sign * proj.weight[sel])
    for (pre, post, d), w in blocks.items():
        wname = f"w_{names[pre]}_{names[post]}_d{d}"
        dname = f"delay_{names[pre]}_{names[post]}_d{d}"
        steps = d + lag[post]
        nodes[wname] = nir.Linear(weight=w)
        nodes[dname] = nir.Delay(delay=_full((w.shape[0],), steps * dt), metadata={
            "why": f"projection delay {d} step(s)" + (" + 1: a CubaLIF current reaches the membrane a step later"
                                                      if lag[post] else "")})
        edges += [(names[pre], wname), (wname, dname), (dname, names[post])]
    for pop in net.populations.values():
        name = names[pop.name]
        outgoing = [b for a, b in edges if a == name and not b.startswith(f"w_{name}_{name}_")]
        if not pop.is_source and not outgoing:
            nodes[f"{name}_output"] = nir.Output(output_type={"output": np.array([pop.size])})
            edges.append((name, f"{name}_output"))
    return nodes, edges


def to_nir(model, path=None, *, dt: float | None = None, input_shape=None, integrator: str = "euler",
           soft_reset: str = "refuse"):
    """Export a :class:`spiking.nn.Sequential` or a :class:`spiking.Network` as a ``nir.NIRGraph``;
    write it to ``path`` if given.

    ``dt``: seconds (default: the layers' ``dt``, in ms, / 1000; they must agree; a network's own
    dt); ``input_shape``: needed when the model starts with a convolution; ``integrator``: the
    integrator the parameters are mapped for; ``soft_reset``: "refuse" (default) or "metadata".
    Returns the graph. The file is written atomically and checked by reading it back.
    """
    import nir

    from ..network import Network

    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator={integrator!r}: expected one of {INTEGRATORS}")
    if soft_reset not in ("refuse", "metadata"):
        raise ValueError(f"soft_reset={soft_reset!r}: expected 'refuse' or 'metadata'")
    if isinstance(model, Network):
        if dt is not None and abs(dt - model.dt * 1e-3) > 1e-9 * dt:
            raise ValueError(f"dt={dt} s, but the network's dt is {model.dt} ms")
        model.validate()
        nodes, edges = _network_graph(model, integrator, soft_reset)
        return _finish(nodes, edges, model.dt * 1e-3, integrator, path)
    from .importer import GraphModel

    if not isinstance(model, (snn.Sequential, GraphModel)):
        raise TypeError(f"model of type {type(model).__name__}: expected a spiking.nn.Sequential, a "
                        "spiking.nir.GraphModel or a spiking.Network")
    mods = list(model.modules())
    dts = {float(m.dt) for m in mods if isinstance(m, (snn.LIF, snn.CubaLIF, snn.LeakyReadout))}
    if dt is None:
        if len(dts) != 1:
            raise ValueError(f"layers use dt {sorted(dts)} ms: pass dt= (seconds) explicitly")
        dt = dts.pop() * 1e-3
    else:
        dt = float(dt)
        bad = [d for d in dts if abs(d * 1e-3 - dt) > 1e-9 * dt]
        if bad:
            raise ValueError(f"dt={dt} s, but layers were built with dt {sorted(dts)} ms: their decays are per step of that dt")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt={dt}: expected a positive time step in seconds")
    if isinstance(model, GraphModel):
        nodes, edges = _graph_model_of(model, dt, input_shape, integrator, soft_reset)
    else:
        nodes, edges = _graph_of(model, dt, input_shape, integrator, soft_reset)
    return _finish(nodes, edges, dt, integrator, path)


def _finish(nodes, edges, dt, integrator, path):
    import nir

    meta = dict(CONVENTIONS, producer=_producer(), dt=dt, integrator=integrator)
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=True)
    if path is not None:
        with atomic_path(path, suffix=".nir") as tmp:
            nir.write(tmp, graph)
            nir.read(tmp)          # a file we cannot read back is not renamed into place
    return graph
