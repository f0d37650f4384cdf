"""The Document: the current Session, its undo history and its file.

Every edit replaces the Session with a new one through :meth:`Document.apply`, which pushes
an undo step. Consecutive edits that share a ``merge_key`` (a slider being dragged) merge into
one step, so a drag undoes in one go.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.session import Session

_MERGE_IDS: dict[str, int] = {}


def _merge_id(key: str | None) -> int:
    if key is None:
        return -1
    return _MERGE_IDS.setdefault(key, len(_MERGE_IDS) + 1)


#: Slider changes made without dragging (arrow keys, wheel, clicks on the groove) that come
#: closer together than this merge into one undo step.
BURST_MS = 600


def close_merge_on_pause(slider: QtWidgets.QAbstractSlider, finished, ms: int = BURST_MS) -> None:
    """Call ``finished`` (which closes the open undo step) when a drag of ``slider`` ends,
    and ``ms`` after the last change made without dragging, so that a burst of key presses
    or wheel turns is one undo step and the next burst is another."""
    timer = QtCore.QTimer(slider, singleShot=True, interval=ms)
    timer.timeout.connect(finished)
    slider.valueChanged.connect(lambda _v: None if slider.isSliderDown() else timer.start())
    slider.sliderReleased.connect(finished)


class SessionUndoKeys(QtCore.QObject):
    """Makes Ctrl+Z / Ctrl+Shift+Z undo the Session from inside text and spin boxes.

    Those widgets claim the undo keys for their own text history, so the window's Undo never
    fired while one had focus (the text box has it at every launch). Every edit they make is
    already a Session step, so the Session's undo is the right one. ``before`` runs first
    (the text bar flushes a pending, debounced edit so that it becomes a step to undo).
    """

    def __init__(self, stack: QtGui.QUndoStack, before=None, parent=None):
        super().__init__(parent)
        self._stack = stack
        self._before = before

    def watch(self, *widgets: QtWidgets.QWidget) -> None:
        for w in widgets:
            w.installEventFilter(self)
            if isinstance(w, QtWidgets.QAbstractSpinBox):
                w.findChild(QtWidgets.QLineEdit).installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind not in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress):
            return False
        undo = event.matches(QtGui.QKeySequence.StandardKey.Undo)
        redo = event.matches(QtGui.QKeySequence.StandardKey.Redo)
        if not (undo or redo):
            return False
        if kind == QtCore.QEvent.Type.ShortcutOverride:
            event.accept()  # keep the key for ourselves, then handle the key press below
            return True
        if self._before is not None:
            self._before()
        (self._stack.undo if undo else self._stack.redo)()
        return True


class SessionCommand(QtGui.QUndoCommand):
    """Replace one Session snapshot by another."""

    def __init__(self, doc: Document, old: Session, new: Session, text: str, merge_key):
        super().__init__(text)
        self._doc = doc
        self.old = old
        self.new = new
        self._id = _merge_id(merge_key)
        self._open = merge_key is not None  # a drag in progress may still merge

    def id(self) -> int:
        return self._id

    def mergeWith(self, other) -> bool:
        if not isinstance(other, SessionCommand) or other.id() != self.id() or not self._open:
            return False
        self.new = other.new
        return True

    def close(self) -> None:
        """Stop merging: the next edit starts a new undo step."""
        self._open = False

    def redo(self) -> None:
        self._doc._set(self.new)

    def undo(self) -> None:
        self._doc._set(self.old)


class Document(QtCore.QObject):
    """Owns the Session shown in a window.

    Signals
    -------
    sessionChanged(object, object)
        The new Session and the previous one.
    pathChanged(object)
        The file the document is bound to (a Path, or None).
    """

    sessionChanged = QtCore.Signal(object, object)
    pathChanged = QtCore.Signal(object)

    def __init__(self, session: Session | None = None, parent=None):
        super().__init__(parent)
        self._session = session if session is not None else Session()
        self.undo_stack = QtGui.QUndoStack(self)
        self._path: Path | None = None

    @property
    def session(self) -> Session:
        return self._session

    @property
    def path(self) -> Path | None:
        return self._path

    def set_path(self, path: Path | None) -> None:
        self._path = Path(path) if path is not None else None
        self.pathChanged.emit(self._path)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def apply(self, new: Session, text: str = "Edit", merge_key: str | None = None) -> None:
        """Make ``new`` the current Session as one undoable step."""
        if new == self._session:
            return
        self.undo_stack.push(SessionCommand(self, self._session, new, text, merge_key))

    def end_merge(self) -> None:
        """Close the open drag, so the next edit becomes its own undo step."""
        idx = self.undo_stack.index()
        if idx > 0:
            cmd = self.undo_stack.command(idx - 1)
            if isinstance(cmd, SessionCommand):
                cmd.close()

    def replace(self, session: Session, path: Path | None = None) -> None:
        """Start over from ``session`` (New, Open): clears the history."""
        self.undo_stack.clear()
        self._set(session)
        self.set_path(path)
        self.undo_stack.setClean()

    def mark_saved(self, path: Path) -> None:
        self.set_path(path)
        self.undo_stack.setClean()

    def _set(self, session: Session) -> None:
        old, self._session = self._session, session
        self.sessionChanged.emit(session, old)
