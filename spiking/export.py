"""Export a network description to NEST 3: in this process (:func:`to_nest`) or as a folder with
a runnable script and its data (:func:`write_nest`, ``spiking export nest NET.h5 --out DIR``).

Counterparts (NEST 3.10 model documentation; PyNN's ``pyNN.nest`` makes the same choices for
``IF_curr_delta`` and ``IF_curr_exp``):

=============================================  ==========================================
spiking-sim                                    NEST
=============================================  ==========================================
``LIF`` (finite ``tau_m``, hard reset)         ``iaf_psc_delta`` (weights in mV)
``CubaLIF`` (``update_order="nest"``, hard)    ``iaf_psc_exp`` (weights in pA)
``SpikeSourceArray``                           one ``spike_generator`` per unit
``PoissonSource``                              ``poisson_generator`` -> ``parrot_neuron`` s
static projection                              ``static_synapse``, ``one_to_one`` from arrays
=============================================  ==========================================

Units: ours are PyNN's (nA, nF, mV, ms); NEST's are pA, pF, mV, ms, so currents, capacitances
and current-synapse weights are multiplied by 1000 (the ratios, hence the dynamics, are equal).
Weights carry their sign in NEST (negative: inhibitory). Delays are the projections' steps
times ``dt``. Initial state: ``v`` becomes ``V_m``; NEST 3.10's ``iaf_psc_exp`` cannot set its
synaptic currents, so a ``CubaLIF`` population must start them at 0.

Time stamps: NEST stamps a spike with the end of its step, we with the start
(docs/architecture.md), so a source spike of ours in step ``s`` becomes a ``spike_generator``
spike at ``(s + 1) dt``, and NEST's recorded times are ours plus ``dt``. With that, the event
engine and NEST give the same spikes on these models (tests/test_nest_export.py). Poisson
sources are redrawn by NEST: the same rates, not the same trains.

Refused by name (no NEST counterpart with the same equations): ``IF`` / ``LIF`` with
``tau_m = inf`` (``iaf_psc_delta`` integrates to NaN), soft reset, ``CubaLIF`` in sPyNNaker's
update order, ``CubaLIF`` with initial synaptic currents, any other model class, and plastic
projections.

PyNN: ``pyNN.nest`` 0.13 runs with NEST 3.10 for these models, but building CUBA's 256,000
excitatory synapses through its ``FromListConnector`` took 14 s (55 us per synapse; about 70
minutes for the 80 million synapses of a million-neuron CUBA), so the export speaks to NEST
directly (``nest.Connect`` with arrays: well under a second for the same synapses). The PyNN
translation serves as an independent check in the tests.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np

from .atomic import atomic_path, write_text_atomic
from .models.neurons import CubaLIF, LIF
from .models.sources import PoissonSource, SpikeSourceArray
from .network import Network

__all__ = ["nest_spec", "to_nest", "write_nest", "NestNetwork", "SUPPORTED"]

SUPPORTED = ("LIF", "CubaLIF", "SpikeSourceArray", "PoissonSource")
_PA_PER_NA = 1000.0
_PF_PER_NF = 1000.0


def _refuse(pop, why: str):
    raise ValueError(f"population {pop.name!r} ({type(pop.model).__name__}): {why}; no NEST counterpart "
                     f"(the export supports {', '.join(SUPPORTED)})")


def _neuron(pop, dt: float) -> tuple[str, dict, dict]:
    """NEST model name, parameters (NEST units) and initial state arrays of a neuron population."""
    m = pop.model
    kind = type(m)
    if kind not in (LIF, CubaLIF):
        _refuse(pop, f"model {kind.__name__} is not exported")
    if math.isinf(m.tau_m):
        _refuse(pop, "tau_m=inf (non-leaky IF): NEST's iaf_psc_delta needs a finite tau_m")
    if m.reset != "hard":
        _refuse(pop, f"reset={m.reset!r}: NEST's iaf_psc models reset to V_reset")
    state = pop.initial_state()
    params = {"tau_m": float(m.tau_m), "C_m": float(m.c_m) * _PF_PER_NF, "E_L": float(m.v_rest),
              "V_reset": float(m.v_reset), "V_th": float(m.v_th), "t_ref": float(m.t_ref),
              "I_e": float(m.i_offset) * _PA_PER_NA}
    initial = {"V_m": state["v"]}
    if kind is LIF:
        return "iaf_psc_delta", params, initial
    if m.update_order != "nest":
        _refuse(pop, f"update_order={m.update_order!r}: only NEST's own order ('nest') matches iaf_psc_exp")
    params.update(tau_syn_ex=float(m.tau_syn_e), tau_syn_in=float(m.tau_syn_i))
    for var in ("i_e", "i_i"):   # NEST 3.10's iaf_psc_exp records its currents but cannot set them
        if np.any(state[var] != 0):
            _refuse(pop, f"initial {var} != 0: NEST's iaf_psc_exp starts its synaptic currents at 0")
    return "iaf_psc_exp", params, initial


def nest_spec(net: Network) -> tuple[dict, dict]:
    """The network in NEST's terms: a JSON-able spec and a dict of arrays (see
    :mod:`spiking.nest_runner` for the layout). Raises ``ValueError`` naming what has no counterpart."""
    net.validate()
    dt = float(net.dt)
    spec = {"format": "spiking-sim nest export", "version": 1, "dt": dt, "populations": [], "projections": []}
    arrays: dict[str, np.ndarray] = {}
    nest_model = {}
    for pop in net.populations.values():
        entry = {"name": pop.name, "size": pop.size}
        if isinstance(pop.model, SpikeSourceArray):
            steps = np.rint(pop.model.times / dt).astype(np.int64)
            entry.update(kind="spike_generator", times=f"pop/{pop.name}/times", ids=f"pop/{pop.name}/ids")
            # our step s -> NEST stamp (s + 1) dt, rounded to the grid so NEST takes it as on-grid
            arrays[entry["times"]] = np.round((steps + 1) * dt, 9)
            arrays[entry["ids"]] = pop.model.ids.astype(np.int64)
        elif isinstance(pop.model, PoissonSource):
            src = pop.model
            params = {"rate": float(src.rate), "start": float(src.start)}
            if math.isfinite(src.stop):
                params["stop"] = float(src.stop)
            entry.update(kind="poisson", params=params)
        else:
            name, params, initial = _neuron(pop, dt)
            nest_model[pop.name] = name
            entry.update(kind="neuron", nest_model=name, params=params, initial={})
            for var, values in initial.items():
                key = f"pop/{pop.name}/{var}"
                arrays[key] = np.asarray(values, dtype=np.float64)
                entry["initial"][var] = key
        spec["populations"].append(entry)
    for k, proj in enumerate(net.projections):
        if proj.plasticity is not None:
            raise ValueError(f"projection {proj.name!r} has plasticity {type(proj.plasticity).__name__}: "
                             "the NEST export supports static synapses only")
        scale = _PA_PER_NA if nest_model[proj.post] == "iaf_psc_exp" else 1.0   # delta synapses: mV
        sign = 1.0 if proj.receptor == "excitatory" else -1.0
        base = f"proj/{k:06d}"
        arrays[base + "/pre_idx"] = np.asarray(proj.pre_idx, dtype=np.int64)
        arrays[base + "/post_idx"] = np.asarray(proj.post_idx, dtype=np.int64)
        arrays[base + "/weight"] = sign * scale * np.asarray(proj.weight, dtype=np.float64)
        arrays[base + "/delay"] = np.asarray(proj.delay, dtype=np.float64) * dt
        spec["projections"].append({"name": proj.name, "pre": proj.pre, "post": proj.post, "n": proj.size,
                                    "receptor": proj.receptor, "pre_idx": base + "/pre_idx",
                                    "post_idx": base + "/post_idx", "weight": base + "/weight",
                                    "delay": base + "/delay"})
    return spec, arrays


class NestNetwork:
    """A network built in this process's NEST kernel by :func:`to_nest`."""

    def __init__(self, nest, spec: dict, handles: dict):
        self.nest, self.spec, self.handles = nest, spec, handles
        self.dt = float(spec["dt"])

    @property
    def nodes(self) -> dict:
        return self.handles["nodes"]

    def run(self, duration: float) -> dict:
        """Simulate ``duration`` ms more; returns :meth:`spikes`."""
        duration = float(duration)
        if not math.isfinite(duration) or duration <= 0:
            raise ValueError(f"duration={duration}: expected a positive number of ms")
        self.nest.Simulate(duration)
        return self.spikes()

    def spikes(self, convention: str = "spiking") -> dict:
        """``{population: (times, ids)}`` recorded so far; ``convention="spiking"`` gives our time
        stamps (NEST's minus ``dt``), ``"nest"`` NEST's own."""
        from . import nest_runner

        if convention not in ("spiking", "nest"):
            raise ValueError(f"convention={convention!r}: expected 'spiking' or 'nest'")
        raw = nest_runner.spikes(self.handles)
        shift = self.dt if convention == "spiking" else 0.0
        return {k: (t - shift, i) for k, (t, i) in raw.items()}


