"""Grab the window's Model tab at 1280×800 as a PNG (run under Xvfb: DISPLAY=:99).

Usage: python scripts/screenshot_model.py OUT.png [--text TEXT] [--layer L --head H]
       [--ablate] [--hide-special] [--workbench]

``--workbench`` copies the selected head into the workbench and grabs the workbench instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6 import QtCore

from explorer.core.session import Session
from explorer.ui.app import create_app
from explorer.ui.main_window import MainWindow
from explorer.ui.model.view import install_model_view

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot import grab_window


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--text", default="The cat sat on the mat because it was tired.")
    parser.add_argument("--layer", type=int, default=2)
    parser.add_argument("--head", type=int, default=3)
    parser.add_argument("--ablate", action="store_true")
    parser.add_argument("--hide-special", action="store_true")
    parser.add_argument("--workbench", action="store_true")
    args = parser.parse_args()
    app = create_app()
    settings = QtCore.QSettings(
        "/tmp/attention-explorer-model-shot.ini", QtCore.QSettings.Format.IniFormat
    )
    settings.clear()
    window = MainWindow(Session(text=args.text), settings=settings)
    view = install_model_view(window)
    window.resize(1280, 800)
    window.show()
    window.workspaceTabs.setCurrentWidget(view)
    state = {"step": 0}

    def shoot():
        pix = grab_window(window)
        pix.save(args.out)
        print(f"saved {args.out} {pix.width()}x{pix.height()}; {view.timing.text()}")
        window.doc.undo_stack.setClean()
        window.close()
        app.quit()

    def on_analysed():
        state["step"] += 1
        if state["step"] == 1:
            view.select(args.layer, args.head)
            view.hideSpecial.setChecked(args.hide_special)
            if args.ablate:
                view.add_edit(0.0)
                return
        if args.workbench:
            view.copy_to_workbench()
            window.resultShown.connect(lambda: QtCore.QTimer.singleShot(600, shoot))
            return
        QtCore.QTimer.singleShot(600, shoot)

    view.analysed.connect(on_analysed)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
