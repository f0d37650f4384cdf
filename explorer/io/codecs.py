"""Typed codecs: convert values between Python and JSON data, checking everything on the way in.

The building blocks of :mod:`explorer.io.schema`. ``decode`` never trusts its input: it checks
types exactly (``true`` is not an integer, ``"1.0"`` is not a number), ranges and finiteness,
and reports the first problem as a :class:`SessionFileError` naming where it is
(``heads[1].w_q[3][0]``). :func:`codec_for_type` picks a codec from a type annotation, which
is what makes the schema generic over dataclass fields.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing

import numpy as np

_INT64 = (-(1 << 63), (1 << 63) - 1)
MAX_ITEMS = 1 << 20  # longest variable-length array (e.g. blocked pairs)
MAX_ROWS = 4096  # matrix bounds (explorer.io.matrices)
MAX_COLS = 4096


class SessionFileError(ValueError):
    """A session file (or session data) cannot be read or written.

    ``str(error)`` is one line that says which file, where in it, and what is wrong.

    Attributes
    ----------
    reason : str
        What is wrong, e.g. ``"expected a number, got string"``.
    where : str or None
        Location inside the document, e.g. ``"heads[0].w_q[2][1]"``.
    path : str or None
        The file, when there is one.
    """

    def __init__(self, reason: str, where: str | None = None, *, path: str | None = None):
        self.reason = " ".join(str(reason).split())  # one line, whatever the cause said
        self.where = where or None
        self.path = None if path is None else str(path)
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [p for p in (self.path, self.where) if p]
        return ": ".join([*parts, self.reason])

    def with_path(self, path) -> SessionFileError:
        """Return a copy that names ``path``."""
        return SessionFileError(self.reason, where=self.where, path=str(path))


def _kind(value) -> str:
    """JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value) -> str:
    """A short ASCII rendering of a value for messages (ascii() escapes lone surrogates)."""
    text = ascii(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class Codec:
    """Converts one kind of value between Python and JSON data, checking on the way in."""

    def encode(self, value, where: str):
        raise NotImplementedError

    def decode(self, data, where: str):
        raise NotImplementedError


class BoolCodec(Codec):
    def encode(self, value, where):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise SessionFileError(f"expected a boolean, got {type(value).__name__}", where=where)

    def decode(self, data, where):
        if type(data) is not bool:
            raise SessionFileError(f"expected true or false, got {_kind(data)}", where=where)
        return data


class IntCodec(Codec):
    """An integer in ``[lo, hi]``; booleans and floats such as ``8.0`` are refused."""

    def __init__(self, lo: int = _INT64[0], hi: int = _INT64[1]):
        self.lo, self.hi = lo, hi

    def encode(self, value, where):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise SessionFileError(f"expected an integer, got {type(value).__name__}", where=where)
        return int(value)

    def decode(self, data, where):
        if type(data) is not int:
            raise SessionFileError(f"expected an integer, got {_kind(data)}", where=where)
        if not self.lo <= data <= self.hi:
            raise SessionFileError(
                f"{_show(data)} is out of range [{self.lo}, {self.hi}]", where=where
            )
        return data


class FloatCodec(Codec):
    """A finite number in ``[lo, hi]``, stored as float64 (JSON integers are accepted)."""

    def __init__(self, lo: float = -math.inf, hi: float = math.inf):
        self.lo, self.hi = lo, hi

    def encode(self, value, where):
        if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)
        ):
            raise SessionFileError(f"expected a number, got {type(value).__name__}", where=where)
        return float(value)

    def decode(self, data, where):
        if type(data) not in (int, float):
            raise SessionFileError(f"expected a number, got {_kind(data)}", where=where)
        try:
            x = float(data)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            raise SessionFileError(f"{_show(data)} is not a finite number", where=where)
        if not self.lo <= x <= self.hi:
            raise SessionFileError(f"{x!r} is out of range [{self.lo}, {self.hi}]", where=where)
        return x


class StrCodec(Codec):
    """A string, optionally one of ``choices``, of at most ``max_chars`` code points; it must
    be encodable as UTF-8."""

    def __init__(
        self,
        choices: tuple[str, ...] | None = None,
        *,
        nonempty: bool = False,
        max_chars: int | None = None,
    ):
        self.choices, self.nonempty, self.max_chars = choices, nonempty, max_chars

    def check_length(self, value, where) -> None:
        """Refuse a string longer than ``max_chars`` (cheap: no copy is made)."""
        if self.max_chars is not None and isinstance(value, str) and len(value) > self.max_chars:
            raise SessionFileError(
                f"{len(value):,} characters, more than the {self.max_chars:,} allowed",
                where=where,
            )

    def _check(self, value, where):
        if not isinstance(value, str):
            raise SessionFileError(f"expected a string, got {_kind(value)}", where=where)
        self.check_length(value, where)  # before the UTF-8 check copies the string
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise SessionFileError(
                "string is not valid Unicode (lone surrogate)", where=where
            ) from None
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise SessionFileError(f"{_show(value)} is not one of {allowed}", where=where)
        if self.nonempty and not value:
            raise SessionFileError("must not be empty", where=where)
        return str(value)

    encode = decode = _check


class HexCodec(StrCodec):
    """Empty, or a lowercase hexadecimal digest of ``length`` digits."""

    def __init__(self, length: int):
        super().__init__()
        self.length = length

    def _check(self, value, where):
        value = super()._check(value, where)
        if value and (len(value) != self.length or any(c not in "0123456789abcdef" for c in value)):
            raise SessionFileError(
                f"expected '' or {self.length} lowercase hex digits, got {_show(value)}",
                where=where,
            )
        return value

    encode = decode = _check


