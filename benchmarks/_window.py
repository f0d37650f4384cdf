"""Shared helpers for benchmarks that drive the real main window (offscreen Qt).

Everything here builds windows the way ``tests/ui/conftest.py`` does: settings in an INI
file and autosave in a temporary folder, so a benchmark never touches the user's settings.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
LONG_PARAGRAPH = ROOT / "resources" / "examples" / "long-paragraph.attn.json"


def long_text(min_tokens: int) -> str:
    """The shipped 300-token paragraph repeated until it has at least ``min_tokens`` tokens."""
    import json

    from explorer.core.tokenizer import tokenize

    base = json.loads(LONG_PARAGRAPH.read_text(encoding="utf-8"))["text"]
    text = base
    while len(tokenize(text, max_tokens=10**7).tokens) < min_tokens:
        text = text + " " + base
    return text


def text_of(n_tokens: int) -> str:
    """The shipped paragraph repeated and cut after exactly ``n_tokens`` word pieces."""
    from explorer.core.tokenizer import tokenize

    text = long_text(n_tokens)
    end = tokenize(text, max_tokens=10**7).tokens[n_tokens - 1].end
    return text[:end]


def sized_session(text: str, n_head: int, d_head: int, d_model: int):
    """A Session on the built-in embeddings with ``n_head`` orthogonal heads of ``d_head``."""
    from dataclasses import replace

    from explorer.core.projections import conform
    from explorer.core.session import Session

    s = Session(text=text, d_model=d_model, preset="orthogonal")
    s = conform(s, n_head=n_head, d_head=d_head)
    return replace(s, selected_head=0)


def default_session(n_head: int = 1):
    """The default Session, optionally widened to ``n_head`` heads (d = 8)."""
    from explorer.core.projections import conform
    from explorer.core.session import Session

    s = Session()
    return s if n_head == 1 else conform(s, n_head=n_head)


def process_for(seconds: float) -> None:
    """Run the event loop for ``seconds`` (like ``qtbot.wait``)."""
    from PySide6 import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance()
    end = time.perf_counter() + seconds
    while True:
        left = end - time.perf_counter()
        if left <= 0:
            return
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, max(1, int(left * 1e3)))
        if end - time.perf_counter() > 0.002:
            time.sleep(0.001)


def wait_until(predicate, timeout: float = 60.0) -> None:
    """Process events until ``predicate()`` is true; TimeoutError after ``timeout`` s."""
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance()
    end = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > end:
            raise TimeoutError("the window did not reach the expected state in time")
        app.processEvents()
        if not predicate():
            time.sleep(0.0005)


def open_window(session, tmpdir: Path, size=(1280, 800)):
    """Create, show and wait for a MainWindow on ``session`` with isolated settings."""
    from PySide6 import QtCore

    from explorer.ui.app import create_app
    from explorer.ui.main_window import MainWindow

    create_app()
    settings = QtCore.QSettings(str(tmpdir / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    w = MainWindow(session, settings=settings, autosave_dir=tmpdir / "autosave")
    w.resize(*size)
    w.show()
    wait_until(lambda: w.worker.ready and w.result is not None)
    from explorer.core.long_attention import long_kernels_ready, start_warm_up

    start_warm_up()  # long texts: the compiled pass, as once any long text has been seen
    wait_until(long_kernels_ready, timeout=600)
    wait_until(lambda: w._result_session == w.doc.session)
    process_for(0.2)  # first layout and paint
    return w


def close_window(w) -> None:
    """Close a window without a save prompt and let Qt delete it."""
    from PySide6 import QtCore

    w.doc.undo_stack.setClean()
    w.close()
    w.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB, from /proc/self/status."""
    vals = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                vals[key] = int(rest.split()[0]) / 1024.0  # kB -> MB
    return vals["VmRSS"], vals["VmHWM"]
