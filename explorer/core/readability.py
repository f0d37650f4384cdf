"""The numbers behind readable views: which labels to draw, colour ranges, pinned pairs.

Widgets only draw; every choice they make about what to show comes from here, so that it
can be tested without Qt:

* :func:`label_plan` — which token labels an axis draws. Up to :data:`MAX_UNTHINNED` tokens
  every label is drawn (the widget shrinks or abbreviates them instead); past that, every
  k-th label, with k from the 1-2-5 series chosen from the count, and the selected query is
  always labelled.
* :func:`value_space_similarity` — static and contextual similarity in one space: the cosine
  of the value vectors ``v`` (before attention) and of the outputs ``y = A v`` (after it).
* :func:`contrast_range` — a colour range from the data, so that 0.94 and 1.00 look different.
* :func:`pinned_pair` and :func:`pair_readout` — the pair of tokens the similarity view
  reports without hovering, e.g. ``cos(bank₁, bank₂): static 1.00 → contextual 0.94``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from explorer.core.long_attention import DENSE_MAX_TOKENS, LazyCosine, is_lazy

#: Axes with at most this many tokens label every token.
MAX_UNTHINNED = 64

#: Function words that make a poor "interesting repeated word" (the₁/the₂ tell little).
STOP_WORDS = frozenset(
    """a an the and or but nor so yet if then than that this these those there here
    i me my mine we us our you your he him his she her it its they them their
    am is are was were be been being do does did have has had will would shall should
    can could may might must of in on at by for from to with without into onto over under
    about after before as up down out off not no all any each some such what which who whom
    whose when where why how very just also too only""".split()
)


# ------------------------------------------------------------------ labels
@dataclass(frozen=True)
class LabelPlan:
    """Which labels of an axis are drawn, and where.

    Attributes
    ----------
    indices : tuple of int
        Token indices to label, ascending.
    centres : tuple of float
        Where each label is centred, in pixels from the start of the axis: the middle of its
        cell, moved inwards just enough at either end to keep the label inside the axis.
    step : int
        1 when every label is drawn, else the k of "every k-th label".
    """

    indices: tuple[int, ...]
    centres: tuple[float, ...]
    step: int


def nice_step(k: float) -> int:
    """The smallest step of the 1-2-5 series (1, 2, 5, 10, 20, 50, …) that is ≥ ``k``."""
    k = max(1.0, float(k))
    decade = 1
    while True:
        for m in (1, 2, 5):
            if m * decade >= k - 1e-9:
                return m * decade
        decade *= 10


def label_plan(
    n: int,
    cell_px: float,
    min_px: float,
    selected: int | None = None,
    *,
    thin_small_cells: bool = False,
) -> LabelPlan:
    """Choose the labels an axis of ``n`` tokens draws.

    Parameters
    ----------
    n : int
        Number of tokens on the axis.
    cell_px : float
        Size of one cell along the axis, in pixels.
    min_px : float
        The room one label needs along the axis, in pixels (the line height of the smallest
        font the axis uses): thinned labels are at least this far apart.
    selected : int, optional
        A token that is always labelled (the selected query); thinned labels that would
        crowd it are left out.
    thin_small_cells : bool
        Small multiples only: also thin up to :data:`MAX_UNTHINNED` tokens when cells are
        smaller than ``min_px``. Full-size views never do.

    Returns
    -------
    LabelPlan
        Up to ``MAX_UNTHINNED`` tokens (with cells of at least ``min_px``, or
        ``thin_small_cells`` off): every index, step 1. Otherwise ``selected`` and every k-th
        index from 0 that has room, where k is the smallest 1-2-5 step that leaves at most
        ``MAX_UNTHINNED`` labels and keeps them ``min_px`` apart; a label at either end that
        had to move inwards is left out when it would crowd its neighbour.
    """
    n = int(n)
    if n <= 0:
        return LabelPlan((), (), 1)
    cell = max(float(cell_px), 1e-6)
    length = n * cell
    half = min(min_px / 2.0, length / 2.0)

    def centre(i: int) -> float:  # inside the axis, whatever the cell size
        return min(max((i + 0.5) * cell, half), length - half)

    room = math.ceil(min_px / cell - 1e-9)  # cells between two labels that do not overlap
    if n <= MAX_UNTHINNED and (room <= 1 or not thin_small_cells):
        return LabelPlan(tuple(range(n)), tuple(centre(i) for i in range(n)), 1)
    step = nice_step(max(math.ceil(n / MAX_UNTHINNED), room, 1))
    first = [int(selected)] if selected is not None and 0 <= selected < n else []
    grid = list(range(0, n, step))
    # labels moved inwards at the ends give way to the grid rather than push it apart
    moved = [i for i in grid if centre(i) != (i + 0.5) * cell]
    kept: list[tuple[float, int]] = []
    for i in first + [i for i in grid if i not in moved] + moved:
        c = centre(i)
        if all(abs(c - other) >= min_px - 1e-9 for other, _ in kept):
            kept.append((c, i))
    kept.sort(key=lambda ci: ci[1])
    return LabelPlan(tuple(i for _, i in kept), tuple(c for c, _ in kept), step)


# -------------------------------------------------------------- similarity
def cosine(x: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows of ``x`` in float64.

    Parameters
    ----------
    x : ndarray, shape (T, d)

    Returns
    -------
    ndarray, shape (T, T), float64
        Entries that involve a zero row are 0 (a zero vector points nowhere).
    """
    x = np.asarray(x, dtype=np.float64)  # (T, d)
    norm = np.sqrt(np.einsum("td,td->t", x, x))  # (T,)
    safe = np.where(norm > 0, norm, 1.0)
    u = x / safe[:, None]  # (T, d), zero rows stay zero
    return np.clip(u @ u.T, -1.0, 1.0)  # (T, T)


