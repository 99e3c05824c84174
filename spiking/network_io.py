"""HDF5 persistence of the network description: :func:`save_network` and :func:`load_network`.

The file layout lives in :mod:`spiking.network_h5`, below :mod:`spiking.network`; this module
sits above both, so imports run one way (network_io -> network -> network_h5) with no circle.
``Network.save`` / ``Network.load`` do the same.
"""
from __future__ import annotations

from .network import Network
from .network_h5 import FORMAT, VERSION  # noqa: F401  (the format's name and version, for readers)


def save_network(net: Network, path):
    """Write ``net`` to ``path`` (HDF5, written to a temporary file and renamed)."""
    net.save(path)


def load_network(path, plasticity_rules: dict | None = None) -> Network:
    """Load a network saved by :func:`save_network`.

    ``plasticity_rules`` maps rule class names to classes (needed only for plastic projections).
    """
    return Network.load(path, plasticity_rules=plasticity_rules)
