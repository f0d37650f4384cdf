"""The panels of the model view: the missing-model banner, the head summary, head edits and
the word-through-the-layers plot. They only display what they are given."""

from __future__ import annotations

import html
import re

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.encoder import EncoderError
from explorer.core.model_analysis import find_word
from explorer.ui.model.grid import BADGES, LEGEND

DEFAULT_WORD = "bank"
DEFAULT_TEXTS = ("I sat by the river bank.", "I deposited money in the bank.")


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


class ModelBanner(QtWidgets.QFrame):
    """A warning strip shown when the session names a model that cannot be used."""

    openRequested = QtCore.Signal()
    useLoadedRequested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modelBanner")
        self.setStyleSheet(
            "#modelBanner { background: #fff3cd; border: 1px solid #e0b84c; border-radius: 4px; }"
            " #modelBanner QLabel { color: #5c4400; }"
        )
        self.candidate = None  # an encoder of the same name with other weights
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(8, 3, 8, 3)
        self.text = QtWidgets.QLabel(objectName="modelBannerText")
        self.text.setWordWrap(True)
        self.openButton = QtWidgets.QPushButton("Open Model…", objectName="bannerOpenButton")
        self.openButton.clicked.connect(self.openRequested)
        self.useButton = QtWidgets.QPushButton(
            "Use these weights", objectName="bannerUseLoadedButton"
        )
        self.useButton.setToolTip("Record the weights found on this computer in the session")
        self.useButton.clicked.connect(self.useLoadedRequested)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.useButton)
        lay.addWidget(self.openButton)
        self.hide()

    def show_problem(self, problem, encoder) -> None:
        """Show ``problem`` (a ModelUnavailable) or hide the banner when it is None."""
        if problem is None:
            self.candidate = None
            self.hide()
            return
        mismatch = problem.reason == "mismatch" and encoder is not None
        self.candidate = encoder if mismatch and encoder.name == problem.ref.name else None
        meanwhile = (
            f" The Model tab shows {encoder.name} meanwhile."
            if encoder is not None and self.candidate is None
            else ""
        )
        self.text.setText(
            f"<b>Model unavailable.</b> {problem} The workbench cannot compute this session "
            f"until the model is found.{meanwhile}"
        )
        self.useButton.setVisible(self.candidate is not None)
        self.show()

    def show_hint(self, text: str) -> None:
        """Show a note that needs no model action (hidden again by ``show_problem(None, …)``)."""
        self.candidate = None
        self.text.setText(text)
        self.useButton.hide()
        self.show()


def _bar(name: str) -> QtWidgets.QProgressBar:
    bar = QtWidgets.QProgressBar(objectName=f"summary_{name}")
    bar.setRange(0, 1000)
    bar.setMaximumHeight(14)
    # the number goes in a label beside the bar: text inside a short bar gets clipped
    bar.setTextVisible(False)
    bar.setMinimumWidth(40)
    return bar


