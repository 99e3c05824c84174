"""Activity counts for the energy model: event engine and torch engine agree, hand-checkable
runs, NeuroBench's own metrics as the oracle, ledger files round-trip (docs/energy.md)."""
import json

import pytest

torch = pytest.importorskip("torch")

import spiking as sp  # noqa: E402
import spiking.nn as snn  # noqa: E402
from spiking.nn.counts import activation_sparsity, count_activity  # noqa: E402
from spiking.recording import ActivityLedger  # noqa: E402

FIELDS = ("spikes", "neuron_updates", "synaptic_events") + ActivityLedger.COUNT_FIELDS


def _scaled(model, gain, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model:
            if isinstance(m, (snn.Linear, snn.Conv2d)):
                m.weight.normal_(0.05, 1.0).mul_(gain)
    return model


def _spikes(T, B, n, rate, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n, generator=g, dtype=torch.float64) < rate).double()


def _engine_ledger(model, x1, **kw):
    """Ledger of the exported network (one sample) run for T + layers steps."""
    exp = snn.to_network(model, x1, **kw)
    E = x1.shape[0] + len(exp.populations)
    return sp.EventEngine(exp.network).run(E * exp.dt, progress=False).ledger, E


@pytest.mark.parametrize("kind", ["feedforward", "recurrent", "cuba"])
def test_torch_counts_equal_event_engine(kind):
    if kind == "feedforward":
        model = snn.Sequential(snn.Linear(40, 30), snn.LIF(0.9, reset="soft"), snn.Linear(30, 20),
                               snn.LIF(0.8), snn.Linear(20, 4), snn.LeakyReadout(0.9))
    elif kind == "recurrent":
        model = snn.Sequential(snn.Linear(40, 25), snn.RecurrentLIF(25, 0.85), snn.Linear(25, 10), snn.LIF(0.9))
    else:
        model = snn.Sequential(snn.Linear(40, 20), snn.CubaLIF(0.9, 0.7), snn.Linear(20, 10), snn.LIF(0.9))
    model = _scaled(model.double(), 0.8 if kind != "cuba" else 1.5)
    x = _spikes(60, 1, 40, 0.1, 1)
    led_e, E = _engine_ledger(model, x[:, 0])
    led_t = count_activity(model, x, steps=E)
    assert sum(led_e.spikes.values()) > 200 and led_e.total_synaptic_events > 1000
    assert 0 < sum(led_e.active_updates.values()) < led_e.total_neuron_updates
    for f in FIELDS:
        assert getattr(led_t, f) == getattr(led_e, f), f
    assert led_t.steps == led_e.steps == E


def test_torch_counts_of_a_batch_are_the_sum_over_samples():
    model = _scaled(snn.Sequential(snn.Linear(30, 20), snn.LIF(0.9), snn.Linear(20, 8), snn.LIF(0.9)).double(), 0.9)
    x = _spikes(40, 3, 30, 0.12, 2)
    led_t = count_activity(model, x, steps=42)
    assert led_t.inferences == 3
    per_sample = [_engine_ledger(model, x[:, b])[0] for b in range(3)]
    for f in ("spikes", "synaptic_events", "active_updates", "dense_synapses", "ac_ops"):
        total = {k: sum(getattr(L, f)[k] for L in per_sample) for k in getattr(led_t, f)}
        assert getattr(led_t, f) == total, f


def test_conv_model_counts_equal_event_engine():
    model = _scaled(snn.Sequential(snn.Conv2d(2, 3, 3, padding=1), snn.LIF(0.8), snn.Flatten(),
                                   snn.Linear(3 * 6 * 6, 5), snn.LIF(0.9)).double(), 0.9)
    x = _spikes(30, 1, 2 * 6 * 6, 0.15, 3).reshape(30, 1, 2, 6, 6)
    led_e, E = _engine_ledger(model, x[:, 0].reshape(30, -1), input_shape=(2, 6, 6))
    led_t = count_activity(model, x, steps=E)
    for f in FIELDS:
        assert getattr(led_t, f) == getattr(led_e, f), f


