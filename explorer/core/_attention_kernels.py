"""Numba kernels behind :func:`explorer.core.attention.attention`. Private: no validation here.

Both kernels split the work into tasks of (head, block of query rows). A task computes its
block of scores with ``np.dot`` straight into the weight slice ``w[h, i0:i1]`` (contiguous;
``w[h, i0:i1, :]`` is not, and ``np.dot(..., out=)`` would silently write into a copy), runs the
softmax in place while the block is still in cache, and multiplies by V into ``y[h, i0:i1]``.
Each task writes only its own rows, so the parallel kernel has no races by design.

The softmax vectorises: the row max compares the floats' bits as integers (a float max
reduction does not vectorise without ``nnan``), the scale is folded into the exponent, and
float32 uses a polynomial exp (Cephes ``expf``) because Numba's ``np.exp`` stays scalar
without SVML. Constants are NumPy scalars of the working dtype, so float32 maths stays float32.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from explorer.core.numba_config import FASTMATH, configure_blas, start_thread_pool

# Before any kernel is compiled or loaded: Numba's np.dot binds to SciPy's BLAS.
configure_blas()
start_thread_pool()

_MAGIC = 12582912.0  # 1.5 * 2**23: adding it to |x| < 2**22 rounds x to an integer
_MAGIC_BITS = int(np.array(_MAGIC, np.float32).view(np.int32))


def _flip(builder, bits, width):
    """Negative floats order backwards as integers: flip their magnitude bits."""
    ity = ir.IntType(width)
    sign = builder.ashr(bits, ir.Constant(ity, width - 1))  # all ones for negatives
    return builder.xor(bits, builder.and_(sign, ir.Constant(ity, 2 ** (width - 1) - 1)))


@intrinsic
def _order_key(typingctx, x):
    """A signed integer that orders like the float ``x`` (for a vectorisable max)."""
    if x not in (types.float32, types.float64):
        return None
    width = x.bitwidth

    def codegen(context, builder, sig, args):
        return _flip(builder, builder.bitcast(args[0], ir.IntType(width)), width)

    return (types.int32 if width == 32 else types.int64)(x), codegen


@intrinsic
def _from_order_key(typingctx, key, like):
    """Inverse of :func:`_order_key`; ``like`` only chooses the float type."""
    if like not in (types.float32, types.float64):
        return None
    width = like.bitwidth
    float_ir = ir.FloatType() if width == 32 else ir.DoubleType()

    def codegen(context, builder, sig, args):
        return builder.bitcast(_flip(builder, args[0], width), float_ir)

    return like(key, like), codegen


@intrinsic
def _pow2_of_rounded(typingctx, t):
    """2**n as float32, where ``t = n + _MAGIC`` holds the integer n in its low bits."""
    if t != types.float32:
        return None

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        n = builder.sub(builder.bitcast(args[0], i32), ir.Constant(i32, _MAGIC_BITS))
        biased = builder.shl(builder.add(n, ir.Constant(i32, 127)), ir.Constant(i32, 23))
        return builder.bitcast(biased, ir.FloatType())

    return types.float32(t), codegen


# Cephes expf coefficients; exp(x) = 2**n · exp(r), x = n·ln2 + r, |r| <= ln2/2.
_F32 = np.float32
_LOWEST = _F32(-87.3)  # exp(-87.3) is still a normal float32
_LOG2E, _MAGIC32 = _F32(1.4426950408889634), _F32(_MAGIC)
_LN2_HI, _LN2_LO = _F32(0.693359375), _F32(-2.12194440e-4)
_P0, _P1, _P2 = _F32(1.9875691500e-4), _F32(1.3981999507e-3), _F32(8.3334519073e-3)
_P3, _P4, _P5 = _F32(4.1665795894e-2), _F32(1.6666665459e-1), _F32(5.0000001201e-1)
_ONE32, _ZERO32 = _F32(1.0), _F32(0.0)


def _exp_nonpos(x):
    """exp(x) for x <= 0 or NaN, in x's dtype (implemented by the overload below)."""
    raise NotImplementedError


# No 'reassoc' here: it would fold (t + MAGIC) - MAGIC into t and break the rounding.
@overload(_exp_nonpos, jit_options={"fastmath": {"contract", "nsz", "arcp"}})
def _exp_nonpos_impl(x):
    if x == types.float64:
        return lambda x: np.exp(x)
    if x != types.float32:
        return None

    def exp32(x):
        underflow = x < _LOWEST  # False for NaN, which stays NaN
        if underflow:
            x = _LOWEST
        t = x * _LOG2E + _MAGIC32
        n = t - _MAGIC32  # round(x / ln2), without a float->int conversion
        r = x - n * _LN2_HI - n * _LN2_LO
        p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
        e = (p * (r * r) + r + _ONE32) * _pow2_of_rounded(t)
        return _ZERO32 if underflow else e  # below 1.2e-38: flush to 0, as float32 would

    return exp32


@njit(fastmath=FASTMATH, cache=True)
def _softmax_row(row, lim, mrow, has_mask, scale):
    """Raw scores -> weights, in place. Columns >= lim, and masked ones, get weight 0.

    Returns False when the row may attend nothing (it is then all zeros).
    """
    return _softmax_row_stats(row, lim, mrow, has_mask, scale)[0]


