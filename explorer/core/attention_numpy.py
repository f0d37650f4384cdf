"""Scaled dot-product attention with NumPy alone: the contract of
:func:`explorer.core.attention.attention`, without a compiled kernel.

The window computes with it while the Numba kernels load or compile (a first launch compiles
for several seconds), so the first Result is on screen at once; the kernels then take over
with the same numbers up to rounding. It follows the kernels' layout: one block of query rows
at a time (scores straight into the weight rows, softmax in place, then ``weights @ v``), in
the working dtype, so its temporaries stay a few MiB whatever ``T``.
"""

from __future__ import annotations

import numpy as np

from explorer.core.attention import _outputs, _validate, attention_reference

# Blocks of query rows of about this many bytes: large enough that NumPy's per-call overhead
# does not matter, small enough to bound the temporaries.
_NUMPY_BLOCK_BYTES = 4 << 20


def attention_numpy(q, k, v, *, scale=None, causal=False, mask=None, out=None, weights_out=None):
    """:func:`~explorer.core.attention.attention` computed with NumPy alone.

    Unlike :func:`~explorer.core.attention.attention_reference` (float64, every (T, S) array
    at once) it works in the working dtype, one block of rows at a time, so it is fit for the
    window's inputs. The results equal the kernels' up to rounding (float32: the kernels' exp
    is a polynomial; about 1e-7 relative).

    Parameters and returns are those of :func:`~explorer.core.attention.attention`, with the
    same rules for ``out`` and ``weights_out`` and the same ``ValueError`` for bad inputs.
    """
    q, k, v, mask, scale = _validate(q, k, v, mask, scale)
    y, w = _outputs(q, k, v, mask, out, weights_out)
    n_head, T, _ = q.shape
    S = k.shape[1]
    if min(n_head, T, S, v.shape[2]) == 0:
        y[...], w[...] = attention_reference(q, k, v, scale=scale, causal=causal, mask=mask)
        return y, w
    rows = int(max(1, min(T, _NUMPY_BLOCK_BYTES // (S * q.itemsize))))
    keys = np.arange(S)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for h in range(n_head):
            kt = k[h].T  # (d, S)
            for i0 in range(0, T, rows):
                i1 = min(i0 + rows, T)
                block = (q[h, i0:i1], kt, v[h], scale, causal, S - T, mask, h, i0, keys)
                _softmax_block(*block, w[h, i0:i1], y[h, i0:i1])
    return y, w


def _softmax_block(q, kt, v, scale, causal, offset, mask, h, i0, keys, att, y):
    """Rows ``i0 ..`` of one head: weights into ``att`` (B, S) and outputs into ``y`` (B, d_v)."""
    B = q.shape[0]
    np.matmul(q, kt, out=att)  # raw scores q kᵀ, (B, S)
    allowed = None  # (B, S) bool, or None when every key may be attended
    if causal:
        allowed = keys[None, :] <= np.arange(i0 + offset, i0 + offset + B)[:, None]
    if mask is not None:
        m = mask[h, i0 : i0 + B] if mask.ndim == 3 else mask[i0 : i0 + B]  # (B, S)
        allowed = m if allowed is None else allowed & m
    finite = np.isfinite(att)
    if allowed is None:
        bad = ~finite.all(axis=1)  # a NaN or infinite score the row may attend
    else:
        bad = (allowed & ~finite).any(axis=1)
        np.copyto(att, -np.inf, where=~allowed)
    att_max = att.max(axis=1, keepdims=True)  # (B, 1); -inf for a row that sees nothing
    att_max[~np.isfinite(att_max)] = 0
    att -= att_max
    att *= scale  # the kernels fold the scale in the same way: exp(scale · (s - max))
    np.exp(att, out=att)
    if allowed is not None:
        np.copyto(att, 0, where=~allowed)  # exp(-inf · 0) would be NaN when scale is 0
    total = att.sum(axis=1, keepdims=True)  # >= 1 where a key is allowed, else 0
    total[total == 0] = 1
    att /= total
    att[bad] = np.nan  # a non-finite score makes the row undefined
    np.matmul(att, v, out=y)
    if allowed is not None:
        y[~allowed.any(axis=1)] = 0  # nothing to attend: zero, even if v holds NaN or inf
