"""A liquid state machine: a fixed random reservoir of LIF units, its network description, its
features, a feature cache and a ridge readout (numpy only; torch readouts are in
``spiking.nn.readout``).

The reservoir is the one of Lin et al., "Resistive memory-based zero-shot liquid state machine
for multimodal event data learning", Nat. Comput. Sci. (2025) (code ``MrLinNing/MemristorLSM``,
``LSM-NMNIST/lsm_sim_gaussian.py`` and ``run_lsm_gau_sim.sh``: 200 units, decay 0.9,
threshold 5.0, Gaussian weights of scale ``const = 0.07``, a time window of 50 bins). Per time
bin ``t`` and unit::

    u[t] = decay * u[t-1] * (1 - s[t-1]) + W_in x[t] + W_rec s[t-1],    s[t] = u[t] >= threshold

``x[t]`` holds the input's event counts in bin ``t`` (non-negative integers). The authors' model
file, and with it their recurrent connectivity, is not public; ours (a documented choice, see
docs/lsm.md and the sensitivity there):

* ``W_in = input_gain * weight_scale * Z_in``, ``Z_in`` i.i.d. N(0, 1) (dense);
* ``W_rec``: each of the ``n_units * (n_units - 1)`` ordered pairs (no self-connections) is
  connected with probability ``p_rec``, weights ``weight_scale * Z`` rescaled so that the spectral
  radius of ``W_rec`` is ``spectral_radius`` (``recurrence="sparse"``), or no recurrence at all
  (``recurrence="none"``).

The weights come from a seeded ``np.random.Generator`` (:func:`draw_weights`), or are given
(``Reservoir(params, w_in, w_rec)``, e.g. conductance differences of the one-shot formed RRAM
pairs, ``spiking.experiments.lsm``).

**As a network description** (:meth:`Reservoir.to_network`): a ``SpikeSourceArray`` population
``input`` and a delta-synapse :class:`~spiking.models.neurons.LIF` population ``reservoir``
with ``v_rest = v_reset = 0``, ``v_th = threshold``, no refractory period and ``tau_m =
-dt / ln(decay)``, so that the membrane decays by ``decay`` per step of ``dt`` (one time bin);
positive and negative weights become excitatory and inhibitory projections (PyNN's
magnitudes), all with a one-step delay. The mapping to the recurrence above: the engine resets
``v`` to 0 in the step of the spike, which is the factor ``(1 - s[t-1])``; an input count of ``c``
in bin ``t`` is ``c`` source spikes at time ``t * dt``, delivered in engine step ``t + 1``, and a
reservoir spike in engine step ``n`` reaches its targets in step ``n + 1``. So the engine runs the
recurrence one step later: engine step ``t + 1`` is bin ``t``, over ``(time_bins + 1) * dt``
(:func:`event_spikes`; tested spike for spike against :func:`dense_spikes`).

**Features** (:func:`features_from_spikes`): spike counts of each unit in ``windows`` equal
windows of the time bins (``windows = 1``: the authors' total counts per unit).
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import asdict, dataclass

import h5py
import numpy as np

from ..atomic import atomic_path

RECURRENCES = ("none", "sparse")


class FeatureCacheWarning(UserWarning):
    """A feature cache was made with other parameters (or is unreadable) and is rebuilt."""


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")


def _finite(name, value, lo=None, lo_open=False, hi=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{name}={value!r}: expected a finite number")
    v = float(value)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name}={value!r}: expected a value {'>' if lo_open else '>='} {lo}")
    if hi is not None and v > hi:
        raise ValueError(f"{name}={value!r}: expected a value <= {hi}")


@dataclass(frozen=True)
class ReservoirParams:
    """Parameters of the reservoir (defaults: the authors' N-MNIST settings, our recurrence).

    n_inputs: input channels; n_units: reservoir units; decay: membrane decay per time bin in
    (0, 1); threshold: firing threshold (u >= threshold); weight_scale: std of the Gaussian
    weights (the authors' ``const``); input_gain: multiplies W_in (1: the authors' scale);
    time_bins: bins per sample; recurrence: "none" or "sparse"; p_rec: connection probability of
    the recurrent weights; spectral_radius: spectral radius W_rec is scaled to (None: keep
    weight_scale); windows: feature windows; dt: ms per time bin (the network description's
    step); read_noise: std of the weight error of one synapse at each read (weight units; 0 for
    the software reservoir; see :func:`dense_spikes`).
    """

    n_inputs: int
    n_units: int = 200
    decay: float = 0.9
    threshold: float = 5.0
    weight_scale: float = 0.07
    input_gain: float = 1.0
    time_bins: int = 50
    recurrence: str = "sparse"
    p_rec: float = 0.1
    spectral_radius: float | None = 0.9
    windows: int = 1
    dt: float = 6.0
    read_noise: float = 0.0

    def __post_init__(self):
        _positive_int("n_inputs", self.n_inputs)
        _positive_int("n_units", self.n_units)
        _positive_int("time_bins", self.time_bins)
        _positive_int("windows", self.windows)
        if self.windows > self.time_bins:
            raise ValueError(f"windows={self.windows}: expected at most time_bins={self.time_bins}")
        _finite("decay", self.decay, 0.0, lo_open=True)
        if not self.decay < 1.0:
            raise ValueError(f"decay={self.decay!r}: expected a value in (0, 1)")
        _finite("threshold", self.threshold, 0.0, lo_open=True)
        _finite("weight_scale", self.weight_scale, 0.0)
        _finite("input_gain", self.input_gain, 0.0)
        _finite("p_rec", self.p_rec, 0.0, hi=1.0)
        _finite("dt", self.dt, 0.0, lo_open=True)
        _finite("read_noise", self.read_noise, 0.0)
        if self.recurrence not in RECURRENCES:
            raise ValueError(f"recurrence={self.recurrence!r}: expected one of {RECURRENCES}")
        if self.spectral_radius is not None:
            _finite("spectral_radius", self.spectral_radius, 0.0)

    @property
    def tau_m(self) -> float:
        """Membrane time constant (ms) whose decay over one bin of ``dt`` ms is ``decay``."""
        return -self.dt / math.log(self.decay)

    def n_features(self) -> int:
        return self.n_units * self.windows


def standard_normal_weights(params: ReservoirParams, rng: np.random.Generator):
    """The unit-variance draws (Z_in [n_inputs, n_units], Z_rec [n_units, n_units] with the
    sparse mask applied, zeros on the diagonal) from ``rng``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng={rng!r}: expected a numpy.random.Generator")
    z_in = rng.standard_normal((params.n_inputs, params.n_units))
    z_rec = rng.standard_normal((params.n_units, params.n_units))
    mask = rng.random((params.n_units, params.n_units)) < params.p_rec
    np.fill_diagonal(mask, False)
    return z_in, z_rec * mask


def scale_weights(params: ReservoirParams, z_in: np.ndarray, z_rec: np.ndarray):
    """W_in and W_rec from unit-variance draws: scales, sparse mask kept, spectral scaling."""
    z_in = np.asarray(z_in, dtype=np.float64)
    z_rec = np.asarray(z_rec, dtype=np.float64)
    if z_in.shape != (params.n_inputs, params.n_units):
        raise ValueError(f"input weights of shape {z_in.shape}: expected ({params.n_inputs}, {params.n_units})")
    if z_rec.shape != (params.n_units, params.n_units):
        raise ValueError(f"recurrent weights of shape {z_rec.shape}: expected ({params.n_units}, {params.n_units})")
    w_in = params.input_gain * params.weight_scale * z_in
    if params.recurrence == "none" or params.p_rec == 0:
        return w_in, np.zeros_like(z_rec)
    w_rec = params.weight_scale * z_rec
    if params.spectral_radius is not None:
        rho = float(np.max(np.abs(np.linalg.eigvals(w_rec))))
        if rho > 0:
            w_rec = w_rec * (params.spectral_radius / rho)
    return w_in, w_rec


def draw_weights(params: ReservoirParams, rng: np.random.Generator):
    """Software reservoir weights (W_in [n_inputs, n_units], W_rec [pre, post]) from ``rng``."""
    return scale_weights(params, *standard_normal_weights(params, rng))


class Reservoir:
    """A frozen reservoir: parameters and weights (``w_in[i, j]``: input i -> unit j;
    ``w_rec[i, j]``: unit i -> unit j)."""

    def __init__(self, params: ReservoirParams, w_in: np.ndarray, w_rec: np.ndarray, origin: str = "given"):
        if not isinstance(params, ReservoirParams):
            raise TypeError(f"params={params!r}: expected a ReservoirParams")
        w_in = np.asarray(w_in, dtype=np.float64)
        w_rec = np.asarray(w_rec, dtype=np.float64)
        if w_in.shape != (params.n_inputs, params.n_units):
            raise ValueError(f"w_in of shape {w_in.shape}: expected ({params.n_inputs}, {params.n_units})")
        if w_rec.shape != (params.n_units, params.n_units):
            raise ValueError(f"w_rec of shape {w_rec.shape}: expected ({params.n_units}, {params.n_units})")
        if not (np.all(np.isfinite(w_in)) and np.all(np.isfinite(w_rec))):
            raise ValueError("reservoir weights contain nan or inf")
        self.params, self.w_in, self.w_rec, self.origin = params, w_in, w_rec, origin

    @classmethod
    def seeded(cls, params: ReservoirParams, seed: int) -> "Reservoir":
        return cls(params, *draw_weights(params, np.random.default_rng(seed)), origin=f"software seed {seed}")

    def identity(self) -> dict:
        """What determines the features: parameters and a hash of the weights."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.w_in).tobytes())
        h.update(np.ascontiguousarray(self.w_rec).tobytes())
        return {"params": asdict(self.params), "weights_sha256": h.hexdigest(), "origin": self.origin}

    def decay_coefficient(self) -> float:
        """The decay per bin as the network description's LIF declares it (exp(-dt/tau_m)); the
        dense recurrence uses this value so that both engines multiply by the same number."""
        from .neurons import LIF
        return LIF(tau_m=self.params.tau_m, v_rest=0.0, v_reset=0.0, v_th=self.params.threshold).propagators(
            self.params.dt)["p22"]

    # -- the network description ----------------------------------------------------------------
    def to_network(self, counts: np.ndarray | None = None):
        """The reservoir as a :class:`~spiking.network.Network` (see the module docstring); the
        input population holds the spikes of ``counts`` ([time_bins, n_inputs]) or none."""
        from ..network import Network, Projection
        from .neurons import LIF
        p = self.params
        net = Network(dt=p.dt)
        net.add_source("input", p.n_inputs, input_source(counts, p))
        net.add_population("reservoir", p.n_units,
                           LIF(tau_m=p.tau_m, v_rest=0.0, v_reset=0.0, v_th=p.threshold, t_ref=0.0))
        for pre, w in (("input", self.w_in), ("reservoir", self.w_rec)):
            for receptor, sign in (("excitatory", 1.0), ("inhibitory", -1.0)):
                i, j = np.nonzero(sign * w > 0)
                net.projections.append(Projection(
                    f"{pre}->reservoir:{receptor[:3]}", pre, "reservoir", i.astype(np.int64), j.astype(np.int64),
                    np.abs(w[i, j]), np.ones(i.size, dtype=np.int32), receptor))
        net.validate()
        return net


def _check_counts(x: np.ndarray, params: ReservoirParams, batched: bool) -> np.ndarray:
    x = np.asarray(x)
    want = (params.time_bins, "B", params.n_inputs) if batched else (params.time_bins, params.n_inputs)
    if x.ndim != len(want) or x.shape[0] != params.time_bins or x.shape[-1] != params.n_inputs:
        raise ValueError(f"input of shape {x.shape}: expected {tuple(want)} "
                         f"(time_bins={params.time_bins}, n_inputs={params.n_inputs})")
    if x.size and (not np.all(np.isfinite(x)) or x.min() < 0):
        raise ValueError("input counts: expected finite values >= 0")
    return x


def input_source(counts, params: ReservoirParams):
    """Input counts [time_bins, n_inputs] as a SpikeSourceArray: ``c`` spikes at ``t * dt``."""
    from .sources import SpikeSourceArray
    if counts is None:
        return SpikeSourceArray(np.zeros(0), np.zeros(0, dtype=np.int64))
    c = _check_counts(counts, params, batched=False)
    if np.any(c != np.round(c)):
        raise ValueError("input counts for the network description: expected whole numbers of events")
    t, i = np.nonzero(c)
    rep = c[t, i].astype(np.int64)
    return SpikeSourceArray(np.repeat(t * params.dt, rep), np.repeat(i, rep).astype(np.int64))


# -- running ------------------------------------------------------------------------------------
def dense_spikes(reservoir: Reservoir, x: np.ndarray, rng: np.random.Generator | None = None,
                 batch_size: int = 256, return_v: bool = False, progress: bool | None = False):
    """The recurrence on a batch, dense (numpy): ``x`` [time_bins, B, n_inputs] counts ->
    spikes [time_bins, B, n_units] (uint8), and the membrane [time_bins, B, n_units] if asked.

    The update is written in the event engine's order (``v * p22 + exc - inh``, with ``exc`` and
    ``inh`` the positive and negative parts of the input) so that both give the same spikes.
    With ``params.read_noise > 0`` every read of a synapse (one per input event or presynaptic
    spike) adds an independent N(0, sigma^2) error to its weight, sigma = read_noise times the
    spread of the matrix's non-zero weights; a unit's input then has an error
    N(0, sigma_in^2 * input events + sigma_rec^2 * reservoir spikes), drawn per unit and step from
    ``rng`` (required).
    """
    p = reservoir.params
    x = _check_counts(x, p, batched=True)
    noisy = p.read_noise > 0
    if noisy and not isinstance(rng, np.random.Generator):
        raise ValueError("read_noise > 0: expected rng, a numpy.random.Generator for the read noise")
    p22 = reservoir.decay_coefficient()
    w_in_e, w_in_i = np.maximum(reservoir.w_in, 0), np.maximum(-reservoir.w_in, 0)
    w_rec_e, w_rec_i = np.maximum(reservoir.w_rec, 0), np.maximum(-reservoir.w_rec, 0)
    spread = [float(np.std(w[w != 0])) if np.any(w != 0) else 0.0 for w in (reservoir.w_in, reservoir.w_rec)]
    var_in, var_rec = (p.read_noise * spread[0]) ** 2, (p.read_noise * spread[1]) ** 2
    T, B = x.shape[0], x.shape[1]
    out = np.zeros((T, B, p.n_units), dtype=np.uint8)
    vs = np.zeros((T, B, p.n_units)) if return_v else None
    starts = range(0, B, batch_size)
    if progress is not False and B > batch_size:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="reservoir", unit="batch", leave=False, disable=None)
    for a in starts:
        xb = x[:, a:a + batch_size].astype(np.float64)
        b = xb.shape[1]
        v = np.zeros((b, p.n_units))
        s = np.zeros((b, p.n_units))
        for t in range(T):
            exc = xb[t] @ w_in_e + s @ w_rec_e
            inh = xb[t] @ w_in_i + s @ w_rec_i
            if noisy:
                var = var_in * xb[t].sum(axis=1, keepdims=True) + var_rec * s.sum(axis=1, keepdims=True)
                exc = exc + np.sqrt(var) * rng.standard_normal((b, p.n_units))
            v = v * p22 + exc - inh
            spk = v >= p.threshold
            v = np.where(spk, 0.0, v)
            s = spk.astype(np.float64)
            out[t, a:a + b] = spk
            if return_v:
                vs[t, a:a + b] = v
    return (out, vs) if return_v else out


def event_spikes(reservoir: Reservoir, counts: np.ndarray, net=None, engine=None) -> np.ndarray:
    """One sample through the event engine: counts [time_bins, n_inputs] -> spikes
    [time_bins, n_units] (uint8) in the recurrence's bins (engine step ``t + 1`` is bin ``t``).

    ``net`` and ``engine`` (from :func:`event_runner`) are reused across samples: only the input
    population's spikes change.
    """
    p = reservoir.params
    if net is None or engine is None:
        net, engine = event_runner(reservoir)
    net.populations["input"].model = input_source(counts, p)
    rec = engine.run((p.time_bins + 1) * p.dt, progress=False)
    st = rec.spikes["reservoir"]
    step = np.rint(np.asarray(st.times) / p.dt).astype(np.int64) - 1
    out = np.zeros((p.time_bins, p.n_units), dtype=np.uint8)
    keep = (step >= 0) & (step < p.time_bins)
    np.add.at(out, (step[keep], np.asarray(st.ids)[keep]), 1)
    return out


def event_runner(reservoir: Reservoir):
    """The reservoir's network description and an event engine (clock mode) built on it once."""
    from ..engines import EventEngine
    net = reservoir.to_network()
    return net, EventEngine(net, mode="clock")


