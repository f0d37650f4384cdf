"""Edit › Undo History: the list of steps, and how much of its memory budget they use."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from explorer.ui.document import Document


def megabytes(n_bytes: float) -> str:
    """``12.3 MB`` (1 MB = 1,000,000 bytes)."""
    mb = n_bytes / 1e6
    return f"{mb:.1f} MB" if mb < 100 else f"{mb:,.0f} MB"


def budget_text(doc: Document) -> str:
    """One line on the history's size: steps, estimated bytes and the budget."""
    steps = doc.undo_stack.count()
    text = (
        f"{steps} step{'s' if steps != 1 else ''}, about {megabytes(doc.history_bytes)} "
        f"of a {megabytes(doc.history_budget)} budget"
    )
    if doc.dropped_steps:
        text += f"; {doc.dropped_steps} older steps were dropped to stay within it"
    return text


class UndoHistoryWindow(QtWidgets.QWidget):
    """The undo steps of a document (click one to go back to it) and its memory use.

    Parameters
    ----------
    doc : Document
    parent : QWidget, optional
        Kept as a separate window (``Qt.Window``) over its parent.
    """

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent, QtCore.Qt.WindowType.Window)
        self.setObjectName("undoHistory")
        self.setWindowTitle("Undo History")
        self._doc = doc
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.view = QtWidgets.QUndoView(doc.undo_stack, objectName="undoHistoryList")
        self.view.setEmptyLabel("<opened>")
        self.view.setToolTip("Every edit since the session was opened; click one to go back")
        layout.addWidget(self.view, 1)
        self.budget = QtWidgets.QLabel(objectName="undoBudget")
        self.budget.setWordWrap(True)
        self.budget.setToolTip(
            "Memory the undo history uses, estimated from the steps' texts and matrices. "
            "Past the budget the oldest steps are dropped."
        )
        layout.addWidget(self.budget)
        doc.historyChanged.connect(self._update_budget)
        self._update_budget()
        self.resize(320, 440)

    def stack(self):
        """The undo stack shown (as :meth:`QUndoView.stack`)."""
        return self.view.stack()

    def _update_budget(self) -> None:
        self.budget.setText(budget_text(self._doc))
