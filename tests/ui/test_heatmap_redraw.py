"""What a heatmap redraws, and when: unchanged matrices, hidden views, the pixels it draws."""

import numpy as np
import pyqtgraph as pg
import pytest
from call_counting import count_calls
from PySide6 import QtGui, QtWidgets

from explorer.ui.heatmap import CellImage, HeatmapView, colormap


def test_an_equal_matrix_changes_nothing(qtbot):
    view = HeatmapView(title="A")
    qtbot.addWidget(view)
    data = np.random.default_rng(0).random((5, 5))
    view.set_matrix(data, list("abcde"), levels=(0, 1))
    uploads = count_calls(view.image, "setImage")
    view.set_matrix(data.copy(), list("abcde"), levels=(0, 1))  # equal, not the same object
    assert uploads == []
    data2 = data.copy()
    data2[2, 3] = 0.5
    view.set_matrix(data2, list("abcde"), levels=(0, 1))
    assert len(uploads) == 1
    np.testing.assert_array_equal(view.image_data(), data2.astype(np.float32))


def test_new_levels_alone_recolour_the_numbers(qtbot):
    view = HeatmapView(title="A")
    qtbot.addWidget(view)
    view.resize(500, 500)
    view.show()
    qtbot.waitExposed(view)
    data = np.full((3, 3), 0.9)
    view.set_matrix(data, list("abc"), levels=(0, 1))
    dark_before = list(view._values._dark)
    view.set_matrix(data, list("abc"), levels=(0, 100))  # 0.9 is now near the dark end
    assert view.image.levels[1] == 100
    assert view.value_texts() == [".90"] * 9
    assert view._values._dark != dark_before


def test_a_hidden_view_draws_the_latest_matrix_when_shown(qtbot):
    tabs = QtWidgets.QTabWidget()
    qtbot.addWidget(tabs)
    tabs.addTab(QtWidgets.QLabel("in front"), "front")
    view = HeatmapView(title="A")
    tabs.addTab(view, "behind")
    tabs.resize(500, 500)
    tabs.show()
    qtbot.waitExposed(tabs)
    tabs.setCurrentIndex(1)
    first = np.eye(4)
    view.set_matrix(first, list("abcd"))
    tabs.setCurrentIndex(0)  # the view is hidden in a shown window now
    rng = np.random.default_rng(1)
    uploads = count_calls(view.image, "setImage")
    for _ in range(3):  # three edits while hidden: none is drawn
        latest = rng.random((4, 4))
        view.set_matrix(latest, list("abcd"))
    assert uploads == []
    np.testing.assert_array_equal(view.image.image, first.astype(np.float32))
    np.testing.assert_array_equal(view.data, latest.astype(np.float32))  # current at once
    tabs.setCurrentIndex(1)  # shown: drawn once, with the latest matrix
    assert len(uploads) == 1
    np.testing.assert_array_equal(view.image.image, latest.astype(np.float32))
    assert view.value_texts() == [f"{v:.2f}".lstrip("0") for v in latest.reshape(-1)]


def test_reading_a_hidden_view_draws_it_first(qtbot):
    tabs = QtWidgets.QTabWidget()
    qtbot.addWidget(tabs)
    tabs.addTab(QtWidgets.QLabel("in front"), "front")
    view = HeatmapView(title="A")
    tabs.addTab(view, "behind")
    tabs.show()
    qtbot.waitExposed(tabs)
    data = np.random.default_rng(2).random((3, 3))
    view.set_matrix(data, list("abc"))
    np.testing.assert_array_equal(view.image_data(), data.astype(np.float32))


@pytest.mark.parametrize("cmap", ["viridis", "CET-D1A", "inferno"])
@pytest.mark.parametrize("levels", [(0.0, 1.0), (-2.5, 2.5), (0.3, 0.3)])
@pytest.mark.parametrize("shape", [(9, 9), (7, 13), (200, 200)])
def test_cell_image_draws_pyqtgraphs_colours(qtbot, cmap, levels, shape):
    """The direct 32-bit path gives exactly the pixels of pyqtgraph's own ImageItem."""
    data = np.random.default_rng(3).normal(size=shape)
    for dtype in (np.float32, np.float64):
        ours, theirs = CellImage(axisOrder="row-major"), pg.ImageItem(axisOrder="row-major")
        for item in (ours, theirs):
            item.setColorMap(colormap(cmap))
            item.setImage(data.astype(dtype), autoLevels=False, levels=levels)
            item.render()
        argb = QtGui.QImage.Format.Format_ARGB32
        assert ours.qimage.convertToFormat(argb) == theirs.qimage.convertToFormat(argb)


def test_cell_image_leaves_nan_cells_transparent(qtbot):
    data = np.arange(9, dtype=np.float32).reshape(3, 3) / 8
    data[0, 2] = np.nan
    item = CellImage(axisOrder="row-major")
    item.setColorMap(colormap("viridis"))
    item.setImage(data, autoLevels=False, levels=(0, 1))
    item.render()
    assert item.qimage.pixelColor(2, 0).alpha() == 0
    assert item.qimage.pixelColor(1, 0).alpha() == 255
