"""Grab the window at 1280×800 with one "Inside the sum" view forward (run under Xvfb).

Usage: python scripts/screenshot_inside.py OUT.png VIEW [--example N] [--one-hot]
       [--query I] [--all-heads] [--hover I]

VIEW is an object name: vectorsView, weightedSumView, headLines, embeddingMap, qkMap.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from PySide6 import QtCore, QtWidgets

from explorer.io.session_file import load_session
from explorer.ui.app import create_app
from explorer.ui.main_window import MainWindow
from explorer.ui.workbench.examples import example_files

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from screenshot import grab_window


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("view")
    parser.add_argument("--example", type=int, default=1)
    parser.add_argument("--one-hot", action="store_true")
    parser.add_argument("--query", type=int, default=None)
    parser.add_argument("--all-heads", action="store_true")
    parser.add_argument("--hover", type=int, default=-1, help="query token to hover (lines)")
    args = parser.parse_args()
    app = create_app()
    settings = QtCore.QSettings(
        "/tmp/attention-explorer-shot-inside.ini", QtCore.QSettings.Format.IniFormat
    )
    settings.clear()
    session = load_session(example_files()[args.example][1])
    if args.one_hot:
        session = replace(session, embedding="one-hot", positional="none")
    if args.query is not None:
        session = replace(session, selected_query=args.query)
    window = MainWindow(session, settings=settings)
    window.resize(1280, 800)
    window.show()
    done = []

    def shoot():
        if done:
            return
        done.append(True)
        window.show_inside(args.view)
        view = window.insideView.views[args.view]
        if args.all_heads:
            view.findChild(QtWidgets.QCheckBox, "allHeadsToggle").setChecked(True)
        if args.hover >= 0:
            view.hover_token("left", args.hover)
        QtCore.QTimer.singleShot(600, finish)

    def finish():
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
