"""The lesson panel: a dock with the step's title, its live text, the task and the buttons.

The panel only shows and reports clicks; :class:`~explorer.ui.lessons.runner.LessonRunner`
decides what a click does. Object names: ``lessonPanel``, ``lessonTitle``, ``lessonStep``,
``lessonText``, ``lessonTask``, ``lessonCheck`` (dynamic property ``passed``),
``lessonShowMe``, ``lessonGuess_<i>`` (one per token while a prediction is open),
``lessonReveal``, ``lessonBack``, ``lessonNext``, ``lessonShowAll``, ``lessonLeave``.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from explorer.ui.workbench.text_bar import clear_layout

GUESS_COLUMNS = 4
MAX_GUESSES = 64  # answer buttons shown at most (lesson texts are short)


class LessonPanel(QtWidgets.QDockWidget):
    """The dock. ``closed`` fires when the user closes it (the runner leaves the lesson)."""

    closed = QtCore.Signal()
    backClicked = QtCore.Signal()
    nextClicked = QtCore.Signal()
    showMeClicked = QtCore.Signal()
    leaveClicked = QtCore.Signal()
    guessed = QtCore.Signal(int)
    showAllToggled = QtCore.Signal(bool)

    def __init__(self, parent=None):
        super().__init__("Lesson", parent)
        self.setObjectName("lessonPanel")
        self.setToolTip("The lesson: read, try, and press Next")
        self.setAllowedAreas(
            QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
            | QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        )
        body = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(body)
        lay.setContentsMargins(8, 6, 8, 6)

        self.lessonStep = QtWidgets.QLabel(objectName="lessonStep")
        self.lessonStep.setToolTip("Where you are in the lesson")
        self.lessonTitle = QtWidgets.QLabel(objectName="lessonTitle")
        self.lessonTitle.setWordWrap(True)
        self.lessonTitle.setToolTip("The title of this step")
        font = self.lessonTitle.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.lessonTitle.setFont(font)
        self.lessonText = QtWidgets.QTextBrowser(objectName="lessonText")
        self.lessonText.setOpenLinks(False)
        self.lessonText.setToolTip("Numbers in bold are live: they follow what you change")
        self.lessonText.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.lessonText.viewport().setAutoFillBackground(False)

        self.taskBox = QtWidgets.QFrame(objectName="lessonTaskBox")
        self.taskBox.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        task_l = QtWidgets.QVBoxLayout(self.taskBox)
        self.lessonTask = QtWidgets.QLabel(objectName="lessonTask")
        self.lessonTask.setWordWrap(True)
        self.lessonTask.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.lessonTask.setToolTip("What to do in this step")
        self.lessonCheck = QtWidgets.QLabel(objectName="lessonCheck")
        self.lessonCheck.setWordWrap(True)
        self.lessonCheck.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.lessonCheck.setToolTip("Checked live: it turns green as soon as the task is done")
        self.lessonCheck.setProperty("passed", False)
        self.lessonShowMe = QtWidgets.QPushButton("Show me", objectName="lessonShowMe")
        self.lessonShowMe.setToolTip("Make the change that solves the task (Ctrl+Z undoes it)")
        self.lessonShowMe.clicked.connect(self.showMeClicked)
        self.guessHost = QtWidgets.QWidget(objectName="lessonGuesses")
        self.guessGrid = QtWidgets.QGridLayout(self.guessHost)
        self.guessGrid.setContentsMargins(0, 0, 0, 0)
        self.guessGrid.setSpacing(3)
        self.lessonReveal = QtWidgets.QLabel(objectName="lessonReveal")
        self.lessonReveal.setWordWrap(True)
        self.lessonReveal.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.lessonReveal.setToolTip("Whether your prediction was right, with the live weight")
        task_l.addWidget(self.lessonTask)
        task_l.addWidget(self.guessHost)
        task_l.addWidget(self.lessonReveal)
        task_l.addWidget(self.lessonCheck)
        task_l.addWidget(self.lessonShowMe, 0, QtCore.Qt.AlignmentFlag.AlignLeft)

        self.lessonShowAll = QtWidgets.QCheckBox("Show all controls", objectName="lessonShowAll")
        self.lessonShowAll.setToolTip(
            "The lesson hides the controls a step does not need; tick to bring them all back"
        )
        self.lessonShowAll.toggled.connect(self.showAllToggled)
        nav = QtWidgets.QHBoxLayout()
        self.lessonBack = QtWidgets.QPushButton("‹ Back", objectName="lessonBack")
        self.lessonBack.setToolTip("The previous step (this step's changes are undone)")
        self.lessonNext = QtWidgets.QPushButton("Next ›", objectName="lessonNext")
        self.lessonNext.setToolTip("The next step; it lights up when this step's task is done")
        self.lessonLeave = QtWidgets.QPushButton("Leave", objectName="lessonLeave")
        self.lessonLeave.setToolTip("Leave the lesson and return to your own session, unchanged")
        self.lessonBack.clicked.connect(self.backClicked)
        self.lessonNext.clicked.connect(self.nextClicked)
        self.lessonLeave.clicked.connect(self.leaveClicked)
        nav.addWidget(self.lessonLeave)
        nav.addStretch(1)
        nav.addWidget(self.lessonBack)
        nav.addWidget(self.lessonNext)

        lay.addWidget(self.lessonStep)
        lay.addWidget(self.lessonTitle)
        lay.addWidget(self.lessonText, 1)
        lay.addWidget(self.taskBox)
        lay.addWidget(self.lessonShowAll)
        lay.addLayout(nav)
        self.setWidget(body)
        self.setMinimumWidth(300)
        self._guess_labels: list[str] = []

    # ------------------------------------------------------------ showing
    def show_step(self, counter: str, title: str) -> None:
        self.lessonStep.setText(counter)
        self.lessonTitle.setText(title)

    def set_text(self, html: str) -> None:
        """Replace the text, keeping the scroll position (it is redrawn on every Result)."""
        bar = self.lessonText.verticalScrollBar()
        pos = bar.value()
        self.lessonText.setHtml(html)
        bar.setValue(pos)

    def set_task(self, prompt_html: str | None) -> None:
        self.taskBox.setVisible(prompt_html is not None)
        self.lessonTask.setText(prompt_html or "")

    def set_check(self, html: str, passed: bool, show_me: bool) -> None:
        self.lessonCheck.setText(html)
        self.lessonCheck.setVisible(bool(html))
        if self.lessonCheck.property("passed") != passed:
            self.lessonCheck.setProperty("passed", passed)
            colour = "#2e8b57" if passed else ""
            self.lessonCheck.setStyleSheet(f"color: {colour};" if colour else "")
        self.lessonShowMe.setVisible(show_me)

    def set_next(self, enabled: bool, lit: bool, last: bool) -> None:
        self.lessonNext.setText("Finish" if last else "Next ›")
        self.lessonNext.setEnabled(enabled)
        self.lessonNext.setDefault(lit)
        self.lessonNext.setStyleSheet("font-weight: bold;" if lit else "")

    def set_guesses(self, labels: list[str] | None) -> None:
        """One button per token (``lessonGuess_<i>``), or none."""
        labels = list(labels or [])[:MAX_GUESSES]
        if labels == self._guess_labels:
            return
        self._guess_labels = labels
        clear_layout(self.guessGrid)
        for i, label in enumerate(labels):
            b = QtWidgets.QPushButton(label, objectName=f"lessonGuess_{i}")
            b.setToolTip(f"Guess that the query looks most at “{label}”")
            b.clicked.connect(lambda _=False, i=i: self.guessed.emit(i))
            self.guessGrid.addWidget(b, i // GUESS_COLUMNS, i % GUESS_COLUMNS)
        self.guessHost.setVisible(bool(labels))

    def set_reveal(self, html: str) -> None:
        self.lessonReveal.setText(html)
        self.lessonReveal.setVisible(bool(html))

    def closeEvent(self, event) -> None:
        super().closeEvent(event)
        self.closed.emit()
