"""``spiking run shd`` on FSDD converted to SHD files (a few real recordings, a short run)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from spiking.datasets import data_root
from spiking.datasets.cochlea import CochleaParams
from spiking.datasets.fsdd import convert_fsdd
from spiking.experiments import shd

FSDD = data_root() / "fsdd"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    if not (FSDD / "recordings").is_dir():
        pytest.skip("FSDD not in the data root")
    root = tmp_path_factory.mktemp("fsdd")
    (root / "recordings").mkdir()
    for digit in (0, 1, 2):
        for speaker in ("george", "jackson"):
            for index in (0, 1, 5, 6, 7, 8):
                name = f"{digit}_{speaker}_{index}.wav"
                shutil.copy(FSDD / "recordings" / name, root / "recordings" / name)
    out = root / "shd"
    convert_fsdd(out, root=root, params=CochleaParams(n_channels=700), progress=False)
    return out / "official"


@pytest.mark.parametrize("mode", ["learned", "fixed", "none"])
def test_run_writes_metrics_curves_and_delays(converted, tmp_path, mode):
    out = tmp_path / mode
    m = shd.run(converted, out, threads=1, progress=False, delays=mode, epochs=4, hidden=8, batch_size=8,
                val_fraction=0.2)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test_accuracy"] == m["test_accuracy"] and 0.0 <= m["test_accuracy"] <= 1.0
    assert saved["config"]["samples"] == {"train": 18, "val": 6, "test": 12}
    assert saved["config"]["validation"]["fraction"] == 0.2     # the official split: both speakers in test
    assert (out / "learning_curve.png").stat().st_size > 0 and (out / "model.pt").is_file()
    assert (out / "delays.png").is_file() == (mode != "none")
    hist = m["epochs"]
    assert len(hist) == 4 and all(0 <= h["val_acc"] <= 1 for h in hist)
    # selection on validation only: the selected epoch is the best validation epoch (first of ties)
    # (with 4 epochs the sigma schedule ends after epoch 1, so every epoch may be selected)
    vals = [h["val_acc"] for h in hist]
    assert m["selected_epoch"] == int(np.argmax(vals)) + 1
    assert m["val_accuracy"] == pytest.approx(max(vals))
    if mode == "learned":
        assert [round(h["sigma"], 12) for h in hist] == [12.0, 0.23, 0.23, 0.23]


def test_validation_split_is_stratified_and_independent_of_the_seed():
    labels = np.repeat(np.arange(10), 30)
    train, val, what = shd.validation_split(labels, 0.1)
    assert np.intersect1d(train, val).size == 0 and train.size + val.size == 300
    assert np.array_equal(np.bincount(labels[val]), np.full(10, 3)) and what["fraction"] == 0.1
    assert np.array_equal(shd.validation_split(labels, 0.1)[1], val)
    # test speakers that also speak in training (real SHD): still the stratified fraction
    speakers = np.tile(np.arange(5), 60)
    assert np.array_equal(shd.validation_split(labels, 0.1, speakers, np.array([4, 7]))[1], val)


def test_speaker_held_out_split_validates_on_one_whole_training_speaker():
    labels = np.repeat(np.arange(10), 30)
    speakers = np.tile(np.arange(5), 60)
    train, val, what = shd.validation_split(labels, 0.1, speakers, np.array([9, 9, 9]))
    held = what["speaker"]
    assert held in range(5) and np.array_equal(val, np.flatnonzero(speakers == held))
    assert np.array_equal(train, np.flatnonzero(speakers != held))
    assert held not in speakers[train] and val.size == 60
    # a single training speaker cannot be held out: the fraction again
    assert "fraction" in shd.validation_split(labels, 0.1, np.zeros(300, int), np.array([9]))[2]
    with pytest.raises(ValueError, match="speakers of shape"):
        shd.validation_split(labels, 0.1, speakers[:10], np.array([9]))


@pytest.mark.parametrize("kwargs, match", [
    ({"delays": "sometimes"}, "delays='sometimes'"),
    ({"max_delay": 24}, "max_delay=24: expected an odd integer"),
    ({"dropout": 1.0}, "dropout"),
    ({"val_fraction": 0.0}, "val_fraction"),
])
def test_bad_configuration_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        shd.config(**kwargs)


def test_the_authors_configuration_is_the_default():
    cfg = shd.config()
    assert (cfg["epochs"], cfg["batch_size"], cfg["hidden"], cfg["max_delay"], cfg["dropout"]) == (150, 256, 256, 25, 0.4)
    assert cfg["beta"] == pytest.approx(1 - 10.0 / 10.05) and cfg["lr_w"] == 1e-3 and cfg["lr_pos"] == 0.1
    assert shd.config(delays="none")["max_delay"] == 1
