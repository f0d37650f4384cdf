"""Running a lesson in the window: step setups, focus, hidden controls, live text and tasks.

Symmetry (STYLE.md, "Lessons"): entering a step loads its session, highlights its view,
brings that view's tab forward and hides the controls it does not need; leaving the step
undoes each of those. Starting a lesson puts the learner's own session aside (its undo
history, clean state and file), and leaving the lesson puts it back exactly. The lesson's
sessions never count as unsaved changes, so they never trigger "Save changes?".
"""

from __future__ import annotations

import html

import shiboken6
from PySide6 import QtCore, QtWidgets

from explorer.core.pipeline import inputs_of
from explorer.lessons.live import render, run_check, solve, step_values
from explorer.lessons.model import Lesson, Step
from explorer.lessons.registry import LessonContext, Missing, token_index
from explorer.lessons.setups import setup_session
from explorer.ui.lessons.focus import (
    bring_forward,
    find,
    fit_panes,
    restore_tabs,
    show_controls,
)
from explorer.ui.lessons.overlays import Cover, FocusFrame
from explorer.ui.lessons.panel import LessonPanel
from explorer.ui.lessons.stash import SessionStash

#: Views a prediction hides until the learner answers (they show the weights).
COVERED = ("attentionHeatmap", "headGrid", "pipelineView", "insideView")
COVER_TEXT = "Hidden until you answer in the lesson panel: which word will it look at most?"
SETTINGS_LESSON = "lessons/current"  # path of the lesson in progress
SETTINGS_STEP = "lessons/step/"  # + lesson id: the step reached