def test_two_neuron_counts_by_hand():
    """Source spikes at steps 0 and 3 reach neuron a through one synapse with delay 2 ms (steps
    2 and 5); a (weight too small to fire) drives b through a silent synapse. Run 5 steps."""
    net = sp.Network(dt=1.0)
    net.add_source("src", 1, sp.SpikeSourceArray([0.0, 3.0], [0, 0]))
    net.add_population("a", 1, sp.LIF(tau_m=10.0, v_th=1.0, v_rest=0.0, v_reset=0.0, t_ref=0.0))
    net.add_population("b", 1, sp.CubaLIF(tau_m=10.0, v_th=1.0, v_rest=0.0, v_reset=0.0, t_ref=0.0))
    net.connect("src", "a", sp.OneToOne(), weight=0.1, delay=2.0, name="s->a")
    net.connect("a", "b", sp.OneToOne(), weight=0.5, delay=1.0, name="a->b")
    L = sp.EventEngine(net).run(5.0, progress=False).ledger
    assert L.spikes == {"src": 2, "a": 0, "b": 0}
    assert L.synaptic_events == {"s->a": 2, "a->b": 0}
    assert L.ac_ops == {"s->a": 2, "a->b": 0} and L.mac_ops == {"s->a": 0, "a->b": 0}
    assert L.neuron_updates == {"src": 0, "a": 5, "b": 5}
    assert L.active_updates == {"src": 0, "a": 1, "b": 0}     # the arrival at step 5 is past the run
    assert L.idle_updates == {"src": 0, "a": 4, "b": 5}
    assert L.state_reads == {"src": 0, "a": 5, "b": 15}       # LIF: v; CubaLIF: v, i_e, i_i
    assert L.state_writes == L.state_reads
    assert L.synapses == {"s->a": 1, "a->b": 1} and L.dense_synapses == {"s->a": 5, "a->b": 5}
    # exact mode: every update is caused by an event
    Lx = sp.EventEngine(_delta_only(net), mode="exact").run(5.0).ledger
    assert Lx.active_updates == Lx.neuron_updates and Lx.synaptic_events["s->a"] == 2


def _delta_only(net):
    n2 = sp.Network(dt=1.0)
    n2.add_source("src", 1, sp.SpikeSourceArray([0.0, 3.0], [0, 0]))
    n2.add_population("a", 1, sp.LIF(tau_m=10.0, v_th=1.0, v_rest=0.0, v_reset=0.0, t_ref=0.0))
    n2.connect("src", "a", sp.OneToOne(), weight=0.1, delay=2.0, name="s->a")
    return n2


