"""The window, driven through its widgets' object names as a user would."""

from dataclasses import replace

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.pipeline import compute
from explorer.core.session import Session
from explorer.ui.heatmap import HeatmapView


def settle(qtbot, w):
    """Wait until the views show the Result of the current Session."""
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)


def heatmap(w) -> HeatmapView:
    return w.findChild(HeatmapView, "attentionHeatmap")


def shown(w) -> np.ndarray:
    return np.asarray(heatmap(w).image_data())


def expected_weights(session: Session) -> np.ndarray:
    r = compute(session)
    return r.weights[session.selected_head].astype(np.float32)


def test_default_window_shows_compute_result(make_window):
    w = make_window()
    np.testing.assert_array_equal(shown(w), expected_weights(w.doc.session))
    assert w.findChild(QtWidgets.QPlainTextEdit, "sentenceEdit").toPlainText() == Session().text
    assert "tokens" in w.statusTokens.text()
    assert "threads" in w.statusThreads.text()


def test_typing_retokenises(make_window, qtbot):
    w = make_window()
    edit = w.findChild(QtWidgets.QPlainTextEdit, "sentenceEdit")
    edit.selectAll()
    qtbot.keyClicks(edit, "river bank")
    qtbot.waitUntil(lambda: w.doc.session.text == "river bank", timeout=20_000)
    settle(qtbot, w)
    assert [t.text for t in w.result.tokens] == ["river", "bank"]
    assert shown(w).shape == (2, 2)
    chips = w.findChild(QtWidgets.QWidget, "tokenChips").findChildren(QtWidgets.QLabel)
    assert sorted(c.text() for c in chips if c.objectName().startswith("tokenChip_")) == [
        "bank",
        "river",
    ]


def test_weight_slider_changes_heatmap_exactly(make_window, qtbot):
    w = make_window()
    before = shown(w).copy()
    slider = w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0")
    assert slider is not None
    slider.setValue(250)  # W_Q[0, 0] = 2.5
    settle(qtbot, w)
    s = w.doc.session
    assert s.heads[0].w_q[0, 0] == pytest.approx(2.5)
    np.testing.assert_array_equal(shown(w), expected_weights(s))
    assert not np.array_equal(shown(w), before)


def test_slider_edit_recomputes_only_the_edited_head(make_window, qtbot):
    from explorer.core.projections import conform

    w = make_window(replace(conform(Session(), n_head=3), selected_head=1))
    # on a first launch the window's first Result may come from the NumPy path (the kernels
    # were still compiling); the kernels' first Result is computed whole, the next reuses it
    w.findChild(QtWidgets.QSlider, "weightSlider_k_2_3").setValue(-120)
    settle(qtbot, w)
    w.findChild(QtWidgets.QSlider, "weightSlider_k_2_3").setValue(-150)
    settle(qtbot, w)
    assert w.doc.session.heads[1].w_k[2, 3] == pytest.approx(-1.5)
    assert "reuse" in w.result.timings
    np.testing.assert_array_equal(shown(w), expected_weights(w.doc.session))
    np.testing.assert_array_equal(w.result.weights, compute(w.doc.session).weights)


def test_slider_drag_is_one_undo_step(make_window, qtbot):
    w = make_window()
    start = w.doc.session
    slider = w.findChild(QtWidgets.QSlider, "weightSlider_k_1_2")
    slider.setSliderDown(True)
    for v in (10, 40, 80, 120):
        slider.setValue(v)
    slider.setSliderDown(False)
    slider.sliderReleased.emit()
    assert w.doc.session.heads[0].w_k[1, 2] == pytest.approx(1.2)
    assert w.doc.undo_stack.count() == 1
    w.doc.undo_stack.undo()
    assert w.doc.session == start
    w.doc.undo_stack.redo()
    assert w.doc.session.heads[0].w_k[1, 2] == pytest.approx(1.2)


def test_head_selection(make_window, qtbot):
    w = make_window()
    w.findChild(QtWidgets.QSpinBox, "headCount").setValue(3)
    w.findChild(QtWidgets.QComboBox, "presetCombo").setCurrentText("orthogonal")
    settle(qtbot, w)
    assert w.doc.session.n_head == 3
    w.findChild(QtWidgets.QComboBox, "headSelector").setCurrentIndex(2)
    settle(qtbot, w)
    s = w.doc.session
    assert s.selected_head == 2
    np.testing.assert_array_equal(shown(w), expected_weights(s))
    assert not np.array_equal(shown(w), expected_weights(replace(s, selected_head=0)))
    slider = w.findChild(QtWidgets.QSlider, "weightSlider_v_0_0")
    slider.setValue(-100)
    assert w.doc.session.heads[2].w_v[0, 0] == pytest.approx(-1.0)
    assert w.doc.session.heads[0].w_v[0, 0] == s.heads[0].w_v[0, 0]


