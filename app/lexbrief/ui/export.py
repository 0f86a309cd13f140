"""Write a stored summary as Markdown, plain text or Word, with its cost chart (the window's PDF
export adds the same, lexbrief.ui.gui.reader): a report has no hover, so the saving, the
assumptions and how each bar was computed are written under the chart."""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path

from lexbrief.costs.card import money
from lexbrief.costs.chart import CostChart, chart_for_stored
from lexbrief.costs.pricing import PricingError, load_pricing
from lexbrief.errors import StorageError, UserFacingError
from lexbrief.paths import create_private
from lexbrief.store import Store, StoredSummary
from lexbrief.summarize.stats import coverage_text

log = logging.getLogger(__name__)

FORMATS = ("md", "txt", "docx")
COST_HEADING = "Cost of this summary"


def report_chart(store: Store, summary: StoredSummary) -> CostChart | None:
    """The cost chart of a stored summary, from its ledger row and the current pricing file
    (a database read). None: no ledger row (saved before the ledger existed), a run without a
    cost, or a pricing file that cannot be read (logged; the report is written without it)."""
    run = store.run_cost(summary.id)
    if run is None:
        return None
    try:
        return chart_for_stored(run, load_pricing())
    except PricingError as exc:
        log.warning("report of summary %s without its cost chart: %s", summary.id, exc)
        return None


def cost_lines(chart: CostChart) -> list[str]:
    """The chart in words: the saving, the assumptions, and each bar's own arithmetic."""
    return [chart.saving, f"Assumptions: {chart.assumptions}", "How each bar is computed:",
            *(f"- {bar.label}: {bar.detail}" if bar.local else f"- {bar.detail}"
              for bar in chart.bars)]


def _amount(usd: float | None) -> str:
    return money(usd) if usd is not None else "unknown"


def cost_markdown(chart: CostChart) -> str:
    rows = [f"| {'**' + b.label + '**' if b.local or b.chosen else b.label}"
            f"{' (chosen)' if b.chosen else ''} | {_amount(b.usd)} |" for b in chart.bars]
    saving, assumptions, how, *details = cost_lines(chart)
    return "\n".join([f"## {COST_HEADING}", "", f"_{chart.title}_", "",
                      "| the same tokens on | cost |", "|---|---:|", *rows, "",
                      f"**{saving}**", "", assumptions, "", how, "", *details, ""])


def header_lines(summary: StoredSummary) -> list[str]:
    return [
        f"Document: {summary.document_name} ({summary.document_pages} pages, "
        f"sha256 {summary.document_sha256[:12]})",
        f"Model: {summary.model_name} · template: {summary.template} · {summary.created}",
        f"Coverage: {coverage_text(summary.coverage)}",
    ]


def as_markdown(summary: StoredSummary, chart: CostChart | None = None) -> str:
    head = "\n".join(f"_{line}_  " for line in header_lines(summary))
    cost = f"\n{cost_markdown(chart)}" if chart is not None else ""
    return f"# Summary of {summary.document_name}\n\n{head}\n\n{summary.text.strip()}\n{cost}"


def as_text(summary: StoredSummary, chart: CostChart | None = None) -> str:
    body = re.sub(r"^#+\s*", "", summary.text.strip(), flags=re.MULTILINE)
    cost: list[str] = []
    if chart is not None:
        width = max(len(b.label) for b in chart.bars) + 11
        cost = ["", COST_HEADING, chart.title,
                *(f"  {(b.label + (' (chosen)' if b.chosen else '')).ljust(width)}"
                  f"{_amount(b.usd)}" for b in chart.bars), "", *cost_lines(chart)]
    return "\n".join([f"Summary of {summary.document_name}", *header_lines(summary), "", body,
                      *cost, ""])


def write_docx(summary: StoredSummary, path: Path, chart: CostChart | None = None) -> None:
    """The summary as a Word file: headings, key points with their quotes, the abstract as a
    table; then the cost chart as a picture with the saving and assumptions under it."""
    import docx

    document = docx.Document()
    document.add_heading(f"Summary of {summary.document_name}", level=1)
    for line in header_lines(summary):
        document.add_paragraph(line).runs[0].italic = True
    table_rows: list[list[str]] = []
    for line in [*summary.text.strip().splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in
                     re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if not all(set(c) <= {"-"} for c in cells):  # skip the |---| rule
                table_rows.append(cells)
            continue
        if table_rows:
            table = document.add_table(rows=len(table_rows), cols=len(table_rows[0]))
            table.style = "Table Grid"
            for r, cells in enumerate(table_rows):
                for c, cell in enumerate(cells[:len(table_rows[0])]):
                    table.cell(r, c).text = cell
                    if r == 0:
                        table.cell(r, c).paragraphs[0].runs[0].bold = True
            table_rows = []
        if line.startswith("## "):
            document.add_heading(line[3:], level=2)
        elif line.startswith("- "):
            document.add_paragraph(line[2:], style="List Bullet")
        elif line.lstrip().startswith("> "):
            quote = document.add_paragraph(line.lstrip()[2:], style="Quote")
            quote.paragraph_format.left_indent = docx.shared.Cm(1)
        elif line.startswith("*") and line.endswith("*") and len(line) > 2:
            document.add_paragraph(line.strip("*")).runs[0].italic = True
        elif line.strip():
            document.add_paragraph(line)
    if chart is not None:
        from lexbrief.costs.chart import render_png

        document.add_heading(COST_HEADING, level=2)
        document.add_picture(io.BytesIO(render_png(chart)), width=docx.shared.Cm(16))
        saving, assumptions, how, *details = cost_lines(chart)
        document.add_paragraph().add_run(saving).bold = True
        document.add_paragraph(assumptions)
        document.add_paragraph(how)
        for detail in details:
            document.add_paragraph(detail[2:], style="List Bullet")
    document.save(str(path))


def export(summary: StoredSummary, fmt: str, out: Path, chart: CostChart | None = None) -> Path:
    """Write `summary` (and its cost `chart`, see report_chart) to `out`, atomically."""
    if fmt not in FORMATS:
        raise UserFacingError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    tmp = out.with_name(f".{out.name}.partial")
    try:
        tmp.unlink(missing_ok=True)
        create_private(tmp)  # 0600: a summary of a client file is not for other accounts
        if fmt == "docx":
            write_docx(summary, tmp, chart)
        else:
            text = as_markdown(summary, chart) if fmt == "md" else as_text(summary, chart)
            tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)  # never leave a half-written export under the real name
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out
