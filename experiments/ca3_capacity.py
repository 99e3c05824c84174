"""CA3 memory capacity sweep: correct-recall fraction and wall time versus cues x content bits.

``spiking run ca3-capacity --out DIR [--cues 4 8 16 32 64] [--bits 4 8 16 32 64]`` builds the
memory of Casanueva-Morato et al. (Neural Networks 178:106474, 2024; ``spiking.models.ca3``) at
every size of the grid and runs one protocol on it (all operations 10 ms apart by default):

1. learn every cue with a random content (each bit on with probability ``--density``, at least one);
2. recall every cue by cue;
3. recall by content with every single bit as the fragment;
4. re-learn half of the cues (drawn at random) with new random contents (forgetting);
5. recall every cue by cue, and every bit by content, again.

Every decoded answer is compared with the ideal content-addressable memory
(``ca3.IdealCAM``). Two STDP variants run on the same operations:

* ``spinnaker``: the rule exactly as sPyNNaker 7 applies it (``ca3.default_stdp()``, the setting
  that reproduces the authors' recordings), whose deferred updates see only the last 15
  postsynaptic spikes of a neuron: a cue whose content neurons fire more than 15 times before the
  cue is next used loses the potentiation of its learning, so recall fails as the memory grows;
* ``unlimited_history``: the same rule with the whole postsynaptic history (equivalently, online
  updates): the capacity of the model itself.

Writes ``DIR/capacity.json`` (per size and variant: operations, correct fraction overall and per
operation type, simulated time, wall time) and ``DIR/capacity.png``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from spiking.atomic import atomic_path, write_text_atomic
from spiking.models.ca3 import STDP_PUBLISHED, CA3Memory, IdealCAM, Learn, RecallByContent, RecallByCue, default_stdp
from spiking.plasticity import PairSTDP

DEFAULT_SIZES = (4, 8, 16, 32, 64)


def variants() -> dict:
    """The STDP variants of the sweep (see the module docstring)."""
    return {"spinnaker": default_stdp(),
            "unlimited_history": PairSTDP.spinnaker(**STDP_PUBLISHED, post_history=0)}


def protocol(n_cues: int, n_bits: int, rng, density: float = 0.5) -> list:
    """The operations of the sweep for one memory size (see the module docstring)."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density={density}: expected a probability in (0, 1]")

    def content():
        bits = np.flatnonzero(rng.random(n_bits) < density)
        if bits.size == 0:
            bits = rng.integers(0, n_bits, size=1)
        return bits.tolist()

    ops = [Learn(c, content()) for c in range(n_cues)]
    ops += [RecallByCue(c) for c in range(n_cues)]
    ops += [RecallByContent([b]) for b in range(n_bits)]
    relearn = sorted(rng.choice(n_cues, size=max(1, n_cues // 2), replace=False).tolist())
    ops += [Learn(c, content()) for c in relearn]
    ops += [RecallByCue(c) for c in range(n_cues)]
    ops += [RecallByContent([b]) for b in range(n_bits)]
    return ops


def evaluate(n_cues: int, n_bits: int, seed: int = 0, spacing: int = 10, density: float = 0.5, stdp=None) -> dict:
    """Run the protocol on one memory size; correct fractions and wall times."""
    rng = np.random.default_rng([seed, n_cues, n_bits])
    ops = protocol(n_cues, n_bits, rng, density)
    t0 = time.perf_counter()
    mem = CA3Memory(n_cues, n_bits, stdp)
    result = mem.run(ops, spacing=spacing)
    wall = time.perf_counter() - t0
    ideal = IdealCAM()
    kinds = {"Learn": [0, 0], "RecallByCue": [0, 0], "RecallByContent": [0, 0]}
    for a in result.answers:
        ok = a.as_pair() == ideal.apply(a.op)
        k = kinds[type(a.op).__name__]
        k[0] += ok
        k[1] += 1
    correct = sum(k[0] for k in kinds.values())
    rec = result.recording
    return {
        "cues": n_cues, "bits": n_bits, "neurons": mem.n_neurons, "plastic_synapses": mem.n_plastic_synapses,
        "operations": len(ops), "correct": correct, "correct_fraction": correct / len(ops),
        "correct_fraction_by_type": {k: (v[0] / v[1] if v[1] else None) for k, v in kinds.items()},
        "simulated_ms": rec.duration, "wall_s": wall,
        "spikes": rec.ledger.total_spikes, "synaptic_events": rec.ledger.total_synaptic_events,
    }


def sweep(cues=DEFAULT_SIZES, bits=DEFAULT_SIZES, seed: int = 0, spacing: int = 10, density: float = 0.5,
          progress: bool = True) -> list[dict]:
    """``evaluate`` on every (cues, bits) of the grid, for every STDP variant."""
    for name, values in (("cues", cues), ("bits", bits)):
        if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in values):
            raise ValueError(f"{name}={list(values)!r}: expected positive integers")
    grid = [(c, b) for c in cues for b in bits]
    rules = variants()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(grid) * len(rules), desc="CA3 capacity sweep", unit="run", disable=None)
    out = []
    # the first call compiles (or loads) the kernels: done apart so wall times are steady-state
    evaluate(2, 2, seed, spacing, density)
    for c, b in grid:
        for label, rule in rules.items():
            r = evaluate(c, b, seed, spacing, density, rule)
            r["variant"] = label
            out.append(r)
            if bar is not None:
                bar.set_postfix(size=f"{c}x{b}", correct=f"{r['correct_fraction']:.3f}")
                bar.update(1)
    if bar is not None:
        bar.close()
    return out


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cues = sorted({r["cues"] for r in results})
    bits = sorted({r["bits"] for r in results})
    labels = list(dict.fromkeys(r["variant"] for r in results))

    def grid(label, key):
        data = np.full((len(cues), len(bits)), np.nan)
        for r in results:
            if r["variant"] == label:
                data[cues.index(r["cues"]), bits.index(r["bits"])] = r[key]
        return data

    panels = [(f"correct-recall fraction: {lab}", grid(lab, "correct_fraction"), "{:.3f}", "viridis", (0, 1))
              for lab in labels]
    panels.append((f"wall time (s, {labels[0]}): build + simulate + decode", grid(labels[0], "wall_s"), "{:.3f}",
                   "magma", (None, None)))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6))
    for ax, (title, data, fmt, cmap, (lo, hi)) in zip(np.atleast_1d(axes), panels):
        im = ax.imshow(data, origin="lower", cmap=cmap, aspect="auto", vmin=lo, vmax=hi)
        ax.set_xticks(range(len(bits)))
        ax.set_xticklabels(bits)
        ax.set_yticks(range(len(cues)))
        ax.set_yticklabels(cues)
        ax.set_xlabel("content bits N")
        ax.set_ylabel("cues C")
        ax.set_title(title, fontsize=9)
        mid = np.nanmean(data) if np.isfinite(data).any() else 0
        for i in range(len(cues)):
            for j in range(len(bits)):
                if np.isfinite(data[i, j]):
                    light = data[i, j] < (0.6 if hi == 1 else mid)
                    ax.text(j, i, fmt.format(data[i, j]), ha="center", va="center", fontsize=7,
                            color="w" if light else "k")
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle("CA3 content-addressable memory (Casanueva-Morato et al. 2024): learn, recall by cue and by "
                 "content, forget", fontsize=9)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=Path("out/ca3_capacity"), help="output folder")
    parser.add_argument("--cues", type=int, nargs="+", default=list(DEFAULT_SIZES), help="numbers of cues C")
    parser.add_argument("--bits", type=int, nargs="+", default=list(DEFAULT_SIZES), help="numbers of content bits N")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random contents")
    parser.add_argument("--spacing", type=int, default=10, help="ms between operations")
    parser.add_argument("--density", type=float, default=0.5, help="probability of a content bit being on")


