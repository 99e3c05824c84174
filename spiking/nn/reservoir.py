"""The liquid-state-machine reservoir (``spiking.models.lsm``) as a dense torch recurrence, for
batched feature extraction on CPU or GPU. Same update, same order as
``spiking.models.lsm.dense_spikes`` (``v * p22 + exc - inh``; reset to 0 on a spike), no read noise.
"""
from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def dense_spikes_torch(reservoir, x, batch_size: int = 512, device=None, dtype=torch.float64) -> np.ndarray:
    """Spikes [time_bins, B, n_units] (uint8) of counts ``x`` [time_bins, B, n_inputs]."""
    from spiking.models.lsm import _check_counts
    p = reservoir.params
    if p.read_noise > 0:
        raise ValueError(f"read_noise={p.read_noise}: the torch recurrence has no read noise; use "
                         "spiking.models.lsm.dense_spikes")
    x = _check_counts(x, p, batched=True)
    p22 = reservoir.decay_coefficient()
    dev = torch.device(device or "cpu")
    w_in = torch.as_tensor(reservoir.w_in, dtype=dtype, device=dev)
    w_rec = torch.as_tensor(reservoir.w_rec, dtype=dtype, device=dev)
    w_in_e, w_in_i = w_in.clamp(min=0), (-w_in).clamp(min=0)
    w_rec_e, w_rec_i = w_rec.clamp(min=0), (-w_rec).clamp(min=0)
    T, B = x.shape[0], x.shape[1]
    out = np.zeros((T, B, p.n_units), dtype=np.uint8)
    for a in range(0, B, batch_size):
        xb = torch.as_tensor(np.asarray(x[:, a:a + batch_size], dtype=np.float64), dtype=dtype, device=dev)
        b = xb.shape[1]
        v = torch.zeros(b, p.n_units, dtype=dtype, device=dev)
        s = torch.zeros_like(v)
        spikes = torch.zeros(T, b, p.n_units, dtype=torch.uint8, device=dev)
        for t in range(T):
            exc = xb[t] @ w_in_e + s @ w_rec_e
            inh = xb[t] @ w_in_i + s @ w_rec_i
            v = v * p22 + exc - inh
            spk = v >= p.threshold
            v = torch.where(spk, torch.zeros_like(v), v)
            s = spk.to(dtype)
            spikes[t] = spk
        out[:, a:a + b] = spikes.cpu().numpy()
    return out
