"""The session schema: a table of typed codecs, one per Session field.

The schema is table-driven and generic over dataclass fields, so a setting added to
:class:`~explorer.core.session.Session` (or to ``ViewOptions``/``ModelRef``) with a default
round-trips without touching this module: its type annotation picks a codec. Fields that need
more than a type check (choices, ranges, matrices) get an explicit codec in ``_OVERRIDES``.

Every codec turns a value into plain JSON data (``encode``) and checks and converts JSON data
back (``decode``). ``decode`` never trusts its input: it checks types exactly (``true`` is not
an integer, ``"1.0"`` is not a number), ranges, and finiteness, and reports the first problem as
a :class:`SessionFileError` that names where it is (``heads[1].w_q[3][0]``).

A hand-written validator is used rather than a JSON Schema document because most of the rules
are relations between fields (matrix rows = ``d_model``, every head the same shape,
``selected_head`` < number of heads) that JSON Schema cannot express, because messages must be
one precise line, and because it adds no dependency.
"""

from __future__ import annotations

from explorer.core import session as S
from explorer.io.codecs import (
    Codec,
    DataclassCodec,
    FloatCodec,
    HexCodec,
    IntCodec,
    OptionalCodec,
    SessionFileError,
    StrCodec,
    TupleCodec,
    UnsupportedCodec,
    _check_keys,
    _construct,
    _join,
    _kind,
)
from explorer.io.matrices import MatrixCodec

MAX_D_MODEL = 4096  # the largest embedding width a session may declare
MAX_D_HEAD = 4096
MAX_TOKENS = 1 << 20  # bound on token indices (selected_query, blocked pairs)
MAX_SEED = (1 << 63) - 1  # seeds are non-negative and fit in int64

# Keys every version-1 file must have, per dataclass. Fields added to the dataclasses later
# (with defaults) are optional, so version-1 files keep loading; see docs/session-format.md.
REQUIRED_V1: dict[type, tuple[str, ...]] = {
    S.Session: (
        "text",
        "embedding",
        "d_model",
        "embedding_seed",
        "positional",
        "positional_mode",
        "heads",
        "preset",
        "preset_seed",
        "preset_scale",
        "temperature",
        "causal",
        "blocked",
        "selected_head",
        "selected_query",
        "model",
        "view",
    ),
    S.ViewOptions: ("colormap", "score_colormap", "show_values", "show_special"),
    S.ModelRef: ("name", "sha256", "layer", "head"),
}


class HeadsCodec(Codec):
    """The heads: 1 to ``MAX_HEADS`` objects with ``w_q``, ``w_k``, ``w_v``, all the same shape.

    Each head has ``w_q``, ``w_k`` of shape (d_model, d_head) and ``w_v`` of shape
    (d_model, d_v), where d_model is the width the heads read (:func:`input_width`); rows are
    checked against it in :func:`check_relations`.
    """

    _KEYS = ("w_q", "w_k", "w_v")
    matrix = MatrixCodec(max_rows=2 * MAX_D_MODEL, max_cols=MAX_D_HEAD)

    def min_encoded_chars(self, heads) -> int:
        """A lower bound of the characters the heads take in a file, from shapes alone."""
        return sum(
            self.matrix.min_encoded_chars(getattr(head, k).shape)
            for head in heads
            if isinstance(head, S.Head)  # anything else is refused when encoded
            for k in self._KEYS
        )

    def encode(self, value, where):
        out = []
        for h, head in enumerate(value):
            if not isinstance(head, S.Head):
                raise SessionFileError(f"expected a Head, got {type(head).__name__}", where)
            out.append(
                {k: self.matrix.encode(getattr(head, k), f"{where}[{h}].{k}") for k in self._KEYS}
            )
        return out

    def decode(self, data, where):
        if type(data) is not list:
            raise SessionFileError(f"expected an array of heads, got {_kind(data)}", where=where)
        if not 1 <= len(data) <= S.MAX_HEADS:
            raise SessionFileError(
                f"a session has 1 to {S.MAX_HEADS} heads, got {len(data)}", where=where
            )
        heads = []
        for h, obj in enumerate(data):
            at = f"{where}[{h}]"
            if type(obj) is not dict:
                raise SessionFileError(f"expected a head object, got {_kind(obj)}", where=at)
            _check_keys(obj, self._KEYS, self._KEYS, at)
            m = {k: self.matrix.decode(obj[k], f"{at}.{k}") for k in self._KEYS}
            if m["w_k"].shape != m["w_q"].shape:
                raise SessionFileError(
                    f"w_k has shape {m['w_k'].shape}, w_q has {m['w_q'].shape}", where=at
                )
            if m["w_v"].shape[0] != m["w_q"].shape[0]:
                raise SessionFileError(
                    f"w_v has {m['w_v'].shape[0]} rows, w_q has {m['w_q'].shape[0]}", where=at
                )
            if heads and any(
                m[k].shape != getattr(heads[0], k).shape for k in self._KEYS
            ):  # every head reads the same input and feeds the same grid
                shapes = ", ".join(f"{k} {m[k].shape}" for k in self._KEYS)
                first = ", ".join(f"{k} {getattr(heads[0], k).shape}" for k in self._KEYS)
                raise SessionFileError(f"head shapes differ: {shapes} vs head 0 {first}", at)
            heads.append(S.Head(**m))
        return tuple(heads)


