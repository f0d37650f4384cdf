"""``compute(session) -> Result``: everything the window draws, from one Session.

The stages follow the seed article and "Attention Is All You Need" (eq. 1)::

    text ─tokenize─► tokens ─embed─► e (T, d_model) ─(+ or ‖ positions)─► x (T, d_in)
    x ─W_q, W_k, W_v per head─► q, k (n_head, T, d_head), v (n_head, T, d_v)
    scores = q kᵀ ─× scale─► scaled ─mask (causal, blocked) → -inf─► masked ─softmax─► weights
    y = weights v (n_head, T, d_v) ─concat heads─► contextual (T, n_head · d_v)

``scale = 1 / (√d_head · τ)`` with the session's temperature τ. The attention itself runs in
:func:`explorer.core.attention.attention` (the compiled kernels), or with
``use_kernels=False`` in :func:`~explorer.core.attention_numpy.attention_numpy`, which the
window uses while the kernels compile at a first launch; both give the same numbers up to
rounding. The intermediate score matrices are recomputed here with NumPy because the
pipeline strip shows them.

Precision: one dtype for the whole Result. Below :data:`FLOAT32_MIN_WORK` (work counted as
``n_head · T² · (d_head + d_v)``, e.g. every sentence-sized input) everything is float64, so the
numbers the window prints are exact to display precision. From there on the projections,
scores and the attention kernel run in float32, which measured 2-5x faster at T = 128-512
with 12 heads (relative error about 1e-6, invisible in a heatmap).

Threads: while ``compute`` runs, NumPy's BLAS is held to one thread. The attention kernel
has its own thread pool; with both pools awake on two cores, matrix products measured up to
50x slower (see ``benchmarks/bench_pipeline.py``).

``compute`` is pure: the same Session gives the same Result, and the Result's arrays are
read-only so it can be shared across threads.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from explorer.core import attention as _attention
from explorer.core.attention_numpy import attention_numpy
from explorer.core.embeddings import cosine_matrix, embed
from explorer.core.labels import token_labels
from explorer.core.long_attention import (
    DENSE_MAX_TOKENS,
    LONG_MAX_TOKENS,
    LazyCosine,
    is_lazy,
    lazy_stages,
    long_attention,
)
from explorer.core.positional import combine, positions
from explorer.core.session import Session, ViewOptions, check_weights
from explorer.core.tokenizer import MAX_TOKENS, Token, tokenize

#: Work ``n_head · T² · (d_head + d_v)`` from which the pipeline computes in float32.
FLOAT32_MIN_WORK = 4_000_000

_blas_lock = threading.Lock()
_blas_libs: list | None = None


def _numpy_blas() -> list:
    """(get, set) thread-count functions of each BLAS library in this process (found once)."""
    global _blas_libs
    with _blas_lock:
        if _blas_libs is None:
            from threadpoolctl import ThreadpoolController

            libs = ThreadpoolController().select(user_api="blas").lib_controllers
            # threadpoolctl's public setter ignores calls from any thread but the first one
            # that used it (usually the GUI thread), and compute runs in a worker; the
            # underlying setter has no such rule. Fall back to the public one if it is gone.
            _blas_libs = [
                (lib.get_num_threads, getattr(lib, "_real_set_num_threads", lib.set_num_threads))
                for lib in libs
            ]
        return _blas_libs


@contextmanager
def _single_threaded_blas():
    """Hold the process's BLAS to one thread, then restore it (about 1 µs per call)."""
    libs = _numpy_blas()
    before = [get() for get, _ in libs]
    for _, set_threads in libs:
        set_threads(1)
    try:
        yield
    finally:
        for (_, set_threads), n in zip(libs, before, strict=True):
            if n is not None:
                set_threads(n)


