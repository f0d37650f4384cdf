"""embeddingMap and qkMap as a user sees them: dots, arrows, lines, caption.

Numbers on screen are checked against an independent float64 PCA (eigenvectors of the
covariance, largest loading positive), never bit for bit.
"""

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core import map_layout, maps
from explorer.core.embeddings import BUILTIN_FILE
from explorer.core.pipeline import compute, is_long
from explorer.core.session import Head, Session
from explorer.core.tokenizer import token_to_id
from explorer.io.session_file import load_session
from explorer.resources import resource_path
from explorer.ui.views.embedding_map import EmbeddingMapView
from explorer.ui.views.qk_map import QKMapView, line_width

BANK = resource_path("examples", "bank-two-sentences.attn.json")


def reference_plane(points):
    p = np.asarray(points, dtype=np.float64)
    mean = p.mean(axis=0)
    vals, vecs = np.linalg.eigh((p - mean).T @ (p - mean))
    basis = vecs[:, np.argsort(vals)[::-1][:2]]
    for a in range(2):
        if basis[np.argmax(np.abs(basis[:, a])), a] < 0:
            basis[:, a] *= -1
    return mean, basis


def edited(session, which, row, col, delta, head=0):
    h = session.heads[head]
    new = h.with_weight(which, row, col, h.matrix(which)[row, col] + delta)
    heads = tuple(new if i == head else x for i, x in enumerate(session.heads))
    return Session(**{**session.__dict__, "heads": heads})


