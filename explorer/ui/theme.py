"""Light and dark themes that follow the system colour scheme."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets


def is_dark() -> bool:
    """True when the system (or the application palette) is dark."""
    hints = QtGui.QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hasattr(hints, "colorScheme") else None
    if scheme == QtCore.Qt.ColorScheme.Dark:
        return True
    if scheme == QtCore.Qt.ColorScheme.Light:
        return False
    window = QtWidgets.QApplication.palette().color(QtGui.QPalette.ColorRole.Window)
    return window.lightness() < 128


def apply_theme(root: QtWidgets.QWidget) -> None:
    """Give every pyqtgraph view in ``root`` a background and text colour to match."""
    dark = is_dark()
    bg = QtWidgets.QApplication.palette().color(QtGui.QPalette.ColorRole.Base)
    fg = QtWidgets.QApplication.palette().color(QtGui.QPalette.ColorRole.Text)
    if not dark and bg.lightness() < 128:
        bg, fg = QtGui.QColor("white"), QtGui.QColor("black")
    # labels and axes made later (a grid rebuilt for more heads) take these defaults
    pg.setConfigOptions(foreground=fg, background=bg)
    paint_views(root, fg, bg)


def paint_views(root: QtWidgets.QWidget, fg: QtGui.QColor, bg: QtGui.QColor) -> None:
    """Set the background, axes and labels of ``root`` and every pyqtgraph view inside it."""
    views = [root] if isinstance(root, pg.GraphicsView) else []
    for view in views + root.findChildren(pg.GraphicsView):
        view.setBackground(bg)
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem):
                item.setTextPen(pg.mkPen(fg))
                item.setPen(pg.mkPen(fg))
            elif isinstance(item, pg.LabelItem):
                item.setAttr("color", fg)
                item.setText(item.text)


def follow_system_theme(root: QtWidgets.QWidget) -> None:
    """Re-apply the theme when the system switches between light and dark."""
    hints = QtGui.QGuiApplication.styleHints()
    if hasattr(hints, "colorSchemeChanged"):
        hints.colorSchemeChanged.connect(lambda *_: apply_theme(root))
