"""Benchmark how live the explorer window feels: slider latency, start-up and memory.

Measures, in one run, with the real widgets on Qt's offscreen platform:

1. **Slider latency.** ``weightSlider_q_0_0.setValue(v)`` (alternating values, so every tick is
   a real edit) until the attention heatmap is repainted. One tick is timed from just before
   ``setValue`` until the event loop has returned from delivering a paint event to the
   ``attentionHeatmap`` viewport that came *after* ``resultShown`` fired for the edited
   Session. Nothing is repainted by hand: the paint is the one Qt schedules from the views'
   own ``update()`` calls, so the figure includes every other widget repainted in the same
   frame (the head grid, the slider readout, ...), as a user would see it. Ticks start about
   20 ms apart like a real drag, with the event loop running in between; when a tick takes
   longer, the next one starts as soon as it is painted. Cases: the default session (1 and 4
   heads, d = 8), 512 tokens × 12 heads × d_head 64 (d_model 64), and a 4096-token text ×
   4 heads × d_head 64 (the T column says how many tokens the workbench shows of it: all of
   them since long texts, up to 8,192).
2. **Start-up.** ``python -m explorer --smoke-test`` in fresh subprocesses, per round: once
   with an empty Numba cache (``NUMBA_CACHE_DIR`` set to a new empty folder: a first-ever
   launch), once more on that cache (warm start), and once on the user's normal cache. Each
   prints, from process start, the first paint, the first computed Result on screen, and
   the moment the attention kernels are ready (compiled, or loaded from the cache, in the
   background). Rounds are interleaved; the table shows medians.
3. **Resident memory** (VmRSS and its peak VmHWM) in separate subprocesses: after opening the
   default session, with a 2,000-token text and 12 heads, and with an 8,192-token text and
   4 heads (budget 1.5 GB).

Usage::

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_latency.py [--repeats N] [--skip-startup]
        [--startup-rounds N] [--app-root CHECKOUT ...] [--no-bytecode-cache]

``--app-root A B ...`` gives the start-up rows of other checkouts of the explorer (for example
a git worktree of an older commit, and this one), their runs interleaved, for before/after
tables; an older ``--smoke-test`` that printed only ``first paint after X ms`` painted its
first Result then, once the kernels were ready, so X counts as all three figures.

Start-up children read cached bytecode, as an installed app does (``pip install`` compiles
the modules; a source checkout writes them at its first run): ``PYTHONPYCACHEPREFIX`` points
into the run's temporary folder, filled by a first run that is not counted, and
``PYTHONDONTWRITEBYTECODE`` is dropped. ``--no-bytecode-cache`` writes none and reads only
what is on disk (the installed packages' own bytecode): a source checkout without
``__pycache__`` folders then compiles the explorer's modules at every start (about 0.3 s
more here).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _window

BUDGET_SMALL_MS = 8.0  # default session: one frame at 120 Hz (8.3 ms)
BUDGET_LARGE_MS = 25.0  # 512 tokens × 12 heads × d_head 64
BUDGET_FIRST_RESULT_COLD_MS = 2500.0  # first computed Result on screen, empty Numba cache
BUDGET_FIRST_PAINT_WARM_MS = 1000.0  # first paint, kernels cached
BUDGET_HUGE_MS = 100.0  # a 4096-token text × 4 heads × d_head 64
BUDGET_RSS_DEFAULT_MB = 350.0
BUDGET_RSS_LONG_MB = 1024.0
BUDGET_RSS_8K_MB = 1536.0  # 8,192 tokens × 4 heads × d_head 64
TICK_SPACING_S = 0.020
WARMUP_TICKS = 5
BYTECODE_CACHE = True  # start-up children read cached bytecode (--no-bytecode-cache: not)


class PaintProbe:
    """Counts paint events delivered to one widget (an event filter; paints nothing)."""

    def __init__(self, widget):
        from PySide6 import QtCore

        class _Filter(QtCore.QObject):
            def eventFilter(inner, obj, event):
                if event.type() == QtCore.QEvent.Type.Paint:
                    self.count += 1
                return False

        self.count = 0
        self._filter = _Filter()
        widget.installEventFilter(self._filter)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by linear interpolation."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def slider_ticks(w, n_ticks: int) -> dict[str, list[float]]:
    """Drive ``weightSlider_q_0_0`` for ``n_ticks`` timed ticks; per-tick timings in ms.

    Returns lists ``total`` (setValue to heatmap painted), ``to_shown`` (setValue to
    ``resultShown``), ``paint`` (``resultShown`` to painted), ``compute`` (the worker's
    ``compute()`` time) and ``draw`` (the window's ``frame_ms``: updating the views' data).
    """
    import numpy as np
    from PySide6 import QtWidgets

    from explorer.core.long_attention import is_lazy

    slider = w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0")
    if slider is None or not w.attentionHeatmap.isVisible():
        raise RuntimeError("weightSlider_q_0_0 or a visible attentionHeatmap is missing")
    probe = PaintProbe(w.attentionHeatmap.viewport())
    state = {"session": None, "t": 0.0, "paints": 0}

    def on_shown():
        state["session"] = w._result_session
        state["t"] = time.perf_counter()
        state["paints"] = probe.count

    w.resultShown.connect(on_shown)
    base = slider.value()
    step = 50 if base + 50 <= slider.maximum() else -50
    out = {k: [] for k in ("total", "to_shown", "paint", "compute", "draw")}
    try:
        for i in range(WARMUP_TICKS + n_ticks):
            value = base + step if i % 2 == 0 else base
            before = w.doc.session
            t0 = time.perf_counter()
            slider.setValue(value)
            target = w.doc.session
            if target is before:
                raise RuntimeError("the slider tick did not change the session")
            _window.wait_until(lambda t=target: state["session"] is t)
            shown_paints = state["paints"]
            _window.wait_until(lambda n=shown_paints: probe.count > n, timeout=10.0)
            t1 = time.perf_counter()
            if i >= WARMUP_TICKS:
                out["total"].append((t1 - t0) * 1e3)
                out["to_shown"].append((state["t"] - t0) * 1e3)
                out["paint"].append((t1 - state["t"]) * 1e3)
                out["compute"].append(w.worker.last_compute_ms)
                out["draw"].append(w.frame_ms)
            _window.process_for(max(0.0, t0 + TICK_SPACING_S - time.perf_counter()))
    finally:
        w.resultShown.disconnect(on_shown)
    # the heatmap must show the weights of the last edit, not a stale result
    h = w._result_session.selected_head
    shown = w.attentionHeatmap.image_data()
    want = w.result.weights[h]
    if is_lazy(want):  # a long text: the heatmap draws its overview
        want = want.overview()[0]
    if not np.allclose(shown, want, atol=1e-6):
        raise RuntimeError("the heatmap does not show the last result")
    return out


def latency_cases(repeats_small: int, repeats_large: int, tmp: Path) -> list[dict]:
    """Run every slider case in this process; one row of figures per case."""
    from explorer.ui.app import create_app

    create_app()
    text512 = _window.text_of(510)  # 512 with [CLS] and [SEP], as a model would read it
    cases = [
        (
            "default session, 1 head, d=8",
            _window.default_session(1),
            repeats_small,
            BUDGET_SMALL_MS,
        ),
        (
            "default session, 4 heads, d=8",
            _window.default_session(4),
            repeats_small,
            BUDGET_SMALL_MS,
        ),
        (
            "512 tokens, 12 heads, d_head=64",
            _window.sized_session(text512, n_head=12, d_head=64, d_model=64),
            repeats_large,
            BUDGET_LARGE_MS,
        ),
        (
            "4096-token text, 4 heads, d_head=64",
            _window.sized_session(_window.text_of(4096), n_head=4, d_head=64, d_model=64),
            repeats_large,
            BUDGET_HUGE_MS,
        ),
    ]
    rows = []
    for i, (name, session, n, budget) in enumerate(cases):
        folder = tmp / f"latency{i}"
        folder.mkdir()
        w = _window.open_window(session, folder)
        try:
            T = len(w.result.tokens)
            timings = slider_ticks(w, n)
        finally:
            _window.close_window(w)
        rows.append({"case": name, "T": T, "n": n, "budget": budget, **timings})
    return rows


def print_latency(rows: list[dict]) -> None:
    print("Slider tick -> attentionHeatmap repainted (ms; offscreen, real widgets)")
    print(
        f"| {'case':35} |    T |  n | median |    p95 | budget | median/budget "
        "| to resultShown | compute | draw (frame_ms) | shown->painted |"
    )
    print("|" + "|".join("-" * k for k in (37, 6, 4, 8, 8, 8, 15, 16, 9, 17, 16)) + "|")
    for r in rows:
        med = statistics.median(r["total"])
        p95 = percentile(r["total"], 0.95)
        parts = [statistics.median(r[k]) for k in ("to_shown", "compute", "draw", "paint")]
        verdict = "ok" if med <= r["budget"] else "MISS"
        print(
            f"| {r['case']:35} | {r['T']:4d} | {r['n']:2d} | {med:6.2f} | {p95:6.2f} | "
            f"{r['budget']:6.0f} | {med / r['budget']:9.2f} {verdict}"
            f" | {parts[0]:14.2f} | {parts[1]:7.2f} | {parts[2]:15.2f} | {parts[3]:14.2f} |"
        )
    print("(component columns are medians of their own; they need not add up to the total)")


# ------------------------------------------------------------------ subprocesses
def _child_env(
    tmp: Path, numba_cache: Path | None = None, root: Path | None = None
) -> dict[str, str]:
    """Environment for a child: offscreen Qt, settings and app data in ``tmp``; the explorer
    imported from ``root`` (this checkout by default)."""
    env = dict(os.environ)
    # bytecode as an installed app has it (``pip install`` compiles the modules; a source
    # checkout writes them at its first run): cached in ``tmp``, written by the first run
    # (never counted). --no-bytecode-cache: none written, only what is on disk already is
    # read (the installed packages' own), so a source checkout compiles the explorer's
    # modules at every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "bytecode")
    if not BYTECODE_CACHE:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX")
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["XDG_CONFIG_HOME"] = str(tmp / "config")  # QSettings of the smoke test
    env["XDG_DATA_HOME"] = str(tmp / "data")  # default autosave folder
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    root = _window.ROOT if root is None else root
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    return env


STARTUP_RUNS = (
    ("empty Numba cache (first launch)", "cold", "result", BUDGET_FIRST_RESULT_COLD_MS),
    ("same cache, second run (warm)", "warm", "paint", BUDGET_FIRST_PAINT_WARM_MS),
    ("user's Numba cache (warm)", None, "paint", BUDGET_FIRST_PAINT_WARM_MS),
)


def smoke_test(tmp: Path, cache: Path | None, root: Path | None = None) -> dict[str, float]:
    """One ``--smoke-test`` process: its printed figures (ms from its start) and its wall."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "explorer", "--smoke-test"],
        capture_output=True,
        text=True,
        env=_child_env(tmp, cache, root),
        cwd=tmp,
        timeout=600,
    )
    wall = (time.perf_counter() - t0) * 1e3
    if proc.returncode != 0:
        raise RuntimeError(f"smoke test failed ({proc.returncode}): {proc.stderr[-2000:]}")
    m = re.search(r"first paint after (\d+) ms; first result after (\d+) ms", proc.stdout)
    ready = re.search(r"attention kernels ready after (\d+) ms", proc.stdout)
    if m is not None and ready is not None:
        paint, result, kernels = float(m[1]), float(m[2]), float(ready[1])
    else:  # an older smoke test: its one paint showed the first Result, after the kernels
        old = re.search(r"first paint after (\d+) ms", proc.stdout)
        if old is None:
            raise RuntimeError(f"unexpected smoke-test output: {proc.stdout[-2000:]}")
        paint = result = kernels = float(old[1])
    return {"paint": paint, "result": result, "kernels": kernels, "wall": wall}


