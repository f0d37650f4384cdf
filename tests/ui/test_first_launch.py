"""A first launch: the window shows computed Results while the attention kernels compile.

"Not ready" is simulated by holding ``warm_up`` back, so the test needs no empty Numba cache.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
from PySide6 import QtWidgets

import explorer.ui.main_window as mw
from explorer.core.pipeline import compute
from explorer.core.session import Session
from explorer.ui.heatmap import HeatmapView


def shown(w) -> np.ndarray:
    return np.asarray(w.findChild(HeatmapView, "attentionHeatmap").image_data())


def kernel_weights(session: Session) -> np.ndarray:
    return compute(session).weights[session.selected_head].astype(np.float32)


def settle(qtbot, w) -> None:
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)


def test_results_show_before_the_kernels_are_ready_and_match_them(make_window, qtbot, monkeypatch):
    gate = threading.Event()
    real_warm_up, real_compute = mw.warm_up, mw.compute
    paths = []  # use_kernels of every compute the window asked for

    def slow_warm_up():  # a first launch: the kernels compile for a while
        gate.wait(30)
        real_warm_up()

    def spy(session, **kw):
        paths.append(kw.get("use_kernels", True))
        return real_compute(session, **kw)

    monkeypatch.setattr(mw, "warm_up", slow_warm_up)
    monkeypatch.setattr(mw, "compute", spy)
    w = make_window(Session(), wait_ready=False)
    try:
        settle(qtbot, w)
        assert not w.worker.ready and paths and not any(paths)
        assert w.attentionStack.currentWidget() is not w.emptyState
        np.testing.assert_allclose(shown(w), kernel_weights(w.doc.session), rtol=1e-6, atol=1e-7)

        # an edit, and a text long enough for the worker thread, while the kernels prepare
        slider = w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0")
        slider.setValue(slider.value() + 50)
        settle(qtbot, w)
        long_text = " ".join(["the river bank was steep and the money bank was closed ."] * 12)
        w.apply(replace(w.doc.session, text=long_text), "text")
        settle(qtbot, w)
        assert not w.worker.ready and not any(paths)
        assert w.result.T > 100
        before = shown(w)
        np.testing.assert_allclose(before, kernel_weights(w.doc.session), rtol=1e-6, atol=1e-7)
    finally:
        gate.set()

    # the kernels take over with the same numbers: nothing jumps
    qtbot.waitUntil(lambda: w.worker.ready and paths[-1], timeout=60_000)
    settle(qtbot, w)
    after = shown(w)
    np.testing.assert_array_equal(after, kernel_weights(w.doc.session))
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-7)
    assert not w.busyLabel.isVisibleTo(w)


def test_after_first_paint_waits_for_the_paint_or_its_deadline(qtbot):
    from explorer.ui.worker import after_first_paint

    calls = []
    shown_widget, hidden_widget = QtWidgets.QLabel("painted"), QtWidgets.QLabel("never shown")
    for widget in (shown_widget, hidden_widget):
        qtbot.addWidget(widget)
    after_first_paint(shown_widget, lambda: calls.append("shown"), at_latest_ms=60_000)
    after_first_paint(hidden_widget, lambda: calls.append("hidden"), at_latest_ms=50)
    assert calls == []  # never before the event loop runs
    shown_widget.show()
    qtbot.waitUntil(lambda: "shown" in calls and "hidden" in calls, timeout=15_000)
    qtbot.wait(100)
    assert sorted(calls) == ["hidden", "shown"]  # once each
