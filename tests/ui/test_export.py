"""Figure and matrix export: sizes, vector text, colours, atomic writes and clear errors."""

from __future__ import annotations

import base64
import csv
import errno
import os
import re
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core import projections
from explorer.core.pipeline import compute
from explorer.core.session import Session
from explorer.ui.app import create_app
from explorer.ui.export.figures import (
    ExportError,
    copy_image_to_clipboard,
    embeds_as_image,
    export_matrix,
    export_widget,
    render_image,
    result_matrices,
)
from explorer.ui.export.render import build_view
from explorer.ui.heatmap import colormap
from explorer.ui.theme import apply_theme

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
# a quote and a comma become tokens of their own: both must survive CSV and SVG
TEXT = 'The "dog" chased the cat, then the cat slept.'


@pytest.fixture(scope="module")
def session():
    s = projections.conform(
        Session(text=TEXT, preset="orthogonal", preset_seed=7, causal=True), n_head=2
    )
    return s.evolve(heads=projections.session_preset_heads(s))


@pytest.fixture(scope="module")
def result(session):
    return compute(session)


@pytest.fixture
def view(qtbot, session, result):
    """A laid-out heatmap of head 1, drawn as the window draws it."""
    create_app()
    w = build_view("heatmap", session, result, head=1)
    qtbot.addWidget(w)
    return w


def _svg_texts(path) -> list[str]:
    root = ET.parse(path).getroot()
    return [("".join(e.itertext())).strip() for e in root.iter(f"{SVG}text")]


# ------------------------------------------------------------------- PNG
def test_png_has_requested_width_and_dpi(view, tmp_path):
    out = export_widget(view, tmp_path / "a.png", width=901, dpi=300)
    img = QtGui.QImage(str(out))
    assert img.width() == 901
    assert img.height() == round(view.height() * 901 / view.width())
    assert img.dotsPerMeterX() == pytest.approx(300 / 0.0254, abs=1)
    assert img.dotsPerMeterY() == pytest.approx(300 / 0.0254, abs=1)


def test_png_default_is_twice_the_screen_size_and_dpi_alone_keeps_physical_size(view, tmp_path):
    img = QtGui.QImage(str(export_widget(view, tmp_path / "b.PNG")))
    assert (img.width(), img.height()) == (2 * view.width(), 2 * view.height())
    img = QtGui.QImage(str(export_widget(view, tmp_path / "c.png", dpi=144)))
    assert img.width() == round(view.width() * 144 / view.logicalDpiX())
    assert img.dotsPerMeterX() == pytest.approx(144 / 0.0254, abs=1)


def test_png_cells_have_the_colours_of_the_data(view, result, tmp_path):
    """Sample each cell away from its centre (where the value is written)."""
    weights = result.weights[1]  # (T, T)
    img = QtGui.QImage(str(export_widget(view, tmp_path / "cells.png", width=3 * view.width())))
    scale = img.width() / view.width()
    vb = view.plot.getViewBox()
    cmap = colormap("viridis")
    T = weights.shape[0]
    checked = 0
    for i in range(T):
        for j in range(T):
            scene = vb.mapViewToScene(QtCore.QPointF(j + 0.15, i + 0.15))
            p = view.mapFromScene(scene)
            got = img.pixelColor(int(p.x() * scale), int(p.y() * scale))
            want = [int(c) for c in cmap.map(float(weights[i, j]), mode="byte")[:3]]
            assert abs(got.red() - want[0]) <= 8, (i, j)
            assert abs(got.green() - want[1]) <= 8, (i, j)
            assert abs(got.blue() - want[2]) <= 8, (i, j)
            checked += 1
    assert checked == T * T and weights.max() > 0.5  # not a flat picture


def test_png_is_redrawn_at_full_resolution_not_upscaled(view):
    small = render_image(view, width=view.width())
    big = render_image(view, width=2 * view.width())
    upscaled = small.scaled(big.size(), mode=QtCore.Qt.TransformationMode.FastTransformation)
    a = np.frombuffer(big.constBits(), np.uint8, big.sizeInBytes())
    b = np.frombuffer(upscaled.constBits(), np.uint8, upscaled.sizeInBytes())
    # text and lines are drawn anew: a noticeable share of pixels differs from a blow-up
    assert np.mean(a != b) > 0.01


