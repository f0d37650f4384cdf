"""Long texts in the real window: computed off the event loop, drawn with level of detail,
and exact when zoomed in (compared with an independent float64 NumPy reference)."""

from __future__ import annotations

import gc
import itertools
import os
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from PySide6 import QtCore

from explorer.core.long_attention import (
    DENSE_MAX_TOKENS,
    is_lazy,
    long_kernels_ready,
    start_warm_up,
)
from explorer.core.pipeline import is_long
from explorer.core.projections import conform
from explorer.core.session import Session
from explorer.ui import app as app_module
from explorer.ui.heatmap import value_text

WORDS = "the river bank was steep and the old bank by the water held money for the town".split()


def long_session(n_words: int, n_head: int = 2, causal: bool = False) -> Session:
    text = " ".join(WORDS[i % len(WORDS)] for i in range(n_words))
    s = Session(text=text, d_model=16, preset="orthogonal", causal=causal)
    return replace(conform(s, n_head=n_head, d_head=8), selected_head=1)


def reference_weights(result, head: int) -> np.ndarray:
    """Softmax of the scaled, masked scores of one head, in float64, every cell at once."""
    q = np.asarray(result.q[head], dtype=np.float64)
    k = np.asarray(result.k[head], dtype=np.float64)
    s = q @ k.T * result.scale
    s = np.where(result.allowed, s, -np.inf)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ISOLATED = "EXPLORER_TEST_ISOLATED"  # set for the run in a fresh interpreter below


def test_the_event_loop_check_in_a_fresh_interpreter():
    """The event-loop check below, in an interpreter of its own, as the app runs. After
    the rest of a full run it failed in 3 of 4 runs with the window's thread held for the
    whole long pass (0–1 timer ticks; no garbage collection in that time, and the text box
    costs 5 ms), though never in a run of this file: suite state that is not the app's."""
    name = "test_the_event_loop_turns_while_an_8k_token_text_computes"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::{name}"],
        env=dict(os.environ, **{ISOLATED: "1"}),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:]


@pytest.mark.skipif(not os.environ.get(ISOLATED), reason="run in a fresh interpreter above")
def test_the_event_loop_turns_while_an_8k_token_text_computes(make_window, qtbot):
    w = make_window()
    # the long pass compiles in the background on a first launch, holding the interpreter
    # for seconds at a time: measure the event loop once it is loaded, as on any later launch
    start_warm_up()  # what the first long text does
    qtbot.waitUntil(long_kernels_ready, timeout=300_000)
    # and once the tabs hidden at start are built (on the GUI thread, after the first paint)
    qtbot.waitUntil(lambda: not w.deferredTabs.pending, timeout=30_000)
    # and with the garbage of the tests before collected, and no collection meanwhile: the
    # window collects on its own thread (explorer.ui.app), and a full collection of a test
    # run's heap (ten times the app's) takes seconds; that is not what is measured here
    gc.collect()
    collector = app_module._COLLECTOR
    if collector is not None:
        collector.timer.stop()
    full_runs = gc.get_stats()[2]["collections"]
    s = long_session(9000, n_head=4)  # cut at the window: 8,190 word pieces
    # the same heads on a short text first: the edit below changes the text alone (a new
    # head shape would rebuild the projection editor's 384 sliders on the GUI thread)
    w.apply(replace(s, text="the river bank"), "Four heads")
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)
    busy: list[float] = []  # timer ticks while the worker computes
    ticker = QtCore.QTimer()
    ticker.timeout.connect(lambda: w.worker.busy and busy.append(time.perf_counter()))
    ticker.start(5)
    w.apply(s, "Long text")
    try:
        qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=120_000)
    finally:
        ticker.stop()
        if collector is not None:
            collector.timer.start()
    assert w.result.T == 8190 and w.result.truncated
    gaps = [b - a for a, b in itertools.pairwise(busy)]
    # tokenising and computing 8,190 tokens × 4 heads ran in the worker: the event loop kept
    # turning (the pass releases the interpreter). Both cores compute meanwhile, so on a
    # shared machine the window's thread waits for a core now and then: a few ticks, and
    # no pause longer than a quarter of a second
    why = (
        f"ticks {len(busy)}, longest pause {max(gaps, default=0):.3f} s, {w.result.timings}, "
        f"full collections {gc.get_stats()[2]['collections'] - full_runs}"
    )
    assert len(busy) >= 3 and max(gaps) < 0.25, why


