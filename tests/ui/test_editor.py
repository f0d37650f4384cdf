"""The projection editor: double-click reset, whole-matrix buttons, dragging the matrix image."""

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from explorer.core.projections import session_preset_heads


def settle(qtbot, w):
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)


def button(w, name):
    return w.findChild(QtWidgets.QPushButton, name)


def test_double_click_resets_to_preset(make_window, qtbot):
    w = make_window()
    slider = w.findChild(QtWidgets.QSlider, "weightSlider_q_2_2")
    slider.setValue(-150)
    assert w.doc.session.heads[0].w_q[2, 2] == pytest.approx(-1.5)
    qtbot.mouseDClick(slider, QtCore.Qt.MouseButton.LeftButton)
    assert w.doc.session.heads[0].w_q[2, 2] == 1.0  # identity preset
    assert slider.value() == 100


def test_whole_matrix_buttons(make_window, qtbot):
    w = make_window()
    qtbot.mouseClick(button(w, "scaleButton_k"), QtCore.Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(w.doc.session.heads[0].w_k, 2.0 * np.eye(8))
    w.findChild(QtWidgets.QSpinBox, "randomSeed_k").setValue(7)
    qtbot.mouseClick(button(w, "randomButton_k"), QtCore.Qt.MouseButton.LeftButton)
    wk = w.doc.session.heads[0].w_k
    np.testing.assert_allclose(wk.T @ wk, np.eye(8), atol=1e-12)  # orthogonal
    before = wk.copy()
    qtbot.mouseClick(button(w, "transposeButton_k"), QtCore.Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(w.doc.session.heads[0].w_k, before.T)
    qtbot.mouseClick(button(w, "resetButton_k"), QtCore.Qt.MouseButton.LeftButton)
    preset = session_preset_heads(w.doc.session)[0]
    np.testing.assert_array_equal(w.doc.session.heads[0].w_k, preset.w_k)
    settle(qtbot, w)
    # each button press is one undo step
    assert w.doc.undo_stack.count() == 4


def test_drag_matrix_image_changes_a_cell(make_window, qtbot):
    w = make_window()
    editor = w.findChild(QtWidgets.QWidget, "matrixEditor_v")
    editor._on_image_drag((3, 4), 0.0, True)
    editor._on_image_drag((3, 4), 0.5, False)
    editor._on_image_drag((3, 4), 1.25, False)
    w.doc.end_merge()
    assert w.doc.session.heads[0].w_v[3, 4] == pytest.approx(1.25)
    assert w.doc.undo_stack.count() == 1
    assert w.findChild(QtWidgets.QSlider, "weightSlider_v_3_4").value() == 125


def test_large_matrix_pages(make_window, qtbot):
    w = make_window()
    w.findChild(QtWidgets.QSpinBox, "dModelSpin").setValue(40)
    w.findChild(QtWidgets.QSpinBox, "dHeadSpin").setValue(20)
    settle(qtbot, w)
    editor = w.findChild(QtWidgets.QWidget, "matrixEditor_q")
    sliders = [
        s for s in editor.findChildren(QtWidgets.QSlider) if s.objectName().startswith("weight")
    ]
    assert len(sliders) == 16 * 16
    w.findChild(QtWidgets.QSpinBox, "rowPage_q").setValue(32)
    w.findChild(QtWidgets.QSpinBox, "colPage_q").setValue(16)
    sliders = [
        s for s in editor.findChildren(QtWidgets.QSlider) if s.objectName().startswith("weight")
    ]
    assert len(sliders) == 8 * 4  # rows 32..39, columns 16..19
    s = w.findChild(QtWidgets.QSlider, "weightSlider_q_39_19")
    s.setValue(77)
    assert w.doc.session.heads[0].w_q[39, 19] == pytest.approx(0.77)


def test_scaling_past_the_weight_limit_is_refused_with_a_message(make_window, qtbot):
    from explorer.core.session import MAX_ABS_WEIGHT

    w = make_window()
    w.findChild(QtWidgets.QDoubleSpinBox, "scaleFactor_q").setValue(10.0)
    scale = button(w, "scaleButton_q")
    for _ in range(6):  # 1 → 1e6: still allowed
        scale.click()
    settle(qtbot, w)
    assert np.abs(w.doc.session.heads[0].w_q).max() == pytest.approx(MAX_ABS_WEIGHT)
    readout = w.findChild(QtWidgets.QLabel, "weightReadout_q_0_0")
    assert readout.text() == "+1e+06"  # compact, so the grid keeps its layout
    before = w.doc.session
    scale.click()  # 1e7: refused, nothing changes
    assert w.doc.session == before
    assert w.last_error[0] == "Invalid matrix" and "beyond" in w.last_error[1]
    settle(qtbot, w)
    img = w.attentionHeatmap.image_data()
    assert np.isfinite(img).all()
    np.testing.assert_allclose(img.sum(axis=1), 1.0, rtol=1e-5)
