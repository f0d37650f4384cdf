"""A seeded random walk over the controls: no exception, no NaN, the heatmap always matches."""

import numpy as np
from PySide6 import QtWidgets

from explorer.core.pipeline import compute


def test_random_walk_over_controls(make_window, qtbot):
    w = make_window()
    rng = np.random.default_rng(20261128)
    texts = [
        "",
        "The dog chased the cat.",
        "I sat by the river bank. I deposited money.",
        "a " * 40,
    ]
    combos = [
        "embeddingSource",
        "positionalCombo",
        "positionalMode",
        "presetCombo",
        "colormapCombo",
    ]
    spins = {"dModelSpin": (2, 24), "headCount": (1, 6), "dHeadSpin": (1, 12), "presetSeed": (0, 9)}
    checks = ["causalCheck", "sentenceCheck", "showValuesCheck", "showSpecialCheck"]
    for _ in range(120):
        kind = rng.integers(6)
        if kind == 0:
            box = w.findChild(QtWidgets.QComboBox, str(rng.choice(combos)))
            box.setCurrentIndex(int(rng.integers(box.count())))
        elif kind == 1:
            name = str(rng.choice(list(spins)))
            lo, hi = spins[name]
            w.findChild(QtWidgets.QSpinBox, name).setValue(int(rng.integers(lo, hi + 1)))
        elif kind == 2:
            w.findChild(QtWidgets.QCheckBox, str(rng.choice(checks))).toggle()
        elif kind == 3:
            sliders = [
                s
                for s in w.findChildren(QtWidgets.QSlider)
                if s.objectName().startswith("weightSlider_") and s.isVisibleTo(w)
            ]
            if sliders:
                sliders[int(rng.integers(len(sliders)))].setValue(int(rng.integers(-300, 301)))
        elif kind == 4:
            w.findChild(QtWidgets.QSlider, "temperatureSlider").setValue(int(rng.integers(0, 1001)))
        else:
            w.textBar.sentenceEdit.setPlainText(str(rng.choice(texts)))
            w.textBar.flush()
        # dialogs from refused settings (e.g. the 'model' preset without a model) are closed
        for box in w.findChildren(QtWidgets.QMessageBox):
            box.close()
        qtbot.waitUntil(lambda: w._result_session == w.doc.session, timeout=30_000)
        s, r = w.doc.session, w.result
        if len(r.tokens):
            img = np.asarray(w.attentionHeatmap.image_data())
            assert np.isfinite(img).all()
            np.testing.assert_array_equal(img, r.weights[s.selected_head].astype(np.float32))
    # everything the walk did can be undone back to the start
    while w.doc.undo_stack.canUndo():
        w.doc.undo_stack.undo()
    assert w.doc.session == type(w.doc.session)()
    assert compute(w.doc.session).weights.shape[0] == 1
