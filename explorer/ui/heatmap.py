"""A token × token heatmap: labelled axes, a colour bar, hover readout, click and highlight.

Axis labels follow :mod:`explorer.core.readability`: every token up to 64 (shrunk or
abbreviated, full name on hover), every k-th past that, the selected query always. Numbers
are written in cells only when each one fits its cell (measured with ``QFontMetrics``).

Follows pyqtgraph's ``MatrixDisplayExample``: row-major ``ImageItem`` shifted by half a cell,
``invertY`` so that row 0 is at the top, token names as ticks and a colour bar bound to the
image (:class:`~explorer.ui.colorbar.ColorBar`). Updates reuse the items
(``setImage(..., autoLevels=False)``); the scene is never rebuilt on a slider tick. A matrix
equal to the one shown changes nothing (no repaint), the numbers in the cells are one item
drawn in one pass, and a view that is hidden inside a shown window (another tab is in front)
draws what it was given only when it is shown again.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.long_attention import block_reduce, is_lazy
from explorer.core.readability import LabelPlan, label_plan
from explorer.ui.colorbar import ColorBar

MAX_VALUE_OVERLAY = 14  # write numbers in cells only up to this many rows and columns
#: A lazy matrix (a long text) shows its exact cells once at most this many are in view
#: (about 5 ms to compute); beyond, its overview of block maxima.
DETAIL_MAX_CELLS = 1024 * 1024
DETAIL_DELAY_MS = 15  # exact cells follow a zoom or pan after this pause
VALUE_PAD_PX = 2  # ... and only when every number fits its cell with this much room each side


@dataclass(frozen=True)
class AxisCaptions:
    """Plain-words captions of a heatmap's axes, and a note under it."""

    row: str = ""
    col: str = ""
    note: str = ""


#: What the rows, columns and values of an attention-weights heatmap mean.
ATTENTION_CAPTIONS = AxisCaptions(
    row="row: query, the word being updated",
    col="column: key, the word it looks at",
    note="each row sums to 1",
)


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


MIN_FONT_PX = 6  # token labels shrink down to this pixel size, never below
_PX_METRICS: dict[tuple[str, int, bool], QtGui.QFontMetricsF] = {}


def _sized(base: QtGui.QFont, px: int, bold: bool = False) -> QtGui.QFont:
    font = QtGui.QFont(base)
    font.setPixelSize(max(int(px), 1))
    font.setBold(bold)
    return font


def _metrics(font: QtGui.QFont) -> QtGui.QFontMetricsF:
    key = (font.key(), font.pixelSize(), font.bold())
    fm = _PX_METRICS.get(key)
    if fm is None:
        fm = _PX_METRICS[key] = QtGui.QFontMetricsF(font)
    return fm


def cache_pixels(item: QtWidgets.QGraphicsItem) -> None:
    """Keep ``item``'s pixels between paints (axes, colour bars): a new matrix repaints the
    cells and a pixel or two around them, and an axis touching that strip would otherwise
    draw all of its labels again (about 0.2 ms each, on every slider tick)."""
    item.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)


def same_matrix(a: np.ndarray, b: np.ndarray) -> bool:
    """True if ``a`` and ``b`` hold the same numbers (NaN equal to NaN).

    A slider tick usually changes every cell, so the first row or so is compared first:
    a changed matrix is then told apart without a pass over all of it.
    """
    if a is b:
        return True
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    head = min(a.size, 1024)
    if not np.array_equal(a.reshape(-1)[:head], b.reshape(-1)[:head], equal_nan=True):
        return False
    return bool(np.array_equal(a, b, equal_nan=True))


def hidden_in_shown_window(widget: QtWidgets.QWidget) -> bool:
    """True when ``widget`` is off screen although its window is shown (another tab or page
    is in front): its drawing can wait for its ``showEvent``. A widget whose window was
    never shown (a figure built for export, a widget in a test) draws at once."""
    return not widget.isVisible() and widget.window().isVisible()


class CellValues(QtWidgets.QGraphicsItem):
    """The numbers written in a heatmap's cells, drawn by one item in one pass.

    One ``pg.TextItem`` per cell cost about 25 µs to update and as much to paint, each; this
    item stores the strings and paints them at the centres of their cells, in pixels, so the
    text keeps its size however the cells are scaled (like ``TextItem``).
    """

    DARK = QtGui.QColor(20, 20, 20)
    LIGHT = QtGui.QColor(240, 240, 240)

    def __init__(self, font: QtGui.QFont):
        super().__init__()
        self._font = font
        self._texts: list[str] = []
        self._dark: list[bool] = []
        self._cols = 0
        self._rows = 0
        # each string laid out once: (QStaticText, half its width, half its height)
        self._static: dict[str, tuple[QtGui.QStaticText, float, float]] = {}

    def set_values(self, texts: list[str], dark: list[bool], cols: int) -> None:
        """Write ``texts`` (row-major, ``cols`` per row; ``[]`` for none); ``dark`` picks
        dark text for each cell (on a light colour)."""
        rows = len(texts) // cols if cols and texts else 0
        cols = cols if rows else 0
        if texts == self._texts and dark == self._dark and cols == self._cols:
            return
        if (rows, cols) != (self._rows, self._cols):
            self.prepareGeometryChange()
            self._rows, self._cols = rows, cols
        self._texts, self._dark = texts, dark
        self.update()

    def texts(self) -> list[str]:
        """The numbers written, row-major (empty when none fit)."""
        return list(self._texts)

    def boundingRect(self) -> QtCore.QRectF:
        return QtCore.QRectF(0, 0, self._cols, self._rows)

    def _lay_out(self, text: str) -> tuple[QtGui.QStaticText, float, float]:
        static = QtGui.QStaticText(text)
        static.prepare(QtGui.QTransform(), self._font)
        size = static.size()
        entry = self._static[text] = (static, size.width() / 2, size.height() / 2)
        return entry

    def paint(self, painter: QtGui.QPainter, *_args) -> None:
        if not self._texts:
            return
        to_px = painter.transform()
        origin = to_px.map(QtCore.QPointF(0.5, 0.5))  # centre of cell (0, 0)
        step = to_px.map(QtCore.QPointF(1.5, 1.5)) - origin
        ox, oy, sx, sy = origin.x(), origin.y(), step.x(), step.y()
        painter.save()
        painter.resetTransform()
        painter.setFont(self._font)
        laid_out, lay_out = self._static, self._lay_out
        draw, point, cols = painter.drawStaticText, QtCore.QPointF, self._cols
        pen = None
        for idx, (text, dark) in enumerate(zip(self._texts, self._dark, strict=True)):
            if not text:
                continue
            static, half_w, half_h = laid_out.get(text) or lay_out(text)
            if dark is not pen:
                painter.setPen(self.DARK if dark else self.LIGHT)
                pen = dark
            i, j = divmod(idx, cols)
            draw(point(ox + j * sx - half_w, oy + i * sy - half_h), static)
        painter.restore()


