"""Maps where words move: one head's value space, and its queries and keys, in 2-D.

``value_map``
    Each token's value vector ``v_i`` is a point, and an arrow runs to its contextual vector
    ``y_i = Σ_j a_ij v_j``. The weights of a row are non-negative and sum to 1, so ``y_i``
    lies inside the convex hull of the ``v``'s: attention pulls each word toward the words it
    attends to. The plane is the PCA of the ``v``'s and ``y``'s together.
``qk_map``
    Queries and keys of one head in one plane, a joint PCA of both (the joint embedding of
    AttentionViz, Yeh et al. 2023), so a query sits near the keys it scores highly when the
    plane shows most of the variance.

PCA is the SVD of the centred points in float64 (``numpy.linalg.svd``). Its signs are
arbitrary, so they are fixed here: in each axis the loading of largest magnitude is positive
(the first of the loadings within ``1e-9`` of that magnitude, so rounding noise cannot flip a
tie), and refits of nearly the same points give the same picture. Axes the points do not
span (all points equal, one point, ``d = 1``) are filled with standard axes, never with
whatever an SVD returns for a zero singular value; with ``d = 1`` the second axis is zero.

A view keeps one :class:`Projection` while a slider is held down and passes it back in, so
points move only because their vectors moved; it refits on release.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from explorer.core.embeddings import embed, one_hot
from explorer.core.long_attention import is_lazy
from explorer.core.tokenizer import tokenize

#: Words that can be shown in the value map for orientation, sent through the same W_V.
REFERENCE_WORDS = ("dog", "cat", "table", "king", "queen", "apple", "river", "money")

_TIE = 1e-9  # loadings this close to the largest magnitude count as tied


@dataclass(frozen=True, eq=False)
class Projection:
    """An affine map to the plane: ``p ↦ (p - mean) @ basis``.

    Attributes
    ----------
    mean : ndarray, shape (d,), float64
    basis : ndarray, shape (d, 2), float64
        Orthonormal columns (a zero column when ``d = 1``).
    """

    mean: np.ndarray
    basis: np.ndarray

    @property
    def d(self) -> int:
        return self.basis.shape[0]

    def project(self, points: np.ndarray) -> np.ndarray:
        """Plane coordinates of ``points`` (n, d): ndarray (n, 2), float64."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, self.d)  # (n, d)
        return (p - self.mean) @ self.basis  # (n, 2)


def _noise(points: np.ndarray) -> float:
    """Singular values at or below this are rounding noise of the centring."""
    n, d = points.shape
    scale = float(np.abs(points).max()) if points.size else 0.0
    return max(n, d, 1) * np.finfo(np.float64).eps * scale * 4


def _positive_largest(c: np.ndarray) -> np.ndarray:
    """``c`` or ``-c``, whichever has its largest-magnitude loading positive."""
    mag = np.abs(c)
    if not mag.any():
        return c
    first = int(np.flatnonzero(mag >= mag.max() - _TIE)[0])
    return -c if c[first] < 0 else c


