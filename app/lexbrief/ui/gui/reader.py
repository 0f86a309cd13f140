"""The Summary tab's side of the window: what it shows (a job's draft, a fresh summary, a stored
one), the source page a citation opens beside it, and copying or exporting what is shown."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import (
    QGuiApplication,
    QImage,
    QPageSize,
    QPdfWriter,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QFileDialog, QMessageBox

from lexbrief.costs.chart import CostChart, render_png
from lexbrief.errors import UserFacingError
from lexbrief.paths import create_private
from lexbrief.read import load_document
from lexbrief.read.document import Document
from lexbrief.store import Store, StoredSummary
from lexbrief.summarize.source_text import Span
from lexbrief.summarize.stats import run_stats, stats_line
from lexbrief.ui.gui.database import Database
from lexbrief.ui.gui.source_view import SourceView
from lexbrief.ui.gui.tasks import run_in_background


def outcome_footer(outcome: Any) -> str:
    """Under a summary just written: what was read, what was checked, what it took."""
    s = outcome.summary
    counts = s.overview_counts
    return stats_line(
        f"Summary #{outcome.summary_id}", s.template.label, outcome.model.name,
        run_stats(s.coverage.as_dict(), prompt_tokens=s.usage.prompt_tokens,
                  completion_tokens=s.usage.completion_tokens, record=outcome.run,
                  seconds=s.wall_seconds, details=[
                      f"{len(s.points)} key points, each quoted from its page "
                      f"({len(s.rejected)} model notes not shown)",
                      f"overview sentences: {counts['kept']} kept, {counts['marked']} marked, "
                      f"{counts['removed']} removed",
                      f"abstract {s.abstract.found}/{len(s.abstract.fields)} fields found"]))


def stored_footer(stored: StoredSummary) -> str:
    """Under a summary from the history (its run's speed is not kept with it: its time is)."""
    return stats_line(
        f"Summary #{stored.id}", stored.created[:16].replace("T", " "), stored.model_name,
        run_stats(stored.coverage, prompt_tokens=stored.prompt_tokens,
                  completion_tokens=stored.completion_tokens, record=None,
                  seconds=stored.wall_seconds))


CHART_URL = "lexbrief-cost-chart.png"


def pdf_document(summary_html: str, chart: CostChart | None, png: bytes | None) -> QTextDocument:
    """The PDF's text: the summary as shown, then the cost chart as a picture with the saving,
    the assumptions and each bar's arithmetic written under it (paper has no hover)."""
    from lexbrief.ui.export import COST_HEADING, cost_lines

    document = QTextDocument()
    document.setHtml(summary_html)
    if chart is None or png is None:
        return document
    document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(CHART_URL),
                         QImage.fromData(png))
    saving, assumptions, how, *details = (html.escape(line) for line in cost_lines(chart))
    items = "".join(f"<li>{d[2:]}</li>" for d in details)
    cursor = QTextCursor(document)
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.insertBlock()  # after the summary's last paragraph, not inside it
    cursor.insertHtml(f"<h2>{html.escape(COST_HEADING)}</h2>"
                      f"<p><img src='{CHART_URL}' width='600'></p>"
                      f"<p><b>{saving}</b></p><p>{assumptions}</p><p>{how}</p><ul>{items}</ul>")
    return document


def report_costs(store: Store, stored: StoredSummary,
                 fmt: str) -> tuple[CostChart | None, bytes | None]:
    """The summary's cost chart (a database read) and, for a PDF, its picture."""
    from lexbrief.ui.export import report_chart

    chart = report_chart(store, stored)
    return chart, (render_png(chart) if chart is not None and fmt == "pdf" else None)


def source_path(store: Store, stored: StoredSummary) -> Path | None:
    """Where the summary's document was read, if it is still there (a database operation)."""
    path = store.document_path(stored.document_id)
    return path if path is not None and path.is_file() else None


def _export_costs_setting() -> bool:
    from lexbrief.settings import load_settings

    try:
        return load_settings().export_costs
    except UserFacingError:  # an unreadable settings file: the window says so elsewhere
        return True


