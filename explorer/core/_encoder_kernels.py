"""Numba kernels behind :mod:`explorer.core.encoder_forward`. Private: no validation here.

A BERT layer's matrix products run in NumPy (its OpenBLAS is faster than the one Numba's
``np.dot`` calls for the model's small shapes). The steps between them are fused here, one
pass over each array instead of NumPy's several temporaries: the bias and the split of
``x @ W_qkv`` into heads, the heads' concatenation, bias + residual + LayerNorm, and bias +
GELU. Every array is C-contiguous float32 and maths stays float32; the kernels release the
GIL.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from explorer.core.encoder_forward import _gelu_inplace
from explorer.core.numba_config import CACHE_DIR  # noqa: F401  (sets Numba's cache folder)

_OPTS = {"cache": True, "nogil": True, "error_model": "numpy"}

_gelu = njit(fastmath={"contract"}, **_OPTS)(_gelu_inplace)


@njit(**_OPTS)
def split_heads(qkv, b_qkv, out):
    """``out[j, h, t] = qkv[t, (j·n_head + h)·d : …] + b_qkv[…]``: (T, 3H) -> (3, n_head, T, d)."""
    T, n_head, dh = qkv.shape[0], out.shape[1], out.shape[3]
    for j in range(3):
        for h in range(n_head):
            c0 = (j * n_head + h) * dh
            dest = out[j, h]
            for t in range(T):
                for d in range(dh):
                    dest[t, d] = qkv[t, c0 + d] + b_qkv[c0 + d]


@njit(**_OPTS)
def concat_heads(y, out):
    """``out[t, h·d + i] = y[h, t, i]``: (n_head, T, d) -> (T, n_head·d)."""
    n_head, T, dh = y.shape
    for t in range(T):
        for h in range(n_head):
            for d in range(dh):
                out[t, h * dh + d] = y[h, t, d]


@njit(fastmath={"reassoc", "contract"}, **_OPTS)
def add_layer_norm(a, bias, res, g, beta, eps, out):
    """``out = LayerNorm(a + bias + res)`` over the last axis, row by row (``out`` may be ``a``).

    Sums vectorise (``reassoc``); no NaN or inf is assumed away.
    """
    n = a.shape[1]
    inv_n = np.float32(1.0) / np.float32(n)
    for t in range(a.shape[0]):
        s = np.float32(0.0)
        for j in range(n):
            z = a[t, j] + bias[j] + res[t, j]
            out[t, j] = z
            s += z
        mu = s * inv_n
        s2 = np.float32(0.0)
        for j in range(n):
            c = out[t, j] - mu
            s2 += c * c
        r = np.float32(1.0) / np.sqrt(s2 * inv_n + eps)
        for j in range(n):
            out[t, j] = (out[t, j] - mu) * r * g[j] + beta[j]


@njit(**_OPTS)
def bias_gelu(h, b):
    """``h = GELU(h + b)`` in place, row by row (``h`` (T, I), ``b`` (I,))."""
    for t in range(h.shape[0]):
        row = h[t]
        for j in range(row.shape[0]):
            row[j] += b[j]
        _gelu(row)
