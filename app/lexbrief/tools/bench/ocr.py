"""The OCR benchmark behind docs/BENCHMARKS.md's OCR section
(`python -m lexbrief.tools.bench.ocr CORPUS`): character error rate of corpus pages scanned
clean and degraded (lexbrief.tools.bench.scans), seconds per page, the cores and threads OCR
uses, peak memory in a fresh process, OCR beside llama.cpp, and the calibration of the
low-confidence flag."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lexbrief.tools.bench.scans import (
    as_scanned,
    cer,
    degrade,
    gaussian_noise,
    jpeg,
    layer_in_reading_order,
    render_page,
)

if TYPE_CHECKING:
    from PIL.Image import Image

# Pages measured: two court opinion pages, a court order, a service contract and a CUAD
# contract (paths relative to the corpus folder).
PAGES = (("documents/court-opinion-ca1.pdf", 2), ("documents/court-opinion-ca1.pdf", 6),
         ("documents/court-order-ca7.pdf", 0), ("documents/contract-service-reynolds.pdf", 1),
         ("cuad-train/09_outsourcing_photronics.pdf", 1))
CLEAN = "clean 300 dpi"


def _variants(path: Path, index: int, clean: Image) -> dict[str, tuple[Callable[[], Image], int,
                                                                      bool]]:
    """Each variant: how to make its image, the dpi it is scanned at, and whether it is one of
    the harsher renders made only to calibrate the low-confidence flag."""
    return {
        CLEAN: (lambda: clean, 300, False),
        "gaussian noise σ=25": (lambda: gaussian_noise(clean, 25), 300, False),
        "speckle 2% + blur 0.8": (lambda: degrade(clean, noise=0.02, blur=0.8), 300, False),
        "blur 1.5 px": (lambda: degrade(clean, blur=1.5), 300, False),
        "JPEG q30": (lambda: jpeg(clean, 30), 300, False),
        "150 dpi": (lambda: render_page(path, index, 150), 150, False),
        "100 dpi": (lambda: render_page(path, index, 100), 100, False),
        "skew 1.5°": (lambda: degrade(clean, angle=1.5), 300, False),
        "rotated 90°": (lambda: clean.rotate(90, expand=True), 300, False),
        "rotated 180°": (lambda: clean.rotate(180), 300, False),
        "rotated 270°": (lambda: clean.rotate(270, expand=True), 300, False),
        "75 dpi": (lambda: render_page(path, index, 75), 75, True),
        "60 dpi": (lambda: render_page(path, index, 60), 60, True),
        "blur 2.5 px": (lambda: degrade(clean, blur=2.5), 300, True),
        "blur 3.5 px": (lambda: degrade(clean, blur=3.5), 300, True),
        "gaussian noise σ=80": (lambda: gaussian_noise(clean, 80), 300, True),
        "speckle 10%": (lambda: degrade(clean, noise=0.10), 300, True),
        "JPEG q5": (lambda: jpeg(clean, 5), 300, True),
        "100 dpi + JPEG q20 + noise σ=30": (
            lambda: gaussian_noise(jpeg(render_page(path, index, 100), 20), 30), 100, True),
    }


def page_scores(lines: Sequence[tuple[int, float]]) -> dict[str, float]:
    """Candidate page scores for the low-confidence flag, from each line's (characters,
    confidence): the mean over characters (what the coverage reports), the share of characters
    in lines below 0.8 and 0.9, and the confidence of the worst-read tenth of the text."""
    chars = sum(n for n, _ in lines)
    if not chars:
        return {"mean": 0.0, "low_0.8": 1.0, "low_0.9": 1.0, "p10": 0.0}
    ordered = sorted(lines, key=lambda line: line[1])
    seen, p10 = 0, ordered[-1][1]
    for n, score in ordered:
        seen += n
        if seen >= 0.1 * chars:
            p10 = score
            break
    return {"mean": round(sum(n * s for n, s in lines) / chars, 4),
            "low_0.8": round(sum(n for n, s in lines if s < 0.8) / chars, 4),
            "low_0.9": round(sum(n for n, s in lines if s < 0.9) / chars, 4),
            "p10": round(p10, 4)}


def calibrate(rows: Sequence[dict[str, object]], bad_cer: float = 0.10,
              good_cer: float = 0.03) -> dict[str, object]:
    """For each page score: the threshold that best separates the bad pages (CER above
    `bad_cer`) from the good ones (CER at most `good_cer`, every clean render among them), and
    how many of each it gets wrong. Pages in between are not counted either way. The CER here
    ignores white space: the court order's text layer spaces letters apart ("Un ited States
    Cou rt"), which would make its clean scan look bad."""
    out: dict[str, object] = {}
    scored: list[tuple[float, dict[str, float]]] = [
        (float(r["cer_no_spaces"]), r["scores"]) for r in rows]  # type: ignore[arg-type, misc]
    for key in ("mean", "low_0.8", "low_0.9", "p10"):
        # the low_* shares grow as a page gets worse; the confidences shrink
        sign = 1.0 if key.startswith("low") else -1.0
        bad = [sign * s[key] for c, s in scored if c > bad_cer]
        good = [sign * s[key] for c, s in scored if c <= good_cer]
        best: tuple[int, int, float] | None = None  # (missed, false alarms, threshold)
        for value in sorted({sign * s[key] for _, s in scored}):
            missed = sum(1 for v in bad if v < value)  # flagged: sign * score >= value
            false = sum(1 for v in good if v >= value)
            if best is None or (missed + false, false) < (best[0] + best[1], best[1]):
                best = (missed, false, value)
        if best is not None:
            out[key] = {"threshold": sign * best[2], "flag": ">=" if sign > 0 else "<=",
                        "bad_pages_missed": best[0], "bad_pages": len(bad),
                        "good_pages_flagged": best[1], "good_pages": len(good),
                        # how far apart the two groups are on this score
                        "good_worst": sign * max(good) if good else None,
                        "bad_best": sign * min(bad) if bad else None}
    return out


