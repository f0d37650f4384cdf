"""File handling for the window: New, Open, Open Recent, Save, Save As, autosave, recovery.

Nothing is ever lost silently: New, Open, Examples and Close ask Save / Discard / Cancel when
there are unsaved changes; saves are atomic (:func:`explorer.io.session_file.save_session`);
and the current session is autosaved every few seconds, so that after a crash the next start
offers to restore it.
"""

from __future__ import annotations

import contextlib
import os
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

    def __init__(self, window, autosave_dir: Path | None = None):
        super().__init__(window)
        self.w = window
        self.doc = window.doc
        self.autosave_dir = Path(autosave_dir) if autosave_dir else default_autosave_dir()
        self.autosave_path = self.autosave_dir / f"autosave-{os.getpid()}{SUFFIX}"
        self._autosaved_index = -1
        self._build_menu(window.fileMenu)
        self.timer = QtCore.QTimer(self, interval=AUTOSAVE_MS)
        self.timer.timeout.connect(self.autosave)
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
        """Open ``path``; on a bad file show why and keep the current session."""
        if not confirmed and not self.confirm_discard():
            return False
        try:
            session = load_session(path)
        except SessionFileError as exc:
            self.w.error("Cannot open session", str(exc))
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
        if not path.endswith(".json"):
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
    def autosave(self) -> None:
        """Write the session to the autosave file when it changed since the last autosave."""
        idx = self.doc.undo_stack.index()
        if not self.doc.modified or idx == self._autosaved_index:
            return
        try:
            self.autosave_dir.mkdir(parents=True, exist_ok=True)
            save_session(self.doc.session, self.autosave_path)
            self._autosaved_index = idx
        except (OSError, SessionFileError) as exc:
            self.w.statusBar().showMessage(f"Autosave failed: {exc}", 5000)

    def discard_autosave(self) -> None:
        """Remove this process's autosave (on a clean close)."""
        self.timer.stop()
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
        """After a crash, offer to restore the autosaved session. True if restored."""
        orphans = self.orphaned_autosaves()
        if not orphans:
            return False
        newest = orphans[0]
        box = QtWidgets.QMessageBox(self.w)
        box.setObjectName("recoveryDialog")
        box.setIcon(QtWidgets.QMessageBox.Icon.Question)
        box.setWindowTitle("Restore session")
        box.setText("Attention Explorer did not close properly last time.")
        box.setInformativeText("Restore the session that was autosaved before it stopped?")
        B = QtWidgets.QMessageBox.StandardButton
        box.setStandardButtons(B.Yes | B.No)
        box.setDefaultButton(B.Yes)
        restored = False
        if box.exec() == B.Yes:
            try:
                session = load_session(newest)
            except SessionFileError as exc:
                self.w.error("Cannot restore the autosave", str(exc))
            else:
                self.doc.replace(session, None)
                self.doc.undo_stack.resetClean()  # restored work is unsaved until saved
                restored = True
        for p in orphans:
            with contextlib.suppress(OSError):
                p.unlink()
        return restored

    # ------------------------------------------------------------ drag, drop
    @staticmethod
    def session_urls(mime: QtCore.QMimeData) -> list[Path]:
        return [
            Path(u.toLocalFile())
            for u in mime.urls()
            if u.isLocalFile() and u.toLocalFile().endswith(".json")
        ]
