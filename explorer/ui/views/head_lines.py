"""``headLines``: BertViz's head view, token-to-token lines whose opacity is the weight.

Queries are listed on the left and keys on the right; a line joins query i to key j with an
opacity of a_ij (Vig, "A Multiscale Visualization of Attention in the Transformer Model",
2019). Hovering a token on the left keeps only its lines to the keys, on the right only the
lines into it. "All heads" overlays every head in its own colour, with a legend.

Which lines to draw comes from :func:`explorer.core.mechanism.head_lines` (at most
:data:`~explorer.core.mechanism.MAX_LINES`, weights under
:data:`~explorer.core.mechanism.LINE_THRESHOLD` left out). Lines are grouped by head and by
opacity into a fixed set of curve items (``connect="pairs"``) that are refilled with
``setData`` on every Result; labels are a reused pool of text items.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.long_attention import DENSE_MAX_TOKENS, is_lazy
from explorer.core.mechanism import LINE_THRESHOLD, MAX_LINES, head_lines

OPACITY_BINS = 12  # opacity steps: lines of one head and one step share a curve item
LABEL_GAP = 0.04  # between a label and the end of its lines, in line lengths
LABEL_ROOM = 0.5  # width kept for labels on each side, in line lengths
HEAD_COLOURS = (
    (255, 140, 40), (80, 160, 255), (90, 200, 90), (230, 80, 80), (180, 120, 230),
    (160, 110, 80), (240, 120, 200), (170, 170, 170), (200, 200, 60), (60, 200, 210),
    (255, 200, 120), (140, 200, 255),
)  # fmt: skip


HOVER_COLOUR = QtGui.QColor(220, 60, 40)


def head_colour(h: int) -> tuple[int, int, int]:
    return HEAD_COLOURS[h % len(HEAD_COLOURS)]


class HeadLinesView(QtWidgets.QWidget):
    """Token-to-token attention lines of the selected head, or of every head overlaid."""

    querySelected = QtCore.Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("headLines")
        self.setToolTip(
            "Each line joins a query (left) to a key (right); the stronger the weight, the "
            "more opaque the line. Hover a token to see only its lines; click one on the "
            "left to pick that query."
        )
        self._weights = np.zeros((0, 0, 0))
        self._labels: list[str] = []
        self._head = 0
        self._query = -1
        self._hover: tuple[str, int] | None = None
        self._label_step = 0
        self.lines = head_lines(np.zeros((1, 0, 0)))

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(3)
        row = QtWidgets.QHBoxLayout()
        self.allHeads = QtWidgets.QCheckBox("All heads", objectName="allHeadsToggle")
        self.allHeads.setToolTip("Overlay the lines of every head, one colour per head")
        self.allHeads.toggled.connect(self._redraw)
        row.addWidget(self.allHeads)
        self.legend = QtWidgets.QLabel("", objectName="headLinesLegend")
        self.legend.setToolTip("The colour of each head's lines")
        self.legend.setWordWrap(True)
        row.addWidget(self.legend, 1)
        layout.addLayout(row)
        self.plotArea = pg.GraphicsLayoutWidget()
        self.plotArea.setObjectName("headLinesPlot")
        self.plotArea.setMinimumSize(200, 150)
        layout.addWidget(self.plotArea, 1)
        self.note = QtWidgets.QLabel("", objectName="headLinesNote")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)

        self.plot = self.plotArea.addPlot(enableMenu=False)
        for axis in ("left", "bottom"):
            self.plot.hideAxis(axis)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.invertY(True)
        self.plot.getViewBox().setDefaultPadding(0.0)
        self.plot.setXRange(-LABEL_ROOM, 1 + LABEL_ROOM, padding=0)
        self._curves: dict[tuple[int, int], pg.PlotCurveItem] = {}
        self._headers = []
        for x, text, anchor in (
            (-LABEL_GAP, "queries", (1.0, 0.5)),
            (1 + LABEL_GAP, "keys", (0.0, 0.5)),
        ):
            header = pg.TextItem(text, anchor=anchor)
            font = header.textItem.font()
            font.setItalic(True)
            header.setFont(font)
            header.setPos(x, -1.0)
            self.plot.addItem(header)
            self._headers.append(header)
        self._left: list[pg.TextItem] = []
        self._right: list[pg.TextItem] = []
        self.plot.getViewBox().sigResized.connect(self._place_labels)
        self.plotArea.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plotArea.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.plotArea.viewport().installEventFilter(self)

    # ---------------------------------------------------------------- data
    def show_result(self, result, head: int, query: int, *, dragging: bool = False) -> None:
        """Draw the lines of head ``head`` (or every head) of ``result``."""
        self._too_long = is_lazy(result.weights)  # a long text: no lines (see _redraw)
        self._weights = np.zeros((result.n_head, 0, 0)) if self._too_long else result.weights
        labels = [] if self._too_long else result.display_labels
        if labels != self._labels:
            self._labels = labels
            self._hover = None
            self._label_step = 0
        n_head = self._weights.shape[0]
        self._head = min(max(head, 0), max(n_head - 1, 0))
        self._query = query
        self._redraw()

    def clear(self) -> None:
        self._weights = np.zeros((0, 0, 0))
        self._labels = []
        self._hover = None
        self._redraw()

    def _redraw(self, *_args) -> None:
        w = self._weights
        T = len(self._labels)
        every = self.allHeads.isChecked()
        if T and w.shape[0] and w.shape[1] == T:
            heads = np.arange(w.shape[0]) if every else np.array([self._head])
            side, tok = self._hover if self._hover is not None else ("", -1)
            lines = head_lines(
                w[heads],
                LINE_THRESHOLD,
                query=tok if side == "left" else None,
                key=tok if side == "right" else None,
            )
            lines = replace(lines, head=heads[lines.head])  # back to the Result's head numbers
        else:
            heads = np.zeros(0, dtype=int)
            lines = head_lines(np.zeros((1, 0, 0)))
        self.lines = lines
        self._fill_curves(lines, len(heads))
        self._place_labels()
        self.plot.setYRange(-1.5, max(T, 1) - 0.5, padding=0)  # a row for the headers
        self._update_legend(heads, every)
        notes = []
        if lines.dropped:
            notes.append(
                f"Showing the {MAX_LINES} heaviest lines; {lines.dropped} lighter ones are "
                "left out."
            )
        if T and self._label_step > 1:
            notes.append(f"Every {self._label_step}th token is labelled.")
        if T and not len(lines) and self._hover is None:
            notes.append("No weight reaches the drawing threshold.")
        if not T:
            notes = ["No tokens: type a sentence to see its attention lines."]
        if getattr(self, "_too_long", False):
            notes = [
                f"Lines are drawn for texts of up to {DENSE_MAX_TOKENS:,} tokens; this one is "
                "longer. The heatmap zooms to any part of it."
            ]
        self.note.setText(" ".join(notes) or f"Lines under {LINE_THRESHOLD:g} are not drawn.")

    def _fill_curves(self, lines, n_heads: int = 1) -> None:
        # overlaid heads: each head's line ends sit a little apart, so identical lines of
        # two heads stay visible side by side instead of one hiding the other
        spread = min(0.5 / n_heads, 0.15) if n_heads > 1 else 0.0
        bins = np.minimum((lines.weight * OPACITY_BINS).astype(int), OPACITY_BINS - 1)
        used = set()
        if len(lines):
            key = lines.head * OPACITY_BINS + bins
            order = np.argsort(key, kind="stable")
            keys, starts = np.unique(key[order], return_index=True)
            ends = [*starts[1:], order.size]
            for k, a, b in zip(keys, starts, ends, strict=True):
                h, b_i = divmod(int(k), OPACITY_BINS)
                idx = order[a:b]
                n = idx.size
                x = np.tile([0.0, 1.0], n)
                y = np.empty(2 * n)
                shift = (h % n_heads - (n_heads - 1) / 2) * spread
                y[0::2] = lines.query[idx] + shift
                y[1::2] = lines.key[idx] + shift
                curve = self._curve(h, b_i)
                curve.setData(x, y, connect="pairs")
                curve.show()
                used.add((h, b_i))
        for k, curve in self._curves.items():
            if k not in used and curve.isVisible():
                curve.setData([], [])
                curve.hide()

    def _curve(self, h: int, b: int) -> pg.PlotCurveItem:
        curve = self._curves.get((h, b))
        if curve is None:
            alpha = round(255 * (b + 0.5) / OPACITY_BINS)
            # 1 px: antialiased 2 px pens measured 100-200x slower to paint (143 lines)
            curve = pg.PlotCurveItem(pen=pg.mkPen((*head_colour(h), alpha), width=1))
            curve.setZValue(b)  # stronger lines on top
            self.plot.addItem(curve)
            self._curves[(h, b)] = curve
        return curve

    def _update_legend(self, heads: np.ndarray, every: bool) -> None:
        if not heads.size:
            self.legend.setText("")
            return
        parts = [
            f'<span style="color: rgb{head_colour(int(h))}">■</span>&nbsp;head&nbsp;{int(h)}'
            for h in heads
        ]
        prefix = "" if every else "selected: "
        self.legend.setText(prefix + " &nbsp; ".join(parts))

    # -------------------------------------------------------------- labels
    def _label(self, pool: list[pg.TextItem], anchor) -> pg.TextItem:
        t = pg.TextItem("", anchor=anchor)
        t.setZValue(OPACITY_BINS + 1)
        self.plot.addItem(t)
        pool.append(t)
        return t

    def _place_labels(self, *_args) -> None:
        T = len(self._labels)
        vb = self.plot.getViewBox()
        fm = QtGui.QFontMetrics(QtGui.QFont())
        row_px = vb.height() / max(T + 1, 1)
        step = max(1, math.ceil(fm.height() / max(row_px, 1e-3)))
        self._label_step = step
        shown = list(range(0, T, step))
        while len(self._left) < len(shown):
            self._label(self._left, (1.0, 0.5))
            self._label(self._right, (0.0, 0.5))
        side, tok = self._hover if self._hover is not None else ("", -1)
        fg = pg.mkColor(pg.getConfigOption("foreground"))  # follows the light/dark theme
        for header in self._headers:
            header.setColor(fg)
            header.setVisible(T > 0)
        dim = QtGui.QColor(fg)
        dim.setAlphaF(0.35)
        max_px = vb.width() * LABEL_ROOM / (1 + 2 * LABEL_ROOM) - 8
        for n, (lt, rt) in enumerate(zip(self._left, self._right, strict=True)):
            if n >= len(shown):
                lt.hide()
                rt.hide()
                continue
            i = shown[n]
            text = fm.elidedText(self._labels[i], QtCore.Qt.TextElideMode.ElideRight, max_px)
            for t, x, mine in (
                (lt, -LABEL_GAP, side == "left" and tok == i),
                (rt, 1 + LABEL_GAP, side == "right" and tok == i),
            ):
                t.setText(text)
                t.setPos(x, i)
                chosen = t is lt and i == self._query
                t.setColor(HOVER_COLOUR if mine else dim if tok >= 0 else fg)
                if t.textItem.font().bold() != chosen:
                    font = t.textItem.font()
                    font.setBold(chosen)  # the selected query
                    t.setFont(font)
                t.show()

    # -------------------------------------------------------------- mouse
    def token_at(self, scene_pos) -> tuple[str, int] | None:
        """("left" or "right", token index) of the label under a scene position."""
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos) or not self._labels:
            return None
        p = vb.mapSceneToView(scene_pos)
        i = round(p.y())
        if not 0 <= i < len(self._labels):
            return None
        if p.x() < 0:
            return ("left", i)
        if p.x() > 1:
            return ("right", i)
        return None

    def hover_token(self, side: str | None, index: int = -1) -> None:
        """Show only the lines of token ``index`` on ``side`` ("left"/"right"), or all."""
        hover = (side, index) if side in ("left", "right") else None
        if hover != self._hover:
            self._hover = hover
            self._redraw()

    def _on_mouse_moved(self, pos) -> None:
        hit = self.token_at(pos)
        self.hover_token(*(hit or (None, -1)))

    def _on_mouse_clicked(self, event) -> None:
        hit = self.token_at(event.scenePos())
        if hit is not None and hit[0] == "left":
            self.querySelected.emit(hit[1])

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QtCore.QEvent.Type.Leave:
            self.hover_token(None)
        return False
