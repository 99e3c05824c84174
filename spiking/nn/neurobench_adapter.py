"""Our models under NeuroBench's own workload metrics (the ``neurobench`` package, an optional
oracle): NeuroBench wants batch-first data ``[B, T, ...]`` and marks activations by module type,
while our layers take ``[T, B, ...]`` and return ``(spikes, state)``.

Used by the main job (reported beside our counts) and by ``tests/test_counts.py`` (asserted equal).
"""
from __future__ import annotations

import torch

from .layers import CubaLIF, LIF, SpikingModule


class SpikeMarker(torch.nn.Identity):
    """Marks the spikes of a layer for NeuroBench's activation hooks (our LIF returns a tuple)."""


class BatchFirst(torch.nn.Module):
    """Our Sequential on NeuroBench's batch-first data ``[B, T, ...]``; spikes pass through
    :class:`SpikeMarker`; the output is summed over time."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.acts = torch.nn.ModuleList(SpikeMarker() for m in model if isinstance(m, (LIF, CubaLIF)))

    def forward(self, xb):
        h, k = xb.transpose(0, 1), 0
        for layer in self.model:
            if isinstance(layer, SpikingModule):
                h, _ = layer(h)
                if isinstance(layer, (LIF, CubaLIF)):
                    h = self.acts[k](h)
                    k += 1
            else:
                h = layer(h)
        return h.sum(0)


def neurobench_workload(model, x):
    """NeuroBench's ``SynapticOperations`` (dict) and ``ActivationSparsity`` (float) of ``model`` on
    ``x[T, B, ...]``, per sample. Raises ImportError when neurobench is not installed."""
    import neurobench.models as nb_models
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations

    nbm = nb_models.TorchModel(BatchFirst(model))
    nbm.add_activation_module(SpikeMarker)
    nbm.register_hooks()
    data = (x.transpose(0, 1), torch.zeros(x.shape[1], dtype=torch.long))
    with torch.no_grad():
        preds = nbm(data[0])
    syn = SynapticOperations()(nbm, preds, data)
    sparsity = ActivationSparsity()(nbm, preds, data)
    nbm.cleanup_hooks()
    return syn, float(sparsity)
