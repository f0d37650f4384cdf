"""Atomic file writes: a temporary file in the same folder, fsync, then :func:`os.replace`.

A crash, a full disk or a failed rename leaves the old file as it was and no temporary file
behind. Used for session files and for every export.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the resolved target.

    Raises
    ------
    OSError
        When the file cannot be written; the old file (if any) is left intact.
    """
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise IsADirectoryError(21, "it is a folder", str(path))
    if target.exists() and not target.is_file():
        # a device, pipe or socket: renaming over it would replace the node itself
        raise OSError(errno.EINVAL, "it is not a regular file", str(path))
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never reuse someone else's file; mode 0o666 lets the umask decide, as for any
    # new file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # keep the permissions of the file we replace
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(target.parent)
    return target


def os_reason(exc: OSError) -> str:
    """The human part of an OSError ("Permission denied")."""
    return exc.strerror or str(exc) or type(exc).__name__


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
