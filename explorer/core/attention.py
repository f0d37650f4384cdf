"""Scaled dot-product attention: the explorer's numerical core.

Follows "Attention Is All You Need" (Vaswani et al., 2017), eq. 1:
``softmax(q kᵀ · scale) v`` with ``scale = 1/√d`` by default, written with nanoGPT's names
(``q, k, v, att, y``, ``T``, ``n_head``). The layout follows stumpy: a public function that
validates, and private Numba kernels (:mod:`explorer.core._attention_kernels`) that trust their
inputs. Numba settings live in :mod:`explorer.core.numba_config`.

The kernels are loaded on first use, not on import: importing Numba and SciPy's BLAS costs
about 0.4 s, and compiling them takes several seconds on a first launch. Until then
:func:`explorer.core.attention_numpy.attention_numpy` gives the same results with NumPy
alone, so the window can show a Result before the kernels are ready (see :func:`warm_up`).

Conventions shared by :func:`attention` and :func:`attention_reference`:

* **dtype.** The working dtype is q's: float32 and float64 are kept, float16 is widened to
  float32 and bool/integer q to float64. k and v are converted to the working dtype (so mixed
  inputs follow q). Complex, object and string arrays raise ``ValueError``.
* **causal with S != T.** Query ``i`` sits at absolute position ``i + (S - T)``, so the last
  query is aligned with the last key (as when new tokens are appended to a cached prefix):
  key ``j`` is allowed when ``j <= i + S - T``. With ``T > S`` the first ``T - S`` queries
  see no key at all.
* **Empty rows.** A query row with nothing to attend to (masked out entirely) gets all-zero
  weights and a zero output, never NaN.
* **NaN and inf.** If any score that a row may attend is NaN or ±inf (NaN or inf in that query
  row, or in an allowed key), the row's weights and output are NaN. NaN or inf in v reaches
  the output through the product ``weights @ v``; as in any matrix product, that can include
  rows whose weight on that key is zero. Masked scores never matter.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

# numba_config also sets Numba's cache folder and thread policy before anything imports
# Numba; importing it is cheap, as it does not import Numba itself.
from explorer.core.numba_config import caller_on_own_cpu, thread_count

#: Work (``n_head·T·S·(d + d_v)``) from which the parallel kernel is used. Below it a serial
#: call is faster, because handing tasks to the other thread costs more than the work. Chosen
#: from ``benchmarks/bench_attention.py --crossover``; see :func:`_choose_path`.
PARALLEL_MIN_WORK = 10_000_000

# Each task's block of weights stays within about this many bytes, so that the softmax runs
# while its scores are still in the core's L2 cache.
_BLOCK_BYTES = 1 << 20

_NO_MASK = np.ones((1, 1, 1), dtype=np.bool_)  # stands in when there is no mask


def _kernels():
    """The compiled kernels' module, imported on first use (Numba, SciPy's BLAS)."""
    from explorer.core import _attention_kernels

    return _attention_kernels


def __getattr__(name: str):
    if name == "_k":  # the kernels' module, for tests and benchmarks
        return _kernels()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _working_dtype(q: np.ndarray) -> np.dtype:
    kind = q.dtype.kind
    if q.dtype in (np.float32, np.float64):
        return q.dtype
    if q.dtype == np.float16:
        return np.dtype(np.float32)
    if kind in "biu":
        return np.dtype(np.float64)
    raise ValueError(f"q must hold real numbers (float32 or float64), not {q.dtype}")


def _as_array(x, name: str) -> np.ndarray:
    if type(x) is np.ndarray:
        return x
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} cannot be read as an array: {exc}") from None


def _validate(q, k, v, mask, scale):
    """Check shapes and types; return C-contiguous, writeable arrays of the working dtype."""
    q, k, v = _as_array(q, "q"), _as_array(k, "k"), _as_array(v, "v")
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
        raise ValueError(
            "q, k and v must be 3-D arrays (n_head, T, d), (n_head, S, d) and "
            f"(n_head, S, d_v); got shapes {q.shape}, {k.shape}, {v.shape}"
        )
    dtype = _working_dtype(q)
    if k.dtype != dtype or v.dtype != dtype:
        for a, name in ((k, "k"), (v, "v")):
            if a.dtype.kind not in "biuf":
                raise ValueError(f"{name} must hold real numbers, not {a.dtype}")
    n_head, T, d = q.shape
    if k.shape[0] != n_head or v.shape[0] != n_head:
        raise ValueError("q, k and v must have the same number of heads")
    if k.shape[2] != d:
        raise ValueError(f"k has d={k.shape[2]}, q has d={d}")
    if v.shape[1] != k.shape[1]:
        raise ValueError(f"v has S={v.shape[1]} rows, k has S={k.shape[1]}")
    if d == 0:
        raise ValueError("q and k need at least one feature (d >= 1)")
    S = k.shape[1]
    if mask is not None:
        mask = _as_array(mask, "mask")
        if mask.dtype != np.bool_:
            raise ValueError(f"mask must be boolean (True = may attend), not {mask.dtype}")
        if mask.shape not in ((T, S), (n_head, T, S)):
            raise ValueError(
                f"mask must have shape (T, S)=({T}, {S}) or (n_head, T, S)=({n_head}, {T}, {S}),"
                f" not {mask.shape}"
            )
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    if isinstance(scale, bool | np.bool_) or not isinstance(scale, numbers.Real):
        raise ValueError(f"scale must be a real number, not {scale!r}")
    if not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be finite and >= 0, not {scale!r}")
    return _ready(q, dtype), _ready(k, dtype), _ready(v, dtype), _ready(mask), dtype.type(scale)


def _ready(a, dtype=np.bool_):
    """``a`` as a C-contiguous, aligned, writeable array of ``dtype``; copies only if needed.

    Writeable because Numba types read-only arrays separately, which would compile a new
    specialisation mid-session.
    """
    if a is None or (a.dtype == dtype and a.flags.carray):  # carray: C, aligned, writeable
        return a
    return np.require(a, dtype, ["C", "A", "W"])


def _check_buffer(buf, name: str, shape: tuple, dtype: np.dtype, inputs) -> np.ndarray:
    if not isinstance(buf, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array")
    if buf.shape != shape or buf.dtype != dtype:
        raise ValueError(
            f"{name} must have shape {shape} and dtype {dtype}, not {buf.shape} and {buf.dtype}"
        )
    if not buf.flags.carray:
        raise ValueError(f"{name} must be C-contiguous, aligned and writeable")
    if any(np.may_share_memory(buf, a) for a in inputs):
        raise ValueError(f"{name} must not overlap the inputs or the other output")
    return buf


def attention_reference(q, k, v, *, scale=None, causal=False, mask=None):
    """Plain NumPy attention with the same contract as :func:`attention`.

    Computed in float64 and returned in the working dtype (see the module docstring).
    Slow and simple on purpose: tests and benchmarks compare the kernels with it.
    """
    q, k, v, mask, scale = _validate(q, k, v, mask, scale)
    n_head, T, _ = q.shape
    S = k.shape[1]
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    allowed = np.ones((n_head, T, S), dtype=bool)
    if mask is not None:
        allowed &= np.broadcast_to(mask, (n_head, T, S))
    if causal:
        # query i sits at absolute position i + (S - T): the last query sees every key
        allowed &= np.arange(S)[None, :] <= (np.arange(T)[:, None] + (S - T))
    with np.errstate(invalid="ignore", over="ignore"):
        att = np.einsum("htd,hsd->hts", q64, k64) * float(scale)  # (n_head, T, S)
        bad = ((~np.isfinite(att)) & allowed).any(axis=-1, keepdims=True)  # NaN/inf rows
        att = np.where(allowed & np.isfinite(att), att, -np.inf)
        row_max = att.max(axis=-1, keepdims=True, initial=-np.inf)
        row_max = np.where(np.isfinite(row_max), row_max, 0.0)
        e = np.where(allowed, np.exp(att - row_max), 0.0)
        denom = e.sum(axis=-1, keepdims=True)
        w = np.where(denom > 0, e / np.where(denom > 0, denom, 1.0), 0.0)
        w = np.where(bad, np.nan, w)
        y = w @ v64  # (n_head, T, d_v)
    y = np.where(allowed.any(axis=-1, keepdims=True), y, 0.0)  # empty rows: zero output
    return y.astype(q.dtype), w.astype(q.dtype)


def _choose_path(work: int) -> bool:
    """True for the parallel kernel.

    Measured on the 2-core development VM (float32, d = d_v = 64, median ms, quiet machine,
    ``benchmarks/bench_attention.py --crossover``):

    ====  ===  =======  =======  =======  ========  ========
    h     T    work     ser hot  par hot  ser idle  par idle
    ====  ===  =======  =======  =======  ========  ========
    12    48   3.5e6    0.127    0.119    0.322     0.421
    12    64   6.3e6    0.190    0.148    0.394     0.449
    12    96   1.4e7    0.381    0.244    0.587     0.553
    12    128  2.5e7    0.602    0.357    0.854     0.668
    1     256  8.4e6    0.179    0.163    0.333     0.432
    1     384  1.9e7    0.400    0.275    0.559     0.549
    1     512  3.4e7    0.671    0.419    0.847     0.700
    ====  ===  =======  =======  =======  ========  ========

    "hot" is back-to-back calls (crossover about 5e6); "idle" follows 20 ms of sleep, where
    waking the second core costs the parallel path about 0.1-0.15 ms more (crossover about
    1.5e7). The threshold, 1e7, sits between: either way the wrong choice costs at most about
    0.1 ms near the crossover.
    """
    return work >= PARALLEL_MIN_WORK and thread_count() > 1


def _block_rows(n_head: int, T: int, S: int, itemsize: int, parallel: bool) -> int:
    """Rows of queries per task: as many as fit the cache budget, but enough tasks to share."""
    rows = max(16, min(256, _BLOCK_BYTES // max(1, S * itemsize)))
    if parallel:
        # at least two tasks per thread, so that one slow task does not idle the other core
        per_head = -(-2 * thread_count() // n_head)
        rows = min(rows, max(16, -(-T // per_head)))
    return min(rows, max(T, 1))


def _outputs(q, k, v, mask, out, weights_out):
    """Checked output buffers, or new ones: y (n_head, T, d_v) and w (n_head, T, S)."""
    n_head, T, _ = q.shape
    S, d_v = v.shape[1], v.shape[2]
    inputs = (q, k, v) if mask is None else (q, k, v, mask)
    if out is not None:
        out = _check_buffer(out, "out", (n_head, T, d_v), q.dtype, inputs)
    if weights_out is not None:
        extra = () if out is None else (out,)
        weights_out = _check_buffer(
            weights_out, "weights_out", (n_head, T, S), q.dtype, inputs + extra
        )
    y = np.empty((n_head, T, d_v), q.dtype) if out is None else out
    w = np.empty((n_head, T, S), q.dtype) if weights_out is None else weights_out
    return y, w


def _attention(q, k, v, scale, causal, mask, out, weights_out, parallel):
    q, k, v, mask, scale = _validate(q, k, v, mask, scale)
    n_head, T, d = q.shape
    S, d_v = v.shape[1], v.shape[2]
    y, w = _outputs(q, k, v, mask, out, weights_out)
    if min(n_head, T, S, d_v) == 0:
        # nothing for BLAS to do; the reference handles the degenerate shapes exactly
        y[...], w[...] = attention_reference(q, k, v, scale=scale, causal=causal, mask=mask)
        return y, w
    _k = _kernels()  # before _choose_path: loading them starts Numba's thread pool
    if parallel is None:
        parallel = _choose_path(n_head * T * S * (d + d_v))
    has_mask = mask is not None
    mask3 = _NO_MASK if mask is None else mask.reshape((-1, T, S))  # (1 or n_head, T, S)
    block = _block_rows(n_head, T, S, q.itemsize, parallel)
    args = (q, k, v, scale, bool(causal), S - T, mask3, has_mask, y, w, block)
    if parallel:
        with caller_on_own_cpu():  # measured: see numba_config.start_thread_pool
            _k.attention_parallel(*args)
    else:
        _k.attention_serial(*args)
    return y, w


def attention(q, k, v, *, scale=None, causal=False, mask=None, out=None, weights_out=None):
    """Scaled dot-product attention with the weights materialised.

    Parameters
    ----------
    q : ndarray, shape (n_head, T, d)
        Queries, float32 or float64 (see the module docstring for other dtypes).
    k : ndarray, shape (n_head, S, d)
        Keys; converted to q's dtype.
    v : ndarray, shape (n_head, S, d_v)
        Values; converted to q's dtype.
    scale : float, optional
        Multiplies the scores before the softmax; finite and >= 0. Default ``1/sqrt(d)``. A
        temperature τ is ``scale = 1/(sqrt(d)·τ)``.
    causal : bool
        Allow key ``j`` for query ``i`` only when ``j <= i + (S - T)`` (last query aligned with
        the last key).
    mask : ndarray of bool, shape (T, S) or (n_head, T, S), optional
        True where a query may attend a key. Combined with ``causal`` by "and".
    out : ndarray, shape (n_head, T, d_v), optional
        Buffer for ``y``: C-contiguous, of the working dtype, not overlapping the inputs. Every
        element is overwritten. Reusing buffers avoids an allocation per call.
    weights_out : ndarray, shape (n_head, T, S), optional
        Buffer for the weights, with the same rules as ``out``.

    Returns
    -------
    y : ndarray, shape (n_head, T, d_v)
        ``weights @ v``, in the working dtype (q's dtype for float32 and float64).
    weights : ndarray, shape (n_head, T, S)
        Softmax of the scaled, masked scores; each row sums to 1, or is all zero when the row
        may attend nothing. Rows with a NaN or infinite allowed score are NaN.

    Raises
    ------
    ValueError
        For wrong shapes, non-real dtypes, a non-boolean mask, a bad ``scale`` or an unusable
        output buffer.

    Notes
    -----
    Non-contiguous, read-only or non-working-dtype inputs are copied first; pass C-contiguous
    arrays of one dtype to avoid the copy. Small inputs run a serial kernel and large ones a
    parallel kernel (see :data:`PARALLEL_MIN_WORK`); both give the same result up to rounding.
    """
    return _attention(q, k, v, scale, causal, mask, out, weights_out, parallel=None)


def warm_up() -> float:
    """Load the kernels, and compile (or load from the on-disk cache) every specialisation
    the app uses.

    Runs both kernels, serial and parallel, in float32 and float64, with and without a mask,
    on tiny inputs. Later calls with C-contiguous inputs of those dtypes never compile again,
    whatever the values, shapes or flags. Call it once at launch in a background thread (the
    window's ComputeWorker does, after its first paint). The first call also imports the
    kernels' module (Numba, SciPy's BLAS: about 0.4 s). Compiling took about 4.6 s on an
    empty cache on a quiet 2-core VM (up to 16 s on a loaded one), loading 0.16 s.

    Returns
    -------
    float
        Seconds spent.
    """
    import time

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        q, k, v = (rng.standard_normal((2, 3, 2)).astype(dtype) for _ in range(3))
        mask = np.array([[True, False, True], [True, True, False], [False, False, False]])
        for parallel in (False, True):
            _attention(q, k, v, None, False, None, None, None, parallel)
            _attention(q, k, v, None, True, mask, None, None, parallel)
    return time.perf_counter() - start
