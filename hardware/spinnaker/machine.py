"""SpiNNaker machine presets and geometry.

A :class:`ChipSpec` holds the numbers of one chip generation; a :class:`Machine` is a grid of
such chips, each with six links to its neighbours (the triangular mesh of SpiNNaker boards,
wrapped into a torus when the machine is built from whole three-board triads).

Sources of every number (pinned by ``tests/test_spinnaker_machine.py``):

* SpiNNaker 1 (``SPINNAKER1``): SpiNNMachine ``spinn_machine/version/version_spin1.py``
  (18 cores per chip, of which one is the monitor; 1,024 router entries, 1,023 usable;
  123,469,792 bytes of SDRAM usable per chip; 200 MHz) and ``version_5.py`` (48-chip board and
  its hexagonal chip layout); Painkras et al., "SpiNNaker: A 1-W 18-Core System-on-Chip for
  Massively-Parallel Neural Network Simulation", IEEE JSSC 48(8):1943, 2013 (18 ARM968 cores,
  64 KB DTCM and 32 KB ITCM per core, 6 inter-chip links, 40-bit multicast packets, 72 bits with
  payload); Furber et al., "Overview of the SpiNNaker System Architecture", IEEE Trans. Comput.
  62(12):2454, 2013 (one monitor core and one spare: 16 application cores per chip).
* SpiNNaker 2 (``SPINNAKER2``): SpiNNMachine ``spinn_machine/version/version_spin2.py``
  (152 processing elements in its quad map, one SCAMP/monitor core, 16,384 router entries,
  clocks 150 and 300 MHz, ``max_sdram_per_chip`` 1,073,741,824 bytes); Hoeppner et al., "The
  SpiNNaker 2 Processing Element Architecture for Hybrid Digital Neuromorphic Computing",
  arXiv:2103.08392, 2021 (ARM Cortex-M4F PEs at 300 MHz, 128 KB local SRAM per PE). Of the 152
  PEs 150 are given to applications: one monitor and one spare, as on SpiNNaker 1.
* SpiNNaker 1 router: the hardware table has 1,024 entries (Furber et al. 2013);
  ``version_spin1.n_router_entries`` gives applications 1,023.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# The six links of a SpiNNaker chip, in SpiNNMachine's numbering: 0 east, 1 north-east,
# 2 north, 3 west, 4 south-west, 5 south (Furber et al. 2013, Fig. 3).
LINK_NAMES = ("E", "NE", "N", "W", "SW", "S")
LINK_VECTORS = ((1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1))
N_LINKS = 6


def opposite(link: int) -> int:
    """The link a packet arrives on at the neighbour when it leaves by ``link``."""
    return (link + 3) % N_LINKS


@dataclass(frozen=True)
class ChipSpec:
    """One chip generation (see the module docstring for the source of every field)."""

    name: str
    cores_per_chip: int            # processor cores on the die
    app_cores_per_chip: int        # cores an application may use (monitor and spare excluded)
    clock_hz: float                # core clock
    dtcm_bytes: int                # data memory local to each core (SpiNNaker 2: PE SRAM)
    sdram_bytes_per_chip: int      # shared off-core memory usable per chip
    router_entries: int            # multicast router table size
    router_entries_usable: int     # entries left to applications
    links_per_chip: int            # inter-chip links
    packet_bits: int               # multicast packet without payload
    payload_packet_bits: int       # multicast packet with a 32-bit payload
    chips_per_board: int           # chips on one board
    neurons_per_core: int = 256    # sPyNNaker's default maximum atoms per core
    core_type: str = ""

    @property
    def cycles_per_ms(self) -> float:
        return self.clock_hz / 1000.0


SPINNAKER1 = ChipSpec(
    name="spinnaker1", cores_per_chip=18, app_cores_per_chip=16, clock_hz=200e6,
    dtcm_bytes=64 * 1024, sdram_bytes_per_chip=123_469_792, router_entries=1024,
    router_entries_usable=1023, links_per_chip=6, packet_bits=40, payload_packet_bits=72,
    chips_per_board=48, neurons_per_core=256, core_type="ARM968E-S")

SPINNAKER2 = ChipSpec(
    name="spinnaker2", cores_per_chip=152, app_cores_per_chip=150, clock_hz=300e6,
    dtcm_bytes=128 * 1024, sdram_bytes_per_chip=1_073_741_824, router_entries=16384,
    router_entries_usable=16384, links_per_chip=6, packet_bits=40, payload_packet_bits=72,
    chips_per_board=48, neurons_per_core=256, core_type="ARM Cortex-M4F")

PRESETS = {"spinnaker1": SPINNAKER1, "spinnaker2": SPINNAKER2}


def preset(name: str) -> ChipSpec:
    if name not in PRESETS:
        raise ValueError(f"target={name!r}: expected one of {sorted(PRESETS)}")
    return PRESETS[name]


# The chips of one 48-chip board ("spin5"), per row y the range of x (SpiNNMachine version_5:
# a hexagon cut from an 8 x 8 grid; 5+6+7+8+7+6+5+4 = 48 chips).
BOARD_ROWS = ((0, 4), (0, 5), (0, 6), (0, 7), (1, 7), (2, 7), (3, 7), (4, 7))


@dataclass(frozen=True)
class Machine:
    """A ``width`` x ``height`` grid of chips (``chips`` lists those present), six links each.

    ``wrap``: links at the edges wrap around (a torus). Build one with :meth:`grid` or
    :meth:`boards`.
    """

    spec: ChipSpec
    width: int
    height: int
    wrap: bool
    chips: tuple = field(repr=False)

    @classmethod
    def grid(cls, spec: ChipSpec, width: int, height: int, wrap: bool = True) -> "Machine":
        for name, v in (("width", width), ("height", height)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r}: expected a positive number of chips")
        chips = tuple((x, y) for y in range(height) for x in range(width))
        return cls(spec, width, height, wrap, chips)

    @classmethod
    def boards(cls, spec: ChipSpec, n_boards: int = 1) -> "Machine":
        """One 48-chip board (hexagonal, no wrap-around), or ``n_boards`` boards in triads: three
        boards tile a 12 x 12 torus, so ``n_boards`` a multiple of 3 gives 12 x 4n chips."""
        if isinstance(n_boards, bool) or not isinstance(n_boards, int) or n_boards < 1:
            raise ValueError(f"n_boards={n_boards!r}: expected a positive integer")
        if n_boards == 1:
            chips = tuple((x, y) for y, (lo, hi) in enumerate(BOARD_ROWS) for x in range(lo, hi + 1))
            return cls(spec, 8, 8, False, chips)
        if n_boards % 3:
            raise ValueError(f"n_boards={n_boards}: expected 1 or a multiple of 3 (boards join in "
                             "triads that tile a 12 x 12 torus)")
        return cls.grid(spec, 12, 4 * n_boards, wrap=True)

    @classmethod
    def for_cores(cls, spec: ChipSpec, n_cores: int) -> "Machine":
        """The smallest machine of whole boards (1, 3, 6, ...) with ``n_cores`` application cores."""
        boards = 1
        while boards * spec.chips_per_board * spec.app_cores_per_chip < n_cores:
            boards = 3 if boards == 1 else boards + 3
        return cls.boards(spec, boards)

    # -- geometry ----------------------------------------------------------------------------
    @property
    def n_chips(self) -> int:
        return len(self.chips)

    @property
    def n_boards(self) -> int:
        return math.ceil(self.n_chips / self.spec.chips_per_board)

    @property
    def app_cores(self) -> int:
        return self.n_chips * self.spec.app_cores_per_chip

    def has_chip(self, xy) -> bool:
        return xy in self._chip_set

    @property
    def _chip_set(self):
        s = self.__dict__.get("_cs")
        if s is None:
            s = frozenset(self.chips)
            object.__setattr__(self, "_cs", s)
        return s

    def neighbour(self, xy, link: int):
        """The chip at the other end of ``link`` from ``xy``, or None (edge of an unwrapped board)."""
        dx, dy = LINK_VECTORS[link]
        x, y = xy[0] + dx, xy[1] + dy
        if self.wrap:
            x %= self.width
            y %= self.height
        nxt = (x, y)
        return nxt if nxt in self._chip_set else None

    def links(self, xy):
        """(link, neighbour) pairs of chip ``xy``."""
        return [(k, n) for k in range(N_LINKS) if (n := self.neighbour(xy, k)) is not None]

    def hop_distance(self, a, b) -> int:
        """Shortest number of link hops from chip ``a`` to chip ``b`` on the six-link mesh.

        With offsets (dx, dy) the moves are +-x, +-y and +-(x+y) together, so the distance is
        max(|dx|, |dy|) when dx, dy have the same sign and |dx| + |dy| otherwise; on a torus the
        shortest over the wrapped offsets. (On a cut board the mesh distance is a lower bound.)"""
        def d(dx, dy):
            return max(abs(dx), abs(dy)) if dx * dy >= 0 else abs(dx) + abs(dy)
        dx, dy = b[0] - a[0], b[1] - a[1]
        if not self.wrap:
            return d(dx, dy)
        return min(d(dx + i * self.width, dy + j * self.height) for i in (-1, 0, 1) for j in (-1, 0, 1))

    def describe(self) -> str:
        kind = "torus" if self.wrap else "board"
        return (f"{self.spec.name}: {self.n_chips} chips ({self.width} x {self.height} {kind}, "
                f"{self.n_boards} board(s)), {self.app_cores} application cores")
