"""The window fits a 1024-px screen, and 1280 × 800 at 150 % (853 logical px): no tab asks
for more width, and the Model tab's controls wrap rather than overlap or get cut off."""

from __future__ import annotations

import itertools

from PySide6 import QtCore, QtWidgets
from test_model_view import model_folder, open_view  # noqa: F401

#: 1280 × 800 at 150 % leaves 853 logical px, the window's frame included
MAX_MIN_WIDTH = 850

CONTROLS = (QtWidgets.QLabel, QtWidgets.QAbstractButton, QtWidgets.QComboBox, QtWidgets.QSpinBox)


def shown_rect(widget, window) -> QtCore.QRect:
    """The part of ``widget`` that shows in ``window``, in window coordinates: what every
    ancestor (a scroll area's viewport, a splitter's pane, the window) leaves of it."""
    shown = QtCore.QRect(widget.mapTo(window, QtCore.QPoint(0, 0)), widget.size())
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        shown &= QtCore.QRect(parent.mapTo(window, QtCore.QPoint(0, 0)), parent.size())
        parent = parent.parentWidget()
    return shown & window.rect()


def model_controls(view) -> list[QtWidgets.QWidget]:
    """The Model tab's toolbar and the options and legend above the grid, as shown."""
    toolbar = view.modelCombo.parentWidget()
    options = view.findChild(QtWidgets.QWidget, "gridOptions")
    found = [view.findChild(QtWidgets.QLabel, "headTypeLegend")]
    for row in (toolbar, options):
        found += [w for w in row.findChildren(QtWidgets.QWidget) if isinstance(w, CONTROLS)]
    # the spin boxes' line edits are inside their boxes; a hidden busy bar is not shown
    return [w for w in found if w.isVisible()]


def test_window_min_width_fits_small_screens(make_window, qtbot, model_folder):  # noqa: F811
    w, view = open_view(make_window, qtbot, model_folder)
    # the window's own minimum, not lowered to fit the tests' 800-px offscreen screen
    assert view.minimumWidth() == 0
    for i in range(w.workspaceTabs.count()):
        tab = w.workspaceTabs.widget(i)
        assert tab.minimumSizeHint().width() <= MAX_MIN_WIDTH - 16, w.workspaceTabs.tabText(i)
    assert w.minimumSizeHint().width() <= MAX_MIN_WIDTH


def test_model_controls_all_shown_at_1024(make_window, qtbot, model_folder):  # noqa: F811
    w, view = open_view(make_window, qtbot, model_folder)
    w.resize(1024, 700)
    qtbot.waitUntil(lambda: w.size() == QtCore.QSize(1024, 700))
    qtbot.wait(50)  # the wrapped rows settle through posted layout requests
    controls = model_controls(view)
    names = {c.objectName() for c in controls}
    assert {
        "modelCombo",
        "openModelButton",
        "modelLayerSpin",
        "modelHeadSpin",
        "hideSpecialCheck",
        "modelTiming",
        "gridModeCombo",
        "poolCombo",
        "headTypeFilter",
        "gridFilterCombo",
        "headTypeLegend",
    } <= names
    rects = {}
    for c in controls:
        full = QtCore.QRect(c.mapTo(w, QtCore.QPoint(0, 0)), c.size())
        label = c.objectName() or getattr(c, "text", lambda: "")()
        assert shown_rect(c, w) == full, f"{label} is cut off"
        assert full.width() >= c.minimumSizeHint().width(), f"{label} is squeezed"
        assert full.height() >= c.minimumSizeHint().height(), f"{label} is squeezed"
        rects[label] = full
    for (a, ra), (b, rb) in itertools.combinations(rects.items(), 2):
        assert not ra.intersects(rb), f"{a} overlaps {b}"
    # the legend is drawn on as many lines as it needs, and none is cut off
    legend = view.findChild(QtWidgets.QLabel, "headTypeLegend")
    assert legend.height() >= legend.heightForWidth(legend.width())
