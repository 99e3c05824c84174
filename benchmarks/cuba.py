"""CUBA benchmark: our event engine against NEST and Brian2 on the identical network.

The network is benchmark 2 ("CUBA") of the simulator review of Brette et al. (2007, J. Comput.
Neurosci. 23:349-398), the current-based version of the balanced network of Vogels & Abbott
(2005, J. Neurosci. 25:10786-10795), as written in Brian2's ``examples/CUBA.py``: leaky
integrate-and-fire neurons driven above threshold by their resting potential (E_L = -49 mV,
V_t = -50 mV), exponential synaptic currents, 80 % excitatory, no external input.

The connection list and the initial potentials are drawn once per size
(:func:`spiking.experiments.cuba.draw_cuba`) and handed unchanged to every simulator:

* ``spiking``: :func:`~spiking.experiments.cuba.build_cuba` and
  :class:`spiking.EventEngine` ``(net, threads=N)`` (NEST ``iaf_psc_exp`` update order), in this
  process (one engine per thread count).
* ``nest``: ``iaf_psc_exp`` with C_m = tau_m (pF), so R = 1 GOhm and a weight of w pA moves the
  potential as our w nA through 1 MOhm (and Brian's w mV) do; ``local_num_threads = N``;
  connected with ``nest.Connect(pre_ids, post_ids, "one_to_one", syn_spec=...)`` from the arrays.
  The worker runs with ``OMP_WAIT_POLICY=PASSIVE`` unless the variable is set (see
  :func:`worker_env`; NEST synchronises its threads every step here, and spinning threads on a
  shared 2-core machine made it 100-200x slower).
* ``brian2-cython`` and ``brian2-cpp_standalone``: the equations of Brian2's ``examples/CUBA.py``
  (``method="exact"``, threshold ``v > Vt``, reset ``v = Vr``, refractory 5 ms), connected with
  ``Synapses.connect(i=pre, j=post)``. cpp_standalone runs with
  ``prefs.devices.cpp_standalone.openmp_threads = N`` (N = 1 is the OpenMP build on one thread;
  its worker also gets ``OMP_WAIT_POLICY=PASSIVE`` unless set); the cython runtime target is
  single-threaded and is measured once, at N = 1.

Each simulator except brian2-cython runs once per thread count of ``--threads`` (default 1 and 2),
each in its own worker (ours: its own engine), all interleaved within each repeat; ratios are
taken at equal thread count (``simulate_vs_spiking``), and each simulator's gain over its own
1-thread run is ``speedup_vs_1_thread``.

Every simulator uses dt = 0.1 ms and a synaptic delay of one step (0.1 ms). With that delay NEST,
Brian2 and our engine all let a spike emitted in step n change the synaptic current after the
membrane update of step n + 1, so the membrane feels it from step n + 2 on. NEST and our engine
therefore produce the same spikes. Brian2 differs in two details: it fires on ``v > Vt`` (NEST
and we: ``v >= V_th``; immaterial here), and its refractory period of 5 ms holds ``v`` for 49
steps after the spike step (``timestep(t - lastspike) >= 50`` is tested before the update),
where NEST and we hold it for 50. That one step changes the network's trajectory and its mean
rate by a few per cent (with ``refractory=5.1*ms`` Brian2 reproduces NEST's spike count
exactly); we keep Brian2's example as written.

What is measured (``--repeats`` times, simulators interleaved within each repeat; medians
reported, all values kept in ``*_all`` fields):

* ``build_s``: building the network from the shared connection list.
  spiking: ``build_cuba`` + ``EventEngine(net)`` (flattening; done once, then ``run`` repeats).
  nest: ``ResetKernel``, ``Create``, ``Connect``, and ``Prepare`` (NEST builds its connection
  infrastructure there); repeated every time. brian2-cython: creating the ``NeuronGroup``,
  ``Synapses`` (with ``connect``) and ``SpikeMonitor``; repeated every time.
  brian2-cpp_standalone: the same object creation, done once (the binary is compiled once and
  run ``--repeats`` times); code generation + compilation is reported apart as ``compile_s``.
* ``simulate_s``: 1 s of biological time. spiking: wall time of ``EventEngine.run``. nest: wall
  time of ``nest.Run``. brian2-cython: Brian's own timing of its simulation loop
  (``device._last_run_time``; the wall time of the whole ``run()`` call, which also generates
  and loads code, is ``run_call_s``). brian2-cpp_standalone: the simulation time the binary
  reports (``device._last_run_time``, read from ``last_run_info.txt``); the wall time of the
  binary (start-up, loading arrays, writing results) is ``run_call_s``.
* ``spikes``, ``mean_rate_hz`` and ``synaptic_events`` (spikes x out-degree; for the peers
  computed from per-neuron spike counts and the out-degrees of the connection list, for us read
  from the engine's activity ledger).
* For our engine, ``first_run_s``: the first ``run`` in a fresh process, with the numba cache
  warm (``first_run_cold_cache_s``: with an empty ``NUMBA_CACHE_DIR``, i.e. compiling);
  ``compile_s`` = ``first_run_s - simulate_s``.

Peers run in worker processes (this script with a hidden ``--worker`` flag); the connection list
travels in an ``.npz`` file. Each worker prepares (imports, compiles, warms caches) before any
timed repeat starts, then answers one ``run`` request per repeat. Peers that cannot be imported
are skipped with a note. Usage::

    python benchmarks/cuba.py --json results/cuba.json
    python benchmarks/cuba.py --sizes 4000 --simulators spiking nest --repeats 5
    python benchmarks/cuba.py --sizes 4000 16000 --threads 1 2 --repeats 3
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

FAN_IN = 80                # expected inputs per neuron: p_connect = FAN_IN / n_neurons
DURATION_MS = 1000.0       # biological time simulated per run
NEST_THREADS = 2           # NestCuba's default when no thread count is given
SIMULATORS = ("spiking", "nest", "brian2-cython", "brian2-cpp_standalone")
PEERS = SIMULATORS[1:]
PEER_MODULES = {"nest": "nest", "brian2-cython": "brian2", "brian2-cpp_standalone": "brian2"}
PREPARE_TIMEOUT_S = 1800   # worker start-up, including Brian2 compilation
RUN_TIMEOUT_S = 900        # one measurement
RATE_TARGET = 0.02         # our mean rate within 2 % of NEST's
SPEEDUP_TARGET = 4.0       # ours at least 4x faster than Brian2 cpp_standalone at equal thread count (issue 16)
FIRST_RUN_TARGET_S = 3.0   # first run in a fresh process, numba cache warm
MEASUREMENT_NOTES = {
    "build_s": "network construction from the shared connection list (see the module docstring per simulator)",
    "simulate_s": "1 s biological time; spiking: EventEngine.run wall time; nest: nest.Run wall time; "
                  "brian2: Brian's own simulation-loop time (device._last_run_time)",
    "run_call_s": "brian2 only: wall time of run() (cython) or of the standalone binary",
    "compile_s": "spiking: first_run_s - simulate_s; brian2: code generation + compilation",
    "threads": "per row: spiking EventEngine(threads=), nest local_num_threads, brian2-cpp_standalone "
               "prefs.devices.cpp_standalone.openmp_threads (1 = OpenMP build on one thread); brian2-cython: 1",
    "omp_wait_policy": "as set in the environment, for every simulator; unset (recorded as ''): nest and "
                       "brian2-cpp_standalone workers get PASSIVE, spiking keeps OpenMP's default",
    "simulate_vs_spiking": "peer simulate_s / ours at the same size and thread count (brian2-cython: ours on 1 thread)",
    "brian2_refractory": "Brian2 holds v for 49 steps after a spike with refractory=5 ms, NEST and "
                         "spiking for 50; hence Brian2's rates differ by a few per cent",
}


# --------------------------------------------------------------------------------------------
# The shared network
# --------------------------------------------------------------------------------------------

def cuba_params(n_neurons: int, fan_in: int = FAN_IN):
    from spiking.experiments.cuba import CubaParams

    if n_neurons <= fan_in:
        raise ValueError(f"n_neurons={n_neurons}: expected more than {fan_in} neurons (fan-in {fan_in})")
    return CubaParams(n_neurons=n_neurons, p_connect=fan_in / n_neurons)


def save_connectivity(conn, path: Path):
    prm = conn.params
    np.savez(path, n_neurons=prm.n_neurons, p_connect=prm.p_connect,
             pre=conn.pre, post=conn.post, v0=conn.v0)


def load_connectivity(path: Path):
    from spiking.experiments.cuba import CubaConnectivity, CubaParams

    with np.load(path) as f:
        prm = CubaParams(n_neurons=int(f["n_neurons"]), p_connect=float(f["p_connect"]))
        return CubaConnectivity(prm, f["pre"], f["post"], f["v0"])


def activity(counts: np.ndarray, out_degree: np.ndarray, duration_ms: float) -> dict:
    """Spikes, mean rate and synaptic events (spikes x out-degree) from per-neuron spike counts."""
    counts = np.asarray(counts, dtype=np.int64)
    return {"spikes": int(counts.sum()),
            "mean_rate_hz": float(counts.sum() / counts.size / (duration_ms / 1000.0)),
            "synaptic_events": int(counts @ out_degree)}


# --------------------------------------------------------------------------------------------
# The simulators. Each has prepare() -> dict (once) and measure() -> dict (per repeat).
# --------------------------------------------------------------------------------------------

class SpikingCuba:
    """Our event engine: built once, then run repeatedly (each run starts from the initial state)."""

    name = "spiking"

    def __init__(self, conn, duration_ms: float, threads: int = 1):
        self.conn, self.duration_ms, self.threads = conn, duration_ms, threads

    def prepare(self) -> dict:
        import spiking as sp
        from spiking.experiments.cuba import build_cuba

        t0 = time.perf_counter()
        self.engine = sp.EventEngine(build_cuba(self.conn), threads=self.threads)
        self.build_s = time.perf_counter() - t0
        return {"build_s": self.build_s, "threads": self.threads}

    def measure(self) -> dict:
        t0 = time.perf_counter()
        rec = self.engine.run(self.duration_ms, progress=False)
        simulate_s = time.perf_counter() - t0
        counts = rec.spikes["neurons"].counts()
        out = activity(counts, np.bincount(self.conn.pre, minlength=counts.size), self.duration_ms)
        out["synaptic_events"] = rec.ledger.total_synaptic_events
        out.update(build_s=self.build_s, simulate_s=simulate_s)
        out["threads_used"] = int(rec.timing.get("threads", self.threads))
        return out


class NestCuba:
    """NEST ``iaf_psc_exp``; the kernel is reset and the network rebuilt for every measurement."""

    name = "nest"

    def __init__(self, conn, duration_ms: float, threads: int = NEST_THREADS):
        self.conn, self.duration_ms, self.threads = conn, duration_ms, threads
        prm = conn.params
        self.out_degree = np.bincount(conn.pre, minlength=prm.n_neurons)
        self.weights = np.where(conn.exc_mask, prm.w_e, -prm.w_i).astype(np.float64)
        self.delays = np.full(conn.pre.size, prm.delay)

    def prepare(self) -> dict:
        import nest

        nest.set_verbosity("M_ERROR")
        self.nest = nest
        return {"version": nest.__version__, "threads": self.threads,
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}

    def measure(self) -> dict:
        nest, prm, conn = self.nest, self.conn.params, self.conn
        t0 = time.perf_counter()
        nest.ResetKernel()
        nest.SetKernelStatus({"local_num_threads": self.threads, "resolution": prm.dt, "print_time": False})
        # NEST units: pF, pA, mV, ms. C_m = tau_m pF gives R = 1 GOhm: w pA -> w mV, as ours.
        nodes = nest.Create("iaf_psc_exp", prm.n_neurons, params={
            "C_m": prm.tau_m, "tau_m": prm.tau_m, "E_L": prm.e_l, "V_th": prm.v_th,
            "V_reset": prm.v_reset, "t_ref": prm.t_ref, "tau_syn_ex": prm.tau_e,
            "tau_syn_in": prm.tau_i, "I_e": 0.0})
        nodes.V_m = conn.v0.tolist()
        recorder = nest.Create("spike_recorder")
        nest.Connect(nodes, recorder)
        first_id = nodes[0].global_id
        nest.Connect(conn.pre + first_id, conn.post + first_id, "one_to_one",
                     syn_spec={"synapse_model": "static_synapse", "weight": self.weights, "delay": self.delays})
        t1 = time.perf_counter()
        nest.Prepare()
        t2 = time.perf_counter()
        nest.Run(self.duration_ms)
        t3 = time.perf_counter()
        nest.Cleanup()
        senders = np.asarray(recorder.get("events", "senders"), dtype=np.int64)
        out = activity(np.bincount(senders - first_id, minlength=prm.n_neurons), self.out_degree,
                       self.duration_ms)
        out.update(build_s=t2 - t0, simulate_s=t3 - t2, prepare_s=t2 - t1,
                   n_connections=int(nest.GetKernelStatus("num_connections")) - prm.n_neurons)
        return out


class Brian2Cuba:
    """Brian2's ``examples/CUBA.py`` on the shared connection list (runtime or standalone target)."""

    def __init__(self, conn, duration_ms: float, target: str, workdir: Path, threads: int = 1):
        self.conn, self.duration_ms, self.target, self.workdir = conn, duration_ms, target, workdir
        self.threads = threads
        self.name = f"brian2-{target}"
        self.out_degree = np.bincount(conn.pre, minlength=conn.params.n_neurons)

    def _build(self):
        """Create the network objects; returns (network, spike monitor)."""
        b2, prm, conn = self.b2, self.conn.params, self.conn
        ms, mV = b2.ms, b2.mV
        namespace = {"taum": prm.tau_m * ms, "taue": prm.tau_e * ms, "taui": prm.tau_i * ms,
                     "Vt": prm.v_th * mV, "Vr": prm.v_reset * mV, "El": prm.e_l * mV,
                     "we": prm.w_e * mV, "wi": -prm.w_i * mV}
        eqs = """
        dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
        dge/dt = -ge/taue : volt
        dgi/dt = -gi/taui : volt
        """
        # Fixed names keep the generated code, and hence Brian's code cache, identical across builds.
        neurons = b2.NeuronGroup(prm.n_neurons, eqs, threshold="v>Vt", reset="v = Vr",
                                 refractory=prm.t_ref * ms, method="exact", namespace=namespace,
                                 name="cuba_neurons")
        neurons.v = conn.v0 * mV
        neurons.ge = 0 * mV
        neurons.gi = 0 * mV
        exc = conn.exc_mask
        synapses = []
        for label, mask, on_pre in (("exc", exc, "ge += we"), ("inh", ~exc, "gi += wi")):
            syn = b2.Synapses(neurons, neurons, on_pre=on_pre, delay=prm.delay * ms, namespace=namespace,
                              name=f"cuba_{label}")
            syn.connect(i=conn.pre[mask], j=conn.post[mask])
            synapses.append(syn)
        monitor = b2.SpikeMonitor(neurons, record=False, name="cuba_spikes")
        return b2.Network(neurons, *synapses, monitor), monitor

    def _activity(self, monitor) -> dict:
        return activity(np.asarray(monitor.count[:]), self.out_degree, self.duration_ms)

    def prepare(self) -> dict:
        import brian2 as b2

        self.b2 = b2
        b2.prefs.logging.console_log_level = "WARNING"
        b2.defaultclock.dt = self.conn.params.dt * b2.ms
        info = {"version": b2.__version__, "threads": self.threads if self.target != "cython" else 1}
        if self.target == "cython":
            # Warm-up: compile every code object into Brian's cache with the full network.
            b2.prefs.codegen.target = "cython"
            t0 = time.perf_counter()
            net, _ = self._build()
            net.run(1 * b2.ms)
            del net
            info["compile_s"] = time.perf_counter() - t0
        else:
            project = self.workdir / "brian2_standalone"
            b2.set_device("cpp_standalone", directory=str(project), build_on_run=False)
            # N OpenMP threads (N = 1 included: the OpenMP build with one thread, so that 1 and 2
            # threads differ only in the thread count; openmp_threads = 0 is Brian's serial build).
            b2.prefs.devices.cpp_standalone.openmp_threads = self.threads
            b2.defaultclock.dt = self.conn.params.dt * b2.ms
            t0 = time.perf_counter()
            self.net, self.monitor = self._build()
            t1 = time.perf_counter()
            self.net.run(self.duration_ms * b2.ms)
            b2.device.build(directory=str(project), compile=True, run=False, with_output=False)
            t2 = time.perf_counter()
            self.build_s = t1 - t0
            info.update(build_s=self.build_s, compile_s=t2 - t1,
                        openmp_threads=b2.prefs.devices.cpp_standalone.openmp_threads)
        return info

    def measure(self) -> dict:
        b2 = self.b2
        if self.target == "cython":
            t0 = time.perf_counter()
            net, monitor = self._build()
            t1 = time.perf_counter()
            net.run(self.duration_ms * b2.ms)
            t2 = time.perf_counter()
            out = self._activity(monitor)
            out.update(build_s=t1 - t0, simulate_s=float(b2.device._last_run_time), run_call_s=t2 - t1)
            del net, monitor
            return out
        t0 = time.perf_counter()
        b2.device.run(with_output=False)
        t1 = time.perf_counter()
        out = self._activity(self.monitor)
        out.update(build_s=self.build_s, simulate_s=float(b2.device._last_run_time), run_call_s=t1 - t0)
        return out


