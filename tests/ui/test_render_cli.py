"""``attention-explorer render``: every view, every format, and one clear line for bad input.

Most cases call :func:`render_main` in the test process (the QApplication already exists);
two subprocesses check the real command line with no display at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6 import QtGui

from explorer.core import projections
from explorer.core.pipeline import compute
from explorer.core.session import Session
from explorer.io.session_file import save_session
from explorer.ui.app import create_app
from explorer.ui.export.render import VIEWS, figure_size, render_main, render_session
from explorer.ui.heatmap import colormap

SVG_TEXT = "{http://www.w3.org/2000/svg}text"
PREFIX = "attention-explorer render: "


@pytest.fixture(scope="module")
def session():
    s = projections.conform(
        Session(text="The bank of the river.", preset="orthogonal", preset_seed=2), n_head=3
    )
    return s.evolve(heads=projections.session_preset_heads(s), selected_head=2)


@pytest.fixture
def session_file(session, tmp_path):
    return str(save_session(session, tmp_path / "s.attn.json"))


@pytest.fixture(autouse=True)
def _app():
    create_app()


def _texts(path) -> set[str]:
    return {"".join(e.itertext()).strip() for e in ET.parse(path).getroot().iter(SVG_TEXT)}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(PREFIX)
    return lines[0][len(PREFIX) :]


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_renders_to_every_format(view, session, session_file, tmp_path, capsys):
    labels = set(compute(session).display_labels)
    png, svg, pdf = (tmp_path / f"{view}.{s}" for s in ("png", "svg", "pdf"))
    assert render_main([session_file, "-o", str(png), "--view", view, "--width", "777"]) == 0
    assert QtGui.QImage(str(png)).width() == 777
    assert render_main([session_file, "-o", str(svg), "--view", view]) == 0
    texts = _texts(svg)
    if view == "grid":
        assert {"head 0", "head 1", "head 2"} <= texts
    else:
        assert labels <= texts
    assert render_main([session_file, "-o", str(pdf), "--view", view]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.count("wrote ") == 3


def test_default_width_is_twice_the_figure(session, session_file, tmp_path):
    png = tmp_path / "h.png"
    assert render_main([session_file, "-o", str(png)]) == 0
    w, h = figure_size("heatmap", compute(session).T, session.n_head)
    img = QtGui.QImage(str(png))
    assert (img.width(), img.height()) == (2 * w, 2 * h)


def test_grid_has_a_colour_bar_from_0_to_1(session, session_file, tmp_path):
    """A reader of the head grid must be able to tell what its colours mean."""
    svg = tmp_path / "g.svg"
    assert render_main([session_file, "-o", str(svg), "--view", "grid"]) == 0
    assert {"0", "0.5", "1", "attention weight"} <= _texts(svg)
    png = tmp_path / "g.png"
    assert render_main([session_file, "-o", str(png), "--view", "grid", "--width", "900"]) == 0
    img = QtGui.QImage(str(png)).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    gw, gh = figure_size("grid", compute(session).T, session.n_head)
    assert img.width() == 900 and img.width() / img.height() > gw / gh + 0.1  # wider
    a = (
        np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes())
        .reshape(img.height(), img.width(), 4)[..., 2::-1]
        .astype(int)
    )  # (H, W, RGB)
    grid_right = round(gw * img.height() / gh)  # the grid keeps its aspect; the bar is beyond
    strip = a[:, grid_right:]
    colourful = (strip.max(axis=-1) - strip.min(axis=-1)) > 40  # (H, W) not grey or white
    col = int(np.argmax(colourful.sum(axis=0)))
    rows = np.flatnonzero(colourful[:, col])
    assert rows.size > img.height() // 2  # a long vertical strip of colour
    top, bottom = rows[0], rows[-1]
    cmap = colormap(session.view.colormap)
    for v in (0.1, 0.3, 0.5, 0.7, 0.9):
        y = round(bottom - v * (bottom - top))
        want = cmap.map(v, mode="byte")[:3]
        assert np.abs(strip[y, col] - want).max() <= 12, v


def test_head_option_selects_the_head(session, session_file, tmp_path):
    result = compute(session)
    assert not np.allclose(result.weights[0], result.weights[2])
    for h in (0, 2):
        assert render_main([session_file, "-o", str(tmp_path / f"{h}.svg"), "--head", str(h)]) == 0
    assert any(t.startswith("head 0: attention") for t in _texts(tmp_path / "0.svg"))
    # without --head the session's own selected head (2) is drawn
    assert render_main([session_file, "-o", str(tmp_path / "d.svg")]) == 0
    assert any(t.startswith("head 2: attention") for t in _texts(tmp_path / "d.svg"))
    a, b = (render_session(session, tmp_path / f"p{h}.png", head=h, width=300) for h in (0, 2))
    assert QtGui.QImage(str(a)) != QtGui.QImage(str(b))


def _bad_files(tmp_path, session):
    not_json = tmp_path / "bad.attn.json"
    not_json.write_text("{ not json")
    wrong = tmp_path / "wrong.attn.json"
    wrong.write_text('{"format": "something-else", "version": 1}')
    empty = save_session(session.evolve(text=""), tmp_path / "empty.attn.json")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    return not_json, wrong, empty, blocker


def test_bad_inputs_give_one_line_and_no_file(session, session_file, tmp_path, capsys):
    not_json, wrong, empty, blocker = _bad_files(tmp_path, session)
    out = str(tmp_path / "out.png")
    cases = [
        ([str(tmp_path / "missing.attn.json"), "-o", out], "No such file"),
        ([str(not_json), "-o", out], "not valid JSON"),
        ([str(wrong), "-o", out], "format"),
        ([str(empty), "-o", out], "no tokens"),
        ([session_file, "-o", out, "--head", "3"], "head 3 does not exist"),
        ([session_file, "-o", out, "--head", "-1"], "head -1 does not exist"),
        ([session_file, "-o", out, "--head", "one"], "--head"),
        ([session_file, "-o", out, "--view", "matrix"], "--view"),
        ([session_file, "-o", out, "--width", "0"], "--width"),
        ([session_file, "-o", out, "--width", "99999999"], "width"),
        ([session_file, "-o", str(tmp_path / "out.jpg")], "must end in .png, .svg or .pdf"),
        ([session_file, "-o", str(tmp_path / "nowhere" / "o.png")], "does not exist"),
        ([session_file, "-o", str(blocker / "o.png")], "is not a folder"),
        ([session_file], "-o"),
        ([], "required"),
    ]
    for argv, reason in cases:
        assert render_main(argv) == 2, argv
        assert reason in _one_error_line(capsys), argv
    assert not (tmp_path / "out.png").exists()
    assert not (tmp_path / "out.jpg").exists()


def test_directory_as_output_is_refused(session_file, tmp_path, capsys):
    (tmp_path / "dir.png").mkdir()
    assert render_main([session_file, "-o", str(tmp_path / "dir.png")]) == 2
    assert "it is a folder" in _one_error_line(capsys)


def _run(argv, env_drop=("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    return subprocess.run(
        [sys.executable, "-m", "explorer.ui.export.render", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_command_line_without_a_display(session_file, tmp_path):
    out = tmp_path / "fig.png"
    proc = _run([session_file, "-o", str(out), "--view", "pipeline", "--width", "1234"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert QtGui.QImage(str(out)).width() == 1234


def test_command_line_failure_is_one_line(session_file, tmp_path):
    proc = _run([session_file, "-o", str(tmp_path / "fig.svg"), "--head", "7"])
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"{PREFIX}head 7 does not exist: the heads are 0..2"]
    assert not (tmp_path / "fig.svg").exists()