def test_graded_input_counts_macs():
    model = _scaled(snn.Sequential(snn.Linear(10, 6), snn.LIF(0.9)).double(), 1.0)
    x = torch.rand(8, 2, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[x < 0.5] = 0.0
    L = count_activity(model, x)
    nz = int((x != 0).sum())
    macs = sum(L.mac_ops.values())
    assert macs == nz * 6 and sum(L.ac_ops.values()) == 0     # dense random weights: no zeros


def test_ledger_round_trip_and_old_files(tmp_path):
    model = _scaled(snn.Sequential(snn.Linear(20, 10), snn.LIF(0.9)).double(), 1.0)
    exp = snn.to_network(model, _spikes(20, 1, 20, 0.2, 4)[:, 0])
    rec = sp.EventEngine(exp.network).run(21.0, progress=False)
    rec.ledger.backend["crossbar"] = {"reads": 3, "adc_conversions": {"5": 7}}
    rec.save(tmp_path / "r.h5")
    back = sp.Recording.load(tmp_path / "r.h5").ledger
    for f in FIELDS + ("backend", "inferences", "steps", "mode"):
        assert getattr(back, f) == getattr(rec.ledger, f), f
    old = {k: v for k, v in rec.ledger.to_dict().items() if k in ("mode", "steps", "spikes", "neuron_updates",
                                                                  "synaptic_events")}
    led = ActivityLedger.from_dict(json.loads(json.dumps(old)))
    assert led.spikes == rec.ledger.spikes and led.active_updates == {} and led.inferences == 1


def test_count_activity_bad_input():
    model = snn.Sequential(snn.Linear(10, 5), snn.LIF(0.9))
    with pytest.raises(ValueError, match=r"expected a tensor \[T, B"):
        count_activity(model, torch.zeros(4, 10))
    with pytest.raises(ValueError, match="steps=3"):
        count_activity(model, torch.zeros(4, 1, 10), steps=3)
    with pytest.raises(ValueError, match="no spiking layer"):
        count_activity(snn.Sequential(snn.Linear(10, 5)), torch.zeros(4, 1, 10))
    driven = snn.Sequential(snn.Linear(10, 5), snn.LIF(0.9, i_offset=2.0))
    with pytest.raises(ValueError, match="resting drive"):
        count_activity(driven, torch.zeros(4, 1, 10), steps=6)
    drop = snn.Sequential(snn.Linear(10, 5), torch.nn.Dropout(0.5), snn.LIF(0.9)).train()
    x = _spikes(6, 2, 10, 0.5, 0).float()
    assert count_activity(drop, x).to_dict() == count_activity(drop, x).to_dict()   # dropout off while counting
    assert drop.training


# -- NeuroBench as the oracle ---------------------------------------------------------------

def _neurobench(model, x):
    pytest.importorskip("neurobench.models")
    from spiking.nn.neurobench_adapter import neurobench_workload

    return neurobench_workload(model, x)


@pytest.mark.parametrize("graded", [False, True])
def test_counts_equal_neurobench_metrics(graded):
    model = _scaled(snn.Sequential(snn.Linear(50, 30), snn.LIF(0.9), snn.Linear(30, 20), snn.LIF(0.85),
                                   snn.Linear(20, 5), snn.LeakyReadout(0.9)), 0.8)
    x = _spikes(25, 4, 50, 0.15, 5).float()
    if graded:  # an analog first layer: NeuroBench counts its inputs as MACs
        x = x * torch.rand(x.shape, generator=torch.Generator().manual_seed(1))
    syn, sparsity = _neurobench(model, x)
    L = count_activity(model, x)
    B = x.shape[1]
    assert sum(L.ac_ops.values()) / B == pytest.approx(syn["Effective_ACs"], abs=1e-9)
    assert sum(L.mac_ops.values()) / B == pytest.approx(syn["Effective_MACs"], abs=1e-9)
    assert sum(L.dense_synapses.values()) / B == pytest.approx(syn["Dense"], abs=1e-9)   # no zero weights
    assert (syn["Effective_MACs"] > 0) == graded and syn["Effective_ACs"] > 0
    assert activation_sparsity(L) == pytest.approx(sparsity, abs=1e-12)
    assert 0.3 < sparsity < 0.99


# -- the same oracle without neurobench installed: its numbers, recorded by this file --------
# regenerate with:  .venv/bin/python tests/test_counts.py   (needs neurobench)
REFERENCE = __import__("pathlib").Path(__file__).with_name("test_counts_neurobench.json")


def _reference_case(graded):
    model = _scaled(snn.Sequential(snn.Linear(50, 30), snn.LIF(0.9), snn.Linear(30, 20), snn.LIF(0.85),
                                   snn.Linear(20, 5), snn.LeakyReadout(0.9)), 0.8)
    x = _spikes(25, 4, 50, 0.15, 5).float()
    if graded:
        x = x * torch.rand(x.shape, generator=torch.Generator().manual_seed(1))
    return model, x


@pytest.mark.parametrize("graded", [False, True])
def test_counts_equal_recorded_neurobench_metrics(graded):
    ref = json.loads(REFERENCE.read_text())["graded" if graded else "binary"]
    model, x = _reference_case(graded)
    L = count_activity(model, x)
    B = x.shape[1]
    # the input is regenerated from seeds: check it is the recorded one before comparing
    assert int((x != 0).sum()) == ref["input_nonzero"]
    assert sum(L.ac_ops.values()) / B == pytest.approx(ref["Effective_ACs"], abs=1e-9)
    assert sum(L.mac_ops.values()) / B == pytest.approx(ref["Effective_MACs"], abs=1e-9)
    assert sum(L.dense_synapses.values()) / B == pytest.approx(ref["Dense"], abs=1e-9)
    assert activation_sparsity(L) == pytest.approx(ref["ActivationSparsity"], abs=1e-12)


if __name__ == "__main__":
    out = {}
    for graded in (False, True):
        model, x = _reference_case(graded)
        syn, sparsity = _neurobench(model, x)
        out["graded" if graded else "binary"] = {**{k: float(v) for k, v in syn.items()},
                                                 "ActivationSparsity": float(sparsity),
                                                 "input_nonzero": int((x != 0).sum())}
    import neurobench
    out["generated_by"] = f"tests/test_counts.py with neurobench {getattr(neurobench, '__version__', '?')}, " \
                          f"torch {torch.__version__}"
    REFERENCE.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


@pytest.mark.parametrize("delays", [(1, 1), (3, 3), (1, 6), (2, 9)])
def test_active_inputs_equal_a_set_of_arrivals(delays):
    """The ledger's active-update pass (a ring of "last step counted" per unit) against the
    definition written out with a Python set: the distinct (arrival step, target) pairs of every
    spike's synapses, arrivals at or past the end of the run dropped. Uniform delays take the
    one-row path, mixed delays the ring; spikes of a step include repeats of a unit's targets."""
    import numpy as np

    from spiking.engines.event import active_inputs

    rng = np.random.default_rng(sum(delays))
    n_total, n_syn, n_steps = 50, 600, 40
    pre = np.sort(rng.integers(0, n_total, n_syn))
    post = rng.integers(0, n_total, n_syn)
    delay = rng.integers(delays[0], delays[1] + 1, n_syn)
    ptr = np.zeros(n_total + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=n_total), out=ptr[1:])
    n_spk = 300
    spk_step = np.sort(rng.integers(0, n_steps, n_spk))
    spk_id = rng.integers(0, n_total, n_spk)
    pairs = {(s + delay[k], post[k]) for s, j in zip(spk_step, spk_id) for k in range(ptr[j], ptr[j + 1])
             if s + delay[k] < n_steps}
    expected = np.bincount([p for _, p in pairs], minlength=n_total)
    got = active_inputs(spk_step, spk_id, ptr, post, delay, n_steps, n_total, int(delay.min()), int(delay.max()))
    assert np.array_equal(got, expected)
    assert 0 < got.sum() < n_spk * n_syn / n_total   # repeats were merged, and some arrivals fell inside the run


