"""NIR interchange (the Neuromorphic Intermediate Representation, Pedersen et al., Nat. Commun. 15,
8122, 2024; the ``nir`` package): import networks exported by snnTorch, Norse, SpikingJelly and
others as :mod:`spiking.nn` models, and export ours with every convention written down.

>>> from spiking.nir import from_nir, to_nir
>>> imp = from_nir("net.nir", source="snntorch")      # dt, spike condition, corrections of snnTorch
>>> spikes, state = imp.model(x)                      # x: [T, B, *imp.input_shape]
>>> to_nir(model, "ours.nir", dt=1e-3)                # dt, reset, spike condition in the metadata

Part of the core (like spiking.nn it needs torch; ``nir`` is imported only here). See docs/nir.md.
"""
from .exporter import CONVENTIONS, to_nir
from .importer import INTEGRATORS, SUPPORTED_NODES, GraphModel, Imported, NIRConventionWarning, from_nir, read_graph
from .profiles import PROFILES, SPIKE_CONDITIONS, SourceProfile, get_profile

__all__ = ["from_nir", "to_nir", "CONVENTIONS", "read_graph", "Imported", "GraphModel", "NIRConventionWarning", "SUPPORTED_NODES", "INTEGRATORS",
           "PROFILES", "SPIKE_CONDITIONS", "SourceProfile", "get_profile"]
