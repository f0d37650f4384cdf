"""One slider tick touches only the views whose data changed; hidden views draw when shown."""

import time

import numpy as np
from call_counting import count_calls
from PySide6 import QtCore, QtWidgets

from explorer.core.pipeline import compute
from explorer.core.projections import conform
from explorer.core.session import Session
from explorer.ui.views.composite import PipelineView, ThumbnailGrid


def settle(qtbot, w):
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)


def four_heads() -> Session:
    return conform(Session(text="The dog chased the cat off the table."), n_head=4)


# ------------------------------------------------------------------ head grid
def test_thumbnail_grid_redraws_only_the_changed_thumbnails(qtbot):
    grid = ThumbnailGrid()
    qtbot.addWidget(grid)
    rng = np.random.default_rng(0)
    mats = rng.random((4, 6, 6))
    grid.set_matrices(mats, [f"head {i}" for i in range(4)])
    uploads = [count_calls(img, "setImage") for img in grid._images]
    mats2 = mats.copy()
    mats2[2] = rng.random((6, 6))
    grid.set_matrices(mats2, [f"head {i}" for i in range(4)], changed=[2])
    assert [len(u) for u in uploads] == [0, 0, 1, 0]
    np.testing.assert_array_equal(grid._images[2].image, mats2[2].astype(np.float32))
    grid.set_matrices(mats2, [f"head {i}" for i in range(4)])  # None: every one
    assert [len(u) for u in uploads] == [1, 1, 2, 1]


def test_a_slider_tick_redraws_the_edited_heads_thumbnail_only(make_window, qtbot):
    w = make_window(four_heads())
    settle(qtbot, w)
    uploads = [count_calls(img, "setImage") for img in w.headGrid._images]
    w.findChild(QtWidgets.QSlider, "weightSlider_q_0_1").setValue(150)
    settle(qtbot, w)
    assert [len(u) for u in uploads] == [1, 0, 0, 0]  # head 0 is the selected, edited one
    for img, m in zip(w.headGrid._images, w.result.weights, strict=True):
        np.testing.assert_allclose(img.image, m, atol=1e-6)


# ------------------------------------------------------------------- pipeline
def test_pipeline_skips_a_head_whose_numbers_did_not_change(make_window, qtbot):
    w = make_window(four_heads())
    settle(qtbot, w)
    panel = w.pipelineView.panels["scores"]
    uploads = count_calls(panel, "set_matrix")
    w.pipelineView.show_head(w.result, 0, w.result.display_labels, changed=False)
    assert uploads == []
    w.pipelineView.show_head(w.result, 1, w.result.display_labels, changed=False)  # new head
    assert len(uploads) == 1
    np.testing.assert_array_equal(panel.data, w.result.scores[1].astype(np.float32))


def test_hidden_pipeline_draws_the_latest_head_when_shown(qtbot):
    tabs = QtWidgets.QTabWidget()
    qtbot.addWidget(tabs)
    tabs.addTab(QtWidgets.QLabel("in front"), "front")
    strip = PipelineView()
    tabs.addTab(strip, "strip")
    tabs.resize(900, 300)
    tabs.show()
    qtbot.waitExposed(tabs)
    r = compute(four_heads())
    draws = count_calls(strip, "_draw_head")
    strip.show_head(r, 1, r.display_labels)
    strip.show_head(r, 2, r.display_labels)
    assert draws == []  # hidden: nothing drawn
    tabs.setCurrentIndex(1)
    assert len(draws) == 1 and draws[0][1] == 2  # the latest head, once
    np.testing.assert_array_equal(
        strip.panels["weights"].image_data(), r.weights[2].astype(np.float32)
    )


# --------------------------------------------------------------- the window
def test_views_hidden_behind_the_model_tab_draw_the_current_result_when_shown(make_window, qtbot):
    w = make_window(four_heads())
    settle(qtbot, w)
    before = np.array(w.attentionHeatmap.image.image)
    w.workspaceTabs.setCurrentIndex(1)  # the Model tab: the workbench is hidden
    assert not w.attentionHeatmap.isVisible()
    w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0").setValue(-200)
    settle(qtbot, w)
    weights = w.result.weights
    assert not np.allclose(weights[0], before, atol=1e-3)
    # hidden views drew nothing: the pictures are still those of the last Result shown
    np.testing.assert_array_equal(w.attentionHeatmap.image.image, before)
    assert w.headGrid._pending is not None
    w.workspaceTabs.setCurrentIndex(0)
    np.testing.assert_allclose(w.attentionHeatmap.image.image, weights[0], atol=1e-6)
    np.testing.assert_allclose(w.headGrid._images[0].image, weights[0], atol=1e-6)
    np.testing.assert_allclose(w.pipelineView.panels["weights"].image.image, weights[0], atol=1e-6)