@pytest.mark.parametrize("delays,threads", [((1, 1), 1), ((1, 1), 2), ((2, 7), 1), ((2, 7), 2), ((3, 3), 2)])
def test_kernel_active_updates_equal_the_arrivals_of_the_run(delays, threads):
    """Static clock runs count active updates in the neuron kernels as they read the ring buffer
    (an update with a non-zero entry); the definition is the distinct (arrival step, target)
    pairs of the run's own spikes and the engine's synapses, arrivals at or past the end
    dropped, written out here with a Python set. Three population kernels, a Poisson source,
    inhibitory input to every kind, repeated synapses, one-slot (tracked) and multi-slot ring buffers, 1 and 2 threads
    (windows of several steps when every delay allows)."""
    import numpy as np

    rng = np.random.default_rng(sum(delays))
    dt, n = 0.1, (60, 50, 40)
    net = sp.Network(dt=dt)
    net.add_source("drive", 30, sp.PoissonSource(rate=80.0))
    net.add_population("delta", n[0], sp.LIF(tau_m=10.0, v_rest=-65.0, v_reset=-65.0, v_th=-50.0, t_ref=0.5),
                       initial={"v": rng.uniform(-65.0, -51.0, n[0])})
    net.add_population("nest", n[1], sp.CubaLIF(tau_m=20.0, t_ref=0.3, update_order="nest"),
                       initial={"v": rng.uniform(-65.0, -51.0, n[1])})
    net.add_population("spinn", n[2], sp.CubaLIF(tau_m=15.0, t_ref=0.2, update_order="spinnaker"))
    names = ["delta", "nest", "spinn"]
    for b, nb in zip(names, n):
        pre, post = rng.integers(0, 30, 4 * nb), rng.integers(0, nb, 4 * nb)
        net.connect("drive", b, sp.FromList(pre, post), weight=rng.uniform(2.0, 6.0, pre.size),
                    delay=rng.integers(delays[0], delays[1] + 1, pre.size) * dt, name=f"drive-{b}")
        for a, na in zip(names, n):
            pre, post = rng.integers(0, na, 6 * na), rng.integers(0, nb, 6 * na)
            pre, post = np.concatenate([pre, pre[:10]]), np.concatenate([post, post[:10]])   # repeats
            net.connect(a, b, sp.FromList(pre, post), weight=rng.uniform(0.1, 1.5, pre.size),
                        delay=rng.integers(delays[0], delays[1] + 1, pre.size) * dt,
                        receptor="inhibitory" if a == "nest" else "excitatory", name=f"{a}-{b}")
    eng = sp.EventEngine(net, threads=threads)
    duration = 60.0
    rec = eng.run(duration, rng=np.random.default_rng(5), progress=False)
    n_steps = rec.ledger.steps
    pairs = set()
    for k_pop, pop in enumerate(eng.pops):
        trains = rec.spikes[pop.name]
        for t, i in zip(trains.times, trains.ids):
            s, j = int(round(t / dt)), int(i) + int(eng.pop_start[k_pop])
            for k in range(eng.syn_ptr[j], eng.syn_ptr[j + 1]):
                a = s + int(eng.syn_delay[k])
                if a < n_steps:
                    pairs.add((a, int(eng.syn_post[k])))
    per_unit = np.bincount([p for _, p in pairs], minlength=eng.n_total)
    expected = {p.name: 0 if p.is_source else int(per_unit[eng.pop_start[k]:eng.pop_stop[k]].sum())
                for k, p in enumerate(eng.pops)}
    assert rec.ledger.active_updates == expected
    assert all(expected[b] > 0 for b in names)
    assert sum(expected.values()) < sum(rec.ledger.neuron_updates.values())   # not every update is active
