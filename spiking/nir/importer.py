"""Read a NIR graph into a :mod:`spiking.nn` model, with every convention made explicit.

The NIR equations are continuous in time; a discrete model needs a time step, an integrator,
a spike condition, a reset and, for current-based neurons and cycles, an update order. A file
states none of these (nir 1.0.8 has no field for them), so :func:`from_nir` takes each from, in
order: the file's metadata (files written by :func:`spiking.nir.to_nir` carry them all), the
arguments, a named source profile (:mod:`spiking.nir.profiles`), and NIR's own equations; every
one that none of the first three settles is announced with a :class:`NIRConventionWarning`,
and :attr:`Imported.conventions` lists what was used and where it came from.

Discretisation (``dt`` in seconds, the file's unit; the layers get ``dt`` in ms):

* ``integrator="euler"`` (what the exporters map their updates to): ``tau dv/dt = (v_leak - v)
  + r I`` becomes ``v[t] = v_leak + (1 - dt/tau)(v[t-1] - v_leak) + (dt r / tau) I[t]``; IF and
  Integrator ``v[t] = v[t-1] + dt r I[t]``; CubaLIF ``I[t] = (1 - dt/tau_syn) I[t-1] +
  (dt w_in / tau_syn) S[t]`` first, then the membrane with this step's current (the order of
  snnTorch, Norse and SpikingJelly).
* ``integrator="exact"``: the same with the input held over the step and the linear decay solved
  exactly: decay ``exp(-dt/tau)``, gain ``r (1 - exp(-dt/tau))`` (``w_in (1 - exp(-dt/tau_syn))``
  for the current); CubaLIF keeps the current-first order (each variable exact with the other
  held over the step).

Threshold and reset: the spike is ``v > v_threshold`` (NIR's equations, snnTorch, Norse) or
``v >= v_threshold`` (SpikingJelly, ours). Our layers spike on ``>=``; the strict condition is
realised by the next floating-point number above the threshold in the model's dtype, which is
the same test for every value of that dtype. Reset is NIR's ``v <- v_reset`` unless node
metadata written by us says ``"reset": "soft"``.

Cycles: the one-step delay sits on the edge that leaves a neuron node (the spikes of step t - 1
enter the cycle's synaptic nodes at step t, bias included), which is snnTorch's ``RLeaky``
and our ``RecurrentLIF``. Supported graphs: one input, one output, subgraphs inlined, recurrent
loops ``neuron -> Linear/Affine [-> Delay(dt)] -> neuron``, and otherwise acyclic (branches and
skips, edges into a node summed); a chain becomes a :class:`spiking.nn.Sequential`, anything
else a :class:`GraphModel`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import nn as snn
from .modules import AvgPool2d, Bias, Conv1d, Delay, RecurrentCubaLIF, Scale, SumPool2d, Threshold
from .profiles import SPIKE_CONDITIONS, get_profile

__all__ = ["from_nir", "read_graph", "Imported", "GraphModel", "NIRConventionWarning", "SUPPORTED_NODES", "INTEGRATORS"]

INTEGRATORS = ("euler", "exact")
NEURONS = ("LIF", "CubaLIF", "IF", "LI", "I", "CubaLI")
SUPPORTED_NODES = ("Input", "Output", "Affine", "Linear", "Scale", "Flatten", "Conv1d", "Conv2d",
                   "SumPool2d", "AvgPool2d", "Delay", "Threshold", "NIRGraph") + NEURONS
# an input gain this close to 1 is read as 1: exporters compute r = tau/dt and tau = dt/(1-beta)
# in float32, so dt r / tau comes back as 1 +- a few float32 ulps
UNIT_GAIN_TOL = 1e-6


class NIRConventionWarning(UserWarning):
    """A convention the NIR file leaves open (or states in a way that looks wrong), and what we assume."""


@dataclass
class Imported:
    """A model read from NIR and how it was read.

    ``model``: a :class:`spiking.nn.Sequential` taking ``[T, B, *input_shape]`` (a
    :class:`GraphModel` when the graph branches);
    ``dt`` in seconds (the layers use ``dt * 1000`` ms); ``conventions``: name -> (value, origin);
    ``layers``: NIR node name -> indices of the layers made from it.
    """

    model: snn.Sequential
    dt: float
    integrator: str
    input_shape: tuple
    output_shape: tuple
    conventions: dict
    layers: dict
    warnings: list = field(default_factory=list)

    @property
    def dt_ms(self) -> float:
        return self.dt * 1e3

    def to_network(self, input_spikes=None, **kwargs):
        """The network description (:func:`spiking.nn.to_network`) of the imported model, where every
        layer maps: input gains are folded into the weights before them; biases, delays, pooling
        and non-trailing leaky integrators do not map and raise."""
        if not isinstance(self.model, snn.Sequential):
            raise ValueError("the graph branches: spiking.nn.to_network takes a chain of layers")
        return snn.to_network(_foldable(self.model), input_spikes, input_shape=self.input_shape, **kwargs)


# ------------------------------------------------------------------------------------------------
def _arr(x) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _meta(d) -> dict:
    """Metadata with bytes decoded and numpy scalars made Python values."""
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, bytes):
            v = v.decode("utf8")
        elif isinstance(v, np.ndarray) and v.shape == ():
            v = v.item()
        elif isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bytes):
            v = v.decode("utf8")
        out[str(k)] = v
    return out


def _h5_survey(path: Path):
    """Check that ``path`` is a NIR file; return (node types found, neuron nodes without v_reset)."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a NIR file (not readable as HDF5: {e})") from None
    types, missing_reset = [], []
    with f:
        if "node" not in f or "version" not in f:
            raise ValueError(f"{path}: not a NIR file (expected the 'version' and 'node' entries nir.write makes, "
                             f"found {sorted(f.keys())})")

        def walk(group, name):
            if "type" not in group:
                raise ValueError(f"{path}: node {name!r} has no 'type': not a NIR file")
            t = group["type"][()]
            t = t.decode("utf8") if isinstance(t, bytes) else str(t)
            types.append((name, t))
            if t in ("LIF", "CubaLIF", "IF") and "v_reset" not in group:
                missing_reset.append(name)
            if t == "NIRGraph":
                for k, g in group["nodes"].items():
                    walk(g, f"{name}.{k}" if name else k)

        walk(f["node"], "")
    return types, missing_reset