def test_causal_mask_zeroes_future(make_window, qtbot):
    w = make_window()
    assert np.triu(shown(w), 1).max() > 0
    w.findChild(QtWidgets.QCheckBox, "causalCheck").setChecked(True)
    settle(qtbot, w)
    assert w.doc.session.causal
    img = shown(w)
    assert np.all(np.triu(img, 1) == 0)
    np.testing.assert_allclose(img.sum(axis=1), 1.0, rtol=1e-5)


def test_temperature_sharpens(make_window, qtbot):
    w = make_window()
    slider = w.findChild(QtWidgets.QSlider, "temperatureSlider")
    slider.setValue(slider.minimum())
    settle(qtbot, w)
    cold = shown(w).copy()
    assert w.doc.session.temperature == pytest.approx(0.05)
    np.testing.assert_array_equal(cold, expected_weights(w.doc.session))
    slider.setValue(slider.maximum())
    settle(qtbot, w)
    hot = shown(w)
    assert w.doc.session.temperature == pytest.approx(20.0)
    assert cold.max(axis=1).mean() > hot.max(axis=1).mean()
    readout = w.findChild(QtWidgets.QLabel, "temperatureReadout").text()
    assert "τ=20.00" in readout and "s=0.018" in readout


def test_hover_readout_numbers(make_window, qtbot):
    w = make_window()
    hm = heatmap(w)
    r = w.result
    i, j = 2, 4
    vb = hm.plot.getViewBox()
    scene = vb.mapViewToScene(QtCore.QPointF(j + 0.5, i + 0.5))
    hits = []
    hm.cellHovered.connect(lambda a, b: hits.append((a, b)))
    hm._on_mouse_moved(scene)
    assert hits[-1] == (i, j)
    tip = hm.toolTip()
    assert f"'{r.tokens[i].text}'" in tip and f"'{r.tokens[j].text}'" in tip
    assert f"{float(r.scores[0, i, j]):+.3f}" in tip
    assert f"{float(r.scaled[0, i, j]):+.3f}" in tip
    assert f"{float(r.weights[0, i, j]):.3f}" in tip


def test_click_selects_query_row(make_window, qtbot):
    w = make_window()
    w.attentionHeatmap.cellClicked.emit(3, 1)
    assert w.doc.session.selected_query == 3


def test_empty_text_shows_empty_state(make_window, qtbot):
    w = make_window(Session(text=""))
    assert w.attentionStack.currentWidget() is w.emptyState
    assert w.result.weights.shape[-1] == 0


def test_huge_text_is_capped_with_notice(make_window, qtbot):
    w = make_window(Session(text="word " * 9000))
    settle(qtbot, w)
    assert len(w.result.tokens) <= 8192
    assert w.result.truncated
    notice = w.findChild(QtWidgets.QLabel, "tokenNotice")
    assert notice.isVisibleTo(w) and "8192" in notice.text()
    assert np.isfinite(shown(w)).all()


def test_extreme_weights_never_show_nan(make_window, qtbot):
    w = make_window()
    for c in range(4):
        w.findChild(QtWidgets.QSlider, f"weightSlider_q_{c}_{c}").setValue(300)
        w.findChild(QtWidgets.QSlider, f"weightSlider_k_{c}_{c}").setValue(300)
    settle(qtbot, w)
    img = shown(w)
    assert np.isfinite(img).all()
    np.testing.assert_allclose(img.sum(axis=1), 1.0, rtol=1e-5)


def test_colormap_change_does_not_recompute(make_window, qtbot):
    w = make_window()
    gen = w.worker.generation
    w.findChild(QtWidgets.QComboBox, "colormapCombo").setCurrentText("cividis")
    assert w.doc.session.view.colormap == "cividis"
    assert w.worker.generation == gen


