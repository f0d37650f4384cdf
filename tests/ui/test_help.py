"""Help › Glossary, What's This on every control, example descriptions, presentation mode."""

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from explorer.lessons.glossary import GLOSSARY, lookup, search
from explorer.ui.help import is_control, whats_this_text
from explorer.ui.workbench.examples import DESCRIPTIONS, example_description, example_files

#: Every term the issue asks the glossary to define.
REQUIRED_TERMS = [
    *"token embedding d_model head d_head query key value score scale temperature".split(),
    *"softmax mask causal [CLS]/[SEP] entropy layer ablate".split(),
    "attention sink",
]


@pytest.mark.parametrize("word", REQUIRED_TERMS)
def test_glossary_defines_every_term_the_window_shows(word):
    t = lookup(word)
    assert t is not None, word
    assert len(t.definition) > 40


def test_glossary_lookup_and_search():
    assert lookup("[SEP]").term == "[CLS]/[SEP]"
    assert lookup("τ").term == "temperature"
    assert lookup("no such thing") is None
    assert search("sink")[0].term == "attention sink"
    assert search("") == list(GLOSSARY)
    assert len({t.term for t in GLOSSARY}) == len(GLOSSARY)


def _controls(window):
    return [
        w for w in window.findChildren(QtWidgets.QWidget) if is_control(w) and w.isVisibleTo(window)
    ]


def test_whats_this_answers_on_every_visible_control(make_window):
    w = make_window()
    pages = [
        (tabs, i)
        for tabs in w.findChildren(QtWidgets.QTabWidget)
        if tabs.window() is w
        for i in range(tabs.count())
    ]
    assert len(pages) >= 3
    for tabs, i in pages:  # controls on every tab (workbench, Model tab, inner tabs)
        tabs.setCurrentIndex(i)
        controls = _controls(w)
        assert len(controls) > 10
        missing = [
            f"{type(c).__name__} {c.objectName()!r} under {c.parentWidget().objectName()!r}"
            for c in controls
            if not whats_this_text(c)
        ]
        assert not missing, missing


def test_whats_this_names_the_concept_behind_a_control(make_window):
    w = make_window()
    text = whats_this_text(w.modelPanel.temperatureSlider)
    assert "temperature" in text and "softmax" in text
    slider = w.findChild(QtWidgets.QSlider, "weightSlider_q_0_0")
    assert slider is not None and "head" in whats_this_text(slider)


def test_whats_this_mode_shows_the_text_for_the_clicked_widget(make_window, qtbot):
    w = make_window()
    target = w.modelPanel.causalCheck
    shown = []
    orig = QtWidgets.QWhatsThis.showText
    try:
        QtWidgets.QWhatsThis.showText = staticmethod(
            lambda pos, text, widget=None: shown.append(text)
        )
        QtWidgets.QWhatsThis.enterWhatsThisMode()
        event = QtGui.QHelpEvent(
            QtCore.QEvent.Type.WhatsThis,
            QtCore.QPoint(2, 2),
            target.mapToGlobal(QtCore.QPoint(2, 2)),
        )
        QtWidgets.QApplication.sendEvent(target, event)
    finally:
        QtWidgets.QWhatsThis.showText = orig
        QtWidgets.QWhatsThis.leaveWhatsThisMode()
    assert shown and "causal" in shown[0].lower()
    # outside the mode the filter no longer watches the whole application
    assert not w.whatsThisFilter._app_wide


def test_help_menu_has_glossary_and_whats_this(make_window, qtbot):
    w = make_window()
    names = [a.objectName() for a in w.helpMenu.actions()]
    assert "glossaryAction" in names and "whatsThisAction" in names
    glossary = w.findChild(QtGui.QAction, "glossaryAction")
    assert glossary.shortcut().toString() == "F1"
    glossary.trigger()
    dlg = w.glossaryDialog
    assert dlg.isVisible()
    assert "attention sink" in dlg.text.toPlainText()
    dlg.search.setText("causal")
    text = dlg.text.toPlainText()
    assert "causal" in text and "entropy:" not in text
    dlg.close()


def test_every_example_says_what_it_demonstrates(make_window):
    files = example_files()
    assert files
    for _title, path in files:
        stem = path.name.split(".attn.json")[0]
        assert stem in DESCRIPTIONS, stem
        assert example_description(path) == DESCRIPTIONS[stem]
    w = make_window()
    tips = [a.toolTip() for a in w.examplesMenu.actions()]
    assert any("τ = 4" in t and "per-sentence" in t for t in tips)


def test_presentation_mode_enlarges_fonts_and_hides_controls(make_window, qtbot):
    w = make_window()
    app = QtWidgets.QApplication.instance()
    before = app.font().pointSizeF()
    controls = w.findChild(QtWidgets.QWidget, "controlsScroll")
    assert controls.isVisible()
    w.presentationAction.trigger()
    assert w.presentation.active
    assert app.font().pointSizeF() == pytest.approx(before * 1.5)
    assert not controls.isVisible()
    assert w.rightTabs.currentWidget() is not w.projectionEditor
    qtbot.wait(20)
    w.presentationAction.trigger()
    assert not w.presentation.active
    assert app.font().pointSizeF() == pytest.approx(before)
    assert controls.isVisible()
