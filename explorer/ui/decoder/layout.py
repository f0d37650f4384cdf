"""The widgets of the Decoder tab and how they are laid out (see
:class:`~explorer.ui.decoder.view.DecoderView`, which fills them)."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.ui.decoder.panels import GeneratePanel, LogitLensTable, NextTokenPanel
from explorer.ui.heatmap import HeatmapView
from explorer.ui.model.across import AggregatePanel
from explorer.ui.model.grid import LayerHeadGrid

SHORT_LABELS = {"induction": "IND", "previous token": "PREV"}


def causal_display(att: np.ndarray) -> np.ndarray:
    """Attention weights with the cells the causal mask cuts set to −∞ (drawn hatched)."""
    a = np.array(att, dtype=np.float32)
    a[..., ~np.tri(a.shape[-1], dtype=bool)] = -np.inf  # above the diagonal
    return a


def build_decoder_view(view) -> None:
    """Create ``view``'s widgets as attributes of it, connect them to its methods and lay
    them out."""
    view.combo = QtWidgets.QComboBox(objectName="decoderCombo")
    view.combo.setMinimumContentsLength(24)
    view.combo.setSizeAdjustPolicy(
        QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
    )
    view.combo.setToolTip("Decoders found on this computer (nothing is downloaded)")
    view.combo.activated.connect(view._on_combo)
    view.openButton = QtWidgets.QPushButton("Open Folder…", objectName="decoderOpenButton")
    view.openButton.setToolTip(
        "Choose a folder with config.json, model.safetensors (or shards) and tokenizer.json"
    )
    view.openButton.clicked.connect(view.open_folder_dialog)
    view.loadBar = QtWidgets.QProgressBar(objectName="decoderLoadProgress")
    view.loadBar.setMaximumWidth(220)
    view.loadBar.setVisible(False)
    view.cancelButton = QtWidgets.QPushButton("Cancel", objectName="decoderCancelButton")
    view.cancelButton.setToolTip("Stop loading the model")
    view.cancelButton.setVisible(False)
    view.cancelButton.clicked.connect(view.cancel_load)
    view.busyBar = QtWidgets.QProgressBar(objectName="decoderBusy")
    view.busyBar.setRange(0, 0)  # no end known: a moving bar
    view.busyBar.setMaximumWidth(120)
    view.busyBar.setFormat("running…")
    view.busyBar.setToolTip("The decoder is running on the text")
    view.busyBar.setVisible(False)
    view.details = QtWidgets.QLabel(objectName="decoderDetails")
    view.details.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    top = QtWidgets.QHBoxLayout()
    top.addWidget(QtWidgets.QLabel("Decoder:"))
    top.addWidget(view.combo, 1)
    top.addWidget(view.openButton)
    top.addWidget(view.loadBar)
    top.addWidget(view.cancelButton)
    top.addWidget(view.busyBar)
    view.message = QtWidgets.QLabel(objectName="decoderMessage")
    view.message.setWordWrap(True)
    view.message.setStyleSheet("QLabel { color: #b36b00; }")
    view.message.setVisible(False)

    view.grid = LayerHeadGrid()
    view.grid.setObjectName("decoderGrid")
    view.grid.setToolTip(
        "Every head of every layer (rows: layers). The causal mask leaves the upper "
        "triangle empty. IND: an induction head, PREV: a previous-token head, measured "
        "on repeated random tokens; ×0: ablated. Click a head to draw it large."
    )
    view.grid.thumbnailClicked.connect(view._on_thumbnail)
    view.head = HeatmapView(title="", cmap="viridis")
    view.head.setObjectName("decoderHeadView")
    view.head.set_readout(view._readout)
    view.head.enable_filter_menu()  # right-click: top-k or threshold per row
    view.head.cellClicked.connect(lambda row, _col: view.select_position(row))
    view.ablateButton = QtWidgets.QPushButton("Ablate head", objectName="decoderAblate")
    view.ablateButton.setCheckable(True)
    view.ablateButton.setToolTip("Zero this head's output in every forward pass (A)")
    view.ablateButton.setShortcut(QtGui.QKeySequence("A"))
    view.ablateButton.toggled.connect(view._on_ablate)
    view.scaleSpin = QtWidgets.QDoubleSpinBox(objectName="decoderScale")
    view.scaleSpin.setRange(-4.0, 4.0)
    view.scaleSpin.setSingleStep(0.25)
    view.scaleSpin.setValue(1.0)
    view.scaleSpin.setPrefix("× ")
    view.scaleSpin.setToolTip("Multiply this head's output (1 leaves it, 0 ablates it)")
    view.scaleSpin.editingFinished.connect(lambda: view.set_scale(view.scaleSpin.value()))
    view.restoreButton = QtWidgets.QPushButton("Restore all", objectName="decoderRestore")
    view.restoreButton.setToolTip("Undo every head edit of this decoder")
    view.restoreButton.clicked.connect(view.clear_edits)
    view.editsLabel = QtWidgets.QLabel(objectName="decoderEditsLabel")
    heads = QtWidgets.QHBoxLayout()
    for w in (view.ablateButton, view.scaleSpin, view.restoreButton, view.editsLabel):
        heads.addWidget(w)
    heads.addStretch(1)

    left = QtWidgets.QWidget()
    lv = QtWidgets.QVBoxLayout(left)
    lv.setContentsMargins(0, 0, 0, 0)
    view.headSummary = QtWidgets.QLabel(objectName="decoderHeadSummary")
    view.headSummary.setWordWrap(True)
    view.headSummary.setToolTip(
        "Where the selected head's weight goes, averaged over its rows: the first token "
        "(the attention sink of decoders), the token just before, the token itself, and "
        "how spread out each row is (1 = uniform over the tokens it can see)"
    )
    head_page = QtWidgets.QWidget()
    hv = QtWidgets.QVBoxLayout(head_page)
    hv.setContentsMargins(0, 0, 0, 0)
    hv.addWidget(view.head, 1)
    hv.addWidget(view.headSummary)
    view.across = AggregatePanel()
    view.across.setObjectName("decoderAcross")
    view.across.heatmap.setObjectName("decoderAcrossHeatmap")
    view.across.changed.connect(view._draw_across)
    view.lowerTabs = QtWidgets.QTabWidget(objectName="decoderLowerTabs")
    view.lowerTabs.setDocumentMode(True)
    view.lowerTabs.addTab(head_page, "Selected head")
    view.lowerTabs.addTab(view.across, "Across heads")
    view.lowerTabs.setTabToolTip(0, "The head picked in the grid, large")
    view.lowerTabs.setTabToolTip(
        1, "Attention rollout or a layer's mean over heads (the causal mask stays hatched)"
    )
    view.lowerTabs.currentChanged.connect(lambda _i: view._draw_across())
    split_left = view.leftSplit = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
    split_left.addWidget(view.grid)
    split_left.addWidget(view.lowerTabs)
    split_left.setStretchFactor(0, 2)
    split_left.setStretchFactor(1, 3)
    lv.addWidget(split_left, 1)
    lv.addLayout(heads)

    view.nextPanel = NextTokenPanel()
    view.lensTable = LogitLensTable()
    lens_box = QtWidgets.QGroupBox("Logit lens")
    view.lensNote = QtWidgets.QLabel("Reading every layer through the LM head…")
    view.lensNote.setObjectName("logitLensNote")
    view.lensNote.setVisible(False)
    lens_layout = QtWidgets.QVBoxLayout(lens_box)
    lens_layout.addWidget(view.lensNote)
    lens_layout.addWidget(view.lensTable)
    view.generatePanel = GeneratePanel()
    view.generatePanel.generateRequested.connect(view.generate)
    view.generatePanel.settingsChanged.connect(view._on_generate_settings)
    view.generatePanel.cancel.clicked.connect(view.generation.stop)
    right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
    right.addWidget(view.nextPanel)
    right.addWidget(view.generatePanel)
    right.addWidget(lens_box)
    right.setStretchFactor(2, 1)
    right.setChildrenCollapsible(False)

    view.split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
    view.split.addWidget(left)
    view.split.addWidget(right)
    view.split.setStretchFactor(0, 1)
    view.split.setStretchFactor(1, 1)

    lay = QtWidgets.QVBoxLayout(view)
    lay.addLayout(top)
    lay.addWidget(view.details)
    lay.addWidget(view.message)
    lay.addWidget(view.split, 1)
    esc = QtGui.QShortcut(QtGui.QKeySequence("Esc"), view)
    esc.activated.connect(view._on_escape)