SPACES = ("value", "embedding")


def value_space_similarity(v: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Static and contextual similarity in one space: the values before and after attention.

    Attention mixes value vectors, ``y_i = Σ_j a_ij v_j``, so ``v`` and ``y`` live in the same
    space and their cosines compare like with like.

    Parameters
    ----------
    v : ndarray, shape (T, d_v) or (n_head, T, d_v)
        Value vectors of one head, or of several heads (concatenated per token).
    y : ndarray, same shape as ``v``
        Outputs of the same head(s).

    Returns
    -------
    static, contextual : ndarray, shape (T, T), float64
        ``cos(v_i, v_j)`` and ``cos(y_i, y_j)``.
    """
    v, y = np.asarray(v), np.asarray(y)
    if v.shape != y.shape or v.ndim not in (2, 3):
        raise ValueError(
            f"v and y must have one shape (T, d) or (n_head, T, d): {v.shape}, {y.shape}"
        )
    if v.ndim == 3:
        n_head, T, d = v.shape
        v = v.transpose(1, 0, 2).reshape(T, n_head * d)  # (T, n_head · d_v)
        y = y.transpose(1, 0, 2).reshape(T, n_head * d)  # (T, n_head · d_v)
    if v.shape[0] > DENSE_MAX_TOKENS:  # a long text: computed where read
        return LazyCosine(v), LazyCosine(y)
    return cosine(v), cosine(y)


def contrast_range(sim: np.ndarray, step: float = 0.05) -> tuple[float, float]:
    """A colour range that spans the data of a similarity matrix.

    The off-diagonal cells decide it (the diagonal is 1 by definition and says nothing);
    the ends are rounded outwards to multiples of ``step`` so that the colour bar reads
    cleanly and stays still while values move a little.

    Parameters
    ----------
    sim : ndarray, shape (T, T)
        Cosine similarities in [-1, 1]; non-finite cells are ignored.
    step : float
        Rounding of the ends.

    Returns
    -------
    (lo, hi) : tuple of float
        ``-1 <= lo < hi <= 1`` and ``hi - lo >= step``; ``(-1, 1)`` with nothing to show.
    """
    if is_lazy(sim):  # a long text: its overview of block extremes (diagonal blocks left out)
        sim = sim.overview()[0]
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2 or sim.size == 0:
        return (-1.0, 1.0)
    off = ~np.eye(sim.shape[0], sim.shape[1], dtype=bool)
    values = sim[off & np.isfinite(sim)]
    if values.size == 0:
        values = sim[np.isfinite(sim)]
    if values.size == 0:
        return (-1.0, 1.0)
    lo = max(-1.0, math.floor(float(values.min()) / step + 1e-9) * step)
    hi = min(1.0, math.ceil(float(values.max()) / step - 1e-9) * step)
    if hi - lo < step:
        lo, hi = (hi - step, hi) if hi - step >= -1.0 else (lo, lo + step)
    return (round(lo, 10), round(hi, 10))


def is_content_word(text: str) -> bool:
    """True for a whole word worth pinning: letters only, not a word piece or stop word."""
    return text.isalpha() and text.lower() not in STOP_WORDS


def _square(m, idx: list[int]) -> np.ndarray:
    """Rows and columns ``idx`` of ``m`` (an array or a lazy matrix)."""
    if is_lazy(m):
        return np.asarray(m[np.asarray(idx), np.asarray(idx)], dtype=np.float64)
    return m[np.ix_(idx, idx)]


def pinned_pair(
    texts: Sequence[str],
    static: np.ndarray,
    contextual: np.ndarray,
    selected_query: int | None = None,
) -> tuple[int, int] | None:
    """The pair of tokens the similarity view reports before anyone clicks.

    Parameters
    ----------
    texts : sequence of str
        Token texts (``Result.labels``, without subscripts).
    static, contextual : ndarray, shape (T, T)
        The two similarity matrices.
    selected_query : int, optional
        The selected query row.

    Returns
    -------
    (i, j) or None
        The most interesting repeated word: two occurrences ``i < j`` of one content word
        (:func:`is_content_word`) whose similarity changed most from static to contextual;
        ties go to the earliest pair. Without one, the selected query (or the first content
        word, or token 0) and the other token most similar to it in context. None for fewer
        than two tokens.
    """
    T = len(texts)
    if T < 2:
        return None
    if not is_lazy(static):  # a long text's matrices are read where needed
        static = np.asarray(static, dtype=np.float64)
    if not is_lazy(contextual):
        contextual = np.asarray(contextual, dtype=np.float64)
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        if is_content_word(t):
            groups.setdefault(t, []).append(i)
    best, best_change = None, -1.0
    for idx in groups.values():
        if len(idx) < 2:
            continue
        change = np.abs(_square(static, idx) - _square(contextual, idx))  # (n, n), one word
        change = np.where(np.isfinite(change), change, 0.0)
        change[np.tril_indices(len(idx))] = -1.0  # each pair once, i < j
        a, b = np.unravel_index(int(np.argmax(change)), change.shape)  # first of the largest
        pair, value = (idx[a], idx[b]), float(change[a, b])
        if value > best_change + 1e-12 or (abs(value - best_change) <= 1e-12 and pair < best):
            best, best_change = pair, value
    if best is not None:
        return best
    if selected_query is not None and 0 <= selected_query < T:
        q = int(selected_query)
    else:
        q = next((i for i, t in enumerate(texts) if is_content_word(t)), 0)
    row = np.where(np.isfinite(contextual[q]), contextual[q], -np.inf)
    row[q] = -np.inf
    if not np.isfinite(row).any():  # nothing to compare with: the first other token
        return (q, 1 if q == 0 else 0)
    return (q, int(np.argmax(row)))


def pair_readout(
    labels: Sequence[str], pair: tuple[int, int], static: np.ndarray, contextual: np.ndarray
) -> str:
    """``cos(bank₁, bank₂): static 1.00 → contextual 0.94`` for ``pair`` of ``labels``."""
    i, j = pair
    a, b = float(static[i, j]), float(contextual[i, j])
    return f"cos({labels[i]}, {labels[j]}): static {a:.2f} → contextual {b:.2f}"
