"""Hypothesis strategies for valid Sessions, and an exact (bitwise) Session comparison.

Strategies for simple fields are derived from the schema's codecs, so a field added to
Session with a default is generated (and therefore round-trip tested) without editing this
file. Only fields tied to others by rules (heads, d_model, selected_head, model) are built
by hand.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from explorer.core import session as S
from explorer.io import codecs as C
from explorer.io import schema
from explorer.io.matrices import MatrixCodec

# Finite float64 values of every kind: subnormals, -0.0, huge magnitudes, ordinary weights.
finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
weights = st.one_of(finite_floats, st.floats(-3, 3), st.sampled_from([0.0, -0.0, 5e-324, 1.0]))


def strategy_for_codec(codec: C.Codec) -> st.SearchStrategy:
    """Values a codec accepts, generated from its declared type and range."""
    if isinstance(codec, C.OptionalCodec):
        return st.none() | strategy_for_codec(codec.inner)
    if isinstance(codec, C.BoolCodec):
        return st.booleans()
    if isinstance(codec, C.IntCodec):
        return st.integers(codec.lo, codec.hi)
    if isinstance(codec, C.FloatCodec):
        return st.floats(codec.lo, codec.hi, allow_nan=False, allow_infinity=False)
    if isinstance(codec, C.HexCodec):
        return st.just("") | st.text("0123456789abcdef", min_size=64, max_size=64)
    if isinstance(codec, C.StrCodec):
        if codec.choices is not None:
            return st.sampled_from(codec.choices)
        return st.text(min_size=1 if codec.nonempty else 0, max_size=40)
    if isinstance(codec, C.TupleCodec):
        inner = strategy_for_codec(codec.inner)
        if codec.length is not None:
            return st.tuples(*[inner] * codec.length)
        return st.lists(inner, max_size=4).map(tuple)
    if isinstance(codec, MatrixCodec):
        shapes = st.tuples(st.integers(1, 4), st.integers(1, 4))
        return shapes.flatmap(lambda shape: matrices(*shape))
    if isinstance(codec, schema.HeadEditCodec):  # replaced projections carry a model hash
        plain = C.DataclassCodec(codec.cls, codec.codecs)
        return st.tuples(
            strategy_for_codec(plain), st.text("0123456789abcdef", min_size=64, max_size=64)
        ).map(
            lambda e: (
                e[0]
                if e[0].sha256 or all(getattr(e[0], f"w_{c}") is None for c in "qkv")
                else dataclasses.replace(e[0], sha256=e[1])
            )
        )
    if isinstance(codec, C.DataclassCodec):
        return st.builds(
            codec.cls, **{name: strategy_for_codec(c) for name, c in codec.codecs.items()}
        )
    raise TypeError(f"no strategy for {codec!r}")


def matrices(rows: int, cols: int) -> st.SearchStrategy:
    return hnp.arrays(np.float64, (rows, cols), elements=weights)


@st.composite
def heads_for(draw, rows: int) -> tuple[S.Head, ...]:
    n_head = draw(st.integers(1, 4))
    d_head = draw(st.integers(1, 5))
    d_v = draw(st.integers(1, 5))
    return tuple(
        S.Head(
            draw(matrices(rows, d_head)), draw(matrices(rows, d_head)), draw(matrices(rows, d_v))
        )
        for _ in range(n_head)
    )


@st.composite
def sessions(draw) -> S.Session:
    """A random Session that the schema accepts (every field drawn, relations respected)."""
    codecs = schema.SESSION.codecs
    values = {
        name: draw(strategy_for_codec(codec))
        for name, codec in codecs.items()
        if name not in ("heads", "d_model", "selected_head", "model", "text")
    }
    values["text"] = draw(st.text(max_size=60))
    if values["embedding"] == "model":
        values["d_model"] = draw(st.integers(1, 6))
        rows = draw(st.integers(1, 6))  # the encoder decides the heads' input width
    else:
        values["d_model"] = draw(st.integers(S.D_MODEL_RANGE[0], 6))
        rows = schema.input_width(
            values["d_model"], values["positional"], values["positional_mode"]
        )
    values["heads"] = draw(heads_for(rows))
    values["selected_head"] = draw(st.integers(0, len(values["heads"]) - 1))
    model = strategy_for_codec(codecs["model"].inner)
    needs_model = "model" in (values["embedding"], values["preset"])
    values["model"] = draw(model if needs_model else st.none() | model)
    return S.Session(**values)


def assert_identical(a, b, where: str = "session") -> None:
    """Assert ``a`` and ``b`` are equal to the last bit, with the same types, recursively."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape}"
        assert np.array_equal(a.view(np.uint64), b.view(np.uint64)), f"{where}: bits differ"
        assert not b.flags.writeable, f"{where}: loaded array is writeable"
    elif isinstance(a, float):
        assert a.hex() == b.hex() or (math.isnan(a) and math.isnan(b)), f"{where}: {a} vs {b}"
    elif isinstance(a, tuple):
        assert len(a) == len(b), f"{where}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"
