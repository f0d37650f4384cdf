"""The Document: the current Session, its undo history and its file.

Every edit replaces the Session with a new one through :meth:`Document.apply`, which pushes
an undo step. Consecutive edits that share a ``merge_key`` (a slider being dragged) merge into
one step, so a drag undoes in one go.

The history has a memory budget (:data:`HISTORY_BUDGET`, 200 MB by default). Each step is
charged for what its Session holds that the Session before it does not (a weight edit makes
new matrices for the edited head only; an unchanged text is shared), plus a fixed cost for
the step itself. When the history grows past its budget the oldest steps are dropped until
it is back under :data:`LOW_WATER` of it, so that a long session of edits neither grows
without bound nor drops a step at every edit. Steps that can be redone are never dropped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.session import Session

_MERGE_IDS: dict[str, int] = {}


def _merge_id(key: str | None) -> int:
    if key is None:
        return -1
    return _MERGE_IDS.setdefault(key, len(_MERGE_IDS) + 1)


#: Default memory budget of one document's undo history, in bytes (200 MB).
HISTORY_BUDGET = 200_000_000
#: Dropping old steps stops once the history is under this share of its budget.
LOW_WATER = 0.9
#: Bytes charged per step on top of its Session's new objects: the Qt command object, its
#: label and the Python objects around it (measured about 1.3 kB per step that shares
#: everything with the step before).
STEP_BYTES = 1024


def _object_bytes(obj) -> int:
    size = sys.getsizeof(obj)
    d = getattr(obj, "__dict__", None)
    return size + (sys.getsizeof(d) if d is not None else 0)


def session_parts(s: Session) -> dict[int, int]:
    """The objects a Session holds, by identity, with their sizes in bytes: the Session, its
    text, its heads and their weight matrices, and its small option records.

    Sessions made from one another by :func:`dataclasses.replace` share every object that
    did not change, so two Sessions' parts overlap in exactly what they share.
    """
    parts = {id(s): _object_bytes(s), id(s.text): sys.getsizeof(s.text)}
    parts[id(s.heads)] = sys.getsizeof(s.heads)
    for h in s.heads:
        parts[id(h)] = _object_bytes(h)
        for a in (h.w_q, h.w_k, h.w_v):
            # an array that owns its data counts it in getsizeof; a view does not
            parts[id(a)] = sys.getsizeof(a) + (a.nbytes if a.base is not None else 0)
    for pairs in (s.blocked, s.model_edits):
        parts[id(pairs)] = sys.getsizeof(pairs) + 64 * len(pairs)  # ~64 bytes an entry
    for record in (s.view, s.model):
        if record is not None:
            parts[id(record)] = _object_bytes(record)
    return parts


def step_bytes(new: Session, old: Session) -> int:
    """Bytes one undo step adds: what ``new`` holds that ``old`` does not, plus
    :data:`STEP_BYTES`."""
    before = session_parts(old)
    return STEP_BYTES + sum(n for i, n in session_parts(new).items() if i not in before)


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
        self._id = merge_key if isinstance(merge_key, int) else _merge_id(merge_key)
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
    historyChanged()
        The undo history's size in bytes, or its budget, changed.

    Parameters
    ----------
    session : Session, optional
    history_budget : int
        Memory budget of the undo history in bytes (see the module docstring).
    """

    sessionChanged = QtCore.Signal(object, object)
    pathChanged = QtCore.Signal(object)
    historyChanged = QtCore.Signal()

    def __init__(
        self, session: Session | None = None, parent=None, history_budget: int = HISTORY_BUDGET
    ):
        super().__init__(parent)
        self._session = session if session is not None else Session()
        self.undo_stack = QtGui.QUndoStack(self)
        self._path: Path | None = None
        self._budget = int(history_budget)
        self._steps: list[int] = []  # bytes of each command on the stack, oldest first
        self._base = sum(session_parts(self._session).values())  # the Session before them
        self._rebuilding = False
        self.dropped_steps = 0  # old steps dropped to stay within the budget

    # ------------------------------------------------------------ history
    @property
    def history_budget(self) -> int:
        """Memory budget of the undo history, in bytes."""
        return self._budget

    def set_history_budget(self, n_bytes: int) -> None:
        """Set the budget; old steps are dropped at once if the history is over it."""
        self._budget = int(n_bytes)
        self._enforce_budget()
        self.historyChanged.emit()

    @property
    def history_bytes(self) -> int:
        """Estimated bytes the undo history holds: the first Session in full, then what each
        step adds (objects shared between neighbouring steps are counted once)."""
        return self._base + sum(self._steps)

    def _enforce_budget(self) -> None:
        if self.history_bytes <= self._budget:
            return
        target = LOW_WATER * self._budget
        total, drop = self.history_bytes, 0
        undoable = self.undo_stack.index()  # steps above the index can be redone: kept
        while drop < undoable - 1 and total > target:  # the newest step always stays
            total -= self._steps[drop]
            drop += 1
        if drop:
            self._drop_oldest(drop)

    def _drop_oldest(self, k: int) -> None:
        """Rebuild the stack without its ``k`` oldest steps; the Session, the position in
        the history and the saved state stay as they were."""
        stack = self.undo_stack
        n, index, clean = stack.count(), stack.index(), stack.cleanIndex()
        kept = []
        for i in range(k, n):
            c = stack.command(i)
            kept.append((c.old, c.new, c.text(), c.id(), c._open))
        self._rebuilding = True
        try:
            stack.clear()
            for old, new, text, merge_id, _open in kept:
                cmd = SessionCommand(self, old, new, text, merge_id)
                cmd._open = False  # no merging while the steps go back on
                stack.push(cmd)
            for i, step in enumerate(kept):
                stack.command(i)._open = step[4]  # a drag in progress may still merge
            if clean >= k:
                stack.setIndex(clean - k)
                stack.setClean()
            stack.setIndex(index - k)
            if clean < k:
                stack.resetClean()  # the saved state was among the dropped steps
        finally:
            self._rebuilding = False
        self._steps = self._steps[k:]
        self._base = sum(session_parts(kept[0][0]).values())
        self.dropped_steps += k

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
        stack = self.undo_stack
        index, old = stack.index(), self._session
        stack.push(SessionCommand(self, old, new, text, merge_key))
        del self._steps[index:]  # the steps that could be redone are gone
        if stack.count() == index:  # merged into the step before: it now ends at `new`
            self._steps[index - 1] = step_bytes(new, stack.command(index - 1).old)
        else:
            self._steps.append(step_bytes(new, old))
        self._enforce_budget()
        self.historyChanged.emit()

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
        self._steps = []
        self._base = sum(session_parts(session).values())
        self._set(session)
        self.set_path(path)
        self.undo_stack.setClean()
        self.historyChanged.emit()

    def mark_saved(self, path: Path) -> None:
        self.set_path(path)
        self.undo_stack.setClean()

    def _set(self, session: Session) -> None:
        if self._rebuilding:
            return  # the history is being rebuilt around the same Session
        old, self._session = self._session, session
        self.sessionChanged.emit(session, old)
