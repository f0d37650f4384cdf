"""The window's menus (Edit, View, Examples, Help) and status bar.

File › New/Open/Save live in :mod:`explorer.ui.file_actions`, File › Export in
:mod:`explorer.ui.export.actions`; the Model tab adds its own entries.
"""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

from explorer import __version__
from explorer.ui.help import install_help
from explorer.ui.undo_history import UndoHistoryWindow
from explorer.ui.workbench.examples import example_description, example_files


def build_menus(window) -> None:
    """Create the menu bar of a MainWindow (the File menu stays empty for FileActions)."""
    bar = window.menuBar()
    window.fileMenu = bar.addMenu("&File")
    window.editMenu = bar.addMenu("&Edit")
    undo = window.doc.undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QtGui.QKeySequence.StandardKey.Undo)
    redo = window.doc.undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcut(QtGui.QKeySequence("Ctrl+Shift+Z"))
    window.editMenu.addAction(undo)
    window.editMenu.addAction(redo)
    window.undoView = None
    history = window.editMenu.addAction("Undo &History…")
    history.triggered.connect(lambda: show_undo_history(window))
    window.editMenu.addSeparator()
    focus = window.editMenu.addAction("Edit &Text")
    focus.setShortcut(QtGui.QKeySequence("Ctrl+L"))
    focus.triggered.connect(lambda: window.textBar.sentenceEdit.setFocus())

    window.viewMenu = bar.addMenu("&View")
    for i, name in enumerate(("Projections", "Similarity")):
        act = window.viewMenu.addAction(f"Show {name}")
        act.setShortcut(QtGui.QKeySequence(f"Ctrl+{i + 1}"))
        act.triggered.connect(lambda _=False, i=i: window.rightTabs.setCurrentIndex(i))
    prev_head = window.viewMenu.addAction("Previous Head")
    prev_head.setShortcut(QtGui.QKeySequence("Ctrl+["))
    prev_head.triggered.connect(lambda: window._select_head(window.doc.session.selected_head - 1))
    next_head = window.viewMenu.addAction("Next Head")
    next_head.setShortcut(QtGui.QKeySequence("Ctrl+]"))
    next_head.triggered.connect(lambda: window._select_head(window.doc.session.selected_head + 1))
    strip = window.stripAction = window.viewMenu.addAction("Pipeline Strip")
    strip.setObjectName("stripAction")
    strip.setCheckable(True)
    strip.setChecked(True)
    strip.setShortcut(QtGui.QKeySequence("Ctrl+Shift+B"))
    strip.setStatusTip(
        "Show or hide the strip under the heatmap: every head, and the stages from scores to output"
    )
    strip.toggled.connect(lambda shown: window.set_strip_visible(shown))
    causal = window.viewMenu.addAction("Toggle Causal Mask")
    causal.setShortcut(QtGui.QKeySequence("Ctrl+M"))
    causal.triggered.connect(window.modelPanel.causalCheck.toggle)

    window.examplesMenu = bar.addMenu("E&xamples")
    window.examplesMenu.setObjectName("examplesMenu")
    window.examplesMenu.setToolTipsVisible(True)
    for title, path in example_files():
        act = window.examplesMenu.addAction(title)
        act.setStatusTip(example_description(path))
        act.setToolTip(example_description(path))
        act.triggered.connect(lambda _=False, p=path: window.open_example(p))

    window.helpMenu = help_menu = bar.addMenu("&Help")
    about = help_menu.addAction("&About Attention Explorer")
    about.triggered.connect(lambda: show_about(window))
    install_help(window)


def build_status_bar(window) -> None:
    """Token count, shapes, timings, thread count, and the "preparing" indicator."""
    sb = window.statusBar()
    window.statusTokens = QtWidgets.QLabel(objectName="statusTokens")
    window.statusShapes = QtWidgets.QLabel(objectName="statusShapes")
    window.statusTiming = QtWidgets.QLabel(objectName="statusTiming")
    window.statusThreads = QtWidgets.QLabel(objectName="statusThreads")
    window.busy = QtWidgets.QProgressBar(objectName="busyIndicator")
    window.busy.setRange(0, 0)
    window.busy.setMaximumWidth(120)
    window.busy.setFormat("")
    window.busyLabel = QtWidgets.QLabel("Preparing the attention core…", objectName="busyLabel")
    for w in (window.busyLabel, window.busy):
        sb.addWidget(w)
    for w in (window.statusTokens, window.statusShapes, window.statusTiming, window.statusThreads):
        sb.addPermanentWidget(w)
    window.statusTokens.setToolTip("Number of tokens in the text")
    window.statusShapes.setToolTip("Shapes of the input vectors X and the per-head Q, K, V")
    window.statusTiming.setToolTip("Core: time to compute the Result; frame: time to redraw")
    from explorer.core.numba_config import thread_count

    window.statusThreads.setText(f"{thread_count()} threads")
    window.statusThreads.setToolTip("Threads of the Numba attention core")


def show_undo_history(window) -> None:
    """Edit › Undo History: the document's steps and their share of the memory budget."""
    if window.undoView is None:
        window.undoView = UndoHistoryWindow(window.doc, window)
    window.undoView.show()
    window.undoView.raise_()


def show_about(window) -> None:
    """Help › About."""
    QtWidgets.QMessageBox.about(
        window,
        "About Attention Explorer",
        f"<b>Attention Explorer {__version__}</b><p>Make self-attention visible and touchable: "
        "edit W_Q, W_K and W_V and watch every step from tokens to contextual vectors.</p>",
    )
