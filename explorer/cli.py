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
        help="open the window, paint once, print the time to first paint and exit",
    )
    return parser


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
    window.show()
    if lesson is not None:
        window.lessons.start(lesson)
    if args.smoke_test:

        def painted():
            window.repaint()
            print(f"first paint after {(time.perf_counter() - _T0) * 1e3:.0f} ms")
            window.close()
            app.quit()

        if window.result is not None:
            QtCore.QTimer.singleShot(0, painted)
        else:
            window.resultShown.connect(lambda: QtCore.QTimer.singleShot(0, painted))
        QtCore.QTimer.singleShot(60_000, lambda: (print("no first paint within 60 s"), app.exit(1)))
    elif session is None and lesson is None:
        QtCore.QTimer.singleShot(0, window.files.offer_recovery)
    rc = app.exec()
    # Tear the window down while Qt is still alive: leaving it to interpreter shutdown
    # destroys wrapped objects in an arbitrary order.
    window.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    gc.collect()
    return rc
