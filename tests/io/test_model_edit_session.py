"""Model-tab head edits in session files: version 3 stores replaced projections compactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from session_strategies import assert_identical

from explorer.core import session as S
from explorer.io.session_file import (
    VERSION,
    SessionFileError,
    load_session,
    save_session,
    session_from_json,
    session_to_json,
)

DATA = Path(__file__).parent / "data"
SHA = "0123456789abcdef" * 4


def _edited_session() -> S.Session:
    rng = np.random.default_rng(11)
    w_q = rng.standard_normal((384, 32)) * 0.05  # a MiniLM head: compact base64
    w_q[0, 0] = -0.0
    edits = (
        S.HeadScale(0, 3, 1.0, w_q=w_q, sha256=SHA),
        S.HeadScale(2, 5, 0.0),
    )
    return S.Session(text="the river bank", model=S.ModelRef("mini", SHA), model_edits=edits)


def test_a_replace_edit_round_trips_bit_for_bit(tmp_path):
    s = _edited_session()
    path = save_session(s, tmp_path / "edit.attn.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["version"] == VERSION == 3
    first, second = raw["model_edits"]
    # only what changed is written: one compact matrix and the model hash
    assert set(first) == {"layer", "head", "scale", "w_q", "sha256"}
    assert first["w_q"]["shape"] == [384, 32] and first["w_q"]["dtype"] == "<f8"
    assert set(second) == {"layer", "head", "scale"}
    back = load_session(path)
    assert_identical(s, back)
    assert back.model_edits == s.model_edits
    assert np.signbit(back.model_edits[0].w_q[0, 0])
    # 384 × 32 float64 in base64 is 16384 × 8 / 3 · 4 characters; the file is not much more
    assert path.stat().st_size < 384 * 32 * 8 * 4 / 3 + 4000


def test_replaced_projections_need_the_model_hash():
    doc = json.loads(session_to_json(_edited_session()))
    del doc["model_edits"][0]["sha256"]
    with pytest.raises(SessionFileError, match=r"model_edits\[0\].*sha256"):
        session_from_json(json.dumps(doc))


def test_a_version_2_file_with_projections_in_an_edit_is_refused():
    doc = json.loads(session_to_json(_edited_session()))
    doc["version"] = 2
    with pytest.raises(SessionFileError, match=r"model_edits\[0\].*unknown key 'w_q'"):
        session_from_json(json.dumps(doc))


def test_version_2_edits_migrate_unchanged():
    v2 = load_session(DATA / "session_v2.attn.json")
    assert v2.model_edits == (S.HeadScale(2, 5, 0.0), S.HeadScale(4, 1, 1.5))
    assert all(e.w_q is None and e.sha256 == "" for e in v2.model_edits)


def test_kept_v3_sample_loads():
    raw = json.loads((DATA / "session_v3.attn.json").read_text(encoding="utf-8"))
    assert raw["version"] == 3
    s = load_session(DATA / "session_v3.attn.json")
    (edit,) = s.model_edits
    assert (edit.layer, edit.head, edit.scale, edit.sha256) == (1, 2, 0.5, "ab" * 32)
    assert edit.w_k is None and edit.w_v is None
    assert np.array_equal(edit.w_q, np.arange(24.0).reshape(8, 3) / 8)


def test_head_edits_compare_by_value():
    a = S.HeadScale(0, 1, 1.0, w_v=np.eye(4, 2), sha256=SHA)
    assert a == S.HeadScale(0, 1, 1.0, w_v=np.eye(4, 2), sha256=SHA)
    assert a != S.HeadScale(0, 1, 1.0, w_v=2 * np.eye(4, 2), sha256=SHA)
    assert a != S.HeadScale(0, 1, 1.0, w_q=np.eye(4, 2), sha256=SHA)
    assert a != S.HeadScale(0, 1, 1.0)