def startup(tmp: Path, rounds: int, root: Path | None = None) -> list[dict]:
    """Per run kind (cold, warm, user's cache): the medians over ``rounds`` interleaved rounds."""
    return startup_of(tmp, rounds, [root])[0]


def startup_of(tmp: Path, rounds: int, roots: list[Path | None]) -> list[list[dict]]:
    """:func:`startup` of several checkouts at once, their runs interleaved round by round
    (so that a busier moment of the machine weighs on each alike); one list of rows each."""
    runs = [{label: [] for label, *_ in STARTUP_RUNS} for _ in roots]
    for k, root in enumerate(roots):  # not counted: the user's cache then holds the kernels
        (tmp / f"root-{k}").mkdir()  # and the bytecode cache the modules
        smoke_test(tmp / f"root-{k}", None, root)
    for r in range(rounds):
        for k, root in enumerate(roots):
            fresh = tmp / f"root-{k}" / f"numba-cache-{r}"
            fresh.mkdir(parents=True)
            for label, kind, _, _ in STARTUP_RUNS:
                cache = None if kind is None else fresh
                runs[k][label].append(smoke_test(tmp / f"root-{k}", cache, root))
    out = []
    for per_root in runs:
        rows = []
        for label, _, key, budget in STARTUP_RUNS:
            done = per_root[label]
            row = {key_: statistics.median(run[key_] for run in done) for key_ in done[0]}
            rows.append({"run": label, "n": rounds, "target": key, "budget": budget, **row})
        out.append(rows)
    return out


