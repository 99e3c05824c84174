"""Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm, 0.9 V.

Arithmetic (Fig. / table "Energy per operation"): integer add 8 / 16 / 32 bit 0.03 / 0.05 / 0.1
pJ; integer multiply 8 / 32 bit 0.2 / 3.1 pJ; float add 16 / 32 bit 0.4 / 0.9 pJ; float multiply
16 / 32 bit 1.1 / 3.7 pJ. Memory, one 64-bit access: SRAM cache 8 KB 10 pJ, 32 KB 20 pJ, 1 MB
100 pJ; DRAM 1.3-2.6 nJ (we take the midpoint, 1.95 nJ).

These are the figures behind most SNN energy estimates (Dampfhoffer et al. 2023, Lemaire et al.
2022 use the same table). ``scaled(node_nm)`` moves every number to another process node.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .base import Preset, nJ, pJ

CITATION = ("M. Horowitz, \"Computing's energy problem (and what we can do about it)\", "
            "IEEE ISSCC 2014, pp. 10-14 (45 nm, 0.9 V)")

ADD = {"int8": 0.03 * pJ, "int16": 0.05 * pJ, "int32": 0.1 * pJ, "fp16": 0.4 * pJ, "fp32": 0.9 * pJ}
MULT = {"int8": 0.2 * pJ, "int32": 3.1 * pJ, "fp16": 1.1 * pJ, "fp32": 3.7 * pJ}
# (level name, capacity in bytes, energy of one 64-bit access)
MEMORY = (("SRAM 8 KB", 8 * 1024, 10 * pJ), ("SRAM 32 KB", 32 * 1024, 20 * pJ),
          ("SRAM 1 MB", 1024 * 1024, 100 * pJ), ("DRAM", float("inf"), 1.95 * nJ))
DRAM_RANGE = (1.3 * nJ, 2.6 * nJ)


@dataclass(frozen=True)
class DigitalPreset(Preset):
    """A digital event-driven accelerator priced from per-operation and per-access energies.

    ``precision``: arithmetic of the synaptic accumulation ("fp32", "int8", ...); ``weight_bits``
    and ``state_bits``: stored widths (an access of b bits costs b/64 of a 64-bit access);
    ``memory``: (level, capacity bytes, J per 64-bit access), smallest first: weights and neuron
    state each live in the smallest level that holds all of them; ``node_nm``: process node.
    """

    add: dict = field(default_factory=lambda: dict(ADD))
    mult: dict = field(default_factory=lambda: dict(MULT))
    memory: tuple = MEMORY
    precision: str = "fp32"
    weight_bits: int = 32
    state_bits: int = 32
    spike_bits: int = 32
    node_nm: float = 45.0

    def __post_init__(self):
        super().__post_init__()
        if self.precision not in self.add or self.precision not in self.mult:
            raise ValueError(f"preset {self.name!r}: precision={self.precision!r}: expected one of "
                             f"{sorted(set(self.add) & set(self.mult))}")

    @property
    def e_ac(self) -> float:
        return self.add[self.precision]

    @property
    def e_mac(self) -> float:
        return self.add[self.precision] + self.mult[self.precision]

    def level(self, n_bytes: float):
        """(name, J per 64-bit access) of the smallest memory level holding ``n_bytes``."""
        for name, cap, e in self.memory:
            if n_bytes <= cap:
                return name, e
        name, _, e = self.memory[-1]
        return name, e

    def scaled(self, node_nm: float, *, name: str | None = None, exponent: float = 1.0) -> "DigitalPreset":
        """Every energy times ``(node_nm / self.node_nm) ** exponent``.

        Assumption (stated in the result): dynamic energy C V^2 with capacitance scaling linearly
        with the feature size and the supply voltage held (post-Dennard nodes), i.e. exponent 1;
        pass another exponent, or use measured per-node factors, where they are known.
        """
        if not node_nm > 0:
            raise ValueError(f"node_nm={node_nm}: expected a positive process node in nm")
        f = (node_nm / self.node_nm) ** exponent
        return replace(self, name=name or f"{self.name}@{node_nm:g}nm", node_nm=float(node_nm),
                       add={k: v * f for k, v in self.add.items()}, mult={k: v * f for k, v in self.mult.items()},
                       memory=tuple((n, c, e * f) for n, c, e in self.memory),
                       assumptions=self.assumptions + (f"energies scaled from {self.node_nm:g} nm to {node_nm:g} nm "
                                                       f"by ({node_nm:g}/{self.node_nm:g})^{exponent:g} = {f:.3g}",))


HOROWITZ45 = DigitalPreset(
    name="horowitz45", citation=CITATION,
    assumptions=("a digital event-driven accelerator: one fp32 add per AC, one fp32 multiply + add per MAC",
                 "each neuron update: one multiply and one add per state variable (decay and input)",
                 "per synaptic event: one weight read and one read + write of the target's input accumulator",
                 "per spike: one 32-bit write of its address to the event queue (smallest SRAM)",
                 "weights and state each in the smallest memory level that holds them all; access energy "
                 "linear in the bits read (b/64 of a 64-bit access)",
                 "DRAM 1.95 nJ per 64-bit access, the midpoint of Horowitz's 1.3-2.6 nJ",
                 "no static power, no control overhead"),
    modes=("ops", "memory"))

HOROWITZ45_INT8 = replace(HOROWITZ45, name="horowitz45_int8", precision="int8", weight_bits=8,
                          assumptions=HOROWITZ45.assumptions[:1] + (
                              "int8 weights and int8 accumulation (Horowitz int8 add 0.03 pJ, multiply 0.2 pJ)",)
                          + HOROWITZ45.assumptions[1:])
