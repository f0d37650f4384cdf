"""The panels of the Decoder tab: next-token bars, the logit-lens table and generation.

They only display what they are given; :mod:`explorer.ui.decoder.view` feeds them.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.session import GENERATE_TEMPERATURE_RANGE
from explorer.ui.heatmap import colormap


def percent(p: float) -> str:
    """``42.1%``, ``0.3%``, ``<0.1%``."""
    if not np.isfinite(p):
        return "–"
    if p >= 0.995:
        return f"{100 * p:.1f}%"
    return f"{100 * p:.1f}%" if p >= 0.001 else "<0.1%"


class NextTokenBars(QtWidgets.QWidget):
    """The likeliest next tokens as labelled horizontal bars, probability written on each.

    ``set_data(tokens, probs, title)``; every number is drawn, none hides behind hover.
    """

    ROW_PX = 16
    ROWS = 10  # room for the top 10 without scrolling

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("nextTokenBars")
        self._tokens: tuple[str, ...] = ()
        self._probs = np.zeros(0)
        self._marked = -1
        self.setMinimumHeight(self.ROWS * self.ROW_PX + 4)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred
        )

    def set_data(self, tokens, probs, marked: int = -1) -> None:
        """``marked``: index of the token that really comes next in the text (or -1)."""
        self._tokens = tuple(tokens)
        self._probs = np.asarray(probs, dtype=np.float64)
        self._marked = marked
        self.updateGeometry()
        self.update()

    def rows(self) -> list[tuple[str, str]]:
        """(token, probability text) of every bar, as drawn."""
        return [(t, percent(p)) for t, p in zip(self._tokens, self._probs, strict=True)]

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(260, max(6, len(self._tokens)) * self.ROW_PX + 4)

    def paintEvent(self, event) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fm = self.fontMetrics()
        label_w = min(
            max((fm.horizontalAdvance(t) for t in self._tokens), default=40) + 12,
            self.width() // 3,
        )
        num_w = fm.horizontalAdvance("100.0%") + 8
        bar_w = max(10, self.width() - label_w - num_w - 4)
        top = max(p for p in self._probs) if self._probs.size else 1.0
        cmap = colormap("viridis")
        for i, (tok, prob) in enumerate(zip(self._tokens, self._probs, strict=True)):
            y = 2 + i * self.ROW_PX
            rect = QtCore.QRectF(0, y, label_w - 6, self.ROW_PX - 2)
            text = fm.elidedText(tok, QtCore.Qt.TextElideMode.ElideRight, int(rect.width()))
            font = p.font()
            font.setBold(i == self._marked)
            p.setFont(font)
            p.setPen(pal.color(QtGui.QPalette.ColorRole.WindowText))
            p.drawText(
                rect,
                QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter,
                text,
            )
            w = bar_w * (prob / top if top > 0 else 0.0)
            color = cmap.map(float(np.clip(prob, 0, 1)), mode="qcolor")
            p.fillRect(QtCore.QRectF(label_w, y + 2, max(w, 1.0), self.ROW_PX - 6), color)
            p.drawText(
                QtCore.QRectF(label_w + w + 4, y, num_w, self.ROW_PX - 2),
                QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter,
                percent(prob),
            )
        p.end()


class NextTokenPanel(QtWidgets.QGroupBox):
    """The top-10 next tokens at the selected position, with the entropy."""

    def __init__(self, parent=None):
        super().__init__("Next token", parent)
        self.setObjectName("nextTokenPanel")
        self.caption = QtWidgets.QLabel(objectName="nextTokenCaption")
        self.caption.setWordWrap(True)
        self.bars = NextTokenBars()
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.caption)
        lay.addWidget(self.bars)
        self.setToolTip(
            "The model's probability for each token to come next after the selected position "
            "(click a row of the head view to pick another position). Live under head edits."
        )

    def show_tokens(self, nxt, context: str, actual: str | None) -> None:
        marked = nxt.tokens.index(actual) if actual in nxt.tokens else -1
        after = html.escape(context)
        real = f"; the text continues with <b>{html.escape(actual)}</b>" if actual else ""
        self.caption.setText(
            f"After <b>{after}</b> (position {nxt.position}){real}. Entropy {nxt.entropy:.2f} nats."
        )
        self.bars.set_data(nxt.tokens, nxt.probs, marked)


class LogitLensTable(QtWidgets.QTableWidget):
    """Layers × positions: the top token of each layer's residual stream and its probability.

    Cells are coloured by probability (viridis); a token equal to what really comes next in
    the text is bold.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("logitLensTable")
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.verticalHeader().setDefaultSectionSize(32)
        self.horizontalHeader().setDefaultSectionSize(64)
        self.setToolTip(
            "Logit lens: each layer's residual stream read through the final norm and the LM "
            "head, as if the model stopped there. Columns are positions (the token read); each "
            "cell is the likeliest next token and its probability. Bold: the token that "
            "really comes next."
        )
        self._cmap = colormap("viridis")

    def show_lens(self, lens, tokens, next_ids) -> None:
        R, T = lens.ids.shape
        self.setRowCount(R)
        self.setColumnCount(T)
        self.setVerticalHeaderLabels(list(lens.row_names))
        self.setHorizontalHeaderLabels([f"{i} {t}" for i, t in enumerate(tokens)])
        bold = QtGui.QFont(self.font())
        bold.setBold(True)
        for r in range(R):
            for t in range(T):
                prob = float(lens.probs[r, t])
                item = self.item(r, t)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
                    self.setItem(r, t, item)
                item.setText(f"{lens.tokens[r][t]}\n{percent(prob)}")
                color = self._cmap.map(float(np.clip(prob, 0, 1)), mode="qcolor")
                item.setBackground(color)
                light = color.lightnessF() > 0.55
                item.setForeground(QtGui.QColor("black" if light else "white"))
                hit = t < len(next_ids) and int(lens.ids[r, t]) == int(next_ids[t])
                item.setFont(bold if hit else self.font())
                target = lens.target_probs[r, t]
                item.setToolTip(
                    f"{lens.row_names[r]}, position {t} ({tokens[t]}): top token "
                    f"{lens.tokens[r][t]} at {percent(prob)}"
                    + (f"; the real next token at {percent(target)}" if np.isfinite(target) else "")
                )
        self.resizeColumnsToContents()

    def show_position(self, col: int) -> None:
        """Scroll column ``col`` (the position whose prediction is shown) into view and
        mark its header in bold."""
        bold = QtGui.QFont(self.font())
        bold.setBold(True)
        for c in range(self.columnCount()):
            header = self.horizontalHeaderItem(c)
            if header is not None:
                header.setFont(bold if c == col else self.font())
        if 0 <= col < self.columnCount() and self.rowCount():
            # after the columns' new widths are laid out
            QtCore.QTimer.singleShot(0, lambda: self._scroll_to(col))

    def _scroll_to(self, col: int) -> None:
        if col < self.columnCount() and self.rowCount():
            hint = QtWidgets.QAbstractItemView.ScrollHint.PositionAtCenter
            self.scrollTo(self.model().index(0, col), hint)

    def cell_text(self, row: int, col: int) -> str:
        item = self.item(row, col)
        return "" if item is None else item.text()


