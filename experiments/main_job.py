"""The main job: train a spiking network on N-MNIST, simulate it event by event, run it on a
modelled PCM crossbar and on SpiNNaker, and price every run on modelled hardware.

``spiking run main --out DIR`` (or :func:`run` from Python), a few minutes on two cores:

1. **train** (torch, ``spiking.nn``, BPTT): ``Flatten - Linear(2312, H) - LIF - Linear(H, 10) -
   LIF`` on ``T`` binary frames per recording (``experiments.nmnist.load_split``); the class is
   the output neuron with the most spikes; loss: cross-entropy of the output spike counts; Adam.
   The network ends in spiking neurons (no non-spiking readout) so that every backend computes
   the prediction itself.
2. **export** to the network description (:func:`spiking.nn.to_network`) and simulate every test
   recording in the **event engine**: its predictions must be torch's, and its counts
   (``spiking.nn.counts.count_activity``) must equal the engine's ledger, key by key.
3. **crossbar**: the same network on ``pcm_ibm`` tiles (aihwkit's PCM model via
   ``spiking.hardware.crossbar.CrossbarEngine``), read one day after programming with global
   drift compensation.
4. **SpiNNaker**: mapped (``spiking.hardware.spinnaker.map_network``) and run in fixed point on a
   SpiNNaker 1 (and a SpiNNaker 2) machine.
5. **price** each run with ``spiking.hardware.energy.estimate``: the op proxy and the
   memory-inclusive estimate of the float runs on Loihi / TrueNorth / a 45 nm digital design /
   CPU / GPU, and the hardware models of the crossbar and SpiNNaker runs from their own counts.

Files in DIR: ``main.json`` (accuracies, agreement, latencies, every estimate with its items and
sources), ``main_table.txt`` (the printed table), ``energy.png`` (stacked bars per row),
``ledger_<run>.json`` (the combined ledger of each run, for ``spiking energy``) and ``model.pt``. One frame per ms of model time: a frame of 300 ms / T of the sensor is presented in
one 1 ms step, so "latency" is the model time from the first input frame to the last output step.
A backend that cannot be imported or fails is reported as unavailable, with the reason.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

N_IN = 2 * 34 * 34


def add_arguments(parser):
    parser.add_argument("--out", type=Path, default=Path("out/main"), help="output folder")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--time-bins", type=int, default=10, help="frames T per recording")
    parser.add_argument("--beta", type=float, default=0.9, help="membrane decay per step")
    parser.add_argument("--lr", type=float, default=5e-3, help="peak learning rate (one-cycle)")
    parser.add_argument("--max-shift", type=int, default=2, help="random translation in pixels while training")
    parser.add_argument("--spinnaker-tsf", type=float, default=10.0,
                        help="SpiNNaker time scale factor (ticks run this much slower than real time)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--limit", type=int, default=None, help="recordings per split (smoke runs)")
    parser.add_argument("--drift-s", type=float, default=86400.0, help="crossbar read time after programming (s)")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--no-progress", action="store_true")


def build_model(hidden: int, beta: float):
    import spiking.nn as snn

    lif = dict(beta=beta, detach_reset=True, surrogate="atan")
    return snn.Sequential(snn.Flatten(), snn.Linear(N_IN, hidden), snn.LIF(**lif), snn.Linear(hidden, 10),
                          snn.LIF(**lif))


def train(model, x, y, *, epochs, batch_size, lr, seed, max_shift=2, progress=True):
    """BPTT on the cross-entropy of the output spike counts, with random translations of up to
    ``max_shift`` pixels per recording (``experiments.nmnist.ShiftedBatches``, seeded); Adam
    with a one-cycle schedule. Returns the per-epoch history."""
    import torch
    from tqdm.auto import tqdm

    from spiking.experiments.nmnist import ShiftedBatches

    batches = ShiftedBatches(x, y, batch_size, max_shift, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(batches))
    loss_fn = torch.nn.CrossEntropyLoss()
    hist = []
    for ep in range(epochs):
        t0 = time.perf_counter()
        tot, correct = 0.0, 0
        bar = tqdm(batches, desc=f"train epoch {ep + 1}/{epochs}", leave=False, disable=None if progress else True)
        for xb, yb in bar:
            out, _ = model(xb)
            counts = out.sum(0)
            loss = loss_fn(counts, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * yb.numel()
            correct += int((counts.argmax(1) == yb).sum())
        hist.append({"epoch": ep + 1, "loss": tot / y.numel(), "train_acc": correct / y.numel(),
                     "seconds": time.perf_counter() - t0})
    return hist


def torch_predict(model, x, batch=100):
    import torch

    preds, counts = [], []
    with torch.no_grad():
        for i in range(0, x.shape[1], batch):
            out, _ = model(x[:, i:i + batch])
            c = out.sum(0)
            counts.append(c)
            preds.append(c.argmax(1))
    return torch.cat(preds).numpy(), torch.cat(counts).numpy()


def _run_backend(name, make_engine, exp, xs, steps, progress):
    """Run every test recording on one engine (built once; the input population's spikes are
    swapped per recording). Returns predictions, per-sample ledgers and wall time."""
    from tqdm.auto import tqdm

    from spiking.nn import spikes_to_source

    net = exp.network
    src = net.populations[exp.input]
    out_pop = exp.populations[-1]
    t0 = time.perf_counter()
    engine = make_engine(net)
    build_s = time.perf_counter() - t0
    preds, ledgers = [], []
    T = xs.shape[0]
    t0 = time.perf_counter()
    for i in tqdm(range(xs.shape[1]), desc=name, leave=False, disable=None if progress else True):
        src.model = spikes_to_source(xs[:, i].reshape(T, -1), exp.dt)
        rec = engine.run(steps * exp.dt, progress=False)
        counts = np.bincount(rec.spikes[out_pop].ids, minlength=net.populations[out_pop].size)
        preds.append(int(np.argmax(counts)))
        ledgers.append(rec.ledger)
    return np.array(preds), ledgers, {"build_s": build_s, "run_s": time.perf_counter() - t0}


def neurobench_check(model, x) -> dict:
    """NeuroBench's own SynapticOperations and ActivationSparsity (the ``neurobench`` package) on
    ``model`` and ``x[T, B, ...]``, beside ours (``count_activity``), per sample. Empty when
    neurobench is not installed."""
    from spiking.nn.counts import activation_sparsity, count_activity
    from spiking.nn.neurobench_adapter import neurobench_workload

    try:
        syn, sparsity = neurobench_workload(model, x)
    except ImportError as e:
        return {"unavailable": f"neurobench not importable: {e}"}
    L = count_activity(model, x)
    B = x.shape[1]
    ours = {"Effective_ACs": sum(L.ac_ops.values()) / B, "Effective_MACs": sum(L.mac_ops.values()) / B,
            "Dense": sum(L.dense_synapses.values()) / B, "ActivationSparsity": activation_sparsity(L),
            "SynapticEvents": L.total_synaptic_events / B}
    theirs = {**{k: float(v) for k, v in syn.items()}, "ActivationSparsity": float(sparsity)}
    same = all(abs(ours[k] - theirs[k]) <= 1e-9 * max(1.0, abs(theirs[k])) for k in theirs)
    return {"ours": ours, "neurobench": theirs, "equal": same}


_PLAN = [  # (row, engine key, target, mode)
    ("torch (dense, float32)", "torch", "cpu", "ops"),
    ("torch (dense, float32)", "torch", "gpu", "ops"),
    ("event engine", "event", "horowitz45", "ops"),
    ("event engine", "event", "horowitz45", "memory"),
    ("event engine", "event", "horowitz45_int8", "ops"),
    ("event engine", "event", "horowitz45_int8", "memory"),
    ("event engine", "event", "loihi", "ops"),
    ("event engine", "event", "loihi", "memory"),
    ("event engine", "event", "truenorth", "ops"),
    ("event engine", "event", "spinnaker1", "ops"),
    ("event engine", "event", "spinnaker1", "memory"),
    ("crossbar pcm_ibm, 1 day", "crossbar", "pcm_ibm", "hardware"),
    ("SpiNNaker 1, fixed point", "spinnaker1", "spinnaker1", "hardware"),
    ("SpiNNaker 2, fixed point", "spinnaker2", "spinnaker2", "hardware"),
]


def format_table(rows) -> str:
    from spiking.hardware.energy import CATEGORIES

    head = (f"{'run':<26}{'accuracy':>9}{'latency':>12}  {'target':<16}{'mode':<9}{'J/inference':>12}"
            + "".join(f"{c[:8]:>10}" for c in CATEGORIES))
    lines = [head, "-" * len(head)]
    for r in rows:
        acc = f"{100 * r['accuracy']:.1f} %" if r.get("accuracy") is not None else "-"
        lat = r.get("latency", "-")
        if r.get("unavailable"):
            lines.append(f"{r['run']:<26}{'-':>9}{'-':>12}  {r['target']:<16}{r['mode']:<9}  unavailable: "
                         f"{r['unavailable'][:70]}")
            continue
        b = r["breakdown"]
        over = f"  overran {r['overruns']}/{r['ticks']} ticks" if r.get("overruns") else ""
        lines.append(f"{r['run']:<26}{acc:>9}{lat:>12}  {r['target']:<16}{r['mode']:<9}{r['joules']:>12.3g}"
                     + "".join(f"{b[c]:>10.2g}" for c in CATEGORIES) + over)
    return "\n".join(lines)


def run(out=Path("out/main"), *, epochs=10, hidden=128, time_bins=10, beta=0.9, lr=5e-3, batch_size=32, seed=0,
        threads=2, limit=None, drift_s=86400.0, max_shift=2, spinnaker_tsf=10.0, data_root=None, cache_dir=None,
        progress=True) -> dict:
    import torch

    import spiking as sp
    import spiking.nn as snn
    from spiking.atomic import atomic_path, write_text_atomic
    from spiking.experiments.nmnist import load_split
    from spiking.hardware import energy as en
    from spiking.nn.counts import count_activity

    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(threads))
    cfg = dict(epochs=epochs, hidden=hidden, time_bins=time_bins, beta=beta, lr=lr, batch_size=batch_size,
               seed=seed, limit=limit, drift_s=drift_s, max_shift=max_shift, spinnaker_tsf=spinnaker_tsf,
               torch_threads=torch.get_num_threads())

    # 1. data and training
    t0 = time.perf_counter()
    xtr, ytr = load_split("train", time_bins, data_root, cache_dir, limit, progress)
    xte, yte = load_split("test", time_bins, data_root, cache_dir, limit, progress)
    data_s = time.perf_counter() - t0
    torch.manual_seed(seed)
    model = build_model(hidden, beta)
    t0 = time.perf_counter()
    hist = train(model, xtr, ytr, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, max_shift=max_shift,
                 progress=progress)
    train_s = time.perf_counter() - t0
    with atomic_path(out / "model.pt") as tmp:
        torch.save({"config": cfg, "state_dict": model.state_dict()}, tmp)
    model64 = model.double().eval()
    x64 = xte.double()
    pred_torch, _ = torch_predict(model64, x64)
    acc = {"torch": float((pred_torch == yte.numpy()).mean())}

    # 2. export, event engine, identical predictions and counts
    exp = snn.to_network(model64, None, input_size=N_IN)
    steps = time_bins + len(exp.populations)                 # T input frames + one step per layer of delay
    latency = f"{steps * exp.dt:g} ms"
    y = yte.numpy()
    runs, info = {}, {}
    runs["event"] = _run_backend("event engine", lambda net: sp.EventEngine(net), exp, x64, steps, progress)
    pred_event, led_event, info["event"] = runs["event"]
    acc["event"] = float((pred_event == y).mean())
    ledger = {"event": en.combine(led_event)}
    torch_engine_view = count_activity(model64, x64, steps=steps)
    fields = ("spikes", "neuron_updates", "synaptic_events") + sp.ActivityLedger.COUNT_FIELDS
    counts_equal = {f: getattr(torch_engine_view, f) == getattr(ledger["event"], f) for f in fields}
    ledger["torch"] = count_activity(model64, x64)       # the torch model's own T steps
    agreement = {"event_vs_torch_predictions": int((pred_event == pred_torch).sum()), "samples": int(y.size),
                 "counts_equal": all(counts_equal.values()), "counts_checked": counts_equal,
                 "neurobench": neurobench_check(model64, x64)}

    # 3. crossbar, 4. SpiNNaker
    unavailable = {}

    def crossbar_engine(net):
        from spiking.hardware.crossbar import CrossbarEngine
        return CrossbarEngine(net, device="pcm_ibm", t_inference=drift_s, drift_compensation="global", seed=seed)

    def spinnaker_engine(target):
        def make(net):
            from spiking.hardware.spinnaker import SpiNNakerEngine
            return SpiNNakerEngine(net, target=target, time_scale_factor=spinnaker_tsf)
        return make

    for key, make in (("crossbar", crossbar_engine), ("spinnaker1", spinnaker_engine("spinnaker1")),
                      ("spinnaker2", spinnaker_engine("spinnaker2"))):
        try:
            preds, leds, info[key] = _run_backend(key, make, exp, x64, steps, progress)
        except Exception as e:          # a backend that is missing or fails is reported, not fatal
            unavailable[key] = f"{type(e).__name__}: {e}"
            continue
        acc[key] = float((preds == y).mean())
        agreement[f"{key}_vs_torch_predictions"] = int((preds == pred_torch).sum())
        ledger[key] = en.combine(leds)

    # 5. energy
    rows, estimates = [], []
    for run_name, key, target, mode in _PLAN:
        row = {"run": run_name, "engine": key, "target": target, "mode": mode, "accuracy": acc.get(key)}
        if key in unavailable:
            row["unavailable"] = unavailable[key]
            rows.append(row)
            continue
        try:
            e = en.estimate(ledger[key], target, mode)
        except Exception as ex:
            row["unavailable"] = f"{type(ex).__name__}: {ex}"
            rows.append(row)
            continue
        estimates.append(e)
        if key.startswith("spinnaker"):
            b = ledger[key].backend["spinnaker"]
            row["latency"] = f"{1000 * b['run_time_s'] / ledger[key].inferences:g} ms"
            row["overruns"] = int(b.get("timer_tick_overruns", 0))
            row["ticks"] = int(b.get("ticks", 0))
        else:
            row["latency"] = latency
        row.update(joules=e.per_inference, breakdown=e.breakdown(), citation=e.citation, notes=list(e.notes))
        rows.append(row)
    text = format_table(rows)
    total_s = time.perf_counter() - t_start
    metrics = {"config": cfg, "accuracy": acc, "test_samples": int(y.size), "train_samples": int(ytr.numel()),
               "agreement": agreement, "unavailable": unavailable, "rows": rows, "history": hist,
               "seconds": {"data": data_s, "train": train_s, "total": total_s,
                           **{f"{k}_{kk}": v for k, d in info.items() for kk, v in d.items()}},
               "ledgers": {k: L.to_dict() for k, L in ledger.items()},
               "estimates": [e.to_dict() for e in estimates]}
    write_text_atomic(out / "main.json", json.dumps(metrics, indent=1))
    write_text_atomic(out / "main_table.txt", text + "\n")
    for k, L in ledger.items():            # for `spiking energy DIR/ledger_<run>.json --targets ...`
        write_text_atomic(out / f"ledger_{k}.json", json.dumps(L.to_dict(), indent=1))
    if estimates:
        en.bar_chart(out / "energy.png", estimates, title="N-MNIST SNN: energy per inference by target")
    metrics["table"] = text
    return metrics


def main(args) -> int:
    m = run(args.out, epochs=args.epochs, hidden=args.hidden, time_bins=args.time_bins, beta=args.beta, lr=args.lr,
            batch_size=args.batch_size, seed=args.seed, threads=args.threads, limit=args.limit, drift_s=args.drift_s,
            max_shift=args.max_shift, spinnaker_tsf=args.spinnaker_tsf, data_root=args.data_root, cache_dir=args.cache_dir, progress=not args.no_progress)
    a = m["agreement"]
    print(f"N-MNIST, {m['train_samples']} training / {m['test_samples']} test recordings; event engine agrees with "
          f"torch on {a['event_vs_torch_predictions']}/{a['samples']} predictions; counts equal: {a['counts_equal']}")
    nb = a["neurobench"]
    if "ours" in nb:
        print(f"NeuroBench on the same model and data, per sample: effective ACs {nb['neurobench']['Effective_ACs']:.0f}"
              f" (ours {nb['ours']['Effective_ACs']:.0f}), dense {nb['neurobench']['Dense']:.0f} "
              f"(ours {nb['ours']['Dense']:.0f}), activation sparsity {nb['neurobench']['ActivationSparsity']:.4f} "
              f"(ours {nb['ours']['ActivationSparsity']:.4f}); equal: {nb['equal']}")
    print(m["table"])
    for k, why in m["unavailable"].items():
        print(f"unavailable: {k}: {why}")
    print(f"{m['seconds']['total']:.0f} s in all; files in {args.out}")
    return 0
