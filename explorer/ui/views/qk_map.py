"""``qkMap``: queries and keys of the selected head in one plane.

One joint PCA of the ``q``'s and ``k``'s (AttentionViz's joint embedding, but live): dragging
a W_Q slider moves the query dots while the plane stays fixed, and the keys stay put.
Hovering a query draws lines to its keys, thicker where the weight is larger (the selected
query's lines show when nothing is hovered). The numbers come from
:func:`explorer.core.maps.qk_map` and :func:`explorer.core.map_layout.attention_lines`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from explorer.core import map_layout, maps
from explorer.ui.views.plane import (
    ACCENT,
    BLUE,
    ORANGE,
    PlaneMapView,
    legend_html,
    pen,
    set_points,
)


def line_width(weight: float) -> float:
    """Pen width in pixels of a query→key line of this weight."""
    return 0.6 + 7.0 * float(weight)


class QKMapView(PlaneMapView):
    """Queries (circles) and keys (triangles) of one head (objectName ``qkMap``)."""

    def __init__(self, parent=None):
        super().__init__("qkMap", parent)
        self.setToolTip(
            "Queries (blue circles) and keys (orange triangles) of the selected head in one "
            "plane. Hover a query to draw lines to the keys it attends to, thicker where the "
            "weight is larger; click it to pick that query."
        )
        self.plot.setToolTip(self.toolTip())
        self.legend.setText(
            legend_html([("●", BLUE, "query q<sub>i</sub>"), ("▲", ORANGE, "key k<sub>j</sub>")])
        )
        self.keys = pg.ScatterPlotItem(
            size=16, symbol="t1", pen=pen((255, 255, 255), 1), brush=pg.mkBrush(*ORANGE),
        )  # fmt: skip
        self.queries = pg.ScatterPlotItem(
            size=9, symbol="o", pen=pen((255, 255, 255), 1), brush=pg.mkBrush(*BLUE),
        )  # fmt: skip
        self.selected = pg.ScatterPlotItem(size=18, pen=pen(ACCENT, 2.5), brush=None)
        self.lines: list[pg.PlotCurveItem] = []
        for _ in range(map_layout.MAX_LINES):
            line = pg.PlotCurveItem(pen=pen(ACCENT, 1))
            line.setVisible(False)
            self.plot.addItem(line)
            self.lines.append(line)
        self.plot.addItem(self.queries)
        self.plot.addItem(self.keys)
        self.plot.addItem(self.selected)
        self.queries.setZValue(5)
        self.keys.setZValue(4)
        self.selected.setZValue(6)
        self.readout = QtWidgets.QLabel(self)
        self.readout.setObjectName("qkMapReadout")
        self.readout.setToolTip("The strongest keys of the hovered (or selected) query.")
        self.layout().addWidget(self.readout)
        self.queries.sigClicked.connect(self._on_points_clicked)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.hovered: int | None = None
        self.data: maps.QKMap | None = None
        self.line_keys = np.zeros(0, dtype=int)
        self.line_weights = np.zeros(0)

    # ------------------------------------------------------------------ drawing
    def compute(self, result, head: int, projection):
        return maps.qk_map(result, head, projection)

    def clear_items(self) -> None:
        super().clear_items()
        for item in (self.queries, self.keys, self.selected):
            set_points(item, np.zeros((0, 2)))
        self.data = None
        self.hovered = None
        self._draw_lines(None)

    def draw(self, result, head: int, query, data: maps.QKMap, refit: bool) -> None:
        self.data = data
        T = result.T
        if self.hovered is not None and self.hovered >= T:
            self.hovered = None
        self.fit_range(np.concatenate([data.queries, data.keys]), refit)
        set_points(self.queries, data.queries)
        set_points(self.keys, data.keys)
        sel = data.queries[query : query + 1] if query is not None else np.zeros((0, 2))
        set_points(self.selected, sel)
        self._draw_lines(self.hovered if self.hovered is not None else query)
        d_head = result.q.shape[2]
        text = (
            f"Queries ● and keys ▲ of head {head}, one PCA of both, "
            f"{100.0 * data.explained:.0f}% of variance shown. Score = (q<sub>i</sub> · "
            f"k<sub>j</sub>) × s, s = 1/(√{d_head}·τ) = <b>{data.scale:.4g}</b>. Lines: query → "
            "keys, thicker where the weight is larger."
        )
        if T and np.allclose(data.queries, data.keys):
            text += " Each query sits on its own key here (W_Q and W_K agree on these tokens)."
        if not refit:
            text += " Plane held while the slider is down."
        # the labels' placement adds how many tokens carry a label
        self._caption_base = text
        self._draw_labels(result, head, query, data)

    def _draw_labels(self, result, head, query, data) -> None:
        """Query labels in blue, key labels in orange; a query and key on one spot (as with
        W_Q = W_K) share one label in the text colour. Where labels would overlap, the
        selected query and the keys it weighs most keep theirs."""
        T = result.T
        row = result.weights[head][query] if query is not None else None
        idx = map_layout.label_subset(T, query, row, map_layout.MAX_LABELS // 2)
        names = self.names
        n = len(idx)
        texts = [names[i] for i in idx] * 2
        tokens = list(idx) * 2
        points = np.concatenate([data.queries[idx], data.keys[idx]])
        kinds = ["q"] * n + ["k"] * n
        chosen = [i == query for i in idx] + [False] * n
        weight = [0.0] * n + [float(row[i]) if row is not None else 0.0 for i in idx]
        out_texts, out_pos, colors, members, priority = [], [], [], [], []
        for group in map_layout.group_labels(points, self._head_len / 3):
            out_texts.append(", ".join(dict.fromkeys(texts[i] for i in group)))
            out_pos.append(points[group[0]])
            group_kinds = {kinds[i] for i in group}
            if any(chosen[i] for i in group):
                colors.append(ACCENT)
            elif group_kinds == {"q"}:
                colors.append(BLUE)
            elif group_kinds == {"k"}:
                colors.append(ORANGE)
            else:
                colors.append(None)
            members.append([tokens[i] for i in group])
            priority.append(
                3.0 if any(chosen[i] for i in group) else 1 + max(weight[i] for i in group)
            )
        pos = np.array(out_pos).reshape(-1, 2)
        self.set_labels(out_texts, pos, colors, members, priority)

    def _draw_lines(self, query: int | None) -> None:
        """Lines from ``query`` to its strongest keys (reusing the pool), and the readout."""
        r, data = self.result, self.data
        if query is None or r is None or data is None or query >= r.T:
            keys, weights = np.zeros(0, dtype=int), np.zeros(0)
        else:
            keys, weights = map_layout.attention_lines(r.weights[self.head][query])
        self.line_keys, self.line_weights = keys, weights
        for n, line in enumerate(self.lines):
            if n < len(keys):
                q, k = data.queries[query], data.keys[keys[n]]
                line.setData([q[0], k[0]], [q[1], k[1]])
                line.setPen(pen(ACCENT, line_width(weights[n]), int(90 + 165 * weights[n])))
                line.setVisible(True)
            elif line.isVisible():
                line.setVisible(False)
        if not len(keys):
            self.readout.setText(
                "Hover a query to see the keys it attends to." if r is not None and r.T else ""
            )
            return
        names = self.names
        top = " · ".join(f"{names[j]} {w:.2f}" for j, w in zip(keys[:6], weights[:6], strict=True))
        self.readout.setText(f"Query {names[query]} attends to: {top}")

    # ------------------------------------------------------------ interaction
    def hover_query(self, index: int | None) -> None:
        """Show the lines of query ``index`` (None: back to the selected query)."""
        if index == self.hovered:
            return
        self.hovered = index
        self._draw_lines(index if index is not None else self.query)

    def _on_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if self.data is None:
            return
        self.hover_query(self.nearest(self.data.queries, scene_pos))

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        self.hover_query(None)

    def _on_points_clicked(self, _item, points, _ev) -> None:
        if len(points):
            self.querySelected.emit(int(points[0].index()))
