"""HeatmapView labels: legible at small-multiple sizes."""

import itertools

import numpy as np
import pytest
from PySide6 import QtGui

from explorer.ui.heatmap import HeatmapView
from explorer.ui.views import PipelineView

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
    assert positions and positions[0][0] == 0
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
