"""Grab the real window at 1280×800 as a PNG (run under Xvfb: DISPLAY=:99).

Usage: python scripts/screenshot.py OUT.png [--example N] [--tab N]
"""

from __future__ import annotations

import argparse
import sys

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.io.session_file import load_session
from explorer.ui.app import create_app
from explorer.ui.main_window import MainWindow
from explorer.ui.workbench.examples import example_files


def grab_window(window) -> QtGui.QPixmap:
    """The window as the screen shows it, frame included (falls back to the widget)."""
    QtWidgets.QApplication.processEvents()
    screen = QtGui.QGuiApplication.primaryScreen()
    geo = window.frameGeometry()
    pix = screen.grabWindow(0, window.x(), window.y(), geo.width(), geo.height())
    if pix.isNull() or pix.width() < 100:
        pix = window.grab()
    return pix


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--example", type=int, default=1)
    parser.add_argument("--tab", type=int, default=0)
    parser.add_argument("--hover", type=int, default=-1, help="token index to highlight")
    args = parser.parse_args()
    app = create_app()
    settings = QtCore.QSettings(
        "/tmp/attention-explorer-shot.ini", QtCore.QSettings.Format.IniFormat
    )
    settings.clear()
    window = MainWindow(load_session(example_files()[args.example][1]), settings=settings)
    window.resize(1280, 800)
    window.rightTabs.setCurrentIndex(args.tab)
    window.show()

    def shoot():
        if args.hover >= 0:
            window._on_token_hovered(args.hover)
        pix = grab_window(window)
        pix.save(args.out)
        print(f"saved {args.out} {pix.width()}x{pix.height()}")
        window.doc.undo_stack.setClean()
        window.close()
        app.quit()

    window.resultShown.connect(lambda: QtCore.QTimer.singleShot(800, shoot))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