def read_graph(graph_or_path):
    """(NIRGraph, neuron nodes whose file has no v_reset) from a graph or a NIR file path."""
    import nir

    if isinstance(graph_or_path, nir.NIRGraph):
        return graph_or_path, []
    if isinstance(graph_or_path, nir.NIRNode):
        return nir.NIRGraph.from_list(graph_or_path, type_check=False), []
    if not isinstance(graph_or_path, (str, Path)):
        raise TypeError(f"graph_or_path of type {type(graph_or_path).__name__}: expected a nir.NIRGraph or a path")
    path = Path(graph_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such NIR file")
    types, missing_reset = _h5_survey(path)
    for name, t in types:
        if t not in SUPPORTED_NODES:
            raise ValueError(f"{path}: node {name!r} has unknown type {t!r}; supported: {', '.join(SUPPORTED_NODES)}")
    try:
        # type_check=False: peers write shapes nir's checker rejects (0-d neuron parameters); we check ours
        graph = nir.read(path, type_check=False)
    except Exception as e:
        raise ValueError(f"{path}: nir could not read the file ({type(e).__name__}: {e})") from e
    return graph, missing_reset


def _inline(graph, prefix=""):
    """Nodes and edges with every subgraph inlined (names ``sub.node``)."""
    import nir

    nodes, edges = {}, []
    sub_in, sub_out = {}, {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            n2, e2 = _inline(node, full + ".")
            ins = [k for k, v in n2.items() if type(v).__name__ == "Input" and k.count(".") == full.count(".") + 1]
            outs = [k for k, v in n2.items() if type(v).__name__ == "Output" and k.count(".") == full.count(".") + 1]
            if len(ins) != 1 or len(outs) != 1:
                raise ValueError(f"subgraph {full!r} has {len(ins)} Input and {len(outs)} Output nodes: expected one "
                                 "of each (edges into a subgraph do not say which input they feed)")
            sub_in[full] = [b for a, b in e2 if a == ins[0]]
            sub_out[full] = [a for a, b in e2 if b == outs[0]]
            nodes.update({k: v for k, v in n2.items() if k not in (ins[0], outs[0])})
            edges += [(a, b) for a, b in e2 if a != ins[0] and b != outs[0]]
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        srcs = sub_out.get(a, [a])
        dsts = sub_in.get(b, [b])
        edges += [(s, d) for s in srcs for d in dsts]
    return nodes, edges


def _uniform(node, pname, arr, size):
    a = _arr(arr).ravel()
    if a.size not in (1, size):
        raise ValueError(f"node {node!r}: {pname} has {a.size} values for {size} neurons: shapes do not connect")
    if a.size > 1 and not np.all(a == a[0]):
        raise ValueError(f"node {node!r}: {pname} differs between neurons ({a.min():g} .. {a.max():g}); our layers take "
                         "one value per layer (per-neuron values are supported for r and w_in only)")
    return float(a[0])


def _per_neuron(node, pname, arr, shape):
    a = _arr(arr)
    n = int(np.prod(shape))
    if a.size == 1:
        return float(a.ravel()[0])
    if a.size != n:
        raise ValueError(f"node {node!r}: {pname} has {a.size} values for {n} neurons: shapes do not connect")
    return a.reshape(shape)


def _strict(v_th, v_rest, dtype):
    """A threshold t' such that ``v - v_rest >= t' - v_rest`` in ``dtype`` means ``v > v_th``."""
    npdt = np.float32 if dtype == torch.float32 else np.float64
    th = npdt(v_th - v_rest)
    return float(v_rest + float(np.nextafter(th, npdt(np.inf))))


class _Ctx:
    def __init__(self, dt, integrator, profile, spike_condition, dtype, node_meta_reset):
        self.dt, self.integrator, self.profile = dt, integrator, profile
        self.spike_condition, self.dtype = spike_condition, dtype
        self.node_meta_reset = node_meta_reset
        self.notes = []           # (kind, text) for warnings gathered per node
        self.tau_small = []

    def tau(self, node, pname, value):
        tau = value / self.dt if (self.profile is not None and self.profile.tau_times_dt) else value
        if not tau > 0:
            raise ValueError(f"node {node!r}: {pname}={tau:g} s: expected a positive time constant")
        if tau < self.dt:
            if self.integrator == "euler":
                hint = ("; a Norse 1.1 file writes dt x tau (pass source='norse')"
                        if self.profile is None or not self.profile.tau_times_dt else "")
                raise ValueError(f"node {node!r}: {pname}={tau:g} s is below dt={self.dt:g} s: forward Euler "
                                 f"would give a decay 1 - dt/tau = {1 - self.dt / tau:.3g} outside [0, 1]{hint}")
            self.tau_small.append(f"{node}.{pname}={tau:g} s")
        return tau

    def decay_gain(self, tau, r):
        """(decay per step, input gain) of tau dv/dt = -v + r I for this integrator."""
        if self.integrator == "euler":
            return 1.0 - self.dt / tau, self.dt * r / tau
        beta = math.exp(-self.dt / tau)
        return beta, r * (1.0 - beta)

    def threshold(self, v_th, v_rest):
        if self.spike_condition == "v > v_threshold":
            return _strict(v_th, v_rest, self.dtype)
        return v_th


def _gain_layer(gain, layers):
    g = np.asarray(gain, dtype=np.float64)
    if np.all(np.abs(g - 1.0) <= UNIT_GAIN_TOL):
        return
    layers.append(Scale(g))


def _neuron_layers(name, node, shape, ctx: _Ctx, rec=None):
    """Layers for one neuron node (and its recurrent Affine/Linear ``rec``)."""
    kind = type(node).__name__
    n = int(np.prod(shape))
    dt_ms = ctx.dt * 1e3
    reset = ctx.node_meta_reset(node)
    layers = []
    if kind in ("LIF", "IF"):
        if kind == "LIF":
            tau = ctx.tau(name, "tau", _uniform(name, "tau", node.tau, n))
            v_leak = _uniform(name, "v_leak", node.v_leak, n)
            r = _per_neuron(name, "r", node.r, shape)
            beta, gain = ctx.decay_gain(tau, r)
        else:
            v_leak, beta = 0.0, 1.0
            gain = ctx.dt * _per_neuron(name, "r", node.r, shape)
        v_th = _uniform(name, "v_threshold", node.v_threshold, n)
        v_reset = _uniform(name, "v_reset", node.v_reset, n)
        opts = dict(dt=dt_ms, v_th=ctx.threshold(v_th, v_leak), v_reset=v_reset, v_rest=v_leak, reset=reset)
        _gain_layer(gain, layers)
        if rec is None:
            layers.append(snn.LIF(beta=beta, **opts))
            return layers
        if len(shape) != 1:
            raise ValueError(f"recurrent node {name!r} of shape {shape}: expected one dimension")
        w = _arr(rec.weight)
        if w.shape != (n, n):
            raise ValueError(f"recurrent weight into {name!r} of shape {w.shape}: expected ({n}, {n}): "
                             "shapes do not connect")
        g = np.broadcast_to(np.asarray(gain, dtype=np.float64), (n,))
        if hasattr(rec, "bias") and np.any(_arr(rec.bias) != 0):
            layers.append(Bias(g * _arr(rec.bias).ravel()))
        layer = snn.RecurrentLIF(n, beta=beta, **opts)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(g[:, None] * w))
        layers.append(layer)
        return layers
    if rec is not None and kind != "CubaLIF":
        raise ValueError(f"node {name!r} ({kind}) has a recurrent loop: only LIF, IF and CubaLIF nodes can be "
                         "recurrent here")
    if kind == "CubaLIF":
        ts = ctx.tau(name, "tau_syn", _uniform(name, "tau_syn", node.tau_syn, n))
        tm = ctx.tau(name, "tau_mem", _uniform(name, "tau_mem", node.tau_mem, n))
        w_in = _arr(node.w_in)
        if ctx.profile is not None and ctx.profile.cuba_w_in_from_tau and np.all(w_in == 1.0):
            w_in = np.asarray(ts / ctx.dt)
        w_in = _per_neuron(name, "w_in", w_in, shape)
        r = _per_neuron(name, "r", node.r, shape)
        v_leak = _uniform(name, "v_leak", node.v_leak, n)
        v_th = _uniform(name, "v_threshold", node.v_threshold, n)
        v_reset = _uniform(name, "v_reset", node.v_reset, n)
        alpha, g_syn = ctx.decay_gain(ts, w_in)
        beta, g_mem = ctx.decay_gain(tm, r)
        syn = snn.LeakyReadout(beta=alpha, dt=dt_ms)                 # the current, updated first
        mem = snn.LIF(beta=beta, dt=dt_ms, v_th=ctx.threshold(v_th, v_leak), v_reset=v_reset, v_rest=v_leak,
                      reset=reset)
        if rec is not None:
            if len(shape) != 1:
                raise ValueError(f"recurrent node {name!r} of shape {shape}: expected one dimension")
            w = _arr(rec.weight)
            if w.shape != (n, n):
                raise ValueError(f"recurrent weight into {name!r} of shape {w.shape}: expected ({n}, {n}): "
                                 "shapes do not connect")
            b = _arr(rec.bias).ravel() if hasattr(rec, "bias") and np.any(_arr(rec.bias) != 0) else None
            unit = lambda g: 1.0 if np.all(np.abs(np.asarray(g) - 1.0) <= UNIT_GAIN_TOL) else g  # noqa: E731
            return [RecurrentCubaLIF(syn, mem, w, b, g_syn=unit(g_syn), g_mem=unit(g_mem))]
        _gain_layer(g_syn, layers)
        layers.append(syn)
        _gain_layer(g_mem, layers)
        layers.append(mem)
        return layers
    if kind == "CubaLI":
        ts = ctx.tau(name, "tau_syn", _uniform(name, "tau_syn", node.tau_syn, n))
        tm = ctx.tau(name, "tau_mem", _uniform(name, "tau_mem", node.tau_mem, n))
        if _uniform(name, "v_leak", node.v_leak, n) != 0.0:
            raise ValueError(f"node {name!r} (CubaLI): v_leak != 0 is not supported (our readout rests at 0)")
        w_in = _arr(node.w_in)
        if ctx.profile is not None and ctx.profile.cuba_w_in_from_tau and np.all(w_in == 1.0):
            w_in = np.asarray(ts / ctx.dt)
        alpha, g_syn = ctx.decay_gain(ts, _per_neuron(name, "w_in", w_in, shape))
        beta, g_mem = ctx.decay_gain(tm, _per_neuron(name, "r", node.r, shape))
        _gain_layer(g_syn, layers)
        layers.append(snn.LeakyReadout(beta=alpha, dt=dt_ms))
        _gain_layer(g_mem, layers)
        layers.append(snn.LeakyReadout(beta=beta, dt=dt_ms))
        return layers
    if kind in ("LI", "I"):
        if kind == "LI":
            tau = ctx.tau(name, "tau", _uniform(name, "tau", node.tau, n))
            if _uniform(name, "v_leak", node.v_leak, n) != 0.0:
                raise ValueError(f"node {name!r} (LI): v_leak != 0 is not supported (our readout rests at 0)")
            beta, gain = ctx.decay_gain(tau, _per_neuron(name, "r", node.r, shape))
        else:
            beta, gain = 1.0, ctx.dt * _per_neuron(name, "r", node.r, shape)
        _gain_layer(gain, layers)
        layers.append(snn.LeakyReadout(beta=beta, dt=dt_ms))
        return layers
    raise AssertionError(kind)


def _pad(p, nd, name):
    if isinstance(p, (bytes, str)):
        p = p.decode() if isinstance(p, bytes) else p
        if p not in ("same", "valid"):
            raise ValueError(f"node {name!r}: padding={p!r}: expected 'same', 'valid' or integers")
        return p
    a = np.atleast_1d(np.asarray(p)).astype(int)
    return tuple(int(v) for v in (a if a.size == nd else np.repeat(a, nd)))


def _tup(v, nd):
    a = np.atleast_1d(np.asarray(v)).astype(int)
    return tuple(int(x) for x in (a if a.size == nd else np.repeat(a, nd)))


def _synapse_layer(name, node, shape, ctx):
    """(layer, output shape) of a stateless node on inputs of ``shape``."""
    kind = type(node).__name__
    if kind in ("Affine", "Linear"):
        w = _arr(node.weight)
        if w.ndim != 2:
            raise ValueError(f"node {name!r}: weight of shape {w.shape}: expected a matrix")
        if len(shape) != 1 or shape[0] != w.shape[1]:
            raise ValueError(f"node {name!r} ({kind}) takes {w.shape[1]} inputs but receives shape {list(shape)}: "
                             "shapes do not connect")
        b = _arr(node.bias).ravel() if kind == "Affine" else np.zeros(w.shape[0])
        if b.size not in (1, w.shape[0]):
            raise ValueError(f"node {name!r}: bias of {b.size} values for {w.shape[0]} outputs")
        has_b = bool(np.any(b != 0))
        layer = snn.Linear(w.shape[1], w.shape[0], bias=has_b, sparse_input=False)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(w))
            if has_b:
                layer.bias.copy_(torch.as_tensor(np.broadcast_to(b, (w.shape[0],)).copy()))
        return layer, (w.shape[0],)
    if kind == "Scale":
        s = _arr(node.scale)
        try:
            np.broadcast_shapes(s.shape, tuple(shape))
        except ValueError:
            raise ValueError(f"node {name!r} (Scale) of shape {s.shape} receives shape {list(shape)}: shapes do not connect") from None
        return Scale(s), tuple(shape)
    if kind == "Threshold":
        th = _per_neuron(name, "threshold", node.threshold, shape)
        return Threshold(th, strict=ctx.spike_condition == "v > v_threshold"), tuple(shape)
    if kind == "Delay":
        d = _arr(node.delay) / ctx.dt
        if np.any(np.abs(d - np.round(d)) > 1e-6 * np.maximum(1.0, np.abs(d))):
            raise ValueError(f"node {name!r} (Delay): delays {_arr(node.delay).ravel()[:4]} s are not whole multiples "
                             f"of dt={ctx.dt:g} s")
        d = np.round(d)
        if d.size not in (1, int(np.prod(shape))):
            raise ValueError(f"node {name!r} (Delay) of {d.size} values receives shape {list(shape)}: shapes do not connect")
        return Delay(d, shape if d.size > 1 else None), tuple(shape)
    if kind == "Flatten":
        nd = len(shape)
        s, e = int(node.start_dim), int(node.end_dim)
        s, e = (s + nd if s < 0 else s), (e + nd if e < 0 else e)
        if not (0 <= s <= e < nd):
            raise ValueError(f"node {name!r} (Flatten) start_dim={node.start_dim}, end_dim={node.end_dim} on shape "
                             f"{list(shape)}: shapes do not connect")
        layer = snn.Flatten() if (s == 0 and e == nd - 1) else nn.Flatten(s + 1, e + 1)
        out = tuple(shape[:s]) + (int(np.prod(shape[s:e + 1])),) + tuple(shape[e + 1:])
        return layer, out
    if kind in ("Conv2d", "Conv1d"):
        nd = 2 if kind == "Conv2d" else 1
        w = _arr(node.weight)
        groups = int(np.asarray(node.groups))
        if len(shape) != nd + 1 or shape[0] != w.shape[1] * groups:
            raise ValueError(f"node {name!r} ({kind}) with weight {w.shape} (groups={groups}) receives shape "
                             f"{list(shape)}: shapes do not connect")
        b = _arr(node.bias).ravel()
        has_b = bool(np.any(b != 0))
        kw = dict(stride=_tup(node.stride, nd), padding=_pad(node.padding, nd, name),
                  dilation=_tup(node.dilation, nd), groups=groups, bias=has_b)
        cls = snn.Conv2d if nd == 2 else Conv1d
        layer = cls(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), **kw)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(w))
            if has_b:
                layer.bias.copy_(torch.as_tensor(np.broadcast_to(b, (w.shape[0],)).copy()))
    elif kind in ("SumPool2d", "AvgPool2d"):
        if len(shape) != 3:
            raise ValueError(f"node {name!r} ({kind}) receives shape {list(shape)}: expected (C, H, W)")
        cls = SumPool2d if kind == "SumPool2d" else AvgPool2d
        layer = cls(_tup(node.kernel_size, 2), stride=_tup(node.stride, 2), padding=_tup(node.padding, 2))
    else:
        raise ValueError(f"node {name!r} has unknown type {kind!r}; supported: {', '.join(SUPPORTED_NODES)}")
    with torch.no_grad():
        out = tuple(layer(torch.zeros((1,) + tuple(shape), dtype=torch.get_default_dtype())).shape[1:])
    return layer, out


