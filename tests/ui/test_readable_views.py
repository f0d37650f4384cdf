"""Readable views, as a user sees them: labels, cell numbers, captions, the similarity pair.

(Named apart from tests/core/test_readability.py: pytest needs unique test module names.)
"""

import itertools
import math

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.readability import MAX_UNTHINNED, nice_step
from explorer.core.session import Session
from explorer.io.session_file import load_session
from explorer.resources import resource_path
from explorer.ui.heatmap import ATTENTION_CAPTIONS, HeatmapView, TokenAxis

WORDS = "cat dog sat ran mat park tree house red blue green big small old new".split()


def text_of(n: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n))


def settle(qtbot, w):
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)
    for _ in range(3):
        QtWidgets.QApplication.processEvents()


def naive_cosine(x):
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=1)
    out = np.zeros((len(x), len(x)))
    for i in range(len(x)):
        for j in range(len(x)):
            if n[i] > 0 and n[j] > 0:
                out[i, j] = float(x[i] @ x[j]) / (n[i] * n[j])
    return out


def bank_window(make_window, qtbot):
    w = make_window(load_session(resource_path("examples", "bank-two-sentences.attn.json")))
    w.rightTabs.setCurrentWidget(w.similarityView)
    settle(qtbot, w)
    return w


def scene_point(view: HeatmapView, row: float, col: float) -> QtCore.QPoint:
    """Viewport pixel of the view coordinates (col, row) of a heatmap."""
    scene = view.plot.getViewBox().mapViewToScene(QtCore.QPointF(col, row))
    return view.mapFromScene(scene)


def hover(view: HeatmapView, row: float, col: float) -> None:
    """Move the pointer to view coordinates (col, row) as the scene reports it.

    The scene's own signal rather than a synthetic mouse event: on a busy machine the cell
    tooltip pops up under the pointer and takes the synthetic events after it.
    """
    scene = view.plot.getViewBox().mapViewToScene(QtCore.QPointF(col, row))
    view.scene().sigMouseMoved.emit(scene)


# ------------------------------------------------------------------ labels
def test_40_tokens_every_label_is_drawn_with_subscripts(make_window, qtbot):
    w = make_window(Session(text=text_of(40)))
    assert w.result.T == 40
    hm = w.attentionHeatmap
    labels = w.result.display_labels
    assert labels[0] == "cat₁" and labels[15] == "cat₂"  # repeated words are told apart
    for axis in (hm.top_axis, hm.left_axis):
        assert axis.labels() == labels
        drawn = [i for i, _ in axis.label_positions()]
        assert drawn == list(range(40)), axis.orientation
        rect = axis.boundingRect()
        along = (
            (rect.left(), rect.right())
            if axis.orientation == "top"
            else (rect.top(), rect.bottom())
        )
        assert all(along[0] <= x <= along[1] for _, x in axis.label_positions())


def test_200_tokens_are_thinned_predictably_and_keep_the_selected_query(make_window, qtbot):
    w = make_window(Session(text=text_of(200), selected_query=37))
    assert w.result.T == 200
    hm = w.attentionHeatmap
    for axis in (hm.left_axis, hm.top_axis):
        plan = axis._layout()[0]
        drawn = [i for i, _ in axis.label_positions()]
        assert 37 in drawn  # the selected query, however thin the labels
        assert plan.step == nice_step(plan.step) and plan.step >= math.ceil(200 / MAX_UNTHINNED)
        grid = [i for i in drawn if i != 37]
        assert all(i % plan.step == 0 for i in grid)  # every k-th, from the count
        assert len(grid) >= 200 // plan.step - 3  # only neighbours of 37 and an edge give way
        height = QtGui.QFontMetricsF(axis.font()).height()
        xs = [x for _, x in axis.label_positions()]
        assert all(b - a >= height - 0.5 for a, b in itertools.pairwise(xs))
    # a click on another row moves the always-labelled one
    hm.cellClicked.emit(150, 3)
    settle(qtbot, w)
    assert 150 in [i for i, _ in hm.left_axis.label_positions()]


