"""PDF pages through PDFium (pypdfium2: Apache-2.0/BSD, the engine Chrome uses): the text layer
where a page has a usable one, OCR of the rendered page where it does not (decided page by page:
a scan with a few typed pages, or a filing whose court stamp is the only text on scanned pages,
is common)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from lexbrief.errors import DocumentError, PasswordRequired, ScannedDocument
from lexbrief.read.document import Page
from lexbrief.read.ocr import RENDER_DPI, OcrOptions, recognize_pages

if TYPE_CHECKING:
    from PIL.Image import Image

# A page with less text than this and an image on it is a scan (its "text" is furniture).
_SCANNED_CHARS = 25
# A page mostly covered by an image, with little text, is a scan with a stamp on it (a court's
# filing header); OCR of the rendered page reads the stamp and the scan alike.
_STAMPED_CHARS = 200
_IMAGE_SHARE = 0.5


def scanned_error(path: Path, pages: int) -> ScannedDocument:
    return ScannedDocument(
        f"{path.name}: this PDF is scanned images with no text layer ({pages} page"
        f"{'s' if pages != 1 else ''}) and OCR is off (--ocr never); use --ocr auto to read it."
    )


def read_pdf(path: Path, data: bytes, password: str | None,
             ocr: OcrOptions | None = None) -> tuple[list[Page], str | None, str]:
    ocr = ocr or OcrOptions()
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
        layer: list[str] = []
        scanned: list[int] = []  # 1-based numbers of the pages that need OCR
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            try:
                text = _clean(textpage.get_text_bounded())
                layer.append(text)
                if ocr.mode == "always" or _needs_ocr(page, text):
                    scanned.append(index + 1)
            finally:
                textpage.close()
                page.close()
        if not layer:
            raise DocumentError(f"{path.name}: the PDF has no pages.")
        title = (pdf.get_metadata_dict().get("Title") or "").strip()
        if ocr.mode == "never":
            if scanned and sum(len(layer[n - 1].strip()) for n in range(1, len(layer) + 1)
                               if n not in scanned) == 0:
                raise scanned_error(path, len(layer))
            pages = [Page(n, text, ocr_skipped=n in scanned)
                     for n, text in enumerate(layer, 1)]
            return pages, _readable_title(title), "printed"
        recognized = dict(recognize_pages(
            hashlib.sha256(data).hexdigest(),
            ((n, _renderer(pdf, n)) for n in scanned), len(scanned), ocr))
    finally:
        pdf.close()
    pages = []
    for number, text in enumerate(layer, 1):
        result = recognized.get(number)
        if result is None:
            pages.append(Page(number, text))
        else:
            pages.append(Page(number, result.text, ocr_confidence=result.confidence))
    return pages, _readable_title(title), "printed"


def _renderer(pdf: pdfium.PdfDocument, number: int) -> Callable[[], Image]:
    def render() -> Image:
        page = pdf[number - 1]
        try:
            width, height = page.get_size()
            # Huge pages (posters, plans) are rendered at what the OCR can use, not 300 dpi.
            scale = min(RENDER_DPI / 72, (40_000_000 / max(1.0, width * height)) ** 0.5)
            bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
            try:
                return bitmap.to_pil()
            finally:
                bitmap.close()
        finally:
            page.close()
    return render


def _needs_ocr(page: pdfium.PdfPage, text: str) -> bool:
    chars = len(text.strip())
    if chars >= _STAMPED_CHARS:
        return False
    width, height = page.get_size()
    area = max(1.0, width * height)
    covered = 0.0
    for image in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
        if chars < _SCANNED_CHARS:
            return True
        try:
            left, bottom, right, top = image.get_bounds()
        except pdfium.PdfiumError:
            continue  # an image PDFium cannot place covers nothing we can measure
        covered += max(0.0, min(right, width) - max(left, 0.0)) * \
            max(0.0, min(top, height) - max(bottom, 0.0))
    return covered / area >= _IMAGE_SHARE


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