def work_dtype(n_head: int, T: int, d_head: int, d_v: int) -> np.dtype:
    """float64 for small inputs, float32 from :data:`FLOAT32_MIN_WORK` on."""
    work = n_head * T * T * (d_head + d_v)
    return np.dtype(np.float32 if work >= FLOAT32_MIN_WORK else np.float64)


@dataclass(frozen=True, eq=False)
class Result:
    """What :func:`compute` returns. ``T`` is the number of visible tokens (may be 0).

    Every float array has the same dtype, :attr:`dtype`: float64, or float32 for large
    inputs (see :func:`work_dtype`). All arrays are read-only.

    Attributes
    ----------
    tokens : tuple of Token
        The visible tokens (with ``[CLS]``/``[SEP]`` when ``view.show_special``).
    embedded : ndarray, shape (T, d_model)
        The static token vectors, before any positional encoding.
    positions : ndarray, shape (T, d_model), or None
        The positional vectors (None when the encoding is ``"none"``).
    x : ndarray, shape (T, d_in)
        What the heads read: ``embedded``, ``embedded + positions`` or ``[embedded, positions]``.
    q, k : ndarray, shape (n_head, T, d_head)
    v : ndarray, shape (n_head, T, d_v)
    scores : ndarray, shape (n_head, T, T)
        Raw ``q kᵀ``. Past :data:`~explorer.core.long_attention.DENSE_MAX_TOKENS` tokens
        this and the other (n_head, T, T) stages (``scaled``, ``masked``, ``weights``) are
        :class:`~explorer.core.long_attention.LazyStage` objects: indexed like arrays, one
        head at a time, each cell computed exactly where it is read, with an overview of
        block maxima for drawing (:func:`is_long`).
    scaled : ndarray, shape (n_head, T, T)
        ``scores · scale``.
    allowed : ndarray, shape (T, T), bool
        True where query ``i`` may attend to key ``j`` (causal and blocked pairs removed).
        For a long text with nothing cut, one read-only True broadcast to (T, T).
    masked : ndarray, shape (n_head, T, T)
        ``scaled`` with ``-inf`` where not allowed: the softmax input.
    weights : ndarray, shape (n_head, T, T)
        Softmax of ``masked`` along keys; a row with nothing allowed is all zero.
    y : ndarray, shape (n_head, T, d_v)
        ``weights @ v`` per head.
    contextual : ndarray, shape (T, n_head · d_v)
        Each token's contextual vector: the heads' outputs concatenated, as multi-head
        attention does before its output projection (with one head it is simply ``y[0]``).
    static_similarity : ndarray, shape (T, T)
        Cosine similarity of ``embedded`` (positions excluded, so one word has one static
        vector wherever it appears). For a long text, as the two similarities below, a
        :class:`~explorer.core.long_attention.LazyCosine`.
    contextual_similarity : ndarray, shape (T, T)
        Cosine similarity of ``contextual``.
    scale : float
        ``1 / (√d_head · τ)``.
    timings : dict of str to float
        Milliseconds per stage: tokenize, embed, project, scores, attention, similarity, total.
    truncated : bool
        True when the text had more tokens than the window.
    notice : str
        Messages for the user (truncation, one-hot running out of axes), or ``""``.
    n_total : int
        Word pieces in the text (before truncation, specials not counted); a lower bound
        when the text is longer than the part that was read to fill the window (see
        :class:`~explorer.core.tokenizer.Tokenization`).
    """

    tokens: tuple[Token, ...]
    embedded: np.ndarray
    positions: np.ndarray | None
    x: np.ndarray
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    scores: np.ndarray
    scaled: np.ndarray
    allowed: np.ndarray
    masked: np.ndarray
    weights: np.ndarray
    y: np.ndarray
    contextual: np.ndarray
    static_similarity: np.ndarray
    contextual_similarity: np.ndarray
    scale: float
    timings: dict[str, float] = field(default_factory=dict)
    truncated: bool = False
    notice: str = ""
    n_total: int = 0

    @property
    def T(self) -> int:
        return len(self.tokens)

    @property
    def n_head(self) -> int:
        return self.q.shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self.weights.dtype

    @property
    def labels(self) -> list[str]:
        """Token texts, for axis ticks."""
        return [t.text for t in self.tokens]

    @property
    def display_labels(self) -> list[str]:
        """Token texts with subscripts on repeated words (``bank₁``, ``bank₂``), for views."""
        return token_labels(self.labels)