def test_a_weight_edit_does_not_set_the_other_controls_again(make_window, qtbot):
    w = make_window()
    settle(qtbot, w)
    panel_sets = count_calls(w.modelPanel, "set_session")
    w.findChild(QtWidgets.QSlider, "weightSlider_k_1_0").setValue(120)
    settle(qtbot, w)
    assert panel_sets == []
    w.findChild(QtWidgets.QSlider, "temperatureSlider").setValue(
        w.findChild(QtWidgets.QSlider, "temperatureSlider").value() + 10
    )
    settle(qtbot, w)
    assert len(panel_sets) == 1


def test_results_faster_than_a_frame_are_drawn_once_with_the_latest(
    make_window, qtbot, monkeypatch
):
    w = make_window()
    settle(qtbot, w)
    draws = count_calls(w, "_draw")
    s = w.doc.session
    r = compute(s)  # the same numbers in another Result object
    w._frame_ms = lambda: 60_000.0  # a long frame, just begun: both come within it
    held = QtCore.Qt.MouseButton.LeftButton  # a drag: the mouse button is held
    monkeypatch.setattr(QtWidgets.QApplication, "mouseButtons", staticmethod(lambda: held))
    w._last_draw_t = time.perf_counter()
    gen = w._shown_generation
    w._on_result(gen + 1, s, w.result)
    w._on_result(gen + 2, s, r)
    assert draws == [] and w._frame_timer.isActive()
    w._frame_timer.timeout.emit()  # the frame ends
    assert len(draws) == 1 and draws[0][0] is r and not w._frame_timer.isActive()
    assert w._pending_draw is None


def test_projection_editor_touches_only_the_moved_slider(make_window, qtbot):
    w = make_window()
    settle(qtbot, w)
    editor = w.projectionEditor.editors["q"]
    tips = {key: count_calls(s, "setToolTip") for key, s in editor._sliders.items()}
    w.findChild(QtWidgets.QSlider, "weightSlider_q_2_3").setValue(77)
    settle(qtbot, w)
    touched = sorted(key for key, calls in tips.items() if calls)
    assert touched == [(2, 3)]
    assert editor._readouts[(2, 3)].text() == "+0.77"


def test_symmetric_colour_limit_ignores_masked_cells():
    from explorer.ui.views.composite import _sym_limit

    a = np.array([[0.5, -np.inf], [-1.7, 1.1]])
    assert _sym_limit(a) == 2.0  # 1.7 rounded up to a step, −∞ left out
    assert _sym_limit(np.array([[0.5, -1.7], [1.1, 0.0]])) == 2.0
    assert _sym_limit(np.full((2, 2), -np.inf)) == 1e-6
    assert _sym_limit(np.zeros((0, 0))) == 1e-6


def test_without_a_drag_every_result_is_drawn_at_once(make_window, qtbot):
    """Checkboxes, spin boxes and keys: each edit is on screen when its handler returns."""
    w = make_window()
    settle(qtbot, w)
    w.findChild(QtWidgets.QSlider, "weightSlider_q_0_1").setValue(150)
    w.findChild(QtWidgets.QCheckBox, "causalCheck").setChecked(True)  # within one frame
    assert w._result_session == w.doc.session
    np.testing.assert_allclose(w.attentionHeatmap.image_data(), w.result.weights[0], atol=1e-6)
    assert np.all(np.triu(w.attentionHeatmap.image_data(), 1) == 0)


def test_the_head_count_control_follows_an_undone_head_count(make_window, qtbot):
    w = make_window()
    settle(qtbot, w)
    w.findChild(QtWidgets.QSpinBox, "headCount").setValue(2)
    w.doc.undo_stack.undo()
    assert w.findChild(QtWidgets.QSpinBox, "headCount").value() == 1
    w.doc.undo_stack.redo()
    assert w.findChild(QtWidgets.QSpinBox, "headCount").value() == 2
