"""Map a saved network onto a SpiNNaker machine (resources, routes, time budget; optionally run it).

``spiking map NETWORK.h5 --target spinnaker1 [--neurons-per-core N] [--time-scale-factor F]
[--run MS --out DIR]`` prints the resources (chips, cores, router entries before and after
compression, DTCM/SDRAM per core) and writes ``DIR/mapping.json`` and ``DIR/mapping.png``; with
``--run`` it also runs the network in fixed point and prints the per-tick budget, the provenance
a board would report and the energy (``spiking.hardware.energy``, mode "hardware"), and writes
``DIR/recording.h5`` and ``DIR/run.json``. Every file is written atomically.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np

from spiking.atomic import write_text_atomic

from .budget import provenance_report
from .machine import PRESETS
from .mapping import MappingError


def add_arguments(parser):
    parser.add_argument("network", type=Path, help="network description (HDF5, Network.save)")
    parser.add_argument("--target", choices=sorted(PRESETS), default="spinnaker1")
    parser.add_argument("--neurons-per-core", type=int, default=None, help="maximum neurons per core (default 256)")
    parser.add_argument("--time-scale-factor", type=float, default=1.0,
                        help="run each tick this many times slower than real time (default 1)")
    parser.add_argument("--run", type=float, default=None, metavar="MS", help="also run the network for MS ms")
    parser.add_argument("--seed", type=int, default=0, help="seed of Poisson sources (with --run)")
    parser.add_argument("--out", type=Path, default=Path("out/spinnaker"), help="output folder")


def _load(path):
    from spiking.network_io import load_network
    from spiking.plasticity import RULES
    return load_network(path, plasticity_rules=RULES)


def _energy(rec, target):
    """The energy estimate if the energy model is installed; None otherwise."""
    try:
        energy = importlib.import_module("spiking.hardware.energy")
    except ImportError:
        return None
    est = getattr(energy, "estimate", None)
    if est is None:
        return None
    return est(rec, target=target, mode="hardware")


def main(args) -> int:
    from .engine import SpiNNakerEngine
    from .pipeline import map_network

    if not Path(args.network).is_file():
        print(f"network file {args.network}: not found", file=sys.stderr)
        return 2
    if args.run is not None and not args.run > 0:
        print(f"--run {args.run}: expected a positive number of ms", file=sys.stderr)
        return 2
    net = _load(args.network)
    n_ticks = int(round(args.run / net.dt)) if args.run else None
    try:
        mapping = map_network(net, args.target, neurons_per_core=args.neurons_per_core,
                              time_scale_factor=args.time_scale_factor, n_ticks=n_ticks)
    except MappingError as e:
        print(f"does not fit: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"bad input: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(mapping.summary())
    mapping.save(out / "mapping.json")
    mapping.draw(out / "mapping.png")
    written = [out / "mapping.json", out / "mapping.png"]
    if args.run:
        eng = SpiNNakerEngine(net, mapping=mapping)
        rec = eng.run(float(args.run), rng=np.random.default_rng(args.seed))
        b = rec.ledger.backend["spinnaker"]
        load = b["max_tick_load"]
        print(f"time budget per tick: {b['budget_cycles_per_tick']} cycles "
              f"({eng.spec.clock_hz / 1e6:g} MHz x {b['tick_ms']} ms x time_scale_factor {b['time_scale_factor']:g}); "
              f"busiest core-tick {b['max_cycles_per_tick']} cycles ({100 * load:.0f} %)")
        verdict = "meets" if b["timer_tick_overruns"] == 0 else "does not meet"
        print(f"real time at time_scale_factor {b['time_scale_factor']:g}: {verdict} "
              f"(needs time_scale_factor >= {max(1.0, load) * b['time_scale_factor']:.2f})")
        print(provenance_report(b))
        print(f"counts: {b['packets']} packets, {b['router_traversals']} router traversals, "
              f"{b['synaptic_events']} synaptic events, {b['neuron_updates']} neuron updates, "
              f"{b['sdram_rows_fetched']} rows ({b['sdram_bytes_fetched']} bytes) fetched")
        summary = {"mapping": {"cores": mapping.n_cores, "chips": len(mapping.chips_used)}, "spinnaker": b,
                   "spikes": rec.ledger.spikes}
        est = _energy(rec, args.target)
        if est is None:
            print("energy: spiking.hardware.energy.estimate is not available; counts only")
        else:
            print(est)
            summary["energy"] = est.to_dict()
        # redraw the grid coloured by the busiest tick of each chip's cores (1.0 = the whole budget)
        load = {}
        for key, cycles in b["max_cycles_per_core"].items():
            x, y, _ = (int(v) for v in key.split(","))
            load[(x, y)] = max(load.get((x, y), 0.0), cycles / b["budget_cycles_per_tick"])
        mapping.draw(out / "mapping.png", core_load={c: min(1.0, v) for c, v in load.items()},
                     title=f"{mapping.machine.spec.name}: busiest tick per chip / {b['budget_cycles_per_tick']}-cycle "
                           "budget (capped at 1)\nnumbers: cores used; red: links carrying routes")
        rec.save(out / "recording.h5")
        write_text_atomic(out / "run.json", json.dumps(summary, indent=1, default=float))
        written += [out / "recording.h5", out / "run.json"]
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
