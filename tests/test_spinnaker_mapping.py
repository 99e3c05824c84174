"""The mapping pipeline, stage by stage, on small hand-checkable cases."""
import json

import numpy as np
import pytest

from spiking import AllToAll, CubaLIF, FromList, Network, SpikeSourceArray
from spiking.hardware.spinnaker import mapping as M
from spiking.hardware.spinnaker.machine import SPINNAKER1, Machine
from spiking.hardware.spinnaker.pipeline import map_network
from spiking.plasticity import PairSTDP


def _lif():
    return CubaLIF(update_order="spinnaker", t_ref=1.0, tau_syn_e=1.0, tau_syn_i=1.0)


def small_net(n_src=3, n_post=4, delay=1.0, plastic=False, dt=1.0):
    net = Network(dt=dt)
    net.add_source("src", n_src, SpikeSourceArray([1.0, 2.0], [0, 1]))
    net.add_population("post", n_post, _lif())
    rule = PairSTDP.spinnaker(w_max=1.0) if plastic else None
    net.connect("src", "post", AllToAll(), weight=0.5, delay=delay, plasticity=rule, name="p")
    return net


# -- partition ---------------------------------------------------------------------------------

def test_partition_slices_and_override():
    net = Network(dt=1.0)
    net.add_population("a", 600, _lif())
    net.add_population("b", 10, _lif())
    s = M.partition(net, 256)
    assert [(x.population, x.lo, x.hi) for x in s] == [("a", 0, 256), ("a", 256, 512), ("a", 512, 600), ("b", 0, 10)]
    s = M.partition(net, 256, per_population={"a": 100})
    assert [x.n for x in s if x.population == "a"] == [100] * 6
    with pytest.raises(ValueError, match="neurons_per_core=0"):
        M.partition(net, 0)
    with pytest.raises(ValueError, match="'c' not in the network"):
        M.partition(net, 256, per_population={"c": 5})
    # spike sources: an array on one core, Poisson 500 per core (sPyNNaker 7 defaults)
    from spiking import PoissonSource
    net.add_source("arr", 1000, SpikeSourceArray([0.0], [0]))
    net.add_source("poi", 1200, PoissonSource(rate=5.0))
    s = M.partition(net, 256)
    assert [x.n for x in s if x.population == "arr"] == [1000]
    assert [x.n for x in s if x.population == "poi"] == [500, 500, 200]


def test_long_delays_get_a_delay_extension_and_too_long_ones_fail():
    net = small_net(delay=20.0)
    s = M.partition(net)
    assert [x.kind for x in s] == ["source", "delay", "neurons"]
    e = M.slice_edges(net, s)
    pairs = {tuple(p) for p in e.pairs.tolist()}
    assert (-1, 0, 1) in pairs            # source slice -> its delay extension
    assert (0, 1, 2) in pairs             # delay extension -> target slice (projection 0)
    with pytest.raises(M.MappingError, match="delay 145 ticks.*at most 144"):
        M.partition(small_net(delay=145.0))


# -- resources ---------------------------------------------------------------------------------

def test_synaptic_matrix_size_is_rows_of_header_plus_synapses():
    net = small_net(n_src=3, n_post=4)
    s = M.partition(net)
    r = M.estimate_resources(net, s, M.slice_edges(net, s))
    # 3 source rows of 3 header words + 4 synapse words, 4 bytes a word
    assert r[1].sdram_synapses == 3 * (3 + 4) * 4
    netp = small_net(n_src=3, n_post=4, plastic=True)
    rp = M.estimate_resources(netp, s, M.slice_edges(netp, s))
    assert rp[1].sdram_synapses == 3 * (3 + 2 + 4) * 4          # plastic rows: 2 header words more
    assert rp[1].dtcm_bytes - r[1].dtcm_bytes == 4 * M.POST_HISTORY_BYTES
    # recording: one bit per neuron and tick, in words
    r = M.estimate_resources(net, s, M.slice_edges(net, s), n_ticks=100)
    assert r[1].sdram_recording == 100 * 4


