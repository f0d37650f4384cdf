"""Sessions in the window: save, open, prompts, autosave and recovery, undo, drop."""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.session import Session
from explorer.io.session_file import load_session, save_session

B = QtWidgets.QMessageBox.StandardButton


def answer(button, seen: list, record=QtWidgets.QMessageBox.objectName):
    """Click ``button`` on the next modal message box, recording ``record(box)``."""

    def click():
        box = QtWidgets.QApplication.activeModalWidget()
        if not isinstance(box, QtWidgets.QMessageBox):
            QtCore.QTimer.singleShot(10, click)
            return
        seen.append(record(box))
        box.button(button).click()

    QtCore.QTimer.singleShot(0, click)


def answer_recovery(button, texts: list):
    """Click ``button`` on the next recovery box, recording its informative text."""
    answer(button, texts, QtWidgets.QMessageBox.informativeText)


def orphan(folder: Path, pid: int, content: str | Session, age_s: float) -> Path:
    """An autosave left by the dead process ``pid``, ``age_s`` seconds old."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"autosave-{pid}.attn.json"
    if isinstance(content, Session):
        save_session(content, path)
    else:
        path.write_text(content)
    stamp = path.stat().st_mtime - age_s
    os.utime(path, (stamp, stamp))
    return path


FUTURE = '{"format": "attention-explorer-session", "version": 99}'


def edit_weight(w, value=150):
    w.findChild(QtWidgets.QSlider, "weightSlider_q_0_1").setValue(value)


def test_save_and_reopen_exactly(make_window, qtbot, tmp_path):
    w = make_window()
    edit_weight(w)
    w.findChild(QtWidgets.QCheckBox, "causalCheck").setChecked(True)
    path = tmp_path / "mine.attn.json"
    assert w.files.save_to(path)
    assert not w.doc.modified and not w.isWindowModified()
    assert "mine.attn.json" in w.windowTitle()
    assert load_session(path) == w.doc.session
    saved = w.doc.session
    shown = np.asarray(w.attentionHeatmap.image_data()).copy()
    w2 = make_window()
    assert w2.files.open_path(path)
    qtbot.waitUntil(lambda: w2._result_session == w2.doc.session, timeout=20_000)
    assert w2.doc.session == saved
    np.testing.assert_array_equal(np.asarray(w2.attentionHeatmap.image_data()), shown)
    assert str(path) in w2.files.recent_files()


def test_ctrl_s_saves_to_bound_file(make_window, qtbot, tmp_path):
    w = make_window()
    path = tmp_path / "s.attn.json"
    w.files.save_to(path)
    edit_weight(w, 42)
    assert w.isWindowModified()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    qtbot.keyClick(w, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert load_session(path).heads[0].w_q[0, 1] == 0.42
    assert not w.doc.modified


def test_save_as_uses_dialog(make_window, qtbot, tmp_path, monkeypatch):
    w = make_window()
    target = tmp_path / "chosen"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert w.files.save_as()
    assert load_session(tmp_path / "chosen.attn.json") == w.doc.session


def test_failed_save_keeps_old_file_and_says_why(make_window, qtbot, tmp_path):
    w = make_window()
    path = tmp_path / "keep.attn.json"
    save_session(Session(text="old"), path)
    before = path.read_bytes()
    folder = tmp_path / "missing-folder" / "x.attn.json"
    assert not w.files.save_to(folder)
    assert w.last_error[0] == "Cannot save session"
    assert path.read_bytes() == before


def test_bad_file_is_refused_and_session_kept(make_window, qtbot, tmp_path):
    w = make_window()
    edit_weight(w)
    before = w.doc.session
    bad = tmp_path / "bad.attn.json"
    bad.write_text('{"format": "attention-explorer-session", "version": 99}')
    w.doc.undo_stack.setClean()
    assert not w.files.open_path(bad)
    assert w.last_error[0] == "Cannot open session"
    assert "version" in w.last_error[1]
    assert w.doc.session == before


def test_unsaved_changes_prompt(make_window, qtbot, tmp_path):
    w = make_window()
    edit_weight(w)
    edited = w.doc.session
    seen = []
    answer(B.Cancel, seen)
    w.files.new()
    assert seen == ["unsavedDialog"]
    assert w.doc.session == edited
    answer(B.Discard, seen)
    w.files.new()
    assert w.doc.session == Session()
    assert not w.doc.modified


def test_close_prompt_save(make_window, qtbot, tmp_path):
    w = make_window()
    path = tmp_path / "c.attn.json"
    w.files.save_to(path)
    edit_weight(w, -77)
    seen = []
    answer(B.Save, seen)
    w.close()
    assert seen == ["unsavedDialog"]
    assert load_session(path).heads[0].w_q[0, 1] == -0.77


def test_autosave_and_recovery_after_crash(make_window, qtbot, tmp_path):
    w = make_window()
    edit_weight(w, 123)
    w.files.autosave()
    auto = w.files.autosave_path
    assert auto.exists() and load_session(auto) == w.doc.session
    # a crash leaves the autosave of a process that no longer exists
    crashed = auto.with_name("autosave-999999999.attn.json")
    auto.rename(crashed)
    lost = w.doc.session
    w.doc.undo_stack.setClean()
    w2 = make_window()
    seen = []
    answer(B.Yes, seen)
    assert w2.files.offer_recovery()
    assert seen == ["recoveryDialog"]
    assert w2.doc.session == lost
    assert w2.doc.modified
    assert not crashed.exists()


def test_clean_close_removes_autosave(make_window, qtbot):
    w = make_window()
    edit_weight(w)
    w.files.autosave()
    assert w.files.autosave_path.exists()
    w.doc.undo_stack.setClean()
    w.close()
    assert not w.files.autosave_path.exists()


def test_undo_redo_restore_exact_sessions(make_window, qtbot):
    w = make_window()
    states = [w.doc.session]
    edit_weight(w, 10)
    w.doc.end_merge()
    states.append(w.doc.session)
    w.findChild(QtWidgets.QCheckBox, "causalCheck").setChecked(True)
    states.append(w.doc.session)
    w.findChild(QtWidgets.QSpinBox, "headCount").setValue(2)
    states.append(w.doc.session)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    for expected in reversed(states[:-1]):
        qtbot.keyClick(w, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
        assert w.doc.session == expected
    for expected in states[1:]:
        w.doc.undo_stack.redo()
        assert w.doc.session == expected
    assert w.findChild(QtWidgets.QSpinBox, "headCount").value() == 2


def test_drop_opens_session(make_window, qtbot, tmp_path):
    w = make_window()
    path = tmp_path / "dropped.attn.json"
    save_session(replace(Session(), text="river bank"), path)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    event = QtGui.QDropEvent(
        QtCore.QPointF(10, 10),
        QtCore.Qt.DropAction.CopyAction,
        mime,
        QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    w.dropEvent(event)
    assert w.doc.session.text == "river bank"
    assert w.doc.path == Path(path)


def test_cli_refuses_bad_file_with_one_line(tmp_path):
    bad = tmp_path / "bad.attn.json"
    bad.write_text("not json")
    out = subprocess.run(
        [sys.executable, "-m", "explorer", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.attn.json" in lines[0]


def test_export_menu_writes_figures_and_matrices(make_window, qtbot, tmp_path):
    w = make_window()
    out = w.exports.export_view(w.attentionHeatmap, "heatmap", tmp_path / "h.png", width=900)
    assert QtGui.QImage(str(out)).width() == 900
    out = w.exports.export_view(w.pipelineView, "pipeline", tmp_path / "p.svg")
    assert b"<svg" in out.read_bytes()[:400]
    out = w.exports.export_view(w, "window", tmp_path / "w.pdf")
    assert out.read_bytes()[:4] == b"%PDF"
    out = w.exports.export_matrix("weights", tmp_path / "weights.csv")
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert "dog" in header and "cat" in header
    out = w.exports.export_matrix("Q", tmp_path / "q.npy")
    q = np.load(out, allow_pickle=False)
    np.testing.assert_array_equal(q, w.result.q[0])
    assert w.exports.export_view(w.headGrid, "grid", tmp_path / "nope" / "g.png") is None
    assert w.last_error[0] == "Cannot export figure"


def test_copy_heatmap_shortcut(make_window, qtbot):
    w = make_window()
    QtWidgets.QApplication.clipboard().clear()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    qtbot.keyClick(
        w,
        QtCore.Qt.Key.Key_C,
        QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier,
    )
    image = QtWidgets.QApplication.clipboard().image()
    assert not image.isNull() and image.width() > w.attentionHeatmap.width()


def test_undo_history_lists_every_step(make_window, qtbot):
    w = make_window()
    edit_weight(w, 10)
    w.doc.end_merge()
    w.findChild(QtWidgets.QCheckBox, "causalCheck").setChecked(True)
    history = next(a for a in w.editMenu.actions() if a.text().startswith("Undo &History"))
    history.trigger()
    view = w.undoView
    assert view.isVisible() and view.objectName() == "undoHistory"
    assert view.stack().count() == 2
    assert "Causal mask" in view.stack().text(1)
    view.close()


def test_unrestorable_autosave_is_kept_and_older_ones_wait(make_window, qtbot, tmp_path):
    folder = tmp_path / "autosave"
    older = orphan(folder, 999999991, replace(Session(), text="older work"), age_s=60)
    newest = orphan(folder, 999999992, FUTURE, age_s=0)
    w = make_window()
    texts = []
    answer_recovery(B.Yes, texts)
    assert not w.files.offer_recovery()
    assert "1 older autosave" in texts[0] and str(folder) in texts[0]
    title, message = w.last_error
    assert title == "Cannot restore the autosave" and "newer" in message
    kept = [p for p in folder.iterdir() if p.name.startswith("unrestored-999999992")]
    assert len(kept) == 1 and str(kept[0]) in message
    assert kept[0].read_text() == FUTURE  # the work is still there, byte for byte
    assert not newest.exists() and older.exists()
    assert w.files.orphaned_autosaves() == [older]  # the kept file is not offered again
    # the next start offers the older one
    w2 = make_window()
    answer_recovery(B.Yes, texts)
    assert w2.files.offer_recovery()
    assert w2.doc.session.text == "older work" and w2.doc.modified
    assert not older.exists() and kept[0].exists()
    assert load_session(w2.files.autosave_path).text == "older work"


def test_declining_recovery_deletes_only_the_declined_autosave(make_window, qtbot, tmp_path):
    folder = tmp_path / "autosave"
    older = orphan(folder, 999999991, replace(Session(), text="older"), age_s=60)
    newest = orphan(folder, 999999992, replace(Session(), text="newest"), age_s=0)
    w = make_window()
    before = w.doc.session
    answer_recovery(B.No, [])
    assert not w.files.offer_recovery()
    assert w.doc.session == before
    assert not newest.exists() and older.exists()


def test_missing_recent_file_is_dropped_from_open_recent(make_window, qtbot, tmp_path):
    w = make_window()
    here, gone = tmp_path / "here.attn.json", tmp_path / "gone.attn.json"
    save_session(Session(), here)
    save_session(Session(), gone)
    w.files._remember(here)
    w.files._remember(gone)
    gone.unlink()
    w.files._fill_recent()
    action = next(a for a in w.files.recentMenu.actions() if a.text() == "gone.attn.json")
    action.trigger()
    assert w.last_error[0] == "Cannot open session"
    assert "removed from Open Recent" in w.last_error[1]
    assert w.files.recent_files() == [str(here)]
    # a file that exists but cannot be read stays listed: it may be fixed
    here.write_text("not json")
    assert not w.files.open_path(here)
    assert w.files.recent_files() == [str(here)]
    assert "Open Recent" not in w.last_error[1]


def test_save_as_accepts_json_suffix_in_any_case(make_window, qtbot, tmp_path, monkeypatch):
    w = make_window()
    for typed in ("foo.JSON", "foo.Attn.Json", "bar"):
        target = tmp_path / typed
        monkeypatch.setattr(
            QtWidgets.QFileDialog, "getSaveFileName", lambda *a, t=target, **k: (str(t), "")
        )
        assert w.files.save_as()
    names = sorted(p.name for p in tmp_path.iterdir() if "json" in p.name.lower())
    assert names == ["bar.attn.json", "foo.Attn.Json", "foo.JSON"]
    assert load_session(tmp_path / "foo.JSON") == w.doc.session


def test_timer_autosave_writes_in_the_background(make_window, qtbot, monkeypatch):
    """A slow autosave (a large session on a slow disk) must not stop the event loop."""
    import threading
    import time

    from explorer.ui import file_actions

    real_save = file_actions.save_session
    threads = []

    def slow_save(session, path):
        threads.append(threading.current_thread().name)
        time.sleep(0.6)
        real_save(session, path)

    monkeypatch.setattr(file_actions, "save_session", slow_save)
    w = make_window()
    with qtbot.waitSignal(w.resultShown, timeout=10_000):
        edit_weight(w, 55)
    expected = w.doc.session
    ticks = []
    timer = QtCore.QTimer(interval=20)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    w.files.timer.timeout.emit()  # what the 5-second timer does
    # it returned while the write is still under way in another thread
    assert w.files.autosave_running
    assert not w.files.autosave_path.exists()
    w.files.timer.timeout.emit()  # a tick during the write is skipped, not queued
    qtbot.waitUntil(lambda: not w.files.autosave_running, timeout=5000)
    qtbot.waitUntil(lambda: w.files._autosaved_index == w.doc.undo_stack.index(), timeout=15_000)
    timer.stop()
    assert threads == ["Autosave"]
    assert ticks  # the event loop kept turning while the file was written
    assert load_session(w.files.autosave_path) == expected
    # a clean close waits for a write in flight, then removes the file
    edit_weight(w, 56)
    w.files.timer.timeout.emit()
    w.doc.undo_stack.setClean()
    w.close()
    assert not w.files.autosave_running
    assert not w.files.autosave_path.exists()
