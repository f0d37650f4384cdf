"""Atomic file writes: a temporary file in the same folder, fsync, then :func:`os.replace`.

A crash, a full disk or a failed rename leaves the old file as it was and no temporary file
behind. A process killed in the middle of a save cannot clean up, so each save first removes
the stale temporary files of earlier saves in its folder (:func:`remove_stale_temporaries`).
Used for session files and for every export.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from pathlib import Path

#: A temporary file this old is left over from a killed save (a save takes seconds).
STALE_SECONDS = 10 * 60
#: Only temporaries of files this program writes: sessions and exports. Another program's
#: ``.report.docx.1a2b3c4d.tmp`` in the same folder is not ours to remove.
OUR_SUFFIXES = (".attn.json", ".json", ".png", ".svg", ".pdf", ".csv", ".npy")
_TEMPORARY = re.compile(  # .NAME.1a2b3c4d.tmp, see atomic_write
    r"\..+(?i:" + "|".join(re.escape(s) for s in OUR_SUFFIXES) + r")\.[0-9a-f]{8}\.tmp"
)


def atomic_write(path: str | os.PathLike, data) -> Path:
    """Write ``data`` to ``path`` atomically and return the resolved target.

    ``data`` is bytes, or a function that writes to the open binary file it is given (for
    files too large to build in memory first); whatever it raises leaves the old file intact.

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
    remove_stale_temporaries(target.parent)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never reuse someone else's file; mode 0o666 lets the umask decide, as for any
    # new file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with open(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
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


def remove_stale_temporaries(folder: str | os.PathLike, older_than: float = STALE_SECONDS):
    """Remove temporary files that killed saves left in ``folder``; return their names.

    Only names of the form ``.NAME.<8 hex digits>.tmp`` (what :func:`atomic_write` creates)
    where NAME ends in a suffix this program writes (:data:`OUR_SUFFIXES`),
    only regular files (never a symbolic link, which is never followed, nor a folder), only
    files owned by this user, and only those last modified more than ``older_than`` seconds
    ago, so a save running in another window is never disturbed. Errors are ignored: cleaning
    up must never make a save fail.
    """
    removed = []
    now = time.time()
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        entries = os.scandir(folder)
    except OSError:
        return removed
    with entries:
        for entry in entries:
            name = entry.name
            if not (name.endswith(".tmp") and _TEMPORARY.fullmatch(name)):
                continue
            try:
                info = entry.stat(follow_symlinks=False)  # lstat: a link is seen as a link
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < older_than:
                continue
            if uid is not None and info.st_uid != uid:
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)  # removes the name itself, never what a link points to
                removed.append(name)
    return removed


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