def fit_pca(points: np.ndarray, n_components: int = 2) -> Projection:
    """The plane of largest variance of ``points``, with deterministic signs.

    Parameters
    ----------
    points : ndarray, shape (n, d), float
        Any ``n >= 0``, ``d >= 1``; computed in float64.
    n_components : int
        Axes of the result (2 for every map).

    Returns
    -------
    Projection
        ``basis`` columns are the leading right singular vectors of the centred points,
        each with its largest-magnitude loading positive. Axes the points do not span are
        the standard axes farthest from the axes already chosen; a zero column when ``d``
        runs out.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"points must have shape (n, d) with d >= 1, got {p.shape}")
    n, d = p.shape
    mean = p.mean(axis=0) if n else np.zeros(d)  # (d,)
    centred = p - mean  # (n, d)
    if n:
        _, s, vt = np.linalg.svd(centred, full_matrices=False)  # s (r,), vt (r, d)
    else:
        s, vt = np.zeros(0), np.zeros((0, d))
    tol = _noise(p)
    basis = np.zeros((d, n_components))
    for a in range(min(n_components, d)):
        if a < s.size and s[a] > tol:
            c = vt[a]
        else:
            # the points span no more axes: take the standard axis least covered so far
            chosen = basis[:, :a]  # (d, a)
            residual = np.eye(d) - chosen @ chosen.T  # (d, d): column j is e_j minus its shadow
            norms = np.linalg.norm(residual, axis=0)  # (d,)
            c = residual[:, int(np.argmax(norms))] / norms.max()
        basis[:, a] = _positive_largest(c)
    mean.setflags(write=False)
    basis.setflags(write=False)
    return Projection(mean=mean, basis=basis)


def explained_share(points: np.ndarray, projection: Projection) -> float:
    """Share of the variance of ``points`` (about their own mean) that the plane shows.

    Parameters
    ----------
    points : ndarray, shape (n, d)
    projection : Projection

    Returns
    -------
    float
        In ``[0, 1]``; 1 when the points have no variance (nothing is hidden).
    """
    p = np.asarray(points, dtype=np.float64)
    if p.shape[0] < 2:
        return 1.0
    centred = p - p.mean(axis=0)  # (n, d)
    total = float(np.einsum("nd,nd->", centred, centred))
    if total <= _noise(p) ** 2:
        return 1.0
    flat = centred @ projection.basis  # (n, 2)
    return float(min(1.0, float(np.einsum("nc,nc->", flat, flat)) / total))


@dataclass(frozen=True, eq=False)
class ValueMap:
    """The value space of one head in 2-D.

    Attributes
    ----------
    projection : Projection
        The plane used (fitted here, or the one passed in).
    points : ndarray, shape (T, 2)
        ``v_i`` in the plane.
    ends : ndarray, shape (T, 2)
        ``y_i`` in the plane: where each arrow ends.
    active : ndarray, shape (T,), bool
        Rows with any weight; a fully masked row has ``y_i = 0`` and gets no arrow.
    explained : float
        Share of the variance of the ``v``'s and active ``y``'s the plane shows.
    refitted : bool
        True when the plane was fitted for this map (no usable projection was passed).
    """

    projection: Projection
    points: np.ndarray
    ends: np.ndarray
    active: np.ndarray
    explained: float
    refitted: bool


def _fit_or_keep(fit_points: np.ndarray, projection: Projection | None):
    if projection is not None and projection.d == fit_points.shape[1]:
        return projection, False
    return fit_pca(fit_points), True


def value_map(result, head: int, projection: Projection | None = None) -> ValueMap:
    """Points ``v_i`` and arrow ends ``y_i`` of one head, in one plane.

    Parameters
    ----------
    result : Result
        From :func:`explorer.core.pipeline.compute`.
    head : int
    projection : Projection, optional
        Keep this plane (during a slider drag) instead of fitting one; ignored when its
        width differs from ``d_v``.

    Returns
    -------
    ValueMap
    """
    v = np.asarray(result.v[head], dtype=np.float64)  # (T, d_v)
    y = np.asarray(result.y[head], dtype=np.float64)  # (T, d_v)
    # rows that attend something (all-zero rows attend nothing; NaN rows are not drawn)
    active = _attending_rows(result, head)  # (T,)
    fit_points = np.concatenate([v, y[active]])  # (T + n_active, d_v)
    proj, refitted = _fit_or_keep(fit_points, projection)
    return ValueMap(
        projection=proj,
        points=proj.project(v),
        ends=proj.project(y),
        active=active,
        explained=explained_share(fit_points, proj),
        refitted=refitted,
    )


@dataclass(frozen=True, eq=False)
class QKMap:
    """Queries and keys of one head in one plane.

    Attributes
    ----------
    projection : Projection
    queries, keys : ndarray, shape (T, 2)
    explained : float
        Share of the variance of the ``q``'s and ``k``'s together the plane shows.
    scale : float
        The score scale ``s``: ``scaled_ij = (q_i · k_j) · s``.
    refitted : bool
    """

    projection: Projection
    queries: np.ndarray
    keys: np.ndarray
    explained: float
    scale: float
    refitted: bool


def qk_map(result, head: int, projection: Projection | None = None) -> QKMap:
    """Queries and keys of one head, one joint PCA of both.

    Parameters
    ----------
    result : Result
    head : int
    projection : Projection, optional
        Keep this plane (during a slider drag); ignored when its width differs from
        ``d_head``.

    Returns
    -------
    QKMap
    """
    q = np.asarray(result.q[head], dtype=np.float64)  # (T, d_head)
    k = np.asarray(result.k[head], dtype=np.float64)  # (T, d_head)
    both = np.concatenate([q, k])  # (2T, d_head)
    proj, refitted = _fit_or_keep(both, projection)
    return QKMap(
        projection=proj,
        queries=proj.project(q),
        keys=proj.project(k),
        explained=explained_share(both, proj),
        scale=float(result.scale),
        refitted=refitted,
    )


# ------------------------------------------------------------------ reference words
@dataclass(frozen=True, eq=False)
class ReferenceInputs:
    """Reference words as the heads would read them (no positions).

    Attributes
    ----------
    words : tuple of str
        The words kept (a word the vocabulary cuts into pieces is left out).
    x : ndarray, shape (n, d_in), float64
        Their input vectors: the static embedding, zeros in a concatenated positional part.
    notice : str
        Why words are missing or have the zero vector, or ``""``.
    """

    words: tuple[str, ...]
    x: np.ndarray
    notice: str


def reference_key(session, text_tokens=()) -> tuple:
    """Everything :func:`reference_inputs` reads: equal keys give equal inputs."""
    one_hot_text = tuple(t.id for t in text_tokens) if session.embedding == "one-hot" else ()
    return (
        session.embedding,
        session.d_model,
        session.embedding_seed,
        session.model if session.embedding == "model" else None,
        session.positional != "none" and session.positional_mode == "concat",
        one_hot_text,
    )


def reference_inputs(session, text_tokens=(), words=REFERENCE_WORDS) -> ReferenceInputs:
    """Embed reference words with the session's embedding source, without positions.

    Parameters
    ----------
    session : Session
    text_tokens : sequence of Token
        The visible tokens of the text (``Result.tokens``). Only the one-hot source reads
        them: a reference word that occurs in the text shares its axis, any other takes the
        next free axis, or the zero vector when none is left.
    words : sequence of str

    Returns
    -------
    ReferenceInputs

    Raises
    ------
    ValueError
        When the embedding source cannot embed (for example no model is loaded).
    """
    kept, pieces, split = [], [], []
    for w in words:
        tok = tokenize(w, False)
        if len(tok.tokens) == 1:
            kept.append(w)
            pieces.append(tok)
        else:
            split.append(w)
    notices = []
    if split:
        notices.append(f"Left out (more than one word piece): {', '.join(split)}.")
    if not kept:
        return ReferenceInputs((), np.zeros((0, session.d_model)), " ".join(notices))
    if session.embedding == "one-hot":
        text = list(text_tokens)
        e, note = one_hot(text + [t.tokens[0] for t in pieces], session.d_model)
        e = e[len(text) :]  # (n, d_model)
        if note:
            zero = [w for w, row in zip(kept, e, strict=True) if not row.any()]
            if zero:
                notices.append(f"One-hot has no axis left for {', '.join(zero)} (zero vector).")
    else:
        # one word at a time: a model source would otherwise let the words see each other
        e = np.concatenate(
            [embed(replace(session, text=w), t)[0] for w, t in zip(kept, pieces, strict=True)]
        )  # (n, d_model)
    if session.positional != "none" and session.positional_mode == "concat":
        e = np.concatenate([e, np.zeros_like(e)], axis=1)  # (n, 2 d_model)
    e = np.asarray(e, dtype=np.float64)
    e.setflags(write=False)
    return ReferenceInputs(tuple(kept), e, " ".join(notices))


def reference_values(ref: ReferenceInputs, w_v: np.ndarray) -> np.ndarray:
    """``x_ref @ W_V``: the reference words' value vectors, ndarray (n, d_v), float64."""
    w_v = np.asarray(w_v, dtype=np.float64)
    if ref.x.shape[1] != w_v.shape[0]:
        raise ValueError(
            f"reference words have width {ref.x.shape[1]} but W_V reads {w_v.shape[0]}"
        )
    return ref.x @ w_v  # (n, d_v)


def _attending_rows(result, head: int) -> np.ndarray:
    """True for the query rows of ``head`` whose weights sum to more than 0."""
    w = result.weights[head]
    if is_lazy(w):  # a long text: row sums are 1 where a key is allowed, NaN where undefined
        stats_ok = np.isfinite(result.y[head]).all(axis=1)
        return result.allowed.any(axis=1) & stats_ok
    return np.asarray(w).sum(axis=1) > 0
