"""The panels of the model view: the missing-model banner, the head summary, head edits and
the word-through-the-layers plot. They only display what they are given."""

from __future__ import annotations

import html
import re

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from explorer.core.encoder import EncoderError
from explorer.core.model_analysis import find_word
from explorer.ui.model.toolbar import wrapping_row

DEFAULT_WORD = "bank"
DEFAULT_TEXTS = ("I sat by the river bank.", "I deposited money in the bank.")


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

    #: a longer model name is elided in the title (which sets the panel's least width)
    TITLE_NAME_WIDTH = 150

    def __init__(self, parent=None):
        super().__init__("Edit this head", parent)
        self.setObjectName("editPanel")
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
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        box.setSpacing(3)
        box.addWidget(self.copyButton)
        box.addWidget(self.editButton)
        # on one line, or on two in a narrow panel (it must not hold the window wider)
        box.addWidget(
            wrapping_row(
                ((self.ablateButton,), (self.scaleButton, self.factor), (self.clearButton,)),
                gap=6,
            )
        )
        # the description scrolls when the panel is short, rather than cover the buttons
        effect_scroll = QtWidgets.QScrollArea()
        effect_scroll.setWidget(self.effect)
        effect_scroll.setWidgetResizable(True)
        self.effect.setAutoFillBackground(False)  # the group box's colour shows through
        effect_scroll.viewport().setAutoFillBackground(False)
        effect_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        effect_scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        effect_scroll.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        effect_scroll.setMinimumHeight(2 * self.fontMetrics().lineSpacing())
        self.effect.setAlignment(
            QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft
        )
        box.addWidget(effect_scroll, 1)
        self.copyButton.clicked.connect(self.copyRequested)
        self.editButton.clicked.connect(self.editRequested)
        self.ablateButton.clicked.connect(self.ablateRequested)
        self.scaleButton.clicked.connect(lambda: self.scaleRequested.emit(self.factor.value()))
        self.clearButton.clicked.connect(self.clearRequested)
        self.effect.setText("No edits.")

    def set_model(self, enc, n_layer: int, n_head: int) -> None:
        name = enc.name.split("/")[-1]
        mid = QtCore.Qt.TextElideMode.ElideMiddle
        shown = self.fontMetrics().elidedText(name, mid, self.TITLE_NAME_WIDTH)
        self.setTitle(f"Edit this head of {shown}")
        self.setToolTip("" if shown == name else f"Edit this head of {name}")

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
        self.textAEdit.setToolTip("The first text the word appears in (one sense of it)")
        self.textBEdit.setToolTip("The second text the word appears in (another sense)")
        form.addWidget(QtWidgets.QLabel("word"), 0, 0)
        form.addWidget(self.wordEdit, 0, 1)
        form.addWidget(QtWidgets.QLabel("in"), 0, 2)
        form.addWidget(self.textAEdit, 0, 3)
        form.addWidget(QtWidgets.QLabel("and"), 1, 2)
        form.addWidget(self.textBEdit, 1, 3)
        self.plot = pg.PlotWidget(enableMenu=False)
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
