"""Editing a real head in place: modelHeadEditor's sliders drive the model grid."""

from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets
from test_model_view import TEXT, model_folder, open_view, wait_analysis  # noqa: F401

from explorer.io.session_file import load_session, save_session
from explorer.ui.model.head_editor import ModelHeadEditor


def thumbs(view) -> list[np.ndarray]:
    grid = view.modelGrid
    return [np.array(grid.thumbnail_data(i)) for i in range(grid.count)]


def tile_alpha(grid) -> np.ndarray:
    """The drawn opacity of every thumbnail (at its top-left pixel)."""
    rgba = grid.image_rgba()
    return np.array([rgba[y, x, 3] for x, y in map(grid.tile_origin, range(grid.count))])


def wait_edit(qtbot, view, session):
    """Until the analysis on screen is the one of ``session``'s edits."""
    qtbot.waitUntil(
        lambda: (
            view.analysis is not None
            and not view.worker.busy
            and len(view.analysis.edits) == len(session.model_edits)
            and view._edits == {(e.layer, e.head): e for e in session.model_edits}
        ),
        timeout=60_000,
    )
    qtbot.wait(50)  # the result of the last submitted job


def test_slider_in_model_head_editor_drives_the_grid(make_window, qtbot, model_folder, tmp_path):  # noqa: F811
    w, view = open_view(make_window, qtbot, model_folder)
    L, nh = view.encoder.config.num_layers, view.encoder.config.num_heads
    layer, head = min(1, L - 1), 1
    view.select(layer, head)
    view.findChild(QtWidgets.QPushButton, "editHeadButton").click()
    editor = view.findChild(ModelHeadEditor, "modelHeadEditor")
    assert editor.bound == (layer, head) and editor.isVisible()
    before, large_before = thumbs(view), np.array(view.heatmap.data)

    slider = editor.findChild(QtWidgets.QSlider, "modelWeightSlider_q_0_0")
    assert slider is not None and slider.toolTip()
    assert w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0") is not slider  # names unique
    real = view.encoder.head_weights(layer, head).w_q
    target = -300 if real[0, 0] > 0 else 300
    slider.setValue(target)
    wait_edit(qtbot, view, w.doc.session)

    (stored,) = w.doc.session.model_edits
    assert (stored.layer, stored.head, stored.sha256) == (layer, head, view.encoder.sha256)
    assert stored.w_k is None and stored.w_v is None  # only the edited matrix is kept
    assert stored.w_q[0, 0] == target / 100
    np.testing.assert_array_equal(stored.w_q[1:], real[1:])
    after = thumbs(view)
    for i in range(L * nh):
        if i // nh < layer:  # below the edit: untouched
            np.testing.assert_array_equal(after[i], before[i])
    assert not np.allclose(after[layer * nh + head], before[layer * nh + head], atol=1e-4)
    for above in range(layer + 1, L):
        row = slice(above * nh, (above + 1) * nh)
        assert any(
            not np.allclose(a, b, atol=1e-5) for a, b in zip(after[row], before[row], strict=True)
        )
    assert not np.allclose(view.heatmap.data, large_before, atol=1e-4)  # the large view too
    assert view.analysis.pooled_cosine < 1.0
    assert (
        f"{view.analysis.pooled_cosine:.4f}"
        in view.findChild(QtWidgets.QLabel, "editEffect").text()
    )

    # the bank-by-layer line follows (computed after the grid, in its own worker), and so
    # do the edited run's head types and per-layer cosines
    qtbot.waitUntil(lambda: not view.following, timeout=30_000)
    qtbot.waitUntil(lambda: view.analysis.head_types is not None, timeout=10_000)
    curve = view.word.edited.getData()[1]
    assert curve is not None and len(curve) == L + 1
    assert np.array_equal(curve, view.curve.edited)
    from explorer.core.model_analysis import classify_heads
    from explorer.ui.model.grid import BADGES

    edited = view.analysis.edited
    types = view.analysis.head_types
    np.testing.assert_array_equal(
        types[layer:], classify_heads(edited.attentions[layer:], edited.tokens)
    )
    assert view.modelGrid.badges() == [BADGES[t] for t in types.ravel()]
    per_layer = " · ".join(f"{c:.3f}" for c in view.analysis.layer_cosine[1:])
    assert per_layer in view.findChild(QtWidgets.QLabel, "editEffect").text()

    # a second and third tick at once redraw only the thumbnails of the edited layer and
    # above; the curve and types follow the last tick once no newer one came
    slider.setValue(target // 3)
    slider.setValue(target // 2)
    wait_edit(qtbot, view, w.doc.session)
    assert view.thumbnails_drawn == (L - layer) * nh
    qtbot.waitUntil(lambda: not view.following, timeout=30_000)
    from explorer.core.model_analysis import word_curve

    want = word_curve(view.bridge, view.encoder, *view.word.values(), view.edits)
    np.testing.assert_array_equal(view.curve.edited, want.edited)
    assert view.analysis.head_types is not None

    # the difference grid: zero below the edit, diverging levels, something above
    view.findChild(QtWidgets.QComboBox, "gridModeCombo").setCurrentIndex(1)
    diff = thumbs(view)
    lo, hi = view.modelGrid.levels
    assert lo == -hi and hi > 0
    assert all(not d.any() for d in diff[: layer * nh])
    assert np.abs(diff[layer * nh + head]).max() > 1e-3

    # saved with the session and read back; undo goes back to the real head
    path = save_session(w.doc.session, tmp_path / "edit.attn.json")
    assert load_session(path).model_edits == w.doc.session.model_edits
    w.doc.undo_stack.undo()
    qtbot.waitUntil(lambda: w.doc.session.model_edits == (), timeout=5_000)
    wait_analysis(qtbot, view, TEXT, edits=0)
    assert slider.value() == round(float(real[0, 0]) * 100)
    view.findChild(QtWidgets.QComboBox, "gridModeCombo").setCurrentIndex(0)
    np.testing.assert_array_equal(thumbs(view)[-1], before[-1])


def test_zero_a_row_ablate_and_revert(make_window, qtbot, model_folder):  # noqa: F811
    w, view = open_view(make_window, qtbot, model_folder)
    view.select(0, 2)
    view.edit_selected_head()
    editor = view.headEditor
    editor.projections.tabs.setCurrentIndex(2)  # W_V
    editor.findChild(QtWidgets.QSpinBox, "zeroIndexSpin").setValue(3)
    editor.findChild(QtWidgets.QPushButton, "zeroRowButton").click()
    wait_edit(qtbot, view, w.doc.session)
    (stored,) = w.doc.session.model_edits
    assert stored.w_q is None and not stored.w_v[3].any() and stored.w_v[4].any()
    assert view.analysis.edits[0].replaces == "v"
    editor.findChild(QtWidgets.QPushButton, "modelEditAblateButton").click()
    wait_edit(qtbot, view, w.doc.session)
    (stored,) = w.doc.session.model_edits
    assert stored.scale == 0.0 and not stored.w_v[3].any()  # both kept
    editor.findChild(QtWidgets.QPushButton, "revertHeadButton").click()
    wait_analysis(qtbot, view, TEXT, edits=0)
    assert w.doc.session.model_edits == ()
    np.testing.assert_array_equal(
        editor.projections.editors["v"]._matrix, view.encoder.head_weights(0, 2).w_v
    )


def test_closing_the_window_stops_both_model_workers(qtbot, tmp_path):
    from PySide6 import QtCore

    from explorer.ui.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(None, settings=settings, autosave_dir=tmp_path / "autosave")
    w.show()
    qtbot.waitUntil(lambda: w.worker.ready and w.result is not None, timeout=60_000)
    workers = (w.modelView.worker, w.modelView.curveWorker)
    assert all(worker.is_alive() for worker in workers)
    w.doc.undo_stack.setClean()
    w.close()
    qtbot.waitUntil(lambda: not any(worker.is_alive() for worker in workers), timeout=20_000)
    w.deleteLater()


def test_pooling_switch_and_aggregate_view(make_window, qtbot, model_folder):  # noqa: F811
    from explorer.core.model_analysis import attention_rollout

    text = "I sat by the river bank. I deposited money in the bank."
    _w, view = open_view(make_window, qtbot, model_folder, text)
    L = view.encoder.config.num_layers
    view.findChild(QtWidgets.QComboBox, "poolCombo").setCurrentIndex(2)  # sentences
    assert view.heatmap._row_labels == ["[CLS]", "S1", "S2", "[SEP]"]
    np.testing.assert_allclose(view.heatmap.data.sum(axis=1), 1.0, atol=1e-5)
    assert view.modelGrid.thumbnail_data(0).shape == (4, 4)

    view.findChild(QtWidgets.QTabWidget, "modelRightTabs").setCurrentIndex(1)
    panel = view.findChild(QtWidgets.QWidget, "modelAggregatePanel")
    assert panel.isVisible()
    slider = panel.findChild(QtWidgets.QSlider, "aggregateLayerSlider")
    assert slider.maximum() == L - 1 and slider.toolTip()
    slider.setValue(L - 1)
    shown = panel.heatmap.data
    att = view.analysis.out.attentions.astype(np.float64)
    from explorer.core.attention_aggregates import pool_words, sentence_groups

    groups, _ = sentence_groups(view.analysis.out.tokens)
    want = attention_rollout(pool_words(att, groups))[L - 1]
    np.testing.assert_allclose(shown, want, atol=1e-5)
    assert "rollout · layer" in panel.heatmap._title_text
    panel.findChild(QtWidgets.QComboBox, "aggregateCombo").setCurrentIndex(1)
    np.testing.assert_allclose(
        panel.heatmap.data, pool_words(att, groups)[L - 1].mean(axis=0), atol=1e-5
    )


def test_head_type_badges_legend_and_filter(make_window, qtbot, model_folder):  # noqa: F811
    from explorer.core.model_analysis import classify_heads
    from explorer.ui.model.grid import BADGES

    _w, view = open_view(make_window, qtbot, model_folder)
    a = view.analysis
    types = classify_heads(a.out.attentions, a.out.tokens).ravel()
    grid = view.modelGrid
    shown = grid.badges()
    assert shown == [BADGES[t] for t in types]
    legend = view.findChild(QtWidgets.QLabel, "headTypeLegend")
    assert legend.isVisible() and all(f"{b} {n}" in legend.text() for n, b in BADGES.items() if b)
    combo = view.findChild(QtWidgets.QComboBox, "headTypeFilter")
    wanted = types[0]
    combo.setCurrentIndex(combo.findData(wanted))
    assert [grid.dimmed(i) for i in range(grid.count)] == [t != wanted for t in types]
    assert list(tile_alpha(grid)) == [255 if t == wanted else 51 for t in types]  # as drawn
    combo.setCurrentIndex(0)
    assert not any(grid.dimmed(i) for i in range(grid.count))
    assert (tile_alpha(grid) == 255).all()


def test_two_sentences_side_by_side(make_window, qtbot, model_folder):  # noqa: F811
    from explorer.core.model_compare import compare_texts

    _w, view = open_view(make_window, qtbot, model_folder)
    L, nh = view.encoder.config.num_layers, view.encoder.config.num_heads
    view.findChild(QtWidgets.QTabWidget, "modelRightTabs").setCurrentIndex(2)
    panel = view.findChild(QtWidgets.QWidget, "modelComparePanel")
    qtbot.waitUntil(lambda: "shared" in panel.caption.text(), timeout=60_000)
    _, text_a, text_b = view.word.values()
    want = compare_texts(view.bridge, view.encoder, text_a, text_b)
    assert "bank" in want.labels and "river" not in want.labels
    assert panel.grid.count == L * nh
    first = np.asarray(panel.grid.thumbnail_data(0))
    assert first.shape == (len(want.labels),) * 2
    np.testing.assert_allclose(first, want.difference[0, 0], atol=1e-5)
    assert panel.entropy.text().startswith("entropy A − B per layer:")
    # an edit of the model reaches the comparison too
    view.select(0, 1)
    view.add_edit(0.0)
    qtbot.waitUntil(
        lambda: not view.following and not view.worker.busy and bool(view.analysis.edits),
        timeout=60_000,
    )
    edited = compare_texts(view.bridge, view.encoder, text_a, text_b, view.edits)
    assert not np.allclose(edited.difference[-1, -1], want.difference[-1, -1], atol=1e-4)
    qtbot.waitUntil(  # the worker's result is delivered through the event loop
        lambda: np.allclose(panel.grid.thumbnail_data(-1), edited.difference[-1, -1], atol=1e-5),
        timeout=10_000,
    )
