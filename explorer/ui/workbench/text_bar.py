"""The text bar: free text with debounced re-tokenisation and token chips."""

from __future__ import annotations

import re

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.session import MAX_TEXT_CHARS


def clear_layout(layout: QtWidgets.QLayout) -> None:
    """Remove and delete every widget in ``layout``."""
    while layout.count():
        widget = layout.takeAt(0).widget()
        if widget is not None:
            widget.setParent(None)  # gone from findChild at once, not at the next event
            widget.deleteLater()


def _utf16_to_index(text: str, pos: int) -> int:
    """The Python index of Qt's UTF-16 position ``pos`` in ``text``."""
    if text.isascii():
        return pos
    return len(text.encode("utf-16-le", "surrogatepass")[: 2 * pos].decode("utf-16-le", "replace"))


def _utf16_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


class SentenceEdit(QtWidgets.QPlainTextEdit):
    """The text box.

    It shows at most :attr:`SHOWN_CHARS` characters. Qt lays a paragraph out whole, and a
    1,000,000-character paragraph took about 1.3 s of the event loop to set and lay out; the
    token window never reaches that far (510 tokens are a few thousand characters). The rest
    of a longer text is kept unseen (:meth:`full_text` returns all of it) and an edit of the
    shown part keeps it. Pastes that would make the text longer than
    :data:`~explorer.core.session.MAX_TEXT_CHARS` are refused with :attr:`refused`.

    It wraps at word boundaries, except in text with a very long run of characters without a
    space: Qt's word wrap lays such a line out in quadratic time (1 MB of "xxx…" took 15 s),
    so those texts wrap anywhere, which is linear.
    """

    SHOWN_CHARS = 20_000
    LONG_RUN = re.compile(r"\S{2000}")
    refused = QtCore.Signal(str)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tail = ""  # the part of the text beyond SHOWN_CHARS, kept but not shown

    @property
    def hidden_chars(self) -> int:
        """Characters of the text that the box does not show."""
        return len(self._tail)

    def full_text(self) -> str:
        """The whole text: what the box shows and the unseen rest."""
        return self.toPlainText() + self._tail

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
        """Show ``text`` (its first :attr:`SHOWN_CHARS` characters; the rest is kept)."""
        shown, self._tail = text[: self.SHOWN_CHARS], text[self.SHOWN_CHARS :]
        self.fit_wrap(shown)
        super().setPlainText(shown)

    def insertFromMimeData(self, source: QtCore.QMimeData) -> None:
        if not source.hasText():
            super().insertFromMimeData(source)
            return
        # a paste or a drop: check its size before Qt lays the text out
        pasted = source.text()
        shown = self.toPlainText()
        cursor = self.textCursor()
        a = _utf16_to_index(shown, cursor.selectionStart())
        b = _utf16_to_index(shown, cursor.selectionEnd())
        before, after = shown[:a] + pasted, shown[b:] + self._tail
        n = len(before) + len(after)
        if n > MAX_TEXT_CHARS:
            self.refused.emit(
                f"Not pasted: the text would have {n:,} characters, more than the limit of "
                f"{MAX_TEXT_CHARS:,}. The text and the session are unchanged."
            )
            return
        if not self._tail and len(before) + len(shown) - b <= self.SHOWN_CHARS:
            self.fit_wrap(before + shown[b:])
            super().insertFromMimeData(source)
            return
        self.setPlainText(before + after)  # one layout of at most SHOWN_CHARS characters
        cursor = self.textCursor()
        end = min(len(before), self.SHOWN_CHARS)
        cursor.setPosition(_utf16_len(before[:end]))
        self.setTextCursor(cursor)


