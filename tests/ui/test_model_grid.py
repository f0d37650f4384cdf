"""The Model tab's layer × head grid: one mosaic image, its colours, filters and badges."""

from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets
from test_model_view import model_folder, open_view  # noqa: F401

from explorer.core.attention_aggregates import keep_mask
from explorer.ui.model import grid as grid_module
from explorer.ui.model import tile_colours
from explorer.ui.model.grid import LayerHeadGrid
from explorer.ui.model.tile_colours import colour_tiles_numpy


def stochastic(rng, *shape) -> np.ndarray:
    a = rng.random(shape).astype(np.float32) ** 3
    return a / a.sum(axis=-1, keepdims=True)


def tile(grid: LayerHeadGrid, index: int) -> np.ndarray:
    """The drawn RGBA pixels of one thumbnail."""
    x, y = grid.tile_origin(index)
    h, w = grid.cell_shape
    return grid.image_rgba()[y : y + h, x : x + w]


def test_compiled_colouring_equals_numpy():
    tile_colours.warm_up()
    (kernel,) = tile_colours.compiled
    rng = np.random.default_rng(3)
    data = rng.normal(0.5, 0.6, (5, 7, 9)).astype(np.float32)
    data[0, 1, 2], data[1, 0, 0], data[2, 3, 4] = np.nan, np.inf, -np.inf
    which = np.array([4, 0, 2], np.int64)
    origins = np.array([[0, 0], [10, 0], [0, 8]], np.int64)
    lut = grid_module._lut("viridis")
    alpha = np.array([255, 51, 255], np.uint32)
    for keep in (np.ones((0, 0, 0), bool), rng.random((3, 7, 9)) > 0.5):
        for lo, hi in ((0.0, 1.0), (-0.2, 0.2)):
            args = (data, which, origins, np.float32(lo), np.float32(256 / (hi - lo)), lut)
            a, b = np.zeros((16, 20), np.uint32), np.zeros((16, 20), np.uint32)
            kernel(*args, keep, alpha, a)
            colour_tiles_numpy(*args, keep, alpha, b)
            np.testing.assert_array_equal(a, b)


def test_filter_washes_out_cells_and_names_itself(qtbot):
    grid = LayerHeadGrid()
    qtbot.addWidget(grid)
    rng = np.random.default_rng(0)
    mats = stochastic(rng, 6, 5, 5)
    grid.set_matrices(mats, [f"t{i}" for i in range(6)], 3)
    plain = grid.image_rgba().copy()
    grid.set_filter(top_k=2)
    assert grid.filter_name == "top 2 per row" and "top 2 per row" in grid._tip(4)
    for i in range(6):
        keep = keep_mask(mats[i], top_k=2)
        np.testing.assert_array_equal(grid.keep_mask(i), keep)
        np.testing.assert_array_equal(grid.thumbnail_data(i), mats[i])  # dimmed, not deleted
        before = plain[grid.tile_origin(i)[1] :][:5, grid.tile_origin(i)[0] :][:, :5]
        now = tile(grid, i)
        np.testing.assert_array_equal(now[keep], before[keep])
        washed = now[~keep][:, :3].astype(int)
        assert (washed >= 200).all() and (now[~keep] != before[~keep]).any()
    grid.set_filter(threshold=0.3)
    assert grid.filter_name == "≥ 0.30"
    np.testing.assert_array_equal(grid.keep_mask(0), mats[0] >= 0.3)
    grid.set_filter()
    np.testing.assert_array_equal(grid.image_rgba(), plain)
    assert "filter" not in grid._tip(0)
    # a difference grid (diverging levels) is never filtered
    grid.set_filter(top_k=1)
    grid.set_matrices(mats - 0.2, [""] * 6, 3, levels=(-0.5, 0.5))
    assert grid.keep_mask(0).all()


def test_only_changed_thumbnails_are_recoloured(qtbot):
    grid = LayerHeadGrid()
    qtbot.addWidget(grid)
    rng = np.random.default_rng(1)
    mats = stochastic(rng, 8, 4, 4)
    assert grid.set_matrices(mats, [""] * 8, 4) == 8
    changed = np.repeat([False, True], 4)
    edited = mats.copy()
    edited[4:] = stochastic(rng, 4, 4, 4)
    edited[0] = 0.0  # not marked as changed: stays as drawn
    assert grid.set_matrices(edited, [""] * 8, 4, changed=changed) == 4
    np.testing.assert_array_equal(grid.thumbnail_data(0), mats[0])
    np.testing.assert_array_equal(grid.thumbnail_data(7), edited[7])


def test_grid_filter_combo_in_the_model_tab(make_window, qtbot, model_folder):  # noqa: F811
    _w, view = open_view(make_window, qtbot, model_folder)
    grid = view.modelGrid
    plain = grid.image_rgba().copy()
    combo = view.findChild(QtWidgets.QComboBox, "gridFilterCombo")
    combo.setCurrentIndex(combo.findText("top 1 per row"))
    assert grid.filter_name == "top 1 per row"
    assert "top 1 per row" in grid.toolTip()
    att = view.analysis.out.attentions
    nh = att.shape[1]
    keep = keep_mask(att[1, 2], top_k=1)
    np.testing.assert_array_equal(grid.keep_mask(nh + 2), keep)
    assert (grid.image_rgba() != plain).any()
    np.testing.assert_allclose(grid.thumbnail_data(nh + 2), att[1, 2], atol=1e-6)
    combo.setCurrentIndex(0)
    np.testing.assert_array_equal(grid.image_rgba(), plain)
    assert "top 1" not in grid.toolTip()


def test_exported_colour_bar_names_the_grid_map_and_levels(qtbot):
    from explorer.ui.export.render import grid_colour_bar

    grid = LayerHeadGrid()
    qtbot.addWidget(grid)
    rng = np.random.default_rng(2)
    grid.set_matrices(stochastic(rng, 4, 3, 3), [""] * 4, 2)
    bar = grid_colour_bar(grid)
    assert bar is not None and (bar.lo, bar.hi) == (0.0, 1.0)
    grid.set_matrices(stochastic(rng, 4, 3, 3) - 0.3, [""] * 4, 2, levels=(-0.5, 0.5))
    bar = grid_colour_bar(grid)
    assert (bar.lo, bar.hi) == (-0.5, 0.5)
