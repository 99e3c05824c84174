"""SHD, the Spiking Heidelberg Digits: spoken digits 0-9 (English and German) as cochlea-model spikes.

Source: B. Cramer, Y. Stradmann, J. Schemmel, F. Zenke, "The Heidelberg Spiking Data Sets for
the Systematic Evaluation of Spiking Neural Networks", IEEE TNNLS 33:2744-2757, 2022 (arXiv
1910.07407, 2019). Files: ``shd_train.h5`` (8,156 samples) and ``shd_test.h5`` (2,264).

HDF5 schema of the official files, as documented by the authors (compneuro.net, zenkelab.org)::

    spikes/times   vlen float16, one array per sample: spike times in seconds
    spikes/units   vlen uint16,  one array per sample: channel 0..699 of each spike
    labels         uint16, 0..19 (0-9 English "zero".."nine", 10-19 German "null".."neun")
    extra/speaker  uint16, speaker of each sample
    extra/keys     the 20 class names
    extra/meta_info/{gender, age, body_height}   per-speaker information

Only ``spikes/times``, ``spikes/units`` and ``labels`` are required here. Times are stored as
float16, which overflows when multiplied by 1e6 in float16 arithmetic (tonic issue #321): they
are converted to float64 before becoming integer microseconds.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from ._common import check_index
from .errors import DataFormatError, DatasetNotFoundError
from .paths import data_root
from .transforms import ToChannelCounts

#: Event dtype of one SHD sample: time (microseconds), channel, polarity (always 0).
SPIKE_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("p", "<i1")])
N_CHANNELS = 700
N_CLASSES = 20
SENSOR_SIZE = (N_CHANNELS, 1, 1)
FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
REQUIRED_KEYS = ("spikes/times", "spikes/units", "labels")

_MANUAL_DOWNLOAD = (
    "download {name}.zip (or {name}.gz) from https://zenkelab.org/datasets/ "
    "(mirror https://compneuro.net/datasets/) and unpack it into {root}"
)


class SHD:
    """One split of the Spiking Heidelberg Digits, read lazily from the official HDF5 file.

    Parameters
    ----------
    root:
        Folder holding ``shd_train.h5`` / ``shd_test.h5`` (or ``SHD/shd_*.h5``, where tonic
        unpacks its download). ``None`` means ``data_root() / "shd"``.
    split:
        ``"train"`` or ``"test"`` (SHD has no official validation split).
    transform:
        Applied to the events of each sample. The default, ``ToChannelCounts()``, gives the
        input of Hammouamri et al. 2023: ``[T, 140]`` float32 spike counts in 10 ms bins.
        ``None`` returns the events (fields t in microseconds, x = channel, p = 0).
    download:
        When the file is missing, fetch it through ``tonic.datasets.SHD`` into ``root/SHD``.

    The HDF5 file is opened on first access in each process and never shared across
    ``fork`` (DataLoader workers open their own handle); pickling drops the handle.
    """

    sensor_size = SENSOR_SIZE
    n_channels = N_CHANNELS
    dtype = SPIKE_DTYPE

    def __init__(self, root=None, split: str = "train", transform: Callable | None = ToChannelCounts(),
                 download: bool = False):
        if split not in FILES:
            raise ValueError(f"SHD split {split!r} is not one of {tuple(FILES)}")
        self.split = split
        self.transform = transform
        requested = Path(root).expanduser() if root is not None else data_root() / "shd"
        name = FILES[split]
        self.path = _locate(requested, name)
        if self.path is None and download:
            from .download import download_with_tonic

            download_with_tonic(
                "SHD", requested, what=f"SHD {split}",
                manual_hint=_MANUAL_DOWNLOAD.format(name=name, root=requested), train=(split == "train"),
            )
            self.path = _locate(requested, name)
        if self.path is None:
            where = "does not exist" if not requested.exists() else f"has no {name} (nor SHD/{name})"
            raise DatasetNotFoundError(
                f"SHD root {requested} {where}; expected the official file {requested / name} "
                "(set SPIKING_DATA, pass root=, or download=True)"
            )
        self._handle = None
        self._handle_pid = None
        self.labels, self.speakers, self.classes = self._read_index()

    # -- file access ---------------------------------------------------------------------

    def _read_index(self):
        """Check the schema once and read the small per-sample arrays (labels, speakers)."""
        try:
            handle = h5py.File(self.path, "r")
        except OSError as exc:
            raise DataFormatError(f"{self.path}: not a readable HDF5 file ({exc})") from exc
        with handle:
            for key in REQUIRED_KEYS:
                if key not in handle:
                    raise DataFormatError(
                        f"{self.path}: missing dataset {key!r}; an SHD file needs {REQUIRED_KEYS}"
                    )
            labels = handle["labels"][()]
            sizes = {key: handle[key].shape for key in REQUIRED_KEYS}
            if len({shape[:1] for shape in sizes.values()}) != 1 or any(len(s) != 1 for s in sizes.values()):
                raise DataFormatError(
                    f"{self.path}: {sizes}; expected one entry per sample in every one of {REQUIRED_KEYS}"
                )
            if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
                bad = int(np.flatnonzero((labels < 0) | (labels >= N_CLASSES))[0])
                raise DataFormatError(
                    f"{self.path}: labels[{bad}] = {int(labels[bad])}; expected a class in 0..{N_CLASSES - 1}"
                )
            speakers = handle["extra/speaker"][()] if "extra/speaker" in handle else None
            if "extra/keys" in handle:
                classes = tuple(k.decode() if isinstance(k, bytes) else str(k) for k in handle["extra/keys"][()])
            else:
                classes = tuple(str(c) for c in range(N_CLASSES))
        return labels.astype(np.int64), speakers, classes

    def _datasets(self):
        # One handle per process: an h5py handle inherited through fork is not safe to use.
        if self._handle is None or self._handle_pid != os.getpid():
            handle = h5py.File(self.path, "r")
            self._handle = (handle, handle["spikes/times"], handle["spikes/units"])
            self._handle_pid = os.getpid()
        return self._handle

    def close(self) -> None:
        """Close this process's file handle (it reopens on the next access)."""
        if self._handle is not None and self._handle_pid == os.getpid():
            self._handle[0].close()
        self._handle = None
        self._handle_pid = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_handle"] = None
        state["_handle_pid"] = None
        return state

    # -- samples -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.labels)

    def events(self, index: int) -> np.ndarray:
        """The spikes of sample ``index`` as a structured array of :data:`SPIKE_DTYPE`."""
        index = check_index(index, len(self), self)
        _, times, units = self._datasets()
        try:
            seconds = np.asarray(times[index], dtype=np.float64)  # float16 on disk: widen first
            channels = np.asarray(units[index])
        except OSError as exc:  # damaged chunks inside a file whose index was readable
            raise DataFormatError(f"{self.path}: sample {index} cannot be read ({exc}); the file is corrupt") from exc
        if seconds.shape != channels.shape:
            raise DataFormatError(
                f"{self.path}: sample {index} has {seconds.size} spike times but {channels.size} units; "
                "expected one unit per spike"
            )
        if channels.size and (channels.min() < 0 or channels.max() >= N_CHANNELS):
            raise DataFormatError(
                f"{self.path}: sample {index} has unit {int(channels.max())}; expected channels 0..{N_CHANNELS - 1}"
            )
        if seconds.size and not (np.isfinite(seconds).all() and seconds.min() >= 0):
            raise DataFormatError(
                f"{self.path}: sample {index} has spike time {seconds.min()} s or a non-finite time; "
                "expected finite times >= 0"
            )
        events = np.empty(seconds.size, dtype=SPIKE_DTYPE)
        events["t"] = np.rint(seconds * 1e6)
        events["x"] = channels
        events["p"] = 0
        return events

    def __getitem__(self, index: int):
        index = check_index(index, len(self), self)
        sample = self.events(index)
        if self.transform is not None:
            sample = self.transform(sample)
        return sample, int(self.labels[index])

    def __repr__(self) -> str:
        return f"SHD(path={str(self.path)!r}, split={self.split!r}, samples={len(self)}, transform={self.transform!r})"

    def cache_identity(self) -> dict:
        """What makes two instances yield the same raw samples (part of a cache key)."""
        stat = os.stat(self.path)
        return {
            "name": "shd",
            "split": self.split,
            "path": str(Path(self.path).resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "n_samples": len(self),
            "labels_sha256": hashlib.sha256(self.labels.tobytes()).hexdigest(),
            "event_dtype": str(SPIKE_DTYPE.descr),
        }


def _locate(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / "SHD" / name):
        if candidate.is_file():
            return candidate
    return None
