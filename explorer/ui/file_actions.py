"""File handling for the window: New, Open, Open Recent, Save, Save As, autosave, recovery.

Nothing is ever lost silently: New, Open, Examples and Close ask Save / Discard / Cancel when
there are unsaved changes; saves are atomic (:func:`explorer.io.session_file.save_session`);
and the current session is autosaved every few seconds, so that after a crash the next start
offers to restore it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.session import Session
from explorer.io.session_file import SUFFIX, SessionFileError, load_session, save_session

FILE_FILTER = f"Attention Explorer sessions (*{SUFFIX} *.json);;All files (*)"
MAX_RECENT = 8
AUTOSAVE_MS = 5000


def default_autosave_dir() -> Path:
    """The user's data folder for autosaves."""
    loc = QtCore.QStandardPaths.StandardLocation.AppDataLocation
    return Path(QtCore.QStandardPaths.writableLocation(loc)) / "autosave"


def has_session_suffix(name: str) -> bool:
    """True if ``name`` ends in ``.json`` in any letter case (``a.JSON``, ``a.Attn.Json``)."""
    return name.lower().endswith(".json")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _format_mtime(path: Path) -> str:
    """`` at 17:45 on 28 Nov 2026`` from the file's modification time, or ``""``."""
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return ""
    return time.strftime(" at %H:%M on %d %b %Y", time.localtime(stamp))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class FileActions(QtCore.QObject):
    """Owns the File menu actions of a MainWindow."""

    #: (undo index written, error text or "") from the background autosave thread
    _autosaveDone = QtCore.Signal(int, str)

    def __init__(self, window, autosave_dir: Path | None = None):
        super().__init__(window)
        self.w = window
        self.doc = window.doc
        self.autosave_dir = Path(autosave_dir) if autosave_dir else default_autosave_dir()
        self.autosave_path = self.autosave_dir / f"autosave-{os.getpid()}{SUFFIX}"
        self._autosaved_index = -1
        self._autosave_thread: threading.Thread | None = None
        self._autosaveDone.connect(self._on_autosave_done)  # queued: emitted off the GUI thread
        self._build_menu(window.fileMenu)
        self.timer = QtCore.QTimer(self, interval=AUTOSAVE_MS)
        self.timer.timeout.connect(lambda: self.autosave(background=True))
        self.timer.start()
        window.setAcceptDrops(True)

    # ---------------------------------------------------------------- menu
    def _build_menu(self, menu: QtWidgets.QMenu) -> None:
        K = QtGui.QKeySequence
        self.newAction = menu.addAction("&New", K(K.StandardKey.New), self.new)
        self.openAction = menu.addAction("&Open…", K(K.StandardKey.Open), self.open_dialog)
        self.recentMenu = menu.addMenu("Open &Recent")
        self.recentMenu.setObjectName("recentMenu")
        self.recentMenu.aboutToShow.connect(self._fill_recent)
        menu.addSeparator()
        self.saveAction = menu.addAction("&Save", K(K.StandardKey.Save), self.save)
        self.saveAsAction = menu.addAction("Save &As…", K("Ctrl+Shift+S"), self.save_as)
        self.exportMenu = menu.addMenu("&Export")
        self.exportMenu.setObjectName("exportMenu")
        menu.addSeparator()
        self.quitAction = menu.addAction("&Quit", K(K.StandardKey.Quit), self.w.close)
        for act, tip in (
            (self.newAction, "Start a new session with the default sentence"),
            (self.openAction, "Open a saved session (*.attn.json)"),
            (self.saveAction, "Save the session; saving is atomic, the old file stays on failure"),
            (self.saveAsAction, "Save the session under a new name"),
        ):
            act.setStatusTip(tip)
            act.setToolTip(tip)

    def recent_files(self) -> list[str]:
        value = self.w.settings.value("recentFiles", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember(self, path: Path) -> None:
        files = [str(path)] + [f for f in self.recent_files() if f != str(path)]
        self.w.settings.setValue("recentFiles", files[:MAX_RECENT])

    def _forget(self, path: Path) -> bool:
        """Drop ``path`` from Open Recent; True if it was listed."""
        files = self.recent_files()
        kept = [f for f in files if f != str(path)]
        self.w.settings.setValue("recentFiles", kept)
        return len(kept) != len(files)

    def _fill_recent(self) -> None:
        self.recentMenu.clear()
        files = self.recent_files()
        for f in files:
            act = self.recentMenu.addAction(Path(f).name)
            act.setToolTip(f)
            act.setStatusTip(f)
            act.triggered.connect(lambda _=False, f=f: self.open_path(Path(f)))
        if not files:
            self.recentMenu.addAction("(no recent sessions)").setEnabled(False)
        else:
            self.recentMenu.addSeparator()
            self.recentMenu.addAction(
                "Clear Menu", lambda: self.w.settings.setValue("recentFiles", [])
            )

    # --------------------------------------------------------------- prompts
    def confirm_discard(self) -> bool:
        """Ask Save / Discard / Cancel when there are unsaved changes; True = go on."""
        lessons = getattr(self.w, "lessons", None)
        if lessons is not None and lessons.running:
            lessons.stop()  # the learner's own session comes back first, then the question
        if not self.doc.modified:
            return True
        self.w.textBar.flush()
        box = QtWidgets.QMessageBox(self.w)
        box.setObjectName("unsavedDialog")
        box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
        box.setWindowTitle("Unsaved changes")
        name = self.doc.path.name if self.doc.path else "Untitled"
        box.setText(f"Save the changes to “{name}” first?")
        box.setInformativeText("Your changes are lost if you discard them.")
        B = QtWidgets.QMessageBox.StandardButton
        box.setStandardButtons(B.Save | B.Discard | B.Cancel)
        box.setDefaultButton(B.Save)
        answer = box.exec()
        if answer == B.Save:
            return self.save()
        return answer == B.Discard

    # --------------------------------------------------------------- actions
    def new(self) -> None:
        if self.confirm_discard():
            self.doc.replace(Session(), None)

    def open_dialog(self) -> None:
        if not self.confirm_discard():
            return
        start = str(self.doc.path.parent) if self.doc.path else ""
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.w, "Open Session", start, FILE_FILTER)
        if path:
            self.open_path(Path(path), confirmed=True)

    def open_path(self, path: Path, *, confirmed: bool = False) -> bool:
        """Open ``path``; on a bad file show why and keep the current session.

        A file that no longer exists is also dropped from Open Recent (the message says so),
        so the menu does not keep offering it.
        """
        if not confirmed and not self.confirm_discard():
            return False
        try:
            session = load_session(path)
        except SessionFileError as exc:
            message = str(exc)
            # lexists: a dangling symlink is gone too; a file we merely cannot read stays listed
            if not os.path.lexists(path) and self._forget(Path(path)):
                message += "\n\nIt no longer exists and was removed from Open Recent."
            self.w.error("Cannot open session", message)
            return False
        self.doc.replace(session, Path(path))
        self._remember(Path(path))
        return True

    def save(self) -> bool:
        if self.doc.path is None:
            return self.save_as()
        return self.save_to(self.doc.path)

    def save_as(self) -> bool:
        start = str(self.doc.path) if self.doc.path else f"untitled{SUFFIX}"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self.w, "Save Session As", start, FILE_FILTER
        )
        if not path:
            return False
        if not has_session_suffix(path):  # "a.JSON" is kept as typed, not "a.JSON.attn.json"
            path += SUFFIX
        return self.save_to(Path(path))

    def save_to(self, path: Path) -> bool:
        """Save atomically; on failure tell the user and keep the old file."""
        self.w.textBar.flush()
        try:
            save_session(self.doc.session, path)
        except SessionFileError as exc:
            self.w.error("Cannot save session", str(exc))
            return False
        self.doc.mark_saved(Path(path))
        self._remember(Path(path))
        self.w.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    # ------------------------------------------------------ autosave, restore
    def autosave(self, *, background: bool = False) -> None:
        """Write the session to the autosave file when it changed since the last autosave.

        The timer autosaves in a background thread: a large session takes seconds to write,
        and the window must keep responding meanwhile. Sessions are immutable, so the thread
        writes exactly the session of the moment it started; a tick that comes while a write
        is still running is skipped, and the next one catches up. Direct calls (the crash
        handler, recovery) write before they return.
        """
        idx = self.doc.undo_stack.index()
        if not self.doc.modified or idx == self._autosaved_index:
            return
        if background and self.autosave_running:
            return
        self.wait_for_autosave()
        session = self.doc.session
        if not background:
            self._on_autosave_done(idx, self._write_autosave(session))
            return
        self._autosave_thread = threading.Thread(
            target=self._autosave_in_thread,
            args=(idx, session),
            name="Autosave",
            daemon=True,  # a hung disk must not keep the process alive after the window closed
        )
        self._autosave_thread.start()

    def _autosave_in_thread(self, idx: int, session: Session) -> None:
        error = self._write_autosave(session)
        with contextlib.suppress(RuntimeError):  # the window went away meanwhile
            self._autosaveDone.emit(idx, error)

    def _write_autosave(self, session: Session) -> str:
        """Write ``session`` atomically; the error as text, or ``""``. Any thread."""
        try:
            self.autosave_dir.mkdir(parents=True, exist_ok=True)
            save_session(session, self.autosave_path)
        except (OSError, SessionFileError) as exc:
            return str(exc)
        return ""

    def _on_autosave_done(self, idx: int, error: str) -> None:
        if error:
            self.w.statusBar().showMessage(f"Autosave failed: {error}", 5000)
        else:
            self._autosaved_index = idx

    @property
    def autosave_running(self) -> bool:
        """True while a background autosave is writing."""
        t = self._autosave_thread
        return t is not None and t.is_alive()

    def wait_for_autosave(self, timeout: float | None = 30.0) -> None:
        """Block until a background autosave has finished writing (or ``timeout`` s)."""
        t = self._autosave_thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def discard_autosave(self) -> None:
        """Remove this process's autosave (on a clean close)."""
        self.timer.stop()
        self.wait_for_autosave()  # else a write in flight would bring the file back
        with contextlib.suppress(OSError):
            self.autosave_path.unlink(missing_ok=True)

    def orphaned_autosaves(self) -> list[Path]:
        """Autosaves left by processes that are gone (a crash), newest first."""
        if not self.autosave_dir.is_dir():
            return []
        found = []
        for p in self.autosave_dir.glob(f"autosave-*{SUFFIX}"):
            pid_text = p.name[len("autosave-") : -len(SUFFIX)]
            if pid_text.isdigit() and not _pid_alive(int(pid_text)):
                found.append(p)
        return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)

    def offer_recovery(self) -> bool:
        """After a crash, offer to restore the newest orphaned autosave. True if restored.

        No autosave is ever deleted unless its session is safe or the user declined it:

        * Yes, and it loads: the session becomes the (unsaved) current one, is autosaved
          under this process's name at once, and only then the orphan is removed.
        * Yes, but it cannot be read (damaged, or written by a newer version): the file is
          renamed aside to ``unrestored-*.attn.json`` in the same folder, so it is not offered
          at every start, and the error names where it is.
        * No: only that one autosave is deleted.

        Older orphans (several windows crashed) are left alone: one is offered per start,
        newest first, and the dialog says how many remain and where.
        """
        orphans = self.orphaned_autosaves()
        if not orphans:
            return False
        newest, others = orphans[0], orphans[1:]
        box = QtWidgets.QMessageBox(self.w)
        box.setObjectName("recoveryDialog")
        box.setIcon(QtWidgets.QMessageBox.Icon.Question)
        box.setWindowTitle("Restore session")
        box.setText("Attention Explorer did not close properly last time.")
        when = _format_mtime(newest)
        info = f"Restore the session that was autosaved{when} before it stopped?"
        if others:
            info += (
                f"\n\n{_count(len(others), 'older autosave')} in {self.autosave_dir} "
                "will be offered the next time Attention Explorer starts."
            )
        box.setInformativeText(info)
        B = QtWidgets.QMessageBox.StandardButton
        box.setStandardButtons(B.Yes | B.No)
        box.setDefaultButton(B.Yes)
        if box.exec() != B.Yes:
            with contextlib.suppress(OSError):
                newest.unlink()
            return False
        try:
            session = load_session(newest)
        except SessionFileError as exc:
            kept = self._set_aside(newest)
            where = (
                f"The file was kept as {kept}."
                if kept != newest
                else f"The file was kept as {newest} and will be offered again."
            )
            self.w.error("Cannot restore the autosave", f"{exc}\n\n{where}")
            return False
        self.doc.replace(session, None)
        self.doc.undo_stack.resetClean()  # restored work is unsaved until saved
        # the restored session must be safe under our own name before the orphan goes
        self._autosaved_index = -1
        self.autosave()
        if self._autosaved_index == self.doc.undo_stack.index():
            with contextlib.suppress(OSError):
                newest.unlink()
        return True

    def _set_aside(self, path: Path) -> Path:
        """Rename an autosave that cannot be restored out of the ``autosave-*`` pattern.

        Returns the new path, or ``path`` itself if it could not be renamed.
        """
        stamp = time.strftime("%Y%m%d-%H%M%S")
        stem = path.name[: -len(SUFFIX)].replace("autosave-", "unrestored-", 1)
        for n in range(100):
            extra = f"-{n}" if n else ""
            target = path.with_name(f"{stem}-{stamp}{extra}{SUFFIX}")
            if target.exists():
                continue
            try:
                path.rename(target)
            except OSError:
                return path
            return target
        return path

    # ------------------------------------------------------------ drag, drop
    @staticmethod
    def session_urls(mime: QtCore.QMimeData) -> list[Path]:
        return [
            Path(u.toLocalFile())
            for u in mime.urls()
            if u.isLocalFile() and has_session_suffix(u.toLocalFile())
        ]
