"""Offline OCR of page images: RapidOCR's PP-OCRv6 models on ONNX Runtime, on the CPU.

The models come inside the `rapidocr` wheel and are passed to it by path, so nothing is ever
downloaded. Pages are recognized one at a time, with progress, an estimate of the time left and
a cancel check between pages. Each page's result is cached in the data folder under the
document's sha256 (`ocr/<sha256>.json`) as soon as it is done, so a re-run, or a run resumed
after a cancel, does not recognize that page again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lexbrief import network
from lexbrief.cancel import NEVER, CancelToken
from lexbrief.paths import data_dir
from lexbrief.read.layout import Box, page_text

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

MODES = ("auto", "always", "never")
# Pages are rendered at 300 dpi; RapidOCR then scales the longest side down to MAX_SIDE pixels
# (about 180 dpi on a Letter page). Measured on the corpus (docs/BENCHMARKS.md): this is both
# faster and more accurate than feeding the full 300-dpi image to the models.
RENDER_DPI = 300
MAX_SIDE = 2000
MAX_PIXELS = 40_000_000  # larger images are scaled down before OCR (memory)
RETRY_BELOW = 0.9  # a line recognized with less confidence is read again on its own
# Lines still below this after the retry are noise (specks, a stamp's border): left out of the
# text, but their low scores still count in the page's confidence.
KEEP_ABOVE = 0.5
# The page's orientation is decided on its longest lines, read alone each way round: this many,
# and a reading must be this much more confident than the other to vote.
ORIENTATION_SAMPLE = 5
ORIENTATION_MARGIN = 0.15
# A page whose lines slope by this many degrees (or more, up to SKEW_MAX) is straightened.
SKEW_MIN = 0.4
SKEW_MAX = 10.0
_LAYOUT_VERSION = 2  # 2: pages turned upright and straightened before reading


@dataclass(frozen=True)
class OcrProgress:
    done: int  # pages finished (recognized or taken from the cache)
    total: int  # pages that need OCR in this document
    page: int  # the page just finished (1-based, as cited)
    cached: bool  # its text came from the cache
    eta_seconds: float | None  # from the seconds per recognized page so far


@dataclass(frozen=True)
class OcrOptions:
    mode: str = "auto"  # auto: pages without a usable text layer; always: every page; never
    progress: Callable[[OcrProgress], None] | None = None
    cancel: CancelToken = NEVER
    cache: bool = True
    threads: int = 0  # 0: ocr_threads()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            from lexbrief.errors import UserFacingError

            raise UserFacingError(f"unknown OCR mode '{self.mode}'; choose one of "
                                  f"{', '.join(MODES)}")


@dataclass(frozen=True)
class OcrPage:
    text: str
    confidence: float  # mean over the recognized characters; 0.0 when nothing was found
    lines: int
    # Degrees the page image was turned (counter-clockwise) to make its text upright: 0, 90,
    # 180 or 270 (a page scanned sideways or upside down).
    rotated: int = 0
    # Each recognized line's characters and confidence, for the benchmark's calibration of the
    # low-confidence flag (not cached: a page from the cache has none).
    line_scores: tuple[tuple[int, float], ...] = ()


def ocr_threads() -> int:
    """Threads for ONNX Runtime: the physical cores. OCR runs while a document is loaded, before
    llama.cpp starts on it, and one document is summarized at a time, so the two never compute
    at once. Measured what sharing would cost (docs/BENCHMARKS.md, OCR, 2 cores): OCR on 2
    threads beside llama.cpp on 2 cut llama.cpp to 0.28x its speed, OCR on 1 thread to 0.77x;
    alone, OCR keeps 1.96 cores busy on 2 threads."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


REC_MODEL = "PP-OCRv6_rec_small.onnx"
# The installers' recogniser: the same model with its MatMul weights stored as int8
# (packaging/ocr_models.py): 7.3 MB smaller, the same error rate on the OCR benchmark's pages.
REC_MODEL_INT8 = "PP-OCRv6_rec_small.int8.onnx"


