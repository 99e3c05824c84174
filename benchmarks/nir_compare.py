"""The figures of docs/nir.md: each committed peer case (tests/data/nir/, from nir_reference.py)
imported with its library's profile, Euler and exact integration, against the library's spikes.

Usage: ``python benchmarks/nir_compare.py [--data tests/data/nir] [--json out/nir_compare.json]``.
Prints per case and neuron layer: library spikes, ours, positions that differ, max membrane
difference, and the ratio ours / library. snntorch_subtract and snntorch_rsynaptic record a
library run that is not what their files say (docs/nir.md), so their differences are expected.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def compare(data: Path) -> dict:
    import spiking.nn as snn
    from spiking.nir import NIRConventionWarning, from_nir
    from spiking.nir.modules import RecurrentCubaLIF
    from spiking.nir.trace import trace

    out = {}
    for npz in sorted(data.glob("*.npz")):
        case = npz.stem
        d = np.load(npz)
        meta = json.loads(str(d["meta"]))
        x = torch.from_numpy(d["x"])
        out[case] = {}
        for integrator in ("euler", "exact"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NIRConventionWarning)
                imp = from_nir(data / f"{case}.nir", source=meta["library"], integrator=integrator)
            if not isinstance(imp.model, snn.Sequential):
                continue
            layers = [r for r in trace(imp.model, x) if isinstance(r["layer"], (snn.LIF, RecurrentCubaLIF))]
            rows = []
            for k, r in enumerate(layers):
                ref, v_ref = d[f"spikes_{k}"].astype(np.float32), d[f"v_{k}"]
                s = r["out"].numpy()
                rows.append({"library": int(ref.sum()), "ours": int(s.sum()), "differ": int((s != ref).sum()),
                             "max_v_diff": float(np.abs(r["v"].numpy() - v_ref).max()) if r["v"] is not None else None,
                             "ratio": float(s.sum() / ref.sum()) if ref.sum() else None})
            out[case][integrator] = rows
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "nir")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    res = compare(args.data)
    for case, by in res.items():
        for integrator, rows in by.items():
            cells = ", ".join(f"{r['ours']}/{r['library']} (differ {r['differ']}, ratio {r['ratio']:.2f}, max dv "
                              + (f"{r['max_v_diff']:.1e})" if r["max_v_diff"] is not None else "-)") for r in rows)
            print(f"{case:20s} {integrator:6s} {cells}")
    if args.json is not None:
        from spiking.atomic import write_text_atomic
        write_text_atomic(args.json, json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