def run(out, cues=DEFAULT_SIZES, bits=DEFAULT_SIZES, seed=0, spacing=10, density=0.5, progress=True) -> dict:
    t0 = time.perf_counter()
    results = sweep(cues, bits, seed, spacing, density, progress)
    report = {"model": "CA3 content-addressable memory, Casanueva-Morato et al., Neural Networks 178:106474 (2024)",
              "variants": {k: v.parameters() for k, v in variants().items()},
              "protocol": "learn all cues; recall all by cue; recall every bit by content; re-learn half the cues; "
                          "recall all by cue and every bit by content again",
              "seed": seed, "spacing_ms": spacing, "density": density, "total_wall_s": time.perf_counter() - t0,
              "results": results}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "capacity.json", json.dumps(report, indent=2))
    plot(results, out / "capacity.png")
    return report


def main(args) -> int:
    report = run(args.out, args.cues, args.bits, args.seed, args.spacing, args.density)
    print(f"{'cues':>5} {'bits':>5} {'ops':>5} {'variant':>18} {'correct':>8} {'wall s':>8}")
    for r in report["results"]:
        print(f"{r['cues']:>5} {r['bits']:>5} {r['operations']:>5} {r['variant']:>18} "
              f"{r['correct_fraction']:>8.3f} {r['wall_s']:>8.3f}")
    print(f"wrote {args.out}/capacity.json and {args.out}/capacity.png")
    return 0