@njit(fastmath=FASTMATH, cache=True)
def _softmax_row_stats(row, lim, mrow, has_mask, scale):
    """As :func:`_softmax_row`, also returning the row's largest allowed raw score ``m`` and
    the denominator ``l`` (weight ``j`` is ``exp(scale·(s_j - m)) / l``): ``(-inf, 0)`` for a
    row with nothing allowed, ``(nan, nan)`` for a row made NaN by a non-finite score."""
    zero, one = row.dtype.type(0), row.dtype.type(1)
    S = row.shape[0]
    lim = min(max(lim, 0), S)
    j0 = 0
    if has_mask:
        while j0 < lim and not mrow[j0]:
            j0 += 1
    if j0 >= lim:
        row[:] = zero
        return False, -np.inf, 0.0
    # one pass for both ends: keys beyond +-inf's keys are +-inf or NaN (either sign)
    hi = lo = _order_key(row[j0])
    if has_mask:
        for j in range(j0 + 1, lim):
            key = _order_key(row[j])
            if mrow[j]:
                hi = max(hi, key)
                lo = min(lo, key)
    else:
        for j in range(1, lim):
            key = _order_key(row[j])
            hi = max(hi, key)
            lo = min(lo, key)
    inf = row.dtype.type(np.inf)
    if hi >= _order_key(inf) or lo <= _order_key(-inf):
        row[:] = row.dtype.type(np.nan)  # a non-finite score makes the row undefined
        return True, np.nan, np.nan
    att_max = _from_order_key(hi, zero)
    total = zero
    if has_mask:
        for j in range(lim):
            e = _exp_nonpos(scale * (row[j] - att_max))
            e = e if mrow[j] else zero
            row[j] = e
            total += e
    else:
        for j in range(lim):
            e = _exp_nonpos(scale * (row[j] - att_max))
            row[j] = e
            total += e
    row[lim:] = zero
    inv = one / total  # total >= 1: the max itself contributes exp(0)
    for j in range(lim):
        row[j] *= inv
    return True, float(att_max), float(total)


@njit(fastmath=FASTMATH, cache=True)
def _attend_block(q, k, v, scale, causal, offset, mask, has_mask, y, w, h, i0, i1):
    S = w.shape[2]
    mh = h if mask.shape[0] > 1 else 0
    # Under a causal mask the block's last row sees keys < i1 + offset: the keys beyond are
    # never computed. Scores then go to a contiguous scratch (B, kmax), since w[h, i0:i1, :kmax]
    # is not contiguous and np.dot(..., out=) would silently write into a copy of it.
    kmax = min(i1 + offset, S) if causal else S
    if kmax < S:
        att = np.empty((i1 - i0, max(kmax, 0)), dtype=w.dtype)  # (B, kmax)
    else:
        att = w[h, i0:i1]  # (B, S) and contiguous
    if kmax > 0:
        np.dot(q[h, i0:i1], k[h, :kmax].T, att)  # raw scores q kᵀ
    empty = np.zeros(i1 - i0, dtype=np.bool_)
    for r in range(i1 - i0):
        i = i0 + r
        lim = i + offset + 1 if causal else S
        mrow = mask[mh, i if has_mask else 0]
        empty[r] = not _softmax_row(att[r], lim, mrow, has_mask, scale)
    if kmax < S:
        zero = w.dtype.type(0)
        for r in range(i1 - i0):
            w[h, i0 + r, : max(kmax, 0)] = att[r]
            w[h, i0 + r, max(kmax, 0) :] = zero
    if kmax > 0:
        np.dot(att, v[h, :kmax], y[h, i0:i1])  # (B, d_v)
    else:
        y[h, i0:i1] = 0
    for r in range(i1 - i0):
        if empty[r]:
            y[h, i0 + r] = 0  # zero even if v holds NaN or inf


@njit(fastmath=FASTMATH, cache=True)
def attention_serial(q, k, v, scale, causal, offset, mask, has_mask, y, w, block):
    """q (n_head, T, d), k (n_head, S, d), v (n_head, S, d_v) -> y, w written in place.

    ``offset = S - T`` aligns causal queries; ``mask`` is (1 or n_head, T, S) and only read when
    ``has_mask``; ``block`` is the number of query rows per task.
    """
    n_head, T = q.shape[0], q.shape[1]
    n_blocks = (T + block - 1) // block
    for task in range(n_head * n_blocks):
        h, b = task // n_blocks, task % n_blocks
        i0 = b * block
        i1 = min(i0 + block, T)
        _attend_block(q, k, v, scale, causal, offset, mask, has_mask, y, w, h, i0, i1)


@njit(fastmath=FASTMATH, cache=True, parallel=True)
def attention_parallel(q, k, v, scale, causal, offset, mask, has_mask, y, w, block):
    """As :func:`attention_serial`, with tasks spread over Numba's threads."""
    n_head, T = q.shape[0], q.shape[1]
    n_blocks = (T + block - 1) // block
    for task in prange(n_head * n_blocks):
        h, b = task // n_blocks, task % n_blocks
        if causal:  # interleave cheap top blocks with costly bottom ones across the threads
            b = b // 2 if b % 2 == 0 else n_blocks - 1 - b // 2
        i0 = b * block
        i1 = min(i0 + block, T)
        _attend_block(q, k, v, scale, causal, offset, mask, has_mask, y, w, h, i0, i1)