def attention_scale(d_head: int, temperature: float) -> float:
    """``1 / (√d_head · τ)``; ValueError unless τ is positive and finite."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    return 1.0 / (math.sqrt(d_head) * temperature)


SENTENCE_ENDS = frozenset({".", "!", "?"})


def sentence_ids(tokens) -> np.ndarray:
    """The sentence each token belongs to: a sentence ends after ``.``, ``!`` or ``?``.

    Special tokens join the sentence next to them (``[CLS]`` the first, ``[SEP]`` the last).
    """
    ids = np.zeros(len(tokens), dtype=np.int64)
    current = 0
    for i, tok in enumerate(tokens):
        ids[i] = current
        if tok.text in SENTENCE_ENDS and not tok.special:
            current += 1
    if len(tokens) and tokens[-1].special and len(tokens) > 1:
        ids[-1] = ids[-2]
    return ids


def allowed_mask(T: int, causal: bool, blocked, sentences: np.ndarray | None = None) -> np.ndarray:
    """Which (query, key) pairs may attend.

    Parameters
    ----------
    T : int
    causal : bool
        Remove keys after the query (``j > i``).
    blocked : iterable of (int, int)
        (query, key) pairs to cut; pairs outside ``0 .. T-1`` are ignored (they may refer to
        a longer text the user has since shortened).
    sentences : ndarray, shape (T,), int, optional
        Sentence of each token (:func:`sentence_ids`); when given, pairs across sentences
        are cut, so each sentence is read on its own as in the article's two "bank" examples.

    Returns
    -------
    ndarray, shape (T, T), bool
    """
    allowed = np.ones((T, T), dtype=bool)
    if causal:
        allowed &= np.tri(T, dtype=bool)
    if sentences is not None:
        allowed &= sentences[:, None] == sentences[None, :]
    for pair in blocked:
        i, j = (int(a) for a in pair)
        if 0 <= i < T and 0 <= j < T:
            allowed[i, j] = False
    return allowed


def _stack(session: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Head matrices stacked: (n_head, d_in, d_head) ×2 and (n_head, d_in, d_v), float64."""
    shapes = {(h.w_q.shape, h.w_v.shape) for h in session.heads}
    if len(shapes) != 1:
        raise ValueError(
            "the heads do not all have the same shape; change the number of heads or the "
            "head size to rebuild them"
        )
    w_q = np.stack([h.w_q for h in session.heads])  # (n_head, d_in, d_head)
    w_k = np.stack([h.w_k for h in session.heads])  # (n_head, d_in, d_head)
    w_v = np.stack([h.w_v for h in session.heads])  # (n_head, d_in, d_v)
    return w_q, w_k, w_v


def _stage_ms(start: float, ends: list[tuple[str, float]]) -> dict[str, float]:
    """Milliseconds of each stage from consecutive clock readings, and their ``total``."""
    out, last = {}, start
    for name, t in ends:
        out[name] = (t - last) * 1e3
        last = t
    out["total"] = (last - start) * 1e3
    return out


def _freeze(*arrays):
    for a in arrays:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)


def token_window(session: Session) -> int:
    """The most tokens (``[CLS]`` and ``[SEP]`` counted) the pipeline reads of the text:
    a pretrained encoder's 512 positions when its embeddings or positions are used, else
    :data:`~explorer.core.long_attention.LONG_MAX_TOKENS`."""
    if session.model is not None or session.embedding == "model" or session.positional == "learned":
        return MAX_TOKENS
    return LONG_MAX_TOKENS


