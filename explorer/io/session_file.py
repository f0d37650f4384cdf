"""Session files (``*.attn.json``): load, save, validate and migrate.

A session file is UTF-8 JSON: ``{"format": "attention-explorer-session", "version": 3, ...}``
followed by one key per :class:`~explorer.core.session.Session` field (see
``docs/session-format.md``). Small matrices are rows of numbers; large ones are base64 of
their little-endian float64 bytes (:class:`~explorer.io.matrices.MatrixCodec`). Loading refuses
anything that is not exactly that with one :class:`SessionFileError` line, and never runs code
from the file: the loader only builds numbers, strings, lists and dicts, then checks them
against :mod:`explorer.io.schema`.

What saving writes, loading reads: a session that would load back differently, or whose file
would be over :data:`MAX_FILE_BYTES` or hold a text over ``MAX_TEXT_CHARS``, is refused before
anything is written. Saving is atomic: the text goes to a temporary file in the same folder,
is flushed and fsync'd, then renamed over the target with :func:`os.replace`, so a crash or a
full disk leaves the old file intact.

Older versions are upgraded by ``_MIGRATIONS``: version N+1 adds ``_MIGRATIONS[N]``, a function
that turns a version-N document into a version-N+1 one, and keeps a version-N sample in
``tests/io/data/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from explorer.core.session import Session
from explorer.io.atomic import atomic_write, os_reason
from explorer.io.codecs import SessionFileError, _kind, _show
from explorer.io.reading import decode_utf8, read_regular_file, too_large_message
from explorer.io.schema import SESSION, decode_session, encode_session

__all__ = [
    "FORMAT",
    "MAX_FILE_BYTES",
    "SUFFIX",
    "VERSION",
    "SessionFileError",
    "load_session",
    "migrate",
    "save_session",
    "session_from_dict",
    "session_from_json",
    "session_to_dict",
    "session_to_json",
]

FORMAT = "attention-explorer-session"
VERSION = 3  # the version this code writes
OLDEST_VERSION = 1  # the oldest version it still reads (through _MIGRATIONS)
SUFFIX = ".attn.json"
# Refused before parsing, and never written. Large matrices are stored as base64 float64, so
# 12 heads of 2050 × 64 (a 1024-wide model head plus its bias row, positions concatenated)
# take 48.1 MB; 2730 rows fit with a short text.
MAX_FILE_BYTES = 64 * 1024 * 1024
_HEADER = ("format", "version")
_TEXT = SESSION.codecs["text"]
_HEADS = SESSION.codecs["heads"]


def _v1_to_v2(doc: dict) -> dict:
    """Version 2 adds the compact (base64) matrix form; version-1 content is unchanged.

    A version-1 file only ever held matrices as arrays of rows, so any other form is refused
    with the message version 1 gave.
    """
    heads = doc.get("heads")
    for h, head in enumerate(heads if type(heads) is list else ()):
        for key, matrix in head.items() if type(head) is dict else ():
            if type(matrix) is dict:
                raise SessionFileError(
                    "expected a matrix (array of rows), got object", where=f"heads[{h}].{key}"
                )
    return doc


def _v2_to_v3(doc: dict) -> dict:
    """Version 3 lets a Model-tab head edit replace the head's projections; version-2 content
    is unchanged.

    A version-2 edit only ever held ``layer``, ``head`` and ``scale``, so a version-2 file with
    anything else in an edit is refused with the message version 2 gave.
    """
    edits = doc.get("model_edits")
    for i, edit in enumerate(edits if type(edits) is list else ()):
        for key in edit if type(edit) is dict else ():
            if key not in ("layer", "head", "scale"):
                raise SessionFileError(
                    f"unknown key {_show(key)} (misspelt, or written by a newer version?)",
                    where=f"model_edits[{i}]",
                )
    return doc


# _MIGRATIONS[v] upgrades a version-v document (a dict, header included) to version v + 1.
_MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2, 2: _v2_to_v3}


def session_to_dict(session: Session) -> dict:
    """Return the JSON-ready document for ``session``: header plus one key per field.

    Matrices become lists of rows of Python floats. The dict is not validated; use
    :func:`session_to_json` or :func:`save_session` to get a checked document.
    """
    return {"format": FORMAT, "version": VERSION, **encode_session(session)}


def migrate(doc: dict) -> dict:
    """Upgrade a document of any readable version to :data:`VERSION`.

    Parameters
    ----------
    doc : dict
        A parsed document whose ``"version"`` is an int in ``[OLDEST_VERSION, VERSION]``.

    Returns
    -------
    dict
        The same content in the current version (``doc`` itself when already current).
    """
    version = doc["version"]
    while version < VERSION:
        doc = _MIGRATIONS[version](dict(doc))
        version += 1
        doc["version"] = version
    return doc


def session_from_dict(doc) -> Session:
    """Check a parsed document, migrate it, and build the Session.

    Raises
    ------
    SessionFileError
        If ``doc`` is not a session document of a readable version, or any field is missing,
        unknown, of the wrong type, out of range, or inconsistent with another.
    """
    if type(doc) is not dict:
        kind = _kind(doc)
        article = "an" if kind[0] in "aeiou" else "a"
        raise SessionFileError(
            f"not a session file: the top level is {article} {kind}, not an object"
        )
    if "format" not in doc:
        raise SessionFileError('not a session file: no "format" key')
    if doc["format"] != FORMAT:
        shown = ascii(doc["format"])[:60]
        raise SessionFileError(f"not a session file: format is {shown}, expected {FORMAT!r}")
    version = doc.get("version")
    if type(version) is not int:
        raise SessionFileError("the version must be an integer", where="version")
    if version > VERSION:
        raise SessionFileError(
            f"saved by a newer Attention Explorer (format version {version}; "
            f"this one reads up to version {VERSION})"
        )
    if version < OLDEST_VERSION:
        raise SessionFileError(f"unknown format version {version}", where="version")
    _TEXT.check_length(doc.get("text"), "text")  # first: before any other work on the file
    doc = migrate(doc)
    return decode_session({k: v for k, v in doc.items() if k not in _HEADER})


def session_to_json(session: Session) -> str:
    """Return the file text for ``session``, checked to load back to an equal Session.

    One matrix row per line keeps small matrices readable and diffable; floats are written
    with ``repr``, which reads back as the same float64 bit for bit. Matrices of more than
    :data:`~explorer.io.matrices.READABLE_MAX_NUMBERS` numbers are written as base64 of their
    float64 bytes, exact as well.

    Raises
    ------
    SessionFileError
        If the session holds something the format cannot store (NaN weights, a value out of
        range, a field of an unsupported type, a text over ``MAX_TEXT_CHARS``), or its file
        would be larger than :data:`MAX_FILE_BYTES`.
    """
    _TEXT.check_length(session.text, "text")
    _check_size(_min_chars(session), "at least ")  # before building anything large
    doc = session_to_dict(session)
    session_from_dict(doc)  # never write a file that would be refused on load
    text = _dump(doc, 0) + "\n"
    _check_size(len(text) if text.isascii() else len(text.encode("utf-8")))
    return text


def _min_chars(session: Session) -> int:
    """A lower bound of the file's size in bytes, from the text length and matrix shapes."""
    heads = session.heads if isinstance(session.heads, tuple) else ()
    blocked = session.blocked if isinstance(session.blocked, tuple) else ()
    text = session.text if isinstance(session.text, str) else ""
    return _HEADS.min_encoded_chars(heads) + len(text) + 6 * len(blocked)  # "[0, 0]"


