"""The data behind the "Inside the sum" views: vectors, the weighted sum and head lines.

Self-attention's output for query ``i`` is a weighted sum of value vectors (Vaswani et al.,
"Attention Is All You Need", eq. 1, read one row at a time)::

    y_i = Σ_j a_ij · v_j        a_i = softmax(q_i · Kᵀ · scale)   (masked keys get a_ij = 0)

:func:`weighted_sum_terms` returns every term ``a_ij · v_j`` of that sum, in float64, ordered
by weight, so a view can draw the scaled rows above their sum like a written addition;
:func:`equation_text` writes the same sum out with live numbers. :func:`head_lines` gives the
token-to-token lines of BertViz's head view (Vig, 2019): one line per (query, key) pair whose
weight reaches a threshold, its opacity the weight.

Everything here is pure NumPy on a :class:`~explorer.core.pipeline.Result`; the widgets in
``explorer/ui/views`` only draw it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The weighted sum draws at most this many terms one by one; the rest become one row.
MAX_SUM_TERMS = 10
#: The equation writes at most this many terms before "+ n more (Σ = …)".
EQUATION_TERMS = 4
#: Head lines draw at most this many lines (the heaviest), whatever the text length.
MAX_LINES = 4000
#: Default weight below which a head line is not drawn (it would be invisible).
LINE_THRESHOLD = 0.01


def default_query(result) -> int:
    """The query shown when none is selected: the first word token (not ``[CLS]``).

    Returns -1 when there are no tokens, and 0 when every token is special.
    """
    for i, tok in enumerate(result.tokens):
        if not tok.special:
            return i
    return 0 if result.tokens else -1


def resolve_query(result, query: int | None) -> int:
    """``query`` when it is a token of ``result``, else :func:`default_query`."""
    if query is not None and 0 <= int(query) < len(result.tokens):
        return int(query)
    return default_query(result)


@dataclass(frozen=True)
class WeightedSum:
    """The terms of ``y_i = Σ_j a_ij v_j`` for one head and one query, in float64.

    Attributes
    ----------
    head, query : int
    weights : ndarray, shape (T,), float64
        ``a_ij`` for every key ``j`` (zero where the key is masked).
    values : ndarray, shape (T, d_v), float64
        ``v_j`` of every key.
    scaled : ndarray, shape (T, d_v), float64
        ``a_ij · v_j``: the rows the sum adds up.
    y : ndarray, shape (d_v,), float64
        ``Σ_j scaled[j]``.
    order : ndarray, shape (T,), int
        Keys by falling weight (ties keep token order).
    shown : ndarray, shape (n_shown,), int
        The first ``max_terms`` keys of ``order`` with a nonzero weight: drawn one by one.
    rest : ndarray, shape (n_rest,), int
        The other keys with a nonzero weight, drawn as one summed row.
    rest_weight : float
        ``Σ a_ij`` over ``rest``.
    rest_scaled : ndarray, shape (d_v,), float64
        ``Σ a_ij v_j`` over ``rest``; ``scaled[shown].sum(0) + rest_scaled == y``.
    allowed : ndarray, shape (T,), bool
        Which keys this query may attend to.
    """

    head: int
    query: int
    weights: np.ndarray
    values: np.ndarray
    scaled: np.ndarray
    y: np.ndarray
    order: np.ndarray
    shown: np.ndarray
    rest: np.ndarray
    rest_weight: float
    rest_scaled: np.ndarray
    allowed: np.ndarray

    @property
    def masked_out(self) -> bool:
        """True when the query may attend to no key (all weights zero, y = 0)."""
        return not bool(self.allowed.any())

    def rows(self) -> np.ndarray:
        """The rows a view draws above the rule: shown terms, then the rest (if any).

        Returns
        -------
        ndarray, shape (n_shown + (1 if rest else 0), d_v), float64
            They add up to :attr:`y`.
        """
        rows = self.scaled[self.shown]  # (n_shown, d_v)
        if self.rest.size:
            rows = np.vstack([rows, self.rest_scaled[None, :]])
        return rows


def weighted_sum_terms(
    result, head: int, query: int, max_terms: int = MAX_SUM_TERMS
) -> WeightedSum:
    """The terms ``a_ij · v_j`` of query ``query``'s output in head ``head``.

    Parameters
    ----------
    result : explorer.core.pipeline.Result
        With ``T ≥ 1`` tokens.
    head : int
        ``0 ≤ head < n_head``.
    query : int
        ``0 ≤ query < T``.
    max_terms : int
        How many of the heaviest keys are kept as separate terms (at least 1).

    Returns
    -------
    WeightedSum
        Computed in float64 from the Result's weights and values (float32 Results are
        widened first), so its terms add up to its ``y`` to rounding; ``y`` matches
        ``result.y[head, query]`` to the Result's precision.
    """
    T = len(result.tokens)
    if not 0 <= head < result.weights.shape[0]:
        raise IndexError(f"head {head} out of range")
    if not 0 <= query < T:
        raise IndexError(f"query {query} out of range")
    a = np.asarray(result.weights[head, query], dtype=np.float64)  # (T,)
    v = np.asarray(result.v[head], dtype=np.float64)  # (T, d_v)
    scaled = a[:, None] * v  # (T, d_v)
    order = np.argsort(-a, kind="stable")  # (T,)
    nonzero = order[a[order] > 0.0]
    shown = nonzero[: max(1, int(max_terms))]
    rest = nonzero[shown.size :]
    rest_scaled = scaled[rest].sum(axis=0) if rest.size else np.zeros(v.shape[1])  # (d_v,)
    y = scaled[shown].sum(axis=0) + rest_scaled  # (d_v,)
    return WeightedSum(
        head=int(head),
        query=int(query),
        weights=a,
        values=v,
        scaled=scaled,
        y=y,
        order=order,
        shown=shown,
        rest=rest,
        rest_weight=float(a[rest].sum()),
        rest_scaled=rest_scaled,
        allowed=np.asarray(result.allowed[query], dtype=bool).copy(),
    )


def equation_text(ws: WeightedSum, labels, terms: int = EQUATION_TERMS, digits: int = 2) -> str:
    """The weighted sum written out: ``y(bank₁) = 0.21·v(river) + 0.18·v(the) + …``.

    Parameters
    ----------
    ws : WeightedSum
    labels : sequence of str
        Display labels of the tokens (``Result.display_labels``).
    terms : int
        Terms written out, heaviest first; the others are summarised as
        ``+ n more (Σ = 0.07)``.
    digits : int
        Decimals of each weight.

    Returns
    -------
    str
        One line. A query that may attend to no key reads ``y(x) = 0 (… no key …)``.
    """
    lhs = f"y({labels[ws.query]})"
    nonzero = ws.order[ws.weights[ws.order] > 0.0]
    if ws.masked_out or not nonzero.size:
        return f"{lhs} = 0   (every key is masked for this query, so nothing is summed)"
    head = nonzero[: max(1, int(terms))]
    tail = nonzero[head.size :]
    parts = [f"{ws.weights[j]:.{digits}f}·v({labels[j]})" for j in head]
    text = f"{lhs} = " + " + ".join(parts)
    if tail.size:
        text += f" + {tail.size} more (Σ = {ws.weights[tail].sum():.{digits}f})"
    return text


@dataclass(frozen=True)
class HeadLines:
    """Token-to-token lines: query ``i`` on the left to key ``j`` on the right.

    Attributes
    ----------
    head, query, key : ndarray, shape (n,), int
        The head, query and key of each line.
    weight : ndarray, shape (n,), float64
        Its attention weight (the line's opacity), at least the threshold.
    dropped : int
        Lines at or above the threshold left out by the ``max_lines`` cap (lightest first).
    """

    head: np.ndarray
    query: np.ndarray
    key: np.ndarray
    weight: np.ndarray
    dropped: int = 0

    def __len__(self) -> int:
        return int(self.weight.size)


def head_lines(
    weights: np.ndarray,
    threshold: float = LINE_THRESHOLD,
    *,
    query: int | None = None,
    key: int | None = None,
    max_lines: int = MAX_LINES,
) -> HeadLines:
    """The lines of BertViz's head view for one or more heads.

    Parameters
    ----------
    weights : ndarray, shape (T, T) or (n_head, T, T)
        Attention weights (query rows, key columns); a 2-D matrix is head 0.
    threshold : float
        Lines whose weight is below this are left out (they would be invisible).
    query : int, optional
        Keep only the lines from this query (hovering a token on the left).
    key : int, optional
        Keep only the lines into this key (hovering a token on the right).
    max_lines : int
        Keep at most this many lines, the heaviest (ties: lower head, query, key first).

    Returns
    -------
    HeadLines
        Lines in (head, query, key) order.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError("head_lines needs (T, T) or (n_head, T, T) weights")
    keep = w >= threshold  # (n_head, T, T)
    if query is not None or key is not None:
        mine = np.ones(w.shape[1:], dtype=bool)  # (T, T)
        if query is not None:
            mine[np.arange(w.shape[1]) != query, :] = False
        if key is not None:
            mine[:, np.arange(w.shape[2]) != key] = False
        keep &= mine[None]
    h, i, j = np.nonzero(keep)  # each (n,), in (head, query, key) order
    a = w[h, i, j]
    dropped = 0
    if a.size > max_lines:
        top = np.sort(np.argsort(-a, kind="stable")[:max_lines])
        dropped = int(a.size - max_lines)
        h, i, j, a = h[top], i[top], j[top], a[top]
    return HeadLines(head=h, query=i, key=j, weight=a, dropped=dropped)


def signed_levels(*arrays: np.ndarray) -> tuple[float, float]:
    """Symmetric colour levels ``(-m, m)`` with ``m`` the largest finite ``|value|``.

    One scale for several arrays (the scaled rows and their sum share it, so equal colours
    mean equal numbers). ``(-1, 1)`` when everything is zero or there is nothing.
    """
    m = 0.0
    for arr in arrays:
        a = np.asarray(arr, dtype=np.float64)
        if a.size:
            finite = np.abs(a[np.isfinite(a)])
            if finite.size:
                m = max(m, float(finite.max()))
    return (-m, m) if m > 0 else (-1.0, 1.0)


def is_one_hot(x: np.ndarray) -> bool:
    """True when every row of ``x`` (T, d) is all zeros but for a single 1."""
    a = np.asarray(x)
    if a.ndim != 2 or not a.size:
        return False
    return bool(np.isin(a, (0.0, 1.0)).all() and (np.count_nonzero(a, axis=1) == 1).all())


@dataclass(frozen=True)
class VectorPanel:
    """One matrix of the vectors view: a token row per token.

    Attributes
    ----------
    name : str
        ``"X"``, ``"Q"``, ``"K"`` or ``"V"``.
    matrix : ndarray, shape (T, d), float64
    columns : list of str
        Column labels: ``x0, x1, …`` / ``q0, …``.
    levels : tuple of float
        Symmetric colour levels of this matrix.
    one_hot : bool
        The matrix is one-hot (its 1s and 0s should be written in the cells).
    """

    name: str
    matrix: np.ndarray
    columns: list[str]
    levels: tuple[float, float]
    one_hot: bool


def vector_panels(result, head: int) -> list[VectorPanel]:
    """X and the selected head's Q, K and V as four labelled panels.

    Parameters
    ----------
    result : explorer.core.pipeline.Result
    head : int
        The head whose Q, K, V are shown (clamped to the Result's heads).

    Returns
    -------
    list of VectorPanel
        X (T, d_in), Q, K (T, d_head) and V (T, d_v), each in float64.
    """
    n_head = result.q.shape[0]
    h = min(max(int(head), 0), max(n_head - 1, 0))
    T = len(result.tokens)
    out = []
    for name, mat in (
        ("X", result.x),
        ("Q", result.q[h] if n_head else np.zeros((T, 0))),
        ("K", result.k[h] if n_head else np.zeros((T, 0))),
        ("V", result.v[h] if n_head else np.zeros((T, 0))),
    ):
        m = np.asarray(mat, dtype=np.float64)  # (T, d)
        if m.ndim != 2:
            m = m.reshape(T, 0)
        cols = [f"{name.lower()}{c}" for c in range(m.shape[1])]
        out.append(VectorPanel(name, m, cols, signed_levels(m), is_one_hot(m)))
    return out
