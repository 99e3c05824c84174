"""Measuring the memory that autograd holds for the backward pass.

:func:`saved_tensors_meter` counts, through ``torch.autograd.graph.saved_tensors_hooks``, the
bytes of every tensor that autograd saves for backward, and follows them until the graph that
holds them is freed. ``peak_bytes`` is the largest total held at any moment: for BPTT the whole
graph over T steps, for SLTT the graph of one step (freed by each step's backward pass). A tensor
saved twice counts twice (the meter sees saved references, not storages), so the figure is an
upper bound of the activation memory, computed the same way for every strategy.
"""
from __future__ import annotations

import contextlib

import torch

__all__ = ["SavedTensorsMeter", "saved_tensors_meter"]


class SavedTensorsMeter:
    def __init__(self):
        self.live_bytes = 0
        self.peak_bytes = 0
        self.total_bytes = 0
        self.count = 0


class _Held:
    __slots__ = ("tensor", "nbytes", "meter")

    def __init__(self, tensor, meter):
        self.tensor = tensor
        self.nbytes = tensor.numel() * tensor.element_size()
        self.meter = meter
        meter.live_bytes += self.nbytes
        meter.total_bytes += self.nbytes
        meter.count += 1
        meter.peak_bytes = max(meter.peak_bytes, meter.live_bytes)

    def __del__(self):
        self.meter.live_bytes -= self.nbytes


@contextlib.contextmanager
def saved_tensors_meter():
    """``with saved_tensors_meter() as m: ...`` then read ``m.peak_bytes`` (and ``m.live_bytes``)."""
    meter = SavedTensorsMeter()

    def pack(t):
        return _Held(t, meter)

    def unpack(h):
        return h.tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        yield meter
