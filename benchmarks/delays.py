"""DCLS delayed layer: ours (spiking.nn.DelayedLinear) against the authors' ``dcls.Dcls1d``.

Forward + backward of one delayed layer at the SHD sizes of Hammouamri et al. 2024 (256 -> 256
hidden, M = 25 taps, T = 100 steps, batch 64, binary input at ``--density``), timed in one run,
in both phases of training:

* Gaussian phase: both build the Gaussian kernel and convolve densely (same FLOPs);
* one-hot phase (after training, or fixed delays): ``Dcls1d`` still convolves with its kernel;
  ours takes the gather path (shifted adds of active input rows, no M-fold convolution).

Prints median times and the ratio Dcls1d / ours. ``--write-reference PATH`` instead writes the
small reference file of Dcls1d kernels and outputs that ``tests/test_delays.py`` checks without
dcls installed::

    .venv/bin/python benchmarks/delays.py --threads 1
    .venv/bin/python benchmarks/delays.py --write-reference tests/data/dcls1d_reference.npz
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spiking.nn.delays import DelayedLinear


def _dcls(n_in, n_out, M):
    from DCLS.construct.modules import Dcls1d

    return Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=M, bias=False, version="gauss")


def write_reference(path: Path) -> None:
    """Kernels and outputs of Dcls1d for a few (sizes, M, sigma), with seeded parameters and inputs."""
    cases = [(5, 3, 7, 3.0), (6, 4, 9, 0.23), (4, 2, 25, 12.0), (3, 3, 1, 0.0)]
    out = {"cases": np.array(len(cases))}
    for c, (n_in, n_out, M, sigma) in enumerate(cases):
        g = torch.Generator().manual_seed(100 + c)
        w = torch.randn(n_out, n_in, generator=g)
        p = (torch.rand(n_out, n_in, generator=g) * 2 - 1) * (M // 2)
        x = (torch.rand(12, 2, n_in, generator=g) < 0.3).float()
        d = _dcls(n_in, n_out, M)
        with torch.no_grad():
            d.weight.copy_(w.unsqueeze(-1))
            d.P.copy_(p.view(1, n_out, n_in, 1))
            d.SIG.fill_(sigma)
            k = d.DCK(d.weight, d.P, d.SIG)
            y = d(F.pad(x.permute(1, 2, 0), (M - 1, (M - 1) // 2))).permute(2, 0, 1)
        out.update({f"w{c}": w.numpy(), f"p{c}": p.numpy(), f"M{c}": np.array(M), f"sigma{c}": np.array(sigma),
                    f"x{c}": x.numpy(), f"kernel{c}": k.numpy(), f"y{c}": y.numpy()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **out)
    tmp.replace(path)
    print(f"wrote {path} ({len(cases)} cases)")


def _time(fn, repeats):
    fn()                                   # warm-up (numba compile, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="n_in", type=int, default=256)
    parser.add_argument("--out", dest="n_out", type=int, default=256)
    parser.add_argument("--taps", type=int, default=25)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--density", type=float, default=0.05, help="fraction of input entries that spike")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write-reference", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.write_reference is not None:
        write_reference(args.write_reference)
        return 0
    torch.set_num_threads(args.threads)
    M, pad = args.taps, (args.taps - 1) // 2
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(args.steps, args.batch, args.n_in, generator=g) < args.density).float().requires_grad_(True)
    ours = DelayedLinear(args.n_in, args.n_out, M, generator=g)
    theirs = _dcls(args.n_in, args.n_out, M)
    with torch.no_grad():
        theirs.weight.copy_(ours.weight.unsqueeze(-1))
        theirs.P.copy_(ours.positions.view(1, args.n_out, args.n_in, 1))
        theirs.SIG.fill_(float(ours.sigma))

    def run_ours():
        y, _ = ours(x)
        y.sum().backward()

    def run_theirs():
        y = theirs(F.pad(x.permute(1, 2, 0), (M - 1, pad))).permute(2, 0, 1)
        y.sum().backward()

    print(f"delayed layer {args.n_in}->{args.n_out}, M={M}, T={args.steps}, batch {args.batch}, "
          f"input density {args.density}, {args.threads} thread(s), forward + backward, median of {args.repeats}")
    results = {}
    for phase in ("gaussian", "onehot"):
        if phase == "onehot":
            ours.eval()            # one-hot kernel at the rounded positions -> gather path
            with torch.no_grad():  # Dcls1d at the same integer positions with its smallest width (sigma 0)
                theirs.P.copy_(torch.round(ours.positions).view_as(theirs.P))
                theirs.SIG.zero_()
        t_ours, t_theirs = _time(run_ours, args.repeats), _time(run_theirs, args.repeats)
        results[phase] = (t_ours, t_theirs)
        print(f"{phase:>9}: ours {1e3 * t_ours:8.1f} ms   Dcls1d {1e3 * t_theirs:8.1f} ms   "
              f"ratio Dcls1d/ours {t_theirs / t_ours:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
