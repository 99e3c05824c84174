"""One training step of a 700-256-256-20 LIF network (SHD-shaped input), ours against peers.

    python benchmarks/train_step.py --json out/train_step.json

Every library trains the same network on the same data from the same initial weights:
three bias-free linear layers, each followed by a LIF layer with decay 0.9 per step, threshold 1,
hard reset to 0 (v[t] = 0.9 v[t-1] + I[t]; Norse's Euler LIF box gets its weights x10 to match its
(1 - 0.9) input scale), T = 100, batch 32, inputs Bernoulli with rate 0.05; loss = cross-entropy
of the output spike counts averaged over time; Adam. A step is forward over T, backward, Adam.

Libraries: ``spiking`` (spiking.nn, BPTT with the fused LIF kernels), ``plain-torch`` (a careful
plain PyTorch loop: one matmul per layer over all steps, per-step currents taken with ``unbind``,
an autograd.Function for the spike), ``snntorch`` (``snn.Leaky`` per step over one matmul per
layer), ``norse`` (``LIFBoxCell`` per step, same), ``spikingjelly`` (``LIFNode`` in multi-step
mode, ``step_mode='m'``). Each surrogate is the library's ATan (Norse: SuperSpike, it has no ATan).

Timing: ``--rounds`` interleaved rounds (the order of libraries rotates each round); in each round
a library runs one untimed step and then ``--steps`` timed steps; its figure for the round is the
median of those, and the reported ``ms_per_step`` is the median over rounds.

Memory (ours, BPTT and SLTT at T = 25, 50, 100; per-step cross-entropy objective): each
configuration runs in a fresh subprocess with glibc's mmap threshold pinned at 64 KiB (so freed
tensors go back to the OS at once): after a warm-up step, the peak resident set is reset
(``/proc/self/clear_refs``), one training step runs, and ``peak_mb`` is the peak RSS (VmHWM)
minus the RSS just before the step: the memory the step itself needed on top of model, optimiser
state and data. ``saved_mb`` is the peak of the tensors autograd held for backward
(``spiking.nn.memory.saved_tensors_meter``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

N_IN, N_H, N_OUT = 700, 256, 20
BETA, V_TH = 0.9, 1.0
LIBRARIES = ("spiking", "plain-torch", "snntorch", "norse", "spikingjelly")


def make_data(T, B, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, N_IN, generator=g) < 0.05).float()
    y = torch.randint(0, N_OUT, (B,), generator=g)
    return x, y


def make_weights(gain, seed=0):
    torch.manual_seed(seed)
    ws = []
    for n_in, n_out in ((N_IN, N_H), (N_H, N_H), (N_H, N_OUT)):
        lin = torch.nn.Linear(n_in, n_out, bias=False)   # PyTorch's default (Kaiming-uniform) init
        ws.append(lin.weight.detach() * gain)
    return ws


def _load(linears, ws, scale=1.0):
    with torch.no_grad():
        for lin, w in zip(linears, ws):
            lin.weight.copy_(w * scale)


# -- the libraries ------------------------------------------------------------------------------
def build_spiking(ws):
    import spiking.nn as snn

    net = snn.Sequential(snn.Linear(N_IN, N_H), snn.LIF(BETA, v_th=V_TH), snn.Linear(N_H, N_H),
                         snn.LIF(BETA, v_th=V_TH), snn.Linear(N_H, N_OUT), snn.LIF(BETA, v_th=V_TH))
    _load([net[0], net[2], net[4]], ws)
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step(x, y):
        out, _ = net(x)
        loss = F.cross_entropy(out.mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return out

    return step, net


class _Spike(torch.autograd.Function):
    """Heaviside with the ATan surrogate (alpha = 2), for the plain PyTorch reference."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 + (torch.pi / 2 * 2.0 * x) ** 2)


