"""Reading with a small model and writing with a larger one, against the larger one throughout,
side by side in one run (issue 17).

    .venv/bin/python scripts/bench_reader.py [--reader GGUF] [--writer GGUF] [--docs ...]

Both configurations summarize the same documents with the real pipeline (greedy decoding, the
same settings; one configuration at a time, 2 threads). Reported per document and in total:
wall seconds, the ratio mixed / writer-only (goal <= 0.5), and what the grounding kept: key
points from the model's own notes (quote found on the page), bare quotes, extracts (too few
verified notes), rejected notes, and the overview sentences kept / marked / removed. Defaults:
Qwen2.5-Coder-0.5B reads, Qwen2.5-Coder-1.5B writes (scripts/fetch_eval_models.py). JSON out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lexbrief.read import load_document
from lexbrief.summarize.pipeline import Pipeline, PipelineSettings
from lexbrief.summarize.templates import detect_kind, load_templates

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "models" / "eval"
DOCS = [ROOT / "tests" / "fixtures" / "documents" / "court-opinion-ca1.pdf",
        ROOT / "tests" / "fixtures" / "documents" / "contract-service-reynolds.pdf",
        ROOT / "tests" / "fixtures" / "cuad" / "04_service_integrity.pdf",
        ROOT / "tests" / "fixtures" / "cuad" / "05_license_gopage.pdf"]


def run(writer: Any, reader: Any, documents: list[Any], settings: PipelineSettings
        ) -> dict[str, Any]:
    templates = load_templates()
    rows = []
    for document in documents:
        template, _ = detect_kind(document.text, templates, document.page_count)
        for engine in {id(writer): writer, id(reader): reader}.values():
            engine.clear_cache()
        started = time.perf_counter()
        summary = Pipeline(writer, settings, reader=reader).run(document, template)
        wall = time.perf_counter() - started
        origins = Counter(p.origin for p in summary.points)
        rows.append({"document": document.name, "pages": document.page_count,
                     "chunks": summary.chunks, "wall_s": round(wall, 1),
                     "prompt_tokens": summary.usage.prompt_tokens,
                     "completion_tokens": summary.usage.completion_tokens,
                     "points_from_notes": origins["model"], "bare_quotes": origins["quote"],
                     "extracts": origins["extract"], "rejected_notes": len(summary.rejected),
                     "overview": summary.overview_counts,
                     "load": [round(x, 2) for x in os.getloadavg()]})
        print(f"  {document.name}: {wall:.0f} s", file=sys.stderr, flush=True)
    return {"wall_s": round(sum(r["wall_s"] for r in rows), 1), "documents": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reader", type=Path,
                        default=EVAL / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    parser.add_argument("--writer", type=Path,
                        default=EVAL / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    parser.add_argument("--docs", type=Path, nargs="*", default=DOCS)
    parser.add_argument("--parallel-map", type=int, default=1,
                        help="1 (default): on 2 cores batching does not pay (docs/BENCHMARKS.md)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from lexbrief.engine.llama_cpp.engine import LlamaCppEngine

    documents = [load_document(p) for p in args.docs]
    settings = PipelineSettings(parallel_map=args.parallel_map)
    writer = LlamaCppEngine(args.writer, threads=2, context_length=8192)
    reader = LlamaCppEngine(args.reader, threads=2, context_length=8192)
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(),
                              "reader": args.reader.name, "writer": args.writer.name,
                              "load_before": list(os.getloadavg())}
    print("writer only", file=sys.stderr, flush=True)
    result["writer_only"] = run(writer, writer, documents, settings)
    print("reader + writer", file=sys.stderr, flush=True)
    result["reader_writer"] = run(writer, reader, documents, settings)
    result["ratio_mixed_vs_writer_only"] = round(
        result["reader_writer"]["wall_s"] / result["writer_only"]["wall_s"], 3)
    writer.close()
    reader.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