class GeneratePanel(QtWidgets.QGroupBox):
    """Append tokens to the text: one at a time or N, greedy or sampled.

    Signals
    -------
    generateRequested(int)
        Number of tokens to append.
    settingsChanged(dict)
        ``sample``, ``temperature``, ``top_k`` or ``seed`` changed by the user.
    """

    generateRequested = QtCore.Signal(int)
    settingsChanged = QtCore.Signal(dict)

    def __init__(self, parent=None):
        super().__init__("Generate", parent)
        self.setObjectName("generatePanel")
        self.nextButton = QtWidgets.QPushButton("Next token", objectName="generateNextButton")
        self.nextButton.setToolTip("Append the next token to the text (Ctrl+G)")
        self.nextButton.setShortcut(QtGui.QKeySequence("Ctrl+G"))
        self.count = QtWidgets.QSpinBox(objectName="generateCount", minimum=1, maximum=64)
        self.count.setValue(8)
        self.count.setToolTip("How many tokens “Generate” appends")
        self.manyButton = QtWidgets.QPushButton("Generate", objectName="generateManyButton")
        self.manyButton.setToolTip("Append that many tokens, one forward pass each (Ctrl+Shift+G)")
        self.manyButton.setShortcut(QtGui.QKeySequence("Ctrl+Shift+G"))
        self.sample = QtWidgets.QCheckBox("Sample", objectName="generateSample")
        self.sample.setToolTip(
            "Off: always the likeliest token (greedy). On: draw among the top-k likeliest, "
            "with the temperature (repeatable: the seed and the text fix the draw)"
        )
        self.temperature = QtWidgets.QDoubleSpinBox(objectName="generateTemperature")
        self.temperature.setRange(*GENERATE_TEMPERATURE_RANGE)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(1.0)
        self.temperature.setPrefix("T = ")
        self.temperature.setToolTip(
            "Temperature: below 1 sharpens the distribution, above 1 flattens it"
        )
        self.topK = QtWidgets.QSpinBox(objectName="generateTopK", minimum=1, maximum=1000)
        self.topK.setValue(10)
        self.topK.setPrefix("top-k ")
        self.topK.setToolTip("Draw only among this many likeliest tokens")
        self.seed = QtWidgets.QSpinBox(objectName="generateSeed", minimum=0, maximum=2**31 - 1)
        self.seed.setPrefix("seed ")
        self.seed.setToolTip("Seed of the random draw")
        self.progress = QtWidgets.QProgressBar(objectName="generateProgress")
        self.progress.setVisible(False)
        self.cancel = QtWidgets.QPushButton("Stop", objectName="generateStop")
        self.cancel.setToolTip("Stop after the token being computed (Esc)")
        self.cancel.setVisible(False)
        self.note = QtWidgets.QLabel(objectName="generateNote")
        self.note.setWordWrap(True)

        row1 = QtWidgets.QHBoxLayout()
        for w in (self.nextButton, self.count, self.manyButton, self.progress, self.cancel):
            row1.addWidget(w)
        row1.addStretch(1)
        row2 = QtWidgets.QHBoxLayout()
        for w in (self.sample, self.temperature, self.topK, self.seed):
            row2.addWidget(w)
        row2.addStretch(1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(row1)
        lay.addLayout(row2)
        lay.addWidget(self.note)

        self.nextButton.clicked.connect(lambda: self.generateRequested.emit(1))
        self.manyButton.clicked.connect(lambda: self.generateRequested.emit(self.count.value()))
        self.sample.toggled.connect(lambda on: self._changed(sample=bool(on)))
        self.temperature.editingFinished.connect(
            lambda: self._changed(temperature=round(self.temperature.value(), 4))
        )
        self.topK.editingFinished.connect(lambda: self._changed(top_k=self.topK.value()))
        self.seed.editingFinished.connect(lambda: self._changed(seed=self.seed.value()))
        self._syncing = False
        self._enable_sampling(False)

    def _changed(self, **change) -> None:
        if "sample" in change:
            self._enable_sampling(change["sample"])
        if not self._syncing:
            self.settingsChanged.emit(change)

    def _enable_sampling(self, on: bool) -> None:
        for w in (self.temperature, self.topK, self.seed):
            w.setEnabled(on)

    def show_settings(self, sample: bool, temperature: float, top_k: int, seed: int) -> None:
        self._syncing = True
        try:
            for w, v in ((self.sample, sample), (self.temperature, temperature),
                         (self.topK, top_k), (self.seed, seed)):  # fmt: skip
                w.blockSignals(True)
                if isinstance(w, QtWidgets.QCheckBox):
                    w.setChecked(bool(v))
                else:
                    w.setValue(v)
                w.blockSignals(False)
            self._enable_sampling(sample)
        finally:
            self._syncing = False

    def set_running(self, running: bool, done: int = 0, total: int = 0) -> None:
        self.progress.setVisible(running)
        self.cancel.setVisible(running)
        self.nextButton.setEnabled(not running)
        self.manyButton.setEnabled(not running)
        if running:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            self.progress.setFormat(f"{done} / {total} tokens")
