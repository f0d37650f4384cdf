"""The lesson model: steps, setups, live texts and tasks, read and checked from JSON files.

The file format is documented in ``docs/lessons.md``. :func:`load_lesson` refuses anything it
does not understand with a :class:`~explorer.lessons.params.LessonFileError` whose message is
one line naming the place (``steps[3].focus.view: ...``): unknown keys, unknown function
names, wrong argument types, out-of-range numbers, texts that are too long, placeholders that
name no value. A loaded :class:`Lesson` is immutable and holds only checked values.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from explorer.core import projections
from explorer.core.labels import token_labels
from explorer.core.session import (
    D_MODEL_RANGE,
    MAX_HEADS,
    TEMPERATURE_RANGE,
    Session,
)
from explorer.core.tokenizer import tokenize
from explorer.io.session_file import SessionFileError, load_session
from explorer.lessons.params import Entry, LessonFileError, Param, check_args
from explorer.lessons.registry import CHECKS, SOLUTIONS, VALUES, LessonContext, Missing
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
MAX_SESSION_TEXT = 2000  # characters of a session text set by a lesson
MISSING = "—"  # shown where a value cannot be given

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_VALUE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")
_EXAMPLE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\.attn\.json$")
_FORMAT_SPEC = re.compile(r"^(\.[0-4]f|d|\.[0-2]%)$")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

_EDITABLE = ("identity", "orthogonal", "scaled")
#: Session fields a setup may set, with their types and ranges.
SESSION_FIELDS: dict[str, Param] = {
    p.name: p
    for p in (
        Param("text", "str", "the text", lo=None),
        Param("embedding", "choice", "embedding source", choices=("one-hot", "builtin", "random")),
        Param("d_model", "int", "vector size", lo=D_MODEL_RANGE[0], hi=D_MODEL_RANGE[1]),
        Param("embedding_seed", "int", "seed of the random source", lo=0, hi=2**31 - 1),
        Param("positional", "choice", "positional encoding", choices=("none", "sinusoidal")),
        Param("positional_mode", "choice", "add or concat", choices=("add", "concat")),
        Param("n_head", "int", "number of heads", lo=1, hi=MAX_HEADS),
        Param("d_head", "int", "head width", lo=1, hi=64),
        Param("preset", "choice", "projection preset", choices=_EDITABLE),
        Param("preset_seed", "int", "seed of the orthogonal preset", lo=0, hi=2**31 - 1),
        Param("preset_scale", "float", "gain of the scaled preset", lo=-3.0, hi=3.0),
        Param("temperature", "float", "τ", lo=TEMPERATURE_RANGE[0], hi=TEMPERATURE_RANGE[1]),
        Param("causal", "bool", "causal mask"),
        Param("sentence_mask", "bool", "attend within each sentence"),
        Param("selected_head", "int", "selected head", lo=0, hi=MAX_HEADS - 1),
        Param("selected_query", "token", "selected query row", required=False),
    )
}
_STRUCTURE = {"embedding", "d_model", "positional", "positional_mode", "n_head", "d_head"}
_PRESET = {"preset", "preset_seed", "preset_scale"}


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
class Setup:
    """How a step prepares the session: ``example`` or ``session`` (a full session), then
    ``change`` (fields set on it, or on the current session when there is neither)."""

    example: str = ""
    session: tuple[tuple[str, object], ...] | None = None
    change: tuple[tuple[str, object], ...] = ()


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


def placeholders(text: str, where: str) -> list[str]:
    """Names of the ``{name}`` placeholders in ``text``; ``{{`` and ``}}`` are braces."""
    names = []
    for m in _PLACEHOLDER.finditer(text):
        tok = m.group(0)
        if tok in ("{{", "}}"):
            continue
        if m.group(1) is None or not _VALUE_NAME.match(m.group(1)):
            raise LessonFileError(
                f"{where}: stray brace or bad placeholder {tok!r} (write {{{{ or }}}} for braces)"
            )
        names.append(m.group(1))
    return names


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
        if not _VALUE_NAME.match(name):
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


# ------------------------------------------------------------------ setups
def query_index(text: str, ref: str) -> int:
    """Index of token ``ref`` (display label or text) in ``text``; ValueError if absent."""
    texts = [t.text for t in tokenize(text).tokens]
    labels = token_labels(texts)
    if ref in labels:
        return labels.index(ref)
    for i, t in enumerate(texts):
        if t.casefold() == ref.casefold():
            return i
    raise ValueError(f"the text has no token '{ref}'")


def _apply(session: Session, fields: tuple) -> Session:
    d = dict(fields)
    heads = d.pop("heads", None)
    n_head, d_head = d.pop("n_head", None), d.pop("d_head", None)
    query = d.pop("selected_query", "keep")
    new = replace(session, **d)
    if heads is not None:
        width = projections.session_input_width(new)
        dh = d_head or new.d_head
        built = []
        for h in heads:
            a = dict(h)
            built += projections.preset_heads(a["preset"], 1, width, dh, a["seed"], a["scale"])
        new = replace(new, heads=tuple(built), preset=dict(heads[0])["preset"])
    elif _PRESET & d.keys() or (n_head or d_head or _STRUCTURE & d.keys()):
        if _PRESET & d.keys():
            new = replace(new, heads=projections.session_preset_heads(new, n_head, d_head))
        else:
            new = projections.conform(new, n_head=n_head, d_head=d_head)
    if query != "keep":
        new = replace(new, selected_query=None if query is None else query_index(new.text, query))
    return replace(new, selected_head=min(new.selected_head, new.n_head - 1))


def setup_session(setup: Setup, current: Session) -> Session:
    """The session a step starts from: its example or inline session (or ``current``), with
    its changes applied. Raises ValueError or SessionFileError when that cannot be built."""
    if setup.example:
        base = load_session(resource_path("examples", setup.example))
    elif setup.session is not None:
        fields = dict(setup.session)
        base = _apply(
            Session(text=fields["text"]),
            tuple((k, v) for k, v in setup.session if k != "text"),
        )
    else:
        base = current
    return _apply(base, setup.change) if setup.change else base


# ------------------------------------------------------------------ texts
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
