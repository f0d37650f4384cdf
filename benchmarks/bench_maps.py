"""Benchmark the two maps (``embeddingMap``, ``qkMap``) on a simulated slider drag.

For each case a sequence of Sessions is built, each one weight step (0.01) further along a
W_V (value map) or W_Q (Q·K map) slider, and computed beforehand. The view is shown at
1000 × 700 and given the Results one by one with ``dragging=True``, as the window does while
a slider is held down. Two figures per tick, in CPU time of the GUI thread (``thread_time``,
so other processes on a busy machine do not count):

* **update**: ``show_result`` (map data from :mod:`explorer.core.maps`, ``setData`` on the
  reused items, labels);
* **paint**: one synchronous repaint of the plot's viewport.

Cases: the default session (9 tokens, d = 8), the value map with reference words shown,
and a 1,228-token text (a long Result: its stages are computed where read).

Usage::

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_maps.py [--ticks N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace


def _drag(session, which: str, ticks: int):
    h = session.heads[0]
    start = h.matrix(which)[0, 1]
    return [
        replace(session, heads=(h.with_weight(which, 0, 1, start + 0.01 * k),))
        for k in range(ticks)
    ]


def _case(app, cls, session, which: str, ticks: int, references: bool = False):
    from explorer.core.pipeline import compute

    sessions = _drag(session, which, ticks)
    results = [compute(s) for s in sessions]
    current = {"s": sessions[0]}
    kw = {"session_source": lambda: current["s"]} if which == "v" else {}
    view = cls(**kw)
    view.resize(1000, 700)
    view.show()
    app.processEvents()
    if references:
        view.referenceCheck.setChecked(True)
    view.show_result(results[0], 0, 1)
    app.processEvents()
    update, paint = [], []
    for s, r in zip(sessions, results, strict=True):
        current["s"] = s
        t0 = time.thread_time()
        view.show_result(r, 0, 1, dragging=True)
        t1 = time.thread_time()
        view.plot.viewport().repaint()
        t2 = time.thread_time()
        update.append((t1 - t0) * 1e3)
        paint.append((t2 - t1) * 1e3)
    view.close()
    return results[0].T, update, paint


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=120, help="slider ticks per case")
    args = parser.parse_args(argv)
    if args.ticks < 2:
        parser.error("--ticks must be at least 2")

    from explorer.core.session import Session
    from explorer.ui.app import create_app
    from explorer.ui.views.embedding_map import EmbeddingMapView
    from explorer.ui.views.qk_map import QKMapView

    app = create_app()
    long_text = " ".join(["word"] * 100 + [f"w{i}" for i in range(400)])
    cases = [
        ("embeddingMap, default session", EmbeddingMapView, Session(), "v", False),
        ("embeddingMap + reference words", EmbeddingMapView, Session(), "v", True),
        ("qkMap, default session", QKMapView, Session(), "q", False),
        ("embeddingMap, long text", EmbeddingMapView, Session(text=long_text), "v", False),
        ("qkMap, long text", QKMapView, Session(text=long_text), "q", False),
    ]
    print(f"{'case':34s} {'T':>4s}  update ms (median / p90)  paint ms (median)")
    for name, cls, session, which, refs in cases:
        T, update, paint = _case(app, cls, session, which, args.ticks, refs)
        p90 = statistics.quantiles(update, n=10)[-1]
        print(
            f"{name:34s} {T:4d}  {statistics.median(update):6.2f} / {p90:6.2f}"
            f"            {statistics.median(paint):6.2f}"
        )


if __name__ == "__main__":
    main()
