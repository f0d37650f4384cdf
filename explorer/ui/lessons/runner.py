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
from explorer.lessons.model import (
    Lesson,
    Step,
    render,
    run_check,
    setup_session,
    solve,
    step_values,
)
from explorer.lessons.registry import LessonContext, Missing, token_index
from explorer.ui.document import SessionCommand
from explorer.ui.lessons.overlays import Cover, FocusFrame
from explorer.ui.lessons.panel import LessonPanel

#: Views a prediction hides until the learner answers (they show the weights).
COVERED = ("attentionHeatmap", "headGrid", "pipelineView", "insideView")
COVER_TEXT = "Hidden until you answer in the lesson panel: which word will it look at most?"
SETTINGS_LESSON = "lessons/current"  # path of the lesson in progress
SETTINGS_STEP = "lessons/step/"  # + lesson id: the step reached
LEFT_PANE = 200  # width of the settings pane while a step shows a few of its controls


class _Stash:
    """The learner's own document, put aside while a lesson runs."""

    def __init__(self, doc):
        stack = doc.undo_stack
        self.session = doc.session
        self.path = doc.path
        self.index = stack.index()
        self.clean = stack.cleanIndex()
        self.commands = []
        for i in range(stack.count()):
            cmd = stack.command(i)
            if isinstance(cmd, SessionCommand):
                self.commands.append((cmd.old, cmd.new, cmd.text()))

    def restore(self, doc) -> None:
        """Put the stack, clean state, file and session back, with one sessionChanged."""
        stack = doc.undo_stack
        lesson_session = doc.session
        doc.blockSignals(True)
        try:
            stack.clear()
            for old, new, text in self.commands:
                cmd = SessionCommand(doc, old, new, text, None)
                cmd.close()
                stack.push(cmd)
            if self.clean >= 0:
                stack.setIndex(self.clean)
                stack.setClean()
            else:
                stack.resetClean()
            stack.setIndex(self.index)
            doc._session = self.session  # the undo replays above moved it; make it exact
        finally:
            doc.blockSignals(False)
        doc.set_path(self.path)
        doc.sessionChanged.emit(self.session, lesson_session)


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
        self._stash: _Stash | None = None
        self._before = None  # the session before this step's setup
        self._frame: FocusFrame | None = None
        self._covers: list[Cover] = []
        self._tabs: list[tuple[QtWidgets.QTabWidget, int]] = []
        self._hidden: list[tuple] = []
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
        self._stash = _Stash(self.w.doc)
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
        self._show_controls(None)
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
        self._show_controls(None if self._show_all else set(step.focus.controls))
        if step.predict is not None:
            inside = self._find("insideView")
            if inside is not None:  # covered too: the tabs show nothing that gives it away
                self._bring_forward(inside)
            self._covers = [
                Cover(w, COVER_TEXT) for w in (self._find(n) for n in COVERED) if w is not None
            ]
        n = len(self.lesson.steps)
        self.panel.show_step(f"Step {self.index + 1} of {n}", step.title)
        self.panel.lessonBack.setEnabled(self.index > 0)
        self.panel.set_reveal("")
        self._fit_panes(step)

    def _leave_step(self) -> None:
        for c in self._covers:
            if shiboken6.isValid(c):
                c.remove()
        self._covers = []
        if self._frame is not None and shiboken6.isValid(self._frame):
            self._frame.remove()
        self._frame = None
        for tabs, idx in reversed(self._tabs):
            if shiboken6.isValid(tabs):
                tabs.setCurrentIndex(idx)
        self._tabs = []
        self.panel.set_guesses(None)
        if self._before is not None:
            self.w.doc.replace(self._before, None)

    def _find(self, name: str) -> QtWidgets.QWidget | None:
        if self.w.objectName() == name:
            return self.w
        return self.w.findChild(QtWidgets.QWidget, name)

    def _focus(self, step: Step) -> None:
        """Highlight the first view of the step's list that the window has; bring it forward."""
        for name in step.focus.view:
            view = self._find(name)
            if view is None:
                continue
            inside = getattr(self.w, "insideView", None) or self._find("insideView")
            if inside is not None and hasattr(inside, "show_view") and inside.isAncestorOf(view):
                self._tabs.append((inside, inside.currentIndex()))
                inside.show_view(name)
            self._bring_forward(view)
            self._frame = FocusFrame(view)
            return

    def _bring_forward(self, view: QtWidgets.QWidget) -> None:
        """Make every tab on the way from the window down to ``view`` the current one."""
        child, parent = view, view.parentWidget()
        chain = []
        while parent is not None:
            stack = parent.parentWidget()
            if isinstance(parent, QtWidgets.QStackedWidget) and isinstance(
                stack, QtWidgets.QTabWidget
            ):
                chain.append((stack, stack.indexOf(child)))
            child, parent = parent, parent.parentWidget()
        for tabs, idx in reversed(chain):  # outermost first, like a user would click
            if idx >= 0 and tabs.currentIndex() != idx:
                self._tabs.append((tabs, tabs.currentIndex()))
                tabs.setCurrentIndex(idx)

    # ---------------------------------------------------------- controls
    def _on_show_all(self, on: bool) -> None:
        self._show_all = on
        if self.running:
            self._show_controls(None if on else set(self.step.focus.controls))
            self._fit_panes(self.step)

    def _show_controls(self, names: set[str] | None) -> None:
        """Show only the controls in ``names`` (all of them for None)."""
        w = self.w
        panel = w.modelPanel
        form = panel.layout()
        role = QtWidgets.QFormLayout.ItemRole.FieldRole
        for row in range(form.rowCount()):
            item = form.itemAt(row, role)
            field = item.widget() if item is not None else None
            show = names is None or (
                field is not None
                and any(
                    field.objectName() == n or field.findChild(QtWidgets.QWidget, n) for n in names
                )
            )
            form.setRowVisible(row, show)
        selector_row = w.headSelector.parentWidget().layout()
        for i in range(selector_row.count()):
            item = selector_row.itemAt(i)
            lay = item.layout()
            if lay is not None and lay.indexOf(w.headSelector) >= 0:
                for j in range(lay.count()):
                    if lay.itemAt(j).widget() is not None:
                        lay.itemAt(j).widget().setVisible(names is None or "headSelector" in names)
        tabs = w.rightTabs
        idx = tabs.indexOf(w.projectionEditor)
        if idx >= 0:
            visible = names is None or "projectionEditor" in names
            if not visible and tabs.currentIndex() == idx and tabs.count() > 1:
                self._tabs.append((tabs, idx))  # show a page that is there; back on leaving
                tabs.setCurrentIndex(1 if idx == 0 else 0)
            tabs.setTabVisible(idx, visible)
        w.headGrid.setVisible(names is None or "headGrid" in names)

    def _fit_panes(self, step: Step) -> None:
        """Give the views the room of the controls a step does not show."""
        split = self.w.topSplit
        sizes = split.sizes()
        if len(sizes) != 3 or self._show_all:
            if self._split_sizes is not None and self._show_all:
                split.setSizes(self._split_sizes)
            return
        form = self.w.modelPanel.layout()
        needs_left = any(form.isRowVisible(r) for r in range(form.rowCount())) or (
            "headSelector" in step.focus.controls
        )
        left = min(sizes[0], LEFT_PANE) if needs_left else 0
        if needs_left and left == 0:
            left = LEFT_PANE
        rest = max(sum(sizes) - left, 2)
        middle = rest * 53 // 100  # the heatmap needs a little more than the tabs
        split.setSizes([left, middle, rest - middle])

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
        return LessonContext(w.doc.session, result, curve, name, state)

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
