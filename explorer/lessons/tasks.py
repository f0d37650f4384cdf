"""Task checks ``fn(session, result, **args) -> bool`` (pure functions of Session and
Result) and "Show me" solutions ``fn(session, result, **args) -> Session`` that solve a task
with a real edit: a weight the learner could set with a slider, a temperature, a mask."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from explorer.core.long_attention import is_lazy
from explorer.core.session import TEMPERATURE_RANGE, Session
from explorer.lessons.context import (
    Missing,
    head_index,
    need_result,
    preset_of,
    query_row,
    token_index,
)

#: The weight sliders span ±SLIDER_LIMIT in steps of 1/SLIDER_STEPS (the projection editor's).
SLIDER_LIMIT = 3.0
SLIDER_STEPS = 100
#: "Show me" searches the first SOLVE_BLOCK × SOLVE_BLOCK weights: one page of sliders.
SOLVE_BLOCK = 16
#: A solved "attend most" task wins by this factor over the runner-up weight.
CLEAR_WIN = 1.5


# ------------------------------------------------------------------ checks
def c_attends_most(session, result, query: str, key: str, head=None) -> bool:
    """True when ``key`` has the largest weight in ``query``'s row (and a positive one)."""
    try:
        r = need_result(result)
        _h, _i, row = query_row(session, r, query, head)
        w = row[token_index(r, key)]
    except Missing:
        return False
    return bool(w > 0 and w >= row.max())


