"""The ``attention-explorer`` command: launch the window (optionally on a session file)."""

from __future__ import annotations

import argparse
import gc
import time

from explorer import __version__

_T0 = time.perf_counter()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attention-explorer",
        description="Make self-attention visible and touchable.",
    )
    parser.add_argument("--version", action="version", version=f"attention-explorer {__version__}")
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="open the window, paint once, print the time to first paint and exit",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from PySide6 import QtCore

    from explorer.ui.app import create_app
    from explorer.ui.main_window import MainWindow

    app = create_app()
    window = MainWindow()
    window.show()
    if args.smoke_test:

        def painted():
            window.repaint()
            print(f"first paint after {(time.perf_counter() - _T0) * 1e3:.0f} ms")
            window.close()
            app.quit()

        if window.result is not None:
            QtCore.QTimer.singleShot(0, painted)
        else:
            window.resultShown.connect(lambda: QtCore.QTimer.singleShot(0, painted))
        QtCore.QTimer.singleShot(60_000, lambda: (print("no first paint within 60 s"), app.exit(1)))
    rc = app.exec()
    # Tear the window down while Qt is still alive: leaving it to interpreter shutdown
    # destroys wrapped objects in an arbitrary order.
    window.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    gc.collect()
    return rc
