"""Numba kernel behind :func:`explorer.core.long_attention.long_attention`. Private.

The pass of :func:`~explorer.core.long_attention.long_attention_numpy`, compiled: tasks of
(head, whole blocks of query rows) spread over Numba's threads. A task computes its rows'
raw scores with ``np.dot`` into a scratch of its own (the weights are never stored), reduces
them into the overview blocks, runs the same softmax as the dense kernel
(:func:`~explorer.core._attention_kernels._softmax_row_stats`, which also returns each row's
``m`` and ``l``), reduces the weights, and multiplies by V. Each task writes only its own
rows and block rows, so there are no races. ``nogil``: the window's event loop keeps turning
while a long text computes in its worker thread.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from explorer.core._attention_kernels import _softmax_row_stats
from explorer.core.long_attention import Overviews, overview_block
from explorer.core.numba_config import FASTMATH, caller_on_own_cpu

_NO_MASK = np.ones((1, 1), dtype=np.bool_)


@njit(fastmath=FASTMATH, cache=True)
def _extreme(hi, lo, seen, nan):
    """Signed value of largest magnitude from a block's max and min (NaN, or -inf if empty)."""
    if nan:
        return np.nan
    if not seen:
        return -np.inf
    return hi if hi >= -lo else lo


@njit(fastmath=FASTMATH, cache=True)
def _reduce_scores(att, r0, r1, i0, b, mask, has_mask, out_s, out_a, h, br):
    """Overview row ``br`` of the raw scores in ``att[r0:r1]`` (every pair, allowed pairs)."""
    T = att.shape[1]
    nb = out_s.shape[2]
    ninf = -np.inf
    for cb in range(nb):
        j0 = cb * b
        j1 = min(j0 + b, T)
        hi, lo, ahi, alo = ninf, np.inf, ninf, np.inf
        seen = aseen = nan = anan = False
        for r in range(r0, r1):
            mrow = mask[i0 + r] if has_mask else mask[0]
            for j in range(j0, j1):
                s = att[r, j]
                ok = (not has_mask) or mrow[j]
                if s != s:
                    nan = True
                    anan = anan or ok
                elif s != ninf:
                    seen = True
                    hi = max(hi, s)
                    lo = min(lo, s)
                    if ok:
                        aseen = True
                        ahi = max(ahi, s)
                        alo = min(alo, s)
        out_s[h, br, cb] = _extreme(hi, lo, seen, nan)
        out_a[h, br, cb] = _extreme(ahi, alo, aseen, anan)


@njit(fastmath=FASTMATH, cache=True)
def _reduce_weights(att, r0, r1, b, out_w, h, br, top):
    """Overview row ``br`` of the weights in ``att[r0:r1]``; ``top[r]`` gets the column of
    row r's largest weight."""
    T = att.shape[1]
    nb = out_w.shape[2]
    best = np.full(r1 - r0, -1.0)
    for cb in range(nb):
        j0 = cb * b
        j1 = min(j0 + b, T)
        hi = -np.inf
        nan = False
        for r in range(r0, r1):
            for j in range(j0, j1):
                w = att[r, j]
                if w != w:
                    nan = True
                hi = max(hi, w)
                if w > best[r - r0]:
                    best[r - r0] = w
                    top[r] = j
        out_w[h, br, cb] = np.nan if nan else hi


@njit(fastmath=FASTMATH, cache=True, parallel=True, nogil=True)
def long_attention_parallel(q, k, v, scale, mask, has_mask, b, rows, y, stats, ov_s, ov_a, ov_w):
    """q, k (n_head, T, d), v (n_head, T, d_v); mask (T, T) read when ``has_mask``; ``b``
    cells per overview block; ``rows`` query rows per task (a multiple of ``b``)."""
    n_head, T = q.shape[0], q.shape[1]
    n_chunks = (T + rows - 1) // rows
    for task in prange(n_head * n_chunks):
        h, c = task // n_chunks, task % n_chunks
        i0 = c * rows
        i1 = min(i0 + rows, T)
        R = i1 - i0
        att = np.empty((R, T), dtype=q.dtype)
        np.dot(q[h, i0:i1], k[h].T, att)  # raw scores q kᵀ
        nbr = (R + b - 1) // b
        for k_br in range(nbr):
            r0 = k_br * b
            _reduce_scores(
                att, r0, min(r0 + b, R), i0, b, mask, has_mask, ov_s, ov_a, h, i0 // b + k_br
            )
        empty = np.zeros(R, dtype=np.bool_)
        for r in range(R):
            mrow = mask[i0 + r] if has_mask else mask[0]
            ok, m, total = _softmax_row_stats(att[r], T, mrow, has_mask, scale)
            stats[h, i0 + r, 0] = m
            stats[h, i0 + r, 1] = total
            empty[r] = not ok
        top = np.full(R, -1, dtype=np.int64)
        for k_br in range(nbr):
            r0 = k_br * b
            _reduce_weights(att, r0, min(r0 + b, R), b, ov_w, h, i0 // b + k_br, top)
        for r in range(R):
            stats[h, i0 + r, 2] = top[r] if (not empty[r]) and stats[h, i0 + r, 1] > 0 else -1
        np.dot(att, v[h], y[h, i0:i1])
        for r in range(R):
            if empty[r]:
                y[h, i0 + r] = 0  # zero even if v holds NaN or inf


def long_attention(q, k, v, scale: float, allowed: np.ndarray | None):
    """See :func:`explorer.core.long_attention.long_attention_numpy` (same contract)."""
    dt = q.dtype
    q, k, v = (np.ascontiguousarray(a, dtype=dt) for a in (q, k, v))
    n_head, T, _ = q.shape
    b = overview_block(T)
    nb = -(-T // b)
    rows = b * max(1, 64 // b)
    y = np.empty((n_head, T, v.shape[2]), dtype=dt)
    stats = np.empty((n_head, T, 3), dtype=np.float64)
    ov = [np.empty((n_head, nb, nb), dtype=np.float32) for _ in range(3)]
    has_mask = allowed is not None
    mask = np.ascontiguousarray(allowed, dtype=np.bool_) if has_mask else _NO_MASK
    with caller_on_own_cpu():
        long_attention_parallel(q, k, v, dt.type(scale), mask, has_mask, b, rows, y, stats, *ov)
    return y, stats, Overviews(b, *ov)


def warm_up() -> None:
    """Compile (or load from the cache) the float32 and float64 specialisations."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        q, k, v = (rng.standard_normal((1, 3, 2)).astype(dtype) for _ in range(3))
        long_attention(q, k, v, 1.0, None)
        long_attention(q, k, v, 1.0, np.tri(3, dtype=bool))
