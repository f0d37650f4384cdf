"""The colour bar: the colour map as a strip, beside the view, with the levels on its axis."""

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtGui

from explorer.ui.colorbar import ColorBar
from explorer.ui.heatmap import HeatmapView, colormap


def _rgb(image: QtGui.QImage, x: int, y: int) -> np.ndarray:
    c = image.pixelColor(x, y)
    return np.array([c.red(), c.green(), c.blue()], dtype=float)


def _strip_in(view: HeatmapView) -> tuple[QtGui.QImage, QtCore.QRect]:
    """The view grabbed, and the colour strip's rectangle in it (device pixels)."""
    strip = view.colorbar.strip
    rect = view.mapFromScene(strip.mapRectToScene(strip.boundingRect())).boundingRect()
    ratio = view.devicePixelRatioF()
    image = view.grab().toImage()
    scaled = QtCore.QRect(
        round(rect.left() * ratio), round(rect.top() * ratio),
        round(rect.width() * ratio), round(rect.height() * ratio),
    )  # fmt: skip
    return image, scaled


@pytest.mark.parametrize("name", ["viridis", "CET-D1A"])
def test_strip_shows_the_colour_map_low_at_the_bottom(qtbot, name):
    view = HeatmapView(title="A", cmap=name)
    qtbot.addWidget(view)
    view.resize(360, 300)
    view.set_matrix(np.random.default_rng(1).random((5, 5)), list("abcde"))
    view.show()
    qtbot.waitExposed(view)
    image, rect = _strip_in(view)
    assert rect.height() > 100 and rect.width() >= 8
    lut = colormap(name).getLookupTable(nPts=256, alpha=False).astype(float)
    x = rect.center().x()
    inset = 4  # off the frame
    top, bottom = _rgb(image, x, rect.top() + inset), _rgb(image, x, rect.bottom() - inset)
    mid = _rgb(image, x, rect.center().y())
    assert np.abs(top - lut[-1]).max() < 24  # highest value at the top
    assert np.abs(bottom - lut[0]).max() < 24
    assert np.abs(mid - lut[128]).max() < 24
    # the strip spans the matrix: same top and bottom as the view box, to a pixel or two
    box = view.plot.getViewBox()
    box_rect = view.mapFromScene(box.mapRectToScene(box.boundingRect())).boundingRect()
    ratio = view.devicePixelRatioF()
    assert abs(box_rect.top() * ratio - rect.top()) <= 2
    assert abs(box_rect.bottom() * ratio - rect.bottom()) <= 2


def test_levels_and_map_reach_the_axis_and_every_image(qtbot):
    images = [pg.ImageItem(np.random.default_rng(k).normal(size=(3, 4))) for k in range(2)]
    bar = ColorBar(values=(-2.0, 3.0), colorMap="viridis", width=10)
    bar.setImageItem(images)
    for image in images:
        assert image.getLevels() == pytest.approx((-2.0, 3.0))
    assert tuple(bar.axis.range) == pytest.approx((-2.0, 3.0))

    bar.setLevels((0.5, 4.0))
    assert bar.levels() == (0.5, 4.0)
    assert tuple(bar.axis.range) == pytest.approx((0.5, 4.0))
    for image in images:
        assert image.getLevels() == pytest.approx((0.5, 4.0))

    cmap = colormap("CET-D1A")
    bar.setColorMap(cmap)
    assert bar.colorMap() is cmap
    for image in images:
        assert image.getColorMap() is cmap

    bar.setLevels((5.0, 1.0))  # reversed: collapsed to their middle, never inverted
    assert bar.levels() == (3.0, 3.0)


def test_heatmap_levels_and_colour_map_follow_to_the_bar(qtbot):
    view = HeatmapView(title="S", levels=(-1.0, 1.0), cmap="CET-D1A")
    qtbot.addWidget(view)
    view.set_levels((-4.0, 4.0))
    assert view.colorbar.levels() == (-4.0, 4.0)
    assert view.image.getLevels() == pytest.approx((-4.0, 4.0))
    view.set_colormap("viridis")
    assert view.colorbar.colorMap() is colormap("viridis")
    view.set_colorbar_ticks((-4.0, 0.0, 4.0))
    assert [t for t, _ in view.colorbar.axis._tickLevels[0]] == [-4.0, 0.0, 4.0]
