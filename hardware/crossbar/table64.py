"""The 64 x 32 AnalogLinear table of docs/crossbar.md.

    python -m spiking.hardware.crossbar.table64 [--seeds 10]

W[32, 64] ~ N(0, 0.2^2) and 100 inputs uniform in [-1, 1] (torch.Generator seed 123); for each
programming seed s (programming generator seed s, drift seed 100 + s, read-noise seed 200 + s) a
``pcm_ibm`` AnalogLinear is programmed, drifted to t and read. ``slope``: least-squares slope of
the mean output (over seeds) against the ideal product x W^T; ``spread``: the std between
programming realisations, averaged over outputs, relative to mean |x W^T|.
"""
from __future__ import annotations

import argparse

import torch

from .devices import PCM
from .layers import AnalogLinear
from .periphery import PERFECT, IOParameters

TIMES = ((0.0, "0 s"), (86400.0, "1 day"), (365 * 86400.0, "1 year"))


def slope_and_spread(io, compensation, t, seeds=10):
    g = torch.Generator().manual_seed(123)
    W = torch.randn(32, 64, generator=g) * 0.2
    x = torch.rand(100, 64, generator=g) * 2 - 1
    ideal = x @ W.T
    ys = []
    for s in range(seeds):
        lay = AnalogLinear(64, 32, device=PCM(), io=io, drift_compensation=compensation)
        lay.set_weights(W)
        lay.program(generator=torch.Generator().manual_seed(s))
        lay.drift(t, generator=torch.Generator().manual_seed(100 + s))
        lay.eval()
        lay.generator = torch.Generator().manual_seed(200 + s)
        with torch.no_grad():
            ys.append(lay(x))
    ys = torch.stack(ys)
    slope = float((ys.mean(0) * ideal).sum() / (ideal * ideal).sum())
    spread = float(ys.std(0).mean() / ideal.abs().mean())
    return slope, spread


def table(seeds=10) -> str:
    lines = ["| periphery | compensation | " + " | ".join(f"slope {lab} | spread {lab}" for _, lab in TIMES) + " |",
             "|---|---|" + "---|---|" * len(TIMES)]
    for io_name, io in (("default (aihwkit)", IOParameters()), ("perfect", PERFECT)):
        for comp in (None, "global"):
            cells = []
            for t, _ in TIMES:
                s, sp = slope_and_spread(io, comp, t, seeds)
                cells += [f"{s:.3f}", f"{sp:.3f}"]
            lines.append(f"| {io_name} | {comp or 'none'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(table(args.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
