"""Small helpers shared by the dataset classes."""
from __future__ import annotations

import numpy as np


def check_index(index, length: int, owner) -> int:
    """Return ``index`` as a non-negative int, or raise naming the index and the dataset size."""
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise TypeError(f"{type(owner).__name__} index {index!r}: expected an int")
    if not -length <= index < length:
        raise IndexError(f"{type(owner).__name__} index {index} out of range for {length} samples")
    return int(index) % length
