"""Layout of the 2-D maps: which tokens get a label, where labels go, arrows and lines.

Pure geometry for :mod:`explorer.ui.views.embedding_map` and :mod:`explorer.ui.views.qk_map`,
kept apart from the numbers of :mod:`explorer.core.maps` so that both stay small. Labels are
thinned on long texts (:data:`MAX_LABELS`), merged where dots coincide (both banks before
attention), and placed on a free side of their dot so that none overlap; the query and the
keys it weighs most keep theirs first.
"""

from __future__ import annotations

import numpy as np

#: Token labels a map draws at most; the selected query and its strongest keys come first.
MAX_LABELS = 40
#: Query-to-key lines the Q·K map draws at most, strongest first, ...
MAX_LINES = 32
#: ... and only for weights at least this large.
MIN_LINE_WEIGHT = 0.01


def label_subset(T: int, query: int | None, weights_row=None, max_labels: int = MAX_LABELS):
    """Which tokens a map labels when it cannot label them all.

    Parameters
    ----------
    T : int
    query : int or None
        The selected query, always labelled.
    weights_row : ndarray, shape (T,), optional
        The query's weights; its five strongest keys come next.
    max_labels : int

    Returns
    -------
    ndarray of int, sorted
        All of ``0 .. T-1`` when ``T <= max_labels``; else at most ``max_labels`` indices:
        the query, its strongest keys, then evenly spaced tokens.
    """
    if T <= max_labels:
        return np.arange(T)
    chosen: list[int] = []
    if query is not None and 0 <= query < T:
        chosen.append(int(query))
        if weights_row is not None:
            w = np.asarray(weights_row, dtype=np.float64)
            top = np.argsort(-w, kind="stable")[:5]
            chosen += [int(j) for j in top if w[j] > 0]
    picked = set(chosen)
    for j in np.linspace(0, T - 1, max_labels).round().astype(int):
        if len(picked) >= max_labels:
            break
        picked.add(int(j))
    return np.array(sorted(picked)[:max_labels] if len(picked) > max_labels else sorted(picked))


def attention_lines(weights_row, max_lines: int = MAX_LINES, min_weight: float = MIN_LINE_WEIGHT):
    """The keys a query's lines go to: strongest first.

    Parameters
    ----------
    weights_row : ndarray, shape (T,)

    Returns
    -------
    keys : ndarray of int
        At most ``max_lines`` keys with weight ``>= min_weight``, by falling weight.
    weights : ndarray of float64
    """
    w = np.asarray(weights_row, dtype=np.float64)
    order = np.argsort(-w, kind="stable")[:max_lines]
    order = order[w[order] >= min_weight]
    return order, w[order]


def arrow_segments(starts: np.ndarray, ends: np.ndarray, head: float) -> np.ndarray:
    """Line segments of arrows, for one line item drawn with ``connect="pairs"``.

    Parameters
    ----------
    starts, ends : ndarray, shape (n, 2)
    head : float
        Length of the two barbs at each end, in the same units (draw with locked aspect).

    Returns
    -------
    ndarray, shape (6m, 2)
        For each of the ``m`` arrows longer than a tiny fraction of ``head``: the shaft, then
        two barbs from the tip at ±25°, each as a (from, to) pair of rows.
    """
    starts = np.asarray(starts, dtype=np.float64).reshape(-1, 2)
    ends = np.asarray(ends, dtype=np.float64).reshape(-1, 2)
    d = ends - starts  # (n, 2)
    length = np.hypot(d[:, 0], d[:, 1])  # (n,)
    keep = length > head * 1e-3
    s, e, d, length = starts[keep], ends[keep], d[keep], length[keep]
    u = d / length[:, None] if len(length) else d  # (m, 2)
    barb = np.minimum(head, 0.5 * length)[:, None]  # (m, 1): short arrows get short barbs
    cos, sin = np.cos(np.radians(25.0)), np.sin(np.radians(25.0))
    left = np.stack([u[:, 0] * cos - u[:, 1] * sin, u[:, 0] * sin + u[:, 1] * cos], axis=1)
    right = np.stack([u[:, 0] * cos + u[:, 1] * sin, -u[:, 0] * sin + u[:, 1] * cos], axis=1)
    out = np.stack([s, e, e, e - barb * left, e, e - barb * right], axis=1)  # (m, 6, 2)
    return out.reshape(-1, 2)


def group_labels(points: np.ndarray, tol: float) -> list[np.ndarray]:
    """Groups of labelled points that would print on top of each other.

    Parameters
    ----------
    points : ndarray, shape (n, 2)
        Where each label goes.
    tol : float
        Points closer than this (in both coordinates) share one label, for example both
        banks before attention, whose value vectors are one point.

    Returns
    -------
    list of ndarray of int
        Each group's members in input order; groups ordered by their first member. A point
        joins the first group whose first member is within ``tol``.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    near = np.abs(pts[:, None, :] - pts[None, :, :]).max(axis=2) <= tol  # (n, n)
    free = np.ones(len(pts), dtype=bool)
    groups = []
    for i in range(len(pts)):
        if free[i]:  # the first free point anchors a group and takes every free point near it
            members = np.flatnonzero(near[i] & free)
            free[members] = False
            groups.append(members)
    return groups


#: Where a label may sit beside its point, in order of preference: (dx, dy) signs of the
#: box's far corner, screen y pointing down (upper right, upper left, lower right, lower left).
LABEL_SIDES = ((1, -1), (-1, -1), (1, 1), (-1, 1))


def place_labels(anchors: np.ndarray, sizes: np.ndarray, gap: float = 3.0):
    """Put each label on a side of its point where it overlaps no label placed before it.

    Parameters
    ----------
    anchors : ndarray, shape (n, 2)
        The points, in screen pixels (y down), most important label first.
    sizes : ndarray, shape (n, 2)
        Width and height of each label in pixels.
    gap : float
        Pixels between a point and its label.

    Returns
    -------
    side : ndarray of int, shape (n,)
        Index into :data:`LABEL_SIDES` of the side chosen.
    shown : ndarray of bool, shape (n,)
        False for a label that overlaps on every side (it is left out); the first label is
        always shown.
    """
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    n = len(anchors)
    side = np.zeros(n, dtype=int)
    shown = np.zeros(n, dtype=bool)
    boxes: list[tuple[float, float, float, float]] = []  # x0, y0, x1, y1 placed so far
    # plain floats: at a few dozen labels this is several times faster than NumPy calls
    for i, ((x, y), (w, h)) in enumerate(zip(anchors.tolist(), sizes.tolist(), strict=True)):
        for s, (sx, sy) in enumerate(LABEL_SIDES):
            x0 = x + gap if sx > 0 else x - gap - w
            y0 = y + gap if sy > 0 else y - gap - h
            x1, y1 = x0 + w, y0 + h
            if not any(a < x1 and x0 < c and b < y1 and y0 < d for a, b, c, d in boxes):
                side[i], shown[i] = s, True
                boxes.append((x0, y0, x1, y1))
                break
        else:
            if i == 0:  # the most important label is shown even where it cannot fit
                shown[i] = True
                boxes.append((x + gap, y - gap - h, x + gap + w, y - gap))
    return side, shown
