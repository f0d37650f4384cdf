"""Composite views: the head grid, the pipeline strip and the similarity pair.

They draw Results and never compute attention themselves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from explorer.core.long_attention import is_lazy, weight_levels
from explorer.core.readability import (
    contrast_range,
    pair_readout,
    pinned_pair,
    value_space_similarity,
)
from explorer.ui.deferred import DeferredContents
from explorer.ui.heatmap import (
    ATTENTION_CAPTIONS,
    CellImage,
    HeatmapView,
    colormap,
    hidden_in_shown_window,
)

THUMB_CELLS = 160  # a thumbnail never needs more cells than it has pixels


class ThumbnailGrid(pg.GraphicsLayoutWidget):
    """Small multiples of square matrices; click one to select it.

    Used for the heads of the workbench (``headGrid``) and the layer × head grid of a
    pretrained model (``modelGrid``). With ``defer_when_hidden``, a grid hidden inside a
    shown window keeps only the latest matrices and draws them when it is shown.
    """

    thumbnailClicked = QtCore.Signal(int)

    def __init__(self, parent=None, *, cmap: str = "viridis", defer_when_hidden: bool = False):
        super().__init__(parent)
        self.setMinimumSize(120, 100)
        self._cmap = cmap
        self._boxes: list[pg.ViewBox] = []
        self._images: list[pg.ImageItem] = []
        self._labels: list[pg.LabelItem] = []
        self._titles: list[str] = []
        self._thumb_shapes: list[tuple[int, int]] = []
        self._selected = -1
        self._shape: tuple[int, int] = (0, 0)
        self._defer = defer_when_hidden
        self._pending: tuple | None = None  # (mats, titles, columns) waiting to be shown
        self.scene().sigMouseClicked.connect(self._on_click)

    def set_matrices(
        self,
        mats: np.ndarray,
        titles: Sequence[str],
        columns: int | None = None,
        *,
        changed: Sequence[int] | None = None,
    ) -> None:
        """Show ``mats`` (n, T, S) as ``n`` thumbnails in a grid of ``columns``.

        ``changed`` names the thumbnails whose matrix may differ from the one drawn (a slider
        tick edits one head); None redraws every one.
        """
        if self._defer and hidden_in_shown_window(self):
            self._pending = (mats, list(titles), columns)
            return
        self._pending = None
        n = mats.shape[0]
        cols = columns or max(1, math.ceil(math.sqrt(n)))
        if (n, cols) != self._shape:
            self._rebuild(n, cols)
            changed = None
        redraw = range(min(n, len(self._images))) if changed is None else changed
        for i in redraw:
            m = mats[i]
            levels = weight_levels(m)
            if is_lazy(m):  # a long text: thumbnails of its overview of block maxima
                m = m.overview()[0]
            m = thumbnail(np.where(np.isfinite(m), m, 0.0).astype(np.float32), THUMB_CELLS)
            img = self._images[i]
            img.setImage(m, autoLevels=False, levels=levels)
            shape = (max(m.shape[0], 1), max(m.shape[1], 1))
            if shape != self._thumb_shapes[i]:  # setRange lays the box out again
                self._thumb_shapes[i] = shape
                img.setRect(QtCore.QRectF(0, 0, shape[1], shape[0]))
                self._boxes[i].setRange(xRange=(0, shape[1]), yRange=(0, shape[0]), padding=0)
        for i, (lab, t) in enumerate(zip(self._labels, titles, strict=False)):
            if self._titles[i] != t:
                self._titles[i] = t
                lab.setText(t, size="8pt")
        self._paint_selection()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending is not None:
            self.set_matrices(*self._pending)

    def set_colormap(self, name: str) -> None:
        if name == self._cmap:
            return
        self._cmap = name
        for img in self._images:
            img.setColorMap(colormap(name))

    def select(self, index: int) -> None:
        self._selected = index
        self._paint_selection()

    def _rebuild(self, n: int, cols: int) -> None:
        self.clear()
        self._boxes, self._images, self._labels = [], [], []
        self._titles, self._thumb_shapes = [""] * n, [(0, 0)] * n
        for i in range(n):
            r, c = divmod(i, cols)
            lab = self.addLabel("", row=2 * r, col=c, size="8pt")
            self.ci.layout.setRowMaximumHeight(2 * r, 16)
            self._add_thumbnail(2 * r + 1, c)
            self._labels.append(lab)
        self._shape = (n, cols)

    def _add_thumbnail(self, row: int, col: int) -> None:
        """One view box with its image at (row, col) of the layout."""
        box = self.addViewBox(
            row=row, col=col, lockAspect=True, enableMouse=False, enableMenu=False
        )
        box.invertY(True)
        box.setMenuEnabled(False)
        img = CellImage(axisOrder="row-major")
        img.setColorMap(colormap(self._cmap))
        box.addItem(img)
        self._boxes.append(box)
        self._images.append(img)

    def _paint_selection(self) -> None:
        for i, box in enumerate(self._boxes):
            selected = i == self._selected
            if getattr(box, "shown_selected", None) != selected:  # a border repaints the box
                box.shown_selected = selected
                box.setBorder(pg.mkPen((255, 80, 80), width=3) if selected else None)

    def _on_click(self, event) -> None:
        for i, box in enumerate(self._boxes):
            if box.sceneBoundingRect().contains(event.scenePos()):
                self.thumbnailClicked.emit(i)
                return


class PipelineView(QtWidgets.QWidget):
    """The steps of the selected head, side by side, each labelled with its formula.

    Hidden inside a shown window (its pane collapsed, another tab in front), the strip keeps
    only the latest head to draw and draws it when it is shown.
    """

    STEPS = (
        ("scores", "S = Q Kᵀ"),
        ("scaled", "S · s,  s = 1/(√d·τ)"),
        ("masked", "mask: −∞ where cut"),
        ("weights", "A = softmax(row)"),
        ("y", "Y = A V"),
    )

    cellHovered = QtCore.Signal(int, int)  # query row and key column, or (-1, -1)
    hoverText = QtCore.Signal(str)  # the output panel's cell: its columns are not keys

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("pipelineView")
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self._row = layout = QtWidgets.QHBoxLayout()
        layout.setSpacing(2)
        outer.addLayout(layout, 1)
        self.panels: dict[str, HeatmapView] = {}
        for key, formula in self.STEPS:
            signed = key in ("scores", "scaled", "masked", "y")
            view = HeatmapView(
                title=formula,
                colorbar=True,
                cmap="CET-D1A" if signed else "viridis",
                compact=True,
            )
            view.setObjectName(f"pipelineStep_{key}")
            view.set_show_values(False)
            # the rows are the same tokens in every step: label them once, on the left
            view.set_row_labels_visible(key == self.STEPS[0][0])
            if key == self.STEPS[0][0]:  # its labels' width decides the others' share
                view.plot.getAxis("left").geometryChanged.connect(self._balance)
            if key == "y":
                view.cellHovered.connect(self._on_output_hovered)
            else:
                view.cellHovered.connect(self.cellHovered)
            self.panels[key] = view
            layout.addWidget(view, 1)
        # the five panels share rows and columns: say once what they are
        c = ATTENTION_CAPTIONS
        self.caption = QtWidgets.QLabel(
            f"{c.row}  ·  {c.col}  ·  in A = softmax(row) {c.note}", objectName="pipelineCaption"
        )
        self.caption.setToolTip("What the rows and columns of every step are")
        font = self.caption.font()
        font.setPointSizeF(max(font.pointSizeF() - 1.0, 6.0))
        font.setItalic(True)
        self.caption.setFont(font)
        self.caption.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.caption)
        self._pending: tuple | None = None  # (result, head, tokens) waiting to be shown
        self._shown: tuple | None = None  # (result, head, tokens) on screen

    def _on_output_hovered(self, i: int, j: int) -> None:
        view = self.panels["y"]
        if i < 0 or not 0 <= i < len(view._row_labels):
            self.cellHovered.emit(-1, -1)
            return
        value = float(view.data[i, j])
        self.hoverText.emit(f"output y of '{view._row_labels[i]}', dimension {j}: {value:+.3f}")

    def set_colormaps(self, weights: str, scores: str) -> None:
        for key, view in self.panels.items():
            view.set_colormap(weights if key == "weights" else scores)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._balance()

    def _balance(self) -> None:
        """Give the first panel the extra width of its row labels, so that all five
        matrices come out equally wide."""
        axis = self.panels[self.STEPS[0][0]].plot.getAxis("left")
        extra = int(axis.width()) if axis.isVisible() else 0
        share = max(1, (self.width() - extra) // len(self.panels))
        layout = self._row
        for i in range(len(self.panels)):
            layout.setStretch(i, share + (extra if i == 0 else 0))

    def show_head(self, result, head: int, tokens: Sequence[str], *, changed: bool = True) -> None:
        """Draw the steps of ``head`` of ``result``.

        ``changed=False`` says that this head's numbers are those of the Result drawn last
        (a slider moved another head, or only the selection changed): with the same head
        and tokens on screen, nothing is drawn.
        """
        tokens = list(tokens)
        if self._pending is None and self._shown is not None and not changed:
            _, shown_head, shown_tokens = self._shown
            if head == shown_head and tokens == shown_tokens:
                self._shown = (result, head, tokens)
                return
        if hidden_in_shown_window(self):
            self._pending = (result, head, tokens)
            return
        self._pending = None
        self._shown = (result, head, tokens)
        self._draw_head(result, head, tokens)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending is not None:
            self.show_head(*self._pending)

    def _draw_head(self, result, head: int, tokens: list[str]) -> None:
        scores = result.scores[head]
        scaled = result.scaled[head]
        masked = result.masked[head]
        lim = _sym_limit(scaled)
        slim = _sym_limit(scores)
        self.panels["scores"].set_matrix(scores, tokens, levels=(-slim, slim))
        self.panels["scaled"].set_matrix(scaled, tokens, levels=(-lim, lim))
        self.panels["masked"].set_matrix(masked, tokens, levels=(-lim, lim))
        weights = result.weights[head]
        self.panels["weights"].set_matrix(weights, tokens, levels=weight_levels(weights))
        y = result.y[head]
        ylim = _sym_limit(y)
        self.panels["y"].set_matrix(
            y, tokens, [f"y{j}" for j in range(y.shape[1])], levels=(-ylim, ylim)
        )

    def highlight(self, row: int, col: int) -> None:
        for key, view in self.panels.items():
            view.highlight(row, -1 if key == "y" else col)

    def clear(self) -> None:
        """Show nothing (empty text, or no Result for the current Session)."""
        self._pending = self._shown = None
        for view in self.panels.values():
            view.set_matrix(np.zeros((0, 0)), [])


class SimilarityView(DeferredContents, QtWidgets.QWidget):
    """Static beside contextual cosine similarity, in one space, with a pinned pair.

    By default both matrices are in the value space of the selected head: ``cos(vᵢ, vⱼ)``
    of the value vectors before attention and ``cos(yᵢ, yⱼ)`` of the outputs after it
    (:func:`~explorer.core.readability.value_space_similarity`). The other choice compares
    the static embeddings with the outputs of all heads. "Auto contrast" (on by default)
    spreads each matrix's own range over the colour map, so that 0.94 and 1.00 differ at a
    glance; off, both use −1…1 on the diverging score map. A readout names one pair without
    hovering: the most interesting repeated word, or the pair clicked last.

    With ``deferred`` (the window's tab, hidden at start), the matrices and controls are
    made when first needed (see :mod:`explorer.ui.deferred`); a Result given before waits.

    Signals
    -------
    cellHovered(int, int)
        Row and column under the mouse, or (-1, -1).
    hoverText(str)
        What the status line should say about the cell under the mouse; ``""`` on leaving.
    """

    cellHovered = QtCore.Signal(int, int)
    hoverText = QtCore.Signal(str)

    SPACES = (
        ("value", "value space of the selected head"),
        ("embedding", "embeddings vs outputs of all heads"),
    )
    AUTO_CMAP = "inferno"  # sequential: a data range on a diverging map would move its centre

    def __init__(self, parent=None, *, controls: bool = True, deferred: bool = False):
        super().__init__(parent)
        self.setObjectName("similarityView")
        self._controls = controls
        self._space = "value"
        self._auto = True
        self._score_cmap = "CET-D1A"
        self._result = None
        self._tokens: list[str] = []
        self._texts: list[str] = []
        self._head = 0
        self._selected_query: int | None = None
        self._dirty = False
        self._matrices: tuple[np.ndarray, np.ndarray] | None = None
        self._pinned: tuple[int, int] | None = None  # clicked by the user
        self._default_key: tuple | None = None
        self._default_pair: tuple[int, int] | None = None
        self._pair: tuple[int, int] | None = None
        self._computed: tuple | None = None  # ((result, head, space), (static, contextual))
        self._overview_jobs = None  # a JobWorker, for long texts only
        if deferred:
            self.defer_contents(self._build)
        else:
            self._build()

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 2)
        self.readout = QtWidgets.QLabel(objectName="similarityReadout")
        self.readout.setToolTip(
            "Cosine similarity of one pair of tokens before and after attention. "
            "Click a cell of either matrix to pin another pair"
        )
        font = self.readout.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.readout.setFont(font)
        self.readout.setWordWrap(True)
        layout.addWidget(self.readout)

        pair = QtWidgets.QHBoxLayout()
        self.static = HeatmapView(title="", levels=(-1, 1), cmap="CET-D1A")
        self.static.setObjectName("staticSimilarity")
        self.contextual = HeatmapView(title="", levels=(-1, 1), cmap="CET-D1A")
        self.contextual.setObjectName("contextualSimilarity")
        for view in (self.static, self.contextual):
            view.setToolTip("")
            view.set_readout(self.hover_text)
            view.cellHovered.connect(self._on_hovered)
            view.cellClicked.connect(self.pin)
            pair.addWidget(view, 1)
        layout.addLayout(pair, 1)

        self.spaceBox = self.autoContrast = None
        if self._controls:  # a headless figure has nothing to switch (and stays vector in SVG)
            row = QtWidgets.QHBoxLayout()
            self.spaceBox = QtWidgets.QComboBox(objectName="similaritySpace")
            for key, text in self.SPACES:
                self.spaceBox.addItem(text, key)
            self.spaceBox.setToolTip(
                "Which vectors are compared. Value space: v before and y = Σ a·v after "
                "attention, one space. Embeddings vs outputs: x before, all heads' y after"
            )
            self.spaceBox.currentIndexChanged.connect(self._on_space_changed)
            self.autoContrast = QtWidgets.QCheckBox(
                "Auto contrast", objectName="similarityAutoContrast"
            )
            self.autoContrast.setChecked(True)
            self.autoContrast.setToolTip(
                "Spread each matrix's own range of values over the colours (off: −1 to 1)"
            )
            self.autoContrast.toggled.connect(self._on_auto_contrast_changed)
            row.addWidget(self.spaceBox)
            row.addWidget(self.autoContrast)
            row.addStretch(1)
            layout.addLayout(row)
        self.caption = QtWidgets.QLabel(objectName="similarityCaption")
        self.caption.setWordWrap(True)
        self.caption.setToolTip("What the two matrices compare and the colour range in use")
        layout.addWidget(self.caption)

    # ------------------------------------------------------------ options
    def set_colormap(self, name: str) -> None:
        """The diverging map used without auto contrast (the session's score map)."""
        if name == self._score_cmap:
            return
        self._score_cmap = name
        if not self._auto and self.contents_built:  # else drawn with it once built
            self.static.set_colormap(name)
            self.contextual.set_colormap(name)

    def set_space(self, space: str) -> None:
        """Compare in ``"value"`` space (default) or ``"embedding"`` vs outputs."""
        if space not in dict(self.SPACES):
            raise ValueError(f"unknown similarity space {space!r}")
        if self.spaceBox is not None:
            self.spaceBox.setCurrentIndex([k for k, _ in self.SPACES].index(space))
        self._on_space_changed()
        if self.spaceBox is None:
            self._space = space
            self._changed()

    def set_auto_contrast(self, on: bool) -> None:
        if self.autoContrast is not None:
            self.autoContrast.setChecked(on)
        else:
            self._on_auto_contrast_changed(on)

    def _on_space_changed(self, *_args) -> None:
        if self.spaceBox is None:
            return
        self._space = self.spaceBox.currentData()
        self._changed()

    def _on_auto_contrast_changed(self, on: bool) -> None:
        self._auto = bool(on)
        self._changed()

    def _changed(self) -> None:
        self._default_key = None
        if self._result is not None:
            self._redraw()

    # --------------------------------------------------------------- data
    def show_result(
        self, result, tokens: Sequence[str], head: int = 0, selected_query: int | None = None
    ) -> None:
        """Draw ``result`` with display labels ``tokens``; ``head`` picks the value space.

        While the view is hidden (another tab is in front) the drawing waits for it to show.
        """
        texts = list(result.labels)
        if texts != self._texts:
            self._pinned = None  # another text: the pair clicked before means nothing now
        self._result = result
        self._tokens = list(tokens)
        self._texts = texts
        self._head = min(max(int(head), 0), max(result.v.shape[0] - 1, 0))
        self._selected_query = selected_query
        if self.isVisible():
            self._redraw()
        else:
            self._dirty = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty and self._result is not None:
            self._redraw()

    def matrices(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The (static, contextual) matrices shown, or None."""
        return self._matrices

    def pair(self) -> tuple[int, int] | None:
        """The pair the readout names."""
        return self._pair

    def _compute(self) -> tuple[np.ndarray, np.ndarray]:
        r = self._result
        key = (self._head, self._space)
        cached = self._computed  # ((result, head, space), pair)
        if cached is not None and cached[0][0] is r and cached[0][1:] == key:
            return cached[1]
        if self._space == "value":
            pair = value_space_similarity(r.v[self._head], r.y[self._head])
        else:
            pair = (r.static_similarity, r.contextual_similarity)
        self._computed = ((r, *key), pair)
        return pair

    def _overviews_pending(self, pair) -> bool:
        """For a long text, start computing the matrices' overviews in a background thread
        (0.4–1.5 s each at 8,192 tokens, by the vectors' width) and say so; True until they
        are ready. A figure for export (no controls) computes them at once."""
        lazy = [m for m in pair if is_lazy(m) and not m.overview_ready]
        if not lazy or self.spaceBox is None:
            return False
        if self._overview_jobs is None:
            from explorer.ui.worker import JobWorker

            self._overview_jobs = JobWorker(self, name="SimilarityOverview")
            self._overview_jobs.done.connect(self._on_overviews_done)
            self._overview_jobs.failed.connect(self._on_overviews_failed)
        self._overview_jobs.submit(lambda: [m.overview() for m in lazy])
        self.caption.setText(f"Computing the similarity of {lazy[0].shape[0]:,} tokens…")
        return True

    def _on_overviews_done(self, *_args) -> None:
        if self._result is not None and self._matrices is None:
            self._redraw()

    def _on_overviews_failed(self, _generation: int, exc) -> None:
        self.caption.setText(f"The similarity could not be computed: {exc}")

    def _redraw(self) -> None:
        self._dirty = False
        static, contextual = self._compute()
        if self._overviews_pending((static, contextual)):
            self._matrices = None
            return
        self._matrices = (static, contextual)
        h = self._head
        if self._space == "value":
            titles = ("static: cos(vᵢ, vⱼ), before attention", "contextual: cos(yᵢ, yⱼ), after")
        else:
            titles = ("static: cos(xᵢ, xⱼ)", "contextual: cos(yᵢ, yⱼ)")
        ranges = []
        for view, m, title in zip(
            (self.static, self.contextual), self._matrices, titles, strict=True
        ):
            lo, hi = contrast_range(m) if self._auto else (-1.0, 1.0)
            ranges.append((lo, hi))
            view.set_title(title)
            view.set_colormap(self.AUTO_CMAP if self._auto else self._score_cmap)
            view.set_matrix(m, self._tokens, levels=(lo, hi))
            view.set_colorbar_ticks((lo, hi) if self._auto else (-1.0, 0.0, 1.0))
        self._update_pair()
        if self._space == "value":
            space = (
                f"Both in the value space of head {h}: static = the value vectors vᵢ = xᵢW_V, "
                "contextual = the outputs yᵢ = Σⱼ aᵢⱼvⱼ."
            )
        else:
            space = (
                "Static = the token embeddings xᵢ; contextual = the outputs yᵢ of all heads, "
                "side by side (two different spaces)."
            )
        if self._auto:
            (a, b), (c, d) = ranges
            colours = (
                f"Colours span {a:.2f} to {b:.2f} (static) and {c:.2f} to {d:.2f} (contextual)."
            )
        else:
            colours = "Colours span −1 to 1 in both."
        click = " Click a cell to pin its pair." if self.spaceBox is not None else ""
        self.caption.setText(f"{space} {colours}{click}")

    def _update_pair(self) -> None:
        static, contextual = self._matrices
        T = len(self._tokens)
        key = (tuple(self._texts), self._selected_query, self._space, self._head)
        if key != self._default_key:  # stays put while sliders move the numbers
            self._default_key = key
            self._default_pair = pinned_pair(self._texts, static, contextual, self._selected_query)
        pair = self._pinned if self._pinned is not None else self._default_pair
        if pair is not None and not (0 <= pair[0] < T and 0 <= pair[1] < T):
            pair = None
        self._pair = pair
        if pair is None:
            self.readout.setText("One token: there is no pair to compare." if T else "")
            for view in (self.static, self.contextual):
                view.mark_cell()
            return
        self.readout.setText(pair_readout(self._tokens, pair, static, contextual))
        for view in (self.static, self.contextual):
            view.mark_cell(*pair)

    def pin(self, i: int, j: int) -> None:
        """Report the pair (i, j) from now on; pinning it again goes back to the default."""
        if self._result is None:
            return
        self._pinned = None if self._pinned == (i, j) else (int(i), int(j))
        if self._matrices is not None:
            self._update_pair()

    # -------------------------------------------------------------- hover
    def hover_text(self, i: int, j: int) -> str:
        """One line about the cell (i, j): the pair and both cosines."""
        if self._matrices is None or not (
            0 <= i < len(self._tokens) and 0 <= j < len(self._tokens)
        ):
            return ""
        static, contextual = self._matrices
        where = f"value space of head {self._head}" if self._space == "value" else "x vs y"
        return (
            f"cosine similarity cos({self._tokens[i]}, {self._tokens[j]}): "
            f"static {float(static[i, j]):+.3f} → contextual {float(contextual[i, j]):+.3f} "
            f"({where})"
        )

    def _on_hovered(self, i: int, j: int) -> None:
        self.cellHovered.emit(i, j)
        self.hoverText.emit(self.hover_text(i, j) if i >= 0 else "")

    def highlight(self, row: int, col: int) -> None:
        if not self.contents_built:
            return  # a hover highlight is not worth building a hidden tab for
        self.static.highlight(row, col)
        self.contextual.highlight(row, col)

    def clear(self) -> None:
        """Show nothing (empty text, or no Result for the current Session)."""
        self._result = None
        self._matrices = None
        self._tokens, self._texts = [], []
        self._pinned = self._pair = None
        self._dirty = False
        if not self.contents_built:
            return
        self.readout.setText("")
        self.caption.setText("")
        for view in (self.static, self.contextual):
            view.mark_cell()
            view.set_matrix(np.zeros((0, 0)), [])


_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def _sym_limit(a: np.ndarray) -> float:
    """A symmetric colour limit for signed data that ignores non-finite cells.

    Rounded up to 1-1.2-1.5-2-2.5-3-4-5-6-8 × 10^k, so that during a drag the colour bar
    (whose axis costs about 1 ms to lay out again) only changes when the range crosses a step.
    """
    if is_lazy(a):  # a long text: its overview holds every block's extreme
        a = a.overview()[0]
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if math.isfinite(lo) and math.isfinite(hi):  # two passes, no copies (the usual case)
        limit = max(-lo, hi, 1e-6)
    else:  # masked cells (−∞) or worse: only the finite ones count
        finite = np.abs(a[np.isfinite(a)])
        limit = float(max(finite.max(initial=0.0), 1e-6))
    step = 10.0 ** math.floor(math.log10(limit))
    return next(m * step for m in _NICE if m * step >= limit * (1 - 1e-9))


def thumbnail(m: np.ndarray, size: int) -> np.ndarray:
    """Shrink a (T, S) matrix to at most about ``size`` cells a side by block maxima.

    A maximum, not a sample: a single strong key must not vanish from a small picture.
    """
    f = max(1, -(-max(m.shape) // size))
    if f == 1:
        return m
    rows, cols = -(-m.shape[0] // f) * f, -(-m.shape[1] // f) * f
    padded = np.zeros((rows, cols), dtype=m.dtype)
    padded[: m.shape[0], : m.shape[1]] = m
    # element-wise maxima of strided views: ~20x faster than a 4-D reshape reduction
    r = padded[0::f]
    for i in range(1, f):
        r = np.maximum(r, padded[i::f])
    out = r[:, 0::f]
    for j in range(1, f):
        out = np.maximum(out, r[:, j::f])
    return out
