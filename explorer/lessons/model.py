"""The lesson model: steps, setups, live texts and tasks, read and checked from JSON files.

The file format is documented in ``docs/lessons.md``. :func:`load_lesson` refuses anything it
does not understand with a :class:`~explorer.lessons.params.LessonFileError` whose message is
one line naming the place (``steps[3].focus.view: ...``): unknown keys, unknown function
names, wrong argument types, out-of-range numbers, texts that are too long, placeholders that
name no value. A loaded :class:`Lesson` is immutable and holds only checked values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from explorer.core.session import MAX_HEADS, Session
from explorer.io.session_file import SessionFileError
from explorer.lessons.live import VALUE_NAME, placeholders
from explorer.lessons.params import Entry, LessonFileError, Param, check_args
from explorer.lessons.registry import CHECKS, SOLUTIONS, VALUES
from explorer.lessons.setups import MAX_SESSION_TEXT, SESSION_FIELDS, Setup, setup_session
from explorer.resources import resource_path

FORMAT = "attention-explorer-lesson"
VERSION = 1
SUFFIX = ".lesson.json"
MAX_FILE_BYTES = 1 << 20  # a lesson is text: 1 MB is far more than any needs
MAX_STEPS = 100
MAX_TEXT = 4000  # characters of one step text
MAX_TITLE = 120
MAX_VALUES = 24  # named values per step
MAX_NAMES = 16  # view or control names in a focus list

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_EXAMPLE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\.attn\.json$")
_FORMAT_SPEC = re.compile(r"^(\.[0-4]f|d|\.[0-2]%)$")
_EDITABLE = ("identity", "orthogonal", "scaled")


# ------------------------------------------------------------------ model
@dataclass(frozen=True)
class Call:
    """A registry function with checked arguments."""

    name: str
    args: tuple[tuple[str, object], ...]

    @property
    def kwargs(self) -> dict:
        return dict(self.args)


@dataclass(frozen=True)
class ValueSpec:
    """A named live value of a step text: ``{name}`` in the text."""

    call: Call
    format: str = ".2f"


@dataclass(frozen=True)
class Focus:
    """The view to highlight (the first of ``view`` that the window has) and the controls
    the step shows (object names; every other control is hidden until "Show all")."""

    view: tuple[str, ...] = ()
    controls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    prompt: str
    check: Call
    solution: Call
    done: str = "Done."


@dataclass(frozen=True)
class Predict:
    """Predict, then reveal: the weights stay hidden until the learner picks a key."""

    query: str
    prompt: str


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    text: str
    setup: Setup
    focus: Focus
    values: tuple[tuple[str, ValueSpec], ...] = ()
    task: Task | None = None
    predict: Predict | None = None


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    steps: tuple[Step, ...]
    description: str = ""
    path: str = ""


# ------------------------------------------------------------------ parsing
def _keys(obj, where: str, required=(), optional=()) -> dict:
    if not isinstance(obj, dict):
        raise LessonFileError(f"{where or 'the file'}: expected an object")
    for key in obj:
        if key not in required and key not in optional:
            known = ", ".join((*required, *optional))
            raise LessonFileError(f"{where or 'the file'}: unknown key '{key}' (known: {known})")
    for key in required:
        if key not in obj:
            raise LessonFileError(f"{where or 'the file'}: missing key '{key}'")
    return obj


def _str(obj, where: str, limit: int, pattern: re.Pattern | None = None) -> str:
    if not isinstance(obj, str):
        raise LessonFileError(f"{where}: expected a string")
    if len(obj) > limit:
        raise LessonFileError(f"{where}: longer than {limit} characters")
    if pattern is not None and not pattern.match(obj):
        raise LessonFileError(f"{where}: {obj[:40]!r} is not a valid name")
    return obj


def _call(obj, where: str, table: dict[str, Entry], what: str) -> Call:
    if isinstance(obj, str):
        obj = {"name": obj}
    d = _keys(obj, where, ("name",), ("args",))
    name = d["name"]
    if not isinstance(name, str) or name not in table:
        raise LessonFileError(
            f"{where}.name: unknown {what} {str(name)[:40]!r} (known: {', '.join(table)})"
        )
    args = check_args(table[name], d.get("args"), f"{where}.args")
    return Call(name, tuple(args.items()))


def _session_fields(obj, where: str, allowed: dict[str, Param]) -> tuple:
    d = _keys(obj, where, (), (*allowed, "heads") if "heads" in allowed else tuple(allowed))
    out = []
    for key, value in d.items():
        if key == "heads":
            out.append((key, _heads(value, f"{where}.heads")))
            continue
        p = allowed[key]
        if key == "selected_query" and value is None:
            out.append((key, None))
            continue
        if key == "text":
            out.append((key, _str(value, f"{where}.text", MAX_SESSION_TEXT)))
            continue
        out.append((key, check_args(Entry(key, None, (p,), ""), {key: value}, where)[key]))
    return tuple(out)


_HEAD_PRESET = (
    Param("preset", "choice", "preset", choices=_EDITABLE),
    Param("seed", "int", "seed", required=False, default=0, lo=0, hi=2**31 - 1),
    Param("scale", "float", "gain", required=False, default=1.0, lo=-3.0, hi=3.0),
)


def _heads(obj, where: str) -> tuple:
    if not isinstance(obj, list) or not 1 <= len(obj) <= MAX_HEADS:
        raise LessonFileError(f"{where}: expected a list of 1 to {MAX_HEADS} head presets")
    entry = Entry("head", None, _HEAD_PRESET, "")
    return tuple(tuple(check_args(entry, h, f"{where}[{i}]").items()) for i, h in enumerate(obj))


def _setup(obj, where: str) -> Setup:
    d = _keys(obj, where, (), ("example", "session", "change"))
    if "example" in d and "session" in d:
        raise LessonFileError(f"{where}: give 'example' or 'session', not both")
    example = ""
    if "example" in d:
        example = _str(d["example"], f"{where}.example", 80, _EXAMPLE)
        if not resource_path("examples", example).is_file():
            raise LessonFileError(f"{where}.example: there is no example {example!r}")
    inline = None
    if "session" in d:
        inline = _session_fields(d["session"], f"{where}.session", {**SESSION_FIELDS, "heads": 0})
        if "text" not in dict(inline):
            raise LessonFileError(f"{where}.session: missing key 'text'")
    change = _session_fields(d.get("change", {}), f"{where}.change", SESSION_FIELDS)
    setup = Setup(example, inline, change)
    if not (example or inline):
        return setup  # changes to whatever session is current: checked when the step starts
    try:  # build it once now, so a setup that cannot work is refused at load
        setup_session(setup, Session())
    except (ValueError, SessionFileError) as exc:
        raise LessonFileError(f"{where}: {exc}") from None
    return setup


def _names(obj, where: str) -> tuple[str, ...]:
    if isinstance(obj, str):
        obj = [obj]
    if not isinstance(obj, list) or len(obj) > MAX_NAMES:
        raise LessonFileError(f"{where}: expected a list of at most {MAX_NAMES} object names")
    return tuple(_str(n, f"{where}[{i}]", 64, _OBJECT_NAME) for i, n in enumerate(obj))


def _step(obj, where: str) -> Step:
    d = _keys(obj, where, ("id", "title", "text"), ("setup", "focus", "values", "task", "predict"))
    sid = _str(d["id"], f"{where}.id", 64, _ID)
    title = _str(d["title"], f"{where}.title", MAX_TITLE)
    text = _str(d["text"], f"{where}.text", MAX_TEXT)
    setup = _setup(d.get("setup", {}), f"{where}.setup")
    f = _keys(d.get("focus", {}), f"{where}.focus", (), ("view", "controls"))
    focus = Focus(
        _names(f.get("view", []), f"{where}.focus.view"),
        _names(f.get("controls", []), f"{where}.focus.controls"),
    )
    vals = d.get("values", {})
    if not isinstance(vals, dict) or len(vals) > MAX_VALUES:
        raise LessonFileError(f"{where}.values: expected an object of at most {MAX_VALUES} values")
    values = []
    for name, spec in vals.items():
        w = f"{where}.values.{name}"
        if not VALUE_NAME.match(name):
            raise LessonFileError(f"{w}: a value name is lower case letters, digits and _")
        s = _keys(spec, w, ("value",), ("args", "format"))
        call = _call({"name": s["value"], "args": s.get("args")}, w, VALUES, "value")
        fmt = _str(s.get("format", ".2f"), f"{w}.format", 8)
        if not _FORMAT_SPEC.match(fmt):
            raise LessonFileError(f"{w}.format: use .0f to .4f, d, or .0% to .2%")
        values.append((name, ValueSpec(call, fmt)))
    task = None
    if "task" in d:
        t = _keys(d["task"], f"{where}.task", ("prompt", "check", "solution"), ("done",))
        task = Task(
            _str(t["prompt"], f"{where}.task.prompt", MAX_TEXT),
            _call(t["check"], f"{where}.task.check", CHECKS, "check"),
            _call(t["solution"], f"{where}.task.solution", SOLUTIONS, "solution"),
            _str(t.get("done", "Done."), f"{where}.task.done", MAX_TEXT),
        )
    predict = None
    if "predict" in d:
        p = _keys(d["predict"], f"{where}.predict", ("query", "prompt"))
        predict = Predict(
            _str(p["query"], f"{where}.predict.query", 64),
            _str(p["prompt"], f"{where}.predict.prompt", MAX_TEXT),
        )
    if task is not None and predict is not None:
        raise LessonFileError(f"{where}: a step has a task or a prediction, not both")
    declared = {n for n, _ in values}
    texts = [("text", text)]
    if task is not None:
        texts += [("task.prompt", task.prompt), ("task.done", task.done)]
    if predict is not None:
        texts.append(("predict.prompt", predict.prompt))
    for key, t in texts:
        for name in placeholders(t, f"{where}.{key}"):
            if name not in declared:
                raise LessonFileError(f"{where}.{key}: {{{name}}} names no value of this step")
    return Step(sid, title, text, setup, focus, tuple(values), task, predict)


def lesson_from_dict(doc, path: str = "") -> Lesson:
    """Check a parsed lesson document and build the :class:`Lesson`."""
    d = _keys(doc, "", ("format", "version", "id", "title", "steps"), ("description",))
    if d["format"] != FORMAT:
        raise LessonFileError(f"format: expected {FORMAT!r}, this is not a lesson file")
    version = d["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise LessonFileError("version: expected a positive integer")
    if version > VERSION:
        raise LessonFileError(
            f"version {version} is newer than this explorer reads ({VERSION}); update it"
        )
    steps = d["steps"]
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise LessonFileError(f"steps: expected a list of 1 to {MAX_STEPS} steps")
    parsed = tuple(_step(s, f"steps[{i}]") for i, s in enumerate(steps))
    ids = [s.id for s in parsed]
    for i, sid in enumerate(ids):
        if sid in ids[:i]:
            raise LessonFileError(f"steps[{i}].id: {sid!r} is used twice")
    return Lesson(
        _str(d["id"], "id", 64, _ID),
        _str(d["title"], "title", MAX_TITLE),
        parsed,
        _str(d.get("description", ""), "description", MAX_TEXT),
        path,
    )


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise LessonFileError(f"the key '{k}' appears twice in one object")
        out[k] = v
    return out


def _no_constant(name):
    raise LessonFileError(f"{name} is not a number JSON allows")


def lesson_from_json(data: bytes | str, path: str = "") -> Lesson:
    """Parse and check a lesson from its JSON text."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LessonFileError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        doc = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise LessonFileError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise LessonFileError("nested too deeply") from None
    return lesson_from_dict(doc, path)


def load_lesson(path) -> Lesson:
    """Read and check a lesson file; LessonFileError (one line, naming the file) if unusable."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise LessonFileError(f"{p.name} is not a file")
        if size > MAX_FILE_BYTES:
            raise LessonFileError(f"{p.name}: larger than {MAX_FILE_BYTES >> 20} MB")
        data = p.read_bytes()
    except OSError as exc:
        raise LessonFileError(f"cannot read {p.name}: {exc.strerror or exc}") from None
    try:
        return lesson_from_json(data, str(p))
    except LessonFileError as exc:
        raise LessonFileError(f"{p.name}: {exc}") from None


def builtin_lessons() -> list[Path]:
    """The lesson files shipped in ``resources/lessons/``."""
    folder = resource_path("lessons")
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
