"""Edit a real head of the loaded model in place: its W_Q, W_K and W_V with sliders.

``modelHeadEditor`` reuses the workbench's :class:`~explorer.ui.workbench.projection_editor.
ProjectionEditor` (the paged slider grid, the matrix image and Scale / Reset), adds zeroing a
row or a column, and renames the reused widgets with a ``model`` prefix
(``modelWeightSlider_q_0_0``) so that both editors keep unique object names in one window.
It only shows matrices and reports edits; the model view turns them into Session edits.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from explorer.ui.workbench.projection_editor import NAMES, ProjectionEditor

PREFIX = "model"


def prefix_names(root: QtCore.QObject, prefix: str = PREFIX) -> None:
    """Give ``root`` and its named children the ``prefix`` (``rowPage_q`` → ``modelRowPage_q``)."""
    for obj in (root, *root.findChildren(QtCore.QObject)):
        name = obj.objectName()
        if name and not name.startswith(prefix) and not name.startswith("qt_"):
            obj.setObjectName(prefix + name[0].upper() + name[1:])


class _Head:
    """The three matrices in the shape :meth:`ProjectionEditor.set_head` reads."""

    def __init__(self, w_q, w_k, w_v):
        self._m = {"q": w_q, "k": w_k, "v": w_v}

    def matrix(self, which: str) -> np.ndarray:
        return self._m[which]


class ModelHeadEditor(QtWidgets.QGroupBox):
    """Sliders for one real head's projections, bound with :meth:`bind`.

    Signals
    -------
    weightEdited(str, int, int, float)
        ``which`` in "qkv", row, column, new value (a slider moved).
    matrixEdited(str, object, str)
        ``which``, the whole new matrix, and a description for the undo stack.
    dragFinished()
        A slider drag ended (closes the undo step).
    ablateRequested(), scaleRequested(float), revertRequested(), unbindRequested()
    """

    weightEdited = QtCore.Signal(str, int, int, float)
    matrixEdited = QtCore.Signal(str, object, str)
    dragFinished = QtCore.Signal()
    ablateRequested = QtCore.Signal()
    scaleRequested = QtCore.Signal(float)
    revertRequested = QtCore.Signal()
    unbindRequested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__("Edit a head of the model", parent)
        self.setObjectName("modelHeadEditor")
        self.setToolTip(
            "W_Q, W_K and W_V of the bound head of the loaded model. Every change runs the "
            "model again from this head's layer up"
        )
        self.bound: tuple[int, int] | None = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)

        self.hint = QtWidgets.QLabel(
            "Pick a head in the grid and press “Edit this head” to change its real W_Q, "
            "W_K and W_V here.",
            objectName="modelHeadHint",
        )
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.effect = QtWidgets.QLabel(objectName="modelHeadEffect")
        self.effect.setToolTip(
            "Cosine of the mean-pooled sentence embedding of the edited and the unedited model"
        )
        layout.addWidget(self.effect)

        self.projections = ProjectionEditor()
        for sig in ("weightEdited", "matrixEdited", "dragFinished"):
            getattr(self.projections, sig).connect(getattr(self, sig))
        for ed in self.projections.editors.values():
            # the slider grid is rebuilt on a page change: name the new sliders too
            ed.rowPage.valueChanged.connect(lambda _v, e=ed: prefix_names(e))
            ed.colPage.valueChanged.connect(lambda _v, e=ed: prefix_names(e))
            # identity, transpose and a random orthogonal matrix mean nothing for a real head;
            # what is left (Scale, Reset, the factor) fits below a smaller matrix image
            for key in ("identity", "transpose", "random"):
                ed.buttons[key].hide()
            ed.seedSpin.hide()
            for label in ed.findChildren(QtWidgets.QLabel):
                if label.text() == "seed":
                    label.hide()
            ed.plot.setMinimumSize(80, 60)
        layout.addWidget(self.projections, 1)

        row = QtWidgets.QHBoxLayout()
        row.setSpacing(4)
        self.zeroIndex = QtWidgets.QSpinBox(objectName="zeroIndexSpin")
        self.zeroIndex.setToolTip("Which row (input dimension) or column (head dimension) to zero")
        self.zeroRow = QtWidgets.QPushButton("Zero row", objectName="zeroRowButton")
        self.zeroRow.setToolTip("Set every weight of this row of the shown matrix to 0")
        self.zeroCol = QtWidgets.QPushButton("Zero column", objectName="zeroColumnButton")
        self.zeroCol.setToolTip("Set every weight of this column of the shown matrix to 0")
        self.ablate = QtWidgets.QPushButton("Ablate", objectName="modelEditAblateButton")
        self.ablate.setToolTip("Zero the head's output (its matrices stay as edited)")
        self.scale = QtWidgets.QDoubleSpinBox(objectName="modelEditScaleSpin")
        self.scale.setRange(-5.0, 5.0)
        self.scale.setSingleStep(0.25)
        self.scale.setValue(1.0)
        self.scale.setPrefix("output ×")
        self.scale.setToolTip("Multiply the head's output (1 leaves it, 0 ablates it)")
        self.revert = QtWidgets.QPushButton("Revert head", objectName="revertHeadButton")
        self.revert.setToolTip("Back to this head's real matrices and output")
        for w in (QtWidgets.QLabel("index"), self.zeroIndex, self.zeroRow, self.zeroCol):
            row.addWidget(w)
        row.addStretch(1)
        for w in (self.ablate, self.scale, self.revert):
            row.addWidget(w)
        self.controls = QtWidgets.QWidget()
        self.controls.setLayout(row)
        layout.addWidget(self.controls)

        self.zeroRow.clicked.connect(lambda: self._zero(0))
        self.zeroCol.clicked.connect(lambda: self._zero(1))
        self.ablate.clicked.connect(self.ablateRequested)
        self.scale.editingFinished.connect(lambda: self.scaleRequested.emit(self.scale.value()))
        self.revert.clicked.connect(self.revertRequested)
        self.projections.tabs.currentChanged.connect(lambda _i: self._update_zero_range())
        prefix_names(self.projections)
        self.set_bound(None)

    # ------------------------------------------------------------------ state
    def set_bound(self, head: tuple[int, int] | None) -> None:
        """Which (layer, head) the sliders edit; None hides them."""
        self.bound = head
        self.projections.setVisible(head is not None)
        self.controls.setVisible(head is not None)
        self.effect.setVisible(head is not None)
        self.hint.setVisible(head is None)
        if head is None:
            self.setTitle("Edit a head of the model")
        else:
            self.setTitle(f"Editing layer {head[0]} · head {head[1]} (W_Q, W_K, W_V)")

    def show_matrices(self, current, preset, scale: float) -> None:
        """Show ``current`` (w_q, w_k, w_v) and reset to ``preset``; ``scale`` is the output
        factor. Unchanged matrices (the same objects) are not redrawn."""
        shapes = [ed._matrix.shape for ed in self.projections.editors.values()]
        self.projections.set_head(_Head(*current), _Head(*preset))
        for ed, shape in zip(self.projections.editors.values(), shapes, strict=True):
            if ed._matrix.shape != shape:  # set_matrix built a new slider grid
                prefix_names(ed)
        self.scale.blockSignals(True)
        self.scale.setValue(scale)
        self.scale.blockSignals(False)
        self._update_zero_range()

    def show_effect(self, pooled_cosine: float | None) -> None:
        """The sentence embedding's cosine to the unedited model's (None: no edits)."""
        if pooled_cosine is None:
            self.effect.setText("No edits: the model as trained.")
        else:
            self.effect.setText(f"cos(sentence embedding, unedited) = <b>{pooled_cosine:.4f}</b>")

    @property
    def current_which(self) -> str:
        """The matrix of the shown tab, ``"q"``, ``"k"`` or ``"v"``."""
        return "qkv"[self.projections.tabs.currentIndex()]

    def slider(self, which: str, row: int, col: int):
        return self.projections.editors[which].slider(row, col)

    def _update_zero_range(self) -> None:
        m = self.projections.editors[self.current_which]._matrix
        self.zeroIndex.setRange(0, max(0, max(m.shape, default=1) - 1))

    def _zero(self, axis: int) -> None:
        which = self.current_which
        m = np.array(self.projections.editors[which]._matrix)
        i = self.zeroIndex.value()
        if m.size == 0 or i >= m.shape[axis]:
            return
        if axis == 0:
            m[i, :] = 0.0
        else:
            m[:, i] = 0.0
        what = "row" if axis == 0 else "column"
        self.matrixEdited.emit(which, m, f"Zero {what} {i} of {NAMES[which]}")
