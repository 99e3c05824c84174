"""CA3 content-addressable memory (Casanueva-Morato et al. 2024) against the authors' SpiNNaker spike tables.

``spiking run ca3-cam --experiment {1,2,3} --out DIR`` rebuilds one of the authors' experiments
(D. Casanueva-Morato et al., "Bio-inspired computational memory model of the Hippocampus: an
approach to a neuromorphic spike-based Content-Addressable Memory", Neural Networks 178:106474,
2024), simulates it with the event engine and writes

* ``DIR/spikes.csv``: the spike table in exactly the format of the authors' ``spikes.csv``
  (``TimeStamp (ms)``, then one column per population, the ids that fired as ``[0, 1]`` or ``-``);
* ``DIR/spikes.png``: a raster of every population;
* ``DIR/summary.json``: rows identical to the golden table, the rows whose spikes do not depend
  on plasticity, and every operation's decoded answer next to the ideal memory's.

Experiments (inputs):

1. functional test, 5 cues x 10 bits, 9 operations 10 ms apart: the operations are those of the
   authors' test script, written out below; their input spikes equal the golden table's input rows;
2. stress test, 5 x 10, 60 operations 14 ms apart: input spikes read from the authors'
   ``tb/tb2_piramidal_cont/input_spikes.txt``; the operations are recovered from them;
3. state map, 16 cells x 6 flags of a 4x4 grid: 16 learning operations 7 ms apart, then 4 recalls
   by content 6 ms apart; written out below, checked against the golden input rows.

The data folder is ``$SPIKING_DATA`` or, when unset, ``<repository>/../shared/data``; this module
reads ``ca3_cam/`` in it.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from spiking.atomic import atomic_path, write_text_atomic
from spiking.models.ca3 import CA3Memory, CA3Result, IdealCAM, Learn, RecallByContent, RecallByCue
from spiking.plasticity import PairSTDP

DATASET = "ca3_cam"
HEADER = ["TimeStamp (ms)", "INcue", "INcont", "CA3cueCueRecall", "CA3contCueRecall", "CA3contCond",
          "CA3contCondInt", "CA3cueContRecall", "CA3contContRecall", "CA3MergeCue", "CA3MergeCont",
          "OUTcue", "OUTcont"]
# golden table column -> our population
COLUMN_POPULATION = {h: h for h in HEADER[1:]}
COLUMN_POPULATION.update({"CA3MergeCue": "CA3mergeCue", "CA3MergeCont": "CA3mergeCont"})

# the 4x4 map of experiment 3 (state of each cell, row-major): 0 unknown, 1 start, 2 goal,
# 3 free, 4 path, 5 obstacle
STATE_MAP = [[0, 5, 1, 3],
             [0, 3, 4, 5],
             [0, 5, 4, 3],
             [2, 4, 4, 3]]

EXPERIMENTS = {
    1: dict(folder="1_learn_recall_by_cue_and_cont_forget", cues=5, bits=10, duration=90),
    2: dict(folder="2_tb2_piramidal_sequence_cont", cues=5, bits=10, duration=851,
            inputs="tb/tb2_piramidal_cont/input_spikes.txt"),
    3: dict(folder="3_state_map_app", cues=16, bits=6, duration=140),
}


# -- data location ---------------------------------------------------------------------------

def data_root() -> Path:
    """``$SPIKING_DATA`` if set, else ``<repository>/../shared/data`` (the repository root is the
    parent of this ``experiments`` folder)."""
    env = os.environ.get("SPIKING_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def dataset_dir() -> Path:
    return data_root() / DATASET


def require_data() -> Path:
    d = dataset_dir()
    if not (d / "results").is_dir():
        raise FileNotFoundError(f"CA3 recordings not found at {d}: set SPIKING_DATA to the folder holding "
                                f"{DATASET}/ (README.md, results/, tb/)")
    return d


# -- the experiments' operations -----------------------------------------------------------------

def operations(experiment: int):
    """(memory size (C, N), operations, start steps, duration ms, input spikes) of an experiment."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment={experiment!r}: expected one of {sorted(EXPERIMENTS)}")
    spec = EXPERIMENTS[experiment]
    mem = CA3Memory(spec["cues"], spec["bits"])
    if experiment == 1:
        ops = [Learn(0, [0, 1, 8, 9]), Learn(4, [1, 5, 6]), Learn(3, [4, 5, 6]), RecallByCue(0),
               RecallByContent([6]), RecallByContent([0, 4]), Learn(3, [1, 3, 4, 8]), RecallByCue(3),
               RecallByContent([6])]
        starts = [10 * k for k in range(len(ops))]
        inputs = mem.inputs_at(ops, starts)
    elif experiment == 3:
        cells = [state for row in STATE_MAP for state in row]
        ops = [Learn(cell, [state]) for cell, state in enumerate(cells)]
        ops += [RecallByContent([1, 2, 4]), RecallByContent([3]), RecallByContent([5]), RecallByContent([0])]
        starts = [7 * k for k in range(16)] + [112, 118, 124, 130]
        inputs = mem.inputs_at(ops, starts)
    else:
        path = require_data() / spec["inputs"]
        inputs = read_input_file(path, spec["cues"], spec["bits"])
        ops, starts = operations_from_inputs(*inputs)
    return mem, ops, starts, spec["duration"], inputs


