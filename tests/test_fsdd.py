"""FSDD -> SHD-schema conversion (spiking.datasets.fsdd), on real FSDD recordings."""
from __future__ import annotations

import shutil
import wave

import h5py
import numpy as np
import pytest
from scipy.io import wavfile

from spiking.datasets import SHD, DataFormatError, ToChannelCounts, data_root
from spiking.datasets.cochlea import CochleaParams, cochlea_spikes
from spiking.datasets.fsdd import (CLASS_NAMES, convert_fsdd, list_recordings, official_split, read_wav,
                                   speaker_split)

FSDD = data_root() / "fsdd"
needs_fsdd = pytest.mark.skipif(not (FSDD / "recordings").is_dir(), reason="FSDD not in the data root")
SMALL = CochleaParams(n_channels=40)


@needs_fsdd
def test_splits_follow_the_fsdd_rules_on_the_real_manifest():
    recs = list_recordings(FSDD)
    assert len(recs) == 3000 and len({r.speaker for r in recs}) == 6
    split = official_split(recs)
    assert (len(split["train"]), len(split["test"])) == (2700, 300)          # FSDD README
    assert {recs[i].index for i in split["test"]} == set(range(5))
    manifest = {row.split(",")[4]: row.split(",")[0] for row in (FSDD / "manifest.csv").read_text().split()[1:]}
    assert all(manifest[f"recordings/{recs[i].path.name}"] == part for part, idx in split.items() for i in idx)
    held = speaker_split(recs, "theo")
    assert (len(held["train"]), len(held["test"])) == (2500, 500)
    assert {recs[i].speaker for i in held["test"]} == {"theo"}
    assert "theo" not in {recs[i].speaker for i in held["train"]}
    with pytest.raises(ValueError, match="held-out speaker 'nobody'"):
        speaker_split(recs, "nobody")


@needs_fsdd
def test_read_wav_matches_scipy_on_a_real_recording():
    path = FSDD / "recordings" / "7_jackson_32.wav"
    x, rate = read_wav(path)
    rate2, raw = wavfile.read(path)
    assert rate == rate2 == 8000
    assert np.array_equal(x, raw.astype(np.float64) / 32768.0)


def _write(path, data, rate=8000, channels=1, width=2):
    with wave.open(str(path), "wb") as h:
        h.setnchannels(channels)
        h.setsampwidth(width)
        h.setframerate(rate)
        h.writeframes(data)


def test_bad_wav_files_are_refused_with_the_file_named(tmp_path):
    stereo = tmp_path / "stereo.wav"
    _write(stereo, np.zeros(200, np.int16).tobytes(), channels=2)
    with pytest.raises(DataFormatError, match="stereo.wav: 2 audio channels; expected mono"):
        read_wav(stereo)
    empty = tmp_path / "empty.wav"
    _write(empty, b"")
    with pytest.raises(DataFormatError, match="empty.wav: an empty recording"):
        read_wav(empty)
    floating = tmp_path / "float.wav"
    wavfile.write(floating, 8000, np.zeros(100, np.float32))          # IEEE float, not PCM
    with pytest.raises(DataFormatError, match="float.wav: not a PCM WAV"):
        read_wav(floating)
    text = tmp_path / "text.wav"
    text.write_text("hello")
    with pytest.raises(DataFormatError, match="text.wav: not a PCM WAV"):
        read_wav(text)


@pytest.fixture
def small_fsdd(tmp_path):
    """A copy of 24 real recordings: digits 0-1, three speakers, indices 0, 1, 5, 6."""
    if not (FSDD / "recordings").is_dir():
        pytest.skip("FSDD not in the data root")
    root = tmp_path / "fsdd"
    (root / "recordings").mkdir(parents=True)
    for digit in (0, 1):
        for speaker in ("george", "jackson", "theo"):
            for index in (0, 1, 5, 6):
                name = f"{digit}_{speaker}_{index}.wav"
                shutil.copy(FSDD / "recordings" / name, root / "recordings" / name)
    return root


def test_converted_files_read_through_the_shd_reader_unchanged(small_fsdd, tmp_path):
    out = tmp_path / "out"
    summary = convert_fsdd(out, root=small_fsdd, params=SMALL, held_out_speakers=("theo",), progress=False)
    assert summary["splits"] == {"official": {"train": 12, "test": 12}, "speaker-theo": {"train": 16, "test": 8}}
    recs = list_recordings(small_fsdd)
    train = SHD(out / "official", "train", transform=None)
    test = SHD(out / "official", "test", transform=None)
    assert (len(train), len(test)) == (12, 12) and train.classes == CLASS_NAMES
    with h5py.File(train.path) as h:           # SHD's exact schema and dtypes
        assert h["spikes/times"].dtype.metadata["vlen"] == np.float16
        assert h["spikes/units"].dtype.metadata["vlen"] == np.uint16
        assert h["labels"].dtype == np.uint16 and h["extra/speaker"].dtype == np.uint16
        assert set(h) == {"spikes", "labels", "extra"} and set(h["extra"]) == {"speaker", "keys"}
    # sample 0 of the training file is recording 0_george_5: its spikes, through float16 seconds
    first = [r for r in recs if r.index >= 5][0]
    assert (first.label, first.speaker, first.index) == (0, "george", 5)
    t, u = cochlea_spikes(*read_wav(first.path), SMALL)
    ev = train.events(0)
    assert np.array_equal(ev["x"], u)
    assert np.array_equal(ev["t"], np.rint(t.astype(np.float16).astype(np.float64) * 1e6).astype(np.int64))
    assert train.labels.tolist() == [r.label for r in recs if r.index >= 5]
    names = ["george", "jackson", "theo"]
    assert [names[s] for s in test.speakers] == [r.speaker for r in recs if r.index < 5]
    counts, label = SHD(out / "official", "train", transform=ToChannelCounts(n_channels=40, channel_group=5))[3]
    assert counts.shape[1] == 8 and counts.sum() == len(train.events(3)) and label == train.labels[3]
    held = SHD(out / "speaker-theo", "test", transform=None)
    assert set(held.speakers.tolist()) == {2}


def test_a_bad_recording_stops_the_conversion_and_leaves_no_file(small_fsdd, tmp_path):
    _write(small_fsdd / "recordings" / "1_theo_7.wav", b"")
    out = tmp_path / "out"
    with pytest.raises(DataFormatError, match="1_theo_7.wav: an empty recording"):
        convert_fsdd(out, root=small_fsdd, params=SMALL, progress=False)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_a_converted_file_missing_a_key_is_a_clear_error(small_fsdd, tmp_path):
    out = tmp_path / "out"
    convert_fsdd(out, root=small_fsdd, params=SMALL, indices=(0, 5), progress=False)
    with h5py.File(out / "official" / "shd_train.h5", "a") as h:
        del h["spikes/units"]
    with pytest.raises(DataFormatError, match="missing dataset 'spikes/units'"):
        SHD(out / "official", "train")


def test_cli_convert_fsdd(small_fsdd, tmp_path, capsys):
    from spiking.experiments.cli import main

    assert main(["convert", "fsdd", "--out", str(tmp_path / "cli"), "--root", str(small_fsdd), "--channels", "20",
                 "--indices", "0", "5", "--no-progress"]) == 0
    assert "n_recordings" in capsys.readouterr().out
    assert len(SHD(tmp_path / "cli" / "speaker-george", "test", transform=None)) == 4
    with pytest.raises(ValueError, match="held-out speaker 'zed'"):
        convert_fsdd(tmp_path / "x", root=small_fsdd, held_out_speakers=("zed",), progress=False)