def _reference_weights(x, w_q, w_k, allowed, scale) -> np.ndarray:
    """Softmax(x W_q (x W_k)ᵀ · scale) in float64 with masked entries zero."""
    s = (x @ w_q) @ (x @ w_k).T * scale  # (T, T)
    s = np.where(allowed, s, -np.inf)
    top = np.max(s, axis=1, keepdims=True)
    e = np.where(allowed, np.exp(s - np.where(np.isfinite(top), top, 0.0)), 0.0)
    total = e.sum(axis=1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def c_values_edited_only(session, result, head=None) -> bool:
    """W_V differs from the preset, W_Q and W_K do not, and the weights are the preset's."""
    try:
        r = need_result(result)
        h = head_index(session, r, head)
    except Missing:
        return False
    preset, mine = preset_of(session, h), session.heads[h]
    if preset is None or np.array_equal(mine.w_v, preset.w_v):
        return False
    if not (np.array_equal(mine.w_q, preset.w_q) and np.array_equal(mine.w_k, preset.w_k)):
        return False
    x = np.asarray(r.x, dtype=np.float64)
    ref = _reference_weights(x, preset.w_q, preset.w_k, r.allowed, r.scale)
    return bool(np.allclose(r.weights[h], ref, atol=1e-5))


def _heads_at_preset(session) -> bool:
    for h, mine in enumerate(session.heads):
        p = preset_of(session, h)
        if p is None or mine != p:
            return False
    return True


def c_sharp_by_temperature(session, result, query: str, threshold: float, head=None) -> bool:
    """``query``'s largest weight is at least ``threshold`` with every head at its preset
    (so the temperature, not an edited weight, made it sharp)."""
    try:
        r = need_result(result)
        row = query_row(session, r, query, head)[2]
    except Missing:
        return False
    return bool(row.max() >= threshold and _heads_at_preset(session))


def c_causal_on(session, result) -> bool:
    """The causal mask is on: no token attends to a later one."""
    if not session.causal or result is None:
        return False
    if is_lazy(result.weights):  # a long text: masked pairs have weight 0 by construction
        return bool(not np.triu(result.allowed, k=1).any())
    return bool(not np.triu(np.asarray(result.weights), k=1).any())


def c_weight_at_least(session, result, query: str, key: str, threshold: float, head=None):
    """The weight ``query`` → ``key`` is at least ``threshold``."""
    try:
        r = need_result(result)
        w = query_row(session, r, query, head)[2][token_index(r, key)]
    except Missing:
        return False
    return bool(w >= threshold)


# --------------------------------------------------------------- solutions
def s_make_attend(session, result, query: str, key: str, head=None) -> Session:
    """Move one W_Q or W_K weight (on the sliders' grid) so ``query`` attends most to ``key``.

    Every weight of the first slider page is tried at every slider position; the smallest
    move that lets ``key`` win by :data:`CLEAR_WIN` is taken, else the largest win.
    """
    r = need_result(result)
    h = head_index(session, r, head)
    i, target = token_index(r, query), token_index(r, key)
    allowed = np.asarray(r.allowed[i])
    if not allowed[target]:
        raise Missing(f"'{key}' is masked for '{query}'")
    x = np.asarray(r.x, dtype=np.float64)  # (T, d_in)
    w = session.heads[h]
    q, k = x @ w.w_q, x @ w.w_k  # (T, d_head)
    base = k @ q[i]  # (T,) scores of row i
    grid = np.arange(-SLIDER_LIMIT * SLIDER_STEPS, SLIDER_LIMIT * SLIDER_STEPS + 1) / SLIDER_STEPS
    others = allowed.copy()
    others[target] = False
    best = None  # (rank, which, a, b, value)
    want = math.log(CLEAR_WIN)
    d_in, d_head = w.w_q.shape
    for which, m in (("q", w.w_q), ("k", w.w_k)):
        for a in range(min(d_in, SOLVE_BLOCK)):
            for b in range(min(d_head, SOLVE_BLOCK)):
                delta = x[i, a] * k[:, b] if which == "q" else q[i, b] * x[:, a]  # (T,)
                if not np.any(delta):
                    continue
                s = (base[None, :] + (grid - m[a, b])[:, None] * delta[None, :]) * r.scale
                rival = s[:, others].max(axis=1) if others.any() else np.full(len(grid), -np.inf)
                margin = s[:, target] - rival  # (n_grid,)
                move = np.abs(grid - m[a, b])
                clear = margin >= want
                if clear.any():
                    j = int(np.argmin(np.where(clear, move, np.inf)))
                    rank = (0, move[j])
                elif margin.max() > 1e-6:
                    j = int(np.argmax(margin))
                    rank = (1, -margin[j])
                else:
                    continue
                if best is None or rank < best[0]:
                    best = (rank, which, a, b, float(grid[j]))
    if best is None:
        raise Missing(f"no single weight makes '{query}' attend most to '{key}'")
    _rank, which, a, b, value = best
    return session.with_head(h, w.with_weight(which, a, b, value))


def s_edit_value(session, result, row: int, col: int, value: float, head=None) -> Session:
    """Set W_V[row, col] of a head (the selected one by default) to ``value``."""
    h = session.selected_head if head is None else head
    w = session.heads[min(h, session.n_head - 1)]
    if row >= w.w_v.shape[0] or col >= w.w_v.shape[1]:
        raise Missing(f"W_V has no entry [{row}, {col}]")
    return session.with_head(h, w.with_weight("v", row, col, value))


def s_sharpen_temperature(session, result, query: str, threshold: float, head=None) -> Session:
    """The largest temperature at which ``query``'s largest weight reaches ``threshold``;
    every head goes back to its preset."""
    r = need_result(result)
    h = head_index(session, r, head)
    i = token_index(r, query)
    heads = tuple(p for p in (preset_of(session, k) for k in range(session.n_head)))
    if any(p is None for p in heads):
        raise Missing("the preset cannot be rebuilt")
    x = np.asarray(r.x, dtype=np.float64)
    s = (x @ heads[h].w_q) @ (x @ heads[h].w_k)[i]  # (T,)
    s = np.where(r.allowed[i], s, -np.inf)
    d = math.sqrt(heads[h].d_head)

    def peak(tau: float) -> float:
        z = s / (d * tau)
        e = np.exp(z - z.max())
        return float(e.max() / e.sum())

    # aim a little past the threshold: the kernel's rounding must not land just below it
    threshold = min(threshold + 0.002, 1.0)
    lo, hi = (math.log(t) for t in TEMPERATURE_RANGE)
    if peak(math.exp(lo)) < threshold:
        raise Missing(f"no temperature makes '{query}' that sharp")
    for _ in range(60):  # peak falls as τ grows: keep lo sharp enough
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if peak(math.exp(mid)) >= threshold else (lo, mid)
    return replace(session, heads=heads, temperature=math.exp(lo))


def s_set_causal(session, result, on: bool = True) -> Session:
    """Turn the causal mask on (or off)."""
    return replace(session, causal=on)
