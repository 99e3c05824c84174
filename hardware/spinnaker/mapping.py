"""The mapping pipeline, after sPyNNaker/PACMAN: partition -> resources -> placement -> routes ->
keys -> routing tables -> compression -> capacity checks. Each stage is a function of plain data;
:func:`map_network` chains them into a :class:`~spiking.hardware.spinnaker.report.Mapping`.

Stages and what they follow:

* :func:`partition`: each neuron population is cut into slices of at most ``neurons_per_core``
  (sPyNNaker 7's default for neuron models, ``POP_TABLE_MAX_ROW_LENGTH`` = 256; per population
  like ``set_number_of_neurons_per_core``); spike sources take cores too, a ``SpikeSourceArray``
  on one core (its ``absolute_max_atoms_per_core`` is ``sys.maxsize``) and a ``PoissonSource``
  500 per core (``spike_source_poisson.py`` DEFAULT_MAX_ATOMS_PER_CORE). A population whose projections have delays beyond the
  16 ticks a core holds gets a delay-extension slice beside each of its slices (sPyNNaker's
  ``DelayExtensionVertex``: 8 stages of 16 ticks, so at most 16 + 128 = 144 ticks;
  ``spynnaker/pyNN/utilities/constants.py`` MAX_SUPPORTED_DELAY_TICS, MAX_DELAY_BLOCKS,
  MAX_TIMER_TICS_SUPPORTED_PER_BLOCK).
* :func:`estimate_resources`: per core, DTCM (neuron state, ring buffers, STDP post history,
  input spike buffer, fixed overhead) and SDRAM (synaptic matrices: per incoming projection and
  source slice, one row per source neuron of 3 header words plus one 32-bit word per synapse,
  padded to the matrix's longest row (``SYNAPTIC_ROW_HEADER_WORDS = 3`` of sPyNNaker's
  constants); plastic rows 2 header words more for the presynaptic trace and time; neuron
  parameters; spike recording). The per-neuron DTCM words are our reading of sPyNNaker's
  ``neuron_t`` / ``synapse_param_t`` structs (documented assumptions, docs/spinnaker.md).
* :func:`place`: slices in network order, one population's slices together, filling each chip's
  application cores (core 0 is the monitor) and never a chip's SDRAM beyond its size, chips in
  order of distance from chip (0, 0) (the Ethernet chip).
* :func:`route`: each source slice's packets follow a multicast tree over the chip links: the
  union of shortest paths in a breadth-first tree from the source chip (every target reached,
  one parent per chip, so no loops; hops = the mesh distance).
* :func:`allocate_keys`: zoned keys (PACMAN ``ZonedRoutingInfoAllocator``): population |
  partition | slice | neuron fields; one spike partition per population, so its field is 0 bits.
* :func:`routing_tables`, :func:`compress`: one key/mask entry per (chip, source slice); an entry
  that only passes a packet straight on is left to default routing (PACMAN's
  ``BasicRoutingTableGenerator`` + ``RoutingTableEntry.defaultable``); compression merges entries
  with the same route when the merged key/mask covers no key of any other route (order-free
  covering, after Mundy, Heathcote & Garside, "On-chip order-exploiting routing table
  minimization for a multicast supercomputer network", IEEE HPSR 2016).
* capacity errors name the chip or core and both numbers (:class:`MappingError`).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from spiking.models.sources import PoissonSource, SpikeSourceArray

from .machine import LINK_VECTORS, ChipSpec, Machine

# sPyNNaker constants (spynnaker/pyNN/utilities/constants.py)
MAX_SUPPORTED_DELAY_TICS = 16
MAX_DELAY_BLOCKS = 8
MAX_TIMER_TICS_SUPPORTED_PER_BLOCK = 16
MAX_DELAY_TICKS = MAX_SUPPORTED_DELAY_TICS + MAX_DELAY_BLOCKS * MAX_TIMER_TICS_SUPPORTED_PER_BLOCK  # 144
SYNAPTIC_ROW_HEADER_WORDS = 3
PLASTIC_ROW_EXTRA_WORDS = 2          # presynaptic trace and last spike time (our layout)
# The longest synaptic row the master population table holds (sPyNNaker 7
# spynnaker/pyNN/utilities/constants.py POP_TABLE_MAX_ROW_LENGTH)
MAX_ROW_SYNAPSES = 256
# per-core defaults of spike sources (sPyNNaker 7: SpikeSourceArray unlimited, Poisson 500)
SOURCE_ARRAY_PER_CORE = None
POISSON_PER_CORE = 500
INCOMING_SPIKE_BUFFER = 256          # spynnaker.cfg [Simulation] incoming_spike_buffer_size
BYTES_PER_WORD = 4

# DTCM model (bytes; our reading of sPyNNaker 7's structs, see docs/spinnaker.md)
DTCM_FIXED = 8 * 1024                # stack, heap headers, static data of the binary
DTCM_PER_NEURON = {"CubaLIF": 15 * 4, "LIF": 11 * 4}   # neuron_t + synapse params + threshold + inputs
POST_HISTORY_BYTES = 4 + 16 * 8      # per neuron with plastic input: 16 (time, trace) entries
MASTER_POP_ENTRY_BYTES = 12          # per incoming source slice
SYSTEM_SDRAM = 1024                  # system + provenance regions per core


class MappingError(ValueError):
    """A network that does not fit the machine; the message names the limit and the value."""


# ---------------------------------------------------------------------------------------------
# partition

@dataclass(frozen=True)
class Slice:
    """Neurons [lo, hi) of a population on one core; ``kind`` "neurons", "source" or "delay"."""

    population: str
    index: int
    lo: int
    hi: int
    kind: str = "neurons"

    @property
    def n(self) -> int:
        return self.hi - self.lo

    @property
    def label(self) -> str:
        tag = {"neurons": "", "source": "", "delay": "/delay"}[self.kind]
        return f"{self.population}{tag}[{self.lo}:{self.hi}]"


def _check_npc(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what}={value!r}: expected a positive integer")
    return int(value)


def partition(net, neurons_per_core: int = 256, per_population: dict | None = None) -> list[Slice]:
    """Cut every neuron population into slices of at most ``neurons_per_core``, spike sources as
    sPyNNaker does (``per_population`` overrides either by population name); adds a delay-extension slice per slice of a population
    with delays over 16 ticks. Delays over 144 ticks raise :class:`MappingError`."""
    neurons_per_core = _check_npc(neurons_per_core, "neurons_per_core")
    per_population = dict(per_population or {})
    for name, v in per_population.items():
        if name not in net.populations:
            raise ValueError(f"per_population: population {name!r} not in the network (have {sorted(net.populations)})")
        _check_npc(v, f"neurons_per_core[{name!r}]")
    delayed = set()
    for proj in net.projections:
        if proj.size == 0:
            continue
        d = int(proj.delay.max())
        if d > MAX_DELAY_TICKS:
            raise MappingError(f"projection {proj.name!r} delay {d} ticks: SpiNNaker holds at most {MAX_DELAY_TICKS} "
                               f"({MAX_SUPPORTED_DELAY_TICS} on the core + {MAX_DELAY_BLOCKS} delay-extension stages "
                               f"of {MAX_TIMER_TICS_SUPPORTED_PER_BLOCK})")
        if d > MAX_SUPPORTED_DELAY_TICS:
            delayed.add(proj.pre)
    slices = []
    for pop in net.populations.values():
        default = neurons_per_core
        if isinstance(pop.model, SpikeSourceArray):
            default = SOURCE_ARRAY_PER_CORE or pop.size
        elif isinstance(pop.model, PoissonSource):
            default = POISSON_PER_CORE
        npc = per_population.get(pop.name, default)
        kind = "source" if pop.is_source else "neurons"
        n_sl = math.ceil(pop.size / npc)
        for k in range(n_sl):
            slices.append(Slice(pop.name, k, k * npc, min(pop.size, (k + 1) * npc), kind))
        if pop.name in delayed:
            for k in range(n_sl):
                slices.append(Slice(pop.name, k, k * npc, min(pop.size, (k + 1) * npc), "delay"))
    return slices


def slice_lookup(net, slices):
    """{(population, kind): (array of slice starts, list of slice ids)} for vectorised lookup."""
    out = {}
    for sid, s in enumerate(slices):
        out.setdefault((s.population, s.kind), ([], []))
        out[(s.population, s.kind)][0].append(s.lo)
        out[(s.population, s.kind)][1].append(sid)
    return {k: (np.asarray(v[0]), np.asarray(v[1])) for k, v in out.items()}


def slice_of(lookup, population, kind, idx):
    starts, ids = lookup[(population, kind)]
    return ids[np.searchsorted(starts, idx, side="right") - 1]


# ---------------------------------------------------------------------------------------------
# edges: which slice sends to which (with synapse statistics, for resources, rows and routes)

@dataclass
class SliceEdges:
    """Per (projection, source unit slice, target slice): synapse counts and longest row.

    ``pairs``: int array [m, 3] of (projection index, source slice id, target slice id) and,
    aligned, ``n_syn`` and ``max_row`` (longest row of the matrix, synapse words) and
    ``delayed`` (the matrix is fed by the delay-extension slice)."""

    pairs: np.ndarray
    n_syn: np.ndarray
    max_row: np.ndarray
    delayed: np.ndarray

    def sources_of(self, target: int) -> np.ndarray:
        return np.unique(self.pairs[self.pairs[:, 2] == target, 1])


_DENSE_LIMIT = 64_000_000     # cells of the dense (pre neuron, stage, target slice) count table


def _row_stats(lookup, proj, kind, sel, is_far, n_sl):
    """(keys src * (n_sl + 1) + dst, synapses, longest row) of one projection's matrices: rows
    are the synapses of one source neuron into one target slice (delayed ones: per stage)."""
    pre = proj.pre_idx[sel].astype(np.int64)
    post = proj.post_idx[sel]
    stage = ((proj.delay[sel].astype(np.int64) - 1) // MAX_TIMER_TICS_SUPPORTED_PER_BLOCK if is_far
             else np.zeros(pre.size, np.int64))
    src_starts, src_ids = lookup[(proj.pre, kind)]
    dst_starts, dst_ids = lookup[(proj.post, "neurons")]
    t = np.searchsorted(dst_starts, post, side="right") - 1           # local target slice
    n_pre = int(pre.max()) + 1 if pre.size else 1
    n_t, n_st = dst_ids.size, int(stage.max()) + 1 if stage.size else 1
    if n_pre * n_st * n_t <= _DENSE_LIMIT:
        rows = np.bincount((pre * n_st + stage) * n_t + t, minlength=n_pre * n_st * n_t)
        rows = rows.reshape(n_pre, n_st, n_t).max(axis=1)               # longest row per (neuron, slice)
        syn = np.bincount(pre * n_t + t, minlength=n_pre * n_t).reshape(n_pre, n_t)
        cuts = src_starts[src_starts < n_pre]
        longest = np.maximum.reduceat(rows, cuts, axis=0)
        count = np.add.reduceat(syn, cuts, axis=0)
        si, ti = np.nonzero(count)
        keys = src_ids[si].astype(np.int64) * (n_sl + 1) + dst_ids[ti]
        order = np.argsort(keys)
        return keys[order], count[si, ti][order], longest[si, ti][order]
    src = src_ids[np.searchsorted(src_starts, pre, side="right") - 1]
    dst = dst_ids[t]
    row_key = (pre * (n_sl + 1) + dst) * (MAX_DELAY_BLOCKS + 2) + stage
    _, row_of, row_len = np.unique(row_key, return_inverse=True, return_counts=True)
    key = src.astype(np.int64) * (n_sl + 1) + dst
    ukey, inv = np.unique(key, return_inverse=True)
    longest = np.zeros(ukey.size, dtype=np.int64)
    np.maximum.at(longest, inv, row_len[row_of])
    return ukey, np.bincount(inv), longest


def slice_edges(net, slices) -> SliceEdges:
    lookup = slice_lookup(net, slices)
    pairs, n_syn, max_row, delayed = [], [], [], []
    for k, proj in enumerate(net.projections):
        if proj.size == 0:
            continue
        pre_kind = "source" if net.populations[proj.pre].is_source else "neurons"
        far = proj.delay > MAX_SUPPORTED_DELAY_TICS
        for is_far in (False, True):
            sel = far if is_far else ~far
            if not sel.any():
                continue
            kind = "delay" if is_far else pre_kind
            ukey, cnt, longest = _row_stats(lookup, proj, kind, sel, is_far, len(slices))
            n_sl = len(slices)
            for u, c, lg in zip(ukey.tolist(), cnt.tolist(), longest.tolist()):
                pairs.append((k, u // (n_sl + 1), u % (n_sl + 1)))
                n_syn.append(c)
                max_row.append(lg)
                delayed.append(is_far)
            if longest.size and longest.max() > MAX_ROW_SYNAPSES:
                raise MappingError(f"projection {proj.name!r}: a synaptic row of {int(longest.max())} synapses; "
                                   f"a row holds at most {MAX_ROW_SYNAPSES} (master population table row-length field); "
                                   "use fewer neurons per core on the target")
    # every slice of a population with a delay extension sends its spikes to that extension
    for sid, s in enumerate(slices):
        if s.kind == "delay":
            kind = "source" if net.populations[s.population].is_source else "neurons"
            src = int(slice_of(lookup, s.population, kind, np.asarray([s.lo]))[0])
            pairs.append((-1, src, sid))
            n_syn.append(0)
            max_row.append(0)
            delayed.append(False)
    if not pairs:
        return SliceEdges(np.zeros((0, 3), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))
    return SliceEdges(np.asarray(pairs, np.int64), np.asarray(n_syn, np.int64), np.asarray(max_row, np.int64),
                      np.asarray(delayed, bool))


# ---------------------------------------------------------------------------------------------
# resources

@dataclass(frozen=True)
class CoreResources:
    dtcm_bytes: int
    sdram_bytes: int
    sdram_synapses: int = 0
    sdram_recording: int = 0


def _next_pow2_bits(n: int) -> int:
    return max(0, int(math.ceil(math.log2(max(1, n)))))


def estimate_resources(net, slices, edges: SliceEdges, n_ticks: int | None = None) -> list[CoreResources]:
    """DTCM and SDRAM of each slice's core (see the module docstring for the model)."""
    n_ticks = int(n_ticks or 0)
    plastic_proj = {k for k, p in enumerate(net.projections) if p.plasticity is not None}
    out = []
    for sid, s in enumerate(slices):
        pop = net.populations[s.population]
        rec_bytes = n_ticks * math.ceil(s.n / 32) * BYTES_PER_WORD   # one spike bit per neuron and tick
        if s.kind == "neurons":
            model = type(pop.model).__name__
            incoming = edges.pairs[:, 2] == sid
            plastic_in = any(int(k) in plastic_proj for k in edges.pairs[incoming, 0])
            ring = (1 << (4 + 1 + _next_pow2_bits(s.n))) * 2      # delay x type x index, uint16
            n_sources = len(np.unique(edges.pairs[incoming, 1]))
            dtcm = (DTCM_FIXED + s.n * DTCM_PER_NEURON.get(model, 60) + ring + INCOMING_SPIKE_BUFFER * 4
                    + n_sources * MASTER_POP_ENTRY_BYTES + (s.n * POST_HISTORY_BYTES if plastic_in else 0))
            syn = 0
            for (k, src, _), mrow in zip(edges.pairs[incoming], edges.max_row[incoming]):
                src_n = slices[src].n
                extra = PLASTIC_ROW_EXTRA_WORDS if int(k) in plastic_proj else 0
                stages = MAX_DELAY_BLOCKS if slices[src].kind == "delay" else 1
                syn += src_n * stages * (SYNAPTIC_ROW_HEADER_WORDS + extra + int(mrow)) * BYTES_PER_WORD
            sdram = SYSTEM_SDRAM + syn + s.n * DTCM_PER_NEURON.get(model, 60) + rec_bytes
            out.append(CoreResources(int(dtcm), int(sdram), int(syn), int(rec_bytes)))
        elif s.kind == "source":
            m = pop.model
            if isinstance(m, SpikeSourceArray):
                sel = (m.ids >= s.lo) & (m.ids < s.hi)
                data = int(sel.sum()) * BYTES_PER_WORD + s.n * 2 * BYTES_PER_WORD
            else:
                data = s.n * 5 * BYTES_PER_WORD                   # rate, start, duration, state
            out.append(CoreResources(DTCM_FIXED + min(data, 16 * 1024), SYSTEM_SDRAM + data + rec_bytes, 0, rec_bytes))
        else:   # delay extension: one bit per neuron and delay stage, per slot of a stage
            bits = s.n * MAX_DELAY_BLOCKS * MAX_TIMER_TICS_SUPPORTED_PER_BLOCK
            out.append(CoreResources(DTCM_FIXED + bits // 8, SYSTEM_SDRAM + s.n * MAX_DELAY_BLOCKS * 4))
    return out


# ---------------------------------------------------------------------------------------------
# placement

def chip_order(machine: Machine) -> list:
    """Chips in order of hop distance from (0, 0), then by (y, x)."""
    origin = (0, 0) if machine.has_chip((0, 0)) else machine.chips[0]
    return sorted(machine.chips, key=lambda c: (machine.hop_distance(origin, c), c[1], c[0]))


def place(slices, resources, machine: Machine) -> list[tuple]:
    """(x, y, core) of every slice; cores 1..app_cores_per_chip (core 0: monitor)."""
    spec = machine.spec
    need = len(slices)
    if need > machine.app_cores:
        raise MappingError(f"{need} cores needed: {machine.describe()} has {machine.app_cores} application cores "
                           f"({spec.app_cores_per_chip} per chip); use a larger machine or more neurons per core")
    for sid, (s, r) in enumerate(zip(slices, resources)):
        if r.dtcm_bytes > spec.dtcm_bytes:
            raise MappingError(f"core for {s.label}: needs {r.dtcm_bytes} bytes of DTCM, a {spec.name} core has "
                               f"{spec.dtcm_bytes}; use fewer neurons per core")
        if r.sdram_bytes > spec.sdram_bytes_per_chip:
            raise MappingError(f"core for {s.label}: needs {r.sdram_bytes} bytes of SDRAM, a {spec.name} chip has "
                               f"{spec.sdram_bytes_per_chip}; use fewer neurons per core or a shorter recording")
    chips = chip_order(machine)
    out = []
    ci, core, used = 0, 1, 0
    for s, r in zip(slices, resources):
        while True:
            if ci >= len(chips):
                raise MappingError(f"{need} cores needed with their SDRAM: {machine.describe()} runs out of chips "
                                   f"after placing {len(out)}")
            if core <= spec.app_cores_per_chip and used + r.sdram_bytes <= spec.sdram_bytes_per_chip:
                break
            ci, core, used = ci + 1, 1, 0
        x, y = chips[ci]
        out.append((x, y, core))
        core += 1
        used += r.sdram_bytes
    return out


# ---------------------------------------------------------------------------------------------
# routing

@dataclass
class Tree:
    """A multicast tree: per chip the links out and the local cores the packet goes to, the
    link it arrives on (None at the source chip)."""

    source: tuple
    out_links: dict = field(default_factory=dict)     # chip -> set of links
    cores: dict = field(default_factory=dict)         # chip -> set of cores
    in_link: dict = field(default_factory=dict)       # chip -> link it arrives by

    @property
    def chips(self) -> set:
        return set(self.out_links) | set(self.cores) | {self.source}

    def hops_to(self, chip) -> int:
        n = 0
        while chip != self.source:
            chip = self._parent(chip)
            n += 1
        return n

    def _parent(self, chip):
        dx, dy = LINK_VECTORS[self.in_link[chip]]
        return self._wrapped((chip[0] - dx, chip[1] - dy))

    _wrapped = staticmethod(lambda c: c)


def _bfs_parents(machine: Machine, source) -> dict:
    """Breadth-first tree from ``source``: chip -> (parent chip, link from the parent)."""
    parent = {source: (None, None)}
    q = deque([source])
    while q:
        c = q.popleft()
        for link, n in machine.links(c):
            if n not in parent:
                parent[n] = (c, link)
                q.append(n)
    return parent


def route(machine: Machine, placements, edges: SliceEdges, n_slices: int) -> dict[int, Tree]:
    """The multicast tree of every source slice that has targets."""
    bfs_cache = {}
    targets = {}
    for _, src, dst in edges.pairs:
        targets.setdefault(int(src), set()).add(int(dst))
    trees = {}
    for src, dsts in targets.items():
        sx, sy, _ = placements[src]
        source = (sx, sy)
        if source not in bfs_cache:
            bfs_cache[source] = _bfs_parents(machine, source)
        parent = bfs_cache[source]
        t = Tree(source)
        if machine.wrap:
            w, h = machine.width, machine.height
            t._wrapped = lambda c, w=w, h=h: (c[0] % w, c[1] % h)
        for d in sorted(dsts):
            x, y, p = placements[d]
            chip = (x, y)
            if chip not in parent:
                raise MappingError(f"chip {chip} is not reachable from chip {source} on {machine.describe()}")
            t.cores.setdefault(chip, set()).add(p)
            while chip != source:
                par, link = parent[chip]
                if chip in t.in_link:
                    break
                t.in_link[chip] = link
                t.out_links.setdefault(par, set()).add(link)
                chip = par
        trees[src] = t
    return trees


# ---------------------------------------------------------------------------------------------
# keys

@dataclass(frozen=True)
class KeySpace:
    """Zoned key fields: population | partition | slice | neuron (bit widths)."""

    population_bits: int
    partition_bits: int
    slice_bits: int
    neuron_bits: int

    @property
    def total_bits(self) -> int:
        return self.population_bits + self.partition_bits + self.slice_bits + self.neuron_bits


def allocate_keys(slices) -> tuple[KeySpace, list[tuple[int, int]]]:
    """(key space, [(key, mask)] per slice); every slice's neurons get keys key + i."""
    groups = []           # distinct (population, kind) in order: each its own zone
    for s in slices:
        g = (s.population, s.kind)
        if g not in groups:
            groups.append(g)
    n_slices = {}
    for s in slices:
        n_slices[(s.population, s.kind)] = max(n_slices.get((s.population, s.kind), 0), s.index + 1)
    ks = KeySpace(_next_pow2_bits(len(groups)), 0, _next_pow2_bits(max(n_slices.values())),
                  _next_pow2_bits(max(s.n for s in slices)))
    if ks.total_bits > 32:
        raise MappingError(f"keys need {ks.total_bits} bits ({ks}); a multicast key has 32")
    mask = (0xFFFFFFFF << ks.neuron_bits) & 0xFFFFFFFF
    out = []
    for s in slices:
        zone = groups.index((s.population, s.kind))
        key = ((zone << (ks.partition_bits + ks.slice_bits)) | s.index) << ks.neuron_bits
        out.append((key, mask))
    return ks, out


# ---------------------------------------------------------------------------------------------
# routing tables

@dataclass(frozen=True)
class Entry:
    key: int
    mask: int
    links: frozenset
    cores: frozenset

    @property
    def route(self):
        return (self.links, self.cores)

    def matches(self, key: int) -> bool:
        return (key & self.mask) == self.key


def routing_tables(trees: dict, keys: list, drop_defaultable: bool = True) -> dict:
    """{chip: [Entry]} from the trees. An entry with one link out, no local core and that link
    opposite to the one the packet came in on is default-routed and left out (when
    ``drop_defaultable``)."""
    tables = {}
    for src, t in trees.items():
        key, mask = keys[src]
        for chip in t.chips:
            links = frozenset(t.out_links.get(chip, ()))
            cores = frozenset(t.cores.get(chip, ()))
            if not links and not cores:
                continue
            if (drop_defaultable and not cores and len(links) == 1 and chip in t.in_link
                    and next(iter(links)) == t.in_link[chip]):
                continue      # arrives on link opposite(l) and leaves on l: straight through
            tables.setdefault(chip, []).append(Entry(key, mask, links, cores))
    return tables


def compress(table: list[Entry]) -> list[Entry]:
    """Merge entries of the same route while the merged key/mask intersects no entry of another
    route, so every key of the original table is routed as before, in any entry order.

    Per route, recursively: the group as one entry (the bits where its keys differ become "don't
    care", so unused keys may alias, as in Mundy et al.'s covering); when that covers another
    route's key, the group is split on its highest differing key bit and each half tried again
    (a single entry is always kept as it is). Then Quine-McCluskey rounds merge pairs of results
    with the same mask one key bit apart, under the same condition."""
    if len(table) <= 1:
        return list(table)
    routes = {}
    rid = np.array([routes.setdefault(e.route, len(routes)) for e in table])
    keys = np.array([e.key for e in table], dtype=np.int64)
    masks = np.array([e.mask for e in table], dtype=np.int64)
    out = []
    for r, g in routes.items():
        sel = rid == g
        ok_k, ok_m = keys[~sel], masks[~sel]

        def ok(k, m):
            return not np.any(((ok_k ^ k) & ok_m & m) == 0)

        def cover(gk, gm):
            if gk.size == 1:
                return [(int(gk[0]), int(gm[0]))]
            m_all = int(np.bitwise_and.reduce(gm))
            diff = int(np.bitwise_or.reduce(gk ^ gk[0]))
            merged_m = m_all & ~diff & 0xFFFFFFFF
            merged_k = int(gk[0]) & merged_m
            if ok(merged_k, merged_m):
                return [(merged_k, merged_m)]
            top = diff.bit_length() - 1
            hi = (gk >> top) & 1 == 1
            return cover(gk[~hi], gm[~hi]) + cover(gk[hi], gm[hi])

        cur = set(cover(keys[sel], masks[sel]))
        while True:
            used, merged = set(), set()
            for k, m in cur:
                b = m
                while b:
                    bit = b & -b
                    b ^= bit
                    if not k & bit and (k | bit, m) in cur:
                        nm = m & ~bit
                        if (k, nm) in merged or ok(k, nm):
                            merged.add((k, nm))
                            used.add((k, m))
                            used.add((k | bit, m))
            if not merged:
                break
            cur = (cur - used) | merged
        # drop entries that another entry of the same route covers
        kept = []
        for k, m in sorted(cur, key=lambda km: bin(km[1]).count("1")):
            if not any((k & km) == kk and (m & km) == km for kk, km in kept):
                kept.append((k, m))
        out.extend(Entry(k, m, r[0], r[1]) for k, m in kept)
    return out


def lookup(table: list[Entry], key: int):
    """The route of ``key`` in ``table`` (first match), or None (default routing)."""
    for e in table:
        if e.matches(key):
            return e.route
    return None


def check_tables(tables: dict, spec: ChipSpec):
    for chip, t in tables.items():
        if len(t) > spec.router_entries_usable:
            raise MappingError(f"chip {chip}: {len(t)} routing entries after compression; a {spec.name} router "
                               f"holds {spec.router_entries_usable}")
