"""The Model tab's widgets and where they go: the toolbar, the grid with its options above and
the selected head's summary or the head editor below, and on the right the large views and
the word followed through the layers."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from explorer.ui.heatmap import ATTENTION_CAPTIONS, HeatmapView
from explorer.ui.model.across import AggregatePanel, ComparePanel
from explorer.ui.model.grid import LEGEND, LayerHeadGrid
from explorer.ui.model.head_editor import ModelHeadEditor
from explorer.ui.model.panels import EditPanel, ModelBanner, SummaryPanel, WordPanel
from explorer.ui.model.toolbar import LegendLabel, ModelToolbar, grid_options


class VerticalScroll(QtWidgets.QScrollArea):
    """Scrolls ``widget`` up and down when the window is shorter than it needs (a small or
    scaled screen), rather than squeeze its rows into one another; as wide at least as the
    widget needs, with room for the scroll bar."""

    def __init__(self, widget: QtWidgets.QWidget, **kwargs):
        super().__init__(**kwargs)
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)

    def minimumSizeHint(self) -> QtCore.QSize:
        hint = super().minimumSizeHint()
        bar = self.verticalScrollBar().sizeHint().width()
        return QtCore.QSize(self.widget().minimumSizeHint().width() + bar, hint.height())

    def event(self, event) -> bool:
        if event.type() == QtCore.QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the widget's least width may have changed
        return super().event(event)


class ModelLayout:
    """The part of :class:`~explorer.ui.model.view.ModelView` that builds its widgets."""

    # ------------------------------------------------------------ building
    def _build_frame(self) -> None:
        """What the window needs at once: the banner (which it places above its tabs) and
        the view's layout; :meth:`_build` fills the layout later (see
        :mod:`explorer.ui.deferred`)."""
        self.banner = ModelBanner()
        self.banner.openRequested.connect(self.open_model_dialog)
        self.banner.useLoadedRequested.connect(self._use_loaded_weights)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)

    def _build(self) -> None:
        bar = ModelToolbar()
        self.modelCombo, self.openButton = bar.modelCombo, bar.openButton
        self.layerSpin, self.headSpin, self.hideSpecial = (
            bar.layerSpin,
            bar.headSpin,
            bar.hideSpecial,
        )
        self.busy, self.timing = bar.busy, bar.timing
        self.modelCombo.activated.connect(self._on_combo)
        self.openButton.clicked.connect(self.open_model_dialog)
        for spin in (self.layerSpin, self.headSpin):
            spin.valueChanged.connect(self._on_spin)
        self.hideSpecial.toggled.connect(lambda _: self._draw())
        self.gridMode = bar.gridMode
        self.gridMode.currentIndexChanged.connect(lambda _: self._draw())
        self.poolCombo = bar.poolCombo
        self.poolCombo.currentIndexChanged.connect(lambda _: self._draw())
        self.typeFilter = bar.typeFilter
        self.typeFilter.currentIndexChanged.connect(lambda _: self._draw_types())
        self.gridFilter = bar.gridFilter
        self.gridFilter.currentIndexChanged.connect(lambda _: self._on_grid_filter())

        self.modelGrid = LayerHeadGrid()
        self.modelGrid.setObjectName("modelGrid")
        self.modelGrid.setToolTip(
            "Attention of every layer (rows) and head (columns). Click one to see it large; "
            "double-click to copy it into the workbench"
        )
        self.modelGrid.thumbnailClicked.connect(self._on_thumbnail)
        self.modelGrid.thumbnailDoubleClicked.connect(self._on_thumbnail_double)
        self.gridMessage = QtWidgets.QLabel(objectName="modelMessage")
        self.gridMessage.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.gridMessage.setWordWrap(True)
        self.gridStack = QtWidgets.QStackedWidget()
        self.gridStack.addWidget(self.modelGrid)
        self.gridStack.addWidget(self.gridMessage)

        self.heatmap = HeatmapView(title="attention weights")
        self.heatmap.setObjectName("modelHeatmap")
        self.heatmap.set_show_values(False)
        self.heatmap.set_axis_captions(ATTENTION_CAPTIONS)
        self.heatmap.set_readout(self._readout)
        self.summary = SummaryPanel()
        self.edit = EditPanel()
        self.edit.copyRequested.connect(self.copy_to_workbench)
        self.edit.ablateRequested.connect(lambda: self.add_edit(0.0))
        self.edit.scaleRequested.connect(lambda f: self.add_edit(f))
        self.edit.clearRequested.connect(self.clear_edits)
        self.edit.editRequested.connect(self.edit_selected_head)
        self.headEditor = ModelHeadEditor()
        self.headEditor.weightEdited.connect(self._on_weight_edited)
        self.headEditor.matrixEdited.connect(self._on_matrix_edited)
        self.headEditor.ablateRequested.connect(lambda: self._set_bound_scale(0.0, "Ablate"))
        self.headEditor.scaleRequested.connect(lambda f: self._set_bound_scale(f, f"Scale ×{f:g}"))
        self.headEditor.revertRequested.connect(self._revert_bound)
        self.word = WordPanel()
        self.word.changed.connect(self.refresh)

        # below the grid: the selected head (summary and edits), or the bound head's sliders
        head_page = QtWidgets.QWidget()
        head_row = QtWidgets.QHBoxLayout(head_page)
        head_row.setContentsMargins(0, 0, 0, 0)
        head_row.addWidget(self.summary, 4)
        head_row.addWidget(self.edit, 5)  # its buttons on one line at the default size
        self.lowerTabs = QtWidgets.QTabWidget(objectName="modelLowerTabs")
        self.lowerTabs.setDocumentMode(True)
        self.lowerTabs.addTab(head_page, "Summary and edits")
        self.lowerTabs.addTab(self.headEditor, "Edit W_Q, W_K, W_V")
        self.lowerTabs.setTabToolTip(0, "Where the selected head's weight goes; ablate or scale it")
        self.lowerTabs.setTabToolTip(1, "Change the real projections of one head of the model")
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, objectName="modelLeftSplit")
        left.setChildrenCollapsible(False)
        grid_box = QtWidgets.QWidget()
        grid_col = QtWidgets.QVBoxLayout(grid_box)
        grid_col.setContentsMargins(0, 0, 0, 0)
        grid_col.setSpacing(0)
        grid_col.addWidget(grid_options(bar))
        self.typeLegend = LegendLabel(LEGEND, objectName="headTypeLegend")
        self.typeLegend.setToolTip("What the badges on the heads mean: Help › Glossary, head type")
        font = self.typeLegend.font()
        font.setPointSizeF(max(font.pointSizeF() - 1, 7.0))
        self.typeLegend.setFont(font)
        self.typeLegend.setContentsMargins(6, 0, 4, 0)
        grid_col.addWidget(self.typeLegend)
        grid_col.addWidget(self.gridStack, 1)
        left.addWidget(grid_box)
        left.addWidget(self.lowerTabs)
        left.setStretchFactor(0, 1)
        left.setStretchFactor(1, 1)
        left.setSizes([340, 250])
        self.leftSplit = left
        self.aggregate = AggregatePanel()
        self.aggregate.changed.connect(self._draw_aggregate)
        self.rightTabs = QtWidgets.QTabWidget(objectName="modelRightTabs")
        self.rightTabs.setDocumentMode(True)
        self.rightTabs.addTab(self.heatmap, "Selected head")
        self.rightTabs.addTab(self.aggregate, "Across heads")
        self.compare = ComparePanel()
        self.rightTabs.addTab(self.compare, "Two sentences")
        self.rightTabs.setTabToolTip(2, "Every head on the two texts below, side by side")
        self.rightTabs.setTabToolTip(0, "The selected head's attention, large")
        self.rightTabs.setTabToolTip(1, "Rollout through the layers, or a layer's mean over heads")
        self.rightTabs.currentChanged.connect(self._on_right_tab)
        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, objectName="modelRightSplit")
        right.addWidget(self.rightTabs)
        right.addWidget(self.word)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        self.split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal, objectName="modelSplit")
        self.split.addWidget(left)
        self.split.addWidget(right)
        self.split.setStretchFactor(0, 4)
        self.split.setStretchFactor(1, 3)
        self.split.setSizes([720, 540])
        right.setSizes([340, 230])

        layout = self.layout()
        layout.addWidget(bar)
        layout.addWidget(VerticalScroll(self.split, objectName="modelScroll"), 1)
        self._show_message("Looking for a pretrained encoder…")
