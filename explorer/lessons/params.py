"""Typed arguments of the registry's functions, checked before a lesson is used.

A lesson file names a function and gives its arguments as JSON. :func:`check_args` turns
them into Python values or raises :class:`LessonFileError` with one line that says where the
problem is (``steps[6].task.check.args.key: expected a token, got 3``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

MAX_STRING = 200  # longest string argument (token names, short words)


class LessonFileError(ValueError):
    """A lesson file that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Param:
    """One argument of a registry function.

    ``kind`` is ``"token"`` (a token of the text: its display label such as ``bank₁``, or its
    text, first occurrence), ``"int"``, ``"float"``, ``"bool"`` or ``"choice"`` (one of
    ``choices``). ``lo`` and ``hi`` bound numbers (inclusive). ``default`` applies when the
    argument is left out; ``required`` arguments have none.
    """

    name: str
    kind: str
    doc: str
    required: bool = True
    default: object = None
    choices: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None

    def describe(self) -> str:
        """``key`` (token), or ``head`` (int ≥ 0, optional: the selected head)."""
        kind = self.kind
        if self.kind == "choice":
            kind = " | ".join(f'"{c}"' for c in self.choices)
        elif self.lo is not None or self.hi is not None:
            lo = "" if self.lo is None else f"{self.lo:g} ≤ "
            hi = "" if self.hi is None else f" ≤ {self.hi:g}"
            kind = f"{kind}, {lo}{self.name}{hi}"
        opt = "" if self.required else f", optional, default {self._default_text()}"
        return f"`{self.name}` ({kind}{opt}): {self.doc}"

    def _default_text(self) -> str:
        if self.default is None:
            return "the selected one" if self.name == "head" else "none"
        if isinstance(self.default, str):
            return f'"{self.default}"'
        return str(self.default).lower() if isinstance(self.default, bool) else f"{self.default}"


@dataclass(frozen=True)
class Entry:
    """A named function of the registry with its parameters and one line of documentation."""

    name: str
    fn: Callable
    params: tuple[Param, ...]
    doc: str
    returns: str = ""  # values: "number" or "text"


def _kind_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a list" if isinstance(value, list) else "an object"


def _convert(p: Param, value, where: str):
    if p.kind in ("token", "choice", "str"):
        if not isinstance(value, str):
            raise LessonFileError(f"{where}: expected a {p.kind}, got {_kind_name(value)}")
        if not value or len(value) > MAX_STRING:
            raise LessonFileError(f"{where}: must be 1 to {MAX_STRING} characters long")
        if p.kind == "choice" and value not in p.choices:
            raise LessonFileError(f"{where}: {value!r} is not one of {', '.join(p.choices)}")
        return value
    if p.kind == "bool":
        if not isinstance(value, bool):
            raise LessonFileError(f"{where}: expected true or false, got {_kind_name(value)}")
        return value
    if p.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise LessonFileError(f"{where}: expected an integer, got {_kind_name(value)}")
        out = value
    elif p.kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise LessonFileError(f"{where}: expected a number, got {_kind_name(value)}")
        out = float(value)
        if not math.isfinite(out):
            raise LessonFileError(f"{where}: must be a finite number")
    else:  # pragma: no cover - a registry bug, not a file problem
        raise AssertionError(f"unknown parameter kind {p.kind}")
    if (p.lo is not None and out < p.lo) or (p.hi is not None and out > p.hi):
        lo = "-∞" if p.lo is None else f"{p.lo:g}"
        hi = "∞" if p.hi is None else f"{p.hi:g}"
        raise LessonFileError(f"{where}: {out:g} is outside {lo} to {hi}")
    return out


def check_args(entry: Entry, args, where: str) -> dict:
    """Validate ``args`` (a JSON object) for ``entry``; return them with defaults filled in."""
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise LessonFileError(f"{where}: expected an object of arguments, got {_kind_name(args)}")
    known = {p.name: p for p in entry.params}
    for key in args:
        if key not in known:
            names = ", ".join(known) or "none"
            raise LessonFileError(
                f"{where}: '{entry.name}' takes no argument '{key}' (it takes: {names})"
            )
    out = {}
    for p in entry.params:
        if p.name in args and not (args[p.name] is None and not p.required):
            out[p.name] = _convert(p, args[p.name], f"{where}.{p.name}")
        elif p.required:
            raise LessonFileError(f"{where}: '{entry.name}' needs the argument '{p.name}'")
        else:
            out[p.name] = p.default
    return out