def _value_label(name: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(objectName=f"summary_{name}_value")
    label.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
    return label


def grid_options(bar: ModelToolbar) -> QtWidgets.QWidget:
    """The row above the grid: what the grid shows, and tokens / words / sentences."""
    row = QtWidgets.QWidget(objectName="gridOptions")
    layout = QtWidgets.QHBoxLayout(row)
    layout.setContentsMargins(4, 0, 4, 0)
    layout.addWidget(QtWidgets.QLabel("grid shows"))
    layout.addWidget(bar.gridMode)
    layout.addSpacing(12)
    layout.addWidget(QtWidgets.QLabel("rows and columns"))
    layout.addWidget(bar.poolCombo)
    layout.addSpacing(12)
    layout.addWidget(bar.typeFilter)
    layout.addWidget(bar.gridFilter)
    layout.addStretch(1)
    return row


class SummaryPanel(QtWidgets.QGroupBox):
    """Entropy and where the weight of the selected head goes (means over query rows)."""

    SHARES = (
        ("cls", "→ [CLS]", "Mean weight on [CLS]"),
        ("sep", "→ [SEP]", "Mean weight on [SEP]: many heads park their weight there"),
        ("prev", "→ previous", "Mean weight on the token just before the query"),
        ("next", "→ next", "Mean weight on the token just after the query"),
        ("self", "→ itself", "Mean weight of a token on itself"),
    )

    def __init__(self, parent=None):
        super().__init__("Head summary", parent)
        self.setObjectName("headSummary")
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setVerticalSpacing(2)
        self.entropy = _bar("entropy")
        self.entropy.setToolTip(
            "Mean entropy of the head's rows in nats: 0 = every query looks at one token, "
            "log T = uniform attention"
        )
        self.entropyValue = _value_label("entropy")
        self.entropyValue.setToolTip(self.entropy.toolTip())
        grid.addWidget(QtWidgets.QLabel("entropy"), 0, 0)
        grid.addWidget(self.entropy, 0, 1)
        grid.addWidget(self.entropyValue, 0, 2)
        self.bars: dict[str, QtWidgets.QProgressBar] = {}
        self.values: dict[str, QtWidgets.QLabel] = {}
        for r, (key, label, tip) in enumerate(self.SHARES, start=1):
            bar, value = _bar(key), _value_label(key)
            bar.setToolTip(tip)
            value.setToolTip(tip)
            self.bars[key], self.values[key] = bar, value
            grid.addWidget(QtWidgets.QLabel(label), r, 0)
            grid.addWidget(bar, r, 1)
            grid.addWidget(value, r, 2)
        grid.setColumnStretch(1, 1)
        self.pattern = QtWidgets.QLabel(objectName="summary_pattern")
        self.pattern.setToolTip("What the head mostly does (the largest share if at least 50%)")
        self.pattern.setWordWrap(True)
        grid.addWidget(self.pattern, len(self.SHARES) + 1, 0, 1, 3)

    def show_head(self, summary, layer: int, head: int, pattern: str) -> None:
        """Show ``summary`` (a HeadSummary) for one head."""
        values = {
            "cls": summary.to_cls,
            "sep": summary.to_sep,
            "prev": summary.to_prev,
            "next": summary.to_next,
            "self": summary.to_self,
        }
        for key, arr in values.items():
            v = float(arr[layer, head])
            self.bars[key].setValue(round(v * 1000))
            self.bars[key].setFormat(f"{v:.2f}")  # for screen readers
            self.values[key].setText(f"{v:.2f}")
        e = float(summary.entropy[layer, head])
        self.entropy.setValue(round(1000 * min(e / max(self._max_entropy, 1e-9), 1.0)))
        self.entropy.setFormat(f"{e:.2f} of {self._max_entropy:.2f} nats")
        self.entropyValue.setText(f"{e:.2f} / {self._max_entropy:.2f}")
        self.pattern.setText(f"L{layer} H{head}: {pattern}")

    _max_entropy = 1.0

    def set_length(self, T: int) -> None:
        """Entropy's scale: log T, the entropy of uniform attention over T tokens."""
        self._max_entropy = float(np.log(max(T, 2)))


class EditPanel(QtWidgets.QGroupBox):
    """Copy the selected head into the workbench, or ablate / scale it in the model."""

    copyRequested = QtCore.Signal()
    editRequested = QtCore.Signal()
    ablateRequested = QtCore.Signal()
    scaleRequested = QtCore.Signal(float)
    clearRequested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__("Edit this head", parent)
        self.setObjectName("editPanel")
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setVerticalSpacing(3)
        self.copyButton = QtWidgets.QPushButton(
            "Copy this head into the workbench", objectName="copyHeadButton"
        )
        self.copyButton.setToolTip(
            "Put the head's real W_Q, W_K, W_V (with its biases as an extra row) and its "
            "layer's input vectors into the workbench, to edit them with the sliders"
        )
        self.editButton = QtWidgets.QPushButton(
            "Edit W_Q, W_K, W_V here", objectName="editHeadButton"
        )
        self.editButton.setToolTip(
            "Bind this head to the sliders below the grid and change its real projections "
            "in the model: every layer above follows live"
        )
        self.ablateButton = QtWidgets.QPushButton("Ablate head", objectName="ablateButton")
        self.ablateButton.setToolTip("Zero the head's output and recompute the layers above")
        self.scaleButton = QtWidgets.QPushButton("Scale head ×", objectName="scaleButton")
        self.scaleButton.setToolTip("Multiply the head's output by the factor")
        self.factor = QtWidgets.QDoubleSpinBox(objectName="scaleFactorSpin")
        self.factor.setRange(-5.0, 5.0)
        self.factor.setSingleStep(0.5)
        self.factor.setValue(2.0)
        self.factor.setToolTip("The factor “Scale head ×” multiplies the head's output by")
        self.clearButton = QtWidgets.QPushButton("Clear edits", objectName="clearEditsButton")
        self.clearButton.setToolTip("Back to the unedited model")
        self.effect = QtWidgets.QLabel(objectName="editEffect")
        self.effect.setWordWrap(True)
        self.effect.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.copyButton, 0, 0, 1, 4)
        grid.addWidget(self.editButton, 1, 0, 1, 4)
        grid.addWidget(self.ablateButton, 2, 0)
        grid.addWidget(self.scaleButton, 2, 1)
        grid.addWidget(self.factor, 2, 2)
        grid.addWidget(self.clearButton, 2, 3)
        grid.addWidget(self.effect, 3, 0, 1, 4)
        grid.setRowStretch(4, 1)
        self.copyButton.clicked.connect(self.copyRequested)
        self.editButton.clicked.connect(self.editRequested)
        self.ablateButton.clicked.connect(self.ablateRequested)
        self.scaleButton.clicked.connect(lambda: self.scaleRequested.emit(self.factor.value()))
        self.clearButton.clicked.connect(self.clearRequested)
        self.effect.setText("No edits.")

    def set_model(self, enc, n_layer: int, n_head: int) -> None:
        self.setTitle(f"Edit this head of {enc.name.split('/')[-1]}")

    def show_effect(self, analysis, label: str) -> None:
        """Describe the active edits and the sentence embedding's cosine to the original."""
        self.clearButton.setEnabled(bool(analysis.edits))
        if not analysis.edits:
            self.effect.setText(
                "No edits. Ablate, scale or edit a head to see how the layers above change: "
                "the cosine of the sentence embedding to the original appears here."
            )
            self.effect.setToolTip("")
            return
        cos = analysis.layer_cosine
        per_layer = "…" if cos is None else " · ".join(f"{c:.3f}" for c in cos[1:])
        self.effect.setText(
            f"<b>{label}</b>: cos(sentence embedding, original) = "
            f"<b>{analysis.pooled_cosine:.4f}</b><br>after each layer: {per_layer}"
        )
        self.effect.setToolTip(
            "Cosine of the mean-pooled hidden states of the edited and the original model, "
            "after each layer; the grid shows the edited model's attention"
        )