def to_nest(net: Network, *, threads: int = 1) -> NestNetwork:
    """Build ``net`` in NEST (``import nest``; the kernel is reset) and return it, ready to run."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads={threads!r}: expected a positive integer")
    spec, arrays = nest_spec(net)
    try:
        import nest
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError("to_nest needs NEST 3 (import nest): pip install nest-simulator") from err
    from . import nest_runner

    return NestNetwork(nest, spec, nest_runner.build(nest, spec, arrays, threads=threads))


def write_nest(net: Network, out_dir) -> dict:
    """Write ``network.json``, ``arrays.npz`` and ``run_nest.py`` (a copy of
    :mod:`spiking.nest_runner`) into ``out_dir``; each file is written whole, then renamed.
    Returns ``{"spec": path, "arrays": path, "script": path}``."""
    from . import nest_runner

    spec, arrays = nest_spec(net)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"spec": out / nest_runner.SPEC_FILE, "arrays": out / nest_runner.ARRAYS_FILE,
             "script": out / "run_nest.py"}
    with atomic_path(paths["arrays"], ".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    write_text_atomic(paths["spec"], json.dumps(spec, indent=1))
    with atomic_path(paths["script"], ".py") as tmp:
        shutil.copyfile(nest_runner.__file__, tmp)
    return paths
