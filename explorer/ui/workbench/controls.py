"""The model-of-attention panel: embedding source, sizes, heads, masks and temperature."""

from __future__ import annotations

import math

from PySide6 import QtCore, QtWidgets

from explorer.core.session import (
    COLORMAPS,
    EMBEDDING_SOURCES,
    MAX_HEADS,
    POSITIONAL_ENCODINGS,
    POSITIONAL_MODES,
    PROJECTION_PRESETS,
    SCORE_COLORMAPS,
    TEMPERATURE_RANGE,
    Session,
)
from explorer.ui.document import close_merge_on_pause

T_STEPS = 1000  # temperature slider resolution (log scale)


def temperature_from_slider(pos: int) -> float:
    lo, hi = (math.log(t) for t in TEMPERATURE_RANGE)
    return float(math.exp(lo + (hi - lo) * pos / T_STEPS))


def slider_from_temperature(t: float) -> int:
    lo, hi = (math.log(x) for x in TEMPERATURE_RANGE)
    t = min(max(t, TEMPERATURE_RANGE[0]), TEMPERATURE_RANGE[1])
    return round((math.log(t) - lo) / (hi - lo) * T_STEPS)


def _hbox(*widgets: QtWidgets.QWidget, stretch: tuple[int, ...] = ()) -> QtWidgets.QWidget:
    """Widgets side by side in one form cell."""
    row = QtWidgets.QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for i, w in enumerate(widgets):
        row.addWidget(w, stretch[i] if i < len(stretch) else 0)
    box = QtWidgets.QWidget()
    box.setLayout(row)
    return box


def _form_row(form: QtWidgets.QFormLayout, label: str, widget: QtWidgets.QWidget, tip: str):
    widget.setToolTip(tip)
    lab = QtWidgets.QLabel(label)
    lab.setToolTip(tip)
    lab.setBuddy(widget)
    form.addRow(lab, widget)