def move_mouse(widget, pos: QtCore.QPoint) -> None:
    """A plain mouse move (no button), as the pointer sends it; QTest's does not reach
    pyqtgraph's scene on the offscreen platform."""
    local = QtCore.QPointF(pos)
    event = QtGui.QMouseEvent(
        QtCore.QEvent.Type.MouseMove,
        local,
        QtCore.QPointF(widget.mapToGlobal(pos)),
        QtCore.Qt.MouseButton.NoButton,
        QtCore.Qt.MouseButton.NoButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(widget, event)


def scatter_pos(item) -> np.ndarray:
    x, y = item.getData()
    return np.column_stack([x, y])


@pytest.fixture
def bank():
    return load_session(BANK)


@pytest.fixture
def shown(qtbot):
    def make(cls, **kw):
        view = cls(**kw)
        qtbot.addWidget(view)
        view.resize(900, 650)
        view.show()
        qtbot.waitExposed(view)
        return view

    return make


def random_session(seed=0, text="The dog chased the cat off the table."):
    rng = np.random.default_rng(seed)
    heads = (Head(*(rng.standard_normal((8, 8)) * 0.6 for _ in range(3))),)
    return Session(text=text, heads=heads, temperature=2.0)


# ------------------------------------------------------------------ embeddingMap
def test_w_v_edit_changes_the_map_and_not_the_weights(shown, bank):
    view = shown(EmbeddingMapView)
    assert view.objectName() == "embeddingMap" and view.toolTip()
    r1 = compute(bank)
    q = r1.display_labels.index("bank₂")
    view.show_result(r1, 0, q)
    before = scatter_pos(view.values)
    mean, basis = reference_plane(np.concatenate([r1.v[0], r1.y[0]]))
    np.testing.assert_allclose(before, (r1.v[0] - mean) @ basis, atol=1e-6)
    r2 = compute(edited(bank, "v", 5, 1, 1.5))  # a W_V slider moved
    np.testing.assert_allclose(r2.weights, r1.weights, rtol=0, atol=1e-12)
    view.show_result(r2, 0, q, dragging=True)
    after = scatter_pos(view.values)
    assert np.abs(after - before).max() > 1e-2
    p = view.projection
    np.testing.assert_allclose(after, (r2.v[0] - p.mean) @ p.basis, atol=1e-9)


def test_arrows_end_at_the_projected_contextual_vectors(shown):
    view = shown(EmbeddingMapView)
    r = compute(random_session(1))
    view.show_result(r, 0, 2)
    mean, basis = reference_plane(np.concatenate([r.v[0], r.y[0]]))
    y_flat = (r.y[0] - mean) @ basis  # (T, 2)
    x, y = view.arrows.getData()
    seg = np.column_stack([x, y]).reshape(-1, 6, 2)  # shaft, then two barbs, per arrow
    assert len(seg) == r.T
    np.testing.assert_allclose(seg[:, 1], y_flat, atol=1e-6)
    np.testing.assert_allclose(seg[:, 0], (r.v[0] - mean) @ basis, atol=1e-6)
    np.testing.assert_allclose(scatter_pos(view.outputs), y_flat, atol=1e-6)
    # the selected query's arrow is drawn on top, ending at its y
    sx, sy = view.selected_arrow.getData()
    np.testing.assert_allclose([sx[1], sy[1]], y_flat[2], atol=1e-6)
    assert "of variance shown" in view.caption.text()


def test_projection_is_held_while_dragging_and_refitted_after(shown):
    view = shown(EmbeddingMapView)
    s = random_session(2)
    r1 = compute(s)
    view.show_result(r1, 0, None)
    held = view.projection
    r2 = compute(edited(s, "v", 0, 0, 2.0))
    view.show_result(r2, 0, None, dragging=True)
    assert view.projection is held
    assert "held" in view.caption.text()
    (x0, x1), (y0, y1) = view.view_box.viewRange()  # the dots that moved are still in view
    pts = np.concatenate([scatter_pos(view.values), scatter_pos(view.outputs)])
    assert (pts[:, 0] >= x0).all() and (pts[:, 0] <= x1).all()
    assert (pts[:, 1] >= y0).all() and (pts[:, 1] <= y1).all()
    view.show_result(r2, 0, None, dragging=False)  # slider released
    assert view.projection is not held
    mean, basis = reference_plane(np.concatenate([r2.v[0], r2.y[0]]))
    np.testing.assert_allclose(view.projection.mean, mean, atol=1e-12)
    np.testing.assert_allclose(view.projection.basis, basis, atol=1e-7)
    assert "held" not in view.caption.text()
    # new token texts refit even while a slider is down
    view.show_result(r2, 0, None, dragging=True)
    held = view.projection
    r3 = compute(Session(**{**edited(s, "v", 0, 0, 2.0).__dict__, "text": "a river bank"}))
    view.show_result(r3, 0, None, dragging=True)
    assert view.projection is not held


def test_both_banks_share_one_dot_and_one_label_before_attention(shown, bank):
    view = shown(EmbeddingMapView)
    r = compute(bank)
    view.show_result(r, 0, r.display_labels.index("bank₂"))
    labels = view.label_texts()
    assert "bank₁, bank₂" in labels and "y(bank₂)" in labels
    b1, b2 = r.display_labels.index("bank₁"), r.display_labels.index("bank₂")
    pts = scatter_pos(view.values)
    np.testing.assert_allclose(pts[b1], pts[b2], atol=1e-12)
    ends = scatter_pos(view.outputs)
    assert np.linalg.norm(ends[b1] - ends[b2]) > 0.5


def test_reference_words_go_through_the_same_w_v(shown, bank):
    s = edited(bank, "v", 2, 3, 0.9)
    view = shown(EmbeddingMapView, session_source=lambda: s)
    r = compute(s)
    view.show_result(r, 0, None)
    assert not view.references.isVisible() and len(view.reference_points) == 0
    view.referenceCheck.setChecked(True)
    assert view.references.isVisible()
    with np.load(resource_path(*BUILTIN_FILE), allow_pickle=False) as data:
        table = data["vectors"].astype(np.float64)
    x_ref = table[[token_to_id(w) for w in maps.REFERENCE_WORDS], :8]
    p = view.projection
    expected = (x_ref @ s.heads[0].w_v - p.mean) @ p.basis
    assert view.reference_words == maps.REFERENCE_WORDS
    np.testing.assert_allclose(scatter_pos(view.references), expected, atol=1e-9)
    # river and money are in the text: with this W_V their reference dots are the text's dots
    pts = scatter_pos(view.values)
    river = maps.REFERENCE_WORDS.index("river")
    np.testing.assert_allclose(expected[river], pts[r.labels.index("river")], atol=1e-9)
    assert "dog" in view.label_texts()
    # a session that is not the result's (its W_V moved on, the result not yet) never
    # feeds reference points: those of the last matching session stay until it catches up
    later = edited(s, "v", 0, 0, 3.0)
    current = {"s": later}
    view.set_session_source(lambda: current["s"])
    view.show_result(r, 0, None)
    assert len(view.reference_points) == 0  # nothing matched yet
    current["s"] = s
    view.show_result(r, 0, None)
    np.testing.assert_allclose(view.reference_points, expected, atol=1e-9)
    current["s"] = later
    view.show_result(r, 0, None, dragging=True)
    np.testing.assert_allclose(view.reference_points, expected, atol=1e-9)
    r_later = compute(later)
    view.show_result(r_later, 0, None, dragging=True)
    fresh = (x_ref @ later.heads[0].w_v - p.mean) @ p.basis
    np.testing.assert_allclose(view.reference_points, fresh, atol=1e-9)
    view.referenceCheck.setChecked(False)
    assert not view.references.isVisible()


def test_clicking_a_value_dot_selects_that_query(shown, qtbot):
    view = shown(EmbeddingMapView)
    r = compute(random_session(3))
    view.show_result(r, 0, None)
    target = scatter_pos(view.values)[4]
    with qtbot.waitSignal(view.querySelected, timeout=15_000) as sig:
        qtbot.mouseClick(
            view.plot.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=view.widget_pos_of(target)
        )
    assert sig.args == [4]


@pytest.mark.parametrize("cls", [EmbeddingMapView, QKMapView])
def test_degenerate_results(shown, cls):
    view = shown(cls)
    view.show_result(compute(Session(text="")), 0, None)
    assert "No tokens" in view.caption.text() and view.label_texts() == []
    view.show_result(compute(Session(text="dog")), 0, 0)
    assert view.label_texts() and np.isfinite(view.projection.basis).all()
    masked = Session(text="The dog chased the cat.", blocked=tuple((1, j) for j in range(6)))
    r = compute(masked)
    view.show_result(r, 0, 1)
    if cls is EmbeddingMapView:
        assert len(scatter_pos(view.outputs)) == r.T - 1
        assert "1 fully masked row" in view.caption.text()
        assert "y(dog)" not in view.label_texts()
    else:
        assert not any(line.isVisible() for line in view.lines)
    view.show_result(compute(Session(text="the the the")), 0, 0)
    assert np.isfinite(scatter_pos(view.values if cls is EmbeddingMapView else view.queries)).all()


@pytest.mark.parametrize("cls", [EmbeddingMapView, QKMapView])
def test_long_texts_thin_the_labels_and_say_so(shown, cls):
    text = " ".join(["word"] * 100 + [f"w{i}" for i in range(400)])
    r = compute(Session(text=text))
    assert r.T == 1228 and is_long(r)  # past 1,024 tokens: the stages are computed lazily
    view = shown(cls)
    view.show_result(r, 0, 7)
    assert len(view.label_texts()) <= map_layout.MAX_LABELS + 1
    assert f"of {r.T} tokens" in view.caption.text()
    view.show_result(r, 0, 7, dragging=True)  # a tick reuses the items
    assert len(view.label_texts()) <= map_layout.MAX_LABELS + 1


def test_a_hidden_view_does_not_draw_until_shown(shown, qtbot):
    view = shown(QKMapView)
    view.hide()
    view.show_result(compute(random_session(4)), 0, 1)
    assert view.draws == 0
    view.show()
    qtbot.waitUntil(lambda: view.draws == 1, timeout=15_000)
    assert len(scatter_pos(view.queries)) == 9


# ------------------------------------------------------------------------ qkMap
def test_w_q_edit_moves_the_queries_and_not_the_keys(shown):
    view = shown(QKMapView)
    assert view.objectName() == "qkMap" and view.toolTip()
    s = random_session(5)
    r1 = compute(s)
    view.show_result(r1, 0, 0)
    q1, k1 = scatter_pos(view.queries), scatter_pos(view.keys)
    mean, basis = reference_plane(np.concatenate([r1.q[0], r1.k[0]]))
    np.testing.assert_allclose(q1, (r1.q[0] - mean) @ basis, atol=1e-6)
    np.testing.assert_allclose(k1, (r1.k[0] - mean) @ basis, atol=1e-6)
    r2 = compute(edited(s, "q", 3, 1, 1.2))  # a W_Q slider moved
    view.show_result(r2, 0, 0, dragging=True)
    np.testing.assert_allclose(scatter_pos(view.keys), k1, atol=1e-12)
    assert np.abs(scatter_pos(view.queries) - q1).max() > 1e-2
    assert f"{r2.scale:.4g}" in view.caption.text()


def test_hovering_a_query_draws_lines_to_its_keys(shown, qtbot):
    view = shown(QKMapView)
    s = random_session(6)
    r = compute(s)
    view.show_result(r, 0, None)
    assert not any(line.isVisible() for line in view.lines)
    i = 2  # "chased": a word that occurs once, so no other query sits on it
    move_mouse(view.plot.viewport(), view.widget_pos_of(scatter_pos(view.queries)[i]))
    qtbot.waitUntil(lambda: view.hovered == i, timeout=15_000)
    keys, weights = map_layout.attention_lines(r.weights[0][i])
    visible = [line for line in view.lines if line.isVisible()]
    assert len(visible) == len(keys) > 0
    for line, j, w in zip(visible, keys, weights, strict=True):
        x, y = line.getData()
        np.testing.assert_allclose([x[0], y[0]], scatter_pos(view.queries)[i], atol=1e-9)
        np.testing.assert_allclose([x[1], y[1]], scatter_pos(view.keys)[j], atol=1e-9)
        assert line.opts["pen"].widthF() == pytest.approx(line_width(w))
    widths = [line.opts["pen"].widthF() for line in visible]
    assert widths == sorted(widths, reverse=True)  # thicker where the weight is larger
    assert r.display_labels[i] in view.readout.text()
    view.hover_query(None)
    assert not any(line.isVisible() for line in view.lines)


def test_reference_words_that_cannot_be_embedded_say_so_in_one_line(shown, bank):
    from explorer.core.session import ModelRef

    no_model = Session(**{**bank.__dict__, "embedding": "model", "model": ModelRef("gone")})
    view = shown(EmbeddingMapView, session_source=lambda: no_model)
    view.referenceCheck.setChecked(True)
    view.show_result(compute(bank), 0, None)
    text = view.caption.text()
    assert "Reference words unavailable: no model loaded" in text
    assert "Traceback" not in text and "\n" not in text
    assert len(view.reference_points) == 0 and len(scatter_pos(view.values)) == 14


@pytest.mark.parametrize("cls", [EmbeddingMapView, QKMapView])
def test_clear_forgets_the_result(shown, cls):
    view = shown(cls)
    view.show_result(compute(random_session(7)), 0, 1)
    assert view.label_texts()
    view.clear()
    assert view.projection is None and view.result is None
    assert view.label_texts() == [] and view.caption.text() == ""
    pos = scatter_pos(view.values if cls is EmbeddingMapView else view.queries)
    assert len(pos) == 0


# ------------------------------------------------------------------ in the window
def test_maps_in_the_window_follow_sliders_and_pick_queries(make_window, qtbot, bank):
    w = make_window(bank)
    w.show_inside("embeddingMap")
    view = w.findChild(EmbeddingMapView, "embeddingMap")
    qtbot.waitUntil(lambda: view.result is w.result, timeout=10_000)
    weights = np.array(w.result.weights)
    before = scatter_pos(view.values)
    view.referenceCheck.setChecked(True)  # reads the window's session: same W_V
    assert view.reference_words == maps.REFERENCE_WORDS
    w.findChild(QtWidgets.QSlider, "weightSlider_v_0_1").setValue(150)
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)
    qtbot.waitUntil(lambda: view.result is w.result, timeout=10_000)
    np.testing.assert_allclose(w.result.weights, weights, rtol=0, atol=1e-12)
    assert np.abs(scatter_pos(view.values) - before).max() > 1e-2
    p = view.projection
    expected = (
        maps.reference_values(maps.reference_inputs(w.doc.session), w.doc.session.heads[0].w_v)
        - p.mean
    ) @ p.basis
    np.testing.assert_allclose(scatter_pos(view.references), expected, atol=1e-9)
    # clicking a dot picks that query in the session
    river = w.result.labels.index("river")
    qtbot.wait(50)  # let a caption that wrapped differently settle the layout first
    with qtbot.waitSignal(view.querySelected, timeout=5_000) as picked:
        qtbot.mouseClick(
            view.plot.viewport(),
            QtCore.Qt.MouseButton.LeftButton,
            pos=view.widget_pos_of(scatter_pos(view.values)[river]),
        )
    assert picked.args == [river]
    qtbot.waitUntil(lambda: w.doc.session.selected_query == river, timeout=10_000)
    w.show_inside("qkMap")
    qk = w.findChild(QKMapView, "qkMap")
    qtbot.waitUntil(lambda: qk.result is w.result and qk.query == river, timeout=10_000)
    assert "river" in qk.readout.text()


