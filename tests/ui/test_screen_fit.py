"""The window on small and scaled screens: inside the screen, heatmaps scaled, not clipped;
a short window folds the pipeline strip away for the heatmap, and shows it again on demand.

Each case runs in a subprocess, because the screen (offscreen platform ``configfile``) and
``QT_SCALE_FACTOR`` are fixed when Qt starts.
"""

import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json, sys, time
from PySide6 import QtCore
from explorer.ui.app import create_app

app = create_app()
from explorer.ui.heatmap import HeatmapView
from explorer.ui.main_window import MainWindow

ini, autosave, mode = sys.argv[1:4]
settings = QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat)
if mode == "stored":  # a geometry saved on a bigger screen, reaching past this one
    big = MainWindow(None, settings=settings, autosave_dir=autosave)
    big.setGeometry(300, 200, 2400, 1500)
    settings.setValue("window/geometry", big.saveGeometry())
    settings.sync()
    big.doc.undo_stack.setClean()
    big.close()
w = MainWindow(None, settings=settings, autosave_dir=autosave)
w.show()
t0 = time.perf_counter()
while (w.result is None or not w.worker.ready) and time.perf_counter() - t0 < 60:
    app.processEvents()
    time.sleep(0.01)
for _ in range(20):
    app.processEvents()
    time.sleep(0.01)

def rect(r):
    return [r.x(), r.y(), r.width(), r.height()]

def measure():
    views = {"attentionHeatmap": w.attentionHeatmap}
    if not w.bottomSplit.isHidden():
        views["headGrid"] = w.headGrid
        views.update({f"pipeline_{k}": v for k, v in w.pipelineView.panels.items()})
    out = {"available": rect(w.screen().availableGeometry()), "frame": rect(w.frameGeometry()),
           "strip_hidden": w.bottomSplit.isHidden(), "status": w.statusBar().currentMessage(),
           "views": {}}
    for name, view in views.items():
        full = QtCore.QRect(view.mapTo(w, QtCore.QPoint(0, 0)), view.size())
        shown = full.intersected(w.rect())
        p = view.parentWidget()
        while p is not None and p is not w:  # what every ancestor leaves of it
            shown = shown.intersected(QtCore.QRect(p.mapTo(w, QtCore.QPoint(0, 0)), p.size()))
            p = p.parentWidget()
        items = [view.image] if isinstance(view, HeatmapView) else list(view._images)
        boxes = [rect(view.mapFromScene(i.mapRectToScene(i.boundingRect())).boundingRect())
                 for i in items]
        out["views"][name] = {"full": rect(full), "shown": rect(shown), "images": boxes,
                              "viewport": rect(view.viewport().rect()),
                              "layout_width": view.ci.geometry().width()}
    return out

def settle():
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)

out = {"first": measure()}
if w.bottomSplit.isHidden():  # folded for a short window: View › Pipeline Strip shows it
    w.stripAction.trigger()
    settle()
    out["strip shown"] = measure()
w.doc.undo_stack.setClean()
w.close()
print("REPORT " + json.dumps(out))
"""


def run_window(tmp_path, width, height, scale, mode):
    config = tmp_path / "screen.json"
    screen = {"name": "small", "x": 0, "y": 0, "width": width, "height": height,
              "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}  # fmt: skip
    config.write_text(json.dumps({"screens": [screen]}))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}")
    env["QT_SCALE_FACTOR"] = scale
    args = [str(tmp_path / "settings.ini"), str(tmp_path / "autosave"), mode]
    done = subprocess.run(
        [sys.executable, str(script), *args], env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    lines = [x for x in done.stdout.splitlines() if x.startswith("REPORT ")]
    assert lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("REPORT ") :])


def inside(outer, inner, slack=0):
    ox, oy, ow, oh = outer
    x, y, w, h = inner
    fits_x = ox - slack <= x and x + w <= ox + ow + slack
    return fits_x and oy - slack <= y and y + h <= oy + oh + slack


@pytest.mark.parametrize(
    ("width", "height", "scale", "mode"),
    [
        (1024, 768, "1", "stored"),
        (1280, 800, "1.5", "default"),  # 853×533 in Qt's units
        (1280, 800, "1.5", "stored"),
    ],
)
def test_window_fits_the_screen_and_heatmaps_scale_down(tmp_path, width, height, scale, mode):
    report = run_window(tmp_path, width, height, scale, mode)
    short = height / float(scale) < 600  # 853×533: the strip is folded away at first
    assert report["first"]["strip_hidden"] == short
    if short:
        assert "Pipeline strip hidden" in report["first"]["status"]
        assert not report["strip shown"]["strip_hidden"]
        # the heatmap gets the strip's room: its matrix is drawn at least 150 px a side,
        # and much larger than with the strip shown
        (box,) = report["first"]["views"]["attentionHeatmap"]["images"]
        (cramped,) = report["strip shown"]["views"]["attentionHeatmap"]["images"]
        assert min(box[2:]) >= 150 and min(box[2:]) >= 1.5 * min(cramped[2:]), (box, cramped)
    for r in report.values():
        avail = r["available"]
        assert inside(avail, r["frame"]), (avail, r["frame"])
        for name, v in r["views"].items():
            assert v["shown"] == v["full"], f"{name} is clipped: {v}"
            w, h = v["full"][2:]
            assert w >= 100 and h >= 100, f"{name} collapsed: {v}"
            assert v["layout_width"] <= w + 2, f"{name} is laid out wider than it is: {v}"
            for box in v["images"]:
                assert box[2] > 10 and box[3] > 10, f"{name} matrix too small: {v}"
                assert inside(v["viewport"], box, slack=1), f"{name} matrix clipped: {v}"
