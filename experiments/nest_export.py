"""Export a saved network to another simulator: ``spiking export nest NET.h5 --out DIR``.

Writes ``DIR/network.json``, ``DIR/arrays.npz`` and ``DIR/run_nest.py`` (needs only numpy and
NEST 3): ``python DIR/run_nest.py --duration 1000`` runs it, ``mpirun -np N python
DIR/run_nest.py --duration 1000`` on a cluster with NEST's MPI build. Models without a NEST
counterpart are refused by name (see :mod:`spiking.export`).
"""
from __future__ import annotations

from pathlib import Path

TARGETS = ("nest",)


def add_arguments(parser):
    parser.add_argument("target", choices=TARGETS, help="simulator to export to")
    parser.add_argument("network", type=Path, help="network description saved with Network.save (HDF5)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the script and its data")


def run(network: Path, out: Path, target: str = "nest") -> dict:
    """Export the network saved at ``network`` into ``out``; returns the written paths."""
    from spiking import Network
    from spiking.export import write_nest

    if target not in TARGETS:
        raise ValueError(f"target={target!r}: expected one of {TARGETS}")
    network = Path(network)
    if not network.exists():
        raise FileNotFoundError(f"network file {network}: no such file (expected an HDF5 file from Network.save)")
    return write_nest(Network.load(network), out)


def main(args) -> int:
    paths = run(args.network, args.out, args.target)
    print(f"NEST export of {args.network}: {paths['spec']}, {paths['arrays']}, {paths['script']}\n"
          f"run it: python {paths['script']} --duration 1000 [--threads N]   (or under mpirun)")
    return 0