class FlowLayout(QtWidgets.QLayout):
    """Lays widgets out left to right, wrapping onto new lines (Qt's flow layout example).

    Qt asks a height-for-width layout for its height many times while a window settles
    (about 200 passes over 160 chips after a long text arrived, 1 s in all); the items'
    sizes and the last answers are therefore kept until the layout is invalidated.
    """

    def __init__(self, parent=None, spacing: int = 3):
        super().__init__(parent)
        self._items: list[QtWidgets.QLayoutItem] = []
        self._sizes: list[tuple[int, int]] | None = None  # (width, height) of each item
        self._heights: dict[int, int] = {}  # heightForWidth answers
        self._placed: QtCore.QRect | None = None  # the rect the items were placed in
        self.setSpacing(spacing)
        self.setContentsMargins(2, 2, 2, 2)

    def addItem(self, item):
        self._items.append(item)
        self.invalidate()

    def count(self):
        return len(self._items)

    def itemAt(self, index):
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index):
        if not 0 <= index < len(self._items):
            return None
        item = self._items.pop(index)
        self.invalidate()
        return item

    def invalidate(self):
        self._sizes = None
        self._heights.clear()
        self._placed = None
        super().invalidate()

    def expandingDirections(self):
        return QtCore.Qt.Orientation(0)

    def hasHeightForWidth(self):
        return True

    def heightForWidth(self, width):
        if width not in self._heights:
            self._heights[width] = self._do_layout(QtCore.QRect(0, 0, width, 0), True)
        return self._heights[width]

    def setGeometry(self, rect):
        super().setGeometry(rect)
        if rect != self._placed:
            self._placed = QtCore.QRect(rect)
            self._do_layout(rect, False)

    def sizeHint(self):
        return self.minimumSize()

    def minimumSize(self):
        w = max((sw for sw, _ in self._item_sizes()), default=0)
        h = max((sh for _, sh in self._item_sizes()), default=0)
        m = self.contentsMargins()
        return QtCore.QSize(w + m.left() + m.right(), h + m.top() + m.bottom())

    def _item_sizes(self) -> list[tuple[int, int]]:
        if self._sizes is None:
            self._sizes = [(s.width(), s.height()) for s in (i.sizeHint() for i in self._items)]
        return self._sizes

    def _do_layout(self, rect, test_only):
        m = self.contentsMargins()
        x, y = rect.x() + m.left(), rect.y() + m.top()
        line_h = 0
        right = rect.right() - m.right()
        gap = self.spacing()
        for item, (w, h) in zip(self._items, self._item_sizes(), strict=True):
            if x + w > right and line_h > 0:
                x = rect.x() + m.left()
                y += line_h + gap
                line_h = 0
            if not test_only:
                item.setGeometry(QtCore.QRect(x, y, w, h))
            x += w + gap
            line_h = max(line_h, h)
        return y + line_h - rect.y() + m.bottom()