def _variant_rows(corpus: Path, pages: Sequence[tuple[str, int]], threads: int,
                  names: set[str] | None) -> list[dict[str, object]]:
    import json
    import time

    from lexbrief.read.ocr import recognize

    rows = []
    for name, index in pages:
        path = corpus / name
        reference = layer_in_reading_order(path, index)
        clean = render_page(path, index, 300)
        for variant, (make, dpi, calibration) in _variants(path, index, clean).items():
            if names is not None and variant not in names:
                continue
            image = make()
            started = time.perf_counter()
            page = recognize(as_scanned(image, dpi), threads)
            seconds = time.perf_counter() - started
            rows.append({"page": f"{Path(name).name} p. {index + 1}", "variant": variant,
                         "calibration_only": calibration,
                         "cer": round(cer(reference, page.text), 4),
                         "cer_no_spaces": round(cer(reference, page.text, spaces=False), 4),
                         "confidence": page.confidence, "rotated": page.rotated,
                         "scores": page_scores(page.line_scores),
                         "seconds": round(seconds, 2), "lines": [list(x) for x in
                                                                  page.line_scores]})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "lines"}), flush=True)
    return rows


def _scan_seconds(corpus: Path, threads: int) -> dict[str, object]:
    """The corpus's scanned PDF through the reader (render + OCR, no cache): seconds per page
    from the progress callbacks."""
    import itertools
    import time

    from lexbrief.read import load_document
    from lexbrief.read.ocr import OcrOptions, OcrProgress

    marks = [time.perf_counter()]

    def tick(_progress: OcrProgress) -> None:
        marks.append(time.perf_counter())

    doc = load_document(corpus / "documents" / "scanned-no-text-layer.pdf",
                        ocr=OcrOptions(cache=False, threads=threads, progress=tick))
    return {"pages": doc.page_count,
            "confidence": [p.ocr_confidence for p in doc.pages],
            "seconds_per_page": [round(b - a, 2) for a, b in itertools.pairwise(marks)]}


