"""Composite views: the head grid, the pipeline strip and the similarity pair.

They draw Results and never compute attention themselves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from explorer.ui.heatmap import HeatmapView, colormap

THUMB_CELLS = 160  # a thumbnail never needs more cells than it has pixels


class ThumbnailGrid(pg.GraphicsLayoutWidget):
    """Small multiples of square matrices; click one to select it.

    Used for the heads of the workbench (``headGrid``) and the layer × head grid of a
    pretrained model (``modelGrid``).
    """

    thumbnailClicked = QtCore.Signal(int)

    def __init__(self, parent=None, *, cmap: str = "viridis"):
        super().__init__(parent)
        self.setMinimumSize(120, 100)
        self._cmap = cmap
        self._boxes: list[pg.ViewBox] = []
        self._images: list[pg.ImageItem] = []
        self._labels: list[pg.LabelItem] = []
        self._selected = -1
        self._shape: tuple[int, int] = (0, 0)
        self.scene().sigMouseClicked.connect(self._on_click)

    def set_matrices(
        self,
        mats: np.ndarray,
        titles: Sequence[str],
        columns: int | None = None,
    ) -> None:
        """Show ``mats`` (n, T, S) as ``n`` thumbnails in a grid of ``columns``."""
        n = mats.shape[0]
        cols = columns or max(1, math.ceil(math.sqrt(n)))
        if (n, cols) != self._shape:
            self._rebuild(n, cols)
        for img, box, m in zip(self._images, self._boxes, mats, strict=False):
            m = thumbnail(np.where(np.isfinite(m), m, 0.0).astype(np.float32), THUMB_CELLS)
            img.setImage(m, autoLevels=False, levels=(0.0, 1.0))
            img.setRect(QtCore.QRectF(0, 0, max(m.shape[1], 1), max(m.shape[0], 1)))
            box.setRange(xRange=(0, max(m.shape[1], 1)), yRange=(0, max(m.shape[0], 1)), padding=0)
        for lab, t in zip(self._labels, titles, strict=False):
            lab.setText(t, size="8pt")
        self._paint_selection()

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
        for i in range(n):
            r, c = divmod(i, cols)
            lab = self.addLabel("", row=2 * r, col=c, size="8pt")
            self.ci.layout.setRowMaximumHeight(2 * r, 16)
            self._add_thumbnail(2 * r + 1, c)
            self._labels.append(lab)
        self._shape = (n, cols)

    def _add_thumbnail(self, row: int, col: int) -> None:
        """One view box with its image at (row, col) of the layout."""
        box = self.addViewBox(row=row, col=col, lockAspect=True, enableMouse=False)
        box.invertY(True)
        box.setMenuEnabled(False)
        img = pg.ImageItem(axisOrder="row-major")
        img.setColorMap(colormap(self._cmap))
        box.addItem(img)
        self._boxes.append(box)
        self._images.append(img)

    def _paint_selection(self) -> None:
        for i, box in enumerate(self._boxes):
            box.setBorder(pg.mkPen((255, 80, 80), width=3) if i == self._selected else None)

    def _on_click(self, event) -> None:
        for i, box in enumerate(self._boxes):
            if box.sceneBoundingRect().contains(event.scenePos()):
                self.thumbnailClicked.emit(i)
                return


class PipelineView(QtWidgets.QWidget):
    """The steps of the selected head, side by side, each labelled with its formula."""

    STEPS = (
        ("scores", "S = Q Kᵀ"),
        ("scaled", "S · s,  s = 1/(√d·τ)"),
        ("masked", "mask: −∞ where cut"),
        ("weights", "A = softmax(row)"),
        ("y", "Y = A V"),
    )

    cellHovered = QtCore.Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("pipelineView")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
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
            view.cellHovered.connect(self.cellHovered)
            self.panels[key] = view
            layout.addWidget(view, 1)

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
        layout = self.layout()
        for i in range(len(self.panels)):
            layout.setStretch(i, share + (extra if i == 0 else 0))

    def show_head(self, result, head: int, tokens: Sequence[str]) -> None:
        """Draw the steps of ``head`` of ``result``."""
        scores = result.scores[head]
        scaled = result.scaled[head]
        masked = result.masked[head]
        lim = _sym_limit(scaled)
        slim = _sym_limit(scores)
        self.panels["scores"].set_matrix(scores, tokens, levels=(-slim, slim))
        self.panels["scaled"].set_matrix(scaled, tokens, levels=(-lim, lim))
        self.panels["masked"].set_matrix(masked, tokens, levels=(-lim, lim))
        self.panels["weights"].set_matrix(result.weights[head], tokens, levels=(0.0, 1.0))
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
        for view in self.panels.values():
            view.set_matrix(np.zeros((0, 0)), [])


class SimilarityView(QtWidgets.QWidget):
    """Cosine similarity of the static embeddings beside that of the contextual vectors."""

    cellHovered = QtCore.Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("similarityView")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.static = HeatmapView(title="static: cos(xᵢ, xⱼ)", levels=(-1, 1), cmap="CET-D1A")
        self.static.setObjectName("staticSimilarity")
        self.contextual = HeatmapView(
            title="contextual: cos(yᵢ, yⱼ)", levels=(-1, 1), cmap="CET-D1A"
        )
        self.contextual.setObjectName("contextualSimilarity")
        for view in (self.static, self.contextual):
            view.cellHovered.connect(self.cellHovered)
            layout.addWidget(view, 1)
        self.static.set_readout(lambda i, j: self._readout(self.static, i, j))
        self.contextual.set_readout(lambda i, j: self._readout(self.contextual, i, j))
        self._tokens: list[str] = []

    def _readout(self, view: HeatmapView, i: int, j: int) -> str:
        return f"cos({self._tokens[i]}, {self._tokens[j]}) = {float(view.data[i, j]):+.3f}"

    def set_colormap(self, name: str) -> None:
        self.static.set_colormap(name)
        self.contextual.set_colormap(name)

    def show_result(self, result, tokens: Sequence[str]) -> None:
        self._tokens = list(tokens)
        self.static.set_matrix(result.static_similarity, tokens, levels=(-1.0, 1.0))
        self.contextual.set_matrix(result.contextual_similarity, tokens, levels=(-1.0, 1.0))

    def highlight(self, row: int, col: int) -> None:
        self.static.highlight(row, col)
        self.contextual.highlight(row, col)

    def clear(self) -> None:
        """Show nothing (empty text, or no Result for the current Session)."""
        self._tokens = []
        for view in (self.static, self.contextual):
            view.set_matrix(np.zeros((0, 0)), [])


_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def _sym_limit(a: np.ndarray) -> float:
    """A symmetric colour limit for signed data that ignores non-finite cells.

    Rounded up to 1-1.2-1.5-2-2.5-3-4-5-6-8 × 10^k, so that during a drag the colour bar
    (whose axis costs about 1 ms to lay out again) only changes when the range crosses a step.
    """
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
