"""The main window: drop documents, watch them stream, check citations, find them again.

One module because the layout, menus, drop handling and the panes' signals are wired to each
other here; the work itself runs in worker.py (model) and tasks.py (background jobs).
"""

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
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from lexbrief.engine.contract import ModelInfo
from lexbrief.paths import create_private, data_dir
from lexbrief.read import SUPPORTED_SUFFIXES, expand_inputs, load_document
from lexbrief.read.document import Document
from lexbrief.store import Store, StoredSummary
from lexbrief.summarize.chunking import ocr_notes
from lexbrief.summarize.pipeline import Progress
from lexbrief.summarize.source_text import Span
from lexbrief.summarize.templates import load_templates
from lexbrief.ui.gui.hardware_view import HardwareView
from lexbrief.ui.gui.history_view import HistoryView
from lexbrief.ui.gui.models_view import ModelsView
from lexbrief.ui.gui.queue_view import QueueView
from lexbrief.ui.gui.source_view import SourceView
from lexbrief.ui.gui.summary_view import SummaryView
from lexbrief.ui.gui.tasks import run_in_background
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
    def __init__(self, worker: SummaryWorker | None = None) -> None:
        super().__init__()
        self.setWindowTitle("LexBrief")
        self.setAcceptDrops(True)
        self.resize(1280, 820)
        screen = QGuiApplication.primaryScreen()
        if screen is not None:  # a 1280×720 screen, or 200% scale on 2560×1440: fit it
            free = screen.availableGeometry()
            self.resize(min(1280, free.width()), min(820, free.height()))
        self.worker = worker or SummaryWorker()
        self.worker_thread = WorkerThread(self.worker)
        self.jobs: dict[int, dict[str, Any]] = {}
        self.shown_job: int | None = None
        self.shown_document: Document | None = None
        self.shown_summary: StoredSummary | None = None
        self.shown_outcome: Any = None  # the live Outcome shown (its points carry their spans)
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
        # The source opens beside the summary, never over it.
        self.summary_split = QSplitter()
        self.summary_split.addWidget(self.summary)
        self.summary_split.setChildrenCollapsible(False)
        self.tabs.addTab(self.summary_split, "Summary")
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
        # A long model name must not widen the window past a small screen: it is cut, and
        # whole in its tooltip.
        self.model_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                       QSizePolicy.Policy.Preferred)
        self.model_label.setMinimumWidth(120)
        self.statusBar().addPermanentWidget(self.model_label, 1)

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
        w.speed.connect(self._on_speed)
        w.token.connect(self._on_token)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        w.from_history.connect(self._on_from_history)
        w.model_loaded.connect(self._on_model_loaded)
        w.model_loaded.connect(self.models.show_loaded)
        self.models.active_changed.connect(lambda _path: self.worker.reload_model())
        self.hardware.start()
        self.worker.sampler = self.hardware.sampler
        self.worker_thread.start()
        QTimer.singleShot(0, self.history.refresh)
        QTimer.singleShot(0, self.models.refresh)
        self.restore_queue()

    def restore_queue(self) -> None:
        """Show the jobs table: what a crash or the last quit left queued or running runs
        now (running ones of a dead process are queued again); finished ones are listed."""
        from lexbrief.errors import UserFacingError
        from lexbrief.store.jobs import FINISHED, owner_pid

        try:
            table = self.worker._table()
            table.recover()
            rows = table.jobs()
        except UserFacingError as exc:
            self.statusBar().showMessage(f"The queue cannot be read: {exc.message}", 8000)
            return
        shown = [j for j in rows if j.state not in FINISHED] + [
            j for j in rows if j.state in FINISHED][-50:]
        for job in sorted(shown, key=lambda j: j.id):
            self.jobs[job.id] = {"path": job.path, "outcome": None, "draft": "",
                                 "summary_id": job.summary_id}
            self.queue.add(job.id, job.path)
            if job.state == "queued" and job.password_required:
                self.queue.set_state(job.id, "waiting: needs its password (drop it again)")
            elif job.state == "queued":
                self.worker.submit(job.path, template=job.template, model=job.model,
                                   job_id=job.id)
            elif job.state == "running":
                self.queue.set_state(job.id, f"running in another LexBrief (pid "
                                             f"{owner_pid(job.owner)})")
            elif job.state == "done":
                self.queue.set_state(job.id, "done", f"stored as summary #{job.summary_id}")
            else:
                self.queue.set_state(job.id, f"{job.state}: {job.reason or ''}".strip(": "))
        if shown:
            waiting = sum(j.state == "queued" for j in shown)
            self.statusBar().showMessage(
                f"{waiting} document(s) from the last session queued again." if waiting else
                f"{len(shown)} job(s) from earlier sessions.", 6000)

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
        view.addSeparator()
        # Every tab one key away (and the queue, where Del cancels).
        self.tab_actions = []
        for index, (label, widget) in enumerate((("&Summary", self.summary_split),
                                                 ("&History", self.history),
                                                 ("&Models", self.models),
                                                 ("Hardware && &cost", self.hardware)), 1):
            act = action(label, lambda _c=False, w=widget: self.show_tab(w), f"Ctrl+{index}")
            view.addAction(act)
            self.tab_actions.append(act)
        self.focus_queue_action = action("&Queue", self.focus_queue, "Ctrl+0",
                                         "Move the keyboard focus to the queue")
        view.addAction(self.focus_queue_action)
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
    def add_paths(self, paths: list[Path], *, template: str | None = None,
                  rerun: bool = False) -> list[int]:
        files = expand_inputs(paths)
        if not files:
            self.statusBar().showMessage("No supported documents there.", 5000)
            return []
        ids = []
        for path in files:
            job = self.worker.submit(path, template=template or self.template.currentData(),
                                     rerun=rerun)
            ids.append(job.id)
            if job.id in self.jobs:  # already queued (the table keeps one job per document)
                continue
            self.jobs[job.id] = {"path": path, "outcome": None, "draft": ""}
            self.queue.add(job.id, path)
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

    # -- worker signals -----------------------------------------------------------------------
    def _on_started(self, job_id: int) -> None:
        self.queue.set_state(job_id, "reading")
        self.hardware.mark(f"▶ {self.jobs[job_id]['path'].name}")
        if self.shown_job == job_id:
            self.summary.start(self.jobs[job_id]["path"].name)

    def _on_speed(self, job_id: int, meter: Any) -> None:
        self.jobs[job_id]["meter"] = meter
        self.hardware.track(meter)

    def _on_progress(self, job_id: int, progress: Progress) -> None:
        from lexbrief.machine.telemetry.speed import live_text

        meter = self.jobs[job_id].get("meter")
        self.queue.set_progress(job_id, progress, live_text(meter) if meter else None)

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
        self.models.refresh()  # this model's 50-page time is now measured here
        self.hardware.mark("■ done")
        self.hardware.show_run(outcome)

    def _on_from_history(self, job_id: int, summary_id: int) -> None:
        self.jobs[job_id]["summary_id"] = summary_id
        self.queue.set_state(job_id, "done (from the history)",
                             f"already summarized as #{summary_id} with this model and "
                             "template; History → Re-run… runs it again")
        if self.shown_job == job_id:
            self._show_job(job_id)

    def _on_failed(self, job_id: int, message: str) -> None:
        self.queue.set_state(job_id, f"failed: {message}", message)
        self.hardware.mark("✕ failed")
        if self.shown_job == job_id:
            self.summary.show_message(self.jobs[job_id]["path"].name, message)

    def _on_cancelled(self, job_id: int) -> None:
        self.queue.set_state(job_id, "cancelled")
        self.hardware.mark("✕ cancelled")
        if self.shown_job == job_id:
            self.summary.show_message(self.jobs[job_id]["path"].name,
                                      "Cancelled. Nothing was saved for this document.")

    def _on_model_loaded(self, info: ModelInfo) -> None:
        where = (f"GPU ({info.gpu_layers} layers) + CPU" if info.gpu_layers
                 else "CPU")
        self.model_label.setText(f"Model: {info.name} · {where} · {info.threads} threads · "
                                 f"context {info.context_length}")
        self.model_label.setToolTip(self.model_label.text())

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
        self.tabs.setCurrentWidget(self.summary_split)
        state = self.queue.job_state(job_id)
        if job["outcome"] is not None:
            self._show_outcome(job_id)
        elif job.get("summary_id") and state.startswith("done"):  # from an earlier session
            run_in_background(lambda: _get(job["summary_id"]), self._show_restored)
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
        self.shown_outcome = outcome
        self.shown_summary = None
        self.summary.show_final(s.document.name, s.text, _footer(outcome))
        run_in_background(lambda: _get(outcome.summary_id), self._remember_stored)

    def _show_restored(self, stored: StoredSummary) -> None:
        if self.shown_job is not None and self.jobs[self.shown_job].get("summary_id") == stored.id:
            self.show_stored(stored)

    def _remember_stored(self, stored: StoredSummary) -> None:
        self.shown_summary = stored

    def show_stored(self, stored: StoredSummary) -> None:
        self.shown_job = None
        self.queue.clearSelection()
        self.shown_summary = stored
        self.shown_outcome = None
        self.shown_document = None
        self.tabs.setCurrentWidget(self.summary_split)
        cov = stored.coverage
        self.summary.show_final(
            stored.document_name, stored.text,
            f"Summary #{stored.id} · {stored.created[:16].replace('T', ' ')} · "
            f"{stored.model_name} · {cov.get('pages_read')}/{cov.get('pages_total')} pages, "
            f"{cov.get('tokens_dropped')} tokens dropped"
            + "".join(f" · {note}" for note in ocr_notes(cov)))

    def open_page(self, page: int, point: int = -1, field: int = -1) -> None:
        """A citation was clicked: the page, with the quote of key point `point` (or of the
        abstract's field `field`) marked on it."""
        spans = self._spans_for(point, field)
        if self.shown_document is not None:
            self._open_source(self.shown_document, page, spans)
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
            self._open_source(document, page, spans)

        run_in_background(lambda: load_document(path), opened,
                          lambda message: QMessageBox.warning(self, "Cannot open", message))

    def _spans_for(self, point: int, field: int) -> list[Span]:
        summary = self.shown_outcome.summary if self.shown_outcome is not None else None
        if summary is not None:
            if 0 <= point < len(summary.points):
                return list(summary.points[point].spans)
            if 0 <= field < len(summary.abstract.fields):
                return list(summary.abstract.fields[field].spans)
            # an overview sentence's citation: every key point's quote on that page
            return [span for p in summary.points for span in p.spans]
        stored = self.shown_summary
        if stored is None:
            return []
        raw: list[dict[str, int]] = [span for c in stored.citations for span in c.get("spans", [])]
        if 0 <= point < len(stored.citations):
            raw = stored.citations[point].get("spans", [])
        names = stored.grounding.get("abstract_fields", [])
        if 0 <= field < len(names):
            value = stored.grounding.get("abstract", {}).get(names[field][0]) or {}
            raw = value.get("spans", [])
        return [Span(int(s["page"]), int(s["start"]), int(s["end"])) for s in raw]

    def _open_source(self, document: Document, page: int, spans: list[Span]) -> None:
        if self._source is None or self._source.document is not document:
            if self._source is not None:
                self._source.setParent(None)
                self._source.deleteLater()
            self._source = SourceView(document)
            self.summary_split.addWidget(self._source)
            self.summary_split.setSizes([500, 500])
        self._source.show_page(page, spans)
        self._source.show()

    # -- queue control ------------------------------------------------------------------------
    def cancel_selected(self) -> None:
        for job_id in self.queue.selected_jobs():
            self.worker.cancel(job_id)

    def cancel_all(self) -> None:
        self.worker.cancel_all()

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

    def rerun(self, stored: StoredSummary) -> None:
        path = _stored_path(stored)
        if path is None:
            QMessageBox.information(self, "Source not found",
                                    f"{stored.document_name} is no longer where it was read.")
            return
        self.add_paths([path], rerun=True)  # the user asks: run it even if it is stored

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
            create_private(path)
            writer = QPdfWriter(str(path))
            writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
            document.print_(writer)
            self.statusBar().showMessage(f"Exported to {path}", 5000)
            return
        from lexbrief.ui.export import export

        def done(_result: object) -> None:
            self.statusBar().showMessage(f"Exported to {path}", 5000)

        run_in_background(lambda: export(stored, fmt, path), done,
                          lambda message: QMessageBox.warning(self, "Export failed", message))

    def open_settings(self) -> None:
        from lexbrief.ui.gui.settings_dialog import SettingsDialog

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
                "and quit? They stay in the queue and go on the next time LexBrief starts.")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.worker_thread.stop()
        self.hardware.stop()
        super().closeEvent(event)


def _footer(outcome: Any) -> str:
    from lexbrief.machine.telemetry.speed import run_text

    s = outcome.summary
    u = s.usage
    counts = s.overview_counts
    return (f"Summary #{outcome.summary_id} · {s.template.label} · {s.coverage.pages_read}/"
            f"{s.coverage.pages_total} pages read, {s.coverage.tokens_read} tokens, "
            f"{s.coverage.tokens_dropped} dropped · {len(s.points)} key points, each quoted from "
            f"its page ({len(s.rejected)} model notes not shown) · overview sentences: "
            f"{counts['kept']} kept, {counts['marked']} marked, {counts['removed']} removed · "
            f"abstract {s.abstract.found}/{len(s.abstract.fields)} fields found · "
            f"{u.prompt_tokens} prompt + {u.completion_tokens} generated tokens · "
            f"{run_text(outcome.run, s.wall_seconds)} · {outcome.model.name}"
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
