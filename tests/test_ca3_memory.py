"""The CA3 content-addressable memory as a model of the library (spiking.models.ca3): it must
behave as an ideal content-addressable memory after every operation of the authors' three
experiments, whatever the spike-level conventions; plus its API, checks and a capacity sweep."""
import json

import numpy as np
import pytest

from spiking.experiments import ca3_cam as X
from spiking.experiments import ca3_capacity as K
from spiking.models.ca3 import (STDP_PUBLISHED, CA3Memory, IdealCAM, Learn, RecallByContent, RecallByCue,
                                default_stdp)
from spiking.plasticity import PairSTDP

HAVE_DATA = (X.dataset_dir() / "tb").is_dir()

RULES = {
    "spinnaker": default_stdp(),
    "online": PairSTDP.spinnaker(**STDP_PUBLISHED, update="online", post_history=0),
}


@pytest.mark.parametrize("rule", list(RULES), ids=list(RULES))
@pytest.mark.parametrize("experiment", [1, 2, 3])
def test_answers_equal_ideal_memory(experiment, rule):
    if experiment == 2 and not HAVE_DATA:
        pytest.skip(f"experiment 2 reads its inputs from {X.dataset_dir()}/tb (absent)")
    result, _ = X.run(experiment, RULES[rule])
    ideal = IdealCAM()
    for a in result.answers:
        assert a.as_pair() == ideal.apply(a.op), (a.start, a.op)


def test_experiment1_semantics():
    result, _ = X.run(1)
    ans = {a.start: a for a in result.answers}
    assert ans[30].content == (0, 1, 8, 9)            # recall by cue 0
    assert ans[40].cues == (3, 4)                      # content [6] is in cues 3 and 4
    assert ans[50].cues == (0, 3)                      # [0, 4]: cue 0 has 0, cue 3 has 4
    assert ans[70].content == (1, 3, 4, 8)             # cue 3 re-learned: 5 and 6 forgotten
    assert ans[80].cues == (4,)                        # content 6 now only in cue 4
    # while re-learning, the old content shows up once in the window (the forgetting transient)
    assert ans[60].window_content == (1, 3, 4, 5, 6, 8)
    w = result.final_weights["CA3cueCueRecall->CA3contCueRecall"].reshape(5, 10)
    assert w[3, 5] == 0.0 and w[3, 6] == 0.0


def test_experiment_inputs_rebuilt_from_operations():
    # experiments 1 and 3 are written as operations; their input spikes are the authors'
    mem, ops, starts, duration, (ct, ci, nt, ni) = X.operations(1)
    cue = {0: [0, 1, 2, 30], 3: [20, 21, 22, 60, 61, 62, 70], 4: [10, 11, 12]}
    for c, times in cue.items():
        assert sorted(ct[ci == c].tolist()) == times
    assert sorted(nt[ni == 6].tolist()) == [10, 11, 12, 20, 21, 22, 40, 80]
    mem, ops, starts, duration, (ct, ci, nt, ni) = X.operations(3)
    assert (mem.n_cues, mem.n_bits, duration) == (16, 6, 140)
    assert sorted(nt[ni == 5].tolist()) == [7, 8, 9, 49, 50, 51, 63, 64, 65, 124]


def test_run_api_and_forgetting_on_a_fresh_memory():
    mem = CA3Memory(3, 6)
    ops = [Learn(0, [0, 1]), Learn(1, [1, 2, 5]), RecallByCue(1), RecallByContent([1]), Learn(1, [3]),
           RecallByCue(1), RecallByContent([1]), RecallByContent(np.array([0, 0, 0, 1, 0, 0], bool))]
    result = mem.run(ops, spacing=12)
    assert result.correct().all(), [(a.op, a.as_pair()) for a in result.answers]
    assert result.answers[5].content == (3,)
    assert result.answers[6].cues == (0,)
    assert result.answers[7].cues == (1,)
    assert mem.n_neurons == 3 * 3 + 4 * 6 + 1
    assert result.network.n_neurons == mem.n_neurons + 3 + 6
    assert sum(p.size for p in result.network.projections if p.plasticity is not None) == mem.n_plastic_synapses


def test_single_cue_memory():
    result = CA3Memory(1, 3).run([Learn(0, [2]), RecallByCue(0), RecallByContent([2]), RecallByContent([1])])
    assert result.correct().all()


@pytest.mark.parametrize("make, match", [
    (lambda: CA3Memory(0, 4), "n_cues=0"),
    (lambda: CA3Memory(2, -1), "n_bits=-1"),
    (lambda: CA3Memory(2, 4, stdp="stdp"), "stdp='stdp'"),
    (lambda: CA3Memory(2, 4).run([Learn(2, [0])]), "cue=2"),
    (lambda: CA3Memory(2, 4).run([Learn(0, [4])]), "content bit 4"),
    (lambda: CA3Memory(2, 4).run([Learn(0, [])]), "empty content"),
    (lambda: CA3Memory(2, 4).run([RecallByContent([])]), "fragment is empty"),
    (lambda: CA3Memory(2, 4).run([RecallByCue(-1)]), "cue=-1"),
    (lambda: CA3Memory(2, 4).run([RecallByCue(0)], spacing=3), "spacing=3"),
    (lambda: CA3Memory(2, 4).run(["read"]), "operation 'read'"),
    (lambda: Learn(0, [0.5]), "expected content bit indices"),
])
def test_errors_name_the_bad_value(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_operations_from_inputs_rejects_malformed_schedules():
    with pytest.raises(ValueError, match="steps"):
        X.operations_from_inputs(np.array([0.0, 1.0]), np.array([0, 1]), np.array([]), np.array([], int))
    with pytest.raises(ValueError, match="experiment=4"):
        X.operations(4)


def test_small_capacity_sweep(tmp_path):
    report = K.run(tmp_path, cues=(2, 6), bits=(3, 8), progress=False)
    assert len(report["results"]) == 8
    for r in report["results"]:
        assert r["correct_fraction"] == 1.0, r
        assert r["wall_s"] > 0
    data = json.loads((tmp_path / "capacity.json").read_text())
    assert data["results"][0]["variant"] == "spinnaker"
    assert (tmp_path / "capacity.png").stat().st_size > 10_000


@pytest.mark.slow
def test_capacity_sweep_up_to_64x64(tmp_path):
    report = K.run(tmp_path, progress=False)
    sizes = {(r["cues"], r["bits"]) for r in report["results"]}
    assert (64, 64) in sizes and len(sizes) == 25
    model = [r for r in report["results"] if r["variant"] == "unlimited_history"]
    assert min(r["correct_fraction"] for r in model) >= 0.99
    assert all(r["correct_fraction"] == 1.0 for r in report["results"] if r["cues"] <= 8 and r["bits"] <= 16)
