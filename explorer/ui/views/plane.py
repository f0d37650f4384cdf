"""What the two 2-D maps share: caption, plot, a label pool, a held projection and range.

:class:`PlaneMapView` is the base of ``embeddingMap`` (value space) and ``qkMap`` (queries
and keys). It follows the "Inside the sum" contract: ``show_result(result, head, query,
dragging=...)`` and ``querySelected``. The plane comes from :mod:`explorer.core.maps`; this
module only keeps it fixed while a slider is held down, so points move only because their
vectors moved, and refits when a call comes with ``dragging=False``, another head, or new
token texts. A hidden view stores the call and draws when it is shown.

Updates reuse the items (``setData``, ``setPos``); labels are thinned to
:data:`~explorer.core.map_layout.MAX_LABELS` on long texts, and the caption says so.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core import map_layout, maps

BLUE = (31, 119, 180)
ORANGE = (230, 110, 0)
GREY = (140, 140, 140)
ACCENT = (214, 39, 40)
LABEL_PT = 9
LABEL_GAP = 3.0  # pixels between a dot and its label


class PlaneMapView(QtWidgets.QWidget):
    """A caption over a 2-D plot with locked aspect (distances in the plane are true)."""

    querySelected = QtCore.Signal(int)

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.setObjectName(name)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        self.controls = QtWidgets.QHBoxLayout()
        self.caption = QtWidgets.QLabel(self)
        self.caption.setObjectName(f"{name}Caption")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.caption.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred
        )
        self.controls.addWidget(self.caption, 1)
        layout.addLayout(self.controls)
        # the key to the symbols sits above the plot, where it can never cover a dot
        self.legend = QtWidgets.QLabel(self)
        self.legend.setObjectName(f"{name}Legend")
        self.legend.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        layout.addWidget(self.legend)
        self.plot = pg.PlotWidget(self, enableMenu=False)
        self.plot.setObjectName(f"{name}Plot")
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        # no grid: PCA units mean nothing, and a grid cost 60 ms a frame in measurements
        self.plot.setLabel("bottom", "PCA axis 1")
        self.plot.setLabel("left", "PCA axis 2")
        self.plot.setMinimumSize(200, 160)
        layout.addWidget(self.plot, 1)
        self.view_box = self.plot.getViewBox()
        self.view_box.sigRangeChanged.connect(self._place_labels)
        self.view_box.sigResized.connect(self._place_labels)
        self._projection: maps.Projection | None = None
        self._fit_key: tuple | None = None
        self._last: tuple | None = None  # (result, head) of the last fit: redraws keep it
        self._pending: tuple | None = None
        self._labels: list[pg.TextItem] = []
        self._label_state: list[tuple | None] = []  # (text, colour) each label shows
        self._label_side: list[int] = []  # side of its point each label sits on (or -1)
        self._label_size: list[tuple[float, float]] = []  # pixels, measured when text is set
        self._label_pos = np.zeros((0, 2))
        self._label_members: list = []
        self._label_order = np.zeros(0, dtype=int)
        self._shown_labels = 0
        self._caption_base = ""
        self.labelled_tokens: set[int] = set()  # tokens whose name is on screen
        self._head_len = 0.1
        self.result = None
        self.names: list[str] = []  # display labels of the result on screen (bank₁, bank₂)
        self.head = 0
        self.query: int | None = None
        self.draws = 0  # how many times the view drew (tests check hidden views do not)

    # ----------------------------------------------------------------- contract
    def show_result(self, result, head: int, query, *, dragging: bool = False) -> None:
        """Draw ``result``'s head ``head`` with ``query`` highlighted (None: no query).

        While ``dragging`` the plane of the last fit is kept (unless the head or the token
        texts changed); otherwise it is refitted.
        """
        if not self.isVisible():
            self._pending = (result, head, query, dragging)
            return
        self._pending = None
        T = result.T if result is not None else 0
        head = min(max(int(head), 0), result.n_head - 1) if result is not None else 0
        query = int(query) if query is not None and 0 <= int(query) < T else None
        if result is not self.result:
            self.names = result.display_labels if result is not None else []
        self.result, self.head, self.query = result, head, query
        self.draws += 1
        if result is None or T == 0:
            self._projection = None
            self._fit_key = self._last = None
            self.clear_items()
            self.set_caption(self.empty_text())
            return
        key = (tuple(result.labels), head)
        same = self._last is not None and self._last[0] is result and self._last[1] == head
        keep = key == self._fit_key and (dragging or same)
        data = self.compute(result, head, self._projection if keep else None)
        refit = data.refitted
        self._projection, self._fit_key = data.projection, key
        if refit:
            self._last = (result, head)
        self.draw(result, head, query, data, refit)

    def clear(self) -> None:
        """Forget the Result on screen (a compute failed): no dots, no plane, no caption."""
        self._pending = None
        self._projection = None
        self._fit_key = self._last = None
        self.result, self.names, self.query = None, [], None
        self.clear_items()
        self.set_caption("")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending is not None:
            QtCore.QTimer.singleShot(0, self._flush)

    def _flush(self) -> None:
        if self._pending is not None and self.isVisible():
            self.show_result(*self._pending[:3], dragging=self._pending[3])

    @property
    def projection(self) -> maps.Projection | None:
        """The plane on screen (kept during a drag)."""
        return self._projection

    # ------------------------------------------------------------- subclass API
    def empty_text(self) -> str:
        return "No tokens: type some text to see the map."

    def compute(self, result, head: int, projection):
        raise NotImplementedError

    def draw(self, result, head: int, query, data, refit: bool) -> None:
        raise NotImplementedError

    def clear_items(self) -> None:
        self.set_labels([], np.zeros((0, 2)))

    # ------------------------------------------------------------------ helpers
    def set_labels(self, texts, positions, colors=None, members=None, priority=None) -> None:
        """Show ``texts`` at ``positions`` (n, 2), reusing the pool of text items.

        ``members[i]`` are the tokens label ``i`` names (counted in the caption's note);
        ``priority`` (higher first) decides who keeps a spot when labels would overlap
        (:func:`explorer.core.map_layout.place_labels`). A slot's text and colour are set only when
        they change, so a drag tick costs a ``setPos`` per label.
        """
        n = len(texts)
        while len(self._labels) < n:
            item = pg.TextItem(anchor=(0.0, 1.0))
            font = item.textItem.font()
            font.setPointSize(LABEL_PT)
            item.setFont(font)
            item.setZValue(20)
            self.plot.addItem(item, ignoreBounds=True)
            self._labels.append(item)
            self._label_state.append(None)
            self._label_side.append(-1)
            self._label_size.append((0.0, 0.0))
        fg = pg.getConfigOption("foreground")
        for i, item in enumerate(self._labels[:n]):
            color = fg if colors is None or colors[i] is None else colors[i]
            state = (texts[i], str(color))
            if self._label_state[i] != state:
                item.setText(texts[i], color=pg.mkColor(color))
                self._label_state[i] = state
                self._label_side[i] = -1  # new size: set the anchor again
                r = item.textItem.boundingRect()
                self._label_size[i] = (r.width(), r.height())
            item.setPos(float(positions[i, 0]), float(positions[i, 1]))
        for item in self._labels[n : self._shown_labels]:
            item.setVisible(False)
        self._shown_labels = n
        self._label_pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        self._label_members = list(members) if members is not None else [()] * n
        prio = np.zeros(n) if priority is None else np.asarray(priority, dtype=np.float64)
        self._label_order = np.argsort(-prio, kind="stable")
        self._place_labels()

    def _place_labels(self, *_args) -> None:
        """Give each label a side of its point where it overlaps no more important label;
        leave out those that fit nowhere. Runs after every draw and when the range or size
        of the plot changes."""
        n = self._shown_labels
        labels = self._labels[:n]
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        rect = self.view_box.boundingRect()
        if n and rect.width() > 0 and rect.height() > 0 and x1 > x0 and y1 > y0:
            pos = self._label_pos[self._label_order]
            anchors = np.column_stack(
                [
                    (pos[:, 0] - x0) / (x1 - x0) * rect.width(),
                    (y1 - pos[:, 1]) / (y1 - y0) * rect.height(),
                ]
            )
            sizes = np.array([self._label_size[i] for i in self._label_order]).reshape(-1, 2)
            side, shown = map_layout.place_labels(anchors, sizes, gap=LABEL_GAP)
        else:
            side, shown = np.zeros(n, dtype=int), np.ones(n, dtype=bool)
        visible_tokens: set[int] = set()
        for k, i in enumerate(self._label_order):
            item = labels[i]
            if shown[k]:
                if self._label_side[i] != side[k]:
                    w, h = self._label_size[i]
                    sx, sy = map_layout.LABEL_SIDES[side[k]]
                    gx, gy = LABEL_GAP / max(w, 1.0), LABEL_GAP / max(h, 1.0)
                    item.setAnchor((-gx if sx > 0 else 1 + gx, 1 + gy if sy < 0 else -gy))
                    self._label_side[i] = int(side[k])
                visible_tokens.update(int(t) for t in self._label_members[i])
            if item.isVisible() != bool(shown[k]):
                item.setVisible(bool(shown[k]))
        self.labelled_tokens = visible_tokens
        self._update_caption()

    def set_caption(self, text: str) -> None:
        """The caption; a note on how many tokens carry a label is added when not all do."""
        self._caption_base = text
        self._update_caption()

    def _update_caption(self) -> None:
        T = self.result.T if self.result is not None else 0
        note = thinned_note(T, len(self.labelled_tokens)) if self._caption_base else ""
        self.caption.setText(self._caption_base + note)

    def label_texts(self) -> list[str]:
        """The labels on screen, most important first (for tests and screen readers)."""
        return [
            self._labels[i].toPlainText()
            for i in getattr(self, "_label_order", [])
            if i < self._shown_labels and self._labels[i].isVisible()
        ]

    def fit_range(self, points: np.ndarray, refit: bool) -> None:
        """Frame ``points`` after a refit; during a drag only grow the range to keep them in."""
        pts = points[np.isfinite(points).all(axis=1)] if len(points) else points
        if not len(pts):
            return
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-6))
        if refit:
            self._head_len = 0.03 * span
            pad = 0.08 * span
            self.view_box.setRange(
                xRange=(lo[0] - pad, hi[0] + pad), yRange=(lo[1] - pad, hi[1] + pad), padding=0
            )
            return
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        if lo[0] < x0 or hi[0] > x1 or lo[1] < y0 or hi[1] > y1:
            pad = 0.05 * span
            self.view_box.setRange(
                xRange=(min(x0, lo[0] - pad), max(x1, hi[0] + pad)),
                yRange=(min(y0, lo[1] - pad), max(y1, hi[1] + pad)),
                padding=0,
            )

    def nearest(self, points: np.ndarray, scene_pos, max_px: float = 10.0) -> int | None:
        """Index of the point within ``max_px`` screen pixels of ``scene_pos``, or None."""
        if points is None or not len(points):
            return None
        if not self.view_box.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.view_box.mapSceneToView(scene_pos)
        px, py = self.view_box.viewPixelSize()
        d = np.hypot(
            (points[:, 0] - p.x()) / max(px, 1e-12), (points[:, 1] - p.y()) / max(py, 1e-12)
        )
        i = int(np.argmin(d))
        return i if d[i] <= max_px else None

    def scene_pos_of(self, point) -> QtCore.QPointF:
        """Scene position of a plane point (for tests that hover or click it)."""
        return self.view_box.mapViewToScene(QtCore.QPointF(float(point[0]), float(point[1])))

    def widget_pos_of(self, point) -> QtCore.QPoint:
        """Position of a plane point in the plot widget's coordinates."""
        return self.plot.mapFromScene(self.scene_pos_of(point))


def set_points(item: pg.ScatterPlotItem, pos: np.ndarray) -> None:
    """``item.setData(pos=pos)`` unless it already shows exactly these points (a W_Q drag
    leaves the keys where they are; picking a query moves no dot)."""
    pos = np.asarray(pos, dtype=np.float64).reshape(-1, 2)
    last = getattr(item, "_shown_pos", None)
    if last is not None and last.shape == pos.shape and np.array_equal(last, pos):
        return
    item.setData(pos=pos)
    item._shown_pos = pos


def pen(color, width: float = 1.0, alpha: int = 255) -> QtGui.QPen:
    p = pg.mkPen((*color, alpha), width=width)
    p.setCosmetic(True)
    return p


def legend_html(entries) -> str:
    """One line of ``(symbol, rgb, text)`` entries: coloured symbols, then their meaning."""
    return "&nbsp;&nbsp;&nbsp;".join(
        f'<span style="color: rgb{tuple(rgb)}; font-size: large">{sym}</span>&nbsp;{text}'
        for sym, rgb, text in entries
    )


def thinned_note(T: int, shown: int) -> str:
    """Said when labels were thinned (long texts) or left out where they would overlap."""
    return f" Labels on {shown} of {T} tokens (the others would overlap)." if shown < T else ""
