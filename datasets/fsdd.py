"""The Free Spoken Digit Dataset (FSDD) as spikes in SHD's HDF5 schema.

FSDD (Jackson et al., Zenodo DOI 10.5281/zenodo.1342401; CC BY-SA 4.0) holds 3,000 recordings
``recordings/{digit}_{speaker}_{index}.wav`` (mono 16-bit PCM, 8 kHz) of six speakers, 50 of
each digit per speaker. :func:`convert_fsdd` passes every recording through the cochlea model of
:mod:`spiking.datasets.cochlea` and writes the spikes as SHD files (Cramer et al. 2022), which
:class:`spiking.datasets.SHD` reads unchanged::

    spikes/times   vlen float16, spike times in seconds
    spikes/units   vlen uint16, channel 0..n_channels-1
    labels         uint16, the digit 0..9
    extra/speaker  uint16, speaker number (index into the sorted speaker names, file attribute
                   ``speakers``)
    extra/keys     the 10 class names ("zero".."nine")

Two splits, each a folder with ``shd_train.h5`` and ``shd_test.h5``:

* ``official/``: the dataset's own rule, recordings with index 0-4 are the test set (300), 5-49
  the training set (2,700);
* ``speaker-NAME/``: speaker NAME's 500 recordings are the test set, the other five speakers'
  2,500 the training set (speaker-independent generalisation).

Each file is written to a temporary file and renamed; the conversion parameters are stored as
JSON in the file attribute ``cochlea`` and in ``conversion.json`` beside the folders.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from .cochlea import CochleaParams, cochlea_spikes
from .errors import DataFormatError, DatasetNotFoundError
from .paths import data_root

__all__ = ["CLASS_NAMES", "FSDDRecording", "read_wav", "list_recordings", "official_split", "speaker_split",
           "write_shd_file", "convert_fsdd"]

CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
OFFICIAL_TEST_INDICES = range(0, 5)         # the FSDD README: index 0-4 test, 5-49 train


@dataclass(frozen=True)
class FSDDRecording:
    path: Path
    label: int
    speaker: str
    index: int


def read_wav(path) -> tuple[np.ndarray, int]:
    """(samples as float64 in [-1, 1), sampling rate in Hz) of a mono integer-PCM WAV file.

    Raises :class:`DataFormatError` naming the file for anything else: not a RIFF/WAVE file,
    a compressed or floating-point encoding, more than one channel, no samples.
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as handle:
            channels, width, rate, frames = (handle.getnchannels(), handle.getsampwidth(), handle.getframerate(),
                                             handle.getnframes())
            raw = handle.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise DataFormatError(f"{path}: not a PCM WAV file ({exc}); expected mono integer PCM audio") from exc
    if channels != 1:
        raise DataFormatError(f"{path}: {channels} audio channels; expected mono (1 channel)")
    if width not in (1, 2, 4):
        raise DataFormatError(f"{path}: {8 * width}-bit samples; expected 8, 16 or 32-bit integer PCM")
    if frames == 0 or len(raw) == 0:
        raise DataFormatError(f"{path}: an empty recording (0 samples); expected audio")
    if width == 1:   # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    else:
        x = np.frombuffer(raw, f"<i{width}").astype(np.float64) / float(2 ** (8 * width - 1))
    return x, int(rate)


def list_recordings(root=None) -> list[FSDDRecording]:
    """Every ``{digit}_{speaker}_{index}.wav`` under ``root/recordings`` (default: data_root()/fsdd),
    sorted by (label, speaker, index)."""
    root = Path(root).expanduser() if root is not None else data_root() / "fsdd"
    folder = root / "recordings"
    if not folder.is_dir():
        raise DatasetNotFoundError(f"FSDD root {root}: no recordings/ folder; expected "
                                   "recordings/{digit}_{speaker}_{index}.wav (the FSDD repository layout)")
    out = []
    for path in sorted(folder.iterdir()):
        m = _NAME.match(path.name)
        if m is None:
            if path.suffix.lower() == ".wav":
                raise DataFormatError(f"{path}: file name not of the form digit_speaker_index.wav")
            continue
        out.append(FSDDRecording(path, int(m.group(1)), m.group(2), int(m.group(3))))
    if not out:
        raise DatasetNotFoundError(f"{folder}: no digit_speaker_index.wav recordings found")
    out.sort(key=lambda r: (r.label, r.speaker, r.index))
    return out


def official_split(recordings) -> dict[str, list[int]]:
    """Positions of the train / test recordings by FSDD's rule (index 0-4 -> test)."""
    test = [i for i, r in enumerate(recordings) if r.index in OFFICIAL_TEST_INDICES]
    train = [i for i, r in enumerate(recordings) if r.index not in OFFICIAL_TEST_INDICES]
    return {"train": train, "test": test}


