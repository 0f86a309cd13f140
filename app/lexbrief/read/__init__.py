"""Read a file into a `Document` with its pages, whatever our users drop on the window.

The format is decided by the file's first bytes, not its name, so a renamed binary gets a
clear error instead of garbage. Any failure inside a third-party parser on a damaged file is
the world's fault: it becomes a `DocumentError` with a plain message (the traceback goes to the
debug log, in case it was our bug after all).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from lexbrief.errors import Cancelled, DocumentError, PasswordRequired
from lexbrief.read.document import Document, Page
from lexbrief.read.images import sniff_image
from lexbrief.read.ocr import OcrOptions

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm", ".rtf",
                      ".png", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 200 * 1024 * 1024
    max_pages: int = 3000
    min_words: int = 20  # below this there is nothing worth summarizing


def load_document(path: Path | str, *, password: str | None = None,
                  limits: Limits = Limits(), ocr: OcrOptions | None = None) -> Document:
    """`ocr`: when and how scanned pages are recognized (lexbrief.read.ocr); the default
    recognizes the pages that have no usable text layer."""
    path = Path(path)
    data = _read_bytes(path, limits)
    kind = sniff_kind(path, data)
    try:
        pages, title, pagination = _parse(kind, path, data, password, ocr)
    except (DocumentError, MemoryError, Cancelled):
        raise
    except Exception as exc:  # a parser choking on damaged input
        log.debug("parser failed on %s", path, exc_info=True)
        raise DocumentError(
            f"{path.name}: the file looks damaged and cannot be read as {kind.upper()} "
            f"({type(exc).__name__})."
        ) from exc
    if len(pages) > limits.max_pages:
        raise DocumentError(
            f"{path.name}: {len(pages)} pages is more than the limit of {limits.max_pages}; "
            "split the document first."
        )
    document = Document(
        path=path, kind=kind, pages=pages, sha256=hashlib.sha256(data).hexdigest(),
        size=len(data), title=title or None, pagination=pagination,
    )
    words = len(document.text.split())
    if words == 0 and any(p.ocr_confidence is not None for p in pages):
        raise DocumentError(f"{path.name}: OCR found no readable text on its {len(pages)} "
                            f"page{'s' if len(pages) != 1 else ''}.")
    if words == 0:
        raise DocumentError(f"{path.name} contains no readable text.")
    if words < limits.min_words:
        raise DocumentError(
            f"{path.name}: only {words} word{'s' if words != 1 else ''} of text; "
            "there is nothing to summarize."
        )
    return document


def _read_bytes(path: Path, limits: Limits) -> bytes:
    name = path.name or str(path)
    if path.is_dir():
        raise DocumentError(f"{name} is a folder, not a document.")
    if not path.exists():
        raise DocumentError(f"{name}: no such file ({path}).")
    if not path.is_file():
        raise DocumentError(f"{name} is not a regular file.")
    size = path.stat().st_size
    if size == 0:
        raise DocumentError(f"{name} is empty (0 bytes).")
    if size > limits.max_bytes:
        raise DocumentError(
            f"{name} is {size / 2**20:.0f} MB, more than the limit of "
            f"{limits.max_bytes / 2**20:.0f} MB."
        )
    try:
        return path.read_bytes()
    except PermissionError as exc:
        raise DocumentError(f"{name}: permission denied; LexBrief may not read this file.") from exc
    except OSError as exc:
        raise DocumentError(f"{name}: cannot be read ({os.strerror(exc.errno or 0)}).") from exc


def sniff_kind(path: Path, data: bytes) -> str:
    head = data[:1024]
    suffix = path.suffix.lower()
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        if b"word/" in data[:65536] or suffix == ".docx":
            return "docx"
        raise DocumentError(f"{path.name} is a zip archive, not a Word document.")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        if suffix == ".docx":
            raise PasswordRequired(
                f"{path.name} is a password-protected Word file; open it in Word, remove the "
                "password (File > Info > Protect Document), save, and try again."
            )
        raise DocumentError(
            f"{path.name} is an old binary Office file (.doc/.xls); save it as .docx or PDF first."
        )
    if head.lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"{\\rtf"):
        return "rtf"
    image = sniff_image(head)
    if image:
        return image
    if suffix == ".pdf":
        raise DocumentError(f"{path.name} is not a PDF: it has no PDF header (damaged or renamed).")
    if suffix == ".docx":
        raise DocumentError(f"{path.name} is not a Word document (damaged or renamed).")
    if suffix in (".png", ".jpg", ".jpeg", ".tif", ".tiff"):
        raise DocumentError(f"{path.name} is not a PNG, JPEG or TIFF image (damaged or renamed).")
    html_start = head.lstrip().lower().startswith((b"<!doctype html", b"<html"))
    if suffix in (".html", ".htm") or html_start:
        return "html"
    if suffix in (".md", ".markdown"):
        return "md"
    if suffix in ("", ".txt", ".text") or _looks_like_text(head):
        return "txt"
    raise DocumentError(
        f"{path.name}: unsupported file type; LexBrief reads {', '.join(SUPPORTED_SUFFIXES)}."
    )


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    return b"\x00" not in head


def _parse(kind: str, path: Path, data: bytes, password: str | None,
           ocr: OcrOptions | None) -> tuple[list[Page], str | None, str]:
    if kind == "pdf":
        from lexbrief.read.pdf import read_pdf

        return read_pdf(path, data, password, ocr)
    if kind in ("png", "jpeg", "tiff"):
        from lexbrief.read.images import read_image

        return read_image(path, data, kind, ocr)
    if kind == "docx":
        from lexbrief.read.docx import read_docx

        return read_docx(path, data)
    if kind == "rtf":
        from lexbrief.read.text import read_rtf

        return read_rtf(path, data)
    if kind == "html":
        from lexbrief.read.text import read_html

        return read_html(path, data)
    from lexbrief.read.text import read_text

    return read_text(path, data)


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given, and the supported documents inside any folder (a batch), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*")
                       if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                       and not p.name.startswith((".", "~$")))
            )
        else:
            found.append(path)
    return found
