"""Help › Glossary, What's This (Shift+F1) on every control, and presentation mode.

What's This text is built, not typed per widget: a control's own tooltip says what it does,
and the glossary entry of the concept it touches says what that concept means. Widgets made
later (slider pages, new views) get the same help through an event filter, so nothing the
window shows is left without it.
"""

from __future__ import annotations

import html

from PySide6 import QtCore, QtGui, QtWidgets

from explorer.lessons.glossary import GLOSSARY, Term, lookup, search

#: objectName (or the prefix before ``_`` for per-matrix widgets) → (what it is for, term).
#: The first part is used only where a widget has no tooltip of its own.
CONTROL_HELP: dict[str, tuple[str, str]] = {
    "sentenceEdit": ("Type or paste the text to analyse; it is re-tokenised as you type.", "token"),
    "tokenChips": ("The tokens of the text. Hover one to highlight its row and column.", "token"),
    "embeddingSource": ("Where the token vectors X come from.", "embedding"),
    "dModelSpin": ("How many numbers describe each token.", "d_model"),
    "positionalCombo": ("Which positional encoding is combined with X.", "positional encoding"),
    "positionalMode": ("Add positions to X, or place them beside it.", "positional encoding"),
    "headCount": ("How many heads run side by side.", "head"),
    "dHeadSpin": ("Width of each head's queries, keys and values.", "d_head"),
    "presetCombo": ("Start every head's W_Q, W_K, W_V from a preset.", "head"),
    "presetSeed": ("Seed of the random presets.", "head"),
    "temperatureSlider": ("Divide the scores by τ before the softmax.", "temperature"),
    "temperatureReadout": ("The temperature and the scale it gives.", "scale"),
    "causalCheck": ("Each token sees only itself and earlier tokens.", "causal"),
    "sentenceCheck": ("Each sentence attends only within itself.", "mask"),
    "clearBlockedButton": ("Restore every query→key pair you cut.", "mask"),
    "blockedLabel": ("How many query→key pairs you cut with Ctrl+click.", "mask"),
    "showSpecialCheck": ("Show BERT's special tokens.", "[CLS]/[SEP]"),
    "showValuesCheck": ("Print the numbers in heatmap cells that are large enough.", "colour map"),
    "colormapCombo": ("Colours for attention weights (0 to 1).", "colour map"),
    "scoreColormapCombo": ("Colours for signed numbers: scores, similarities.", "colour map"),
    "headSelector": ("The head whose projections you edit and whose attention is shown.", "head"),
    "headGrid": ("Every head's attention weights; click one to select it.", "head"),
    "attentionHeatmap": (
        "Rows are queries (the words being updated), columns are keys (the words looked "
        "at); each row sums to 1. Click a row to pick a query, Ctrl+click a cell to cut it.",
        "attention weight",
    ),
    "pipelineView": ("Every step from scores to the weighted sum, for the selected head.", "score"),
    "similarityView": ("Cosine similarity of the tokens before and after attention.", "cosine"),
    "staticSimilarity": ("Similarity before attention.", "cosine similarity"),
    "contextualSimilarity": ("Similarity after attention.", "contextual vector"),
    "projectionEditor": ("Every weight of the selected head's projections.", "head"),
    "projectionTabs": ("W_Q makes queries, W_K keys, W_V values.", "query"),
    "weightSlider": ("One weight of the projection matrix.", "head"),
    "weightReadout": ("The weight's value.", "head"),
    "rowPage": ("Which block of rows of a large matrix to edit.", "d_model"),
    "colPage": ("Which block of columns of a large matrix to edit.", "d_head"),
    "randomSeed": ("Seed of the Random matrix.", "head"),
    "scaleFactor": ("Factor for Scale.", "head"),
    "insideView": ("How a head turns its weights into new vectors.", "weighted sum"),
    "vectorsView": ("The matrices X, Q, K and V of the selected head.", "query"),
    "weightedSumView": ("One query's output as the weighted sum of values.", "weighted sum"),
    "embeddingMap": ("Value vectors and where attention moves them.", "weighted sum"),
    "qkMap": ("Queries and keys in one plane; near and aligned means a high score.", "score"),
    "headLines": (
        "Lines from queries to keys; stronger lines, larger weights.",
        "attention weight",
    ),
    "modelView": ("Every layer and head of a real pretrained model.", "layer"),
    "modelGrid": ("Attention of every layer × head; click one to enlarge it.", "layer"),
    "modelHeatmap": ("The selected real head's attention.", "attention weight"),
    "modelLayerSpin": ("Layer of the selected real head.", "layer"),
    "modelHeadSpin": ("Head of the selected real head.", "head"),
    "modelCombo": ("Which installed model runs.", "layer"),
    "ablateButton": ("Switch the selected head off.", "ablate"),
    "scaleButton": ("Multiply the selected head's output.", "ablate"),
    "hideSpecialCheck": ("Renormalise rows over the words alone.", "attention sink"),
    "headSummary": ("Statistics of the selected head.", "entropy"),
    "lessonPanel": ("A guided lesson through self-attention.", "attention weight"),
    "decoderView": ("A GPT-style decoder on the text.", "decoder"),
    "decoderCombo": ("Which decoder runs (size and memory in the tooltip).", "decoder"),
    "decoderOpenButton": ("Add a decoder folder from disk.", "decoder"),
    "decoderCancelButton": ("Stop loading the decoder.", "decoder"),
    "decoderGrid": ("Every layer × head of the decoder; click one to enlarge it.", "causal"),
    "decoderHeadView": ("The selected decoder head; click a row to predict after it.", "causal"),
    "decoderAcross": ("Rollout or mean over the decoder's heads.", "rollout"),
    "decoderAcrossHeatmap": ("Rollout or mean over the decoder's heads.", "rollout"),
    "decoderAblate": ("Switch the selected decoder head off.", "ablate"),
    "decoderScale": ("Multiply the selected decoder head's output.", "ablate"),
    "decoderRestore": ("Undo every decoder head edit.", "ablate"),
    "nextTokenBars": ("The likeliest next tokens and their probabilities.", "next token"),
    "logitLensTable": ("Each layer's prediction at each position.", "logit lens"),
    "logitLensNote": ("The logit lens is being computed.", "logit lens"),
    "generateNextButton": ("Append the predicted token to the text.", "generate"),
    "generateCount": ("How many tokens Generate appends.", "generate"),
    "generateManyButton": ("Append that many tokens.", "generate"),
    "generateSample": ("Greedy or sampled generation.", "generate"),
    "generateTemperature": ("Sampling temperature.", "generate"),
    "generateTopK": ("Sampling draws among this many tokens.", "generate"),
    "generateSeed": ("Seed of the random draw.", "generate"),
    "generateStop": ("Stop generating.", "generate"),
}