def read_input_file(path, n_cues, n_bits):
    """The authors' ``input_spikes.txt`` (JSON: ``cue`` and ``cont`` spike-time lists per neuron)."""
    info = json.loads(Path(path).read_text())
    for key, n in (("cue", n_cues), ("cont", n_bits)):
        if key not in info or len(info[key]) != n:
            raise ValueError(f"{path}: expected {n} spike lists under {key!r}")
    ct = [float(t) for times in info["cue"] for t in times]
    ci = [i for i, times in enumerate(info["cue"]) for _ in times]
    nt = [float(t) for times in info["cont"] for t in times]
    ni = [i for i, times in enumerate(info["cont"]) for _ in times]
    return np.asarray(ct), np.asarray(ci, np.int64), np.asarray(nt), np.asarray(ni, np.int64)


def operations_from_inputs(cue_times, cue_ids, cont_times, cont_ids):
    """Recover operations from input spikes: spikes in consecutive steps form one operation; cue
    and content held for several steps is learning, a lone cue spike recall by cue, lone content
    spikes recall by content."""
    events = {}
    for t, i in zip(np.rint(cue_times).astype(int), cue_ids):
        events.setdefault(int(t), (set(), set()))[0].add(int(i))
    for t, i in zip(np.rint(cont_times).astype(int), cont_ids):
        events.setdefault(int(t), (set(), set()))[1].add(int(i))
    ops, starts = [], []
    steps = sorted(events)
    k = 0
    while k < len(steps):
        group = [steps[k]]
        while k + 1 < len(steps) and steps[k + 1] == group[-1] + 1:
            k += 1
            group.append(steps[k])
        k += 1
        first = events[group[0]]
        if any(events[s] != first for s in group):
            raise ValueError(f"input spikes at steps {group}: expected the same neurons in every step of an operation")
        cues, content = first
        if len(group) > 1 and len(cues) == 1 and content:
            ops.append(Learn(next(iter(cues)), sorted(content), duration=len(group)))
        elif len(group) == 1 and len(cues) == 1 and not content:
            ops.append(RecallByCue(next(iter(cues))))
        elif len(group) == 1 and not cues and content:
            ops.append(RecallByContent(sorted(content)))
        else:
            raise ValueError(f"input spikes at steps {group} (cues {sorted(cues)}, content {sorted(content)}): "
                             "not a learn / recall-by-cue / recall-by-content operation")
        starts.append(group[0])
    return ops, starts


# -- spike tables ------------------------------------------------------------------------------

def _cell(ids) -> str:
    return "[" + ", ".join(str(i) for i in ids) + "]" if len(ids) else "-"


def spike_table(rec, n_steps: int) -> list[list[str]]:
    """The recording as the authors' table: one row per step, ``HEADER`` columns."""
    cols = []
    for h in HEADER[1:]:
        st = rec.spikes[COLUMN_POPULATION[h]]
        steps = np.rint(st.times / rec.dt).astype(np.int64)
        col = [[] for _ in range(n_steps)]
        for s, i in sorted(zip(steps.tolist(), st.ids.tolist())):
            if 0 <= s < n_steps:
                col[s].append(i)
        cols.append([_cell(sorted(set(c))) for c in col])
    return [[str(t)] + [c[t] for c in cols] for t in range(n_steps)]


def read_golden(experiment: int) -> list[list[str]]:
    """Rows (without the header) of the authors' table; the header is checked against ``HEADER``."""
    path = require_data() / "results" / EXPERIMENTS[experiment]["folder"] / "spikes.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if rows[0] != HEADER:
        raise ValueError(f"{path}: header {rows[0]}, expected {HEADER}")
    return [_normalise(r) for r in rows[1:]]


def _normalise(row):
    out = [row[0].strip()]
    for cell in row[1:]:
        cell = cell.strip()
        if cell in ("-", ""):
            out.append("-")
        else:
            ids = sorted(int(x) for x in cell.strip("[]").split(",") if x.strip())
            out.append(_cell(ids))
    return out


def input_table_matches(table, golden) -> bool:
    """Do our input columns (INcue, INcont) equal the golden ones on every row?"""
    return len(table) == len(golden) and all(a[1:3] == b[1:3] for a, b in zip(table, golden))


def write_csv(table, path):
    with atomic_path(path, ".csv") as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(HEADER)
            w.writerows(table)


