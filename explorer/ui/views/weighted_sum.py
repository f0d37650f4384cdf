"""``weightedSumView``: one query's output y_i = Σ_j a_ij v_j, drawn as a written addition.

Left, the weight a_ij of each key as a bar with its number; right, each value vector scaled
by its weight (one row of cells per key: a_ij·v_j), then a rule, then their sum y_i. The rows
and y share one colour scale, so the eye can add them column by column. Above, the sum is
written out with live numbers. Terms are sorted by weight; past
:data:`~explorer.core.mechanism.MAX_SUM_TERMS` the lighter keys are drawn as one summed row,
so what is drawn always adds up to y. The numbers come from
:func:`explorer.core.mechanism.weighted_sum_terms`; this widget reuses its items on every
Result.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.mechanism import (
    MAX_SUM_TERMS,
    WeightedSum,
    equation_text,
    signed_levels,
    weighted_sum_terms,
)
from explorer.ui.colorbar import ColorBar
from explorer.ui.heatmap import colormap, value_text

CELL_PAD_PX = 1  # numbers are written only when every one fits its cell with this room
BAR_COLOUR = (90, 160, 230)
REST_COLOUR = (150, 150, 150)
SUM_COLOUR = (235, 200, 80)


class WeightedSumView(QtWidgets.QWidget):
    """The terms of one query's weighted sum of values, and their sum."""

    querySelected = QtCore.Signal(int)

    def __init__(self, parent=None, *, cmap: str = "CET-D1A"):
        super().__init__(parent)
        self.setObjectName("weightedSumView")
        self.setToolTip("How one token's output is built: the value vectors, scaled and added")
        self.ws: WeightedSum | None = None
        self._labels: list[str] = []
        self._row_labels: list[str] = []
        self._grid = np.zeros((0, 0))
        self._cmap = colormap(cmap)
        self._levels = (-1.0, 1.0)
        self._dims = -1  # value dimensions the column ticks were made for
        self._cell_font = QtGui.QFont()
        self._cell_font.setPointSizeF(max(self._cell_font.pointSizeF() - 1.0, 6.5))
        self._cell_fm = QtGui.QFontMetricsF(self._cell_font)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(3)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Output of"))
        self.querySelector = QtWidgets.QComboBox(objectName="sumQuerySelector")
        self.querySelector.setToolTip(
            "The query token whose output y is shown (or click a row of the attention heatmap)"
        )
        self.querySelector.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents
        )
        self.querySelector.setMaxVisibleItems(20)
        self.querySelector.activated.connect(self._on_query_picked)
        row.addWidget(self.querySelector)
        self.headLabel = QtWidgets.QLabel("", objectName="sumHeadLabel")
        row.addWidget(self.headLabel, 1)
        layout.addLayout(row)

        self.equation = QtWidgets.QLabel("", objectName="sumEquation")
        self.equation.setWordWrap(True)
        self.equation.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.equation.setToolTip("The weighted sum written out with the current numbers")
        font = self.equation.font()
        font.setPointSizeF(font.pointSizeF() + 1.0)
        self.equation.setFont(font)
        # room for two lines from the start: a height that changed with each query's
        # equation would re-lay out the plots below every time
        self.equation.setMinimumHeight(2 * QtGui.QFontMetrics(font).lineSpacing() + 2)
        layout.addWidget(self.equation)

        self.plotArea = pg.GraphicsLayoutWidget()
        self.plotArea.setObjectName("sumPlot")
        self.plotArea.setToolTip("")
        self.plotArea.setMinimumSize(200, 150)
        layout.addWidget(self.plotArea, 1)
        self.note = QtWidgets.QLabel("", objectName="sumNote")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self._build_plots()

    # ------------------------------------------------------------ building
    def _build_plots(self) -> None:
        area = self.plotArea
        self.barPlot = area.addPlot(row=0, col=0, enableMenu=False)
        self.rowPlot = area.addPlot(row=0, col=1, enableMenu=False)
        area.ci.layout.setColumnStretchFactor(0, 2)
        area.ci.layout.setColumnStretchFactor(1, 4)
        for plot in (self.barPlot, self.rowPlot):
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.invertY(True)
            plot.getViewBox().setDefaultPadding(0.0)
            plot.hideAxis("bottom")
            plot.showAxis("top")
        self.barPlot.getAxis("top").setLabel("weight a")
        self.barPlot.getAxis("top").setTicks([[(0.0, "0"), (0.5, ".5"), (1.0, "1")], []])
        self.rowPlot.hideAxis("left")
        # short enough not to run over the bars' label when the tab is narrow (1024 px)
        self.rowPlot.getAxis("top").setLabel("a·v per key, sum y")
        self.rowPlot.setToolTip(
            "Each value vector v scaled by its weight a (one row per key); the row under the "
            "rule is their sum y, the output for the selected query"
        )
        self.rowPlot.setYLink(self.barPlot)

        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.7)
        self.barPlot.addItem(self.bars)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(self._cmap)
        self.rowPlot.addItem(self.image)
        self.colorbar = ColorBar(values=self._levels, colorMap=self._cmap, width=10)
        self.colorbar.setImageItem(self.image, insert_in=self.rowPlot)
        rule_pen = pg.mkPen((230, 230, 230), width=2)
        self.barRule = pg.PlotCurveItem(pen=rule_pen)
        self.rowRule = pg.PlotCurveItem(pen=rule_pen)
        self.barPlot.addItem(self.barRule)
        self.rowPlot.addItem(self.rowRule)
        self.plus = pg.TextItem("+", anchor=(1.0, 0.5), color=(230, 230, 230))
        self.barPlot.addItem(self.plus)
        self._bar_texts: list[pg.TextItem] = []
        self._cell_texts: list[pg.TextItem] = []
        self.rowPlot.getViewBox().sigResized.connect(self._update_cell_texts)
        area.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # ---------------------------------------------------------------- data
    def show_result(self, result, head: int, query: int, *, dragging: bool = False) -> None:
        """Draw query ``query``'s weighted sum in head ``head`` of ``result``."""
        labels = result.display_labels
        self._set_queries(labels)
        T = len(labels)
        if T == 0 or not result.weights.shape[0]:
            self._show_nothing("No tokens: type a sentence to see a weighted sum.")
            return
        h = min(max(head, 0), result.weights.shape[0] - 1)
        i = query if 0 <= query < T else 0
        self.querySelector.blockSignals(True)
        self.querySelector.setCurrentIndex(i)
        self.querySelector.blockSignals(False)
        self.headLabel.setText(f"in head {h}: y = Σ a·v")
        ws = weighted_sum_terms(result, h, i)
        self.ws = ws
        self.equation.setText(equation_text(ws, labels))
        self._draw_terms(ws, labels)

    def clear(self) -> None:
        self._set_queries([])
        self._show_nothing("")

    def _set_queries(self, labels: list[str]) -> None:
        if labels == self._labels:
            return
        self._labels = list(labels)
        # one width for the key labels of this text: an axis that resized with every query
        # would re-lay out both plots each time
        axis = self.barPlot.getAxis("left")
        fm = QtGui.QFontMetrics(axis.style.get("tickFont") or QtGui.QFont())
        longest = max((fm.horizontalAdvance(f"v({t})") for t in self._labels), default=0)
        longest = max(longest, fm.horizontalAdvance("10 more keys"))
        axis.setWidth(min(longest + 12, 140))
        self.querySelector.blockSignals(True)
        self.querySelector.clear()
        self.querySelector.addItems(self._labels)
        self.querySelector.blockSignals(False)

    def _show_nothing(self, text: str) -> None:
        self.ws = None
        self.equation.setText(text)
        self.headLabel.setText("")
        self.note.setText("")
        self.bars.setOpts(x0=[], y=[], width=[], height=0.7)
        self.image.hide()
        for item in (self.barRule, self.rowRule):
            item.setData([], [])
        self.plus.hide()
        self._grid = np.zeros((0, 0))
        self._row_labels = []
        self.barPlot.getAxis("left").setTicks([[], []])
        self.note.hide()
        for t in self._bar_texts + self._cell_texts:
            t.hide()

    def _draw_terms(self, ws: WeightedSum, labels: list[str]) -> None:
        rows = ws.rows()  # (m, d_v)
        m, d_v = rows.shape
        n_rows = m + 2  # the terms, a gap for the rule, then y
        grid = np.full((n_rows, d_v), np.nan)
        grid[:m] = rows
        grid[m + 1] = ws.y
        self._grid = grid
        self._levels = signed_levels(rows, ws.y)  # one scale for the rows and their sum
        self.colorbar.setLevels(self._levels)
        if d_v:
            self.image.setImage(grid.astype(np.float32), autoLevels=False, levels=self._levels)
            self.image.setRect(QtCore.QRectF(0, 0, d_v, n_rows))
            self.image.show()
        else:
            self.image.hide()

        weights = [float(ws.weights[j]) for j in ws.shown]
        names = [f"v({labels[j]})" for j in ws.shown]
        colours = [BAR_COLOUR] * len(ws.shown)
        if ws.rest.size:
            weights.append(ws.rest_weight)
            names.append(f"{ws.rest.size} more keys")
            colours.append(REST_COLOUR)
        total = float(sum(weights))
        bar_w = [*weights, total]
        bar_y = [*range(m), m + 1]
        self.bars.setOpts(
            x0=np.zeros(len(bar_w)),
            y=np.asarray(bar_y, dtype=float) + 0.5,
            width=np.asarray(bar_w),
            height=0.7,
            brushes=[pg.mkBrush(c) for c in (*colours, SUM_COLOUR)],
            pens=[pg.mkPen(None)] * len(bar_w),
        )
        self._row_labels = [*names, "", f"y({labels[ws.query]})"]
        ticks = [(r + 0.5, t) for r, t in enumerate(self._row_labels) if t]
        self.barPlot.getAxis("left").setTicks([ticks, []])
        self._set_bar_texts(bar_w, bar_y, m)

        rule_y = m + 0.5
        fg = pg.mkColor(pg.getConfigOption("foreground"))  # follows the light/dark theme
        for item in (self.barRule, self.rowRule):
            item.setPen(pg.mkPen(fg, width=2))
        self.plus.setColor(fg)
        self.barRule.setData([0.0, 1.25], [rule_y, rule_y])
        self.rowRule.setData([0.0, float(d_v)], [rule_y, rule_y])
        self.plus.setPos(1.25, m - 0.5)
        self.plus.setVisible(m > 1)
        self.barPlot.setXRange(0.0, 1.3, padding=0)
        self.barPlot.setYRange(0.0, n_rows, padding=0)
        self.rowPlot.setXRange(0.0, max(d_v, 1), padding=0)
        if self._dims != d_v:
            self._dims = d_v
            self.rowPlot.getAxis("top").setTicks(
                [[(c + 0.5, f"v{c}") for c in range(d_v)] if d_v <= 16 else [], []]
            )
        notes = []
        if ws.masked_out:
            notes.append("Every key is masked for this query: its weights are all 0, so y = 0.")
        elif ws.rest.size:
            notes.append(
                f"The {ws.shown.size} heaviest of {ws.shown.size + ws.rest.size} keys are drawn "
                f"one by one (at most {MAX_SUM_TERMS}); the grey row adds up the rest."
            )
        self.note.setText(" ".join(notes))
        self.note.setVisible(bool(notes))
        self._update_cell_texts()

    def _set_bar_texts(self, widths, ys, m: int) -> None:
        while len(self._bar_texts) < len(widths):
            t = pg.TextItem("", anchor=(0.0, 0.5))
            self.barPlot.addItem(t)
            self._bar_texts.append(t)
        for k, t in enumerate(self._bar_texts):
            if k < len(widths):
                sum_row = k == len(widths) - 1
                t.setText(f"Σ = {widths[k]:.2f}" if sum_row else f"{widths[k]:.2f}")
                t.setPos(min(widths[k], 1.0) + 0.02 if not sum_row else 0.02, ys[k] + 0.5)
                t.setColor((20, 20, 20) if sum_row else pg.getConfigOption("foreground"))
                t.show()
            else:
                t.hide()

    def _update_cell_texts(self, *_args) -> None:
        grid = self._grid
        n_rows, d_v = grid.shape if grid.ndim == 2 else (0, 0)
        vb = self.rowPlot.getViewBox()
        flat = grid.reshape(-1)
        texts = [value_text(float(v)) for v in flat] if n_rows * d_v <= 40 * 16 else []
        fm = self._cell_fm
        room = (
            bool(texts)
            and vb.height() / n_rows >= fm.height()
            and max(fm.horizontalAdvance(t) for t in texts) + 2 * CELL_PAD_PX <= vb.width() / d_v
        )  # all numbers or none: never one run into the next
        n = n_rows * d_v if room else 0
        while len(self._cell_texts) < n:
            t = pg.TextItem("", anchor=(0.5, 0.5))
            t.setFont(self._cell_font)
            t.setZValue(5)
            self.rowPlot.addItem(t)
            self._cell_texts.append(t)
        if n:
            lo, hi = self._levels
            frac = np.clip((np.nan_to_num(flat, nan=0.0) - lo) / (hi - lo), 0.0, 1.0)
            rgb = self._cmap.map(frac, mode="byte")[:, :3].astype(np.float32)
            dark = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32) > 140
        for k, t in enumerate(self._cell_texts):
            if k >= n or not math.isfinite(flat[k]):
                if t.isVisible():
                    t.hide()
                continue
            r, c = divmod(k, d_v)
            text, dark_k, pos = texts[k], bool(dark[k]), (c, r)
            # skip the Qt calls that would change nothing
            shown = getattr(t, "shown_state", (None, None, None))
            if text != shown[0]:
                t.setText(text)
            if dark_k != shown[1]:
                t.setColor((20, 20, 20) if dark_k else (240, 240, 240))
            if pos != shown[2]:
                t.setPos(c + 0.5, r + 0.5)
            t.shown_state = (text, dark_k, pos)
            if not t.isVisible():
                t.show()

    # -------------------------------------------------------------- mouse
    def _on_query_picked(self, index: int) -> None:
        if index >= 0:
            self.querySelected.emit(index)

    def _on_mouse_moved(self, pos) -> None:
        self.plotArea.setToolTip(self._readout(pos))

    def _readout(self, pos: QtCore.QPointF) -> str:
        ws = self.ws
        if ws is None:
            return ""
        m = len(self._row_labels) - 2
        for plot in (self.barPlot, self.rowPlot):
            vb = plot.getViewBox()
            if vb.sceneBoundingRect().contains(pos):
                p = vb.mapSceneToView(pos)
                r, c = math.floor(p.y()), math.floor(p.x())
                break
        else:
            return ""
        name = f"y({self._labels[ws.query]})"
        if r == m + 1:
            if plot is self.rowPlot and 0 <= c < ws.y.size:
                return f"{name}[{c}] = {ws.y[c]:+.4f}: the sum of the column above"
            return f"{name} = Σ a·v; the weights add up to {ws.weights.sum():.4f}"
        if not 0 <= r < m:
            return ""
        if r < ws.shown.size:
            j = int(ws.shown[r])
            a = ws.weights[j]
            key = self._labels[j]
            if plot is self.rowPlot and 0 <= c < ws.values.shape[1]:
                return (
                    f"{a:.4f} · v({key})[{c}] = {a:.4f} · {ws.values[j, c]:+.4f} "
                    f"= {ws.scaled[j, c]:+.4f}"
                )
            return f"weight of {name[2:-1]} on {key}: a = {a:.4f}"
        if plot is self.rowPlot and 0 <= c < ws.rest_scaled.size:
            return (
                f"the other {ws.rest.size} keys (weights Σ = {ws.rest_weight:.4f}) "
                f"add {ws.rest_scaled[c]:+.4f} to column {c}"
            )
        return f"the other {ws.rest.size} keys together: Σ a = {ws.rest_weight:.4f}"

    def set_colormap(self, name: str) -> None:
        """Colour map of the scaled rows and y (a diverging map suits signed values)."""
        if colormap(name) is self._cmap:
            return
        self._cmap = colormap(name)
        self.image.setColorMap(self._cmap)
        self.colorbar.setColorMap(self._cmap)
        self._update_cell_texts()