def make_simulator(name: str, conn, duration_ms: float, workdir: Path, threads: int = 1):
    if name == "spiking":
        return SpikingCuba(conn, duration_ms, threads)
    if name == "nest":
        return NestCuba(conn, duration_ms, threads)
    if name.startswith("brian2-"):
        return Brian2Cuba(conn, duration_ms, name.split("-", 1)[1], workdir, threads)
    raise ValueError(f"simulator {name!r}: expected one of {SIMULATORS}")


# --------------------------------------------------------------------------------------------
# Worker processes: one per (simulator, size), talking JSON lines over a private pipe.
# --------------------------------------------------------------------------------------------

def worker_main(simulator: str, conn_path: Path, workdir: Path, duration_ms: float, threads: int = 1):
    """Serve ``run`` requests from stdin; replies go to the original stdout, everything the
    simulators print (NEST's banner, compiler output) goes to stderr."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def reply(**message):
        replies.write(json.dumps(message) + "\n")

    try:
        t0 = time.perf_counter()
        import spiking  # noqa: F401  (timed: part of the first-call cost in a fresh process)
        import_s = time.perf_counter() - t0
        sim = make_simulator(simulator, load_connectivity(conn_path), duration_ms, workdir, threads)
        info = sim.prepare()
        if simulator == "spiking":
            info["import_s"] = import_s
        reply(status="ready", info=info)
    except Exception:
        reply(status="error", error=traceback.format_exc())
        return 1
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command != "run":
            reply(status="error", error=f"unknown command {command!r}")
            continue
        try:
            reply(status="ok", result=sim.measure())
        except Exception:
            reply(status="error", error=traceback.format_exc())
    return 0


class WorkerError(RuntimeError):
    pass


class Worker:
    """A simulator in a child process (this script run with ``--worker``)."""

    def __init__(self, simulator: str, conn_path: Path, workdir: Path, duration_ms: float, env=None,
                 threads: int = 1):
        self.simulator = simulator
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "worker.log"
        self._log = open(self.log_path, "w")
        self._buffer = b""
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", simulator, "--conn", str(conn_path),
               "--workdir", str(workdir), "--duration", repr(duration_ms),
               "--worker-threads", str(threads)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     env={**os.environ, **(env or {})})

    def _receive(self, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                tail = self._log_tail()
                self.close(kill=True)
                raise WorkerError(f"{self.simulator}: no answer within {timeout_s:.0f} s{tail}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.proc.wait()
                    raise WorkerError(f"{self.simulator}: worker exited with code {self.proc.returncode}"
                                      f"{self._log_tail()}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line)
        if message["status"] == "error":
            raise WorkerError(f"{self.simulator}: {message['error']}{self._log_tail()}")
        return message

    def _log_tail(self, n_lines: int = 15) -> str:
        if not self._log.closed:
            self._log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()[-n_lines:]
        return ("\n  worker log " + str(self.log_path) + ":\n    " + "\n    ".join(lines)) if lines else ""

    def wait_ready(self) -> dict:
        return self._receive(PREPARE_TIMEOUT_S)["info"]

    def measure(self) -> dict:
        self.proc.stdin.write(b"run\n")
        self.proc.stdin.flush()
        return self._receive(RUN_TIMEOUT_S)["result"]

    def close(self, kill: bool = False):
        if self.proc.poll() is None:
            try:
                if kill:
                    raise OSError
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------

def available(simulator: str) -> bool:
    module = PEER_MODULES.get(simulator)
    return module is None or importlib.util.find_spec(module) is not None


def worker_env(simulator: str, threads: int = 1) -> dict:
    """Environment of a peer's worker. NEST: OpenMP threads that wait passively (sleep) at
    barriers unless OMP_WAIT_POLICY is set: with the default spin-waiting, 2 threads on 2 cores
    that other work shares made nest.Run 100-200x slower (0.4 s -> 40-80 s at 4000 neurons), as
    NEST synchronises its threads every min-delay (here every 0.1 ms step). Brian2 standalone
    with OpenMP synchronises its threads every step too, so it gets the same policy."""
    if simulator in ("nest", "brian2-cpp_standalone") and "OMP_WAIT_POLICY" not in os.environ:
        return {"OMP_WAIT_POLICY": "PASSIVE"}
    return {}


def entries(simulators: list[str], thread_counts: list[int]) -> list[tuple[str, int]]:
    """(simulator, threads) pairs to measure. Brian2's cython runtime target runs on one thread
    whatever the setting, so it is measured once, at 1 thread."""
    out = []
    for name in simulators:
        for threads in ([1] if name == "brian2-cython" else thread_counts):
            if (name, threads) not in out:
                out.append((name, threads))
    return out


def label(name: str, threads: int) -> str:
    return f"{name} x{threads}"


def first_run(conn_path: Path, workdir: Path, duration_ms: float, cold_cache: bool, threads: int = 1) -> dict:
    """Our engine's first run in a fresh process (numba cache warm, or empty when ``cold_cache``)."""
    env = {}
    if cold_cache:
        cache = workdir / "numba_cache"
        cache.mkdir(parents=True, exist_ok=True)
        env["NUMBA_CACHE_DIR"] = str(cache)
    worker = Worker("spiking", conn_path, workdir, duration_ms, env, threads)
    try:
        info = worker.wait_ready()
        result = worker.measure()
    finally:
        worker.close()
    return {"import_s": info["import_s"], "build_s": info["build_s"], "first_run_s": result["simulate_s"]}


