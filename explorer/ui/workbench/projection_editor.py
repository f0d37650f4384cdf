"""Edit W_Q, W_K and W_V of one head with a grid of sliders and a draggable matrix.

Each weight has a slider ``weightSlider_{q|k|v}_{row}_{col}`` (−3 to 3, step 0.01) with a
readout. Large matrices show a 16 × 16 block at a time with page controls, so there are never
hundreds of widgets at once.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.ui.document import close_merge_on_pause
from explorer.ui.heatmap import CellImage, colormap
from explorer.ui.workbench.text_bar import clear_layout

PAGE = 16  # rows and columns of sliders shown at once
STEPS = 100  # slider steps per unit: 0.01 resolution
LIMIT = 3.0  # slider range is −LIMIT..LIMIT
NAMES = {"q": "W_Q", "k": "W_K", "v": "W_V"}
ROLES = {
    "q": "turns each token into the query it asks with",
    "k": "turns each token into the key it is found by",
    "v": "turns each token into the value it passes on",
}


def weight_text(v: float) -> str:
    """A weight in five or six characters: ``+0.25``, ``-12.5``, ``+1e+04`` past ±999."""
    if abs(v) < 9.995:
        return f"{v:+.2f}"
    if abs(v) < 999.5:
        return f"{v:+.3g}"
    return f"{v:+.0e}"


class WeightSlider(QtWidgets.QSlider):
    """A slider for one weight; double-click asks for a reset to the preset value."""

    resetRequested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(QtCore.Qt.Orientation.Horizontal, parent)
        self.setRange(-int(LIMIT * STEPS), int(LIMIT * STEPS))
        self.setSingleStep(1)
        self.setPageStep(10)
        self.setMinimumWidth(36)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

    def mouseDoubleClickEvent(self, event):
        self.resetRequested.emit()
        event.accept()


class MatrixImage(CellImage):
    """The matrix as an image; drag a cell up or down to change it."""

    def __init__(self, on_drag, on_finish):
        super().__init__(axisOrder="row-major")
        self._on_drag = on_drag
        self._on_finish = on_finish
        self._cell = None
        self._start = 0.0

    def mouseDragEvent(self, ev):
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            p = ev.buttonDownPos()
            self._cell = (int(p.y()), int(p.x()))
            self._start = ev.buttonDownScreenPos().y()
        if self._cell is None:
            return
        dy = self._start - ev.screenPos().y()
        self._on_drag(self._cell, dy * 0.02, ev.isStart())
        if ev.isFinish():
            self._cell = None
            self._on_finish()


class MatrixEditor(QtWidgets.QWidget):
    """Sliders for one matrix (``which`` in "qkv")."""

    weightEdited = QtCore.Signal(str, int, int, float)  # which, row, col, value
    dragFinished = QtCore.Signal()
    matrixEdited = QtCore.Signal(str, object, str)  # which, new matrix, description

    def __init__(self, which: str, parent=None):
        super().__init__(parent)
        self.which = which
        self.setObjectName(f"matrixEditor_{which}")
        self._matrix = np.zeros((0, 0))
        self._preset = np.zeros((0, 0))
        self._row0 = 0
        self._col0 = 0
        self._sliders: dict[tuple[int, int], WeightSlider] = {}
        self._readouts: dict[tuple[int, int], QtWidgets.QLabel] = {}
        # (value, preset) each slider of the page shows, NaN until set: _sync_sliders
        # compares whole arrays and touches only the sliders whose numbers changed
        self._shown_values = np.full((0, 0), np.nan)
        self._shown_presets = np.full((0, 0), np.nan)
        self._drag_base = 0.0

        outer = QtWidgets.QHBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        left = QtWidgets.QVBoxLayout()
        outer.addLayout(left, 4)
        self._left = left

        pager = QtWidgets.QHBoxLayout()
        self.rowPage = QtWidgets.QSpinBox(objectName=f"rowPage_{which}")
        self.colPage = QtWidgets.QSpinBox(objectName=f"colPage_{which}")
        for spin, label in ((self.rowPage, "rows from"), (self.colPage, "columns from")):
            spin.setSingleStep(PAGE)
            spin.setToolTip(f"The matrix is larger than {PAGE}×{PAGE}: choose which block to edit")
            spin.valueChanged.connect(self._on_page_changed)
            pager.addWidget(QtWidgets.QLabel(label))
            pager.addWidget(spin)
        pager.addStretch(1)
        self._pager_box = QtWidgets.QWidget()
        self._pager_box.setLayout(pager)
        left.addWidget(self._pager_box)

        self._grid_host = QtWidgets.QWidget()
        self._grid = QtWidgets.QGridLayout(self._grid_host)
        self._grid.setSpacing(1)
        self._grid.setContentsMargins(0, 0, 0, 0)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._grid_host)
        left.addWidget(scroll, 1)

        right = QtWidgets.QVBoxLayout()
        outer.addLayout(right, 1)
        self.plot = pg.PlotWidget(enableMenu=False)
        self.plot.setObjectName(f"matrixHeatmap_{which}")
        self.plot.setToolTip(
            f"{NAMES[which]} as an image (rows: input dimensions, columns: head dimensions). "
            "Drag a cell up or down to change it."
        )
        self.plot.setMinimumSize(120, 120)
        self.plot.setMaximumWidth(180)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.invertY(True)
        self.plot.getPlotItem().hideAxis("bottom")
        self.plot.getPlotItem().hideAxis("left")
        self.image = MatrixImage(self._on_image_drag, self.dragFinished.emit)
        self.image.setColorMap(colormap("CET-D1A"))
        self.plot.addItem(self.image)
        right.addWidget(self.plot, 1)

        buttons = QtWidgets.QGridLayout()
        self.seedSpin = QtWidgets.QSpinBox(objectName=f"randomSeed_{which}")
        self.seedSpin.setRange(0, 2**31 - 1)
        self.seedSpin.setToolTip("Seed of the random matrix")
        self.scaleSpin = QtWidgets.QDoubleSpinBox(objectName=f"scaleFactor_{which}")
        self.scaleSpin.setRange(-10, 10)
        self.scaleSpin.setSingleStep(0.1)
        self.scaleSpin.setValue(2.0)
        self.scaleSpin.setToolTip("Factor for Scale")
        specs = [
            (
                "Identity",
                "identity",
                "Set the matrix to the identity: the head compares raw inputs",
            ),
            ("Random", "random", "Fill with a random orthogonal matrix from the seed"),
            ("Scale", "scale", "Multiply every weight by the factor"),
            ("Transpose", "transpose", "Transpose the matrix (square matrices only)"),
            ("Reset", "reset", "Reset every weight to the preset value"),
        ]
        self.buttons: dict[str, QtWidgets.QPushButton] = {}
        for i, (label, key, tip) in enumerate(specs):
            b = QtWidgets.QPushButton(label, objectName=f"{key}Button_{which}")
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, k=key: self._whole_matrix(k))
            self.buttons[key] = b
            buttons.addWidget(b, i // 2, i % 2)
        buttons.addWidget(QtWidgets.QLabel("seed"), 3, 0)
        buttons.addWidget(self.seedSpin, 3, 1)
        buttons.addWidget(QtWidgets.QLabel("factor"), 4, 0)
        buttons.addWidget(self.scaleSpin, 4, 1)
        right.addLayout(buttons)

    # --------------------------------------------------------------- state
    def set_matrix(self, matrix: np.ndarray, preset: np.ndarray) -> None:
        """Show ``matrix``; ``preset`` is what double-click and Reset return to."""
        matrix = np.asarray(matrix)
        preset = np.asarray(preset)
        if matrix is self._matrix and preset is self._preset:
            return  # Sessions share unchanged matrices: nothing to redraw
        reshape = matrix.shape != self._matrix.shape
        self._matrix = matrix
        self._preset = preset
        lim = float(max(np.abs(matrix).max(initial=0.0), 1e-6))
        self.image.setImage(matrix.astype(np.float32), autoLevels=False, levels=(-lim, lim))
        if reshape:
            self.image.setRect(QtCore.QRectF(0, 0, matrix.shape[1], matrix.shape[0]))
            self.plot.setXRange(0, max(matrix.shape[1], 1), padding=0)
            self.plot.setYRange(0, max(matrix.shape[0], 1), padding=0)
            square = matrix.shape[0] == matrix.shape[1]
            self.buttons["transpose"].setEnabled(square)
            paged = matrix.shape[0] > PAGE or matrix.shape[1] > PAGE
            self._pager_box.setVisible(paged)
            self._left.invalidate()  # a never-shown tab would keep the pager's width
            for spin, n in ((self.rowPage, matrix.shape[0]), (self.colPage, matrix.shape[1])):
                spin.blockSignals(True)
                spin.setRange(0, max(0, (n - 1) // PAGE * PAGE))
                spin.blockSignals(False)
            self._row0 = min(self._row0, self.rowPage.maximum())
            self._col0 = min(self._col0, self.colPage.maximum())
            self._build_grid()
        self._sync_sliders()

    def slider(self, row: int, col: int) -> WeightSlider | None:
        return self._sliders.get((row, col))

    def _build_grid(self) -> None:
        clear_layout(self._grid)
        self._sliders.clear()
        self._readouts.clear()
        rows = range(self._row0, min(self._row0 + PAGE, self._matrix.shape[0]))
        cols = range(self._col0, min(self._col0 + PAGE, self._matrix.shape[1]))
        self._shown_values = np.full((len(rows), len(cols)), np.nan)
        self._shown_presets = np.full((len(rows), len(cols)), np.nan)
        small = QtGui.QFont()
        small.setPointSizeF(max(small.pointSizeF() - 1.5, 6.0))
        for c_i, c in enumerate(cols):
            head = QtWidgets.QLabel(f"h{c}")
            head.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            head.setToolTip(f"Column {c}: head dimension {c}")
            self._grid.addWidget(head, 0, 1 + c_i)
        for r_i, r in enumerate(rows):
            lab = QtWidgets.QLabel(f"x{r}")
            lab.setToolTip(f"Row {r}: input dimension {r}")
            self._grid.addWidget(lab, 1 + r_i, 0)
            for c_i, c in enumerate(cols):
                cell = QtWidgets.QWidget()
                box = QtWidgets.QVBoxLayout(cell)
                box.setContentsMargins(1, 0, 1, 0)
                box.setSpacing(0)
                s = WeightSlider()
                s.setObjectName(f"weightSlider_{self.which}_{r}_{c}")
                readout = QtWidgets.QLabel(objectName=f"weightReadout_{self.which}_{r}_{c}")
                readout.setFont(small)
                readout.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
                s.valueChanged.connect(lambda v, r=r, c=c: self._on_slider(r, c, v))
                close_merge_on_pause(s, self.dragFinished.emit)
                s.resetRequested.connect(lambda r=r, c=c: self._reset_cell(r, c))
                box.addWidget(s)
                box.addWidget(readout)
                self._sliders[(r, c)] = s
                self._readouts[(r, c)] = readout
                self._grid.addWidget(cell, 1 + r_i, 1 + c_i)

    def _sync_sliders(self) -> None:
        """Bring sliders, readouts and tooltips in line with the matrix; touch only changes."""
        name = NAMES[self.which]
        n_rows, n_cols = self._shown_values.shape
        page = (slice(self._row0, self._row0 + n_rows), slice(self._col0, self._col0 + n_cols))
        values = np.asarray(self._matrix[page], dtype=np.float64)
        presets = np.asarray(self._preset[page], dtype=np.float64)
        stale = (values != self._shown_values) | (presets != self._shown_presets)
        self._shown_values, self._shown_presets = values.copy(), presets.copy()
        for i, j in zip(*np.nonzero(stale), strict=True):
            r, c = self._row0 + int(i), self._col0 + int(j)
            s = self._sliders[(r, c)]
            v, p = float(values[i, j]), float(presets[i, j])
            pos = round(min(max(v, -LIMIT), LIMIT) * STEPS)
            if s.value() != pos:
                s.blockSignals(True)
                s.setValue(pos)
                s.blockSignals(False)
            self._readouts[(r, c)].setText(weight_text(v))
            s.setToolTip(
                f"{name}[{r}, {c}] = {v:+.6g}: how much input dimension {r} feeds head "
                f"dimension {c}. {name} {ROLES[self.which]}. "
                f"Double-click resets to the preset value {p:+.4g}."
            )

    # ------------------------------------------------------------- editing
    def _on_slider(self, r: int, c: int, value: int) -> None:
        v = value / STEPS
        self._readouts[(r, c)].setText(weight_text(v))
        self.weightEdited.emit(self.which, r, c, v)

    def _reset_cell(self, r: int, c: int) -> None:
        self.weightEdited.emit(self.which, r, c, float(self._preset[r, c]))
        self.dragFinished.emit()

    def _on_page_changed(self) -> None:
        self._row0 = self.rowPage.value() // PAGE * PAGE
        self._col0 = self.colPage.value() // PAGE * PAGE
        self._build_grid()
        self._sync_sliders()

    def _on_image_drag(self, cell, delta: float, start: bool) -> None:
        r, c = cell
        if not (0 <= r < self._matrix.shape[0] and 0 <= c < self._matrix.shape[1]):
            return
        if start:
            self._drag_base = float(self._matrix[r, c])
        value = float(np.clip(round(self._drag_base + delta, 2), -LIMIT, LIMIT))
        self.weightEdited.emit(self.which, r, c, value)

    def _whole_matrix(self, key: str) -> None:
        m = self._matrix
        if key == "identity":
            new = np.eye(*m.shape)
        elif key == "random":
            rng = np.random.default_rng(self.seedSpin.value())
            a = rng.standard_normal((max(m.shape), max(m.shape)))
            qmat, _ = np.linalg.qr(a)
            new = qmat[: m.shape[0], : m.shape[1]]
        elif key == "scale":
            new = m * self.scaleSpin.value()
        elif key == "transpose":
            new = m.T
        else:
            new = self._preset
        self.matrixEdited.emit(self.which, np.array(new), f"{key.capitalize()} {NAMES[self.which]}")


class ProjectionEditor(QtWidgets.QWidget):
    """Tabs for W_Q, W_K and W_V of the selected head."""

    weightEdited = QtCore.Signal(str, int, int, float)
    dragFinished = QtCore.Signal()
    matrixEdited = QtCore.Signal(str, object, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("projectionEditor")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QtWidgets.QTabWidget(objectName="projectionTabs")
        self.editors: dict[str, MatrixEditor] = {}
        for which in "qkv":
            ed = MatrixEditor(which)
            ed.weightEdited.connect(self.weightEdited)
            ed.dragFinished.connect(self.dragFinished)
            ed.matrixEdited.connect(self.matrixEdited)
            self.editors[which] = ed
            self.tabs.addTab(ed, NAMES[which])
            self.tabs.setTabToolTip(self.tabs.count() - 1, f"{NAMES[which]} {ROLES[which]}")
        # unselected tabs sit lower, which cut the underscore of "W_K" off: give the text room
        self.tabs.tabBar().setStyleSheet("QTabBar::tab { padding: 3px 10px 5px 10px; }")
        layout.addWidget(self.tabs)

    def set_head(self, head, preset) -> None:
        """Show the matrices of ``head``; ``preset`` (a Head) is what Reset returns to."""
        for which, ed in self.editors.items():
            ed.set_matrix(head.matrix(which), preset.matrix(which))
