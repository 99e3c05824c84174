"""Named, runnable experiments (``spiking run NAME``), installed as ``spiking.experiments``."""
