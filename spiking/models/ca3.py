"""The hippocampal CA3 spiking content-addressable memory of Casanueva-Morato et al.

D. Casanueva-Morato, A. Ayuso-Martinez, J. P. Dominguez-Morales, A. Jimenez-Fernandez,
G. Jimenez-Moreno, "Bio-inspired computational memory model of the Hippocampus: an approach to a
neuromorphic spike-based Content-Addressable Memory", Neural Networks 178:106474 (2024),
arXiv:2310.05868. Structure and parameters as published with the authors' recordings
(``config/network_config.json`` of their repository; see ``docs/ca3.md``).

A memory of ``n_cues`` (C) one-hot cues and ``n_bits`` (N) content bits: 3C + 4N + 1 current-based
LIF neurons updated in sPyNNaker's order, plus an input layer of C + N spike sources and an output
layer of C + N neurons (populations ``INcue``/``INcont`` and ``OUTcue``/``OUTcont`` here; one
population each in the authors' code, which changes nothing in the dynamics). The cue-content
associations live in two all-to-all pair-STDP projections (cueCue -> contCue and
contCont -> cueCont, weights 0 at the start).

Operations, scheduled as input spikes from step ``t`` (1 ms steps):

* ``learn(cue, content)`` (:class:`Learn`): the cue neuron and the content neurons fire at t, t+1,
  t+2; the output echoes cue and content at t+5 and t+7; learning a cue again overwrites
  (forgets) its content;
* ``recall_by_cue(cue)`` (:class:`RecallByCue`): the cue neuron fires once; the output gives the
  cue at t+5 and its stored content at t+6;
* ``recall_by_content(fragment)`` (:class:`RecallByContent`): the fragment's content neurons fire
  once; the output gives the fragment at t+5 and every cue whose content overlaps it at t+6.

The answers are decoded from the simulated output layer (:meth:`CA3Memory.decode`):

>>> mem = CA3Memory(5, 10)
>>> result = mem.run([learn(0, [0, 1, 8, 9]), recall_by_cue(0), recall_by_content([8])])  # 10 ms apart
>>> [a.as_pair() for a in result.answers]
[((0,), (0, 1, 8, 9)), ((0,), (0, 1, 8, 9)), ((0,), (8,))]
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..connectors import AllToAll, OneToOne
from ..network import Network
from ..plasticity import PairSTDP
from .neurons import CubaLIF
from .sources import SpikeSourceArray

# populations, in the order of the authors' spike tables
INPUTS = ("INcue", "INcont")
MEMORY = ("CA3cueCueRecall", "CA3contCueRecall", "CA3contCond", "CA3contCondInt", "CA3cueContRecall",
          "CA3contContRecall", "CA3mergeCue", "CA3mergeCont")
OUTPUTS = ("OUTcue", "OUTcont")
POPULATIONS = INPUTS + MEMORY + OUTPUTS

# (c_m nF, tau_m ms, v_th mV) per population (network_config.json; the output layer is defined in
# the authors' test script with v_thresh = -57.5 mV); all: v_rest = v_reset = -60 mV,
# tau_refrac = 1 ms, tau_syn_E = tau_syn_I = 0.3 ms, i_offset = 0, v(0) = -60 mV.
NEURONS = {
    "CA3cueCueRecall": (0.27, 3.0, -57.0),
    "CA3cueContRecall": (0.14, 0.5, -57.0),
    "CA3contCueRecall": (0.27, 3.0, -57.0),
    "CA3contContRecall": (0.27, 3.0, -57.0),
    "CA3contCond": (0.14, 0.5, -57.0),
    "CA3contCondInt": (0.14, 0.5, -57.0),
    "CA3mergeCue": (0.27, 3.0, -57.0),
    "CA3mergeCont": (0.27, 3.0, -57.0),
    "OUTcue": (0.27, 3.0, -57.5),
    "OUTcont": (0.27, 3.0, -57.5),
}

# steps after an operation's start at which the output layer gives its answer
# (op type -> (cue readout step, content readout step)); learning echoes again at +7
READOUT = {"Learn": (5, 5), "RecallByCue": (5, 6), "RecallByContent": (6, 5)}
MIN_SPACING = 6

# the published STDP parameters of both plastic projections (PyNN units: A relative to w_max)
STDP_PUBLISHED = dict(tau_plus=3.0, tau_minus=3.0, A_plus=6.0, A_minus=6.0, w_min=0.0, w_max=6.0)


def default_stdp() -> PairSTDP:
    """The published rule as sPyNNaker 7 applies it: deferred updates, all-to-all traces, post
    times shifted by the dendritic delay, bound after each update, zero-lag depression, A+ and A-
    in nA (not multiplied by w_max). This setting reproduces all rows of the authors' three
    recordings (docs/ca3.md)."""
    return PairSTDP.spinnaker(**STDP_PUBLISHED)


# -- operations --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Learn:
    """Store ``content`` (content bit indices) under ``cue`` (overwrites what the cue held)."""
    cue: int
    content: tuple
    duration: int = 3      # steps the inputs are held

    def __post_init__(self):
        object.__setattr__(self, "content", _bits(self.content, "Learn content"))


@dataclass(frozen=True)
class RecallByCue:
    """Read the content stored under ``cue``."""
    cue: int


@dataclass(frozen=True)
class RecallByContent:
    """Find every cue whose content shares a bit with ``fragment``."""
    fragment: tuple

    def __post_init__(self):
        object.__setattr__(self, "fragment", _bits(self.fragment, "RecallByContent fragment"))


# the operations under the names
learn = Learn
recall_by_cue = RecallByCue
recall_by_content = RecallByContent


def _bits(bits, what) -> tuple:
    arr = np.asarray(list(bits) if not isinstance(bits, np.ndarray) else bits)
    if arr.dtype == bool:
        arr = np.flatnonzero(arr)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{what} {bits!r}: expected content bit indices (integers) or a boolean mask")
    return tuple(sorted(set(int(b) for b in arr.ravel())))


@dataclass
class Answer:
    """What the output layer said about one operation.

    ``cues`` / ``content``: the OUTcue / OUTcont neurons that fired at the operation's readout
    steps (:data:`READOUT`); ``window_cues`` / ``window_content``: everything they emitted between
    this operation's start and the next one's (for diagnosis: a re-learned cue briefly recalls its
    old content there, at +6)."""
    op: object
    start: int
    cues: tuple
    content: tuple
    window_cues: tuple = ()
    window_content: tuple = ()

    def as_pair(self):
        return self.cues, self.content


class IdealCAM:
    """The ideal content-addressable memory the spiking one should behave as (reference for tests):
    one content set per cue, overwritten by learning; recall by content returns every cue whose
    content overlaps the fragment."""

    def __init__(self):
        self.store: dict[int, frozenset] = {}

    def apply(self, op):
        """Apply ``op`` and return the ideal (cues, content) the output layer should show."""
        if isinstance(op, Learn):
            self.store[op.cue] = frozenset(op.content)
            return (op.cue,), tuple(op.content)
        if isinstance(op, RecallByCue):
            return (op.cue,), tuple(sorted(self.store.get(op.cue, ())))
        if isinstance(op, RecallByContent):
            frag = set(op.fragment)
            cues = tuple(sorted(c for c, content in self.store.items() if frag & content))
            return cues, tuple(op.fragment)
        raise TypeError(f"operation {op!r}: expected Learn, RecallByCue or RecallByContent")


# -- the memory --------------------------------------------------------------------------------

class CA3Memory:
    """Builder, scheduler and decoder of the CA3 content-addressable memory (see the module
    docstring). ``stdp``: the rule of both plastic projections (default :func:`default_stdp`)."""

    def __init__(self, n_cues: int, n_bits: int, stdp: PairSTDP | None = None):
        for name, n in (("n_cues", n_cues), ("n_bits", n_bits)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"{name}={n!r}: expected a positive integer")
        self.n_cues = int(n_cues)
        self.n_bits = int(n_bits)
        self.stdp = default_stdp() if stdp is None else stdp
        if not isinstance(self.stdp, PairSTDP):
            raise TypeError(f"stdp={stdp!r}: expected a PairSTDP rule")

    @property
    def n_neurons(self) -> int:
        """Neurons of the memory proper (3C + 4N + 1)."""
        return 3 * self.n_cues + 4 * self.n_bits + 1

    @property
    def n_plastic_synapses(self) -> int:
        return 2 * self.n_cues * self.n_bits

    # -- checks -------------------------------------------------------------------------------
    def check(self, op):
        """Validate an operation against this memory's size (errors name the bad value)."""
        if not isinstance(op, (Learn, RecallByCue, RecallByContent)):
            raise TypeError(f"operation {op!r}: expected Learn, RecallByCue or RecallByContent")
        name = type(op).__name__
        if isinstance(op, (Learn, RecallByCue)):
            cue = op.cue
            if isinstance(cue, bool) or not isinstance(cue, (int, np.integer)) or not 0 <= cue < self.n_cues:
                raise ValueError(f"{name} cue={cue!r}: expected a cue index in [0, {self.n_cues})")
        if isinstance(op, Learn):
            d = op.duration
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
                raise ValueError(f"Learn duration={d!r}: expected a positive number of steps")
            if not op.content:
                raise ValueError(f"Learn cue {op.cue} with empty content: expected at least one content bit "
                                 "(the memory forgets a cue's content only by learning a new one)")
        if isinstance(op, RecallByContent) and not op.fragment:
            raise ValueError("RecallByContent fragment is empty: expected at least one content bit")
        bits = op.content if isinstance(op, Learn) else op.fragment if isinstance(op, RecallByContent) else ()
        for b in bits:
            if not 0 <= b < self.n_bits:
                raise ValueError(f"{name} content bit {b}: expected bits in [0, {self.n_bits})")

    # -- scheduling -----------------------------------------------------------------------------
    def schedule(self, ops, start: int = 0, spacing: int = 10):
        """Input spikes of ``ops`` issued every ``spacing`` steps from ``start``.

        Returns (cue_times, cue_ids, cont_times, cont_ids, starts) with times in steps (= ms).
        """
        if isinstance(spacing, bool) or not isinstance(spacing, (int, np.integer)) or spacing < MIN_SPACING:
            raise ValueError(f"spacing={spacing!r}: expected an integer >= {MIN_SPACING} steps between operations "
                             "(an operation's answer is read 5 and 6 steps after its start)")
        starts = [start + k * spacing for k in range(len(ops))]
        return self.inputs_at(ops, starts) + (starts,)

    def inputs_at(self, ops, starts):
        """Input spikes (cue_times, cue_ids, cont_times, cont_ids) of ``ops`` starting at ``starts``."""
        ct, ci, nt, ni = [], [], [], []
        for op, t in zip(ops, starts):
            self.check(op)
            if isinstance(op, Learn):
                for s in range(op.duration):
                    ct.append(t + s)
                    ci.append(op.cue)
                    nt += [t + s] * len(op.content)
                    ni += list(op.content)
            elif isinstance(op, RecallByCue):
                ct.append(t)
                ci.append(op.cue)
            else:
                nt += [t] * len(op.fragment)
                ni += list(op.fragment)
        return (np.asarray(ct, float), np.asarray(ci, np.int64), np.asarray(nt, float), np.asarray(ni, np.int64))

    # -- network ---------------------------------------------------------------------------------
    def network(self, cue_times=(), cue_ids=(), cont_times=(), cont_ids=()) -> Network:
        """The memory's network description with the given input spikes (times in ms)."""
        C, N = self.n_cues, self.n_bits
        net = Network(dt=1.0)
        net.add_source("INcue", C, SpikeSourceArray(np.asarray(cue_times, float), np.asarray(cue_ids, np.int64)))
        net.add_source("INcont", N, SpikeSourceArray(np.asarray(cont_times, float), np.asarray(cont_ids, np.int64)))
        sizes = {"CA3cueCueRecall": C, "CA3contCueRecall": N, "CA3contCond": N, "CA3contCondInt": 1,
                 "CA3cueContRecall": C, "CA3contContRecall": N, "CA3mergeCue": C, "CA3mergeCont": N,
                 "OUTcue": C, "OUTcont": N}
        for name in MEMORY + OUTPUTS:
            c_m, tau_m, v_th = NEURONS[name]
            model = CubaLIF(tau_m=tau_m, c_m=c_m, v_rest=-60.0, v_reset=-60.0, v_th=v_th, t_ref=1.0,
                            tau_syn_e=0.3, tau_syn_i=0.3, i_offset=0.0, update_order="spinnaker")
            net.add_population(name, sizes[name], model, initial={"v": -60.0})
        one, every, others = OneToOne(), AllToAll(), AllToAll(allow_self=False)

        def link(pre, post, conn, w, d, receptor="excitatory", plasticity=None):
            net.connect(pre, post, conn, weight=w, delay=d, receptor=receptor, name=f"{pre}->{post}"
                        + ("-inh" if receptor == "inhibitory" else ""), plasticity=plasticity)

        link("INcue", "CA3cueCueRecall", one, 6.0, 1)
        link("INcont", "CA3contCueRecall", one, 6.0, 1)
        link("CA3cueCueRecall", "CA3cueContRecall", one, 6.0, 2)
        if C > 1:
            link("CA3cueCueRecall", "CA3cueContRecall", others, 6.0 * N, 3, "inhibitory")
        link("CA3cueCueRecall", "CA3contCond", every, 6.0, 2, "inhibitory")
        link("CA3contCueRecall", "CA3contCond", one, 9.0, 1)
        link("CA3contCond", "CA3contContRecall", one, 6.0, 1)
        link("CA3contCueRecall", "CA3contCondInt", every, 6.0, 1)
        link("CA3contCondInt", "CA3contCond", every, 2.0, 1)
        link("CA3cueCueRecall", "CA3contCueRecall", every, 0.0, 1, plasticity=self.stdp)
        link("CA3contContRecall", "CA3cueContRecall", every, 0.0, 1, plasticity=self.stdp)
        if C > 1:
            link("CA3cueContRecall", "CA3cueContRecall", others, 6.0 * N, 2, "inhibitory")
        link("CA3cueCueRecall", "CA3mergeCue", one, 6.0, 3)
        link("CA3cueContRecall", "CA3mergeCue", one, 6.0, 1)
        link("CA3contCueRecall", "CA3mergeCont", one, 6.0, 3)
        link("CA3contContRecall", "CA3mergeCont", one, 6.0, 1)
        link("CA3mergeCue", "OUTcue", one, 6.0, 1)
        link("CA3mergeCont", "OUTcont", one, 6.0, 1)
        return net

    # -- running and decoding ---------------------------------------------------------------------
    def run(self, ops, spacing: int = 10, start: int = 0, duration: int | None = None, progress=None):
        """Schedule ``ops`` every ``spacing`` steps, simulate, decode. Returns a :class:`CA3Result`."""
        ops = list(ops)
        ct, ci, nt, ni, starts = self.schedule(ops, start, spacing)
        return self.run_inputs(ops, starts, ct, ci, nt, ni, duration, progress)

    def run_inputs(self, ops, starts, cue_times, cue_ids, cont_times, cont_ids, duration=None, progress=None):
        """Simulate given input spikes; decode ``ops`` issued at ``starts`` (steps)."""
        from ..engines import EventEngine
        if duration is None:
            duration = (max(starts) + 10) if len(starts) else 10
        net = self.network(cue_times, cue_ids, cont_times, cont_ids)
        engine = EventEngine(net)
        rec = engine.run(float(duration), progress=progress)
        answers = self.decode(rec, ops, starts, duration)
        return CA3Result(self, list(ops), list(starts), rec, answers, net)

    def decode(self, rec, ops, starts, duration=None):
        """Read the output layer: for the operation issued at step ``starts[k]``, the OUTcue and
        OUTcont neurons that fired at its readout steps (:data:`READOUT`), and all they emitted in
        steps [starts[k], starts[k+1]) (the last one up to ``duration``)."""
        if duration is None:
            duration = rec.duration
        bounds = list(starts[1:]) + [int(round(duration / rec.dt))]
        cue = rec.spikes["OUTcue"]
        cont = rec.spikes["OUTcont"]
        cue_step = np.rint(cue.times / rec.dt).astype(np.int64)
        cont_step = np.rint(cont.times / rec.dt).astype(np.int64)

        def ids(train, steps, lo, hi):
            return tuple(sorted(set(train.ids[(steps >= lo) & (steps < hi)].tolist())))

        answers = []
        for op, a, b in zip(ops, starts, bounds):
            dc, dn = READOUT[type(op).__name__]
            answers.append(Answer(op, int(a), ids(cue, cue_step, a + dc, a + dc + 1),
                                  ids(cont, cont_step, a + dn, a + dn + 1),
                                  ids(cue, cue_step, a, b), ids(cont, cont_step, a, b)))
        return answers


@dataclass
class CA3Result:
    """A run of the memory: operations, their start steps, the recording, decoded answers."""
    memory: CA3Memory
    ops: list
    starts: list
    recording: object
    answers: list
    network: Network = field(repr=False, default=None)

    def ideal(self) -> list:
        """The ideal memory's (cues, content) for every operation."""
        cam = IdealCAM()
        return [cam.apply(op) for op in self.ops]

    def correct(self) -> np.ndarray:
        """Per operation: does the decoded answer equal the ideal memory's?"""
        return np.array([a.as_pair() == ideal for a, ideal in zip(self.answers, self.ideal())], dtype=bool)

    @property
    def final_weights(self) -> dict:
        return getattr(self.recording, "final_weights", {})
