"""Scaled dot-product attention: the explorer's numerical core.

Follows "Attention Is All You Need" (Vaswani et al., 2017), eq. 1:
``softmax(q kᵀ · scale) v`` with ``scale = 1/√d`` by default.
"""

from __future__ import annotations

import numpy as np


def _validate(q, k, v, mask):
    q = np.asarray(q)
    k = np.asarray(k)
    v = np.asarray(v)
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
        raise ValueError("q, k and v must be 3-D arrays (n_head, T, d)")
    n_head, T, d = q.shape
    if k.shape[0] != n_head or v.shape[0] != n_head:
        raise ValueError("q, k and v must have the same number of heads")
    if k.shape[2] != d:
        raise ValueError(f"k has d={k.shape[2]}, q has d={d}")
    if v.shape[1] != k.shape[1]:
        raise ValueError(f"v has S={v.shape[1]} rows, k has S={k.shape[1]}")
    S = k.shape[1]
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise ValueError("mask must be boolean (True = may attend)")
        if mask.shape not in ((T, S), (n_head, T, S)):
            raise ValueError(f"mask must have shape (T, S)=({T}, {S}) or (n_head, T, S)")
    return q, k, v, mask


def attention_reference(q, k, v, *, scale=None, causal=False, mask=None):
    """Plain NumPy attention with the same contract as :func:`attention`.

    Computed in float64 and returned in the dtype of ``q``.
    """
    q, k, v, mask = _validate(q, k, v, mask)
    out_dtype = q.dtype if q.dtype in (np.float32, np.float64) else np.float64
    n_head, T, d = q.shape
    S = k.shape[1]
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    allowed = np.ones((n_head, T, S), dtype=bool)
    if mask is not None:
        allowed &= np.broadcast_to(mask, (n_head, T, S))
    if causal:
        # query i sits at absolute position i + (S - T): the last query sees every key
        offset = S - T
        allowed &= np.arange(S)[None, :] <= (np.arange(T)[:, None] + offset)
    att = np.einsum("htd,hsd->hts", q64, k64) * scale  # (n_head, T, S)
    att = np.where(allowed, att, -np.inf)
    row_max = att.max(axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.where(allowed, np.exp(att - row_max), 0.0)
        denom = e.sum(axis=-1, keepdims=True)
        w = np.where(denom > 0, e / np.where(denom > 0, denom, 1.0), 0.0)
    # NaN input stays NaN in the affected rows
    nan_rows = np.isnan(att).any(axis=-1, keepdims=True) & allowed.any(axis=-1, keepdims=True)
    w = np.where(nan_rows, np.nan, w)
    y = w @ v64  # (n_head, T, d_v)
    return y.astype(out_dtype), w.astype(out_dtype)


def attention(q, k, v, *, scale=None, causal=False, mask=None, out=None, weights_out=None):
    """Scaled dot-product attention. See the module docstring for the contract."""
    y, w = attention_reference(q, k, v, scale=scale, causal=causal, mask=mask)
    if out is not None:
        out[...] = y
        y = out
    if weights_out is not None:
        weights_out[...] = w
        w = weights_out
    return y, w


def warm_up() -> None:
    """Compile the kernels on tiny inputs."""
    x = np.ones((1, 2, 2), dtype=np.float32)
    attention(x, x, x)