def _check_size(n_bytes: int, qualifier: str = "") -> None:
    if n_bytes > MAX_FILE_BYTES:
        raise SessionFileError(
            too_large_message(n_bytes, MAX_FILE_BYTES, f"the file would be {qualifier}".rstrip())
            + "; use fewer heads or a smaller d_head"
        )


def _dump(obj, indent: int) -> str:
    out: list[str] = []
    _write(obj, indent, out)
    return "".join(out)  # one copy of the (possibly 60 MB) text, not one per nesting level


def _write(obj, indent: int, out: list[str]) -> None:
    if isinstance(obj, (dict, list)) and obj:
        if isinstance(obj, list) and not any(isinstance(x, (dict, list)) for x in obj):
            out.append(_scalar(obj))  # a matrix row or an index pair: one line
            return
        pad = "  " * (indent + 1)
        items = obj.items() if isinstance(obj, dict) else ((None, v) for v in obj)
        out.append("{\n" if isinstance(obj, dict) else "[\n")
        for n, (key, value) in enumerate(items):
            out.append(pad if n == 0 else ",\n" + pad)
            if key is not None:
                out.append(_scalar(key) + ": ")
            _write(value, indent + 1, out)
        out.append("\n" + "  " * indent + ("}" if isinstance(obj, dict) else "]"))
        return
    out.append(_scalar(obj))