class Reader(QObject):
    def __init__(self, window: Any, db: Database) -> None:
        super().__init__(window)
        self.window = window
        self.db = db
        self.view = window.summary
        self.shown_document: Document | None = None
        self.shown_summary: StoredSummary | None = None
        self.shown_outcome: Any = None  # the live Outcome shown (its points carry their spans)
        self.source: SourceView | None = None
        self.export_costs = _export_costs_setting()

    def set_export_costs(self, on: bool) -> None:
        """Exports with or without the cost comparison, remembered in settings.toml."""
        from lexbrief.settings import load_settings, save_settings

        self.export_costs = on
        try:
            settings = load_settings()
            settings.export_costs = on
            save_settings(settings)
        except (UserFacingError, OSError) as exc:
            self._status(f"Not remembered for next time: {exc}", 6000)
            return
        self._status("Exports include the cost comparison." if on
                     else "Exports leave the cost comparison out.", 4000)

    # -- what is shown ------------------------------------------------------------------------
    def _forget(self) -> None:
        self.shown_document = None
        self.shown_summary = None
        self.shown_outcome = None

    def _to_front(self) -> None:
        self.window.tabs.setCurrentWidget(self.window.summary_split)

    def start(self, name: str, draft: str = "") -> None:
        """A document being read or written: its draft so far."""
        self._forget()
        self._to_front()
        self.view.start(name)
        if draft:
            self.view.append_token("")
            self.view.draft = draft

    def show_message(self, name: str, message: str) -> None:
        self._forget()
        self._to_front()
        self.view.show_message(name, message)

    def show_outcome(self, outcome: Any) -> None:
        s = outcome.summary
        self._forget()
        self.shown_document = s.document
        self.shown_outcome = outcome
        self._to_front()
        self.view.show_final(s.document.name, s.text, outcome_footer(outcome))

        def remember(stored: StoredSummary) -> None:
            if self.shown_outcome is outcome:
                self.shown_summary = stored

        self.db.run(lambda store: store.get(outcome.summary_id), remember,
                    what="reading the summary just stored")

    def show_stored(self, stored: StoredSummary) -> None:
        self._forget()
        self.shown_summary = stored
        self._to_front()
        self.view.show_final(stored.document_name, stored.text, stored_footer(stored))

    def show_stored_id(self, summary_id: int, still_wanted: Callable[[], bool]) -> None:
        """A summary of an earlier session: read it, and show it if it is still wanted then."""

        def show(stored: StoredSummary) -> None:
            if still_wanted():
                self.show_stored(stored)

        self.db.run(lambda store: store.get(summary_id), show, what="reading a summary")

    # -- citations ----------------------------------------------------------------------------
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

        def opened(document: Document) -> None:
            if self.shown_summary is stored:
                self.shown_document = document
                self._open_source(document, page, spans)

        def found(path: Path | None) -> None:
            if path is None:
                self._not_found(stored)
                return
            run_in_background(lambda: load_document(path), opened,
                              lambda message: QMessageBox.warning(self.window, "Cannot open",
                                                                  message),
                              what="opening the source")

        self.db.run(lambda store: source_path(store, stored), found,
                    what="finding the source")

    def _not_found(self, stored: StoredSummary) -> None:
        QMessageBox.information(self.window, "Source not found",
                                f"{stored.document_name} is no longer where it was read.")

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
        split = self.window.summary_split
        if self.source is None or self.source.document is not document:
            if self.source is not None:
                self.source.setParent(None)
                self.source.deleteLater()
            self.source = SourceView(document)
            split.addWidget(self.source)
            split.setSizes([500, 500])
        self.source.show_page(page, spans)
        self.source.show()

    # -- the history's Re-run… ----------------------------------------------------------------
    def with_source(self, stored: StoredSummary, then: Callable[[Path], object]) -> None:
        """`then(path)` with the stored summary's document, or say it is gone."""

        def found(path: Path | None) -> None:
            if path is None:
                self._not_found(stored)
            else:
                then(path)

        self.db.run(lambda store: source_path(store, stored), found, what="finding the source")

    # -- output -------------------------------------------------------------------------------
    def _status(self, text: str, ms: int) -> None:
        self.window.statusBar().showMessage(text, ms)

    def copy_summary(self) -> None:
        if self.view.final_markdown:
            QGuiApplication.clipboard().setText(self.view.final_markdown)
            self._status("Summary copied.", 3000)

    def export(self, fmt: str) -> None:
        stored = self.shown_summary
        if stored is None:
            self._status("Open a finished summary first.", 4000)
            return
        default = str(Path.home() / f"{Path(stored.document_name).stem}.summary.{fmt}")
        name, _ = QFileDialog.getSaveFileName(self.window, "Export summary", default)
        if name:
            self.export_to(stored, fmt, Path(name))

    def export_to(self, stored: StoredSummary, fmt: str, path: Path,
                  on_done: Callable[[Path], object] | None = None) -> None:
        """Write the export in the background: the cost chart is read on the database thread,
        the file written on a worker (a PDF is laid out by Qt on the GUI thread, as
        QTextDocument must be). `on_done(path)` once it is written."""

        def written(_result: object = None) -> None:
            self._status(f"Exported to {path}", 5000)
            if on_done is not None:
                on_done(path)

        def failed(message: str) -> None:
            QMessageBox.warning(self.window, "Export failed", message)

        def with_costs(costs: tuple[CostChart | None, bytes | None]) -> None:
            chart, png = costs
            if fmt == "pdf":
                try:
                    self._write_pdf(pdf_document(summary_html, chart, png), path)
                except OSError as exc:
                    failed(f"cannot write {path}: {exc.strerror or exc}")
                    return
                written()
                return
            from lexbrief.ui.export import export

            run_in_background(lambda: export(stored, fmt, path, chart), written, failed,
                              what="exporting a summary")

        summary_html = self.view.toHtml()
        if not self.export_costs:
            with_costs((None, None))
            return
        self.db.run(lambda store: report_costs(store, stored, fmt), with_costs, failed,
                    what="reading the summary's cost")

    def _write_pdf(self, document: QTextDocument, path: Path) -> None:
        create_private(path)
        writer = QPdfWriter(str(path))
        writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        document.print_(writer)
