"""The layer × head grid of the Model tab: every head's attention as one mosaic image.

A 6 × 12 grid of separate pyqtgraph view boxes cost about 18 ms to repaint after a head
edit (each image ran its own colour lookup and paint) and 5 ms even unchanged. Here every
thumbnail is a tile of one RGBA image: a head edit recolours only the tiles whose data
changed, in one pass (:mod:`~explorer.ui.model.tile_colours`), and a repaint is one
``drawImage``. Badges, the layer and head
numbers and the selection frame are drawn over it by two light items. Dimming (heads of
another type, cells a top-k or threshold filter leaves out) is done in the tiles' colours.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.attention_aggregates import filter_name, keep_mask
from explorer.ui.heatmap import colormap
from explorer.ui.model import tile_colours
from explorer.ui.model.tile_colours import colour_tiles_numpy, warm_up
from explorer.ui.views.composite import THUMB_CELLS, ThumbnailGrid, thumbnail

__all__ = ["BADGES", "LEGEND", "LayerHeadGrid", "warm_up"]

# the badge drawn on a grid thumbnail for each head type ("mixed" heads get none)
BADGES = {
    "[CLS] sink": "CLS",
    "[SEP]/punctuation sink": "SEP",
    "previous token": "←",
    "next token": "→",
    "self": "●",
    "broad": "≈",
    "mixed": "",
}
LEGEND = "badges: " + " · ".join(f"{b} {name}" for name, b in BADGES.items() if b)

DIM_TYPE = 0.2  # opacity of a head whose type the type filter does not show
GAP = 0.12  # space between thumbnails, a fraction of a thumbnail's side
HEADER = (0.5, 0.35)  # room for the layer numbers (left) and head numbers (top), in thumbnails


class _MosaicImage(pg.ImageItem):
    """The mosaic: RGBA pixels, with the colour map and levels they were coloured with (what
    an exported colour bar shows, see ``explorer.ui.export.render.grid_colour_bar``)."""

    colour_levels = (0.0, 1.0)

    def getLevels(self):
        return self.colour_levels


class _Overlay(QtWidgets.QGraphicsItem):
    """Layer and head numbers and the type badges, drawn in screen pixels in one paint."""

    def __init__(self, grid: LayerHeadGrid):
        super().__init__()
        self._grid = grid
        self._rect = QtCore.QRectF()
        self.font = QtGui.QFont()
        self.font.setPointSizeF(6.5)
        self.header_font = QtGui.QFont()
        self.header_font.setPointSizeF(8.0)
        self.setZValue(10)
        # repainted from a pixmap until the badges change (update()) or the view is resized
        self.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def set_rect(self, rect: QtCore.QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = rect

    def boundingRect(self) -> QtCore.QRectF:
        return self._rect

    def paint(self, p, *_args) -> None:
        g = self._grid
        if not g.count:
            return
        to_px = p.transform()
        p.save()
        p.resetTransform()
        text = g.palette().color(QtGui.QPalette.ColorRole.WindowText)
        p.setPen(text)
        p.setFont(self.header_font)
        h, w = g.cell_shape
        centre = QtCore.Qt.AlignmentFlag.AlignCenter
        for c in range(g.columns):  # head numbers above the columns
            x0, _ = g.tile_origin(c)
            a = to_px.map(QtCore.QPointF(x0, -HEADER[1] * h))
            b = to_px.map(QtCore.QPointF(x0 + w, 0.0))
            p.drawText(QtCore.QRectF(a, b), centre, f"H{c}")
        for r in range(g.rows):  # layer numbers left of the rows
            _, y0 = g.tile_origin(r * g.columns)
            a = to_px.map(QtCore.QPointF(-HEADER[0] * w, y0))
            b = to_px.map(QtCore.QPointF(0.0, y0 + h))
            p.drawText(QtCore.QRectF(a, b), centre, f"L{r}")
        p.setFont(self.font)
        metrics = QtGui.QFontMetricsF(self.font)
        fill = QtGui.QColor(30, 30, 30, 170)
        white = QtGui.QColor(255, 255, 255)
        for i, badge in enumerate(g.badges()):
            if not badge:
                continue
            corner = to_px.map(QtCore.QPointF(*g.tile_origin(i)))
            box = QtCore.QRectF(corner, QtCore.QSizeF(metrics.horizontalAdvance(badge) + 2, 0))
            box.setHeight(metrics.height())
            p.setOpacity(1.0 if not g.dimmed(i) else DIM_TYPE)
            p.fillRect(box, fill)
            p.setPen(white)
            p.drawText(box, centre, badge)
        p.restore()


class LayerHeadGrid(ThumbnailGrid):
    """Layer × head thumbnails of attention (or of differences, with a diverging map) as one
    mosaic image, with layer and head numbers, type badges and a selected head.

    A click emits ``thumbnailClicked(index)``, a double click ``thumbnailDoubleClicked``.
    """

    thumbnailDoubleClicked = QtCore.Signal(int)

    def __init__(self, parent=None, *, cmap: str = "viridis"):
        super().__init__(parent, cmap=cmap)
        self.ci.layout.setContentsMargins(1, 1, 1, 1)
        self._box = self.addViewBox(
            row=0, col=0, lockAspect=True, enableMouse=False, enableMenu=False
        )
        self._box.invertY(True)
        self._box.setMenuEnabled(False)
        self._image = _MosaicImage(axisOrder="row-major")
        self._image.setColorMap(colormap(cmap))  # for an exported colour bar; pixels are RGBA
        self._box.addItem(self._image)
        self._frame = QtWidgets.QGraphicsRectItem()
        pen = pg.mkPen((255, 80, 80), width=3)
        pen.setCosmetic(True)
        self._frame.setPen(pen)
        self._frame.setZValue(20)
        self._frame.hide()
        self._box.addItem(self._frame, ignoreBounds=True)
        self._overlay = _Overlay(self)
        self._box.addItem(self._overlay, ignoreBounds=True)
        self._images = [self._image]
        self.count = 0
        self.rows = self.columns = 0
        self.cell_shape = (0, 0)
        self._gap = 1
        self._data = np.zeros((0, 0, 0), np.float32)  # the thumbnails' values as drawn
        self._mosaic = np.zeros((0, 0, 4), np.ubyte)
        self._titles: list[str] = []
        self._levels = (0.0, 1.0)
        self._shown_cmap = cmap
        self._lut32 = _lut(cmap)
        self._types: list[str] = []
        self._badge_texts: list[str] | None = None  # set_badges: texts instead of types
        self._wanted: str | None = None
        self._filter: tuple[int | None, float | None] = (None, None)

    # ------------------------------------------------------------------ geometry
    def tile_origin(self, index: int) -> tuple[float, float]:
        """Top-left corner (x, y) of thumbnail ``index`` in the mosaic's pixels."""
        r, c = divmod(index, max(self.columns, 1))
        h, w = self.cell_shape
        return c * (w + self._gap), r * (h + self._gap)

    def thumbnail_rect(self, index: int) -> QtCore.QRectF:
        """Where thumbnail ``index`` is, in scene coordinates (for clicks)."""
        x, y = self.tile_origin(index)
        h, w = self.cell_shape
        return self._image.mapRectToScene(QtCore.QRectF(x, y, w, h))

    def index_at(self, scene_pos) -> int:
        """The thumbnail under a scene position, or -1."""
        if not self.count:
            return -1
        p = self._image.mapFromScene(scene_pos)
        h, w = self.cell_shape
        c, dx = divmod(p.x(), w + self._gap)
        r, dy = divmod(p.y(), h + self._gap)
        i = int(r) * self.columns + int(c)
        inside = 0 <= c < self.columns and r >= 0 and dx < w and dy < h
        return i if inside and i < self.count else -1

    # ------------------------------------------------------------------ data
    @property
    def levels(self) -> tuple[float, float]:
        """The values of the colour map's ends."""
        return self._levels

    def thumbnail_data(self, index: int) -> np.ndarray:
        """The values thumbnail ``index`` shows (float32, at most THUMB_CELLS a side)."""
        return self._data[index]

    def image_rgba(self) -> np.ndarray:
        """The mosaic as drawn: (height, width, 4) uint8."""
        return self._mosaic

    def set_matrices(self, mats, titles, columns=None, *, levels=(0.0, 1.0), changed=None):
        """Show ``mats`` (n, T, S) in ``columns`` columns, coloured over ``levels`` (a diverging
        map when they straddle 0). ``changed``: a bool per thumbnail, False keeps what it
        shows (a slider tick redraws only the layers above the edit). Returns how many
        thumbnails were drawn."""
        mats = np.asarray(mats)
        n = mats.shape[0]
        cols = columns or max(1, int(np.ceil(np.sqrt(n))))
        first = thumbnail(_finite(mats[0]), THUMB_CELLS) if n else np.zeros((1, 1), np.float32)
        levels = (float(levels[0]), float(levels[1]))
        cmap = "CET-D1A" if levels[0] < 0 else self._cmap
        rebuilt = (n, cols, first.shape) != (self.count, self.columns, self.cell_shape)
        if rebuilt:
            self._rebuild(n, cols, first.shape)
        recolour = rebuilt or changed is None or levels != self._levels or cmap != self._shown_cmap
        if cmap != self._shown_cmap:
            self._lut32 = _lut(cmap)
            self._image.setColorMap(colormap(cmap))
        self._shown_cmap, self._levels = cmap, levels
        self._image.colour_levels = levels
        self._titles = list(titles)
        which = np.arange(n) if recolour else np.flatnonzero(np.asarray(changed)[:n])
        if len(which):
            if mats.shape[1:] == first.shape:  # no shrinking: copied as they are
                if which[-1] - which[0] + 1 == len(which):  # a run, as a slider tick gives
                    self._data[which[0] : which[-1] + 1] = mats[which[0] : which[-1] + 1]
                else:
                    self._data[which] = mats[which]
            else:
                for i in which:
                    self._data[i] = thumbnail(_finite(mats[i]), THUMB_CELLS)
            self._colour(which)
        self._paint_selection()
        return len(which)

    def set_colormap(self, name: str) -> None:
        self._cmap = name
        if self._levels[0] >= 0 and name != self._shown_cmap:
            self._shown_cmap = name
            self._lut32 = _lut(name)
            self._image.setColorMap(colormap(name))
            self._colour(np.arange(self.count))

    def set_types(self, types, wanted: str | None = None) -> None:
        """A badge per thumbnail from ``types`` (a head type per thumbnail, see
        :data:`BADGES`); thumbnails of other types than ``wanted`` are dimmed."""
        types = [str(t) for t in types][: self.count]
        if types == self._types and wanted == self._wanted:
            return
        before = [self.dimmed(i) for i in range(self.count)]
        self._types, self._wanted = types, wanted
        alpha_changed = [i for i in range(self.count) if self.dimmed(i) != before[i]]
        if alpha_changed:
            self._colour(np.array(alpha_changed))
        self._overlay.update()

    def set_badges(self, texts) -> None:
        """Badge texts of their own, one per thumbnail ("" for none), shown instead of the
        head types' badges (the Decoder tab names measured circuits and edits); None goes
        back to the types'."""
        texts = None if texts is None else [str(t) for t in texts]
        if texts != self._badge_texts:
            self._badge_texts = texts
            self._overlay.update()

    def badges(self) -> list[str]:
        """The badge text of every thumbnail ("" for none)."""
        if self._badge_texts is not None:
            return (self._badge_texts + [""] * self.count)[: self.count]
        return [BADGES.get(t, "") for t in self._types] + [""] * (self.count - len(self._types))

    def dimmed(self, index: int) -> bool:
        """Whether thumbnail ``index`` is dimmed by the type filter."""
        if self._wanted is None or index >= len(self._types):
            return False
        return self._types[index] != self._wanted

    def set_filter(self, top_k: int | None = None, threshold: float | None = None) -> None:
        """Keep the ``top_k`` largest weights of each row and/or those ≥ ``threshold`` at full
        strength in every thumbnail and wash the others out (not deleted); no arguments
        shows every cell. See :func:`~explorer.core.attention_aggregates.keep_mask`."""
        if (top_k, threshold) == self._filter:
            return
        self._filter = (top_k, threshold)
        self._colour(np.arange(self.count))

    @property
    def filter_name(self) -> str:
        """The filter in words ("top 3 per row"), or "" without one."""
        return filter_name(*self._filter)

    def keep_mask(self, index: int) -> np.ndarray:
        """Which cells of thumbnail ``index`` the filter keeps at full strength."""
        return self._keep(self._data[index : index + 1])[0]

    # ------------------------------------------------------------------ drawing
    def _keep(self, data: np.ndarray) -> np.ndarray:
        top_k, threshold = self._filter
        if (top_k is None and threshold is None) or self._levels[0] < 0:
            return np.ones(data.shape, dtype=bool)  # differences are never filtered
        return keep_mask(data, top_k, threshold)

    def _colour(self, which: np.ndarray) -> None:
        """Recolour the tiles ``which`` of the mosaic from their data and show it."""
        if not len(which) or not self.count:
            return
        lo, hi = self._levels
        which = np.asarray(which, dtype=np.int64)
        filtered = self._filter != (None, None) and lo >= 0
        keep = self._keep(self._data[which]) if filtered else np.ones((0, 0, 0), bool)
        alpha = np.array([DIM_TYPE * 255 if self.dimmed(int(i)) else 255 for i in which])
        origins = np.array([self.tile_origin(int(i)) for i in which], dtype=np.int64)
        compiled = tile_colours.compiled
        kernel = compiled[0] if compiled else colour_tiles_numpy
        kernel(
            self._data,
            which,
            origins,
            np.float32(lo),
            np.float32(256.0 / (hi - lo) if hi > lo else 0.0),
            self._lut32,
            keep,
            alpha.astype(np.uint32),
            self._mosaic.view(np.uint32)[..., 0],
        )
        self._image.setImage(self._mosaic, autoLevels=False)

    def _rebuild(self, n: int, cols: int, shape: tuple[int, int]) -> None:
        self.count, self.columns, self.cell_shape = n, cols, shape
        self.rows = -(-n // cols) if n else 0
        h, w = shape
        self._gap = max(1, round(GAP * max(h, w)))
        self._data = np.zeros((n, h, w), np.float32)
        H = max(self.rows * (h + self._gap) - self._gap, 1)
        W = max(cols * (w + self._gap) - self._gap, 1)
        self._mosaic = np.zeros((H, W, 4), np.ubyte)  # gaps stay transparent
        self._image.setImage(self._mosaic, autoLevels=False)
        self._image.setRect(QtCore.QRectF(0, 0, W, H))
        left, top = HEADER[0] * w, HEADER[1] * h
        self._overlay.set_rect(QtCore.QRectF(-left, -top, W + left, H + top))
        self._box.setRange(xRange=(-left, W), yRange=(-top, H), padding=0)
        self._types = []
        self._shape = (n, cols)

    def _paint_selection(self) -> None:
        if not 0 <= self._selected < self.count:
            self._frame.hide()
            return
        x, y = self.tile_origin(self._selected)
        h, w = self.cell_shape
        self._frame.setRect(QtCore.QRectF(x, y, w, h))
        self._frame.show()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        overlay = getattr(self, "_overlay", None)  # None while pyqtgraph sets up
        if overlay is not None and event.type() == QtCore.QEvent.Type.PaletteChange:
            overlay.update()  # the numbers are drawn in the palette's text colour

    # ------------------------------------------------------------------ input
    def _on_click(self, event) -> None:
        i = self.index_at(event.scenePos())
        if i < 0:
            return
        if event.double():
            self.thumbnailDoubleClicked.emit(i)
        else:
            self.thumbnailClicked.emit(i)

    def viewportEvent(self, event) -> bool:
        if event.type() == QtCore.QEvent.Type.ToolTip:
            i = self.index_at(self.mapToScene(event.pos()))
            if i >= 0:
                QtWidgets.QToolTip.showText(event.globalPos(), self._tip(i), self.viewport())
                return True
        return super().viewportEvent(event)

    def _tip(self, index: int) -> str:
        r, c = divmod(index, self.columns)
        title = self._titles[index] if index < len(self._titles) else f"L{r} H{c}"
        parts = [title]
        if index < len(self._types):
            parts.append(self._types[index])
        if self.filter_name and self._levels[0] >= 0:
            parts.append(f"filter: {self.filter_name}, the other weights dimmed")
        return " · ".join(parts)


def _lut(name: str) -> np.ndarray:
    """The 256 colours of a colour map, as ``ImageItem`` looks them up: RGBA bytes packed in
    one uint32 each, so that colouring a tile is one ``take``."""
    rgba = np.ascontiguousarray(colormap(name).getLookupTable(nPts=256, alpha=True), np.ubyte)
    return rgba.view(np.uint32).ravel()


def _finite(m: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(m), m, 0.0).astype(np.float32)
