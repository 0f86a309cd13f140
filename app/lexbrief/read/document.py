"""A loaded document: its pages (numbered as a reader would cite them) and what identifies it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Page:
    number: int  # 1-based, as cited: "[p. 4]"
    text: str
    # Set when the text was recognized from the page's image (lexbrief.read.ocr): the mean
    # recognition confidence, 0.0 when OCR found no text. None: the text came from the file.
    ocr_confidence: float | None = None
    # An image-only page left unread because OCR was switched off (--ocr never).
    ocr_skipped: bool = False


@dataclass
class Document:
    path: Path
    kind: str  # pdf, docx, txt, md, html, rtf, png, jpeg, tiff
    pages: list[Page]
    sha256: str
    size: int
    title: str | None = None
    # How the pages were found: "printed" (PDF pages), "breaks" (page breaks saved in the file),
    # or "none" (the format has no pages, so the whole text is page 1).
    pagination: str = "printed"
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def text(self) -> str:
        return "\n\n".join(page.text for page in self.pages)

    def page(self, number: int) -> Page:
        return self.pages[number - 1]
