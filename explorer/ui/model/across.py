"""The Model tab's views across heads: rollout or mean over heads one layer at a time, and
two texts compared head by head. They only draw what they are given."""

from __future__ import annotations

import html

import numpy as np
from PySide6 import QtCore, QtWidgets

from explorer.core.model_analysis import AGGREGATES
from explorer.ui.heatmap import HeatmapView
from explorer.ui.model.grid import LayerHeadGrid
from explorer.ui.model.panels import _elide


class AggregatePanel(QtWidgets.QWidget):
    """Attention summarised over heads: rollout or the mean over heads, one layer at a time.

    Signals
    -------
    changed()
        The kind or the layer changed (the view redraws).
    """

    changed = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modelAggregatePanel")
        self.kind = QtWidgets.QComboBox(objectName="aggregateCombo")
        self.kind.addItems(AGGREGATES)
        self.kind.setToolTip(
            "rollout (Abnar & Zuidema 2020): how much each input token flows into each "
            "position up to this layer, mixing every layer's mean attention with the "
            "residual stream (half each). mean over heads: this layer's heads averaged"
        )
        self.layer = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.layer.setObjectName("aggregateLayerSlider")
        self.layer.setToolTip("Which layer: rollout up to it, or its mean over heads")
        self.layer.setRange(0, 0)
        self.layerLabel = QtWidgets.QLabel("layer 0", objectName="aggregateLayerLabel")
        self.layerLabel.setMinimumWidth(60)
        self.heatmap = HeatmapView(title="rollout")
        self.heatmap.setObjectName("aggregateHeatmap")
        self.heatmap.setToolTip("Attention summarised over heads; rows sum to 1")
        self.heatmap.set_show_values(False)
        self.heatmap.enable_filter_menu()  # rows sum to 1 like attention: top-k makes sense
        top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(self.kind)
        top.addWidget(self.layer, 1)
        top.addWidget(self.layerLabel)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.heatmap, 1)
        self.kind.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.layer.valueChanged.connect(self._on_layer)

    def _on_layer(self, value: int) -> None:
        self.layerLabel.setText(f"layer {value}")
        self.changed.emit()

    def set_layers(self, n_layer: int) -> None:
        self.layer.blockSignals(True)
        self.layer.setRange(0, max(0, n_layer - 1))
        self.layer.blockSignals(False)
        self.layerLabel.setText(f"layer {self.layer.value()}")

    def show_data(self, data, labels, title: str) -> None:
        self.heatmap.set_title(title)
        self.heatmap.set_matrix(data, labels, levels=(0.0, 1.0))


class ComparePanel(QtWidgets.QWidget):
    """Every head on the two texts of the word panel, A minus B on the tokens they share."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modelComparePanel")
        self.caption = QtWidgets.QLabel(objectName="compareCaption")
        self.caption.setWordWrap(True)
        self.caption.setToolTip(
            "The two texts of “One word in two contexts” (below); each head's attention on "
            "text A minus text B, between the tokens both texts have, in order"
        )
        self.grid = LayerHeadGrid()
        self.grid.setObjectName("compareGrid")
        self.grid.setToolTip(
            "Per head: attention on text A minus text B between the shared tokens (red: more "
            "weight in A, blue: more in B). Rows are queries, columns keys"
        )
        self.entropy = QtWidgets.QLabel(objectName="compareEntropy")
        self.entropy.setWordWrap(True)
        self.entropy.setToolTip(
            "Per layer, the mean over heads of the rows' entropy (a fraction of uniform) on A "
            "minus that on B: a summary that needs no shared tokens"
        )
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.entropy)

    def show_comparison(self, comparison, texts, error: str = "") -> None:
        """Draw a :class:`~explorer.core.model_compare.TextComparison` (None: ``error``)."""
        if comparison is None:
            self.caption.setText(error or "Type two texts below to compare them.")
            self.entropy.setText("")
            return
        d = comparison.difference
        L, nh = d.shape[:2]
        top = float(np.abs(d).max(initial=0.0))
        lim = next((v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0) if top <= v), 1.0)
        titles = [f"L{layer} H{h}" for layer in range(L) for h in range(nh)]
        self.grid.set_matrices(d.reshape(L * nh, *d.shape[2:]), titles, nh, levels=(-lim, lim))
        shared = " ".join(comparison.labels)
        a, b = (html.escape(_elide(t, 48)) for t in texts)
        self.caption.setText(
            f"<b>A</b> {a} &nbsp; <b>B</b> {b}<br>A − B on the {len(comparison.labels)} shared "
            f"tokens ({html.escape(_elide(shared, 80))}), colours ±{lim:g}"
        )
        per_layer = " · ".join(f"{v:+.3f}" for v in comparison.entropy.mean(axis=1))
        self.entropy.setText(f"entropy A − B per layer: {per_layer}")
