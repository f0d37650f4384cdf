"""The QApplication, global pyqtgraph settings, and where garbage is collected."""

from __future__ import annotations

import sys

import pyqtgraph as pg
from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6 import QtWidgets

_APP = None
_COLLECTOR: GarbageCollector | None = None
#: How often the GUI thread checks whether a garbage collection is due (seconds).
GC_INTERVAL_S = 0.1


def create_app(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """Return the running QApplication, creating and configuring it if needed.

    Also moves Python's cyclic garbage collection onto the GUI thread's event loop
    (pyqtgraph's ``GarbageCollector``: automatic collection off, the due generations
    collected from a timer). Left automatic, a collection may start at any allocation: in a
    worker thread, or inside a Qt call that holds one of QObject's internal mutexes.
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
    if _COLLECTOR is None:
        _COLLECTOR = GarbageCollector(interval=GC_INTERVAL_S)
    return app


def collect_garbage() -> None:
    """Collect the generations that are due, now: for a safe point of the GUI thread that
    does not return to the event loop soon (between tests, for one)."""
    if _COLLECTOR is not None:
        _COLLECTOR.check()