#: Widget classes a user operates (the ones that must answer What's This).
CONTROL_TYPES: tuple[type, ...] = (
    QtWidgets.QAbstractButton,
    QtWidgets.QAbstractSlider,
    QtWidgets.QComboBox,
    QtWidgets.QAbstractSpinBox,
    QtWidgets.QLineEdit,
    QtWidgets.QPlainTextEdit,
    QtWidgets.QTextEdit,
    QtWidgets.QTabBar,
    QtWidgets.QGraphicsView,
)


def term_html(t: Term) -> str:
    """One glossary entry as rich text."""
    return f"<b>{html.escape(t.term)}</b>: {t.definition}"


def _help_entry(widget: QtWidgets.QWidget) -> tuple[str, str] | None:
    name = widget.objectName()
    if not name:
        return None
    if name in CONTROL_HELP:
        return CONTROL_HELP[name]
    return CONTROL_HELP.get(name.split("_", 1)[0])


def whats_this_text(widget: QtWidgets.QWidget) -> str:
    """Rich text for What's This on ``widget``: what it does and what its concept means.

    Looks at the widget, then up to four ancestors (a spin box's line edit, a plot's
    viewport), and uses the nearest that has help of its own. Empty only for widgets with no
    help anywhere up the chain.
    """
    w: QtWidgets.QWidget | None = widget
    for _ in range(5):
        if w is None:
            break
        own = w.whatsThis()
        if own:
            return own
        entry = _help_entry(w)
        tip = w.toolTip()
        if isinstance(w, QtWidgets.QTabBar) and not tip:
            i = w.currentIndex()
            tip = w.tabToolTip(i) if i >= 0 else ""
        if entry or tip:
            doing = html.escape(tip) if tip else entry[0]
            term = lookup(entry[1]) if entry else None
            if term is None:
                return f"<p>{doing}</p>"
            return f"<p>{doing}</p><p>{term_html(term)}</p><p><i>Help › Glossary</i></p>"
        w = w.parentWidget()
    return ""


