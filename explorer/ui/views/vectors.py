"""``vectorsView``: the input X and the selected head's Q, K and V side by side.

Four matrices in one strip, one token per row: the row labels (display labels, ``bank₁``,
``bank₂``) sit left of X and line up with the rows of Q, K and V. All four share one
symmetric colour scale, so equal colours are equal numbers across the strip. Cells carry
their numbers whenever they are big enough; a one-hot X writes its 1s and 0s as ``1`` and
``0``, which fit in far smaller cells. The numbers come from
:func:`explorer.core.mechanism.vector_panels`; this widget only draws them and reuses its
items on every Result (``setImage``, a pool of text items).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.mechanism import VectorPanel, signed_levels, vector_panels
from explorer.ui.colorbar import ColorBar
from explorer.ui.heatmap import colormap, value_text

NAMES = "XQKV"
ROLES = {
    "X": "the vectors the heads read (embedding, plus position when chosen)",
    "Q": "queries q = x·W_Q: what each token asks for",
    "K": "keys k = x·W_K: what each token offers to be found by",
    "V": "values v = x·W_V: what each token passes on when attended to",
}
MAX_TEXT_ROWS = 48  # numbers are written only up to this many tokens ...
MAX_TEXT_COLS = 16  # ... and dimensions per matrix (and only when they fit their cells)
TEXT_PAD_PX = 2


def cell_text(v: float, one_hot: bool) -> str:
    """What a cell says: ``1``/``0`` in a one-hot matrix, else ``.25``-style numbers."""
    if one_hot:
        return "1" if v == 1.0 else "0"
    return value_text(v)


class VectorsView(QtWidgets.QWidget):
    """X, Q, K and V of one head: token rows × vector dimensions."""

    querySelected = QtCore.Signal(int)

    def __init__(self, parent=None, *, cmap: str = "CET-D1A"):
        super().__init__(parent)
        self.setObjectName("vectorsView")
        self.setToolTip("")
        self.panels: list[VectorPanel] = []
        self.labels: list[str] = []
        self._query = -1
        self._cmap = colormap(cmap)
        self._levels = (-1.0, 1.0)
        self._label_step = 0
        self._caption = ""

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        self.caption = QtWidgets.QLabel("", objectName="vectorsCaption")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self.area = pg.GraphicsLayoutWidget()
        self.area.setObjectName("vectorsPlot")
        self.area.setToolTip(
            "X, then the selected head's Q = X·W_Q, K = X·W_K and V = X·W_V. One row per "
            "token; click a row to pick that query."
        )
        layout.addWidget(self.area, 1)

        small = QtGui.QFont()
        small.setPointSizeF(max(small.pointSizeF() - 1.5, 6.5))
        self._font = small
        self._fm = QtGui.QFontMetricsF(small)
        self.plots: dict[str, pg.PlotItem] = {}
        self.images: dict[str, pg.ImageItem] = {}
        self._texts: dict[str, list[pg.TextItem]] = {n: [] for n in NAMES}
        self._sel: dict[str, QtWidgets.QGraphicsRectItem] = {}
        for c, name in enumerate(NAMES):
            plot = self.area.addPlot(row=0, col=c, enableMenu=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.invertY(True)
            plot.getViewBox().setDefaultPadding(0.0)
            plot.hideAxis("bottom")
            plot.showAxis("top")
            plot.getAxis("top").setStyle(tickFont=small, tickLength=0)
            plot.getAxis("left").setStyle(tickFont=small, tickLength=0)
            if c:
                plot.hideAxis("left")
                plot.setYLink(self.plots["X"])
            image = pg.ImageItem(axisOrder="row-major")
            image.setColorMap(self._cmap)
            plot.addItem(image)
            sel = QtWidgets.QGraphicsRectItem()
            sel.setPen(pg.mkPen((255, 80, 80), width=2))
            sel.setZValue(10)
            sel.hide()
            plot.addItem(sel)
            self.plots[name], self.images[name], self._sel[name] = plot, image, sel
            plot.getViewBox().sigResized.connect(self._layout_text)
        self.colorbar = ColorBar(values=self._levels, colorMap=self._cmap, width=10)
        self.colorbar.setImageItem(list(self.images.values()))
        self.area.addItem(self.colorbar, row=0, col=len(NAMES))
        self.area.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.area.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # ---------------------------------------------------------------- data
    def show_result(self, result, head: int, query: int, *, dragging: bool = False) -> None:
        """Draw X and head ``head``'s Q, K, V of ``result``; mark row ``query``."""
        self.panels = vector_panels(result, head)
        labels = result.display_labels
        relabel = labels != self.labels
        self.labels = labels
        self._query = query
        T = len(labels)
        h = min(max(head, 0), max(result.q.shape[0] - 1, 0))
        self._levels = signed_levels(*(p.matrix for p in self.panels))
        self.colorbar.setLevels(self._levels)
        for p in self.panels:
            plot, image = self.plots[p.name], self.images[p.name]
            d = p.matrix.shape[1]
            title = f"{p.name} ({T}×{d})"
            if plot.titleLabel.text != title:  # a new title re-lays out the whole strip
                plot.setTitle(title, size="9pt")
            if T and d:
                image.setImage(p.matrix.astype(np.float32), autoLevels=False, levels=self._levels)
                image.setRect(QtCore.QRectF(0, 0, d, T))
                image.show()
            else:
                image.hide()
            plot.setXRange(0, max(d, 1), padding=0)
            sel = self._sel[p.name]
            if 0 <= query < T:
                sel.setRect(QtCore.QRectF(0, query, d, 1))
                sel.show()
            else:
                sel.hide()
        self.plots["X"].setYRange(0, max(T, 1), padding=0)
        if relabel:
            self._label_step = 0
        one_hot = " X is one-hot." if self.panels[0].one_hot else ""
        self._caption = (
            f"One row per token; Q, K, V = X·W of head {h}.{one_hot} "
            f"One colour scale: ±{self._levels[1]:.3g}."
            if T
            else "No tokens: type a sentence to see its vectors."
        )
        self._layout_text()

    def set_colormap(self, name: str) -> None:
        """Colour map of the four matrices (a diverging map suits signed values)."""
        cmap = colormap(name)
        if cmap is self._cmap:
            return
        self._cmap = cmap
        for image in self.images.values():
            image.setColorMap(cmap)
        self.colorbar.setColorMap(cmap)
        self._layout_text()  # dark or light numbers follow the new colours

    def clear(self) -> None:
        self.panels = []
        self.labels = []
        self._caption = ""
        for name in NAMES:
            self.images[name].hide()
            self._sel[name].hide()
        self._layout_text()

    # ---------------------------------------------------------------- text
    def _layout_text(self, *_args) -> None:
        """Row labels that fit (all of them when rows are tall enough) and cell numbers."""
        T = len(self.labels)
        vb = self.plots["X"].getViewBox()
        row_px = vb.height() / max(T, 1)
        step = max(1, math.ceil(self._fm.height() / max(row_px, 1e-3)))
        if step != self._label_step:
            self._label_step = step
            ticks = [(i + 0.5, t) for i, t in enumerate(self.labels) if i % step == 0]
            self.plots["X"].getAxis("left").setTicks([ticks, []])
        thin = f" Rows too short for every label: every {step}th is labelled." if step > 1 else ""
        self.caption.setText(self._caption + thin)
        fg = pg.mkColor(pg.getConfigOption("foreground"))
        for p in self.panels:
            self._column_ticks(p)
            self._write_cells(p, fg)
        for name in NAMES:
            if not any(p.name == name for p in self.panels):
                for t in self._texts[name]:
                    t.hide()

    def _column_ticks(self, p: VectorPanel) -> None:
        """Dimension numbers above the columns, every k-th one when cells are narrow.

        Plain numbers (the title names the matrix; hover gives ``x3``): a label wider than
        its cell would be dropped at the plot's edge.
        """
        d = p.matrix.shape[1]
        cell_w = self.plots[p.name].getViewBox().width() / max(d, 1)
        widest = self._fm.horizontalAdvance(str(max(d - 1, 0)))
        step = max(1, math.ceil((widest + 4) / max(cell_w, 1e-3)))
        axis = self.plots[p.name].getAxis("top")
        if getattr(axis, "shown_columns", None) != (d, step):  # new ticks re-lay the axis out
            axis.shown_columns = (d, step)
            axis.setTicks([[(c + 0.5, str(c)) for c in range(0, d, step)], []])

    def _write_cells(self, p: VectorPanel, fg: QtGui.QColor) -> None:
        T, d = p.matrix.shape
        vb = self.plots[p.name].getViewBox()
        cell_w, cell_h = vb.width() / max(d, 1), vb.height() / max(T, 1)
        texts: list[str] = []
        shortest = self._fm.horizontalAdvance("0" if p.one_hot else ".00") + 2 * TEXT_PAD_PX
        if (
            0 < T <= MAX_TEXT_ROWS
            and 0 < d <= MAX_TEXT_COLS
            and cell_h >= self._fm.height()
            and cell_w >= shortest  # no number could fit: skip measuring them all
        ):
            texts = [cell_text(float(v), p.one_hot) for v in p.matrix.reshape(-1)]
            widest = max(self._fm.horizontalAdvance(t) for t in texts)
            if widest + 2 * TEXT_PAD_PX > cell_w:
                texts = []
        pool = self._texts[p.name]
        while len(pool) < len(texts):
            item = pg.TextItem("", anchor=(0.5, 0.5))
            item.setFont(self._font)
            item.setZValue(5)
            self.plots[p.name].addItem(item)
            pool.append(item)
        if texts:
            lo, hi = self._levels
            frac = np.clip((p.matrix.reshape(-1) - lo) / (hi - lo), 0.0, 1.0)
            rgb = self._cmap.map(frac, mode="byte")[:, :3].astype(np.float32)
            dark = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32) > 140
        for k, item in enumerate(pool):
            if k >= len(texts):
                item.hide()
                continue
            i, j = divmod(k, d)
            item.setText(texts[k])
            item.setColor((20, 20, 20) if dark[k] else (240, 240, 240))
            item.setPos(j + 0.5, i + 0.5)
            item.show()

    def shown_row_labels(self) -> list[str]:
        """The token labels drawn left of the rows (all of them when rows are tall enough)."""
        ticks = self.plots["X"].getAxis("left")._tickLevels or [[]]
        return [t for _, t in ticks[0]]

    def shown_numbers(self, name: str) -> list[str]:
        """The numbers written in the cells of matrix ``name`` (row by row), or []."""
        return [t.textItem.toPlainText() for t in self._texts[name] if t.isVisible()]

    # -------------------------------------------------------------- mouse
    def cell_at(self, scene_pos) -> tuple[str, int, int] | None:
        """(matrix name, row, column) under a scene position."""
        for p in self.panels:
            vb = self.plots[p.name].getViewBox()
            if vb.sceneBoundingRect().contains(scene_pos):
                pt = vb.mapSceneToView(scene_pos)
                i, j = math.floor(pt.y()), math.floor(pt.x())
                if 0 <= i < p.matrix.shape[0] and 0 <= j < p.matrix.shape[1]:
                    return (p.name, i, j)
        return None

    def _on_mouse_moved(self, pos) -> None:
        hit = self.cell_at(pos)
        if hit is None:
            self.area.setToolTip("")
            return
        name, i, j = hit
        p = next(p for p in self.panels if p.name == name)
        self.area.setToolTip(
            f"{name}[{self.labels[i]}, {p.columns[j]}] = {p.matrix[i, j]:+.4f}\n{ROLES[name]}"
        )

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        hit = self.cell_at(event.scenePos())
        if hit is not None:
            self.querySelected.emit(hit[1])
