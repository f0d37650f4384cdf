"""Background work for the window: one thread per worker, and the latest request wins.

A worker holds at most one waiting job. A new job replaces the waiting one, so a flood of
slider ticks never queues up; results come back through queued signals carrying the job's
number, so the receiver can drop stale ones. :class:`ComputeWorker` runs ``compute(session)``
for the workbench; the model view uses a plain :class:`JobWorker` for encoder passes.

Start-up: the compiled attention kernels take about 0.5 s to load from Numba's cache, and
5-15 s to compile on a first launch. :class:`ComputeWorker` loads them in a thread of its
own, after the window's first paint (:func:`after_first_paint`), and computes with NumPy
alone until they are ready: the same numbers, so the first Result is on screen at once.
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


class JobWorker(QtCore.QObject):
    """Runs jobs (functions without arguments) in a background thread, latest first.

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

    def __init__(
        self,
        parent=None,
        *,
        startup: Callable | None = None,
        name: str = "JobWorker",
        start: bool = True,
    ):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: tuple[int, Callable] | None = None
        self._generation = 0
        self._running = False
        self._stop = False
        self._startup = startup
        self.last_ms = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        if start:
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

    def _number_inline(self) -> int:
        """Number a job the caller runs itself; a waiting job is now stale and dropped."""
        with self._cond:
            self._generation += 1
            self._pending = None
            return self._generation

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
        if self._startup is not None:
            self._startup()
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
            except Exception as exc:  # reported to the receiver, which shows it
                if not isinstance(exc, ValueError):
                    traceback.print_exc()
                reported = self._finish(t0) and self._emit(self.failed, gen, exc)
            else:
                reported = self._finish(t0) and self._emit(self.done, gen, value)
            if not reported:
                return  # the worker object was deleted with its window: nobody listens

    def _finish(self, t0: float) -> bool:
        self.last_ms = (time.perf_counter() - t0) * 1e3
        with self._cond:
            self._running = False
            idle = self._pending is None
        return self._emit(self.busyChanged, False) if idle else True

    @staticmethod
    def _emit(signal, *args) -> bool:
        """Emit ``signal``; False when its object has been deleted (its window closed while
        a job ran), so that the thread ends quietly instead of raising."""
        try:
            signal.emit(*args)
        except RuntimeError:  # "Signal source has been deleted"
            return False
        return True


def after_first_paint(
    widget: QtCore.QObject, callback: Callable[[], None], at_latest_ms: int = 5000
) -> None:
    """Call ``callback`` once, from the event loop, just after ``widget`` first paints.

    For work that would slow the first paint down if it ran alongside (Python threads share
    one interpreter lock): a zero-delay timer started before the first paint fires before it.
    A widget that is not painted within ``at_latest_ms`` (never shown) gets the call then.
    """
    _FirstPaint(widget, callback, at_latest_ms)


class _FirstPaint(QtCore.QObject):
    def __init__(self, widget: QtCore.QObject, callback: Callable[[], None], at_latest_ms: int):
        super().__init__(widget)
        self._callback = callback
        widget.installEventFilter(self)
        QtCore.QTimer.singleShot(at_latest_ms, self, self._fire)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QtCore.QEvent.Type.Paint and self._callback is not None:
            obj.removeEventFilter(self)
            QtCore.QTimer.singleShot(0, self, self._fire)  # once this paint has finished
        return False

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            self.parent().removeEventFilter(self)
            callback()
            self.deleteLater()


class ComputeWorker(JobWorker):
    """Computes Results for Sessions off the GUI thread.

    Tiny sessions are computed inline: a thread hop costs more than the work, and the answer
    is then on screen in the same event.

    ``warm_up`` (which loads, or on a first launch compiles, the attention kernels) runs in a
    thread of its own once :meth:`prepare` is called. Until it has finished, Sessions are
    computed with ``compute(session, use_kernels=False)``: NumPy alone, the same Result up to
    float rounding, so nothing jumps on screen when the kernels take over.

    Signals
    -------
    resultReady(int, object, object)
        Request number, the Session, and its Result.
    readyChanged(bool)
        True once the attention kernels are loaded and warm.
    """

    resultReady = QtCore.Signal(int, object, object)
    readyChanged = QtCore.Signal(bool)

    def __init__(self, compute: Callable, warm_up: Callable | None = None, parent=None):
        super().__init__(parent, name="ComputeWorker", start=False)
        self._compute = compute
        self._last = None  # (Session, Result, by the kernels) of the latest finished compute
        self._warm_up = warm_up
        self._warm_thread: threading.Thread | None = None
        self.ready = warm_up is None
        self.done.connect(self._on_done)
        self._thread.start()

    @property
    def last_compute_ms(self) -> float:
        return self.last_ms

    def prepare(self) -> None:
        """Start loading the attention kernels in the background; later calls do nothing."""
        if self.ready or self._warm_thread is not None:
            return
        self._warm_thread = threading.Thread(
            target=self._prepare, name="AttentionWarmUp", daemon=True
        )
        self._warm_thread.start()

    def submit(self, session: Session) -> int:
        """Ask for the Result of ``session``; returns the request's number."""
        if estimated_work(session) < INLINE_WORK:
            gen = self._number_inline()
            t0 = time.perf_counter()
            try:
                result = self._compute_reusing(session)
            except Exception as exc:  # shown to the user; the session is left as it was
                if not isinstance(exc, ValueError):
                    traceback.print_exc()
                self.failed.emit(gen, exc)
                return gen
            self.last_ms = (time.perf_counter() - t0) * 1e3
            self.resultReady.emit(gen, session, result)
            return gen
        return super().submit(lambda: (session, self._compute_reusing(session)))

    def _compute_reusing(self, session: Session):
        """``compute(session, reuse=...)`` with the latest finished (Session, Result): a
        slider drag then recomputes only the edited head. NumPy alone until ready; once
        ready, a Result of the NumPy path is not reused whole, so the kernels take over at
        the next request (the same numbers, up to rounding)."""
        kernels = self.ready
        kw = {} if kernels else {"use_kernels": False}
        last = self._last  # one tuple, swapped whole: safe to read from either thread
        if last is not None and (last[2] or not kernels):
            kw["reuse"] = last[:2]
        result = self._compute(session, **kw)
        self._last = (session, result, kernels)
        return result

    def _on_done(self, gen: int, value) -> None:
        session, result = value
        self.resultReady.emit(gen, session, result)

    def _prepare(self) -> None:
        try:
            self._warm_up()
        except Exception:  # the first compute with the kernels compiles instead
            traceback.print_exc()
        self.ready = True
        self.readyChanged.emit(True)
