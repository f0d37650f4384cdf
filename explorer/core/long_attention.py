"""Attention for long texts: every weight exact where it is read, none stored whole.

A Result of ``T`` tokens and ``n_head`` heads holds four ``(n_head, T, T)`` stages (scores,
scaled, masked, weights). At 8,192 tokens × 4 heads each is 1 GiB in float32, so past
:data:`DENSE_MAX_TOKENS` tokens the pipeline keeps none of them. It keeps what makes any
cell exact again in microseconds: ``q`` and ``k``, the mask, and per query row the largest
allowed raw score ``m``, the softmax denominator ``l`` and the column of the row's largest
weight::

    score  s_ij = q_i · k_j
    weight a_ij = exp(scale · (s_ij - m_i)) / l_i   where j is allowed, else 0

Cells are recomputed in float64, with ``m_i`` taken as the recomputed score of that column:
the pass's float32 rounding then cannot move a weight by more than it moved ``l``, even for
huge logits (a row of 10⁴-sized scores would otherwise sum to 1.001).

One pass over the whole matrix (the same pass that computes ``y = A V``) also leaves a
small **overview** of each stage: every ``b × b`` block of cells reduced to one number, at
most :data:`OVERVIEW_MAX` blocks a side. Weights keep the block's largest weight; signed
stages (scores, cosines) keep the value of largest magnitude, sign included, so that a
single strong cell never vanishes from a zoomed-out picture. Masked cells do not take part
in the masked stage's overview; a block with no allowed cell is ``-inf`` there.

The classes here are read-only and behave like arrays where the views read them:

* :class:`LazyStage` is ``(n_head, T, T)``: ``stage[h]`` is a :class:`LazyMatrix`,
  ``stage[h, i]`` a row, ``stage[h, i, j]`` a number;
* :class:`LazyMatrix` is one ``(T, T)`` matrix: rows and cells by indexing,
  :meth:`LazyMatrix.window` for any rectangle, :meth:`LazyMatrix.overview` for the picture,
  ``np.asarray`` for all of it (used by exports only, one head at a time);
* :class:`LazyCosine` is the cosine similarity of the rows of one or two matrices.

:func:`long_attention_numpy` is the NumPy implementation of the pass; the compiled one is in
:mod:`explorer.core._long_kernels` through :func:`long_attention`.
"""

from __future__ import annotations

import threading

import numpy as np

#: Results with more tokens than this keep no (n_head, T, T) stage (see the module's text).
DENSE_MAX_TOKENS = 1024
#: The most tokens the workbench reads when no pretrained model sets a limit of its own.
LONG_MAX_TOKENS = 8192
#: Overviews have at most this many blocks a side: about the pixels a heatmap has on a
#: 1280 × 800 screen (a zoom draws exact cells from 1,024 cells a side); at 1,024 the
#: overviews cost 4× the memory and drawing time for detail no screen showed.
OVERVIEW_MAX = 512
#: Stages of a Result, in pipeline order.
STAGES = ("scores", "scaled", "masked", "weights")


