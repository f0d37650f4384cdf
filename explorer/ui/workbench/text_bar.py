"""The text bar: free text with debounced re-tokenisation and token chips."""

from __future__ import annotations

import re

from PySide6 import QtCore, QtGui, QtWidgets


def clear_layout(layout: QtWidgets.QLayout) -> None:
    """Remove and delete every widget in ``layout``."""
    while layout.count():
        widget = layout.takeAt(0).widget()
        if widget is not None:
            widget.setParent(None)  # gone from findChild at once, not at the next event
            widget.deleteLater()


class SentenceEdit(QtWidgets.QPlainTextEdit):
    """The text box. Wraps at word boundaries, except in text with a very long run of
    characters without a space: Qt's word wrap lays such a line out in quadratic time
    (1 MB of "xxx…" took 15 s), so those texts wrap anywhere, which is linear."""

    LONG_RUN = re.compile(r"\S{2000}")

    def fit_wrap(self, text: str) -> None:
        """Choose the wrap mode for ``text`` before Qt lays it out."""
        mode = (
            QtGui.QTextOption.WrapMode.WrapAnywhere
            if self.LONG_RUN.search(text)
            else QtGui.QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere
        )
        if self.wordWrapMode() != mode:
            self.setWordWrapMode(mode)

    def setPlainText(self, text: str) -> None:
        self.fit_wrap(text)
        super().setPlainText(text)

    def insertFromMimeData(self, source: QtCore.QMimeData) -> None:
        if source.hasText():  # a paste or a drop: check before the text is laid out
            self.fit_wrap(self.toPlainText() + source.text())
        super().insertFromMimeData(source)


class FlowLayout(QtWidgets.QLayout):
    """Lays widgets out left to right, wrapping onto new lines (Qt's flow layout example)."""

    def __init__(self, parent=None, spacing: int = 3):
        super().__init__(parent)
        self._items: list[QtWidgets.QLayoutItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(2, 2, 2, 2)

    def addItem(self, item):
        self._items.append(item)

    def count(self):
        return len(self._items)

    def itemAt(self, index):
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index):
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self):
        return QtCore.Qt.Orientation(0)

    def hasHeightForWidth(self):
        return True

    def heightForWidth(self, width):
        return self._do_layout(QtCore.QRect(0, 0, width, 0), True)

    def setGeometry(self, rect):
        super().setGeometry(rect)
        self._do_layout(rect, False)

    def sizeHint(self):
        return self.minimumSize()

    def minimumSize(self):
        size = QtCore.QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QtCore.QSize(m.left() + m.right(), m.top() + m.bottom())

    def _do_layout(self, rect, test_only):
        m = self.contentsMargins()
        x, y = rect.x() + m.left(), rect.y() + m.top()
        line_h = 0
        right = rect.right() - m.right()
        for item in self._items:
            w = item.sizeHint()
            if x + w.width() > right and line_h > 0:
                x = rect.x() + m.left()
                y += line_h + self.spacing()
                line_h = 0
            if not test_only:
                item.setGeometry(QtCore.QRect(QtCore.QPoint(x, y), w))
            x += w.width() + self.spacing()
            line_h = max(line_h, w.height())
        return y + line_h - rect.y() + m.bottom()


class TokenChip(QtWidgets.QLabel):
    """One token; hovering it highlights its row and column everywhere."""

    hovered = QtCore.Signal(int)

    def __init__(self, index: int, text: str, special: bool, tip: str):
        super().__init__(text)
        self.index = index
        self.setObjectName(f"tokenChip_{index}")
        self.setToolTip(tip)
        self.setMargin(2)
        self.setProperty("special", special)
        self.setStyleSheet(
            "QLabel { border: 1px solid palette(mid); border-radius: 4px; padding: 0 3px;"
            + (" color: palette(mid);" if special else "")
            + " } QLabel:hover { background: rgba(255, 120, 80, 90); }"
        )

    def enterEvent(self, event):
        self.hovered.emit(self.index)
        super().enterEvent(event)

    def leaveEvent(self, event):
        self.hovered.emit(-1)
        super().leaveEvent(event)


class TextBar(QtWidgets.QWidget):
    """Free text with debounced re-tokenisation and token chips.

    Emits ``textEdited(str)`` about 150 ms after the user stops typing.
    """

    textEdited = QtCore.Signal(str)
    tokenHovered = QtCore.Signal(int)
    DEBOUNCE_MS = 150
    MAX_CHIPS = 160  # more chips than this are summarised, not drawn one by one

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.sentenceEdit = SentenceEdit(objectName="sentenceEdit")
        self.sentenceEdit.setPlaceholderText("Type one or more sentences…")
        self.sentenceEdit.setToolTip(
            "The text to analyse. It is split into WordPiece tokens as you type"
        )
        self.sentenceEdit.setTabChangesFocus(True)
        fm = QtGui.QFontMetrics(self.sentenceEdit.font())
        self.sentenceEdit.setFixedHeight(fm.lineSpacing() * 2 + 14)
        layout.addWidget(self.sentenceEdit)
        self.chipHost = QtWidgets.QWidget(objectName="tokenChips")
        self.chips = FlowLayout(self.chipHost)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.chipHost)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # Tab goes on to the controls
        scroll.setFixedHeight(fm.lineSpacing() * 2 + 16)
        layout.addWidget(scroll)
        self.notice = QtWidgets.QLabel(objectName="tokenNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        layout.addWidget(self.notice)
        self._timer = QtCore.QTimer(self, singleShot=True, interval=self.DEBOUNCE_MS)
        self._timer.timeout.connect(lambda: self.textEdited.emit(self.text()))
        self.sentenceEdit.textChanged.connect(self._timer.start)
        self._chip_tokens: list = []

    def text(self) -> str:
        return self.sentenceEdit.toPlainText()

    def set_text(self, text: str) -> None:
        if text != self.text():
            self.sentenceEdit.blockSignals(True)
            self.sentenceEdit.setPlainText(text)
            self.sentenceEdit.blockSignals(False)

    def flush(self) -> None:
        """Emit a pending edit now (before saving, say)."""
        if self._timer.isActive():
            self._timer.stop()
            self.textEdited.emit(self.text())

    def set_tokens(self, tokens, notice: str = "") -> None:
        """Show ``tokens`` (objects with ``text``, ``start``, ``end``, ``special``)."""
        key = [(t.text, t.start, t.end) for t in tokens]
        if key != self._chip_tokens:
            self._chip_tokens = key
            clear_layout(self.chips)
            for i, tok in enumerate(tokens[: self.MAX_CHIPS]):
                tip = f"token {i}: '{tok.text}'"
                if not tok.special:
                    tip += f", characters {tok.start}–{tok.end}"
                chip = TokenChip(i, tok.text, tok.special, tip)
                chip.hovered.connect(self.tokenHovered)
                self.chips.addWidget(chip)
            if len(tokens) > self.MAX_CHIPS:
                more = QtWidgets.QLabel(f"… and {len(tokens) - self.MAX_CHIPS} more")
                self.chips.addWidget(more)
            self.chipHost.updateGeometry()
        self.notice.setText(notice)
        self.notice.setVisible(bool(notice))
