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

from explorer.lessons.context import LessonContext, Missing, token_index
from explorer.lessons.params import Entry, Param
from explorer.lessons.tasks import (
    SLIDER_LIMIT,
    c_attends_most,
    c_causal_on,
    c_sharp_by_temperature,
    c_values_edited_only,
    c_weight_at_least,
    s_edit_value,
    s_make_attend,
    s_set_causal,
    s_sharpen_temperature,
)
from explorer.lessons.values import (
    v_cosine,
    v_decoder_head,
    v_decoder_next,
    v_decoder_next_p,
    v_model_cosine,
    v_model_curve,
    v_model_name,
    v_output_norm,
    v_row_sum,
    v_scale,
    v_sum_terms,
    v_temperature,
    v_token_count,
    v_top_key,
    v_top_weight,
    v_visible_keys,
    v_weight,
)

__all__ = ["CHECKS", "SOLUTIONS", "VALUES", "LessonContext", "Missing", "token_index"]

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
        Entry(
            "decoder_next",
            v_decoder_next,
            (),
            "The Decoder tab's likeliest next token at the position it shows.",
            "text",
        ),
        Entry(
            "decoder_next_p",
            v_decoder_next_p,
            (),
            "The probability of that token.",
            "number",
        ),
        Entry(
            "decoder_head",
            v_decoder_head,
            (),
            "The head the Decoder tab draws large, with its measured type.",
            "text",
        ),
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
