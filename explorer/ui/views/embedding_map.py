"""``embeddingMap``: the value space of the selected head, where attention moves each word.

Each dot is a token's value vector ``v_i``; an arrow runs to its contextual vector
``y_i = Σ_j a_ij v_j``, which lies inside the convex hull of the ``v``'s. With identity W_V it
is the static-embedding picture of the article: both banks on one dot before attention and
apart after it. The numbers come from :func:`explorer.core.maps.value_map`.

Reference words (dog, cat, table, ...) go through the same W_V of the same session. The view
reads that session from :meth:`EmbeddingMapView.set_session_source`, or else from the
window's document (``window().doc.session``), and uses it only when it is the session of the
Result on screen (``x @ W_V`` must give the Result's ``v``); otherwise it keeps the reference
points of the last matching session until the next result arrives.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from explorer.core import map_layout, maps
from explorer.ui.views.plane import (
    ACCENT,
    BLUE,
    GREY,
    ORANGE,
    PlaneMapView,
    legend_html,
    pen,
    set_points,
)


class EmbeddingMapView(PlaneMapView):
    """Value vectors ``v_i`` and arrows to ``y_i`` of one head (objectName ``embeddingMap``)."""

    def __init__(self, parent=None, session_source: Callable[[], object] | None = None):
        super().__init__("embeddingMap", parent)
        self._session_source = session_source
        self.setToolTip(
            "Each dot is a token's value vector v_i; its arrow ends at y_i = Σ_j a_ij v_j, "
            "the weighted average attention makes. Click a dot to pick that query."
        )
        self.plot.setToolTip(self.toolTip())
        self.referenceCheck = QtWidgets.QCheckBox("Reference words", self)
        self.referenceCheck.setObjectName("embeddingMapReferences")
        self.referenceCheck.setToolTip(
            "Show dog, cat, table, king, queen, apple, river and money, embedded like the "
            "text's words (without positions) and sent through the same W_V."
        )
        self.referenceCheck.toggled.connect(self._on_references_toggled)
        self.controls.addWidget(self.referenceCheck, 0)

        self._set_legend(False)
        self.arrows = pg.PlotCurveItem(pen=pen(GREY, 1.2), connect="pairs")
        self.selected_arrow = pg.PlotCurveItem(pen=pen(ACCENT, 2.5), connect="pairs")
        self.values = pg.ScatterPlotItem(
            size=10,
            pen=pen((255, 255, 255), 1),
            brush=pg.mkBrush(*BLUE),
        )
        self.outputs = pg.ScatterPlotItem(
            size=8,
            pen=pen(ORANGE, 2),
            brush=pg.mkBrush(*ORANGE, 60),
        )
        self.selected = pg.ScatterPlotItem(size=17, pen=pen(ACCENT, 2.5), brush=None)
        self.references = pg.ScatterPlotItem(
            size=10, symbol="d", pen=pen(GREY, 1), brush=pg.mkBrush(*GREY, 120)
        )
        for item in (self.references, self.arrows, self.selected_arrow, self.values):
            self.plot.addItem(item)
        self.plot.addItem(self.outputs)
        self.plot.addItem(self.selected)
        self.values.setZValue(5)  # dots over the arrows that leave them
        self.selected.setZValue(6)
        self.references.setVisible(False)
        self.values.sigClicked.connect(self._on_points_clicked)
        self.outputs.sigClicked.connect(self._on_outputs_clicked)
        self._active_rows = np.zeros(0, dtype=int)
        self._ref_cache: tuple[tuple, maps.ReferenceInputs] | None = None
        # (head, words, values) of the last session that matched the Result on screen
        self._ref_values: tuple[int, tuple[str, ...], np.ndarray] | None = None
        self.data: maps.ValueMap | None = None
        self.reference_points = np.zeros((0, 2))
        self.reference_words: tuple[str, ...] = ()

    # ----------------------------------------------------------------- session
    def set_session_source(self, source: Callable[[], object] | None) -> None:
        """Where reference words read the session (embedding source and W_V) from."""
        self._session_source = source
        self._ref_cache = self._ref_values = None

    def _session(self):
        if self._session_source is not None:
            return self._session_source()
        doc = getattr(self.window(), "doc", None)
        return getattr(doc, "session", None)

    # ------------------------------------------------------------------ drawing
    def compute(self, result, head: int, projection):
        return maps.value_map(result, head, projection)

    def clear_items(self) -> None:
        super().clear_items()
        empty = np.zeros(0)
        for item in (self.arrows, self.selected_arrow):
            item.setData(empty, empty)
        for item in (self.values, self.outputs, self.selected, self.references):
            set_points(item, np.zeros((0, 2)))
        self.data = None
        self._active_rows = np.zeros(0, dtype=int)
        self.reference_points = np.zeros((0, 2))
        self.reference_words = ()

    def draw(self, result, head: int, query, data: maps.ValueMap, refit: bool) -> None:
        self.data = data
        T = result.T
        pts, ends, active = data.points, data.ends, data.active
        self._active_rows = np.flatnonzero(active)
        notes = []
        ref_pts = np.zeros((0, 2))
        words: tuple[str, ...] = ()
        if self.referenceCheck.isChecked():
            words, ref_pts, note = self._reference_points(result, head, data.projection)
            if note:
                notes.append(note)
        self.reference_points, self.reference_words = ref_pts, words
        self.fit_range(np.concatenate([pts, ends[active], ref_pts]), refit)

        seg = map_layout.arrow_segments(pts[active], ends[active], self._head_len)
        self.arrows.setData(seg[:, 0], seg[:, 1])
        set_points(self.values, pts)
        set_points(self.outputs, ends[active])
        set_points(self.references, ref_pts)
        if query is not None:
            sel = map_layout.arrow_segments(
                pts[query : query + 1], ends[query : query + 1], self._head_len
            )
            self.selected_arrow.setData(sel[:, 0], sel[:, 1])
            rings = [pts[query], ends[query]] if active[query] else [pts[query]]
            set_points(self.selected, np.array(rings))
        else:
            self.selected_arrow.setData(np.zeros(0), np.zeros(0))
            set_points(self.selected, np.zeros((0, 2)))

        pct = 100.0 * data.explained
        text = (
            f"Value space of head {head}: v<sub>i</sub> → y<sub>i</sub> "
            "(y<sub>i</sub> = Σ<sub>j</sub> a<sub>ij</sub> v<sub>j</sub>), PCA of the v's and y's, "
            f"{pct:.0f}% of variance shown."
        )
        if not refit:
            text += " Plane held while the slider is down."
        masked = T - int(active.sum())
        if masked:
            text += f" {masked} fully masked row{'s' if masked > 1 else ''}: no arrow."
        # the labels' placement adds how many tokens carry a label
        self._caption_base = " ".join([text, *(html.escape(n) for n in notes)])
        self._draw_labels(result, head, query, data, words, ref_pts)

    def _draw_labels(self, result, head, query, data, words, ref_pts) -> None:
        """Token labels, the query's y label and reference words. Labels whose points
        coincide (both banks before attention, a reference word that is in the text) are
        printed once; where labels would overlap, the query and the keys it weighs most
        keep theirs."""
        T = result.T
        row = result.weights[head][query] if query is not None else None
        idx = map_layout.label_subset(T, query, row)
        names = self.names
        texts = [names[i] for i in idx]
        points = [data.points[idx]]
        tokens = list(idx)
        kinds = ["query" if i == query else "token" for i in idx]
        prio = [
            3.0 if i == query else 1.0 + (float(row[i]) if row is not None else 0.0) for i in idx
        ]
        if query is not None and data.active[query]:
            texts.append(f"y({names[query]})")
            points.append(data.ends[query : query + 1])
            tokens.append(-1)
            kinds.append("query")
            prio.append(2.5)
        texts += list(words)
        points.append(ref_pts)
        tokens += [-1] * len(words)
        kinds += ["reference"] * len(words)
        prio += [0.5] * len(words)
        points = np.concatenate(points)
        out_texts, out_pos, colors, members, priority = [], [], [], [], []
        for group in map_layout.group_labels(points, self._head_len / 3):
            out_texts.append(", ".join(dict.fromkeys(texts[i] for i in group)))
            out_pos.append(points[group[0]])
            group_kinds = {kinds[i] for i in group}
            colors.append(
                ACCENT if "query" in group_kinds else None if "token" in group_kinds else GREY
            )
            members.append([tokens[i] for i in group if tokens[i] >= 0])
            priority.append(max(prio[i] for i in group))
        pos = np.array(out_pos).reshape(-1, 2)
        self.set_labels(out_texts, pos, colors, members, priority)

    # ------------------------------------------------------------ references
    def _reference_points(self, result, head: int, projection: maps.Projection):
        """(words, plane points, note) of the reference words for this result's head."""
        none = ((), np.zeros((0, 2)))
        session = self._session()
        if session is None:
            return (*none, "Reference words need an open session.")
        try:
            w_v = np.asarray(session.heads[head].w_v, dtype=np.float64)
            x = np.asarray(result.x, dtype=np.float64)
            v = np.asarray(result.v[head], dtype=np.float64)
            fits = w_v.shape == (x.shape[1], v.shape[1]) and np.allclose(
                x @ w_v, v, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(v).max()))
            )
            if fits:
                key = maps.reference_key(session, result.tokens)
                if self._ref_cache is None or self._ref_cache[0] != key:
                    self._ref_cache = (key, maps.reference_inputs(session, result.tokens))
                ref = self._ref_cache[1]
                self._ref_values = (head, ref.words, maps.reference_values(ref, w_v))
                note = ref.notice
            elif self._ref_values is None or self._ref_values[0] != head:
                return (*none, "")  # the next result brings this session's W_V
            else:
                note = ""
        except (ValueError, OSError) as exc:  # a source that cannot embed: say so in one line
            # (EncoderError and ModelUnavailable are ValueErrors; anything else is a bug and
            # goes to the unexpected-error dialog)
            self._ref_cache = self._ref_values = None
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return (*none, f"Reference words unavailable: {first}")
        _, words, values = self._ref_values
        if values.shape[1] != projection.d:
            return (*none, "")
        return words, projection.project(values), note

    def _on_references_toggled(self, on: bool) -> None:
        self.references.setVisible(on)
        self._set_legend(on)
        if self.result is not None:
            self.show_result(self.result, self.head, self.query)

    def _set_legend(self, references: bool) -> None:
        entries = [
            ("●", BLUE, "v<sub>i</sub> value vector"),
            ("○", ORANGE, "y<sub>i</sub> after attention"),
            ("→", GREY, "where attention moves each word"),
        ]
        if references:
            entries.append(("◆", GREY, "reference word (same W_V, not in the PCA fit)"))
        self.legend.setText(legend_html(entries))

    # ------------------------------------------------------------------ clicks
    def _on_points_clicked(self, _item, points, _ev) -> None:
        if len(points):
            self.querySelected.emit(int(points[0].index()))

    def _on_outputs_clicked(self, _item, points, _ev) -> None:
        if len(points) and len(self._active_rows):
            self.querySelected.emit(int(self._active_rows[points[0].index()]))