def test_special_tokens_checkbox_recomputes_with_cls_and_sep(make_window, qtbot):
    w = make_window()
    T = len(w.result.tokens)
    w.findChild(QtWidgets.QCheckBox, "showSpecialCheck").setChecked(True)
    settle(qtbot, w)
    assert [t.text for t in w.result.tokens][:: T + 1] == ["[CLS]", "[SEP]"]
    assert heatmap(w).data.shape == (T + 2, T + 2)
    np.testing.assert_array_equal(shown(w), expected_weights(w.doc.session))
    w.doc.undo_stack.undo()
    settle(qtbot, w)
    assert len(w.result.tokens) == T and heatmap(w).data.shape == (T, T)


def test_dimension_change_rebuilds_sliders(make_window, qtbot):
    w = make_window()
    w.findChild(QtWidgets.QSpinBox, "dModelSpin").setValue(24)
    settle(qtbot, w)
    s = w.doc.session
    assert s.heads[0].w_q.shape[0] == 24
    sliders = w.findChild(QtWidgets.QWidget, "matrixEditor_q").findChildren(QtWidgets.QSlider)
    named = [x for x in sliders if x.objectName().startswith("weightSlider_q_")]
    assert 0 < len(named) <= 16 * 16
    page = w.findChild(QtWidgets.QSpinBox, "rowPage_q")
    page.setValue(16)
    assert w.findChild(QtWidgets.QSlider, "weightSlider_q_16_0") is not None


def test_sentence_mask_checkbox(make_window, qtbot):
    w = make_window(Session(text="I sat by the river bank. I deposited money in the bank."))
    w.findChild(QtWidgets.QCheckBox, "sentenceCheck").setChecked(True)
    settle(qtbot, w)
    assert w.doc.session.sentence_mask
    img = shown(w)
    cut = [t.text for t in w.result.tokens].index(".") + 1
    assert np.all(img[:cut, cut:] == 0) and np.all(img[cut:, :cut] == 0)
    np.testing.assert_array_equal(img, expected_weights(w.doc.session))


@pytest.mark.parametrize(
    "text",
    [
        "😀 🐶 and 🐱",
        "東京は晴れ",
        "é\u0301 cafe\u0301",
        "שלום עולם hello",
        "tab\tnew\nline\x00\x07",
    ],
)
def test_odd_unicode_never_breaks_the_views(make_window, qtbot, text):
    w = make_window()
    edit = w.findChild(QtWidgets.QPlainTextEdit, "sentenceEdit")
    edit.setPlainText(text)
    qtbot.waitUntil(lambda: w.doc.session.text == text, timeout=20_000)
    settle(qtbot, w)
    img = shown(w)
    assert img.shape[0] == len(w.result.tokens) > 0
    assert np.isfinite(img).all()


def ghost_model_session(text: str = "the cat sat") -> Session:
    """A session that reads a pretrained model this computer does not have."""
    from explorer.core.session import Head, ModelRef

    m = np.ones((385, 32))
    ghost = ModelRef("someone/not-on-this-computer", "ab" * 32, 1, 2)
    return Session(
        text=text, embedding="model", d_model=385, heads=(Head(m, m, m),), preset="model",
        model=ghost,
    )  # fmt: skip


def test_a_failed_compute_shows_why_and_no_stale_numbers(make_window, qtbot):
    w = make_window()
    assert w.result is not None
    with qtbot.waitSignal(w.computeFailed, timeout=30_000) as failed:
        w.apply(ghost_model_session("a different text"), "Model")
    assert "not on this computer" in failed.args[0]
    assert w.result is None
    assert w.attentionStack.currentWidget() is w.emptyState
    assert "not on this computer" in w.emptyState.text() and "Ctrl+Z" in w.emptyState.text()
    # nothing from the previous text is left on screen
    assert w.textBar.chips.count() == 0
    assert w.pipelineView.panels["weights"].data.size == 0
    assert w.similarityView.static.data.size == 0
    assert w.headGrid._images == []
    w.doc.undo_stack.undo()
    settle(qtbot, w)
    assert w.attentionStack.currentWidget() is not w.emptyState
    np.testing.assert_array_equal(shown(w), expected_weights(w.doc.session))
    assert w.pipelineView.panels["weights"].data.size > 0


def test_leaving_a_model_source_brings_d_model_into_range(make_window, qtbot):
    w = make_window(ghost_model_session(), wait_ready=False)
    qtbot.waitUntil(lambda: w.worker.ready, timeout=60_000)
    w.findChild(QtWidgets.QComboBox, "embeddingSource").setCurrentText("builtin")
    settle(qtbot, w)
    s = w.doc.session
    assert s.embedding == "builtin" and s.d_model == 64 and s.heads[0].w_q.shape[0] == 64
    assert w.findChild(QtWidgets.QSpinBox, "dModelSpin").value() == 64
    np.testing.assert_array_equal(shown(w), expected_weights(s))


