"""Read a NIR file and report how it was read: ``spiking nir FILE [--source snntorch] [--dt 1e-4]``.

Prints (and with ``--json OUT`` writes, atomically) the nodes, the layers made from each, the
conventions used with their origin, and every convention the file left open.
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .importer import INTEGRATORS
    from .profiles import PROFILES

    parser.add_argument("file", type=Path, help="a .nir file")
    parser.add_argument("--source", choices=sorted(PROFILES), default=None, help="the exporter that wrote it")
    parser.add_argument("--dt", type=float, default=None, help="time step in seconds (if the file does not say)")
    parser.add_argument("--integrator", choices=INTEGRATORS, default="euler")
    parser.add_argument("--json", type=Path, default=None, help="write the report to this JSON file")


def report(path, *, source=None, dt=None, integrator="euler") -> dict:
    from .importer import NIRConventionWarning, from_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRConventionWarning)
        imp = from_nir(path, dt=dt, integrator=integrator, source=source)
    layers = {name: [repr(imp.model[i]) if hasattr(imp.model, "__getitem__") and isinstance(i, int) else str(i)
                     for i in idx] for name, idx in imp.layers.items()}
    return {"file": str(path), "dt_s": imp.dt, "integrator": imp.integrator, "input_shape": list(imp.input_shape),
            "output_shape": list(imp.output_shape), "model": type(imp.model).__name__,
            "conventions": {k: {"value": v, "origin": o} for k, (v, o) in imp.conventions.items()},
            "open_conventions": list(imp.warnings), "layers": layers}


def main(args) -> int:
    from ..atomic import write_text_atomic

    rep = report(args.file, source=args.source, dt=args.dt, integrator=args.integrator)
    text = json.dumps(rep, indent=2)
    print(text)
    if args.json is not None:
        write_text_atomic(args.json, text + "\n")
    return 0
