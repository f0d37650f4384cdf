"""Putting the Decoder tab into the main window: a workspace tab, a menu entry, shutdown."""

from __future__ import annotations

from PySide6 import QtGui

from explorer.ui.decoder.exports import DecoderExports
from explorer.ui.decoder.view import DecoderView
from explorer.ui.theme import apply_theme


def install_decoder_view(window) -> DecoderView:
    """Add the Decoder tab beside "Workbench" and "Model" (View › Show Decoder, Ctrl+4).

    Without ``window.workspaceTabs`` the view becomes a tab of ``window.rightTabs``.

    Returns
    -------
    DecoderView
        Also stored as ``window.decoderView``.
    """
    view = DecoderView(window)
    tabs = getattr(window, "workspaceTabs", None) or window.rightTabs
    tabs.addTab(view, "Decoder")
    tabs.setTabToolTip(
        tabs.indexOf(view), "A GPT-style decoder: next-token prediction, logit lens, generation"
    )
    show = window.viewMenu.addAction("Show Decoder")
    show.setObjectName("showDecoderAction")
    show.setShortcut(QtGui.QKeySequence("Ctrl+4"))
    show.triggered.connect(lambda *_: tabs.setCurrentWidget(view))
    window.decoderView = view
    if getattr(window, "exports", None) is not None:
        view.exports = DecoderExports(window, view)
    apply_theme(view)
    return view
