"""What the Model tab draws from an analysis: the layer × head grid (after the edit or as the
difference from the unedited run), the selected head large with its summary, the aggregates
across heads, and the grid's filters and type badges. It draws, never computes a model."""

from __future__ import annotations

import time

import numpy as np

from explorer.core.encoder_stats import without_special
from explorer.core.model_analysis import (
    POOL_LEVELS,
    aggregate,
    edit_label,
    head_pattern,
    lowest_edited_layer,
    pooled,
)

DIFF_LEVELS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # colour ranges of the difference grid


class ModelDrawing:
    """The part of :class:`~explorer.ui.model.view.ModelView` that draws an analysis."""

    # -------------------------------------------------------------- drawing
    @property
    def selected(self) -> tuple[int, int]:
        """(layer, head) shown large."""
        return self.layerSpin.value(), self.headSpin.value()

    def _shown_weights(self, out=None):
        """Attentions to draw (L, n_head, T', T') and their labels: of ``out`` (default: the
        run shown), after the special-token toggle and pooled to words or sentences."""
        out = self.analysis.shown if out is None else out
        att, labels = out.attentions, list(out.tokens)
        if self.hideSpecial.isChecked():
            att, kept = without_special(att, out.special | ~out.attention_mask)
            labels = [labels[i] for i in kept]
        return pooled(att, labels, POOL_LEVELS[self.poolCombo.currentIndex()])

    def _draw(self) -> None:
        if self.analysis is None:
            return
        t0 = time.perf_counter()
        a = self.analysis
        att, labels = self._shown_weights()
        self.gridStack.setCurrentIndex(0)
        self._draw_grid(att)
        self._draw_selected(att, labels)
        self.draw_ms = (time.perf_counter() - t0) * 1e3
        T = len(a.out.tokens)
        cached = " (cached)" if a.timings["forward"] < 1 else ""
        self.timing.setText(
            f"T = {T} · forward {a.timings['forward']:.0f} ms{cached} · draw {self.draw_ms:.0f} ms"
        )

    def _draw_grid(self, att) -> None:
        """The layer × head grid, after the edit or as the difference from the unedited run.

        Thumbnails of layers below both this and the last drawn edit are not redrawn: they
        show the unedited run, which has not changed.
        """
        a = self.analysis
        L, nh = a.out.attentions.shape[:2]
        diff = self.gridMode.currentIndex() == 1 and a.edited is not None
        levels = (0.0, 1.0)
        if diff:  # the same steps on both runs: exactly 0 below the edit
            d = att - self._shown_weights(a.out)[0]
            att = d
            lowest = lowest_edited_layer(a.edits, L)
            # scaled to the layers above the edit, so that what the edit caused there shows;
            # the edited layer itself may saturate
            above = d[lowest + 1 :] if lowest + 1 < L else d
            top = float(np.abs(above).max(initial=0.0))
            lim = next((v for v in DIFF_LEVELS if top <= v), DIFF_LEVELS[-1])
            levels = (-lim, lim)
        lowest = lowest_edited_layer(a.edits, L)
        key = (a.out, diff, levels, self.hideSpecial.isChecked(), self.poolCombo.currentIndex())
        changed = None
        if self._drawn is not None and self._drawn[0] == key:
            first = min(lowest, self._drawn[1])
            changed = np.repeat(np.arange(L) >= first, nh)
        titles = [f"L{layer} H{h}" for layer in range(L) for h in range(nh)]
        # a view, no copy; the grid shrinks long texts to block maxima itself
        self.thumbnails_drawn = self.modelGrid.set_matrices(
            att.reshape(L * nh, *att.shape[2:]), titles, columns=nh, levels=levels, changed=changed
        )
        self._drawn = (key, lowest)
        self._draw_types()
        self._grid_tooltip()

    def _on_grid_filter(self) -> None:
        self.modelGrid.set_filter(*self.gridFilter.currentData())
        self._grid_tooltip()

    def _grid_tooltip(self) -> None:
        diff = self.modelGrid.levels[0] < 0
        what = "difference from the unedited run" if diff else "attention"
        name = self.modelGrid.filter_name
        shown = f" ({name}; the other weights washed out)" if name and not diff else ""
        self.modelGrid.setToolTip(
            f"{what.capitalize()}{shown} of every layer (rows) and head (columns). Click one "
            "to see it large; double-click to copy it into the workbench"
        )

    def _draw_types(self) -> None:
        """Badges of the heads' types, and the type filter (an edited run's types follow
        the grid; until then the badges stay)."""
        types = getattr(self.analysis, "head_types", None)
        if types is None:
            return
        self.modelGrid.set_types(types.ravel(), self.typeFilter.currentData())

    def _draw_selected(self, att=None, labels=None) -> None:
        if self.analysis is None:
            return
        if att is None:
            att, labels = self._shown_weights()
        a = self.analysis
        layer, head = self.selected
        nh = a.out.attentions.shape[1]
        self.modelGrid.select(layer * nh + head)
        what = "edited model" if a.edited is not None else "attention weights"
        self.heatmap.set_title(f"layer {layer} · head {head}: {what}")
        self.heatmap.set_matrix(att[layer, head], labels, levels=(0.0, 1.0))
        self.summary.set_length(int(a.out.attention_mask.sum()))
        self.summary.show_head(a.summary, layer, head, head_pattern(a.summary, layer, head))
        self.edit.show_effect(a, edit_label(a.edits))
        self.headEditor.show_effect(a.pooled_cosine if a.edits else None)
        self._draw_aggregate(att, labels)

    def _draw_aggregate(self, att=None, labels=None) -> None:
        """Rollout or mean over heads of the run shown, when its tab is on screen."""
        if self.analysis is None or self.rightTabs.currentWidget() is not self.aggregate:
            return
        if att is None:
            att, labels = self._shown_weights()
        kind = self.aggregate.kind.currentText()
        layer = min(self.aggregate.layer.value(), att.shape[0] - 1)
        edited = " · edited model" if self.analysis.edited is not None else ""
        title = f"{kind} · layer {layer}{edited}"
        self.aggregate.show_data(aggregate(att, kind, layer), labels, title)

    def _readout(self, i: int, j: int) -> str:
        data = self.heatmap.data
        rows = self.heatmap._row_labels
        if not (0 <= i < data.shape[0] and 0 <= j < data.shape[1]):
            return ""
        return f"'{rows[i]}' → '{rows[j]}': weight {float(data[i, j]):.3f}"