def test_typing_a_head_count_applies_once_and_keeps_edited_heads(make_window, qtbot):
    from explorer.core.projections import conform

    w = make_window(conform(Session(), n_head=4))
    s = w.doc.session
    w.apply(s.with_head(3, s.heads[3].with_weight("q", 0, 5, 2.9)), "edit head 3")
    settle(qtbot, w)
    steps = w.doc.undo_stack.count()
    spin = w.findChild(QtWidgets.QSpinBox, "headCount")
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "12")
    assert w.doc.session.n_head == 4  # nothing applied while typing
    qtbot.keyClick(spin, QtCore.Qt.Key.Key_Return)
    settle(qtbot, w)
    assert w.doc.session.n_head == 12
    assert w.doc.session.heads[3].w_q[0, 5] == 2.9  # the edited head survived
    assert w.doc.undo_stack.count() == steps + 1


def test_text_without_spaces_wraps_anywhere_so_layout_stays_linear(make_window, qtbot):
    from PySide6 import QtGui

    anywhere = QtGui.QTextOption.WrapMode.WrapAnywhere
    w = make_window(Session(text="x" * 300_000))
    edit = w.findChild(QtWidgets.QPlainTextEdit, "sentenceEdit")
    assert edit.wordWrapMode() == anywhere
    w.apply(Session(text="Ordinary prose wraps between words. " * 200), "prose")
    settle(qtbot, w)
    assert edit.wordWrapMode() == QtGui.QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere
    # a paste is checked before Qt lays the text out
    mime = QtCore.QMimeData()
    mime.setText("y" * 5000)
    edit.moveCursor(QtGui.QTextCursor.MoveOperation.End)
    edit.insertFromMimeData(mime)
    assert edit.wordWrapMode() == anywhere
    qtbot.waitUntil(lambda: w.doc.session.text.endswith("y" * 5000), timeout=20_000)


@pytest.mark.parametrize("name", ["temperatureSlider", "weightSlider_q_2_1"])
def test_key_presses_on_a_slider_are_one_undo_step_per_burst(make_window, qtbot, name):
    from explorer.ui.document import BURST_MS

    w = make_window()
    slider = w.findChild(QtWidgets.QSlider, name)
    slider.setFocus()
    start = w.doc.session
    steps = w.doc.undo_stack.count()
    for _ in range(3):  # one burst
        qtbot.keyClick(slider, QtCore.Qt.Key.Key_Right)
    after_burst = w.doc.session
    assert after_burst != start
    qtbot.wait(BURST_MS + 300)  # a pause closes the step
    qtbot.keyClick(slider, QtCore.Qt.Key.Key_PageUp)  # a second burst
    assert w.doc.session != after_burst
    assert w.doc.undo_stack.count() == steps + 2
    w.doc.undo_stack.undo()
    assert w.doc.session == after_burst
    w.doc.undo_stack.undo()
    assert w.doc.session == start


def test_ctrl_click_cuts_a_pair_and_the_cut_row_restores_it(make_window, qtbot):
    w = make_window()
    hm = heatmap(w)
    label = w.findChild(QtWidgets.QLabel, "blockedLabel")
    clear = w.findChild(QtWidgets.QPushButton, "clearBlockedButton")
    assert "Ctrl+click" in label.text() and not clear.isEnabled()
    before = shown(w).copy()
    assert before[4, 1] > 0.05  # cat → dog
    centre = hm.plot.getViewBox().mapViewToScene(QtCore.QPointF(1.5, 4.5))
    qtbot.mouseClick(
        hm.viewport(),
        QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.ControlModifier,
        hm.mapFromScene(centre),
    )
    settle(qtbot, w)
    s = w.doc.session
    assert s.blocked == ((4, 1),) and s.selected_query is None  # a cut, not a selection
    assert w.doc.undo_stack.undoText() == "Cut cat→dog"
    img = shown(w)
    assert img[4, 1] == 0 and img[4].sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(img, expected_weights(s))
    assert label.text() == "1 pair cut" and clear.isEnabled()
    w.toggle_cut(4, 1)  # the same pair again restores it
    settle(qtbot, w)
    assert w.doc.session.blocked == ()
    np.testing.assert_array_equal(shown(w), before)
    w.toggle_cut(0, 2)
    w.toggle_cut(3, 3)
    clear.click()
    settle(qtbot, w)
    assert w.doc.session.blocked == () and label.text().startswith("none")
    w.doc.undo_stack.undo()
    assert w.doc.session.blocked == ((0, 2), (3, 3))


