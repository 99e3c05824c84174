"""Downloads go through tonic's own dataset classes (their URLs, checksums and unpacking).

tonic is imported here only, and only when a download is asked for: ``import tonic`` also
imports torch (``tonic/__init__.py`` imports ``tonic.collation``), which reading data must not need.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from .errors import DownloadError


def download_with_tonic(tonic_class: str, root: Path, what: str, manual_hint: str, **kwargs) -> Path:
    """Let ``tonic.datasets.<tonic_class>(save_to=root, **kwargs)`` download and unpack its files.

    Returns the folder tonic fills, ``root/<tonic_class>``. On failure, whatever this call
    created is removed and a :class:`DownloadError` names the folder, the cause and how to get
    the files by hand (``manual_hint``).
    """
    root = Path(root).expanduser()
    location = root / tonic_class
    # Remember what existed, so a failed download leaves nothing half-written behind.
    first_created = next((p for p in (root, location) if not p.exists()), None)
    existing = set(location.iterdir()) if location.is_dir() else set()
    try:
        import tonic.datasets
    except ImportError as exc:  # pragma: no cover - tonic is a declared dependency
        raise DownloadError(f"download=True needs tonic (pip install tonic); importing it failed: {exc}") from exc
    try:
        getattr(tonic.datasets, tonic_class)(save_to=str(root), **kwargs)
    except (OSError, RuntimeError, zipfile.BadZipFile) as exc:
        if first_created is not None:
            shutil.rmtree(first_created, ignore_errors=True)
        elif location.is_dir():
            for entry in set(location.iterdir()) - existing:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise DownloadError(
            f"could not download {what} into {location} through tonic.datasets.{tonic_class} "
            f"({type(exc).__name__}: {exc}). Without network access, {manual_hint}"
        ) from exc
    return location
