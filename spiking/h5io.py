"""Reading our HDF5 files with errors that name the file (h5py's own say only what failed)."""
from __future__ import annotations

import contextlib

import h5py


@contextlib.contextmanager
def read_h5(path, what: str):
    """Open ``path`` for reading as a ``what`` ("network file", "recording"); yields the handle.

    A missing file raises FileNotFoundError; a file h5py cannot open (truncated, not HDF5) and,
    inside the block, a missing group or attribute (KeyError) or damaged chunks (OSError) raise
    ValueError naming the file.
    """
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 {what} ({e})") from e
    with f:
        try:
            yield f
        except (KeyError, OSError) as e:
            raise ValueError(f"{path}: damaged or incomplete {what} ({e})") from e
