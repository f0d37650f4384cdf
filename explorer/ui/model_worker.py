"""A background thread for the model view: the latest request wins.

A forward pass of a real encoder takes 20-100 ms and loading one about 0.2 s, too long for the
GUI thread. The view submits a job (a function without arguments); a new job replaces one
that has not started, and results come back through queued signals with the job's number so
that the view can drop stale ones.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable

from PySide6 import QtCore


class ModelWorker(QtCore.QObject):
    """Runs model-view jobs off the GUI thread.

    Signals
    -------
    done(int, object)
        Job number and the job's return value.
    failed(int, object)
        Job number and the exception it raised.
    busyChanged(bool)
        True while a job runs or waits.
    """

    done = QtCore.Signal(int, object)
    failed = QtCore.Signal(int, object)
    busyChanged = QtCore.Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: tuple[int, Callable] | None = None
        self._generation = 0
        self._running = False
        self._stop = False
        self.last_ms = 0.0
        self._thread = threading.Thread(target=self._run, name="ModelWorker", daemon=True)
        self._thread.start()

    @property
    def generation(self) -> int:
        """Number of the newest job."""
        return self._generation

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._running or self._pending is not None

    def submit(self, job: Callable) -> int:
        """Queue ``job`` (replacing a waiting one); returns its number."""
        with self._cond:
            if self._stop:
                return self._generation
            self._generation += 1
            self._pending = (self._generation, job)
            self._cond.notify()
            gen = self._generation
        self.busyChanged.emit(True)
        return gen

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread; a job in flight finishes first."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                gen, job = self._pending
                self._pending = None
                self._running = True
            t0 = time.perf_counter()
            try:
                value = job()
            except Exception as exc:  # reported to the view, which shows it
                if not isinstance(exc, ValueError):
                    traceback.print_exc()
                self._finish(t0)
                self.failed.emit(gen, exc)
            else:
                self._finish(t0)
                self.done.emit(gen, value)

    def _finish(self, t0: float) -> None:
        self.last_ms = (time.perf_counter() - t0) * 1e3
        with self._cond:
            self._running = False
            idle = self._pending is None
        if idle:
            self.busyChanged.emit(False)
