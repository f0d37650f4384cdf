"""Reading session files safely: bounded reads of regular files only, and UTF-8 text.

:func:`read_regular_file` opens the path first and then asks the open descriptor what it is,
so a path swapped for a FIFO or a device between any earlier check and the read cannot block
or flood the caller: the open is non-blocking, anything but a regular file is refused, and at
most ``max_bytes + 1`` bytes are read.
"""

from __future__ import annotations

import codecs
import math
import os
import stat

from explorer.io.codecs import SessionFileError

_MB = 1024 * 1024


def too_large_message(size: int, limit: int, what: str = "the file is") -> str:
    """``"the file is 75.7 MB, more than the 64 MB a session may have"``.

    The size is rounded up, so a file one byte over 64 MB reads "64.1 MB", never "64.0".
    """
    shown = math.ceil(size * 10 / _MB) / 10
    return f"{what} {shown:.1f} MB, more than the {limit / _MB:g} MB a session may have"


def read_regular_file(path: str | os.PathLike, max_bytes: int) -> bytes:
    """Return the bytes of the regular file at ``path``, refusing anything else.

    Parameters
    ----------
    path : str or path-like
    max_bytes : int
        Files larger than this are refused before they are read, and a file that grows
        while it is read is refused once it passes the bound.

    Raises
    ------
    SessionFileError
        ``"not a regular file"`` (a folder, FIFO, device or socket) or too large.
    OSError
        When the file cannot be opened or read.
    """
    # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (on a
    # regular file it changes nothing). O_NOCTTY: a terminal never becomes ours.
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_BINARY"):
        flags |= getattr(os, name, 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)  # what we opened, whatever the path names by now
        if not stat.S_ISREG(info.st_mode):
            raise SessionFileError("not a regular file")
        if info.st_size > max_bytes:
            raise SessionFileError(too_large_message(info.st_size, max_bytes))
        with open(fd, "rb", buffering=0, closefd=False) as f:
            data = f.read(min(info.st_size, max_bytes) + 1)
            while len(data) <= max_bytes:  # a short read, or the file grew meanwhile
                more = f.read(max_bytes + 1 - len(data))
                if not more:
                    break
                data += more
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise SessionFileError(too_large_message(len(data), max_bytes))
    return data


def wide_encoding(data: bytes) -> str | None:
    """``"UTF-32"`` or ``"UTF-16"`` when ``data`` starts like text in that encoding, else None.

    A byte-order mark decides; without one, the NUL bytes of the first character do (a
    session starts with ``{`` or white space, ASCII characters: ``{ 0 0 0`` or ``0 0 0 {``
    is UTF-32, ``{ 0`` or ``0 {`` UTF-16). UTF-8 JSON never holds a NUL byte.
    """
    if data[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):  # before UTF-16: FF FE 00 00
        return "UTF-32"
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "UTF-16"
    if len(data) < 4:
        return None
    a, b, c, d = data[:4]
    if (a and not (b or c or d)) or (d and not (a or b or c)):
        return "UTF-32"
    if (b == 0 and d == 0) or (a == 0 and c == 0):
        return "UTF-16"
    return None


def decode_utf8(data: bytes | bytearray) -> str:
    """Decode session file bytes as UTF-8 (a UTF-8 byte-order mark is dropped).

    Raises
    ------
    SessionFileError
        For bytes that are not UTF-8, with a hint when they look like UTF-16 or UTF-32.
    """
    if data.startswith(codecs.BOM_UTF8):  # some editors add one; it carries no meaning
        data = data[len(codecs.BOM_UTF8) :]
    wide = wide_encoding(data)
    if wide:
        raise SessionFileError(f"not UTF-8 text: it looks like {wide}; save it as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SessionFileError(f"not UTF-8 text: bad byte at offset {exc.start}") from None
