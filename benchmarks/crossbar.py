"""AnalogLinear (512 x 512, batch 256, default periphery, pcm_ibm) against nn.Linear, same run.

    python benchmarks/crossbar.py [--threads 1] [--repeats 20]

Times the eval forward of a programmed and drifted layer (DAC, ADC, out_noise, iterative bound
management, 2 x 2 tiles of 256 x 256 with digital accumulation), the same with spike (binary)
input, and ``program`` + ``drift``, against a plain ``nn.Linear`` forward of the same size;
prints the ratios. Aim (issue 9): the noisy forward within 3x of the plain one.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from spiking.hardware import crossbar as xb


def paired(fn, ref, repeats):
    """(best time of fn, best time of ref, median of the per-repeat ratios): fn and ref are timed
    back to back in every repeat, so a shared, fluctuating machine load hits both alike."""
    fn(), ref()
    tf, tr, ratios = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        ref()
        t1 = time.perf_counter()
        fn()
        t2 = time.perf_counter()
        tr.append(t1 - t)
        tf.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t))
    return min(tf), min(tr), statistics.median(ratios)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    n, b = args.size, args.batch
    g = torch.Generator().manual_seed(0)
    plain = nn.Linear(n, n, bias=False).eval()
    analog = xb.AnalogLinear(n, n, device="pcm_ibm", io=xb.IOParameters())
    analog.set_weights(plain.weight.detach())
    analog.generator = torch.Generator().manual_seed(1)
    x = torch.randn(b, n, generator=g)
    spikes = (torch.rand(b, n, generator=g) < 0.1).float()
    analog.program(g).drift(86400.0, g)
    analog.eval()
    with torch.no_grad():
        t_an, t_plain, r_an = paired(lambda: analog(x), lambda: plain(x), args.repeats)
        t_sp, _, r_sp = paired(lambda: analog(spikes), lambda: plain(x), args.repeats)
        t_prog, _, r_prog = paired(lambda: analog.program(g).drift(86400.0, g), lambda: plain(x),
                                   max(3, args.repeats // 4))
    print(f"{n} x {n}, batch {b}, {args.threads} thread(s), {args.repeats} paired repeats "
          "(best times; ratio = median of the per-repeat ratios)")
    print(f"  nn.Linear forward                 {1e3 * t_plain:8.3f} ms")
    print(f"  AnalogLinear forward (analog in)  {1e3 * t_an:8.3f} ms   ratio {r_an:6.2f}x")
    print(f"  AnalogLinear forward (spikes in)  {1e3 * t_sp:8.3f} ms   ratio {r_sp:6.2f}x")
    print(f"  program + drift(1 day)            {1e3 * t_prog:8.3f} ms   ratio {r_prog:6.2f}x (vs one forward)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
