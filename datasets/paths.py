"""Where data and caches live on disk.

``data_root()`` is the folder that holds one sub-folder per dataset (``nmnist/``, ``shd/``).
It is, in order of preference:

1. the environment variable ``SPIKING_DATA``, when set and not empty;
2. ``<repository>/../shared/data`` when this package runs from a source checkout and that
   folder exists (the repository is found from this file's location, not the working directory);
3. the user cache folder ``$XDG_CACHE_HOME/spiking-sim/data`` (``~/.cache/spiking-sim/data``).

``default_cache_dir()`` is where transformed-sample caches go: ``SPIKING_CACHE`` when set,
else ``$XDG_CACHE_HOME/spiking-sim/cache``. Caches never go into the data root, which may be
shared and read-only.
"""
from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "SPIKING_DATA"
CACHE_ENV_VAR = "SPIKING_CACHE"


def _repository_root() -> Path:
    # datasets/paths.py -> datasets/ -> repository root (only meaningful in a source checkout)
    return Path(__file__).resolve().parent.parent


def user_cache_dir() -> Path:
    """The per-user cache folder of spiking-sim (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spiking-sim"


def data_root() -> Path:
    """The folder that holds the datasets (see the module docstring for the search order)."""
    from_env = os.environ.get(DATA_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    shared = _repository_root().parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return user_cache_dir() / "data"


def default_cache_dir() -> Path:
    """The folder for transformed-sample caches (``SPIKING_CACHE`` or the user cache folder)."""
    from_env = os.environ.get(CACHE_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return user_cache_dir() / "cache"