def test_row_longer_than_the_hardware_allows_is_an_error():
    net = Network(dt=1.0)
    net.add_source("src", 1, SpikeSourceArray([1.0], [0]))
    net.add_population("post", 2, _lif())
    net.connect("src", "post", FromList(np.zeros(300, int), np.zeros(300, int)), weight=0.1)
    s = M.partition(net)
    with pytest.raises(M.MappingError, match="row of 300 synapses; a row holds at most 256"):
        M.slice_edges(net, s)


# -- placement ---------------------------------------------------------------------------------

def test_placement_fills_chips_in_order_and_keeps_populations_together():
    machine = Machine.boards(SPINNAKER1, 1)
    slices = [M.Slice("a", k, k, k + 1) for k in range(20)]
    res = [M.CoreResources(1000, 1000)] * 20
    p = M.place(slices, res, machine)
    assert p[:16] == [(0, 0, c) for c in range(1, 17)]           # core 0 is the monitor
    assert {xy[:2] for xy in p[16:]} == {p[16][:2]} and machine.hop_distance((0, 0), p[16][:2]) == 1
    # SDRAM: two cores of 70 MB do not share a chip of 123 MB
    big = [M.CoreResources(1000, 70_000_000)] * 2
    p = M.place(slices[:2], big, machine)
    assert p[0][:2] != p[1][:2]


def test_too_many_cores_names_both_numbers():
    machine = Machine.boards(SPINNAKER1, 1)
    slices = [M.Slice("a", k, k, k + 1) for k in range(769)]
    with pytest.raises(M.MappingError, match="769 cores needed.*768 application cores"):
        M.place(slices, [M.CoreResources(1, 1)] * 769, machine)
    with pytest.raises(M.MappingError, match="70000 bytes of DTCM.*65536"):
        M.place(slices[:1], [M.CoreResources(70_000, 1)], machine)


def test_a_network_too_large_for_its_machine():
    net = Network(dt=1.0)
    net.add_population("a", 800, _lif())
    with pytest.raises(M.MappingError, match="800 cores needed"):
        map_network(net, machine=Machine.boards(SPINNAKER1, 1), neurons_per_core=1)


# -- routing -----------------------------------------------------------------------------------

def _walk_to_source(tree, machine, chip):
    seen = set()
    while chip != tree.source:
        assert chip not in seen, "loop"
        seen.add(chip)
        link = tree.in_link[chip]
        parent = machine.neighbour(chip, (link + 3) % 6)
        assert link in tree.out_links[parent]
        chip = parent
    return len(seen)


@pytest.mark.parametrize("wrap", [True, False])
def test_routes_reach_every_target_without_loops_in_shortest_hops(wrap):
    machine = Machine.grid(SPINNAKER1, 8, 8, wrap=wrap)
    placements = [(1, 1, 1), (1, 1, 2), (5, 2, 1), (0, 7, 1), (7, 7, 3), (3, 5, 1), (7, 0, 2)]
    pairs = np.array([(0, 0, d) for d in range(1, 7)] + [(0, 3, 4)])
    edges = M.SliceEdges(pairs, np.ones(len(pairs), int), np.ones(len(pairs), int), np.zeros(len(pairs), bool))
    trees = M.route(machine, placements, edges, len(placements))
    t = trees[0]
    for d in range(1, 7):
        x, y, p = placements[d]
        assert p in t.cores[(x, y)]
        assert _walk_to_source(t, machine, (x, y)) == machine.hop_distance((1, 1), (x, y))
    # a tree: every chip but the source has exactly one parent
    assert len(t.in_link) == len(t.chips) - 1
    # same-chip target: no hop
    assert t.hops_to((1, 1)) == 0


# -- keys --------------------------------------------------------------------------------------

