"""CachedDataset: hit, miss, stale, corrupt and truncated caches; atomic writes; worker processes."""
from __future__ import annotations

import multiprocessing
import pickle
from dataclasses import dataclass

import h5py
import numpy as np
import pytest

from spiking.datasets import (
    NMNIST,
    CachedDataset,
    CacheRebuildWarning,
    ToFrames,
    data_root,
)

NMNIST_ROOT = data_root() / "nmnist"
needs_nmnist = pytest.mark.skipif(
    not (NMNIST_ROOT / "Test").is_dir(),
    reason=f"real N-MNIST recordings not found at {NMNIST_ROOT} (set SPIKING_DATA to the folder holding nmnist/)",
)


@dataclass(frozen=True)
class Scale:
    factor: float

    def __call__(self, sample):
        return sample * self.factor


class ToyDataset:
    """Samples of varying length [i + 1, 3], counting how often they are produced."""

    def __init__(self, n=6, transform=Scale(1.0), fail_at=None):
        self.n, self.transform, self.fail_at = n, transform, fail_at
        self.calls = 0

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        self.calls += 1
        if index == self.fail_at:
            raise RuntimeError(f"sample {index} failed")
        sample = np.arange((index + 1) * 3, dtype=np.float32).reshape(index + 1, 3) + index
        return self.transform(sample), index % 4

    def cache_identity(self):
        return {"name": "toy", "split": "all", "n": self.n}


def cache_files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_miss_then_hit(tmp_path):
    source = ToyDataset()
    first = CachedDataset(source, tmp_path, progress=False)
    assert first.built and source.calls == 6
    assert cache_files(tmp_path) == [first.path.name]  # no temporary file left
    assert first.path.name.startswith("toy-all-") and first.path.suffix == ".h5"
    for index in range(6):
        sample, label = first[index]
        expected, expected_label = ToyDataset()[index]
        np.testing.assert_array_equal(sample, expected)
        assert label == expected_label and isinstance(label, int)
    sample[...] = -1  # a copy: the cache is unaffected
    again = ToyDataset()
    second = CachedDataset(again, tmp_path, progress=False)
    assert not second.built and again.calls == 0
    np.testing.assert_array_equal(second[-1][0], ToyDataset()[5][0])
    assert len(second) == 6 and second.labels.tolist() == [0, 1, 2, 3, 0, 1]


def test_other_transform_gets_other_file(tmp_path):
    one = CachedDataset(ToyDataset(transform=Scale(1.0)), tmp_path, progress=False)
    two = CachedDataset(ToyDataset(transform=Scale(2.0)), tmp_path, progress=False)
    assert one.path != two.path and two.built
    np.testing.assert_array_equal(two[2][0], 2 * one[2][0])


def test_stale_key_is_rebuilt_with_warning(tmp_path):
    cached = CachedDataset(ToyDataset(), tmp_path, progress=False)
    with h5py.File(cached.path, "r+") as handle:
        handle.attrs["key"] = "0" * 64
    source = ToyDataset()
    with pytest.warns(CacheRebuildWarning, match=r"is stale: its key '0000.*rebuilding it"):
        rebuilt = CachedDataset(source, tmp_path, progress=False)
    assert rebuilt.built and source.calls == 6
    with h5py.File(rebuilt.path, "r") as handle:
        assert handle.attrs["key"] == rebuilt.key


def test_old_format_is_rebuilt(tmp_path):
    cached = CachedDataset(ToyDataset(), tmp_path, progress=False)
    with h5py.File(cached.path, "r+") as handle:
        handle.attrs["format"] = 0
    with pytest.warns(CacheRebuildWarning, match="in cache format 0, expected 1"):
        CachedDataset(ToyDataset(), tmp_path, progress=False)


def test_corrupt_file_is_rebuilt_with_warning(tmp_path):
    cached = CachedDataset(ToyDataset(), tmp_path, progress=False)
    cached.path.write_bytes(b"\x00garbage" * 100)
    with pytest.warns(CacheRebuildWarning, match="is unreadable"):
        rebuilt = CachedDataset(ToyDataset(), tmp_path, progress=False)
    np.testing.assert_array_equal(rebuilt[1][0], ToyDataset()[1][0])