def features_from_spikes(spikes: np.ndarray, windows: int) -> np.ndarray:
    """Spike counts per unit in ``windows`` equal windows: spikes [T, B, N] -> [B, windows * N]
    (window-major: feature ``k * N + j`` is unit j in window k)."""
    spikes = np.asarray(spikes)
    if spikes.ndim != 3:
        raise ValueError(f"spikes of shape {spikes.shape}: expected [T, B, N]")
    T, B, N = spikes.shape
    _positive_int("windows", windows)
    if windows > T:
        raise ValueError(f"windows={windows}: expected at most T={T}")
    edges = np.linspace(0, T, windows + 1).round().astype(np.int64)
    return np.concatenate([spikes[edges[k]:edges[k + 1]].sum(axis=0, dtype=np.float32)
                           for k in range(windows)], axis=1)


def reservoir_features(reservoir: Reservoir, x: np.ndarray, rng=None, progress=False) -> np.ndarray:
    """Features of a batch ``x`` [time_bins, B, n_inputs] (dense recurrence, the default engine)."""
    return features_from_spikes(dense_spikes(reservoir, x, rng=rng, progress=progress), reservoir.params.windows)


# -- the feature cache --------------------------------------------------------------------------
def cache_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def cached_arrays(path, identity: dict, compute) -> dict[str, np.ndarray]:
    """Arrays stored in the HDF5 file ``path`` under ``identity`` (a JSON-able dict: reservoir
    parameters, weights hash, data description); computed by ``compute()`` (a dict of arrays) and
    written atomically when absent. A file made with another identity, or unreadable, is rebuilt
    with a :class:`FeatureCacheWarning` naming what differs."""
    from pathlib import Path
    path = Path(path)
    key = cache_key(identity)
    if path.exists():
        try:
            with h5py.File(path, "r") as f:
                stored = f.attrs.get("key")
                if stored == key:
                    return {k: f[k][()] for k in f.keys()}
                old = json.loads(f.attrs.get("identity", "{}"))
            diff = _differences(old, json.loads(json.dumps(identity, sort_keys=True, default=str)))
            warnings.warn(f"feature cache {path} was made with other parameters ({diff}); rebuilding it",
                          FeatureCacheWarning, stacklevel=2)
        except (OSError, ValueError, KeyError) as err:
            warnings.warn(f"feature cache {path} is unreadable ({err}); rebuilding it", FeatureCacheWarning,
                          stacklevel=2)
    arrays = compute()
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["key"] = key
            f.attrs["identity"] = json.dumps(identity, sort_keys=True, default=str)
            for k, v in arrays.items():
                f.create_dataset(k, data=np.asarray(v))
    return {k: np.asarray(v) for k, v in arrays.items()}


