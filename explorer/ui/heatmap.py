"""A token × token heatmap: labelled axes, a colour bar, hover readout, click and highlight.

Follows pyqtgraph's ``MatrixDisplayExample``: row-major ``ImageItem`` shifted by half a cell,
``invertY`` so that row 0 is at the top, token names as ticks and a ``ColorBarItem`` bound to
the image. Updates reuse the items (``setImage(..., autoLevels=False)``); the scene is never
rebuilt on a slider tick.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

MAX_VALUE_OVERLAY = 14  # write numbers in cells only up to this many rows and columns
MIN_CELL_PX = (22, 14)  # ... and only when a cell is wide and tall enough for ".25"


def value_text(v: float) -> str:
    """A cell value in at most four characters where possible: ``.25``, ``-.50``, ``3.14``."""
    if not math.isfinite(v):
        return ""
    text = f"{v:.2f}"
    if text.startswith("0."):
        return text[1:]
    if text.startswith("-0."):
        return "-" + text[2:]
    return text


def colormap(name: str) -> pg.ColorMap:
    """Return a pyqtgraph colour map by name (bundled with pyqtgraph, no network)."""
    return pg.colormap.get(name)


class RotatedLabelAxis(pg.AxisItem):
    """A top or bottom axis whose tick labels are drawn at an angle, thinned to fit."""

    def __init__(
        self, orientation: str = "top", angle: float = 90.0, max_label_px: int = 160, **kwargs
    ):
        super().__init__(orientation, **kwargs)
        self._max_px = max_label_px
        self._labels: list[str] = []
        self._angle = angle
        # one tick per column would paint a solid band over long texts: labels only
        self.setStyle(showValues=False, tickLength=0)

    def set_labels(self, labels: Sequence[str]) -> None:
        self._labels = list(labels)
        self.setTicks([[], []])  # no tick marks: one per column would merge into a bar
        fm = QtGui.QFontMetrics(self.font())
        longest = max((fm.horizontalAdvance(t) for t in self._labels), default=0)
        rad = math.radians(self._angle)
        self.setHeight(int(min(longest, self._max_px) * math.sin(rad) + fm.height() + 6))
        self.update()

    def font(self) -> QtGui.QFont:
        return self.style.get("tickFont") or QtGui.QFont()

    def label_positions(self) -> list[tuple[int, float]]:
        """(label index, x in axis coordinates) of every label drawn, thinned to fit.

        Each label is centred on its column, evenly spaced; a label that would not fit whole
        inside the axis at either edge is left out rather than clipped.
        """
        view = self.linkedView()
        if view is None or not self._labels:
            return []
        fm = QtGui.QFontMetrics(self.font())
        x0 = self.mapFromScene(view.mapViewToScene(QtCore.QPointF(0, 0))).x()
        x1 = self.mapFromScene(view.mapViewToScene(QtCore.QPointF(1, 0))).x()
        cell = abs(x1 - x0)
        step = max(
            1, math.ceil(fm.height() / max(cell * math.sin(math.radians(self._angle)), 1e-6))
        )
        rect = self.boundingRect()
        half = fm.height() / 2

        def centre(i: int) -> float:
            return x0 + (i + 0.5) * (x1 - x0)

        # start at the first column whose label fits whole, then keep an even spacing
        first = 0
        while first < min(step, len(self._labels)) and centre(first) - half < rect.left():
            first += 1
        return [
            (i, centre(i))
            for i in range(first, len(self._labels), step)
            if centre(i) + half <= rect.right()
        ]

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):
        super().drawPicture(p, axisSpec, tickSpecs, [])
        positions = self.label_positions()
        if not positions:
            return
        p.setPen(self.textPen())
        p.setFont(self.font())
        fm = QtGui.QFontMetrics(self.font())
        rect = self.boundingRect()
        top = self.orientation == "top"
        edge = self.mapRectFromParent(self.geometry())  # the plot edge, without tick overhang
        base_y = edge.bottom() - 4 if top else edge.top() + 4
        p.setClipRect(rect)  # drawing outside the bounding rect would leave stale pixels
        for i, x in positions:
            text = fm.elidedText(self._labels[i], QtCore.Qt.TextElideMode.ElideRight, self._max_px)
            p.save()
            p.translate(x, base_y)
            p.rotate(-self._angle if top else self._angle)
            w = fm.horizontalAdvance(text)
            p.drawText(QtCore.QRectF(0, -fm.height() / 2, w + 2, fm.height()), text)
            p.restore()


class HeatmapView(pg.GraphicsLayoutWidget):
    """A matrix of query rows × key columns with token labels.

    Signals
    -------
    cellHovered(int, int)
        Row and column under the mouse, or (-1, -1) when it leaves the matrix.
    cellClicked(int, int)
        Row and column of a left click.
    cellToggled(int, int)
        Row and column of a Ctrl+left click.
    """

    cellHovered = QtCore.Signal(int, int)
    cellClicked = QtCore.Signal(int, int)
    cellToggled = QtCore.Signal(int, int)

    def __init__(
        self,
        parent=None,
        *,
        title: str = "",
        colorbar: bool = True,
        levels: tuple[float, float] = (0.0, 1.0),
        cmap: str = "viridis",
        compact: bool = False,
    ):
        super().__init__(parent)
        self.setMinimumSize(120, 120)
        self._levels = levels
        self._compact = compact
        self._data = np.zeros((0, 0), dtype=np.float32)
        self._row_labels: list[str] = []
        self._col_labels: list[str] = []
        self._show_values = True
        self._readout: Callable[[int, int], str] | None = None
        self._hover = (-1, -1)

        self.title = self.addLabel(title, row=0, col=0, size="10pt" if not compact else "9pt")
        self.top_axis = RotatedLabelAxis("top", angle=90.0, max_label_px=44 if compact else 160)
        self.plot = self.addPlot(row=1, col=0, axisItems={"top": self.top_axis})
        small = QtGui.QFont()
        small.setPointSizeF(max(small.pointSizeF() - 1.5, 6.0))
        if compact:  # small multiples: smaller labels leave more room for the matrix
            self.top_axis.setStyle(tickFont=small)
            self.plot.getAxis("left").setStyle(tickFont=small)
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.invertY(True)
        self.plot.getViewBox().setDefaultPadding(0.0)
        # cells without a value (masked: −∞) are left out of the image and show this hatch,
        # unlike any colour of the map
        box = self.plot.getViewBox()
        box.background.setBrush(
            QtGui.QBrush(QtGui.QColor(128, 128, 128), QtCore.Qt.BrushStyle.BDiagPattern)
        )
        box.background.show()
        self._cmap = colormap(cmap)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(self._cmap)
        self.plot.addItem(self.image)
        self.colorbar = None
        if colorbar:
            self.colorbar = pg.ColorBarItem(
                values=levels, colorMap=colormap(cmap), interactive=False, width=12
            )
            self.colorbar.setImageItem(self.image, insert_in=self.plot)
            if compact:
                self.colorbar.axis.setStyle(tickFont=small)
                self.colorbar.axis.setWidth(34)

        pen = pg.mkPen((255, 80, 80), width=2)
        self._row_box = QtWidgets.QGraphicsRectItem()
        self._row_box.setPen(pen)
        self._row_box.setZValue(10)
        self._col_box = QtWidgets.QGraphicsRectItem()
        self._col_box.setPen(pg.mkPen((255, 170, 60), width=2))
        self._col_box.setZValue(10)
        self._sel_box = QtWidgets.QGraphicsRectItem()
        self._sel_box.setPen(pg.mkPen((255, 255, 255), width=2, style=QtCore.Qt.PenStyle.DashLine))
        self._sel_box.setZValue(11)
        for item in (self._row_box, self._col_box, self._sel_box):
            item.hide()
            self.plot.addItem(item)
        self._value_items: list[pg.TextItem] = []

        self._row_step = 0
        self.plot.getViewBox().sigResized.connect(self._on_resized)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # ----------------------------------------------------------------- data
    def set_readout(self, fn: Callable[[int, int], str] | None) -> None:
        """Set the function that describes the cell under the mouse."""
        self._readout = fn

    def set_title(self, text: str) -> None:
        self.title.setText(text)

    def set_colormap(self, name: str) -> None:
        cmap = colormap(name)
        if cmap is self._cmap:
            return
        self._cmap = cmap
        self.image.setColorMap(cmap)
        if self.colorbar is not None:
            self.colorbar.setColorMap(cmap)
        self._update_values()

    def set_levels(self, levels: tuple[float, float]) -> None:
        lo, hi = float(levels[0]), float(levels[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            lo, hi = (lo, lo + 1.0) if math.isfinite(lo) else (0.0, 1.0)
        if (lo, hi) == self._levels:
            return  # the colour bar would re-lay out and repaint its axis for nothing
        self._levels = (lo, hi)
        if self.colorbar is not None:
            self.colorbar.setLevels((lo, hi))
        self.image.setLevels((lo, hi))

    def set_row_labels_visible(self, visible: bool) -> None:
        """Show or hide the row labels (small multiples share the first panel's)."""
        self.plot.showAxis("left", visible)

    def set_show_values(self, show: bool) -> None:
        self._show_values = show
        self._update_values()

    def set_matrix(
        self,
        data: np.ndarray,
        row_labels: Sequence[str],
        col_labels: Sequence[str] | None = None,
        levels: tuple[float, float] | None = None,
    ) -> None:
        """Show ``data`` (rows × cols). Non-finite cells (masked, −∞) are left empty and
        show a grey hatch."""
        data = np.asarray(data, dtype=np.float32)
        if data.ndim != 2:
            raise ValueError("a heatmap needs a 2-D matrix")
        col_labels = row_labels if col_labels is None else col_labels
        relabel = list(row_labels) != self._row_labels or list(col_labels) != self._col_labels
        reshape = data.shape != self._data.shape
        self._data = data
        if levels is not None:
            self.set_levels(levels)
        shown = np.where(np.isfinite(data), data, np.nan) if data.size else data
        self.plot.getViewBox().background.setVisible(bool(data.size))
        if data.size:
            self.image.setImage(shown, autoLevels=False, levels=self._levels)
            self.image.setRect(QtCore.QRectF(0, 0, data.shape[1], data.shape[0]))
            self.image.show()
        else:
            self.image.hide()
        if relabel:
            self._row_labels = list(row_labels)
            self._col_labels = list(col_labels)
            self._row_step = 0
            self._update_row_ticks()
            self.top_axis.set_labels(self._col_labels)
        if reshape or relabel:
            rows, cols = max(data.shape[0], 1), max(data.shape[1], 1)
            self.plot.setXRange(0, cols, padding=0)
            self.plot.setYRange(0, rows, padding=0)
        self._update_values()

    def _on_resized(self, *_args) -> None:
        self._update_row_ticks()
        self._update_values()

    def _update_row_ticks(self, *_args) -> None:
        """Label every row that fits: thin the labels when rows are shorter than the text."""
        rows = len(self._row_labels)
        height = self.plot.getViewBox().height()
        line = QtGui.QFontMetrics(self.plot.getAxis("left").style.get("tickFont") or QtGui.QFont())
        cell = height / max(rows, 1)
        step = max(1, math.ceil(line.height() / max(cell, 1e-3)))
        if step == self._row_step:
            return
        self._row_step = step
        ticks = [(i + 0.5, t) for i, t in enumerate(self._row_labels) if i % step == 0]
        self.plot.getAxis("left").setTicks([ticks, []])

    @property
    def data(self) -> np.ndarray:
        """The matrix currently shown (read-only view)."""
        return self._data

    def image_data(self) -> np.ndarray | None:
        """The array the image item draws."""
        return self.image.image

    # ------------------------------------------------------------ overlays
    def _update_values(self) -> None:
        rows, cols = self._data.shape if self._data.ndim == 2 else (0, 0)
        vb = self.plot.getViewBox()
        room = vb.width() / max(cols, 1) >= MIN_CELL_PX[0] and (
            vb.height() / max(rows, 1) >= MIN_CELL_PX[1]
        )
        show = self._show_values and 0 < rows <= MAX_VALUE_OVERLAY and cols <= MAX_VALUE_OVERLAY
        n = rows * cols if show and room else 0
        while len(self._value_items) < n:
            item = pg.TextItem("", anchor=(0.5, 0.5))
            item.setZValue(5)
            item.shown_state = None  # (text, dark, pos): skip Qt calls when nothing changed
            self.plot.addItem(item)
            self._value_items.append(item)
        if n:
            lo, hi = self._levels
            flat = self._data.reshape(-1)
            frac = np.clip((np.nan_to_num(flat, nan=lo) - lo) / (hi - lo), 0.0, 1.0)
            rgb = self._cmap.map(frac, mode="byte")[:, :3].astype(np.float32)
            dark_text = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32) > 140
        for idx, item in enumerate(self._value_items):
            if idx >= n:
                if item.isVisible():
                    item.hide()
                continue
            i, j = divmod(idx, cols)
            state = (value_text(float(flat[idx])), bool(dark_text[idx]), (j, i))
            if state != item.shown_state:
                if state[0] != (item.shown_state or ("",))[0]:
                    item.setText(state[0])
                item.setColor((20, 20, 20) if state[1] else (240, 240, 240))
                item.setPos(j + 0.5, i + 0.5)
                item.shown_state = state
            if not item.isVisible():
                item.show()

    def highlight(self, row: int = -1, col: int = -1) -> None:
        """Outline a row and a column (-1 hides the outline)."""
        rows, cols = self._data.shape if self._data.ndim == 2 else (0, 0)
        if 0 <= row < rows:
            self._row_box.setRect(QtCore.QRectF(0, row, cols, 1))
            self._row_box.show()
        else:
            self._row_box.hide()
        if 0 <= col < cols:
            self._col_box.setRect(QtCore.QRectF(col, 0, 1, rows))
            self._col_box.show()
        else:
            self._col_box.hide()

    def select_row(self, row: int | None) -> None:
        """Mark the selected query row."""
        rows, cols = self._data.shape if self._data.ndim == 2 else (0, 0)
        if row is not None and 0 <= row < rows:
            self._sel_box.setRect(QtCore.QRectF(0, row, cols, 1))
            self._sel_box.show()
        else:
            self._sel_box.hide()

    # -------------------------------------------------------------- mouse
    def cell_at(self, scene_pos: QtCore.QPointF) -> tuple[int, int]:
        """Return (row, col) of the cell under a scene position, or (-1, -1)."""
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return (-1, -1)
        p = vb.mapSceneToView(scene_pos)
        i, j = math.floor(p.y()), math.floor(p.x())
        rows, cols = self._data.shape if self._data.ndim == 2 else (0, 0)
        if 0 <= i < rows and 0 <= j < cols:
            return (i, j)
        return (-1, -1)

    def _on_mouse_moved(self, pos) -> None:
        cell = self.cell_at(pos)
        if cell == self._hover:
            return
        self._hover = cell
        if cell != (-1, -1) and self._readout is not None:
            text = self._readout(*cell)
            self.setToolTip(text)
        else:
            self.setToolTip("")
        self.cellHovered.emit(*cell)

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.scenePos())
        if cell != (-1, -1):
            ctrl = event.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier
            (self.cellToggled if ctrl else self.cellClicked).emit(*cell)
