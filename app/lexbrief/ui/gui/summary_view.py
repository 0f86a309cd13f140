"""The summary pane: streamed draft while the model writes, then the checked summary, with
page citations as links."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtWidgets import QTextBrowser, QWidget

from lexbrief.summarize.citations import CITATION, parse_pages

PAGE_SCHEME = "page"


def _cite_links(escaped: str, point: int = -1) -> str:
    """Citations as links; `point`: the key point they belong to (its quote is highlighted)."""
    def link(match: re.Match[str]) -> str:
        pages = parse_pages(match.group(0))
        if not pages:
            return match.group(0)
        label = match.group(0)
        target = f"{PAGE_SCHEME}:{pages[0]}" + (f"?point={point}" if point >= 0 else "")
        return f'<a href="{target}" title="open page {pages[0]}">{label}</a>'

    return CITATION.sub(link, escaped)


_UNVERIFIED = re.compile(r"((?:(?!\[unverified: ).)*?)\s\[unverified: ([^\]]*)\]")
_MARK = ("<span style='background:#fde2c4;color:black' title='not verified: {why}'>"
         "{sentence} <b>⚠ unverified ({why})</b></span>")


def _marks(escaped: str) -> str:
    """Overview sentences the check marked: flagged, with the reason."""
    def mark(m: re.Match[str]) -> str:
        sentence = m.group(1)
        space = sentence[:len(sentence) - len(sentence.lstrip())]  # stays between sentences
        return space + _MARK.format(sentence=sentence.strip(), why=m.group(2))

    return _UNVERIFIED.sub(mark, escaped)


def render_summary_html(markdown: str, *, heading: str = "") -> str:
    """The summary's small Markdown subset as HTML: ## headings, - bullets with their "  > "
    quotes, an italic *line*, the abstract's | table |, paragraphs."""
    out: list[str] = [f"<h1>{html.escape(heading)}</h1>"] if heading else []
    in_list = False
    point = -1
    table: list[list[str]] = []

    def flush_table() -> None:
        if not table:
            return
        rows = []
        for r, cells in enumerate(table):
            tag = "th" if r == 0 else "td"
            rows.append("<tr>" + "".join(f"<{tag} style='padding:2px 8px'>{c}</{tag}>"
                                         for c in cells) + "</tr>")
        out.append("<table border='1' cellspacing='0' style='border-collapse:collapse'>"
                   + "".join(rows) + "</table>")
        table.clear()

    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [c.strip().replace("\\|", "|")
                     for c in re.split(r"(?<!\\)\|", stripped.strip("|"))]
            if not all(set(c) <= {"-"} for c in cells):
                page = cells[-1] if cells and cells[-1].isdigit() else ""
                cells = [html.escape(c) for c in cells]
                if page and len(table) > 0:
                    cells[-1] = f'<a href="{PAGE_SCHEME}:{page}?field={len(table) - 1}">{page}</a>'
                if len(cells) > 1 and cells[1] == "not found":
                    cells[1] = "<i style='color:gray'>not found</i>"
                table.append(cells)
            continue
        flush_table()
        if line.startswith("- "):
            point += 1
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_cite_links(html.escape(stripped[2:]), point)}</li>")
            continue
        if in_list and stripped.startswith("> "):
            out.append(f"<blockquote style='color:#444;margin:2px 0 6px 16px'><i>"
                       f"{html.escape(stripped[2:])}</i></blockquote>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        text = _marks(_cite_links(html.escape(stripped)))
        if line.startswith("## "):
            out.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{text[2:]}</h1>")
        elif stripped.startswith("*") and stripped.endswith("*") and len(stripped) > 2:
            out.append(f"<p style='color:gray'><i>{text.strip('*')}</i></p>")
        elif stripped:
            out.append(f"<p>{text}</p>")
    flush_table()
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


class SummaryView(QTextBrowser):
    # (page, key point index or -1, abstract field index or -1)
    page_clicked = Signal(int, int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.anchorClicked.connect(self._anchor)
        self.setPlaceholderText("Drop a contract, court opinion or statute here, or use "
                                "File ▸ Open. Folders become a batch.")
        self.draft = ""
        self.final_markdown = ""
        # Re-render the streamed draft at most every 80 ms, not at every token.
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(80)
        self._render_timer.timeout.connect(self._render_draft)
        self._heading = ""

    def start(self, heading: str) -> None:
        self._heading = heading
        self.draft = ""
        self.final_markdown = ""
        self.setHtml(f"<h1>{html.escape(heading)}</h1><p><i>Reading the document…</i></p>")

    def append_token(self, text: str) -> None:
        self.draft += text
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _render_draft(self) -> None:
        # The model's draft is not shown while it is written: nothing in it is checked yet, and
        # a small model's draft names courts, dates and parties the document does not have. It
        # is shown once every sentence has been checked against the document (show_final).
        words = len(self.draft.split())
        self.setHtml(f"<h1>{html.escape(self._heading)}</h1>"
                     "<p><i>Writing the overview from the verified notes… "
                     f"{words} word{'s' if words != 1 else ''} so far.</i></p>"
                     "<p style='color:gray'>It appears when every sentence has been checked "
                     "against the document: a number, date, name or section that the document "
                     "does not have is marked or removed, never shown as a fact.</p>")

    def show_final(self, heading: str, markdown: str, footer: str = "") -> None:
        self._render_timer.stop()
        self._heading = heading
        self.final_markdown = markdown
        body = render_summary_html(markdown, heading=heading)
        if footer:
            body += f"<hr><p style='color:gray'>{html.escape(footer)}</p>"
        self.setHtml(body)

    def show_message(self, heading: str, message: str) -> None:
        self._render_timer.stop()
        self.setHtml(f"<h1>{html.escape(heading)}</h1><p>{html.escape(message)}</p>")

    def _anchor(self, url: QUrl) -> None:
        if url.scheme() == PAGE_SCHEME and url.path().isdigit():
            query = dict(part.split("=", 1) for part in url.query().split("&") if "=" in part)
            point = int(query["point"]) if query.get("point", "").isdigit() else -1
            field = int(query["field"]) if query.get("field", "").isdigit() else -1
            self.page_clicked.emit(int(url.path()), point, field)
