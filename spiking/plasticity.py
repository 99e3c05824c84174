"""Plasticity rules of the network description.

A rule is plain, validated data attached to a projection (``Network.connect(..., plasticity=rule)``);
the event engine's clock mode runs it (``spiking.engines.plastic``). Rules satisfy the persistence
protocol of ``spiking.network_io``: ``parameters()`` returns a JSON-able dict and
``type(rule)(**rule.parameters())`` rebuilds the rule, so a saved network loads with
``load_network(path, plasticity_rules={"PairSTDP": PairSTDP})``.

Pair STDP (:class:`PairSTDP`)
-----------------------------

Additive weight dependence with hard bounds (Song, Miller & Abbott 2000, Nat. Neurosci. 3:919;
van Rossum, Bi & Turrigiano 2000). A presynaptic spike leaves a trace ``x`` (decaying with
``tau_plus``), a postsynaptic spike a trace ``y`` (decaying with ``tau_minus``):

* ``traces="all-to-all"``: every spike adds 1 to its trace (all pairs interact);
* ``traces="nearest"``: every spike resets its trace to 1 (each spike pairs with the nearest
  preceding spike of the other side: symmetric nearest-spike pairing).

Pairs are timed at the synapse with the whole transmission delay ``d`` treated as dendritic
(NEST ``stdp_synapse``, sPyNNaker): the presynaptic spike counts at its emission step ``t_pre``,
a postsynaptic spike at ``t_post + d`` (``backprop_delay=False``: at ``t_post``, sPyNNaker's
``backprop_delay`` switch). With ``D`` that shift and ``lag = t_post + D - t_pre``:

* a postsynaptic spike with lag > 0 potentiates: ``w <- min(w + a_plus * x, w_max)``, with ``x``
  the presynaptic trace at ``t_post + D`` (spikes strictly before it);
* a presynaptic spike depresses: ``w <- max(w - a_minus * y, w_min)``, with ``y`` the
  postsynaptic trace at ``t_pre`` built from the postsynaptic spikes with ``t_post + D <= t_pre``.
  A postsynaptic spike with lag exactly 0 takes part only when ``zero_lag_depression=True``
  (sPyNNaker 7's pair rule does so; NEST and sPyNNaker <= 6 do not).

``a_plus`` and ``a_minus`` are in weight units (the projection's: nA for current synapses).
PyNN's ``SpikePairRule(A_plus, A_minus)`` with ``AdditiveWeightDependence(w_min, w_max)`` means
``a_plus = A_plus * w_max`` in PyNN's own definition, NEST's translation and sPyNNaker <= 6
(:meth:`PairSTDP.from_pynn`); sPyNNaker 7 writes ``A_plus`` unscaled, in weight units
(:meth:`PairSTDP.spinnaker`). The CA3 recordings (``docs/ca3.md``) are reproduced only with the
unscaled amplitudes.

When the weight change is applied (``update``):

* ``"online"`` (default): potentiation at the time the postsynaptic spike reaches the synapse
  (``t_post + D``), depression at each presynaptic spike; the weights are always current.
* ``"deferred"``: sPyNNaker's scheme (Jin, Rast et al. 2010; sPyNNaker
  ``synapse_dynamics_stdp_mad_impl.c``): nothing happens at a postsynaptic spike except that
  it is added to the neuron's history; when a presynaptic spike is processed, the postsynaptic
  spikes of the window ``(t_last_pre - D, t_pre - D]`` potentiate the synapse in time order,
  then the presynaptic spike depresses it, and the new weight is transmitted.
  ``post_history`` limits the history to that many entries (sPyNNaker keeps 16, one of which is
  a placeholder at time 0, so ``post_history=16`` sees the 15 latest spikes; 0 = unlimited).

Both schemes transmit the same weights (the same updates happen in the same order before every
presynaptic spike); they differ in the weights read between presynaptic spikes and at the end of
a run (``"deferred"`` has not yet applied the potentiation by postsynaptic spikes after the last
presynaptic one, as sPyNNaker's ``get("weight")`` and NEST's ``GetConnections`` would report).

``clip="each"`` bounds the weight after every single update (sPyNNaker >= 7, NEST);
``clip="end"`` (only with ``update="deferred"``) sums all potentiation and depression of one
deferred update and bounds once (sPyNNaker <= 6 ``weight_additive_one_term_impl.h``).

:meth:`PairSTDP.spinnaker` gives sPyNNaker's settings (version 7 by default, or 6).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

TRACES = ("all-to-all", "nearest")
UPDATES = ("online", "deferred")
CLIPS = ("each", "end")


def _number(name, value, *, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name}={value!r}: expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value}: expected a finite number")
    if positive and not value > 0:
        raise ValueError(f"{name}={value}: expected a positive value")
    return value


@dataclass(frozen=True)
class PairSTDP:
    """Pair-based STDP, additive weight dependence with bounds (see the module docstring).

    tau_plus, tau_minus: trace time constants (ms); a_plus, a_minus: weight change per unit
    trace (weight units, >= 0); w_min <= w_max: bounds (weight units, >= 0: weights are
    magnitudes, the projection's receptor gives the sign).
    """

    tau_plus: float = 20.0
    tau_minus: float = 20.0
    a_plus: float = 0.01
    a_minus: float = 0.012
    w_min: float = 0.0
    w_max: float = 1.0
    traces: str = "all-to-all"
    update: str = "online"
    clip: str = "each"
    zero_lag_depression: bool = False
    backprop_delay: bool = True
    post_history: int = 0

    def __post_init__(self):
        for name in ("tau_plus", "tau_minus"):
            object.__setattr__(self, name, _number(name, getattr(self, name), positive=True))
        for name in ("a_plus", "a_minus", "w_min", "w_max"):
            value = _number(name, getattr(self, name))
            if value < 0:
                raise ValueError(f"{name}={value}: expected a value >= 0")
            object.__setattr__(self, name, value)
        if self.w_min > self.w_max:
            raise ValueError(f"w_min={self.w_min} > w_max={self.w_max}: expected w_min <= w_max")
        if self.traces not in TRACES:
            raise ValueError(f"traces={self.traces!r}: expected one of {TRACES}")
        if self.update not in UPDATES:
            raise ValueError(f"update={self.update!r}: expected one of {UPDATES}")
        if self.clip not in CLIPS:
            raise ValueError(f"clip={self.clip!r}: expected one of {CLIPS}")
        if self.clip == "end" and self.update != "deferred":
            raise ValueError("clip='end' bounds the sum of one deferred update: it needs update='deferred'")
        for name in ("zero_lag_depression", "backprop_delay"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}={getattr(self, name)!r}: expected True or False")
        h = self.post_history
        if isinstance(h, bool) or not isinstance(h, int) or h < 0 or h == 1:
            raise ValueError(f"post_history={h!r}: expected 0 (unlimited) or an integer >= 2")
        if h and self.update != "deferred":
            raise ValueError("post_history limits sPyNNaker's deferred history: it needs update='deferred'")

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def from_pynn(cls, tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.01, w_min=0.0, w_max=1.0,
                  **options) -> "PairSTDP":
        """PyNN's ``SpikePairRule`` + ``AdditiveWeightDependence``: amplitudes are relative to
        ``w_max`` (``a_plus = A_plus * w_max``, ``a_minus = A_minus * w_max``)."""
        w_max = _number("w_max", w_max)
        return cls(tau_plus=tau_plus, tau_minus=tau_minus, a_plus=_number("A_plus", A_plus) * w_max,
                   a_minus=_number("A_minus", A_minus) * w_max, w_min=w_min, w_max=w_max, **options)

    @classmethod
    def spinnaker(cls, tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.01, w_min=0.0, w_max=1.0,
                  version: int = 7, **options) -> "PairSTDP":
        """sPyNNaker's ``SpikePairRule`` with ``AdditiveWeightDependence``, applied as sPyNNaker does:
        all-to-all traces, deferred updates with post times shifted by the dendritic delay.

        ``version=7`` (sPyNNaker 7, read from its source): ``A_plus``/``A_minus`` are weight
        units (no longer multiplied by ``w_max``), the weight is bounded after each update, and a
        postsynaptic spike at zero lag depresses. ``version=6`` (sPyNNaker <= 6): amplitudes
        times ``w_max`` (PyNN), one bound per deferred update (``clip="end"``), no zero-lag
        depression. Both keep a 16-entry post history. Keyword ``options`` override any setting.
        """
        if version not in (6, 7):
            raise ValueError(f"version={version!r}: expected 6 or 7 (sPyNNaker major version)")
        settings = dict(traces="all-to-all", update="deferred", backprop_delay=True, post_history=16)
        if version == 7:
            settings.update(clip="each", zero_lag_depression=True)
            settings.update(options)
            return cls(tau_plus=tau_plus, tau_minus=tau_minus, a_plus=A_plus, a_minus=A_minus,
                       w_min=w_min, w_max=w_max, **settings)
        settings.update(clip="end", zero_lag_depression=False)
        settings.update(options)
        return cls.from_pynn(tau_plus, tau_minus, A_plus, A_minus, w_min, w_max, **settings)

    # -- protocol ---------------------------------------------------------------------------
    def parameters(self) -> dict:
        """All fields as a JSON-able dict; ``PairSTDP(**rule.parameters())`` rebuilds the rule."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def check_weights(self, weights, name: str):
        """Initial weights must lie within the bounds."""
        import numpy as np
        w = np.asarray(weights, dtype=np.float64)
        if w.size and (w.min() < self.w_min - 1e-12 or w.max() > self.w_max + 1e-12):
            bad = float(w.min()) if w.min() < self.w_min else float(w.max())
            raise ValueError(f"projection {name!r} initial weight {bad}: expected weights within "
                             f"[w_min={self.w_min}, w_max={self.w_max}] of its {type(self).__name__} rule")


RULES = {"PairSTDP": PairSTDP}
