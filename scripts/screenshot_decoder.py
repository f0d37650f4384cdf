"""Grab the Decoder tab as a PNG: the built-in tiny-induction model on a repeated sentence.

Regenerates docs/decoder.png (run under Xvfb)::

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 .venv/bin/python scripts/screenshot_decoder.py docs/decoder.png

Fresh settings (see ``screenshot.py``), 1280×800. The text repeats a phrase so that the
induction head and the next-token panel have something to show; ``--ablate L H`` ablates a
head first, ``--head L H`` draws one head large.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from screenshot import SETTLE_MS, grab_window, in_fresh_folders  # noqa: E402

TEXT = "The cat sat on the mat. The cat sat on the"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--head", type=int, nargs=2, default=None)
    parser.add_argument("--ablate", type=int, nargs=2, default=None)
    parser.add_argument("--size", type=int, nargs=2, default=(1280, 800))
    return in_fresh_folders(_shoot, parser.parse_args())


def _shoot(args) -> int:
    from PySide6 import QtCore, QtGui

    from explorer.core.session import DecoderEdit, DecoderRef, Session
    from explorer.ui.app import create_app
    from explorer.ui.main_window import MainWindow

    app = create_app()
    ref = DecoderRef("tiny-induction")
    if args.head:
        ref = replace(ref, layer=args.head[0], head=args.head[1])
    if args.ablate:
        ref = replace(ref, edits=(DecoderEdit(args.ablate[0], args.ablate[1], 0.0),))
    window = MainWindow(replace(Session(), text=args.text, decoder=ref))
    window.resize(*args.size)
    window.move(0, 0)
    QtGui.QCursor.setPos(1599, 999)
    view = window.decoderView
    window.show()
    window.workspaceTabs.setCurrentWidget(view)
    state = {"last": None, "tries": 0, "rc": 1}

    def wait():
        if view.output is None:
            QtCore.QTimer.singleShot(100, wait)
            return
        QtCore.QTimer.singleShot(SETTLE_MS, shoot)

    def shoot():
        image = grab_window(window).toImage()
        state["tries"] += 1
        if image != state["last"] and state["tries"] < 25:
            state["last"] = image
            QtCore.QTimer.singleShot(SETTLE_MS, shoot)
            return
        if image.save(args.out):
            print(f"saved {args.out} {image.width()}x{image.height()}")
            state["rc"] = 0
        window.doc.undo_stack.setClean()
        window.close()
        app.quit()

    QtCore.QTimer.singleShot(200, wait)
    QtCore.QTimer.singleShot(60000, app.quit)
    rc = app.exec()
    return rc or state["rc"]


if __name__ == "__main__":
    sys.exit(main())
