"""The undo history's memory budget: old steps go first, the newest stay, undo still works."""

import gc
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from PySide6 import QtWidgets

from explorer.core.projections import conform
from explorer.core.session import Session
from explorer.ui.app import create_app
from explorer.ui.document import HISTORY_BUDGET, STEP_BYTES, Document, step_bytes

MATRIX = 64 * 64 * 8  # bytes of one float64 64×64 weight matrix


@pytest.fixture
def big():
    """12 heads of 64×64: a weight edit makes three new 32 kB matrices."""
    create_app()
    return conform(Session().evolve(d_model=64), n_head=12, d_head=64)


def weight_edit(s: Session, i: int) -> Session:
    h = i % s.n_head
    return s.with_head(h, s.heads[h].with_weight("q", i % 64, 3, 1.0 + i / 1000))


def test_a_step_is_charged_for_what_it_does_not_share(big):
    edited = weight_edit(big, 0)
    # with_weight copies the edited head's three matrices; the other 11 heads are shared
    assert 3 * MATRIX <= step_bytes(edited, big) <= 3 * MATRIX + STEP_BYTES + 2_000
    assert step_bytes(replace(big, selected_query=2), big) < STEP_BYTES + 1_000
    new_text = replace(big, text="x" * 100_000)
    assert 100_000 <= step_bytes(new_text, big) - STEP_BYTES < 102_000


def test_the_estimate_follows_measured_memory(big):
    doc = Document(big)
    gc.collect()
    tracemalloc.start()
    try:
        before, est0 = tracemalloc.get_traced_memory()[0], doc.history_bytes
        for i in range(300):
            doc.apply(weight_edit(doc.session, i), f"edit {i}")
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    estimated = doc.history_bytes - est0
    # tracemalloc does not see Qt's own objects, so the estimate may be a little above
    assert 0.9 * grown <= estimated <= 1.15 * grown, (estimated, grown)


def test_a_small_budget_drops_the_oldest_steps_and_undo_still_works(big):
    budget = 3_000_000  # the first session alone holds 1.2 MB of matrices
    doc = Document(big, history_budget=budget)
    sessions = [doc.session]
    for i in range(100):  # about 100 kB a step: 10 MB in all
        doc.apply(weight_edit(doc.session, i), f"edit {i}")
        sessions.append(doc.session)
        assert doc.history_bytes <= budget
    stack = doc.undo_stack
    kept = stack.count()
    assert 10 <= kept < 40 and doc.dropped_steps == 100 - kept
    assert stack.undoText() == "edit 99" and doc.session is sessions[-1]  # the newest stay
    assert stack.text(0) == f"edit {100 - kept}"  # the oldest went first
    stack.undo()
    assert doc.session is sessions[-2]
    while stack.canUndo():
        stack.undo()
    assert doc.session is sessions[100 - kept]
    np.testing.assert_array_equal(doc.session.heads[0].w_q, sessions[100 - kept].heads[0].w_q)
    while stack.canRedo():
        stack.redo()
    assert doc.session is sessions[-1]


def test_dropping_keeps_the_saved_state_and_the_steps_to_redo(big):
    doc = Document(big, history_budget=HISTORY_BUDGET)
    for i in range(30):
        doc.apply(weight_edit(doc.session, i), f"edit {i}")
    stack = doc.undo_stack
    stack.setIndex(25)
    stack.setClean()  # saved at step 25
    for _ in range(5):
        stack.undo()
    here = doc.session
    doc.set_history_budget(3_000_000)  # 1.2 MB first session + 10 steps to redo + a few
    assert doc.history_bytes <= 3_000_000 and doc.dropped_steps > 10
    assert stack.count() - stack.index() == 10  # the 10 steps to redo are all kept
    assert stack.index() >= 2 and doc.session is here and stack.undoText() == "edit 19"
    assert not stack.isClean()
    for _ in range(5):
        stack.redo()
    assert stack.isClean() and stack.undoText() == "edit 24"
    # a save among the dropped steps: the document stays modified
    doc2 = Document(big, history_budget=HISTORY_BUDGET)
    for i in range(30):
        doc2.apply(weight_edit(doc2.session, i), f"edit {i}")
        if i == 2:
            doc2.undo_stack.setClean()
    doc2.set_history_budget(2_000_000)
    assert doc2.dropped_steps > 3 and doc2.modified
    while doc2.undo_stack.canUndo():
        doc2.undo_stack.undo()
        assert doc2.modified


def test_a_drag_is_charged_once_for_its_final_matrices(big):
    doc = Document(big)
    for v in range(50):
        s = doc.session
        doc.apply(s.with_head(0, s.heads[0].with_weight("k", 1, 1, v / 10)), "drag", "w_k_0_1_1")
    assert doc.undo_stack.count() == 1
    assert (
        doc.history_bytes - sum(sum(a.nbytes for a in (h.w_q, h.w_k, h.w_v)) for h in big.heads)
        < 3 * MATRIX + 2 * STEP_BYTES + 40_000
    )


def test_undo_history_window_shows_use_and_budget(make_window, qtbot):
    w = make_window()
    w.doc.set_history_budget(50_000)
    for i in range(40):
        w.apply(replace(w.doc.session, text=f"step {i} " + "x" * 2_000), f"text {i}")
    history = next(a for a in w.editMenu.actions() if a.text().startswith("Undo &History"))
    history.trigger()
    label = w.undoView.findChild(QtWidgets.QLabel, "undoBudget")
    assert label.isVisible()
    text = label.text()
    steps = w.doc.undo_stack.count()
    assert f"{steps} steps" in text and "of a 0.1 MB budget" in text
    assert f"{w.doc.dropped_steps} older steps were dropped" in text and w.doc.dropped_steps > 0
    assert w.undoView.stack() is w.doc.undo_stack
    w.undoView.close()


def test_soak_of_the_real_window_stays_within_the_budget(make_window, qtbot):
    w = make_window()
    budget = 400_000
    w.doc.set_history_budget(budget)
    seen = []
    w.doc.historyChanged.connect(lambda: seen.append(w.doc.history_bytes))
    sliders = [
        w.findChild(QtWidgets.QSlider, f"weightSlider_{m}_{r}_{c}")
        for m in "qkv"
        for r, c in ((0, 0), (1, 2), (3, 1))
    ]
    causal = w.findChild(QtWidgets.QCheckBox, "causalCheck")
    for i in range(400):
        if i % 10 == 9:
            causal.toggle()
        elif i % 10 == 4:
            w.apply(replace(w.doc.session, text=f"The dog {i} chased the cat. " * 40), "text")
        else:
            sliders[i % len(sliders)].setValue((i * 37) % 600 - 300)
            w.doc.end_merge()  # each change its own step, as after a pause
        qtbot.wait(1)
    assert len(seen) >= 400 and max(seen) <= budget
    assert w.doc.dropped_steps > 0 and w.doc.undo_stack.count() > 20
    # undo still works in the window: the heatmap shows the undone session
    w.doc.undo_stack.undo()
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)
    from explorer.core.pipeline import compute

    s = w.doc.session
    want = compute(s).weights[s.selected_head].astype(np.float32)
    np.testing.assert_allclose(w.attentionHeatmap.image_data(), want, rtol=1e-6, atol=1e-7)