class OptionalCodec(Codec):
    """``null`` or a value of ``inner``."""

    def __init__(self, inner: Codec):
        self.inner = inner

    def encode(self, value, where):
        return None if value is None else self.inner.encode(value, where)

    def decode(self, data, where):
        return None if data is None else self.inner.decode(data, where)


class TupleCodec(Codec):
    """A tuple stored as a JSON array: fixed ``length``, or any length up to ``max_len``."""

    def __init__(self, inner: Codec, length: int | None = None, max_len: int = MAX_ITEMS):
        self.inner, self.length, self.max_len = inner, length, max_len

    def encode(self, value, where):
        if not isinstance(value, (tuple, list)):
            raise SessionFileError(f"expected a tuple, got {type(value).__name__}", where=where)
        if self._plain_ints(value):  # e.g. blocked pairs: no location string per number
            return list(value)
        return [self.inner.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]

    def decode(self, data, where):
        if type(data) is not list:
            raise SessionFileError(f"expected an array, got {_kind(data)}", where=where)
        if self.length is not None and len(data) != self.length:
            raise SessionFileError(f"expected {self.length} items, got {len(data)}", where=where)
        if len(data) > self.max_len:
            raise SessionFileError(f"more than {self.max_len} items", where=where)
        if self._plain_ints(data):
            return tuple(data)
        return tuple(self.inner.decode(v, f"{where}[{i}]") for i, v in enumerate(data))

    def _plain_ints(self, items) -> bool:
        """True when ``inner`` takes integers and every item is one in range (the common
        case, checked without a per-item call; anything else goes the careful way)."""
        inner = self.inner
        return type(inner) is IntCodec and all(
            type(v) is int and inner.lo <= v <= inner.hi for v in items
        )


def _check_keys(obj: dict, required, known, where: str) -> None:
    """Refuse missing required keys and unknown keys (which would be silently lost)."""
    for key in required:
        if key not in obj:
            raise SessionFileError(f"missing key {key!r}", where=where)
    for key in obj:
        if key not in known:
            raise SessionFileError(
                f"unknown key {_show(key)} (misspelt, or written by a newer version?)", where
            )


class DataclassCodec(Codec):
    """A frozen dataclass stored as a JSON object with one key per field.

    Codecs come from ``overrides`` by field name, else from the field's type annotation.
    Keys in ``required`` (and fields without a default) must be present; other missing keys
    take the field's default, so fields added later keep older files loading. Unknown keys
    are refused.
    """

    def __init__(
        self, cls: type, overrides: dict[str, Codec] | None = None, required: tuple[str, ...] = ()
    ):
        self.cls = cls
        hints = typing.get_type_hints(cls)
        overrides = overrides or {}
        self.fields = [f for f in dataclasses.fields(cls) if f.init]
        self.codecs: dict[str, Codec] = {
            f.name: overrides.get(f.name) or codec_for_type(hints[f.name]) for f in self.fields
        }
        always = set(required)
        no_default = {
            f.name
            for f in self.fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        self.required = tuple(f.name for f in self.fields if f.name in always | no_default)

    def encode(self, value, where):
        if not isinstance(value, self.cls):
            raise SessionFileError(
                f"expected {self.cls.__name__}, got {type(value).__name__}", where=where
            )
        return {
            f.name: self.codecs[f.name].encode(getattr(value, f.name), _join(where, f.name))
            for f in self.fields
        }

    def decode_values(self, data, where) -> dict:
        """Check ``data`` and return the constructor arguments (missing optional keys omitted)."""
        if type(data) is not dict:
            raise SessionFileError(f"expected an object, got {_kind(data)}", where=where)
        _check_keys(data, self.required, self.codecs, where)
        return {k: self.codecs[k].decode(v, _join(where, k)) for k, v in data.items()}

    def decode(self, data, where):
        return _construct(self.cls, self.decode_values(data, where), where)


def _construct(cls, values: dict, where: str):
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # the dataclass's own checks
        raise SessionFileError(f"invalid {cls.__name__}: {exc}", where=where) from None


class UnsupportedCodec(Codec):
    """Stands in for a field whose type the schema cannot store; saving it fails loudly."""

    def __init__(self, tp):
        self.tp = tp

    def encode(self, value, where):
        raise SessionFileError(f"the session format cannot store type {self.tp!r}", where=where)

    decode = encode


def codec_for_type(tp) -> Codec:
    """Pick a codec from a type annotation (``int``, ``float | None``, ``tuple[int, ...]``...)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return BoolCodec()
    if tp is int:
        return IntCodec()
    if tp is float:
        return FloatCodec()
    if tp is str:
        return StrCodec()
    if origin is typing.Literal and all(isinstance(a, str) for a in args):
        return StrCodec(choices=args)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            inner = codec_for_type(rest[0])
            return inner if isinstance(inner, UnsupportedCodec) else OptionalCodec(inner)
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            inner = codec_for_type(args[0])
            return inner if isinstance(inner, UnsupportedCodec) else TupleCodec(inner)
        if len(set(args)) == 1:
            inner = codec_for_type(args[0])
            if not isinstance(inner, UnsupportedCodec):
                return TupleCodec(inner, length=len(args))
    if dataclasses.is_dataclass(tp):
        return DataclassCodec(tp)
    return UnsupportedCodec(tp)