# -- running ---------------------------------------------------------------------------------

BACKENDS = ("float", "spinnaker1")


def run(experiment: int, stdp: PairSTDP | None = None, progress=None, backend: str = "float"):
    """Simulate an experiment. Returns (result, table) with ``result`` a ``CA3Result``.

    ``backend``: "float" (the event engine) or "spinnaker1" (mapped and run in fixed point by
    ``spiking.hardware.spinnaker``)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: expected one of {BACKENDS}")
    mem, ops, starts, duration, inputs = operations(experiment)
    if stdp is not None:
        mem = CA3Memory(mem.n_cues, mem.n_bits, stdp)
    if backend == "float":
        result = mem.run_inputs(ops, starts, *inputs, duration=duration, progress=progress)
    else:
        from spiking.hardware.spinnaker import SpiNNakerEngine
        net = mem.network(*inputs)
        rec = SpiNNakerEngine(net, backend).run(float(duration), progress=progress)
        result = CA3Result(mem, list(ops), list(starts), rec, mem.decode(rec, ops, starts, duration), net)
    return result, spike_table(result.recording, duration)


def plasticity_free_rows(experiment: int, golden) -> np.ndarray:
    """Rows whose golden spikes do not depend on plasticity: the rows that the memory with its
    plastic synapses frozen at 0 (no learning) reproduces exactly."""
    frozen = PairSTDP(a_plus=0.0, a_minus=0.0, w_min=0.0, w_max=6.0)
    _, table = run(experiment, frozen)
    return np.array([a == b for a, b in zip(table, golden)], dtype=bool)


def compare(experiment: int, stdp: PairSTDP | None = None, golden: bool = True, backend: str = "float") -> dict:
    """Our table against the golden one, row by row (``golden=False``: no comparison, for runs
    without the recordings); decoded answers against the ideal memory."""
    gold = read_golden(experiment) if golden else None
    t0 = time.perf_counter()
    result, table = run(experiment, stdp, backend=backend)
    wall = time.perf_counter() - t0
    ideal = IdealCAM()
    answers = []
    for a in result.answers:
        cues, content = ideal.apply(a.op)
        answers.append({"start_ms": a.start, "operation": _describe(a.op),
                        "decoded": {"cues": list(a.cues), "content": list(a.content)},
                        "ideal": {"cues": list(cues), "content": list(content)},
                        "correct": (a.cues, a.content) == (cues, content)})
    summary = {
        "experiment": experiment,
        "backend": backend,
        "folder": EXPERIMENTS[experiment]["folder"],
        "memory": {"cues": result.memory.n_cues, "bits": result.memory.n_bits,
                   "neurons": result.memory.n_neurons, "plastic_synapses": result.memory.n_plastic_synapses},
        "stdp": result.memory.stdp.parameters(),
        "rows": len(table),
        "operations": len(result.ops),
        "operations_correct": int(sum(a["correct"] for a in answers)),
        "answers": answers,
        "wall_s": wall,
        "_table": table,
        "_golden": gold,
        "_result": result,
    }
    if gold is not None:
        same = np.array([a == b for a, b in zip(table, gold)], dtype=bool)
        free = plasticity_free_rows(experiment, gold)
        summary.update({
            "rows": len(gold),
            "rows_identical": int(same.sum()),
            "differing_rows": [int(i) for i in np.flatnonzero(~same)],
            "plasticity_free_rows": int(free.sum()),
            "plasticity_free_rows_identical": int((same & free).sum()),
            "inputs_identical": input_table_matches(table, gold),
        })
    return summary


def _describe(op) -> str:
    if isinstance(op, Learn):
        return f"learn cue {op.cue} <- {list(op.content)}"
    if isinstance(op, RecallByCue):
        return f"recall by cue {op.cue}"
    return f"recall by content {list(op.fragment)}"


def raster(result, path, golden=None, title=""):
    """Raster of every population (our spikes; golden spikes as open circles when given)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = result.recording
    cols = HEADER[1:]
    sizes = [rec.spikes[COLUMN_POPULATION[h]].size for h in cols]
    fig, ax = plt.subplots(figsize=(max(8, min(24, rec.duration / 25)), 7))
    base = 0
    colors = plt.cm.tab20(np.linspace(0, 1, len(cols)))
    ticks = []
    for k, (h, n) in enumerate(zip(cols, sizes)):
        st = rec.spikes[COLUMN_POPULATION[h]]
        ax.scatter(st.times, st.ids + base, s=9, color=colors[k], marker="o", linewidths=0)
        if golden is not None:
            gt, gi = [], []
            for row in golden:
                cell = row[k + 1]
                if cell != "-":
                    for i in cell.strip("[]").split(","):
                        gt.append(int(row[0]))
                        gi.append(int(i) + base)
            ax.scatter(gt, gi, s=30, facecolors="none", edgecolors=colors[k], linewidths=0.6)
        ticks.append(base + (n - 1) / 2)
        base += n
        ax.axhline(base - 0.5, color="0.85", lw=0.5)
    ax.set_yticks(ticks)
    ax.set_yticklabels(cols, fontsize=7)
    ax.set_xlabel("time (ms)")
    ax.set_xlim(-1, rec.duration)
    ax.set_ylim(-1, base)
    ax.set_title(title or "CA3 memory (filled: this simulation; open circles: authors' SpiNNaker recording)",
                 fontsize=9)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


