"""Window factory for UI tests (after napari's ``make_napari_viewer``)."""

import threading

import pytest
from PySide6 import QtCore

from explorer.ui.app import create_app


@pytest.fixture(autouse=True)
def _window_app(qapp):
    """Every UI test runs in the application as ``create_app`` configures it (pyqtgraph's
    options; garbage collected from the GUI thread only)."""
    create_app()


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Create main windows with isolated settings; close them and check no thread leaks."""
    from explorer.ui.main_window import MainWindow

    create_app()
    windows = []
    before = {t.ident for t in threading.enumerate()}

    def factory(session=None, wait_ready=True):
        settings = QtCore.QSettings(
            str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat
        )
        w = MainWindow(session, settings=settings, autosave_dir=tmp_path / "autosave")
        # qtbot closes its widgets before fixture teardown: never leave a prompt open then
        qtbot.addWidget(w, before_close_func=lambda w: w.doc.undo_stack.setClean())
        w.resize(1280, 800)
        w.show()
        windows.append(w)
        if wait_ready:
            qtbot.waitUntil(lambda: w.worker.ready and w.result is not None, timeout=60_000)
        return w

    yield factory
    for w in windows:
        w.doc.undo_stack.setClean()
        w.close()
        w.deleteLater()
    leaked = [
        t for t in threading.enumerate() if t.ident not in before and t.name == "ComputeWorker"
    ]
    for t in leaked:
        t.join(5)
    assert not [t for t in leaked if t.is_alive()], "compute worker threads leaked"
