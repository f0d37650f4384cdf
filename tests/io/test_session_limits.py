"""Session files at their limits: compact matrices, the largest sessions, long texts, FIFOs.

What Save writes, Open reads: large matrices are stored as base64 float64 (bit for bit), a
save that Open would refuse (too large, text too long) is refused before anything is written,
and Open never hangs on a path that is or becomes a FIFO.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from session_strategies import assert_identical

from explorer.core import session as S
from explorer.io import atomic, schema, session_file
from explorer.io.matrices import READABLE_MAX_NUMBERS, MatrixCodec
from explorer.io.reading import wide_encoding
from explorer.io.session_file import (
    MAX_FILE_BYTES,
    SessionFileError,
    load_session,
    save_session,
    session_from_dict,
    session_from_json,
    session_to_dict,
    session_to_json,
)

DATA = Path(__file__).parent / "data"


def _model_session(d_model: int, n_head: int, d_head: int, *, concat: bool, seed: int = 0):
    """A session on a model's layer input (``d_model`` = hidden size + 1 bias column).

    Weights are random float64 (what the orthogonal preset or slider edits give), which do
    not compress: the worst case for the file size.
    """
    rng = np.random.default_rng(seed)
    d_in = 2 * d_model if concat else d_model
    heads = tuple(
        S.Head(*(rng.standard_normal((d_in, d_head)) for _ in "qkv")) for _ in range(n_head)
    )
    return S.Session(
        embedding="model",
        d_model=d_model,
        positional="learned" if concat else "none",
        positional_mode="concat" if concat else "add",
        heads=heads,
        preset="model",
        model=S.ModelRef("bert-large-uncased", "", 23, 15),
    )


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- the compact matrix form -----------------------------------------------------------------


def test_large_matrices_are_base64_of_little_endian_float64_bit_for_bit():
    bits = np.random.default_rng(4).integers(0, 2**64, size=3 * 97 * 101, dtype=np.uint64)
    x = bits.view(np.float64).reshape(3, 97, 101)
    x = np.where(np.isfinite(x), x, 0.25)
    x[0, 0, :4] = [-0.0, 5e-324, np.finfo(np.float64).max, 0.1]
    session = S.Session(embedding="model", d_model=97, heads=(S.Head(*x),), model=S.ModelRef("m"))
    doc = json.loads(session_to_json(session))
    stored = doc["heads"][0]["w_q"]
    assert stored["dtype"] == "<f8" and stored["shape"] == [97, 101]
    raw = base64.b64decode(stored["data"], validate=True)  # decoded here without our code
    assert len(raw) == 8 * 97 * 101
    assert raw[:16] == struct.pack("<dd", -0.0, 5e-324)  # little-endian, row-major
    assert np.array_equal(np.frombuffer(raw, "<f8").view("<u8"), x[0].ravel().view(np.uint64))
    back = session_from_json(session_to_json(session))
    assert_identical(session, back)
    assert back.heads[0].w_q.flags.c_contiguous


def test_matrices_up_to_the_threshold_stay_readable_rows():
    # 2 · 64 × 64 = 8192 numbers is the largest a session on the built-in sources has
    assert READABLE_MAX_NUMBERS == 2 * S.D_MODEL_RANGE[1] * 64
    rng = np.random.default_rng(1)
    readable = S.Session(
        d_model=64,
        positional="sinusoidal",
        positional_mode="concat",
        heads=tuple(S.Head(*(rng.standard_normal((128, 64)) for _ in "qkv")) for _ in range(2)),
    )
    doc = json.loads(session_to_json(readable))
    assert all(type(doc["heads"][h][k]) is list for h in (0, 1) for k in ("w_q", "w_k", "w_v"))
    assert doc["heads"][1]["w_v"][5][7] == readable.heads[1].w_v[5, 7]
    just_over = S.Session(
        embedding="model",
        d_model=4096,
        heads=(S.Head(*(np.ones((4096, 2)) + 0.5 for _ in "qk"), np.ones((4096, 3))),),
        model=S.ModelRef("m"),
    )
    doc = json.loads(session_to_json(just_over))
    assert type(doc["heads"][0]["w_q"]) is list  # 8192 numbers: readable
    assert doc["heads"][0]["w_v"]["shape"] == [4096, 3]  # 12288 numbers: compact


def test_readers_accept_either_form_at_any_size():
    w = np.arange(6.0).reshape(3, 2) / 7
    doc = session_to_dict(S.Session(d_model=3, heads=(S.Head(w, w, w),)))
    doc["heads"][0]["w_k"] = {
        "dtype": "<f8",
        "shape": [3, 2],
        "data": base64.b64encode(w.astype("<f8").tobytes()).decode("ascii"),
    }  # hand-written, small
    back = session_from_dict(doc)
    assert np.array_equal(back.heads[0].w_k.view(np.uint64), w.view(np.uint64))
    big = np.random.default_rng(2).standard_normal((129, 64))
    doc = session_to_dict(
        S.Session(
            embedding="model", d_model=129, heads=(S.Head(big, big, big),), model=S.ModelRef("m")
        )
    )
    doc["heads"][0]["w_q"] = big.tolist()  # hand-written rows over the threshold
    assert np.array_equal(session_from_dict(doc).heads[0].w_q, big)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 9).flatmap(
        lambda r: st.integers(1, 9).flatmap(
            lambda c: hnp.arrays(
                np.float64, (r, c), elements=st.floats(allow_nan=False, allow_infinity=False)
            )
        )
    )
)
def test_compact_form_round_trips_any_finite_matrix(x):
    codec = MatrixCodec(readable_max=0)  # everything compact
    data = json.loads(json.dumps(codec.encode(x, "m")))
    assert set(data) == {"dtype", "shape", "data"}
    back = codec.decode(data, "m")
    assert back.dtype == np.float64 and back.shape == x.shape and not back.flags.writeable
    assert np.array_equal(back.view(np.uint64), x.view(np.uint64))


V2_SAMPLE = json.loads((DATA / "session_v2.attn.json").read_text(encoding="utf-8"))


@st.composite
def broken_compact_matrices(draw):
    """The v2 sample's compact w_v (97 × 85) with its dtype, shape or data changed."""
    m = dict(V2_SAMPLE["heads"][0]["w_v"])
    part = draw(st.sampled_from(["dtype", "shape", "data", "keys"]))
    if part == "dtype":
        m["dtype"] = draw(st.sampled_from(["<f4", ">f8", "float64", "", 8]) | st.text(max_size=4))
    elif part == "shape":
        m["shape"] = draw(
            st.lists(st.integers(-2, 10**6) | st.floats() | st.booleans(), max_size=3)
            | st.sampled_from([[85, 97], [97, 84], [97, 86], [8193, 1], [97.0, 85], None])
        )
    elif part == "data":
        data = m["data"]
        i = draw(st.integers(0, len(data) - 1))
        m["data"] = draw(
            st.sampled_from(
                [
                    data[:i],
                    data[:i] + data[i + 1 :] + "=",
                    data[:i] + draw(st.characters()) + data[i + 1 :],
                    data[:i] + "\n" + data[i + 1 :],
                    data.replace("A", "-"),
                ]
            )
        )
    else:
        key = draw(st.sampled_from(["dtype", "shape", "data"]))
        if draw(st.booleans()):
            del m[key]
        else:
            m[draw(st.text(min_size=1, max_size=6))] = m[key]
    return m