class ModelPanel(QtWidgets.QWidget):
    """Embedding source, sizes, heads, mask and temperature.

    Emits ``changed(dict, str)`` with the Session fields to change and an undo label.
    The panel never edits the Session itself; the window applies the change.
    """

    changed = QtCore.Signal(dict, str)
    temperatureDragFinished = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modelPanel")
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(6, 6, 6, 6)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.embeddingSource = QtWidgets.QComboBox(objectName="embeddingSource")
        self.embeddingSource.addItems(EMBEDDING_SOURCES)
        _form_row(
            form,
            "&Embedding",
            self.embeddingSource,
            "Where token vectors come from: one-hot (every word unrelated), builtin "
            "(pretrained static vectors), random, or a pretrained model's layer input",
        )
        self.dModelSpin = QtWidgets.QSpinBox(objectName="dModelSpin")
        self.dModelSpin.setRange(2, 64)
        _form_row(
            form, "d_&model", self.dModelSpin, "Size of each token vector (principal components)"
        )
        self.positionalCombo = QtWidgets.QComboBox(objectName="positionalCombo")
        self.positionalCombo.addItems(POSITIONAL_ENCODINGS)
        self.positionalMode = QtWidgets.QComboBox(objectName="positionalMode")
        self.positionalMode.addItems(POSITIONAL_MODES)
        pos_box = _hbox(self.positionalCombo, self.positionalMode, stretch=(2, 1))
        _form_row(
            form,
            "&Position",
            pos_box,
            "Positional encoding (none, sinusoidal or learned), added to or concatenated "
            "with the token vector: without it attention cannot tell word order",
        )
        self.headCount = QtWidgets.QSpinBox(objectName="headCount")
        self.headCount.setRange(1, MAX_HEADS)
        _form_row(form, "&Heads", self.headCount, "Number of attention heads, each with its own W")
        self.dHeadSpin = QtWidgets.QSpinBox(objectName="dHeadSpin")
        self.dHeadSpin.setRange(1, 64)
        _form_row(form, "d_hea&d", self.dHeadSpin, "Size of each head's queries, keys and values")
        self.presetCombo = QtWidgets.QComboBox(objectName="presetCombo")
        self.presetCombo.addItems(PROJECTION_PRESETS)
        self.presetSeed = QtWidgets.QSpinBox(objectName="presetSeed")
        self.presetSeed.setRange(0, 2**31 - 1)
        preset_box = _hbox(self.presetCombo, self.presetSeed, stretch=(2, 1))
        _form_row(
            form,
            "&Preset",
            preset_box,
            "Starting projections for every head (identity compares raw embeddings; "
            "orthogonal is random with the seed). Choosing one resets all weights",
        )
        self.causalCheck = QtWidgets.QCheckBox("causal", objectName="causalCheck")
        self.causalCheck.setToolTip(
            "Causal mask: each token may attend only to itself and earlier tokens, "
            "as in GPT-style language models"
        )
        self.sentenceCheck = QtWidgets.QCheckBox("per sentence", objectName="sentenceCheck")
        self.sentenceCheck.setToolTip(
            "Each token attends only within its own sentence, so two sentences are read "
            "separately (the article's two “bank” sentences)"
        )
        mask_box = _hbox(self.causalCheck, self.sentenceCheck)
        _form_row(form, "&Mask", mask_box, "Which keys each query may attend to")
        self.blockedLabel = QtWidgets.QLabel(objectName="blockedLabel")
        self.clearBlocked = QtWidgets.QPushButton("Clear", objectName="clearBlockedButton")
        self.clearBlocked.setToolTip("Restore every query→key pair you cut")
        fm = self.clearBlocked.fontMetrics()
        self.clearBlocked.setFixedWidth(fm.horizontalAdvance("Clear") + 24)
        cut_box = _hbox(self.blockedLabel, self.clearBlocked, stretch=(1, 0))
        _form_row(
            form,
            "Cut",
            cut_box,
            "Single query→key pairs masked by hand: Ctrl+click a cell of the attention "
            "heatmap to cut it, again to restore it. Pairs are token positions",
        )
        self.temperatureSlider = QtWidgets.QSlider(
            QtCore.Qt.Orientation.Horizontal, objectName="temperatureSlider"
        )
        self.temperatureSlider.setRange(0, T_STEPS)
        self.temperatureReadout = QtWidgets.QLabel(objectName="temperatureReadout")
        t_box = _hbox(self.temperatureSlider, self.temperatureReadout, stretch=(1, 0))
        _form_row(
            form,
            "&Temperature",
            t_box,
            "Temperature τ divides the scores before the softmax: low τ makes attention "
            "sharp (one winner), high τ spreads it evenly",
        )
        self.colormapCombo = QtWidgets.QComboBox(objectName="colormapCombo")
        self.colormapCombo.addItems(COLORMAPS)
        self.scoreColormapCombo = QtWidgets.QComboBox(objectName="scoreColormapCombo")
        self.scoreColormapCombo.addItems(SCORE_COLORMAPS)
        cm_box = _hbox(self.colormapCombo, self.scoreColormapCombo)
        _form_row(
            form,
            "&Colours",
            cm_box,
            "Colour map for weights (cividis is colour-blind safe) and the diverging map "
            "for signed scores (CET-CBD1 is colour-blind safe)",
        )
        self.showValues = QtWidgets.QCheckBox("values in cells", objectName="showValuesCheck")
        self.showSpecial = QtWidgets.QCheckBox("[CLS]/[SEP]", objectName="showSpecialCheck")
        opt_box = _hbox(self.showValues, self.showSpecial)
        _form_row(
            form,
            "Sho&w",
            opt_box,
            "Write numbers in heatmap cells when there is room; show BERT's special tokens",
        )
        self._d_head_for_readout = 8
        for spin in (self.dModelSpin, self.headCount, self.dHeadSpin, self.presetSeed):
            # typing "12" must not apply 1 first (dropping heads 1-11 and their edits):
            # typed values apply on Enter or focus out; arrows and the wheel apply at once
            spin.setKeyboardTracking(False)

        self.embeddingSource.currentTextChanged.connect(
            lambda v: self.changed.emit({"embedding": v}, "Embedding source")
        )
        self.dModelSpin.valueChanged.connect(lambda v: self.changed.emit({"d_model": v}, "d_model"))
        self.positionalCombo.currentTextChanged.connect(
            lambda v: self.changed.emit({"positional": v}, "Positional encoding")
        )
        self.positionalMode.currentTextChanged.connect(
            lambda v: self.changed.emit({"positional_mode": v}, "Positional mode")
        )
        self.headCount.valueChanged.connect(lambda v: self.changed.emit({"n_head": v}, "Heads"))
        self.dHeadSpin.valueChanged.connect(lambda v: self.changed.emit({"d_head": v}, "d_head"))
        self.presetCombo.currentTextChanged.connect(
            lambda v: self.changed.emit({"preset": v}, "Projection preset")
        )
        self.presetSeed.valueChanged.connect(
            lambda v: self.changed.emit({"preset_seed": v}, "Preset seed")
        )
        self.causalCheck.toggled.connect(lambda v: self.changed.emit({"causal": v}, "Causal mask"))
        self.sentenceCheck.toggled.connect(
            lambda v: self.changed.emit({"sentence_mask": v}, "Sentence mask")
        )
        self.clearBlocked.clicked.connect(
            lambda: self.changed.emit({"blocked": ()}, "Clear cut pairs")
        )
        self.temperatureSlider.valueChanged.connect(self._on_temperature_slider)
        close_merge_on_pause(self.temperatureSlider, self.temperatureDragFinished.emit)
        self.colormapCombo.currentTextChanged.connect(
            lambda v: self.changed.emit({"view.colormap": v}, "Colour map")
        )
        self.scoreColormapCombo.currentTextChanged.connect(
            lambda v: self.changed.emit({"view.score_colormap": v}, "Score colour map")
        )
        self.showValues.toggled.connect(
            lambda v: self.changed.emit({"view.show_values": v}, "Values in cells")
        )
        self.showSpecial.toggled.connect(
            lambda v: self.changed.emit({"view.show_special": v}, "Special tokens")
        )

    def _on_temperature_slider(self, pos: int) -> None:
        t = temperature_from_slider(pos)
        self._update_temperature_readout(t)
        self.changed.emit({"temperature": t}, "Temperature")

    def _update_temperature_readout(self, t: float) -> None:
        d = self._d_head_for_readout
        scale = 1 / (math.sqrt(d) * t)
        self.temperatureReadout.setText(f"τ={t:.2f} s={scale:.3f}")
        self.temperatureReadout.setToolTip(f"effective scale s = 1/(√d_head·τ) = 1/(√{d}·{t:.2f})")

    def set_session(self, s: Session) -> None:
        """Show ``s`` without emitting edits."""
        widgets = self.findChildren(QtWidgets.QWidget)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.embeddingSource.setCurrentText(s.embedding)
            own_width = s.embedding in ("builtin", "random", "one-hot")
            self.dModelSpin.setMaximum(64 if own_width else max(s.d_model, 64))
            self.dModelSpin.setValue(s.d_model)
            self.dModelSpin.setEnabled(own_width)  # a model's layer decides its own width
            self.positionalCombo.setCurrentText(s.positional)
            self.positionalMode.setCurrentText(s.positional_mode)
            self.headCount.setValue(s.n_head)
            self.dHeadSpin.setValue(s.d_head)
            self.presetCombo.setCurrentText(s.preset)
            self.presetSeed.setValue(s.preset_seed)
            self.presetSeed.setEnabled(s.preset == "orthogonal")
            self.causalCheck.setChecked(s.causal)
            self.sentenceCheck.setChecked(s.sentence_mask)
            n = len(s.blocked)
            self.blockedLabel.setText(
                f"{n} pair{'s' if n != 1 else ''} cut" if n else "none: Ctrl+click cells"
            )
            self.clearBlocked.setEnabled(bool(n))
            if temperature_from_slider(self.temperatureSlider.value()) != s.temperature:
                self.temperatureSlider.setValue(slider_from_temperature(s.temperature))
            self._d_head_for_readout = s.d_head
            self._update_temperature_readout(s.temperature)
            self.colormapCombo.setCurrentText(s.view.colormap)
            self.scoreColormapCombo.setCurrentText(s.view.score_colormap)
            self.showValues.setChecked(s.view.show_values)
            self.showSpecial.setChecked(s.view.show_special)
        finally:
            for w in widgets:
                w.blockSignals(False)
