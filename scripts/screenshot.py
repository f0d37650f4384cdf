"""Grab the window of a fresh launch as a PNG: the default session at the default size.

Regenerates docs/screenshot.png (run under Xvfb, no window manager, so there is no frame)::

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 .venv/bin/python scripts/screenshot.py docs/screenshot.png

The window is what a first start shows: settings and data folders are fresh temporary ones
(no remembered geometry, splitters, recent files or autosave to restore), so the window has
its default size of 1280×800 and shows the default session. The pointer is moved off the
window so no hover highlight shows, and the picture is taken once the window has stopped
changing. Only the status bar's timings vary between runs.

Usage: python scripts/screenshot.py OUT.png [--example N] [--tab N] [--hover I]
    [--zoom R0 R1 C0 C1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a source checkout
    sys.path.insert(0, str(ROOT))

DEFAULT_SIZE = (1280, 800)
SETTLE_MS = 400  # between grabs, once the first result is shown
MAX_GRABS = 25


def grab_window(window):
    """The window as the screen shows it, frame included (falls back to the widget)."""
    from PySide6 import QtGui, QtWidgets

    QtWidgets.QApplication.processEvents()
    screen = QtGui.QGuiApplication.primaryScreen()
    geo = window.frameGeometry()
    pix = screen.grabWindow(0, window.x(), window.y(), geo.width(), geo.height())
    if pix.isNull() or pix.width() < 100:
        pix = window.grab()
    return pix


def fresh_user_folders(base: Path) -> None:
    """Point Qt's settings and data locations at empty folders under ``base``.

    QSettings and QStandardPaths read these variables on Linux and the BSDs; set them before
    the QApplication exists.
    """
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        folder = base / var.lower()
        folder.mkdir()
        os.environ[var] = str(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument(
        "--example", type=int, default=None, help="open this Examples menu entry (0-based)"
    )
    parser.add_argument("--tab", type=int, default=None, help="show this right-hand tab")
    parser.add_argument("--hover", type=int, default=-1, help="token index to highlight")
    parser.add_argument(
        "--zoom",
        type=int,
        nargs=4,
        metavar=("R0", "R1", "C0", "C1"),
        help="zoom the attention heatmap to these rows and columns (a long text)",
    )
    return in_fresh_folders(_shoot, parser.parse_args())


def in_fresh_folders(shoot, args) -> int:
    """``shoot(args)`` with Qt's settings and data in empty temporary folders."""
    with tempfile.TemporaryDirectory(prefix="attention-explorer-shot-") as tmp:
        fresh_user_folders(Path(tmp))
        return shoot(args)


def _shoot(args) -> int:
    from PySide6 import QtCore, QtGui

    from explorer.io.session_file import load_session
    from explorer.ui.app import create_app
    from explorer.ui.main_window import MainWindow
    from explorer.ui.workbench.examples import example_files

    app = create_app()
    session = None
    if args.example is not None:
        session = load_session(example_files()[args.example][1])
    window = MainWindow(session)  # default QSettings and data folder: the fresh ones
    if args.tab is not None:
        window.rightTabs.setCurrentIndex(args.tab)
    window.move(0, 0)
    screen = QtGui.QGuiApplication.primaryScreen().geometry()
    QtGui.QCursor.setPos(screen.right(), screen.bottom())  # no hover effects
    window.show()
    status = {"rc": 1, "started": False, "last": None, "tries": 0}

    def start():
        if status["started"]:  # once, at the first result
            return
        status["started"] = True
        size = (window.width(), window.height())
        if size != DEFAULT_SIZE:
            print(f"screenshot: the window is {size[0]}x{size[1]}, not 1280x800", file=sys.stderr)
            app.exit(1)
            return
        if args.hover >= 0:
            window._on_token_hovered(args.hover)
        if args.zoom:
            window.attentionHeatmap.zoom_to(*args.zoom)
        QtCore.QTimer.singleShot(SETTLE_MS, shoot)

    def shoot():
        # deferred layouts (splitters, labels that wait for their size) settle over a few
        # event-loop turns; the picture is taken once two grabs in a row are identical
        image = grab_window(window).toImage()
        status["tries"] += 1
        if image != status["last"] and status["tries"] < MAX_GRABS:
            status["last"] = image
            QtCore.QTimer.singleShot(SETTLE_MS, shoot)
            return
        if image != status["last"]:
            print(f"screenshot: the window kept changing for {MAX_GRABS} grabs", file=sys.stderr)
        if not image.save(args.out):
            print(f"screenshot: cannot write {args.out}", file=sys.stderr)
        else:
            print(f"saved {args.out} {image.width()}x{image.height()}")
            status["rc"] = 0
        window.doc.undo_stack.setClean()
        window.close()
        app.quit()

    window.resultShown.connect(start)
    rc = app.exec()
    return rc or status["rc"]


if __name__ == "__main__":
    sys.exit(main())