class TokenChip(QtWidgets.QLabel):
    """One token; hovering it highlights its row and column everywhere.

    The chip draws its own rounded frame: a style sheet per chip (or one on their host) made
    Qt polish 160 sheets whenever a long text arrived, about a quarter of a second.
    """

    hovered = QtCore.Signal(int)
    HOVER = QtGui.QColor(255, 120, 80, 90)

    def __init__(self, index: int, text: str, special: bool, tip: str):
        super().__init__(text)
        self.index = index
        self._hover = False
        self.setObjectName(f"tokenChip_{index}")
        self.setToolTip(tip)
        self.setMargin(2)
        self.setContentsMargins(4, 1, 4, 1)  # inside the frame
        self.setProperty("special", special)
        if special:
            self.setForegroundRole(QtGui.QPalette.ColorRole.Mid)

    def paintEvent(self, event):
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.setPen(QtGui.QPen(self.palette().color(QtGui.QPalette.ColorRole.Mid), 1))
        p.setBrush(self.HOVER if self._hover else QtCore.Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(QtCore.QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
        p.end()
        super().paintEvent(event)

    def enterEvent(self, event):
        self._hover = True
        self.update()
        self.hovered.emit(self.index)
        super().enterEvent(event)

    def leaveEvent(self, event):
        self._hover = False
        self.update()
        self.hovered.emit(-1)
        super().leaveEvent(event)


class TextBar(QtWidgets.QWidget):
    """Free text with debounced re-tokenisation and token chips.

    Emits ``textEdited(str)`` about 150 ms after the user stops typing, unless the text is
    longer than :data:`~explorer.core.session.MAX_TEXT_CHARS`: then ``textRefused(str)`` says
    so, the box keeps the text for the user to shorten, and the session keeps its text.
    """

    textEdited = QtCore.Signal(str)
    textRefused = QtCore.Signal(str)
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
        scroll = self.chipScroll = QtWidgets.QScrollArea(objectName="tokenChipScroll")
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.chipHost)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # Tab goes on to the controls
        self._chip_line = fm.lineSpacing()
        self._compact = False
        scroll.setFixedHeight(self._chip_line * 2 + 16)  # two rows of chips (compact: one)
        layout.addWidget(scroll)
        self.textWarning = QtWidgets.QLabel(objectName="textWarning")
        self.textWarning.setWordWrap(True)
        self.textWarning.setToolTip("Why the text box does not show or use all of its text")
        self.textWarning.hide()
        layout.addWidget(self.textWarning)
        self.notice = QtWidgets.QLabel(objectName="tokenNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        layout.addWidget(self.notice)
        self._timer = QtCore.QTimer(self, singleShot=True, interval=self.DEBOUNCE_MS)
        self._timer.timeout.connect(self._emit_edit)
        self.sentenceEdit.textChanged.connect(self._timer.start)
        self.sentenceEdit.refused.connect(self._refuse)
        self._chip_tokens: list = []

    def text(self) -> str:
        """The whole text, including any part the box does not show."""
        return self.sentenceEdit.full_text()

    def set_text(self, text: str) -> None:
        if text != self.text():
            self.sentenceEdit.blockSignals(True)
            self.sentenceEdit.setPlainText(text)
            self.sentenceEdit.blockSignals(False)
            self._show_warning("")

    def set_compact(self, compact: bool) -> None:
        """Room for one row of token chips instead of two (a short window); more rows
        scroll."""
        if compact != self._compact:
            self._compact = compact
            self.chipScroll.setFixedHeight(self._chip_line * (1 if compact else 2) + 16)

    def flush(self) -> None:
        """Emit a pending edit now (before saving, say)."""
        if self._timer.isActive():
            self._timer.stop()
            self._emit_edit()

    def _emit_edit(self) -> None:
        text = self.text()
        if len(text) > MAX_TEXT_CHARS:
            self._refuse(
                f"The text has {len(text):,} characters, more than the limit of "
                f"{MAX_TEXT_CHARS:,}: shorten it to use it. Until then the session keeps "
                "its previous text."
            )
            return
        self._show_warning("")
        self.textEdited.emit(text)

    def _refuse(self, message: str) -> None:
        self._show_warning(message)
        self.textRefused.emit(message)

    def _show_warning(self, message: str) -> None:
        hidden = self.sentenceEdit.hidden_chars
        if not message and hidden:
            total = len(self.text())
            message = (
                f"The box shows the first {self.sentenceEdit.SHOWN_CHARS:,} of {total:,} "
                f"characters; the other {hidden:,} are kept (and saved) but not shown."
            )
        self.textWarning.setText(message)
        self.textWarning.setVisible(bool(message))

    def set_tokens(self, tokens, notice: str = "") -> None:
        """Show ``tokens`` (objects with ``text``, ``start``, ``end``, ``special``)."""
        key = [(t.text, t.start, t.end) for t in tokens]
        if key != self._chip_tokens:
            self._chip_tokens = key
            # the chips are laid out on a new host before it is shown: added one by one to
            # a visible host, each chip made Qt lay out all the others again
            host = QtWidgets.QWidget(objectName="tokenChips")
            chips = FlowLayout(host)
            for i, tok in enumerate(tokens[: self.MAX_CHIPS]):
                tip = f"token {i}: '{tok.text}'"
                if not tok.special:
                    tip += f", characters {tok.start}–{tok.end}"
                chip = TokenChip(i, tok.text, tok.special, tip)
                chip.hovered.connect(self.tokenHovered)
                chips.addWidget(chip)
            if len(tokens) > self.MAX_CHIPS:
                more = QtWidgets.QLabel(f"… and {len(tokens) - self.MAX_CHIPS} more")
                chips.addWidget(more)
            old = self.chipScroll.takeWidget()
            self.chipHost, self.chips = host, chips
            self.chipScroll.setWidget(host)
            if old is not None:
                old.setParent(None)  # gone from findChild at once, not at the next event
                old.deleteLater()
        self.notice.setText(notice)
        self.notice.setVisible(bool(notice))
