"""The LSM experiment (spiking.experiments.lsm) and the torch readouts (spiking.nn.readout): the
RRAM-formed reservoir, the logistic readout, zero-shot retrieval on features with a known shared
structure, a short run on the shared N-MNIST recordings."""
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from spiking.experiments import lsm as exp  # noqa: E402
from spiking.models.lsm import Reservoir, ReservoirParams, dense_spikes  # noqa: E402
from spiking.nn.readout import (LogisticReadout, digit_matched_pairs, retrieval_top1,  # noqa: E402
                                symmetric_contrastive_loss)


def test_device_reservoir_is_seeded_and_has_the_software_scale():
    p = ReservoirParams(n_inputs=300, n_units=200, input_gain=2.0)
    a = exp.make_reservoir(p, "rram", 3)
    b = exp.make_reservoir(p, "rram", 3)
    np.testing.assert_array_equal(a.w_in, b.w_in)
    np.testing.assert_array_equal(a.w_rec, b.w_rec)
    soft = exp.make_reservoir(p, "ideal", 3)
    assert not np.allclose(a.w_in, soft.w_in)
    # conductance differences normalised by their nominal spread: the software weights' std
    assert np.std(a.w_in) == pytest.approx(2.0 * 0.07, rel=0.02)
    # same sparse mask, same spectral radius as the software reservoir of that seed
    np.testing.assert_array_equal(a.w_rec != 0, soft.w_rec != 0)
    assert np.max(np.abs(np.linalg.eigvals(a.w_rec))) == pytest.approx(0.9, rel=1e-9)
    # read noise: RRAM_READ_NOISE g_max per device against g_std (rram_random_reservoir: 100 and 10 uS)
    assert a.params.read_noise == pytest.approx(exp.RRAM_READ_NOISE * 100.0 / 10.0)
    with pytest.raises(ValueError, match="device='pcm'"):
        exp.make_reservoir(p, "pcm", 0)


def test_logistic_readout_learns_separable_classes():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 20)) * 2
    y = rng.integers(0, 5, 400)
    x = centers[y] + rng.normal(size=(400, 20))
    lo = LogisticReadout.fit(x[:300], y[:300], weight_decay=1e-3, epochs=100, seed=0)
    assert lo.accuracy(x[300:], y[300:]) > 0.95
    lo2 = LogisticReadout.fit(x[:300], y[:300], weight_decay=1e-3, epochs=100, seed=0)
    np.testing.assert_array_equal(lo.predict(x), lo2.predict(x))
    with pytest.raises(ValueError, match="epochs=0"):
        LogisticReadout.fit(x, y, epochs=0)


def test_contrastive_pairs_and_loss():
    gen = torch.Generator().manual_seed(0)
    ya = np.array([1, 1, 2, 3, 3, 3, 9])
    yi = np.array([3, 2, 1, 1, 2])
    ia, ii = digit_matched_pairs(ya, yi, gen)
    np.testing.assert_array_equal(ya[ia], [1, 2, 3])
    np.testing.assert_array_equal(yi[ii], [1, 2, 3])
    e = torch.eye(3)
    perfect = symmetric_contrastive_loss(e, e, 0.01)
    assert perfect.item() < 1e-6
    assert symmetric_contrastive_loss(e, e[[1, 2, 0]], 0.01).item() > 10
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert retrieval_top1(q, [0, 1], q, [0, 1]) == 1.0


