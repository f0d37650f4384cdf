"""Grab the Model tab with a real head edited in place, at 1280×800 (run under Xvfb).

Usage: python scripts/screenshot_model_edit.py OUT.png [--layer L --head H] [--factor F]
       [--after]

The head is bound to ``modelHeadEditor``, its W_Q is scaled by ``--factor`` (a sharper head)
and one weight is moved with its slider; the grid shows the difference from the unedited run
(``--after``: the attention after the edit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from explorer.core.session import Session
from explorer.ui.app import create_app
from explorer.ui.main_window import MainWindow
from explorer.ui.model.view import install_model_view

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot import grab_window

TEXT = "I sat by the river bank. I deposited money in the bank."


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--layer", type=int, default=1)
    parser.add_argument("--head", type=int, default=3)
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--after", action="store_true")
    args = parser.parse_args()
    app = create_app()
    settings = QtCore.QSettings(
        "/tmp/attention-explorer-model-edit-shot.ini", QtCore.QSettings.Format.IniFormat
    )
    settings.clear()
    window = MainWindow(Session(text=TEXT), settings=settings)
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

    def settled() -> bool:
        return not view.worker.busy and not view.curveWorker.busy

    def on_analysed():
        state["step"] += 1
        if state["step"] == 1:
            view.select(args.layer, args.head)
            view.edit_selected_head()
            editor = view.headEditor.projections.editors["q"]
            editor.scaleSpin.setValue(args.factor)
            editor.buttons["scale"].click()
        elif state["step"] == 2:
            slider = view.headEditor.findChild(QtWidgets.QSlider, "modelWeightSlider_q_0_0")
            slider.setValue(slider.value() + 150)
        elif state["step"] == 3:
            view.gridMode.setCurrentIndex(0 if args.after else 1)

            def wait():
                if settled():
                    QtCore.QTimer.singleShot(600, shoot)
                else:
                    QtCore.QTimer.singleShot(100, wait)

            wait()

    view.analysed.connect(on_analysed)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
