"""Event transforms on hand-made events, and against tonic on real N-MNIST recordings."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spiking.datasets import (
    EVENT_DTYPE,
    NMNIST,
    SPIKE_DTYPE,
    CenterCrop,
    Compose,
    Crop,
    Downsample,
    MergePolarities,
    SelectPolarity,
    ToChannelCounts,
    ToFrames,
    data_root,
    read_nmnist_bin,
)

NMNIST_ROOT = data_root() / "nmnist"
needs_nmnist = pytest.mark.skipif(
    not (NMNIST_ROOT / "Train").is_dir(),
    reason=f"real N-MNIST recordings not found at {NMNIST_ROOT} (set SPIKING_DATA to the folder holding nmnist/)",
)


def make_events(x, y, t, p) -> np.ndarray:
    events = np.empty(len(x), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t, p
    return events


@pytest.fixture
def grid_events():
    """One event on every pixel of a 34 x 34 sensor, both polarities, at times 0..2311."""
    ys, xs = np.mgrid[0:34, 0:34]
    x = np.tile(xs.ravel(), 2)
    y = np.tile(ys.ravel(), 2)
    p = np.repeat([0, 1], 34 * 34)
    return make_events(x, y, np.arange(x.size), p)


# ----------------------------------------------------------------------------- frames


def test_frames_by_time_window_hand_made():
    events = make_events(x=[0, 1, 1, 2], y=[0, 0, 0, 3], t=[100, 150, 1100, 2100], p=[0, 1, 1, 0])
    frames = ToFrames((4, 4, 2), time_window=1000)(events)
    assert frames.shape == (3, 2, 4, 4) and frames.dtype == np.float32
    assert frames[0, 0, 0, 0] == 1 and frames[0, 1, 0, 1] == 1
    assert frames[1, 1, 0, 1] == 1  # t=1100 is 1000 us after the first event: second window
    assert frames[2, 0, 3, 2] == 1
    assert frames.sum() == len(events)


def test_frames_by_bins_and_counts_keep_every_event(grid_events):
    for transform in (
        ToFrames((34, 34, 2), n_time_bins=7),
        ToFrames((34, 34, 2), event_count=500),
        ToFrames((34, 34, 2), time_window=333),
    ):
        frames = transform(grid_events)
        assert frames.sum() == len(grid_events), transform
    assert ToFrames((34, 34, 2), n_time_bins=7)(grid_events).shape[0] == 7
    by_count = ToFrames((34, 34, 2), event_count=500, dtype="int16")(grid_events)
    assert by_count.shape == (5, 2, 34, 34) and by_count.dtype == np.int16
    assert by_count.reshape(5, -1).sum(axis=1).tolist() == [500, 500, 500, 500, 312]


def test_fixed_grid_and_start_time_drop_only_outside_events():
    events = make_events(x=[0, 0, 0, 0], y=[0, 0, 0, 0], t=[0, 500, 1500, 9000], p=[0, 0, 0, 0])
    frames = ToFrames((1, 1, 1), time_window=1000, n_time_bins=3)(events)
    assert frames[:, 0, 0, 0].tolist() == [2, 1, 0]  # the event at 9000 us is past the grid
    late = ToFrames((1, 1, 1), time_window=1000, start_time=1000)(events)
    assert late[:, 0, 0, 0].tolist() == [1] + [0] * 7 + [1]  # 1500 -> frame 0, 9000 -> frame 8


def test_frames_refuse_events_outside_the_sensor():
    events = make_events([5], [0], [0], [0])
    with pytest.raises(ValueError, match=r"x=5 is outside 0\.\.3"):
        ToFrames((4, 4, 2), time_window=10)(events)
    with pytest.raises(ValueError, match=r"p=1 is outside 0\.\.0"):
        ToFrames((34, 34, 1), time_window=10)(make_events([0], [0], [0], [1]))


def test_empty_events_give_empty_or_fixed_frames():
    empty = np.empty(0, dtype=EVENT_DTYPE)
    assert ToFrames((4, 4, 2), time_window=10)(empty).shape == (0, 2, 4, 4)
    assert ToFrames((4, 4, 2), n_time_bins=3)(empty).shape == (3, 2, 4, 4)


def test_to_frames_parameters_are_validated():
    with pytest.raises(ValueError, match="expected exactly one of time_window"):
        ToFrames((34, 34, 2))
    with pytest.raises(ValueError, match="expected exactly one of time_window"):
        ToFrames((34, 34, 2), n_time_bins=3, event_count=10)
    with pytest.raises(ValueError, match=r"time_window=-1, expected a positive number"):
        ToFrames((34, 34, 2), time_window=-1)
    with pytest.raises(ValueError, match=r"sensor_size=\(34, 34\), expected \(width, height, polarities\)"):
        ToFrames((34, 34), time_window=1)
    with pytest.raises(ValueError, match="expected a structured event array"):
        ToFrames((34, 34, 2), time_window=1)(np.zeros(3))


# ----------------------------------------------------------------------------- spatial


def test_center_crop_16_keeps_the_central_box(grid_events):
    cropped = CenterCrop((34, 34, 2), 16)(grid_events)
    assert len(cropped) == 16 * 16 * 2
    assert cropped["x"].min() == 0 and cropped["x"].max() == 15
    # (34 - 16) // 2 = 9: pixel (9, 9) becomes (0, 0)
    original = grid_events[(grid_events["x"] >= 9) & (grid_events["x"] < 25) & (grid_events["y"] >= 9) & (grid_events["y"] < 25)]
    np.testing.assert_array_equal(cropped["x"], original["x"] - 9)
    np.testing.assert_array_equal(cropped["t"], original["t"])
    assert grid_events["x"].min() == 0  # input untouched
    frames = ToFrames(CenterCrop((34, 34, 2), 16).output_sensor_size(), n_time_bins=1)(cropped)
    assert frames.shape == (1, 2, 16, 16) and np.all(frames == 1)


def test_crop_with_origin():
    events = make_events(x=[0, 3, 4, 9], y=[0, 2, 5, 2], t=[0, 1, 2, 3], p=[0, 0, 0, 0])
    out = Crop(origin=(3, 2), size=(2, 4))(events)
    assert out["x"].tolist() == [0, 1] and out["y"].tolist() == [0, 3]


def test_downsample_pools_blocks(grid_events):
    pooled = Downsample(2)(grid_events)
    assert Downsample(2).output_sensor_size((34, 34, 2)) == (17, 17, 2)
    frames = ToFrames((17, 17, 2), n_time_bins=1)(pooled)
    assert np.all(frames == 4)  # each 2 x 2 block gathers four pixels
    assert Downsample((3, 2)).output_sensor_size((34, 34, 2)) == (12, 17, 2)
    uneven = ToFrames((12, 17, 2), n_time_bins=1)(Downsample((3, 2))(grid_events))
    assert uneven.sum() == len(grid_events) and uneven[0, 0, 0, 11] == 1 * 2  # last column: x = 33 only


def test_polarity_selection(grid_events):
    on = SelectPolarity(1)(grid_events)
    assert len(on) == 34 * 34 and np.all(on["p"] == 0)
    np.testing.assert_array_equal(on["t"], grid_events["t"][grid_events["p"] == 1])
    merged = MergePolarities()(grid_events)
    assert np.all(merged["p"] == 0) and len(merged) == len(grid_events)
    with pytest.raises(ValueError, match="polarity=2, expected 0"):
        SelectPolarity(2)


def test_compose_and_sensor_size_chain(grid_events):
    pipeline = Compose([CenterCrop((34, 34, 2), 16), Downsample(2), SelectPolarity(0)])
    assert pipeline.output_sensor_size((34, 34, 2)) == (8, 8, 1)
    frames = ToFrames(pipeline.output_sensor_size((34, 34, 2)), n_time_bins=2)(pipeline(grid_events))
    assert frames.shape == (2, 1, 8, 8) and frames.sum() == 16 * 16


def test_transforms_are_frozen_with_stable_repr():
    transform = Compose((CenterCrop((34, 34, 2), 16), ToFrames((16, 16, 2), time_window=10_000)))
    assert repr(transform) == repr(Compose((CenterCrop((34, 34, 2), (16, 16)), ToFrames((16, 16, 2), time_window=10_000))))
    assert " at 0x" not in repr(transform)
    with pytest.raises(dataclasses.FrozenInstanceError):
        transform.transforms[1].time_window = 5
    transform(make_events([10], [10], [0], [1]))
    assert repr(transform) == repr(Compose((CenterCrop((34, 34, 2), 16), ToFrames((16, 16, 2), time_window=10_000))))


# ----------------------------------------------------------------------------- 1-D counts


def test_channel_counts_group_channels_and_bins():
    events = np.empty(6, dtype=SPIKE_DTYPE)
    events["t"] = [5_000, 5_000, 14_999, 15_000, 25_000, 45_000]
    events["x"] = [0, 4, 5, 699, 695, 12]
    events["p"] = 0
    counts = ToChannelCounts()(events)
    # bins start at the first spike (5 ms): [5, 15), [15, 25), [25, 35), [35, 45] -> 4 bins
    assert counts.shape == (4, 140) and counts.dtype == np.float32
    assert counts[0, 0] == 2 and counts[0, 1] == 1  # channels 0 and 4 share group 0; channel 5 is group 1
    assert counts[1, 139] == 1 and counts[2, 139] == 1  # channels 699 and 695 are both group 139
    assert counts[3, 2] == 1  # the last spike, exactly at the end of the last bin, stays in it
    assert counts.sum() == len(events)


# ----------------------------------------------------------------------------- against tonic


@needs_nmnist
def test_frames_equal_tonic_toframe_with_include_incomplete():
    tonic_transforms = pytest.importorskip("tonic.transforms")
    theirs = tonic_transforms.ToFrame(sensor_size=(34, 34, 2), time_window=10_000, include_incomplete=True)
    ours = ToFrames((34, 34, 2), time_window=10_000, dtype="int16")
    test = NMNIST(NMNIST_ROOT, "test")
    for path in test.files:
        events = read_nmnist_bin(path)
        mine = ours(events)
        np.testing.assert_array_equal(mine, theirs(events.copy()), err_msg=str(path))
        assert mine.sum() == len(events)


@needs_nmnist
def test_crop_and_downsample_equal_tonic():
    tonic_transforms = pytest.importorskip("tonic.transforms")
    events = read_nmnist_bin(NMNIST_ROOT / "Test" / "3" / "00019.bin")
    np.testing.assert_array_equal(
        CenterCrop((34, 34, 2), 16)(events),
        tonic_transforms.CenterCrop(sensor_size=(34, 34, 2), size=(16, 16))(events.copy()),
    )
    theirs = tonic_transforms.Downsample(spatial_factor=0.5)(events)
    mine = Downsample(2)(events)
    for field in "xytp":
        np.testing.assert_array_equal(mine[field], theirs[field])