def summarise(simulator: str, n_neurons: int, measurements: list[dict], info: dict, threads: int = 1) -> dict:
    """Medians over repeats; the per-repeat values stay in ``*_all``."""
    row = {"simulator": simulator, "n_neurons": n_neurons, "threads": threads}
    keys = [k for k in measurements[0] if isinstance(measurements[0][k], (int, float))]
    for key in keys:
        values = [m[key] for m in measurements]
        median = statistics.median(values)
        row[key] = int(median) if all(isinstance(v, int) for v in values) and median == int(median) else median
        if key in ("build_s", "simulate_s", "run_call_s", "prepare_s", "spikes"):
            row[f"{key}_all"] = values
    row["repeats"] = len(measurements)
    for key, value in info.items():
        row.setdefault(key, value)
    return row


def benchmark_size(n_neurons: int, simulators: list[str], args, tmp: Path, log) -> list[dict]:
    from spiking.experiments.cuba import draw_cuba

    conn = draw_cuba(cuba_params(n_neurons), np.random.default_rng(args.seed))
    conn_path = tmp / f"cuba_{n_neurons}.npz"
    save_connectivity(conn, conn_path)
    log(f"\n== {n_neurons} neurons, p = {conn.params.p_connect:g}, {conn.pre.size} synapses, seed {args.seed}")

    todo = entries(simulators, args.threads)
    runners, infos = {}, {}
    for key in todo:
        name, threads = key
        try:
            if name == "spiking":
                runner = SpikingCuba(conn, args.duration, threads)
                infos[key] = runner.prepare()
                t0 = time.perf_counter()
                runner.measure()   # warm-up in this process (loads or compiles the kernels)
                infos[key]["first_run_in_benchmark_s"] = time.perf_counter() - t0
                if threads > 1:
                    import numba
                    infos[key]["numba_threading_layer"] = numba.threading_layer()
            else:
                log(f"  starting {label(name, threads)} worker ...")
                runner = Worker(name, conn_path, tmp / f"{name}_{threads}t_{n_neurons}", args.duration,
                                worker_env(name, threads), threads)
                infos[key] = runner.wait_ready()
            runners[key] = runner
        except WorkerError as err:
            log(f"  note: {label(name, threads)} skipped: {err}")

    measurements = {key: [] for key in runners}
    failed = set()
    try:
        for repeat in range(args.repeats):
            for key, runner in runners.items():
                if key in failed:
                    continue
                try:
                    result = runner.measure()
                except WorkerError as err:
                    log(f"  note: {label(*key)} failed in repeat {repeat + 1}, no further repeats: {err}")
                    failed.add(key)
                    continue
                measurements[key].append(result)
                log(f"  repeat {repeat + 1}/{args.repeats} {label(*key):<26} simulate {result['simulate_s']:8.3f} s"
                    f"  rate {result['mean_rate_hz']:6.2f} Hz")
    finally:
        for runner in runners.values():
            if isinstance(runner, Worker):
                runner.close()

    ours_first = ("spiking", min(args.threads))
    if ours_first in runners and args.first_run:
        for cold in (False, True):
            state = "cold" if cold else "warm"
            log(f"  our first run in a fresh process ({ours_first[1]} thread(s)), numba cache {state} ...")
            try:
                fr = first_run(conn_path, tmp / f"first_run_{state}_{n_neurons}", args.duration, cold, ours_first[1])
            except WorkerError as err:
                log(f"  note: first-run measurement ({state} cache) failed: {err}")
                continue
            key = "first_run_cold_cache_s" if cold else "first_run_s"
            infos[ours_first][key] = fr["first_run_s"]
            if not cold:
                infos[ours_first]["first_process_import_s"] = fr["import_s"]
                infos[ours_first]["first_process_build_s"] = fr["build_s"]

    rows = []
    for key in todo:
        if measurements.get(key):
            rows.append(summarise(key[0], n_neurons, measurements[key], infos[key], key[1]))
    for ours in (r for r in rows if r["simulator"] == "spiking"):
        for key, target in (("first_run_s", "compile_s"), ("first_run_cold_cache_s", "compile_cold_cache_s")):
            if key in ours:
                ours[target] = max(ours[key] - ours["simulate_s"], 0.0)
    return rows


