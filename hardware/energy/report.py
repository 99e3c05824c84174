"""Reports of several estimates: a text table, a JSON file and a bar chart (PNG), written atomically."""
from __future__ import annotations

import json

from spiking.atomic import atomic_path, write_text_atomic

from .estimate import CATEGORIES, Estimate, MissingCounts, estimate
from .tables import get_preset

__all__ = ["compare", "table", "write_json", "bar_chart"]


def compare(recording_or_ledger, targets, modes=("memory",)) -> tuple[list[Estimate], list[str]]:
    """Estimates for every (target, mode) pair a target prices; mode ``"all"`` means each mode the
    target has. A hardware mode without its backend counts is skipped with a note (returned);
    other errors (unknown target, missing engine counts) are raised."""
    out, skipped = [], []
    for t in targets:
        p = get_preset(t)
        for m in (p.modes if "all" in modes else modes):
            if m not in p.modes:
                if "all" in modes or len(modes) > 1:
                    continue
                raise ValueError(f"target {p.name!r} has no {m!r} mode: it prices {list(p.modes)}")
            try:
                out.append(estimate(recording_or_ledger, p, m))
            except MissingCounts as e:
                if m != "hardware" or "all" not in modes:
                    raise
                skipped.append(f"{p.name} hardware: {e}")
    return out, skipped


def table(estimates) -> str:
    """One row per estimate: J per inference, the five categories, and the source."""
    head = f"{'target':<16}{'mode':<10}{'J/inference':>13}" + "".join(f"{c:>15}" for c in CATEGORIES)
    lines = [head, "-" * len(head)]
    for e in estimates:
        b = e.breakdown()
        lines.append(f"{e.target:<16}{e.mode:<10}{e.per_inference:>13.4g}" + "".join(f"{b[c]:>15.4g}" for c in CATEGORIES))
    lines.append("")
    seen = set()
    for e in estimates:
        if e.target not in seen:
            seen.add(e.target)
            lines.append(f"{e.target}: {e.citation}")
    return "\n".join(lines)


def write_json(path, estimates, extra: dict | None = None):
    doc = {"estimates": [e.to_dict() for e in estimates], **(extra or {})}
    write_text_atomic(path, json.dumps(doc, indent=1))


def bar_chart(path, estimates, title: str = "energy per inference"):
    """Stacked bars (log scale) of the categories per (target, mode)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [f"{e.target}\n{e.mode}" for e in estimates]
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(estimates) + 2), 5))
    bottom = np.zeros(len(estimates))
    for c in CATEGORIES:
        vals = np.array([e.breakdown()[c] for e in estimates])
        if vals.any():
            ax.bar(labels, vals, bottom=bottom, label=c)
            bottom += vals
    ax.set_yscale("log")
    totals = [e.per_inference for e in estimates if e.per_inference > 0]
    if totals:      # log axis: from below the smallest total (bars start at 0, which log clips)
        ax.set_ylim(min(totals) / 5, max(totals) * 3)
    ax.tick_params(axis="x", labelrotation=60, labelsize=8)
    ax.set_ylabel("J per inference")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
