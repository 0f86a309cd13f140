"""Scans made from text PDFs, and how far OCR's text is from the original: pages rendered to
images, made worse (noise, blur, JPEG, skew, rotation, a lower resolution), rebuilt as an
image-only PDF; the character error rate against the page's own text layer.

Used by the OCR benchmark (lexbrief.tools.bench.ocr) and by the tests."""

from __future__ import annotations

import io
import random
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

_FOLD = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00ad": ""})


def normalize(text: str, *, spaces: bool = True) -> str:
    """Unicode-compatible forms, straight quotes and dashes, hyphenated line ends joined,
    runs of white space as one space (or none: `spaces=False`)."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    text = text.replace("-\n", "")
    return " ".join(text.split()) if spaces else "".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (Hyyrö's bit-parallel algorithm: fast in pure Python)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    masks: dict[str, int] = {}
    for i, char in enumerate(b):
        masks[char] = masks.get(char, 0) | (1 << i)
    full = (1 << len(b)) - 1
    high = 1 << (len(b) - 1)
    pv, mv, score = full, 0, len(b)
    for char in a:
        eq = masks.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
    return score


def cer(reference: str, hypothesis: str, *, spaces: bool = True) -> float:
    ref, hyp = normalize(reference, spaces=spaces), normalize(hypothesis, spaces=spaces)
    return edit_distance(ref, hyp) / max(1, len(ref))


def render_page(pdf_path: Path, index: int, dpi: int = 300) -> Image:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        page = pdf[index]
        image = page.render(scale=dpi / 72, fill_color=(255, 255, 255, 255)).to_pil()
        return image.convert("RGB")
    finally:
        pdf.close()


def degrade(image: Image, *, noise: float = 0.0, angle: float = 0.0, blur: float = 0.0,
            seed: int = 0) -> Image:
    """A worse scan: salt-and-pepper noise (share of pixels), a skew in degrees, blur."""
    from PIL import Image as PILImage
    from PIL import ImageFilter

    out = image.convert("L")
    if blur:
        out = out.filter(ImageFilter.GaussianBlur(blur))
    if angle:
        out = out.rotate(angle, resample=PILImage.Resampling.BICUBIC, expand=True, fillcolor=255)
    if noise:
        rng = random.Random(seed)
        pixels = out.load()
        assert pixels is not None
        width, height = out.size
        for _ in range(int(noise * width * height)):
            pixels[rng.randrange(width), rng.randrange(height)] = rng.choice((0, 255))
    return out.convert("RGB")


def image_pdf(pages: Sequence[Image | tuple[Path, int]], dpi: int = 300) -> bytes:
    """A PDF of the given pages: an image becomes an image-only page (at `dpi`), a
    (pdf, index) pair is copied with its text layer."""
    import pypdfium2 as pdfium

    out = pdfium.PdfDocument.new()
    sources: list[pdfium.PdfDocument] = []
    try:
        for page in pages:
            if isinstance(page, tuple):
                source = pdfium.PdfDocument(str(page[0]))
                sources.append(source)
                out.import_pages(source, [page[1]])
                continue
            width, height = page.size[0] * 72 / dpi, page.size[1] * 72 / dpi
            new = out.new_page(width, height)
            image = pdfium.PdfImage.new(out)
            image.set_bitmap(pdfium.PdfBitmap.from_pil(page.convert("RGB")))
            image.set_matrix(pdfium.PdfMatrix().scale(width, height))
            new.insert_obj(image)
            new.gen_content()
        buffer = io.BytesIO()
        out.save(buffer)
        return buffer.getvalue()
    finally:
        out.close()
        for source in sources:
            source.close()


def layer_in_reading_order(pdf_path: Path, index: int) -> str:
    """A page's text layer, its lines top to bottom (left to right within a line): the order
    OCR reads a one-column page in. A PDF's own order can put the header last, which would
    count as errors that are not recognition errors."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        textpage = pdf[index].get_textpage()
        pieces = []
        for i in range(textpage.count_rects()):
            left, bottom, right, top = textpage.get_rect(i)
            text = " ".join(textpage.get_text_bounded(left, bottom, right, top).split())
            if text:
                pieces.append((-top, bottom, left, text))
        pieces.sort()
        lines: list[list[tuple[float, str]]] = []
        span = (0.0, 0.0)  # the current line's bottom and top
        for neg_top, bottom, left, text in pieces:
            top = -neg_top
            overlap = min(top, span[1]) - max(bottom, span[0])
            if not lines or overlap < 0.3 * min(top - bottom, span[1] - span[0]):
                lines.append([])
                span = (bottom, top)
            else:
                span = (min(bottom, span[0]), max(top, span[1]))
            lines[-1].append((left, text))
        return "\n".join(" ".join(t for _, t in sorted(line)) for line in lines)
    finally:
        pdf.close()


def gaussian_noise(image: Image, sigma: float, seed: int = 0) -> Image:
    """Grey-level noise of standard deviation `sigma` (0-255 scale) on every pixel."""
    import numpy as np
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    noisy = np.clip(grey + rng.normal(0.0, sigma, grey.shape), 0, 255).astype(np.uint8)
    return PILImage.fromarray(noisy).convert("RGB")


def jpeg(image: Image, quality: int) -> Image:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    image.convert("L").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return PILImage.open(buffer).convert("RGB")


def as_scanned(image: Image, dpi: int) -> Image:
    """The page as the app sees it: the image in an image-only PDF at `dpi`, rendered back at
    the reader's 300 dpi (a 100-dpi scan is upsampled by PDFium as in the app)."""
    import pypdfium2 as pdfium

    from lexbrief.read.pdf import _renderer

    pdf = pdfium.PdfDocument(image_pdf([image], dpi))
    try:
        return _renderer(pdf, 1)()
    finally:
        pdf.close()
