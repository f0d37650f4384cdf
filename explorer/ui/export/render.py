"""Headless figures: build a view offscreen from a Session and export it.

``attention-explorer render SESSION.attn.json -o OUT.{png,svg,pdf} [--view ...] [--head N]
[--width PX]`` runs the same code as File › Export: the real view classes, drawn from
``compute(session)`` exactly as the window draws them, then :func:`export_widget`. No window
is shown; with no display it uses Qt's ``offscreen`` platform.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

VIEWS = ("heatmap", "grid", "pipeline", "similarity")
PROG = "attention-explorer render"


def figure_size(view: str, n_tokens: int, n_head: int) -> tuple[int, int]:
    """Logical size (width, height) of a headless figure: room for labels and the colour bar.

    The heatmap grows with the number of tokens so that cells stay readable up to ~40 tokens;
    beyond that the key labels are thinned by the axis itself.
    """
    T = max(1, n_tokens)
    if view == "heatmap":
        side = min(max(34 * T, 300), 1100)
        return side + 210, side + 180  # + the axis captions and the note under the matrix
    if view == "grid":
        cols = max(1, math.ceil(math.sqrt(n_head)))
        rows = math.ceil(n_head / cols)
        return 220 * cols, 240 * rows
    if view == "pipeline":
        return 1500, 440
    if view == "similarity":
        side = min(max(34 * T, 300), 900)
        return 2 * (side + 190), side + 210  # + the pinned readout and the caption
    raise ValueError(f"unknown view '{view}': choose one of {', '.join(VIEWS)}")


def build_view(view: str, session, result, head: int | None = None):
    """Create the widget for ``view`` and draw ``result`` into it as the window does.

    Parameters
    ----------
    view : {"heatmap", "grid", "pipeline", "similarity"}
    session : Session
        Supplies colour maps, value overlay and the selected query.
    result : Result
        ``compute(session)``.
    head : int, optional
        Head to show (default ``session.selected_head``).

    Returns
    -------
    QWidget
        Sized by :func:`figure_size`, laid out, not shown on screen.
    """
    from explorer.core.long_attention import weight_levels
    from explorer.ui.heatmap import ATTENTION_CAPTIONS, HeatmapView
    from explorer.ui.views.composite import PipelineView, SimilarityView, ThumbnailGrid

    if view not in VIEWS:
        raise ValueError(f"unknown view '{view}': choose one of {', '.join(VIEWS)}")
    n_head = result.weights.shape[0]
    h = session.selected_head if head is None else head
    if not (isinstance(h, int) and 0 <= h < n_head):
        raise ValueError(f"head {h} does not exist: " + _heads_phrase(n_head))
    tokens = result.display_labels  # as the window: repeated words get subscripts
    if not tokens:
        raise ValueError("the session's text has no tokens: there is nothing to draw")
    cm, scm = session.view.colormap, session.view.score_colormap
    # the drawing below mirrors MainWindow._draw for each view
    if view == "heatmap":
        widget = HeatmapView(title="")
        widget.set_axis_captions(ATTENTION_CAPTIONS)
        widget.set_colormap(cm)
        widget.set_show_values(session.view.show_values)
        widget.set_title(f"head {h}: attention weights A = softmax(QKᵀ·s), s = {result.scale:.3f}")
        widget.set_matrix(result.weights[h], tokens, levels=weight_levels(result.weights[h]))
        widget.select_row(session.selected_query)
    elif view == "grid":
        widget = ThumbnailGrid()
        widget.set_colormap(cm)
        widget.set_matrices(result.weights, [f"head {i}" for i in range(n_head)])
        widget.select(h if head is not None else -1)  # outline a head only when asked
    elif view == "pipeline":
        widget = PipelineView()
        widget.set_colormaps(cm, scm)
        widget.show_head(result, h, tokens)
    else:
        widget = SimilarityView(controls=False)
        widget.set_colormap(scm)
        widget.show_result(result, tokens, head=h, selected_query=session.selected_query)
    widget.resize(*figure_size(view, len(tokens), n_head))
    figure_theme(widget)
    _lay_out(widget)
    return widget


def figure_theme(root) -> None:
    """Black on white, whatever the desktop theme: figures go into papers and slides."""
    from PySide6 import QtGui

    from explorer.ui.theme import paint_views

    fg, bg = QtGui.QColor("black"), QtGui.QColor("white")
    palette = root.palette()
    palette.setColor(QtGui.QPalette.ColorRole.Window, bg)
    palette.setColor(QtGui.QPalette.ColorRole.WindowText, fg)
    root.setPalette(palette)
    root.setAutoFillBackground(True)
    paint_views(root, fg, bg)


@contextlib.contextmanager
def figure_colours(root):
    """Draw ``root`` black on white (:func:`figure_theme`) inside the block, then restore it.

    File › Export of a view in the window goes through here, so a figure has the colours of
    ``attention-explorer render`` whatever the desktop theme; the window keeps its own colours
    (each view's background, axis and label colours and the palette are put back as they were).
    """
    import pyqtgraph as pg
    from PySide6 import QtCore, QtGui

    own_palette = root.testAttribute(QtCore.Qt.WidgetAttribute.WA_SetPalette)
    palette, fill = QtGui.QPalette(root.palette()), root.autoFillBackground()
    views = [root] if isinstance(root, pg.GraphicsView) else []
    backgrounds, axes, labels = [], [], []
    for view in views + root.findChildren(pg.GraphicsView):
        backgrounds.append((view, QtGui.QBrush(view.backgroundBrush())))
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem):
                axes.append((item, item.textPen(), item.pen()))
            elif isinstance(item, pg.LabelItem):
                labels.append((item, dict(item.opts)))
    figure_theme(root)
    try:
        yield root
    finally:
        for view, brush in backgrounds:
            # setBackground keeps pyqtgraph's own record of the colour in step
            style = brush.style() != QtCore.Qt.BrushStyle.NoBrush
            view.setBackground(brush.color() if style else None)
        for item, text_pen, pen in axes:
            item.setTextPen(text_pen)
            item.setPen(pen)
        for item, opts in labels:
            item.opts = opts
            item.setText(item.text)
        # an inherited palette must stay inherited, so that theme changes still reach it
        root.setPalette(palette if own_palette else QtGui.QPalette())
        root.setAutoFillBackground(fill)


class _ColourBar:
    """A vertical colour bar from ``lo`` (bottom) to ``hi`` (top), drawn with a QPainter."""

    width = 84  # logical pixels to the right of the grid
    label = "attention weight"

    def __init__(self, cmap, lo: float, hi: float, fg, font):
        self.cmap, self.lo, self.hi, self.fg, self.font = cmap, lo, hi, fg, font

    def paint(self, painter, x0: float, height: float) -> None:
        """Draw into the strip ``[x0, x0 + width] × [0, height]`` of ``painter``."""
        from PySide6 import QtCore, QtGui

        top, bottom = 22.0, max(height - 22.0, 60.0)
        bar = QtCore.QRectF(x0 + 12, top, 16, bottom - top)
        # the gradient runs from the bottom (lo) to the top (hi), stop for stop of the map
        painter.fillRect(bar, QtGui.QBrush(self.cmap.getGradient(bar.bottomLeft(), bar.topLeft())))
        painter.setPen(QtGui.QPen(self.fg, 1))
        painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        painter.drawRect(bar)
        font = QtGui.QFont(self.font)
        font.setPointSizeF(8.0)
        painter.setFont(font)
        for value in (0.0, 0.5, 1.0):
            y = bottom - value * (bottom - top)
            painter.drawLine(QtCore.QPointF(bar.right(), y), QtCore.QPointF(bar.right() + 4, y))
            text = f"{self.lo + value * (self.hi - self.lo):g}"
            box = QtCore.QRectF(bar.right() + 6, y - 10, 34, 20)
            painter.drawText(box, QtCore.Qt.AlignmentFlag.AlignVCenter, text)
        painter.translate(x0 + self.width - 10, (top + bottom) / 2)
        painter.rotate(-90)
        box = QtCore.QRectF(-(bottom - top) / 2, -14, bottom - top, 16)
        painter.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, self.label)


def grid_colour_bar(widget) -> _ColourBar | None:
    """The colour bar exported beside a head grid, or None for any other widget.

    The grid's thumbnails are attention weights drawn with fixed levels (0, 1) and one colour
    map; the bar shows that map over those levels in the grid's text colour.
    """
    import pyqtgraph as pg
    from PySide6 import QtGui

    from explorer.ui.views.composite import ThumbnailGrid

    if not isinstance(widget, ThumbnailGrid):
        return None
    for item in widget.scene().items():
        if isinstance(item, pg.ImageItem) and item.image is not None:
            cmap, levels = item.getColorMap(), item.getLevels()
            if cmap is None:
                return None
            lo, hi = (0.0, 1.0) if levels is None else (float(levels[0]), float(levels[1]))
            fg = widget.palette().color(QtGui.QPalette.ColorRole.WindowText)
            return _ColourBar(cmap, lo, hi, fg, widget.font())
    return None


def _lay_out(widget) -> None:
    """Apply layouts and resizes without putting the widget on screen."""
    from PySide6 import QtCore, QtWidgets

    widget.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.show()
    for _ in range(3):  # pyqtgraph's layouts settle over a couple of posted events
        QtWidgets.QApplication.processEvents()


def render_session(
    session,
    out_path: str | os.PathLike,
    *,
    view: str = "heatmap",
    head: int | None = None,
    width: int | None = None,
) -> Path:
    """Draw one view of ``session`` offscreen and export it to ``out_path``.

    Parameters
    ----------
    session : Session
    out_path : str or path-like
        ``.png``, ``.svg`` or ``.pdf``.
    view : {"heatmap", "grid", "pipeline", "similarity"}
    head : int, optional
        Head for the heatmap and the pipeline strip (and the highlighted thumbnail of the
        grid); default ``session.selected_head``.
    width : int, optional
        PNG width in pixels (default twice the figure's logical size).

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        Bad view or head, a session that cannot be computed, or no tokens.
    ExportError
        Bad suffix or width, or the file cannot be written (also a ValueError/OSError).
    """
    from explorer.core.pipeline import compute
    from explorer.ui.app import create_app
    from explorer.ui.export.figures import IMAGE_SUFFIXES, ExportError, export_widget

    suffix = Path(out_path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ExportError(
            f"cannot render to '{Path(out_path).name}': the output must end in .png, .svg or .pdf"
        )
    if view not in VIEWS:
        raise ValueError(f"unknown view '{view}': choose one of {', '.join(VIEWS)}")
    create_app(gui_thread_gc=False)  # a script's render leaves the interpreter's gc alone
    if session.model is not None:
        from explorer.core.model_bridge import install

        install()  # sessions built on a pretrained model compute through its weights
    result = compute(session)
    widget = build_view(view, session, result, head)
    try:
        return export_widget(widget, out_path, width=width)
    finally:
        widget.close()
        widget.deleteLater()


def _ensure_platform() -> None:
    """Use Qt's offscreen platform when there is no display to talk to."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        raise _CliError(message)


class _CliError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Render one view of a session to PNG, SVG or PDF without showing a window.",
    )
    parser.add_argument("session", help="the session file (*.attn.json)")
    parser.add_argument("-o", "--output", required=True, help="OUT.png, OUT.svg or OUT.pdf")
    parser.add_argument("--view", choices=VIEWS, default="heatmap", help="default: heatmap")
    parser.add_argument("--head", type=int, help="head to show (default: the session's own)")
    parser.add_argument("--width", type=int, help="PNG width in pixels (default: 2× screen)")
    return parser


def render_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``attention-explorer render``; returns the exit code.

    Exit codes: 0 written, 2 bad input (arguments, session file, head, suffix, output);
    every failure prints one line on stderr.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except _CliError as exc:
        return _fail(str(exc))
    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        return _fail(f"cannot render to '{out.name}': the output must end in .png, .svg or .pdf")
    if args.width is not None and args.width < 1:
        return _fail(f"--width must be a positive number of pixels, got {args.width}")

    folder = out.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        return _fail(f"cannot write {out}: {folder} {what}")

    from explorer.io.session_file import SessionFileError, load_session

    try:
        session = load_session(args.session)
    except SessionFileError as exc:
        return _fail(str(exc))
    _ensure_platform()
    from PySide6 import QtCore

    previous = QtCore.qInstallMessageHandler(_quiet_qt_handler)
    try:
        path = render_session(session, out, view=args.view, head=args.head, width=args.width)
    except (ValueError, OSError) as exc:  # ExportError is both
        return _fail(str(exc))
    finally:
        QtCore.qInstallMessageHandler(previous)
    print(f"wrote {path}")
    return 0


def _quiet_qt_handler(kind, _context, message) -> None:
    """Keep Qt's platform chatter (e.g. "does not support propagateSizeHints") off stderr, so
    that a failure is one line; critical and fatal messages still get through."""
    from PySide6 import QtCore

    if kind in (QtCore.QtMsgType.QtCriticalMsg, QtCore.QtMsgType.QtFatalMsg):
        print(f"Qt: {message}", file=sys.stderr)


def _fail(message: str) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"{PROG}: {first}", file=sys.stderr)
    return 2


def _heads_phrase(n_head: int) -> str:
    return "there is only head 0" if n_head == 1 else f"the heads are 0..{n_head - 1}"


if __name__ == "__main__":
    sys.exit(render_main())
