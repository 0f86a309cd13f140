"""The main window: drop documents, watch them stream, check citations, find them again.

Who does what: this module lays the window out and wires it; queue_control.py takes documents
in and follows their jobs; reader.py shows a summary, its sources and exports; actions.py builds
the menus. Two worker threads do the work, and the window never waits on either: the model
worker (worker.py) keeps the loaded engine and runs the jobs, the database worker (database.py)
keeps the window's one Store and answers every other database question.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lexbrief import network
from lexbrief.engine.contract import ModelInfo
from lexbrief.paths import create_private, data_dir
from lexbrief.read import SUPPORTED_SUFFIXES
from lexbrief.settings import load_settings
from lexbrief.store import StoredSummary
from lexbrief.summarize.templates import load_templates
from lexbrief.ui.gui.actions import build_actions
from lexbrief.ui.gui.database import Database
from lexbrief.ui.gui.hardware_view import HardwareView
from lexbrief.ui.gui.history_view import HistoryView
from lexbrief.ui.gui.models_view import ModelsView
from lexbrief.ui.gui.queue_control import QueueControl
from lexbrief.ui.gui.queue_view import QueueView
from lexbrief.ui.gui.reader import Reader
from lexbrief.ui.gui.summary_view import SummaryView
from lexbrief.ui.gui.worker import SummaryWorker, WorkerThread

log = logging.getLogger(__name__)


class DropZone(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Drop documents or folders here\n(PDF, Word, text, HTML, RTF)", parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(90)
        self.setObjectName("dropZone")
        self.setStyleSheet("#dropZone { border: 2px dashed palette(mid); border-radius: 8px; "
                           "padding: 12px; }")


class MainWindow(QMainWindow):
    # the actions (actions.py builds them)
    open_action: QAction
    open_folder_action: QAction
    paste_action: QAction
    cancel_action: QAction
    cancel_all_action: QAction
    copy_action: QAction
    export_md: QAction
    export_docx: QAction
    export_pdf: QAction
    quit_action: QAction
    find_action: QAction
    settings_action: QAction
    focus_queue_action: QAction
    tab_actions: list[QAction]

    def __init__(self, worker: SummaryWorker | None = None,
                 db: Database | None = None) -> None:
        super().__init__()
        self.setWindowTitle("LexBrief")
        self.setAcceptDrops(True)
        self.resize(1280, 820)
        screen = QGuiApplication.primaryScreen()
        if screen is not None:  # a 1280×720 screen, or 200% scale on 2560×1440: fit it
            free = screen.availableGeometry()
            self.resize(min(1280, free.width()), min(820, free.height()))
        self.db = db or Database()
        self.worker = worker or SummaryWorker()
        self.worker_thread = WorkerThread(self.worker)

        self.queue = QueueView()
        self.drop_zone = DropZone()
        left = QWidget()
        left.setMinimumWidth(320)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.drop_zone)
        left_layout.addWidget(self.queue, 1)
        self.summary = SummaryView()
        self.history = HistoryView(self.db)
        self.tabs = QTabWidget()
        # The source opens beside the summary, never over it.
        self.summary_split = QSplitter()
        self.summary_split.addWidget(self.summary)
        self.summary_split.setChildrenCollapsible(False)
        self.tabs.addTab(self.summary_split, "Summary")
        self.tabs.addTab(self.history, "History")
        self.models = ModelsView(self.db)
        self.tabs.addTab(self.models, "Models")
        self.hardware = HardwareView(self.db)
        self.tabs.addTab(self.hardware, "Hardware && cost")
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setSizes([420, 860])
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        self.model_label = QLabel("Model: not loaded yet")
        # A long model name must not widen the window past a small screen: it is cut, and
        # whole in its tooltip.
        self.model_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                       QSizePolicy.Policy.Preferred)
        self.model_label.setMinimumWidth(120)
        self.statusBar().addPermanentWidget(self.model_label, 1)
        # Which network policy is in force (lexbrief.network; README "Network policy").
        self.network_label = QLabel(network.describe())
        self.network_label.setToolTip("What LexBrief may connect to. Settings → offline "
                                      "forbids every connection, even downloads and a server.")
        self.statusBar().addPermanentWidget(self.network_label)

        self.template = QComboBox()
        self.template.addItem("Auto-detect", "auto")
        for name, template in load_templates().items():
            self.template.addItem(template.label, name)
        # The client matter of the documents added next (stored with their summaries and
        # costs; the Hardware & cost tab totals the latest matter).
        self.matter = QLineEdit()
        self.matter.setPlaceholderText("client matter (optional)")
        self.matter.setAccessibleName("Matter")
        self.matter.setToolTip("The client matter the documents you add next are for: stored "
                               "with each summary, so their cost can be totalled per matter "
                               "(Hardware & cost → Period: Latest matter).")
        self.matter.setMaximumWidth(220)
        self.reader = Reader(self, self.db)
        self.queue_control = QueueControl(self, self.worker, self.db, self.reader)
        build_actions(self)

        self.db.failed.connect(lambda message: self.statusBar().showMessage(message, 8000))
        self.summary.page_clicked.connect(self.reader.open_page)
        self.history.open_summary.connect(self.show_stored)
        self.history.rerun.connect(self.rerun)
        self.history.delete_requested.connect(self.delete_summary)
        self.worker.model_loaded.connect(self._on_model_loaded)
        self.worker.model_loaded.connect(self.models.show_loaded)
        self.worker.model_loaded.connect(
            lambda _info: self.network_label.setText(network.describe()))
        self.models.active_changed.connect(lambda _path: self.worker.reload_model())
        self.hardware.start()
        self.worker.sampler = self.hardware.sampler
        self.worker_thread.start()
        # The database worker answers in this order: the queue first, then the panes.
        self.queue_control.restore()
        QTimer.singleShot(0, self.history.refresh)
        QTimer.singleShot(0, self.models.refresh)

    # -- adding documents ---------------------------------------------------------------------
    def add_paths(self, paths: list[Path], *, template: str | None = None,
                  rerun: bool = False) -> None:
        """Queue documents and folders; `queue_control.queued` tells their job ids."""
        self.queue_control.add_paths(paths, template=template, rerun=rerun)

    def open_files(self) -> None:
        pattern = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
        names, _ = QFileDialog.getOpenFileNames(self, "Summarize documents", "",
                                                f"Documents ({pattern});;All files (*)")
        if names:
            self.add_paths([Path(n) for n in names])

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Summarize every document in a folder")
        if folder:
            self.add_paths([Path(folder)])

    def paste(self) -> None:
        self._add_mime(QGuiApplication.clipboard().mimeData())

    def _add_mime(self, mime: QMimeData) -> None:
        if mime.hasUrls():
            self.add_paths([Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()])
        elif mime.hasText() and len(mime.text().split()) >= 20:
            folder = data_dir() / "pasted"
            folder.mkdir(exist_ok=True, mode=0o700)
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = folder / f"pasted-{stamp}.txt"
            create_private(path)
            path.write_text(mime.text(), encoding="utf-8")
            self.add_paths([path])
        else:
            self.statusBar().showMessage("Nothing to summarize on the clipboard.", 4000)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasText():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self._add_mime(event.mimeData())
        event.acceptProposedAction()

    def cancel_selected(self) -> None:
        self.queue_control.cancel_selected()

    def cancel_all(self) -> None:
        self.queue_control.cancel_all()

    def _on_model_loaded(self, info: ModelInfo) -> None:
        where = (f"GPU ({info.gpu_layers} layers) + CPU" if info.gpu_layers
                 else "CPU")
        self.model_label.setText(f"Model: {info.name} · {where} · {info.threads} threads · "
                                 f"context {info.context_length}")
        self.model_label.setToolTip(self.model_label.text())

    # -- keyboard -----------------------------------------------------------------------------
    def show_tab(self, widget: QWidget) -> None:
        self.tabs.setCurrentWidget(widget)
        if widget is self.summary_split:
            widget = self.summary  # the summary takes the focus, not the source beside it
        widget.setFocus()
        focus = widget.focusWidget() or widget.nextInFocusChain()
        if focus is not None:
            focus.setFocus()

    def focus_queue(self) -> None:
        self.queue.setFocus()

    # -- history ------------------------------------------------------------------------------
    def focus_history(self) -> None:
        self.tabs.setCurrentWidget(self.history)
        self.history.search.setFocus()

    def show_stored(self, stored: StoredSummary) -> None:
        self.queue_control.forget_shown()
        self.reader.show_stored(stored)

    def rerun(self, stored: StoredSummary) -> None:
        # the user asks: run it even if it is stored
        self.reader.with_source(stored, lambda path: self.add_paths([path], rerun=True))

    def delete_summary(self, summary_id: int) -> None:
        answer = QMessageBox.question(self, "Delete summary", f"Delete summary #{summary_id}?")
        if answer == QMessageBox.StandardButton.Yes:
            self.db.run(lambda store: store.delete_summary(summary_id),
                        lambda _none: self.history.refresh(), what="deleting a summary")

    # -- the rest -----------------------------------------------------------------------------
    def open_settings(self) -> None:
        from lexbrief.ui.gui.settings_dialog import SettingsDialog

        if SettingsDialog(self).exec():
            settings = load_settings()
            network.set_offline(settings.offline)
            if not settings.server.url:
                network.forget_server()
            self.network_label.setText(network.describe())
            self.worker.reload_model()  # threads, context or GPU layers may have changed
            self.statusBar().showMessage("Settings saved.", 4000)

    def show_data_folder(self) -> None:
        QMessageBox.information(self, "Data folder", f"LexBrief keeps its data in\n{data_dir()}")

    def about(self) -> None:
        from lexbrief import __version__

        QMessageBox.about(self, "About LexBrief",
                          f"LexBrief {__version__}\nFaithful, page-cited summaries of legal "
                          "documents by a language model running on this computer, offline.")

    def closeEvent(self, event: QCloseEvent) -> None:
        running = self.queue.unfinished_jobs()
        if running and not getattr(self, "skip_close_question", False):
            answer = QMessageBox.question(
                self, "Quit LexBrief", f"{len(running)} document(s) are not finished. Stop them "
                "and quit? They stay in the queue and go on the next time LexBrief starts.")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.worker_thread.stop()
        self.db.close()
        self.hardware.stop()
        super().closeEvent(event)
