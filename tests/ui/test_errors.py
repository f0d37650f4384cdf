"""Unexpected exceptions become one dialog and a report file, never a dead window."""

import sys
import threading

import pytest
from PySide6 import QtCore, QtWidgets

from explorer.ui.errors import ErrorReporter


def reporter_for(window, tmp_path):
    shown = []

    def show(title, text, details):
        shown.append((title, text, details, threading.current_thread() is threading.main_thread()))

    return ErrorReporter(
        lambda: window, log_path=tmp_path / "logs" / "errors.log", show=show
    ), shown


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_shows_a_dialog_and_autosaves(
    make_window, qtbot, tmp_path, monkeypatch
):
    w = make_window()
    edit = w.findChild(QtWidgets.QPlainTextEdit, "sentenceEdit")
    edit.setPlainText("unsaved words")
    qtbot.waitUntil(lambda: w.doc.modified, timeout=20_000)
    reporter, shown = reporter_for(w, tmp_path)
    monkeypatch.setattr(sys, "excepthook", reporter.excepthook)

    def broken_slot():
        raise ZeroDivisionError("a bug in a slot")

    QtCore.QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=20_000)
    title, text, details, on_gui_thread = shown[0]
    assert title == "Unexpected error" and on_gui_thread
    assert "ZeroDivisionError: a bug in a slot" in text and "still usable" in text
    assert "broken_slot" in details
    assert "broken_slot" in (tmp_path / "logs" / "errors.log").read_text(encoding="utf-8")
    # the work is safe: the autosave holds the unsaved text, and the window still works
    assert "unsaved words" in w.files.autosave_path.read_text(encoding="utf-8")
    assert w.isVisible()
    edit.setPlainText("still working")
    qtbot.waitUntil(lambda: w.doc.session.text == "still working", timeout=20_000)


def test_a_worker_thread_exception_is_shown_on_the_gui_thread(qtbot, tmp_path):
    reporter, shown = reporter_for(None, tmp_path)

    def work():
        try:
            raise ValueError("bad in a thread")
        except ValueError:
            reporter.excepthook(*sys.exc_info())

    t = threading.Thread(target=work)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=20_000)
    assert "ValueError: bad in a thread" in shown[0][1] and shown[0][3]


def test_errors_while_a_dialog_is_open_do_not_pile_up(qtbot, tmp_path):
    reporter, _ = reporter_for(None, tmp_path)
    calls = []

    def show(title, text, details):
        calls.append(text)
        # a second error arrives while the first dialog is still open
        try:
            raise RuntimeError("second")
        except RuntimeError:
            reporter.excepthook(*sys.exc_info())
        QtWidgets.QApplication.processEvents()

    reporter._show = show
    try:
        raise RuntimeError("first")
    except RuntimeError:
        reporter.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: len(calls) >= 1, timeout=20_000)
    qtbot.wait(50)
    assert len(calls) == 1 and "first" in calls[0]
    assert reporter.count == 2  # both are in the report file
    log = (tmp_path / "logs" / "errors.log").read_text(encoding="utf-8")
    assert "RuntimeError: first" in log and "RuntimeError: second" in log


def test_an_unwritable_log_still_reports(qtbot, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    shown = []
    reporter = ErrorReporter(
        lambda: None, log_path=blocker / "errors.log", show=lambda *a: shown.append(a)
    )
    try:
        raise KeyError("k")
    except KeyError:
        reporter.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=20_000)
    assert "KeyError" in shown[0][1]
