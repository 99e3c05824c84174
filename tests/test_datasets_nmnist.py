"""N-MNIST reader and splits, checked against the real recordings in data_root()/nmnist.

Real-data tests skip (with the path in the reason) only when the nmnist folder is absent.
Corrupted inputs are written into tmp_path; the shared data is never modified.
"""
from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from spiking.datasets import (
    NMNIST,
    DataFormatError,
    DatasetNotFoundError,
    DownloadError,
    data_root,
    read_nmnist_bin,
)
from spiking.datasets import paths

NMNIST_ROOT = data_root() / "nmnist"
needs_nmnist = pytest.mark.skipif(
    not (NMNIST_ROOT / "Train").is_dir(),
    reason=f"real N-MNIST recordings not found at {NMNIST_ROOT} (set SPIKING_DATA to the folder holding nmnist/)",
)

# From /work/shared/data/README.md (counts of the shared recordings per digit 0..9).
TRAIN_COUNTS = [97, 454, 99, 93, 105, 92, 94, 117, 87, 100]
TEST_COUNTS = [8, 14, 8, 11, 14, 7, 10, 15, 2, 11]


def encode_events(x, y, t, p) -> bytes:
    """Write events in the 40-bit N-MNIST format (the inverse of the reader, written out bit by bit)."""
    out = bytearray()
    for xi, yi, ti, pi in zip(x, y, t, p):
        word = (int(pi) << 23) | int(ti)
        out += bytes([int(xi), int(yi), (word >> 16) & 0xFF, (word >> 8) & 0xFF, word & 0xFF])
    return bytes(out)


@pytest.fixture(scope="module")
def all_real_files():
    return sorted(NMNIST_ROOT.glob("*/*/*.bin"))


# ----------------------------------------------------------------------------- real data


@needs_nmnist
def test_counts_per_class_and_split():
    train_val = NMNIST(NMNIST_ROOT, "train+val")
    test = NMNIST(NMNIST_ROOT, "test")
    assert np.bincount(train_val.labels, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(test.labels, minlength=10).tolist() == TEST_COUNTS
    train, val = NMNIST(NMNIST_ROOT, "train"), NMNIST(NMNIST_ROOT, "val")
    assert (len(train), len(val), len(train_val), len(test)) == (1138, 200, 1338, 100)
    assert np.all((val.sample_ids >= 801) & (val.sample_ids <= 1000))
    assert not np.any((train.sample_ids >= 801) & (train.sample_ids <= 1000))
    assert set(train.files).isdisjoint(val.files)
    assert sorted(train.files + val.files) == sorted(train_val.files)
    np.testing.assert_array_equal(
        np.bincount(train.labels, minlength=10) + np.bincount(val.labels, minlength=10), TRAIN_COUNTS
    )


@needs_nmnist
def test_val_ids_is_a_parameter():
    val = NMNIST(NMNIST_ROOT, "val", val_ids=(1, 100))
    train = NMNIST(NMNIST_ROOT, "train", val_ids=(1, 100))
    assert len(val) == 100 and sorted(val.sample_ids.tolist()) == list(range(1, 101))
    assert len(train) == 1238


@needs_nmnist
def test_default_root_is_data_root():
    assert NMNIST(split="test").root == NMNIST_ROOT


@needs_nmnist
def test_event_ranges_durations_and_counts(all_real_files):
    assert len(all_real_files) == 1438  # Train + Test (+ the unlabeled tonic sample is not in */*/)
    lengths, durations = [], []
    for path in all_real_files:
        events = read_nmnist_bin(path)
        assert events.dtype.names == ("x", "y", "t", "p")
        assert events["t"].dtype == np.int64
        assert events["x"].min() >= 0 and events["x"].max() <= 33
        assert events["y"].min() >= 0 and events["y"].max() <= 33
        assert set(np.unique(events["p"]).tolist()) <= {0, 1}
        assert np.all(np.diff(events["t"]) >= 0), path
        lengths.append(len(events))
        durations.append((events["t"][-1] - events["t"][0]) / 1000.0)
    assert min(lengths) == 652 and max(lengths) == 7152
    # the README gives 290.9..313.9 ms, rounded to 0.1 ms
    assert round(min(durations), 1) == 290.9 and round(max(durations), 1) == 313.9


@needs_nmnist
def test_reader_matches_tonic_event_for_event(all_real_files):
    tonic_io = pytest.importorskip("tonic.io")
    tonic_dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    for path in all_real_files:
        ours = read_nmnist_bin(path)
        theirs = tonic_io.read_mnist_file(str(path), dtype=tonic_dtype)
        assert len(ours) == len(theirs), path
        for field in "xytp":
            np.testing.assert_array_equal(ours[field], theirs[field], err_msg=f"{path} field {field}")


@needs_nmnist
def test_getitem_returns_events_label_and_applies_transform():
    test = NMNIST(NMNIST_ROOT, "test")
    events, label = test[0]
    assert label == 0 and isinstance(label, int)
    assert events.dtype == NMNIST.dtype
    events_last, label_last = test[-1]
    assert label_last == 9
    counted = NMNIST(NMNIST_ROOT, "test", transform=len)
    assert counted[0] == (len(events), 0)
    with pytest.raises(IndexError, match="out of range for 100 samples"):
        test[100]


@needs_nmnist
def test_works_with_a_subset_of_files(tmp_path):
    # A root holding just a few recordings, as symlinks to the real files.
    picked = sorted((NMNIST_ROOT / "Train" / "3").glob("*.bin"))[:2] + [NMNIST_ROOT / "Train" / "7" / "00804.bin"]
    for source in picked:
        target = tmp_path / "Train" / source.parent.name / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)
    assert len(NMNIST(tmp_path, "train+val")) == 3
    assert len(NMNIST(tmp_path, "val")) == 1 and NMNIST(tmp_path, "val")[0][1] == 7


