"""The Decoder tab's background work: loading a model (cancellable, with progress) and
generating tokens (stoppable, with progress). Each runs in a worker thread of its own and
reports through queued Qt signals, so the window never waits."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6 import QtCore

from explorer.core.decoder_readout import GenerationStopped, generate
from explorer.core.encoder_files import EncoderError
from explorer.core.models import load_model
from explorer.core.models.catalog import CatalogEntry, weights_sha256
from explorer.core.models.circuits import measure_circuits
from explorer.ui.worker import JobWorker

#: decoders up to this many parameters get their induction and previous-token heads measured
#: right after loading (200 passes of 61 tokens take about 1 s for tiny-induction)
AUTO_CIRCUIT_PARAMS = 5_000_000


class LoadCancelled(ValueError):
    """The user pressed Cancel while a model was loading (an expected outcome: the worker
    reports it without a traceback, as it does every ValueError)."""


class DecoderLoader(QtCore.QObject):
    """Loads decoders once each, in a worker thread; a load can be cancelled.

    Signals
    -------
    loaded(object)
        ``(path, model, circuit or None, weights sha256, choose)``.
    failed(object)
        The exception (:class:`LoadCancelled` after :meth:`cancel`).
    progress(int, int)
        kB of weights read, of the total.
    """

    loaded = QtCore.Signal(object)
    failed = QtCore.Signal(object)
    progress = QtCore.Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.models: dict[Path, object] = {}
        self.circuits: dict[Path, object] = {}
        self.hashes: dict[Path, str] = {}
        self.loading: Path | None = None
        self._cancel = threading.Event()
        self._worker = JobWorker(self, name="DecoderLoader")
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)

    def load(self, entry: CatalogEntry, choose: bool) -> None:
        """Load ``entry`` (at once when loaded before); ``choose`` is passed back."""
        path = Path(entry.info.path)
        if path in self.models:
            self.loaded.emit((path, self.models[path], self.circuits.get(path),
                              self.hashes.get(path, ""), choose))  # fmt: skip
            return
        self._cancel.clear()
        self.loading = path
        cancel, name = self._cancel, entry.info.name
        small = entry.n_params <= AUTO_CIRCUIT_PARAMS
        report = self.progress

        def progress(done, total):
            if cancel.is_set():
                raise LoadCancelled()
            report.emit(int(done >> 10), int(total >> 10))

        def job():
            model = load_model(path, name, progress=progress)
            if not getattr(model, "is_decoder", False):
                raise EncoderError(f"{name} is an encoder; the Model tab shows it")
            circuit = measure_circuits(model) if small else None
            if cancel.is_set():
                raise LoadCancelled()
            return path, model, circuit, weights_sha256(path), choose

        self._worker.submit(job)

    def cancel(self) -> None:
        self._cancel.set()

    def _on_done(self, _gen: int, payload) -> None:
        path, model, circuit, sha, _choose = payload
        self.loading = None
        self.models[path] = model
        self.hashes[path] = sha
        if circuit is not None:
            self.circuits[path] = circuit
        self.loaded.emit(payload)

    def _on_failed(self, _gen: int, exc) -> None:
        self.loading = None
        self.failed.emit(exc)

    def shutdown(self) -> None:
        self._cancel.set()
        self._worker.shutdown(0.5)


class Generation(QtCore.QObject):
    """Appends tokens in a worker thread, one forward pass each; :meth:`stop` ends it after
    the token being computed.

    Signals
    -------
    finished(object)
        ``(text it started from, Generated)``.
    failed(object)
    progress(int, int)
        Tokens done, of the number asked for.
    """

    finished = QtCore.Signal(object)
    failed = QtCore.Signal(object)
    progress = QtCore.Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.running = False
        self._stop = threading.Event()
        self._worker = JobWorker(self, name="DecoderGenerate")
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)

    def start(self, model, text: str, n: int, ref, edits) -> bool:
        """Start generating ``n`` tokens after ``text`` with ``ref``'s settings; False while
        a generation runs."""
        if self.running:
            return False
        self.running = True
        self._stop.clear()
        stop, report = self._stop, self.progress

        def progress(done, total):
            report.emit(done, total)
            if stop.is_set():
                raise GenerationStopped()

        def job():
            return text, generate(
                model, text, n, edits=edits, sample=ref.sample, temperature=ref.temperature,
                top_k=ref.top_k, seed=ref.seed, progress=progress,
            )  # fmt: skip

        self._worker.submit(job)
        return True

    def stop(self) -> None:
        self._stop.set()

    def _on_done(self, _gen: int, result) -> None:
        self.running = False
        self.finished.emit(result)

    def _on_failed(self, _gen: int, exc) -> None:
        self.running = False
        self.failed.emit(exc)

    def shutdown(self) -> None:
        self._stop.set()
        self._worker.shutdown(0.5)