def models_dir() -> Path:
    """Where RapidOCR's models lie, found without importing it (and ONNX Runtime and OpenCV
    with it): the OCR cache's key needs it on pages the cache already has."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("RapidOCR is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "models"


def model_files(models: Path) -> dict[str, str]:
    """RapidOCR's part -> the model file used for it: the int8 recogniser where it is there."""
    rec = REC_MODEL_INT8 if (models / REC_MODEL_INT8).is_file() else REC_MODEL
    return {"Det": "PP-OCRv6_det_small.onnx", "Rec": rec,
            "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx"}


def engine_version() -> str:
    """RapidOCR's version, and which recogniser (OCR results are cached under this)."""
    import importlib.metadata as md

    try:
        version = f"rapidocr {md.version('rapidocr')}"
    except md.PackageNotFoundError:  # a frozen bundle without the distribution's metadata
        import rapidocr

        version = f"rapidocr {getattr(rapidocr, '__version__', 'unknown')}"
    if model_files(models_dir())["Rec"] == REC_MODEL_INT8:
        version += " (recogniser int8)"
    return version


class _Engine:
    """One RapidOCR instance per thread count, shared (ONNX Runtime sessions are thread-safe,
    but one page at a time keeps peak memory predictable)."""

    _instances: ClassVar[dict[int, _Engine]] = {}
    _create = threading.Lock()

    def __init__(self, threads: int) -> None:
        # Before ONNX Runtime starts: its telemetry (C++, which the network policy's hook does
        # not see) would otherwise look up a Microsoft host after the first pages.
        network.silence_native_telemetry()
        from rapidocr import RapidOCR

        models = models_dir()
        files = model_files(models)
        missing = [name for name in files.values() if not (models / name).is_file()]
        if missing:  # never let RapidOCR fall back to downloading them
            raise RuntimeError(f"the OCR models are missing from {models}: {', '.join(missing)}")
        params: dict[str, Any] = {
            "Global.log_level": "error", "Global.max_side_len": MAX_SIDE,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        params.update({f"{part}.model_path": str(models / name) for part, name in files.items()})
        self.threads = threads
        self.lock = threading.Lock()
        self._ocr = RapidOCR(params=params)
        try:
            import cv2

            cv2.setNumThreads(threads)
        except ImportError:  # pragma: no cover - rapidocr depends on OpenCV
            pass

    @classmethod
    def get(cls, threads: int) -> _Engine:
        with cls._create:
            if threads not in cls._instances:
                cls._instances[threads] = cls(threads)
            return cls._instances[threads]

    def recognize(self, image: Image) -> OcrPage:
        image = _bounded(image.convert("RGB"))
        rotated = 0
        with self.lock:
            boxes, skew = self._page(image)
            if SKEW_MIN <= abs(skew) <= SKEW_MAX:
                # A page scanned a little askew: its lines drift across the rows of the reading
                # order (1.5° is 50 px over a page's width, a line and a half), so it is
                # straightened and read again.
                from PIL import Image as PILImage

                image = image.rotate(skew, resample=PILImage.Resampling.BICUBIC, expand=True,
                                     fillcolor=(255, 255, 255))
                boxes, _ = self._page(image)
            # At most twice: a sideways page, once turned, may still be upside down.
            for _ in range(2):
                turn = self._turn(image, boxes)
                if not turn:
                    break
                # PIL turns counter-clockwise; the page is read again the right way up
                image = image.rotate(turn, expand=True)
                boxes, _ = self._page(image)
                rotated = (rotated + turn) % 360
        # RapidOCR maps its boxes back to the pixels of the image it was given.
        page = page_from_boxes(boxes, *image.size)
        return replace(page, rotated=rotated) if rotated else page

    def _page(self, image: Image) -> tuple[list[Box], float]:
        """The page's lines, and its skew: the median slope of the wide lines' top edges, in
        degrees (PIL's sense: turning the image by it levels the lines)."""
        # RapidOCR keeps these per call settings: always say them (a retry turns det off).
        result: Any = self._ocr(image, use_det=True, use_cls=True, use_rec=True,
                                text_score=0.0)
        boxes = []
        slopes = []
        quads = result.boxes if result.boxes is not None else []
        for quad, text, score in zip(quads, result.txts or (), result.scores or (),
                                     strict=False):
            xs = [float(p[0]) for p in quad]
            ys = [float(p[1]) for p in quad]
            dx, dy = xs[1] - xs[0], ys[1] - ys[0]
            if dx > 8 * abs(dy) and dx > 200 and len(str(text).strip()) >= 10:
                slopes.append(math.degrees(math.atan2(dy, dx)))
            box = Box(min(xs), min(ys), max(xs), max(ys), str(text), float(score))
            if box.score < RETRY_BELOW:
                box = self._retry(image, box)
            boxes.append(box)
        skew = statistics.median(slopes) if len(slopes) >= 5 else 0.0
        return boxes, skew

    def _line(self, crop: Image) -> tuple[str, float]:
        """One line image recognized as it is (no detection, no 180° classifier)."""
        if crop.size[0] < 4 or crop.size[1] < 4:
            return "", 0.0
        result: Any = self._ocr(crop, use_det=False, use_cls=False, use_rec=True,
                                text_score=0.0)
        texts, scores = result.txts or (), result.scores or ()
        if not texts or not scores:
            return "", 0.0
        return str(texts[0]), float(scores[0])

    def _turn(self, image: Image, boxes: list[Box]) -> int:
        """How far to turn the page (counter-clockwise degrees) so its text is upright.

        Sideways text (a page scanned at 90° or 270°) comes out of the detector as tall, narrow
        boxes. Upside-down text does not show in the boxes, and the page pass reads each of its
        lines right (RapidOCR's classifier turns a line it finds upside down), but the lines
        would be put in reverse order. So the longest lines are read again on their own, without
        the classifier, each way round: the way that reads with clearly more confidence votes,
        and a majority of ORIENTATION_SAMPLE lines decides. An upright page costs six
        single-line reads (three lines agree) on top of the page pass.
        """
        found = [b for b in boxes if len(b.text.strip()) >= 3]
        if not found:
            return 0
        area = sum((b.x1 - b.x0) * (b.y1 - b.y0) for b in found)
        tall = sum((b.x1 - b.x0) * (b.y1 - b.y0) for b in found
                   if b.y1 - b.y0 > 1.5 * (b.x1 - b.x0))
        sideways = tall > 0.5 * area
        angles = (90, 270) if sideways else (0, 180)
        longest = sorted(found, key=lambda b: (b.y1 - b.y0) if sideways else (b.x1 - b.x0),
                         reverse=True)[:ORIENTATION_SAMPLE]
        need = ORIENTATION_SAMPLE // 2 + 1
        votes = dict.fromkeys(angles, 0)
        for box in longest:
            margin = 0.15 * min(box.x1 - box.x0, box.y1 - box.y0)
            crop = image.crop((int(max(0, box.x0 - margin)), int(max(0, box.y0 - margin)),
                               int(min(image.size[0], box.x1 + margin)),
                               int(min(image.size[1], box.y1 + margin))))
            score = {a: self._line(crop.rotate(a, expand=True) if a else crop)[1]
                     for a in angles}
            first, second = angles if score[angles[0]] >= score[angles[1]] else angles[::-1]
            if score[first] - score[second] >= ORIENTATION_MARGIN:
                votes[first] += 1
                if votes[first] >= need:
                    break
        winner = max(angles, key=lambda a: votes[a])
        if votes[winner] >= min(need, len(longest) // 2 + 1) and votes[winner] > \
                votes[angles[0] if winner == angles[1] else angles[1]]:
            return winner
        return 90 if sideways else 0  # undecided: sideways is turned anyway (then checked)

    def _retry(self, image: Image, box: Box) -> Box:
        """Recognize a doubtful line again on its own, cropped from the full-resolution page
        with a margin: the page pass sometimes garbles a long clean line ("cuo s o nd, ( o",
        0.70) that read alone comes out right (0.98). The better reading is kept."""
        margin = 0.15 * box.height
        crop = image.crop((int(max(0, box.x0 - margin)), int(max(0, box.y0 - margin)),
                           int(min(image.size[0], box.x1 + margin)),
                           int(min(image.size[1], box.y1 + margin))))
        if crop.size[0] < 4 or crop.size[1] < 4:
            return box
        again: Any = self._ocr(crop, use_det=False, use_cls=False, use_rec=True,
                               text_score=0.0)
        texts, scores = again.txts or (), again.scores or ()
        if texts and scores and float(scores[0]) > box.score and str(texts[0]).strip():
            return Box(box.x0, box.y0, box.x1, box.y1, str(texts[0]), float(scores[0]))
        return box


def _bounded(image: Image) -> Image:
    pixels = image.size[0] * image.size[1]
    if pixels <= MAX_PIXELS:
        return image
    scale = (MAX_PIXELS / pixels) ** 0.5
    return image.resize((max(1, int(image.size[0] * scale)), max(1, int(image.size[1] * scale))))


def page_from_boxes(boxes: list[Box], width: float, height: float) -> OcrPage:
    found = [b for b in boxes if b.text.strip()]
    kept = [b for b in found if b.score >= KEEP_ABOVE]
    chars = sum(len(b.text.strip()) for b in found)
    confidence = (sum(b.score * len(b.text.strip()) for b in found) / chars) if kept else 0.0
    return OcrPage(page_text(kept, width, height), round(confidence, 4), len(kept),
                   line_scores=tuple((len(b.text.strip()), round(b.score, 4)) for b in found))


def recognize(image: Image, threads: int = 0) -> OcrPage:
    """OCR one page image."""
    return _Engine.get(threads or ocr_threads()).recognize(image)


class OcrCache:
    """Recognized pages of one document, by page number, in `<data folder>/ocr/<sha256>.json`.
    A cache written by another engine version or layout is ignored."""

    def __init__(self, sha256: str, enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = (data_dir() / "ocr" if enabled else Path()) / f"{sha256}.json"
        self.key = f"{engine_version()} · {RENDER_DPI} dpi · {MAX_SIDE} px · layout " \
                   f"{_LAYOUT_VERSION}"
        self.pages: dict[int, OcrPage] = {}
        if enabled:
            self._read()

    def _read(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable OCR cache %s (%s)", self.path, exc)
            return
        if not isinstance(raw, dict) or raw.get("engine") != self.key:
            return
        for number, page in (raw.get("pages") or {}).items():
            try:
                self.pages[int(number)] = OcrPage(str(page["text"]), float(page["confidence"]),
                                                  int(page["lines"]),
                                                  int(page.get("rotated", 0)))
            except (KeyError, TypeError, ValueError):
                continue

    def put(self, number: int, page: OcrPage) -> None:
        self.pages[number] = page
        if not self.enabled:
            return
        data = {"engine": self.key, "pages": {
            str(n): {"text": p.text, "confidence": p.confidence, "lines": p.lines,
                     "rotated": p.rotated}
            for n, p in sorted(self.pages.items())}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.partial")
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # a full disk costs the cache, not the document
            log.warning("could not write the OCR cache %s (%s)", self.path, exc)


def recognize_pages(sha256: str, pages: Iterable[tuple[int, Callable[[], Image]]],
                    total: int, options: OcrOptions) -> Iterator[tuple[int, OcrPage]]:
    """OCR the given pages (number, a function that renders its image) one by one, taking what
    the cache already has; progress after each page, the cancel flag checked before each."""
    if total <= 0:
        return  # a document with a text layer on every page: nothing to recognize or cache
    cache = OcrCache(sha256, options.cache)
    threads = options.threads or ocr_threads()
    recognized = 0
    seconds = 0.0
    for done, (number, render) in enumerate(pages, 1):
        options.cancel.check()
        page = cache.pages.get(number)
        cached = page is not None
        if page is None:
            started = time.perf_counter()
            page = recognize(render(), threads)
            seconds += time.perf_counter() - started
            recognized += 1
            cache.put(number, page)
            log.debug("OCR p. %d: %d lines, confidence %.3f, turned %d°, %.1f s", number,
                      page.lines, page.confidence, page.rotated, time.perf_counter() - started)
        if options.progress is not None:
            eta = seconds / recognized * (total - done) if recognized else None
            options.progress(OcrProgress(done, total, number, cached,
                                         0.0 if done == total else eta))
        yield number, page
