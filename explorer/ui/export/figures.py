"""Figures and matrices out of the explorer: PNG, SVG, PDF, CSV, NPY and the clipboard.

Every view is exported by painting the real widget with :meth:`QWidget.render` onto the
target paint device, so a figure shows exactly what the window shows:

* PNG: a :class:`QImage` whose device pixel ratio is ``width / widget width``; Qt then
  draws text, lines and the colour bar at full resolution (no upscaled screenshot).
* SVG: :class:`QSvgGenerator`; text stays ``<text>``, lines stay paths.
* PDF: :class:`QPdfWriter`; one page the size of the widget, text kept as text (embedded font).

The single views (heatmap, head grid, pipeline strip, similarity) stay vector in SVG and PDF.
The whole window is embedded there as one image instead (the PNG picture, at the export's
resolution, placed at the window's physical size): Qt's form widgets do not draw correctly
through the SVG and PDF paint engines. The head grid gets a colour bar on its right (see
:func:`explorer.ui.export.render.grid_colour_bar`), so a reader can tell what its colours mean.

In SVG and PDF a heatmap is a small bitmap stretched over the plot; it is drawn enlarged by
pixel repetition (and marked ``image-rendering: pixelated``) so that viewers do not blur the
cells into each other.

Files are written atomically (a temporary file beside the target, then :func:`os.replace`),
so a failed export leaves any old file intact and raises :class:`ExportError` with the reason.
Matrix export (CSV/NPY) lives in :mod:`explorer.ui.export.files` and is re-exported here.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from PySide6 import QtCore, QtGui, QtSvg, QtWidgets

from explorer.ui.export.files import (
    MATRIX_SUFFIXES,
    ExportError,
    atomic_write,
    check_number,
    export_matrix,
    result_matrices,
    svg_with_png,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "MATRIX_SUFFIXES",
    "ExportError",
    "copy_image_to_clipboard",
    "embeds_as_image",
    "export_matrix",
    "export_widget",
    "image_size",
    "render_image",
    "result_matrices",
]

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
DEFAULT_SCALE = 2.0  # PNG default: twice the on-screen size
SHARP_REPEAT = 32  # vector exports: at most this many pixels per heatmap cell side ...
SHARP_MAX_SIDE = 2048  # ... and at most this many pixels per embedded bitmap side
MAX_PIXELS = 16384  # per side; beyond that QImage allocation fails or takes gigabytes


# ------------------------------------------------------------------ images
def export_widget(
    widget: QtWidgets.QWidget,
    path: str | os.PathLike,
    *,
    width: int | None = None,
    dpi: float | None = None,
) -> Path:
    """Export a view as PNG, SVG or PDF, chosen by the suffix of ``path``.

    Parameters
    ----------
    widget : QWidget
        Any view: a ``HeatmapView``, the head grid, the ``PipelineView``, the
        ``SimilarityView``, or the whole main window.
    path : str or path-like
        Target file; ``.png``, ``.svg`` or ``.pdf`` (case-insensitive).
    width : int, optional
        PNG: the image width in pixels. The height follows the widget's aspect ratio.
        For the whole window (see :func:`embeds_as_image`) it also sets the pixel width of
        the image embedded in the SVG or PDF. Ignored for the vector views.
    dpi : float, optional
        Resolution stored in the PNG. Without ``width`` it also sets the size: the figure
        keeps its on-screen physical size at ``dpi`` dots per inch. Without either, the PNG
        (and the window's image in SVG/PDF) is twice the on-screen size.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ExportError
        Unknown suffix, a bad width or dpi, an empty widget, or the file cannot be written
        (the message names the reason; an existing file is left as it was).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ExportError(
            f"cannot export a figure as '{path.suffix or path.name}': use .png, .svg or .pdf"
        )
    _prepare(widget)
    as_image = suffix != ".png" and embeds_as_image(widget)
    if suffix != ".png" and not as_image:
        # SVG and PDF are vector: a pixel width means nothing there, but is harmless
        width = dpi = None
    if suffix == ".png":
        image = render_image(widget, width=width, dpi=dpi)
        data = _png_bytes(image)
    elif as_image:
        # the same picture as the PNG, placed at the window's on-screen physical size
        image = render_image(widget, width=width, dpi=dpi)
        data = (_svg_image_bytes if suffix == ".svg" else _pdf_image_bytes)(
            widget, image, path.stem
        )
    elif suffix == ".svg":
        data = _svg_bytes(widget, title=path.stem)
    else:
        data = _pdf_bytes(widget, title=path.stem)
    atomic_write(path, data)
    return path


def render_image(
    widget: QtWidgets.QWidget, *, width: int | None = None, dpi: float | None = None
) -> QtGui.QImage:
    """Paint ``widget`` into a new QImage ``width`` pixels wide (see :func:`export_widget`).

    Returns
    -------
    QImage
        Format ARGB32 premultiplied, device pixel ratio 1, DPI metadata set.
    """
    _prepare(widget)
    w, h = image_size(widget)
    screen_dpi = float(widget.logicalDpiX()) or 96.0
    if width is not None:
        width = check_number("width", width, 1, MAX_PIXELS, integer=True)
    if dpi is not None:
        dpi = check_number("dpi", dpi, 1, 100_000)
    if width is None:
        width = round(w * (dpi / screen_dpi if dpi is not None else DEFAULT_SCALE))
    scale = width / w
    height = max(1, round(h * scale))
    if not 1 <= width <= MAX_PIXELS or height > MAX_PIXELS:
        raise ExportError(
            f"a {width}×{height} pixel image is too large (at most {MAX_PIXELS} per side)"
        )
    image = QtGui.QImage(width, height, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    if image.isNull():
        raise ExportError(f"not enough memory for a {width}×{height} pixel image")
    image.fill(_background(widget))
    # Painting in logical coordinates onto a scaled image makes Qt draw every glyph and
    # line at the target resolution; only the heatmap bitmaps are scaled (nearest cell).
    image.setDevicePixelRatio(scale)
    painter = QtGui.QPainter(image)
    try:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        _paint(widget, painter)
    finally:
        painter.end()
    image.setDevicePixelRatio(1.0)
    stored_dpi = dpi if dpi is not None else screen_dpi * scale
    dots_per_metre = round(stored_dpi / 0.0254)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    return image


def copy_image_to_clipboard(widget: QtWidgets.QWidget, *, scale: float = DEFAULT_SCALE) -> None:
    """Put a picture of ``widget`` (``scale`` × its on-screen size) on the clipboard."""
    w, _ = image_size(_prepare(widget))
    image = render_image(widget, width=max(1, round(w * scale)))
    QtGui.QGuiApplication.clipboard().setImage(image)


def _prepare(widget: QtWidgets.QWidget) -> QtWidgets.QWidget:
    """Make sure layouts and pending resizes are applied before painting."""
    if not isinstance(widget, QtWidgets.QWidget):
        raise ExportError(f"cannot export {type(widget).__name__}: not a widget")
    if not widget.isVisible():
        # a view in a hidden tab keeps a stale layout (or none): the figure would be garbled
        raise ExportError(
            "the view is not shown (is it on a hidden tab?); show it before exporting"
        )
    widget.ensurePolished()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.LayoutRequest)
    return widget


def _logical_size(widget: QtWidgets.QWidget) -> tuple[int, int]:
    w, h = widget.width(), widget.height()
    if w < 1 or h < 1:
        raise ExportError(f"the view has no area ({w}×{h}); show it before exporting")
    return w, h


# Qt form controls draw wrongly through QSvgGenerator and QPdfWriter (white boxes, lost
# labels and tab titles): a widget holding any of them is embedded as a picture instead.
_FORM_CONTROLS = tuple(
    getattr(QtWidgets, name)
    for name in "QAbstractButton QComboBox QAbstractSpinBox QLineEdit QTabBar QMenuBar "
    "QTextEdit QPlainTextEdit QSlider".split()
)


def embeds_as_image(widget: QtWidgets.QWidget) -> bool:
    """True if SVG and PDF exports of ``widget`` hold one image rather than vector drawing.

    That is the whole window (a :class:`QMainWindow`) and any widget with Qt form controls
    (buttons, combo boxes, spin boxes, tab bars, menus ...). The single views (heatmap, head
    grid, pipeline strip, similarity) stay vector.
    """
    if isinstance(widget, QtWidgets.QMainWindow):
        return True
    return any(widget.findChildren(kind) for kind in _FORM_CONTROLS)


def image_size(widget: QtWidgets.QWidget) -> tuple[int, int]:
    """Logical (width, height) of the exported figure: the widget plus its colour bar, if any."""
    from explorer.ui.export.render import grid_colour_bar

    w, h = _logical_size(widget)
    bar = grid_colour_bar(widget)
    return w + (0 if bar is None else bar.width), h


def _background(widget: QtWidgets.QWidget) -> QtGui.QColor:
    return widget.palette().color(QtGui.QPalette.ColorRole.Window)


def _paint(widget: QtWidgets.QWidget, painter: QtGui.QPainter) -> None:
    """Paint the widget and its children (QGraphicsView.render would paint only its scene),
    then the head grid's colour bar to its right."""
    from explorer.ui.export.render import grid_colour_bar

    flags = (
        QtWidgets.QWidget.RenderFlag.DrawWindowBackground
        | QtWidgets.QWidget.RenderFlag.DrawChildren
    )
    with _uncached_items(widget):
        QtWidgets.QWidget.render(widget, painter, QtCore.QPoint(0, 0), QtGui.QRegion(), flags)
    bar = grid_colour_bar(widget)
    if bar is not None:
        painter.save()
        try:
            bar.paint(painter, widget.width(), widget.height())
        finally:
            painter.restore()


@contextlib.contextmanager
def _uncached_items(widget: QtWidgets.QWidget):
    """Draw every scene item afresh for the duration of an export.

    Axes and colour bars keep their pixels between paints on screen
    (:func:`~explorer.ui.heatmap.cache_pixels`); an export must draw them, so that labels
    stay text in SVG and PDF and are sharp at any PNG size.
    """
    import pyqtgraph as pg

    no_cache = QtWidgets.QGraphicsItem.CacheMode.NoCache
    views = [widget] if isinstance(widget, pg.GraphicsView) else []
    views += widget.findChildren(pg.GraphicsView)
    cached = [
        (item, item.cacheMode())
        for view in views
        for item in view.scene().items()
        if item.cacheMode() != no_cache
    ]
    try:
        for item, _ in cached:
            item.setCacheMode(no_cache)
        yield
    finally:
        for item, mode in cached:
            item.setCacheMode(mode)


@contextlib.contextmanager
def _sharp_bitmaps(widget: QtWidgets.QWidget):
    """Hand vector formats heatmap bitmaps with one block of pixels per cell, and no
    cached view backgrounds.

    A heatmap is a T × T bitmap stretched over the plot. SVG and PDF viewers smooth stretched
    bitmaps (many ignore ``image-rendering``), which blurs the cells into each other. For the
    duration of the export, each ImageItem draws a copy enlarged by pixel repetition, so any
    smoothing stays inside a cell; the items are restored afterwards.
    """
    import pyqtgraph as pg

    views = [widget] if isinstance(widget, pg.GraphicsView) else []
    views += widget.findChildren(pg.GraphicsView)
    swapped = []
    cached = [(view, view.cacheMode()) for view in views]
    try:
        for view in views:
            # a cached background would be embedded as a full-size bitmap per view
            view.setCacheMode(QtWidgets.QGraphicsView.CacheModeFlag.CacheNone)
            for item in view.scene().items():
                if not isinstance(item, pg.ImageItem) or item.image is None:
                    continue
                item.render()  # the colour-mapped QImage pyqtgraph would draw
                small = item.qimage
                if small is None or small.isNull():
                    continue
                k = max(1, min(SHARP_REPEAT, SHARP_MAX_SIDE // max(small.width(), small.height())))
                if k == 1:
                    continue
                item.qimage = small.scaled(
                    small.width() * k,
                    small.height() * k,
                    QtCore.Qt.AspectRatioMode.IgnoreAspectRatio,
                    QtCore.Qt.TransformationMode.FastTransformation,
                )
                swapped.append((item, small))
        yield
    finally:
        for item, small in swapped:
            item.qimage = small
        for view, mode in cached:
            view.setCacheMode(mode)


def _png_bytes(image: QtGui.QImage) -> bytes:
    buf = QtCore.QBuffer()
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buf, "PNG"):
        raise ExportError("Qt could not encode the PNG image")
    return bytes(buf.data())


def _svg_bytes(widget: QtWidgets.QWidget, title: str) -> bytes:
    w, h = image_size(widget)
    buf = QtCore.QBuffer()
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    gen = QtSvg.QSvgGenerator()
    gen.setOutputDevice(buf)
    gen.setSize(QtCore.QSize(w, h))
    gen.setViewBox(QtCore.QRect(0, 0, w, h))
    gen.setResolution(int(widget.logicalDpiX()) or 96)
    gen.setTitle(title)
    gen.setDescription("Attention Explorer figure")
    painter = QtGui.QPainter(gen)
    try:
        painter.fillRect(QtCore.QRectF(0, 0, w, h), _background(widget))
        with _sharp_bitmaps(widget):
            _paint(widget, painter)
    finally:
        painter.end()
    return _tidy_svg(bytes(buf.data()))


_IMAGE_TAG = re.compile(rb"<image\b(?![^>]*\bstyle=)")
_FONT_FAMILY = re.compile(rb'font-family="([^"]*)"')
_EMPTY_GROUP = re.compile(rb"<g\b[^>]*>\s*</g>\s*")


def _tidy_svg(data: bytes) -> bytes:
    """Make the SVG look the same in browsers and editors as on screen.

    Qt writes the family it was asked for (often the fontconfig alias "Sans Serif", which is
    no CSS family) and leaves bitmap smoothing to the viewer. Name the font actually used,
    with a generic fallback, and keep the heatmap cells sharp.
    """

    def family(match: re.Match) -> bytes:
        asked = match.group(1).decode("utf-8", "replace")
        used = QtGui.QFontInfo(QtGui.QFont(asked)).family()
        names = [n for n in dict.fromkeys((used, asked)) if n and "," not in n]
        return f'font-family="{", ".join([*names, "sans-serif"])}"'.encode()

    # Qt opens a styled group at every painter state change; most stay empty (~80 % of bytes)
    while True:
        smaller = _EMPTY_GROUP.sub(b"", data)
        if smaller == data:
            break
        data = smaller
    data = _FONT_FAMILY.sub(family, data)
    return _IMAGE_TAG.sub(b'<image style="image-rendering:pixelated"', data)


def _svg_image_bytes(widget: QtWidgets.QWidget, image: QtGui.QImage, title: str) -> bytes:
    """An SVG holding ``image`` (as PNG) at the widget's on-screen physical size."""
    w, h = _logical_size(widget)
    dpi = float(widget.logicalDpiX()) or 96.0
    return svg_with_png(_png_bytes(image), w, h, dpi=dpi, title=title)


def _pdf_image_bytes(widget: QtWidgets.QWidget, image: QtGui.QImage, title: str) -> bytes:
    """A one-page PDF holding ``image`` (losslessly) at the widget's physical size."""
    opaque = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)  # no soft mask needed

    def draw(painter: QtGui.QPainter, w: int, h: int) -> None:
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.setRenderHint(QtGui.QPainter.RenderHint.LosslessImageRendering, True)  # no JPEG
        painter.drawImage(QtCore.QRectF(0, 0, w, h), opaque)

    return _pdf_page(widget, title, _logical_size(widget), draw)


def _pdf_bytes(widget: QtWidgets.QWidget, title: str) -> bytes:
    def draw(painter: QtGui.QPainter, w: int, h: int) -> None:
        painter.fillRect(QtCore.QRectF(0, 0, w, h), _background(widget))
        with _sharp_bitmaps(widget):
            _paint(widget, painter)

    return _pdf_page(widget, title, image_size(widget), draw)


def _pdf_page(widget: QtWidgets.QWidget, title: str, size: tuple[int, int], draw) -> bytes:
    """One PDF page of ``size`` (logical pixels at the screen's DPI); ``draw`` fills it."""
    w, h = size
    dpi = int(widget.logicalDpiX()) or 96
    buf = QtCore.QBuffer()
    buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    writer = QtGui.QPdfWriter(buf)
    writer.setTitle(title)
    writer.setCreator("Attention Explorer")
    writer.setResolution(dpi)
    # one page exactly the size of the view, at its on-screen physical size
    page_size = QtCore.QSizeF(w * 72.0 / dpi, h * 72.0 / dpi)
    page = QtGui.QPageSize(page_size, QtGui.QPageSize.Unit.Point, "", QtGui.QPageSize.ExactMatch)
    writer.setPageSize(page)
    writer.setPageMargins(QtCore.QMarginsF(0, 0, 0, 0), QtGui.QPageLayout.Unit.Point)
    painter = QtGui.QPainter(writer)
    if not painter.isActive():
        raise ExportError("Qt could not start the PDF writer")
    try:
        sx = writer.width() / w
        painter.scale(sx, sx)
        draw(painter, w, h)
    finally:
        painter.end()
    return bytes(buf.data())