def _child_rss(pdf: Path, ocr: bool, threads: int) -> dict[str, object]:
    """Peak resident memory of a fresh process that reads `pdf` (with OCR, or only its pages
    rendered at 300 dpi: the baseline without the OCR engine)."""
    import json
    import subprocess
    import sys

    command = [sys.executable, "-m", "lexbrief.tools.bench.ocr", "--child-rss", str(pdf),
               "--threads", str(threads)] + ([] if ocr else ["--no-ocr"])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _child_rss_main(pdf: Path, ocr: bool, threads: int) -> None:
    import json
    import resource
    import sys
    import time

    started = time.perf_counter()
    if ocr:
        from lexbrief.read import load_document
        from lexbrief.read.ocr import OcrOptions

        pages = load_document(pdf, ocr=OcrOptions(cache=False, threads=threads)).page_count
    else:
        import pypdfium2 as pdfium

        import lexbrief.read  # noqa: F401 (the reader's own imports, for a fair baseline)

        document = pdfium.PdfDocument(str(pdf))
        pages = len(document)
        for index in range(pages):
            render_page(pdf, index, 300)
        document.close()
    # VmHWM, the peak of this program's own memory: ru_maxrss would also count the parent's
    # pages this process had between fork and exec (the benchmark's, 1.5 GB after its runs).
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                peak_kib = int(line.split()[1])
    except OSError:  # not Linux: ru_maxrss (macOS counts bytes)
        peak_kib //= 1024 if sys.platform == "darwin" else 1
    print(json.dumps({"pages": pages, "ocr": ocr, "seconds": round(time.perf_counter() -
                                                                   started, 2),
                      "peak_rss_mib": round(peak_kib / 1024)}))


def _timed(image: Image, threads: int) -> float:
    import time

    from lexbrief.read.ocr import recognize

    started = time.perf_counter()
    recognize(image, threads)
    return time.perf_counter() - started


def _thread_use(page: Image, threads: int) -> dict[str, float]:
    """Seconds per page with `threads` ONNX Runtime threads (best of two, the engine loaded
    first), the cores the process kept busy meanwhile (CPU seconds over wall seconds) and the
    operating system threads it had."""
    import resource

    import psutil

    _timed(page, threads)
    best, busy = float("inf"), 0.0
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_SELF)
        wall = _timed(page, threads)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if wall < best:
            best, busy = wall, cpu / wall
    return {"seconds_per_page": round(best, 2), "cores_busy": round(busy, 2),
            "os_threads": psutil.Process().num_threads()}