def test_hovering_an_axis_shows_the_full_token(qtbot):
    long_word = "internationalization"
    view = HeatmapView(title="A")
    qtbot.addWidget(view)
    labels = ["a", long_word, "b"]
    view.set_matrix(np.eye(3), labels)
    view.resize(240, 220)  # too small for the long label: it is abbreviated
    view.show()
    qtbot.waitExposed(view)
    for _ in range(3):
        QtWidgets.QApplication.processEvents()
    axis = view.left_axis
    fm = QtGui.QFontMetricsF(axis.font())
    room = axis.width() - 2 * TokenAxis.PAD
    assert fm.horizontalAdvance(long_word) > room  # it had to be abbreviated
    assert view.cell_px()[1] > 20  # and did not squeeze the matrix
    for row, label in enumerate(labels):
        _, y = axis.label_positions()[row]
        pos = axis.boundingRect().center()
        pos.setY(y)
        event = QtWidgets.QGraphicsSceneHoverEvent(QtCore.QEvent.Type.GraphicsSceneHoverMove)
        event.setPos(pos)
        axis.hoverMoveEvent(event)
        assert axis.toolTip() == label


def test_same_labels_are_not_laid_out_again(qtbot, monkeypatch):
    view = HeatmapView(title="A")
    qtbot.addWidget(view)
    rng = np.random.default_rng(0)
    view.set_matrix(rng.random((9, 9)), list("abcdefghi"))
    calls = []
    monkeypatch.setattr(TokenAxis, "_refit", lambda self: calls.append(self))
    for _ in range(5):  # slider ticks: new numbers, same tokens
        view.set_matrix(rng.random((9, 9)), list("abcdefghi"))
    assert calls == []
    view.set_matrix(rng.random((9, 9)), list("abcdefghj"))
    assert len(calls) == 2  # new tokens: both axes once


# ----------------------------------------------------------- cell numbers
@pytest.mark.parametrize("width", [260, 330, 420, 560, 800])
def test_no_cell_number_is_wider_than_its_cell(qtbot, width):
    view = HeatmapView(title="A")
    qtbot.addWidget(view)
    n = 12
    data = np.full((n, n), 0.92)
    np.fill_diagonal(data, 1.0)  # "1.00" beside ".92": the pair once drawn as "1.00.92"
    data[0, 1] = -0.5
    view.set_matrix(data, [f"w{i}" for i in range(n)], levels=(-1, 1))
    view.resize(width, width)
    view.show()
    qtbot.waitExposed(view)
    QtWidgets.QApplication.processEvents()
    shown = view.value_texts()
    cell_w, cell_h = view.cell_px()
    fm = QtGui.QFontMetricsF(view.value_font())
    for text in shown:
        assert fm.horizontalAdvance(text) <= cell_w, (text, cell_w)
        assert fm.height() <= cell_h
    if shown:
        assert len(shown) == n * n  # all numbers or none: no patchwork
    widest = QtGui.QFontMetricsF(view.value_font()).horizontalAdvance("1.00")
    assert bool(shown) == (
        widest + 4 <= cell_w and QtGui.QFontMetricsF(view.value_font()).height() <= cell_h
    )


def test_numbers_show_when_they_fit(qtbot):
    view = HeatmapView(title="A")
    qtbot.addWidget(view)
    view.set_matrix(np.eye(4), list("abcd"))
    view.resize(600, 600)
    view.show()
    qtbot.waitExposed(view)
    QtWidgets.QApplication.processEvents()
    texts = sorted(view.value_texts())
    assert texts == [".00"] * 12 + ["1.00"] * 4


# ---------------------------------------------------------------- captions
def test_attention_heatmaps_say_what_rows_and_columns_are(make_window, qtbot, tmp_path):
    w = make_window()
    hm = w.attentionHeatmap
    assert hm.captions() == ATTENTION_CAPTIONS
    assert hm.left_axis.caption() == "row: query, the word being updated"
    assert hm.top_axis.caption() == "column: key, the word it looks at"
    assert hm._note.text == "each row sums to 1" and hm._note.isVisible()
    assert hm.title.text.startswith("head 0: attention weights A = softmax(QKᵀ·s)")
    caption = w.pipelineView.caption.text()
    assert ATTENTION_CAPTIONS.row in caption and ATTENTION_CAPTIONS.col in caption