class CellImage(pg.ImageItem):
    """An ``ImageItem`` that colours a float matrix straight into 32-bit pixels.

    pyqtgraph maps a float matrix through its colour table into an 8-bit indexed image,
    building a 256-entry Qt colour table in Python each time (about 0.1 ms), and Qt has no
    fast path for drawing an indexed image scaled: it fills it pixel by pixel through a
    general texture brush (about 1.8 ms for a 9 × 9 matrix on 400 × 350 pixels). Here the
    same levels and colour table (``(value - lo) · n / (hi - lo)``, clipped to the table and
    truncated, as pyqtgraph does) index a cached table of 32-bit colours, which Qt scales by
    its fast path. Anything else (NaN cells, colour images, downsampling) takes pyqtgraph's
    way, converted to 32-bit pixels afterwards.
    """

    FAST = (QtGui.QImage.Format.Format_RGB32, QtGui.QImage.Format.Format_ARGB32)

    _table_of: tuple | None = None  # (lut it was made from, uint32 colours, Qt format)
    _pixels: np.ndarray | None = None  # the buffer self.qimage reads

    def render(self, *args, **kwargs):
        if self._render_direct():
            return None
        out = super().render(*args, **kwargs)
        q = self.qimage
        if q is not None and q.format() not in self.FAST:
            alpha = q.hasAlphaChannel()
            self.qimage = q.convertToFormat(self.FAST[1] if alpha else self.FAST[0])
        return out

    def _render_direct(self) -> bool:
        image, lut, levels = self.image, self.lut, self.levels
        if not (
            isinstance(image, np.ndarray)
            and image.ndim == 2
            and image.size
            and image.dtype.kind == "f"
            and isinstance(lut, np.ndarray)
            and lut.dtype == np.uint8
            and lut.ndim == 2
            and lut.shape[1] in (3, 4)
            and 0 < lut.shape[0] <= 256
            and levels is not None
            and np.ndim(levels) == 1
            and not self.autoDownsample
            and self.axisOrder == "row-major"
        ):
            return False
        if self._imageHasNans is None:  # as pyqtgraph decides it (and caches it)
            self._imageHasNans = bool(np.isnan(image.min()))
            self._imageNanLocations = None
        if self._imageHasNans:
            return False
        colours, fmt = self._colour_table(lut)
        n = lut.shape[0]
        lo, hi = float(levels[0]), float(levels[1])
        scale = n / ((hi - lo) or 1.0)
        work = np.float32 if image.dtype.itemsize <= 4 else np.float64  # as pyqtgraph
        index = np.subtract(image, lo, dtype=work)
        index *= scale
        np.clip(index, 0, n - 1, out=index)
        pixels = np.take(colours, index.astype(np.uint8))  # (rows, cols) uint32
        h, w = pixels.shape
        self._pixels = pixels
        self.qimage = QtGui.QImage(pixels.data, w, h, 4 * w, fmt)
        self._renderRequired = False
        self._unrenderable = False
        return True

    def _colour_table(self, lut: np.ndarray) -> tuple[np.ndarray, QtGui.QImage.Format]:
        cached = self._table_of
        if cached is not None and cached[0] is lut:
            return cached[1], cached[2]
        rgb = lut.astype(np.uint32)
        alpha = rgb[:, 3] if lut.shape[1] == 4 else np.full(len(lut), 255, np.uint32)
        colours = (alpha << 24) | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
        fmt = self.FAST[0] if bool((alpha == 255).all()) else self.FAST[1]
        self._table_of = (lut, colours, fmt)
        return colours, fmt


