"""Step setups: the session a step starts from, built from an example, an inline session
and a few field changes, all checked when the lesson file is read."""

from __future__ import annotations

from dataclasses import dataclass, replace

from explorer.core import projections
from explorer.core.labels import token_labels
from explorer.core.session import D_MODEL_RANGE, MAX_HEADS, TEMPERATURE_RANGE, Session
from explorer.core.tokenizer import tokenize
from explorer.io.session_file import load_session
from explorer.lessons.params import Param
from explorer.resources import resource_path

MAX_SESSION_TEXT = 2000  # characters of a session text set by a lesson
_EDITABLE = ("identity", "orthogonal", "scaled")
#: Session fields a setup may set, with their types and ranges.
SESSION_FIELDS: dict[str, Param] = {
    p.name: p
    for p in (
        Param("text", "str", "the text", lo=None),
        Param("embedding", "choice", "embedding source", choices=("one-hot", "builtin", "random")),
        Param("d_model", "int", "vector size", lo=D_MODEL_RANGE[0], hi=D_MODEL_RANGE[1]),
        Param("embedding_seed", "int", "seed of the random source", lo=0, hi=2**31 - 1),
        Param("positional", "choice", "positional encoding", choices=("none", "sinusoidal")),
        Param("positional_mode", "choice", "add or concat", choices=("add", "concat")),
        Param("n_head", "int", "number of heads", lo=1, hi=MAX_HEADS),
        Param("d_head", "int", "head width", lo=1, hi=64),
        Param("preset", "choice", "projection preset", choices=_EDITABLE),
        Param("preset_seed", "int", "seed of the orthogonal preset", lo=0, hi=2**31 - 1),
        Param("preset_scale", "float", "gain of the scaled preset", lo=-3.0, hi=3.0),
        Param("temperature", "float", "τ", lo=TEMPERATURE_RANGE[0], hi=TEMPERATURE_RANGE[1]),
        Param("causal", "bool", "causal mask"),
        Param("sentence_mask", "bool", "attend within each sentence"),
        Param("selected_head", "int", "selected head", lo=0, hi=MAX_HEADS - 1),
        Param("selected_query", "token", "selected query row", required=False),
    )
}
_STRUCTURE = {"embedding", "d_model", "positional", "positional_mode", "n_head", "d_head"}
_PRESET = {"preset", "preset_seed", "preset_scale"}


@dataclass(frozen=True)
class Setup:
    """How a step prepares the session: ``example`` or ``session`` (a full session), then
    ``change`` (fields set on it, or on the current session when there is neither)."""

    example: str = ""
    session: tuple[tuple[str, object], ...] | None = None
    change: tuple[tuple[str, object], ...] = ()


def query_index(text: str, ref: str) -> int:
    """Index of token ``ref`` (display label or text) in ``text``; ValueError if absent."""
    texts = [t.text for t in tokenize(text).tokens]
    labels = token_labels(texts)
    if ref in labels:
        return labels.index(ref)
    for i, t in enumerate(texts):
        if t.casefold() == ref.casefold():
            return i
    raise ValueError(f"the text has no token '{ref}'")


def _apply(session: Session, fields: tuple) -> Session:
    d = dict(fields)
    heads = d.pop("heads", None)
    n_head, d_head = d.pop("n_head", None), d.pop("d_head", None)
    query = d.pop("selected_query", "keep")
    new = replace(session, **d)
    if heads is not None:
        width = projections.session_input_width(new)
        dh = d_head or new.d_head
        built = []
        for h in heads:
            a = dict(h)
            built += projections.preset_heads(a["preset"], 1, width, dh, a["seed"], a["scale"])
        new = replace(new, heads=tuple(built), preset=dict(heads[0])["preset"])
    elif _PRESET & d.keys() or (n_head or d_head or _STRUCTURE & d.keys()):
        if _PRESET & d.keys():
            new = replace(new, heads=projections.session_preset_heads(new, n_head, d_head))
        else:
            new = projections.conform(new, n_head=n_head, d_head=d_head)
    if query != "keep":
        new = replace(new, selected_query=None if query is None else query_index(new.text, query))
    return replace(new, selected_head=min(new.selected_head, new.n_head - 1))


def setup_session(setup: Setup, current: Session) -> Session:
    """The session a step starts from: its example or inline session (or ``current``), with
    its changes applied. Raises ValueError or SessionFileError when that cannot be built."""
    if setup.example:
        base = load_session(resource_path("examples", setup.example))
    elif setup.session is not None:
        fields = dict(setup.session)
        base = _apply(
            Session(text=fields["text"]),
            tuple((k, v) for k, v in setup.session if k != "text"),
        )
    else:
        base = current
    return _apply(base, setup.change) if setup.change else base
