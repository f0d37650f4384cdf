"""The QApplication, global pyqtgraph settings, and where garbage is collected."""

from __future__ import annotations

import gc
import sys
import time

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

_APP = None
_COLLECTOR: GuiThreadCollector | None = None
#: How often the GUI thread checks whether a garbage collection is due (seconds).
GC_INTERVAL_S = 0.1
#: The oldest generation is measured (to decide on a full collection) at most this often.
SIZE_EVERY_S = 2.0


class GuiThreadCollector:
    """Python's cyclic garbage collection, moved from wherever an allocation happens to the
    GUI thread's event loop (as pyqtgraph's ``GarbageCollector``), with Python's own rule for
    the oldest generation.

    Automatic collection is turned off. A timer collects the young generations when their
    counts pass the interpreter's thresholds. The oldest generation (about 0.1 s to collect
    with the window open) is collected only once it has grown by a quarter since its last
    collection, as CPython decides for itself; pyqtgraph's collector collects it after every
    ten collections of the middle one, which would stall the window for a frame or more
    every few seconds of a slider drag.
    """

    def __init__(self, interval_s: float = GC_INTERVAL_S):
        self.threshold = gc.get_threshold()
        gc.disable()
        # what the oldest generation holds, as if just collected (collecting it here would
        # cost the first paint about 0.1 s)
        self._long_lived = len(gc.get_objects(generation=2))
        self._full_runs = gc.get_stats()[2]["collections"]
        self.size_every_s = SIZE_EVERY_S
        self._sized_at = -SIZE_EVERY_S  # when the oldest generation was last measured
        self.timer = QtCore.QTimer()
        self.timer.timeout.connect(self.check)
        self.timer.start(int(interval_s * 1000))

    def check(self) -> int:
        """Collect the generations that are due; the youngest collected (-1: none)."""
        t0, t1, t2 = self.threshold
        c0, c1, c2 = gc.get_count()
        if c0 <= t0:
            return -1
        if c1 < t1:
            gc.collect(0)
            return 0
        now = time.monotonic()
        if c2 >= t2 and now - self._sized_at >= self.size_every_s:  # listing it is O(n)
            self._sized_at = now
            size = len(gc.get_objects(generation=2))
            full_runs = gc.get_stats()[2]["collections"]
            if full_runs != self._full_runs:  # collected by a gc.collect() elsewhere
                self._long_lived, self._full_runs = size, full_runs
            if size - self._long_lived > self._long_lived // 4:
                gc.collect(2)
                self._long_lived = len(gc.get_objects(generation=2))
                self._full_runs = gc.get_stats()[2]["collections"]
                return 2
        gc.collect(1)
        return 1


def create_app(
    argv: list[str] | None = None, *, gui_thread_gc: bool = True
) -> QtWidgets.QApplication:
    """Return the running QApplication, creating and configuring it if needed.

    With ``gui_thread_gc`` (for a process that runs the window's event loop; not for a
    render called from a script) it also moves Python's cyclic garbage collection onto the
    GUI thread's event loop (:class:`GuiThreadCollector`), on Python 3.11 to 3.13 (3.14
    collects incrementally, in other generations, for which its rule does not hold).

    Left automatic, a collection may start at any allocation: in a worker thread, or
    inside a Qt call that holds one of QObject's internal mutexes.
    ``QObject::disconnect`` calls ``disconnectNotify`` with one locked, PySide looks for a
    Python override there, and a collection that then destroys a garbage QObject waits for
    that mutex forever. A full test run hung that way, in pyqtgraph's ``addItem``.
    """
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    global _APP, _COLLECTOR
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(argv if argv is not None else sys.argv[:1])
    _APP = app  # the application must outlive every widget, until interpreter exit
    app.setApplicationName("Attention Explorer")
    app.setOrganizationName("Attention Explorer")
    app.setApplicationDisplayName("Attention Explorer")
    if gui_thread_gc and _COLLECTOR is None and sys.version_info < (3, 14):
        _COLLECTOR = GuiThreadCollector()
    return app


def collect_garbage() -> None:
    """Collect the generations that are due, now: for a safe point of the GUI thread that
    does not return to the event loop soon (between tests, for one)."""
    if _COLLECTOR is not None:
        _COLLECTOR.check()