def is_long(result: Result) -> bool:
    """True for a Result whose (n_head, T, T) stages are computed where they are read
    (more than :data:`~explorer.core.long_attention.DENSE_MAX_TOKENS` tokens)."""
    return is_lazy(result.weights)


def compute(
    session: Session, reuse: tuple[Session, Result] | None = None, *, use_kernels: bool = True
) -> Result:
    """Run the whole pipeline for one Session.

    Parameters
    ----------
    session : Session
    reuse : (Session, Result), optional
        An earlier Session and its Result. When ``session`` differs from it only in the
        matrices of some heads (a slider drag), the tokens, inputs and the unchanged heads
        are taken from it and only the edited heads are recomputed: at 512 tokens × 12 heads
        a one-head edit costs half a full compute. The Result equals the one without
        ``reuse`` (bit for bit in float64; in float32 the attention kernel may round the last
        bit differently). Any other difference in the Session means a full compute.
    use_kernels : bool
        False computes the attention with NumPy alone
        (:func:`~explorer.core.attention_numpy.attention_numpy`), which needs no compiled kernel:
        the same Result up to float rounding (about 1e-7 relative in float32, 1e-15 in
        float64), only slower on long texts.

    Returns
    -------
    Result
        See :class:`Result` for every field and shape. Empty text gives ``T = 0`` arrays.

    Raises
    ------
    ValueError
        Inconsistent settings: heads that do not fit the input width (call
        :func:`explorer.core.projections.conform`), a bad temperature, an unknown source,
        or a model-based source without a loaded model.
    """
    attend = _attention.attention if use_kernels else attention_numpy
    with _single_threaded_blas():
        if reuse is not None:
            heads = edited_heads(session, *reuse)
            if heads == []:
                return reuse[1]  # nothing computed changed (read-only, so safe to share)
            if heads is not None and len(heads) < session.n_head:
                return _recompute_heads(session, reuse[1], heads, attend)
        return _compute(session, attend)


def inputs_of(session: Session) -> Session:
    """``session`` with everything :func:`compute` ignores (the colour maps and other view
    options, the selected head and query, the Model and Decoder tabs' settings) set to
    defaults: Sessions with equal ``inputs_of`` have the same Result. ``view.show_special``
    counts, as it adds tokens."""
    view = ViewOptions(show_special=session.view.show_special)
    return replace(
        session, view=view, selected_head=0, selected_query=None, model_edits=(), decoder=None
    )


def edited_heads(session: Session, before: Session, result: Result) -> list[int] | None:
    """The heads whose matrices differ between ``before`` and ``session``, when that is all
    that differs (and ``result`` is ``before``'s); otherwise None.

    Sessions that read a pretrained model are never reused: their inputs come from a model
    loaded outside the Session, which may have changed in between.
    """
    if session.model is not None or before.model is not None:
        return None
    if session.n_head != before.n_head or result.n_head != session.n_head:
        return None
    if replace(inputs_of(session), heads=before.heads) != inputs_of(before):
        return None
    shape = (result.x.shape[1], result.q.shape[2])
    heads = []
    for h, (new, old) in enumerate(zip(session.heads, before.heads, strict=True)):
        if new.w_q.shape != shape or new.w_k.shape != shape or new.w_v.shape[0] != shape[0]:
            return None
        if new.w_v.shape[1] != result.v.shape[2]:
            return None
        if new != old:
            heads.append(h)
    return heads


def _check_heads(session: Session, heads=None) -> None:
    """ValueError naming the first matrix with NaN, infinity or a weight beyond
    :data:`~explorer.core.session.MAX_ABS_WEIGHT` (its scores could overflow to NaN)."""
    for h in range(session.n_head) if heads is None else heads:
        for which in "qkv":
            try:
                check_weights(session.heads[h].matrix(which), f"W_{which.upper()} of head {h}")
            except ValueError as exc:
                raise ValueError(
                    f"{exc}: attention cannot be computed with it. Reset or scale it down."
                ) from None


