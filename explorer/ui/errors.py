"""The last line of defence: an unexpected exception becomes a dialog, never a dead window.

Qt calls Python slots from C++; an exception escaping one would otherwise be printed as a
traceback on a terminal the user may not have. :func:`install_excepthook` replaces
``sys.excepthook`` (and ``threading.excepthook``) so that the user instead sees one clear
dialog saying what failed, that the work is safe (the session is autosaved at once), and
where the full report was written. The window stays usable.
"""

from __future__ import annotations

import datetime
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from explorer.ui.file_actions import default_autosave_dir


def error_log_path() -> Path:
    """Where unexpected errors are recorded: ``errors.log`` in the user's data folder."""
    return default_autosave_dir().parent / "errors.log"


class ErrorReporter(QtCore.QObject):
    """Shows unexpected exceptions in a dialog, on the GUI thread, one at a time.

    Parameters
    ----------
    window_getter : callable returning the main window or None
        The window owns the dialog and is asked to autosave before it opens.
    log_path : Path, optional
        The report file (default :func:`error_log_path`).
    show : callable(title, text, details), optional
        Replaces the dialog (tests).
    """

    _reported = QtCore.Signal(str, str)

    def __init__(
        self,
        window_getter: Callable[[], object],
        log_path: Path | None = None,
        show: Callable[[str, str, str], None] | None = None,
    ):
        super().__init__()
        self._window = window_getter
        self.log_path = Path(log_path) if log_path else error_log_path()
        self._show = show or self._dialog
        self._open = False
        self.count = 0
        # a worker thread's exception is shown by the GUI thread (queued across threads)
        self._reported.connect(self._present, QtCore.Qt.ConnectionType.QueuedConnection)

    # ------------------------------------------------------------ hooks
    def excepthook(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QtWidgets.QApplication.quit()
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        summary = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        self.count += 1
        self._record(details)
        self._reported.emit(summary, details)

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        self.excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    # ------------------------------------------------------------ report
    def _record(self, details: str) -> None:
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(f"--- {stamp}\n{details}\n")
            where = str(self.log_path)
        except OSError:
            where = "standard error"
            if sys.__stderr__:
                sys.__stderr__.write(details)
        if sys.__stderr__:
            first = details.strip().splitlines()[-1]
            sys.__stderr__.write(f"attention-explorer: unexpected error ({first}); see {where}\n")

    def _present(self, summary: str, details: str) -> None:
        if self._open:
            return  # one dialog at a time: a storm of errors must not bury the window
        window = self._window()
        saved = ""
        files = getattr(window, "files", None)
        if files is not None and window.doc.modified:
            try:
                files.autosave()
                saved = f" Your unsaved changes were autosaved to {files.autosave_path}."
            except Exception:  # the report must still reach the user
                saved = ""
        text = (
            "Attention Explorer hit an unexpected error. The window is still usable; "
            f"save your work before trying the same action again.{saved}\n\n{summary}\n\n"
            f"A full report was written to {self.log_path}."
        )
        self._open = True
        try:
            self._show("Unexpected error", text, details)
        finally:
            self._open = False

    def _dialog(self, title: str, text: str, details: str) -> None:
        parent = self._window()
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Critical,
            title,
            text,
            QtWidgets.QMessageBox.StandardButton.Ok,
            parent if isinstance(parent, QtWidgets.QWidget) else None,
        )
        box.setDetailedText(details)
        box.exec()


def install_excepthook(window_getter: Callable[[], object]) -> ErrorReporter:
    """Route uncaught exceptions (GUI and worker threads) to an :class:`ErrorReporter`."""
    reporter = ErrorReporter(window_getter)
    sys.excepthook = reporter.excepthook
    threading.excepthook = reporter.thread_excepthook
    return reporter
