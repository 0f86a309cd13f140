"""OCR measurements: character error rate against a PDF's own text layer, and scans made from
text PDFs (pages rendered to images, optionally noisy or rotated, rebuilt as an image-only PDF).

Used by docs/BENCHMARKS.md's OCR numbers (`python -m lexbrief.tools.bench.ocr`) and by the tests."""

from __future__ import annotations

import io
import random
import unicodedata
from collections.abc import Callable, Sequence
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


def _timed(image: Image, threads: int) -> tuple[str, float, float]:
    import time

    from lexbrief.read.ocr import recognize

    started = time.perf_counter()
    page = recognize(image, threads)
    return page.text, page.confidence, time.perf_counter() - started


def _llama_speed(model: Path, threads: int, stop: Callable[[], bool] | None = None) -> float:
    """Generation tokens per second of the starter model on a fixed prompt."""
    from lexbrief.cancel import NEVER
    from lexbrief.engine.contract import GenerationParams, Message, Usage
    from lexbrief.engine.llama_cpp.engine import LlamaCppEngine

    engine = LlamaCppEngine(model, context_length=1024, threads=threads)
    try:
        usage = Usage()
        params = GenerationParams(max_tokens=160, temperature=0.0)
        for item in engine.chat([Message("user", "Explain what a contract is, at length.")],
                                params, NEVER):
            if isinstance(item, Usage):
                usage.add(item)
        return usage.generation_tokens_per_second
    finally:
        engine.close()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import datetime as dt
    import json
    import os
    import platform
    import resource
    import subprocess
    import threading

    from lexbrief.read import load_document
    from lexbrief.read.ocr import OcrOptions, engine_version, ocr_threads

    parser = argparse.ArgumentParser(description="OCR accuracy and speed on the corpus")
    parser.add_argument("corpus", type=Path, help="the corpus's documents folder")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--model", type=Path, help="a GGUF: also measure OCR and llama.cpp "
                                                   "running at the same time")
    args = parser.parse_args(argv)
    pages = [("court-opinion-ca1.pdf", 2), ("court-opinion-ca1.pdf", 6),
             ("court-order-ca7.pdf", 0), ("contract-service-reynolds.pdf", 1),
             ("contract-license-cytodyn.pdf", 3)]
    threads = ocr_threads()
    rows = []
    for name, index in pages:
        path = args.corpus / name
        reference = layer_in_reading_order(path, index)
        clean = render_page(path, index, 300)
        for variant, image in (("clean 300 dpi", clean),
                               ("noisy (2% speckle, blur 0.8)", degrade(clean, noise=0.02,
                                                                         blur=0.8)),
                               ("rotated 2°", degrade(clean, angle=2.0))):
            text, confidence, seconds = _timed(image, threads)
            rows.append({"page": f"{name} p. {index + 1}", "variant": variant,
                         "cer": round(cer(reference, text), 4),
                         "cer_no_spaces": round(cer(reference, text, spaces=False), 4),
                         "confidence": confidence, "seconds": round(seconds, 2)})
            print(json.dumps(rows[-1]), flush=True)
    scanned = load_document(args.corpus / "scanned-no-text-layer.pdf",
                            ocr=OcrOptions(cache=False))
    scan_seconds = []
    for index in range(scanned.page_count):
        _, _, seconds = _timed(render_page(args.corpus / "scanned-no-text-layer.pdf", index),
                               threads)
        scan_seconds.append(round(seconds, 2))
    page = render_page(args.corpus / "court-opinion-ca1.pdf", 2)
    by_threads = {n: round(_timed(page, n)[2], 2) for n in sorted({1, threads})}
    result: dict[str, object] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, check=False).stdout.strip(),
        "machine": f"{platform.machine()} · {os.cpu_count()} logical CPUs · "
                   f"{platform.platform()}",
        "load_average": os.getloadavg(), "engine": engine_version(), "threads": threads,
        "pages": rows,
        "scanned_corpus_pdf": {"confidence": [p.ocr_confidence for p in scanned.pages],
                               "seconds_per_page": scan_seconds},
        "seconds_by_threads": by_threads,
        # the whole process (Python, PDFium renders, ONNX Runtime and the models), before any
        # llama.cpp model is loaded
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if args.model:
        alone = _llama_speed(args.model, threads)
        busy = threading.Event()
        ocr_busy_seconds: list[float] = []

        def ocr_loop() -> None:
            while not busy.is_set():
                ocr_busy_seconds.append(_timed(page, threads)[2])

        worker = threading.Thread(target=ocr_loop)
        worker.start()
        shared = _llama_speed(args.model, threads)
        busy.set()
        worker.join()
        result["with_llama"] = {
            "llama_tokens_per_second_alone": round(alone, 1),
            "llama_tokens_per_second_with_ocr": round(shared, 1),
            "ocr_seconds_per_page_alone": by_threads[threads],
            "ocr_seconds_per_page_with_llama": round(ocr_busy_seconds[0], 2)
            if ocr_busy_seconds else None,
        }
    result["load_average_after"] = os.getloadavg()
    summary = {variant: round(sum(r["cer"] for r in rows if r["variant"] == variant)  # type: ignore[misc]
                              / len(pages), 4)
               for variant in dict.fromkeys(str(r["variant"]) for r in rows)}
    result["mean_cer"] = summary
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
