"""Session files at their limits: long texts, FIFOs, wide encodings, temporary files.

What Save writes, Open reads: a save that Open would refuse (text too long) is refused before
anything is written, and Open never hangs on a path that is or becomes a FIFO.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from session_strategies import assert_identical

from explorer.core import session as S
from explorer.io import atomic, session_file
from explorer.io.reading import wide_encoding
from explorer.io.session_file import (
    SessionFileError,
    load_session,
    save_session,
    session_from_dict,
    session_from_json,
    session_to_dict,
    session_to_json,
)

DATA = Path(__file__).parent / "data"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- long texts -----------------------------------------------------------------------------


def test_text_of_the_limit_loads_and_one_more_character_is_refused(tmp_path):
    doc = session_to_dict(S.Session())
    doc["text"] = "é" * S.MAX_TEXT_CHARS
    assert len(session_from_dict(doc).text) == S.MAX_TEXT_CHARS
    doc["text"] += "x"
    with pytest.raises(SessionFileError) as info:
        session_from_dict(doc)
    assert str(info.value) == "text: 1,000,001 characters, more than the 1,000,000 allowed"


def test_sixty_megabyte_text_is_refused_before_the_session_is_built(tmp_path, monkeypatch):
    doc = session_to_dict(S.Session())
    doc["text"] = "bank " * 12_000_000
    path = tmp_path / "novel.attn.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert path.stat().st_size > 60 * 10**6
    monkeypatch.setattr(session_file, "migrate", pytest.fail)
    monkeypatch.setattr(session_file, "decode_session", pytest.fail)
    t0 = time.perf_counter()
    with pytest.raises(SessionFileError) as info:
        load_session(path)
    assert str(info.value) == (
        f"{path}: text: 60,000,000 characters, more than the 1,000,000 allowed"
    )
    assert time.perf_counter() - t0 < 10.0


def test_saving_never_writes_a_text_over_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "s.attn.json"
    save_session(S.Session(), path)
    before = path.read_bytes()
    monkeypatch.setattr(session_file, "session_to_dict", pytest.fail)
    with pytest.raises(SessionFileError, match=r"text: cannot save: 1,000,001 characters"):
        save_session(S.Session(text="a" * (S.MAX_TEXT_CHARS + 1)), path)
    assert path.read_bytes() == before and _files(tmp_path) == ["s.attn.json"]


# --- Open never hangs -----------------------------------------------------------------------


def _load_in_thread(path, timeout: float = 10.0):
    """Run load_session in a thread; return its exception, failing if it does not finish."""
    outcome = {}

    def run():
        try:
            outcome["session"] = load_session(path)
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        # release the reader blocked in open() so the thread can end, then fail
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(5)
        pytest.fail(f"load_session did not return within {timeout} s")
    return outcome.get("error")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.attn.json"
    os.mkfifo(fifo)
    error = _load_in_thread(fifo)
    assert isinstance(error, SessionFileError)
    assert str(error) == f"{fifo}: not a regular file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_file_swapped_for_a_fifo_after_a_check_is_refused(tmp_path, monkeypatch):
    # A regular file that becomes a FIFO between any check of the path and the open: every
    # look at the path (os.stat, os.lstat, Path.is_file ...) still sees the regular file.
    regular = tmp_path / "regular.attn.json"
    save_session(S.Session(), regular)
    fifo = tmp_path / "s.attn.json"
    os.mkfifo(fifo)
    real_stat, real_lstat = os.stat, os.lstat

    def stale(fn):
        def look(p, *args, **kwargs):
            return fn(regular if os.fspath(p) == os.fspath(fifo) else p, *args, **kwargs)

        return look

    monkeypatch.setattr(os, "stat", stale(real_stat))
    monkeypatch.setattr(os, "lstat", stale(real_lstat))
    assert fifo.is_file()  # the lie is in place
    error = _load_in_thread(fifo)
    assert isinstance(error, SessionFileError) and "not a regular file" in str(error)


def test_a_file_growing_past_the_limit_while_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "s.attn.json"
    save_session(S.Session(), path)
    size = path.stat().st_size
    real_fstat = os.fstat

    def shrunk(fd):  # the size seen at open time is smaller than what is then read
        info = real_fstat(fd)
        return os.stat_result((*info[:6], 10, *info[7:]))

    monkeypatch.setattr(os, "fstat", shrunk)
    with pytest.raises(SessionFileError, match="more than the"):
        load_session(path, max_bytes=size - 1)
    assert_identical(load_session(path, max_bytes=size), S.Session())


# --- encodings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-32", "UTF-32"),
        ("utf-32-le", "UTF-32"),
        ("utf-32-be", "UTF-32"),
        ("utf-16", "UTF-16"),
        ("utf-16-le", "UTF-16"),
        ("utf-16-be", "UTF-16"),
        ("utf-8", None),
        ("utf-8-sig", None),
    ],
)
def test_wide_encodings_are_named_correctly(encoding, expected):
    data = session_to_json(S.Session()).encode(encoding)
    assert wide_encoding(data.removeprefix(b"\xef\xbb\xbf")) == expected
    if expected:
        with pytest.raises(SessionFileError) as info:
            session_from_json(data)
        other = {"UTF-16": "UTF-32", "UTF-32": "UTF-16"}[expected]
        assert f"looks like {expected}" in str(info.value) and other not in str(info.value)
    else:
        assert_identical(session_from_json(data), S.Session())


# --- temporary files of killed saves --------------------------------------------------------


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


@pytest.mark.skipif(os.name != "posix", reason="POSIX symlinks and owners")
def test_next_save_removes_stale_temporaries_of_killed_saves_only(tmp_path):
    folder = tmp_path / "sessions"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    precious = elsewhere / "precious.txt"
    precious.write_text("keep")
    stale = [".s.attn.json.0a1b2c3d.tmp", ".other.png.ffffffff.tmp"]
    kept = [
        ".s.attn.json.12345678.tmp",  # fresh: a save may be running in another window
        ".s.attn.json.0A1B2C3D.tmp",  # not our pattern (upper case)
        ".s.attn.json.0a1b2c3.tmp",  # not our pattern (7 digits)
        "s.attn.json.0a1b2c3d.tmp",  # not our pattern (no leading dot)
        ".notes.tmp",
        ".link.attn.json.9abcdef0.tmp",  # a symbolic link: never followed nor removed
        ".dir.attn.json.9abcdef1.tmp",  # a folder
    ]
    for name in stale + kept[:5]:
        (folder / name).write_bytes(b"partial")
    (folder / kept[5]).symlink_to(precious)
    (folder / kept[6]).mkdir()
    for name in stale + kept[1:]:
        _age(folder / name, atomic.STALE_SECONDS + 60)
    _age(precious, atomic.STALE_SECONDS + 60)
    old_elsewhere = elsewhere / ".x.attn.json.00000000.tmp"
    old_elsewhere.write_bytes(b"partial")
    _age(old_elsewhere, atomic.STALE_SECONDS + 60)

    save_session(S.Session(), folder / "s.attn.json")
    assert _files(folder) == sorted([*kept, "s.attn.json"])
    assert precious.read_text() == "keep" and old_elsewhere.exists()


def test_cleaning_up_never_makes_a_save_fail(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "scandir", refuse)
    path = save_session(S.Session(), tmp_path / "s.attn.json")
    assert_identical(load_session(path), S.Session())
