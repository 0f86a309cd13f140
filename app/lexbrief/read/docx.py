"""Word (.docx) through python-docx: body paragraphs and tables in order, headers and footers.

Word files carry no page layout. Pages are cut where the file itself records one: explicit page
breaks, "page break before" paragraphs, section breaks, and the breaks Word last rendered when it
saved. A file with none of these is one page, and the document says so (pagination "none").
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import docx
from docx.oxml.ns import qn

from lexbrief.read.document import Page

_PAGE_BREAK = "\f"


def read_docx(path: Path, data: bytes) -> tuple[list[Page], str | None, str]:
    document = docx.Document(io.BytesIO(data))
    parts: list[str] = []
    for block in document.element.body.iterchildren():
        if block.tag == qn("w:p"):
            parts.append(_paragraph_text(block))
        elif block.tag == qn("w:tbl"):
            parts.append(_table_text(block))
    body = "\n".join(parts)
    header, footer = _furniture(document)
    raw_pages = [p.strip() for p in body.split(_PAGE_BREAK)]
    while len(raw_pages) > 1 and not raw_pages[-1]:
        raw_pages.pop()
    if header:
        raw_pages[0] = f"{header}\n{raw_pages[0]}"
    if footer:
        raw_pages[-1] = f"{raw_pages[-1]}\n{footer}"
    pages = [Page(i + 1, text) for i, text in enumerate(raw_pages)]
    title = (document.core_properties.title or "").strip()
    if title.lower() in ("word document", "document", "microsoft word document"):
        title = ""
    return pages, title or None, "breaks" if len(pages) > 1 else "none"


def _paragraph_text(paragraph: Any) -> str:
    out: list[str] = []
    properties = paragraph.find(qn("w:pPr"))
    if properties is not None and properties.find(qn("w:pageBreakBefore")) is not None:
        out.append(_PAGE_BREAK)
    rendered_break_seen = False
    for node in paragraph.iter():
        tag = node.tag
        if tag == qn("w:t"):
            out.append(node.text or "")
        elif tag == qn("w:tab"):
            out.append("\t")
        elif tag == qn("w:br"):
            out.append(_PAGE_BREAK if node.get(qn("w:type")) == "page" else "\n")
        elif tag == qn("w:lastRenderedPageBreak") and not rendered_break_seen:
            # Word writes one at the first run of each new page (only the first one counts).
            rendered_break_seen = True
            if "".join(out).strip():
                out.append(_PAGE_BREAK)
            else:
                out.insert(0, _PAGE_BREAK)
    if properties is not None and properties.find(qn("w:sectPr")) is not None:
        section = properties.find(qn("w:sectPr"))
        kind = section.find(qn("w:type"))
        if kind is None or kind.get(qn("w:val")) in (None, "nextPage", "oddPage", "evenPage"):
            out.append(_PAGE_BREAK)
    return "".join(out)


def _table_text(table: Any) -> str:
    rows = []
    for row in table.iter(qn("w:tr")):
        cells = []
        for cell in row.iter(qn("w:tc")):
            text = " ".join(_paragraph_text(p).strip() for p in cell.iter(qn("w:p")))
            cells.append(text.replace(_PAGE_BREAK, " ").strip())
        rows.append(" | ".join(cells))
    return "\n".join(rows)


def _furniture(document: Any) -> tuple[str, str]:
    headers: list[str] = []
    footers: list[str] = []
    for section in document.sections:
        for part, bucket in ((section.header, headers), (section.footer, footers)):
            if part.is_linked_to_previous:
                continue
            text = "\n".join(p.text.strip() for p in part.paragraphs if p.text.strip())
            if text and text not in bucket:
                bucket.append(text)
    return "\n".join(headers), "\n".join(footers)