@settings(max_examples=120, deadline=None)
@given(broken_compact_matrices())
def test_broken_compact_matrices_are_loaded_or_refused_with_one_line(matrix):
    doc = json.loads(json.dumps(V2_SAMPLE))
    doc["heads"][0]["w_v"] = matrix
    try:
        session = session_from_json(json.dumps(doc))
    except SessionFileError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    # a changed base64 character can still spell finite numbers: then it loads like any file
    assert_identical(session, session_from_json(session_to_json(session)))


# --- versions -----------------------------------------------------------------------------


def test_kept_v2_sample_still_loads():
    # written by format version 2: rows for w_q, w_k (97 × 2) and base64 for w_v (97 × 85)
    raw = json.loads((DATA / "session_v2.attn.json").read_text(encoding="utf-8"))
    assert raw["version"] == 2 and raw["heads"][0]["w_v"]["shape"] == [97, 85]
    s = load_session(DATA / "session_v2.attn.json")
    rng = np.random.default_rng(2)
    w_q, w_k, w_v = (rng.standard_normal(shape) for shape in ((97, 2), (97, 2), (97, 85)))
    w_v[0, :4] = [-0.0, 5e-324, 1e300, np.float32(0.1)]
    for got, want in zip(
        (s.heads[0].w_q, s.heads[0].w_k, s.heads[0].w_v), (w_q, w_k, w_v), strict=True
    ):
        assert np.array_equal(got.view(np.uint64), want.view(np.uint64))
    assert np.signbit(s.heads[0].w_v[0, 0])
    assert s.text.endswith("„quoted“ and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢.")
    assert (s.embedding, s.d_model, s.positional, s.preset) == ("model", 96, "learned", "model")
    assert (s.temperature, s.sentence_mask, s.blocked, s.selected_query) == (
        1.5,
        True,
        ((0, 1),),
        4,
    )
    assert s.model == S.ModelRef("all-MiniLM-L6-v2", "ab" * 32, 3, 7)
    assert s.model_edits == (S.HeadScale(2, 5, 0.0), S.HeadScale(4, 1, 1.5))
    assert (s.view.colormap, s.view.show_special) == ("cividis", True)
    assert_identical(s, session_from_json(session_to_json(s)))