# -- command line ------------------------------------------------------------------------------

def add_arguments(parser):
    parser.add_argument("--experiment", type=int, choices=sorted(EXPERIMENTS), default=1,
                        help="1: functional test, 2: 60-operation stress test, 3: 4x4 state map")
    parser.add_argument("--out", type=Path, default=Path("out/ca3_cam"), help="output folder")
    parser.add_argument("--backend", choices=BACKENDS, default="float",
                        help="float: the event engine; spinnaker1: mapped on SpiNNaker 1 and run in fixed point")
    g = parser.add_argument_group("STDP conventions (defaults: sPyNNaker 7, the setting that reproduces "
                                  "the recordings)")
    g.add_argument("--update", choices=("deferred", "online"), default="deferred",
                   help="apply updates at presynaptic spikes (sPyNNaker) or as spikes reach the synapse")
    g.add_argument("--clip", choices=("each", "end"), default="each",
                   help="bound the weight after each update, or once per deferred update (sPyNNaker <= 6)")
    g.add_argument("--traces", choices=("all-to-all", "nearest"), default="all-to-all")
    g.add_argument("--no-zero-lag-depression", action="store_true",
                   help="a postsynaptic spike at zero lag does not depress (NEST, sPyNNaker <= 6)")
    g.add_argument("--no-backprop-delay", action="store_true",
                   help="do not shift postsynaptic spike times by the dendritic delay")
    g.add_argument("--amplitude", choices=("absolute", "wmax"), default="absolute",
                   help="A+ = A- = 6 as nA (sPyNNaker 7) or times w_max (PyNN, sPyNNaker <= 6)")


def stdp_from_args(args) -> PairSTDP:
    """The rule selected by the command-line switches (defaults: ``ca3.default_stdp()``)."""
    from spiking.models.ca3 import STDP_PUBLISHED
    p = dict(STDP_PUBLISHED)
    scale = p["w_max"] if args.amplitude == "wmax" else 1.0
    return PairSTDP(tau_plus=p["tau_plus"], tau_minus=p["tau_minus"], a_plus=p["A_plus"] * scale,
                    a_minus=p["A_minus"] * scale, w_min=p["w_min"], w_max=p["w_max"], traces=args.traces,
                    update=args.update, clip=args.clip, zero_lag_depression=not args.no_zero_lag_depression,
                    backprop_delay=not args.no_backprop_delay,
                    post_history=16 if args.update == "deferred" else 0)


def main(args) -> int:
    have = (dataset_dir() / "results").is_dir()
    if not have and args.experiment == 2:   # its inputs are the authors' test bench
        print(f"experiment 2 reads its inputs from {dataset_dir() / EXPERIMENTS[2]['inputs']}: not found "
              "(set SPIKING_DATA to the folder holding ca3_cam/)", file=sys.stderr)
        return 2
    summary = compare(args.experiment, stdp_from_args(args), golden=have, backend=args.backend)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(summary["_table"], out / "spikes.csv")
    if have:
        title = (f"CA3 memory, experiment {args.experiment}: {summary['rows_identical']}/{summary['rows']} rows "
                 "identical to the authors' SpiNNaker recording (open circles)")
    else:
        title = f"CA3 memory, experiment {args.experiment} (authors' recording not available)"
    raster(summary["_result"], out / "spikes.png", summary["_golden"], title)
    public = {k: v for k, v in summary.items() if not k.startswith("_")}
    write_text_atomic(out / "summary.json", json.dumps(public, indent=2))
    if have:
        print(f"experiment {args.experiment} ({summary['folder']}): {summary['rows_identical']}/{summary['rows']} "
              f"rows identical to the golden table; plasticity-free rows "
              f"{summary['plasticity_free_rows_identical']}/{summary['plasticity_free_rows']}")
        if summary["differing_rows"]:
            print(f"differing rows (ms): {summary['differing_rows']}")
    else:
        print(f"experiment {args.experiment}: recordings not found at {dataset_dir()} (set SPIKING_DATA): "
              "no row comparison")
    print(f"operations answered as the ideal memory: {summary['operations_correct']}/{summary['operations']}")
    print(f"wrote {out}/spikes.csv, {out}/spikes.png, {out}/summary.json")
    return 0
