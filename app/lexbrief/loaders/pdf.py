"""PDF text layer through PDFium (pypdfium2: Apache-2.0/BSD, the engine Chrome uses)."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from lexbrief.core.document import Page
from lexbrief.errors import DocumentError, PasswordRequired, ScannedDocument

# Below this many characters per page on average, the "text" is page furniture at best.
_SCANNED_CHARS_PER_PAGE = 25


def scanned_error(path: Path, pages: int) -> ScannedDocument:
    return ScannedDocument(
        f"{path.name}: this PDF is scanned images with no text layer ({pages} page"
        f"{'s' if pages != 1 else ''}); OCR is needed before it can be summarized."
    )


def read_pdf(path: Path, data: bytes,
             password: str | None) -> tuple[list[Page], str | None, str]:
    try:
        pdf = pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            if password:
                raise PasswordRequired(f"{path.name}: the password is not correct.") from exc
            raise PasswordRequired(
                f"{path.name} is protected by a password; pass it with --password."
            ) from exc
        raise DocumentError(
            f"{path.name}: the PDF is damaged and cannot be opened ({_pdfium_reason(exc)})."
        ) from exc
    try:
        pages = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            try:
                pages.append(Page(index + 1, _clean(textpage.get_text_bounded())))
            finally:
                textpage.close()
                page.close()
        title = (pdf.get_metadata_dict().get("Title") or "").strip()
    finally:
        pdf.close()
    if not pages:
        raise DocumentError(f"{path.name}: the PDF has no pages.")
    chars = sum(len(p.text.strip()) for p in pages)
    if chars < _SCANNED_CHARS_PER_PAGE * len(pages) and _has_images(data, password):
        raise scanned_error(path, len(pages))
    return pages, _readable_title(title), "printed"


def _has_images(data: bytes, password: str | None) -> bool:
    pdf = pdfium.PdfDocument(data, password=password)
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                if next(page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)), None):
                    return True
            finally:
                page.close()
        return False
    finally:
        pdf.close()


def _readable_title(title: str) -> str:
    """Producers often put a file name or a tool's name in Title; keep only a real title."""
    title = title.removeprefix("Microsoft Word - ").strip()
    if title.lower().endswith((".png", ".jpg", ".tif", ".tiff", ".doc", ".docx", ".pdf")):
        return ""
    return title


def _pdfium_reason(exc: Exception) -> str:
    text = str(exc)
    if "(PDFium: " in text:
        return text.split("(PDFium: ", 1)[1].rstrip(").").lower()
    return text


def _clean(text: str) -> str:
    # PDFium marks soft hyphens at line ends with U+0002 / U+FFFE; lines end in CRLF.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\x02\n", "").replace("\ufffe\n", "").replace("\x02", "-")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()