def test_truncated_file_is_rebuilt_with_warning(tmp_path):
    cached = CachedDataset(ToyDataset(n=50), tmp_path, progress=False)
    size = cached.path.stat().st_size
    cached.close()
    with open(cached.path, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.warns(CacheRebuildWarning, match="rebuilding it"):
        rebuilt = CachedDataset(ToyDataset(n=50), tmp_path, progress=False)
    assert rebuilt.built and rebuilt.path.stat().st_size == size
    np.testing.assert_array_equal(rebuilt[49][0], ToyDataset(n=50)[49][0])


def test_failed_build_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError, match="sample 3 failed"):
        CachedDataset(ToyDataset(fail_at=3), tmp_path, progress=False)
    assert cache_files(tmp_path) == []


def test_mismatched_shapes_are_refused(tmp_path):
    class Ragged(ToyDataset):
        def __getitem__(self, index):
            return np.zeros((2, index + 1), dtype=np.float32), 0

    with pytest.raises(ValueError, match=r"sample 1 .* shape \(2, 2\); expected dtype float32 and shape \(any, \*\(1,\)\)"):
        CachedDataset(Ragged(), tmp_path, progress=False)
    assert cache_files(tmp_path) == []


def test_unstable_transform_repr_is_refused(tmp_path):
    with pytest.raises(ValueError, match="has no stable repr"):
        CachedDataset(ToyDataset(transform=lambda sample: sample), tmp_path, progress=False)
    with pytest.raises(TypeError, match="pass identity="):
        CachedDataset([(np.zeros(2), 0)], tmp_path, progress=False)
    listed = CachedDataset([(np.zeros(2), 0)], tmp_path, identity={"name": "list"}, progress=False)
    assert len(listed) == 1 and listed.path.name.startswith("list-")


def test_pickle_and_fork_workers_read_their_own_handle(tmp_path):
    cached = CachedDataset(ToyDataset(n=20), tmp_path, progress=False)
    expected = [float(cached[i][0].sum()) for i in range(20)]  # opens a descriptor in this process
    clone = pickle.loads(pickle.dumps(cached))
    assert clone._map is None and float(clone[7][0].sum()) == expected[7]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_sample_sum, [(cached, i) for i in range(20)]) == expected
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(_sample_sum, [(cached, 3)]) == [expected[3]]


def _sample_sum(args):
    cached, index = args
    return float(cached[index][0].sum())


def test_h5py_fallback_reads_the_same(tmp_path, monkeypatch):
    cached = CachedDataset(ToyDataset(), tmp_path, progress=False)
    expected = [cached[i][0] for i in range(6)]
    monkeypatch.setattr(cached, "_data_offset", None)  # as for a layout that is not numpy's
    for index in range(6):
        np.testing.assert_array_equal(cached[index][0], expected[index])


@needs_nmnist
def test_nmnist_frames_cache_round_trip(tmp_path):
    transform = ToFrames(NMNIST.sensor_size, time_window=10_000, dtype="int16")
    test = NMNIST(NMNIST_ROOT, "test", transform=transform)
    cached = CachedDataset(test, tmp_path, progress=False)
    assert cached.path.name.startswith("nmnist-test-")
    for index in (0, 17, 99):
        frames, label = cached[index]
        direct, direct_label = test[index]
        np.testing.assert_array_equal(frames, direct)
        assert label == direct_label
    other = NMNIST(NMNIST_ROOT, "test", transform=ToFrames(NMNIST.sensor_size, n_time_bins=5))
    assert CachedDataset(other, tmp_path, progress=False).path != cached.path


@needs_nmnist
def test_raw_event_arrays_cache_round_trip(tmp_path):
    test = NMNIST(NMNIST_ROOT, "test")
    cached = CachedDataset(test, tmp_path, progress=False)
    for index in (0, 50, 99):
        events, label = cached[index]
        assert events.dtype == NMNIST.dtype
        np.testing.assert_array_equal(events, test[index][0])
