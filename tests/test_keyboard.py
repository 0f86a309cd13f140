"""Keyboard and small screens: every action has a key or a menu mnemonic, every tab is one key
away, every control takes the focus with Tab, and the window fits a 1280×720 screen."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLineEdit,
    QMenuBar,
    QToolBar,
    QToolButton,
    QTreeWidget,
)

from lexbrief.ui.gui.main_window import MainWindow

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):  # type: ignore[no-untyped-def]
    win = MainWindow()
    win.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def test_every_menu_action_has_a_shortcut_or_a_mnemonic(window: MainWindow) -> None:
    menus = [a.menu() for a in window.menuBar().actions() if a.menu()]
    assert all("&" in m.title() for m in menus)  # Alt+F, Alt+Q, Alt+V, Alt+H
    actions: list[QAction] = [a for m in menus for a in m.actions() if not a.isSeparator()]
    assert len(actions) >= 15
    for act in actions:
        assert not act.shortcut().isEmpty() or "&" in act.text(), act.text()


@pytest.mark.parametrize(("key", "tab"), [(Qt.Key.Key_1, "summary"), (Qt.Key.Key_2, "history"),
                                          (Qt.Key.Key_3, "models"), (Qt.Key.Key_4, "hardware")])
def test_each_tab_is_one_key_away(window: MainWindow, qtbot, key: Qt.Key, tab: str) -> None:  # type: ignore[no-untyped-def]
    window.tabs.setCurrentIndex(0 if tab != "summary" else 1)
    window.activateWindow()
    QTest.keyClick(window, key, Qt.KeyboardModifier.ControlModifier)
    page = window.summary_split if tab == "summary" else getattr(window, tab)  # summary+source
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is page, timeout=3000)


def test_the_queue_takes_the_focus_with_ctrl_0(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.activateWindow()
    window.history.search.setFocus()
    QTest.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(window.queue.hasFocus, timeout=3000)


def test_every_control_takes_the_focus_with_tab(window: MainWindow) -> None:
    in_menus = {a for m in window.menuBar().actions() if m.menu() for a in m.menu().actions()}
    controls = [w for kind in (QAbstractButton, QComboBox, QLineEdit, QTreeWidget)
                for w in window.findChildren(kind)]
    assert len(controls) >= 10
    for control in controls:
        if control.parent() is window.tabs.tabBar() or isinstance(control.parent(),
                                                                  QLineEdit | QMenuBar):
            # Qt's own helpers: the tab bar's arrows (Ctrl+1…4 switch tabs), a search field's
            # clear button (the keyboard deletes), the menu bar's overflow (Alt opens menus)
            continue
        if isinstance(control.parent(), QToolBar) and isinstance(control, QToolButton):
            # toolbar buttons are a mouse's short cut: each one's action is in a menu
            action = control.defaultAction()
            assert action is None or action in in_menus, action.text()
            continue
        assert control.focusPolicy() & Qt.FocusPolicy.TabFocus, control


def test_the_window_fits_a_1280_by_720_screen(window: MainWindow) -> None:
    window.model_label.setText("Model: " + "a-very-long-model-file-name-" * 8 + ".gguf")
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720
    window.resize(1280, 720)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        page = window.tabs.currentWidget()
        assert page.minimumSizeHint().height() <= window.tabs.height(), window.tabs.tabText(index)
