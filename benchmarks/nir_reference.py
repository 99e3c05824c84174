"""Reference NIR files and spike trains from snnTorch, Norse and SpikingJelly, for tests/test_nir_peers.py.

Each case builds a small network in the peer library with seeded weights, exports it with the
library's own NIR exporter, runs it in the library on a seeded Bernoulli input and saves

* ``tests/data/nir/<case>.nir``: the exported graph (written by nir.write, through a temporary file);
* ``tests/data/nir/<case>.npz``: ``x`` (the input ``[T, B, ...]``), for each neuron layer ``k``
  ``spikes_k`` and ``v_k`` (membrane after the step, after reset), and ``meta`` (JSON: library and
  version, the layers' order, settings).

The tests import the ``.nir`` file with :func:`spiking.nir.from_nir` and require the same spikes
(all) and membranes (to 1e-4). With the peers installed they also rebuild every case live.

Usage: ``python benchmarks/nir_reference.py [--out tests/data/nir] [--case NAME ...]``.
Peer settings that matter (each discussed in docs/nir.md):

* snnTorch: ``reset_mechanism="zero", reset_delay=False`` is the model snnTorch's own importer
  builds from a NIR LIF (``snntorch/import_nir.py``), i.e. the file's meaning; per-neuron
  ``beta``/``threshold`` tensors (a scalar ``beta`` exports 0-d parameters that nir's type check
  rejects). The ``snntorch_subtract`` case uses snnTorch's default (subtractive) reset: its file
  is identical, and its spikes differ from what the file says.
* snnTorch ``RSynaptic`` runs with its default ``reset_delay=True`` (``reset_delay=False`` crashes in
  snnTorch 1.0): its spikes are recorded but are not what its file says; the test checks the import
  against the file's equations.
* Norse: ``LIFBoxCell`` (NIR LIF) and ``LIFCell`` (NIR CubaLIF) at Norse's dt = 1e-3 s, with
  per-neuron parameter tensors (see ``norse_cases``); a conv-only net (Norse exports no Flatten).
* SpikingJelly: multi-step mode, ``store_v_seq=True``; LIF with and without ``decay_input``,
  IF, CUBALIF, and a conv net with average pooling.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "nir"


def _bernoulli(shape, p, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).float()


def _init(module, seed, gain):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain / np.sqrt(fan_in))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1 * gain)


# ------------------------------------------------------------------------------------------------
def snntorch_cases():
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    def leaky(n, beta, mech):
        kw = dict(reset_delay=False) if mech == "zero" else {}
        return snn.Leaky(beta=torch.full(n if isinstance(n, tuple) else (n,), beta),
                         threshold=torch.ones(n if isinstance(n, tuple) else (n,)), init_hidden=True,
                         reset_mechanism=mech, **kw)

    def run(net, x, neuron_layers):
        import snntorch.utils as su
        su.reset(net)
        for m in neuron_layers:
            m.output = True
        rec = {i: ([], []) for i in range(len(neuron_layers))}
        with torch.no_grad():
            for t in range(x.shape[0]):
                h = x[t]
                for m in net:
                    if m in neuron_layers:
                        out = m(h)
                        k = neuron_layers.index(m)
                        rec[k][0].append(out[0].clone())
                        rec[k][1].append(out[-1].clone())
                        h = out[0]
                    else:
                        h = m(h)
        for m in neuron_layers:
            m.output = False
        return {k: (torch.stack(s), torch.stack(v)) for k, (s, v) in rec.items()}

    cases = {}
    for mech, name in (("zero", "snntorch_ff"), ("subtract", "snntorch_subtract")):
        kw = dict(reset_delay=False) if mech == "zero" else {}
        net = torch.nn.Sequential(
            torch.nn.Linear(12, 10), leaky(10, 0.9, mech), torch.nn.Linear(10, 6),
            snn.Synaptic(alpha=torch.full((6,), 0.8), beta=torch.full((6,), 0.85), threshold=torch.ones(6),
                         init_hidden=True, reset_mechanism=mech, **kw))
        _init(net, 1, 2.5)
        graph = export_to_nir(net, torch.zeros(12))
        x = _bernoulli((60, 4, 12), 0.3, 2)
        cases[name] = (graph, x, run(net, x, [net[1], net[3]]),
                       {"layers": ["Leaky", "Synaptic"], "reset_mechanism": mech, "reset_delay": mech != "zero"})
    net = torch.nn.Sequential(torch.nn.Linear(8, 10),
                              snn.RLeaky(beta=torch.full((10,), 0.9), threshold=torch.ones(10), linear_features=10,
                                         init_hidden=True, reset_mechanism="zero", reset_delay=False))
    _init(net, 3, 2.0)
    graph = export_to_nir(net, torch.zeros(8))
    x = _bernoulli((60, 4, 8), 0.3, 4)
    cases["snntorch_rleaky"] = (graph, x, run(net, x, [net[1]]),
                                {"layers": ["RLeaky"], "reset_mechanism": "zero", "reset_delay": False,
                                 "recurrent_bias": True})
    net = torch.nn.Sequential(torch.nn.Linear(8, 10),
                              snn.RSynaptic(alpha=torch.full((10,), 0.8), beta=torch.full((10,), 0.9),
                                            threshold=torch.ones(10), linear_features=10, init_hidden=True,
                                            reset_mechanism="zero"))
    _init(net, 17, 1.5)
    graph = export_to_nir(net, torch.zeros(8))
    # RSynaptic(reset_delay=False) fails in snnTorch 1.0's forward (it reads the local `spk`, None with
    # init_hidden=True; given explicit states, its immediate reset goes to a local `mem` and is lost), so
    # this runs snnTorch's default reset_delay=True: after a spike the whole next update is zeroed, which
    # is not what the file says. The test checks our import against the file's equations instead and
    # records how far snnTorch's own run is from them.
    x = _bernoulli((60, 4, 8), 0.3, 18)
    cases["snntorch_rsynaptic"] = (graph, x, run(net, x, [net[1]]),
                                   {"layers": ["RSynaptic"], "reset_mechanism": "zero", "reset_delay": True,
                                    "recurrent_bias": True})
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), leaky((4, 6, 6), 0.9, "zero"), torch.nn.Flatten(start_dim=-3),
                              torch.nn.Linear(144, 5), leaky(5, 0.9, "zero"))
    _init(net, 5, 4.0)
    graph = export_to_nir(net, torch.zeros(2, 8, 8))   # unbatched: a batched sample breaks nir type inference
    x = _bernoulli((20, 2, 2, 8, 8), 0.3, 6)
    cases["snntorch_conv"] = (graph, x, run(net, x, [net[1], net[4]]),
                              {"layers": ["Leaky", "Leaky"], "reset_mechanism": "zero", "reset_delay": False})
    return cases, {"library": "snntorch", "version": snn.__version__}


def norse_cases():
    import norse
    import norse.torch as nt
    from norse.torch.utils.export_nir import to_nir

    def run(net, x):
        rec = {}
        with torch.no_grad():
            states = [None] * len(net)
            for t in range(x.shape[0]):
                h, k = x[t], 0
                for i, m in enumerate(net):
                    if isinstance(m, (nt.LIFBoxCell, nt.LIFCell)):
                        h, states[i] = m(h, states[i])
                        rec.setdefault(k, ([], [], []))
                        rec[k][0].append(h.clone())
                        rec[k][1].append(states[i].v.clone())
                        rec[k][2].append(getattr(states[i], "i", states[i].v).clone())
                        k += 1
                    else:
                        h = m(h)
        return {k: tuple(torch.stack(a) for a in v) for k, v in rec.items()}

    # per-neuron parameters: with Norse's scalar defaults the exported nodes hold 0-d arrays, which
    # nir.write cannot store (h5py: "Scalar datasets don't support chunk/filter options")
    def box(n):
        n = n if isinstance(n, tuple) else (n,)
        return nt.LIFBoxCell(nt.LIFBoxParameters(tau_mem_inv=torch.full(n, 100.0), v_leak=torch.zeros(n),
                                                 v_th=torch.ones(n), v_reset=torch.zeros(n)))

    def cuba(n):
        return nt.LIFCell(nt.LIFParameters(tau_syn_inv=torch.full((n,), 200.0), tau_mem_inv=torch.full((n,), 100.0),
                                           v_leak=torch.zeros(n), v_th=torch.ones(n), v_reset=torch.zeros(n)))

    net = torch.nn.Sequential(torch.nn.Linear(12, 10), box(10), torch.nn.Linear(10, 6), cuba(6))
    _init(net, 7, 12.0)
    graph = to_nir(nt.SequentialState(*net), torch.zeros(12))     # unbatched: a batched sample goes into the Input shape
    x = _bernoulli((80, 4, 12), 0.3, 8)
    cases = {"norse_ff": (graph, x, run(net, x), {"layers": ["LIFBoxCell", "LIFCell"], "dt": 1e-3})}
    # Norse's exporter has no Flatten: a conv-only network
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), box((4, 6, 6)), torch.nn.Conv2d(4, 3, 3), box((3, 4, 4)))
    _init(net, 15, 25.0)
    graph = to_nir(nt.SequentialState(*net), torch.zeros(2, 8, 8))
    # Norse leaves Conv2d.input_shape = None, which nir.write cannot store ("One of data, shape or dtype
    # must be specified"); nir's own shape inference fills it in
    graph.infer_types()
    x = _bernoulli((30, 2, 2, 8, 8), 0.3, 16)
    cases["norse_conv"] = (graph, x, run(net, x), {"layers": ["LIFBoxCell", "LIFBoxCell"], "dt": 1e-3})
    return cases, {"library": "norse", "version": norse.__version__ if hasattr(norse, "__version__") else "1.1"}


def spikingjelly_cases():
    import spikingjelly
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    def multistep(net):
        for m in net.modules():
            if hasattr(m, "step_mode"):
                m.step_mode = "m"
            if isinstance(m, neuron.BaseNode):
                m.store_v_seq = True
        return net

    def run(net, x):
        functional.reset_net(net)
        rec, k = {}, 0
        with torch.no_grad():
            h = x
            for m in net:
                h = m(h)
                if isinstance(m, neuron.BaseNode):
                    rec[k] = (h.clone(), m.v_seq.clone())
                    k += 1
        return rec

    cases = {}
    net = multistep(torch.nn.Sequential(
        layer.Linear(12, 10), neuron.LIFNode(tau=2.0), layer.Linear(10, 8), neuron.LIFNode(tau=4.0, decay_input=False),
        layer.Linear(8, 6), neuron.IFNode()))
    _init(net, 9, 2.5)
    x = _bernoulli((60, 4, 12), 0.3, 10)
    graph = export_to_nir(net, x[:, :1])
    cases["spikingjelly_ff"] = (graph, x, run(net, x), {"layers": ["LIFNode(tau=2)", "LIFNode(tau=4, decay_input=False)",
                                                                   "IFNode"]})
    net = multistep(torch.nn.Sequential(layer.Linear(12, 6), neuron.CUBALIFNode(c_decay=0.7, v_decay=0.8)))
    _init(net, 11, 2.0)
    x = _bernoulli((60, 4, 12), 0.3, 12)
    graph = export_to_nir(net, x[:, :1])
    cases["spikingjelly_cuba"] = (graph, x, run(net, x), {"layers": ["CUBALIFNode(c_decay=0.7, v_decay=0.8)"]})
    net = multistep(torch.nn.Sequential(
        layer.Conv2d(2, 4, 3, padding=1), neuron.LIFNode(tau=2.0), layer.AvgPool2d(2), layer.Flatten(),
        layer.Linear(64, 5), neuron.LIFNode(tau=2.0)))
    _init(net, 13, 8.0)
    with torch.no_grad():
        net[4].weight.mul_(3.0)      # the pooled rates are small: a stronger readout so that the last layer fires
    x = _bernoulli((20, 2, 2, 8, 8), 0.3, 14)
    graph = export_to_nir(net, x[:, :1])
    cases["spikingjelly_conv"] = (graph, x, run(net, x), {"layers": ["LIFNode", "LIFNode"]})
    return cases, {"library": "spikingjelly", "version": getattr(spikingjelly, "__version__", "2.0")}


GENERATORS = {"snntorch": snntorch_cases, "norse": norse_cases, "spikingjelly": spikingjelly_cases}


def write_case(out: Path, name, graph, x, rec, info, lib):
    import nir

    from spiking.atomic import atomic_path

    # Norse leaves torch tensors in its nodes; nir.write needs numpy arrays
    def numpyfy(node):
        for k, v in list(vars(node).items()):
            if torch.is_tensor(v):
                setattr(node, k, v.detach().cpu().numpy())
            elif isinstance(v, nir.NIRGraph):
                for n in v.nodes.values():
                    numpyfy(n)
        if isinstance(node, nir.NIRGraph):
            for n in node.nodes.values():
                numpyfy(n)

    numpyfy(graph)
    with atomic_path(out / f"{name}.nir", suffix=".nir") as tmp:
        nir.write(tmp, graph)
    arrays = {"x": x.numpy()}
    for k, v in rec.items():
        arrays[f"spikes_{k}"] = v[0].numpy().astype(np.uint8)
        arrays[f"v_{k}"] = v[1].numpy().astype(np.float32)
        if len(v) > 2:
            arrays[f"i_{k}"] = v[2].numpy().astype(np.float32)
    meta = dict(lib, **info, case=name, generator="benchmarks/nir_reference.py", torch=torch.__version__)
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_path(out / f"{name}.npz", suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    counts = [int(v[0].sum()) for v in rec.values()]
    print(f"{name}: spikes per layer {counts} of {[int(np.prod(v[0].shape)) for v in rec.values()]}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--library", nargs="*", default=sorted(GENERATORS), choices=sorted(GENERATORS))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for lib in args.library:
        cases, info = GENERATORS[lib]()
        for name, (graph, x, rec, extra) in cases.items():
            write_case(args.out, name, graph, x, rec, extra, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
