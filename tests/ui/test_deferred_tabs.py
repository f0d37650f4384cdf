"""The tabs hidden at start (Similarity, Inside the sum, Model, Decoder) are built after the
window's first paint, or at once when needed sooner; they then show what the window shows."""

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from explorer.ui.app import create_app
from explorer.ui.heatmap import colormap
from explorer.ui.lessons.focus import find


def _window(qtbot, tmp_path):
    """A shown window, as the app opens it (not waiting for anything)."""
    from explorer.ui.main_window import MainWindow

    create_app()
    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, autosave_dir=tmp_path / "autosave")
    qtbot.addWidget(w, before_close_func=lambda w: w.doc.undo_stack.setClean())
    return w


def _deferred(w):
    return (w.insideView, w.similarityView, w.modelView, w.decoderView)


class _FirstPaint(QtCore.QObject):
    """Records which deferred tabs were built when the window first painted."""

    def __init__(self, w):
        super().__init__(w)
        self.built_then = None
        self._w = w
        w.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QtCore.QEvent.Type.Paint and self.built_then is None:
            self.built_then = [v.contents_built for v in _deferred(self._w)]
        return False


def test_built_after_the_first_paint_and_show_the_current_result(qtbot, tmp_path):
    w = _window(qtbot, tmp_path)
    assert [v.contents_built for v in _deferred(w)] == [False] * 4
    assert not w.insideView.findChildren(pg.GraphicsView)  # no plots made yet
    assert w.findChild(QtWidgets.QWidget, "insideView") is w.insideView  # the tabs are there
    assert w.workspaceTabs.indexOf(w.modelView) >= 0
    assert w.workspaceTabs.indexOf(w.decoderView) >= 0
    painted = _FirstPaint(w)
    w.show()
    qtbot.waitUntil(lambda: painted.built_then is not None, timeout=10_000)
    assert painted.built_then == [False] * 4  # not one of them before the paint
    assert w.result is not None  # the first Result is drawn in that paint already
    qtbot.waitUntil(lambda: not w.deferredTabs.pending, timeout=10_000)
    assert all(v.contents_built for v in _deferred(w))
    assert w.insideView.findChildren(pg.GraphicsView)
    assert w.findChild(QtWidgets.QWidget, "modelGrid") is w.modelView.modelGrid
    assert w.findChild(QtWidgets.QWidget, "decoderGrid") is w.decoderView.grid
    # the Result that came before the views were made is the one they draw when shown
    w.rightTabs.setCurrentWidget(w.insideView)
    name = w.insideView.currentWidget().objectName()
    assert w.insideView.drawn_state(name)[0] is w.result
    w.rightTabs.setCurrentWidget(w.similarityView)
    static, contextual = w.similarityView.matrices()
    assert static.shape == contextual.shape == (w.result.T, w.result.T)
    np.testing.assert_allclose(w.similarityView.static.data, static, atol=1e-6)  # float32


def test_a_tab_opened_early_is_built_at_once(qtbot, tmp_path):
    w = _window(qtbot, tmp_path)
    w.show()  # no event loop turn yet: nothing is painted nor built
    assert not w.insideView.contents_built
    w.show_inside("weightedSumView")  # the heatmap's "Σ weighted sum" button
    assert w.insideView.contents_built
    assert w.rightTabs.currentWidget() is w.insideView
    view = w.insideView.currentWidget()
    assert view is w.insideView.views["weightedSumView"] and view.isVisible()
    assert w.insideView.drawn_state("weightedSumView")[0] is w.result  # drawn on being shown
    assert not w.modelView.contents_built
    w.workspaceTabs.setCurrentWidget(w.modelView)  # View › Show Model
    assert w.modelView.contents_built and w.modelView.modelCombo.isVisible()
    assert not w.decoderView.contents_built


def test_attributes_and_searches_build_what_they_reach(qtbot, tmp_path):
    w = _window(qtbot, tmp_path)
    assert not w.decoderView.contents_built
    assert w.decoderView.head.objectName() == "decoderHeadView"  # exports read it so
    assert w.decoderView.contents_built
    assert not w.modelView.contents_built
    assert find(w, "modelHeatmap") is not None  # a lesson pointing at a view inside a tab
    assert w.modelView.contents_built and w.insideView.contents_built


def test_a_colour_map_and_a_failure_before_the_build_are_kept(qtbot, tmp_path):
    w = _window(qtbot, tmp_path)
    inside = w.insideView
    inside.set_colormap("viridis")
    inside.clear()  # a failed compute, while unbuilt: nothing to forget, nothing breaks
    assert not inside.contents_built and inside.drawn_state("vectorsView") is None
    inside.ensure_built()
    assert inside.views["vectorsView"]._cmap is colormap("viridis")
