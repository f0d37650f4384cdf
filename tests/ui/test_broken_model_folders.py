"""Broken model folders in the Hugging Face cache: listed as such, and harmless to the rest.

A snapshot whose config.json has ``"layer_norm_eps": null`` once made every model session
fail with a traceback. Now the Model tab lists such folders disabled, with the problem as the
tooltip, and the good models keep working, in the window and in ``attention-explorer render``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6 import QtCore, QtGui

from explorer.core import embeddings, positional, projections
from explorer.core.model_bridge import ModelBridge, copy_head_session
from explorer.core.session import Session
from explorer.io.session_file import save_session
from explorer.ui.app import create_app
from explorer.ui.model.view import ModelView

sys.path.insert(0, str(Path(__file__).parent.parent / "core"))
from naive_bert import TINY_CONFIG, write_tiny_model

TEXT = "the cat sat on the mat ."


def _snapshot(hub: Path, repo: str) -> Path:
    root = hub / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / "rev1"
    write_tiny_model(snap)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text("rev1")
    return snap


@pytest.fixture
def hub(tmp_path) -> Path:
    """A cache with one good tiny model and three broken ones."""
    hub = tmp_path / "hub"
    _snapshot(hub, "org/good")
    null_eps = _snapshot(hub, "bad/null-eps") / "config.json"
    null_eps.write_text(json.dumps({**TINY_CONFIG, "layer_norm_eps": None}))
    deep = _snapshot(hub, "bad/deep") / "config.json"
    deep.write_text("[" * 50_000 + "]" * 50_000)
    with open(_snapshot(hub, "bad/huge") / "config.json", "r+b") as f:
        f.truncate(8 << 30)  # sparse
    return hub


@pytest.fixture
def _providers():
    yield
    embeddings.register_model_embeddings(None)
    positional.register_learned_positions(None)
    projections.register_model_heads(None)


def test_combo_lists_broken_folders_disabled_with_their_problem(qtbot, hub):
    create_app()
    view = ModelView(bridge=ModelBridge(hf_cache=hub, packages=()))
    qtbot.addWidget(view)
    view.populate_models()
    combo = view.modelCombo
    items = [
        (
            combo.itemText(i),
            combo.model().item(i).isEnabled(),
            combo.itemData(i, QtCore.Qt.ItemDataRole.ToolTipRole),
        )
        for i in range(combo.count())
    ]
    assert items[0] == ("org/good  (hf-cache)", True, str(hub / "models--org--good/snapshots/rev1"))
    broken = {text.split()[0]: (enabled, tip) for text, enabled, tip in items[1:]}
    assert set(broken) == {"bad/null-eps", "bad/deep", "bad/huge"}
    assert all(text.endswith("(hf-cache, cannot be loaded)") for text, _, _ in items[1:])
    assert not any(enabled for enabled, _ in broken.values())
    assert "'layer_norm_eps' must be a number, got None" in broken["bad/null-eps"][1]
    assert "nested too deeply" in broken["bad/deep"][1]
    assert "it was not read" in broken["bad/huge"][1]
    # the good model is shown
    view.show()
    view.set_text(TEXT)
    qtbot.waitUntil(lambda: view.analysis is not None and not view.worker.busy, timeout=60_000)
    assert view.encoder.name == "org/good" and combo.currentIndex() == 0
    assert view.gridStack.currentWidget() is view.modelGrid
    assert not hasattr(view, "last_error")
    view.shutdown()


def test_only_broken_folders(qtbot, tmp_path):
    create_app()
    hub = tmp_path / "hub"
    snap = _snapshot(hub, "bad/only")
    (snap / "config.json").write_text(json.dumps({**TINY_CONFIG, "layer_norm_eps": "small"}))
    view = ModelView(bridge=ModelBridge(hf_cache=hub, packages=()))
    qtbot.addWidget(view)
    view.populate_models()
    combo = view.modelCombo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "(no model found)",
        "bad/only  (hf-cache, cannot be loaded)",
    ]
    assert not combo.model().item(1).isEnabled()
    view.shutdown()


def test_render_a_model_session_beside_broken_cache_entries(hub, tmp_path, _providers):
    """The reported failure: ``render`` of a model session with a broken snapshot cached."""
    bridge = ModelBridge(hf_cache=hub, packages=())
    enc = bridge.load(hub / "models--org--good/snapshots/rev1", "org/good")
    session = copy_head_session(Session(text=TEXT), enc, 1, 2)
    path = save_session(session, tmp_path / "model.attn.json")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HF_HUB_CACHE=str(hub), QT_QPA_PLATFORM="offscreen")
    out = tmp_path / "fig.png"
    proc = subprocess.run(
        [sys.executable, "-m", "explorer.ui.export.render", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert not QtGui.QImage(str(out)).isNull()
