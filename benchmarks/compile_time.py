"""Compile time of a fresh install (issue 16, item 2): the quickstart's first run with an empty
numba cache ("cold") and again with the cache it left ("warm"), each in its own process, with the
kernels of this tree and, for the ratio, with the single-file kernels of an earlier commit.

    .venv/bin/python benchmarks/compile_time.py --rounds 3
    .venv/bin/python benchmarks/compile_time.py --rounds 3 --baseline 1c73659 --json benchmarks/results/compile_time.json
    .venv/bin/python benchmarks/compile_time.py --rounds 1 --threads 2      # the threaded kernel

Every process gets its own fresh ``NUMBA_CACHE_DIR`` (a temporary directory), so the caches the
project's other users share are never touched. Reported per run: ``compile_s`` (numba's time in
the run, compiling or loading from the cache; ``Recording.timing``), ``jit_compile_s`` (fresh
compiles alone), the run's CPU time and its wall time. On a loaded machine wall time is
CPU time stretched by waiting for a core; CPU time is the steadier figure.

The baseline (``--baseline COMMIT``) is this tree with ``spiking/engines/kernels.py`` taken from
COMMIT (``git show``, read-only) and the few names the current ``event.py`` calls added on top,
imported in place of the installed package: the same event engine, the old kernels.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, tempfile
base = {base!r}
if base:   # import the baseline tree instead of the installed (editable) package
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f)]
    sys.path.insert(0, base)
c0, w0 = time.process_time(), time.perf_counter()
import spiking
from spiking.experiments import quickstart
c1, w1 = time.process_time(), time.perf_counter()
with tempfile.TemporaryDirectory() as out:
    m = quickstart.run(out, seed=1, n_neurons={n}, duration={duration}, threads={threads})
c2, w2 = time.process_time(), time.perf_counter()
print("RESULT " + json.dumps({{"spiking": spiking.__file__, "import_s": w1 - w0, "run_cpu_s": c2 - c1,
                              "run_wall_s": w2 - w1, "compile_s": m["compile_s"],
                              "jit_compile_s": m["jit_compile_s"], "simulate_s": m["simulate_s"],
                              "threads": m["threads"], "spikes": m["ledger"]["spikes"]}}))
"""

SHIM = '''

# benchmarks/compile_time.py baseline: the names the current event.py calls, over the old kernels
from ._threads import available_cores, check_threads, clock_run_threads, plan_for, plan_threads  # noqa
from ._timing import compile_timer  # noqa


def clock_kernel(pop_kind):
    return clock_run
'''


def _child(cache_dir, base, n, duration, threads):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), MPLBACKEND="Agg")
    code = CHILD.format(base=base, n=n, duration=duration, threads=threads)
    p = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(ROOT), capture_output=True, text=True)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if p.returncode != 0 or line is None:
        raise RuntimeError(f"child failed (rc {p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def _baseline_tree(commit, tmp):
    """This tree's spiking/ with engines/kernels.py from ``commit`` (plus SHIM), the other
    subpackages linked in, under ``tmp``."""
    base = Path(tmp) / "baseline"
    shutil.copytree(ROOT / "spiking", base / "spiking", ignore=shutil.ignore_patterns("__pycache__"))
    old = subprocess.run(["git", "show", f"{commit}:spiking/engines/kernels.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    (base / "spiking" / "engines" / "kernels.py").write_text(old + SHIM)
    for sub in ("experiments", "hardware", "datasets"):
        (base / "spiking" / sub).symlink_to(ROOT / sub, target_is_directory=True)
    return str(base)


def measure(label, base, rounds, n, duration, threads):
    runs = []
    for r in range(rounds):
        with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
            cold = _child(cache, base, n, duration, threads)
            warm = _child(cache, base, n, duration, threads)
        runs.append({"cold": cold, "warm": warm})
        print(f"  {label} round {r + 1}: cold compile {cold['compile_s']:.2f} s (cpu of run {cold['run_cpu_s']:.2f} s), "
              f"warm {warm['compile_s']:.2f} s; simulate {cold['simulate_s']:.3f} s", flush=True)
    med = {k: {f: statistics.median(x[k][f] for x in runs) for f in ("compile_s", "jit_compile_s", "run_cpu_s",
                                                                    "run_wall_s", "simulate_s")}
           for k in ("cold", "warm")}
    return {"label": label, "runs": runs, "median": med}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--neurons", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--threads", type=int, default=None, help="engine threads (default: the engine's default)")
    ap.add_argument("--baseline", default=None, help="a git commit whose kernels.py to compare with")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"quickstart ({a.neurons} neurons, {a.duration:g} ms), fresh numba cache per round; "
          f"{os.cpu_count()} cores, load average {load:.2f}")
    results = {"load_1min_at_start": load, "cpu_count": os.cpu_count(), "neurons": a.neurons,
               "duration_ms": a.duration, "threads": a.threads, "sets": []}
    with tempfile.TemporaryDirectory() as tmp:
        sets = [("this tree", "")]
        if a.baseline:
            sets.append((f"kernels of {a.baseline}", _baseline_tree(a.baseline, tmp)))
        for label, base in sets:
            results["sets"].append(measure(label, base, a.rounds, a.neurons, a.duration, a.threads))
    for s in results["sets"]:
        c, w = s["median"]["cold"], s["median"]["warm"]
        print(f"{s['label']:>24}: cold compile {c['compile_s']:.2f} s wall, run cpu {c['run_cpu_s']:.2f} s; "
              f"warm (cache load) {w['compile_s']:.2f} s; simulate {c['simulate_s']:.3f} s  (medians)")
    if len(results["sets"]) == 2:
        new, old = (s["median"]["cold"] for s in results["sets"])
        results["ratio_cold_compile_old_over_new"] = old["compile_s"] / new["compile_s"]
        results["ratio_cold_cpu_old_over_new"] = old["run_cpu_s"] / new["run_cpu_s"]
        print(f"cold compile: old / new = {results['ratio_cold_compile_old_over_new']:.2f} (wall), "
              f"{results['ratio_cold_cpu_old_over_new']:.2f} (cpu)")
    same = len({json.dumps(r[k]["spikes"], sort_keys=True) for s in results["sets"] for r in s["runs"]
                for k in ("cold", "warm")}) == 1
    print(f"same spike counts in every run: {same}")
    results["same_spikes"] = same
    results["load_1min_at_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if a.json:
        sys.path.insert(0, str(ROOT))
        from spiking.atomic import write_text_atomic
        a.json.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(a.json, json.dumps(results, indent=2))
        print(f"wrote {a.json}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