def comparisons(rows: list[dict]) -> None:
    """Add ratios: simulate time against our engine at the same size and thread count
    (``simulate_vs_spiking``; Brian2 cython against ours on 1 thread), the speed-up of each
    simulator over its own 1-thread run (``speedup_vs_1_thread``), and the mean rate against
    NEST's at the same size (same thread count where measured)."""
    ours = {(r["n_neurons"], r["threads"]): r for r in rows if r["simulator"] == "spiking"}
    nest = {(r["n_neurons"], r["threads"]): r for r in rows if r["simulator"] == "nest"}
    one = {(r["simulator"], r["n_neurons"]): r for r in rows if r["threads"] == 1}
    for r in rows:
        n, t = r["n_neurons"], r["threads"]
        mine = ours.get((n, t))
        if mine is not None and r is not mine:
            r["simulate_vs_spiking"] = r["simulate_s"] / mine["simulate_s"]
        base = one.get((r["simulator"], n))
        if base is not None and t > 1:
            r["speedup_vs_1_thread"] = base["simulate_s"] / r["simulate_s"]
        ref = nest.get((n, t)) or next((v for (m, _), v in sorted(nest.items()) if m == n), None)
        if ref is not None and r is not ref and ref["mean_rate_hz"] > 0:
            r["rate_rel_diff_vs_nest"] = r["mean_rate_hz"] / ref["mean_rate_hz"] - 1.0


