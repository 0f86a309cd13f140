"""A PDF page as a picture, with the boxes of a quote on it, for "see the quote on the page".

Rendered by pypdfium2 (already the PDF reader). The quote is located on the page by searching
PDFium's own text for each line of it (the loader's page text is PDFium's, cleaned), so the boxes
are where the words are printed. No Qt here: the window turns the pixels into an image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lexbrief.errors import DocumentError

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels, origin top left


@dataclass(frozen=True)
class PageImage:
    width: int
    height: int
    rgb: bytes  # width * height * 3 bytes, row by row
    boxes: list[Box] = field(default_factory=list)


def render_pdf_page(path: Path, number: int, fragments: list[str], *,
                    password: str | None = None, scale: float = 1.5) -> PageImage:
    """Page `number` (1-based) of the PDF at `scale` (1 = 72 dpi), with the boxes of each text
    fragment found on it, in order."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path), password=password)
    except (pdfium.PdfiumError, OSError) as exc:
        raise DocumentError(f"{path.name} cannot be shown: {exc}") from exc
    try:
        if not 1 <= number <= len(pdf):
            raise DocumentError(f"{path.name} has no page {number}")
        page = pdf[number - 1]
        _width_pt, height_pt = page.get_size()
        bitmap = page.render(scale=scale, rev_byteorder=True)
        pixels = bitmap.to_numpy()
        boxes: list[Box] = []
        textpage = page.get_textpage()
        try:
            start = 0
            for fragment in fragments:
                text = " ".join(fragment.split())
                if len(text) < 3:
                    continue
                searcher = textpage.search(text, index=start, match_case=True)
                found = searcher.get_next()
                if found is None:
                    continue
                index, count = found
                start = index + count
                for k in range(textpage.count_rects(index, count)):
                    left, bottom, right, top = textpage.get_rect(k)
                    boxes.append((left * scale, (height_pt - top) * scale,
                                  right * scale, (height_pt - bottom) * scale))
        finally:
            textpage.close()
        rgb = pixels[:, :, :3].copy()
        return PageImage(width=rgb.shape[1], height=rgb.shape[0], rgb=rgb.tobytes(),
                         boxes=boxes)
    finally:
        pdf.close()
