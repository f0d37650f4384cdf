"""Session files: exact round trips, the kept v1 sample, the bad-file corpus, atomic saves."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from session_strategies import assert_identical

from explorer.core import session as S
from explorer.core.long_attention import is_lazy
from explorer.io import codecs as C
from explorer.io import schema, session_file
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
ROOT = Path(__file__).resolve().parents[2]
BAD_EXPECTED = json.loads((DATA / "bad_expected.json").read_text())


def _rich_session(seed: int = 0) -> S.Session:
    rng = np.random.default_rng(seed)
    heads = tuple(
        S.Head(
            rng.standard_normal((6, 3)), rng.standard_normal((6, 3)), rng.standard_normal((6, 4))
        )
        for _ in range(3)
    )
    return S.Session(
        text="Zwei Sätze. The bank of the river.",
        embedding="random",
        d_model=6,
        embedding_seed=11,
        heads=heads,
        temperature=0.3,
        causal=True,
        blocked=((1, 0), (4, 2)),
        selected_head=2,
        selected_query=3,
    )


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("session", [S.Session(), _rich_session()], ids=["default", "rich"])
def test_save_and_load_give_the_identical_session(tmp_path, session):
    path = save_session(session, tmp_path / "s.attn.json")
    assert_identical(session, load_session(path))
    assert_identical(session, session_from_json(session_to_json(session)))
    assert_identical(session, session_from_dict(session_to_dict(session)))


def test_weights_round_trip_bit_for_bit_over_random_bit_patterns():
    # Random 64-bit patterns cover every exponent, subnormals and both zeros.
    bits = np.random.default_rng(3).integers(0, 2**64, size=4000, dtype=np.uint64)
    x = bits.view(np.float64)
    x = np.where(np.isfinite(x), x, 0.5).reshape(8, 500)
    x[0, :4] = [0.0, -0.0, 5e-324, np.finfo(np.float64).max]
    session = S.Session(heads=(S.Head(x, x[:, ::-1], x[:, :7]),))
    back = session_from_json(session_to_json(session))
    assert np.array_equal(back.heads[0].w_q.view(np.uint64), x.view(np.uint64))
    assert np.array_equal(back.heads[0].w_k.view(np.uint64), x[:, ::-1].view(np.uint64))


def test_attention_after_reload_matches_to_the_last_bit(tmp_path):
    session = _rich_session(1)
    back = load_session(save_session(session, tmp_path / "a.attn.json"))
    x = np.random.default_rng(9).standard_normal((7, session.d_model))  # (T, d_model)

    def run(s):
        q = np.stack([x @ h.w_q for h in s.heads])  # (n_head, T, d_head)
        k = np.stack([x @ h.w_k for h in s.heads])
        v = np.stack([x @ h.w_v for h in s.heads])  # (n_head, T, d_v)
        mask = np.ones((7, 7), dtype=bool)
        for i, j in s.blocked:
            mask[i, j] = False
        if s.causal:
            mask &= np.tril(np.ones((7, 7), dtype=bool))
        scale = 1.0 / (np.sqrt(s.d_head) * s.temperature)
        scores = np.where(mask, q @ k.transpose(0, 2, 1) * scale, -np.inf)  # (n_head, T, T)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        return weights, weights @ v  # (n_head, T, T), (n_head, T, d_v)

    for a, b in zip(run(session), run(back), strict=True):
        assert np.array_equal(a.view(np.uint64), b.view(np.uint64))


def _compute_or_skip():
    pipeline = pytest.importorskip("explorer.core.pipeline")
    return pipeline.compute


def _assert_same_results(a, b):
    for f in dataclasses.fields(a):
        if f.name == "timings":
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if is_lazy(x):  # a long text: its overviews and a few exact rows, bit for bit
            for m, n in zip(x if x.ndim == 3 else [x], y if y.ndim == 3 else [y], strict=True):
                assert m.overview()[0].tobytes() == n.overview()[0].tobytes(), f.name
                for i in (0, m.shape[0] // 2, m.shape[0] - 1):
                    assert m[i].tobytes() == n[i].tobytes(), f"{f.name} row {i} differs"
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            assert x.tobytes() == y.tobytes(), f"{f.name} differs after reload"
        else:
            assert x == y, f.name


@pytest.mark.parametrize(
    "path",
    [DATA / "session_v1.attn.json", *sorted((ROOT / "resources" / "examples").glob("*.attn.json"))],
    ids=lambda p: p.name,
)
def test_pipeline_results_after_reload_match_to_the_last_bit(tmp_path, path):
    compute = _compute_or_skip()
    session = load_session(path)
    again = load_session(save_session(session, tmp_path / "again.attn.json"))
    huge = [
        h for h, head in enumerate(session.heads)
        if max(np.abs(head.matrix(w)).max() for w in "qkv") > S.MAX_ABS_WEIGHT
    ]  # fmt: skip
    if huge:  # the v1 sample keeps 1e300 weights to test storage: compute refuses them
        for s in (session, again):
            with pytest.raises(ValueError, match=f"of head {huge[0]} holds a weight"):
                compute(s)
        keep = [h for h in range(session.n_head) if h not in huge]
        session, again = (
            dataclasses.replace(s, heads=tuple(s.heads[h] for h in keep), selected_head=0)
            for s in (session, again)
        )
    first, second = compute(session), compute(again)
    w = first.weights
    sample = w[0, len(first.tokens) // 2] if is_lazy(w) else w
    assert len(first.tokens) > 3 and np.ptp(sample) > 0  # a real, non-trivial result
    _assert_same_results(first, second)


def test_written_text_is_readable_and_deterministic():
    text = session_to_json(S.Session())
    assert text == session_to_json(S.Session())
    header = f'{{\n  "format": "attention-explorer-session",\n  "version": {session_file.VERSION},'
    assert text.startswith(header)
    assert "        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],\n" in text  # one row per line


# --- every field is stored ------------------------------------------------------------------


def test_every_field_has_a_codec():
    assert schema.unsupported_fields() == []
    for cls in schema.REQUIRED_V1:
        names = {f.name for f in dataclasses.fields(cls)}
        assert set(schema.REQUIRED_V1[cls]) <= names, f"REQUIRED_V1 names a missing {cls} field"


def _variant(codec: C.Codec, default):
    """A valid value for ``codec`` that differs from ``default``."""
    if isinstance(codec, C.OptionalCodec):
        return _variant(codec.inner, None) if default is None else None
    if isinstance(codec, C.BoolCodec):
        return not default
    if isinstance(codec, C.IntCodec):
        start = codec.lo if default is None else default
        return start + 1 if start + 1 <= codec.hi else start - 1
    if isinstance(codec, C.FloatCodec):
        base = 1.0 if default is None else default
        options = [base * 0.5, base * 2, base + 0.25, codec.lo, codec.hi]
        return next(x for x in options if x != base and codec.lo <= x <= codec.hi)
    if isinstance(codec, C.HexCodec):
        return "ab" * (codec.length // 2)
    if isinstance(codec, C.StrCodec):
        if codec.choices:
            return next(c for c in codec.choices if c != default)
        return (default or "") + "ü x"
    if isinstance(codec, C.TupleCodec):
        n = codec.length or 1
        return tuple(_variant(codec.inner, None) for _ in range(n))
    if isinstance(codec, C.DataclassCodec):
        if default is not None:  # change the first field
            first = codec.fields[0].name
            value = _variant(codec.codecs[first], getattr(default, first))
            return dataclasses.replace(default, **{first: value})
        kwargs = {}
        for f in codec.fields:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                kwargs[f.name] = _variant(codec.codecs[f.name], None)
        return codec.cls(**kwargs)
    raise TypeError(f"no variant for {codec!r}")


def _field_paths():
    """("view", "colormap")-style paths of every stored field, nested dataclasses included."""
    paths = []
    for name, codec in schema.SESSION.codecs.items():
        inner = codec.inner if isinstance(codec, C.OptionalCodec) else codec
        if isinstance(inner, C.DataclassCodec):
            paths += [(name, sub) for sub in inner.codecs]
        paths.append((name,))
    return paths


def _session_with_changed(path: tuple[str, ...]) -> S.Session:
    base = S.Session()
    rng = np.random.default_rng(len(path[-1]))
    special = {
        "heads": lambda: {
            "heads": tuple(S.Head(*(rng.standard_normal((8, 3)) for _ in "qkv")) for _ in "ab")
        },
        "d_model": lambda: {"d_model": 5, "heads": S.identity_heads(1, 5, 5)},
        "selected_head": lambda: {"selected_head": 1, "heads": S.identity_heads(2, 8, 8)},
    }
    name = path[0]
    codec = schema.SESSION.codecs[name]
    if len(path) == 1:
        changes = (
            special[name]() if name in special else {name: _variant(codec, getattr(base, name))}
        )
        return base.evolve(**changes)
    inner = codec.inner if isinstance(codec, C.OptionalCodec) else codec
    parent = getattr(base, name) or _variant(inner, None)
    sub = path[1]
    value = _variant(inner.codecs[sub], getattr(parent, sub))
    return base.evolve(**{name: dataclasses.replace(parent, **{sub: value})})


@pytest.mark.parametrize("path", _field_paths(), ids=".".join)
def test_every_field_round_trips_when_changed(path):
    # Adding a Session field the schema cannot store, or forgetting one, fails here.
    session = _session_with_changed(path)
    default = S.Session()
    obj, ref = session, default
    for name in path:
        obj, ref = getattr(obj, name), getattr(ref, name, None)
    assert obj != ref, f"the variant of {path} equals the default"
    doc = session_to_dict(session)
    node = doc
    for name in path:
        assert name in node, f"{'.'.join(path)} is not written"
        node = node[name]
    assert_identical(session, session_from_json(session_to_json(session)))


def test_session_dict_has_exactly_the_session_fields():
    doc = session_to_dict(S.Session())
    fields = [f.name for f in dataclasses.fields(S.Session)]
    assert list(doc) == ["format", "version", *fields]
    assert list(doc["view"]) == [f.name for f in dataclasses.fields(S.ViewOptions)]


# --- the kept version-1 sample --------------------------------------------------------------


def test_kept_v1_sample_still_loads():
    s = load_session(DATA / "session_v1.attn.json")
    assert s.text == "The naïve café sat by the river bank — then the bank closed."
    assert (s.embedding, s.d_model, s.embedding_seed) == ("random", 3, 42)
    assert (s.positional, s.positional_mode) == ("sinusoidal", "add")
    assert (s.n_head, s.d_head, s.heads[0].w_v.shape) == (2, 2, (3, 3))
    w = s.heads[1].w_q
    assert np.signbit(w[0, 0]) and w[0, 0] == 0.0  # -0.0 kept
    assert w[1, 1] == 5e-324 and w[2, 0] == 1e300 and w[2, 1].hex() == (0.1).hex()
    assert s.heads[0].w_q[0, 0] == 0.636291453381091
    assert (s.preset, s.preset_seed, s.preset_scale, s.temperature) == ("orthogonal", 7, 0.5, 0.7)
    assert s.causal is True and s.blocked == ((2, 0), (3, 1))
    assert (s.selected_head, s.selected_query) == (1, 2)
    assert s.model == S.ModelRef("all-MiniLM-L6-v2", s.model.sha256, 2, 5)
    assert s.view.colormap == "magma" and s.view.show_values is False and s.view.show_special
    assert_identical(s, session_from_json(session_to_json(s)))


def test_migrations_run_in_order_and_future_versions_are_refused(monkeypatch):
    # Pretend the format is at version 3: version 1 stored the temperature as "tau" and
    # version 2 stored the text under "sentence".
    def v1_to_v2(doc):
        doc["temperature"] = doc.pop("tau")
        return doc

    def v2_to_v3(doc):
        doc["text"] = doc.pop("sentence")
        return doc

    monkeypatch.setattr(session_file, "VERSION", 3)
    monkeypatch.setattr(session_file, "_MIGRATIONS", {1: v1_to_v2, 2: v2_to_v3})
    doc = session_to_dict(S.Session(temperature=2.5, text="old"))
    doc["tau"] = doc.pop("temperature")
    doc["sentence"] = doc.pop("text")
    doc["version"] = 1
    s = session_from_dict(doc)
    assert (s.temperature, s.text) == (2.5, "old")
    with pytest.raises(SessionFileError, match="newer"):
        session_from_dict({**doc, "version": 4})


def test_missing_keys_of_fields_added_later_take_defaults():
    @dataclasses.dataclass(frozen=True)
    class Later:
        old: int = 1
        new: float = 0.5  # a field added after version 1

    codec = C.DataclassCodec(Later, required=("old",))
    assert codec.decode({"old": 3}, "x") == Later(3, 0.5)
    with pytest.raises(SessionFileError, match="x: missing key 'old'"):
        codec.decode({"new": 1.0}, "x")


# --- tolerant where it is harmless -----------------------------------------------------------


def test_utf8_bom_and_integers_for_floats_are_accepted():
    doc = session_to_dict(S.Session())
    doc["temperature"] = 2
    doc["heads"][0]["w_q"][0][0] = 3
    s = session_from_json(b"\xef\xbb\xbf" + json.dumps(doc).encode())
    assert type(s.temperature) is float and s.temperature == 2.0
    assert s.heads[0].w_q.dtype == np.float64 and s.heads[0].w_q[0, 0] == 3.0


def test_input_width_rule_matches_the_core():
    positional = pytest.importorskip("explorer.core.positional")
    for mode in S.POSITIONAL_MODES:
        for enc in S.POSITIONAL_ENCODINGS:
            expected = positional.input_width(7, enc, mode)
            assert schema.input_width(7, enc, mode) == expected
            session = S.Session(d_model=7, positional=enc, positional_mode=mode)
            assert getattr(session, "d_in", expected) == expected


# --- bad files ------------------------------------------------------------------------------


def test_bad_corpus_manifest_matches_the_folder():
    assert sorted(p.name for p in (DATA / "bad").iterdir()) == sorted(BAD_EXPECTED)
    assert len(BAD_EXPECTED) >= 40


@pytest.mark.parametrize("name", sorted(BAD_EXPECTED))
def test_bad_file_is_refused_with_one_clear_line(name):
    path = DATA / "bad" / name
    with pytest.raises(SessionFileError) as info:
        load_session(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
    assert message.startswith(str(path) + ": ")
    assert BAD_EXPECTED[name] in message
    assert isinstance(info.value, ValueError)


def test_fifty_megabytes_of_binary_are_refused_quickly(tmp_path):
    path = tmp_path / "video.attn.json"
    path.write_bytes(np.random.default_rng(0).bytes(50 * 2**20))
    t0 = time.perf_counter()
    with pytest.raises(SessionFileError, match="not UTF-8"):
        load_session(path)
    assert time.perf_counter() - t0 < 2.0


def test_fifty_megabyte_json_with_a_wrong_shape_is_refused(tmp_path):
    # 50 MB of numbers: under the size limit, so it is parsed and then refused by shape.
    row = "[" + ", ".join(["0.123456789012345"] * 8) + "]"
    n_rows = 50 * 2**20 // (len(row) + 2)
    doc = session_to_json(S.Session()).replace(
        '"w_q": [', '"w_q": [' + ",\n".join([row] * (n_rows - 8)) + ",", 1
    )
    path = tmp_path / "big.attn.json"
    path.write_text(doc)
    assert path.stat().st_size > 50 * 10**6
    t0 = time.perf_counter()
    with pytest.raises(SessionFileError, match=r"heads\[0\].w_q: matrix has more than"):
        load_session(path)
    assert time.perf_counter() - t0 < 20.0


def test_files_over_the_limit_are_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "huge.attn.json"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    monkeypatch.setattr(session_file, "session_from_json", pytest.fail)
    with pytest.raises(SessionFileError, match=r"the file is 64\.1 MB, more than the 64 MB"):
        load_session(path)
    small = tmp_path / "s.attn.json"
    save_session(S.Session(), small)
    with pytest.raises(SessionFileError, match="more than the"):
        load_session(small, max_bytes=100)


def test_missing_files_folders_and_devices_are_refused(tmp_path):
    with pytest.raises(SessionFileError, match="cannot read: No such file"):
        load_session(tmp_path / "nope.attn.json")
    with pytest.raises(SessionFileError, match="not a regular file"):
        load_session(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(SessionFileError, match="not a regular file"):
            load_session("/dev/zero")


# --- atomic saves ---------------------------------------------------------------------------


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_save_replaces_atomically_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "s.attn.json"
    save_session(S.Session(), path)
    save_session(_rich_session(), path)
    assert _only(tmp_path) == ["s.attn.json"]
    assert_identical(load_session(path), _rich_session())


def test_failed_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "s.attn.json"
    save_session(S.Session(), path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SessionFileError, match="cannot save: No space left on device"):
        save_session(_rich_session(), path)
    assert path.read_bytes() == before
    assert _only(tmp_path) == ["s.attn.json"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "s.attn.json"
    save_session(S.Session(), path)
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(SessionFileError, match=r"s\.attn\.json: cannot save: Input/output"):
        save_session(_rich_session(), path)
    assert path.read_bytes() == before
    assert _only(tmp_path) == ["s.attn.json"]


def test_temporary_file_that_cannot_be_created_is_reported(tmp_path, monkeypatch):
    # What an unwritable folder does, also when the tests run as root (which ignores modes).
    path = tmp_path / "s.attn.json"
    save_session(S.Session(), path)
    before = path.read_bytes()
    real_open = os.open

    def denied(name, *args, **kwargs):
        if str(name).endswith(".tmp"):
            raise PermissionError(13, "Permission denied")
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(SessionFileError, match="cannot save: Permission denied"):
        save_session(_rich_session(), path)
    assert path.read_bytes() == before
    assert _only(tmp_path) == ["s.attn.json"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_saving_over_something_that_is_not_a_file_is_refused(tmp_path):
    # a pipe stands in for a device such as /dev/full: as root, renaming over it would work
    # and replace the node itself
    pipe = tmp_path / "pipe.attn.json"
    os.mkfifo(pipe)
    with pytest.raises(SessionFileError, match="cannot save: it is not a regular file"):
        save_session(S.Session(), pipe)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert _only(tmp_path) == ["pipe.attn.json"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions")
def test_unwritable_folder_is_reported_and_old_file_kept(tmp_path):
    path = tmp_path / "s.attn.json"
    save_session(S.Session(), path)
    before = path.read_bytes()
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(SessionFileError, match="cannot save: Permission denied"):
            save_session(_rich_session(), path)
    finally:
        tmp_path.chmod(0o755)
    assert path.read_bytes() == before


def test_unstorable_session_is_refused_before_touching_the_file(tmp_path):
    path = tmp_path / "s.attn.json"
    save_session(S.Session(), path)
    before = path.read_bytes()
    w = np.eye(8)
    w[2, 3] = np.nan
    with pytest.raises(SessionFileError, match=r"cannot save: matrix holds NaN"):
        save_session(S.Session(heads=(S.Head(w, w, w),)), path)
    with pytest.raises(SessionFileError, match=r"temperature: .* out of range"):
        save_session(S.Session(temperature=100.0), path)
    assert path.read_bytes() == before
    assert _only(tmp_path) == ["s.attn.json"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes and symlinks")
def test_save_keeps_permissions_and_writes_through_symlinks(tmp_path):
    real = tmp_path / "real.attn.json"
    save_session(S.Session(), real)
    real.chmod(0o640)
    link = tmp_path / "link.attn.json"
    link.symlink_to(real)
    save_session(_rich_session(), link)
    assert link.is_symlink()
    assert (real.stat().st_mode & 0o777) == 0o640
    assert_identical(load_session(real), _rich_session())


# --- documentation and shipped examples -----------------------------------------------------


def test_format_document_describes_every_field():
    doc = (ROOT / "docs" / "session-format.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z0-9_.\[\]]+)`", doc, flags=re.MULTILINE))
    for path in _field_paths():
        assert ".".join(path) in documented, f"docs/session-format.md lacks `{'.'.join(path)}`"
    example = re.search(r"```json\n(.*?)```", doc, flags=re.DOTALL).group(1)
    session_from_json(example)  # the documented example is a valid session


def _load_examples_script():
    spec = importlib.util.spec_from_file_location(
        "make_examples", ROOT / "scripts/make_examples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_examples_are_up_to_date_and_load():
    examples = _load_examples_script().build_examples()
    folder = ROOT / "resources" / "examples"
    assert sorted(p.name for p in folder.glob("*.attn.json")) == sorted(examples)
    assert len(examples) >= 3
    for name, session in examples.items():
        path = folder / name
        assert path.read_text(encoding="utf-8") == session_to_json(session), f"rerun for {name}"
        assert_identical(load_session(path), session)
    assert any(s.causal for s in examples.values())
    assert any(s.text.count("bank") >= 2 for s in examples.values())