@pytest.mark.parametrize("cls", [EmbeddingMapView, QKMapView])
def test_labels_on_screen_never_overlap(qtbot, cls, bank):
    view = cls(session_source=lambda: bank) if cls is EmbeddingMapView else cls()
    qtbot.addWidget(view)
    view.resize(460, 340)  # a small tab: the function words crowd together
    view.show()
    qtbot.waitExposed(view)
    if cls is EmbeddingMapView:
        view.referenceCheck.setChecked(True)
    r = compute(bank)
    q = r.display_labels.index("bank₂")
    view.show_result(r, 0, q)
    qtbot.wait(20)
    items = [it for it in view._labels[: view._shown_labels] if it.isVisible()]
    rects = [it.textItem.sceneBoundingRect() for it in items]
    for a in range(len(rects)):
        for b in range(a):
            inter = rects[a].intersected(rects[b])
            assert inter.width() <= 1 or inter.height() <= 1, (
                items[a].toPlainText(),
                items[b].toPlainText(),
            )
    assert "bank₁, bank₂" in view.label_texts()[0]  # the query keeps its label
    if len(view.labelled_tokens) < r.T:
        assert f"of {r.T} tokens" in view.caption.text()


def test_bench_maps_runs_every_case(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_maps.py"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, str(bench), "--ticks", "3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert len(rows) == 5, proc.stdout
    assert [int(r[-5]) for r in rows] == [9, 9, 9, 1228, 1228]  # T of each case
    assert all(float(r[-4]) > 0 and float(r[-1]) > 0 for r in rows)
