"""N-MNIST: MNIST digits recorded by an ATIS event camera during three saccades.

Source: G. Orchard, A. Jayawant, G. K. Cohen, N. Thakor, "Converting Static Image Datasets to
Spiking Neuromorphic Datasets Using Saccades", Frontiers in Neuroscience 9:437, 2015.

Layout on disk (the original archives ``Train.zip`` / ``Test.zip``)::

    <root>/Train/<digit>/<id>.bin      id = 1-based index into the MNIST training set (00001.bin)
    <root>/Test/<digit>/<id>.bin       id = 1-based index into the MNIST test set

``<root>/NMNIST/Train/...`` (where ``tonic`` unpacks its download) is accepted as well.

File format (the authors' ReadMe): a flat list of 40-bit events, big-endian bit order::

    bits 39-32  x address (0..33)
    bits 31-24  y address (0..33)
    bit  23     polarity (1 = ON, 0 = OFF)
    bits 22-0   timestamp in microseconds

Validation split: N-MNIST has no official one. Here the training recordings whose MNIST id lies in
``val_ids`` (default 801..1000, inclusive) form ``"val"`` and all other training recordings form
``"train"``; ``"train+val"`` is the whole ``Train`` folder. The rule depends only on file names,
so it is the same on every machine and for any subset of files present.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ._common import check_index
from .errors import DataFormatError, DatasetNotFoundError
from .paths import data_root

#: Event dtype of every N-MNIST sample; field names match tonic's ("x", "y", "t", "p").
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
SENSOR_SIZE = (34, 34, 2)  # (width, height, polarities), tonic's convention
BYTES_PER_EVENT = 5
DEFAULT_VAL_IDS = (801, 1000)
SPLITS = ("train", "val", "train+val", "test")
CLASSES = tuple(str(digit) for digit in range(10))

_MANUAL_DOWNLOAD = (
    "download Train.zip and Test.zip from https://www.garrickorchard.com/datasets/n-mnist "
    "(Mendeley Data record 468j46mzdv) and unpack them into {root}"
)


def read_nmnist_bin(path) -> np.ndarray:
    """Read one N-MNIST ``.bin`` file into a structured array of :data:`EVENT_DTYPE`.

    Vectorised: bytes 1-4 of every event are viewed in place as one big-endian 32-bit word
    (y, polarity, timestamp), so there is no Python loop over events. Raises
    :class:`DataFormatError` naming the file when its length is not a multiple of 5 bytes or an
    address lies outside the 34 x 34 sensor.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        raw = np.frombuffer(handle.read(), dtype=np.uint8)
    if raw.size % BYTES_PER_EVENT:
        raise DataFormatError(
            f"{path}: length {raw.size} bytes is not a multiple of {BYTES_PER_EVENT} "
            "(N-MNIST events are 40 bits each); the file is truncated or not an N-MNIST .bin"
        )
    n_events = raw.size // BYTES_PER_EVENT
    events = np.empty(n_events, dtype=EVENT_DTYPE)
    if n_events == 0:
        return events
    x = raw[0::BYTES_PER_EVENT]
    y = raw[1::BYTES_PER_EVENT]
    width, height, _ = SENSOR_SIZE
    if x.max() >= width or y.max() >= height:
        bad = np.flatnonzero((x >= width) | (y >= height))
        first = int(bad[0])
        raise DataFormatError(
            f"{path}: event {first} has x={int(x[first])}, y={int(y[first])}; expected x in "
            f"0..{width - 1} and y in 0..{height - 1} ({bad.size} of {n_events} events out of range)"
        )
    word = np.ndarray((n_events,), dtype=">u4", buffer=raw, offset=1, strides=(BYTES_PER_EVENT,))
    events["x"] = x
    events["y"] = y
    events["t"] = word & 0x7FFFFF
    events["p"] = (word >> 23) & 1
    return events


