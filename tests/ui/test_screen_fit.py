"""The window on small and scaled screens: inside the screen, heatmaps scaled, not clipped.

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

views = {"attentionHeatmap": w.attentionHeatmap, "headGrid": w.headGrid}
views.update({f"pipeline_{k}": v for k, v in w.pipelineView.panels.items()})
out = {"available": rect(w.screen().availableGeometry()), "frame": rect(w.frameGeometry()),
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
    r = run_window(tmp_path, width, height, scale, mode)
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
