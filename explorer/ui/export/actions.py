"""File › Export: figures (PNG, SVG, PDF) of any view and matrices (CSV, NPY) of the Result.

Every figure export (and Copy Heatmap Image) behaves the same way: a view that sits on a tab
in the background (the Model tab is showing, or Projections hides Similarity) is brought to
the front first and then exported; when there is nothing computed to show (the text is
empty), the export is refused with a message saying so instead of a picture of stale data.

The single views are exported black on white whatever the desktop theme, through the same
:func:`~explorer.ui.export.render.figure_colours` as ``attention-explorer render``; the window keeps
its colours. They stay vector in SVG and PDF; the whole window is embedded there as an image.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core.long_attention import is_lazy
from explorer.ui.export.figures import (
    ExportError,
    copy_image_to_clipboard,
    embeds_as_image,
    export_matrix,
    export_widget,
    image_size,
    result_matrices,
)
from explorer.ui.export.render import figure_colours

NOTHING_TITLE = "Nothing to export"
NOTHING_EMPTY = "Nothing to export yet: the text is empty. Type some text first."
NOTHING_NO_TOKENS = "Nothing to export yet: the text has no tokens. Type some words first."
NOTHING_YET = "Nothing to export yet: the attention is still being computed. Try again shortly."

IMAGE_FILTER = "PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)"
# SVG and PDF of the whole window hold its picture (Qt's form widgets do not draw as vectors)
WINDOW_FILTER = (
    "PNG image (*.png);;SVG with the window as an embedded image (*.svg)"
    ";;PDF with the window as an embedded image (*.pdf)"
)
WINDOW_TIP = (
    "Save the whole window as PNG, SVG or PDF (in SVG and PDF the window is embedded as an "
    "image; the single views stay vector)"
)
MATRIX_FILTER = "CSV with token headers (*.csv);;NumPy array (*.npy)"


class ExportSizeDialog(QtWidgets.QDialog):
    """Ask for the pixel width (or DPI) of a PNG, or of the window's image in SVG/PDF."""

    def __init__(self, parent, default_width: int):
        super().__init__(parent)
        self.setObjectName("exportSizeDialog")
        self.setWindowTitle("Image size")
        form = QtWidgets.QFormLayout(self)
        self.width = QtWidgets.QSpinBox(objectName="exportWidth")
        self.width.setRange(64, 16384)
        self.width.setValue(default_width)
        self.width.setSuffix(" px")
        self.width.setToolTip(
            "Width of the image in pixels (default: twice the screen size). In SVG and PDF the"
            " whole window is embedded as an image this wide; the single views stay vector."
        )
        self.dpi = QtWidgets.QSpinBox(objectName="exportDpi")
        self.dpi.setRange(0, 1200)
        self.dpi.setValue(0)
        self.dpi.setSpecialValueText("screen")
        self.dpi.setToolTip("Resolution written into the file (for print layout)")
        form.addRow("Width", self.width)
        form.addRow("DPI", self.dpi)
        box = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)