def test_version_1_files_migrate_and_are_written_as_the_current_version(tmp_path):
    v1 = load_session(DATA / "session_v1.attn.json")
    path = save_session(v1, tmp_path / "again.attn.json")
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == session_file.VERSION == 3
    assert_identical(v1, load_session(path))


# --- the largest sessions -------------------------------------------------------------------


def test_the_reported_session_now_saves_and_opens(tmp_path):
    # a copied 768-wide head (769 with the bias row), learned positions concatenated,
    # 12 heads × 64: 75.7 MB as rows of numbers, refused by Open
    session = _model_session(769, S.MAX_HEADS, 64, concat=True)
    path = save_session(session, tmp_path / "big.attn.json")
    assert path.stat().st_size < 40 * 10**6  # 12 · 3 · 1538 · 64 · 8 bytes · 4/3 = 37.8e6
    assert_identical(session, load_session(path))


def test_largest_session_the_window_makes_saves_opens_and_fits(tmp_path):
    # The window's maxima: 12 heads (headCount), d_head 64 (dHeadSpin; every BERT model's
    # head width), the widest BERT head copied in (bert-large, 1024 + 1 bias row), learned
    # positions concatenated (d_in = 2050), a text of MAX_TEXT_CHARS characters of the kind
    # that takes most bytes in JSON (control characters, written as \u0001), and every
    # query→key pair of the longest token sequence (512) cut.
    session = _model_session(1025, S.MAX_HEADS, 64, concat=True).evolve(
        text="\x01" * S.MAX_TEXT_CHARS,
        blocked=tuple((i, j) for i in range(512) for j in range(512)),
    )
    path = save_session(session, tmp_path / "largest.attn.json")
    size = path.stat().st_size
    assert 50 * 10**6 < size < MAX_FILE_BYTES, size
    assert_identical(session, load_session(path))


def test_too_large_a_session_is_refused_before_it_is_encoded(tmp_path, monkeypatch):
    path = tmp_path / "s.attn.json"
    save_session(S.Session(), path)
    before = path.read_bytes()
    huge = _model_session(2049, S.MAX_HEADS, 64, concat=True)  # 12 heads of 4098 × 64
    monkeypatch.setattr(session_file, "session_to_dict", pytest.fail)  # never built
    with pytest.raises(SessionFileError) as info:
        save_session(huge, path)
    message = str(info.value)
    assert message == (
        f"{path}: cannot save: the file would be at least 96.1 MB, more than the 64 MB a "
        "session may have; use fewer heads or a smaller d_head"
    )
    assert path.read_bytes() == before and _files(tmp_path) == ["s.attn.json"]


def test_save_refuses_when_the_written_text_would_pass_the_limit(tmp_path):
    # the matrices alone fit, but the text's escapes (\u0001: 6 bytes a character) do not
    session = _model_session(1300, S.MAX_HEADS, 64, concat=True).evolve(
        text="\x01" * S.MAX_TEXT_CHARS
    )
    with pytest.raises(SessionFileError, match=r"cannot save: the file would be 6\d\.\d MB, more"):
        save_session(session, tmp_path / "s.attn.json")
    assert _files(tmp_path) == []
    fits = session.evolve(text="a" * S.MAX_TEXT_CHARS)
    assert load_session(save_session(fits, tmp_path / "s.attn.json")).text == fits.text


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
    assert time.perf_counter() - t0 < 60.0  # refused before any session is built


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
        ".report.docx.0a1b2c3d.tmp",  # another program's temporary, not ours
        ".link.attn.json.9abcdef0.tmp",  # a symbolic link: never followed nor removed
        ".dir.attn.json.9abcdef1.tmp",  # a folder
    ]
    for name in stale + kept[:6]:
        (folder / name).write_bytes(b"partial")
    (folder / kept[6]).symlink_to(precious)
    (folder / kept[7]).mkdir()
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


def test_schema_size_floor_is_exact_for_compact_matrices():
    session = _model_session(769, 2, 64, concat=True)
    floor = schema.SESSION.codecs["heads"].min_encoded_chars(session.heads)
    doc = json.loads(session_to_json(session))
    data = sum(len(doc["heads"][h][k]["data"]) for h in range(2) for k in ("w_q", "w_k", "w_v"))
    assert floor == data == 6 * 4 * -(-(1538 * 64 * 8) // 3)
