"""The Decoder tab: a GPT-style model on the session's text, its next-token prediction, the
logit lens, head ablation and generation.

The decoder is chosen in a combo box that lists every decoder on this computer (the built-in
``tiny-induction``, the Hugging Face cache, folders opened here) with its size and the
memory it needs. Loading runs in a worker with a progress bar and a Cancel button; forward
passes run in a second worker, latest request first, so typing never waits for the model.

What the user changes goes into the session (``Session.decoder``), so it is undoable and
saved: the decoder's name and weights hash, the head shown, the position whose prediction is
shown, head edits (scale, 0 ablates) and the generation settings. Generated tokens are
appended to the session's text as one undo step.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from explorer.core.decoder_readout import causal_head_summary, logit_lens, next_tokens
from explorer.core.encoder_edits import HeadEdit
from explorer.core.encoder_files import EncoderError
from explorer.core.models.catalog import CatalogEntry, model_catalog
from explorer.core.session import DecoderEdit, DecoderRef
from explorer.ui.decoder.work import DecoderLoader, Generation, LoadCancelled
from explorer.ui.deferred import DeferredContents
from explorer.ui.heatmap import value_text
from explorer.ui.worker import JobWorker

BUSY_DELAY_MS = 300  # a pass that takes longer shows the busy bar


class DecoderView(DeferredContents, QtWidgets.QWidget):
    """Every layer and head of a decoder, with next-token prediction and generation.

    Signals
    -------
    analysed()
        A forward pass was drawn (the lesson quotes its numbers).
    """

    analysed = QtCore.Signal()

    def __init__(self, window=None, parent=None, *, catalog=model_catalog):
        super().__init__(parent)
        self.setObjectName("decoderView")
        # like the Model tab: small screens (1280×800 at 150%) squeeze the panes rather than
        # the tab making the window taller than the screen
        self.setMinimumSize(480, 200)
        self.window_ = window
        self._catalog_fn = catalog
        self.entries: list[CatalogEntry] = []
        self.model = None  # the DecoderModel shown
        self.output = None  # its ModelOutput on the current text and edits
        self.lens = None
        self.circuit = None  # InductionCircuit of the shown model, once measured
        self._extra: list[Path] = []  # folders opened here
        self._dirty = True
        self._populated = False
        self._local = DecoderRef("") if window is None else None  # state without a window
        self._text = "" if window is None else window.doc.session.text
        self.loader = DecoderLoader(self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.loader.progress.connect(self._on_load_progress)
        self.generation = Generation(self)
        self.generation.finished.connect(self._on_generated)
        self.generation.failed.connect(self._on_generate_failed)
        self.generation.progress.connect(self._on_generate_progress)
        self.runner = JobWorker(self, name="DecoderRunner")
        self.runner.done.connect(self._on_ran)
        self.runner.failed.connect(self._on_run_failed)
        self.lensWorker = JobWorker(self, name="DecoderLens")
        self.lensWorker.done.connect(self._on_lens)
        self._busy_timer = QtCore.QTimer(self, singleShot=True, interval=BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(self._show_busy)
        for worker in (self.runner, self.lensWorker):
            worker.busyChanged.connect(self._on_busy_changed)
        self.defer_contents(self._build)  # see explorer.ui.deferred
        if window is not None:
            window.doc.sessionChanged.connect(self._on_session_changed)
        self.destroyed.connect(lambda *_: self.runner.shutdown(0.5))
        self.destroyed.connect(lambda *_: self.lensWorker.shutdown(0.5))

    def _build(self) -> None:
        """Make the tab's plots and controls (the layout and its panels are imported here:
        a window that never shows this tab does not need them at start)."""
        from explorer.ui.decoder.layout import build_decoder_view

        build_decoder_view(self)

    # --------------------------------------------------------------- state
    @property
    def ref(self) -> DecoderRef | None:
        """The session's decoder settings (None until the user changes one)."""
        if self.window_ is None:
            return self._local
        return self.window_.doc.session.decoder

    def _current_ref(self) -> DecoderRef:
        """The settings, or defaults naming the model shown."""
        ref = self.ref
        if ref is not None and ref.name:
            return ref
        name = getattr(self.model, "name", "") or "decoder"
        sha = self.loader.hashes.get(self._key(self.model), "") if self.model is not None else ""
        return DecoderRef(name, sha)

    def _apply(
        self, ref: DecoderRef, label: str, text: str | None = None, merge: str | None = None
    ) -> None:
        """Put ``ref`` (and ``text``) in the session as one undo step; steps with the same
        ``merge`` key in a row become one (picking heads one after another)."""
        if self.window_ is None:
            old, self._local = self._local, ref
            if text is not None:
                self._text = text
            self._after_change(old, text is not None)
            return
        s = self.window_.doc.session
        new = replace(s, decoder=ref) if text is None else replace(s, decoder=ref, text=text)
        self.window_.apply(new, label, merge)

    def edits(self) -> tuple[HeadEdit, ...]:
        ref = self.ref
        if ref is None or self.model is None or ref.name != self.model.name:
            return ()
        c = self.model.config
        return tuple(
            HeadEdit(e.layer, e.head, scale=e.scale)
            for e in ref.edits
            if e.layer < c.n_layer and e.head < c.n_head
        )

    @staticmethod
    def _key(model) -> Path | None:
        return None if model is None or model.path is None else Path(model.path)

    def text(self) -> str:
        return self._text

    def set_text(self, text: str) -> None:
        """Run on ``text`` (without a window; the window's text is followed otherwise)."""
        self._text = text
        self._after_change()

    # ----------------------------------------------------------- discovery
    def populate(self) -> None:
        """List the decoders on this computer (reads configs and headers only)."""
        try:
            self.entries = self._catalog_fn(self._extra)
        except Exception as exc:  # a broken cache must not break the tab
            self.entries = []
            self._show_message(f"Could not list the models on this computer: {exc}")
        self._populated = True
        self.combo.blockSignals(True)
        self.combo.clear()
        for e in self.entries:
            source = {"builtin": "built in", "hf-cache": "Hugging Face cache"}.get(
                e.info.source, e.info.source
            )
            self.combo.addItem(f"{e.info.name}  ({source})", str(e.info.path))
            i = self.combo.count() - 1
            self.combo.setItemData(i, e.describe(), QtCore.Qt.ItemDataRole.ToolTipRole)
            if e.problem:
                item = self.combo.model().item(i)
                item.setEnabled(False)
                why = "too big for the memory available" if not e.fits else "cannot be used"
                self.combo.setItemText(i, f"{e.info.name}  ({source}: {why})")
        self.combo.blockSignals(False)
        if not self.entries:
            self._show_message(
                "No decoder found. The built-in tiny-induction model is missing from this "
                "installation; open a folder with Open Folder…"
            )

    def _entry_for(self, name: str) -> CatalogEntry | None:
        return next((e for e in self.entries if e.info.name == name and not e.problem), None)

    def _wanted_entry(self) -> CatalogEntry | None:
        ref = self.ref
        if ref is not None and ref.name:
            return self._entry_for(ref.name)
        return next((e for e in self.entries if not e.problem), None)

    def _on_combo(self, index: int) -> None:
        path = self.combo.itemData(index)
        entry = next((e for e in self.entries if str(e.info.path) == path), None)
        if entry is None or entry.problem:
            if entry is not None:
                self._show_message(entry.problem)
            return
        if self.model is not None and self._key(self.model) == Path(entry.info.path):
            return
        self.load(entry)

    def open_folder_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a decoder folder")
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder) -> None:
        """Add ``folder`` to the list and load it (its problem is shown if it cannot be)."""
        path = Path(folder).expanduser()
        if path not in self._extra:
            self._extra.insert(0, path)
        self.populate()
        entry = next((e for e in self.entries if Path(e.info.path) == path), None)
        if entry is None:
            self._show_message(f"{path} holds no decoder this app can run")
        elif entry.problem:
            self._show_message(entry.problem)
        else:
            self.load(entry)

    # -------------------------------------------------------------- loading
    def load(self, entry: CatalogEntry, *, choose: bool = True) -> None:
        """Load ``entry`` in the worker; ``choose``: record it in the session once loaded."""
        if Path(entry.info.path) not in self.loader.models:
            self.loadBar.setRange(0, 0)
            self.loadBar.setFormat("loading %p%")
            self.loadBar.setToolTip(f"Loading {entry.info.name}")
            self.details.setText(f"Loading {entry.info.name}: {entry.describe()}")
            i = self.combo.findData(str(entry.info.path))
            if i >= 0:
                self.combo.setCurrentIndex(i)
            self.loadBar.setVisible(True)
            self.cancelButton.setVisible(True)
            self.combo.setEnabled(False)
        self.loader.load(entry, choose)

    def cancel_load(self) -> None:
        self.loader.cancel()

    def _on_load_progress(self, done: int, total: int) -> None:
        self.loadBar.setRange(0, max(total, 1))
        self.loadBar.setValue(done)

    def _end_loading(self) -> None:
        self.loadBar.setVisible(False)
        self.cancelButton.setVisible(False)
        self.combo.setEnabled(True)

    def _on_loaded(self, payload) -> None:
        path, model, _circuit, _sha, choose = payload
        self._end_loading()
        self._loaded(path, model, choose)

    def _on_load_failed(self, exc) -> None:
        self._end_loading()
        if isinstance(exc, LoadCancelled):
            self._show_message("Loading was cancelled.")
        elif isinstance(exc, EncoderError | MemoryError | OSError):
            self._show_message(f"The decoder could not be loaded: {exc}")
        else:
            self._show_message(f"The decoder could not be loaded ({type(exc).__name__}: {exc})")
        self._sync_combo()

    def _loaded(self, path: Path, model, choose: bool) -> None:
        if model is not self.model:  # a deep model's grid gets more of the height
            share = 0.5 if model.config.n_layer > 6 else 0.4
            total = sum(self.leftSplit.sizes()) or 1
            self.leftSplit.setSizes([int(total * share), total - int(total * share)])
        self.model = model
        self.circuit = self.loader.circuits.get(path)
        self._sync_combo()
        entry = next((e for e in self.entries if Path(e.info.path) == path), None)
        self.details.setText(entry.describe() if entry is not None else model.name)
        ref = self.ref
        sha = self.loader.hashes.get(path, "")
        if ref is not None and ref.name == model.name and ref.sha256 and sha and ref.sha256 != sha:
            self._show_message(
                f"{model.name} on this computer has other weights than the session records; "
                "its head edits may not mean the same."
            )
        else:
            self._show_message("")
        if choose and (ref is None or ref.name != model.name):
            self._apply(DecoderRef(model.name, sha), f"Use decoder {model.name}")
        else:
            self._after_change()

    def _sync_combo(self) -> None:
        if self.model is None:
            return
        i = self.combo.findData(str(self.model.path))
        if i >= 0:
            self.combo.setCurrentIndex(i)

    # --------------------------------------------------------------- running
    def _on_session_changed(self, new, old) -> None:
        self._text = new.text
        if new.decoder != old.decoder or new.text != old.text:
            self._after_change(old.decoder, new.text != old.text)

    def _after_change(self, old_ref=None, text_changed: bool = True) -> None:
        ref = self.ref
        if ref is not None:
            self.generatePanel.show_settings(ref.sample, ref.temperature, ref.top_k, ref.seed)
        shown = getattr(self.model, "name", None)
        before = (old_ref.name, old_ref.edits) if old_ref is not None else (shown, ())
        view_only = not text_changed and ref is not None and (ref.name, ref.edits) == before
        if view_only and self.output is not None and not self._dirty:
            self._draw()  # another head, position or generation setting: nothing to rerun
            return
        self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def refresh(self) -> None:
        """Run the decoder on the text (in the worker) when visible; else once shown."""
        self._dirty = True
        if not self.isVisible():
            return
        if not self._populated:
            self.populate()
        wanted = self._wanted_entry()
        ref = self.ref
        if ref is not None and ref.name and wanted is None:
            self._show_message(
                f"The session uses the decoder '{ref.name}', which is not on this computer; "
                "open its folder with Open Folder… (nothing is downloaded)"
            )
            return
        if wanted is not None and (self.model is None or self.model.name != wanted.info.name):
            if self.loader.loading is None:
                self.load(wanted, choose=False)
            return
        if self.model is None:
            return
        self._dirty = False
        model, text, edits = self.model, self._text, self.edits()
        if not text.strip():
            self._show_message("Type a text to see what the decoder predicts.")
            return

        self.runner.submit(lambda: (model, model.forward(text, edits=edits)))
        self._busy_timer.start()

    def _on_ran(self, gen: int, payload) -> None:
        if gen != self.runner.generation:
            return
        model, out = payload
        if model is not self.model:
            return
        self.output = out
        self._show_message("")
        self._draw()
        self.analysed.emit()
        # the logit lens reads every layer through the LM head (vocabulary-sized): after
        # the views above are on screen
        self.lensWorker.submit(lambda: (out, logit_lens(model, out)))

    def _on_lens(self, _gen: int, payload) -> None:
        out, lens = payload
        if out is self.output:
            self.lens = lens
            self._draw_lens()

    def _on_busy_changed(self, _busy: bool) -> None:
        if not (self.runner.busy or self.lensWorker.busy):
            self._busy_timer.stop()
            self.busyBar.setVisible(False)

    def _show_busy(self) -> None:
        if self.runner.busy or self.lensWorker.busy:
            self.busyBar.setVisible(True)

    def _on_run_failed(self, gen: int, exc) -> None:
        if gen != self.runner.generation:
            return
        self.output = None
        text = str(exc) if isinstance(exc, EncoderError | ValueError | MemoryError) else repr(exc)
        self._show_message(f"The decoder cannot run on this text: {text}")

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # --------------------------------------------------------------- drawing
    def selected(self) -> tuple[int, int]:
        ref, c = self._current_ref(), self.model.config
        return min(ref.layer, c.n_layer - 1), min(ref.head, c.n_head - 1)

    def position(self) -> int:
        T = self.output.n_tokens
        pos = self._current_ref().position
        return T - 1 if pos is None or pos >= T else pos

    def head_label(self, layer: int, head: int) -> str:
        return "" if self.circuit is None else self.circuit.label(layer, head)

    def _draw(self) -> None:
        from explorer.ui.decoder.layout import SHORT_LABELS

        out, c = self.output, self.model.config
        L, H = c.n_layer, c.n_head
        scales = {(e.layer, e.head): e.scale for e in self.edits()}
        titles, badges = [], []
        for layer in range(L):
            for h in range(H):
                label = self.head_label(layer, h)
                edit = f"×{scales[(layer, h)]:g}" if (layer, h) in scales else ""
                titles.append(" · ".join(x for x in (f"layer {layer}, head {h}", label, edit) if x))
                badges.append(" ".join(x for x in (SHORT_LABELS.get(label, ""), edit) if x))
        # the thumbnails show cut cells as 0, which causal weights already are: no copy
        att = out.attentions.reshape(L * H, out.n_tokens, out.n_tokens)
        self.grid.set_matrices(att, titles, columns=H)
        self.grid.set_badges(badges)
        layer, h = self.selected()
        self.grid.select(layer * H + h)
        self._draw_head()
        self._draw_across()
        self._draw_predictions()
        self._sync_edit_controls()

    def _draw_head(self) -> None:
        from explorer.ui.decoder.layout import causal_display

        out = self.output
        layer, h = self.selected()
        label = self.head_label(layer, h)
        what = f" · {label} head" if label else ""
        self.head.set_title(f"Layer {layer}, head {h}{what} (hatched: cut by the causal mask)")
        labels = [f"{t} {i}" for i, t in enumerate(out.tokens)]
        self.head.set_matrix(causal_display(out.attentions[layer, h]), labels, levels=(0.0, 1.0))
        self.head.select_row(self.position())
        s = causal_head_summary(out.attentions[layer, h])
        self.headSummary.setText(
            f"Mean weight on the first token (sink) {s.first:.2f} · on the previous token "
            f"{s.previous:.2f} · on itself {s.self:.2f} · spread {s.entropy:.2f} of uniform"
        )

    def _draw_across(self) -> None:
        """Rollout or mean over heads of the layer the panel's slider picks (when shown)."""
        if self.output is None or self.lowerTabs.currentWidget() is not self.across:
            return
        from explorer.core.model_analysis import aggregate
        from explorer.ui.decoder.layout import causal_display

        out = self.output
        self.across.set_layers(out.attentions.shape[0])
        kind, layer = self.across.kind.currentText(), self.across.layer.value()
        data = causal_display(aggregate(out.attentions, kind, layer))
        labels = [f"{t} {i}" for i, t in enumerate(out.tokens)]
        what = "rollout up to" if kind == "rollout" else "mean over the heads of"
        self.across.show_data(data, labels, f"{what} layer {layer}")

    def _draw_predictions(self) -> None:
        out, pos = self.output, self.position()
        nxt = next_tokens(self.model, out, pos, k=10)
        actual = out.tokens[pos + 1] if pos + 1 < out.n_tokens else None
        self.nextPanel.show_tokens(nxt, out.tokens[pos], actual)
        self._draw_lens()

    def _draw_lens(self) -> None:
        """The logit lens of the output shown, or a greyed table while it is computed."""
        lens, out = self.lens, self.output
        ready = lens is not None and lens.ids.shape[1] == out.n_tokens and lens.source is out
        self.lensTable.setEnabled(ready)
        self.lensNote.setVisible(not ready)
        if ready:
            self.lensTable.show_lens(lens, out.tokens, out.ids[1:])
            self.lensTable.show_position(self.position())

    def prediction(self) -> tuple[str, float] | None:
        """The likeliest next token at the position shown and its probability (None before a
        forward pass for the session's text is drawn)."""
        if self.output is None or self.model is None or self._dirty or self.runner.busy:
            return None
        nxt = next_tokens(self.model, self.output, self.position(), k=1)
        return nxt.tokens[0], float(nxt.probs[0])

    def head_description(self) -> str:
        """``layer 1, head 1 (induction)`` for the head drawn large; "" before a run."""
        if self.output is None or self.model is None:
            return ""
        layer, h = self.selected()
        label = self.head_label(layer, h)
        return f"layer {layer}, head {h}" + (f" ({label})" if label else "")

    def _readout(self, i: int, j: int) -> str:
        if self.output is None:
            return ""
        layer, h = self.selected()
        tokens = self.output.tokens
        if j > i:
            return f"{tokens[i]} → {tokens[j]}: cut by the causal mask (a token sees no later one)"
        w = float(self.output.attentions[layer, h, i, j])
        return f"{tokens[i]} → {tokens[j]}: weight {value_text(w)}"

    def _sync_edit_controls(self) -> None:
        if self.model is None:
            return
        layer, h = self.selected()
        scales = {(e.layer, e.head): e.scale for e in self.edits()}
        scale = scales.get((layer, h), 1.0)
        for w, v in ((self.ablateButton, scale == 0.0), (self.scaleSpin, scale)):
            w.blockSignals(True)
            w.setChecked(v) if isinstance(w, QtWidgets.QPushButton) else w.setValue(v)
            w.blockSignals(False)
        self.restoreButton.setEnabled(bool(scales))
        listed = ", ".join(f"L{a}·H{b} ×{s:g}" for (a, b), s in sorted(scales.items()))
        self.editsLabel.setText(f"Edited: {listed}" if listed else "No head edited")

    # ----------------------------------------------------------------- edits
    def _on_thumbnail(self, index: int) -> None:
        if self.model is None:
            return
        self.select(*divmod(index, self.model.config.n_head))

    def select(self, layer: int, head: int) -> None:
        ref = self._current_ref()
        if (ref.layer, ref.head) != (layer, head):
            new = replace(ref, layer=layer, head=head)
            self._apply(new, f"Show decoder head {layer}·{head}", merge="decoder-view")

    def select_position(self, pos: int) -> None:
        if self.output is None or not 0 <= pos < self.output.n_tokens:
            return
        ref = self._current_ref()
        value = None if pos == self.output.n_tokens - 1 else pos
        if ref.position != value:
            new = replace(ref, position=value)
            self._apply(new, f"Predict after token {pos}", merge="decoder-view")

    def set_scale(self, factor: float) -> None:
        """Scale the selected head's output (1 removes the edit, 0 ablates)."""
        if self.model is None:
            return
        layer, h = self.selected()
        ref = self._current_ref()
        kept = tuple(e for e in ref.edits if (e.layer, e.head) != (layer, h))
        factor = float(factor)
        edits = kept if factor == 1.0 else (*kept, DecoderEdit(layer, h, factor))
        if edits == ref.edits:
            return
        edits = tuple(sorted(edits, key=lambda e: (e.layer, e.head)))
        what = "Ablate" if factor == 0.0 else ("Restore" if factor == 1.0 else f"Scale ×{factor:g}")
        self._apply(replace(ref, edits=edits), f"{what} decoder head {layer}·{h}")

    def _on_ablate(self, on: bool) -> None:
        self.set_scale(0.0 if on else 1.0)

    def clear_edits(self) -> None:
        ref = self._current_ref()
        if ref.edits:
            self._apply(replace(ref, edits=()), "Restore every decoder head")

    def _on_generate_settings(self, change: dict) -> None:
        ref = self._current_ref()
        new = replace(ref, **change)
        if new != ref:
            self._apply(new, "Generation settings", merge="decoder-settings")

    # ------------------------------------------------------------ generation
    def generate(self, n: int) -> None:
        """Append ``n`` tokens to the text (in the worker; Stop ends it early)."""
        if self.model is None:
            return
        if self.generation.start(self.model, self._text, n, self._current_ref(), self.edits()):
            self.generatePanel.set_running(True, 0, n)

    def _on_generate_progress(self, done: int, total: int) -> None:
        if self.generation.running:
            self.generatePanel.set_running(True, done, total)

    def _on_generated(self, result) -> None:
        self.generatePanel.set_running(False)
        base, gen = result
        self.generatePanel.note.setText(f"Stopped: {gen.stopped}." if gen.stopped else "")
        if not gen.ids:
            return
        if base != self._text:
            self.generatePanel.note.setText("The text changed while generating; nothing added.")
            return
        count = len(gen.ids)
        label = "Generate a token" if count == 1 else f"Generate {count} tokens"
        self._apply(self._current_ref(), label, text=base + gen.text)

    def _on_generate_failed(self, exc) -> None:
        self.generatePanel.set_running(False)
        self.generatePanel.note.setText(f"Could not generate: {exc}")

    def _on_escape(self) -> None:
        self.loader.cancel()
        self.generation.stop()

    def shutdown(self) -> None:
        self.loader.shutdown()
        self.generation.shutdown()
        self.runner.shutdown(0.5)
        self.lensWorker.shutdown(0.5)
