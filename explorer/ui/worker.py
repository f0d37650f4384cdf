"""Run ``compute(session)`` off the GUI thread: the latest request wins.

The worker holds at most one pending request. A new request replaces the pending one, so a
flood of slider ticks never queues up; results come back through a queued signal. Tiny
sessions, once the attention core is compiled, are computed inline, because a thread hop
costs more than the work and the answer is then on screen in the same event.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable

from PySide6 import QtCore

from explorer.core.session import Session

INLINE_WORK = 2e5  # n_head·T²·d below which the GUI thread computes directly (< 0.2 ms)


def estimated_work(session: Session) -> float:
    """A cheap upper estimate of n_head·T²·d_head, from the text length."""
    t = min(512, len(session.text) // 2 + 3)
    return session.n_head * t * t * max(session.d_head, session.d_model)


class ComputeWorker(QtCore.QObject):
    """Computes Results for Sessions in a background thread.

    Signals
    -------
    resultReady(int, object, object)
        Generation number, the Session, and its Result.
    failed(int, str)
        Generation number and a one-line message.
    readyChanged(bool)
        True once the attention core is compiled and warm.
    """

    resultReady = QtCore.Signal(int, object, object)
    failed = QtCore.Signal(int, str)
    readyChanged = QtCore.Signal(bool)

    def __init__(self, compute: Callable, warm_up: Callable | None = None, parent=None):
        super().__init__(parent)
        self._compute = compute
        self._warm_up = warm_up
        self._cond = threading.Condition()
        self._pending: tuple[int, Session] | None = None
        self._generation = 0
        self._stop = False
        self.ready = warm_up is None
        self.last_compute_ms = 0.0
        self._thread = threading.Thread(target=self._run, name="ComputeWorker", daemon=True)
        self._thread.start()

    @property
    def generation(self) -> int:
        """The number of the newest request."""
        return self._generation

    def submit(self, session: Session) -> int:
        """Ask for the Result of ``session``; returns the request's generation number."""
        self._generation += 1
        gen = self._generation
        if self.ready and estimated_work(session) < INLINE_WORK:
            with self._cond:
                self._pending = None  # the inline answer supersedes anything queued
            self._run_one(gen, session)
            return gen
        with self._cond:
            self._pending = (gen, session)
            self._cond.notify()
        return gen

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread; a computation in flight finishes first."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run_one(self, gen: int, session: Session) -> None:
        t0 = time.perf_counter()
        try:
            result = self._compute(session)
        except Exception as exc:  # shown to the user; the session is left as it was
            traceback.print_exc()
            self.failed.emit(gen, f"{type(exc).__name__}: {exc}")
            return
        self.last_compute_ms = (time.perf_counter() - t0) * 1e3
        self.resultReady.emit(gen, session, result)

    def _run(self) -> None:
        if self._warm_up is not None:
            try:
                self._warm_up()
            except Exception:
                traceback.print_exc()
            self.ready = True
            self.readyChanged.emit(True)
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                gen, session = self._pending
                self._pending = None
            self._run_one(gen, session)