class ExportActions:
    """Builds the Export submenu of a MainWindow and runs the exports."""

    def __init__(self, window):
        self.w = window
        menu = window.files.exportMenu
        views = [
            ("Attention &Heatmap…", "heatmap", lambda: window.attentionHeatmap),
            ("Head &Grid…", "head-grid", lambda: window.headGrid),
            ("&Pipeline Strip…", "pipeline", lambda: window.pipelineView),
            ("&Similarity…", "similarity", lambda: window.similarityView),
            ("Whole &Window…", "window", lambda: window),
        ]
        for label, stem, get in views:
            act = menu.addAction(label)
            tip = f"Save the {stem.replace('-', ' ')} as PNG, SVG or PDF (vector, black on white)"
            act.setStatusTip(WINDOW_TIP if stem == "window" else tip)
            act.setToolTip(act.statusTip())
            act.triggered.connect(lambda _=False, get=get, stem=stem: self.export_view(get(), stem))
        self.matrixMenu = menu.addMenu("&Matrix")
        self.matrixMenu.setObjectName("exportMatrixMenu")
        self.matrixMenu.aboutToShow.connect(self._fill_matrix_menu)
        menu.addSeparator()
        copy = menu.addAction("&Copy Heatmap Image")
        copy.setShortcut(QtGui.QKeySequence("Ctrl+Shift+C"))
        copy.setStatusTip("Copy the attention heatmap to the clipboard as an image")
        copy.triggered.connect(self.copy_heatmap)
        window.addAction(copy)
        self.copyAction = copy

    def _similarity_view(self):
        """The similarity view, brought to the front (kept for callers of the old API)."""
        self.bring_forward(self.w.similarityView)
        return self.w.similarityView

    @staticmethod
    def bring_forward(widget: QtWidgets.QWidget) -> None:
        """Make every tab that holds ``widget`` the current one, outermost first (and show
        the pipeline strip if a short window folded ``widget`` away with it).

        A QTabWidget keeps its pages in an internal QStackedWidget, so a page is an ancestor
        whose parent is a stack whose parent is the QTabWidget. Plain QStackedWidgets (the
        heatmap / empty-state stack) are left alone: they show what the data allows.
        """
        pages = []
        node = widget
        while node is not None:
            stack = node.parentWidget()
            tabs = stack.parentWidget() if stack is not None else None
            if isinstance(stack, QtWidgets.QStackedWidget) and isinstance(
                tabs, QtWidgets.QTabWidget
            ):
                pages.append((tabs, node))
            node = stack
        window = widget.window()
        # the pipeline strip, folded away for a short window
        changed = hasattr(window, "reveal_strip") and window.reveal_strip(widget)
        for tabs, page in reversed(pages):
            if tabs.currentWidget() is not page:
                tabs.setCurrentWidget(page)
                changed = True
        if changed:
            # let the newly shown page lay itself out before it is painted
            QtWidgets.QApplication.processEvents()

    def _ready(self, widget) -> bool:
        """Check there is something to draw and bring ``widget`` forward; False = refused."""
        if widget is not self.w and not self._has_result():
            return False  # the whole window is always worth a picture; a view needs data
        self.bring_forward(widget)
        return True

    def _has_result(self) -> bool:
        """True if a Result with tokens is shown; otherwise say why nothing can be exported."""
        r = self.w.result
        if r is not None and len(r.tokens) > 0:
            return True
        if r is not None or not self.w.doc.session.text.strip():
            empty = not self.w.doc.session.text.strip()
            self.w.error(NOTHING_TITLE, NOTHING_EMPTY if empty else NOTHING_NO_TOKENS)
        else:
            self.w.error(NOTHING_TITLE, NOTHING_YET)
        return False

    def _fill_matrix_menu(self) -> None:
        self.matrixMenu.clear()
        r = self.w.result
        if r is None or len(r.tokens) == 0:
            self.matrixMenu.addAction("(nothing computed yet)").setEnabled(False)
            return
        head = min(self.w.doc.session.selected_head, r.weights.shape[0] - 1)
        for name in result_matrices(r, head):
            act = self.matrixMenu.addAction(f"{name}…")
            act.triggered.connect(lambda _=False, name=name: self.export_matrix(name))

    def _ask_path(self, title: str, stem: str, file_filter: str) -> Path | None:
        folder = self.w.settings.value("export/folder", "")
        start = str(Path(folder) / stem) if folder else stem
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(self.w, title, start, file_filter)
        if not path:
            return None
        p = Path(path)
        if not p.suffix:
            p = p.with_suffix(chosen.split("*")[-1].rstrip(")"))
        self.w.settings.setValue("export/folder", str(p.parent))
        return p

    def export_view(
        self, widget, stem: str, path: Path | None = None, width=None, dpi=None, *, needs=None
    ):
        """Export ``widget`` as an image; asks for the file (and PNG size) when not given.

        The view is brought to the front first if it is on a background tab; with nothing
        computed (empty text) a message says so and None is returned. ``needs``: a check of
        the view's own data (True when there is something to draw) instead of the
        workbench's Result, for views that show something else (the Decoder tab).
        """
        if needs is None:
            if not self._ready(widget):
                return None
        elif needs():
            self.bring_forward(widget)
        else:
            return None
        if path is None:
            whole = embeds_as_image(widget)
            path = self._ask_path(
                "Export Figure", f"{stem}.png", WINDOW_FILTER if whole else IMAGE_FILTER
            )
            if path is None:
                return None
            if path.suffix.lower() == ".png" or whole:
                dialog = ExportSizeDialog(self.w, 2 * max(image_size(widget)[0], 1))
                if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
                    return None
                width = dialog.width.value()
                dpi = dialog.dpi.value() or None

        def write():
            with self.figure_look(widget):
                return export_widget(widget, path, width=width, dpi=dpi)

        return self._attempt("Cannot export figure", write)

    @staticmethod
    def figure_look(widget):
        """Black on white for a single view (as ``render`` draws it); the window as it is."""
        if embeds_as_image(widget):
            return contextlib.nullcontext(widget)
        return figure_colours(widget)

    def export_matrix(self, name: str, path: Path | None = None):
        if not self._has_result():
            return None
        r = self.w.result
        head = min(self.w.doc.session.selected_head, r.weights.shape[0] - 1)
        matrix, rows, cols = result_matrices(r, head)[name]
        if path is None:
            stem = name.replace(" ", "-") + ".csv"
            path = self._ask_path(f"Export {name}", stem, MATRIX_FILTER)
            if path is None:
                return None
        progress = self._progress(f"Exporting {name}…") if is_lazy(matrix) else None
        try:
            return self._attempt(
                "Cannot export matrix",
                lambda: export_matrix(
                    matrix, path, row_labels=rows, col_labels=cols, progress=progress
                ),
            )
        finally:
            if progress is not None:
                progress.dialog.close()

    def _progress(self, label: str):
        """A progress callback for a long export, shown as a window-modal dialog with Cancel
        once the export has run 0.3 s; it returns False once Cancel is pressed."""
        dialog = QtWidgets.QProgressDialog(label, "Cancel", 0, 1000, self.w)
        dialog.setObjectName("exportProgress")
        dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.setAutoClose(False)

        def progress(share: float) -> bool:
            dialog.setValue(int(share * 1000))
            QtWidgets.QApplication.processEvents()
            return not dialog.wasCanceled()

        progress.dialog = dialog
        return progress

    def _attempt(self, title: str, write):
        """Run an export; show why it failed (nothing is overwritten then) or where it went."""
        try:
            out = write()
        except ExportError as exc:
            self.w.error(title, str(exc))
            return None
        self.w.statusBar().showMessage(f"Exported {out}", 4000)
        return out

    def copy_heatmap(self) -> None:
        """Copy the attention heatmap as an image (brought forward first, like an export)."""
        if not self._ready(self.w.attentionHeatmap):
            return
        try:
            with self.figure_look(self.w.attentionHeatmap):
                copy_image_to_clipboard(self.w.attentionHeatmap)
        except ExportError as exc:
            self.w.error("Cannot copy image", str(exc))
            return
        self.w.statusBar().showMessage("Heatmap copied to the clipboard", 3000)
