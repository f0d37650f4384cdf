"""The ``attention-explorer`` command: launch the window."""

from __future__ import annotations

import argparse
import sys

from explorer import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attention-explorer",
        description="Make self-attention visible and touchable.",
    )
    parser.add_argument("--version", action="version", version=f"attention-explorer {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    label = QLabel("Attention Explorer")
    label.setWindowTitle("Attention Explorer")
    label.resize(640, 400)
    label.show()
    return app.exec()
