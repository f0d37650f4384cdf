"""A short or narrow window gives the attention heatmap room: the pipeline strip folds away
(View › Pipeline Strip shows it again), the heatmap's pane widens, one row of token chips."""

import numpy as np
from PySide6 import QtCore, QtWidgets

from explorer.ui.main_window import MIN_TOP_PANE_PX, SHORT_WINDOW_PX

SHORT = (853, 533)  # 1280×800 at 150 %, in Qt's units


def resize(qtbot, w, size) -> None:
    w.resize(*size)
    qtbot.waitUntil(lambda: w.size() == QtCore.QSize(*size))
    qtbot.wait(30)  # the panes follow once the layout has the new size


def test_short_window_folds_the_strip_and_a_tall_one_shows_it(make_window, qtbot):
    w = make_window()
    assert not w.bottomSplit.isHidden() and w.stripAction.isChecked()
    resize(qtbot, w, SHORT)
    qtbot.waitUntil(lambda: w.bottomSplit.isHidden())
    assert not w.stripAction.isChecked()
    assert "Ctrl+Shift+B" in w.statusBar().currentMessage()
    # the heatmap's pane has the room the strip left
    qtbot.waitUntil(lambda: w.attentionStack.height() >= MIN_TOP_PANE_PX)
    # narrow: the heatmap's pane gets 40 % of the panes' width
    sizes = w.topSplit.sizes()
    assert abs(sizes[1] - 0.4 * sum(sizes)) <= 3, sizes
    # one row of chips in a short window
    assert w.height() < SHORT_WINDOW_PX
    assert w.textBar.chipScroll.height() < w.textBar.sentenceEdit.height()
    resize(qtbot, w, (1280, 800))
    qtbot.waitUntil(lambda: not w.bottomSplit.isHidden())
    assert w.stripAction.isChecked()


def test_strip_shown_again_draws_what_changed_while_hidden(make_window, qtbot):
    w = make_window()
    w.stripAction.trigger()  # Ctrl+Shift+B
    assert w.bottomSplit.isHidden()
    w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0").setValue(250)
    qtbot.waitUntil(lambda: w.result is not None and w.doc.session.heads[0].w_q[0, 0] == 2.5)
    qtbot.waitUntil(lambda: w._result_session is w.doc.session)
    w.stripAction.trigger()
    assert not w.bottomSplit.isHidden()
    qtbot.waitUntil(lambda: w.pipelineView.panels["weights"].isVisible())
    shown = w.pipelineView.panels["weights"].image_data()
    np.testing.assert_allclose(shown, w.result.weights[0], atol=1e-6)


def test_the_users_choice_outlasts_resizes_and_restarts(make_window, qtbot):
    w = make_window()
    w.stripAction.trigger()
    resize(qtbot, w, (1280, 900))
    qtbot.wait(50)
    assert w.bottomSplit.isHidden()  # hidden by the user: not shown for a tall window
    w.doc.undo_stack.setClean()
    w.close()
    again = make_window()  # the same settings file
    assert again.bottomSplit.isHidden() and not again.stripAction.isChecked()
    again.stripAction.trigger()
    resize(qtbot, again, SHORT)
    qtbot.wait(50)
    assert not again.bottomSplit.isHidden()  # shown by the user: kept in a short window


def test_a_lesson_step_on_the_strip_shows_it(make_window, qtbot):
    from explorer.ui.lessons.focus import bring_forward

    w = make_window()
    resize(qtbot, w, SHORT)
    qtbot.waitUntil(lambda: w.bottomSplit.isHidden())
    bring_forward(w, w.pipelineView)  # "focus": {"view": [..., "pipelineView"]}
    assert not w.bottomSplit.isHidden() and w.stripAction.isChecked()
    resize(qtbot, w, (860, 540))
    qtbot.wait(50)
    assert not w.bottomSplit.isHidden()  # not folded again under the step


def test_exporting_a_folded_view_shows_it_first(make_window, qtbot, tmp_path):
    w = make_window()
    resize(qtbot, w, SHORT)
    qtbot.waitUntil(lambda: w.bottomSplit.isHidden())
    out = tmp_path / "strip.png"
    assert w.exports.export_view(w.pipelineView, "pipeline", out, width=800) is not None
    assert out.stat().st_size > 0 and not w.bottomSplit.isHidden()


def test_fitted_when_the_workbench_comes_back_to_the_front(make_window, qtbot):
    w = make_window()
    w.workspaceTabs.setCurrentWidget(w.modelView)
    resize(qtbot, w, SHORT)  # resized while the Model tab is in front
    qtbot.wait(50)
    w.workspaceTabs.setCurrentIndex(0)  # back on the workbench: its real size
    qtbot.waitUntil(lambda: w.bottomSplit.isHidden())
    qtbot.waitUntil(lambda: w.attentionStack.height() >= MIN_TOP_PANE_PX)


def test_panes_the_user_set_in_a_narrow_window_come_back(make_window, qtbot):
    w = make_window()
    resize(qtbot, w, SHORT)
    qtbot.waitUntil(lambda: w.bottomSplit.isHidden())
    w.topSplit.setSizes([400, 200, 240])
    w.topSplit.splitterMoved.emit(400, 1)  # as a drag of the handle does
    wanted = w.topSplit.sizes()
    w.doc.undo_stack.setClean()
    w.close()
    again = make_window()
    resize(qtbot, again, SHORT)
    qtbot.wait(50)
    got = again.topSplit.sizes()
    assert all(abs(a - b) <= 3 for a, b in zip(got, wanted, strict=True)), (got, wanted)