class WordPanel(QtWidgets.QGroupBox):
    """cos(word in text 1, word in text 2) against layer: how context separates one word."""

    changed = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__("One word in two contexts, layer by layer", parent)
        self.setObjectName("wordPanel")
        form = QtWidgets.QGridLayout(self)
        form.setContentsMargins(6, 4, 6, 4)
        form.setVerticalSpacing(2)
        self.wordEdit = QtWidgets.QLineEdit(DEFAULT_WORD, objectName="wordEdit")
        self.wordEdit.setToolTip("A word that occurs in both texts")
        self.wordEdit.setMaximumWidth(120)
        self.wordEdit.setMinimumWidth(70)
        self.textAEdit = QtWidgets.QLineEdit(DEFAULT_TEXTS[0], objectName="textAEdit")
        self.textBEdit = QtWidgets.QLineEdit(DEFAULT_TEXTS[1], objectName="textBEdit")
        form.addWidget(QtWidgets.QLabel("word"), 0, 0)
        form.addWidget(self.wordEdit, 0, 1)
        form.addWidget(QtWidgets.QLabel("in"), 0, 2)
        form.addWidget(self.textAEdit, 0, 3)
        form.addWidget(QtWidgets.QLabel("and"), 1, 2)
        form.addWidget(self.textBEdit, 1, 3)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("bankPlot")
        self.plot.setToolTip(
            "Cosine of the word's two contextual vectors after each layer (0 = embeddings). "
            "A falling line means the model separates the two senses"
        )
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "layer (0 = embeddings)")
        self.plot.setLabel("left", "cosine")
        self.line = self.plot.plot(
            [], [], pen=pg.mkPen((31, 119, 180), width=2), symbol="o", symbolSize=6,
            symbolBrush=(31, 119, 180), name="model",
        )  # fmt: skip
        self.edited = self.plot.plot(
            [], [], pen=pg.mkPen((214, 39, 40), width=2, style=QtCore.Qt.PenStyle.DashLine),
            symbol="t", symbolSize=6, symbolBrush=(214, 39, 40), name="edited",
        )  # fmt: skip
        form.addWidget(self.plot, 2, 0, 1, 4)
        form.setRowStretch(2, 1)
        self._timer = QtCore.QTimer(self, singleShot=True, interval=300)
        self._timer.timeout.connect(self.changed)
        for edit in (self.wordEdit, self.textAEdit, self.textBEdit):
            edit.textEdited.connect(self._timer.start)

    def values(self) -> tuple[str, str, str]:
        return self.wordEdit.text(), self.textAEdit.text(), self.textBEdit.text()

    def show_curve(self, curve, error: str, n_layer: int) -> None:
        """Draw a WordCurve (or the reason there is none)."""
        word = html.escape(_elide(self.wordEdit.text().strip(), 20), quote=False) or "word"
        if curve is None:
            self.line.setData([], [])
            self.edited.setData([], [])
            # the title is one line of HTML: escape the text, keep it short
            self.plot.setTitle(html.escape(_elide(error, 120), quote=False), size="9pt")
            return
        x = np.arange(len(curve.cosine))
        self.line.setData(x, curve.cosine)
        if curve.edited is not None:
            self.edited.setData(x, curve.edited)
        else:
            self.edited.setData([], [])
        lows = [curve.cosine.min()] + ([curve.edited.min()] if curve.edited is not None else [])
        self.plot.setYRange(min(min(lows) - 0.05, 0.9), 1.02, padding=0)
        self.plot.setXRange(-0.2, n_layer + 0.2, padding=0)
        self.plot.getAxis("bottom").setTicks([[(i, str(i)) for i in range(n_layer + 1)]])
        title = f"cos({word}₁, {word}₂): {curve.cosine[0]:.2f} → {curve.cosine[-1]:.2f}"
        if curve.edited is not None:  # the title is the legend: no box over the curves
            title += (
                f"   <span style='color:#d62728'>- - edited model → {curve.edited[-1]:.2f}</span>"
            )
        self.plot.setTitle(title, size="9pt")