def _project_heads(session: Session, heads: list[int], x: np.ndarray, dtype) -> tuple:
    """q, k, v of the given heads from the inputs ``x``: (len(heads), T, d) each."""
    w_q = np.stack([session.heads[h].w_q for h in heads]).astype(dtype, copy=False)
    w_k = np.stack([session.heads[h].w_k for h in heads]).astype(dtype, copy=False)
    w_v = np.stack([session.heads[h].w_v for h in heads]).astype(dtype, copy=False)
    return np.matmul(x, w_q), np.matmul(x, w_k), np.matmul(x, w_v)


def _recompute_heads(session: Session, prev: Result, heads: list[int], attend) -> Result:
    """``prev`` with the given heads recomputed from ``session``'s matrices."""
    _check_heads(session, heads)
    if is_long(prev):
        return _recompute_heads_long(session, prev, heads, attend)
    clock = time.perf_counter
    t0 = clock()
    dtype = prev.dtype
    x = prev.x
    q, k, v = (np.array(a) for a in (prev.q, prev.k, prev.v))
    scores, scaled, weights, y = (
        np.array(a) for a in (prev.scores, prev.scaled, prev.weights, prev.y)
    )
    unmasked = prev.masked is prev.scaled
    masked = scaled if unmasked else np.array(prev.masked)
    scale = prev.scale
    t1 = clock()
    if heads and prev.T:
        idx = np.asarray(heads)
        q[idx], k[idx], v[idx] = _project_heads(session, heads, x, dtype)
        t2 = clock()
        part = np.matmul(q[idx], k[idx].transpose(0, 2, 1))  # (n_edited, T, T)
        scores[idx] = part
        scaled[idx] = part * dtype.type(scale)
        if not unmasked:
            masked[idx] = np.where(prev.allowed, scaled[idx], -np.inf)
        t3 = clock()
        mask = None if unmasked else prev.allowed
        y_part, w_part = attend(q[idx], k[idx], v[idx], scale=scale, mask=mask)
        y[idx], weights[idx] = y_part, w_part
    else:
        t2 = t3 = clock()
    t4 = clock()
    T, n_head, d_v = prev.T, prev.n_head, prev.v.shape[2]
    contextual = y.transpose(1, 0, 2).reshape(T, n_head * d_v)  # (T, n_head · d_v)
    contextual_sim = cosine_matrix(contextual)  # (T, T)
    t5 = clock()
    _freeze(q, k, v, scores, scaled, masked, weights, y, contextual, contextual_sim)
    stages = [("reuse", t1), ("project", t2), ("scores", t3), ("attention", t4)]
    timings = {"tokenize": 0.0, "embed": 0.0, **_stage_ms(t0, [*stages, ("similarity", t5)])}
    return replace(
        prev,
        q=q,
        k=k,
        v=v,
        scores=scores,
        scaled=scaled,
        masked=masked,
        weights=weights,
        y=y,
        contextual=contextual,
        contextual_similarity=contextual_sim,
        timings=timings,
    )


