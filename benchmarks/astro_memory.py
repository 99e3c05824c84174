"""Delayed recall: the astrocyte-modulated layer against plain and adaptive LIF, equal parameters.

The task, the models and the training are those of ``spiking run astro-memory``
(``spiking.experiments.astro_memory`` and ``astro_recall``, where they are described); this script runs them with the
full settings and writes ``benchmarks/results/astro_memory.json`` and ``.png``:

    python benchmarks/astro_memory.py --seeds 0 1 2      # the table in docs/astrocytes.md
    python benchmarks/astro_memory.py --quick            # delays 5 and 50, 30 iterations
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spiking.experiments.astro_memory import add_arguments, main as _main
from spiking.experiments.astro_recall import ALIF, build, make_batch, n_params, train_eval  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(ap)
    ap.set_defaults(out=ROOT / "benchmarks" / "results")
    return _main(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