def test_zero_shot_generalises_to_unseen_classes_of_a_shared_latent():
    # both modalities are linear images of a 3-d class latent: projections learned on seven seen
    # classes must retrieve the two unseen ones well above chance (0.5)
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(10, 3))
    a_map, i_map = rng.normal(size=(3, 40)), rng.normal(size=(3, 60))

    def modality(m, n, noise):
        y = {s: np.tile(np.arange(10), n) for s in ("train", "val", "test")}
        return {s: latent[v] @ m + noise * rng.normal(size=(v.size, m.shape[1])) for s, v in y.items()}, y

    fa, ya = modality(a_map, 10, 0.3)
    fi, yi = modality(i_map, 10, 0.3)
    res = exp.zero_shot(fi, yi, fa, ya, seeds=(0,), temperatures=(0.1,), hiddens=(0,), steps=150)
    s = res["summary"]
    assert s["chance"]["unseen"] == 0.5
    assert s["test_seen"]["audio_to_image"]["mean"] > 0.8
    assert s["unseen"]["audio_to_image"]["mean"] > 0.8
    assert s["unseen"]["image_to_audio"]["mean"] > 0.8
    # the training-free reference (profiles of similarity to the seen classes) finds the shared latent too
    assert s["unseen"]["audio_to_image_profile"]["mean"] > 0.8
    # the unseen classes' items never enter training: shuffling their features destroys retrieval
    for f, y in ((fa, ya), (fi, yi)):
        for split in ("val", "test"):
            m = np.isin(y[split], (8, 9))
            f[split][m] = rng.normal(size=(m.sum(), f[split].shape[1]))
    res2 = exp.zero_shot(fi, yi, fa, ya, seeds=(0,), temperatures=(0.1,), hiddens=(0,), steps=150)
    assert res2["summary"]["unseen"]["audio_to_image"]["mean"] < 0.75
    assert res2["summary"]["unseen"]["audio_to_image_profile"]["mean"] < 0.75
    assert res2["summary"]["test_seen"]["audio_to_image"]["mean"] == s["test_seen"]["audio_to_image"]["mean"]


def test_energy_comparison_prices_crossbar_and_digital_targets():
    pytest.importorskip("spiking.hardware.energy")
    p = ReservoirParams(n_inputs=20, n_units=30, time_bins=10, threshold=1.0, weight_scale=0.3)
    r = Reservoir.seeded(p, 0)
    x = np.random.default_rng(0).poisson(0.5, (10, 20)).astype(float)
    e = exp.energy_comparison(r, x)
    assert e["spikes_event"] == int(dense_spikes(r, x[:, None]).sum())
    assert isinstance(e["crossbar/hardware"], float) and e["crossbar/hardware"] > 0
    assert isinstance(e["horowitz45/ops"], float) and e["horowitz45/ops"] > 0


def _nmnist_available():
    try:
        from spiking.datasets import NMNIST
        return len(NMNIST(split="test")) > 0
    except Exception:  # noqa: BLE001 - any failure to find the recordings skips
        return False


