"""Build and run an exported network in NEST 3 (NEST's Python API); also a standalone script.

This file needs only numpy and NEST: :func:`spiking.export.write_nest` copies it next to the
exported data as ``run_nest.py``, so the network runs where spiking-sim is not installed, for
example on a cluster with NEST's MPI build::

    python run_nest.py --duration 1000 --threads 4            # one process, 4 threads
    mpirun -np 8 python run_nest.py --duration 1000 --threads 2   # 8 MPI ranks (NEST built with MPI)

The data is ``network.json`` (populations with their NEST model names and parameters already in
NEST units, projections) and ``arrays.npz`` (initial states, generator spike times, and per
projection the presynaptic and postsynaptic indices, signed weights in NEST units and delays in
ms), written by :func:`spiking.export.nest_spec`. Results: ``spikes.npz`` (one process) or
``spikes.rank<R>.npz`` (each MPI rank records its own neurons), with ``<population>/times`` (ms,
NEST's stamps) and ``<population>/ids`` (0-based index in the population).

NEST stamps a spike with the end of the step that produced it, spiking-sim with its start
(docs/architecture.md): ``t_spiking = t_nest - dt``; spike counts are the same.

Connections are made with ``nest.Connect(pre, post, "one_to_one", syn_spec=...)`` from the arrays
(NEST creates, on each MPI rank, those whose target lives there). Sources: NEST 3.10 documentation
(nest-simulator.readthedocs.io: Connect, spike_generator, poisson_generator, parrot_neuron,
spike_recorder, iaf_psc_delta, iaf_psc_exp).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SPEC_FILE = "network.json"
ARRAYS_FILE = "arrays.npz"


def load(folder) -> tuple[dict, dict]:
    """The spec and the arrays of an exported network in ``folder``."""
    folder = Path(folder)
    spec = json.loads((folder / SPEC_FILE).read_text())
    with np.load(folder / ARRAYS_FILE) as f:
        arrays = {k: f[k] for k in f.files}
    return spec, arrays


def build(nest, spec: dict, arrays: dict, *, threads: int = 1) -> dict:
    """Create the network in a freshly reset NEST kernel; returns handles:
    ``{"nodes": {pop: NodeCollection}, "recorders": {pop: spike_recorder}, "first_id": {pop: int}}``."""
    if hasattr(nest, "VerbosityLevel"):    # NEST 3.10 and later
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": float(spec["dt"]), "local_num_threads": int(threads), "print_time": False})
    dt = float(spec["dt"])
    nodes, recorders, first = {}, {}, {}
    for pop in spec["populations"]:
        name, size, kind = pop["name"], int(pop["size"]), pop["kind"]
        if kind == "neuron":
            nc = nest.Create(pop["nest_model"], size, params=pop["params"])
            for var, key in pop["initial"].items():
                nc.set({var: arrays[key].tolist()})
            rec = nest.Create("spike_recorder")
            nest.Connect(nc, rec)
            recorders[name] = rec
        elif kind == "spike_generator":
            nc = nest.Create("spike_generator", size)
            times, ids = arrays[pop["times"]], arrays[pop["ids"]]
            order = np.lexsort((times, ids))
            times, ids = times[order], ids[order]
            bounds = np.searchsorted(ids, np.arange(size + 1))
            nc.set([{"spike_times": times[bounds[i]:bounds[i + 1]].tolist()} for i in range(size)])
        elif kind == "poisson":
            # one generator gives each parrot its own train; the parrots are the source units
            gen = nest.Create("poisson_generator", params=pop["params"])
            nc = nest.Create("parrot_neuron", size)
            nest.Connect(gen, nc, "all_to_all", syn_spec={"delay": dt})
        else:
            raise ValueError(f"population {name!r} kind {kind!r}: expected neuron, spike_generator or poisson")
        nodes[name] = nc
        first[name] = int(nc[0].global_id)
    for proj in spec["projections"]:
        if int(proj["n"]) == 0:
            continue
        pre = arrays[proj["pre_idx"]].astype(np.int64) + first[proj["pre"]]
        post = arrays[proj["post_idx"]].astype(np.int64) + first[proj["post"]]
        nest.Connect(pre, post, "one_to_one",
                     syn_spec={"synapse_model": "static_synapse", "weight": arrays[proj["weight"]],
                               "delay": arrays[proj["delay"]]})
    return {"nodes": nodes, "recorders": recorders, "first_id": first}


def spikes(handles: dict) -> dict:
    """``{population: (times in ms as NEST stamps them, 0-based ids)}`` recorded on this rank."""
    out = {}
    for name, rec in handles["recorders"].items():
        ev = rec.get("events")
        times = np.asarray(ev["times"], dtype=np.float64)
        ids = np.asarray(ev["senders"], dtype=np.int64) - handles["first_id"][name]
        order = np.lexsort((ids, times))
        out[name] = (times[order], ids[order])
    return out


def main(argv=None) -> int:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description="Run the exported network in NEST")
    p.add_argument("--duration", type=float, required=True, help="simulated time in ms")
    p.add_argument("--threads", type=int, default=1, help="NEST threads per process")
    p.add_argument("--data", type=Path, default=here, help="folder of network.json and arrays.npz")
    p.add_argument("--out", type=Path, default=None, help="result folder (default: the data folder)")
    args = p.parse_args(argv)
    if not args.duration > 0:
        raise SystemExit(f"--duration {args.duration}: expected a positive number of ms")
    import nest

    spec, arrays = load(args.data)
    handles = build(nest, spec, arrays, threads=args.threads)
    nest.Simulate(args.duration)
    result = spikes(handles)
    out = args.out or args.data
    out.mkdir(parents=True, exist_ok=True)
    n_proc = nest.NumProcesses()
    name = "spikes.npz" if n_proc == 1 else f"spikes.rank{nest.Rank()}.npz"
    tmp = out / (name + ".tmp.npz")
    np.savez(tmp, **{f"{k}/times": v[0] for k, v in result.items()}, **{f"{k}/ids": v[1] for k, v in result.items()})
    tmp.replace(out / name)   # written whole, then renamed: no half-written result
    counts = {k: int(v[0].size) for k, v in result.items()}
    print(json.dumps({"file": str(out / name), "duration_ms": args.duration, "processes": n_proc, "spikes": counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