def build_plain(ws):
    lins = torch.nn.ModuleList([torch.nn.Linear(N_IN, N_H, bias=False), torch.nn.Linear(N_H, N_H, bias=False),
                                torch.nn.Linear(N_H, N_OUT, bias=False)])
    _load(lins, ws)
    opt = torch.optim.Adam(lins.parameters(), 1e-3)

    def lif(cur):
        v = torch.zeros_like(cur[0])
        out = []
        for c in cur.unbind(0):
            v = BETA * v + c
            s = _Spike.apply(v - V_TH)
            v = v * (1 - s)
            out.append(s)
        return torch.stack(out)

    def step(x, y):
        h = x
        for lin in lins:
            h = lif(lin(h))
        loss = F.cross_entropy(h.mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return h

    return step, lins


def build_snntorch(ws):
    import snntorch as snn
    from snntorch import surrogate

    lins = torch.nn.ModuleList([torch.nn.Linear(N_IN, N_H, bias=False), torch.nn.Linear(N_H, N_H, bias=False),
                                torch.nn.Linear(N_H, N_OUT, bias=False)])
    _load(lins, ws)
    neurons = torch.nn.ModuleList([snn.Leaky(beta=BETA, threshold=V_TH, spike_grad=surrogate.atan(),
                                             reset_mechanism="zero") for _ in range(3)])
    opt = torch.optim.Adam(lins.parameters(), 1e-3)

    def step(x, y):
        h = x
        for lin, neuron in zip(lins, neurons):
            cur = lin(h)
            mem = neuron.init_leaky()
            out = []
            for c in cur.unbind(0):
                spk, mem = neuron(c, mem)
                out.append(spk)
            h = torch.stack(out)
        loss = F.cross_entropy(h.mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return h

    return step, lins


def build_norse(ws):
    import norse.torch as norse

    lins = torch.nn.ModuleList([torch.nn.Linear(N_IN, N_H, bias=False), torch.nn.Linear(N_H, N_H, bias=False),
                                torch.nn.Linear(N_H, N_OUT, bias=False)])
    # Euler LIF box: v += dt * tau_mem_inv * (i - v) = 0.9 v + 0.1 i with dt * tau_mem_inv = 0.1,
    # so the weights are x10 to give v[t] = 0.9 v[t-1] + I[t] as in the other libraries.
    _load(lins, ws, scale=1.0 / (1.0 - BETA))
    p = norse.LIFBoxParameters(tau_mem_inv=torch.as_tensor(100.0), v_th=torch.as_tensor(V_TH),
                               v_reset=torch.as_tensor(0.0), method="super", alpha=torch.as_tensor(100.0))
    cells = torch.nn.ModuleList([norse.LIFBoxCell(p, dt=0.001) for _ in range(3)])
    opt = torch.optim.Adam(lins.parameters(), 1e-3)

    def step(x, y):
        h = x
        for lin, cell in zip(lins, cells):
            cur = lin(h)
            s, out = None, []
            for c in cur.unbind(0):
                z, s = cell(c, s)
                out.append(z)
            h = torch.stack(out)
        loss = F.cross_entropy(h.mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return h

    return step, lins


def build_spikingjelly(ws):
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    def lif():
        # decay_input=False: H = V - (V - V_reset)/tau + X = 0.9 V + X for tau = 10
        return neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=V_TH, v_reset=0.0,
                              surrogate_function=surrogate.ATan(), detach_reset=False, step_mode="m")

    net = torch.nn.Sequential(layer.Linear(N_IN, N_H, bias=False, step_mode="m"), lif(),
                              layer.Linear(N_H, N_H, bias=False, step_mode="m"), lif(),
                              layer.Linear(N_H, N_OUT, bias=False, step_mode="m"), lif())
    _load([net[0], net[2], net[4]], ws)
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step(x, y):
        functional.reset_net(net)
        out = net(x)
        loss = F.cross_entropy(out.mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return out

    return step, net


BUILDERS = {"spiking": build_spiking, "plain-torch": build_plain, "snntorch": build_snntorch,
            "norse": build_norse, "spikingjelly": build_spikingjelly}


def _version(lib):
    mod = {"spiking": "spiking", "plain-torch": "torch", "snntorch": "snntorch", "norse": "norse",
           "spikingjelly": "spikingjelly"}[lib]
    try:
        from importlib.metadata import version
        return version({"spiking": "spiking-sim"}.get(mod, mod))
    except Exception:
        return None


# -- timing -------------------------------------------------------------------------------------
def time_libraries(libs, T, B, rounds, steps, gain, log):
    x, y = make_data(T, B)
    ws = make_weights(gain)
    runners, skipped = {}, {}
    for lib in libs:
        try:
            runners[lib] = BUILDERS[lib](ws)[0]
        except ImportError as e:
            skipped[lib] = f"not installed: {e}"
            log(f"  {lib}: skipped ({e})")
    for lib, step in runners.items():   # first call: compilation, caches, allocator warm-up
        step(x, y)
    per_round = {lib: [] for lib in runners}
    order = list(runners)
    for r in range(rounds):
        for lib in order[r % len(order):] + order[:r % len(order)]:
            step = runners[lib]
            step(x, y)
            ts = []
            for _ in range(steps):
                t0 = time.perf_counter()
                step(x, y)
                ts.append((time.perf_counter() - t0) * 1e3)
            per_round[lib].append(statistics.median(ts))
        log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in per_round.items()))
    results = [{"library": lib, "ms_per_step": statistics.median(v), "rounds_ms": v, "version": _version(lib)}
               for lib, v in per_round.items()]
    return results, skipped


def activity(gain, T, B):
    """Firing rates of the three layers of our model at the initial weights (for the record)."""
    _, net = build_spiking(make_weights(gain))
    x, _ = make_data(T, B)
    rates, h = [], x
    with torch.no_grad():
        for layer in net:
            out = layer(h)
            h = out[0] if isinstance(out, tuple) else out
            if isinstance(out, tuple):
                rates.append(float(h.mean()))
    return {"input_rate": float(x.mean()), "layer_rates": rates}


def time_strategies(T, B, rounds, steps, gain):
    """Our step under each strategy (per-step cross-entropy objective, Trainer.train_step)."""
    import spiking.nn as snn

    x, y = make_data(T, B)
    ws = make_weights(gain)
    out = []
    for strategy, k, chunk in (("bptt", None, 1), ("sltt", None, 1), ("sltt", None, 10), ("sltt-k", max(1, T // 4), 1)):
        _, net = build_spiking(ws)
        tr = snn.Trainer(net, torch.optim.Adam(net.parameters(), 1e-3), strategy, k=k, chunk=chunk,
                         progress=False)
        tr.train_step(x, y)
        meds = []
        for _ in range(rounds):
            ts = []
            for _ in range(steps):
                t0 = time.perf_counter()
                tr.train_step(x, y)
                ts.append((time.perf_counter() - t0) * 1e3)
            meds.append(statistics.median(ts))
        out.append({"strategy": strategy, "k": k, "chunk": chunk, "ms_per_step": statistics.median(meds)})
    return out


# -- memory (one subprocess per configuration) ---------------------------------------------------
def _status_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_worker(strategy, T, B, gain):
    import gc

    import spiking.nn as snn
    from spiking.nn.memory import saved_tensors_meter

    _, net = build_spiking(make_weights(gain))
    tr = snn.Trainer(net, torch.optim.Adam(net.parameters(), 1e-3), strategy, progress=False)
    xw, yw = make_data(2, B, seed=1)
    tr.train_step(xw, yw)                 # warm-up: Adam state, numba kernels, allocator
    x, y = make_data(T, B)
    gc.collect()
    rss0 = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")   # reset the peak RSS (VmHWM) to the current RSS
    with saved_tensors_meter() as meter:
        tr.train_step(x, y)
    hwm = _status_kb("VmHWM")
    print(json.dumps({"strategy": strategy, "T": T, "peak_mb": (hwm - rss0) / 1024,
                      "saved_mb": meter.peak_bytes / 2 ** 20, "rss_before_mb": rss0 / 1024}))


def measure_memory(Ts, B, gain, log):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0", MALLOC_ARENA_MAX="1")
    rows = []
    for strategy in ("bptt", "sltt"):
        for T in Ts:
            cmd = [sys.executable, __file__, "--memory-worker", strategy, "--T", str(T), "--batch", str(B),
                   "--gain", str(gain)]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if r.returncode != 0:
                raise RuntimeError(f"memory worker {strategy} T={T} failed:\n{r.stderr[-2000:]}")
            row = json.loads(r.stdout.strip().splitlines()[-1])
            log(f"  memory {strategy} T={T}: peak {row['peak_mb']:.1f} MB, saved {row['saved_mb']:.1f} MB")
            rows.append(row)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="write the results here (JSON)")
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per library per round")
    ap.add_argument("--gain", type=float, default=4.0,
                    help="initial weights = gain x PyTorch's default init (4: hidden layers fire ~2-10%%)")
    ap.add_argument("--libraries", default=",".join(LIBRARIES))
    ap.add_argument("--memory-T", default="25,50,100")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--memory-worker", choices=("bptt", "sltt"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_worker:
        memory_worker(args.memory_worker, args.T, args.batch, args.gain)
        return
    libs = [s for s in args.libraries.split(",") if s]
    for lib in libs:
        if lib not in BUILDERS:
            ap.error(f"--libraries: {lib!r} is not one of {LIBRARIES}")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    log(f"train step: 700-256-256-20 LIF, T={args.T}, batch {args.batch}, torch threads {torch.get_num_threads()}")
    results, skipped = time_libraries(libs, args.T, args.batch, args.rounds, args.steps, args.gain, log)
    out = {
        "benchmark": "train_step",
        "network": "700-256-256-20 LIF, beta 0.9, threshold 1, hard reset, no bias",
        "T": args.T, "batch": args.batch, "input_rate": 0.05, "gain": args.gain,
        "rounds": args.rounds, "steps_per_round": args.steps,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "activity": activity(args.gain, args.T, args.batch),
        "results": results,
        "skipped": skipped,
    }
    ours = next((r["ms_per_step"] for r in results if r["library"] == "spiking"), None)
    if ours:
        out["speedup_vs"] = {r["library"]: r["ms_per_step"] / ours for r in results if r["library"] != "spiking"}
    if "spiking" in libs:
        out["strategies"] = time_strategies(args.T, args.batch, max(1, args.rounds // 2), args.steps, args.gain)
    if not args.no_memory and "spiking" in libs:
        Ts = [int(t) for t in args.memory_T.split(",") if t]
        out["memory"] = measure_memory(Ts, args.batch, args.gain, log)
        peak = {(m["strategy"], m["T"]): m["peak_mb"] for m in out["memory"]}
        Tmax = max(Ts)
        if peak.get(("bptt", Tmax)):
            out["sltt_over_bptt_peak"] = peak[("sltt", Tmax)] / peak[("bptt", Tmax)]
    text = json.dumps(out, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, args.json)
        log(f"wrote {args.json}")
    print(text)


if __name__ == "__main__":
    main()
