"""SHD reader on small files written in the official HDF5 schema (no real SHD file is available).

Schema (Cramer et al. 2020; compneuro.net / zenkelab.org): spikes/times and spikes/units are
variable-length arrays per sample (float16 seconds, uint16 channels 0..699), labels uint16,
extra/speaker uint16, extra/keys the class names, extra/meta_info/{gender, age, body_height}.
"""
from __future__ import annotations

import multiprocessing
import pickle
import urllib.error
import urllib.request

import h5py
import numpy as np
import pytest

from spiking.datasets import SHD, DataFormatError, DatasetNotFoundError, DownloadError, ToChannelCounts

KEYS = [f"english {w}" for w in "zero one two three four five six seven eight nine".split()] + [
    f"german {w}" for w in "null eins zwei drei vier fuenf sechs sieben acht neun".split()
]


def write_shd_file(path, times, units, labels, speakers=None, drop=()):
    """Write an SHD-schema HDF5 file; ``drop`` lists datasets to leave out (to test errors)."""
    n = len(labels)
    speakers = np.zeros(n) if speakers is None else speakers
    with h5py.File(path, "w") as handle:
        if "spikes/times" not in drop:
            data = handle.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
            for i, sample in enumerate(times):
                data[i] = np.asarray(sample, dtype=np.float16)
        if "spikes/units" not in drop:
            data = handle.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i, sample in enumerate(units):
                data[i] = np.asarray(sample, dtype=np.uint16)
        if "labels" not in drop:
            handle.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        handle.create_dataset("extra/speaker", data=np.asarray(speakers, dtype=np.uint16))
        handle.create_dataset("extra/keys", data=np.array([k.encode() for k in KEYS]))
        meta = handle.create_group("extra/meta_info")
        meta.create_dataset("gender", data=np.array([b"female", b"male"]))
        meta.create_dataset("age", data=np.array([27, 31], dtype=np.uint16))
        meta.create_dataset("body_height", data=np.array([1.68, 1.85]))


def random_samples(n, seed=0):
    rng = np.random.default_rng(seed)
    times, units = [], []
    for _ in range(n):
        k = int(rng.integers(50, 400))
        times.append(np.sort(rng.uniform(0.0, 1.3, k)).astype(np.float16))
        units.append(rng.integers(0, 700, k))
    labels = rng.integers(0, 20, n)
    return times, units, labels


@pytest.fixture
def shd_root(tmp_path):
    times, units, labels = random_samples(12)
    write_shd_file(tmp_path / "shd_train.h5", times, units, labels, speakers=np.arange(12) % 2)
    write_shd_file(tmp_path / "shd_test.h5", times[:3], units[:3], labels[:3])
    return tmp_path, times, units, labels


