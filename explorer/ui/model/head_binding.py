"""Head edits in the Model tab: ablate or scale the selected head, and bind a real head to
``modelHeadEditor`` to change its W_Q, W_K and W_V. Every edit becomes a Session edit (undoable,
saved) through the window; without a window the view keeps them itself."""

from __future__ import annotations

import numpy as np

from explorer.core.encoder import HeadEdit
from explorer.core.model_analysis import head_edits
from explorer.core.session import HeadScale


class HeadEditing:
    """The part of :class:`~explorer.ui.model.view.ModelView` that edits heads of the model."""

    def add_edit(self, factor: float) -> None:
        """Ablate (0) or scale the selected head's output; the layers above are recomputed."""
        if self.encoder is None:
            return
        layer, head = self.selected
        what = "Ablate" if factor == 0 else f"Scale ×{factor:g}"
        self._put_edit(layer, head, f"{what} head L{layer} H{head}", scale=float(factor))

    def clear_edits(self) -> None:
        self._set_edits({}, "Clear head edits")

    def _set_edits(
        self, edits: dict, label: str = "Clear head edits", merge_key: str | None = None
    ) -> None:
        """Change the edits: through the window's Session (undoable, saved) when there is one."""
        if self.window_ is None:
            self._edits = edits
            self._sync_head_editor()
            self.refresh()
            return
        s = self.window_.doc.session
        stored = tuple(edits.values())
        if stored != s.model_edits:
            # → _on_session_changed
            self.window_.apply(s.evolve(model_edits=stored), label, merge_key)

    def _put_edit(self, layer, head, label, merge_key=None, **changes) -> None:
        """Change one head's stored edit (``scale`` and/or ``w_q``/``w_k``/``w_v``); an edit
        that changes nothing any more is dropped."""
        old = self._edits.get((layer, head)) or HeadScale(layer, head, 1.0)
        fields = {"scale": old.scale, "w_q": old.w_q, "w_k": old.w_k, "w_v": old.w_v, **changes}
        base = self._base_head if self.headEditor.bound == (layer, head) else None
        for c in "qkv":  # a matrix set back to the model's own is not stored
            m = fields[f"w_{c}"]
            if m is not None and base is not None and np.array_equal(m, getattr(base, f"w_{c}")):
                fields[f"w_{c}"] = None
        has_matrix = any(fields[f"w_{c}"] is not None for c in "qkv")
        sha = self.encoder.sha256 if has_matrix and self.encoder is not None else ""
        edits = dict(self._edits)
        if has_matrix or fields["scale"] != 1.0:
            edits[(layer, head)] = HeadScale(layer, head, **fields, sha256=sha)
        else:
            edits.pop((layer, head), None)
        self._set_edits(edits, label, merge_key)

    @property
    def edits(self) -> tuple[HeadEdit, ...]:
        """The edits applied to the model shown."""
        if self.encoder is None:
            return ()
        return head_edits(tuple(self._edits.values()), self.encoder)

    # ------------------------------------------------------- editing a real head
    def edit_selected_head(self) -> None:
        """Bind the selected head to ``modelHeadEditor`` and show it."""
        if self.encoder is None:
            return
        self._bind(self.selected)
        self.lowerTabs.setCurrentWidget(self.headEditor)

    def _bind(self, head) -> None:
        self._base_head = None if head is None else self.encoder.head_weights(*head)
        self.headEditor.set_bound(head)
        self._sync_head_editor()

    def _sync_head_editor(self) -> None:
        """Show the bound head's matrices as the Session has them (after an edit or undo)."""
        if self.headEditor.bound is None or self._base_head is None:
            return
        base = self._base_head
        stored = self._edits.get(self.headEditor.bound)
        sha_ok = stored is not None and stored.sha256 == getattr(self.encoder, "sha256", None)
        current = []
        for c in "qkv":
            m = getattr(stored, f"w_{c}", None) if sha_ok else None
            current.append(m if m is not None else getattr(base, f"w_{c}"))
        scale = stored.scale if stored is not None else 1.0
        self.headEditor.show_matrices(current, (base.w_q, base.w_k, base.w_v), scale)

    def _bound_matrix(self, which: str) -> np.ndarray:
        return self.headEditor.projections.editors[which]._matrix

    def _on_weight_edited(self, which: str, row: int, col: int, value: float) -> None:
        if self.headEditor.bound is None:
            return
        m = np.array(self._bound_matrix(which))
        m[row, col] = value
        layer, head = self.headEditor.bound
        label = f"Edit W_{which.upper()}[{row}, {col}] of L{layer} H{head}"
        self._put_edit(layer, head, label, f"model-w{which}-{row}-{col}", **{f"w_{which}": m})

    def _on_matrix_edited(self, which: str, matrix, label: str) -> None:
        if self.headEditor.bound is None:
            return
        layer, head = self.headEditor.bound
        self._put_edit(layer, head, f"{label} of L{layer} H{head}", **{f"w_{which}": matrix})

    def _set_bound_scale(self, factor: float, what: str) -> None:
        if self.headEditor.bound is not None:
            layer, head = self.headEditor.bound
            self._put_edit(layer, head, f"{what} head L{layer} H{head}", scale=float(factor))

    def _revert_bound(self) -> None:
        if self.headEditor.bound is None:
            return
        edits = dict(self._edits)
        layer, head = self.headEditor.bound
        if edits.pop((layer, head), None) is not None:
            self._set_edits(edits, f"Revert head L{layer} H{head}")


def _edits_from(stored) -> dict[tuple[int, int], HeadScale]:
    """The Session's stored head edits by (layer, head)."""
    return {(e.layer, e.head): e for e in stored}
