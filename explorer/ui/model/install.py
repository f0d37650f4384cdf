"""Putting the model view into the main window: tabs, banner, menus, shutdown."""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.model_bridge import install as install_providers
from explorer.core.model_discovery import folder_problem
from explorer.ui.model.view import SETTINGS_FOLDER, ModelView
from explorer.ui.theme import apply_theme


class _CloseWatcher(QtCore.QObject):
    """Stops the view's worker once the window has really closed."""

    def __init__(self, view: ModelView, window):
        super().__init__(view)
        self._window = window
        # their threads are plain Python: safe to stop at any time
        self._workers = (view.worker, view.curveWorker)

    def eventFilter(self, obj, event) -> bool:
        if obj is self._window and event.type() == QtCore.QEvent.Type.Close:
            # the window may still refuse to close (unsaved changes): look after it decided
            QtCore.QTimer.singleShot(0, self._check)
        return False

    def _check(self) -> None:
        # the window (and the view with it) may already be deleted when the timer fires
        if not shiboken6.isValid(self._window) or not self._window.isVisible():
            for worker in self._workers:
                worker.shutdown()


def install(window) -> ModelView:
    """Add the model view to ``window`` and register the model providers.

    * The workbench (``window.mainSplit``) and the model view become the tabs "Workbench"
      and "Model" of ``window.workspaceTabs``, below the shared text bar, so the grid gets
      the window's full width; a banner above them reports a session's missing model.
      (Without ``mainSplit`` the view becomes a "Model" tab of ``window.rightTabs``.)
    * File › Open Model… picks a model folder, remembered in ``window.settings`` under
      ``"model/folder"``; View › Show Model (Ctrl+3).

    Returns
    -------
    ModelView
        Also stored as ``window.modelView``.
    """
    bridge = install_providers()
    folder = window.settings.value(SETTINGS_FOLDER, "")
    if folder and not folder_problem(folder):
        bridge.add_folder(folder)
    view = ModelView(window, bridge)
    if folder and not folder_problem(folder):
        view._chosen = Path(folder)
    central = window.centralWidget()
    layout = central.layout() if central is not None else None
    split = getattr(window, "mainSplit", None)
    index = layout.indexOf(split) if layout is not None and split is not None else -1
    if index >= 0:
        tabs = QtWidgets.QTabWidget(objectName="workspaceTabs")
        tabs.setDocumentMode(True)
        layout.removeWidget(split)
        tabs.addTab(split, "Workbench")
        tabs.addTab(view, "Model")
        tabs.setTabToolTip(0, "The attention workbench: edit one layer's heads")
        tabs.setTabToolTip(1, "Every layer and head of a pretrained encoder")
        layout.insertWidget(index, tabs, 1)
        layout.insertWidget(index, view.banner)
        window.workspaceTabs = tabs

        def show_model() -> None:
            tabs.setCurrentWidget(view)
    else:
        window.rightTabs.addTab(view, "Model")
        view.layout().insertWidget(0, view.banner)

        def show_model() -> None:
            window.rightTabs.setCurrentWidget(view)

    menu = window.fileMenu
    action = QtGui.QAction("Open &Model…", window, objectName="openModelAction")
    action.setStatusTip("Choose a folder with a pretrained BERT encoder")
    action.triggered.connect(view.open_model_dialog)
    actions = menu.actions()
    opener = getattr(getattr(window, "files", None), "openAction", None)
    after = actions.index(opener) + 1 if opener in actions else len(actions)
    menu.insertAction(actions[after] if after < len(actions) else None, action)
    show = window.viewMenu.addAction("Show Model")
    show.setShortcut(QtGui.QKeySequence("Ctrl+3"))
    show.triggered.connect(show_model)
    if index >= 0:
        # Ctrl+1 / Ctrl+2 show workbench tabs: bring the workbench to the front first
        for act in window.viewMenu.actions():
            if act.text() in ("Show Projections", "Show Similarity"):
                act.triggered.connect(lambda *_: window.workspaceTabs.setCurrentIndex(0))
    window.modelView = view
    window.installEventFilter(_CloseWatcher(view, window))
    apply_theme(view)
    if window.doc.session.model is not None:
        view.refresh(force=True)  # report a missing model at once
    view._update_banner(None)
    return view
