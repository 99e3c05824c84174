"""Progress bars of the engines, shared by the event engine and its kernels for plastic and
astrocyte networks (and hardware backends), so that none of them imports another for it.

A bar is drawn only on a terminal: tqdm's ``disable=None`` turns it off when stderr is not a tty
(logs, CI, a pipe), instead of writing thousands of carriage-return updates there.
"""
from __future__ import annotations

CHUNK_WORK = 20_000_000      # neuron-steps per kernel call when a progress bar is shown
PROGRESS_WORK = 200_000_000  # with progress=None, a bar only for runs above this many neuron-steps


def progress_bar(total, desc, unit):
    """A tqdm bar of ``total`` ``unit``s, shown only when stderr is a terminal."""
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit=unit, leave=False, disable=None)
