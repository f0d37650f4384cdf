"""``insideView``: the "Inside the sum" tabs, which draw only the tab that is on screen.

Tabs, in order: Vectors (``vectorsView``), Weighted sum (``weightedSumView``), Value map
(``embeddingMap``), Q·K map (``qkMap``) and Lines (``headLines``). The two maps are added when
their modules are present. Every view follows one contract::

    querySelected = QtCore.Signal(int)
    def show_result(self, result, head, query, *, dragging=False) -> None

The container keeps the latest (result, head, query) and hands it to the current tab only:
a hidden tab, or the whole container while hidden, draws nothing. A tab that comes forward is
drawn then, unless it already shows that very call.
"""

from __future__ import annotations

import importlib

from PySide6 import QtCore, QtWidgets

from explorer.ui.deferred import DeferredContents
from explorer.ui.views.head_lines import HeadLinesView
from explorer.ui.views.vectors import VectorsView
from explorer.ui.views.weighted_sum import WeightedSumView

#: (object name, module, class, tab title, tooltip) of the views; a missing module leaves its
#: tab out.
TABS = (
    ("vectorsView", "explorer.ui.views.vectors", "VectorsView", "Vectors",
     "X and the selected head's Q, K and V, one labelled row per token"),
    ("weightedSumView", "explorer.ui.views.weighted_sum", "WeightedSumView", "Weighted sum",
     "One token's output y = Σ a·v: the value vectors, scaled by their weights, added up"),
    ("embeddingMap", "explorer.ui.views.embedding_map", "EmbeddingMapView", "Value map",
     "Value vectors in a plane, and where each token's output lands"),
    ("qkMap", "explorer.ui.views.qk_map", "QKMapView", "Q·K map",
     "Queries and keys in one plane: near and aligned means a strong score"),
    ("headLines", "explorer.ui.views.head_lines", "HeadLinesView", "Lines",
     "Token-to-token lines, opacity = attention weight"),
)  # fmt: skip
_BUILT_IN = {"VectorsView": VectorsView, "WeightedSumView": WeightedSumView,
             "HeadLinesView": HeadLinesView}  # fmt: skip


def _view_class(module: str, name: str):
    if name in _BUILT_IN:
        return _BUILT_IN[name]
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None  # that view is not part of this build yet


class InsideView(DeferredContents, QtWidgets.QTabWidget):
    """The "Inside the sum" views as tabs; forwards their query picks.

    The views are made when first needed (see :mod:`explorer.ui.deferred`); until then the
    container keeps the latest Result and colour map for them.
    """

    querySelected = QtCore.Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("insideView")
        self.setDocumentMode(True)
        self._args: tuple | None = None  # (result, head, query, dragging) last given
        self._drawn: dict[str, tuple] = {}  # what each view last drew
        self._colormap: str | None = None  # the last set_colormap, for views built later
        self.defer_contents(self._build_views)

    def _build_views(self) -> None:
        """Make the views (their plots are most of what the window costs at start)."""
        self.views: dict[str, QtWidgets.QWidget] = {}
        for _name, module, cls_name, title, tip in TABS:
            cls = _view_class(module, cls_name)
            if cls is None:
                continue
            view = cls()
            self.views[view.objectName()] = view
            self.addTab(view, title)
            self.setTabToolTip(self.count() - 1, tip)
            view.querySelected.connect(self.querySelected)
        self.currentChanged.connect(self._draw_current)
        if self._colormap is not None:
            self.set_colormap(self._colormap)
        self._draw_current()

    def has_view(self, name: str) -> bool:
        """Whether this build has the view with object name ``name`` (``weightedSumView``,
        …), without making the views."""
        return any(n == name and _view_class(m, c) is not None for n, m, c, _t, _tip in TABS)

    def show_view(self, name: str) -> None:
        """Bring the view with object name ``name`` forward (``weightedSumView``, …)."""
        view = self.views.get(name)
        if view is None:
            raise KeyError(f"no view named {name!r}")
        self.setCurrentWidget(view)

    def show_result(self, result, head: int, query: int, *, dragging: bool = False) -> None:
        """Keep the latest Result; draw it in the current tab when that is on screen."""
        self._args = (result, int(head), int(query), bool(dragging))
        self._draw_current()

    def set_colormap(self, name: str) -> None:
        """The signed-value colour map (the session's score map) for views that have one."""
        self._colormap = name
        if not self.contents_built:
            return  # the views take it when they are made
        for view in self.views.values():
            if hasattr(view, "set_colormap"):
                view.set_colormap(name)

    def clear(self) -> None:
        """No Result (a compute failed): every view forgets what it showed."""
        self._args = None
        self._drawn.clear()
        if not self.contents_built:
            return  # they have shown nothing yet
        for view in self.views.values():
            if hasattr(view, "clear"):
                view.clear()

    def drawn_state(self, name: str) -> tuple | None:
        """What view ``name`` last drew: (result, head, query, dragging), or None."""
        return self._drawn.get(name)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._draw_current()

    def _draw_current(self, *_args) -> None:
        view = self.currentWidget()
        if self._args is None or view is None or not self.isVisible():
            return
        name = view.objectName()
        drawn = self._drawn.get(name)
        if drawn is not None and drawn[0] is self._args[0] and drawn[1:] == self._args[1:]:
            return  # this tab already shows exactly this call
        result, head, query, dragging = self._args
        view.show_result(result, head, query, dragging=dragging)
        self._drawn[name] = self._args


class TokenClickFilter(QtCore.QObject):
    """Calls ``pick(index)`` when a token chip inside ``host`` is clicked.

    Chips are labels that pass clicks on to their parents, and the text bar replaces the
    chips (and the widget holding them) for every text, so one filter on a lasting ancestor
    (the chip scroll area's viewport) serves them all: the chip under the click is found
    with ``childAt`` and read through its ``index`` attribute.
    """

    def __init__(self, host: QtWidgets.QWidget, pick, parent=None):
        super().__init__(parent)
        self._host = host
        self._pick = pick
        host.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if (
            obj is self._host
            and event.type() == QtCore.QEvent.Type.MouseButtonPress
            and event.button() == QtCore.Qt.MouseButton.LeftButton
        ):
            chip = self._host.childAt(event.position().toPoint())
            index = getattr(chip, "index", None)
            if isinstance(index, int):
                self._pick(index)
                return True
        return False
