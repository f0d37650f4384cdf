"""Export › Decoder: the Decoder tab's views as figures and its numbers as CSV or NPY.

Figures go through the window's figure export (PNG, SVG, PDF; the head and the grid as vector
graphics). Numbers are plain matrices with token labels (:func:`export_matrix`): the
selected head's attention weights, the full next-token distribution's top 10 at the shown
position, and the logit lens's top-token probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.ui.export.actions import MATRIX_FILTER
from explorer.ui.export.files import export_matrix

NOTHING = "The Decoder tab has not run on this text yet: open it (Ctrl+4) and wait for the model."


class DecoderExports:
    """Adds Export › Decoder to ``window`` for ``view``."""

    def __init__(self, window, view):
        self.w, self.view = window, view
        menu = window.files.exportMenu.addMenu("&Decoder")
        menu.setObjectName("exportDecoderMenu")
        figures = [
            ("Decoder &Head…", "decoder-head", lambda: view.head),
            ("Decoder &Grid…", "decoder-grid", lambda: view.grid),
            ("&Next-Token Bars…", "next-token", lambda: view.nextPanel),
            ("&Logit Lens…", "logit-lens", lambda: view.lensTable),
        ]
        for label, stem, get in figures:
            act = menu.addAction(label)
            act.setStatusTip(f"Save the {stem.replace('-', ' ')} as PNG, SVG or PDF")
            act.triggered.connect(lambda _=False, get=get, stem=stem: self.figure(get(), stem))
        menu.addSeparator()
        for label, name in (
            ("Head Weights (CSV/NPY)…", "head"),
            ("Next-Token Probabilities (CSV/NPY)…", "next"),
            ("Logit Lens Probabilities (CSV/NPY)…", "lens"),
        ):
            act = menu.addAction(label)
            act.setStatusTip("Save the numbers with token labels (CSV) or as a NumPy array (NPY)")
            act.triggered.connect(lambda _=False, name=name: self.numbers(name))
        self.menu = menu

    def _ready(self) -> bool:
        if self.view.output is None or self.view.model is None:
            self.w.error("Nothing to export", NOTHING)
            return False
        return True

    def figure(self, widget, stem: str, path: Path | None = None, width=None):
        """Export one Decoder view as a figure (see ``ExportActions.export_view``)."""
        return self.w.exports.export_view(widget, stem, path, width=width, needs=self._ready)

    def matrix(self, name: str) -> tuple[np.ndarray, list[str], list[str]]:
        """The numbers ``name`` ("head", "next" or "lens") exports, with row and column
        labels."""
        from explorer.ui.decoder.layout import causal_display

        v, out = self.view, self.view.output
        cols = [f"{i} {t}" for i, t in enumerate(out.tokens)]
        if name == "head":
            layer, h = v.selected()
            weights = causal_display(out.attentions[layer, h]).astype(np.float64)
            return weights, cols, cols
        if name == "next":
            from explorer.core.decoder_readout import next_tokens

            nxt = next_tokens(v.model, out, v.position(), k=10)
            return nxt.probs[:, None], list(nxt.tokens), [f"p(next | {cols[nxt.position]})"]
        if name == "lens":
            return np.asarray(v.lens.probs, dtype=np.float64), list(v.lens.row_names), cols
        raise ValueError(f"no decoder matrix {name!r}")

    def numbers(self, name: str, path: Path | None = None):
        """Export ``name``'s numbers as CSV or NPY (asks for the file when not given)."""
        if not self._ready():
            return None
        matrix, rows, cols = self.matrix(name)
        if path is None:
            stem = {"head": "decoder-head", "next": "next-token", "lens": "logit-lens"}[name]
            path = self.w.exports._ask_path("Export numbers", f"{stem}.csv", MATRIX_FILTER)
            if path is None:
                return None
        return self.w.exports._attempt(
            "Cannot export numbers",
            lambda: export_matrix(matrix, path, row_labels=rows, col_labels=cols),
        )