def is_control(widget: QtWidgets.QWidget) -> bool:
    """True for widgets a user operates, not the scroll bars and editors inside them."""
    if isinstance(widget, QtWidgets.QScrollBar) or not isinstance(widget, CONTROL_TYPES):
        return False
    parent = widget.parentWidget()
    # the line edit of a spin box or combo box is part of that control
    return not (
        isinstance(widget, QtWidgets.QLineEdit)
        and isinstance(parent, QtWidgets.QAbstractSpinBox | QtWidgets.QComboBox)
    )


class WhatsThisFilter(QtCore.QObject):
    """Answers What's This for every widget of one window, including ones made later.

    Filtering every event of the application in Python would tax each paint and mouse
    move, so the filter watches only its window until What's This mode starts, and watches
    the application only while the mode lasts.
    """

    def __init__(self, window: QtWidgets.QWidget):
        super().__init__(window)
        self._window = window
        self._app_wide = False
        window.installEventFilter(self)

    def _watch_app(self, on: bool) -> None:
        app = QtWidgets.QApplication.instance()
        if app is None or on == self._app_wide:
            return
        (app.installEventFilter if on else app.removeEventFilter)(self)
        self._app_wide = on

    def eventFilter(self, obj, event) -> bool:
        t = event.type()
        if t == QtCore.QEvent.Type.EnterWhatsThisMode:
            self._watch_app(True)
            return False
        if t == QtCore.QEvent.Type.LeaveWhatsThisMode:
            self._watch_app(False)
            return False
        if t not in (QtCore.QEvent.Type.WhatsThis, QtCore.QEvent.Type.QueryWhatsThis):
            return False
        if not isinstance(obj, QtWidgets.QWidget) or obj.window() is not self._window:
            return False
        text = whats_this_text(obj)
        if not text:
            return False
        if t == QtCore.QEvent.Type.QueryWhatsThis:
            event.accept()
            return True
        QtWidgets.QWhatsThis.showText(event.globalPos(), text, obj)
        return True