def _with_llama(model: Path, page: Image, cores: int, llama_threads: int,
                ocr_threads_list: Sequence[int]) -> dict[str, object]:
    """llama.cpp's generation speed alone and while OCR recognizes two pages beside it in the
    same process, for each OCR thread count; and OCR's seconds per page in each case."""
    import threading
    import time

    from lexbrief.cancel import NEVER
    from lexbrief.engine.contract import GenerationParams, Message, Usage
    from lexbrief.engine.llama_cpp.engine import LlamaCppEngine

    engine = LlamaCppEngine(model, context_length=1024, threads=llama_threads)
    params = GenerationParams(max_tokens=128, temperature=0.0)
    prompt = [Message("user", "Explain what a contract is, at length.")]

    def generate(until: Callable[[], bool]) -> float:
        tokens, seconds = 0, 0.0
        while True:
            for item in engine.chat(prompt, params, NEVER):
                if isinstance(item, Usage):
                    tokens += item.completion_tokens
                    seconds += item.generation_seconds
            if until():
                return tokens / seconds if seconds else 0.0

    try:
        rounds = iter(range(4))
        alone = generate(lambda: next(rounds, None) is None)
        out: dict[str, object] = {"llama_threads": llama_threads, "cores": cores,
                                  "llama_tokens_per_second_alone": round(alone, 1)}
        for threads in ocr_threads_list:
            _timed(page, threads)  # the engine for this thread count, loaded
            seconds: list[float] = []

            def two_pages(n: int = threads, into: list[float] = seconds) -> None:
                into.extend(_timed(page, n) for _ in range(2))

            worker = threading.Thread(target=two_pages)
            started = time.perf_counter()
            worker.start()
            shared = generate(lambda w=worker: not w.is_alive())  # type: ignore[misc]
            worker.join()
            out[f"ocr_{threads}_threads"] = {
                "llama_tokens_per_second": round(shared, 1),
                "llama_share_of_alone": round(shared / alone, 2) if alone else None,
                "ocr_seconds_per_page": round(sum(seconds) / len(seconds), 2),
                "wall_seconds": round(time.perf_counter() - started, 1)}
        return out
    finally:
        engine.close()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import datetime as dt
    import json
    import os
    import platform
    import subprocess

    from lexbrief.read.ocr import engine_version, ocr_threads

    parser = argparse.ArgumentParser(description="OCR accuracy and speed on the corpus")
    parser.add_argument("corpus", type=Path, nargs="?",
                        help="the corpus folder (with documents/ and cuad-train/)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--pages", help="which of PAGES to measure, e.g. 0,2 (default: all)")
    parser.add_argument("--variants", help="only these variants (names, ';'-separated)")
    parser.add_argument("--parts", default="variants,scan,threads,memory",
                        help="what to measure: variants, scan, threads, memory, llama")
    parser.add_argument("--model", type=Path, help="a GGUF for the 'llama' part: OCR and "
                                                   "llama.cpp at the same time")
    parser.add_argument("--threads", type=int, default=0, help="OCR threads (default: cores)")
    parser.add_argument("--child-rss", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-ocr", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    threads = args.threads or ocr_threads()
    if args.child_rss:
        _child_rss_main(args.child_rss, not args.no_ocr, threads)
        return 0
    if args.corpus is None:
        parser.error("the corpus folder is needed")
    corpus: Path = args.corpus
    if not (corpus / "documents").is_dir() and (corpus.parent / "cuad-train").is_dir():
        corpus = corpus.parent  # given the documents folder
    parts = set(args.parts.split(","))
    chosen = [PAGES[int(i)] for i in args.pages.split(",")] if args.pages else list(PAGES)
    names = set(args.variants.split(";")) if args.variants else None
    result: dict[str, object] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, check=False).stdout.strip(),
        "machine": f"{platform.machine()} · {os.cpu_count()} logical CPUs · "
                   f"{platform.platform()}",
        "load_average_before": os.getloadavg(), "engine": engine_version(),
        "threads": threads}
    if "variants" in parts:
        rows = _variant_rows(corpus, chosen, threads, names)
        result["pages"] = rows
        by_variant: dict[str, list[float]] = {}
        for row in rows:
            by_variant.setdefault(str(row["variant"]), []).append(
                float(row["cer"]))  # type: ignore[arg-type]
        result["mean_cer_by_variant"] = {v: round(sum(c) / len(c), 4)
                                         for v, c in by_variant.items()}
        result["calibration"] = calibrate(rows)
    if "scan" in parts:
        result["scanned_corpus_pdf"] = _scan_seconds(corpus, threads)
    page = as_scanned(render_page(corpus / PAGES[0][0], PAGES[0][1]), 300)
    if "threads" in parts:
        result["by_threads"] = {n: _thread_use(page, n) for n in sorted({1, threads})}
    if "memory" in parts:
        scan = corpus / "documents" / "scanned-no-text-layer.pdf"
        result["peak_rss_mib"] = {"render_only": _child_rss(scan, False, threads),
                                  "ocr": _child_rss(scan, True, threads)}
    if "llama" in parts:
        if args.model is None:
            parser.error("the llama part needs --model")
        result["with_llama"] = _with_llama(args.model, page, os.cpu_count() or 1, threads,
                                           sorted({threads, max(1, threads - threads // 2), 1},
                                                  reverse=True))
    result["load_average_after"] = os.getloadavg()
    print(json.dumps({k: v for k, v in result.items() if k != "pages"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