def speaker_split(recordings, held_out: str) -> dict[str, list[int]]:
    """Positions of the train / test recordings with speaker ``held_out`` as the test set."""
    speakers = sorted({r.speaker for r in recordings})
    if held_out not in speakers:
        raise ValueError(f"held-out speaker {held_out!r}: expected one of {speakers}")
    return {"train": [i for i, r in enumerate(recordings) if r.speaker != held_out],
            "test": [i for i, r in enumerate(recordings) if r.speaker == held_out]}


def write_shd_file(path, times, units, labels, speakers, keys=CLASS_NAMES, attrs=None) -> Path:
    """Write samples in SHD's schema to ``path``, through a temporary file renamed on success.

    ``times``: per-sample spike times in seconds (stored as float16, as SHD does); ``units``:
    per-sample channels (uint16). Raises ValueError naming the sample when the two disagree.
    """
    path = Path(path)
    n = len(labels)
    if not (len(times) == len(units) == len(speakers) == n):
        raise ValueError(f"{path}: {len(times)} time arrays, {len(units)} unit arrays, {len(speakers)} speakers "
                         f"for {n} labels; expected one of each per sample")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as handle:
            t_set = handle.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
            u_set = handle.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i, (t, u) in enumerate(zip(times, units)):
                t, u = np.asarray(t), np.asarray(u)
                if t.shape != u.shape:
                    raise ValueError(f"{path}: sample {i} has {t.size} spike times but {u.size} units")
                t_set[i] = t.astype(np.float16)
                u_set[i] = u.astype(np.uint16)
            handle.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
            handle.create_dataset("extra/speaker", data=np.asarray(speakers, dtype=np.uint16))
            handle.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
            for key, value in (attrs or {}).items():
                handle.attrs[key] = value
        os.chmod(tmp, 0o644)                 # mkstemp makes 0600; a dataset file is for others to read too
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _write_json_atomic(path: Path, obj) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(obj, handle, indent=2)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def convert_fsdd(out, root=None, params: CochleaParams = CochleaParams(), held_out_speakers=("george",),
                 indices=None, progress: bool | None = None) -> dict:
    """Convert FSDD to SHD files under ``out`` (see the module docstring for the layout).

    ``held_out_speakers``: one ``speaker-NAME/`` split per name; ``indices``: convert only the
    recordings with these FSDD indices (a subset, e.g. for a quick look); ``progress``: tqdm's
    ``disable=None`` convention (a bar on a terminal). Returns the summary written to
    ``conversion.json``.
    """
    out = Path(out).expanduser()
    recordings = list_recordings(root)
    if indices is not None:
        keep = {int(i) for i in indices}
        recordings = [r for r in recordings if r.index in keep]
        if not recordings:
            raise ValueError(f"indices={sorted(keep)}: no recording has one of these FSDD indices")
    speakers = sorted({r.speaker for r in recordings})
    for name in held_out_speakers:
        if name not in speakers:
            raise ValueError(f"held-out speaker {name!r}: expected one of {speakers}")
    start = time.perf_counter()
    times, units = [], []
    for rec in tqdm(recordings, desc="cochlea", unit="rec", disable=None if progress is None else not progress):
        audio, rate = read_wav(rec.path)
        try:
            t, u = cochlea_spikes(audio, rate, params)
        except ValueError as exc:
            raise DataFormatError(f"{rec.path}: {exc}") from exc
        times.append(t)
        units.append(u)
    seconds = time.perf_counter() - start
    labels = np.array([r.label for r in recordings])
    speaker_ids = np.array([speakers.index(r.speaker) for r in recordings])
    attrs = {"source": "Free Spoken Digit Dataset (Jackson et al., DOI 10.5281/zenodo.1342401), CC BY-SA 4.0",
             "cochlea": json.dumps(params.to_dict()), "speakers": json.dumps(speakers)}
    splits = {"official": official_split(recordings)}
    for name in held_out_speakers:
        splits[f"speaker-{name}"] = speaker_split(recordings, name)
    summary = {"cochlea": params.to_dict(), "speakers": speakers, "n_recordings": len(recordings),
               "cochlea_seconds": seconds, "spikes_per_recording_mean": float(np.mean([t.size for t in times])),
               "splits": {}}
    for split, parts in splits.items():
        for part, idx in parts.items():
            write_shd_file(out / split / f"shd_{part}.h5", [times[i] for i in idx], [units[i] for i in idx],
                           labels[idx], speaker_ids[idx], attrs=dict(attrs, split=split, part=part))
        summary["splits"][split] = {part: len(idx) for part, idx in parts.items()}
    summary["total_seconds"] = time.perf_counter() - start
    _write_json_atomic(out / "conversion.json", summary)
    return summary