def test_zoned_keys_never_overlap():
    net = Network(dt=1.0)
    net.add_population("a", 600, _lif())
    net.add_population("b", 10, _lif())
    net.add_population("c", 300, _lif())
    slices = M.partition(net, 256)
    ks, keys = M.allocate_keys(slices)
    assert (ks.population_bits, ks.slice_bits, ks.neuron_bits) == (2, 2, 8)
    ranges = sorted((k, k + (1 << ks.neuron_bits)) for k, _ in keys)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))
    for s, (k, m) in zip(slices, keys):        # each neuron's key matches its own slice's entry only
        for i in (0, s.n - 1):
            assert [(kk, mm) for kk, mm in keys if ((k + i) & mm) == kk] == [(k, m)]


# -- tables and compression ------------------------------------------------------------------------

def _E(key, mask, links=(), cores=()):
    return M.Entry(key, mask, frozenset(links), frozenset(cores))


def test_compression_merges_same_route_and_respects_other_routes():
    mask = 0xFFFFFF00
    same = [_E(k, mask, links=[1]) for k in (0x000, 0x100, 0x200, 0x300)]
    assert M.compress(same) == [_E(0, 0xFFFFFC00, links=[1])]
    mixed = [_E(k, mask, links=[1]) for k in (0x000, 0x100, 0x200)] + [_E(0x300, mask, cores=[3])]
    c = M.compress(mixed)
    # one entry for all three would cover 0x300: split on bit 9, 0x000-0x1ff merge, 0x200 stays
    assert sorted((e.key, e.mask) for e in c if e.links) == [(0, 0xFFFFFE00), (0x200, 0xFFFFFF00)]
    for e in mixed:
        for key in (e.key, e.key + 0xFF):
            assert M.lookup(c, key) == M.lookup(mixed, key) == e.route


def test_compression_may_alias_unused_keys():
    mask = 0xFFFFFF00
    a = [_E((48 + i) << 8, mask, links=[2]) for i in range(15)]       # slices 48..62 (63 unused)
    b = [_E(i << 8, mask, cores=[1]) for i in range(16)]
    c = M.compress(a + b)
    assert sorted((e.key, e.mask) for e in c if e.links) == [(0x3000, 0xFFFFF000)]
    assert len(c) == 2


def test_compressed_random_tables_route_every_key_as_before():
    rng = np.random.default_rng(3)
    for _ in range(40):
        nb = 4
        keys = rng.choice(64, size=40, replace=False) << nb
        routes = [(frozenset(rng.choice(6, size=rng.integers(1, 3), replace=False).tolist()), frozenset())
                  for _ in range(3)]
        table = [M.Entry(int(k), (0xFFFFFFFF << nb) & 0xFFFFFFFF, *routes[rng.integers(3)]) for k in keys]
        c = M.compress(table)
        assert len(c) <= len(table)
        for e in table:
            for i in range(1 << nb):
                assert M.lookup(c, e.key + i) == e.route


def test_router_table_overflow_names_chip_and_both_numbers():
    tables = {(2, 3): [_E(k << 8, 0xFFFFFF00, links=[k % 6], cores=[k]) for k in range(1100)]}
    with pytest.raises(M.MappingError, match=r"chip \(2, 3\): 1100 routing entries.*holds 1023"):
        M.check_tables(tables, SPINNAKER1)


def test_straight_through_entries_are_left_to_default_routing():
    machine = Machine.grid(SPINNAKER1, 8, 1, wrap=False)
    placements = [(0, 0, 1), (4, 0, 1)]
    edges = M.SliceEdges(np.array([(0, 0, 1)]), np.ones(1, int), np.ones(1, int), np.zeros(1, bool))
    trees = M.route(machine, placements, edges, 2)
    keys = [(0, 0xFFFFFF00), (0x100, 0xFFFFFF00)]
    full = M.routing_tables(trees, keys, drop_defaultable=False)
    lean = M.routing_tables(trees, keys)
    assert sorted(full) == [(x, 0) for x in range(5)]
    assert sorted(lean) == [(0, 0), (4, 0)]               # chips 1..3 pass it straight east


# -- the whole pipeline ------------------------------------------------------------------------

