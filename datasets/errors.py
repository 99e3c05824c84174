"""Exceptions and warnings raised by ``spiking.datasets``.

They subclass the standard exceptions (``ValueError``, ``FileNotFoundError``,
``ConnectionError``), so callers that catch those keep working.
"""
from __future__ import annotations


class DataFormatError(ValueError):
    """A data file exists but its content is not what its format promises.

    The message names the file, the problem and the value that was expected.
    """


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root, split folder or data file is missing."""


class DownloadError(ConnectionError):
    """A download was asked for and could not be done (typically: no network)."""


class CacheRebuildWarning(UserWarning):
    """A cache file was stale, truncated or unreadable and is being rebuilt."""