# one encoder for every value: json.dumps with options builds a new one on each call
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def _scalar(obj) -> str:
    if type(obj) is list and all(type(x) is int for x in obj):  # index pairs, shapes: fast
        return "[" + ", ".join(map(str, obj)) + "]"
    return _ENCODE(obj)


def _refuse_constant(name: str):
    raise SessionFileError(f"{name} is not allowed in a session file (numbers must be finite)")


def _refuse_duplicates(pairs: list) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise SessionFileError(f"duplicate key {ascii(key)[:60]}")
        out[key] = value
    return out


def session_from_json(data: bytes | str) -> Session:
    """Parse session file content (bytes are decoded as UTF-8) into a Session.

    Raises
    ------
    SessionFileError
        For anything that is not a valid session; see :func:`session_from_dict`.
    """
    text = decode_utf8(data) if isinstance(data, (bytes, bytearray)) else data
    if not text.strip():
        raise SessionFileError("the file is empty")
    try:
        doc = json.loads(
            text, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates
        )
    except RecursionError:
        raise SessionFileError("not a session file: nesting is too deep") from None
    except json.JSONDecodeError as exc:
        raise SessionFileError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except SessionFileError:
        raise
    except ValueError as exc:
        # Python refuses to convert integers of more than 4300 digits (CVE-2020-10735).
        reason = "a number has too many digits" if "digits" in str(exc) else str(exc)
        raise SessionFileError(f"not valid JSON: {reason}") from None
    return session_from_dict(doc)


def load_session(path: str | os.PathLike, *, max_bytes: int = MAX_FILE_BYTES) -> Session:
    """Read a session file.

    Parameters
    ----------
    path : str or path-like
        The ``*.attn.json`` file.
    max_bytes : int
        Files larger than this are refused before they are read.

    The file is opened without blocking and checked through the open descriptor, so a path
    that is (or has just become) a FIFO, device or folder is refused instead of hanging.

    Returns
    -------
    Session

    Raises
    ------
    SessionFileError
        With one line naming the file and the problem: unreadable, too large, not UTF-8 JSON,
        wrong format, future version, or invalid content.
    """
    try:
        data = read_regular_file(path, max_bytes)
    except OSError as exc:
        raise SessionFileError(f"cannot read: {os_reason(exc)}", path=os.fspath(path)) from None
    except SessionFileError as exc:
        raise exc.with_path(os.fspath(path)) from None
    try:
        text = decode_utf8(data)
        del data  # the file's bytes are not needed while the text is parsed
        return session_from_json(text)
    except SessionFileError as exc:
        raise exc.with_path(os.fspath(path)) from None


def save_session(session: Session, path: str | os.PathLike) -> Path:
    """Write ``session`` to ``path`` atomically.

    The text is written to a temporary file beside the target, flushed and fsync'd, then
    renamed over the target. If anything fails, the old file is left as it was and the
    temporary file is removed. Saving through a symbolic link replaces the linked file.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    SessionFileError
        If the session cannot be stored, or the folder is not writable, the disk is full, ...
    """
    path = Path(path)
    try:
        data = session_to_json(session).encode("utf-8")
    except SessionFileError as exc:
        raise SessionFileError(f"cannot save: {exc.reason}", exc.where, path=str(path)) from None
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise SessionFileError(f"cannot save: {os_reason(exc)}", path=str(path)) from None
    return path