def test_ca3_mapping_and_ring_buffer_shifts():
    from spiking.models.ca3 import CA3Memory
    mem = CA3Memory(5, 10)
    m = map_network(mem.network([0.0], [0], [0.0], [1]))
    assert m.n_cores == 12 and m.chips_used == [(0, 0)]
    # contCueRecall excitatory: INcont one-to-one 6 nA + cueCue all-to-all plastic w_max 6 x 5 cues = 36
    # -> ceil(log2 36) = 6; cueContRecall inhibitory: 2 x 4 x 60 nA = 480 -> 9
    assert m.shifts["CA3contCueRecall"] == (6, 0)
    assert m.shifts["CA3cueContRecall"] == (7, 9)


def test_mapping_saves_prints_draws(tmp_path):
    net = small_net(n_src=300, n_post=520)
    m = map_network(net, neurons_per_core=256)
    # as sPyNNaker 7.4.1 maps it on a virtual board: src(0:299) on one core, post 0:255, 256:511, 512:519
    assert [(s.lo, s.hi) for s in m.slices] == [(0, 300), (0, 256), (256, 512), (512, 520)]
    m.save(tmp_path / "m.json")
    d = json.loads((tmp_path / "m.json").read_text())
    assert d["cores_used"] == 4 and len(d["slices"]) == 4
    assert "cores used: 4" in m.summary()
    m.draw(tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 5000
    assert not list(tmp_path.glob("*.tmp"))
    # the source slice reaches the three target cores, all on chip (0, 0)
    assert m.hops(0) == {1: 0, 2: 0, 3: 0}


def test_dense_and_sorting_row_statistics_agree(monkeypatch):
    from spiking.connectors import FixedProbability
    net = Network(dt=1.0)
    net.add_population("a", 700, _lif())
    net.add_population("b", 300, _lif())
    rng = np.random.default_rng(5)
    net.connect("a", "b", FixedProbability(0.05), weight=0.1, delay=rng.integers(1, 40, size=None) * 1.0, rng=rng)
    net.connect("b", "a", FixedProbability(0.1), weight=0.1, rng=rng, name="back")
    d = rng.integers(1, 60, size=net.projections[1].size).astype(float)
    net.projections[1].delay = d.astype(np.int32)
    s = M.partition(net, 128)
    dense = M.slice_edges(net, s)
    monkeypatch.setattr(M, "_DENSE_LIMIT", 0)
    sort = M.slice_edges(net, s)
    for a, b in ((dense.pairs, sort.pairs), (dense.n_syn, sort.n_syn), (dense.max_row, sort.max_row)):
        assert np.array_equal(a, b)
    assert dense.delayed.any() and dense.n_syn.sum() == net.n_synapses


def test_spinnaker2_holds_more_cores_per_chip():
    net = Network(dt=1.0)
    net.add_population("a", 200, _lif())
    one = map_network(net, "spinnaker1", neurons_per_core=1)
    two = map_network(net, "spinnaker2", neurons_per_core=1)
    assert len(one.chips_used) == 13 and len(two.chips_used) == 2    # ceil(200/16), ceil(200/150)


def test_router_table_overflow_end_to_end():
    # 1100 sources, one per core, each to a different subset of 16 one-neuron cores on one chip:
    # 1100 different routes there, none mergeable -> more than the 1023 entries a router holds
    n_src, n_post = 1100, 16
    pre, post = [], []
    for i in range(n_src):
        for j in range(n_post):
            if (i + 1) >> j & 1:
                pre.append(i)
                post.append(j)
    net = Network(dt=1.0)
    net.add_population("post", n_post, _lif())           # first: its 16 cores fill chip (0, 0)
    net.add_source("src", n_src, SpikeSourceArray([0.0], [0]))
    net.connect("src", "post", FromList(np.array(pre), np.array(post)), weight=0.1)
    with pytest.raises(M.MappingError, match=r"chip \(0, 0\): 1100 routing entries after compression; "
                                             r"a spinnaker1 router holds 1023"):
        map_network(net, per_population={"src": 1, "post": 1})