# ------------------------------------------------------------------- SVG
def test_svg_is_xml_with_token_labels_and_colour_bar_as_text(view, result, tmp_path):
    out = export_widget(view, tmp_path / "fig.svg")
    texts = _svg_texts(out)
    assert {'"', ","} <= set(result.labels)  # the fixture really has awkward tokens
    labels = set(result.display_labels)  # as on screen: the₁, the₂, "₁ ...
    assert labels <= set(texts)
    assert {"0", "0.5", "1.0"} & set(texts)  # colour bar ticks
    assert any(t.startswith("head 1: attention weights") for t in texts)
    data = out.read_bytes()
    assert b"image-rendering:pixelated" in data
    assert len(data) < 400_000 and not re.search(rb"<g\b[^>]*>\s*</g>", data)  # no empty groups
    assert b'font-family="Sans Serif"' not in data  # named after a real font, with fallback


def test_svg_of_composite_views_has_every_panel(qtbot, session, result, tmp_path):
    for name, expected in (
        ("pipeline", {"S = Q Kᵀ", "A = softmax(row)", "Y = A V", "y0"}),
        ("similarity", {"static: cos(vᵢ, vⱼ), before attention", "contextual: cos(yᵢ, yⱼ), after"}),
        ("grid", {"head 0", "head 1"}),
    ):
        w = build_view(name, session, result)
        qtbot.addWidget(w)
        texts = set(_svg_texts(export_widget(w, tmp_path / f"{name}.svg")))
        assert expected <= texts, name
        if name != "grid":
            assert set(result.display_labels) <= texts, name


# ------------------------------------------------------------------- PDF
def _pdf_streams(data: bytes) -> list[bytes]:
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            out.append(m.group(1))
    return out


def test_pdf_is_one_vector_page_with_text(view, tmp_path):
    data = export_widget(view, tmp_path / "fig.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    assert len(data) > 5000
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) == 1
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    dpi = view.logicalDpiX()
    assert float(box.group(1)) == pytest.approx(view.width() * 72 / dpi, abs=0.5)
    assert float(box.group(2)) == pytest.approx(view.height() * 72 / dpi, abs=0.5)
    assert b"/FontFile" in data  # an embedded font: text is text, not paths or pixels
    content = b"".join(_pdf_streams(data))
    assert b"BT" in content and (b"Tj" in content or b"TJ" in content)


# ---------------------------------------------------------------- window
def _svg_images(path) -> list[QtGui.QImage]:
    """The bitmaps embedded in an SVG file, decoded."""
    out = []
    for e in ET.parse(path).getroot().iter(f"{SVG}image"):
        href = e.get(f"{XLINK}href") or e.get("href")
        img = QtGui.QImage()
        assert img.loadFromData(base64.b64decode(href.split(",", 1)[1]))
        out.append(img)
    return out


def _differing_share(a: QtGui.QImage, b: QtGui.QImage) -> float:
    fmt = QtGui.QImage.Format.Format_RGB32
    a, b = a.convertToFormat(fmt), b.convertToFormat(fmt)
    assert a.size() == b.size()
    x = np.frombuffer(a.constBits(), np.uint8, a.sizeInBytes())
    y = np.frombuffer(b.constBits(), np.uint8, b.sizeInBytes())
    return float(np.mean(x != y))


