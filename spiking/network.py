"""The network description: populations, spike sources and projections, as plain validated data.

Every engine and hardware backend reads a :class:`Network`; none keeps a private copy of the model.
Weights follow PyNN's convention: they are magnitudes (>= 0) and the projection's ``receptor``
("excitatory" or "inhibitory") gives the sign of their effect. Delays are integer numbers of
steps (>= 1) of the network's ``dt``; ``connect`` takes them in ms and checks they lie on the grid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .models.neurons import NeuronModel
from .models.sources import PoissonSource, SpikeSourceArray
from .network_h5 import read_network, write_network

RECEPTORS = ("excitatory", "inhibitory")


@dataclass(eq=False)
class Population:
    """``size`` units of one model, with their initial state (scalar or one value per unit)."""

    name: str
    size: int
    model: Any
    initial: dict = field(default_factory=dict)

    @property
    def is_source(self) -> bool:
        return isinstance(self.model, (SpikeSourceArray, PoissonSource))

    def initial_state(self) -> dict[str, np.ndarray]:
        """Full initial state arrays (model defaults overridden by ``initial``)."""
        state = {k: np.full(self.size, v, dtype=np.float64) for k, v in self.model.default_state().items()}
        for k, v in self.initial.items():
            state[k] = np.broadcast_to(np.asarray(v, dtype=np.float64), (self.size,)).copy()
        return state


@dataclass(eq=False)
class Projection:
    """Synapses from ``pre`` to ``post``: index arrays, weights (>= 0), delays in steps (>= 1)."""

    name: str
    pre: str
    post: str
    pre_idx: np.ndarray
    post_idx: np.ndarray
    weight: np.ndarray
    delay: np.ndarray          # integer steps
    receptor: str = "excitatory"
    plasticity: Any = None     # a plasticity rule (e.g. pair STDP) or None

    @property
    def size(self) -> int:
        return int(self.pre_idx.size)


class Network:
    """A spiking network on a time grid of ``dt`` ms."""

    def __init__(self, dt: float = 0.1):
        dt = float(dt)
        if not np.isfinite(dt) or dt <= 0:
            raise ValueError(f"dt={dt}: expected a positive time step in ms")
        self.dt = dt
        self.populations: dict[str, Population] = {}
        self.projections: list[Projection] = []

    # -- construction -------------------------------------------------------------------------
    def add_population(self, name: str, size: int, model, initial: dict | None = None) -> Population:
        """Add ``size`` neurons of ``model`` (a :class:`~spiking.models.NeuronModel`).

        ``initial`` maps state variables (e.g. ``"v"``) to a scalar or an array of ``size``.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"population name {name!r}: expected a non-empty string")
        if name in self.populations:
            raise ValueError(f"population name {name!r}: already used")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"population {name!r} size={size!r}: expected a positive integer")
        size = int(size)
        initial = dict(initial or {})
        if isinstance(model, (SpikeSourceArray, PoissonSource)):
            model.check_size(size)
            if initial:
                raise ValueError(f"population {name!r}: spike sources take no initial state, got {sorted(initial)}")
        elif isinstance(model, NeuronModel):
            for key, value in initial.items():
                if key not in model.state_variables:
                    raise ValueError(f"population {name!r} initial state {key!r}: expected one of {model.state_variables}")
                arr = np.asarray(value, dtype=np.float64)
                if arr.ndim > 1 or (arr.ndim == 1 and arr.size != size):
                    raise ValueError(f"population {name!r} initial {key!r} of shape {arr.shape}: expected a scalar or ({size},)")
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"population {name!r} initial {key!r} contains nan or inf")
        else:
            raise TypeError(f"population {name!r} model {model!r}: expected a NeuronModel or a spike source")
        pop = Population(name, size, model, initial)
        self.populations[name] = pop
        return pop

    def add_source(self, name: str, size: int, source) -> Population:
        """Add a spike source population (:class:`SpikeSourceArray` or :class:`PoissonSource`)."""
        if not isinstance(source, (SpikeSourceArray, PoissonSource)):
            raise TypeError(f"source {name!r}: expected a SpikeSourceArray or PoissonSource, got {type(source).__name__}")
        return self.add_population(name, size, source)

    def connect(self, pre: str, post: str, connector, weight=1.0, delay=None, receptor="excitatory",
                name: str | None = None, rng=None, plasticity=None) -> Projection:
        """Connect ``pre`` to ``post``.

        weight: scalar or one value per connection (>= 0; mV for delta synapses, nA for current
        synapses); delay: ms, scalar or per connection, a whole number of steps >= 1 (default one
        step); receptor: "excitatory" or "inhibitory"; rng: generator for random connectors.
        """
        for role, pop in (("pre", pre), ("post", post)):
            if pop not in self.populations:
                raise ValueError(f"{role} population {pop!r}: not in the network (have {sorted(self.populations)})")
        if self.populations[post].is_source:
            raise ValueError(f"post population {post!r} is a spike source: expected a neuron population")
        if receptor not in RECEPTORS:
            raise ValueError(f"receptor={receptor!r}: expected one of {RECEPTORS}")
        name = name or f"{pre}->{post}#{len(self.projections)}"
        if any(p.name == name for p in self.projections):
            raise ValueError(f"projection name {name!r}: already used")
        n_pre, n_post = self.populations[pre].size, self.populations[post].size
        pre_idx, post_idx = connector.build(n_pre, n_post, pre == post, rng)
        n = pre_idx.size
        # checked as given (a scalar stays a scalar), broadcast to one value per connection only
        # after: checking 80 M copies of one delay took most of a 1M-neuron build (docs/scale.md)
        w = self._per_connection("weight", weight, n, name)
        if np.any(w < 0):
            raise ValueError(f"projection {name!r} weight {float(w.min())} < 0: weights are magnitudes; "
                             "use receptor='inhibitory' for inhibition (PyNN convention)")
        d_ms = self._per_connection("delay", self.dt if delay is None else delay, n, name)
        steps = np.rint(d_ms / self.dt)
        off = np.abs(steps * self.dt - d_ms)
        if np.any(off > 1e-6 * self.dt):
            bad = d_ms.flat[int(np.argmax(off))]
            raise ValueError(f"projection {name!r} delay {bad} ms: expected a whole number of steps of dt={self.dt} ms")
        if np.any(steps < 1):
            raise ValueError(f"projection {name!r} delay {float(d_ms.min())} ms: expected at least one step (dt={self.dt} ms)")
        w = np.full(n, float(w)) if w.ndim == 0 else w
        steps = np.full(n, int(steps), np.int32) if steps.ndim == 0 else steps.astype(np.int32)
        proj = Projection(name, pre, post, pre_idx, post_idx, w, steps, receptor, plasticity)
        self.projections.append(proj)
        return proj

    def connect_tripartite(self, pre: str, post: str, astro: str, rule, *, primary: dict | None = None,
                           third_in: dict | None = None, third_out: dict | None = None, rng=None,
                           name: str | None = None) -> tuple[Projection, Projection, Projection]:
        """NEST's ``TripartiteConnect``: ``rule`` (a ``connectors.TripartiteConnect``) gives the
        primary ``pre -> post`` connections and pairs them with astrocytes of ``astro``; returns the
        three projections (primary, ``pre -> astro``, SIC ``astro -> post``). ``primary``,
        ``third_in``, ``third_out``: keyword arguments of :meth:`connect` for each (weight, delay,
        receptor, plasticity), scalars or per connection. Details: docs/astrocytes.md."""
        from .connectors import FromList
        if astro not in self.populations:
            raise ValueError(f"astrocyte population {astro!r}: not in the network (have {sorted(self.populations)})")
        for role, pop in (("pre", pre), ("post", post)):
            if pop not in self.populations:
                raise ValueError(f"{role} population {pop!r}: not in the network (have {sorted(self.populations)})")
        sizes = (self.populations[pre].size, self.populations[post].size, self.populations[astro].size)
        (p_pre, p_post), (i_pre, i_astro), (o_astro, o_post) = rule.build_tripartite(*sizes, pre == post, rng)
        name = name or f"{pre}->{post}+{astro}#{len(self.projections)}"
        n_before = len(self.projections)
        try:   # all three or none
            return (self.connect(pre, post, FromList(p_pre, p_post), name=name, **dict(primary or {})),
                    self.connect(pre, astro, FromList(i_pre, i_astro), name=name + ":third_in", **dict(third_in or {})),
                    self.connect(astro, post, FromList(o_astro, o_post), name=name + ":third_out",
                                 **dict(third_out or {})))
        except Exception:
            del self.projections[n_before:]
            raise

    def add_projection(self, proj: Projection) -> Projection:
        """Add a ready-made projection (used by loaders and converters); validated here."""
        self.projections.append(proj)
        try:
            self.validate()
        except Exception:
            self.projections.pop()
            raise
        return proj

    @staticmethod
    def _per_connection(what: str, value, n: int, name: str) -> np.ndarray:
        """``value`` as float64: a 0-d array for a scalar, else checked to be one per connection."""
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim != 0 and arr.shape != (n,):
            raise ValueError(f"projection {name!r} {what} of shape {arr.shape}: expected a scalar or ({n},)")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"projection {name!r} {what} contains nan or inf")
        return arr

    # -- queries ------------------------------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations.values() if not p.is_source)

    @property
    def n_synapses(self) -> int:
        return sum(p.size for p in self.projections)

    def validate(self):
        """Check the whole description (used after loading or hand-built projections)."""
        names = set()
        for proj in self.projections:
            if proj.name in names:
                raise ValueError(f"projection name {proj.name!r}: used twice")
            names.add(proj.name)
            for role in ("pre", "post"):
                if getattr(proj, role) not in self.populations:
                    raise ValueError(f"projection {proj.name!r} {role} population {getattr(proj, role)!r}: not in the network")
            n = proj.pre_idx.size
            for attr in ("post_idx", "weight", "delay"):
                if getattr(proj, attr).shape != (n,):
                    raise ValueError(f"projection {proj.name!r} {attr} of shape {getattr(proj, attr).shape}: expected ({n},)")
            npre, npost = self.populations[proj.pre].size, self.populations[proj.post].size
            if n and (proj.pre_idx.min() < 0 or proj.pre_idx.max() >= npre):
                raise ValueError(f"projection {proj.name!r} pre index out of [0, {npre})")
            if n and (proj.post_idx.min() < 0 or proj.post_idx.max() >= npost):
                raise ValueError(f"projection {proj.name!r} post index out of [0, {npost})")
            if not np.all(np.isfinite(proj.weight)) or np.any(proj.weight < 0):
                raise ValueError(f"projection {proj.name!r} weights: expected finite values >= 0")
            if n and proj.delay.min() < 1:
                raise ValueError(f"projection {proj.name!r} delay {int(proj.delay.min())} steps: expected >= 1")
            if proj.receptor not in RECEPTORS:
                raise ValueError(f"projection {proj.name!r} receptor={proj.receptor!r}: expected one of {RECEPTORS}")
            if self.populations[proj.post].is_source:
                raise ValueError(f"projection {proj.name!r} targets spike source {proj.post!r}")

    def __repr__(self):
        pops = ", ".join(f"{p.name}[{p.size}]" for p in self.populations.values())
        return f"Network(dt={self.dt} ms, populations: {pops}; {len(self.projections)} projections, {self.n_synapses} synapses)"

    # -- persistence (HDF5) -------------------------------------------------------------------
    def save(self, path):
        write_network(self, path)

    @classmethod
    def load(cls, path, plasticity_rules: dict | None = None) -> "Network":
        """``plasticity_rules``: rule class names to classes (needed only for plastic projections)."""
        return read_network(path, plasticity_rules, cls, Projection)
