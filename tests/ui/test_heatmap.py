"""HeatmapView labels: legible at small-multiple sizes."""

import itertools

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.ui.heatmap import HeatmapView
from explorer.ui.views.composite import PipelineView

TOKENS = "the dog chased the cat off the table .".split()


@pytest.mark.parametrize("size", [(190, 210), (150, 160), (400, 300)])
def test_edge_column_labels_stay_inside_the_axis(qtbot, size):
    view = HeatmapView(title="S", compact=True)
    qtbot.addWidget(view)
    view.set_matrix(np.random.default_rng(0).normal(size=(9, 9)), TOKENS, levels=(-2, 2))
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    axis = view.top_axis
    positions = axis.label_positions()
    assert positions and positions[0][0] < 3  # starts at the first column that fits
    steps = {b - a for (a, _), (b, _) in itertools.pairwise(positions)}
    assert len(steps) <= 1  # evenly spaced: no label dropped in between
    half = QtGui.QFontMetrics(axis.font()).height() / 2
    rect = axis.boundingRect()
    for _, x in positions:  # the whole rotated glyph box, not just its centre
        assert rect.left() <= x - half and x + half <= rect.right()
    # thinned so that labels never overlap
    xs = [x for _, x in positions]
    assert all(b - a >= 2 * half - 1e-6 for a, b in itertools.pairwise(xs))


def test_pipeline_labels_rows_once(qtbot):
    strip = PipelineView()
    qtbot.addWidget(strip)
    strip.show()
    qtbot.waitExposed(strip)
    shown = [key for key, view in strip.panels.items() if view.plot.getAxis("left").isVisible()]
    assert shown == ["scores"]


def test_pipeline_matrices_are_equally_wide(qtbot):
    from explorer.core.pipeline import compute
    from explorer.core.session import Session

    strip = PipelineView()
    qtbot.addWidget(strip)
    strip.resize(980, 220)
    strip.show()
    qtbot.waitExposed(strip)
    result = compute(Session())
    strip.show_head(result, 0, result.labels)
    for _ in range(3):
        QtWidgets.QApplication.processEvents()
    widths = [view.plot.getViewBox().width() for view in strip.panels.values()]
    assert max(widths[:4]) - min(widths[:4]) <= 3, widths  # y has its own colour-bar labels
    assert abs(widths[4] - widths[0]) <= 12, widths


def test_masked_cells_are_left_empty_and_show_the_hatch(qtbot):
    view = HeatmapView(title="masked", compact=True, cmap="CET-D1A")
    qtbot.addWidget(view)
    data = np.random.default_rng(1).normal(size=(6, 6))
    data[np.triu_indices(6, 1)] = -np.inf  # a causal mask
    view.set_matrix(data, list("abcdef"), levels=(-3, 3))
    shown = view.image_data()
    assert np.isnan(shown[np.triu_indices(6, 1)]).all()  # not the colour map's low end
    np.testing.assert_array_equal(
        shown[np.tril_indices(6)], data[np.tril_indices(6)].astype(np.float32)
    )
    background = view.plot.getViewBox().background
    assert background.isVisible()
    assert background.brush().style() == QtCore.Qt.BrushStyle.BDiagPattern
    view.set_matrix(np.zeros((0, 0)), [])
    assert not background.isVisible()  # an empty view shows no hatch


def test_labels_never_overlap_when_cells_are_under_a_pixel(qtbot):
    view = HeatmapView(title="S", compact=True)
    qtbot.addWidget(view)
    n = 313
    view.set_matrix(np.random.default_rng(2).normal(size=(n, n)), [f"w{i}" for i in range(n)])
    view.resize(190, 210)
    view.show()
    qtbot.waitExposed(view)
    axis = view.top_axis
    xs = [x for _, x in axis.label_positions()]
    height = QtGui.QFontMetrics(axis.font()).height()
    assert len(xs) >= 3
    assert all(b - a >= height - 1e-6 for a, b in itertools.pairwise(xs)), xs[:6]