def test_whole_window_is_the_png_picture_in_svg_and_pdf(make_window, tmp_path):
    """Form widgets do not survive Qt's SVG/PDF engines: the window goes in as one image."""
    w = make_window(Session(text="The dog chased the cat off the table."))
    QtCore.QCoreApplication.processEvents()
    assert embeds_as_image(w)
    assert not any(embeds_as_image(v) for v in (w.attentionHeatmap, w.headGrid, w.pipelineView))
    png = QtGui.QImage(str(export_widget(w, tmp_path / "win.png", width=1000)))
    assert png.width() == 1000 and png.height() == round(w.height() * 1000 / w.width())
    dpi = w.logicalDpiX()

    svg = export_widget(w, tmp_path / "win.svg")
    root = ET.parse(svg).getroot()
    assert root.get("viewBox") == f"0 0 {w.width()} {w.height()}"
    assert float(root.get("width").removesuffix("mm")) == pytest.approx(
        w.width() * 25.4 / dpi, abs=0.01
    )
    (picture,) = _svg_images(svg)  # exactly one image: the window, not its parts
    assert (picture.width(), picture.height()) == (2 * w.width(), 2 * w.height())
    assert not list(root.iter(f"{SVG}text"))
    # the same picture as the PNG at that size (a blinking text cursor may differ)
    same = QtGui.QImage(str(export_widget(w, tmp_path / "same.png", width=2 * w.width())))
    assert _differing_share(picture, same) < 0.002
    (wide,) = _svg_images(export_widget(w, tmp_path / "wide.svg", width=1600))
    assert wide.width() == 1600

    data = export_widget(w, tmp_path / "win.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) == 1
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert float(box.group(1)) == pytest.approx(w.width() * 72 / dpi, abs=0.5)
    assert float(box.group(2)) == pytest.approx(w.height() * 72 / dpi, abs=0.5)
    images = re.findall(rb"/Subtype\s*/Image\b", data)
    sizes = re.findall(rb"/Width\s+(\d+)\s*/Height\s+(\d+)", data)
    assert len(images) == 1 and sizes == [(b"%d" % (2 * w.width()), b"%d" % (2 * w.height()))]
    assert b"/DCTDecode" not in data  # lossless: text in the picture stays crisp
    heat = QtGui.QImage(str(export_widget(w.attentionHeatmap, tmp_path / "heat.png")))
    assert heat.width() == 2 * w.attentionHeatmap.width()


@pytest.fixture
def dark_palette():
    """A dark application palette, restored afterwards."""
    app = create_app()
    old = QtGui.QPalette(app.palette())
    dark = QtGui.QPalette(old)
    role = QtGui.QPalette.ColorRole
    for r, colour in (
        (role.Window, "#2d2d30"),
        (role.Base, "#1e1e1e"),
        (role.WindowText, "#e6e6e6"),
        (role.Text, "#e6e6e6"),
        (role.Button, "#2d2d30"),
        (role.ButtonText, "#e6e6e6"),
    ):
        dark.setColor(r, QtGui.QColor(colour))
    app.setPalette(dark)
    yield dark
    app.setPalette(old)


def test_export_is_black_on_white_under_a_dark_theme(make_window, dark_palette, tmp_path):
    w = make_window(Session(text="The dog chased the cat off the table."))
    apply_theme(w)  # what the window does when the desktop turns dark
    heat = w.attentionHeatmap
    screen_bg = heat.backgroundBrush().color()
    axis = next(i for i in heat.scene().items() if i.__class__.__name__ == "AxisItem")
    screen_fg = axis.textPen().color()
    assert screen_bg.lightness() < 60 and screen_fg.lightness() > 200  # really dark on screen

    out = w.exports.export_view(heat, "heatmap", tmp_path / "h.png")
    assert out is not None, getattr(w, "last_error", None)
    img = QtGui.QImage(str(out)).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    a = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes()).reshape(
        img.height(), img.width(), 4
    )[..., :3]
    border = np.concatenate([a[:4].reshape(-1, 3), a[:, :4].reshape(-1, 3)])
    assert np.all(border == 255)  # the page is white ...
    title = a[: img.height() // 12]
    assert np.any(title.max(axis=-1) < 60)  # ... and the title is written in black

    # the window keeps its own colours, and still follows the application palette
    assert heat.backgroundBrush().color() == screen_bg
    assert axis.textPen().color() == screen_fg
    assert not heat.testAttribute(QtCore.Qt.WidgetAttribute.WA_SetPalette)
    assert heat.palette().color(QtGui.QPalette.ColorRole.Window) == QtGui.QColor("#2d2d30")
    shown = heat.grab().toImage()
    assert shown.pixelColor(2, 2).lightness() < 60
    # the head grid from the menu: the same black-on-white figure, with its colour bar
    out = w.exports.export_view(w.headGrid, "head-grid", tmp_path / "g.svg")
    assert {"head 0", "0", "1", "attention weight"} <= set(_svg_texts(out))
    assert w.headGrid.backgroundBrush().color() == screen_bg


def test_window_export_dialog_says_svg_and_pdf_embed_an_image(make_window, monkeypatch):
    w = make_window(Session(text="The dog chased the cat."))
    tips = {a.text(): a.statusTip() for a in w.files.exportMenu.actions()}
    assert "embedded as an image" in tips["Whole &Window…"]
    assert "single views stay vector" in tips["Whole &Window…"]
    assert "vector" in tips["Attention &Heatmap…"]
    asked = []

    def cancel(parent, title, start, file_filter):
        asked.append(file_filter)
        return "", ""

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", cancel)
    assert w.exports.export_view(w, "window") is None
    assert w.exports.export_view(w.attentionHeatmap, "heatmap") is None
    window_filter, view_filter = asked
    assert "SVG with the window as an embedded image (*.svg)" in window_filter
    assert "embedded" not in view_filter and "SVG vector image (*.svg)" in view_filter


def test_hidden_view_is_refused_not_garbled(make_window, tmp_path):
    w = make_window(Session(text="The dog chased the cat off the table."))
    w.rightTabs.setCurrentIndex(0)  # the similarity pair sits on the hidden tab
    with pytest.raises(ExportError, match="hidden tab"):
        export_widget(w.similarityView, tmp_path / "sim.png")
    w.rightTabs.setCurrentWidget(w.similarityView)
    QtCore.QCoreApplication.processEvents()
    img = QtGui.QImage(str(export_widget(w.similarityView, tmp_path / "sim.png")))
    assert img.width() == 2 * w.similarityView.width()


def test_clipboard_gets_the_picture(view):
    clipboard = QtGui.QGuiApplication.clipboard()
    clipboard.clear()
    copy_image_to_clipboard(view)
    img = clipboard.image()
    assert not img.isNull()
    assert img.width() == 2 * view.width()


def test_menu_export_brings_a_background_tab_forward(make_window, tmp_path):
    """Heatmap (Model tab showing) and Similarity (Projections showing) behave alike."""
    w = make_window(Session(text="The dog chased the cat off the table."))
    w.workspaceTabs.setCurrentIndex(1)  # the Model tab hides the whole workbench
    w.rightTabs.setCurrentIndex(0)
    out = w.exports.export_view(w.attentionHeatmap, "heatmap", tmp_path / "h.png")
    assert out is not None, getattr(w, "last_error", None)
    assert w.workspaceTabs.currentIndex() == 0 and w.attentionHeatmap.isVisible()
    assert QtGui.QImage(str(out)).width() == 2 * w.attentionHeatmap.width()
    w.workspaceTabs.setCurrentIndex(1)
    out = w.exports.export_view(w.similarityView, "similarity", tmp_path / "s.png")
    assert out is not None, getattr(w, "last_error", None)
    assert w.workspaceTabs.currentIndex() == 0
    assert w.rightTabs.currentWidget() is w.similarityView
    assert QtGui.QImage(str(out)).width() == 2 * w.similarityView.width()
    w.workspaceTabs.setCurrentIndex(1)
    clipboard = QtGui.QGuiApplication.clipboard()
    clipboard.clear()
    w.exports.copy_heatmap()
    assert w.workspaceTabs.currentIndex() == 0
    assert clipboard.image().width() == 2 * w.attentionHeatmap.width()


def test_empty_text_says_there_is_nothing_to_export(make_window, tmp_path):
    w = make_window(Session(text=""))
    assert len(w.result.tokens) == 0
    for view in (w.attentionHeatmap, w.headGrid, w.pipelineView, w.similarityView):
        w.last_error = None
        assert w.exports.export_view(view, "x", tmp_path / "x.png") is None
        assert w.last_error[0] == "Nothing to export"
        assert "text is empty" in w.last_error[1] and "hidden tab" not in w.last_error[1]
    assert not (tmp_path / "x.png").exists()
    w.last_error = None
    clipboard = QtGui.QGuiApplication.clipboard()
    clipboard.clear()
    w.exports.copy_heatmap()
    assert w.last_error[0] == "Nothing to export" and "text is empty" in w.last_error[1]
    assert clipboard.image().isNull()
    # the whole window is still a picture worth having
    assert w.exports.export_view(w, "window", tmp_path / "w.png") is not None


# ---------------------------------------------------------------- errors
def test_unwritable_path_raises_export_error(view, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(ExportError, match=r"cannot write .*not-a-folder") as info:
        export_widget(view, blocker / "fig.png")
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
    with pytest.raises(ExportError, match="No such file"):
        export_matrix(np.eye(2), tmp_path / "missing" / "m.csv")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ExportError, match="it is a folder"):
        export_widget(view, tmp_path / "dir.png")


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf", ".csv", ".npy"])
def test_failed_write_leaves_old_file_intact(view, tmp_path, monkeypatch, suffix):
    target = tmp_path / f"old{suffix}"
    target.write_bytes(b"the old figure")

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ExportError, match="No space left"):
        if suffix in (".csv", ".npy"):
            export_matrix(np.ones((2, 2)), target)
        else:
            export_widget(view, target)
    assert target.read_bytes() == b"the old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temp file left