def print_startup(rows: list[dict]) -> None:
    print("Start-up: python -m explorer --smoke-test, fresh processes (ms from process start)")
    print(
        f"| {'run':34} | n | first paint | first result | kernels ready | process wall "
        "| target                  | ratio      |"
    )
    print("|" + "|".join("-" * k for k in (36, 3, 13, 14, 15, 14, 25, 12)) + "|")
    for r in rows:
        target = f"{'first ' + r['target']} <= {r['budget']:.0f}"
        ratio = r[r["target"]] / r["budget"]
        print(
            f"| {r['run']:34} | {r['n']} | {r['paint']:11.0f} | {r['result']:12.0f} | "
            f"{r['kernels']:13.0f} | {r['wall']:12.0f} | {target:23} | {ratio:5.2f} "
            f"{'ok' if ratio <= 1 else 'MISS':4} |"
        )
    print("(medians; the kernels load or compile in the background after the first paint)")


def memory(tmp: Path) -> list[dict]:
    """Run each memory case in its own subprocess; their JSON reports."""
    out = []
    for case in ("default", "long", "8k"):
        folder = tmp / f"mem-{case}"
        folder.mkdir()
        proc = subprocess.run(
            [sys.executable, __file__, "--child-memory", case, "--child-dir", str(folder)],
            capture_output=True,
            text=True,
            env=_child_env(folder),
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"memory child '{case}' failed: {proc.stderr[-2000:]}")
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def child_memory(case: str, folder: Path) -> int:
    """Open one session in a window, draw it, and print a JSON line with the RSS."""
    from explorer.ui.app import create_app

    create_app()
    if case == "default":
        session, label, budget = (
            _window.default_session(1),
            "default session",
            BUDGET_RSS_DEFAULT_MB,
        )
    elif case == "long":
        text = _window.text_of(2000)
        session = _window.sized_session(text, n_head=12, d_head=64, d_model=64)
        label, budget = "2,000-token text, 12 heads, d_head=64", BUDGET_RSS_LONG_MB
    else:
        text = _window.text_of(8190)  # 8,192 with [CLS] and [SEP]: the workbench's limit
        session = _window.sized_session(text, n_head=4, d_head=64, d_model=64)
        label, budget = "8,192-token text, 4 heads, d_head=64", BUDGET_RSS_8K_MB
    from explorer.core.tokenizer import tokenize

    n_text = len(tokenize(session.text, max_tokens=10**7).tokens)
    w = _window.open_window(session, folder)
    w.repaint()
    rss, hwm = _window.rss_mb()
    T = len(w.result.tokens)
    _window.close_window(w)
    print(
        json.dumps(
            {"case": label, "text_tokens": n_text, "T": T, "rss": rss, "hwm": hwm, "budget": budget}
        )
    )
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed ticks per case (default 60 small, 30 large)",
    )
    parser.add_argument("--skip-startup", action="store_true", help="no smoke-test subprocesses")
    parser.add_argument(
        "--startup-rounds", type=int, default=3, help="interleaved start-up rounds (default 3)"
    )
    parser.add_argument(
        "--app-root",
        type=Path,
        nargs="+",
        default=None,
        help="start-up rows only, of these checkouts of the explorer (for example a git "
        "worktree of an older commit, and this one), their runs interleaved",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="start-up children write no bytecode and read only what is on disk",
    )
    parser.add_argument("--skip-memory", action="store_true", help="no memory subprocesses")
    parser.add_argument("--child-memory", choices=("default", "long", "8k"), help=argparse.SUPPRESS)
    parser.add_argument("--child-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.startup_rounds < 1:
        parser.error("--startup-rounds must be at least 1")
    global BYTECODE_CACHE
    BYTECODE_CACHE = not args.no_bytecode_cache
    if args.app_root:
        roots = [root.resolve() for root in args.app_root]
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as d:
            tables = startup_of(Path(d), args.startup_rounds, roots)
            for root, rows in zip(roots, tables, strict=True):
                print(f"Start-up rows of the checkout {root}")
                print_startup(rows)
        return 0
    if args.child_memory:
        return child_memory(args.child_memory, args.child_dir)

    small = args.repeats or 60
    large = args.repeats or 30
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as d:
        tmp = Path(d)
        load_before = os.getloadavg()[0]
        rows = latency_cases(small, large, tmp)
        print_latency(rows)
        print(
            f"(machine: {os.cpu_count()} CPUs; 1-min load average {load_before:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after the latency runs; other processes inflate these)"
        )
        if not args.skip_startup:
            print()
            print_startup(startup(tmp, args.startup_rounds))
        if not args.skip_memory:
            print()
            print("Resident memory after opening and drawing (MB; separate processes)")
            print(f"| {'case':38} | tokens (text/shown) | VmRSS | peak VmHWM | budget | ratio |")
            print(f"|{'-' * 40}|{'-' * 21}|{'-' * 7}|{'-' * 12}|{'-' * 8}|{'-' * 7}|")
            for m in memory(tmp):
                toks = f"{m['text_tokens']}/{m['T']}"
                print(
                    f"| {m['case']:38} | {toks:>19} | {m['rss']:5.0f} | {m['hwm']:10.0f} | "
                    f"{m['budget']:6.0f} | {m['rss'] / m['budget']:5.2f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
