"""Putting lessons into the main window: the dock, the menus and the first-launch offer.

* View › Lessons (F1 is Help's; this has Ctrl+Shift+L) opens the lesson in progress at the
  step reached (QSettings), or the built-in lesson.
* File › Open Lesson… opens a lesson file; a bad file is refused with one line.
* The first launch shows a slim banner offering the built-in lesson.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.lessons.model import builtin_lessons, load_lesson
from explorer.lessons.params import LessonFileError
from explorer.ui.lessons.panel import LessonPanel
from explorer.ui.lessons.runner import SETTINGS_LESSON, SETTINGS_STEP, LessonRunner

SETTINGS_OFFERED = "lessons/offered"  # the first-launch banner was shown once
LESSON_FILTER = "Lessons (*.json);;All files (*)"


def open_lesson_file(window, path, step: int | None = None) -> bool:
    """Start the lesson in ``path``; on a bad file show one line and change nothing.

    ``step`` None resumes at the step remembered for that lesson.
    """
    try:
        lesson = load_lesson(path)
    except LessonFileError as exc:
        window.error("Cannot open lesson", str(exc))
        return False
    if step is None:
        step = _int(window.settings.value(SETTINGS_STEP + lesson.id, 0))
    window.lessons.start(lesson, step)
    return True


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def show_lessons(window) -> None:
    """View › Lessons: the running lesson's panel, else resume the last or the built-in one."""
    if window.lessons.running:
        window.lessonPanel.show()
        window.lessonPanel.raise_()
        return
    last = window.settings.value(SETTINGS_LESSON, "")
    path = Path(last) if last and Path(str(last)).is_file() else None
    if path is None:
        shipped = builtin_lessons()
        if not shipped:
            window.error("No lessons", "No built-in lesson was found in this installation.")
            return
        path = shipped[0]
    open_lesson_file(window, path)


def open_lesson_dialog(window) -> None:
    start = str(builtin_lessons()[0].parent) if builtin_lessons() else ""
    path, _ = QtWidgets.QFileDialog.getOpenFileName(window, "Open Lesson", start, LESSON_FILTER)
    if path:
        open_lesson_file(window, path, step=0)


def _banner(window) -> QtWidgets.QFrame:
    """The first-launch offer: start the built-in lesson, or dismiss."""
    bar = QtWidgets.QFrame(objectName="lessonBanner")
    bar.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
    lay = QtWidgets.QHBoxLayout(bar)
    lay.setContentsMargins(8, 2, 4, 2)
    text = QtWidgets.QLabel(
        "New to self-attention? A guided lesson walks you through it, from one-hot words to a "
        "real transformer."
    )
    text.setWordWrap(True)
    start = QtWidgets.QPushButton("Start the lesson", objectName="lessonBannerStart")
    start.setToolTip("Open the lesson “Self-attention from first principles” (View › Lessons)")
    close = QtWidgets.QToolButton(objectName="lessonBannerClose")
    close.setText("✕")
    close.setToolTip("Hide this offer; View › Lessons opens the lesson at any time")
    lay.addWidget(text, 1)
    lay.addWidget(start)
    lay.addWidget(close)
    start.clicked.connect(lambda: (bar.hide(), show_lessons(window)))
    close.clicked.connect(bar.hide)
    return bar


def install_lessons(window) -> LessonRunner:
    """Add the lesson dock, its runner and menu entries to a MainWindow.

    Stores ``window.lessonPanel``, ``window.lessons`` (the runner) and
    ``window.lessonBanner``; returns the runner.
    """
    panel = LessonPanel(window)
    window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, panel)
    panel.hide()
    runner = LessonRunner(window, panel)
    window.lessonPanel = panel
    window.lessons = runner

    act = QtGui.QAction("&Lessons", window, objectName="showLessonsAction")
    act.setShortcut(QtGui.QKeySequence("Ctrl+Shift+L"))
    act.setStatusTip("Open the guided lesson (resumes where you left it)")
    act.triggered.connect(lambda: show_lessons(window))
    window.viewMenu.addSeparator()
    window.viewMenu.addAction(act)
    window.showLessonsAction = act

    open_act = QtGui.QAction("Open &Lesson…", window, objectName="openLessonAction")
    open_act.setStatusTip("Open a lesson file (*.json)")
    open_act.triggered.connect(lambda: open_lesson_dialog(window))
    menu = window.fileMenu
    actions = menu.actions()
    opener = getattr(getattr(window, "files", None), "openAction", None)
    after = actions.index(opener) + 1 if opener in actions else len(actions)
    menu.insertAction(actions[after] if after < len(actions) else None, open_act)
    window.openLessonAction = open_act

    window.lessonBanner = None
    if not window.settings.value(SETTINGS_OFFERED, False, type=bool):
        window.settings.setValue(SETTINGS_OFFERED, True)
        banner = _banner(window)
        central = window.centralWidget()
        if central is not None and central.layout() is not None:
            central.layout().insertWidget(0, banner)
            window.lessonBanner = banner
    return runner
