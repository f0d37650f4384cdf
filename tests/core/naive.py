"""Slow, obviously correct attention in float64, one query row at a time.

Independent of ``explorer.core.attention`` (including its ``attention_reference``): a Python
loop over heads and query rows, the allowed keys listed explicitly, the softmax spelled out.
"""

from __future__ import annotations

import math

import numpy as np


def allowed_keys(i: int, T: int, S: int, causal: bool, mask_row) -> list[int]:
    """Keys query ``i`` may attend. Causal: query i sits at absolute position i + (S - T)."""
    keys = []
    for j in range(S):
        if causal and j > i + (S - T):
            continue
        if mask_row is not None and not mask_row[j]:
            continue
        keys.append(j)
    return keys


def naive_attention(q, k, v, *, scale=None, causal=False, mask=None):
    """Return ``(y, weights)`` in float64 for q (h, T, d), k (h, S, d), v (h, S, d_v).

    Rows with no allowed key are zero; rows with a non-finite allowed score are NaN.
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    n_head, T, d = q.shape
    S, d_v = v.shape[1], v.shape[2]
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), (n_head, T, S))
    y = np.zeros((n_head, T, d_v))
    w = np.zeros((n_head, T, S))
    for h in range(n_head):
        for i in range(T):
            keys = allowed_keys(i, T, S, causal, None if mask is None else mask[h, i])
            if not keys:
                continue
            scores = [float(np.dot(q[h, i], k[h, j])) * scale for j in keys]
            if not all(math.isfinite(s) for s in scores):
                w[h, i] = np.nan
                y[h, i] = np.nan
                continue
            top = max(scores)
            e = [math.exp(s - top) for s in scores]
            total = sum(e)
            for j, ej in zip(keys, e, strict=True):
                w[h, i, j] = ej / total
                y[h, i] += (ej / total) * v[h, j]
    return y, w