class LessonRunner(QtCore.QObject):
    """Runs one lesson at a time in a MainWindow.

    Signals
    -------
    stepShown(int)
        A step is on screen (its index).
    finished()
        The lesson ended and the learner's session is back.
    """

    stepShown = QtCore.Signal(int)
    finished = QtCore.Signal()

    def __init__(self, window, panel: LessonPanel):
        super().__init__(window)
        self.w = window
        self.panel = panel
        self.lesson: Lesson | None = None
        self.index = 0
        self._stash: SessionStash | None = None
        self._before = None  # the session before this step's setup
        self._frame: FocusFrame | None = None
        self._covers: list[Cover] = []
        self._tabs: list[tuple[QtWidgets.QTabWidget, int]] = []
        self._guess: int | None = None
        self._show_all = False
        self._switching = False
        self._split_sizes: list[int] | None = None  # the learner's pane sizes
        panel.backClicked.connect(lambda: self.go(self.index - 1))
        panel.nextClicked.connect(self._on_next)
        panel.showMeClicked.connect(self.show_me)
        panel.leaveClicked.connect(self.stop)
        panel.closed.connect(self.stop)
        panel.guessed.connect(self.guess)
        panel.showAllToggled.connect(self._on_show_all)
        window.resultShown.connect(self.refresh)
        window.computeFailed.connect(lambda _msg: self.refresh())
        window.doc.undo_stack.indexChanged.connect(self._keep_clean)
        model_view = getattr(window, "modelView", None)
        if model_view is not None:  # the last step quotes the Model tab's numbers
            model_view.analysed.connect(self.refresh)
        decoder_view = getattr(window, "decoderView", None)
        if decoder_view is not None:  # "a head that copies" quotes the Decoder tab
            decoder_view.analysed.connect(self.refresh)
        window.installEventFilter(self)

    @property
    def running(self) -> bool:
        return self.lesson is not None

    @property
    def step(self) -> Step | None:
        return self.lesson.steps[self.index] if self.lesson is not None else None

    # ------------------------------------------------------------ lesson
    def start(self, lesson: Lesson, step: int = 0) -> None:
        """Put the learner's session aside and show ``step`` of ``lesson``."""
        if self.running:
            self.stop()
        self.w.textBar.flush()
        self._stash = SessionStash(self.w.doc)
        self.lesson = lesson
        self._show_all = False
        self.panel.lessonShowAll.blockSignals(True)
        self.panel.lessonShowAll.setChecked(False)
        self.panel.lessonShowAll.blockSignals(False)
        self.panel.setWindowTitle(f"Lesson: {lesson.title}")
        self.panel.show()
        self.panel.raise_()
        self.w.settings.setValue(SETTINGS_LESSON, lesson.path)
        self.index = -1
        self._before = self.w.doc.session
        self._split_sizes = self.w.topSplit.sizes()
        self.go(min(max(step, 0), len(lesson.steps) - 1))

    def stop(self) -> None:
        """Leave the lesson: undo the step and bring back the learner's session unchanged."""
        if not self.running:
            return
        self._switching = True
        try:
            self._leave_step()
        finally:
            self._switching = False
        show_controls(self.w, None)
        if self.panel.isVisible():
            self.panel.hide()
        if self._split_sizes is not None:
            self.w.layout().activate()  # the dock's room goes back to the panes first
            self.w.topSplit.setSizes(self._split_sizes)
            self._split_sizes = None
        self.lesson = None
        stash, self._stash = self._stash, None
        stash.restore(self.w.doc)
        self.finished.emit()

    def go(self, index: int) -> None:
        """Leave the current step (undoing its setup) and enter step ``index``."""
        lesson = self.lesson
        if lesson is None or not 0 <= index < len(lesson.steps) or index == self.index:
            return
        self._switching = True  # sessions change on the way: draw no half-switched step
        try:
            if self.index >= 0:
                self._leave_step()
            self.index = index
            self.w.settings.setValue(SETTINGS_STEP + lesson.id, index)
            self._enter_step(lesson.steps[index])
        finally:
            self._switching = False
        self.refresh()
        self.stepShown.emit(self.index)

    def _on_next(self) -> None:
        if self.lesson is not None and self.index == len(self.lesson.steps) - 1:
            self.w.settings.setValue(SETTINGS_STEP + self.lesson.id, 0)  # done: start over
            self.stop()
        else:
            self.go(self.index + 1)

    # ------------------------------------------------------------- steps
    def _enter_step(self, step: Step) -> None:
        doc = self.w.doc
        self._before = doc.session
        try:
            session = setup_session(step.setup, doc.session)
        except ValueError as exc:  # a "change" that does not fit the current session
            self.w.error("This step cannot be set up", str(exc))
            session = doc.session
        doc.replace(session, None)
        self._guess = None
        self._focus(step)
        self._tabs += show_controls(self.w, None if self._show_all else set(step.focus.controls))
        if step.predict is not None:
            inside = find(self.w, "insideView")
            if inside is not None:  # covered too: the tabs show nothing that gives it away
                self._tabs += bring_forward(self.w, inside)
            views = (find(self.w, n) for n in COVERED)
            self._covers = [Cover(v, COVER_TEXT) for v in views if v is not None]
        n = len(self.lesson.steps)
        self.panel.show_step(f"Step {self.index + 1} of {n}", step.title)
        self.panel.lessonBack.setEnabled(self.index > 0)
        self.panel.set_reveal("")
        self._fit_panes()

    def _leave_step(self) -> None:
        for c in self._covers:
            if shiboken6.isValid(c):
                c.remove()
        self._covers = []
        if self._frame is not None and shiboken6.isValid(self._frame):
            self._frame.remove()
        self._frame = None
        restore_tabs(self._tabs)
        self._tabs = []
        self.panel.set_guesses(None)
        if self._before is not None:
            self.w.doc.replace(self._before, None)

    # ---------------------------------------------------------- controls
    def _focus(self, step: Step) -> None:
        """Highlight the first view of the step's list that the window has; bring it forward."""
        for name in step.focus.view:
            view = find(self.w, name)
            if view is not None:
                self._tabs += bring_forward(self.w, view, name)
                self._frame = FocusFrame(view)
                return

    def _on_show_all(self, on: bool) -> None:
        self._show_all = on
        if self.running:
            self._tabs += show_controls(self.w, None if on else set(self.step.focus.controls))
            self._fit_panes()

    def _fit_panes(self) -> None:
        if self._show_all:
            if self._split_sizes is not None:
                self.w.topSplit.setSizes(self._split_sizes)
        else:
            fit_panes(self.w, set(self.step.focus.controls))

    # -------------------------------------------------------------- live
    def context(self) -> LessonContext:
        """The Session and the Result on screen (None while it is stale), and model numbers."""
        w = self.w
        result = w.result
        shown = getattr(w, "_result_session", None)
        if result is not None and (shown is None or inputs_of(shown) != inputs_of(w.doc.session)):
            result = None  # computed for an earlier session: wait for the new one
        curve, name, state = None, "", "loading"
        view = getattr(w, "modelView", None)
        step = self.step
        quotes_model = step is not None and any(
            spec.call.name.startswith("model_") for _n, spec in step.values
        )
        if view is not None and quotes_model:
            if view.encoder is not None:
                name = view.encoder.name if hasattr(view.encoder, "name") else ""
            if view.curve is not None and len(getattr(view.curve, "cosine", ())):
                curve = tuple(float(c) for c in view.curve.cosine)
                state = "ready"
            elif view.encoder is None and not view.bridge.available():
                state = "absent"
        prediction, head = None, ""
        decoder = getattr(w, "decoderView", None)
        if (
            decoder is not None
            and step is not None
            and any(spec.call.name.startswith("decoder_") for _n, spec in step.values)
        ):
            prediction, head = decoder.prediction(), decoder.head_description()
        return LessonContext(w.doc.session, result, curve, name, state, prediction, head)

    def refresh(self) -> None:
        """Redraw the text with live numbers and re-run the task's check."""
        step = self.step
        if step is None or self._switching:
            return
        ctx = self.context()
        values = step_values(step, ctx)
        self.panel.set_text(render(step.text, values))
        last = self.index == len(self.lesson.steps) - 1
        if step.task is not None:
            passed = ctx.result is not None and run_check(step, ctx.session, ctx.result)
            self.panel.set_task(render(step.task.prompt, values))
            msg = render(step.task.done, values) if passed else "Not done yet."
            self.panel.set_check(("✔ " if passed else "") + msg, passed, True)
            self.panel.set_next(passed, passed, last)
        elif step.predict is not None:
            self._refresh_predict(step, ctx, last)
        else:
            self.panel.set_task(None)
            self.panel.set_check("", False, False)
            self.panel.set_next(True, False, last)
        if step.predict is None:
            self.panel.set_guesses(None)
            self.panel.set_reveal("")

    def _refresh_predict(self, step: Step, ctx: LessonContext, last: bool) -> None:
        self.panel.set_task(html.escape(step.predict.prompt))
        answered = self._guess is not None
        labels = ctx.result.display_labels if ctx.result is not None else []
        self.panel.set_guesses(None if answered else labels)
        self.panel.set_check("✔ Answered." if answered else "", answered, False)
        self.panel.set_next(answered, answered, last)
        if answered and ctx.result is not None:
            self.panel.set_reveal(self._reveal_text(step, ctx))

    def _reveal_text(self, step: Step, ctx: LessonContext) -> str:
        r = ctx.result
        try:
            i = token_index(r, step.predict.query)
        except Missing:
            return ""
        h = min(ctx.session.selected_head, r.n_head - 1)
        row = r.weights[h, i]
        labels = r.display_labels
        best = int(row.argmax())
        g = self._guess if self._guess is not None and self._guess < len(labels) else best
        q, e = html.escape(labels[i]), html.escape
        head = "Right!" if g == best else "Not quite."
        return (
            f"<b>{head}</b> You picked {e(labels[g])} (weight <b>{row[g]:.2f}</b>); "
            f"{q} looks most at {e(labels[best])} (weight <b>{row[best]:.2f}</b>)."
        )

    def guess(self, index: int) -> None:
        """The learner's prediction: reveal the weights and say whether it was right."""
        step = self.step
        if step is None or step.predict is None or self._guess is not None:
            return
        self._guess = index
        for c in self._covers:
            if shiboken6.isValid(c):
                c.remove()
        self._covers = []
        self.refresh()

    def show_me(self) -> None:
        """Apply the task's solution to the session as one undoable edit."""
        step = self.step
        ctx = self.context()
        if step is None or step.task is None:
            return
        if ctx.result is None:
            self.w.statusBar().showMessage("Wait for the attention to be computed, then retry.")
            return
        try:
            new = solve(step, ctx.session, ctx.result)
        except ValueError as exc:
            self.w.error("Show me", str(exc))
            return
        self.w.apply(new, "Show me")

    # ------------------------------------------------------------ guards
    def _keep_clean(self, _index: int) -> None:
        """A lesson's session is never an unsaved change (no "Save changes?" for it)."""
        if self.running and not self.w.doc.undo_stack.isClean():
            self.w.doc.undo_stack.setClean()

    def eventFilter(self, obj, event) -> bool:
        if obj is self.w and event.type() == QtCore.QEvent.Type.Close and self.running:
            # the learner's session comes back first, so the window asks about its changes
            self.stop()
        return False