def _compute(session: Session, attend) -> Result:
    clock = time.perf_counter
    t0 = clock()
    tok = tokenize(session.text, bool(session.view.show_special), token_window(session))
    tokens = tok.tokens
    T = len(tokens)
    t1 = clock()

    w_q, w_k, w_v = _stack(session)
    _check_heads(session)
    n_head, d_head, d_v = w_q.shape[0], w_q.shape[2], w_v.shape[2]
    dtype = work_dtype(n_head, T, d_head, d_v)
    e, embed_notice = embed(session, tok)  # (T, d_model)
    p = positions(session, tok, e.shape[1])  # (T, d_model) or None
    x = combine(e, p, session.positional_mode)  # (T, d_in)
    if x.shape[1] != w_q.shape[1]:
        raise ValueError(
            f"the heads read vectors of width {w_q.shape[1]} but the inputs have width "
            f"{x.shape[1]}; change the dimension or the number of heads to rebuild the "
            "projections"
        )
    e, x = e.astype(dtype, copy=False), x.astype(dtype, copy=False)
    p = None if p is None else p.astype(dtype, copy=False)
    t2 = clock()

    scale = attention_scale(d_head, float(session.temperature))
    q = np.matmul(x, w_q.astype(dtype, copy=False))  # (n_head, T, d_head)
    k = np.matmul(x, w_k.astype(dtype, copy=False))  # (n_head, T, d_head)
    v = np.matmul(x, w_v.astype(dtype, copy=False))  # (n_head, T, d_v)
    t3 = clock()

    sentences = sentence_ids(tokens) if session.sentence_mask else None
    if T > DENSE_MAX_TOKENS and _cuts_nothing(T, session, sentences):
        # a long text with every pair allowed: one True seen (T, T) times, not T² bytes
        allowed, unmasked = np.broadcast_to(np.True_, (T, T)), True
    else:
        allowed = allowed_mask(T, bool(session.causal), session.blocked, sentences)  # (T, T)
        unmasked = bool(allowed.all())
    if T > DENSE_MAX_TOKENS:
        notice = " ".join(s for s in (tok.notice, embed_notice) if s)
        vectors = (e, p, x, q, k, v)
        mask = None if unmasked else allowed
        marks = (t0, t1, t2, t3)
        return _compute_long(tok, vectors, allowed, mask, scale, attend, marks, notice)
    scores = np.matmul(q, k.transpose(0, 2, 1))  # (n_head, T, T)
    scaled = scores * dtype.type(scale)  # (n_head, T, T)
    # nothing cut: the softmax input is `scaled` itself (read-only, so sharing is safe)
    masked = scaled if unmasked else np.where(allowed, scaled, -np.inf)  # (n_head, T, T)
    t4 = clock()

    if T:
        # causal is already inside `allowed`; the kernel gets it as one boolean mask
        mask = None if unmasked else allowed
        y, weights = attend(q, k, v, scale=scale, mask=mask)
    else:
        y = np.zeros((n_head, 0, d_v), dtype=dtype)
        weights = np.zeros((n_head, 0, 0), dtype=dtype)
    t5 = clock()

    contextual = y.transpose(1, 0, 2).reshape(T, n_head * d_v)  # (T, n_head · d_v)
    static_sim = cosine_matrix(e)  # (T, T)
    contextual_sim = cosine_matrix(contextual)  # (T, T)
    t6 = clock()

    _freeze(e, p, x, q, k, v, scores, scaled, allowed, masked, weights, y)
    _freeze(contextual, static_sim, contextual_sim)
    stages = [("tokenize", t1), ("embed", t2), ("project", t3), ("scores", t4)]
    timings = _stage_ms(t0, [*stages, ("attention", t5), ("similarity", t6)])
    notice = " ".join(s for s in (tok.notice, embed_notice) if s)
    return Result(
        tokens=tokens,
        embedded=e,
        positions=p,
        x=x,
        q=q,
        k=k,
        v=v,
        scores=scores,
        scaled=scaled,
        allowed=allowed,
        masked=masked,
        weights=weights,
        y=y,
        contextual=contextual,
        static_similarity=static_sim,
        contextual_similarity=contextual_sim,
        scale=scale,
        timings=timings,
        truncated=tok.truncated,
        notice=notice,
        n_total=tok.n_total,
    )


def _cuts_nothing(T: int, session: Session, sentences) -> bool:
    """True when no (query, key) pair of ``T`` tokens is cut."""
    if session.causal or (sentences is not None and T and sentences.max() > 0):
        return False
    return not any(0 <= int(i) < T and 0 <= int(j) < T for i, j in session.blocked)


