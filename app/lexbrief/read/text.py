"""Plain text and Markdown (encoding detected), HTML (stdlib parser) and RTF (striprtf)."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

from lexbrief.errors import DocumentError
from lexbrief.read.document import Page

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(path: Path, data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(path, data.decode(encoding))
            except UnicodeDecodeError as exc:
                raise DocumentError(
                    f"{path.name}: starts as {encoding.upper()} text but contains invalid bytes "
                    f"(at byte {exc.start}); the file is damaged or mixes encodings."
                ) from exc
    try:
        return _checked(path, data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    western = _as_western(data)
    if western is not None:
        return _checked(path, western)
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DocumentError(f"{path.name}: the text encoding cannot be recognised.")
    return _checked(path, str(best))


_WESTERN_SYMBOLS = set("“”‘’‚„–—…€£¥§¶©®™°±×÷½¼¾•·«»¡¿¢")


def _as_western(data: bytes) -> str | None:
    """Windows-1252, the usual legacy encoding of English and Western European legal text, when
    every non-ASCII character it yields is a Latin letter or common typographic symbol.
    (Statistical detectors guess wrong on short Western texts; they still handle the rest.)"""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    for char in {c for c in text if ord(c) > 127}:
        if char in _WESTERN_SYMBOLS:
            continue
        if not (char.isalpha() and ord(char) < 0x250):
            return None
    return text


def _checked(path: Path, text: str) -> str:
    bad = len(_CONTROL.findall(text))
    if bad > max(3, len(text) // 200):
        raise DocumentError(f"{path.name}: this is binary data, not text.")
    return _CONTROL.sub("", text)


def _split_pages(text: str) -> tuple[list[Page], str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    chunks = [c.strip() for c in text.split("\f")]
    while len(chunks) > 1 and not chunks[-1]:
        chunks.pop()
    pages = [Page(i + 1, c) for i, c in enumerate(chunks)]
    return pages, "breaks" if len(pages) > 1 else "none"


def read_text(path: Path, data: bytes) -> tuple[list[Page], str | None, str]:
    text = decode_text(path, data)
    pages, pagination = _split_pages(text)
    title = None
    first = text.lstrip().split("\n", 1)[0].strip()
    if first.startswith("# "):
        title = first[2:].strip()
    return pages, title, pagination


class _HtmlText(HTMLParser):
    _BLOCK: ClassVar[set[str]] = {
        "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
        "article", "blockquote", "pre", "table", "ul", "ol", "dt", "dd", "hr"}
    _SKIP: ClassVar[set[str]] = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        # CSS page breaks as printed: <div style="page-break-before: always">
        style = dict(attrs).get("style") or ""
        if "page-break-before" in style.replace(" ", "") or "break-before:page" in style.replace(
                " ", ""):
            self.parts.append("\f")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(data)


def read_html(path: Path, data: bytes) -> tuple[list[Page], str | None, str]:
    parser = _HtmlText()
    parser.feed(decode_text(path, data))
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r"\n[ \t]*\n[ \t]*(\n[ \t]*)+", "\n\n", text)
    pages, pagination = _split_pages(text)
    return pages, " ".join("".join(parser.title).split()) or None, pagination


_RTF_PAGE = re.compile(rb"\\page(?![a-z])")
_PAGE_MARK = "LEXBRIEFPAGEBREAK"


def read_rtf(path: Path, data: bytes) -> tuple[list[Page], str | None, str]:
    from striprtf.striprtf import rtf_to_text

    marked = _RTF_PAGE.sub(b"\\\\par " + _PAGE_MARK.encode() + b"\\\\par ", data)
    # RTF is 7-bit; anything else is escaped inside the file, so latin-1 never fails here.
    text = rtf_to_text(marked.decode("latin-1"), errors="replace")
    pages, pagination = _split_pages(text.replace(_PAGE_MARK, "\f"))
    return pages, None, pagination
