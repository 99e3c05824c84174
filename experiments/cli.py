"""The ``spiking`` command: ``spiking run NAME [options]`` runs a named experiment; other
subcommands (``spiking map``, ``spiking energy``, ``spiking convert``, ...) come from a second table.

It lives at the top layer (``spiking.experiments.cli``), beside the tables it reads
(``EXPERIMENTS``, ``COMMANDS`` in ``spiking.experiments``), so the core never imports upward.
Entry point: ``[project.scripts] spiking = "spiking.experiments.cli:main"``; also
``python -m spiking.experiments.cli`` (e.g. under ``torchrun``).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import COMMANDS, EXPERIMENTS


def _help(module) -> str:
    return (module.__doc__ or "").strip().splitlines()[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="spiking", description="spiking-sim command line")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a named experiment")
    names = run.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name, module_name in EXPERIMENTS.items():   # modules imported here, when the command runs
        module = importlib.import_module(module_name)
        p = names.add_parser(name, help=_help(module))
        module.add_arguments(p)
        p.set_defaults(_module=module)
    sub.add_parser("list", help="list the experiments")
    for name, module_name in COMMANDS.items():   # spiking map / energy / convert ...
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=_help(module))
        module.add_arguments(p)
        p.set_defaults(_module=module)
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, module_name in EXPERIMENTS.items():
            print(f"{name:<18}{_help(importlib.import_module(module_name))}")
        return 0
    return int(args._module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
