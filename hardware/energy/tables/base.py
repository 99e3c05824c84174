"""What every cost table is: a frozen dataclass with a name, its source, its assumptions and the
reporting modes it can price. Numbers are in joules (per operation), watts or seconds."""
from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("ops", "memory", "hardware")
pJ = 1e-12
nJ = 1e-9
fJ = 1e-15


@dataclass(frozen=True)
class Preset:
    """Base of all cost tables. ``citation``: where the numbers come from; ``assumptions``: what
    the numbers do and do not include, as printed beside every estimate."""

    name: str
    citation: str
    assumptions: tuple = field(default=())
    modes: tuple = field(default=("ops", "memory"))

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"preset name {self.name!r}: expected a non-empty string")
        if not self.citation:
            raise ValueError(f"preset {self.name!r}: every cost table needs a citation")
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise ValueError(f"preset {self.name!r}: modes {bad}: expected some of {MODES}")
        for k, v in self.__dict__.items():
            if isinstance(v, float) and not v >= 0:
                raise ValueError(f"preset {self.name!r}: {k}={v}: expected a non-negative number")
