"""What a run returns: spikes as sparse event lists, recorded state, and the activity ledger."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import h5py
import numpy as np

from .atomic import atomic_path
from .h5io import read_h5


@dataclass
class SpikeTrains:
    """Spikes of one population: ``times`` (ms) and local neuron ``ids``, in time order."""

    times: np.ndarray
    ids: np.ndarray
    size: int

    def __len__(self):
        return int(self.times.size)

    def counts(self) -> np.ndarray:
        return np.bincount(self.ids, minlength=self.size)

    def rates(self, duration_ms: float) -> np.ndarray:
        """Firing rate of each neuron in Hz."""
        return self.counts() / (duration_ms / 1000.0)

    def trains(self) -> list[np.ndarray]:
        order = np.argsort(self.ids, kind="stable")
        split = np.cumsum(self.counts())[:-1]
        return np.split(self.times[order], split)

    def isi_cv(self) -> np.ndarray:
        """Coefficient of variation of inter-spike intervals per neuron (nan below 3 spikes)."""
        out = np.full(self.size, np.nan)
        for i, t in enumerate(self.trains()):
            if t.size >= 3:
                isi = np.diff(t)
                out[i] = isi.std() / isi.mean()
        return out


@dataclass
class ActivityLedger:
    """Work a run actually did, per population and projection; what the energy model prices.

    spikes: spikes emitted; neuron_updates: state updates performed (every neuron every step in
    clock mode, one per processed event group in exact mode); synaptic_events: spikes delivered
    through one synapse (pre spikes x fan-out).

    Counts the energy model prices (docs/energy.md defines each; empty in files written before
    they existed): per population ``active_updates`` (neuron updates in which the neuron received
    at least one synaptic event; the rest are idle), ``state_reads`` / ``state_writes`` (state
    variables read and written by the updates: updates x variables per neuron), ``neurons``
    (size) and ``state_variables`` (per neuron); per projection ``synapses`` (stored synapses),
    ``dense_synapses`` (synapses x steps: the work of a dense, clock-driven evaluation, NeuroBench's
    "Dense"), ``ac_ops`` / ``mac_ops`` (NeuroBench's effective ACs and MACs: a synaptic event
    with a binary input is an AC, with a graded input a MAC; zero inputs count nothing).
    ``inferences``: the samples this run covers (per-inference figures divide by it).

    backend: counts that only a hardware backend knows, one JSON-able dict per backend name
    (``"crossbar"``, ``"spinnaker"``, ...): numbers, or dicts of numbers keyed by strings. The
    energy model reads them; the float engines leave this empty.
    """

    spikes: dict = field(default_factory=dict)
    neuron_updates: dict = field(default_factory=dict)
    synaptic_events: dict = field(default_factory=dict)
    steps: int = 0
    mode: str = "clock"
    backend: dict = field(default_factory=dict)
    inferences: int = 1
    active_updates: dict = field(default_factory=dict)
    state_reads: dict = field(default_factory=dict)
    state_writes: dict = field(default_factory=dict)
    neurons: dict = field(default_factory=dict)
    state_variables: dict = field(default_factory=dict)
    synapses: dict = field(default_factory=dict)
    dense_synapses: dict = field(default_factory=dict)
    ac_ops: dict = field(default_factory=dict)
    mac_ops: dict = field(default_factory=dict)

    # the per-population / per-projection count dicts beyond the original three
    COUNT_FIELDS = ("active_updates", "state_reads", "state_writes", "neurons", "state_variables",
                    "synapses", "dense_synapses", "ac_ops", "mac_ops")

    @property
    def idle_updates(self) -> dict:
        """Neuron updates in which the neuron received no synaptic event, per population."""
        return {k: int(v) - int(self.active_updates.get(k, 0)) for k, v in self.neuron_updates.items()}

    @property
    def total_spikes(self) -> int:
        return int(sum(self.spikes.values()))

    @property
    def total_synaptic_events(self) -> int:
        return int(sum(self.synaptic_events.values()))

    @property
    def total_neuron_updates(self) -> int:
        return int(sum(self.neuron_updates.values()))

    def to_dict(self) -> dict:
        return {"mode": self.mode, "steps": self.steps,
                "spikes": {k: int(v) for k, v in self.spikes.items()},
                "neuron_updates": {k: int(v) for k, v in self.neuron_updates.items()},
                "synaptic_events": {k: int(v) for k, v in self.synaptic_events.items()},
                "backend": _jsonable(self.backend), "inferences": int(self.inferences),
                **{name: {k: int(v) for k, v in getattr(self, name).items()} for name in self.COUNT_FIELDS}}

    @classmethod
    def from_dict(cls, d: dict) -> "ActivityLedger":
        """Inverse of :meth:`to_dict`; counts missing from older files stay empty."""
        return cls(d["spikes"], d["neuron_updates"], d["synaptic_events"], d["steps"], d["mode"],
                   d.get("backend", {}), int(d.get("inferences", 1)),
                   **{name: dict(d.get(name, {})) for name in cls.COUNT_FIELDS})

    def __str__(self):
        lines = [f"activity ledger ({self.mode} mode, {self.steps} steps)",
                 f"  {'population':<24}{'spikes':>12}{'neuron updates':>18}"]
        for k in self.spikes:
            lines.append(f"  {k:<24}{self.spikes[k]:>12d}{self.neuron_updates.get(k, 0):>18d}")
        lines.append(f"  {'projection':<40}{'synaptic events':>16}")
        for k, v in self.synaptic_events.items():
            lines.append(f"  {k:<40}{v:>16d}")
        lines.append(f"  total: {self.total_spikes} spikes, {self.total_synaptic_events} synaptic events, "
                     f"{self.total_neuron_updates} neuron updates")
        return "\n".join(lines)


def _jsonable(x):
    """Backend counts as plain JSON types (numpy scalars to int/float, keys to str)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer, int)) and not isinstance(x, bool):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x)
    return x


