"""Pointing a step at its view and its controls, in a way that can be undone.

Each function returns the tab changes it made as ``[(tab_widget, previous_index), ...]``
so that leaving the step can put every tab back with :func:`restore_tabs`.
"""

from __future__ import annotations

import shiboken6
from PySide6 import QtWidgets

LEFT_PANE = 200  # width of the settings pane while a step shows a few of its controls

TabChanges = list[tuple[QtWidgets.QTabWidget, int]]


def find(window, name: str) -> QtWidgets.QWidget | None:
    """The window's widget called ``name``, or None (tabs whose contents are still to be
    built are built first: explorer.ui.deferred)."""
    if window.objectName() == name:
        return window
    found = window.findChild(QtWidgets.QWidget, name)
    deferred = getattr(window, "deferredTabs", None)
    if found is None and deferred is not None and deferred.pending:
        deferred.build_all()
        found = window.findChild(QtWidgets.QWidget, name)
    return found


def bring_forward(window, view: QtWidgets.QWidget, name: str = "") -> TabChanges:
    """Make every tab on the way from the window down to ``view`` the current one (and the
    "Inside the sum" tab of ``name`` through its ``show_view``); show the pipeline strip
    if a short window folded ``view`` away with it."""
    changes: TabChanges = []
    if hasattr(window, "reveal_strip"):
        window.reveal_strip(view)  # folded away for a short window
    inside = find(window, "insideView")
    if name and inside is not None and hasattr(inside, "show_view") and inside.isAncestorOf(view):
        changes.append((inside, inside.currentIndex()))
        inside.show_view(name)
    child, parent = view, view.parentWidget()
    chain = []
    while parent is not None:
        tabs = parent.parentWidget()
        if isinstance(parent, QtWidgets.QStackedWidget) and isinstance(tabs, QtWidgets.QTabWidget):
            chain.append((tabs, tabs.indexOf(child)))
        child, parent = parent, parent.parentWidget()
    for tabs, idx in reversed(chain):  # outermost first, like a user would click
        if idx >= 0 and tabs.currentIndex() != idx:
            changes.append((tabs, tabs.currentIndex()))
            tabs.setCurrentIndex(idx)
    return changes


def restore_tabs(changes: TabChanges) -> None:
    """Undo :func:`bring_forward` and :func:`show_controls` tab changes, last first."""
    for tabs, idx in reversed(changes):
        if shiboken6.isValid(tabs):
            tabs.setCurrentIndex(idx)


def show_controls(window, names: set[str] | None) -> TabChanges:
    """Show only the controls in ``names`` (every one for None): rows of the settings panel,
    the head selector, the head grid and the Projections tab."""
    w = window
    changes: TabChanges = []
    form = w.modelPanel.layout()
    role = QtWidgets.QFormLayout.ItemRole.FieldRole
    for row in range(form.rowCount()):
        item = form.itemAt(row, role)
        field = item.widget() if item is not None else None
        show = names is None or (
            field is not None
            and any(field.objectName() == n or field.findChild(QtWidgets.QWidget, n) for n in names)
        )
        form.setRowVisible(row, show)
    selector_row = w.headSelector.parentWidget().layout()
    for i in range(selector_row.count()):
        lay = selector_row.itemAt(i).layout()
        if lay is not None and lay.indexOf(w.headSelector) >= 0:
            for j in range(lay.count()):
                if lay.itemAt(j).widget() is not None:
                    lay.itemAt(j).widget().setVisible(names is None or "headSelector" in names)
    tabs = w.rightTabs
    idx = tabs.indexOf(w.projectionEditor)
    if idx >= 0:
        visible = names is None or "projectionEditor" in names
        if not visible and tabs.currentIndex() == idx and tabs.count() > 1:
            changes.append((tabs, idx))  # show a page that is there; back on leaving
            tabs.setCurrentIndex(1 if idx == 0 else 0)
        tabs.setTabVisible(idx, visible)
    w.headGrid.setVisible(names is None or "headGrid" in names)
    return changes


def fit_panes(window, names: set[str]) -> None:
    """Give the views the room of the settings a step does not show."""
    split = window.topSplit
    sizes = split.sizes()
    if len(sizes) != 3:
        return
    form = window.modelPanel.layout()
    needs_left = "headSelector" in names or any(
        form.isRowVisible(r) for r in range(form.rowCount())
    )
    left = (min(sizes[0], LEFT_PANE) or LEFT_PANE) if needs_left else 0
    rest = max(sum(sizes) - left, 2)
    middle = rest * 53 // 100  # the heatmap needs a little more than the tabs
    split.setSizes([left, middle, rest - middle])
