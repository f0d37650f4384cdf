"""What the lesson functions read: the Session, its Result and the Model tab's numbers.

Also the helpers they share: a token argument names a token by its display label (``bank₁``)
or by its text (first occurrence, any case); a value or check that cannot be given for the
current text raises :class:`Missing`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.core import projections
from explorer.core.pipeline import Result
from explorer.core.session import Session


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
    decoder_next : (str, float) or None
        The Decoder tab's likeliest next token at the position it shows, and its
        probability; None while it runs or when it cannot.
    decoder_head : str
        The head the Decoder tab draws large, with its measured type
        (``"layer 1, head 1 (induction)"``); "" before the decoder ran.
    """

    session: Session
    result: Result | None
    model_curve: tuple[float, ...] | None = None
    model_name: str = ""
    model_state: str = "loading"
    decoder_next: tuple[str, float] | None = None
    decoder_head: str = ""


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


def head_index(session: Session, result: Result, head: int | None) -> int:
    h = session.selected_head if head is None else head
    if not 0 <= h < result.n_head:
        raise Missing(f"there is no head {h}")
    return h


def need_result(ctx_or_result):
    result = getattr(ctx_or_result, "result", ctx_or_result)
    if result is None or result.T == 0:
        raise Missing("nothing is computed yet")
    return result


def query_row(session, result, query, head):
    h = head_index(session, result, head)
    i = token_index(result, query)
    return h, i, np.asarray(result.weights[h, i], dtype=np.float64)


def preset_of(session: Session, head: int):
    """Head ``head`` of the session's preset (what Reset returns to), or None."""
    try:
        return projections.session_preset_heads(session)[head]
    except (ValueError, IndexError):
        return None
