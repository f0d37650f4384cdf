"""The Model tab's controls: the toolbar (model, layer and head, special tokens, busy and
timing) and the options above the grid (what it shows, pooling, head types, filter) with the
badges' legend. Long model names are elided to fit; the grid's options and the legend wrap
onto more lines when the grid is narrow, so none of them holds the window wider."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.ui.model.grid import BADGES, LEGEND
from explorer.ui.workbench.text_bar import FlowLayout


class ModelCombo(QtWidgets.QComboBox):
    """A combo box that shows a long model name elided in the middle when it lacks room.

    ``sentence-transformers/all-MiniLM-L6-v2  (package)`` becomes
    ``all-MiniLM-L6-v2  (package)`` (the part after the organisation), then
    ``all-Mini…v2  (package)``; the full name stays in the list and the tooltip.
    """

    MIN_CHARS = 20  # about "all-MiniLM-L6-v2 (package)"; wider when there is room

    def __init__(self, parent=None, **kwargs):
        super().__init__(parent, **kwargs)
        self.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.setMinimumContentsLength(self.MIN_CHARS)

    def event(self, event) -> bool:
        if event.type() == QtCore.QEvent.Type.ToolTip:  # the full name of the model shown
            path, text = self.currentData(), self.currentText()
            tip = f"{text}\n{path}" if path else "Pretrained encoders found on this computer"
            self.setToolTip(tip)
        return super().event(event)

    def shown_text(self) -> str:
        """The text drawn in the closed box at its current width."""
        opt = QtWidgets.QStyleOptionComboBox()
        self.initStyleOption(opt)
        rect = self.style().subControlRect(
            QtWidgets.QStyle.ComplexControl.CC_ComboBox,
            opt,
            QtWidgets.QStyle.SubControl.SC_ComboBoxEditField,
            self,
        )
        return elide_model_name(self.currentText(), self.fontMetrics(), rect.width() - 4)

    def paintEvent(self, event) -> None:
        painter = QtWidgets.QStylePainter(self)
        opt = QtWidgets.QStyleOptionComboBox()
        self.initStyleOption(opt)
        opt.currentText = self.shown_text()
        painter.drawComplexControl(QtWidgets.QStyle.ComplexControl.CC_ComboBox, opt)
        painter.drawControl(QtWidgets.QStyle.ControlElement.CE_ComboBoxLabel, opt)


def elide_model_name(text: str, metrics, width: int) -> str:
    """``text`` ("ORG/NAME  (source)") shortened to fit ``width`` pixels of ``metrics``."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    name, sep, source = text.partition("  (")
    short = name.rsplit("/", 1)[-1]
    tail = sep + source
    if metrics.horizontalAdvance(short + tail) <= width:
        return short + tail
    room = width - metrics.horizontalAdvance(tail)
    mid = QtCore.Qt.TextElideMode.ElideMiddle
    if room >= metrics.horizontalAdvance("a…z"):
        return metrics.elidedText(short, mid, room) + tail
    return metrics.elidedText(short + tail, mid, width)


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that may shrink below its text, eliding the end ("…")."""

    MIN_WIDTH = 90

    def minimumSizeHint(self) -> QtCore.QSize:
        hint = super().minimumSizeHint()
        return QtCore.QSize(min(hint.width(), self.MIN_WIDTH), hint.height())

    def shown_text(self) -> str:
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideRight, width)

    def paintEvent(self, event) -> None:
        painter = QtGui.QPainter(self)
        painter.drawText(self.contentsRect(), int(self.alignment()), self.shown_text())


class LegendLabel(QtWidgets.QLabel):
    """A legend of entries joined by " · " that wraps between entries, never inside one.

    ``text()`` stays the one-line legend; it is drawn on as many lines as its width needs.
    """

    SEP = " · "

    def lines(self, width: int) -> list[str]:
        """The entries packed into lines of at most ``width`` pixels (a longer entry alone)."""
        fm, lines = self.fontMetrics(), []
        for entry in self.text().split(self.SEP):
            if lines and fm.horizontalAdvance(lines[-1] + self.SEP + entry) <= width:
                lines[-1] += self.SEP + entry
            else:
                lines.append(entry)
        return lines

    def _margins(self) -> QtCore.QSize:
        m = self.contentsMargins()
        return QtCore.QSize(m.left() + m.right(), m.top() + m.bottom())

    def _height(self, n: int) -> int:
        fm = self.fontMetrics()
        return fm.height() + (n - 1) * fm.lineSpacing() + self._margins().height()

    def sizeHint(self) -> QtCore.QSize:
        width = self.fontMetrics().horizontalAdvance(self.text())
        return QtCore.QSize(width + self._margins().width(), self._height(1))

    def minimumSizeHint(self) -> QtCore.QSize:
        """As narrow as the widest entry; as tall as the lines at the current width (a
        splitter or box reads no height for width, and must not squeeze the lines)."""
        fm = self.fontMetrics()
        least = max((fm.horizontalAdvance(e) for e in self.text().split(self.SEP)), default=0)
        least += self._margins().width()
        return QtCore.QSize(least, self.heightForWidth(max(least, self.width())))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.heightForWidth(event.size().width()) != self.heightForWidth(
            event.oldSize().width()
        ):
            self.updateGeometry()  # the least height changed with the number of lines

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._height(len(self.lines(width - self._margins().width())))

    def shown_text(self) -> str:
        """The text as drawn at the current width: one line of entries a line."""
        return "\n".join(self.lines(self.contentsRect().width()))

    def paintEvent(self, event) -> None:
        painter = QtGui.QPainter(self)
        painter.drawText(self.contentsRect(), int(self.alignment()), self.shown_text())


# the grid's filters: (menu text, (top_k, threshold)); the same choices as a heatmap's menu
GRID_FILTERS = (
    ("every weight", (None, None)),
    *((f"top {k} per row", (k, None)) for k in (1, 2, 3, 5)),
    *((f"weights ≥ {t:g}", (None, t)) for t in (0.05, 0.1, 0.2, 0.5)),
)


class ModelToolbar(QtWidgets.QWidget):
    """The model view's top row: model choice, layer and head, the special-token toggle."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.modelCombo = ModelCombo(objectName="modelCombo")
        self.modelCombo.setToolTip("Pretrained encoders found on this computer")
        self.openButton = QtWidgets.QPushButton("Open Model…", objectName="openModelButton")
        self.openButton.setToolTip("Choose a folder with config.json, model.safetensors, vocab")
        self.layerSpin = QtWidgets.QSpinBox(objectName="modelLayerSpin")
        self.layerSpin.setToolTip("Layer of the head shown large (0 = first)")
        self.headSpin = QtWidgets.QSpinBox(objectName="modelHeadSpin")
        self.headSpin.setToolTip("Head within the layer")
        for spin in (self.layerSpin, self.headSpin):
            spin.setRange(0, 0)
        self.hideSpecial = QtWidgets.QCheckBox("hide [CLS]/[SEP]", objectName="hideSpecialCheck")
        self.hideSpecial.setToolTip(
            "Hide [CLS]/[SEP] and renormalise: "
            "drop the special tokens' rows and columns and rescale each row to sum to 1: "
            "shows what a head does among the words when it mostly parks weight on [SEP]"
        )
        self.busy = QtWidgets.QProgressBar(objectName="modelBusy")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(80)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.timing = ElidedLabel(objectName="modelTiming")
        self.timing.setToolTip("Encoder forward pass (all layers and heads) and redraw time")
        top = QtWidgets.QHBoxLayout(self)
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(QtWidgets.QLabel("Model"))
        top.addWidget(self.modelCombo, 2)
        top.addWidget(self.openButton)
        top.addSpacing(12)
        for label, spin in (("layer", self.layerSpin), ("head", self.headSpin)):
            top.addWidget(QtWidgets.QLabel(label))
            top.addWidget(spin)
        top.addSpacing(12)
        top.addWidget(self.hideSpecial)
        self.gridMode = QtWidgets.QComboBox(objectName="gridModeCombo")
        self.gridMode.addItems(["attention after the edit", "difference from unedited"])
        self.gridMode.setToolTip(
            "With head edits, the grid shows each head's attention after the edit, or its "
            "difference from the unedited run (red: more weight, blue: less; layers below "
            "the edit stay white)"
        )
        self.typeFilter = QtWidgets.QComboBox(objectName="headTypeFilter")
        self.typeFilter.addItem("show heads of every type")
        for name in BADGES:
            self.typeFilter.addItem(f"show {name} heads", name)
        self.typeFilter.setToolTip(
            "Show heads of one type; the others are dimmed. " + LEGEND + " (thresholds: Help "
            "› Glossary, head type)"
        )
        self.gridFilter = QtWidgets.QComboBox(objectName="gridFilterCombo")
        for text, value in GRID_FILTERS:
            self.gridFilter.addItem(text, value)
        self.gridFilter.setToolTip(
            "Cut the clutter in every thumbnail: keep the largest weights of each row, or "
            "the weights above a threshold, at full strength; the others are washed out, "
            "not deleted (the difference grid is never filtered)"
        )
        self.poolCombo = QtWidgets.QComboBox(objectName="poolCombo")
        self.poolCombo.addItems(["tokens", "words", "sentences"])
        self.poolCombo.setToolTip(
            "Rows and columns of every heatmap in this tab: word pieces, whole words (the "
            "pieces of a word pooled: mean over its query rows of the summed weight on a "
            "word's keys, so rows still sum to 1), or sentences"
        )
        top.addStretch(1)
        top.addWidget(self.busy)
        top.addWidget(self.timing)


class _WrappingFlow(FlowLayout):
    """A flow layout as tall at least as its lines at its current width: a splitter or a
    box reads no height for width, and must not squeeze the lines into one another."""

    def minimumSize(self) -> QtCore.QSize:
        least = super().minimumSize()
        width = max(least.width(), self.geometry().width())
        return QtCore.QSize(least.width(), self.heightForWidth(width))

    def setGeometry(self, rect) -> None:
        before = self.heightForWidth(max(self.geometry().width(), 1))
        super().setGeometry(rect)
        host = self.parentWidget()
        if host is not None and self.heightForWidth(rect.width()) != before:
            host.updateGeometry()  # the least height changed with the number of lines


def wrapping_row(groups, gap: int = 12, line_gap: int = 3) -> QtWidgets.QWidget:
    """Groups of widgets side by side, ``gap`` pixels apart, wrapping onto another line when
    the row is too narrow for them; the widgets of a group stay together on one line."""
    row = QtWidgets.QWidget()
    flow = _WrappingFlow(row, spacing=line_gap)
    flow.setContentsMargins(0, 0, 0, 0)
    for widgets in groups:
        group = QtWidgets.QWidget()
        box = QtWidgets.QHBoxLayout(group)
        box.setContentsMargins(0, 0, gap - line_gap, 0)  # the flow adds line_gap
        for widget in widgets:
            box.addWidget(widget)
        flow.addWidget(group)
    return row


def grid_options(bar: ModelToolbar) -> QtWidgets.QWidget:
    """The options above the grid: what the grid shows, tokens / words / sentences, head
    types and the filter; on one line when the grid is wide enough, on more when not."""
    row = wrapping_row(
        (
            (QtWidgets.QLabel("grid shows"), bar.gridMode),
            (QtWidgets.QLabel("rows and columns"), bar.poolCombo),
            (bar.typeFilter, bar.gridFilter),
        )
    )
    row.setObjectName("gridOptions")
    row.layout().setContentsMargins(4, 0, 4, 0)
    return row