def _differences(old: dict, new: dict, prefix="") -> str:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            sub = _differences(a, b, prefix + k + ".")
            if sub:
                out.append(sub)
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return "; ".join(out)


# -- readouts (numpy) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and std of the training features (std floor 1e-6 for silent features)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x):
        x = np.asarray(x, dtype=np.float64)
        return cls(x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6))

    def __call__(self, x):
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std


@dataclass(frozen=True)
class RidgeReadout:
    """Linear readout by ridge regression on one-hot targets (standardised features, bias
    unpenalised): argmin ||X W + b - Y||^2 + alpha ||W||^2, solved through the thin SVD of the
    centred features (W = V diag(s / (s^2 + alpha)) U^T (Y - mean Y)), so that every penalty of a
    search costs one SVD, and wide features (more features than samples) cost O(n^2 d)."""

    scaler: Standardizer
    weight: np.ndarray
    bias: np.ndarray

    @staticmethod
    def _prepare(x, y, n_classes):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"features {x.shape} and labels {y.shape}: expected [n, d] and [n]")
        k = int(n_classes or y.max() + 1)
        scaler = Standardizer.fit(x)
        z = scaler(x)                                   # centred: the bias is the targets' mean
        targets = np.eye(k)[y]
        ym = targets.mean(axis=0)
        u, sv, vt = np.linalg.svd(z, full_matrices=False)
        return scaler, ym, vt, sv, u.T @ (targets - ym)

    @classmethod
    def fit_path(cls, x, y, alphas, n_classes: int | None = None) -> list["RidgeReadout"]:
        """One readout per penalty in ``alphas`` (one SVD for all)."""
        for a in alphas:
            _finite("alpha", a, 0.0)
        scaler, ym, vt, sv, uty = cls._prepare(x, y, n_classes)
        return [cls(scaler, vt.T @ ((sv / (sv ** 2 + float(a)))[:, None] * uty), ym) for a in alphas]

    @classmethod
    def fit(cls, x, y, alpha: float, n_classes: int | None = None) -> "RidgeReadout":
        return cls.fit_path(x, y, [alpha], n_classes)[0]

    def scores(self, x):
        return self.scaler(x) @ self.weight + self.bias

    def predict(self, x):
        return np.argmax(self.scores(x), axis=1)

    def accuracy(self, x, y) -> float:
        return float(np.mean(self.predict(x) == np.asarray(y)))


def select_ridge(x_train, y_train, x_val, y_val, alphas=(0.1, 1, 10, 100, 1000, 10000), n_classes=None):
    """The ridge penalty with the best validation accuracy (ties: the larger penalty); returns
    (alpha, {alpha: val accuracy})."""
    alphas = [float(a) for a in alphas]
    fits = RidgeReadout.fit_path(x_train, y_train, alphas, n_classes)
    scores = {a: ro.accuracy(x_val, y_val) for a, ro in zip(alphas, fits)}
    best = max(scores, key=lambda a: (scores[a], a))
    return best, scores
