"""The "Inside the sum" tab: vectors, weighted sum and head lines follow the live Result."""

import re
from dataclasses import replace

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtWidgets

from explorer.core.mechanism import default_query
from explorer.core.projections import conform
from explorer.core.session import Session


def settle(qtbot, w):
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)


def show(qtbot, w, name):
    w.show_inside(name)
    settle(qtbot, w)
    qtbot.waitUntil(lambda: w.insideView.drawn_state(name) is not None, timeout=5_000)
    return w.insideView.views[name]


def drawn_result(w, name):
    state = w.insideView.drawn_state(name)
    return state and state[0]


def test_tab_order_buttons_and_one_click(make_window, qtbot):
    w = make_window()
    inside = w.insideView
    qtbot.waitUntil(lambda: inside.contents_built)  # after the first paint (deferredTabs)
    assert w.rightTabs.indexOf(inside) >= 0
    assert w.rightTabs.tabText(w.rightTabs.indexOf(inside)) == "Inside the sum"
    titles = [inside.tabText(i) for i in range(inside.count())]
    expected = ["Vectors", "Weighted sum", "Value map", "Q·K map", "Lines"]
    assert titles == [t for t in expected if t in titles]
    assert {"Vectors", "Weighted sum", "Lines"} <= set(titles)
    button = w.findChild(QtWidgets.QToolButton, "sumButton")
    assert button.toolTip()
    assert w.rightTabs.currentWidget() is not inside
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    assert w.rightTabs.currentWidget() is inside
    assert inside.currentWidget() is w.findChild(QtWidgets.QWidget, "weightedSumView")
    map_button = w.findChild(QtWidgets.QToolButton, "mapButton")
    assert map_button.isEnabled() == ("embeddingMap" in inside.views)
    with pytest.raises(KeyError):
        inside.show_view("noSuchView")


def test_hidden_tabs_do_not_draw(make_window, qtbot):
    w = make_window()
    assert w.rightTabs.currentWidget() is not w.insideView
    assert w.insideView.drawn_state("weightedSumView") is None  # never drawn while hidden
    show(qtbot, w, "weightedSumView")
    assert drawn_result(w, "weightedSumView") is w.result
    assert w.insideView.drawn_state("headLines") is None  # the Lines tab is still hidden
    w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0").setValue(-120)
    settle(qtbot, w)
    assert drawn_result(w, "weightedSumView") is w.result
    w.rightTabs.setCurrentIndex(0)  # back to the sliders: the inside views stop drawing
    w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0").setValue(150)
    settle(qtbot, w)
    assert drawn_result(w, "weightedSumView") is not w.result
    w.rightTabs.setCurrentWidget(w.insideView)  # shown again: drawn at once
    assert drawn_result(w, "weightedSumView") is w.result


def test_value_edit_changes_weighted_sum_not_weights(make_window, qtbot):
    w = make_window()
    view = show(qtbot, w, "weightedSumView")
    h, q = 0, default_query(w.result)
    weights = np.array(w.result.weights)
    heat = np.array(w.attentionHeatmap.data)
    y_before = view.ws.y.copy()
    image_before = np.array(view.image.image)
    equation = view.equation.text()
    w.findChild(QtWidgets.QSlider, "weightSlider_v_1_1").setValue(-250)
    settle(qtbot, w)
    assert w.doc.session.heads[0].w_v[1, 1] == pytest.approx(-2.5)
    np.testing.assert_allclose(w.result.weights, weights, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w.attentionHeatmap.data, heat, rtol=1e-6)
    assert view.equation.text() == equation  # the weights did not move
    assert not np.allclose(view.ws.y, y_before)
    np.testing.assert_allclose(view.ws.y, w.result.y[h, q], rtol=1e-9, atol=1e-12)
    assert not np.allclose(view.image.image, image_before, equal_nan=True)
    # the rows drawn above the rule add up to the y row drawn under it
    img = np.asarray(view.image.image, dtype=np.float64)
    m = view.ws.rows().shape[0]
    np.testing.assert_allclose(img[:m].sum(axis=0), img[m + 1], rtol=1e-5, atol=1e-5)
    assert np.isnan(img[m]).all()  # the gap where the rule is drawn


