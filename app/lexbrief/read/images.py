"""Photographs and scans as documents: PNG, JPEG and TIFF (every frame of a multi-page TIFF is
a page), read by Pillow and recognized by OCR."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lexbrief.errors import DocumentError, ScannedDocument
from lexbrief.read.document import Page
from lexbrief.read.ocr import OcrOptions, recognize_pages

if TYPE_CHECKING:
    from PIL.Image import Image

KINDS = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF"}


def sniff_image(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    return None


def read_image(path: Path, data: bytes, kind: str,
               ocr: OcrOptions | None = None) -> tuple[list[Page], str | None, str]:
    from PIL import Image as PILImage
    from PIL import ImageOps

    ocr = ocr or OcrOptions()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(data))
            image.load()
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        limit = (PILImage.MAX_IMAGE_PIXELS or 0) // 1_000_000
        raise DocumentError(f"{path.name}: the image is too large to read safely "
                            f"(more than {limit} million pixels).") from exc
    frames = getattr(image, "n_frames", 1)
    if ocr.mode == "never":
        raise ScannedDocument(
            f"{path.name} is a {KINDS[kind]} image ({frames} page{'s' if frames != 1 else ''}) "
            "and OCR is off (--ocr never); use --ocr auto to read it.")

    def frame(index: int) -> Callable[[], Image]:
        def render() -> Image:
            image.seek(index)
            # A phone photo's EXIF orientation, so text is upright.
            upright = ImageOps.exif_transpose(image) or image
            return upright.convert("RGB")
        return render

    # Frames are decoded one at a time, as each page's turn comes.
    numbers = range(1, frames + 1)
    recognized = dict(recognize_pages(hashlib.sha256(data).hexdigest(),
                                      ((n, frame(n - 1)) for n in numbers), len(numbers), ocr))
    pages = [Page(n, recognized[n].text, ocr_confidence=recognized[n].confidence)
             for n in numbers]
    return pages, None, "printed"
