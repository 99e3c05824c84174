"""Convert a dataset to spikes on disk: ``spiking convert fsdd --out DIR`` (FSDD -> SHD-schema HDF5).

FSDD recordings pass through the cochlea model (:mod:`spiking.datasets.cochlea`) and are written
as ``DIR/official/shd_{train,test}.h5`` and ``DIR/speaker-NAME/shd_{train,test}.h5``, which
``spiking.datasets.SHD(root=DIR/official)`` and ``spiking run shd --data DIR/official`` read.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cochlea import CochleaParams

DATASETS = ("fsdd",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=DATASETS, help="the dataset to convert")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--root", type=Path, default=None,
                        help="FSDD folder holding recordings/ (default: spiking.datasets.data_root()/fsdd)")
    parser.add_argument("--held-out-speaker", action="append", default=None, metavar="NAME",
                        help="speaker of a speaker-held-out split (repeatable; default george)")
    parser.add_argument("--channels", type=int, default=CochleaParams.n_channels,
                        help="cochlea channels (default 700, as SHD)")
    parser.add_argument("--indices", type=int, nargs="+", default=None,
                        help="convert only recordings with these FSDD indices (a quick look)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    from .fsdd import convert_fsdd

    summary = convert_fsdd(args.out, root=args.root, params=CochleaParams(n_channels=args.channels),
                           held_out_speakers=tuple(args.held_out_speaker or ("george",)),
                           indices=args.indices, progress=False if args.no_progress else None)
    print(json.dumps({k: v for k, v in summary.items() if k != "cochlea"}, indent=2))
    return 0
