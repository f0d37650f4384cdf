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
def _extreme(hi, lo, nan):
    """Signed value of largest magnitude from a block's max and min (NaN, or -inf if empty)."""
    if nan:
        return np.nan
    if hi < lo:  # nothing seen
        return -np.inf
    return hi if hi >= -lo else lo


@njit(fastmath=FASTMATH, cache=True)
def _fold_rows(att, r0, r1, mrows, has_mask, hi, lo, bad):
    """Column-wise max, min and NaN flag of rows ``r0:r1`` (only allowed cells when
    ``has_mask``; ``mrows`` are the rows' mask rows) into ``hi``, ``lo``, ``bad`` (length T).
    Branch-free selects, so that the loop over columns vectorises."""
    T = att.shape[1]
    hi[:] = -np.inf
    lo[:] = np.inf
    bad[:] = 0
    for r in range(r0, r1):
        row = att[r]
        if has_mask:
            m = mrows[r]
            for j in range(T):
                x = row[j]
                ok = m[j]
                h, lo_j = hi[j], lo[j]
                hi[j] = x if (ok and x > h) else h
                lo[j] = x if (ok and x < lo_j) else lo_j
                bad[j] |= ok and x != x
        else:
            for j in range(T):
                x = row[j]
                h, lo_j = hi[j], lo[j]
                hi[j] = x if x > h else h
                lo[j] = x if x < lo_j else lo_j
                bad[j] |= x != x


@njit(fastmath=FASTMATH, cache=True)
def _fold_blocks(hi, lo, bad, b, out, h, br, signed):
    """Block ``b`` columns of the folded rows into overview row ``br`` of head ``h``: the
    signed extreme (``signed``) or the maximum."""
    T = hi.shape[0]
    nb = out.shape[2]
    for cb in range(nb):
        j0 = cb * b
        j1 = min(j0 + b, T)
        bh, bl, bn = -np.inf, np.inf, False
        for j in range(j0, j1):
            bh = max(bh, hi[j])
            bl = min(bl, lo[j])
            bn = bn or bad[j] != 0
        if signed:
            out[h, br, cb] = _extreme(bh, bl, bn)
        else:
            out[h, br, cb] = np.nan if bn else bh


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
        mrows = mask[i0:i1] if has_mask else mask[:1]
        hi = np.empty(T, dtype=q.dtype)
        lo = np.empty(T, dtype=q.dtype)
        bad = np.empty(T, dtype=np.uint8)
        nbr = (R + b - 1) // b
        for k_br in range(nbr):  # scores: every pair, then the allowed pairs
            r0 = k_br * b
            r1 = min(r0 + b, R)
            _fold_rows(att, r0, r1, mrows, False, hi, lo, bad)
            _fold_blocks(hi, lo, bad, b, ov_s, h, i0 // b + k_br, True)
            if has_mask:
                _fold_rows(att, r0, r1, mrows, True, hi, lo, bad)
                _fold_blocks(hi, lo, bad, b, ov_a, h, i0 // b + k_br, True)
            else:
                ov_a[h, i0 // b + k_br] = ov_s[h, i0 // b + k_br]
        for r in range(R):
            mrow = mask[i0 + r] if has_mask else mask[0]
            ok, m, total = _softmax_row_stats(att[r], T, mrow, has_mask, scale)
            stats[h, i0 + r, 0] = m
            stats[h, i0 + r, 1] = total
            top = -1
            if ok and total > 0:  # the largest weight is exp(0) / total: find its column
                largest = att[r].dtype.type(1.0) / att[r].dtype.type(total)
                row = att[r]
                for j in range(T):
                    if row[j] >= largest:
                        top = j
                        break
            stats[h, i0 + r, 2] = top
        for k_br in range(nbr):  # weights: the block maxima
            r0 = k_br * b
            _fold_rows(att, r0, min(r0 + b, R), mrows, False, hi, lo, bad)
            _fold_blocks(hi, lo, bad, b, ov_w, h, i0 // b + k_br, False)
        np.dot(att, v[h], y[h, i0:i1])
        for r in range(R):
            if not stats[h, i0 + r, 1] > 0 and stats[h, i0 + r, 1] == 0:
                y[h, i0 + r] = 0  # nothing allowed: zero even if v holds NaN or inf


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
