"""The HDF5 layout of a network file (h5py): :func:`write_network` and :func:`read_network`.

Layout: root attrs ``format``, ``version``, ``dt``; ``/populations/<name>`` with attrs ``size``,
``model`` (class name), ``parameters`` (JSON) and datasets for initial state or source spikes;
``/projections/<k>`` with attrs ``name``, ``pre``, ``post``, ``receptor``, ``plasticity`` (JSON)
and datasets ``pre_idx``, ``post_idx``, ``weight``, ``delay`` (steps).

Below ``spiking.network`` (``Network.save`` / ``Network.load`` call it); it imports only the
models, so it takes the network classes as arguments. ``spiking.network_io`` keeps the public
``save_network`` / ``load_network`` functions on top of both.
"""
from __future__ import annotations

import json
import math

import h5py
import numpy as np

from .atomic import atomic_path
from .h5io import read_h5
from .models.astrocytes import ASTRO_MODELS
from .models.neurons import MODELS, NeuronModel, model_from_dict
from .models.tsodyks import TsodyksSynapse
from .models.sources import PoissonSource, SpikeSourceArray

FORMAT = "spiking-sim network"
VERSION = 1


def _json_default(o):
    if isinstance(o, float) and math.isinf(o):
        return str(o)
    raise TypeError(o)


def _params_to_json(params: dict) -> str:
    # JSON has no infinity: encode as strings, decoded in _params_from_json
    clean = {k: (repr(v) if isinstance(v, float) and math.isinf(v) else v) for k, v in params.items()}
    return json.dumps(clean)


def _params_from_json(text: str) -> dict:
    raw = json.loads(text)
    return {k: (float(v) if v in ("inf", "-inf") else v) for k, v in raw.items()}


def write_network(net: "Network", path):
    """Write ``net`` (validated first) to ``path`` in the layout of the module docstring."""
    net.validate()
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = VERSION
            f.attrs["dt"] = net.dt
            pops = f.create_group("populations")
            for order, pop in enumerate(net.populations.values()):
                g = pops.create_group(pop.name)
                g.attrs["order"] = order
                g.attrs["size"] = pop.size
                g.attrs["model"] = type(pop.model).__name__
                g.attrs["parameters"] = _params_to_json(pop.model.parameters())
                if isinstance(pop.model, SpikeSourceArray):
                    g.create_dataset("spike_times", data=pop.model.times)
                    g.create_dataset("spike_ids", data=pop.model.ids)
                init = g.create_group("initial")
                for k, v in pop.initial.items():
                    init.create_dataset(k, data=np.asarray(v, dtype=np.float64))
            projs = f.create_group("projections")
            for k, proj in enumerate(net.projections):
                g = projs.create_group(f"{k:06d}")
                g.attrs["name"] = proj.name
                g.attrs["pre"] = proj.pre
                g.attrs["post"] = proj.post
                g.attrs["receptor"] = proj.receptor
                if proj.plasticity is not None:
                    g.attrs["plasticity_rule"] = type(proj.plasticity).__name__
                    g.attrs["plasticity"] = _params_to_json(proj.plasticity.parameters())
                for attr in ("pre_idx", "post_idx", "weight", "delay"):
                    g.create_dataset(attr, data=getattr(proj, attr), compression="gzip" if proj.size > 4096 else None)


def read_network(path, plasticity_rules: dict | None, network_cls, projection_cls):
    """Build a ``network_cls`` (with ``projection_cls`` projections) from a file written by
    :func:`write_network`. The classes come in as arguments so that this module never imports
    ``spiking.network`` (which imports it): the dependency runs one way.

    ``plasticity_rules`` maps rule class names to classes (needed only for plastic projections).
    """
    with read_h5(path, "network file") as f:
        return _read_network(f, path, plasticity_rules, network_cls, projection_cls)


def _read_network(f, path, plasticity_rules, network_cls, projection_cls):
    if f.attrs.get("format") != FORMAT:
        raise ValueError(f"{path}: format attribute {f.attrs.get('format')!r}, expected {FORMAT!r}")
    if int(f.attrs.get("version", -1)) > VERSION:
        raise ValueError(f"{path}: network file version {f.attrs['version']}, this library reads up to {VERSION}")
    net = network_cls(float(f.attrs["dt"]))
    groups = sorted(f["populations"].items(), key=lambda kv: int(kv[1].attrs["order"]))
    for name, g in groups:
        kind = g.attrs["model"]
        params = _params_from_json(g.attrs["parameters"])
        size = int(g.attrs["size"])
        if kind == "SpikeSourceArray":
            model = SpikeSourceArray(g["spike_times"][()], g["spike_ids"][()])
        elif kind == "PoissonSource":
            model = PoissonSource(**params)
        elif kind in MODELS:
            model = model_from_dict(kind, params)
        elif kind in ASTRO_MODELS:
            model = ASTRO_MODELS[kind](**params)
        else:
            raise ValueError(f"{path}: population {name!r} has unknown model {kind!r}")
        initial = {k: d[()] for k, d in g["initial"].items()}
        net.add_population(name, size, model, initial if isinstance(model, NeuronModel) else None)
    rules = {"TsodyksSynapse": TsodyksSynapse, **dict(plasticity_rules or {})}   # short-term plasticity loads by default
    for _, g in sorted(f["projections"].items()):
        plasticity = None
        if "plasticity_rule" in g.attrs:
            rule = g.attrs["plasticity_rule"]
            if rule not in rules:
                raise ValueError(f"{path}: projection {g.attrs['name']!r} uses plasticity rule {rule!r}; "
                                 f"pass plasticity_rules={{'{rule}': cls}}")
            plasticity = rules[rule](**_params_from_json(g.attrs["plasticity"]))
        net.add_projection(projection_cls(
            str(g.attrs["name"]), str(g.attrs["pre"]), str(g.attrs["post"]),
            g["pre_idx"][()].astype(np.int64), g["post_idx"][()].astype(np.int64),
            g["weight"][()].astype(np.float64), g["delay"][()].astype(np.int32),
            str(g.attrs["receptor"]), plasticity))
    return net
