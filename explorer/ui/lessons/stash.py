"""The learner's own document, put aside while a lesson runs and put back exactly."""

from __future__ import annotations

from explorer.ui.document import SessionCommand


class SessionStash:
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
