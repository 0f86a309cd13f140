"""The summary pane: streamed draft while the model writes, then the checked summary, with
page citations as links."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtWidgets import QTextBrowser, QWidget

from lexbrief.core.citations import CITATION, parse_pages

PAGE_SCHEME = "page"


def _cite_links(escaped: str) -> str:
    def link(match: re.Match[str]) -> str:
        pages = parse_pages(match.group(0))
        if not pages:
            return match.group(0)
        label = match.group(0)
        return f'<a href="{PAGE_SCHEME}:{pages[0]}" title="open page {pages[0]}">{label}</a>'

    return CITATION.sub(link, escaped)


def render_summary_html(markdown: str, *, heading: str = "") -> str:
    """The summary's small Markdown subset (## headings, - bullets, paragraphs) as HTML."""
    out: list[str] = [f"<h1>{html.escape(heading)}</h1>"] if heading else []
    in_list = False
    for line in markdown.splitlines():
        text = _cite_links(html.escape(line.strip()))
        if line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{text[2:]}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if line.startswith("## "):
            out.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{text[2:]}</h1>")
        elif line.strip():
            out.append(f"<p>{text}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


class SummaryView(QTextBrowser):
    page_clicked = Signal(int)

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
        self.setHtml(f"<h1>{html.escape(self._heading)}</h1>"
                     "<p style='color:gray'><i>Writing… (citations are checked when it ends)"
                     f"</i></p><div>{html.escape(self.draft).replace(chr(10), '<br>')}</div>")
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

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
            self.page_clicked.emit(int(url.path()))