def test_existing_file_is_replaced(view, tmp_path):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    export_widget(view, target, width=50)
    assert QtGui.QImage(str(target)).width() == 50
    assert (os.stat(target).st_mode & 0o777) == 0o640  # permissions of the replaced file kept


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 0}, "width"),
        ({"width": -3}, "width"),
        ({"width": 2.5}, "whole number"),
        ({"width": 10**6}, "width"),
        ({"dpi": float("nan")}, "dpi"),
        ({"dpi": 0}, "dpi"),
        ({"width": "wide"}, "number"),
    ],
)
def test_bad_sizes_are_refused(view, tmp_path, kwargs, message):
    with pytest.raises(ExportError, match=message):
        export_widget(view, tmp_path / "x.png", **kwargs)
    assert not (tmp_path / "x.png").exists()


def test_bad_suffixes_are_refused(view, tmp_path):
    for name in ("fig.jpg", "fig", "fig.csv"):
        with pytest.raises(ExportError, match=r"png, \.svg or \.pdf"):
            export_widget(view, tmp_path / name)
    with pytest.raises(ExportError, match=r"csv or \.npy"):
        export_matrix(np.eye(2), tmp_path / "m.png")
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------- matrices
def test_csv_round_trips_values_and_awkward_labels(tmp_path):
    rng = np.random.default_rng(5)
    m = rng.normal(size=(4, 3)) * 10.0 ** rng.integers(-8, 8, size=(4, 3))
    m[1, 2] = -np.inf  # a masked score
    rows = ["a,b", 'say "hi"', "two\nlines", "ünïcode"]
    cols = ["=1+1", "", "x"]
    out = export_matrix(m, tmp_path / "m.csv", row_labels=rows, col_labels=cols)
    with open(out, encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["", *cols]
    assert [r[0] for r in table[1:]] == rows
    back = np.array([[float(v) for v in r[1:]] for r in table[1:]])
    np.testing.assert_array_equal(back, m)  # repr round-trips every float64 bit


def test_csv_of_result_matrices_has_token_headers(result, tmp_path):
    mats = result_matrices(result, 1)
    for name, (a, rows, cols) in mats.items():
        out = export_matrix(a, tmp_path / f"{name}.csv", row_labels=rows, col_labels=cols)
        with open(out, encoding="utf-8", newline="") as f:
            table = list(csv.reader(f))
        assert table[0][1:] == cols and [r[0] for r in table[1:]] == rows, name
        back = np.array([[float(v) for v in r[1:]] for r in table[1:]])
        np.testing.assert_array_equal(back, a)


def test_npy_round_trips_without_pickles(result, tmp_path):
    for name, (a, _, _) in result_matrices(result, 0).items():
        out = export_matrix(a, tmp_path / f"{name.replace(' ', '_')}.npy")
        back = np.load(out, allow_pickle=False)
        assert back.dtype == a.dtype and back.shape == a.shape
        np.testing.assert_array_equal(back, a)
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(np.load(export_matrix(ints, tmp_path / "i.NPY")), ints)


def test_bad_matrices_are_refused(tmp_path):
    with pytest.raises(ExportError, match="2-D"):
        export_matrix(np.zeros((2, 2, 2)), tmp_path / "a.csv")
    with pytest.raises(ExportError, match="real numbers"):
        export_matrix(np.array([["a", "b"]]), tmp_path / "a.csv")
    with pytest.raises(ExportError, match="real numbers"):
        export_matrix(np.eye(2) * 1j, tmp_path / "a.npy")
    with pytest.raises(ExportError, match="3 row labels for 2 rows"):
        export_matrix(np.eye(2), tmp_path / "a.csv", row_labels=["a", "b", "c"])
    assert list(tmp_path.iterdir()) == []


def test_result_matrices_cover_every_stage(result, session):
    T, h = result.T, 1
    mats = result_matrices(result, h)
    assert list(mats) == [
        "weights", "scores", "scaled", "masked", "Q", "K", "V", "y", "x",
        "static similarity", "contextual similarity",
    ]  # fmt: skip
    np.testing.assert_array_equal(mats["weights"][0], result.weights[h])
    np.testing.assert_array_equal(mats["masked"][0], result.masked[h])
    np.testing.assert_array_equal(mats["Q"][0], result.q[h])
    np.testing.assert_array_equal(mats["V"][0], result.v[h])
    np.testing.assert_array_equal(mats["y"][0], result.y[h])
    np.testing.assert_array_equal(mats["x"][0], result.x)
    np.testing.assert_array_equal(mats["contextual similarity"][0], result.contextual_similarity)
    assert mats["Q"][0].shape == (T, session.d_head)
    assert mats["Q"][2] == [f"q{j}" for j in range(session.d_head)]
    assert mats["weights"][1] == mats["weights"][2] == result.display_labels
    assert not np.array_equal(mats["weights"][0], result_matrices(result, 0)["weights"][0])
    for bad in (-1, 2, True, 0.5):
        with pytest.raises(ValueError, match="head"):
            result_matrices(result, bad)
