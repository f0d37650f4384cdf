"""The explorer window: text, model settings, projection sliders and live attention views.

Data flows one way: an edit makes a new Session (``Document.apply``), the worker computes its
Result, and the views redraw. The window itself never computes attention.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.core import projections
from explorer.core.attention import warm_up
from explorer.core.long_attention import weight_levels
from explorer.core.mechanism import resolve_query
from explorer.core.pipeline import compute, inputs_of
from explorer.core.session import D_MODEL_RANGE, Session, check_weights
from explorer.io.session_file import SessionFileError, load_session
from explorer.ui.decoder.install import install_decoder_view
from explorer.ui.deferred import DeferredBuilds
from explorer.ui.document import Document, SessionUndoKeys
from explorer.ui.export.actions import ExportActions
from explorer.ui.file_actions import FileActions
from explorer.ui.heatmap import ATTENTION_CAPTIONS, HeatmapView
from explorer.ui.lessons.install import install_lessons
from explorer.ui.menus import build_menus, build_status_bar
from explorer.ui.model.view import install_model_view
from explorer.ui.theme import apply_theme, follow_system_theme
from explorer.ui.views.composite import PipelineView, SimilarityView, ThumbnailGrid
from explorer.ui.views.inside import InsideView, TokenClickFilter
from explorer.ui.workbench.controls import ModelPanel
from explorer.ui.workbench.projection_editor import ProjectionEditor
from explorer.ui.workbench.text_bar import TextBar
from explorer.ui.worker import ComputeWorker, after_first_paint

EMPTY_TEXT = (
    "Type a sentence above to see how its words attend to each other.\n"
    "Or pick one from the Examples menu."
)
PREPARING_TEXT = (
    "Preparing the attention core…\nThe first launch compiles it; later ones are quick."
)
#: Work in the background that lasts longer than this shows the busy indicator.
BUSY_DELAY_MS = 300
#: Size of a window with no saved geometry (made smaller to fit a smaller screen).
DEFAULT_SIZE = (1280, 800)
#: A window shorter than this shows one row of token chips instead of two.
SHORT_WINDOW_PX = 640
#: In a window narrower than this, a heatmap pane under 30 % of the width is widened
#: (until the user drags the panes; see MainWindow._fit_panes).
NARROW_WINDOW_PX = 1000
#: A short window (a small screen, or 1280×800 at 150 %) folds the pipeline strip away
#: when the attention heatmap's pane would otherwise get fewer pixels than this.
MIN_TOP_PANE_PX = 240
#: Results that arrive faster than the screen refreshes are drawn at most once per frame of
#: a display this fast (or of the window's screen, if that is faster).
MIN_REFRESH_HZ = 120.0


#: Embedding sources whose width the user picks (2 to 64); a model's layer fixes its own.
OWN_WIDTH = ("builtin", "random", "one-hot")
STRUCTURAL = {"d_model", "positional", "positional_mode", "preset", "preset_seed", "embedding"}


def _check_model_available(s: Session) -> None:
    """Refuse settings that read a pretrained model when the session has none."""
    if s.model is not None:
        return
    for field, value in (
        ("embedding", s.embedding),
        ("positional encoding", s.positional),
        ("preset", s.preset),
    ):
        if value in ("model", "learned"):
            raise ValueError(
                f"The {field} '{value}' comes from a pretrained model. Open the Model tab "
                "(Ctrl+3), pick a head and press “Copy this head into the workbench” first."
            )


def failure_text(exc: BaseException) -> str:
    """One line for the user about a failed compute. ValueErrors carry a message written
    for the user; anything else is a fault of ours, named by its kind only."""
    if isinstance(exc, ValueError):
        return " ".join(str(exc).split()) or "the settings are not valid"
    if isinstance(exc, MemoryError):
        return "there is not enough memory for this text and these settings"
    return f"an unexpected internal error ({type(exc).__name__})"


class MainWindow(QtWidgets.QMainWindow):
    """The Attention Explorer main window."""

    resultShown = QtCore.Signal()
    computeFailed = QtCore.Signal(str)

    def __init__(
        self,
        session: Session | None = None,
        *,
        settings: QtCore.QSettings | None = None,
        path=None,
        autosave_dir=None,
    ):
        super().__init__()
        self.setObjectName("mainWindow")
        self.settings = settings if settings is not None else QtCore.QSettings()
        self.doc = Document(session, parent=self)
        self.result = None
        self._result_session: Session | None = None
        self._shown_generation = 0
        self._hover_token = -1
        self._dragging = False  # a projection slider or matrix cell is held down
        self._preset_cache: dict = {}
        self.frame_ms = 0.0
        self._last_draw_t = -1.0  # perf_counter() of the last draw
        self._pending_draw: tuple | None = None  # (Result, Session) waiting for the next frame
        self._labels_cache: tuple | None = None  # (tokens, their display labels)
        self._frame_timer = QtCore.QTimer(self, singleShot=True)
        self._frame_timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._frame_timer.timeout.connect(self._draw_pending)
        self._fitted = False  # fitted to the screen once (_fit_to_screen)
        self._strip_choice: bool | None = None  # the pipeline strip shown or hidden by the user
        self._strip_pinned = False  # shown for a lesson step or an export: not folded again
        self._told_strip_hidden = False
        self._auto_width = True  # the panes follow the window until the user moves them
        self._pane_timer = QtCore.QTimer(self, singleShot=True, interval=0)
        self._pane_timer.timeout.connect(self._fit_panes)

        self._build_widgets()
        build_menus(self)
        self.files = FileActions(self, autosave_dir)
        self.exports = ExportActions(self)
        build_status_bar(self)
        install_model_view(self)
        install_decoder_view(self)
        workspace = getattr(self, "workspaceTabs", None)
        if workspace is not None:  # back on the workbench: fit its panes to the window
            workspace.currentChanged.connect(lambda *_: self._pane_timer.start())
        # the tabs hidden at start are built after the first paint, or when first needed
        self.deferredTabs = DeferredBuilds(self)
        for view in (self.insideView, self.similarityView, self.modelView, self.decoderView):
            self.deferredTabs.add(view, lambda v=view: self._adopt_tab(v))
        install_lessons(self)
        apply_theme(self)
        follow_system_theme(self)

        self.doc.sessionChanged.connect(self._on_session_changed)
        self.doc.undo_stack.cleanChanged.connect(self._update_title)
        self.doc.pathChanged.connect(self._update_title)
        self.worker = ComputeWorker(compute, warm_up)
        after_first_paint(self, self.worker.prepare)  # NumPy computes until the kernels load
        self.worker.resultReady.connect(self._on_result)
        self.worker.failed.connect(self._on_compute_failed)
        self.worker.readyChanged.connect(self._on_worker_ready)
        self.worker.busyChanged.connect(self._on_worker_busy)
        self._computing_shown = False
        self._busy_timer = QtCore.QTimer(self, singleShot=True, interval=BUSY_DELAY_MS)
        self._busy_timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)  # never early
        self._busy_timer.timeout.connect(self._on_busy_timeout)
        self._update_busy()  # the worker may have got ready before readyChanged was connected

        if path is not None:
            self.doc.set_path(path)
            self.files._remember(path)
        self._show_session(self.doc.session)
        self._update_title()
        self._restore_geometry()
        self.undoKeys = SessionUndoKeys(self.doc.undo_stack, self.textBar.flush, self)
        self.undoKeys.watch(
            self.textBar.sentenceEdit, *self.findChildren(QtWidgets.QAbstractSpinBox)
        )
        self.worker.submit(self.doc.session)

    # ------------------------------------------------------------ building
    def _build_widgets(self) -> None:
        self.textBar = TextBar()
        self.textBar.textEdited.connect(self._on_text_edited)
        self.textBar.tokenHovered.connect(self._on_token_hovered)

        self.modelPanel = ModelPanel()
        self.modelPanel.changed.connect(self._on_panel_changed)
        self.modelPanel.temperatureDragFinished.connect(self.doc.end_merge)

        self.headSelector = QtWidgets.QComboBox(objectName="headSelector")
        self.headSelector.setToolTip(
            "The head whose projections you edit and whose attention is shown"
        )
        self.headSelector.currentIndexChanged.connect(self._on_head_selected)
        self.headGrid = ThumbnailGrid(defer_when_hidden=True)
        self.headGrid.setObjectName("headGrid")
        self.headGrid.setToolTip("Attention weights of every head. Click one to select it")
        self.headGrid.thumbnailClicked.connect(self._select_head)

        self.attentionHeatmap = HeatmapView(title="attention weights A = softmax(QKᵀ·s)")
        self.attentionHeatmap.setObjectName("attentionHeatmap")
        self.attentionHeatmap.setToolTip("")
        self.attentionHeatmap.set_readout(self._attention_readout)
        self.attentionHeatmap.set_axis_captions(ATTENTION_CAPTIONS)
        self.attentionHeatmap.cellHovered.connect(self._on_cell_hovered)
        self.attentionHeatmap.cellClicked.connect(self._on_cell_clicked)
        self.attentionHeatmap.cellToggled.connect(self.toggle_cut)

        self.projectionEditor = ProjectionEditor()
        self.projectionEditor.weightEdited.connect(self._on_weight_edited)
        self.projectionEditor.dragFinished.connect(self.doc.end_merge)
        self.projectionEditor.dragFinished.connect(self._on_drag_finished)
        self.projectionEditor.matrixEdited.connect(self._on_matrix_edited)

        self.pipelineView = PipelineView()
        self.pipelineView.cellHovered.connect(self._on_cell_hovered)
        self.pipelineView.hoverText.connect(self._show_hover_text)
        self.similarityView = SimilarityView(deferred=True)  # a hidden tab at start
        self.similarityView.hoverText.connect(self._show_hover_text)  # cosines, not weights
        self.insideView = InsideView()
        self.insideView.querySelected.connect(self._select_query)
        self.chipClicks = TokenClickFilter(
            self.textBar.chipScroll.viewport(), self._select_query, self
        )

        self.emptyState = QtWidgets.QLabel(PREPARING_TEXT, objectName="emptyState")
        self.emptyState.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.emptyState.setWordWrap(True)
        font = self.emptyState.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.emptyState.setFont(font)
        self.attentionStack = QtWidgets.QStackedWidget()
        self.attentionStack.addWidget(self._heatmap_page())
        self.attentionStack.addWidget(self.emptyState)
        self.attentionStack.setCurrentWidget(self.emptyState)  # until the first Result

        left = QtWidgets.QWidget()
        left_l = QtWidgets.QVBoxLayout(left)
        left_l.setContentsMargins(0, 0, 0, 0)
        left_l.addWidget(self.modelPanel)
        head_row = QtWidgets.QHBoxLayout()
        head_row.addWidget(QtWidgets.QLabel("Selected head"))
        head_row.addWidget(self.headSelector, 1)
        left_l.addLayout(head_row)
        left_l.addStretch(1)
        # the controls scroll rather than hold the window wider or taller than a small screen
        left_scroll = QtWidgets.QScrollArea(objectName="controlsScroll")
        left_scroll.setWidget(left)
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        left_scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        left_scroll.setMinimumWidth(160)
        left_scroll.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # Tab goes to the controls

        self.rightTabs = QtWidgets.QTabWidget(objectName="rightTabs")
        self.rightTabs.addTab(self.projectionEditor, "Projections")
        self.rightTabs.addTab(self.similarityView, "Similarity")
        self.rightTabs.setTabToolTip(0, "Edit W_Q, W_K and W_V of the selected head")
        self.rightTabs.setTabToolTip(1, "Static versus contextual cosine similarity of tokens")
        self.rightTabs.addTab(self.insideView, "Inside the sum")
        self.rightTabs.setTabToolTip(2, "X, Q, K, V, the weighted sum of values, maps and lines")

        self.topSplit = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal, objectName="topSplit")
        self.topSplit.addWidget(left_scroll)
        self.topSplit.addWidget(self.attentionStack)
        # the sliders and buttons of the Projections tab need about 330 px of height: on a
        # short screen the tabs scroll rather than hold the window taller than the screen
        right_scroll = QtWidgets.QScrollArea(objectName="rightScroll")
        right_scroll.setWidget(self.rightTabs)
        right_scroll.setWidgetResizable(True)
        right_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        right_scroll.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.topSplit.addWidget(right_scroll)
        self.topSplit.setStretchFactor(0, 0)
        self.topSplit.setStretchFactor(1, 3)
        self.topSplit.setStretchFactor(2, 3)
        left_w = max(290, left.minimumSizeHint().width() + 4)  # no scroll bar at first
        self.topSplit.setSizes([left_w, 710 - left_w, 570])
        self.topSplit.splitterMoved.connect(self._on_top_split_moved)

        self.mainSplit = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, objectName="mainSplit")
        self.bottomSplit = QtWidgets.QSplitter(
            QtCore.Qt.Orientation.Horizontal, objectName="bottomSplit"
        )
        self.bottomSplit.addWidget(self.headGrid)
        self.bottomSplit.addWidget(self.pipelineView)
        self.bottomSplit.setStretchFactor(0, 0)
        self.bottomSplit.setStretchFactor(1, 1)
        self.bottomSplit.setSizes([290, 990])
        self.mainSplit.addWidget(self.topSplit)
        self.mainSplit.addWidget(self.bottomSplit)
        self.mainSplit.setStretchFactor(0, 3)
        self.mainSplit.setStretchFactor(1, 1)
        self.mainSplit.setSizes([480, 250])

        central = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(central)
        lay.setContentsMargins(6, 6, 6, 2)
        lay.addWidget(self.textBar)
        lay.addWidget(self.mainSplit, 1)
        self.setCentralWidget(central)

    def _heatmap_page(self) -> QtWidgets.QWidget:
        """The heatmap with one-click ways into the "Inside the sum" tabs above it."""
        page = QtWidgets.QWidget()
        box = QtWidgets.QVBoxLayout(page)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        for name, text, view, tip in (
            ("sumButton", "Σ weighted sum", "weightedSumView",
             "Show how the selected query's output is summed from the value vectors"),
            ("mapButton", "map", "embeddingMap",
             "Show the value vectors and the outputs as points in a plane"),
        ):  # fmt: skip
            button = QtWidgets.QToolButton(objectName=name, text=text)
            button.setToolTip(tip + ". Click a heatmap row to pick the query.")
            button.setEnabled(self.insideView.has_view(view))
            button.clicked.connect(lambda _=False, v=view: self.show_inside(v))
            row.addWidget(button)
        box.addLayout(row)
        box.addWidget(self.attentionHeatmap, 1)
        return page

    def _adopt_tab(self, view: QtWidgets.QWidget) -> None:
        """A tab whose contents were built after the window (see ``deferredTabs``): in the
        window's theme, its spin boxes undo the Session, and the Model tab fits the screen."""
        apply_theme(view)
        keys = getattr(self, "undoKeys", None)  # else watched with the others at its making
        if keys is not None:
            keys.watch(*view.findChildren(QtWidgets.QAbstractSpinBox))
        if view is getattr(self, "modelView", None) and self._fitted:
            self._fit_model_tab()

    def show_inside(self, name: str) -> None:
        """Bring the "Inside the sum" view ``name`` (an object name) forward."""
        self.insideView.show_view(name)
        self.rightTabs.setCurrentWidget(self.insideView)

    # ----------------------------------------------------------- settings
    def _restore_geometry(self) -> None:
        geo = self.settings.value("window/geometry")
        if geo is None or not self.restoreGeometry(geo):
            QtWidgets.QMainWindow.resize(self, *DEFAULT_SIZE)
        # a geometry saved on a larger screen, or the default size on a small or scaled one
        # (1280×800 at QT_SCALE_FACTOR=1.5 is 853×533), must not reach past the screen
        self._sized_by_caller = False
        self._fit_to_screen()
        self._splitters_restored = False  # done at the first show, at the real size

    def _fit_to_screen(self) -> None:
        """Keep the window, frame included, inside the screen's available area."""
        screen = self.screen() or QtGui.QGuiApplication.primaryScreen()
        if screen is None:
            return
        avail = screen.availableGeometry()
        frame, inner = self.frameGeometry(), self.geometry()
        extra_w, extra_h = frame.width() - inner.width(), frame.height() - inner.height()
        max_w, max_h = avail.width() - extra_w, avail.height() - extra_h
        self._fitted = True
        self._fit_model_tab(max_w, max_h)
        w, h = min(self.width(), max_w), min(self.height(), max_h)
        QtWidgets.QMainWindow.resize(self, w, h)
        w, h = self.width() + extra_w, self.height() + extra_h  # the minimum size may win
        x = min(max(frame.x(), avail.x()), avail.x() + max(0, avail.width() - w))
        y = min(max(frame.y(), avail.y()), avail.y() + max(0, avail.height() - h))
        self.move(x, y)

    def _fit_model_tab(self, max_w: int | None = None, max_h: int | None = None) -> None:
        """The Model tab's controls ask for more room than a small screen has: that tab
        gives way (by no more than the excess), not the window. ``max_w`` and ``max_h``:
        the room for the window without its frame (by default, what the screen has)."""
        model = getattr(self, "modelView", None)
        if model is None or not model.contents_built:
            return  # done again once it is built (_adopt_tab)
        size = None
        if max_w is None or max_h is None:  # the tab's contents were built just now
            screen = self.screen() or QtGui.QGuiApplication.primaryScreen()
            if screen is None:
                return
            avail = screen.availableGeometry()
            frame, inner = self.frameGeometry(), self.geometry()
            max_w = avail.width() - (frame.width() - inner.width())
            max_h = avail.height() - (frame.height() - inner.height())
            size = self.size()
            self._settle_layouts(model)  # the window's minimum with the tab's contents
        need, hint = self.minimumSizeHint(), model.minimumSizeHint()
        now_w, now_h = (
            model.minimumWidth() or hint.width(),
            model.minimumHeight() or hint.height(),
        )
        if need.width() > max_w:
            model.setMinimumWidth(max(200, now_w - (need.width() - max_w)))
        if need.height() > max_h:
            model.setMinimumHeight(max(150, now_h - (need.height() - max_h)))
        self._settle_layouts(model if size is not None else None)
        if size is not None and self.size() != size:
            # the window grew to the tab's minimum before the tab gave way: back, as far
            # as the minimum now allows, and inside the screen as at the start
            QtWidgets.QMainWindow.resize(self, size)
            self._fit_to_screen()

    def _settle_layouts(self, hidden: QtWidgets.QWidget | None = None) -> None:
        """Let a new minimum size climb up the widget tree (through posted layout requests);
        ``hidden``: a hidden widget whose minimum changed (it tells its parent nothing)."""
        while hidden is not None and hidden is not self:
            hidden.updateGeometry()
            hidden = hidden.parentWidget()
        for _ in range(8):
            QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.LayoutRequest)
            self.layout().activate()

    def resize(self, *size) -> None:
        """Resize, and keep that size at the first show (a size chosen by code or a test is
        not fitted to the screen again)."""
        self._sized_by_caller = True
        super().resize(*size)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._splitters_restored:
            self._splitters_restored = True
            if not self._sized_by_caller:  # again once the frame's size is known
                QtCore.QTimer.singleShot(0, self, self._fit_to_screen)
            # restoring before the window has its size would let the splitters rescale the
            # panes when it gets one, and they would come back changed at every start
            self.centralWidget().layout().activate()
            for split in (self.topSplit, self.mainSplit, self.bottomSplit):
                state = self.settings.value(f"window/{split.objectName()}")
                if state is not None:
                    split.restoreState(state)
            # panes follow the window's size until the user sets them (see _fit_panes)
            self._auto_width = self.settings.value("window/panesByUser") not in (True, "true")
            shown = self.settings.value("window/pipelineStrip")
            if shown is not None:
                self.set_strip_visible(shown in (True, "true"), by_user=True)
            self._pane_timer.start()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.textBar.set_compact(self.height() < SHORT_WINDOW_PX)
        if getattr(self, "_splitters_restored", False):
            self._pane_timer.start()  # once the layout has the new size

    def set_strip_visible(self, visible: bool, *, by_user: bool = True) -> None:
        """Show or hide the strip under the heatmap (head thumbnails and pipeline stages).
        Hidden, its views draw nothing until shown again. A choice ``by_user`` is kept for
        the next start, and the strip no longer follows the window's height."""
        if by_user:
            self._strip_choice = visible
        self.bottomSplit.setVisible(visible)
        action = getattr(self, "stripAction", None)
        if action is not None and action.isChecked() != visible:
            action.blockSignals(True)
            action.setChecked(visible)
            action.blockSignals(False)

    def reveal_strip(self, view: QtWidgets.QWidget) -> bool:
        """Show the pipeline strip if ``view`` (of a lesson step or an export) is folded
        away in it; a short window then leaves it shown (until the user hides it). True if
        it was shown now."""
        if not (self.bottomSplit.isHidden() and self.bottomSplit.isAncestorOf(view)):
            return False
        self._strip_pinned = True
        self.set_strip_visible(True, by_user=False)
        return True

    def _on_top_split_moved(self, *_args) -> None:
        self._auto_width = False  # the user set the panes' widths (kept for the next start)

    def _fit_panes(self) -> None:
        """Give the attention heatmap room in a small window (a small screen, or 1280×800
        at 150 %), as long as the user has not set the panes themselves.

        * Narrow, with the heatmap's pane under 30 % of the width (the default layout, or
          one saved on a larger screen): that pane gets 40 %, the controls up to their
          natural width (at most 36 %), the tabs the rest.
        * Short: the pipeline strip is hidden (once, with a word in the status bar), and
          shown again when the window has room for it. A matrix squeezed to a few pixels
          a cell teaches nothing.
        """
        if not self.mainSplit.isVisible():
            return  # another workspace tab is in front: its size is not the workbench's
        self.centralWidget().layout().activate()
        sizes = self.topSplit.sizes()
        total = sum(sizes)
        narrow = total < NARROW_WINDOW_PX and len(sizes) == 3
        if self._auto_width and narrow and sizes[1] < 0.3 * total:
            center = round(total * 0.4)
            left = max(min(sizes[0], round(total * 0.36)), 200)  # the controls, then the tabs
            wanted = [left, center, max(total - left - center, 0)]
            if any(abs(a - b) > 2 for a, b in zip(sizes, wanted, strict=True)):
                self.topSplit.setSizes(wanted)
        if self._strip_choice is not None or self._strip_pinned:
            return
        room = self.mainSplit.height() - self.mainSplit.handleWidth()
        fits = room - self.bottomSplit.minimumSizeHint().height() >= MIN_TOP_PANE_PX
        if fits == self.bottomSplit.isHidden():
            self.set_strip_visible(fits, by_user=False)
            if not fits and not self._told_strip_hidden:
                self._told_strip_hidden = True
                self.statusBar().showMessage(
                    "Pipeline strip hidden to fit: Ctrl+Shift+B shows it", 15_000
                )

    def _save_geometry(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        for split in (self.topSplit, self.mainSplit, self.bottomSplit):
            if split is self.mainSplit and self.bottomSplit.isHidden():
                continue  # its state would keep the strip at 0 px once shown again
            self.settings.setValue(f"window/{split.objectName()}", split.saveState())
        if self._strip_choice is not None:  # folded for a short window: decided again
            self.settings.setValue("window/pipelineStrip", self._strip_choice)
        self.settings.setValue("window/panesByUser", not self._auto_width)

    # ------------------------------------------------------------- editing
    def apply(self, new: Session, text: str, merge_key: str | None = None) -> None:
        """Apply an edit as one undo step; refuse (with a message) what cannot be computed."""
        self.doc.apply(new, text, merge_key)

    def _on_text_edited(self, text: str) -> None:
        self.apply(replace(self.doc.session, text=text, selected_query=None), "Edit text", "text")

    def _on_panel_changed(self, changes: dict, label: str) -> None:
        s = self.doc.session
        try:
            view = {k[5:]: v for k, v in changes.items() if k.startswith("view.")}
            fields = {
                k: v
                for k, v in changes.items()
                if not k.startswith("view.") and k not in ("n_head", "d_head")
            }
            new = replace(s, **fields)
            lo, hi = D_MODEL_RANGE
            if "embedding" in fields and new.embedding in OWN_WIDTH:
                # a model's width (e.g. 385) does not fit these sources: take the nearest
                new = replace(new, d_model=min(max(new.d_model, lo), hi))
            if view:
                new = replace(new, view=replace(new.view, **view))
            if "n_head" in changes or "d_head" in changes:
                new = projections.conform(
                    new, n_head=changes.get("n_head"), d_head=changes.get("d_head")
                )
            elif "preset" in fields or "preset_seed" in fields:
                new = replace(new, heads=projections.session_preset_heads(new))
            elif STRUCTURAL & fields.keys():
                new = projections.conform(new)
            _check_model_available(new)
        except ValueError as exc:
            self._show_session(s)
            self.error("That setting cannot be used", str(exc))
            return
        key = "temperature" if "temperature" in changes else None
        self.apply(new, label, key)

    def _on_weight_edited(self, which: str, row: int, col: int, value: float) -> None:
        s = self.doc.session
        h = s.selected_head
        buttons = QtWidgets.QApplication.mouseButtons()
        self._dragging = bool(buttons & QtCore.Qt.MouseButton.LeftButton)
        new = s.with_head(h, s.heads[h].with_weight(which, row, col, value))
        self.apply(
            new, f"W_{which.upper()}[{row}, {col}] of head {h}", f"w_{which}_{h}_{row}_{col}"
        )

    def _on_matrix_edited(self, which: str, matrix, label: str) -> None:
        s = self.doc.session
        h = s.selected_head
        try:  # NaN, infinity, or weights too large to compute with (Scale pressed often)
            check_weights(np.asarray(matrix, dtype=np.float64), f"The new W_{which.upper()}")
            head = s.heads[h].with_matrix(which, matrix)
        except ValueError as exc:
            self.error("Invalid matrix", f"{exc}; W_{which.upper()} was not changed.")
            return
        self.apply(s.with_head(h, head), f"{label} of head {h}")

    def _on_head_selected(self, index: int) -> None:
        if index >= 0:
            self._select_head(index)

    def _select_head(self, index: int) -> None:
        s = self.doc.session
        if 0 <= index < s.n_head and index != s.selected_head:
            self.apply(replace(s, selected_head=index), f"Select head {index}", "select")

    def _on_cell_clicked(self, row: int, col: int) -> None:
        s = self.doc.session
        q = None if s.selected_query == row else row
        self.apply(replace(s, selected_query=q), "Select query", "select")

    def _select_query(self, row: int) -> None:
        s = self.doc.session
        if row != s.selected_query:
            self.apply(replace(s, selected_query=row), "Select query", "select")

    def _on_drag_finished(self) -> None:
        self._dragging = False
        self._draw_pending()  # the drag's last Result, without waiting for the frame
        r, s = self.result, self._result_session
        if r is not None and s is not None and r.T:  # maps refit once the drag ends
            h = min(s.selected_head, r.weights.shape[0] - 1)
            self.insideView.show_result(r, h, resolve_query(r, s.selected_query))

    def toggle_cut(self, row: int, col: int) -> None:
        """Cut the pair query ``row`` → key ``col`` out of attention, or restore it."""
        s = self.doc.session
        pair = (int(row), int(col))
        cut = pair not in s.blocked
        blocked = (*s.blocked, pair) if cut else tuple(p for p in s.blocked if p != pair)
        labels = self.result.display_labels if self.result is not None else []
        names = f"{labels[row]}→{labels[col]}" if max(pair) < len(labels) else f"{row}→{col}"
        self.apply(replace(s, blocked=blocked), f"{'Cut' if cut else 'Restore'} {names}")

    def open_example(self, path) -> None:
        """Open a shipped example as a new, untitled session."""
        if not self.confirm_discard():
            return
        try:
            session = load_session(path)
        except SessionFileError as exc:
            self.error("Cannot open example", str(exc))
            return
        self.doc.replace(session, None)

    def confirm_discard(self) -> bool:
        """Ask Save / Discard / Cancel when there are unsaved changes; True = go on."""
        return self.files.confirm_discard()

    def dragEnterEvent(self, event) -> None:
        if self.files.session_urls(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = self.files.session_urls(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.files.open_path(paths[0])

    # -------------------------------------------------------------- showing
    def _on_session_changed(self, new: Session, old: Session) -> None:
        if replace(new, model_edits=(), decoder=None) == replace(old, model_edits=(), decoder=None):
            return  # only the Model or Decoder tab's settings changed: the workbench shows none
        # a weight edit (a slider tick) changes no control but the projection editor's
        self._show_session(new, heads_only=self._only_weights_differ(new, old))
        if self._needs_compute(new, old):
            self.worker.submit(new)
        elif self._pending_draw is not None:
            pass  # the Result waiting for the next frame is drawn with this Session then
        elif self.result is not None:
            self._draw(self.result, new)  # restyle and reselect; nothing recomputed

    @staticmethod
    def _only_weights_differ(new: Session, old: Session) -> bool:
        """True if ``new`` differs from ``old`` in the heads' weights only: as many heads,
        of the same shapes (the head count and widths the controls show)."""
        if new.n_head != old.n_head:
            return False
        for a, b in zip(new.heads, old.heads, strict=True):
            if a is not b and (a.w_q.shape, a.w_v.shape) != (b.w_q.shape, b.w_v.shape):
                return False
        return replace(new, heads=old.heads) == old

    @staticmethod
    def _needs_compute(new: Session, old: Session) -> bool:
        """View options and the selected query/head change nothing the core computes."""
        return inputs_of(new) != inputs_of(old)

    def _show_session(self, s: Session, heads_only: bool = False) -> None:
        """Update the controls to ``s`` without triggering edits; ``heads_only`` says that
        only the heads' matrices differ from the Session shown (the other controls show
        ``s`` already, and setting them again would repaint them)."""
        if not heads_only:
            self.textBar.set_text(s.text)
            self.modelPanel.set_session(s)
            self.headSelector.blockSignals(True)
            if self.headSelector.count() != s.n_head:
                self.headSelector.clear()
                self.headSelector.addItems([f"head {i}" for i in range(s.n_head)])
            self.headSelector.setCurrentIndex(s.selected_head)
            self.headSelector.blockSignals(False)
        self.projectionEditor.set_head(s.head, self._preset_head(s))
        self.headGrid.select(s.selected_head)

    def _preset_head(self, s: Session):
        """The selected head's preset (what Reset returns to), cached: presets are pure."""
        key = (
            s.preset, s.n_head, projections.session_input_width(s), s.d_head,
            s.preset_seed, s.preset_scale, s.model, s.selected_head,
        )  # fmt: skip
        if key not in self._preset_cache:
            try:
                head = projections.session_preset_heads(s)[s.selected_head]
            except ValueError:
                return s.head  # a model preset without its model: reset to what is there
            self._preset_cache.clear()  # one entry: the sliders only need the current one
            self._preset_cache[key] = head
        return self._preset_cache[key]

    def _on_result(self, generation: int, session: Session, result) -> None:
        if generation < self._shown_generation:
            return  # a newer result is already on screen
        self._shown_generation = generation
        self._pending_draw = (result, session)
        # during a drag (a slider or a matrix cell held), at most one draw per frame: a
        # Result that comes sooner waits for the frame's end, and a newer one replaces it
        wait_ms = self._frame_ms() - (time.perf_counter() - self._last_draw_t) * 1e3
        held = QtWidgets.QApplication.mouseButtons() & QtCore.Qt.MouseButton.LeftButton
        if wait_ms >= 1.0 and bool(held):
            if not self._frame_timer.isActive():
                self._frame_timer.start(math.ceil(wait_ms))
            return
        self._draw_pending()

    def _frame_ms(self) -> float:
        screen = self.screen()
        hz = screen.refreshRate() if screen is not None else 0.0
        return 1e3 / max(hz, MIN_REFRESH_HZ)

    def _draw_pending(self) -> None:
        if self._pending_draw is None:
            return
        result, session = self._pending_draw
        self._pending_draw = None
        self._frame_timer.stop()
        doc = self.doc.session  # the Result is that of the document's Session too
        self._draw(result, doc if inputs_of(doc) == inputs_of(session) else session)

    def _changed_heads(self, result, s: Session) -> set[int] | None:
        """Heads whose numbers may differ from those drawn last; None for all of them.

        As :func:`~explorer.core.pipeline.edited_heads` decides it, but a head that is the
        very object drawn last is unchanged without comparing its matrices (a tick edits
        one head; the Session shares the others).
        """
        prev, prev_s = self.result, self._result_session
        if prev is None or prev_s is None:
            return None
        if result is prev:
            return set()
        if s.model is not None or prev_s.model is not None or s.n_head != prev_s.n_head:
            return None  # a model's inputs may have changed in between
        if replace(inputs_of(s), heads=prev_s.heads) != inputs_of(prev_s):
            return None
        pairs = zip(s.heads, prev_s.heads, strict=True)
        heads = {h for h, (new, old) in enumerate(pairs) if new is not old}
        # no edited head but another Result (the kernels took over): redraw every head
        return heads or None

    def _display_labels(self, result) -> list[str]:
        """``result.display_labels``, kept while the tokens stay the same object (a Result
        recomputed for a weight edit shares its tokens)."""
        cached = self._labels_cache
        if cached is None or cached[0] is not result.tokens:
            cached = self._labels_cache = (result.tokens, result.display_labels)
        return cached[1]

    def _draw(self, result, s: Session) -> None:
        t0 = time.perf_counter()
        changed = self._changed_heads(result, s)
        self.result = result
        self._result_session = s
        self._show_hover_text("")  # a hover message from the last Result is stale now
        tokens = self._display_labels(result)  # bank₁, bank₂: repeated words get subscripts
        T = len(tokens)
        self.textBar.set_tokens(result.tokens, result.notice)
        if not T:
            self.emptyState.setText(EMPTY_TEXT)  # not a failure message from before
        self.attentionStack.setCurrentIndex(0 if T else 1)
        h = min(s.selected_head, result.weights.shape[0] - 1) if T else 0
        cm, scm = s.view.colormap, s.view.score_colormap
        for view in (self.attentionHeatmap,):
            view.set_colormap(cm)
            view.set_show_values(s.view.show_values)
        self.headGrid.set_colormap(cm)
        self.pipelineView.set_colormaps(cm, scm)
        self.similarityView.set_colormap(scm)
        self.insideView.set_colormap(scm)  # vectors and weighted sum are signed
        if T:
            self.attentionHeatmap.set_title(
                f"head {h}: attention weights A = softmax(QKᵀ·s), s = {result.scale:.3f}"
            )
            weights = result.weights[h]
            self.attentionHeatmap.set_matrix(weights, tokens, levels=weight_levels(weights))
            self.attentionHeatmap.select_row(s.selected_query)
            self.headGrid.set_matrices(
                result.weights,
                [f"head {i}" for i in range(result.weights.shape[0])],
                changed=None if changed is None else sorted(changed),
            )
            self.headGrid.select(h)
            self.pipelineView.show_head(result, h, tokens, changed=changed is None or h in changed)
            self.similarityView.show_result(result, tokens, h, s.selected_query)
            self._apply_hover()
        else:
            self._clear_views()
        q = resolve_query(result, s.selected_query)
        self.insideView.show_result(result, h, q, dragging=self._dragging)
        self._update_status(result, s, T)
        self._last_draw_t = time.perf_counter()
        self.frame_ms = (self._last_draw_t - t0) * 1e3
        self._update_timing()
        self.resultShown.emit()

    def _update_status(self, result, s: Session, T: int) -> None:
        self.statusTokens.setText(f"{T} tokens" + (" (capped)" if result.truncated else ""))
        d_in = result.x.shape[1] if result.x.ndim == 2 else s.d_model
        self.statusShapes.setText(f"X {T}×{d_in} · Q,K,V {s.n_head}×{T}×{s.d_head}")

    def _update_timing(self) -> None:
        core = self.result.timings.get("total", self.worker.last_compute_ms) if self.result else 0
        self.statusTiming.setText(f"core {core:.2f} ms · frame {self.frame_ms:.1f} ms")

    def _attention_readout(self, i: int, j: int) -> str:
        r = self.result
        if r is None or self._result_session is None:
            return ""
        h = min(self._result_session.selected_head, r.weights.shape[0] - 1)
        labels = self._display_labels(r)
        q, k = labels[i], labels[j]
        allowed = bool(r.allowed[i, j])
        scaled = f"{float(r.scaled[h, i, j]):+.3f}" if allowed else "masked (−∞)"
        return (
            f"query {i} '{q}' → key {j} '{k}'\n"
            f"score q·k = {float(r.scores[h, i, j]):+.3f}\n"
            f"scaled = {scaled}\n"
            f"weight = {float(r.weights[h, i, j]):.3f}"
        )

    def _on_cell_hovered(self, i: int, j: int) -> None:
        if i >= 0 and self.result is not None:
            self._show_hover_text(self._attention_readout(i, j).replace("\n", "   "))
        else:
            self._show_hover_text("")

    _hover_text = ""  # the status message the pointer put there last

    def _show_hover_text(self, text: str) -> None:
        """Say what is under the pointer; ``""`` clears it (and only a message it put there)."""
        bar = self.statusBar()
        if text:
            self._hover_text = text
            bar.showMessage(text)
        elif self._hover_text:
            if bar.currentMessage() == self._hover_text:
                bar.clearMessage()
            self._hover_text = ""

    def _on_token_hovered(self, index: int) -> None:
        self._hover_token = index
        self._apply_hover()

    def _apply_hover(self) -> None:
        i = self._hover_token
        self.attentionHeatmap.highlight(i, i)
        self.pipelineView.highlight(i, i)
        self.similarityView.highlight(i, i)

    @QtCore.Slot(bool)
    def _on_worker_ready(self, ready: bool) -> None:
        self._update_busy()
        self.worker.submit(self.doc.session)  # the kernels take over: the same numbers
        # the first Result may still be on its way: "type a sentence" only when there is none
        if self.result is not None and not self.result.T:
            self.emptyState.setText(EMPTY_TEXT)

    @QtCore.Slot(bool)
    def _on_worker_busy(self, _busy: bool) -> None:
        # ask the worker, not the signal: a queued "idle" may arrive after a new request
        if self.worker.busy:
            if not self._computing_shown and not self._busy_timer.isActive():
                self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self._computing_shown = False
            self._update_busy()

    def _on_busy_timeout(self) -> None:
        self._computing_shown = self.worker.busy
        self._update_busy()

    def _update_busy(self) -> None:
        """The status bar's indicator: while the core is prepared, and while a compute has
        run longer than :data:`BUSY_DELAY_MS`."""
        preparing = not self.worker.ready
        shown = preparing or self._computing_shown
        self.busyLabel.setText("Preparing the attention core…" if preparing else "Computing…")
        self.busy.setVisible(shown)
        self.busyLabel.setVisible(shown)

    def _on_compute_failed(self, generation: int, exc) -> None:
        """No Result for the current Session: say why where the heatmap was, show no stale
        numbers, and keep the message until a compute succeeds."""
        if generation < self._shown_generation:
            return  # a newer result is already on screen
        self._shown_generation = generation
        self._pending_draw = None  # an older Result waiting for its frame is stale now
        self._frame_timer.stop()
        self.result = None
        self._result_session = None
        self.textBar.set_tokens((), "")
        self._clear_views()
        why = failure_text(exc)
        self.emptyState.setText(
            f"Attention cannot be computed for these settings:\n{why}\n\n"
            "Change the setting, or undo it with Ctrl+Z."
        )
        self.attentionStack.setCurrentWidget(self.emptyState)
        self.statusTokens.setText("no result")
        self.statusShapes.setText("")
        self.statusBar().showMessage(f"Could not compute attention: {why}", 10000)
        self.computeFailed.emit(why)

    def _clear_views(self) -> None:
        self.headGrid.set_matrices(np.zeros((0, 0, 0)), [])
        self.pipelineView.clear()
        self.similarityView.clear()
        self.insideView.clear()

    def _update_title(self, *_args) -> None:
        name = self.doc.path.name if self.doc.path is not None else "Untitled"
        self.setWindowTitle(f"{name}[*] — Attention Explorer")
        self.setWindowModified(self.doc.modified)

    # -------------------------------------------------------------- dialogs
    def error(self, title: str, message: str) -> None:
        """Show an error without blocking tests (a modal box on screen)."""
        self.last_error = (title, message)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, title, message, parent=self)
        box.setObjectName("errorDialog")
        box.open()

    def closeEvent(self, event) -> None:
        if self.doc.modified and not self.confirm_discard():
            event.ignore()
            return
        self._save_geometry()
        self.files.discard_autosave()
        self.worker.shutdown()
        if self.undoView is not None:
            self.undoView.close()
        event.accept()
