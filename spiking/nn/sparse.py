"""Linear layers on binary spike inputs: the sparsity of spikes as a speed (and memory) lever.

A spike raster ``x`` [rows, K] is binary and sparse (SHD-like input: 5 % ones; hidden LIF
layers: a few %). Then ``x @ W^T`` is a sum of the weight columns of the active inputs, and the
weight gradient ``G^T x`` is a scatter-add of gradient rows into the active inputs' columns: both
cost ``nnz x N`` additions instead of ``rows x K x N`` multiply-adds. The input is kept, for the
backward pass, as CSR indices (int32 per spike) instead of a dense float tensor.

:func:`binary_linear` checks each input (one pass that reads 8-byte words, so zero pairs are
skipped at once) and falls back to the dense ``F.linear`` when the input is not binary, denser
than ``max_density``, not on the CPU, or not float32/float64. The result is the same either way
(up to the summation order of floating-point additions).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

try:
    from . import _kernels
    _HAVE_NUMBA = True
except Exception:  # pragma: no cover
    _HAVE_NUMBA = False

MAX_DENSITY = 0.2
MIN_ROWS = 256      # below this (e.g. one step of SLTT), the dense product is as fast and has less overhead


def binary_csr(x2: torch.Tensor, max_density: float = MAX_DENSITY):
    """(indptr int64 [R+1], indices int32 [nnz]) of a binary 2-D CPU tensor; None if it is not
    binary or has more than ``max_density`` ones (the index buffer is sized for that many)."""
    R, K = x2.shape
    indptr = np.empty(R + 1, np.int64)
    buf = torch.empty(int(max_density * R * K) + 1, dtype=torch.int32)
    ix = buf.numpy()
    a = x2.numpy()
    if a.dtype == np.float32 and K % 2 == 0:
        status, n = _kernels.binary_csr_pairs(a.view(np.uint64), indptr, ix)
    else:
        status, n = _kernels.binary_csr(a, indptr, ix)
    if status != 0:
        return None
    return torch.from_numpy(indptr), buf[:n].clone()


def _transposed(weight, cache):
    """weight^T as a contiguous array, reused while the weight is unchanged (same storage and
    version counter: an optimiser step or any in-place change invalidates it)."""
    key = (weight.data_ptr(), weight._version, weight.shape, weight.dtype)
    if cache is not None and cache.get("key") == key:
        return cache["WT"]
    WT = weight.detach().t().contiguous()
    if cache is not None:
        cache["key"], cache["WT"] = key, WT
    return WT


class _BinaryLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, indptr, indices, cache):
        R = indptr.shape[0] - 1
        WT = _transposed(weight, cache)
        out = torch.empty(R, weight.shape[0], dtype=weight.dtype)
        _kernels.csr_matmul(indptr.numpy(), indices.numpy(), WT.numpy(), out.numpy())
        ctx.x_shape = x.shape
        ctx.save_for_backward(indptr, indices, weight)
        return out

    @staticmethod
    def backward(ctx, g):
        indptr, indices, weight = ctx.saved_tensors
        g = g.contiguous()
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = (g @ weight).view(ctx.x_shape)
        if ctx.needs_input_grad[1]:
            gWT = torch.zeros(weight.shape[1], weight.shape[0], dtype=g.dtype)
            _kernels.csr_matmul_t(indptr.numpy(), indices.numpy(), g.numpy(), gWT.numpy())
            gw = gWT.t().contiguous()
        return gx, gw, None, None, None


def binary_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  max_density: float = MAX_DENSITY, cache: dict | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, computed from the active inputs when ``x`` is a sparse binary
    CPU tensor (float32/float64, same dtype as the weight) with at least ``MIN_ROWS`` rows.
    ``cache``: a dict kept by the caller, where the transposed weight is reused between calls."""
    usable = (_HAVE_NUMBA and x.device.type == "cpu" and weight.device.type == "cpu"
              and x.dtype in (torch.float32, torch.float64) and x.dtype == weight.dtype and x.dim() >= 2)
    K = x.shape[-1]
    if not usable or x.numel() < MIN_ROWS * K:
        return F.linear(x, weight, bias)
    x2 = x.detach().reshape(-1, K)
    if not x2.is_contiguous():
        x2 = x2.contiguous()
    csr = binary_csr(x2, max_density)
    if csr is None:
        return F.linear(x, weight, bias)
    out = _BinaryLinear.apply(x, weight, *csr, cache)
    out = out.view(*x.shape[:-1], weight.shape[0])
    return out if bias is None else out + bias