class NMNIST:
    """N-MNIST recordings of one split, read from the original folder layout.

    Parameters
    ----------
    root:
        Folder holding ``Train/`` and/or ``Test/`` (or ``NMNIST/Train`` ...). ``None`` means
        ``data_root() / "nmnist"``.
    split:
        ``"train"``, ``"val"``, ``"train+val"`` (the whole ``Train`` folder) or ``"test"``.
    transform:
        Callable applied to the events of every sample (e.g. ``ToFrames``); ``None`` returns events.
    download:
        When the split's folder is missing, fetch it through ``tonic.datasets.NMNIST`` into
        ``root/NMNIST``. Raises :class:`DownloadError` when offline.
    val_ids:
        Inclusive range of MNIST training ids that form the validation split (default 801..1000).

    ``dataset[i]`` returns ``(events, label)``: a structured array with fields x, y (pixels),
    t (microseconds, int64), p (0/1) — or ``transform(events)`` — and an ``int`` digit.
    Whatever subset of files is present is indexed, in (digit, id) order.
    """

    sensor_size = SENSOR_SIZE
    classes = CLASSES
    dtype = EVENT_DTYPE

    def __init__(
        self,
        root=None,
        split: str = "train",
        transform: Callable | None = None,
        download: bool = False,
        val_ids: tuple[int, int] = DEFAULT_VAL_IDS,
    ):
        if split not in SPLITS:
            raise ValueError(f"N-MNIST split {split!r} is not one of {SPLITS}")
        self.val_ids = _check_val_ids(val_ids)
        self.split = split
        self.transform = transform
        folder = "Test" if split == "test" else "Train"
        requested = Path(root).expanduser() if root is not None else data_root() / "nmnist"
        self.root = _locate(requested, folder)
        if self.root is None and download:
            from .download import download_with_tonic

            download_with_tonic(
                "NMNIST", requested, what=f"N-MNIST {folder}",
                manual_hint=_MANUAL_DOWNLOAD.format(root=requested), train=(folder == "Train"),
            )
            self.root = _locate(requested, folder)
        if self.root is None:
            if not requested.exists():
                raise DatasetNotFoundError(
                    f"N-MNIST root {requested} does not exist; expected a folder holding "
                    f"{folder}/<digit>/<id>.bin (set SPIKING_DATA, pass root=, or download=True)"
                )
            raise DatasetNotFoundError(
                f"N-MNIST root {requested} has no {folder}/ folder (looked for {requested / folder} "
                f"and {requested / 'NMNIST' / folder}); pass download=True to fetch it through tonic"
            )
        files, labels, ids, stats = _index(self.root / folder)
        if split == "test" or split == "train+val":
            keep = np.ones(len(files), dtype=bool)
        else:
            in_val = (ids >= self.val_ids[0]) & (ids <= self.val_ids[1])
            keep = in_val if split == "val" else ~in_val
        self.files = [f for f, k in zip(files, keep) if k]
        self.labels = labels[keep]
        self.sample_ids = ids[keep]
        self._stats = [s for s, k in zip(stats, keep) if k]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        index = check_index(index, len(self.files), self)
        events = read_nmnist_bin(self.files[index])
        if self.transform is not None:
            events = self.transform(events)
        return events, int(self.labels[index])

    def __repr__(self) -> str:
        return (
            f"NMNIST(root={str(self.root)!r}, split={self.split!r}, samples={len(self)}, "
            f"val_ids={self.val_ids}, transform={self.transform!r})"
        )

    def cache_identity(self) -> dict:
        """What makes two instances yield the same raw samples (used as part of a cache key).

        The transform is not part of it: :class:`~spiking.datasets.CachedDataset` adds it.
        """
        digest = hashlib.sha256()
        for path, (size, mtime_ns) in zip(self.files, self._stats):
            digest.update(f"{path.relative_to(self.root)}:{size}:{mtime_ns}\n".encode())
        return {
            "name": "nmnist",
            "split": self.split,
            "root": str(self.root.resolve()),
            "val_ids": list(self.val_ids),
            "n_samples": len(self),
            "files_sha256": digest.hexdigest(),
            "event_dtype": str(EVENT_DTYPE.descr),
        }


def _check_val_ids(val_ids) -> tuple[int, int]:
    pair = tuple(val_ids) if isinstance(val_ids, (tuple, list)) else ()
    if (
        len(pair) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
        or not 1 <= pair[0] <= pair[1]
    ):
        raise ValueError(f"val_ids={val_ids!r}: expected (first, last) MNIST ids with 1 <= first <= last")
    return int(pair[0]), int(pair[1])


def _locate(root: Path, folder: str) -> Path | None:
    for candidate in (root, root / "NMNIST"):
        if (candidate / folder).is_dir():
            return candidate
    return None


def _index(split_dir: Path):
    """List ``<split_dir>/<digit>/<id>.bin`` in (digit, id) order, with labels, ids and stats."""
    files, labels, ids, stats = [], [], [], []
    label_dirs = sorted(
        (entry for entry in os.scandir(split_dir) if entry.is_dir() and entry.name in CLASSES),
        key=lambda entry: int(entry.name),
    )
    for label_dir in label_dirs:
        entries = sorted(
            (e for e in os.scandir(label_dir.path) if e.name.endswith(".bin") and e.is_file()),
            key=lambda e: e.name,
        )
        for entry in entries:
            stem = entry.name[: -len(".bin")]
            if not stem.isdigit():
                raise DataFormatError(
                    f"{entry.path}: expected a file name <MNIST id>.bin with a numeric id "
                    "(e.g. 00801.bin); the id decides the train/val split"
                )
            stat = entry.stat()
            files.append(Path(entry.path))
            labels.append(int(label_dir.name))
            ids.append(int(stem))
            stats.append((stat.st_size, stat.st_mtime_ns))
    return files, np.asarray(labels, dtype=np.int64), np.asarray(ids, dtype=np.int64), stats
