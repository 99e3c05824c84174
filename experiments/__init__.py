"""Named, runnable experiments (``spiking run NAME``), installed as ``spiking.experiments``.

Each experiment is a module with ``add_arguments(parser)`` and ``main(args) -> int``; the table
below maps the command-line name to the module (imported only when that experiment runs).
"""
EXPERIMENTS = {
    "quickstart": "spiking.experiments.quickstart",
    "nmnist": "spiking.experiments.nmnist",
    "ca3-cam": "spiking.experiments.ca3_cam",
    "ca3-capacity": "spiking.experiments.ca3_capacity",
    "shd": "spiking.experiments.shd",
    "crossbar-nmnist": "spiking.experiments.crossbar_nmnist",
    "main": "spiking.experiments.main_job",
    "lsm": "spiking.experiments.lsm",
    "astro-tripartite": "spiking.experiments.astro_tripartite",
    "astro-memory": "spiking.experiments.astro_memory",
}

# Subcommands other than ``run`` (``spiking NAME ...``): each module has ``add_arguments(parser)``
# and ``main(args) -> int``; its docstring's first line is the help text.
COMMANDS = {
    "convert": "spiking.datasets.convert_cli",
    "nir": "spiking.nir.cli",
    "export": "spiking.experiments.nest_export",
    "energy": "spiking.hardware.energy.cli",
    "map": "spiking.hardware.spinnaker.cli",
    "warmup": "spiking.engines.warmup",
}