def test_equation_quotes_the_live_result(make_window, qtbot):
    w = make_window(conform(Session(preset="orthogonal"), n_head=2))
    w._select_head(1)
    view = show(qtbot, w, "weightedSumView")
    r, labels = w.result, w.result.display_labels
    q = default_query(r)
    text = view.equation.text()
    assert text.startswith(f"y({labels[q]}) = ")
    terms = re.findall(r"([0-9.]+)·v\(([^)]+)\)", text)
    assert terms
    for num, name in terms:
        j = labels.index(name)
        assert float(num) == pytest.approx(r.weights[1, q, j], abs=0.005)
    assert view.headLabel.text().startswith("in head 1")


def test_heatmap_row_click_selects_the_query(make_window, qtbot):
    w = make_window()
    view = show(qtbot, w, "weightedSumView")
    assert view.ws.query == default_query(w.result)
    heat = w.attentionHeatmap
    vb = heat.plot.getViewBox()
    scene = vb.mapViewToScene(QtCore.QPointF(2.5, 3.5))  # row 3, column 2
    pos = heat.mapFromScene(scene)
    qtbot.mouseClick(heat.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    settle(qtbot, w)
    assert w.doc.session.selected_query == 3
    assert view.ws.query == 3
    assert view.querySelector.currentIndex() == 3
    assert view.equation.text().startswith(f"y({w.result.display_labels[3]})")
    # picking a query in the view selects it in the window too
    view.querySelector.activated.emit(5)
    settle(qtbot, w)
    assert w.doc.session.selected_query == 5 and view.ws.query == 5


def test_query_edit_moves_head_lines(make_window, qtbot):
    w = make_window()
    view = show(qtbot, w, "headLines")
    before = view.lines
    assert len(before) > 0
    assert set(before.head.tolist()) == {0}
    w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0").setValue(-300)
    settle(qtbot, w)
    after = view.lines
    moved = len(after) != len(before) or not (
        np.array_equal(after.query, before.query)
        and np.array_equal(after.key, before.key)
        and np.allclose(after.weight, before.weight)
    )
    assert moved
    r = w.result
    np.testing.assert_allclose(after.weight, r.weights[0][after.query, after.key], rtol=1e-12)


def test_head_lines_hover_and_all_heads(make_window, qtbot):
    w = make_window(conform(Session(preset="orthogonal"), n_head=3))
    view = show(qtbot, w, "headLines")
    view.hover_token("left", 2)
    assert len(view.lines) and set(view.lines.query.tolist()) == {2}
    view.hover_token("right", 4)
    assert len(view.lines) and set(view.lines.key.tolist()) == {4}
    view.hover_token(None)
    view.findChild(QtWidgets.QCheckBox, "allHeadsToggle").setChecked(True)
    assert set(view.lines.head.tolist()) == {0, 1, 2}
    assert view.legend.text().count("head") == 3
    # a click on a query label picks that query
    vb = view.plot.getViewBox()
    scene = vb.mapViewToScene(QtCore.QPointF(-0.2, 6.0))
    assert view.token_at(scene) == ("left", 6)
    with qtbot.waitSignal(view.querySelected) as sig:
        qtbot.mouseClick(
            view.plotArea.viewport(), QtCore.Qt.MouseButton.LeftButton,
            pos=view.plotArea.mapFromScene(scene),
        )  # fmt: skip
    assert sig.args == [6]


def test_vectors_label_rows_and_write_one_hot_values(make_window, qtbot):
    text = "the bank and the bank"
    w = make_window(Session(text=text, embedding="one-hot"))
    view = show(qtbot, w, "vectorsView")
    assert view.labels == ["the₁", "bank₁", "and", "the₂", "bank₂"]
    assert view.shown_row_labels() == view.labels  # every token row is labelled
    x = w.result.x
    np.testing.assert_array_equal(view.images["X"].image, x)
    numbers = view.shown_numbers("X")
    assert len(numbers) == x.size
    assert numbers == ["1" if v == 1 else "0" for v in x.ravel()]
    np.testing.assert_allclose(view.images["V"].image, w.result.v[0], rtol=1e-6)
    np.testing.assert_allclose(view.images["Q"].image, w.result.q[0], rtol=1e-6)
    assert "X is one-hot" in view.caption.text()
    # a click on a row of any of the four matrices picks that token as the query
    vb = view.plots["K"].getViewBox()
    scene = vb.mapViewToScene(QtCore.QPointF(1.5, 2.5))
    assert view.cell_at(scene) == ("K", 2, 1)
    qtbot.mouseClick(
        view.area.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=view.area.mapFromScene(scene)
    )
    settle(qtbot, w)
    assert w.doc.session.selected_query == 2


@pytest.mark.parametrize("name", ["vectorsView", "weightedSumView", "headLines"])
def test_empty_single_and_masked_rows_do_not_crash(make_window, qtbot, name):
    w = make_window()
    view = show(qtbot, w, name)
    w.textBar.sentenceEdit.setPlainText("")
    w.textBar.flush()
    settle(qtbot, w)
    assert w.result.T == 0
    assert drawn_result(w, name) is w.result
    w.textBar.sentenceEdit.setPlainText("bank")
    w.textBar.flush()
    settle(qtbot, w)
    assert w.result.T == 1 and drawn_result(w, name) is w.result
    s = w.doc.session
    blocked = tuple((0, j) for j in range(9))  # query 0 may attend to nothing
    w.apply(replace(s, text="The dog chased the cat off the table.", blocked=blocked), "Cut")
    settle(qtbot, w)
    assert not w.result.weights[0, 0].any()
    assert drawn_result(w, name) is w.result
    if name == "weightedSumView":
        assert view.ws.masked_out and "masked" in view.equation.text()
        np.testing.assert_array_equal(view.ws.y, 0.0)
    if name == "headLines":
        view.hover_token("left", 0)
        assert len(view.lines) == 0


def test_dragging_flag_follows_the_projection_sliders(make_window, qtbot, monkeypatch):
    w = make_window()
    view = show(qtbot, w, "weightedSumView")
    held = QtCore.Qt.MouseButton.LeftButton
    monkeypatch.setattr(QtWidgets.QApplication, "mouseButtons", staticmethod(lambda: held))
    w.findChild(QtWidgets.QSlider, "weightSlider_v_0_0").setValue(40)
    settle(qtbot, w)
    assert w.insideView.drawn_state("weightedSumView")[3] is True  # drawn while held
    monkeypatch.setattr(
        QtWidgets.QApplication, "mouseButtons", staticmethod(lambda: QtCore.Qt.MouseButton(0))
    )
    w.projectionEditor.dragFinished.emit()  # the slider is let go
    state = w.insideView.drawn_state("weightedSumView")
    assert state[0] is w.result and state[3] is False
    np.testing.assert_allclose(view.ws.y, w.result.y[0, view.ws.query], rtol=1e-9)


def test_long_text_is_thinned_and_capped_on_screen(make_window, qtbot):
    text = " ".join(["the river bank and the money bank"] * 60)  # about 420 tokens
    w = make_window(conform(Session(text=text, preset="orthogonal"), n_head=4))
    assert w.result.T > 300
    vectors = show(qtbot, w, "vectorsView")
    assert "every" in vectors.caption.text()  # labels thinned, and it says so
    assert 1 < len(vectors.shown_row_labels()) < w.result.T
    assert vectors.shown_numbers("X") == []
    total = show(qtbot, w, "weightedSumView")
    assert total.ws.shown.size <= 10 and total.ws.rest.size > 0
    assert "heaviest" in total.note.text()
    lines = show(qtbot, w, "headLines")
    lines.findChild(QtWidgets.QCheckBox, "allHeadsToggle").setChecked(True)
    assert len(lines.lines) <= 4000
    if lines.lines.dropped:
        assert "heaviest" in lines.note.text()
    assert "labelled" in lines.note.text()


def test_token_chip_click_selects_the_query(make_window, qtbot):
    w = make_window()
    view = show(qtbot, w, "weightedSumView")
    chip = w.findChild(QtWidgets.QLabel, "tokenChip_4")
    qtbot.mouseClick(chip, QtCore.Qt.MouseButton.LeftButton)
    settle(qtbot, w)
    assert w.doc.session.selected_query == 4
    assert view.ws.query == 4 and view.querySelector.currentIndex() == 4


def test_signed_views_follow_the_score_colour_map(make_window, qtbot):
    w = make_window()
    view = show(qtbot, w, "weightedSumView")
    s = w.doc.session
    w.apply(replace(s, view=replace(s.view, score_colormap="CET-CBD1")), "Colours")
    settle(qtbot, w)
    assert view.image.getColorMap() is not None
    lut = view.image.getColorMap().getLookupTable(nPts=5)
    expected = pg.colormap.get("CET-CBD1").getLookupTable(nPts=5)
    np.testing.assert_array_equal(lut, expected)
    vectors = w.insideView.views["vectorsView"]
    np.testing.assert_array_equal(
        vectors.images["V"].getColorMap().getLookupTable(nPts=5), expected
    )
