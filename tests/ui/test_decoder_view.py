"""The Decoder tab in the real window: the built-in decoder on the session's text, its grid,
the causal hatch, next-token bars, the logit lens, head ablation with undo, generation, and
cancellable loading."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.decoder_readout import next_tokens
from explorer.core.models import load_model
from explorer.core.session import DecoderRef, Session
from explorer.resources import resource_path

COPY_TEXT = "zebra quilt mango violin harbor. zebra quilt mango violin"
WAIT = 30_000


@pytest.fixture(scope="module")
def tiny():
    return load_model(resource_path("models", "tiny-induction"), "tiny-induction")


def _open(make_window, qtbot, session):
    w = make_window(session)
    view = w.decoderView
    w.workspaceTabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.output is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: view.lens is not None and view.lens.source is view.output, timeout=WAIT)
    return w, view


def test_decoder_tab_draws_the_model_on_the_text(make_window, qtbot, tiny):
    w, view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    c = tiny.config
    assert view.model.name == "tiny-induction"
    assert view.combo.currentText().startswith("tiny-induction")
    assert "2 layers × 4 heads" in view.details.text()
    assert view.grid.count == c.n_layer * c.n_head
    badges = view.grid.badges()
    for layer, head in view.circuit.induction:
        assert badges[layer * c.n_head + head] == "IND"
    for layer, head in view.circuit.previous_token:
        assert badges[layer * c.n_head + head] == "PREV"
    ref = tiny.forward(COPY_TEXT)
    np.testing.assert_allclose(view.output.attentions, ref.attentions, atol=1e-6)
    # the causal mask is drawn hatched: the upper triangle has no value
    data = view.head.data
    T = ref.n_tokens
    assert data.shape == (T, T)
    assert np.all(np.isneginf(data[np.triu_indices(T, 1)]))
    assert np.all(np.isfinite(data[np.tril_indices(T)]))
    # next-token bars show the top 10 with their numbers written out
    want = next_tokens(tiny, ref)
    rows = view.nextPanel.bars.rows()
    assert [t for t, _ in rows] == list(want.tokens)
    assert rows[0][1] == f"{100 * want.probs[0]:.1f}%"
    # the logit lens: one row per layer plus the embeddings, one column per token
    assert view.lensTable.rowCount() == c.n_layer + 1
    assert view.lensTable.columnCount() == T
    top = view.lens.tokens[-1][T - 1]
    assert view.lensTable.cell_text(c.n_layer, T - 1).startswith(top)
    # induction and previous-token heads are labelled from their measured scores
    assert view.circuit is not None and view.circuit.induction
    layer, head = view.circuit.induction[0]
    view.select(layer, head)
    assert w.doc.session.decoder.layer == layer and w.doc.session.decoder.head == head
    assert "induction" in view.head.title.text


def test_ablating_the_induction_head_is_live_and_undoable(make_window, qtbot, tiny):
    w, view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    before = view.nextPanel.bars.rows()[0][0]
    assert before == "·h"
    heads = view.circuit.induction
    for layer, head in heads:
        view.select(layer, head)
        view.ablateButton.click()
    edits = w.doc.session.decoder.edits
    assert {(e.layer, e.head, e.scale) for e in edits} == {(a, b, 0.0) for a, b in heads}
    qtbot.waitUntil(lambda: len(view.output.edits) == len(heads), timeout=WAIT)
    qtbot.waitUntil(lambda: view.nextPanel.bars.rows()[0][0] != "·h", timeout=WAIT)
    assert "×0" in view.editsLabel.text()
    assert all("×0" in view.grid.badges()[a * 4 + b] for a, b in heads)
    for _ in heads:
        w.doc.undo_stack.undo()
    while w.doc.session.decoder is not None and w.doc.session.decoder.layer != 0:
        w.doc.undo_stack.undo()
    qtbot.waitUntil(lambda: not view.edits(), timeout=WAIT)
    qtbot.waitUntil(lambda: view.nextPanel.bars.rows()[0][0] == "·h", timeout=WAIT)


def test_clicking_a_row_predicts_after_that_token(make_window, qtbot, tiny):
    w, view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    view.select_position(3)
    assert w.doc.session.decoder.position == 3
    qtbot.waitUntil(lambda: "position 3" in view.nextPanel.caption.text(), timeout=WAIT)
    want = next_tokens(tiny, tiny.forward(COPY_TEXT), 3)
    assert [t for t, _ in view.nextPanel.bars.rows()] == list(want.tokens)


def test_generate_appends_tokens_as_one_undo_step(make_window, qtbot, tiny):
    w, view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    view.generatePanel.count.setValue(3)
    view.generatePanel.manyButton.click()
    qtbot.waitUntil(lambda: w.doc.session.text != COPY_TEXT, timeout=WAIT)
    ids = list(tiny.tokenize(COPY_TEXT).ids)
    new = []
    for _ in range(3):
        nxt = int(np.argmax(tiny.forward(np.array(ids)).logits[-1]))
        ids.append(nxt)
        new.append(nxt)
    assert w.doc.session.text == COPY_TEXT + tiny.tokenizer.decode(new)
    assert not view.generatePanel.progress.isVisible()
    w.doc.undo_stack.undo()
    assert w.doc.session.text == COPY_TEXT


def test_a_missing_decoder_is_reported(make_window, qtbot):
    w = make_window(replace(Session(), decoder=DecoderRef("org/not-here")))
    view = w.decoderView
    w.workspaceTabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.message.isVisible(), timeout=WAIT)
    assert "org/not-here" in view.message.text() and "not on this computer" in view.message.text()
    assert view.output is None


def test_loading_shows_progress_and_cancel_stops_it(make_window, qtbot, monkeypatch):
    import explorer.ui.decoder.work as dv

    started = threading.Event()

    def slow_load(path, name, progress=None):
        for i in range(2000):  # about 20 s unless cancelled
            progress(i, 2000)
            started.set()
            time.sleep(0.01)
        raise AssertionError("the load was not cancelled")

    monkeypatch.setattr(dv, "load_model", slow_load)
    w = make_window(replace(Session(), text=COPY_TEXT))
    view = w.decoderView
    w.workspaceTabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.loadBar.isVisible(), timeout=WAIT)
    assert started.wait(10)
    qtbot.waitUntil(lambda: view.loadBar.maximum() > 0 and view.loadBar.value() > 0, timeout=WAIT)
    assert view.cancelButton.isVisible()
    qtbot.mouseClick(view.cancelButton, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.loadBar.isVisible(), timeout=WAIT)
    assert "cancelled" in view.message.text()
    assert view.model is None and view.combo.isEnabled()


def test_typing_an_a_in_the_text_never_ablates(make_window, qtbot):
    w, _view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    edit = w.findChild(QtWidgets.QPlainTextEdit)
    edit.setFocus()
    edit.moveCursor(QtGui.QTextCursor.MoveOperation.End)
    qtbot.keyClicks(edit, " a")
    w.textBar.flush()
    assert w.doc.session.text == COPY_TEXT + " a"
    assert w.doc.session.decoder is None or not w.doc.session.decoder.edits


def test_models_that_cannot_be_used_are_listed_disabled_with_their_reason(qtbot, tmp_path):
    from explorer.core.model_discovery import ModelInfo
    from explorer.core.models.catalog import CatalogEntry, describe_folder
    from explorer.ui.decoder.view import DecoderView

    good = describe_folder(
        ModelInfo("tiny-induction", resource_path("models", "tiny-induction"), "builtin")
    )
    big = CatalogEntry(
        ModelInfo("org/huge", tmp_path, "hf-cache"),
        family="llama",
        is_decoder=True,
        n_params=70_000_000_000,
        memory_bytes=560 << 30,
        available_bytes=16 << 30,
    )
    broken = CatalogEntry(ModelInfo("mine", tmp_path, "user", problem="no config.json"))
    view = DecoderView(catalog=lambda extra: [big, broken, good])
    qtbot.addWidget(view)
    view.populate()
    items = [view.combo.model().item(i) for i in range(view.combo.count())]
    assert [i.isEnabled() for i in items] == [False, False, True]
    assert "too big for the memory available" in items[0].text()
    assert "cannot be used" in items[1].text()
    tip = view.combo.itemData(0, QtCore.Qt.ItemDataRole.ToolTipRole)
    assert "70000.0 M parameters" in tip and "17.2 GB is available" in tip
    assert view.combo.itemData(1, QtCore.Qt.ItemDataRole.ToolTipRole) == "no config.json"
    view.shutdown()


def test_decoder_views_and_numbers_export(make_window, qtbot, tiny, tmp_path):
    import csv

    w, view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    ex = view.exports
    w.result = None  # the decoder's figures need the decoder's output, not the workbench's
    svg = ex.figure(view.head, "decoder-head", tmp_path / "head.svg")
    assert svg is not None and b"<svg" in (tmp_path / "head.svg").read_bytes()
    png = ex.figure(view.nextPanel, "next-token", tmp_path / "next.png", width=600)
    assert png is not None and (tmp_path / "next.png").read_bytes()[:4] == b"\x89PNG"
    ex.numbers("next", tmp_path / "next.csv")
    rows = list(csv.reader((tmp_path / "next.csv").open(encoding="utf-8")))
    want = next_tokens(tiny, tiny.forward(COPY_TEXT))
    assert [r[0] for r in rows[1:]] == list(want.tokens)
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], want.probs, rtol=1e-12)
    ex.numbers("head", tmp_path / "head.npy")
    head = np.load(tmp_path / "head.npy", allow_pickle=False)
    layer, h = view.selected()
    T = view.output.n_tokens
    assert np.all(np.isneginf(head[np.triu_indices(T, 1)]))
    np.testing.assert_array_equal(
        head[np.tril_indices(T)], view.output.attentions[layer, h][np.tril_indices(T)]
    )
    ex.numbers("lens", tmp_path / "lens.csv")
    lens_rows = list(csv.reader((tmp_path / "lens.csv").open(encoding="utf-8")))
    assert [r[0] for r in lens_rows[1:]] == list(view.lens.row_names)


def test_head_summary_and_rollout_across_heads(make_window, qtbot, tiny):
    from explorer.core.decoder_readout import causal_head_summary
    from explorer.core.model_analysis import attention_rollout

    _w, view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    ref = tiny.forward(COPY_TEXT)
    s = causal_head_summary(ref.attentions[0, 0])
    assert f"first token (sink) {s.first:.2f}" in view.headSummary.text()
    view.lowerTabs.setCurrentWidget(view.across)
    view.across.kind.setCurrentText("rollout")
    view.across.layer.setValue(1)
    T = ref.n_tokens
    want = attention_rollout(np.asarray(ref.attentions, dtype=np.float64))[1]
    shown = view.across.heatmap.data
    assert np.all(np.isneginf(shown[np.triu_indices(T, 1)]))
    np.testing.assert_allclose(shown[np.tril_indices(T)], want[np.tril_indices(T)], atol=1e-6)
    np.testing.assert_allclose(want.sum(axis=1), 1.0, atol=1e-9)
    assert "rollout up to layer 1" in view.across.heatmap.title.text


def test_top_k_filter_on_the_decoder_head_keeps_the_hatch(make_window, qtbot):
    _w, view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    view.head.set_filter(top_k=1)
    assert "top 1" in view.head.title.text or "top-1" in view.head.title.text
    data = view.head.data
    T = data.shape[0]
    assert np.all(np.isneginf(data[np.triu_indices(T, 1)]))  # the mask is still drawn
    view.select(1, 1)
    assert "top" in view.head.title.text  # the filter stays named after a redraw


def test_a_slow_pass_shows_the_busy_bar_until_it_is_drawn(make_window, qtbot):
    w, view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    model, real = view.model, view.model.forward

    def slow(*args, **kwargs):
        time.sleep(0.8)
        return real(*args, **kwargs)

    model.forward = slow
    try:
        w.apply(replace(w.doc.session, text=COPY_TEXT + " harbor"), "Edit text")
        qtbot.waitUntil(view.busyBar.isVisible, timeout=WAIT)
        qtbot.waitUntil(lambda: view.output.n_tokens > 35, timeout=WAIT)
        qtbot.waitUntil(lambda: not view.busyBar.isVisible(), timeout=WAIT)
    finally:
        del model.forward


def test_picking_heads_one_after_another_is_one_undo_step(make_window, qtbot):
    w, view = _open(make_window, qtbot, replace(Session(), text=COPY_TEXT))
    before = w.doc.undo_stack.count()
    for layer, head in ((0, 1), (0, 2), (1, 3)):
        view.select(layer, head)
    view.select_position(4)
    assert w.doc.undo_stack.count() == before + 1
    assert (w.doc.session.decoder.layer, w.doc.session.decoder.head) == (1, 3)
    view.ablateButton.click()  # an edit is a step of its own
    assert w.doc.undo_stack.count() == before + 2
    w.doc.undo_stack.undo()
    w.doc.undo_stack.undo()
    assert w.doc.session.decoder is None
