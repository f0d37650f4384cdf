"""Widgets whose contents are made after the window's first paint, or when first needed.

The tabs that are not on screen at start (the Model and Decoder tabs, Similarity, "Inside the
sum") hold about half of the window's pyqtgraph plots, and building those plots is most of
what the window costs before its first paint. Such a tab is a :class:`DeferredContents` widget: the
widget itself, its object name, signals, state and workers exist from the start, so every
reference to it holds; its children (the plots, controls and layout) are made by a build
function, at the earliest of

* the widget being shown (its tab brought forward, by the user or by code);
* an attribute that only the build makes being read (``view.modelGrid``, ``view.views``):
  a missing attribute builds the contents and is looked up again, so code that reaches into
  the tab never sees it unbuilt;
* :class:`DeferredBuilds`, which builds the window's deferred widgets after its first
  paint, one per event-loop turn, so that the window stays responsive meanwhile;
* :meth:`DeferredBuilds.build_all`, before a search of the window's children by name.

A view keeps what arrives while it is unbuilt (a Result, a colour map) and draws it once
built, as it does for what arrives while it is hidden.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtWidgets

from explorer.ui.worker import after_first_paint


class DeferredContents:
    """Mixin for a QWidget whose contents are built later; list it before the Qt class.

    The widget calls :meth:`defer_contents` in its ``__init__`` with the function that makes
    its children (instead of calling it).
    """

    def defer_contents(self, build: Callable[[], None]) -> None:
        """Build the contents with ``build()`` when first needed (see the module)."""
        self.__dict__["_deferred_build"] = build
        self.__dict__["_when_built"] = []

    @property
    def contents_built(self) -> bool:
        """Whether the contents have been built (or were never deferred)."""
        return "_deferred_build" not in self.__dict__

    def when_built(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the contents are built (now, if they are)."""
        if self.contents_built:
            callback()
        else:
            self.__dict__["_when_built"].append(callback)

    def ensure_built(self) -> bool:
        """Build the contents if they are not yet; True if they were built now."""
        build = self.__dict__.pop("_deferred_build", None)
        if build is None:
            return False
        build()
        for callback in self.__dict__.pop("_when_built", ()):
            callback()
        return True

    def setVisible(self, visible: bool) -> None:
        if visible:
            self.ensure_built()  # before showing: the new children are shown with the widget
        super().setVisible(visible)

    def showEvent(self, event) -> None:
        # shown with an ancestor, not through setVisible: children made now are still hidden
        if self.ensure_built():
            for child in self.findChildren(
                QtWidgets.QWidget, options=QtCore.Qt.FindChildOption.FindDirectChildrenOnly
            ):
                if not child.isWindow() and not child.testAttribute(
                    QtCore.Qt.WidgetAttribute.WA_WState_ExplicitShowHide
                ):
                    child.show()
        super().showEvent(event)

    def __getattr__(self, name: str):
        # only called for attributes not found: those the build makes, before it ran
        if not name.startswith("__") and "_deferred_build" in self.__dict__:
            self.ensure_built()
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class DeferredBuilds(QtCore.QObject):
    """The deferred widgets of ``window``, built one per event-loop turn after its first
    paint (see :func:`~explorer.ui.worker.after_first_paint`)."""

    def __init__(self, window: QtWidgets.QWidget):
        super().__init__(window)
        self._widgets: list[DeferredContents] = []
        after_first_paint(window, self._build_next)

    def add(self, widget: DeferredContents, on_built: Callable[[], None] | None = None) -> None:
        """Build ``widget`` after the first paint (unless it is needed sooner), then call
        ``on_built``."""
        self._widgets.append(widget)
        if on_built is not None:
            widget.when_built(on_built)

    @property
    def pending(self) -> list[DeferredContents]:
        """The widgets not built yet, in the order they will be."""
        return [w for w in self._widgets if not w.contents_built]

    def build_all(self) -> None:
        """Build every widget not built yet, now."""
        for widget in self.pending:
            widget.ensure_built()

    def _build_next(self) -> None:
        pending = self.pending
        if pending:
            pending[0].ensure_built()
        if len(pending) > 1:
            QtCore.QTimer.singleShot(0, self, self._build_next)