def _find_recurrent(nodes, edges, dt):
    """({neuron: its recurrent Affine/Linear}, the loop nodes) for loops ``neuron -> W -> neuron``
    (the delay rule puts one step on the edge leaving the neuron) and ``neuron -> W -> Delay(dt)
    -> neuron`` (the step written out, as our network export does)."""
    succ, pred = {}, {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    rec, loop_nodes = {}, set()

    def add(neuron, w, extra=()):
        if neuron in rec:
            raise ValueError(f"node {neuron!r} has two recurrent loops ({rec[neuron]!r}, {w!r}): expected one")
        rec[neuron] = w
        loop_nodes.update((w,) + tuple(extra))

    for name, node in nodes.items():
        if type(node).__name__ not in ("Affine", "Linear"):
            continue
        p, s = pred.get(name, []), succ.get(name, [])
        if len(p) != 1 or len(s) != 1 or type(nodes[p[0]]).__name__ not in NEURONS:
            continue
        if s == p:
            add(p[0], name)
        elif type(nodes[s[0]]).__name__ == "Delay" and succ.get(s[0]) == p and pred.get(s[0]) == [name]:
            d = _arr(nodes[s[0]].delay) / dt
            if not np.allclose(d, 1.0, rtol=0, atol=1e-6):
                raise ValueError(f"recurrent loop {p[0]!r} -> {name!r} -> {s[0]!r}: a loop delay of "
                                 f"{_arr(nodes[s[0]].delay).ravel()[:3]} s; only one step (dt={dt:g} s) is supported")
            add(p[0], name, (s[0],))
    return rec, loop_nodes


def _topology(nodes, edges, loops):
    """(node names in evaluation order, predecessors of each, output node) with the recurrent
    loops removed; the rest must be acyclic, reachable from the one input and reach the one output."""
    edges = [(a, b) for a, b in edges if a not in loops and b not in loops]
    succ, pred = {}, {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    live = [k for k in nodes if k not in loops]
    inputs = [k for k in live if type(nodes[k]).__name__ == "Input"]
    outputs = [k for k in live if type(nodes[k]).__name__ == "Output"]
    if len(inputs) > 1 or len(outputs) > 1:
        raise ValueError(f"graph with inputs {inputs} and outputs {outputs}: expected one of each")
    roots = [k for k in live if not pred.get(k)]
    if not inputs:
        if len(roots) != 1:
            raise ValueError(f"graph without an Input node and with {len(roots)} root nodes {roots}: cannot tell the input")
        inputs = roots
    extra_roots = [k for k in roots if k != inputs[0]]
    if extra_roots:
        raise ValueError(f"nodes {extra_roots} receive no edge and are not the Input {inputs[0]!r}")
    # Kahn's algorithm, keeping the file's node order among ready nodes
    indeg = {k: len(pred.get(k, [])) for k in live}
    order, ready = [], [inputs[0]]
    while ready:
        k = ready.pop(0)
        order.append(k)
        for nxt in succ.get(k, []):
            indeg[nxt] -= 1
            if indeg[nxt] == 0:
                ready.append(nxt)
    if len(order) != len(live):
        stuck = [k for k in live if k not in order]
        raise ValueError(f"cycle through {stuck}: only loops neuron -> Linear/Affine [-> Delay(dt)] -> neuron are "
                         "supported (the one-step delay on the edge leaving the neuron)")
    leaves = [k for k in order if not succ.get(k)]
    out = outputs[0] if outputs else (leaves[0] if len(leaves) == 1 else None)
    if out is None or leaves != [out]:
        raise ValueError(f"graph ends in {leaves}: expected one Output")
    return order, pred, out


class GraphModel(snn.SpikingModule):
    """A NIR graph that is not a chain (branches, skips, several edges into a node), over sequences.

    ``nodes[name]``: a :class:`spiking.nn.Sequential` of that node's layers; each node's input is
    the sum of its predecessors' outputs (NIR's edge semantics). The graph is acyclic once the
    recurrent loops are inside :class:`~spiking.nn.RecurrentLIF` layers, so each node runs over the
    whole sequence in turn. ``forward(x[T, B, ...], state=None) -> (y, {node: state})``.
    """

    def __init__(self, order, preds, input_name, output_name, blocks: dict):
        super().__init__()
        self.order, self.preds = list(order), {k: list(v) for k, v in preds.items()}
        self.input_name, self.output_name = input_name, output_name
        self.blocks = nn.ModuleDict({_key(k): v for k, v in blocks.items()})
        self.names = {_key(k): k for k in blocks}
        self.input_shape = None        # set by from_nir; to_nir reads it

    def forward(self, x, state=None, temporal_grad: bool = True):
        state = dict(state or {})
        out, new_state = {self.input_name: x}, {}
        for name in self.order:
            if name == self.input_name:
                continue
            ins = [out[p] for p in self.preds.get(name, [])]
            h = ins[0] if len(ins) == 1 else torch.stack(ins).sum(0)
            key = _key(name)
            if key in self.blocks:
                h, new_state[name] = self.blocks[key](h, state.get(name), temporal_grad)
            out[name] = h
        return out[self.output_name], new_state

    def step(self, x, state=None, temporal_grad: bool = True):
        y, st = self.forward(x.unsqueeze(0), state, temporal_grad)
        return y[0], st


def _key(name):
    return name.replace(".", "__")


def _input_shape(node, name):
    t = getattr(node, "input_type", None) or {}
    v = t.get("input") if isinstance(t, dict) else None
    if v is None:
        raise ValueError(f"Input node {name!r} has no shape")
    return tuple(int(s) for s in np.atleast_1d(np.asarray(v)))


def from_nir(graph_or_path, dt: float | None = None, *, integrator: str = "euler", source=None,
             dtype=torch.float32, spike_condition: str | None = None) -> Imported:
    """Import a NIR graph (a ``nir.NIRGraph`` or a path to a ``.nir`` file) as a spiking.nn model.

    ``dt``: seconds; required unless the file's metadata or the ``source`` profile gives it.
    ``integrator``: "euler" (reproduces the exporters' discrete models) or "exact".
    ``source``: None, "snntorch", "norse", "spikingjelly" or a :class:`SourceProfile`: the
    exporter's dt, spike condition and known corrections (Norse's dt x tau and w_in).
    ``dtype``: the dtype the model will run in (the strict spike condition is exact for it).
    ``spike_condition``: override, "v > v_threshold" or "v >= v_threshold".
    Each convention left open is announced with a :class:`NIRConventionWarning`.
    """
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator={integrator!r}: expected one of {INTEGRATORS}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype={dtype}: expected torch.float32 or torch.float64")
    if spike_condition is not None and spike_condition not in SPIKE_CONDITIONS:
        raise ValueError(f"spike_condition={spike_condition!r}: expected one of {SPIKE_CONDITIONS}")
    profile = get_profile(source)
    graph, missing_reset = read_graph(graph_or_path)
    meta = _meta(getattr(graph, "metadata", None))
    ours = meta.get("producer", "").startswith("spiking-sim")
    conventions, notes = {}, []

    def settle(key, file_value, arg_value, profile_value, default, open_text):
        if file_value is not None and arg_value is not None and file_value != arg_value:
            if not (isinstance(file_value, float) and abs(file_value - arg_value) <= 1e-12 * abs(file_value)):
                raise ValueError(f"{key}={arg_value!r} given, but the file says {key}={file_value!r}")
        for value, origin in ((file_value, "file metadata"), (arg_value, "argument"), (profile_value,
                              f"profile {profile.name!r}" if profile else None)):
            if value is not None:
                conventions[key] = (value, origin)
                return value
        conventions[key] = (default, "assumed")
        if open_text:
            notes.append(open_text)
        return default

    file_dt = float(meta["dt"]) if "dt" in meta else None
    if file_dt is None and dt is None and profile is None:
        raise ValueError("dt is required: the file does not store its time step (NIR has no field for it); pass dt= "
                         "in seconds or source='snntorch'|'norse'|'spikingjelly' for the exporter's default")
    dt = settle("dt", file_dt, None if dt is None else float(dt), profile.dt if profile else None, None, None)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt={dt}: expected a positive time step in seconds")
    if file_dt is None and profile is not None and conventions["dt"][1].startswith("profile"):
        notes.append(f"dt: the file does not store it; using {dt:g} s, the {profile.name} exporter's default")
    file_int = meta.get("integrator")
    if file_int is not None and file_int != integrator:
        notes.append(f"integrator: the file was written for {file_int!r}; importing with {integrator!r} as asked")
    conventions["integrator"] = (integrator, "argument")
    cond = settle("spike_condition", meta.get("spike_condition"), spike_condition,
                  profile.spike_condition if profile else None, "v > v_threshold",
                  "spike condition: the file does not say; using NIR's v > v_threshold (SpikingJelly exports spike on "
                  ">=: pass source='spikingjelly')")
    nodes, edges = _inline(graph)
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED_NODES:
            raise ValueError(f"node {name!r} has type {kind!r}, which is not supported; supported: "
                             f"{', '.join(SUPPORTED_NODES)}")
    kinds = {type(n).__name__ for n in nodes.values()}
    spiking_nodes = kinds & {"LIF", "CubaLIF", "IF"}

    reset_meta = {}
    for name, node in nodes.items():
        r = _meta(getattr(node, "metadata", None)).get("reset")
        if r is not None:
            if r not in ("hard", "soft"):
                raise ValueError(f"node {name!r}: metadata reset={r!r}: expected 'hard' or 'soft'")
            reset_meta[id(node)] = r
    if spiking_nodes:
        if not reset_meta and not ours:
            if profile is not None and profile.reset_written:
                conventions["reset"] = ("hard (v <- v_reset)", f"profile {profile.name!r}")
            elif profile is not None:
                notes.append(f"reset: {profile.reset_note}")
            else:
                notes.append("reset: the file cannot say how the source model reset; using NIR's v <- v_reset "
                             "(a subtractive reset, snnTorch's default, would be exported the same way)")
            conventions.setdefault("reset", ("hard (v <- v_reset)", "NIR equations"))
        else:
            conventions["reset"] = ("per node metadata" if reset_meta else "hard (v <- v_reset)", "file metadata")
    if missing_reset:
        why = f" ({profile.reset_note})" if profile is not None and profile.name == "norse" else ""
        notes.append(f"reset: nodes {missing_reset} have no v_reset field; using 0{why}")
    if kinds & {"CubaLIF", "CubaLI"}:
        settle("cuba_update_order", meta.get("cuba_update_order"), None, "current first" if profile else None,
               "current first", "CubaLIF update order: the file does not say; updating the current first and the "
               "membrane with this step's current (snnTorch, Norse and SpikingJelly do so)")
    if profile is not None and profile.tau_times_dt and kinds & {"LIF", "CubaLIF", "LI", "CubaLI"}:
        notes.append(f"time constants: {profile.name} writes dt x tau; dividing every tau by dt={dt:g} s")
        conventions["tau"] = ("file value / dt", f"profile {profile.name!r}")
    if profile is not None and profile.cuba_w_in_from_tau and kinds & {"CubaLIF", "CubaLI"}:
        notes.append(f"CubaLIF w_in: {profile.name} omits it; using tau_syn / dt (the current jumps by the input)")
        conventions["w_in"] = ("tau_syn / dt where the file has 1", f"profile {profile.name!r}")

    rec, loop_nodes = _find_recurrent(nodes, edges, dt)
    if rec and any(type(nodes[k]).__name__ == "Delay" for k in loop_nodes):
        conventions["recurrent_delay"] = ("one step, written as a Delay node in the loop", "file")
    elif rec:
        settle("recurrent_delay", meta.get("recurrent_delay"), None, "edge leaving the neuron" if profile else None,
               "edge leaving the neuron",
               "cycles: NIR does not say which edge carries the one-step delay; putting it on the edge leaving the "
               "neuron (spikes of step t-1, through the recurrent weights and bias, enter step t)")
    order, preds, out_name = _topology(nodes, edges, loop_nodes)
    ctx = _Ctx(dt, integrator, profile, cond, dtype, lambda node: reset_meta.get(id(node), "hard"))
    first = nodes[order[0]]
    if type(first).__name__ == "Input":
        in_shape = _input_shape(first, order[0])
    else:
        in_shape = _input_shape(type("N", (), {"input_type": first.input_type})(), order[0])
    shapes, blocks = {order[0]: tuple(in_shape)}, {}
    for name in order[1:]:
        node = nodes[name]
        kind = type(node).__name__
        got = {p: shapes[p] for p in preds.get(name, [])}
        if len(set(got.values())) > 1:
            raise ValueError(f"node {name!r} receives shapes {got}: shapes do not connect (edges into a node are summed)")
        shape = next(iter(got.values()))
        if kind == "Input":
            raise ValueError(f"Input node {name!r} receives edges")
        layers = []
        if kind == "Output":
            out_t = getattr(node, "output_type", None) or {}
            want = out_t.get("output") if isinstance(out_t, dict) else None
            if want is not None and np.asarray(want).size and int(np.prod(want)) != int(np.prod(shape)):
                raise ValueError(f"Output {name!r} expects shape {list(np.atleast_1d(want))} but receives "
                                 f"{list(shape)}: shapes do not connect")
        elif kind in NEURONS:
            layers = _neuron_layers(name, node, shape, ctx, nodes[rec[name]] if name in rec else None)
        else:
            layer, shape = _synapse_layer(name, node, shape, ctx)
            layers = [layer]
        shapes[name] = tuple(shape)
        if layers:
            blocks[name] = layers
    shape = shapes[out_name]
    chain = all(len(preds.get(k, [])) <= 1 for k in order) and \
        all(sum(1 for v in preds.values() if k in v) <= 1 for k in order)
    where, layers = {}, []
    if chain:
        for name in order:
            if name in blocks:
                where[name] = list(range(len(layers), len(layers) + len(blocks[name])))
                layers += blocks[name]
        if not layers:
            raise ValueError("the graph has no node between its Input and Output")
        model = snn.Sequential(*layers).to(dtype)
    else:
        model = GraphModel(order, preds, order[0], out_name,
                           {k: snn.Sequential(*v) for k, v in blocks.items()}).to(dtype)
        model.input_shape = tuple(in_shape)
        where = {k: [k] for k in blocks}
    if ctx.tau_small:
        notes.append(f"time constants below dt ({', '.join(ctx.tau_small)}): check the file's units "
                     "(Norse 1.1 writes dt x tau)")
    for text in notes:
        warnings.warn(text, NIRConventionWarning, stacklevel=2)
    return Imported(model=model, dt=dt, integrator=integrator, input_shape=tuple(in_shape), output_shape=tuple(shape),
                    conventions=conventions, layers=where, warnings=notes)


def _foldable(model):
    """A copy of ``model`` with each Scale folded into the Linear/Conv2d before it (for to_network)."""
    import copy

    out = []
    for layer in model:
        if isinstance(layer, Scale) and out and isinstance(out[-1], (snn.Linear, snn.Conv2d)) and out[-1].bias is None:
            prev = copy.deepcopy(out[-1])
            s = layer.scale.double().reshape(-1)
            if isinstance(prev, snn.Conv2d) and s.numel() != 1:
                s = torch.unique(s)
                if s.numel() != 1:
                    raise ValueError("a per-neuron gain after a Conv2d cannot be folded into its kernel")
            with torch.no_grad():
                w = prev.weight.double()
                w = w * (s[:, None] if (w.dim() == 2 and s.numel() > 1) else s)
                prev.weight.copy_(w.to(prev.weight.dtype))
            out[-1] = prev
            continue
        if isinstance(layer, (Scale, Bias, Delay, SumPool2d, AvgPool2d, Conv1d)):
            raise ValueError(f"layer {type(layer).__name__} has no counterpart in the network description")
        out.append(layer)
    return snn.Sequential(*out)
