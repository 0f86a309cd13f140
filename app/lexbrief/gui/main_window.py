"""The main window: drop documents, watch them stream, check citations, find them again."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QPageSize,
    QPdfWriter,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from lexbrief.core.chunking import ocr_notes
from lexbrief.core.document import Document
from lexbrief.core.pipeline import Progress
from lexbrief.core.templates import load_templates
from lexbrief.engine.base import ModelInfo
from lexbrief.gui.hardware_view import HardwareView
from lexbrief.gui.history_view import HistoryView
from lexbrief.gui.models_view import ModelsView
from lexbrief.gui.queue_view import QueueView
from lexbrief.gui.source_view import SourceView
from lexbrief.gui.summary_view import SummaryView
from lexbrief.gui.tasks import run_in_background
from lexbrief.gui.worker import SummaryWorker, WorkerThread
from lexbrief.loaders import SUPPORTED_SUFFIXES, expand_inputs, load_document
from lexbrief.paths import data_dir
from lexbrief.store import Store, StoredSummary

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
    def __init__(self, worker: SummaryWorker | None = None) -> None:
        super().__init__()
        self.setWindowTitle("LexBrief")
        self.setAcceptDrops(True)
        self.resize(1280, 820)
        self.worker = worker or SummaryWorker()
        self.worker_thread = WorkerThread(self.worker)
        self.jobs: dict[int, dict[str, Any]] = {}
        self.shown_job: int | None = None
        self.shown_document: Document | None = None
        self.shown_summary: StoredSummary | None = None
        self._source: SourceView | None = None

        self.queue = QueueView()
        self.drop_zone = DropZone()
        left = QWidget()
        left.setMinimumWidth(320)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.drop_zone)
        left_layout.addWidget(self.queue, 1)
        self.summary = SummaryView()
        self.history = HistoryView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.summary, "Summary")
        self.tabs.addTab(self.history, "History")
        self.models = ModelsView()
        self.tabs.addTab(self.models, "Models")
        self.hardware = HardwareView()
        self.tabs.addTab(self.hardware, "Hardware && cost")
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setSizes([420, 860])
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        self.model_label = QLabel("Model: not loaded yet")
        self.statusBar().addPermanentWidget(self.model_label)

        self.template = QComboBox()
        self.template.addItem("Auto-detect", "auto")
        for name, template in load_templates().items():
            self.template.addItem(template.label, name)
        self._build_actions()

        self.queue.itemSelectionChanged.connect(self._selection_changed)
        self.summary.page_clicked.connect(self.open_page)
        self.history.open_summary.connect(self.show_stored)
        self.history.rerun.connect(self.rerun)
        self.history.delete_requested.connect(self.delete_summary)
        w = self.worker
        w.started.connect(self._on_started)
        w.progress.connect(self._on_progress)
        w.token.connect(self._on_token)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        w.model_loaded.connect(self._on_model_loaded)
        w.model_loaded.connect(self.models.show_loaded)
        self.models.active_changed.connect(lambda _path: self.worker.reload_model())
        self.hardware.start()
        self.worker.sampler = self.hardware.sampler
        self.worker_thread.start()
        QTimer.singleShot(0, self.history.refresh)
        QTimer.singleShot(0, self.models.refresh)

    # -- actions ------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        def action(text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
            act = QAction(text, self)
            act.triggered.connect(slot)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip or text)
            return act

        self.open_action = action("&Open…", self.open_files, QKeySequence.StandardKey.Open,
                                  "Summarize documents")
        self.open_folder_action = action("Open &folder…", self.open_folder, "Ctrl+Shift+O",
                                         "Summarize every document in a folder")
        self.paste_action = action("&Paste", self.paste, QKeySequence.StandardKey.Paste,
                                   "Summarize pasted files or text")
        self.cancel_action = action("&Cancel", self.cancel_selected, "Del",
                                    "Cancel the selected documents")
        self.cancel_all_action = action("Cancel &all", self.cancel_all, "Ctrl+Shift+Del")
        self.copy_action = action("&Copy summary", self.copy_summary, "Ctrl+Shift+C")
        self.export_md = action("Export as &Markdown…", lambda: self.export("md"), "Ctrl+E")
        self.export_docx = action("Export as &Word…", lambda: self.export("docx"))
        self.export_pdf = action("Export as P&DF…", lambda: self.export("pdf"))
        self.quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.find_action = action("&Find in history", self.focus_history,
                                  QKeySequence.StandardKey.Find)

        menu = self.menuBar().addMenu("&File")
        for act in (self.open_action, self.open_folder_action, self.paste_action):
            menu.addAction(act)
        menu.addSeparator()
        for act in (self.copy_action, self.export_md, self.export_docx, self.export_pdf):
            menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        queue_menu = self.menuBar().addMenu("&Queue")
        queue_menu.addAction(self.cancel_action)
        queue_menu.addAction(self.cancel_all_action)
        self.settings_action = action("&Settings…", self.open_settings,
                                      QKeySequence.StandardKey.Preferences)
        menu.insertAction(self.quit_action, self.settings_action)
        view = self.menuBar().addMenu("&View")
        view.addAction(self.find_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(action("Open &data folder", self.show_data_folder))
        help_menu.addAction(action("&About LexBrief", self.about))

        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        for act in (self.open_action, self.open_folder_action):
            bar.addAction(act)
        bar.addSeparator()
        bar.addWidget(QLabel(" Template: "))
        bar.addWidget(self.template)
        bar.addSeparator()
        for act in (self.cancel_action, self.cancel_all_action, self.copy_action, self.export_md,
                    self.export_docx, self.export_pdf):
            bar.addAction(act)
        self.addToolBar(bar)

    # -- adding documents ---------------------------------------------------------------------
    def add_paths(self, paths: list[Path], *, template: str | None = None) -> list[int]:
        files = expand_inputs(paths)
        if not files:
            self.statusBar().showMessage("No supported documents there.", 5000)
            return []
        ids = []
        for path in files:
            job = self.worker.submit(path, template=template or self.template.currentData())
            self.jobs[job.id] = {"path": path, "outcome": None, "draft": ""}
            self.queue.add(job.id, path)
            ids.append(job.id)
        if self.shown_job is None or self.queue.job_state(self.shown_job).startswith(
                ("done", "failed", "cancelled")):
            self._select(ids[0])
        self.statusBar().showMessage(f"{len(files)} document(s) queued.", 4000)
        return ids

    def open_files(self) -> None:
        pattern = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
        names, _ = QFileDialog.getOpenFileNames(self, "Summarize documents", "",
                                                f"Documents ({pattern});;All files (*)")
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
            folder.mkdir(exist_ok=True)
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = folder / f"pasted-{stamp}.txt"
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

    # -- worker signals -----------------------------------------------------------------------
    def _on_started(self, job_id: int) -> None:
        self.queue.set_state(job_id, "reading")
        if self.shown_job == job_id:
            self.summary.start(self.jobs[job_id]["path"].name)

    def _on_progress(self, job_id: int, progress: Progress) -> None:
        self.queue.set_progress(job_id, progress)
        self.hardware.set_speed(progress.tokens_per_second or None)

    def _on_token(self, job_id: int, stage: str, text: str) -> None:
        if stage != "final":
            return
        self.jobs[job_id]["draft"] += text
        if self.shown_job == job_id:
            self.summary.append_token(text)

    def _on_finished(self, job_id: int, outcome: Any) -> None:
        self.jobs[job_id]["outcome"] = outcome
        s = outcome.summary
        self.queue.set_state(job_id, "done", f"stored as summary #{outcome.summary_id}")
        item = self.queue.job_item(job_id)
        if item:
            item.setText(2, f"100% · {s.coverage.pages_read}/{s.coverage.pages_total} pages")
        if self.shown_job == job_id:
            self._show_outcome(job_id)
        self.history.refresh()
        self.hardware.show_run(outcome)

    def _on_failed(self, job_id: int, message: str) -> None:
        self.queue.set_state(job_id, f"failed: {message}", message)
        if self.shown_job == job_id:
            self.summary.show_message(self.jobs[job_id]["path"].name, message)

    def _on_cancelled(self, job_id: int) -> None:
        self.queue.set_state(job_id, "cancelled")
        if self.shown_job == job_id:
            self.summary.show_message(self.jobs[job_id]["path"].name,
                                      "Cancelled. Nothing was saved for this document.")

    def _on_model_loaded(self, info: ModelInfo) -> None:
        where = (f"GPU ({info.gpu_layers} layers) + CPU" if info.gpu_layers
                 else "CPU")
        self.model_label.setText(f"Model: {info.name} · {where} · {info.threads} threads · "
                                 f"context {info.context_length}")

    # -- showing ------------------------------------------------------------------------------
    def _select(self, job_id: int) -> None:
        item = self.queue.job_item(job_id)
        if item:
            self.queue.setCurrentItem(item)
        self._show_job(job_id)

    def _selection_changed(self) -> None:
        jobs = self.queue.selected_jobs()
        if jobs:
            self._show_job(jobs[0])

    def _show_job(self, job_id: int) -> None:
        self.shown_job = job_id
        job = self.jobs[job_id]
        self.tabs.setCurrentWidget(self.summary)
        state = self.queue.job_state(job_id)
        if job["outcome"] is not None:
            self._show_outcome(job_id)
        elif state.startswith(("failed", "cancelled")):
            self.summary.show_message(job["path"].name, state)
        else:
            self.summary.start(job["path"].name)
            if job["draft"]:
                self.summary.append_token("")
                self.summary.draft = job["draft"]

    def _show_outcome(self, job_id: int) -> None:
        outcome = self.jobs[job_id]["outcome"]
        s = outcome.summary
        self.shown_document = s.document
        self.shown_summary = None
        self.summary.show_final(s.document.name, s.text, _footer(outcome))
        run_in_background(lambda: _get(outcome.summary_id), self._remember_stored)

    def _remember_stored(self, stored: StoredSummary) -> None:
        self.shown_summary = stored

    def show_stored(self, stored: StoredSummary) -> None:
        self.shown_job = None
        self.queue.clearSelection()
        self.shown_summary = stored
        self.shown_document = None
        self.tabs.setCurrentWidget(self.summary)
        cov = stored.coverage
        self.summary.show_final(
            stored.document_name, stored.text,
            f"Summary #{stored.id} · {stored.created[:16].replace('T', ' ')} · "
            f"{stored.model_name} · {cov.get('pages_read')}/{cov.get('pages_total')} pages, "
            f"{cov.get('tokens_dropped')} tokens dropped"
            + "".join(f" · {note}" for note in ocr_notes(cov)))

    def open_page(self, page: int) -> None:
        point = self._point_citing(page)
        if self.shown_document is not None:
            self._open_source(self.shown_document, page, point)
            return
        stored = self.shown_summary
        if stored is None:
            return
        path = _stored_path(stored)
        if path is None:
            QMessageBox.information(self, "Source not found",
                                    f"{stored.document_name} is no longer where it was read.")
            return

        def opened(document: Document) -> None:
            self.shown_document = document
            self._open_source(document, page, point)

        run_in_background(lambda: load_document(path), opened,
                          lambda message: QMessageBox.warning(self, "Cannot open", message))

    def _point_citing(self, page: int) -> str:
        for line in self.summary.final_markdown.splitlines():
            if line.startswith("- ") and (f"p. {page}]" in line or f" {page}]" in line):
                return line
        return ""

    def _open_source(self, document: Document, page: int, point: str) -> None:
        if self._source is None or self._source.document is not document:
            self._source = SourceView(document, self)
        self._source.show_page(page, point)
        self._source.show()
        self._source.raise_()

    # -- queue control ------------------------------------------------------------------------
    def cancel_selected(self) -> None:
        for job_id in self.queue.selected_jobs():
            self.worker.cancel(job_id)

    def cancel_all(self) -> None:
        self.worker.cancel_all()

    # -- history ------------------------------------------------------------------------------
    def focus_history(self) -> None:
        self.tabs.setCurrentWidget(self.history)
        self.history.search.setFocus()

    def rerun(self, stored: StoredSummary) -> None:
        path = _stored_path(stored)
        if path is None:
            QMessageBox.information(self, "Source not found",
                                    f"{stored.document_name} is no longer where it was read.")
            return
        self.add_paths([path])

    def delete_summary(self, summary_id: int) -> None:
        answer = QMessageBox.question(self, "Delete summary", f"Delete summary #{summary_id}?")
        if answer == QMessageBox.StandardButton.Yes:
            run_in_background(lambda: _delete(summary_id), lambda _r: self.history.refresh())

    # -- output -------------------------------------------------------------------------------
    def copy_summary(self) -> None:
        if self.summary.final_markdown:
            QGuiApplication.clipboard().setText(self.summary.final_markdown)
            self.statusBar().showMessage("Summary copied.", 3000)

    def export(self, fmt: str) -> None:
        stored = self.shown_summary
        if stored is None:
            self.statusBar().showMessage("Open a finished summary first.", 4000)
            return
        default = str(Path.home() / f"{Path(stored.document_name).stem}.summary.{fmt}")
        name, _ = QFileDialog.getSaveFileName(self, "Export summary", default)
        if name:
            self.export_to(stored, fmt, Path(name))

    def export_to(self, stored: StoredSummary, fmt: str, path: Path) -> None:
        if fmt == "pdf":
            document = QTextDocument()
            document.setHtml(self.summary.toHtml())
            writer = QPdfWriter(str(path))
            writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
            document.print_(writer)
            self.statusBar().showMessage(f"Exported to {path}", 5000)
            return
        from lexbrief.export import export

        def done(_result: object) -> None:
            self.statusBar().showMessage(f"Exported to {path}", 5000)

        run_in_background(lambda: export(stored, fmt, path), done,
                          lambda message: QMessageBox.warning(self, "Export failed", message))

    def open_settings(self) -> None:
        from lexbrief.gui.settings_dialog import SettingsDialog

        if SettingsDialog(self).exec():
            self.worker.reload_model()  # threads, context or GPU layers may have changed
            self.statusBar().showMessage("Settings saved.", 4000)

    def show_data_folder(self) -> None:
        QMessageBox.information(self, "Data folder", f"LexBrief keeps its data in\n{data_dir()}")

    def about(self) -> None:
        from lexbrief import __version__

        QMessageBox.about(self, "About LexBrief",
                          f"LexBrief {__version__}\nFaithful, page-cited summaries of legal "
                          "documents by a language model running on this computer, offline.")

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        running = self.queue.unfinished_jobs()
        if running and not getattr(self, "skip_close_question", False):
            answer = QMessageBox.question(
                self, "Quit LexBrief", f"{len(running)} document(s) are not finished. Stop them "
                "and quit? Nothing is saved for unfinished documents.")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.worker_thread.stop()
        self.hardware.stop()
        super().closeEvent(event)


def _footer(outcome: Any) -> str:
    s = outcome.summary
    u = s.usage
    verified = sum(1 for p in s.points if p.verified)
    return (f"Summary #{outcome.summary_id} · {s.template.label} · {s.coverage.pages_read}/"
            f"{s.coverage.pages_total} pages read, {s.coverage.tokens_read} tokens, "
            f"{s.coverage.tokens_dropped} dropped · {verified}/{len(s.points)} citations verified "
            f"against the page text · {u.prompt_tokens} prompt + {u.completion_tokens} generated "
            f"tokens · {s.wall_seconds:.1f} s · {outcome.model.path.name}"
            + "".join(f" · {note}" for note in ocr_notes(s.coverage.as_dict())))


def _get(summary_id: int) -> StoredSummary:
    store = Store()
    try:
        return store.get(summary_id)
    finally:
        store.close()


def _delete(summary_id: int) -> None:
    store = Store()
    try:
        store.delete_summary(summary_id)
    finally:
        store.close()


def _stored_path(stored: StoredSummary) -> Path | None:
    store = Store()
    try:
        row = store.db.execute("SELECT path FROM documents WHERE id = ?",
                               [stored.document_id]).fetchone()
    finally:
        store.close()
    path = Path(row[0]) if row and row[0] else None
    return path if path and path.is_file() else None
