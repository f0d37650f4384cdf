"""The QApplication and global pyqtgraph settings."""

from __future__ import annotations

import sys

import pyqtgraph as pg
from PySide6 import QtWidgets

_APP = None


def create_app(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """Return the running QApplication, creating and configuring it if needed."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    global _APP
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(argv if argv is not None else sys.argv[:1])
    _APP = app  # the application must outlive every widget, until interpreter exit
    app.setApplicationName("Attention Explorer")
    app.setOrganizationName("Attention Explorer")
    app.setApplicationDisplayName("Attention Explorer")
    return app
