"""The window's menus and toolbar: every action has a key or a mnemonic, every tab is one key
away (tests/test_keyboard.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QToolBar


def build_actions(window: Any) -> None:
    """The File, Queue, View and Help menus and the toolbar, as attributes of `window`."""

    def action(text: str, slot: Callable[..., Any], shortcut: Any = None,
               tip: str = "") -> QAction:
        act = QAction(text, window)
        act.triggered.connect(slot)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setStatusTip(tip or text)
        return act

    w = window
    w.open_action = action("&Open…", w.open_files, QKeySequence.StandardKey.Open,
                           "Summarize documents")
    w.open_folder_action = action("Open &folder…", w.open_folder, "Ctrl+Shift+O",
                                  "Summarize every document in a folder")
    w.paste_action = action("&Paste", w.paste, QKeySequence.StandardKey.Paste,
                            "Summarize pasted files or text")
    w.cancel_action = action("&Cancel", w.cancel_selected, "Del",
                             "Cancel the selected documents")
    w.cancel_all_action = action("Cancel &all", w.cancel_all, "Ctrl+Shift+Del")
    w.copy_action = action("&Copy summary", w.reader.copy_summary, "Ctrl+Shift+C")
    w.export_md = action("Export as &Markdown…", lambda: w.reader.export("md"), "Ctrl+E")
    w.export_docx = action("Export as &Word…", lambda: w.reader.export("docx"))
    w.export_pdf = action("Export as P&DF…", lambda: w.reader.export("pdf"))
    w.export_costs_action = action("&Include the cost comparison in exports",
                                   w.reader.set_export_costs, tip="Exports carry the summary's "
                                   "local vs cloud cost chart; untick for a brief to a client")
    w.export_costs_action.setCheckable(True)
    w.export_costs_action.setChecked(w.reader.export_costs)
    w.quit_action = action("&Quit", w.close, QKeySequence.StandardKey.Quit)
    w.find_action = action("&Find in history", w.focus_history, QKeySequence.StandardKey.Find)

    menu = w.menuBar().addMenu("&File")
    for act in (w.open_action, w.open_folder_action, w.paste_action):
        menu.addAction(act)
    menu.addSeparator()
    for act in (w.copy_action, w.export_md, w.export_docx, w.export_pdf,
                w.export_costs_action):
        menu.addAction(act)
    menu.addSeparator()
    menu.addAction(w.quit_action)
    queue_menu = w.menuBar().addMenu("&Queue")
    queue_menu.addAction(w.cancel_action)
    queue_menu.addAction(w.cancel_all_action)
    w.settings_action = action("&Settings…", w.open_settings,
                               QKeySequence.StandardKey.Preferences)
    menu.insertAction(w.quit_action, w.settings_action)
    view = w.menuBar().addMenu("&View")
    view.addAction(w.find_action)
    view.addSeparator()
    # Every tab one key away (and the queue, where Del cancels).
    w.tab_actions = []
    for index, (label, widget) in enumerate((("&Summary", w.summary_split),
                                             ("&History", w.history),
                                             ("&Models", w.models),
                                             ("Hardware && &cost", w.hardware)), 1):
        act = action(label, lambda _c=False, page=widget: w.show_tab(page), f"Ctrl+{index}")
        view.addAction(act)
        w.tab_actions.append(act)
    w.focus_queue_action = action("&Queue", w.focus_queue, "Ctrl+0",
                                  "Move the keyboard focus to the queue")
    view.addAction(w.focus_queue_action)
    help_menu = w.menuBar().addMenu("&Help")
    help_menu.addAction(action("Open &data folder", w.show_data_folder))
    help_menu.addAction(action("&About LexBrief", w.about))

    bar = QToolBar("Main")
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    for act in (w.open_action, w.open_folder_action):
        bar.addAction(act)
    bar.addSeparator()
    bar.addWidget(QLabel(" Template: "))
    bar.addWidget(w.template)
    matter_label = QLabel(" &Matter: ")
    matter_label.setBuddy(w.matter)
    bar.addWidget(matter_label)
    bar.addWidget(w.matter)
    bar.addSeparator()
    for act in (w.cancel_action, w.cancel_all_action, w.copy_action, w.export_md,
                w.export_docx, w.export_pdf):
        bar.addAction(act)
    w.addToolBar(bar)