def reference_counts(seconds, channels, bin_ms=10.0, group=5):
    """Straightforward loop version of the Hammouamri et al. binning, for comparison."""
    t_ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    t_ms = t_ms - t_ms.min()
    n_bins = max(1, int(np.ceil(t_ms.max() / bin_ms)))
    counts = np.zeros((n_bins, 700 // group))
    for time, channel in zip(t_ms, channels):
        counts[min(int(time // bin_ms), n_bins - 1), int(channel) // group] += 1
    return counts


def test_reads_schema_exactly(shd_root):
    root, times, units, labels = shd_root
    train = SHD(root, "train", transform=None)
    assert len(train) == 12 and len(SHD(root, "test")) == 3
    assert train.classes == tuple(KEYS) and train.speakers.tolist() == [i % 2 for i in range(12)]
    events, label = train[4]
    assert label == labels[4] and isinstance(label, int)
    assert events.dtype.names == ("t", "x", "p")
    np.testing.assert_array_equal(events["x"], units[4])
    np.testing.assert_array_equal(events["t"], np.rint(times[4].astype(np.float64) * 1e6))
    assert np.all(events["p"] == 0)
    assert events["t"].max() > 65_504  # float16 seconds * 1e6 would overflow in float16


def test_default_transform_is_hammouamri_binning(shd_root):
    root, times, units, labels = shd_root
    train = SHD(root, "train")
    assert train.transform == ToChannelCounts(bin_width=10_000.0, n_channels=700, channel_group=5)
    for index in range(len(train)):
        counts, label = train[index]
        assert counts.dtype == np.float32 and counts.shape[1] == 140
        assert counts.sum() == len(units[index])
        np.testing.assert_array_equal(counts, reference_counts(times[index], units[index]))
        # grouping: column g sums channels 5g..5g+4
        per_group = np.bincount(np.asarray(units[index]) // 5, minlength=140)
        np.testing.assert_array_equal(counts.sum(axis=0), per_group)


def test_grouping_of_hand_made_channels(tmp_path):
    channels = [0, 1, 2, 3, 4, 5, 9, 10, 699]
    write_shd_file(tmp_path / "shd_test.h5", [np.full(len(channels), 0.5)], [channels], [3])
    counts, label = SHD(tmp_path, "test")[0]
    assert counts.shape == (1, 140) and label == 3
    assert counts[0, 0] == 5 and counts[0, 1] == 2 and counts[0, 2] == 1 and counts[0, 139] == 1
    assert counts.sum() == len(channels)


def test_tonic_layout_and_default_root(tmp_path, monkeypatch):
    (tmp_path / "shd" / "SHD").mkdir(parents=True)
    write_shd_file(tmp_path / "shd" / "SHD" / "shd_test.h5", [[0.1]], [[3]], [1])
    monkeypatch.setenv("SPIKING_DATA", str(tmp_path))
    assert SHD(split="test").path == tmp_path / "shd" / "SHD" / "shd_test.h5"


def test_handle_is_opened_lazily_and_survives_pickle_and_fork(shd_root):
    root, times, units, labels = shd_root
    data = SHD(root, "train")
    assert data._handle is None  # nothing open after construction
    expected = [data[i][0] for i in range(len(data))]  # opens a handle in this process
    clone = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(clone[3][0], expected[3])
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_sum_of_sample, [(data, i) for i in range(len(data))])
    assert results == [float(e.sum()) for e in expected]
    data.close()


def _sum_of_sample(args):
    data, index = args
    return float(data[index][0].sum())


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("missing", ["spikes/times", "spikes/units", "labels"])
def test_missing_key_names_file_and_key(tmp_path, missing):
    times, units, labels = random_samples(2)
    write_shd_file(tmp_path / "shd_train.h5", times, units, labels, drop=(missing,))
    with pytest.raises(DataFormatError, match=rf"shd_train\.h5: missing dataset '{missing}'"):
        SHD(tmp_path, "train")


def test_label_out_of_range_names_index_and_value(tmp_path):
    times, units, _ = random_samples(3)
    write_shd_file(tmp_path / "shd_train.h5", times, units, [4, 20, 1])
    with pytest.raises(DataFormatError, match=r"shd_train\.h5: labels\[1\] = 20; expected a class in 0\.\.19"):
        SHD(tmp_path, "train")


def test_unit_out_of_range_and_length_mismatch(tmp_path):
    write_shd_file(tmp_path / "shd_train.h5", [[0.1, 0.2], [0.1, 0.2]], [[1, 700], [1]], [0, 1])
    data = SHD(tmp_path, "train")
    with pytest.raises(DataFormatError, match=r"shd_train\.h5: sample 0 has unit 700; expected channels 0\.\.699"):
        data[0]
    with pytest.raises(DataFormatError, match=r"sample 1 has 2 spike times but 1 units"):
        data[1]


def test_not_an_hdf5_file(tmp_path):
    (tmp_path / "shd_test.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataFormatError, match=r"shd_test\.h5: not a readable HDF5 file"):
        SHD(tmp_path, "test")


def test_damaged_sample_data_names_file_and_sample(tmp_path):
    # the index (labels, shapes) stays readable; the heap holding the spike arrays is damaged
    times, units, labels = random_samples(3)
    path = tmp_path / "shd_train.h5"
    write_shd_file(path, times, units, labels)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"GCOL")                 # signature of HDF5's global heap (variable-length data)
    raw[at:at + 4] = b"XXXX"
    path.write_bytes(bytes(raw))
    data = SHD(tmp_path, "train")
    with pytest.raises(DataFormatError, match=r"shd_train\.h5: sample 0 cannot be read .*corrupt"):
        data[0]


def test_missing_root_or_file_names_the_path(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=f"SHD root {tmp_path / 'none'} does not exist"):
        SHD(tmp_path / "none", "train")
    with pytest.raises(FileNotFoundError, match=rf"has no shd_test\.h5"):
        SHD(tmp_path, "test")
    with pytest.raises(ValueError, match="SHD split 'valid' is not one of"):
        SHD(tmp_path, "valid")


def test_download_offline_raises_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("tonic")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError, match=r"could not download SHD test into .*SHD through tonic\.datasets\.SHD"):
        SHD(tmp_path / "shd", "test", download=True)
    assert not (tmp_path / "shd").exists()