def format_table(rows: list[dict]) -> str:
    head = (f"{'simulator':<22}{'threads':>8}{'neurons':>8}{'build_s':>9}{'simulate_s':>11}{'x ours':>8}"
            f"{'vs 1 thr':>9}{'rate_Hz':>9}{'vs NEST':>9}{'spikes':>9}{'syn_events':>12}")
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r['simulate_vs_spiking']:.2f}" if "simulate_vs_spiking" in r else "1" if r["simulator"] == "spiking" else "-"
        speedup = f"{r['speedup_vs_1_thread']:.2f}" if "speedup_vs_1_thread" in r else "-"
        rate = f"{100 * r['rate_rel_diff_vs_nest']:+.2f}%" if "rate_rel_diff_vs_nest" in r else "-"
        lines.append(f"{r['simulator']:<22}{r['threads']:>8}{r['n_neurons']:>8}{r['build_s']:>9.3f}"
                     f"{r['simulate_s']:>11.3f}{ratio:>8}{speedup:>9}"
                     f"{r['mean_rate_hz']:>9.3f}{rate:>9}{r['spikes']:>9}{r['synaptic_events']:>12}")
    lines.append("x ours: peer simulate_s / ours at the same thread count (brian2-cython: ours on 1 thread); "
                 "vs 1 thr: the simulator's 1-thread simulate_s / this one; vs NEST: relative difference of "
                 "the mean rate to NEST's")
    for r in rows:
        if r["simulator"] == "spiking" and "first_run_s" in r:
            cold = f", cold numba cache {r['first_run_cold_cache_s']:.2f} s" if "first_run_cold_cache_s" in r else ""
            lines.append(f"spiking {r['n_neurons']} ({r['threads']} thread(s)): first run in a fresh process "
                         f"{r['first_run_s']:.3f} s (warm numba cache{cold}); import {r['first_process_import_s']:.2f} s")
        if r["simulator"].startswith("brian2") and "compile_s" in r:
            lines.append(f"{r['simulator']} x{r['threads']} {r['n_neurons']}: code generation + compilation "
                         f"{r['compile_s']:.1f} s (not in build_s/simulate_s); run() call {r['run_call_s']:.3f} s")
    return "\n".join(lines)