class HeadEditCodec(DataclassCodec):
    """A Model-tab head edit (:class:`~explorer.core.session.HeadScale`).

    ``layer``, ``head`` and ``scale`` are always written; the replaced projections ``w_q``,
    ``w_k``, ``w_v`` (matrices, compact base64 at model width) and the model's ``sha256`` only
    when set (version 3), so a scale-only edit reads the same as in version 2.
    """

    OPTIONAL = ("w_q", "w_k", "w_v", "sha256")

    def __init__(self):
        matrix = OptionalCodec(MatrixCodec())
        super().__init__(
            S.HeadScale,
            {
                "layer": IntCodec(0, 1023),
                "head": IntCodec(0, 1023),
                "scale": FloatCodec(-100.0, 100.0),
                "w_q": matrix,
                "w_k": matrix,
                "w_v": matrix,
                "sha256": HexCodec(64),
            },
            required=("layer", "head", "scale"),
        )

    def encode(self, value, where):
        out = super().encode(value, where)
        for key in self.OPTIONAL:
            if out[key] in (None, ""):
                del out[key]
        return out

    def decode(self, data, where):
        edit = super().decode(data, where)
        if any(getattr(edit, f"w_{c}") is not None for c in "qkv") and not edit.sha256:
            raise SessionFileError("replaced projections need the model's sha256", where=where)
        return edit


_OVERRIDES: dict[str, Codec] = {
    "text": StrCodec(max_chars=S.MAX_TEXT_CHARS),
    "embedding": StrCodec(S.EMBEDDING_SOURCES),
    "d_model": IntCodec(1, MAX_D_MODEL),
    "embedding_seed": IntCodec(0, MAX_SEED),
    "positional": StrCodec(S.POSITIONAL_ENCODINGS),
    "positional_mode": StrCodec(S.POSITIONAL_MODES),
    "heads": HeadsCodec(),
    "preset": StrCodec(S.PROJECTION_PRESETS),
    "preset_seed": IntCodec(0, MAX_SEED),
    "temperature": FloatCodec(*S.TEMPERATURE_RANGE),
    "blocked": TupleCodec(TupleCodec(IntCodec(0, MAX_TOKENS - 1), length=2)),
    "selected_head": IntCodec(0, S.MAX_HEADS - 1),
    "selected_query": OptionalCodec(IntCodec(0, MAX_TOKENS - 1)),
    "model": OptionalCodec(
        DataclassCodec(
            S.ModelRef,
            {
                "name": StrCodec(nonempty=True),
                "sha256": HexCodec(64),
                "layer": IntCodec(0, 1023),
                "head": IntCodec(0, 1023),
            },
            required=REQUIRED_V1[S.ModelRef],
        )
    ),
    "model_edits": TupleCodec(HeadEditCodec()),
    "decoder": OptionalCodec(
        DataclassCodec(
            S.DecoderRef,
            {
                "name": StrCodec(nonempty=True),
                "sha256": HexCodec(64),
                "layer": IntCodec(0, 1023),
                "head": IntCodec(0, 1023),
                "position": OptionalCodec(IntCodec(0, MAX_TOKENS - 1)),
                "edits": TupleCodec(
                    DataclassCodec(
                        S.DecoderEdit,
                        {
                            "layer": IntCodec(0, 1023),
                            "head": IntCodec(0, 1023),
                            "scale": FloatCodec(-100.0, 100.0),
                        },
                        required=("layer", "head", "scale"),
                    )
                ),
                "temperature": FloatCodec(*S.GENERATE_TEMPERATURE_RANGE),
                "top_k": IntCodec(1, 1000),
                "seed": IntCodec(0, MAX_SEED),
            },
            required=("name",),
        )
    ),
    "view": DataclassCodec(
        S.ViewOptions,
        {"colormap": StrCodec(S.COLORMAPS), "score_colormap": StrCodec(S.SCORE_COLORMAPS)},
        required=REQUIRED_V1[S.ViewOptions],
    ),
}

