"""The ``attention-explorer`` command: launch the window, open a session, or render one.

attention-explorer [SESSION.attn.json] [--lesson LESSON.json]
attention-explorer --smoke-test
attention-explorer render SESSION.attn.json -o OUT.png [--view ...] [--head N] [--width PX]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

from explorer import __version__

_T0 = time.perf_counter()

# Qt platform plugins that draw through a display server (prefixes: "wayland-egl" too);
# the others (offscreen, minimal, vnc, eglfs, linuxfb, ...) need none.
_DISPLAY_PLATFORMS = ("xcb", "wayland")

NO_DISPLAY = (
    "attention-explorer: no display was found (DISPLAY and WAYLAND_DISPLAY are unset); set "
    "DISPLAY to open the window, or use 'attention-explorer render SESSION.attn.json -o "
    "FIGURE.png' for headless figures"
)


def missing_display(environ=None, platform: str | None = None) -> bool:
    """True when opening the window would need a display server and none is set.

    Without one, Qt's platform plugin aborts the whole process (exit 134) with a misleading
    hint about ``xcb-cursor0``, so the launch checks first. Only Linux and the BSDs are
    checked: macOS and Windows always have their native platform.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (``os.environ`` by default).
    platform : str, optional
        ``sys.platform`` by default.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return False
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return False
    # QT_QPA_PLATFORM is "name[:options]", or several separated by ";" tried in turn
    spec = environ.get("QT_QPA_PLATFORM", "")
    names = [part.split(":", 1)[0].strip().lower() for part in spec.split(";")]
    names = [name for name in names if name]
    if not names:  # Qt's default on these systems is xcb (or wayland)
        return True
    return all(name.startswith(_DISPLAY_PLATFORMS) for name in names)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attention-explorer",
        description="Make self-attention visible and touchable. "
        "Run 'attention-explorer render --help' for headless figure export.",
    )
    parser.add_argument("--version", action="version", version=f"attention-explorer {__version__}")
    parser.add_argument("file", nargs="?", help="a session file (*.attn.json) to open")
    parser.add_argument(
        "--lesson",
        metavar="FILE",
        help="open a lesson file (see docs/lessons.md) and start it",
    )
    parser.add_argument(
        "--smoke-test",
        action="store_true",
        help="open the window, print the times to its first paint and to its first computed "
        "result, wait for the attention kernels (compiled on a first launch) and exit",
    )
    return parser


def _ms() -> float:
    return (time.perf_counter() - _T0) * 1e3


class _StartClock:
    """``--smoke-test``: times the window's first paint and the first paint of a Result.

    Prints ``first paint after A ms; first result after B ms`` (from process start), then
    waits until the attention kernels are ready (loaded, or compiled on a first launch, in
    the background), prints ``attention kernels ready after C ms`` and quits.
    """

    TIMEOUT_MS = 300_000  # a first launch on a slow machine compiles for a while

    def __init__(self, app, window):
        from PySide6 import QtCore

        self._app = app
        self.window = window
        self.times: dict[str, float] = {}

        class _Filter(QtCore.QObject):
            def eventFilter(inner, obj, event):  # `self` is the clock
                if event.type() == QtCore.QEvent.Type.Paint:
                    with_result = window.result is not None
                    QtCore.QTimer.singleShot(0, lambda: self._painted(with_result))
                return False

        self._filter = _Filter()
        window.installEventFilter(self._filter)
        window.resultShown.connect(self._on_result_shown)
        window.computeFailed.connect(self._on_failed)
        window.worker.readyChanged.connect(lambda _ready: self._check())
        QtCore.QTimer.singleShot(self.TIMEOUT_MS, self._timeout)

    def _painted(self, with_result: bool) -> None:
        self.times.setdefault("paint", _ms())
        if with_result:
            self.times.setdefault("result", self.times["paint"])
        self._on_result_shown()
        self._check()

    def _on_result_shown(self) -> None:
        from PySide6 import QtCore

        if "paint" in self.times and "result" not in self.times and self.window.result is not None:
            # a Result after the first paint: it is on screen once the window repaints
            QtCore.QTimer.singleShot(0, self._repaint_result)

    def _repaint_result(self) -> None:
        if "result" not in self.times:
            self.window.repaint()
            self.times["result"] = _ms()
        self._check()

    def _check(self) -> None:
        if "paint" in self.times and "result" in self.times and "line" not in self.times:
            self.times["line"] = _ms()
            self.window.removeEventFilter(self._filter)
            paint, result = self.times["paint"], self.times["result"]
            print(
                f"first paint after {paint:.0f} ms; first result after {result:.0f} ms", flush=True
            )
        if "line" in self.times and self.window.worker.ready and "ready" not in self.times:
            self.times["ready"] = _ms()
            print(f"attention kernels ready after {self.times['ready']:.0f} ms", flush=True)
            self.window.close()
            self._app.quit()

    def _on_failed(self, why: str) -> None:
        if "result" not in self.times:
            print(f"no first result: {why}", flush=True)
            self.times["ready"] = _ms()  # nothing more to wait for
            self._app.exit(1)

    def _timeout(self) -> None:
        if "ready" in self.times:
            return
        print(f"no first result and ready kernels within {self.TIMEOUT_MS // 1000} s", flush=True)
        self._app.exit(1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "render":
        from explorer.ui.export.render import render_main

        return render_main(argv[1:])
    args = build_parser().parse_args(argv)
    if missing_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2

    session = None
    if args.file:
        from explorer.io.session_file import SessionFileError, load_session

        try:
            session = load_session(args.file)
        except SessionFileError as exc:
            print(f"attention-explorer: {exc}", file=sys.stderr)
            return 2

    lesson = None
    if args.lesson:
        from explorer.lessons.model import load_lesson
        from explorer.lessons.params import LessonFileError

        try:
            lesson = load_lesson(args.lesson)
        except LessonFileError as exc:
            print(f"attention-explorer: {exc}", file=sys.stderr)
            return 2

    from PySide6 import QtCore

    from explorer.ui.app import create_app
    from explorer.ui.main_window import MainWindow

    app = create_app()
    window = MainWindow(session, path=Path(args.file).resolve() if args.file else None)
    from explorer.ui.errors import install_excepthook

    reporter = install_excepthook(lambda: window)  # noqa: F841 - lives as long as the app
    if args.smoke_test:
        clock = _StartClock(app, window)  # noqa: F841 - watches the first paints
    window.show()
    if lesson is not None:
        window.lessons.start(lesson)
    if not args.smoke_test and session is None and lesson is None:
        QtCore.QTimer.singleShot(0, window.files.offer_recovery)
    rc = app.exec()
    # Tear the window down while Qt is still alive: leaving it to interpreter shutdown
    # destroys wrapped objects in an arbitrary order.
    window.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    gc.collect()
    return rc