def ratio_report(rows: list[dict]) -> str:
    """One line per (size, thread count): our simulate time against each peer's, and every
    simulator's mean rate against NEST's."""
    lines = ["ratios at equal thread count (peer simulate_s / ours), rates against NEST's:"]
    for n, t in sorted({(r["n_neurons"], r["threads"]) for r in rows}):
        group = [r for r in rows if r["n_neurons"] == n and r["threads"] == t]
        speed = ", ".join(f"{r['simulator']} {r['simulate_vs_spiking']:.2f}x" for r in group if "simulate_vs_spiking" in r)
        rates = ", ".join(f"{r['simulator']} {100 * r['rate_rel_diff_vs_nest']:+.2f}%"
                          for r in group if "rate_rel_diff_vs_nest" in r)
        lines.append(f"  {n:>6} neurons, {t} thread(s): ours faster than {speed or '-'}; rate vs NEST: {rates or '-'}")
    return "\n".join(lines)


def target_report(rows: list[dict]) -> str:
    lines = ["targets:"]
    for r in rows:
        n, t = r["n_neurons"], r["threads"]
        if r["simulator"] == "brian2-cpp_standalone" and "simulate_vs_spiking" in r:
            speedup = r["simulate_vs_spiking"]
            lines.append(f"  {n}, {t} thread(s): ours {speedup:.2f}x faster than brian2-cpp_standalone "
                         f"(target >= {SPEEDUP_TARGET:g}x): {'met' if speedup >= SPEEDUP_TARGET else 'MISSED'}")
        if r["simulator"] == "spiking" and "rate_rel_diff_vs_nest" in r:
            d = r["rate_rel_diff_vs_nest"]
            lines.append(f"  {n}, {t} thread(s): our mean rate {100 * d:+.2f}% vs NEST (target within "
                         f"{100 * RATE_TARGET:g}%): {'met' if abs(d) <= RATE_TARGET else 'MISSED'}")
        if r["simulator"] == "spiking" and "first_run_s" in r:
            fr = r["first_run_s"]
            lines.append(f"  {n}: first run, warm numba cache {fr:.2f} s (target < {FIRST_RUN_TARGET_S:g} s): "
                         f"{'met' if fr < FIRST_RUN_TARGET_S else 'MISSED'}")
    return "\n".join(lines) if len(lines) > 1 else ""