class TokenAxis(pg.AxisItem):
    """Token labels along the top (keys) or the left (queries) of a heatmap, with a caption.

    Up to :data:`~explorer.core.readability.MAX_UNTHINNED` tokens every label is drawn: the
    font shrinks to the cell (down to :data:`MIN_FONT_PX`) and long tokens are abbreviated
    with "…". Past that, every k-th label (:func:`~explorer.core.readability.label_plan`) and
    always the selected token, in bold. Hovering the axis shows the full token under the
    pointer as a tooltip. Top labels are rotated to read upwards. The caption (for example
    "column: key, the word it looks at") sits on the outer side.
    """

    PAD = 4

    def __init__(
        self,
        orientation: str = "top",
        *,
        max_label_px: int = 160,
        thin_small_cells: bool = False,
        **kwargs,
    ):
        super().__init__(orientation, **kwargs)
        self._max_px = max_label_px
        self._cap = max_label_px  # the longest a label may be drawn, see set_room
        self._thin_small = thin_small_cells
        self._labels: list[str] = []
        self._selected: int | None = None
        self._caption = ""
        self._plan_key: tuple | None = None
        self._plan = None
        self._fits = 0
        self._extent_now = 0
        self._font_for_px: dict[float, QtGui.QFont] = {}
        # no tick marks and no pyqtgraph values: one mark per cell would merge into a bar
        self.setStyle(showValues=False, tickLength=0)
        self.setAcceptHoverEvents(True)
        cache_pixels(self)

    # ----------------------------------------------------------- contents
    def set_labels(self, labels: Sequence[str]) -> None:
        labels = list(labels)
        if labels == self._labels:
            return
        self._labels = labels
        self._refit()

    def labels(self) -> list[str]:
        return list(self._labels)

    def set_selected(self, index: int | None) -> None:
        """Always label token ``index`` (the selected query), in bold; None for none."""
        if index == self._selected:
            return
        self._selected = index
        self._plan_key = None
        self.picture = None
        self.update()

    def set_caption(self, text: str) -> None:
        if text == self._caption:
            return
        self._caption = text
        self._refit()

    def caption(self) -> str:
        return self._caption

    def base_font(self) -> QtGui.QFont:
        return self.style.get("tickFont") or QtGui.QFont()

    def font(self) -> QtGui.QFont:
        """The font the labels are drawn in now (shrunk to the cells)."""
        plan = self._layout()
        return plan[1] if plan is not None else self.base_font()

    def setStyle(self, **kwargs):
        super().setStyle(**kwargs)
        if "tickFont" in kwargs and hasattr(self, "_labels"):
            self._font_for_px = {}
            self._refit()

    def _extent(self, font: QtGui.QFont) -> int:
        """Room across the axis for the longest label in ``font`` and the caption."""
        fm = _metrics(_sized(font, font.pixelSize(), bold=True))  # the selected one is bold
        labels = self._labels
        if len(labels) > 256:  # a long text: measure the longest few (about 2 µs a label)
            labels = heapq.nlargest(64, set(labels), key=len)
        longest = max((fm.horizontalAdvance(t) for t in labels), default=0.0)
        extent = min(longest, self._cap) + 2 * self.PAD + 2
        if self._caption:
            lines = self._caption_room()
            extent += lines * _metrics(self._caption_font()).height() + self.PAD
        return math.ceil(extent)

    def _caption_room(self) -> int:
        """Lines kept for the caption: a side caption may break after its comma."""
        side = self.orientation in ("left", "right")
        return 2 if side and ", " in self._caption else 1

    def _caption_lines(self, length: float) -> list[str]:
        """The caption in lines of at most ``length`` pixels (abbreviated with … if need be)."""
        fm = _metrics(self._caption_font())
        if fm.horizontalAdvance(self._caption) <= length or self._caption_room() == 1:
            lines = [self._caption]
        else:
            head, tail = self._caption.split(", ", 1)
            lines = [head + ",", tail]
        return [fm.elidedText(t, QtCore.Qt.TextElideMode.ElideRight, length) for t in lines]

    def _set_extent(self, extent: int) -> None:
        self._extent_now = extent
        if self.orientation in ("top", "bottom"):
            self.setHeight(extent)
        else:
            self.setWidth(extent)

    def _refit(self) -> None:
        """Reserve room for the longest label and the caption; only when they change."""
        self._fits = 0
        base = self.base_font()
        self._set_extent(self._extent(_sized(base, QtGui.QFontInfo(base).pixelSize())))
        self._plan_key = None
        self.picture = None
        self.update()

    def set_room(self, px: float) -> None:
        """The widget's size across the axis: labels take at most a quarter of it (at least
        44 px), so that one long token cannot squeeze the matrix."""
        cap = int(min(self._max_px, max(44.0, 0.25 * px)))
        self._fits = 0  # the widget was resized: the font may fit differently now
        if cap != self._cap:
            self._cap = cap
            self._refit()

    def fit_to_cells(self) -> None:
        """After a resize, give back the room that labels in a shrunk font do not need.

        At most twice per set of labels, so that the layout settles even where the font
        would flip between two sizes.
        """
        layout = self._layout()
        if layout is None or self._fits >= 2:
            return
        extent = self._extent(layout[1])
        if abs(extent - self._extent_now) >= 3:
            self._fits += 1
            self._set_extent(extent)

    def _caption_font(self) -> QtGui.QFont:
        font = QtGui.QFont(self.base_font())
        font.setPointSizeF(max(font.pointSizeF() - 0.5, 6.0))
        font.setItalic(True)
        return font

    # ------------------------------------------------------------ layout
    def _span(self) -> tuple[float, float] | None:
        """(axis coordinate of cell 0's start, signed cell size), or None without a view."""
        view = self.linkedView()
        if view is None:
            return None
        top = self.orientation in ("top", "bottom")
        a = self.mapFromScene(view.mapViewToScene(QtCore.QPointF(0, 0)))
        b = self.mapFromScene(view.mapViewToScene(QtCore.QPointF(1, 1)))
        return (a.x(), b.x() - a.x()) if top else (a.y(), b.y() - a.y())

    def _fit_font(self, cell: float) -> QtGui.QFont:
        """The largest font, up to the base font, whose line fits in ``cell`` pixels."""
        key = round(cell, 1)
        font = self._font_for_px.get(key)
        if font is None:
            base = self.base_font()
            px = QtGui.QFontInfo(base).pixelSize()
            while px > MIN_FONT_PX and _metrics(_sized(base, px)).height() > cell:
                px -= 1
            font = self._font_for_px[key] = _sized(base, px)
        return font

    def _layout(self):
        """(plan, font, origin, sign) for the current size, cached until it changes."""
        span = self._span()
        if span is None or not self._labels:
            return None
        origin, step = span
        cell = abs(step)
        lo, hi = self._visible_cells()
        key = (len(self._labels), round(origin, 2), round(step, 3), self._selected, lo, hi)
        if key != self._plan_key:
            font = self._fit_font(cell)
            min_px = math.ceil(_metrics(_sized(self.base_font(), MIN_FONT_PX)).height())
            if self._thin_small:
                min_px = max(min_px, math.ceil(_metrics(font).height()))
            sel = self._selected
            plan = label_plan(
                hi - lo,
                cell,
                min_px,
                sel - lo if sel is not None and lo <= sel < hi else None,
                thin_small_cells=self._thin_small,
            )
            if lo:  # zoomed in: the plan of the cells in view, shifted to their indices
                plan = LabelPlan(tuple(i + lo for i in plan.indices), plan.centres, plan.step)
            self._plan = (plan, font, origin + lo * step, 1.0 if step >= 0 else -1.0)
            self._plan_key = key
        return self._plan

    def _visible_cells(self) -> tuple[int, int]:
        """The labels whose cells are in view (all of them unless the view is zoomed)."""
        n = len(self._labels)
        view = self.linkedView()
        if view is None or not view.state["mouseEnabled"][0 if self._along_x() else 1]:
            return 0, n
        (x0, x1), (y0, y1) = view.viewRange()
        a, b = (x0, x1) if self._along_x() else (y0, y1)
        return max(0, min(n, math.floor(a))), max(0, min(n, math.ceil(b)))

    def _along_x(self) -> bool:
        return self.orientation in ("top", "bottom")

    def label_positions(self) -> list[tuple[int, float]]:
        """(label index, centre along the axis in item coordinates) of every label drawn."""
        layout = self._layout()
        if layout is None:
            return []
        plan, _font, origin, sign = layout
        return [(i, origin + sign * c) for i, c in zip(plan.indices, plan.centres, strict=True)]

    def label_at(self, pos: QtCore.QPointF) -> int:
        """The token whose cell is under ``pos`` (item coordinates), or -1."""
        span = self._span()
        if span is None or not self._labels or span[1] == 0:
            return -1
        along = pos.x() if self.orientation in ("top", "bottom") else pos.y()
        i = math.floor((along - span[0]) / span[1])
        return i if 0 <= i < len(self._labels) else -1

    def hoverMoveEvent(self, event) -> None:
        i = self.label_at(event.pos())
        self.setToolTip(self._labels[i] if i >= 0 else "")

    def hoverLeaveEvent(self, event) -> None:
        self.setToolTip("")

    # ----------------------------------------------------------- drawing
    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):
        super().drawPicture(p, axisSpec, tickSpecs, [])
        rect = self.boundingRect()
        edge = self.mapRectFromParent(self.geometry())  # the plot edge, without overhang
        p.setClipRect(rect)  # drawing outside the bounding rect would leave stale pixels
        p.setPen(self.textPen())
        if self._caption:
            self._draw_caption(p, edge)
        layout = self._layout()
        if layout is None:
            return
        font = layout[1]
        bold = QtGui.QFont(font)
        bold.setBold(True)
        fm = _metrics(font)
        for i, pos in self.label_positions():
            f = bold if i == self._selected else font
            p.setFont(f)
            text = _metrics(f).elidedText(
                self._labels[i], QtCore.Qt.TextElideMode.ElideRight, self._cap
            )
            w = _metrics(f).horizontalAdvance(text)
            box = QtCore.QRectF(0, -fm.height() / 2, w + 2, fm.height())
            p.save()
            if self.orientation == "top":
                p.translate(pos, edge.bottom() - self.PAD)
                p.rotate(-90)
            elif self.orientation == "left":
                p.translate(edge.right() - self.PAD - w - 2, pos)
            else:  # bottom
                p.translate(pos, edge.top() + self.PAD)
                p.rotate(90)
            p.drawText(box, QtCore.Qt.AlignmentFlag.AlignVCenter, text)
            p.restore()

    def _draw_caption(self, p, edge: QtCore.QRectF) -> None:
        font = self._caption_font()
        fm = _metrics(font)
        p.setFont(font)
        flags = QtCore.Qt.AlignmentFlag.AlignCenter
        if self.orientation in ("top", "bottom"):
            (text,) = self._caption_lines(edge.width())
            y = edge.top() if self.orientation == "top" else edge.bottom() - fm.height()
            p.drawText(QtCore.QRectF(edge.left(), y, edge.width(), fm.height()), flags, text)
            return
        lines = self._caption_lines(edge.height())
        p.save()
        p.translate(edge.left(), edge.center().y())
        p.rotate(-90)
        for k, text in enumerate(lines):
            box = QtCore.QRectF(-edge.height() / 2, k * fm.height(), edge.height(), fm.height())
            p.drawText(box, flags, text)
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

        self._title_pt = 9.0 if compact else 10.0
        self._title_text = title
        self._filter: tuple[int | None, float | None] = (None, None)  # top-k, threshold
        self._filter_name = ""  # named in the title while cells are dimmed
        self._filter_menu = False  # right-click offers the filters (attention heatmaps)
        self._dim: pg.ImageItem | None = None
        self.title = self.addLabel(title, row=0, col=0, size=f"{self._title_pt:g}pt")
        max_px = 44 if compact else 160
        self.top_axis = TokenAxis("top", max_label_px=max_px, thin_small_cells=compact)
        self.left_axis = TokenAxis("left", max_label_px=max_px, thin_small_cells=compact)
        self.plot = self.addPlot(  # no context menus: built per plot, they cost ~3 ms each
            row=1,
            col=0,
            axisItems={"top": self.top_axis, "left": self.left_axis},
            enableMenu=False,
        )
        self._note: pg.LabelItem | None = None
        self._lod_hint = ""  # how to zoom a long text, added to the note
        self._note_text: str | None = None  # what the note shows now
        self._captions = AxisCaptions()
        small = QtGui.QFont()
        small.setPointSizeF(max(small.pointSizeF() - 1.5, 6.0))
        if compact:  # small multiples: smaller labels leave more room for the matrix
            self.top_axis.setStyle(tickFont=small)
            self.left_axis.setStyle(tickFont=small)
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
        box.background.hide()  # until a matrix with such cells is shown
        self._cmap = colormap(cmap)
        self.image = CellImage(axisOrder="row-major")
        self.image.setColorMap(self._cmap)
        self.plot.addItem(self.image)
        self.colorbar = None
        if colorbar:
            self.colorbar = ColorBar(values=levels, colorMap=colormap(cmap), width=12)
            self.colorbar.setImageItem(self.image, insert_in=self.plot)
            cache_pixels(self.colorbar.axis)
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
        self._mark_box = QtWidgets.QGraphicsRectItem()
        self._mark_box.setPen(pg.mkPen((80, 220, 255), width=3))
        self._mark_box.setZValue(12)
        for item in (self._row_box, self._col_box, self._sel_box, self._mark_box):
            item.hide()
            self.plot.addItem(item)
        self._value_font = QtGui.QFont()
        self._value_fm = QtGui.QFontMetricsF(self._value_font)
        self._text_px: dict[str, float] = {}  # width of each number written so far
        self._values = CellValues(self._value_font)
        self._values.setZValue(5)
        self.plot.addItem(self._values)
        # what the items show, against what was asked for (see _redraw)
        self._stale = False  # the image (and the cells' numbers) lag behind _data
        self._drawn_labels: tuple[list[str], list[str]] = ([], [])
        self._drawn_shape: tuple[int, ...] = (0, 0)
        # a lazy matrix (a long text): an overview, and exact cells once few enough are in view
        self._lod = None
        self._detail: CellImage | None = None
        self._detail_key: tuple | None = None
        self._detail_window: tuple[int, int, np.ndarray] | None = None
        self._detail_timer = QtCore.QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(DETAIL_DELAY_MS)
        self._detail_timer.timeout.connect(self._update_detail)
        self.plot.getViewBox().sigRangeChanged.connect(self._on_range_changed)

        self.plot.getViewBox().sigResized.connect(self._on_resized)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # ----------------------------------------------------------------- data
    def set_readout(self, fn: Callable[[int, int], str] | None) -> None:
        """Set the function that describes the cell under the mouse."""
        self._readout = fn

    def set_title(self, text: str) -> None:
        self._title_text = text
        self._fit_title()

    def _fit_title(self) -> None:
        """Elide the title to the widget's width: a title item is as wide as its text and
        would otherwise hold the matrix wider than a narrow window, clipping it."""
        font = QtGui.QFont(self.font())
        font.setPointSizeF(self._title_pt)
        room = max(40, self.width() - 26)  # layout margins 2 × 9 px, text margins 2 × 4 px
        metrics = QtGui.QFontMetricsF(font)
        suffix = f" · {self._filter_name}" if self._filter_name else ""  # always shown
        room = max(40, room - metrics.horizontalAdvance(suffix))
        text = metrics.elidedText(self._title_text, QtCore.Qt.TextElideMode.ElideRight, room)
        text += suffix
        if text != self.title.text:
            self.title.setText(text)

    def set_keep_mask(self, mask: np.ndarray | None, name: str = "") -> None:
        """Dim the cells where ``mask`` (bool, the data's shape) is False, not delete them;
        ``name`` (the filter, e.g. "top 3 per row") is added to the title. None clears."""
        if mask is None:
            if self._dim is not None:
                self._dim.hide()
        else:
            if self._dim is None:
                self._dim = pg.ImageItem(axisOrder="row-major")
                self._dim.setZValue(5)  # over the image, under the selection boxes
                self.plot.addItem(self._dim)
            veil = np.zeros((*mask.shape, 4), dtype=np.ubyte)
            veil[~mask] = (255, 255, 255, 200)
            self._dim.setImage(veil, autoLevels=False, levels=(0, 255))
            self._dim.setRect(QtCore.QRectF(0, 0, mask.shape[1], mask.shape[0]))
            self._dim.show()
        name = name if mask is not None else ""
        if name != self._filter_name:
            self._filter_name = name
            self._fit_title()

    def set_filter(self, top_k: int | None = None, threshold: float | None = None) -> None:
        """Keep the ``top_k`` largest weights of each row and/or those ≥ ``threshold`` at full
        strength, dimming the rest (:func:`~explorer.core.attention_aggregates.keep_mask`),
        from now on for every matrix shown; no arguments shows every cell."""
        self._filter = (top_k, threshold)
        self._apply_filter()

    def enable_filter_menu(self, on: bool = True) -> None:
        """Offer top-k and threshold filters on right-click (attention heatmaps)."""
        self._filter_menu = on

    def _apply_filter(self) -> None:
        from explorer.core.attention_aggregates import filter_name, keep_mask

        top_k, threshold = self._filter
        if (top_k is None and threshold is None) or not self._data.size:
            self.set_keep_mask(None)
        else:
            self.set_keep_mask(keep_mask(self._data, top_k, threshold), filter_name(*self._filter))

    def _filter_menu_at(self, screen_pos) -> None:
        menu = QtWidgets.QMenu(self)
        menu.setObjectName("heatmapFilterMenu")
        choices = [("Show every weight", (None, None))]
        choices += [(f"Top {k} per row", (k, None)) for k in (1, 2, 3, 5)]
        choices += [(f"Weights ≥ {t:g}", (None, t)) for t in (0.05, 0.1, 0.2, 0.5)]
        for text, value in choices:
            action = menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(value == self._filter)
            action.triggered.connect(lambda _=False, v=value: self.set_filter(*v))
        menu.popup(screen_pos)

    def set_axis_captions(self, captions: AxisCaptions) -> None:
        """Say in plain words what rows, columns and values are (e.g. ATTENTION_CAPTIONS)."""
        if captions is ATTENTION_CAPTIONS:
            self._filter_menu = True  # attention weights: top-k and thresholds make sense
        if captions == self._captions:
            return
        self._captions = captions
        self.left_axis.set_caption(captions.row)
        self.top_axis.set_caption(captions.col)
        self._show_note()

    def _show_note(self) -> None:
        """The captions' note, and for a long text how to zoom and what the colours are."""
        text = " · ".join(t for t in (self._captions.note, self._lod_hint) if t)
        if text and self._note is None:
            self._note = self.addLabel("", row=2, col=0, size="8pt", justify="right")
        if text:  # elided to the widget, as the title: a wide label would clip the matrix
            font = QtGui.QFont(self.font())
            font.setPointSizeF(8.0)
            room = max(40, self.width() - 26)
            elide = QtCore.Qt.TextElideMode.ElideRight
            text = QtGui.QFontMetricsF(font).elidedText(text, elide, room)
        if self._note is not None and text != self._note_text:
            self._note_text = text
            self._note.setText(text, size="8pt")
            self._note.setVisible(bool(text))
            self._note.setMaximumHeight(1e6 if text else 0)

    def _set_lod_hint(self, text: str) -> None:
        if self._compact:
            text = ""  # small multiples: no room; the large view says it
        if text != self._lod_hint:
            self._lod_hint = text
            self._show_note()

    def captions(self) -> AxisCaptions:
        return self._captions

    def set_colormap(self, name: str) -> None:
        cmap = colormap(name)
        if cmap is self._cmap:
            return
        self._cmap = cmap
        self.image.setColorMap(cmap)
        if self._detail is not None:
            self._detail.setColorMap(cmap)
        if self.colorbar is not None:
            self.colorbar.setColorMap(cmap)
        self._refresh_values()

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
        if self._detail is not None:
            self._detail.setLevels((lo, hi))
        self._refresh_values()  # dark or light text follows the colour under it

    def set_row_labels_visible(self, visible: bool) -> None:
        """Show or hide the row labels (small multiples share the first panel's)."""
        self.plot.showAxis("left", visible)

    def set_show_values(self, show: bool) -> None:
        if show == self._show_values:
            return
        self._show_values = show
        self._refresh_values()

    def set_matrix(
        self,
        data: np.ndarray,
        row_labels: Sequence[str],
        col_labels: Sequence[str] | None = None,
        levels: tuple[float, float] | None = None,
    ) -> None:
        """Show ``data`` (rows × cols). Non-finite cells (masked, −∞) are left empty and
        show a grey hatch.

        ``data`` may be a lazy matrix (:class:`~explorer.core.long_attention.LazyMatrix`, a
        long text): the view then draws its overview of block maxima, zooms with the wheel
        and pans by dragging (double-click shows all), and draws exact cells, with their
        numbers when they fit, once at most :data:`DETAIL_MAX_CELLS` are in view.

        The same matrix, labels and levels as shown change nothing, so nothing is repainted.
        While the view is hidden inside a shown window, the drawing waits for its
        ``showEvent`` (:attr:`data` and :meth:`image_data` are current at once).
        """
        lazy = is_lazy(data)
        if not lazy:
            data = np.asarray(data, dtype=np.float32)
        if data.ndim != 2:
            raise ValueError("a heatmap needs a 2-D matrix")
        row_labels = list(row_labels)
        col_labels = row_labels if col_labels is None else list(col_labels)
        if levels is not None:
            self.set_levels(levels)
        same_labels = row_labels == self._row_labels and col_labels == self._col_labels
        if lazy or self._lod is not None:
            if lazy and data is self._lod and same_labels:
                return
            self._lod = data if lazy else None
            self._data = np.zeros((0, 0), np.float32) if lazy else data
            self._row_labels, self._col_labels = row_labels, col_labels
            self._stale = True
            if not hidden_in_shown_window(self):
                self._redraw()
            return
        if (
            row_labels == self._row_labels
            and col_labels == self._col_labels
            and same_matrix(data, self._data)
        ):
            return  # the numbers on screen are these already (levels were set above)
        self._data = data
        self._row_labels, self._col_labels = row_labels, col_labels
        self._stale = True
        if not hidden_in_shown_window(self):
            self._redraw()

    def _redraw(self) -> None:
        """Bring the image, labels, filter and numbers in line with what was asked for."""
        if self._lod is not None:
            self._redraw_lod()
            return
        if self.plot.getViewBox().state["mouseEnabled"][0]:  # a long text was shown before
            self._set_zoomable(False)
            self._drawn_shape = (-1, -1)  # the range is set again below
        self._stale = False
        data = self._data
        finite = np.isfinite(data)
        all_finite = bool(finite.all())
        # the hatch shows only through empty (non-finite) cells: with none, it is not drawn
        self.plot.getViewBox().background.setVisible(bool(data.size) and not all_finite)
        if data.size:
            shown = data if all_finite else np.where(finite, data, np.float32(np.nan))
            self.image.setImage(shown, autoLevels=False, levels=self._levels)
            if data.shape != self._drawn_shape:
                self.image.setRect(QtCore.QRectF(0, 0, data.shape[1], data.shape[0]))
            self.image.show()
        else:
            self.image.hide()
        relabel = (self._row_labels, self._col_labels) != self._drawn_labels
        if relabel:  # labels and captions are laid out again only when the labels change
            self._drawn_labels = (self._row_labels, self._col_labels)
            self.left_axis.set_labels(self._row_labels)
            self.top_axis.set_labels(self._col_labels)
        if relabel or data.shape != self._drawn_shape:
            rows, cols = max(data.shape[0], 1), max(data.shape[1], 1)
            self.plot.setXRange(0, cols, padding=0)
            self.plot.setYRange(0, rows, padding=0)
        self._drawn_shape = data.shape
        if self._filter != (None, None):
            self._apply_filter()
        self._update_values()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._redraw()

    # ------------------------------------------------- level of detail (long texts)
    def _set_zoomable(self, on: bool, rows: int = 0, cols: int = 0) -> None:
        vb = self.plot.getViewBox()
        vb.setMouseEnabled(x=on, y=on)
        if on:
            vb.setLimits(xMin=0, xMax=cols, yMin=0, yMax=rows, minXRange=2, minYRange=2)
        else:
            vb.setLimits(xMin=None, xMax=None, yMin=None, yMax=None, minXRange=None, minYRange=None)
            if self._detail is not None:
                self._detail.hide()
            self._detail_window = None
            self._detail_key = None
            self._values.setPos(0, 0)
            self._set_lod_hint("")

    def _redraw_lod(self) -> None:
        self._stale = False
        src = self._lod
        image, block = src.overview()
        rows, cols = src.shape
        finite = np.isfinite(image)
        all_finite = bool(finite.all())
        self.plot.getViewBox().background.setVisible(not all_finite)
        shown = image if all_finite else np.where(finite, image, np.float32(np.nan))
        self.image.setImage(shown, autoLevels=False, levels=self._levels)
        self.image.setRect(QtCore.QRectF(0, 0, image.shape[1] * block, image.shape[0] * block))
        self.image.show()
        relabel = (self._row_labels, self._col_labels) != self._drawn_labels
        if relabel:
            self._drawn_labels = (self._row_labels, self._col_labels)
            self.left_axis.set_labels(self._row_labels)
            self.top_axis.set_labels(self._col_labels)
        if relabel or (rows, cols) != self._drawn_shape:
            self._set_zoomable(True, rows, cols)
            self.plot.setXRange(0, cols, padding=0)
            self.plot.setYRange(0, rows, padding=0)
        self._drawn_shape = (rows, cols)
        self.set_keep_mask(None)  # top-k and threshold filters dim dense matrices only
        self._detail_key = None
        self._update_detail()

    def reset_zoom(self) -> None:
        """Show the whole matrix again."""
        rows, cols = self._shape()
        if self._lod is not None and rows and cols:
            self.plot.setXRange(0, cols, padding=0)
            self.plot.setYRange(0, rows, padding=0)

    def zoom_to(self, r0: int, r1: int, c0: int, c1: int) -> None:
        """Show rows ``r0:r1`` and columns ``c0:c1`` (a long text's matrix) and draw the
        exact cells in view at once."""
        self.plot.setXRange(c0, c1, padding=0)
        self.plot.setYRange(r0, r1, padding=0)
        self._update_detail()

    def _on_range_changed(self, *_args) -> None:
        if self._lod is not None:
            self._detail_timer.start()

    def visible_cells(self) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1): the rows and columns in view."""
        rows, cols = self._shape()
        (x0, x1), (y0, y1) = self.plot.getViewBox().viewRange()
        c0, c1 = max(0, math.floor(x0 + 1e-6)), min(cols, math.ceil(x1 - 1e-6))
        r0, r1 = max(0, math.floor(y0 + 1e-6)), min(rows, math.ceil(y1 - 1e-6))
        return r0, r1, c0, c1

    def detail(self) -> tuple[int, int, np.ndarray] | None:
        """(first row, first column, exact values) of the cells drawn exactly, or None
        while the overview alone is shown."""
        return self._detail_window

    def _update_detail(self) -> None:
        """Exact cells over the overview when few enough are in view (block maxima of
        exact cells where they are smaller than a pixel); the numbers when they fit."""
        self._detail_timer.stop()
        src = self._lod
        if src is None or self._stale:
            return
        r0, r1, c0, c1 = self.visible_cells()
        n = max(r1 - r0, 0) * max(c1 - c0, 0)
        vb = self.plot.getViewBox()
        per_px = max((c1 - c0) / max(vb.width(), 1.0), (r1 - r0) / max(vb.height(), 1.0))
        f = max(1, math.ceil(per_px))
        key = (id(src), r0, r1, c0, c1, f, self._levels, self._show_values)
        if key == self._detail_key:
            return
        self._detail_key = key
        if n == 0 or n > DETAIL_MAX_CELLS:
            if self._detail is not None:
                self._detail.hide()
            self._detail_window = None
            self._values.set_values([], [], 0)
            b = src.overview()[1]
            self._set_lod_hint(
                f"max of {b}×{b} cells · wheel zooms, drag pans" if b > 1 else "wheel zooms"
            )
            return
        if f > 1:
            self._set_lod_hint(f"max of {f}×{f} exact cells · double-click: all")
        else:
            self._set_lod_hint("exact cells · double-click: all")
        window = np.asarray(src.window(r0, r1, c0, c1), dtype=np.float32)
        self._detail_window = (r0, c0, window)
        image = window if f == 1 else block_reduce(window, f, "extreme")
        if self._detail is None:
            self._detail = CellImage(axisOrder="row-major")
            self._detail.setColorMap(self._cmap)
            self._detail.setZValue(1)  # over the overview, under outlines and numbers
            self.plot.addItem(self._detail)
        finite = np.isfinite(image)
        shown = image if finite.all() else np.where(finite, image, np.float32(np.nan))
        self._detail.setImage(shown, autoLevels=False, levels=self._levels)
        self._detail.setRect(QtCore.QRectF(c0, r0, image.shape[1] * f, image.shape[0] * f))
        self._detail.show()
        small = (r1 - r0) <= MAX_VALUE_OVERLAY and (c1 - c0) <= MAX_VALUE_OVERLAY
        self._values.setPos(c0, r0)
        self._write_values(window if f == 1 and small and self._show_values else None)

    def resizeEvent(self, event) -> None:
        if hasattr(self, "title"):  # before the layout takes its new size
            self._fit_title()
        if hasattr(self, "_captions"):
            self._show_note()
        super().resizeEvent(event)
        if hasattr(self, "left_axis"):  # GraphicsView calls this while it is being built
            self.left_axis.set_room(self.width())
            self.top_axis.set_room(self.height())

    def _on_resized(self, *_args) -> None:
        self.left_axis.fit_to_cells()
        self.top_axis.fit_to_cells()
        self._refresh_values()
        if self._lod is not None:
            self._detail_timer.start()

    @property
    def data(self) -> np.ndarray:
        """The matrix currently shown (read-only view; the lazy matrix of a long text)."""
        return self._lod if self._lod is not None else self._data

    def _shape(self) -> tuple[int, int]:
        if self._lod is not None:
            return self._lod.shape
        return self._data.shape if self._data.ndim == 2 else (0, 0)

    def image_data(self) -> np.ndarray | None:
        """The array the image item draws (drawn now if the view was waiting to be shown)."""
        if self._stale:
            self._redraw()
        return self.image.image

    # ------------------------------------------------------------ overlays
    def cell_px(self) -> tuple[float, float]:
        """(width, height) of one cell on screen, in pixels."""
        rows, cols = self._shape()
        vb = self.plot.getViewBox()
        if self._lod is not None:  # zoomed: the cells in view share the box
            r0, r1, c0, c1 = self.visible_cells()
            rows, cols = r1 - r0, c1 - c0
        return vb.width() / max(cols, 1), vb.height() / max(rows, 1)

    def value_font(self) -> QtGui.QFont:
        """The font of the numbers written in cells."""
        return self._value_font

    def _values_fit(self, texts: list[str]) -> bool:
        """True if every number fits its cell: the widest, measured, plus padding."""
        cell_w, cell_h = self.cell_px()
        if self._value_fm.height() > cell_h:
            return False
        widths = self._text_px
        for t in texts:
            w = widths.get(t)
            if w is None:
                w = widths[t] = self._value_fm.horizontalAdvance(t)
            if w + 2 * VALUE_PAD_PX > cell_w:
                return False
        return True

    def value_texts(self) -> list[str]:
        """The numbers written in the cells, row-major; empty when they are not shown."""
        if self._stale:
            self._redraw()
        return self._values.texts()

    def _refresh_values(self) -> None:
        if self._stale:
            return  # _redraw writes them when the view is shown
        if self._lod is not None:
            self._detail_key = None
            self._update_detail()
            return
        self._update_values()

    def _update_values(self) -> None:
        rows, cols = self._shape()
        show = self._show_values and 0 < rows <= MAX_VALUE_OVERLAY and cols <= MAX_VALUE_OVERLAY
        self._write_values(self._data if show else None)

    def _write_values(self, data: np.ndarray | None) -> None:
        """Write ``data``'s numbers in its cells (all, if they fit), or none for None."""
        if data is None or not data.size:
            self._values.set_values([], [], 0)
            return
        cols = data.shape[1]
        flat = data.reshape(-1)
        texts = [value_text(float(v)) for v in flat]
        if not self._values_fit(texts):  # never "1.00.92": all numbers, or none
            self._values.set_values([], [], 0)
            return
        lo, hi = self._levels
        frac = np.clip((np.nan_to_num(flat, nan=lo) - lo) / (hi - lo), 0.0, 1.0)
        rgb = self._cmap.map(frac, mode="byte")[:, :3].astype(np.float32)
        dark = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32) > 140
        self._values.set_values(texts, dark.tolist(), cols)

    def highlight(self, row: int = -1, col: int = -1) -> None:
        """Outline a row and a column (-1 hides the outline)."""
        rows, cols = self._shape()
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

    def mark_cell(self, row: int = -1, col: int = -1) -> None:
        """Outline one cell (a pinned pair); -1 hides the outline."""
        rows, cols = self._shape()
        if 0 <= row < rows and 0 <= col < cols:
            self._mark_box.setRect(QtCore.QRectF(col, row, 1, 1))
            self._mark_box.show()
        else:
            self._mark_box.hide()

    def set_colorbar_ticks(self, values: Sequence[float]) -> None:
        """Label the colour bar at exactly ``values`` (e.g. the ends of the range in use)."""
        if self.colorbar is None:
            return
        ticks = [(float(v), f"{v:.2f}") for v in values]
        if ticks != getattr(self, "_colorbar_ticks", None):
            self._colorbar_ticks = ticks
            self.colorbar.axis.setTicks([ticks, []])

    def select_row(self, row: int | None) -> None:
        """Mark the selected query row."""
        rows, cols = self._shape()
        selected = row if row is not None and 0 <= row < rows else None
        if selected is not None:
            self._sel_box.setRect(QtCore.QRectF(0, row, cols, 1))
            self._sel_box.show()
        else:
            self._sel_box.hide()
        # the selected query keeps its label however thinly the axes are labelled
        self.left_axis.set_selected(selected)
        self.top_axis.set_selected(selected if self._col_labels == self._row_labels else None)

    # -------------------------------------------------------------- mouse
    def cell_at(self, scene_pos: QtCore.QPointF) -> tuple[int, int]:
        """Return (row, col) of the cell under a scene position, or (-1, -1)."""
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return (-1, -1)
        p = vb.mapSceneToView(scene_pos)
        i, j = math.floor(p.y()), math.floor(p.x())
        rows, cols = self._shape()
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
        if event.button() == QtCore.Qt.MouseButton.RightButton and self._filter_menu:
            self._filter_menu_at(event.screenPos().toPoint())
            return
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.scenePos())
        if event.double() and self._lod is not None:
            self.reset_zoom()
            return
        if cell != (-1, -1):
            ctrl = event.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier
            (self.cellToggled if ctrl else self.cellClicked).emit(*cell)