@pytest.mark.skipif(not _nmnist_available(), reason="shared N-MNIST recordings not found")
def test_short_nmnist_run_writes_metrics(tmp_path):
    kw = dict(task="nmnist", seeds=(0,), gains=(2.0,), windows_grid=(1,), pools=(2, 4), logistic=False, energy=False,
              limit=40,
              cache_dir=tmp_path / "cache", progress=False, learning_curve=None, sensitivity=False)
    m = exp.run(tmp_path / "out", **kw)
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["test_accuracy"] == m["test_accuracy"]
    assert 0.3 < m["test_accuracy"] <= 1.0 and math.isfinite(m["val_accuracy"])   # 10 classes: chance 0.1
    for name in ("confusion.png", "features.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
    # the paired comparison, from the Test predictions, agrees with the table's Test accuracies
    t = m["nmnist"]["table"]
    for name, (a, b) in {"rram_vs_ideal": ("rram", "ideal"), "ideal_vs_raw": ("ideal", "raw")}.items():
        boot = m["nmnist"]["paired"][name]["ridge"]["pooled_bootstrap"]
        assert boot["difference"] == pytest.approx(t[a]["ridge"]["test_accuracy"]["mean"]
                                                   - t[b]["ridge"]["test_accuracy"]["mean"])
        assert boot["ci"][0] <= boot["difference"] <= boot["ci"][1] and boot["n_items"] == 40
    # determinism: same seed, same reservoir, same features (from the cache) and accuracy
    m2 = exp.run(tmp_path / "out2", **kw)
    assert m2["nmnist"]["table"] == m["nmnist"]["table"]
    m3 = exp.run(tmp_path / "out3", **dict(kw, cache_dir=tmp_path / "cache2"))   # recomputed
    assert m3["nmnist"]["table"] == m["nmnist"]["table"]


def test_torch_recurrence_equals_numpy_recurrence():
    from spiking.nn.reservoir import dense_spikes_torch
    p = ReservoirParams(n_inputs=40, n_units=50, time_bins=25, threshold=1.0, weight_scale=0.3, spectral_radius=1.5)
    r = Reservoir.seeded(p, 0)
    x = np.random.default_rng(1).poisson(0.3, (25, 20, 40)).astype(float)
    ref = dense_spikes(r, x)
    assert ref.sum() > 100
    np.testing.assert_array_equal(dense_spikes_torch(r, x, batch_size=7), ref)


def test_grouped_contrastive_loss_is_the_mean_of_the_groups_losses():
    from spiking.nn.readout import grouped_contrastive_loss
    gen = torch.Generator().manual_seed(0)
    ea = torch.nn.functional.normalize(torch.randn(3, 5, 8, generator=gen), dim=2)
    ei = torch.nn.functional.normalize(torch.randn(3, 5, 8, generator=gen), dim=2)
    each = torch.stack([symmetric_contrastive_loss(ea[g], ei[g], 0.1) for g in range(3)]).mean()
    assert grouped_contrastive_loss(ea, ei, 0.1).item() == pytest.approx(each.item(), rel=1e-6)


def test_prototype_retrieval():
    from spiking.nn.readout import prototype_top1
    g = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    q = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    assert prototype_top1(q, [0, 1], g, [0, 0, 1, 1]) == 1.0
    assert prototype_top1(q, [1, 0], g, [0, 0, 1, 1]) == 0.0


def test_mcnemar_exact_against_the_binomial_test():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for n, pa, pb in ((100, 0.9, 0.85), (60, 0.7, 0.7), (200, 0.95, 0.8)):
        a, b = rng.random(n) < pa, rng.random(n) < pb
        r = exp.mcnemar_exact(a, b)
        only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
        assert (r["only_a"], r["only_b"]) == (only_a, only_b)
        assert r["difference"] == pytest.approx(a.mean() - b.mean())
        ref = stats.binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
        assert r["p_value"] == pytest.approx(ref, rel=1e-9)
    # by hand: 6 discordant items all one way, p = 2 / 2^6
    a = np.array([True] * 6 + [True] * 10)
    b = np.array([False] * 6 + [True] * 10)
    assert exp.mcnemar_exact(a, b)["p_value"] == pytest.approx(2 / 64)
    assert exp.mcnemar_exact(a, a)["p_value"] == 1.0
    with pytest.raises(ValueError, match=r"correct_a \(16,\) and correct_b \(3,\)"):
        exp.mcnemar_exact(a, b[:3])


def test_paired_bootstrap_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(1)
    n = 400
    a = rng.random((3, n)) < 0.9
    b = rng.random((3, n)) < 0.8
    r = exp.paired_bootstrap(a, b, np.random.default_rng(5), n_boot=20000)
    d = (a.astype(float) - b).mean(axis=0)
    assert r["difference"] == pytest.approx(d.mean())
    half = 1.959964 * d.std() / math.sqrt(n)     # the bootstrap's sd of a mean of n resampled items
    assert (r["ci"][1] - r["ci"][0]) / 2 == pytest.approx(half, rel=0.05)
    assert r["ci"][0] < d.mean() < r["ci"][1]
    assert r["p_le_0"] < 0.001 and r["p_ge_0"] > 0.999
    # the same generator seed gives the same interval; identical or disjoint correctness is exact
    assert exp.paired_bootstrap(a, b, np.random.default_rng(5), n_boot=20000) == r
    same = exp.paired_bootstrap(a, a, np.random.default_rng(0), n_boot=100)
    assert same["ci"] == [0.0, 0.0] and same["p_le_0"] == 1.0
    ones = np.ones((2, 50), dtype=bool)
    assert exp.paired_bootstrap(ones, ~ones, np.random.default_rng(0), n_boot=100)["ci"] == [1.0, 1.0]
    with pytest.raises(ValueError, match="n_boot=0"):
        exp.paired_bootstrap(a, b, np.random.default_rng(0), n_boot=0)
    with pytest.raises(ValueError, match="rng"):
        exp.paired_bootstrap(a, b, 0)


def test_zero_shot_chooses_the_projection_on_seen_validation():
    # an MLP projection is a candidate; the choice is the best seen-class validation retrieval
    rng = np.random.default_rng(2)
    latent = rng.normal(size=(10, 3))
    maps = rng.normal(size=(3, 30)), rng.normal(size=(3, 20))
    y = {s: np.tile(np.arange(10), 6) for s in ("train", "val", "test")}
    fa, fi = ({s: np.tanh(latent[v] @ m) + 0.3 * rng.normal(size=(v.size, m.shape[1])) for s, v in y.items()}
              for m in maps)
    res = exp.zero_shot(fi, y, fa, y, seeds=(0,), temperatures=(0.1, 0.2), hiddens=(0, 16), steps=100)
    row = res["per_seed"][0]
    cands = row["candidates"]
    assert sorted((c["hidden"], c["temperature"]) for c in cands) == [(0, 0.1), (0, 0.2), (16, 0.1), (16, 0.2)]
    best = max(c["val_seen"] for c in cands)
    chosen = [c for c in cands if (c["hidden"], c["temperature"]) == (row["hidden"], row["temperature"])][0]
    assert chosen["val_seen"] == best
    assert 0.5 * (row["val_seen"]["audio_to_image"] + row["val_seen"]["image_to_audio"]) == best
    from spiking.nn.readout import Projections
    with pytest.raises(ValueError, match="hidden=-1"):
        Projections(3, 4, hidden=-1)
    m = Projections(30, 20, dim=8, hidden=16, generator=torch.Generator().manual_seed(0))
    e = m.embed_audio(torch.randn(5, 30))
    assert e.shape == (5, 8) and torch.allclose(e.norm(dim=1), torch.ones(5))


@pytest.mark.parametrize("held_out", [True, False])
def test_fsdd_validation_mirrors_the_split(tmp_path, held_out):
    """Speaker-held-out split: validation is every recording of one training speaker, none of it
    in training, none of it Test; a split whose Test speakers also train: a seeded 10 % of the
    training recordings. Counts come from the files (SHD schema, the converter's layout)."""
    from test_datasets_shd import random_samples, write_shd_file

    split = "speaker-x" if held_out else "official"
    (tmp_path / split).mkdir()
    times, units, _ = random_samples(60, seed=1)
    labels = np.arange(60) % 10
    train_spk = 1 + np.arange(60) % 3                     # speakers 1, 2, 3
    write_shd_file(tmp_path / split / "shd_train.h5", times, units, labels, speakers=train_spk)
    test_spk = np.zeros(20) if held_out else 1 + np.arange(20) % 3
    write_shd_file(tmp_path / split / "shd_test.h5", times[:20], units[:20], labels[:20], speakers=test_spk)
    data, y, ident = exp.fsdd_data(split, time_bins=10, root=tmp_path)
    n_val = y["val"].size
    assert y["train"].size + n_val == 60 and y["test"].size == 20
    x_all, _, spk, _ = exp.load_fsdd(split, "train", 10, root=tmp_path)
    # each validation sample is one of the training file's recordings, and not a training one
    flat = x_all.transpose(1, 0, 2).reshape(60, -1)
    val_rows = [int(np.flatnonzero((flat == s.reshape(-1)).all(axis=1))[0]) for s in data["val"].transpose(1, 0, 2)]
    train_rows = [int(np.flatnonzero((flat == s.reshape(-1)).all(axis=1))[0]) for s in data["train"].transpose(1, 0, 2)]
    assert not set(val_rows) & set(train_rows)
    if held_out:
        assert ident["validation"]["speaker"] in (1, 2, 3) and n_val == 20
        assert set(spk[val_rows]) == {ident["validation"]["speaker"]}
        assert ident["validation"]["speaker"] not in set(spk[train_rows])
    else:
        assert ident["validation"] == {"fraction": 0.1} and n_val == 6
        assert len(set(spk[val_rows])) > 1
    again = exp.fsdd_data(split, time_bins=10, root=tmp_path)
    assert np.array_equal(again[0]["val"], data["val"])     # seeded


def _two_inputs(n=(60, 30, 30), seed=0):
    """Inputs 'signal' (the class sets which of 3 channel groups fires) and 'noise' (counts
    independent of the class) of the same recordings, and their labels."""
    rng = np.random.default_rng(seed)
    y = {s: rng.integers(0, 3, k) for s, k in zip(("train", "val", "test"), n)}
    sig, noise = {}, {}
    for s, lab in y.items():
        x = rng.poisson(0.2, (10, lab.size, 12)).astype(np.uint8)
        for c in range(3):
            x[:, lab == c, 4 * c:4 * c + 4] += rng.poisson(1.5, (10, int(np.sum(lab == c)), 4)).astype(np.uint8)
        sig[s] = x
        noise[s] = rng.poisson(0.7, (10, lab.size, 6)).astype(np.uint8)
    return [exp.Inputs("signal", sig, {"synthetic": "signal"}, "t-signal"),
            exp.Inputs("noise", noise, {"synthetic": "noise"}, "t-noise")], y


def test_classification_chooses_the_input_on_validation_never_on_test(tmp_path):
    inputs, y = _two_inputs()
    base = ReservoirParams(n_inputs=12, n_units=30, time_bins=10, dt=1.0)
    kw = dict(seeds=(0,), gains=(4.0, 16.0), windows_grid=(1, 2), logistic=False, learning_curve=None,
              sensitivity=False, progress=False, cache_dir=tmp_path)
    res = exp.classification(inputs, y, base, **kw)
    # every (input, gain, windows) cell searched, the choice is the best validation cell
    assert {(r["input"], r["input_gain"], r["windows"]) for r in res["search"]} == \
        {(i, g, w) for i in ("signal", "noise") for g in (4.0, 16.0) for w in (1, 2)}
    best = max(r["ridge_val_accuracy"] for r in res["search"])
    assert res["chosen"]["ridge"]["ridge_val_accuracy"] == best
    assert res["chosen"]["ridge"]["input"] == "signal" and res["raw_chosen"]["ridge"]["input"] == "signal"
    assert res["params_by_readout"]["ridge"]["n_inputs"] == 12
    assert res["runs"]["ideal"][0]["ridge"]["input"] == "signal"
    # Test labels play no part in any choice: scrambled, the same choices and validation figures
    y2 = dict(y, test=np.random.default_rng(5).permutation(y["test"]))
    res2 = exp.classification(inputs, y2, base, **kw)
    assert res2["chosen"] == res["chosen"] and res2["raw_chosen"] == res["raw_chosen"]
    assert res2["table"]["ideal"]["ridge"]["val_accuracy"] == res["table"]["ideal"]["ridge"]["val_accuracy"]


def test_classification_refuses_inputs_that_do_not_match_the_labels(tmp_path):
    inputs, y = _two_inputs()
    base = ReservoirParams(n_inputs=12, n_units=30, time_bins=10, dt=1.0)
    short = exp.Inputs("short", {s: x[:, :-1] for s, x in inputs[0].data.items()}, {"s": 1}, "t-short")
    with pytest.raises(ValueError, match="short.*recordings per split"):
        exp.classification([short], y, base, seeds=(0,), logistic=False, learning_curve=None, sensitivity=False,
                           cache_dir=tmp_path)
    with pytest.raises(ValueError, match="distinct names"):
        exp.classification([inputs[0], inputs[0]], y, base, seeds=(0,), logistic=False, cache_dir=tmp_path)
