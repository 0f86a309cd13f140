"""Write a stored summary as Markdown, plain text or Word."""

from __future__ import annotations

import os
import re
from pathlib import Path

from lexbrief.errors import StorageError, UserFacingError
from lexbrief.paths import create_private
from lexbrief.store import StoredSummary
from lexbrief.summarize.stats import coverage_text

FORMATS = ("md", "txt", "docx")


def header_lines(summary: StoredSummary) -> list[str]:
    return [
        f"Document: {summary.document_name} ({summary.document_pages} pages, "
        f"sha256 {summary.document_sha256[:12]})",
        f"Model: {summary.model_name} · template: {summary.template} · {summary.created}",
        f"Coverage: {coverage_text(summary.coverage)}",
    ]


def as_markdown(summary: StoredSummary) -> str:
    head = "\n".join(f"_{line}_  " for line in header_lines(summary))
    return f"# Summary of {summary.document_name}\n\n{head}\n\n{summary.text.strip()}\n"


def as_text(summary: StoredSummary) -> str:
    body = re.sub(r"^#+\s*", "", summary.text.strip(), flags=re.MULTILINE)
    return "\n".join([f"Summary of {summary.document_name}", *header_lines(summary), "", body,
                      ""])


def write_docx(summary: StoredSummary, path: Path) -> None:
    """The summary as a Word file: headings, key points with their quotes, the abstract as a
    table."""
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
    document.save(str(path))


def export(summary: StoredSummary, fmt: str, out: Path) -> Path:
    if fmt not in FORMATS:
        raise UserFacingError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    tmp = out.with_name(f".{out.name}.partial")
    try:
        tmp.unlink(missing_ok=True)
        create_private(tmp)  # 0600: a summary of a client file is not for other accounts
        if fmt == "docx":
            write_docx(summary, tmp)
        else:
            text = as_markdown(summary) if fmt == "md" else as_text(summary)
            tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)  # never leave a half-written export under the real name
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out
