"""The whole mapping (:func:`map_network`) and the object that records it (:class:`Mapping`):
saved as JSON, printed as a resource report, drawn as a PNG of the chip grid."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from spiking.atomic import atomic_path, write_text_atomic

from . import mapping as M
from .machine import Machine, preset
from .synapses import ring_buffer_shifts


@dataclass
class Mapping:
    """Every decision of one mapping. Per slice (index = slice id): ``slices``, ``placements``
    (x, y, core), ``resources``, ``keys`` (key, mask); per source slice its multicast ``trees``;
    per chip ``tables`` (uncompressed) and ``compressed``; ``shifts`` (ring-buffer left shift per
    population and synapse type)."""

    machine: Machine
    slices: list
    placements: list
    resources: list
    edges: M.SliceEdges
    trees: dict
    key_space: M.KeySpace
    keys: list
    tables: dict
    compressed: dict
    shifts: dict
    time_scale_factor: float = 1.0
    tick_ms: float = 1.0
    timings: dict = field(default_factory=dict)

    # -- summaries ---------------------------------------------------------------------------
    @property
    def chips_used(self) -> list:
        return sorted({(x, y) for x, y, _ in self.placements})

    @property
    def n_cores(self) -> int:
        return len(self.slices)

    def cores_of(self, population: str, kind: str = "neurons") -> list[int]:
        return [i for i, s in enumerate(self.slices) if s.population == population and s.kind == kind]

    def router_entries(self) -> dict:
        """{chip: (entries before compression, after)}."""
        chips = set(self.tables) | set(self.compressed)
        return {c: (len(self.tables.get(c, ())), len(self.compressed.get(c, ()))) for c in sorted(chips)}

    def hops(self, src: int) -> dict:
        """{target slice: hops from the source chip} of source slice ``src``."""
        t = self.trees[src]
        out = {}
        for _, s, d in self.edges.pairs:
            if s == src:
                x, y, _ = self.placements[d]
                out[int(d)] = t.hops_to((x, y))
        return out

    def to_dict(self) -> dict:
        re = self.router_entries()
        return {
            "machine": {"target": self.machine.spec.name, "width": self.machine.width,
                        "height": self.machine.height, "wrap": self.machine.wrap,
                        "chips": self.machine.n_chips, "boards": self.machine.n_boards},
            "time_scale_factor": self.time_scale_factor, "tick_ms": self.tick_ms,
            "chips_used": len(self.chips_used), "cores_used": self.n_cores,
            "key_space": vars(self.key_space),
            "shifts": {k: list(v) for k, v in self.shifts.items()},
            "slices": [{"population": s.population, "kind": s.kind, "lo": s.lo, "hi": s.hi,
                        "chip": [p[0], p[1]], "core": p[2], "key": k, "mask": m,
                        "dtcm_bytes": r.dtcm_bytes, "sdram_bytes": r.sdram_bytes}
                       for s, p, r, (k, m) in zip(self.slices, self.placements, self.resources, self.keys)],
            "router_entries": {f"{c[0]},{c[1]}": {"uncompressed": a, "compressed": b} for c, (a, b) in re.items()},
            "routes": {str(src): {"source_chip": list(t.source),
                                  "links": {f"{c[0]},{c[1]}": sorted(v) for c, v in t.out_links.items()},
                                  "cores": {f"{c[0]},{c[1]}": sorted(v) for c, v in t.cores.items()}}
                       for src, t in self.trees.items()},
            "timings_s": self.timings,
        }

    def save(self, path):
        """Write the mapping as JSON (atomically)."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1))

    def summary(self) -> str:
        re = self.router_entries()
        spec = self.machine.spec
        dtcm = np.array([r.dtcm_bytes for r in self.resources])
        sdram = np.array([r.sdram_bytes for r in self.resources])
        lines = [f"mapping on {self.machine.describe()}",
                 f"  cores used: {self.n_cores} on {len(self.chips_used)} chip(s) "
                 f"({self.n_cores / max(1, len(self.chips_used)):.1f} per chip, {spec.app_cores_per_chip} available)",
                 f"  keys: {self.key_space.total_bits} bits (population {self.key_space.population_bits}, "
                 f"slice {self.key_space.slice_bits}, neuron {self.key_space.neuron_bits})",
                 f"  ring-buffer shifts (exc, inh): " + ", ".join(f"{k} {v}" for k, v in self.shifts.items()),
                 f"  DTCM per core: max {int(dtcm.max()) if dtcm.size else 0} B of {spec.dtcm_bytes} B, "
                 f"mean {dtcm.mean() if dtcm.size else 0:.0f} B",
                 f"  SDRAM per core: max {int(sdram.max()) if sdram.size else 0} B, total "
                 f"{int(sdram.sum()) if sdram.size else 0} B",
                 f"  router entries per chip (uncompressed -> compressed, capacity {spec.router_entries_usable}):"]
        for c, (a, b) in re.items():
            lines.append(f"    chip {c}: {a} -> {b}")
        lines.append("  slices:")
        for s, p, r in zip(self.slices, self.placements, self.resources):
            lines.append(f"    {s.label:<32} chip ({p[0]}, {p[1]}) core {p[2]:>3}  DTCM {r.dtcm_bytes:>6} B  "
                         f"SDRAM {r.sdram_bytes:>9} B")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def draw(self, path, core_load: dict | None = None, title: str = ""):
        """PNG of the chip grid: each chip coloured by the cores used (or ``core_load``: {chip:
        fraction}), the links the routes use drawn between chips."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import cm

        m = self.machine
        used = {}
        for x, y, _ in self.placements:
            used[(x, y)] = used.get((x, y), 0) + 1
        load = core_load or {c: n / m.spec.app_cores_per_chip for c, n in used.items()}
        pos = {c: (c[0] - 0.5 * c[1], c[1] * 0.866) for c in m.chips}   # hexagonal layout
        fig, ax = plt.subplots(figsize=(max(5, m.width * 0.7), max(4, m.height * 0.6)))
        link_use = {}
        for t in self.trees.values():
            for c, links in t.out_links.items():
                for l in links:
                    n = m.neighbour(c, l)
                    if n is not None:
                        link_use[(c, n)] = link_use.get((c, n), 0) + 1
        top = max(link_use.values()) if link_use else 1
        for (a, b), k in link_use.items():
            pa, pb = pos[a], pos[b]
            if abs(pa[0] - pb[0]) > 2 or abs(pa[1] - pb[1]) > 2:
                continue      # a wrap-around link: not drawn across the grid
            ax.plot([pa[0], pb[0]], [pa[1], pb[1]], color="tab:red", lw=0.5 + 3 * k / top, alpha=0.6, zorder=1)
        cmap = matplotlib.colormaps["viridis"]
        for c in m.chips:
            f = load.get(c, 0.0)
            ax.scatter(*pos[c], s=260, marker="h", color=cmap(f) if c in used else "0.9",
                       edgecolors="0.4", linewidths=0.5, zorder=2)
            if c in used:
                ax.text(*pos[c], str(used[c]), ha="center", va="center", fontsize=6, color="w", zorder=3)
        sm = cm.ScalarMappable(cmap=cmap)
        sm.set_clim(0, 1)
        fig.colorbar(sm, ax=ax, label="core load" if core_load else "cores used (fraction of application cores)")
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(title or f"{m.spec.name}: {self.n_cores} cores on {len(self.chips_used)} chips\n"
                     "numbers: cores used; red: links carrying routes", fontsize=8)
        fig.tight_layout()
        with atomic_path(path, ".png") as tmp:
            fig.savefig(tmp, dpi=120, format="png")
        plt.close(fig)


def map_network(net, target: str = "spinnaker1", machine: Machine | None = None, neurons_per_core: int | None = None,
                per_population: dict | None = None, time_scale_factor: float = 1.0,
                n_ticks: int | None = None, spikes_per_second: float = 30.0,
                ring_buffer_sigma: float = 5.0) -> Mapping:
    """Map ``net`` onto ``machine`` (default: the smallest machine of whole boards of ``target``
    that has the cores). ``n_ticks``: the run's length, for the recording's SDRAM;
    ``spikes_per_second``, ``ring_buffer_sigma``: sPyNNaker's settings of the ring-buffer shift
    (spynnaker.cfg defaults). Raises :class:`~spiking.hardware.spinnaker.mapping.MappingError`
    when it does not fit (the message names the limit and the value)."""
    tsf = float(time_scale_factor)
    if not np.isfinite(tsf) or tsf <= 0:
        raise ValueError(f"time_scale_factor={time_scale_factor!r}: expected a positive number")
    spec = machine.spec if machine is not None else preset(target)
    net.validate()
    t = {}
    t0 = time.perf_counter()
    slices = M.partition(net, spec.neurons_per_core if neurons_per_core is None else neurons_per_core, per_population)
    t["partition"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    edges = M.slice_edges(net, slices)
    resources = M.estimate_resources(net, slices, edges, n_ticks)
    t["resources"] = time.perf_counter() - t0
    if machine is None:
        machine = Machine.for_cores(spec, len(slices))
    t0 = time.perf_counter()
    placements = M.place(slices, resources, machine)
    t["placement"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    trees = M.route(machine, placements, edges, len(slices))
    t["routing"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    key_space, keys = M.allocate_keys(slices)
    tables = M.routing_tables(trees, keys)
    t["keys_and_tables"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    compressed = {c: M.compress(tab) for c, tab in tables.items()}
    t["compression"] = time.perf_counter() - t0
    M.check_tables(compressed, spec)
    shifts = ring_buffer_shifts(net, spikes_per_second, ring_buffer_sigma)
    return Mapping(machine, slices, placements, resources, edges, trees, key_space, keys, tables, compressed,
                   shifts, tsf, net.dt, t)