# ----------------------------------------------------------------------------- format, hand-made


def test_reader_decodes_hand_made_events(tmp_path):
    x, y = [0, 33, 5], [33, 0, 17]
    t, p = [0, 1, (1 << 23) - 1], [1, 0, 1]
    path = tmp_path / "00001.bin"
    path.write_bytes(encode_events(x, y, t, p))
    events = read_nmnist_bin(path)
    assert events["x"].tolist() == x and events["y"].tolist() == y
    assert events["t"].tolist() == t and events["p"].tolist() == p
    (tmp_path / "empty.bin").write_bytes(b"")
    assert len(read_nmnist_bin(tmp_path / "empty.bin")) == 0


def test_truncated_file_names_file_and_problem(tmp_path):
    path = tmp_path / "00001.bin"
    path.write_bytes(encode_events([1, 2], [3, 4], [10, 20], [0, 1])[:-2])
    with pytest.raises(DataFormatError, match=r"00001\.bin: length 8 bytes is not a multiple of 5"):
        read_nmnist_bin(path)


@pytest.mark.parametrize("x, y", [(34, 3), (3, 34), (255, 0)])
def test_out_of_range_coordinates_name_file_and_event(tmp_path, x, y):
    path = tmp_path / "00002.bin"
    path.write_bytes(encode_events([1, x], [1, y], [10, 20], [0, 1]))
    with pytest.raises(DataFormatError, match=rf"00002\.bin: event 1 has x={x}, y={y}; expected x in 0\.\.33"):
        read_nmnist_bin(path)


@needs_nmnist
def test_truncated_copy_of_a_real_file_fails_through_the_dataset(tmp_path):
    source = NMNIST_ROOT / "Test" / "0" / "00004.bin"
    target = tmp_path / "Test" / "0" / "00004.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(source.read_bytes()[:-3])
    with pytest.raises(DataFormatError, match="00004.bin: length .* not a multiple of 5"):
        NMNIST(tmp_path, "test")[0]


def test_missing_root_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError, match=f"N-MNIST root {missing} does not exist"):
        NMNIST(missing, "train")
    with pytest.raises(FileNotFoundError, match="has no Test/ folder"):
        NMNIST(tmp_path, "test")


def test_bad_arguments_name_the_value(tmp_path):
    with pytest.raises(ValueError, match="split 'validation' is not one of"):
        NMNIST(tmp_path, "validation")
    with pytest.raises(ValueError, match=r"val_ids=\(1000, 801\)"):
        NMNIST(tmp_path, "val", val_ids=(1000, 801))


def test_non_numeric_file_name_is_refused(tmp_path):
    (tmp_path / "Train" / "4").mkdir(parents=True)
    (tmp_path / "Train" / "4" / "sample.bin").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"sample\.bin: expected a file name <MNIST id>\.bin"):
        NMNIST(tmp_path, "train")


def test_accepts_tonic_layout(tmp_path):
    folder = tmp_path / "NMNIST" / "Test" / "5"
    folder.mkdir(parents=True)
    (folder / "00009.bin").write_bytes(encode_events([1], [2], [3], [1]))
    data = NMNIST(tmp_path, "test")
    assert data.root == tmp_path / "NMNIST" and len(data) == 1 and data[0][1] == 5


def test_download_offline_raises_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    pytest.importorskip("tonic")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match=rf"could not download N-MNIST Test into {root}/NMNIST .*URLError"):
        NMNIST(root, "test", download=True)
    assert not root.exists()


# ----------------------------------------------------------------------------- data_root


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKING_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.delenv("SPIKING_DATA")
    shared = Path(paths.__file__).resolve().parent.parent.parent / "shared" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if shared.is_dir():
        assert data_root() == shared
    monkeypatch.setattr(paths, "_repository_root", lambda: tmp_path / "repo")
    assert data_root() == tmp_path / "xdg" / "spiking-sim" / "data"
