"""Overlays a lesson puts on views: a coloured frame around the focused view, and a cover
that hides a view's numbers until the learner has made a prediction."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

HIGHLIGHT = QtGui.QColor(255, 140, 0)  # orange: visible on light and dark themes


class _Follower(QtWidgets.QWidget):
    """A child widget that always covers its parent, above the parent's other children."""

    def __init__(self, target: QtWidgets.QWidget):
        super().__init__(target)
        target.installEventFilter(self)
        self.setGeometry(target.rect())
        self.raise_()
        self.show()

    def eventFilter(self, obj, event) -> bool:
        if event.type() in (QtCore.QEvent.Type.Resize, QtCore.QEvent.Type.Show):
            self.setGeometry(obj.rect())
            self.raise_()
        return False

    def remove(self) -> None:
        self.parent().removeEventFilter(self)
        self.hide()
        self.deleteLater()


class FocusFrame(_Follower):
    """A thick coloured frame drawn over the edge of the focused view; clicks pass through."""

    def __init__(self, target: QtWidgets.QWidget):
        super().__init__(target)
        self.setObjectName("lessonHighlight")
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_NoSystemBackground)

    def paintEvent(self, _event) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        pen = QtGui.QPen(HIGHLIGHT, 4)
        p.setPen(pen)
        p.drawRoundedRect(QtCore.QRectF(self.rect()).adjusted(2, 2, -2, -2), 6, 6)


class Cover(_Follower):
    """An opaque cover with a short message; it takes the clicks, so nothing peeks through."""

    def __init__(self, target: QtWidgets.QWidget, message: str):
        super().__init__(target)
        self.setObjectName("lessonCover")
        self.setAutoFillBackground(True)
        self.setToolTip("Hidden until you answer in the lesson panel")
        layout = QtWidgets.QVBoxLayout(self)
        label = QtWidgets.QLabel(message)
        label.setWordWrap(True)
        label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        font = label.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        label.setFont(font)
        layout.addWidget(label)

    def paintEvent(self, event) -> None:
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), self.palette().color(QtGui.QPalette.ColorRole.Window))
        p.setPen(QtGui.QPen(HIGHLIGHT, 2, QtCore.Qt.PenStyle.DashLine))
        p.drawRect(self.rect().adjusted(1, 1, -2, -2))