class GlossaryDialog(QtWidgets.QDialog):
    """Help › Glossary: every term, searchable."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("glossaryDialog")
        self.setWindowTitle("Glossary")
        self.search = QtWidgets.QLineEdit(objectName="glossarySearch")
        self.search.setPlaceholderText("Search the glossary…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Show only the terms that mention this text")
        self.text = QtWidgets.QTextBrowser(objectName="glossaryText")
        self.text.setToolTip("")
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.text, 1)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay.addWidget(buttons)
        self.search.textChanged.connect(self._fill)
        self._fill("")
        self.resize(560, 620)

    def _fill(self, query: str) -> None:
        terms = search(query)
        if not terms:
            self.text.setHtml(f"<p>No term mentions “{html.escape(query)}”.</p>")
            return
        self.text.setHtml("".join(f"<p>{term_html(t)}</p>" for t in terms))

    def show_term(self, word: str) -> None:
        """Open at one term (used by lessons and links)."""
        self.search.setText(word)


class PresentationMode(QtCore.QObject):
    """View › Presentation: fonts 1.5× larger and the controls hidden, for a projector."""

    FACTOR = 1.5

    def __init__(self, window):
        super().__init__(window)
        self._window = window
        self._saved: tuple[QtGui.QFont, list[tuple[QtWidgets.QWidget, bool]]] | None = None

    @property
    def active(self) -> bool:
        return self._saved is not None

    def _controls(self) -> list[QtWidgets.QWidget]:
        w = self._window
        names = ("controlsScroll", "projectionEditor")
        found = [w.findChild(QtWidgets.QWidget, n) for n in names]
        return [c for c in found if c is not None]

    def set_active(self, on: bool) -> None:
        app = QtWidgets.QApplication.instance()
        if on == self.active or app is None:
            return
        if on:
            font = QtGui.QFont(app.font())
            hidden = [(c, c.isVisibleTo(self._window)) for c in self._controls()]
            self._saved = (QtGui.QFont(font), hidden)
            big = QtGui.QFont(font)
            size = font.pointSizeF()
            if size > 0:
                big.setPointSizeF(size * self.FACTOR)
            else:
                big.setPixelSize(round(font.pixelSize() * self.FACTOR))
            app.setFont(big)
            for c, _ in hidden:
                c.hide()
            tabs = getattr(self._window, "rightTabs", None)
            editor = getattr(self._window, "projectionEditor", None)
            if tabs is not None and editor is not None and tabs.currentWidget() is editor:
                tabs.setCurrentIndex(min(1, tabs.count() - 1))
        else:
            font, hidden = self._saved
            self._saved = None
            app.setFont(font)
            for c, was_visible in hidden:
                c.setVisible(was_visible)
        self._window.presentationAction.setChecked(on)


def install_help(window) -> None:
    """Add Help › Glossary and What's This, View › Presentation, and the What's This filter.

    Expects :func:`explorer.ui.menus.build_menus` to have made ``window.helpMenu`` and
    ``window.viewMenu``.
    """
    window.glossaryDialog = None

    def show_glossary(word: str = "") -> GlossaryDialog:
        if window.glossaryDialog is None:
            window.glossaryDialog = GlossaryDialog(window)
        dlg = window.glossaryDialog
        dlg.show_term(word)
        dlg.show()
        dlg.raise_()
        return dlg

    window.show_glossary = show_glossary
    first = window.helpMenu.actions()[0] if window.helpMenu.actions() else None
    glossary = QtGui.QAction("&Glossary…", window, objectName="glossaryAction")
    glossary.setShortcut(QtGui.QKeySequence("F1"))
    glossary.setStatusTip("What every term in the window means")
    glossary.triggered.connect(lambda: show_glossary())
    whats_this = QtWidgets.QWhatsThis.createAction(window)
    whats_this.setObjectName("whatsThisAction")
    whats_this.setShortcut(QtGui.QKeySequence("Shift+F1"))
    window.helpMenu.insertAction(first, glossary)
    window.helpMenu.insertAction(first, whats_this)
    window.helpMenu.insertSeparator(first)

    window.presentation = PresentationMode(window)
    act = QtGui.QAction("&Presentation Mode", window, objectName="presentationAction")
    act.setCheckable(True)
    act.setShortcut(QtGui.QKeySequence("F5"))
    act.setStatusTip(
        "Larger fonts and no controls, for teaching on a projector (F5 again to leave)"
    )
    act.toggled.connect(window.presentation.set_active)
    window.presentationAction = act
    window.viewMenu.addSeparator()
    window.viewMenu.addAction(act)

    window.whatsThisFilter = WhatsThisFilter(window)


def glossary_terms() -> tuple[Term, ...]:
    """Every glossary entry (for tests and the lesson panel)."""
    return GLOSSARY