SESSION = DataclassCodec(S.Session, _OVERRIDES, required=REQUIRED_V1[S.Session])


def input_width(d_model: int, positional: str, mode: str) -> int:
    """Width of the vectors the heads read: ``2 · d_model`` when a positional encoding is
    concatenated, else ``d_model`` (the rule of ``explorer.core.positional.input_width``)."""
    return 2 * d_model if positional != "none" and mode == "concat" else d_model


def check_relations(values: dict, where: str = "") -> None:
    """Check the rules that tie fields together; ``values`` are decoded Session arguments.

    Missing optional keys take the Session default, so the check reads them from there.
    """
    default = S.Session()

    def get(name):
        return values.get(name, getattr(default, name))

    def fail(reason, name):
        raise SessionFileError(reason, where=_join(where, name))

    heads, d_model, embedding = get("heads"), get("d_model"), get("embedding")
    if embedding != "model":
        # A pretrained encoder decides its own width, so only the built-in sources fix
        # d_model's range and the heads' input width.
        lo, hi = S.D_MODEL_RANGE
        if not lo <= d_model <= hi:
            fail(f"{embedding} embeddings have d_model {lo}..{hi}, got {d_model}", "d_model")
        width = input_width(d_model, get("positional"), get("positional_mode"))
        rows = heads[0].w_q.shape[0]
        if rows != width:
            fail(f"head matrices have {rows} rows, the heads read {width} numbers", "heads")
    if get("selected_head") >= len(heads):
        fail(
            f"{get('selected_head')} but there are {len(heads)} head(s)",
            "selected_head",
        )
    for name in ("embedding", "preset"):
        if get(name) == "model" and get("model") is None:
            fail(f"{name} 'model' needs a model reference, got null", "model")


def encode_session(session: S.Session) -> dict:
    """Session → JSON-ready dict of its fields (no ``format``/``version`` header)."""
    return SESSION.encode(session, "")


def decode_session(data, where: str = "") -> S.Session:
    """JSON data of the current version → Session, checking every field and relation."""
    values = SESSION.decode_values(data, where)
    check_relations(values, where)
    return _construct(S.Session, values, where)


def unsupported_fields() -> list[str]:
    """Fields (``view.colormap`` style) whose type the schema cannot store; should be empty."""
    out = []

    def walk(codec: Codec, prefix: str):
        if isinstance(codec, OptionalCodec):
            codec = codec.inner
        if isinstance(codec, UnsupportedCodec):
            out.append(prefix)
        elif isinstance(codec, DataclassCodec):
            for name, c in codec.codecs.items():
                walk(c, _join(prefix, name))
        elif isinstance(codec, TupleCodec):
            walk(codec.inner, prefix + "[]")

    walk(SESSION, "")
    return out