def write_json(path: Path, payload: dict):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000],
                   help=f"network sizes; p_connect = {FAN_IN} / n (default: 4000 16000)")
    p.add_argument("--simulators", nargs="+", choices=SIMULATORS, default=list(SIMULATORS),
                   help="simulators to run (default: all; 'spiking' is always included)")
    p.add_argument("--repeats", type=int, default=3, help="measurements per simulator and size (median reported)")
    p.add_argument("--seed", type=int, default=1, help="seed of the connection list and initial potentials")
    p.add_argument("--duration", type=float, default=DURATION_MS, help="biological time per run, ms (default 1000)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="thread counts of ours (EventEngine threads=), NEST (local_num_threads) and Brian2 "
                        "cpp_standalone (openmp_threads) (default: 1 2; brian2-cython always runs on 1)")
    p.add_argument("--no-first-run", dest="first_run", action="store_false",
                   help="skip our first-run measurements in fresh processes (warm and cold numba cache)")
    p.add_argument("--json", type=Path, help="write the results here (atomically)")
    p.add_argument("--worker", choices=SIMULATORS, help=argparse.SUPPRESS)
    p.add_argument("--conn", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--worker-threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats {args.repeats}: expected at least 1")
    if args.duration <= 0:
        p.error(f"--duration {args.duration}: expected a positive time in ms")
    bad_threads = [t for t in args.threads if t < 1]
    if bad_threads:
        p.error(f"--threads {bad_threads}: expected whole numbers >= 1")
    args.threads = sorted(set(args.threads))
    bad = [n for n in args.sizes if n <= FAN_IN]
    if bad:
        p.error(f"--sizes {bad}: expected more than {FAN_IN} neurons")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.conn, args.workdir, args.duration, args.worker_threads)

    def log(msg):
        print(msg, flush=True)

    # OMP_WAIT_POLICY set in the environment applies to every simulator (ours through numba's
    # omp threading layer, in this process; the workers inherit it). Unset, NEST and Brian2
    # standalone wait passively (worker_env) and ours keeps OpenMP's default: measured on the
    # loaded 2-core machine, PASSIVE made our 2-thread run slower (median 0.23 -> 1.0 s at 4000
    # neurons), while spinning made NEST's 40-80x slower (benchmarks/README.md).
    omp_wait_policy = os.environ.get("OMP_WAIT_POLICY", "")
    log(f"OMP_WAIT_POLICY: {omp_wait_policy or 'unset (spiking: OpenMP default; nest, brian2-cpp_standalone: PASSIVE)'}")

    simulators = ["spiking"] + [s for s in PEERS if s in args.simulators]
    for name in list(simulators):
        if not available(name):
            log(f"note: {name} skipped: module {PEER_MODULES[name]!r} is not importable")
            simulators.remove(name)

    rows = []
    with tempfile.TemporaryDirectory(prefix="cuba-bench-") as tmp:
        for n in args.sizes:
            rows += benchmark_size(n, simulators, args, Path(tmp), log)
    comparisons(rows)

    log("\n" + format_table(rows))
    log(ratio_report(rows))
    report = target_report(rows)
    if report:
        log(report)
    if args.json:
        payload = {"benchmark": "cuba", "duration_ms": args.duration, "seed": args.seed, "repeats": args.repeats,
                   "threads": args.threads, "omp_wait_policy": omp_wait_policy,
                   "fan_in": FAN_IN, "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                                 "python": platform.python_version()},
                   "notes": MEASUREMENT_NOTES, "results": rows}
        write_json(args.json, payload)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