def _long_pass(q, k, v, scale, mask, attend):
    """The long pass (:func:`~explorer.core.long_attention.long_attention`, ``mask`` None
    when every pair is allowed): compiled when the kernels are in use and the long kernel is
    loaded; NumPy while it loads (the first long text starts loading it in the background)."""
    from explorer.core.long_attention import long_kernels_ready, start_warm_up

    kernels = attend is not attention_numpy and long_kernels_ready()
    if attend is not attention_numpy and not kernels:
        start_warm_up()
    return long_attention(q, k, v, scale, mask, use_kernels=kernels)


def _compute_long(tok, vectors, allowed, mask, scale, attend, clock_marks, notice) -> Result:
    """:func:`_compute` past :data:`DENSE_MAX_TOKENS` tokens: no (n_head, T, T) array is
    kept; the stages and similarities are lazy (see :mod:`explorer.core.long_attention`)."""
    clock = time.perf_counter
    t0, t1, t2, t3 = clock_marks
    e, p, x, q, k, v = vectors
    T, n_head, d_v = len(tok.tokens), q.shape[0], v.shape[2]
    t4 = clock()
    y, stats, overviews = _long_pass(q, k, v, scale, mask, attend)
    t5 = clock()
    stages = lazy_stages(q, k, scale, mask, stats, overviews)
    contextual = y.transpose(1, 0, 2).reshape(T, n_head * d_v)  # (T, n_head · d_v)
    t6 = clock()
    _freeze(e, p, x, q, k, v, allowed, y, contextual, stats)
    stages_ms = [("tokenize", t1), ("embed", t2), ("project", t3), ("scores", t4)]
    timings = _stage_ms(t0, [*stages_ms, ("attention", t5), ("similarity", t6)])
    return Result(
        tokens=tok.tokens,
        embedded=e,
        positions=p,
        x=x,
        q=q,
        k=k,
        v=v,
        allowed=allowed,
        y=y,
        contextual=contextual,
        static_similarity=LazyCosine(e),
        contextual_similarity=LazyCosine(contextual),
        scale=scale,
        timings=timings,
        truncated=tok.truncated,
        notice=notice,
        n_total=tok.n_total,
        **stages,
    )


def _recompute_heads_long(session: Session, prev: Result, heads: list[int], attend) -> Result:
    """:func:`_recompute_heads` for a long Result: the edited heads' pass, the rest shared."""
    clock = time.perf_counter
    t0 = clock()
    dtype, x = prev.dtype, prev.x
    idx = np.asarray(heads)
    q_part, k_part, v_part = _project_heads(session, heads, x, dtype)
    q, k, v, y = (np.array(a) for a in (prev.q, prev.k, prev.v, prev.y))
    q[idx], k[idx], v[idx] = q_part, k_part, v_part
    t1 = clock()
    y_part, stats_part, ov_part = _long_pass(
        q_part, k_part, v_part, prev.scale, prev.weights.mask, attend
    )
    y[idx] = y_part
    stats = np.array(prev.weights.stats)
    stats[idx] = stats_part
    overviews = prev.weights.overviews.with_heads(heads, ov_part)
    t2 = clock()
    T, n_head, d_v = prev.T, prev.n_head, prev.v.shape[2]
    contextual = y.transpose(1, 0, 2).reshape(T, n_head * d_v)
    _freeze(q, k, v, y, contextual, stats)
    stages = lazy_stages(q, k, prev.scale, prev.weights.mask, stats, overviews)
    t3 = clock()
    timings = {
        "tokenize": 0.0,
        "embed": 0.0,
        **_stage_ms(t0, [("project", t1), ("attention", t2), ("similarity", t3)]),
    }
    return replace(
        prev,
        q=q,
        k=k,
        v=v,
        y=y,
        contextual=contextual,
        contextual_similarity=LazyCosine(contextual),
        timings=timings,
        **stages,
    )
