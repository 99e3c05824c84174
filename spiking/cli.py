"""The ``spiking`` command: ``spiking run NAME [options]`` runs a named experiment; other
subcommands (``spiking map``, ``spiking energy``, ``spiking convert``) come from a second table.

Both tables live in ``spiking.experiments`` (``EXPERIMENTS``, ``COMMANDS``); they are read only
when the command runs, so the core package itself never imports the layers above it.
"""
from __future__ import annotations

import argparse
import importlib
import sys


def _experiments() -> dict:
    return importlib.import_module("spiking.experiments").EXPERIMENTS


def _commands() -> dict:
    return importlib.import_module("spiking.experiments").COMMANDS


def main(argv=None) -> int:
    experiments = _experiments()
    parser = argparse.ArgumentParser(prog="spiking", description="spiking-sim command line")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a named experiment")
    names = run.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name, module_name in experiments.items():
        module = importlib.import_module(module_name)
        p = names.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(_module=module)
    sub.add_parser("list", help="list the experiments")
    for name, module_name in _commands().items():   # spiking map / energy / convert ...
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(_module=module)
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, module_name in experiments.items():
            doc = (importlib.import_module(module_name).__doc__ or "").strip().splitlines()[0]
            print(f"{name:<18}{doc}")
        return 0
    return int(args._module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
