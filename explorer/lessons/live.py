"""A running step: its text with live values, its task check and its "Show me"."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from explorer.core.session import Session
from explorer.lessons.context import LessonContext, Missing
from explorer.lessons.params import LessonFileError
from explorer.lessons.registry import CHECKS, SOLUTIONS, VALUES

if TYPE_CHECKING:  # the model imports this module
    from explorer.lessons.model import Step

MISSING = "—"  # shown where a value cannot be given
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
VALUE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")


def placeholders(text: str, where: str) -> list[str]:
    """Names of the ``{name}`` placeholders in ``text``; ``{{`` and ``}}`` are braces."""
    names = []
    for m in _PLACEHOLDER.finditer(text):
        tok = m.group(0)
        if tok in ("{{", "}}"):
            continue
        if m.group(1) is None or not VALUE_NAME.match(m.group(1)):
            raise LessonFileError(
                f"{where}: stray brace or bad placeholder {tok!r} (write {{{{ or }}}} for braces)"
            )
        names.append(m.group(1))
    return names


def format_value(value, fmt: str) -> str:
    """A value as the text shows it: numbers with ``fmt`` (never "-0.00"), texts as they are."""
    if isinstance(value, str):
        return value
    text = f"{round(value):d}" if fmt == "d" else format(float(value), fmt)
    if text.startswith("-") and not any(c in "123456789" for c in text):
        text = text[1:]
    return text


def step_values(step: Step, ctx: LessonContext) -> dict[str, str]:
    """Every named value of ``step`` formatted for the text ("—" where it cannot be given)."""
    out = {}
    for name, spec in step.values:
        try:
            value = VALUES[spec.call.name].fn(ctx, **spec.call.kwargs)
            out[name] = format_value(value, spec.format)
        except Missing:
            out[name] = MISSING
    return out


def render(text: str, values: dict[str, str]) -> str:
    """``text`` (Qt rich text) with each ``{name}`` replaced by its HTML-escaped value."""

    def sub(m: re.Match) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        return f"<b>{html.escape(values.get(m.group(1) or '', MISSING))}</b>"

    return _PLACEHOLDER.sub(sub, text)


def run_check(step: Step, session: Session, result) -> bool:
    """Whether ``step``'s task holds for (session, result); False without a task."""
    if step.task is None:
        return False
    try:
        return bool(CHECKS[step.task.check.name].fn(session, result, **step.task.check.kwargs))
    except Missing:
        return False


def solve(step: Step, session: Session, result) -> Session:
    """The "Show me" session; ValueError (a message for the user) when it cannot be made."""
    if step.task is None:
        raise ValueError("this step has no task")
    call = step.task.solution
    try:
        return SOLUTIONS[call.name].fn(session, result, **call.kwargs)
    except Missing as exc:
        raise ValueError(f"Show me cannot solve this here: {exc}") from None