def _elide(text: str, n: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def word_message(bridge, enc, word: str, texts, error: str) -> str:
    """A short reason for a missing word curve.

    The core's message quotes every token of the text; this one names the text (1 or 2),
    quotes at most 40 characters of it, and says when the word is missing only because the
    text is longer than the model reads.

    Parameters
    ----------
    bridge : ModelBridge
        Its forward cache already holds both texts (no encoder run here).
    enc : Encoder
    word : str
    texts : (str, str)
    error : str
        The core's message.

    Returns
    -------
    str
    """
    word = word.strip()
    if not word or "does not occur" not in error:
        return _elide(error, 120)
    for n, text in enumerate(texts, start=1):
        try:
            tokens, _ = bridge.run(enc, text)  # normally cached: no encoder run
        except EncoderError:
            continue
        try:
            find_word(enc, tokens, word)
            continue
        except EncoderError:
            pass
        if tokens.truncated:
            ends = [
                end for (_, end), s in zip(tokens.offsets, tokens.special, strict=True) if not s
            ]
            read = max(ends, default=0)  # characters the model read
            pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
            if not pattern.search(text[:read]) and pattern.search(text[read:]):
                return (
                    f"text {n} was truncated to {len(tokens.ids)} tokens (the model's limit): "
                    f"'{_elide(word, 20)}' comes after the cut"
                )
        return f"'{_elide(word, 20)}' does not occur as a word in text {n}: “{_elide(text)}”"
    return _elide(error, 120)