def test_a_long_text_draws_an_overview_and_zooms_to_exact_cells(make_window, qtbot):
    w = make_window()
    w.apply(long_session(3000, causal=True), "Long text")
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=120_000)

    r = w.result
    assert r.T == 3000 > DENSE_MAX_TOKENS and is_long(r)
    assert is_lazy(r.weights) and is_lazy(r.scores) and is_lazy(r.contextual_similarity)
    hm = w.attentionHeatmap
    assert hm.data is r.weights[1]  # the selected head, drawn as an overview
    overview, block = r.weights[1].overview()
    assert block == 6 and hm.image_data().shape == overview.shape == (500, 500)
    assert hm.detail() is None  # 9 million cells in view: the overview alone
    assert "max of 6×6 cells · wheel zooms, drag pans" in hm._note.text  # says how to zoom

    ref = reference_weights(r, 1)
    # the overview is the block maximum of the exact weights
    blocks = ref.reshape(500, 6, 500, 6).max(axis=(1, 3))
    np.testing.assert_allclose(overview, blocks, atol=2e-6)

    hm.zoom_to(2000, 2006, 1995, 2001)
    r0, c0, exact = hm.detail()
    assert (r0, c0, exact.shape) == (2000, 1995, (6, 6))
    np.testing.assert_allclose(exact, ref[2000:2006, 1995:2001], atol=2e-6)
    assert hm.visible_cells() == (2000, 2006, 1995, 2001)
    texts = hm.value_texts()  # six by six cells: their numbers are written in them
    assert texts == [value_text(float(v)) for v in exact.reshape(-1)]
    assert "exact cells" in hm._note.text
    # the axes label the tokens in view, the 2000th token among them
    labels = dict(hm.left_axis.label_positions())
    assert 2000 in labels and all(2000 <= i < 2006 for i in labels)
    # hovering a cell reads the exact numbers
    readout = w._attention_readout(2003, 1999)
    assert f"weight = {ref[2003, 1999]:.3f}" in readout

    # zoomed out a little: block maxima of exact cells, one per pixel
    hm.zoom_to(0, 900, 0, 900)
    r0, c0, exact = hm.detail()
    np.testing.assert_allclose(exact, ref[:900, :900], atol=2e-6)
    hm.reset_zoom()
    qtbot.waitUntil(lambda: hm.detail() is None, timeout=5_000)

    # every view drew the long Result without holding it whole
    grid_image = w.headGrid._images[1].image
    assert grid_image.shape[0] <= 160 and np.nanmax(grid_image) > 0
    strip = w.pipelineView.panels
    assert all(is_lazy(strip[k].data) for k in ("scores", "scaled", "masked", "weights"))
    assert strip["y"].data.shape == (3000, 8)


def test_back_to_a_short_text_leaves_the_zoom(make_window, qtbot):
    w = make_window()
    w.apply(long_session(1500), "Long text")
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=120_000)
    hm = w.attentionHeatmap
    assert hm.plot.getViewBox().state["mouseEnabled"][0]
    hm.zoom_to(10, 20, 10, 20)
    w.apply(long_session(12), "Short text")
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)
    assert not is_lazy(hm.data) and hm.data.shape == (12, 12)
    assert not hm.plot.getViewBox().state["mouseEnabled"][0]
    assert hm.visible_cells() == (0, 12, 0, 12) and hm.detail() is None
    np.testing.assert_allclose(hm.data, reference_weights(w.result, 1), atol=1e-6)


def test_a_long_matrix_exports_a_block_of_rows_at_a_time(tmp_path):
    import csv

    from explorer.core.pipeline import compute
    from explorer.ui.export.files import ExportError, export_matrix, result_matrices

    r = compute(long_session(1100))
    matrix, rows, cols = result_matrices(r, 1)["weights"]
    assert is_lazy(matrix)
    ref = reference_weights(r, 1)
    npy = export_matrix(matrix, tmp_path / "w.npy")
    np.testing.assert_allclose(np.load(npy, allow_pickle=False), ref, atol=2e-6)
    shares: list[float] = []
    out = export_matrix(
        matrix, tmp_path / "w.csv", row_labels=rows, col_labels=cols, progress=shares.append
    )
    with open(out, encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    assert table[0][1:] == cols and [row[0] for row in table[1:]] == rows
    np.testing.assert_allclose(np.array(table[1:])[:, 1:].astype(float), ref, atol=2e-6)
    assert shares[-1] == 1.0 and len(shares) == 5  # 1,100 rows, 256 a block
    # Cancel: the file written before is left as it was, and no temporary file remains
    before = out.read_bytes()
    with pytest.raises(ExportError, match="cancelled"):
        export_matrix(matrix, out, progress=lambda share: share < 0.5)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.csv", "w.npy"]


def test_similarity_of_a_long_text_is_computed_in_the_background(make_window, qtbot):
    w = make_window()
    w.rightTabs.setCurrentIndex(1)  # the Similarity tab
    w.apply(long_session(1500), "Long text")
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=120_000)
    sv = w.similarityView
    qtbot.waitUntil(lambda: sv.matrices() is not None, timeout=60_000)
    static, contextual = sv.matrices()
    assert is_lazy(static) and is_lazy(contextual)
    r = w.result
    y = np.asarray(r.y[1], dtype=np.float64)
    unit = y / np.linalg.norm(y, axis=1, keepdims=True)
    ref = unit @ unit.T  # cos(y_i, y_j) of the selected head, every pair at once
    view = sv.contextual
    assert view.data is contextual
    view.zoom_to(700, 705, 20, 25)
    r0, c0, exact = view.detail()
    assert (r0, c0) == (700, 20)
    np.testing.assert_allclose(exact, ref[700:705, 20:25], atol=1e-6)
    assert "Computing" not in sv.caption.text() and sv.readout.text().startswith("cos(")
