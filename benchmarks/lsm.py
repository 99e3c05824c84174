"""LSM feature extraction: the reservoir in the event engine against the same reservoir as a dense
recurrence (torch, and numpy), on the whole shared N-MNIST set, in one run.

    python benchmarks/lsm.py [--threads 1] [--limit N] [--json out.json]

The reservoir is the experiment's (200 units, 50 bins, 2x2-pooled N-MNIST counts, sparse
recurrence, input gain 32 as chosen on validation, ``--gain``; ``spiking.models.lsm``). The event engine runs
one recording after another (``event_spikes``: the network description and engine are built
once, only the input spikes change); the dense versions run batches of recordings. Every version's spikes are compared with
the event engine's (they must agree exactly) and the times and ratios are printed; the faster
one is the experiment's default (``spiking.experiments.lsm`` uses the numpy dense recurrence).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None, help="recordings per split (default: all)")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--gain", type=float, default=32.0, help="input gain (N-MNIST's choice on validation: 32)")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from tqdm.auto import tqdm

    from spiking.experiments.lsm import nmnist_data
    from spiking.models.lsm import Reservoir, ReservoirParams, dense_spikes, event_runner, event_spikes
    from spiking.nn.reservoir import dense_spikes_torch

    data, _, _ = nmnist_data(2, 50, limit=args.limit, progress=False)
    x = np.concatenate([data[s] for s in ("train", "val", "test")], axis=1)
    n = x.shape[1]
    res = Reservoir.seeded(ReservoirParams(n_inputs=x.shape[2], input_gain=args.gain, dt=6.0), 0)
    # warm up (numba compilation, torch first call) on a few recordings
    net, eng = event_runner(res)
    event_spikes(res, x[:, 0], net, eng)
    dense_spikes_torch(res, x[:, :4])

    t = time.perf_counter()
    net, eng = event_runner(res)
    ev = np.stack([event_spikes(res, x[:, b], net, eng) for b in tqdm(range(n), desc="event engine", disable=None)],
                  axis=1)
    t_event = time.perf_counter() - t
    t = time.perf_counter()
    th = dense_spikes_torch(res, x)
    t_torch = time.perf_counter() - t
    t = time.perf_counter()
    nu = dense_spikes(res, x)
    t_numpy = time.perf_counter() - t
    t = time.perf_counter()
    th32 = dense_spikes_torch(res, x, dtype=torch.float32)
    t_torch32 = time.perf_counter() - t
    result = {
        "recordings": int(n), "spikes": int(ev.sum()), "threads": args.threads, "input_gain": args.gain,
        "event_s": t_event, "torch_dense_s": t_torch, "numpy_dense_s": t_numpy, "torch_dense_float32_s": t_torch32,
        "event_over_torch": t_event / t_torch, "event_over_numpy": t_event / t_numpy,
        "torch_equal_event": bool(np.array_equal(th, ev)), "numpy_equal_event": bool(np.array_equal(nu, ev)),
        "torch_float32_mismatched_spikes": int(np.sum(th32 != ev)),
    }
    print(f"{n} recordings, {result['spikes']} reservoir spikes, {args.threads} thread(s)")
    print(f"  event engine        {t_event:8.2f} s")
    print(f"  dense torch (f64)   {t_torch:8.2f} s   event / torch = {result['event_over_torch']:.1f}x   "
          f"same spikes: {result['torch_equal_event']}")
    print(f"  dense numpy (f64)   {t_numpy:8.2f} s   event / numpy = {result['event_over_numpy']:.1f}x   "
          f"same spikes: {result['numpy_equal_event']}")
    print(f"  dense torch (f32)   {t_torch32:8.2f} s   spikes differing from float64: "
          f"{result['torch_float32_mismatched_spikes']}")
    if args.json:
        from spiking.atomic import write_text_atomic
        write_text_atomic(args.json, json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
