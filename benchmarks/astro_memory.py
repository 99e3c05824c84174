"""Delayed recall: the astrocyte-modulated layer against plain and adaptive LIF, equal parameters.

Task (ours): a cue of 5 steps (input channels 0-4 fire with p = 0.8 for class 0, channels 5-9 for
class 1), then ``delay`` steps of background noise (every channel, p = 0.02), then a recall
period of 5 steps in which channels 10-14 fire (p = 0.8) and the readout must name the cue.
20 input channels (15-19: noise only). Loss: cross-entropy of the readout over the recall steps.

Models (one hidden layer, bias-free Linear layers, a LeakyReadout with beta = 0.9; hidden beta =
0.9, i.e. a membrane memory of about 10 steps; BPTT, Adam, learning rate 1e-2):

* ``lif``: ``Linear(20, 57) -> LIF(57)``;
* ``alif``: the same with threshold adaptation (Bellec et al. 2018, LSNN: threshold
  ``1 + 1.8 b``, ``b <- rho b + (1 - rho) s``, rho = exp(-1/200)), fixed adaptation parameters;
* ``astro``: ``Linear(20, 48) -> AstroLIF(48, one astrocyte per neuron, tau_a = 100 steps,
  modulation="current")``;

parameter counts 1254, 1254 and 1248. Results (accuracy on 512 fresh trials per delay) go to
``benchmarks/results/astro_memory.json`` and ``.png``. ``--quick`` runs a short version.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
N_IN, CUE, RECALL = 20, 5, 5


def make_batch(n, delay, gen):
    """x [T, n, 20] (float), labels [n] (long)."""
    T = CUE + delay + RECALL
    y = torch.randint(0, 2, (n,), generator=gen)
    p = torch.full((T, n, N_IN), 0.02)
    cue = torch.zeros(n, N_IN)
    cue[y == 0, 0:5] = 0.8
    cue[y == 1, 5:10] = 0.8
    p[:CUE] = torch.maximum(p[:CUE], cue)
    p[CUE + delay:, :, 10:15] = 0.8
    return (torch.rand(p.shape, generator=gen) < p).float(), y


class ALIF(nn.Module):
    """Adaptive-threshold LIF (Bellec et al. 2018), the baseline with a slow variable of its own."""

    def __init__(self, n, beta=0.9, rho=math.exp(-1 / 200), beta_a=1.8, surrogate="atan"):
        super().__init__()
        from spiking.nn.surrogate import get_surrogate
        self.n, self.beta, self.rho, self.beta_a = n, beta, rho, beta_a
        self.surrogate = get_surrogate(surrogate)

    def forward(self, x, state=None, temporal_grad=True):
        from spiking.nn.surrogate import spike
        v = x.new_zeros(x.shape[1:])
        b = x.new_zeros(x.shape[1:])
        out = []
        for t in range(x.shape[0]):
            v = self.beta * v + x[t]
            z = spike(v - (1.0 + self.beta_a * b), self.surrogate)
            v = v * (1.0 - z)
            b = self.rho * b + (1.0 - self.rho) * z
            out.append(z)
        return torch.stack(out), None


def build(kind):
    import spiking.nn as snn
    if kind == "lif":
        hidden = [snn.Linear(N_IN, 57), snn.LIF(beta=0.9)]
        h = 57
    elif kind == "alif":
        hidden = [snn.Linear(N_IN, 57), ALIF(57)]
        h = 57
    elif kind == "astro":
        hidden = [snn.Linear(N_IN, 48), snn.AstroLIF(48, beta=0.9, tau_a=100.0, k_pre=0.5, k_post=0.0,
                                                      gain_init=0.1)]
        h = 48
    else:
        raise ValueError(f"model {kind!r}: expected lif, alif or astro")
    readout = [snn.Linear(h, 2), snn.LeakyReadout(beta=0.9)]
    return _Stack(hidden + readout)


class _Stack(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                x = layer(x)
            else:
                x, _ = layer(x)
        return x


def n_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _sltt_iteration(model, x, y, loss_fn):
    """SLTT (Meng et al. 2023): one step at a time, the state detached between steps, the loss of
    each recall step backpropagated at once (the astrocyte's parameters learn through the layer's
    forward traces, see spiking.nn.astro)."""
    import spiking.nn as snn
    seq = snn.Sequential(*model.layers)
    state = None
    T = x.shape[0]
    for t in range(T):
        out, state = seq(x[t:t + 1], state, temporal_grad=False)
        if t >= T - RECALL:
            (loss_fn(out[0], y) / RECALL).backward()
        state = seq.detach_state(state)


def train_eval(kind, delay, iters, seed, batch=64, strategy="bptt"):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(kind)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    if strategy not in ("bptt", "sltt"):
        raise ValueError(f"strategy={strategy!r}: expected 'bptt' or 'sltt'")
    for _ in range(iters):
        x, y = make_batch(batch, delay, gen)
        opt.zero_grad()
        if strategy == "sltt":
            _sltt_iteration(model, x, y, loss_fn)
        else:
            out = model(x)[-RECALL:]
            loss = loss_fn(out.flatten(0, 1), y.repeat(RECALL))
            loss.backward()
        opt.step()
    test_gen = torch.Generator().manual_seed(10_000 + seed)
    with torch.no_grad():
        x, y = make_batch(512, delay, test_gen)
        pred = model(x)[-RECALL:].sum(0).argmax(-1)
    return float((pred == y).float().mean()), n_params(model)


def run(delays=(10, 50, 100, 200), iters=200, seeds=(0,), kinds=("lif", "alif", "astro"), out_dir=None):
    from tqdm.auto import tqdm
    torch.set_num_threads(1)
    results = {"delays": list(delays), "iters": iters, "seeds": list(seeds), "accuracy": {}, "params": {},
               "wall_s": {}}
    jobs = [(k, d, s) for k in kinds for d in delays for s in seeds]
    for kind, delay, seed in tqdm(jobs, desc="astro-memory", disable=None):
        t0 = time.perf_counter()
        acc, n = train_eval(kind, delay, iters, seed)
        results["accuracy"].setdefault(kind, {}).setdefault(str(delay), []).append(acc)
        results["params"][kind] = n
        results["wall_s"].setdefault(kind, 0.0)
        results["wall_s"][kind] += time.perf_counter() - t0
    out_dir = Path(out_dir or ROOT / "benchmarks" / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "astro_memory.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for kind, by_delay in results["accuracy"].items():
            ax.plot(delays, [np.mean(by_delay[str(d)]) for d in delays], "o-",
                    label=f"{kind} ({results['params'][kind]} params)")
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("delay (steps)")
        ax.set_ylabel("recall accuracy")
        ax.set_xscale("log")
        ax.legend()
        fig.tight_layout()
        png = out_dir / "astro_memory.png"
        tmp = png.with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, png)
    except ImportError:
        pass
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="delays 5 and 50, 150 iterations")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args(argv)
    if args.quick:
        res = run(delays=(5, 50), iters=150, seeds=tuple(args.seeds))
    else:
        res = run(iters=args.iters, seeds=tuple(args.seeds))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