def test_rendered_heatmap_carries_the_captions(qtbot, tmp_path):
    import xml.etree.ElementTree as ET

    from explorer.core.pipeline import compute
    from explorer.ui.export.figures import export_widget
    from explorer.ui.export.render import build_view

    session = load_session(resource_path("examples", "bank-two-sentences.attn.json"))
    view = build_view("heatmap", session, compute(session))
    qtbot.addWidget(view)
    root = ET.parse(export_widget(view, tmp_path / "h.svg")).getroot()
    texts = {"".join(e.itertext()).strip() for e in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"column: key, the word it looks at", "each row sums to 1", "bank₁", "bank₂"} <= texts
    assert (
        "row: query, the word being updated" in texts
        or {
            "row: query,",
            "the word being updated",
        }
        <= texts
    )


# ---------------------------------------------------------------- similarity
def test_bank_pinned_readout_shows_both_numbers_with_subscripts(make_window, qtbot):
    w = bank_window(make_window, qtbot)
    sim = w.similarityView
    r = w.result
    labels = r.display_labels
    i, j = labels.index("bank₁"), labels.index("bank₂")
    static, contextual = sim.matrices()
    np.testing.assert_allclose(static, naive_cosine(r.v[0]), atol=1e-9)  # one space: v ...
    np.testing.assert_allclose(contextual, naive_cosine(r.y[0]), atol=1e-9)  # ... and y = A v
    want_s, want_c = naive_cosine(r.v[0])[i, j], naive_cosine(r.y[0])[i, j]
    text = sim.readout.text()
    assert text == f"cos(bank₁, bank₂): static {want_s:.2f} → contextual {want_c:.2f}"
    assert text == "cos(bank₁, bank₂): static 1.00 → contextual 0.94"
    assert sim.pair() == (i, j)
    assert "value space of head 0" in sim.caption.text()
    # a click pins another pair; clicking it again goes back to the default
    river = labels.index("river")
    qtbot.mouseClick(
        sim.contextual.viewport(),
        QtCore.Qt.MouseButton.LeftButton,
        pos=scene_point(sim.contextual, i + 0.5, river + 0.5),
    )
    assert sim.pair() == (i, river)
    assert sim.readout.text().startswith("cos(bank₁, river): static ")
    assert f"contextual {naive_cosine(r.y[0])[i, river]:.2f}" in sim.readout.text()
    sim.pin(i, river)
    assert sim.pair() == (i, j)


