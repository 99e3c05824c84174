"""Step-by-step traces of a :class:`spiking.nn.Sequential`: every layer's output and membrane.

The layers return only their final state; comparing an imported model with the library it came
from needs the membrane of every step, so this runs each stateful layer one step at a time
(``layer.step``) and records ``state.v``.
"""
from __future__ import annotations

import torch

from ..nn.layers import SpikingModule

__all__ = ["trace"]


def trace(model, x):
    """``[{"layer": module, "out": [T, B, ...], "v": [T, B, ...] or None}, ...]`` for ``x[T, B, ...]``."""
    records = []
    h = x
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, SpikingModule):
                state, outs, vs = None, [], []
                for t in range(h.shape[0]):
                    y, state = layer.step(h[t], state)
                    outs.append(y)
                    v = getattr(state, "v", None) if state is not None and not torch.is_tensor(state) else None
                    vs.append(v)
                h = torch.stack(outs)
                v = torch.stack(vs) if vs and vs[0] is not None else None
            else:
                h, v = model.__class__(layer)(h)[0], None
            records.append({"layer": layer, "out": h, "v": v})
    return records
