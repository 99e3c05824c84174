"""SpiNNaker machine presets (every number pinned to its source) and machine geometry."""
from collections import deque

import pytest

from spiking.hardware.spinnaker.machine import (BOARD_ROWS, LINK_VECTORS, SPINNAKER1, SPINNAKER2, Machine, opposite,
                                                preset)


def test_spinnaker1_preset_matches_sources():
    s = SPINNAKER1
    # SpiNNMachine version_spin1.py; Painkras et al. JSSC 2013; Furber et al. IEEE TC 2013
    assert s.cores_per_chip == 18 and s.app_cores_per_chip == 16      # one monitor, one spare
    assert s.clock_hz == 200e6
    assert s.dtcm_bytes == 64 * 1024
    assert s.sdram_bytes_per_chip == 123_469_792
    assert s.router_entries == 1024 and s.router_entries_usable == 1023
    assert s.links_per_chip == 6
    assert (s.packet_bits, s.payload_packet_bits) == (40, 72)
    assert s.chips_per_board == 48
    assert s.neurons_per_core == 256                                 # sPyNNaker default


def test_spinnaker2_preset_matches_sources():
    s = SPINNAKER2
    # SpiNNMachine version_spin2.py; Hoeppner et al. arXiv:2103.08392
    assert s.cores_per_chip == 152 and s.app_cores_per_chip == 150
    assert s.clock_hz == 300e6
    assert s.dtcm_bytes == 128 * 1024
    assert s.sdram_bytes_per_chip == 1_073_741_824                   # version_spin2 max_sdram_per_chip
    assert s.router_entries == 16384


def test_preset_lookup_names_the_choices():
    assert preset("spinnaker2") is SPINNAKER2
    with pytest.raises(ValueError, match="spinnaker3.*spinnaker1"):
        preset("spinnaker3")


def test_one_board_is_the_48_chip_hexagon():
    m = Machine.boards(SPINNAKER1, 1)
    assert m.n_chips == 48 == sum(hi - lo + 1 for lo, hi in BOARD_ROWS)
    assert not m.wrap and m.app_cores == 48 * 16
    # the corners of the 8 x 8 grid are cut off
    assert m.has_chip((0, 0)) and m.has_chip((7, 7)) and not m.has_chip((7, 0)) and not m.has_chip((0, 7))
    # inner chips have all six links, the board edge fewer
    assert len(m.links((3, 3))) == 6
    assert len(m.links((0, 0))) == 3


def test_three_boards_tile_a_12x12_torus():
    m = Machine.boards(SPINNAKER1, 3)
    assert (m.width, m.height, m.wrap, m.n_chips) == (12, 12, True, 144)
    assert all(len(m.links(c)) == 6 for c in m.chips)
    with pytest.raises(ValueError, match="n_boards=2"):
        Machine.boards(SPINNAKER1, 2)


def test_links_are_symmetric():
    for m in (Machine.boards(SPINNAKER1, 1), Machine.grid(SPINNAKER1, 5, 4)):
        for c in m.chips:
            for link, n in m.links(c):
                assert m.neighbour(n, opposite(link)) == c


@pytest.mark.parametrize("machine", [Machine.grid(SPINNAKER1, 6, 5, wrap=True), Machine.grid(SPINNAKER1, 6, 5, wrap=False)],
                         ids=["torus", "mesh"])
def test_hop_distance_equals_breadth_first_distance(machine):
    src = (1, 2)
    dist = {src: 0}
    q = deque([src])
    while q:
        c = q.popleft()
        for _, n in machine.links(c):
            if n not in dist:
                dist[n] = dist[c] + 1
                q.append(n)
    assert all(machine.hop_distance(src, c) == d for c, d in dist.items())


def test_hand_checked_distances():
    m = Machine.grid(SPINNAKER1, 8, 8, wrap=False)
    assert m.hop_distance((0, 0), (3, 3)) == 3       # three diagonal (NE) hops
    assert m.hop_distance((0, 0), (3, -2 + 2)) == 3
    assert m.hop_distance((2, 0), (0, 2)) == 4       # W, W, N, N: no diagonal helps
    assert LINK_VECTORS[1] == (1, 1)


def test_smallest_machine_for_cores():
    assert Machine.for_cores(SPINNAKER1, 768).n_boards == 1
    assert Machine.for_cores(SPINNAKER1, 769).n_chips == 144