def overview_block(n: int) -> int:
    """Cells per overview block side for an ``n``-cell side: at most :data:`OVERVIEW_MAX`
    blocks, each at least one cell."""
    return max(1, -(-int(n) // OVERVIEW_MAX))


def _n_blocks(n: int, b: int) -> int:
    return -(-n // b)


# --------------------------------------------------------------------------- reductions
def block_reduce(m: np.ndarray, b: int, how: str) -> np.ndarray:
    """Reduce every ``b × b`` block of ``m`` (rows × cols; edge blocks may be smaller).

    ``how`` is ``"max"`` (largest value; NaN anywhere makes the block NaN) or ``"extreme"``
    (the value of largest magnitude, sign kept; ``-inf`` cells are left out, and a block of
    only ``-inf`` stays ``-inf``).
    """
    rows, cols = m.shape
    if b == 1:
        out = np.array(m, dtype=np.float32)
        return out
    nr, nc = _n_blocks(rows, b), _n_blocks(cols, b)
    if how == "max":
        hi = _strided_reduce(m, b, nr, nc, np.maximum, -np.inf)
        return hi.astype(np.float32, copy=False)
    if how != "extreme":
        raise ValueError(f"unknown reduction {how!r}")
    finite_or_nan = np.where(m == -np.inf, np.nan, m)  # -inf: masked, not a value
    hi = _strided_reduce(finite_or_nan, b, nr, nc, np.fmax, np.nan)
    lo = _strided_reduce(finite_or_nan, b, nr, nc, np.fmin, np.nan)
    return _pick_extreme(hi, lo, _strided_reduce(np.isnan(m), b, nr, nc, np.logical_or, False))


def _pick_extreme(hi, lo, any_nan) -> np.ndarray:
    """The signed value of largest magnitude from block maxima and minima (NaN: no value)."""
    with np.errstate(invalid="ignore"):
        out = np.where(hi >= -lo, hi, lo)
        out = np.where(np.isnan(hi), -np.inf, out)  # no allowed cell in the block
    out = np.where(any_nan, np.nan, out)
    return out.astype(np.float32, copy=False)


def _finite_extreme(m: np.ndarray, b: int) -> np.ndarray:
    """:func:`block_reduce` ``"extreme"`` for a matrix of finite numbers (cosines), in two
    reductions over a blocked view: edge blocks are padded with copies of their own edge,
    which changes no maximum or minimum."""
    rows, cols = m.shape
    nr, nc = _n_blocks(rows, b), _n_blocks(cols, b)
    if (nr * b, nc * b) != (rows, cols):
        m = np.pad(m, ((0, nr * b - rows), (0, nc * b - cols)), mode="edge")
    rows_of = m.reshape(nr, b, nc * b)  # rows first: contiguous, element-wise passes
    hi, lo = rows_of.max(axis=1), rows_of.min(axis=1)  # (nr, nc · b)
    hi = _fold_columns(hi, b, np.maximum)
    lo = _fold_columns(lo, b, np.minimum)
    return np.where(hi >= -lo, hi, lo).astype(np.float32, copy=False)


def _fold_columns(m: np.ndarray, b: int, op) -> np.ndarray:
    """``op`` over each run of ``b`` columns, by element-wise passes over strided views."""
    out = m[:, 0::b]
    for j in range(1, b):
        out = op(out, m[:, j::b])
    return out


def _strided_reduce(m, b, nr, nc, op, fill) -> np.ndarray:
    """``op``-reduce blocks by element-wise passes over strided views (as ``thumbnail``)."""
    rows, cols = m.shape
    padded = np.full((nr * b, nc * b), fill, dtype=m.dtype)
    padded[:rows, :cols] = m
    r = padded[0::b]
    for i in range(1, b):
        r = op(r, padded[i::b])
    out = r[:, 0::b]
    for j in range(1, b):
        out = op(out, r[:, j::b])
    return out


# --------------------------------------------------------------------------- the pass
class Overviews:
    """Per head, the overview images of one pass: float32 ``(nb, nb)`` arrays, a tuple of
    one per head for each stage, so that a pass over some heads shares the others' images.

    Attributes
    ----------
    block : int
        Cells per block side.
    scores : tuple of ndarray
        Largest-magnitude raw score of each block (every pair).
    allowed : tuple of ndarray
        The same over the allowed pairs only; ``-inf`` where a block has none.
    weights : tuple of ndarray
        Largest weight of each block.
    """

    __slots__ = ("allowed", "block", "scores", "weights")

    def __init__(self, block: int, scores, allowed, weights):
        self.block = block
        self.scores, self.allowed, self.weights = (tuple(a) for a in (scores, allowed, weights))
        for images in (self.scores, self.allowed, self.weights):
            for a in images:
                a.setflags(write=False)

    def with_heads(self, heads, other: Overviews) -> Overviews:
        """These images, with those of ``heads`` taken from ``other`` (a pass over those
        heads only, in that order); the other heads' images are shared, not copied."""
        parts = []
        for mine, theirs in zip(
            (self.scores, self.allowed, self.weights),
            (other.scores, other.allowed, other.weights),
            strict=True,
        ):
            out = list(mine)
            for i, h in enumerate(heads):
                out[h] = theirs[i]
            parts.append(out)
        return Overviews(self.block, *parts)


def long_attention_numpy(q, k, v, scale: float, allowed: np.ndarray | None):
    """``y = softmax(q kᵀ · scale, masked) v`` without storing the weights, with NumPy.

    Parameters
    ----------
    q, k : ndarray, shape (n_head, T, d)
    v : ndarray, shape (n_head, T, d_v)
        One dtype (float32 or float64); the work is done in it.
    scale : float
        Positive.
    allowed : ndarray, shape (T, T), bool, or None
        True where query ``i`` may attend key ``j``; None allows every pair.

    Returns
    -------
    y : ndarray, shape (n_head, T, d_v)
    stats : ndarray, shape (n_head, T, 3), float64
        Per row the largest allowed raw score ``m``, the denominator ``l`` and the column of
        the largest weight; ``(-inf, 0, -1)`` for a row with nothing allowed (its weights are
        0) and ``(nan, nan, -1)`` for a row whose allowed scores are not all finite (its
        weights are NaN). Cells are recomputed against the score of that column, recomputed
        the same way, so that rounding in the pass cannot move a weight by more than it
        moved the denominator, even for huge logits.
    overviews : Overviews
    """
    n_head, T, _ = q.shape
    dt = q.dtype
    b = overview_block(T)
    nb = _n_blocks(T, b)
    y = np.zeros((n_head, T, v.shape[2]), dtype=dt)
    stats = np.empty((n_head, T, 3), dtype=np.float64)
    ov = [np.empty((n_head, nb, nb), dtype=np.float32) for _ in range(3)]
    rows = b * max(1, 256 // b)  # whole blocks of rows at a time
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for h in range(n_head):
            kt = k[h].T
            for i0 in range(0, T, rows):
                i1 = min(i0 + rows, T)
                a = None if allowed is None else allowed[i0:i1]
                s = q[h, i0:i1] @ kt  # (R, T) raw scores
                w, m, l_ = _softmax_rows(s, a, scale)
                stats[h, i0:i1, 0], stats[h, i0:i1, 1] = m, l_
                top = np.argmax(np.nan_to_num(w, nan=-1.0), axis=1)
                stats[h, i0:i1, 2] = np.where(np.isfinite(m), top, -1)
                y[h, i0:i1] = w @ v[h]
                y[h, i0:i1][l_ == 0] = 0  # a row that attends nothing: 0, even with NaN in v
                r0 = i0 // b
                r1 = r0 + _n_blocks(i1 - i0, b)
                ov[0][h, r0:r1] = block_reduce(s, b, "extreme")
                ov[1][h, r0:r1] = block_reduce(
                    s if a is None else np.where(a, s, -np.inf), b, "extreme"
                )
                ov[2][h, r0:r1] = block_reduce(w, b, "max")
    return y, stats, Overviews(b, *ov)


def _softmax_rows(s, a, scale):
    """Weights of raw scores ``s`` (R, T) under ``a`` (R, T bool or None), and the rows'
    ``m`` and ``l`` (see :func:`long_attention_numpy`)."""
    masked = s if a is None else np.where(a, s, -np.inf)
    if a is None:
        nonfinite = ~np.isfinite(s).all(axis=1)
        empty = np.zeros(s.shape[0], dtype=bool)
    else:
        nonfinite = ~np.isfinite(np.where(a, s, 0)).all(axis=1)
        empty = ~a.any(axis=1)
    m = masked.max(axis=1).astype(np.float64)
    m[empty] = -np.inf
    good = ~(empty | nonfinite)
    shift = np.where(good, m, 0).astype(s.dtype)
    w = np.exp((masked - shift[:, None]) * s.dtype.type(scale))
    l_ = w.sum(axis=1, dtype=np.float64)
    l_[empty] = 0.0
    w /= np.where(good, l_, 1.0).astype(s.dtype)[:, None]
    w[empty] = 0
    w[nonfinite] = np.nan
    m[nonfinite], l_[nonfinite] = np.nan, np.nan
    return w, m, l_


_kernels_ready = threading.Event()
_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


def long_kernels_ready() -> bool:
    """True once :func:`warm_up` has loaded (or compiled) the long kernel."""
    return _kernels_ready.is_set()


def warm_up() -> None:
    """Load the long kernel, compiling it on a first launch (about 30 s on an empty cache,
    0.5 s from the cache); later calls return at once."""
    if _kernels_ready.is_set():
        return
    from explorer.core import _long_kernels

    _long_kernels.warm_up()
    _kernels_ready.set()


def start_warm_up() -> None:
    """:func:`warm_up` in a background thread, started once. The pipeline calls it at the
    first long text, which is computed with NumPy meanwhile (the same numbers up to
    rounding); sessions of short texts never load the long kernel."""
    global _warm_thread
    with _warm_lock:
        if _kernels_ready.is_set() or _warm_thread is not None:
            return
        _warm_thread = threading.Thread(target=_warm_up_quietly, name="LongWarmUp", daemon=True)
        _warm_thread.start()


def _warm_up_quietly() -> None:
    try:
        warm_up()
    except Exception:  # long texts keep the NumPy pass
        import traceback

        traceback.print_exc()


def long_attention(q, k, v, scale: float, allowed: np.ndarray | None, *, use_kernels=True):
    """:func:`long_attention_numpy`'s results, from the compiled kernel when ``use_kernels``
    (compiling it first if :func:`warm_up` has not run)."""
    if not use_kernels or q.shape[1] == 0:
        return long_attention_numpy(q, k, v, scale, allowed)
    from explorer.core import _long_kernels

    return _long_kernels.long_attention(q, k, v, scale, allowed)


# --------------------------------------------------------------------------- lazy arrays
class _Rows:
    """What every stage of one pass is recomputed from."""

    __slots__ = ("allowed", "dtype", "k", "q", "scale", "stats")

    def __init__(self, q, k, scale, allowed, stats):
        self.q, self.k, self.scale, self.allowed, self.stats = q, k, scale, allowed, stats
        self.dtype = q.dtype

    def block(self, stage: str, h: int, rows, cols) -> np.ndarray:
        """Exact values of ``stage`` for head ``h``, rows × cols (index arrays or slices)."""
        q = np.asarray(self.q[h][rows], dtype=np.float64)
        k = np.asarray(self.k[h][cols], dtype=np.float64)
        s = q @ k.T  # float64: as exact as the inputs allow
        if stage == "scores":
            return s.astype(self.dtype)
        s *= self.scale
        if stage == "scaled":
            return s.astype(self.dtype)
        a = None if self.allowed is None else self.allowed[rows][:, cols]
        if stage == "masked":
            return (s if a is None else np.where(a, s, -np.inf)).astype(self.dtype)
        l_ = self.stats[h][rows, 1]
        top = self.stats[h][rows, 2].astype(np.intp)  # the column of the row's largest weight
        row_ids = np.arange(self.q.shape[1])[rows]
        m = np.einsum("td,td->t", q, np.asarray(self.k[h][np.maximum(top, 0)], np.float64))
        m = np.where(top >= 0, m, self.stats[h][row_ids, 0])
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            w = np.exp(s - (m * self.scale)[:, None]) / l_[:, None]
        if a is not None:
            w = np.where(a, w, 0.0)
        w[l_ == 0] = 0.0  # nothing allowed (m = -inf would give NaN)
        w[np.isnan(l_)] = np.nan  # a non-finite allowed score: the whole row is undefined
        return w.astype(self.dtype)


def _index(key, n: int):
    """An int, slice or 1-D integer array for an axis of length ``n``, checked."""
    if isinstance(key, slice):
        return key
    if isinstance(key, (int, np.integer)):
        i = int(key)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for axis of size {n}")
        return i % n
    arr = np.asarray(key)
    if arr.dtype == bool:
        arr = np.flatnonzero(arr)
    return arr.astype(np.intp, copy=False)


class LazyMatrix:
    """A ``(rows, cols)`` matrix whose cells are computed where they are read.

    Subclasses define :meth:`_block` (exact values of a set of rows and columns) and
    :meth:`_make_overview`. Indexing works like NumPy for ``m[i]``, ``m[i, j]``,
    ``m[rows]`` and ``m[rows, cols]`` with ints, slices and integer arrays, except that two
    index arrays select every row × column pair (as ``np.ix_``), not pairs side by side.
    """

    ndim = 2

    def __init__(self, shape: tuple[int, int], dtype):
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self._overview: tuple[np.ndarray, int] | None = None
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def __len__(self) -> int:
        return self.shape[0]

    def _block(self, rows, cols) -> np.ndarray:
        raise NotImplementedError

    def _make_overview(self) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > 2:
            raise IndexError("too many indices for a 2-D matrix")
        rows = _index(key[0], self.shape[0])
        cols = _index(key[1], self.shape[1]) if len(key) == 2 else slice(None)
        r = np.arange(self.shape[0])[rows]
        c = np.arange(self.shape[1])[cols]
        out = self._block(np.atleast_1d(r), np.atleast_1d(c))
        if np.ndim(r) == 0 and np.ndim(c) == 0:
            return out[0, 0]
        if np.ndim(r) == 0:
            return out[0]
        if np.ndim(c) == 0:
            return out[:, 0]
        return out

    def window(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Exact values of rows ``r0:r1`` and columns ``c0:c1`` (clipped to the matrix)."""
        r0, r1 = max(0, int(r0)), min(self.shape[0], int(r1))
        c0, c1 = max(0, int(c0)), min(self.shape[1], int(c1))
        if r1 <= r0 or c1 <= c0:
            return np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=self.dtype)
        return self._block(slice(r0, r1), slice(c0, c1))

    def overview(self) -> tuple[np.ndarray, int]:
        """(image, block): each ``block × block`` cells reduced to one (see the module's text).
        Computed once (thread-safe) and read-only."""
        with self._lock:
            if self._overview is None:
                image, block = self._make_overview()
                image.setflags(write=False)
                self._overview = (image, block)
            return self._overview

    @property
    def overview_ready(self) -> bool:
        """True when :meth:`overview` returns at once."""
        return self._overview is not None

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, dtype=self.dtype)
        step = max(1, (16 << 20) // max(1, 8 * self.shape[1]))
        for r0 in range(0, self.shape[0], step):
            out[r0 : r0 + step] = self.window(r0, r0 + step, 0, self.shape[1])
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.shape[0]}×{self.shape[1]} {self.dtype}>"


class StageMatrix(LazyMatrix):
    """One head of one stage of a long Result. Its overview is the pass's image of that head
    (``source``), times ``factor`` (the scale, for the scaled and masked stages) when first
    asked for: 4 MiB per head and stage are not kept for stages never drawn."""

    def __init__(self, rows: _Rows, stage: str, head: int, source, block: int, factor=None):
        T = rows.q.shape[1]
        super().__init__((T, T), rows.dtype)
        self._rows, self.stage, self.head = rows, stage, head
        self._source, self._cells, self._factor = source, block, factor
        if factor is None:
            self._overview = (source, block)

    def _block(self, rows, cols) -> np.ndarray:
        return self._rows.block(self.stage, self.head, rows, cols)

    def _make_overview(self) -> tuple[np.ndarray, int]:
        return self._source * np.float32(self._factor), self._cells


class LazyStage:
    """One stage of a long Result, shaped ``(n_head, T, T)``; ``stage[h]`` is a
    :class:`StageMatrix`. See the module's text."""

    ndim = 3

    def __init__(self, rows: _Rows, stage: str, overviews: Overviews):
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        n_head, T = rows.q.shape[:2]
        self.shape = (n_head, T, T)
        self.dtype = rows.dtype
        self.stage = stage
        self._rows = rows
        self.overviews = overviews
        source = {
            "scores": overviews.scores,
            "scaled": overviews.scores,
            "masked": overviews.allowed,
            "weights": overviews.weights,
        }[stage]
        factor = rows.scale if stage in ("scaled", "masked") else None
        b = overviews.block
        self._heads = tuple(
            StageMatrix(rows, stage, h, source[h], b, factor) for h in range(n_head)
        )

    @property
    def stats(self) -> np.ndarray:
        """Per head and query row: ``m``, ``l`` and the largest weight's column (see
        :func:`long_attention_numpy`)."""
        return self._rows.stats

    @property
    def mask(self) -> np.ndarray | None:
        """The (T, T) allowed pairs the pass used, or None when every pair was allowed."""
        return self._rows.allowed

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1] * self.shape[2]

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self):
        return iter(self._heads)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        head = key[0]
        if not isinstance(head, (int, np.integer)):
            raise IndexError("a long Result's stages are read one head at a time")
        m = self._heads[_index(head, self.shape[0])]
        return m if len(key) == 1 else m[key[1:]]

    def __array__(self, dtype=None, copy=None):
        out = np.stack([np.asarray(m) for m in self._heads])
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        n, T, _ = self.shape
        return f"<LazyStage {self.stage} {n}×{T}×{T} {self.dtype}>"


def lazy_stages(q, k, scale, allowed, stats, overviews: Overviews) -> dict[str, LazyStage]:
    """The four stages of a long pass, by name."""
    rows = _Rows(q, k, float(scale), allowed, stats)
    return {name: LazyStage(rows, name, overviews) for name in STAGES}


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norm = np.sqrt(np.einsum("td,td->t", x, x))
    return x / np.where(norm > 0, norm, 1.0)[:, None]


class LazyCosine(LazyMatrix):
    """``cos(a_i, b_j)`` for every pair of rows (``b`` defaults to ``a``), computed where it is
    read; 0 where either row is zero, as :func:`~explorer.core.embeddings.cosine_matrix`.
    Its overview (the value of largest magnitude per block) is computed on first request."""

    def __init__(self, a: np.ndarray, b: np.ndarray | None = None, dtype=np.float64):
        ua = _unit_rows(a)
        ub = ua if b is None else _unit_rows(b)
        super().__init__((ua.shape[0], ub.shape[0]), dtype)
        self._a, self._b = ua, ub

    def _block(self, rows, cols) -> np.ndarray:
        out = self._a[rows] @ self._b[cols].T
        return np.clip(out, -1.0, 1.0, out=out).astype(self.dtype, copy=False)

    def _make_overview(self) -> tuple[np.ndarray, int]:
        rows, cols = self.shape
        b = overview_block(max(rows, cols))
        step = b * max(1, 256 // b)
        a32, b32 = self._a.astype(np.float32), self._b.astype(np.float32)
        parts = []
        for r0 in range(0, rows, step):
            s = a32[r0 : r0 + step] @ b32.T
            parts.append(_finite_extreme(np.clip(s, -1.0, 1.0, out=s), b))
        image = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        return image, b


def weight_levels(weights) -> tuple[float, float]:
    """The colour range for a matrix of attention weights: ``(0, 1)``, or for a long text
    ``(0, top)`` with ``top`` the largest weight rounded up to 1, 2 or 5 × 10^k. Over
    thousands of keys most weights are far below 1, and a 0…1 scale would show them all as
    its darkest colour; the colour bar says which range is in use."""
    if not is_lazy(weights):
        return (0.0, 1.0)
    image = weights.overview()[0]
    finite = image[np.isfinite(image)]
    top = float(finite.max()) if finite.size else 1.0
    if not top > 0:
        return (0.0, 1.0)
    exp = np.floor(np.log10(top))
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * 10.0**exp >= top * (1 - 1e-9):
            return (0.0, min(1.0, float(step * 10.0**exp)))
    return (0.0, 1.0)


def is_lazy(a) -> bool:
    """True for the lazy stand-ins of this module (:class:`LazyMatrix`, :class:`LazyStage`)."""
    return isinstance(a, (LazyMatrix, LazyStage))
