"""A colour bar: the colour map as a framed strip, with an axis of the values it stands for.

It draws what ``pg.ColorBarItem(interactive=False)`` draws, and keeps its calls
(``setImageItem(..., insert_in=plot)``, ``setLevels``, ``setColorMap``, ``axis``), but it is
not a ``PlotItem``. A ColorBarItem builds a whole plot (a view box, four axes and the plot's
options form) to show one strip and one axis: about 14 ms each, against about 1.5 ms here,
and the window opens with several of them before its first paint.
"""

from __future__ import annotations

import weakref

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

#: Gap between a plot and a colour bar inserted beside it, in pixels.
INSERT_GAP_PX = 5
#: Width of the value axis (as ColorBarItem's), in pixels.
AXIS_WIDTH_PX = 45


class _Strip(pg.GraphicsWidget):
    """The colour map, low values at the bottom, inside a frame drawn with the axis' pen."""

    def __init__(self, width: int, axis: pg.AxisItem):
        super().__init__()
        self._axis = axis
        self._pixmap: QtGui.QPixmap | None = None
        self.setFixedWidth(width)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Fixed, QtWidgets.QSizePolicy.Policy.Expanding
        )

    def set_lut(self, lut: np.ndarray) -> None:
        """Show ``lut`` (n × 4 RGBA, uint8; first entry = lowest value)."""
        column = np.ascontiguousarray(lut[::-1, None, :])  # top row = highest value
        image = pg.functions.ndarray_to_qimage(column, QtGui.QImage.Format.Format_RGBA8888)
        self._pixmap = QtGui.QPixmap.fromImage(image)
        self.update()

    def paint(self, painter, option, widget=None) -> None:
        rect = self.boundingRect()
        if self._pixmap is not None:
            painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawPixmap(rect, self._pixmap, QtCore.QRectF(self._pixmap.rect()))
        pen = QtGui.QPen(self._axis.pen())
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        painter.drawRect(rect.adjusted(0.5, 0.5, -0.5, -0.5))  # the frame inside the item


class ColorBar(pg.GraphicsWidget):
    """A vertical colour scale for one or more images.

    Parameters
    ----------
    values
        The (low, high) levels shown, and given to the images.
    colorMap
        A ``pg.ColorMap`` (or its name), given to the images.
    width
        Width of the strip in pixels.

    Attributes
    ----------
    axis : pg.AxisItem
        The value axis on the right (ticks and labels can be set on it).
    """

    def __init__(self, values=(0.0, 1.0), colorMap=None, width: int = 12, parent=None):
        super().__init__(parent)
        self.values = (float(values[0]), float(values[1]))
        self._cmap: pg.ColorMap | None = None
        self._images: list[weakref.ref] = []
        self.axis = pg.AxisItem("right")
        self.axis.setWidth(AXIS_WIDTH_PX)
        self.axis.setRange(*self.values)
        self.strip = _Strip(width, self.axis)
        layout = QtWidgets.QGraphicsGridLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addItem(self.strip, 0, 0)
        layout.addItem(self.axis, 0, 1)
        self.setLayout(layout)
        if colorMap is not None:
            self.setColorMap(colorMap)

    # ------------------------------------------------------------ pyqtgraph's calls
    def setImageItem(self, img, insert_in: pg.PlotItem | None = None) -> None:
        """Colour ``img`` (an ImageItem or a list of them) with this bar's map and levels;
        with ``insert_in``, place the bar to the right of that plot's view."""
        images = img if isinstance(img, (list, tuple)) else [img]
        self._images = [weakref.ref(item) for item in images]
        if insert_in is not None:
            insert_in.layout.addItem(self, 2, 5)  # the view's row, after the right axis
            insert_in.layout.setColumnFixedWidth(4, INSERT_GAP_PX)
        self._update_images(colour=True)

    def setColorMap(self, colorMap) -> None:
        """Use ``colorMap`` (a ``pg.ColorMap`` or a name) for the bar and its images."""
        if isinstance(colorMap, str):
            colorMap = pg.colormap.get(colorMap)
        self._cmap = colorMap
        self.strip.set_lut(colorMap.getLookupTable(nPts=256, alpha=True))
        self._update_images(colour=True)

    def colorMap(self) -> pg.ColorMap | None:
        return self._cmap

    def setLevels(self, values) -> None:
        """Show, and colour the images by, ``values`` = (low, high)."""
        lo, hi = float(values[0]), float(values[1])
        if lo > hi:
            lo = hi = (lo + hi) / 2
        self.values = (lo, hi)
        self.axis.setRange(lo, hi)
        self._update_images(colour=False)

    def levels(self) -> tuple[float, float]:
        return self.values

    def _update_images(self, colour: bool) -> None:
        for ref in self._images:
            item = ref()
            if item is None:
                continue
            item.setLevels(self.values)
            if colour and self._cmap is not None:
                item.setColorMap(self._cmap)