def _lab(rgb):
    """CIE L*a*b* (D65) of an sRGB colour given as 0-255 values."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ c / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _pixel_lab(view: HeatmapView, row: int, col: int):
    image = view.grab().toImage()
    p = scene_point(view, row + 0.5, col + 0.5) * view.devicePixelRatioF()
    colour = image.pixelColor(p)
    return _lab((colour.red(), colour.green(), colour.blue()))


def test_auto_contrast_tells_094_from_100(make_window, qtbot):
    w = bank_window(make_window, qtbot)
    sim = w.similarityView
    labels = w.result.display_labels
    i, j = labels.index("bank₁"), labels.index("bank₂")
    _, contextual = sim.matrices()
    assert contextual[i, j] == pytest.approx(0.94, abs=0.005)
    assert contextual[j, j] == pytest.approx(1.0)
    view = sim.contextual
    view.set_show_values(False)  # sample the cell colour, not a number on it
    assert sim.autoContrast.isChecked()  # on by default
    on = np.linalg.norm(_pixel_lab(view, i, j) - _pixel_lab(view, j, j))
    lo, hi = view._levels
    assert lo <= contextual.min() + 1e-9 and hi >= 1.0 - 1e-9 and lo > -1.0
    sim.autoContrast.setChecked(False)
    QtWidgets.QApplication.processEvents()
    assert view._levels == (-1.0, 1.0)
    off = np.linalg.norm(_pixel_lab(view, i, j) - _pixel_lab(view, j, j))
    assert on > 20  # CIE ΔE: about 2 is just noticeable; over 20 is plainly another colour
    assert on > 2 * off
    # the colour bar is labelled at the ends of the range in use
    sim.autoContrast.setChecked(True)
    ticks = [t for t, _ in view._colorbar_ticks]
    assert ticks == pytest.approx([lo, hi])


def test_similarity_hover_speaks_of_cosine_and_clears(make_window, qtbot):
    w = bank_window(make_window, qtbot)
    sim = w.similarityView
    labels = w.result.display_labels
    i, j = labels.index("bank₁"), labels.index("bank₂")
    hover(sim.contextual, i + 0.5, j + 0.5)
    assert sim.contextual._hover == (i, j)
    text = w.statusBar().currentMessage()
    assert text.startswith("cosine similarity cos(bank₁, bank₂): static +1.000 → contextual +0.9")
    assert "weight" not in text and "score" not in text and "query" not in text
    assert "attention" not in text
    # leaving the matrix clears it
    hover(sim.contextual, -2.0, -2.0)
    assert w.statusBar().currentMessage() == ""
    # the attention heatmap speaks of attention, with subscripts
    hover(w.attentionHeatmap, j + 0.5, i + 0.5)
    text = w.statusBar().currentMessage()
    assert "query 12 'bank₂' → key 5 'bank₁'" in text and "weight" in text
    # a new Result clears a hover message that would now be stale
    w.apply(w.doc.session.evolve(temperature=2.0), "Temperature")
    settle(qtbot, w)
    assert w.statusBar().currentMessage() == ""


def test_similarity_waits_while_hidden_and_switches_space(make_window, qtbot):
    w = bank_window(make_window, qtbot)
    sim = w.similarityView
    w.rightTabs.setCurrentIndex(0)  # Projections in front: the pair is hidden
    before = sim.matrices()[1].copy()
    w.apply(w.doc.session.evolve(temperature=1.0), "Temperature")
    settle(qtbot, w)
    r = w.result
    assert not np.allclose(naive_cosine(r.y[0]), before, atol=1e-6)  # the edit changed y
    np.testing.assert_array_equal(sim.matrices()[1], before)  # not redrawn while hidden
    w.rightTabs.setCurrentWidget(sim)
    np.testing.assert_allclose(sim.matrices()[1], naive_cosine(r.y[0]), atol=1e-9)
    np.testing.assert_allclose(sim.contextual.data, naive_cosine(r.y[0]), atol=1e-6)
    # the other comparison: embeddings against the outputs of all heads
    sim.spaceBox.setCurrentIndex(sim.spaceBox.findData("embedding"))
    static, contextual = sim.matrices()
    np.testing.assert_array_equal(static, r.static_similarity)
    np.testing.assert_array_equal(contextual, r.contextual_similarity)
    assert sim.static.title.text == "static: cos(xᵢ, xⱼ)"
    assert "two different spaces" in sim.caption.text()
    for widget in (sim.spaceBox, sim.autoContrast, sim.readout, sim.caption):
        assert widget.objectName() and widget.toolTip()


def test_pipeline_output_hover_names_the_output_not_a_key(make_window, qtbot):
    w = bank_window(make_window, qtbot)
    y_view = w.pipelineView.panels["y"]
    labels = w.result.display_labels
    i = labels.index("bank₂")
    hover(y_view, i + 0.5, 3.5)
    text = w.statusBar().currentMessage()
    assert text == f"output y of 'bank₂', dimension 3: {float(w.result.y[0, i, 3]):+.3f}"
    hover(y_view, -2.0, -2.0)
    assert w.statusBar().currentMessage() == ""
    hover(w.pipelineView.panels["weights"], i + 0.5, 2.5)  # the others speak of attention
    assert "query 12 'bank₂' → key 2 'by'" in w.statusBar().currentMessage()