@dataclass
class Recording:
    """Result of a simulation run."""

    dt: float
    duration: float
    spikes: dict           # population -> SpikeTrains
    state: dict            # population -> {variable: array [steps, n_recorded]}
    state_ids: dict        # population -> recorded local neuron ids
    ledger: ActivityLedger
    seed_info: str = ""
    timing: dict = field(default_factory=dict)   # seconds of the run: compile_s apart from simulate_s (not saved)

    @property
    def state_times(self) -> np.ndarray:
        """Times (ms) of the rows of the recorded state (state after the update of each step)."""
        n = next((a.shape[0] for d in self.state.values() for a in d.values()), 0)
        return np.arange(n) * self.dt

    def save(self, path):
        """Write spikes, recorded state and ledger to HDF5 (atomically)."""
        with atomic_path(path, ".h5") as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["dt"] = self.dt
                f.attrs["duration"] = self.duration
                f.attrs["ledger"] = json.dumps(self.ledger.to_dict())
                g = f.create_group("spikes")
                for name, st in self.spikes.items():
                    h = g.create_group(name)
                    h.attrs["size"] = st.size
                    h.create_dataset("times", data=st.times)
                    h.create_dataset("ids", data=st.ids)
                g = f.create_group("state")
                for name, d in self.state.items():
                    h = g.create_group(name)
                    h.create_dataset("ids", data=self.state_ids[name])
                    for var, arr in d.items():
                        h.create_dataset(var, data=arr)

    @classmethod
    def load(cls, path) -> "Recording":
        with read_h5(path, "recording") as f:
            return cls._read(f)

    @classmethod
    def _read(cls, f) -> "Recording":
        spikes = {k: SpikeTrains(g["times"][()], g["ids"][()], int(g.attrs["size"]))
                  for k, g in f["spikes"].items()}
        state, ids = {}, {}
        for k, g in f["state"].items():
            ids[k] = g["ids"][()]
            state[k] = {var: g[var][()] for var in g if var != "ids"}
        led = json.loads(f.attrs["ledger"])
        ledger = ActivityLedger.from_dict(led)
        return cls(float(f.attrs["dt"]), float(f.attrs["duration"]), spikes, state, ids, ledger)
