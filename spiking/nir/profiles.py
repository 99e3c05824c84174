"""What each NIR exporter leaves unsaid, as named profiles for :func:`spiking.nir.from_nir`.

NIR (Pedersen et al., Nat. Commun. 15, 8122, 2024; https://github.com/neuromorphs/NIR,
``nir/ir/neuron.py``) states continuous-time equations only. A file does not store the time step
its exporter discretised with, and the exporters differ on the rest. Measured on the exporters as
shipped (snnTorch 1.0 ``snntorch/export_nir.py``, Norse 1.1 ``norse/torch/utils/export_nir.py``,
SpikingJelly 2.0 ``activation_based/nir_exchange/to_nir.py``, nir 1.0.8); docs/nir.md has the
details and the tests in tests/test_nir_peers.py pin each one:

* dt: snnTorch hard-codes 1e-4 s in its exporter and importer; SpikingJelly defaults to 1e-4 s;
  Norse defaults to 1e-3 s.
* spike condition: snnTorch (``mem - threshold > 0``) and Norse (``torch.gt``) spike on
  ``v > threshold``, as the NIR equations say; SpikingJelly's heaviside is ``x >= 0``.
* reset: snnTorch writes ``v_reset = 0`` whatever its ``reset_mechanism`` (its default,
  "subtract", is not what the file says); Norse writes no ``v_reset`` (nir fills in 0).
* time constants: Norse 1.1 writes ``dt / tau_mem_inv`` = dt x tau instead of tau (norse issue
  411) and omits CubaLIF's ``w_in`` (its current jumps by the input, which in NIR's equations
  needs ``w_in = tau_syn / dt``).
* CubaLIF update order: all three update the current first and let the membrane take the new
  current in the same step (snnTorch ``Synaptic``, Norse ``lif_feed_forward_step``, SpikingJelly
  ``cuba_lif_step``); forward Euler read literally would use the previous current.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SourceProfile", "PROFILES", "SPIKE_CONDITIONS", "get_profile"]

# spike condition names as written into metadata
SPIKE_CONDITIONS = ("v > v_threshold", "v >= v_threshold")


@dataclass(frozen=True)
class SourceProfile:
    """The conventions one exporter applies without writing them into the file.

    ``dt``: the time step in seconds its parameters were mapped with; ``spike_condition``:
    one of :data:`SPIKE_CONDITIONS`; ``tau_times_dt``: the file's time constants are
    dt x tau (divide by dt); ``cuba_w_in_from_tau``: CubaLIF's missing ``w_in`` means
    ``tau_syn / dt``; ``reset_written``: the file's ``v_reset`` describes the exporter's reset
    (False: a reset field is written but may not mean what the source model did);
    ``reset_note``: why, for the warning.
    """

    name: str
    dt: float
    spike_condition: str
    tau_times_dt: bool = False
    cuba_w_in_from_tau: bool = False
    reset_written: bool = True
    reset_note: str = ""
    source: str = ""

    def __post_init__(self):
        if self.spike_condition not in SPIKE_CONDITIONS:
            raise ValueError(f"spike_condition={self.spike_condition!r}: expected one of {SPIKE_CONDITIONS}")
        if not self.dt > 0:
            raise ValueError(f"dt={self.dt}: expected a positive time step in seconds")


PROFILES = {
    "snntorch": SourceProfile(
        name="snntorch", dt=1e-4, spike_condition="v > v_threshold", reset_written=False,
        reset_note=("snnTorch writes v_reset = 0 whatever the layer's reset_mechanism; its default "
                    "('subtract') is a subtractive reset, which the file does not say. Reading the file "
                    "as written: hard reset to v_reset"),
        source="snntorch/export_nir.py (snnTorch 1.0): dt = 1e-4 hard-coded, v_reset=np.zeros_like(vthr)"),
    "norse": SourceProfile(
        name="norse", dt=1e-3, spike_condition="v > v_threshold", tau_times_dt=True, cuba_w_in_from_tau=True,
        reset_written=False,
        reset_note=("Norse writes no v_reset; nir fills in 0, which is Norse's default (a Norse model with another "
                    "v_reset is not what the file says). Reading the file as written: hard reset to v_reset"),
        source="norse/torch/utils/export_nir.py (Norse 1.1): tau=dt / tau_mem_inv, no w_in, no v_reset"),
    "spikingjelly": SourceProfile(
        name="spikingjelly", dt=1e-4, spike_condition="v >= v_threshold",
        source="spikingjelly/activation_based/nir_exchange/to_nir.py (SpikingJelly 2.0): dt=1e-4 default; "
               "heaviside is x >= 0"),
}


def get_profile(source) -> SourceProfile | None:
    """A profile from its name, a :class:`SourceProfile`, or None."""
    if source is None or isinstance(source, SourceProfile):
        return source
    if source not in PROFILES:
        raise ValueError(f"source={source!r}: expected None, a SourceProfile or one of {sorted(PROFILES)}")
    return PROFILES[source]
