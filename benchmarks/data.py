"""Data-loading throughput on real N-MNIST: tonic against spiking.datasets, raw and cached.

Three paths produce the same frames from the same recordings (data_root()/nmnist/Train by default):

* ``tonic``: ``tonic.datasets.NMNIST`` + ``tonic.transforms.ToFrame(time_window, include_incomplete=True)``,
  tonic's own reader and framing. tonic expects ``<save_to>/<class name>/Train`` and insists on
  downloading when it does not find its zip and 10,000 files, so it is pointed at a temporary
  folder holding a symlink to our ``Train`` folder, and its existence check is overridden to
  "present" (nothing is copied or downloaded).
* ``spiking-raw``: ``spiking.datasets.NMNIST`` + ``ToFrames(time_window)``: read and frame every epoch.
* ``spiking-cached``: the same wrapped in ``CachedDataset``: frames read back from the HDF5 cache
  (built once before timing; its build time is reported separately).

The frames are the same ``[T, 2, 34, 34]`` int16 counts in 10 ms windows on all paths; the script
checks that they are identical sample by sample before timing. Each path runs one untimed warm-up
epoch, then ``--repeats`` timed epochs; the median epoch gives samples per second.

    python benchmarks/data.py --json benchmarks/results/data.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def epoch_seconds(dataset) -> float:
    start = time.perf_counter()
    for index in range(len(dataset)):
        dataset[index]
    return time.perf_counter() - start


def component_timings(files, ours_transform, tonic_transform, repeats: int) -> dict:
    """Median microseconds per sample of the two stages, reader and framing, on both sides."""
    import tonic.io

    from spiking.datasets import read_nmnist_bin

    tonic_dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])  # tonic.datasets.NMNIST.dtype
    events = [read_nmnist_bin(path) for path in files]
    tonic_events = [tonic.io.read_mnist_file(str(path), dtype=tonic_dtype) for path in files]

    def per_sample(function, items) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for item in items:
                function(item)
            times.append((time.perf_counter() - start) / len(items) * 1e6)
        return statistics.median(times)

    return {
        "read": {
            "spiking": per_sample(read_nmnist_bin, files),
            "tonic": per_sample(lambda path: tonic.io.read_mnist_file(str(path), dtype=tonic_dtype), files),
        },
        "frames": {
            "spiking": per_sample(ours_transform, events),
            "tonic": per_sample(tonic_transform, tonic_events),
        },
    }


def tonic_dataset(train_dir: Path, workdir: Path, transform):
    import tonic.datasets

    class NMNISTOnLocalFiles(tonic.datasets.NMNIST):
        def _check_exists(self):  # the files are already here: never download
            return True

    # tonic looks in <save_to>/<class name>/Train
    location = workdir / NMNISTOnLocalFiles.__name__
    location.mkdir(parents=True)
    (location / "Train").symlink_to(train_dir.resolve(), target_is_directory=True)
    return NMNISTOnLocalFiles(save_to=str(workdir), train=True, transform=transform)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the results (JSON)")
    parser.add_argument("--root", type=Path, default=None, help="N-MNIST root (default: data_root()/nmnist)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per path (median is reported)")
    parser.add_argument("--time-window", type=int, default=10_000, help="frame width in microseconds")
    parser.add_argument("--cache-dir", type=Path, default=None, help="cache folder (default: a temporary one)")
    args = parser.parse_args(argv)

    import tonic
    import tonic.transforms

    from spiking.datasets import NMNIST, CachedDataset, ToFrames, data_root

    root = args.root or data_root() / "nmnist"
    if not (root / "Train").is_dir():
        print(f"no N-MNIST Train folder under {root}; set SPIKING_DATA or pass --root", file=sys.stderr)
        return 2

    sensor = NMNIST.sensor_size
    ours_transform = ToFrames(sensor, time_window=args.time_window, dtype="int16")
    tonic_transform = tonic.transforms.ToFrame(sensor_size=sensor, time_window=args.time_window, include_incomplete=True)

    with tempfile.TemporaryDirectory(prefix="spiking-bench-data-") as scratch:
        scratch = Path(scratch)
        theirs = tonic_dataset(root / "Train", scratch / "tonic", tonic_transform)
        ours = NMNIST(root, "train+val", transform=ours_transform)
        if len(theirs) != len(ours):
            print(f"tonic sees {len(theirs)} recordings, spiking.datasets {len(ours)}", file=sys.stderr)
            return 1

        cache_dir = args.cache_dir or scratch / "cache"
        build_start = time.perf_counter()
        cached = CachedDataset(ours, cache_dir)
        build_s = time.perf_counter() - build_start

        # Same frames on every path, sample by sample (tonic orders files the same way: digit, name).
        different = 0
        for index in range(len(ours)):
            a, label = theirs[index]
            b, label_b = ours[index]
            c, label_c = cached[index]
            if not (label == label_b == label_c and a.shape == b.shape == c.shape and np.array_equal(a, b)
                    and np.array_equal(b, c)):
                different += 1
        print(f"{len(ours)} recordings, frames identical on all paths: {different == 0} ({different} differ)")

        components = component_timings(ours.files, ours_transform, tonic_transform, args.repeats)
        for stage, timing in components.items():
            print(f"{stage:6s} per sample: spiking {timing['spiking']:6.1f} us, tonic {timing['tonic']:6.1f} us")

        paths = {"tonic": theirs, "spiking-raw": ours, "spiking-cached": cached}
        results = []
        for name, dataset in paths.items():
            epoch_seconds(dataset)  # warm-up: page cache, imports, lazily opened handles
            times = [epoch_seconds(dataset) for _ in range(args.repeats)]
            median = statistics.median(times)
            results.append({
                "path": name,
                "samples_per_s": len(dataset) / median,
                "epoch_s_median": median,
                "epoch_s": times,
                "samples": len(dataset),
            })
            print(f"{name:15s} {len(dataset) / median:10.0f} samples/s   epoch {median * 1e3:8.1f} ms (median of {args.repeats})")
        cache_bytes = cached.path.stat().st_size
        cached.close()

    speed = {r["path"]: r["samples_per_s"] for r in results}
    ratios = {
        "spiking-raw/tonic": speed["spiking-raw"] / speed["tonic"],
        "spiking-cached/tonic": speed["spiking-cached"] / speed["tonic"],
        "spiking-cached/spiking-raw": speed["spiking-cached"] / speed["spiking-raw"],
    }
    for key, value in ratios.items():
        print(f"{key:28s} {value:6.1f}x")
    target = ratios["spiking-cached/tonic"] >= 20
    print(f"target: cached epoch >= 20x tonic's uncached epoch: {'met' if target else 'NOT met'}")

    report = {
        "benchmark": "data",
        "command": "python benchmarks/data.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": f"N-MNIST Train ({len(ours)} recordings) under {root}",
        "frames": {"time_window_us": args.time_window, "sensor_size": list(sensor), "dtype": "int16",
                   "tonic": repr(tonic_transform), "spiking": repr(ours_transform)},
        "frames_identical": different == 0,
        "repeats": args.repeats,
        "cache_build_s": build_s,
        "cache_file_bytes": cache_bytes,
        "results": results,
        "components_us_per_sample": components,
        "ratios": ratios,
        "target_cached_20x_met": target,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "tonic": tonic.__version__,
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.json.with_name(f".{args.json.name}.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(temporary, args.json)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
