"""Energy of a recording (or of a network, simulated first) on modelled hardware targets.

``spiking energy RECORDING_OR_NETWORK.h5 --targets loihi,spinnaker1,cpu --mode all --out DIR``
prints a table (J per inference, split into compute / memory / communication / conversion /
static, with the source of every number) and writes ``DIR/energy.json`` and ``DIR/energy.png``.
A network file is simulated with the event engine for ``--duration`` ms first; a ``.json`` file
holds one activity ledger (``ActivityLedger.to_dict()``, as the main job writes them). Hardware mode
needs a recording made by a backend (its counts in ``ledger.backend``); with ``--mode all`` a
target whose backend counts are missing is listed as skipped.
"""
from __future__ import annotations

from pathlib import Path

DEFAULT_TARGETS = "horowitz45,loihi,truenorth,spinnaker1,spinnaker2,cpu,gpu"


def add_arguments(parser):
    parser.add_argument("path", type=Path, nargs="?",
                        help="a Recording (.h5), a Network (.h5) or an activity ledger (.json)")
    parser.add_argument("--targets", default=DEFAULT_TARGETS, help=f"comma-separated targets (default {DEFAULT_TARGETS})")
    parser.add_argument("--mode", default="all", choices=("ops", "memory", "hardware", "all"))
    parser.add_argument("--duration", type=float, default=None, help="ms to simulate when PATH is a network")
    parser.add_argument("--seed", type=int, default=0, help="seed of the network's Poisson sources")
    parser.add_argument("--out", type=Path, default=Path("out/energy"), help="folder for energy.json and energy.png")
    parser.add_argument("--list-targets", action="store_true", help="list the known targets and their modes")


def _load(path: Path, duration, seed):
    import h5py
    import numpy as np

    from spiking import EventEngine, Network, Recording

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (expected a Recording or Network .h5, or a ledger .json)")
    if path.suffix == ".json":          # an ActivityLedger.to_dict(), e.g. the main job's ledger_*.json
        import json

        from spiking.recording import ActivityLedger
        d = json.loads(path.read_text())
        if not isinstance(d, dict) or "spikes" not in d or "neuron_updates" not in d:
            raise ValueError(f"{path}: expected an activity ledger (ActivityLedger.to_dict()) in JSON")
        return ActivityLedger.from_dict(d), "ledger"
    with h5py.File(path, "r") as f:
        is_recording = "ledger" in f.attrs
    if is_recording:
        return Recording.load(path), "recording"
    net = Network.load(path)
    if duration is None or not duration > 0:
        raise ValueError(f"{path} holds a network: pass --duration MS (a positive number) to simulate it first")
    return EventEngine(net).run(duration, rng=np.random.default_rng(seed)), f"network simulated {duration:g} ms"


def run(path, targets=DEFAULT_TARGETS, mode="all", out=Path("out/energy"), duration=None, seed=0) -> dict:
    from . import bar_chart, compare, table, write_json

    rec, what = _load(Path(path), duration, seed)
    names = [t.strip() for t in (targets.split(",") if isinstance(targets, str) else targets) if t.strip()]
    ests, skipped = compare(rec, names, (mode,))
    out = Path(out)
    write_json(out / "energy.json", ests, {"input": str(path), "input_kind": what, "skipped": skipped})
    if ests:
        bar_chart(out / "energy.png", ests, title=f"energy per inference: {Path(path).name}")
    return {"estimates": ests, "skipped": skipped, "table": table(ests), "out": out}


def main(args) -> int:
    from .tables import PRESETS

    if args.list_targets:
        for name, p in sorted(PRESETS.items()):
            print(f"{name:<18}{','.join(p.modes):<22}{p.citation[:90]}")
        return 0
    if args.path is None:
        raise SystemExit("spiking energy: give a RECORDING_OR_NETWORK .h5 file (or --list-targets)")
    r = run(args.path, args.targets, args.mode, args.out, args.duration, args.seed)
    print(r["table"])
    for s in r["skipped"]:
        print(f"skipped: {s}")
    print(f"files: {r['out'] / 'energy.json'}, {r['out'] / 'energy.png'}")
    return 0