def test_window_fits_an_800_pixel_wide_screen(make_window):
    w = make_window()
    # the hidden W_K / W_V tabs used to keep the width of a pager they do not show (901 px)
    assert w.minimumSizeHint().width() <= 820
    for name in ("matrixEditor_k", "matrixEditor_v"):
        ed = w.findChild(QtWidgets.QWidget, name)
        assert (
            ed.minimumSizeHint().width()
            <= w.projectionEditor.editors["q"].minimumSizeHint().width()
        )
    w.resize(820, 640)
    assert w.findChild(QtWidgets.QScrollArea, "controlsScroll").isVisible()


@pytest.mark.parametrize("focus", ["sentenceEdit", "headCount", "dModelSpin"])
def test_ctrl_z_undoes_the_session_from_text_and_spin_boxes(make_window, qtbot, focus):
    w = make_window()
    w.show()
    w.activateWindow()
    start = w.doc.session
    w.findChild(QtWidgets.QCheckBox, "causalCheck").setChecked(True)  # one session step
    assert w.doc.session.causal
    widget = w.findChild(QtWidgets.QWidget, focus)
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=5_000)
    qtbot.keyClick(widget, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert w.doc.session == start
    qtbot.keyClick(
        widget,
        QtCore.Qt.Key.Key_Z,
        QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier,
    )
    assert w.doc.session.causal


def test_ctrl_z_in_the_text_box_undoes_what_was_just_typed(make_window, qtbot):
    w = make_window()
    edit = w.findChild(QtWidgets.QPlainTextEdit, "sentenceEdit")
    edit.setFocus()
    edit.moveCursor(QtGui.QTextCursor.MoveOperation.End)
    before = w.doc.session.text
    qtbot.keyClicks(edit, " Then it slept")
    # Ctrl+Z before the debounce fires: the typing becomes a step, and that step is undone
    qtbot.keyClick(edit, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert w.doc.session.text == before
    qtbot.wait(300)
    assert w.doc.session.text == before and edit.toPlainText() == before


def test_head_grid_titles_take_the_theme_text_colour_after_a_rebuild(make_window, qtbot):
    w = make_window()
    w.findChild(QtWidgets.QSpinBox, "headCount").setValue(4)  # the grid is rebuilt
    settle(qtbot, w)
    fg = QtWidgets.QApplication.palette().color(QtGui.QPalette.ColorRole.Text)
    labels = w.headGrid._labels
    assert len(labels) == 4
    for lab in labels:  # not pyqtgraph's default grey (#969696)
        assert f"color:{fg.name()}" in lab.item.toHtml().lower()


def test_tab_goes_from_the_text_box_into_the_controls(make_window, qtbot):
    w = make_window()
    edit = w.findChild(QtWidgets.QPlainTextEdit, "sentenceEdit")
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=5_000)
    seen = []
    for _ in range(4):
        qtbot.keyClick(QtWidgets.QApplication.focusWidget(), QtCore.Qt.Key.Key_Tab)
        seen.append(QtWidgets.QApplication.focusWidget())
    assert not any(isinstance(f, QtWidgets.QScrollArea) for f in seen), seen
    assert w.findChild(QtWidgets.QComboBox, "embeddingSource") in seen


def test_splitter_positions_come_back_as_they_were_left(qtbot, tmp_path):
    from explorer.ui.main_window import MainWindow

    ini = str(tmp_path / "geometry.ini")
    sizes = None
    for run in range(2):
        settings = QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat)
        w = MainWindow(None, settings=settings, autosave_dir=tmp_path / "autosave")
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        if run == 0:
            w.topSplit.setSizes([300, 700, 280])
            w.bottomSplit.setSizes([500, 780])
            sizes = (w.topSplit.sizes(), w.bottomSplit.sizes())
        else:
            for got, want in zip((w.topSplit.sizes(), w.bottomSplit.sizes()), sizes, strict=True):
                assert all(abs(a - b) <= 3 for a, b in zip(got, want, strict=True)), (got, want)
        w.doc.undo_stack.setClean()
        w.close()
        # the offscreen screen is smaller than the window: restore the panes, not the size
        settings.remove("window/geometry")
        settings.sync()
