"""numba kernels of the fused multi-step recurrences (CPU, float32/float64).

Arrays are 2-D views ``[T, M]`` (time, flattened batch x neurons) of contiguous torch tensors.
The time loop is outside, the loop over the M columns inside: contiguous rows, so LLVM
vectorises the inner loop, and the state row stays in cache. The kernels are serial on purpose:
a [100, 8192] LIF forward pass takes about 0.2 ms on one core, while a ``parallel=True`` version
measured 1.7 ms alone and ~8 ms next to torch's OpenMP threads (two runtimes spinning on two
cores). Scalars come in ``prm`` in the arrays' own dtype, so that float32 runs compute in
float32 exactly as the torch fallback in :mod:`spiking.nn.fused` does (same operations, same
order; no fastmath).

LIF, in coordinates shifted by v_rest (``u = v - v_rest``), ``prm = [beta, c, drive, th, ur, dc]``
(decay, input scale, constant drive, threshold and reset value (both shifted), dc/dbeta)::

    u_pre[t]  = beta * u[t-1] + c * I[t] + drive
    h[t]      = u_pre[t] - th              (saved for the backward pass)
    s[t]      = 1[h[t] >= 0]
    u[t]      = u_pre[t] - (th - ur) s[t]  (soft)  |  ur if s[t] else u_pre[t]  (hard)
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def lif_forward(I, u0, prm, soft, s_out, h_out, u_out):
    T, M = I.shape
    beta, c, drive, th, ur = prm[0], prm[1], prm[2], prm[3], prm[4]
    jump = th - ur
    for j in range(M):
        u_out[j] = u0[j]
    for t in range(T):
        It = I[t]
        ht = h_out[t]
        st = s_out[t]
        if soft:
            for j in range(M):
                up = beta * u_out[j] + c * It[j] + drive
                hh = up - th
                ht[j] = hh
                fired = hh >= 0
                st[j] = 1.0 if fired else 0.0
                u_out[j] = up - jump if fired else up
        else:
            for j in range(M):
                up = beta * u_out[j] + c * It[j] + drive
                hh = up - th
                ht[j] = hh
                fired = hh >= 0
                st[j] = 1.0 if fired else 0.0
                u_out[j] = ur if fired else up


# Built-in surrogate derivatives, evaluated inside the backward kernel (codes of
# ``Surrogate.kernel_spec``); ``sp`` holds their constants in the data dtype, so that float32
# stays float32 and the operations match the torch definitions in spiking.nn.surrogate.
SG_ARRAY, SG_ATAN, SG_FAST_SIGMOID, SG_TRIANGLE, SG_SIGMOID, SG_RECTANGLE = -1, 0, 1, 2, 3, 4


@njit(cache=True, nogil=True, error_model="numpy")
def _sg_row(code, sp, x, out):
    """out[j] = g(x[j]) for the built-in surrogate ``code`` (one loop per code, so that the loop
    has no branch on the code and vectorises)."""
    n = x.shape[0]
    if code == 0:      # atan: (a/2) * 1/(1 + (pi/2 a x)^2); sp = [pi/2 a, a/2, 1]
        for j in range(n):
            q = sp[0] * x[j]
            out[j] = (sp[2] / (sp[2] + q * q)) * sp[1]
    elif code == 1:    # fast sigmoid: 1/(1 + k|x|)^2; sp = [k, 1]
        for j in range(n):
            q = sp[1] + sp[0] * abs(x[j])
            out[j] = sp[1] / (q * q)
    elif code == 2:    # triangle: a max(0, 1 - a|x|); sp = [a, 1, 0]
        for j in range(n):
            q = sp[1] - sp[0] * abs(x[j])
            out[j] = sp[0] * (q if q > sp[2] else sp[2])
    elif code == 3:    # sigmoid: a s (1 - s), s = 1/(1 + exp(-a x)); sp = [a, 1]
        for j in range(n):
            e = sp[1] / (sp[1] + np.exp(-(sp[0] * x[j])))
            out[j] = (sp[0] * e) * (sp[1] - e)
    else:              # rectangle: 1/w on |x| <= w/2; sp = [w/2, 1/w, 0]
        for j in range(n):
            out[j] = sp[1] if abs(x[j]) <= sp[0] else sp[2]


@njit(cache=True, nogil=True, error_model="numpy")
def lif_backward(gs, h, sg, gT, prm, soft, detach_reset, gI, g_u0, code, sp):
    """Reverse-time recurrence of the LIF gradient (BPTT); ``g_u0`` carries dL/du[t] backwards.

    ``gs``: dL/ds[t] from downstream; ``sg``: surrogate derivative at h[t] (used when
    ``code == SG_ARRAY``; otherwise the built-in surrogate ``code`` with constants ``sp`` is
    evaluated here); ``gT``: dL/du[T-1] (gradient reaching the final state). Writes dL/dI into
    ``gI`` and dL/du[-1] into ``g_u0``.
    """
    T, M = h.shape
    beta, c, th, ur = prm[0], prm[1], prm[3], prm[4]
    jump = th - ur
    for j in range(M):
        g_u0[j] = gT[j]
    row = np.empty(M, h.dtype)
    for t in range(T - 1, -1, -1):
        ht = h[t]
        gst = gs[t]
        gIt = gI[t]
        if code < 0:
            sgt = sg[t]
        else:
            _sg_row(code, sp, ht, row)
            sgt = row
        for j in range(M):
            hh = ht[j]
            gpost = g_u0[j]
            d = sgt[j]
            if detach_reset:
                tmp = gst[j] * d
            elif soft:
                tmp = (gst[j] - gpost * jump) * d
            else:
                tmp = (gst[j] + gpost * (ur - (hh + th))) * d
            if soft or hh < 0:
                gpre = gpost + tmp
            else:
                gpre = tmp
            gIt[j] = c * gpre
            g_u0[j] = beta * gpre


@njit(cache=True, nogil=True, error_model="numpy")
def lif_backward_beta(gs, h, sg, gT, prm, soft, detach_reset, u0, I, gI, g_u0, g_beta):
    """As :func:`lif_backward`, and also dL/dbeta per column into ``g_beta`` (learnable decay).

    d u_pre[t] / d beta = u[t-1] + dc_dbeta * I[t], with u[t-1] rebuilt from h[t-1] (or u0);
    ``prm[5]`` holds dc/dbeta (-1 with input decay c = 1 - beta, else 0).
    """
    T, M = h.shape
    beta, c, th, ur, dc_dbeta = prm[0], prm[1], prm[3], prm[4], prm[5]
    jump = th - ur
    for j in range(M):
        g_u0[j] = gT[j]
        g_beta[j] = 0.0
    for t in range(T - 1, -1, -1):
        for j in range(M):
            hh = h[t, j]
            gpost = g_u0[j]
            if detach_reset:
                tmp = gs[t, j] * sg[t, j]
            elif soft:
                tmp = (gs[t, j] - gpost * jump) * sg[t, j]
            else:
                tmp = (gs[t, j] + gpost * (ur - (hh + th))) * sg[t, j]
            if soft or hh < 0:
                gpre = gpost + tmp
            else:
                gpre = tmp
            gI[t, j] = c * gpre
            g_u0[j] = beta * gpre
            if t == 0:
                uprev = u0[j]
            else:
                hp = h[t - 1, j]
                upp = hp + th
                if hp >= 0:
                    uprev = upp - jump if soft else ur
                else:
                    uprev = upp
            g_beta[j] += gpre * (uprev + dc_dbeta * I[t, j])


@njit(cache=True, nogil=True, error_model="numpy")
def filter_forward(x, y0, prm, y_out):
    """First-order linear filter ``y[t] = a y[t-1] + b x[t]`` with ``prm = [a, b]``."""
    T, M = x.shape
    a, b = prm[0], prm[1]
    x0 = x[0]
    r0 = y_out[0]
    for j in range(M):
        r0[j] = a * y0[j] + b * x0[j]
    for t in range(1, T):
        xt = x[t]
        prev = y_out[t - 1]
        cur = y_out[t]
        for j in range(M):
            cur[j] = a * prev[j] + b * xt[j]


@njit(cache=True, nogil=True, error_model="numpy")
def filter_backward(gy, gT, prm, gx, g_y0):
    """Adjoint of :func:`filter_forward`: G[t] = gy[t] + a G[t+1] (+ gT at T-1), gx = b G, g_y0 = a G[0]."""
    T, M = gy.shape
    a, b = prm[0], prm[1]
    for j in range(M):
        g_y0[j] = gT[j]
    for t in range(T - 1, -1, -1):
        gyt = gy[t]
        gxt = gx[t]
        for j in range(M):
            g = gyt[j] + g_y0[j]
            gxt[j] = b * g
            g_y0[j] = a * g


def warmup():
    """Compile (or load from numba's cache) every kernel for float32 and float64."""
    for dt in (np.float32, np.float64):
        T, M = 2, 3
        z = np.zeros((T, M), dt)
        v = np.zeros(M, dt)
        prm = np.array([0.5, 1.0, 0.0, 1.0, 0.0, 0.0], dt)
        for soft in (False, True):
            lif_forward(z, v, prm, soft, z.copy(), z.copy(), v.copy())
            lif_backward(z, z, z, v, prm, soft, False, z.copy(), v.copy(), -1, prm)
            for code in range(5):
                lif_backward(z, z, z, v, prm, soft, False, z.copy(), v.copy(), code, prm)
            lif_backward_beta(z, z, z, v, prm, soft, False, v, z, z.copy(), v.copy(), v.copy())
        filter_forward(z, v, prm[:2].copy(), z.copy())
        filter_backward(z, v, prm[:2].copy(), z.copy(), v.copy())
    warmup_sparse()


# ------------------------------------------------------------------------------------------------
# binary (spike) inputs of a linear layer: CSR rows of the nonzero columns
# ------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, error_model="numpy")
def binary_csr(X, indptr, indices):
    """Column indices of the nonzeros of each row of ``X`` [R, K] into ``indptr``/``indices``.

    Returns (status, nnz): status 0 = done; 1 = a value other than 0 or 1 was found; 2 = more
    nonzeros than ``indices`` holds (too dense to be worth it). Stops at the first problem.
    """
    R, K = X.shape
    cap = indices.shape[0]
    n = 0
    for r in range(R):
        xr = X[r]
        indptr[r] = n
        for k in range(K):
            v = xr[k]
            if v != 0:
                if v != 1:
                    return 1, n
                if n == cap:
                    return 2, n
                indices[n] = k
                n += 1
    indptr[R] = n
    return 0, n


@njit(cache=True, nogil=True, error_model="numpy")
def binary_csr_pairs(X64, indptr, indices):
    """As :func:`binary_csr` for float32 rows of even length, read as uint64 words (two values per
    word): words that are 0 (both values zero; most of a sparse spike raster) are skipped at once."""
    R, K2 = X64.shape
    cap = indices.shape[0]
    one = np.uint64(0x3F800000)           # bits of float32 1.0
    lo_mask = np.uint64(0xFFFFFFFF)
    shift = np.uint64(32)
    zero = np.uint64(0)
    n = 0
    for r in range(R):
        xr = X64[r]
        indptr[r] = n
        for k in range(K2):
            w = xr[k]
            if w != zero:
                lo = w & lo_mask
                hi = w >> shift
                if lo != zero:
                    if lo != one:
                        return 1, n
                    if n == cap:
                        return 2, n
                    indices[n] = 2 * k
                    n += 1
                if hi != zero:
                    if hi != one:
                        return 1, n
                    if n == cap:
                        return 2, n
                    indices[n] = 2 * k + 1
                    n += 1
    indptr[R] = n
    return 0, n


@njit(cache=True, nogil=True, error_model="numpy")
def csr_matmul(indptr, indices, WT, out):
    """out[r] = sum of the rows WT[k] over the nonzero columns k of row r (a binary matrix times W^T)."""
    R = indptr.shape[0] - 1
    N = WT.shape[1]
    for r in range(R):
        o = out[r]
        for j in range(N):
            o[j] = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            w = WT[indices[p]]
            for j in range(N):
                o[j] += w[j]


@njit(cache=True, nogil=True, error_model="numpy")
def csr_matmul_t(indptr, indices, G, gWT):
    """gWT[k] += G[r] for every nonzero (r, k): the weight gradient (X^T G) of a binary X."""
    R = indptr.shape[0] - 1
    N = G.shape[1]
    for r in range(R):
        g = G[r]
        for p in range(indptr[r], indptr[r + 1]):
            w = gWT[indices[p]]
            for j in range(N):
                w[j] += g[j]


def warmup_sparse():
    for dt in (np.float32, np.float64):
        X = np.eye(4, dtype=dt)
        ip = np.zeros(5, np.int64)
        ix = np.zeros(16, np.int32)
        binary_csr(X, ip, ix)
        W = np.ones((4, 3), dt)
        out = np.zeros((4, 3), dt)
        csr_matmul(ip, ix, W, out)
        csr_matmul_t(ip, ix, out, W)
    binary_csr_pairs(np.zeros((4, 2), np.uint64), np.zeros(5, np.int64), np.zeros(16, np.int32))
