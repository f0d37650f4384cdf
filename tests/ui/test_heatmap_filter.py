"""Top-k and threshold filters of attention heatmaps: dimmed cells, the filter in the title."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from explorer.core.attention_aggregates import keep_mask
from explorer.ui.heatmap import ATTENTION_CAPTIONS, HeatmapView


def weights(seed: int, T: int = 6) -> np.ndarray:
    a = np.random.default_rng(seed).random((T, T)) ** 3
    return a / a.sum(axis=1, keepdims=True)


def dimmed(view: HeatmapView) -> np.ndarray:
    return np.asarray(view._dim.image)[..., 3] > 0


def test_filter_dims_cells_names_itself_and_follows_new_data(qtbot):
    view = HeatmapView(title="attention weights")
    qtbot.addWidget(view)
    view.set_axis_captions(ATTENTION_CAPTIONS)
    labels = list("abcdef")
    view.set_matrix(weights(0), labels, levels=(0, 1))
    view.set_filter(top_k=2)
    assert view.title.text.endswith("· top 2 per row")
    np.testing.assert_array_equal(dimmed(view), ~keep_mask(weights(0), top_k=2))
    assert dimmed(view).sum(axis=1).tolist() == [4] * 6  # dimmed, not deleted: data intact
    np.testing.assert_allclose(view.data, weights(0), atol=1e-7)
    view.set_matrix(weights(1), labels, levels=(0, 1))  # a slider tick: the mask follows
    np.testing.assert_array_equal(dimmed(view), ~keep_mask(weights(1), top_k=2))
    view.set_filter(threshold=0.2)
    assert view.title.text.endswith("· ≥ 0.20")
    np.testing.assert_array_equal(dimmed(view), weights(1) < 0.2)
    view.set_filter()
    assert view.title.text == "attention weights" and not view._dim.isVisible()


def test_right_click_offers_the_filters_on_attention_heatmaps(qtbot):
    view = HeatmapView(title="attention weights")
    qtbot.addWidget(view)
    view.resize(300, 300)
    view.show()
    view.set_matrix(weights(2), list("abcdef"), levels=(0, 1))
    center = view.mapFromScene(view.image.sceneBoundingRect().center())
    qtbot.mouseClick(view.viewport(), QtCore.Qt.MouseButton.RightButton, pos=center)
    assert view.findChild(QtWidgets.QMenu, "heatmapFilterMenu") is None  # not attention
    view.set_axis_captions(ATTENTION_CAPTIONS)
    qtbot.mouseClick(view.viewport(), QtCore.Qt.MouseButton.RightButton, pos=center)
    menu = view.findChild(QtWidgets.QMenu, "heatmapFilterMenu")
    assert menu is not None
    action = next(a for a in menu.actions() if a.text() == "Top 1 per row")
    action.trigger()
    assert view._filter == (1, None) and view.title.text.endswith("top 1 per row")


def test_the_workbench_heatmap_filter_follows_a_slider(make_window, qtbot):
    w = make_window()
    heat = w.attentionHeatmap
    assert heat._filter_menu
    heat.set_filter(top_k=1)
    slider = w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0")
    slider.setValue(slider.value() + 150)
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)
    np.testing.assert_array_equal(dimmed(heat), ~keep_mask(heat.data, top_k=1))
    assert "top 1 per row" in heat.title.text
