"""`lexbrief bench`: qualify a laptop; measure the app against raw llama.cpp and the hardware."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lexbrief.errors import DocumentError, StorageError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench", help="measure speed and memory on this machine (for IT, or before a purchase)",
        description="Benchmark the model on this machine: the app's pipeline vs raw llama.cpp "
                    "on the same tokens, pages per minute on a corpus, model load time, peak "
                    "memory vs weights + KV cache, and generation speed vs the memory-bandwidth "
                    "bound. Prints a table; --json writes every number.")
    p.add_argument("-m", "--model", help="GGUF model file (default: the active or starter model)")
    p.add_argument("--corpus", type=Path,
                   help="folder of documents to summarize (or one holding documents/), e.g. "
                        "../shared/corpus; without it only the bundled sample is used")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the full result as JSON")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="draw the results (needs matplotlib: pip install 'lexbrief[bench]')")
    p.add_argument("--quick", action="store_true",
                   help="a short run on one small document (seconds, not minutes; numbers are "
                        "rough)")
    p.add_argument("--fast-engine", type=Path, metavar="DOCUMENT", nargs="+",
                   help="only the fast-engine measurements on these documents: the native "
                        "decode loop and the parallel map against the high-level loop and a "
                        "single raw llama.cpp stream (with --quick: small budgets, a smoke "
                        "check)")
    p.set_defaults(func=run)


def run_fast_engine(args: argparse.Namespace) -> int:
    from lexbrief.model_files.resolve import resolve_model
    from lexbrief.service import llama_engine
    from lexbrief.summarize.pipeline import PipelineSettings
    from lexbrief.tools.bench.fast_engine import fast_engine_table, map_throughput, whole_document

    missing = [str(p) for p in args.fast_engine if not p.is_file()]
    if missing:
        raise DocumentError(f"no such document: {', '.join(missing)}")
    engine: Any = llama_engine(resolve_model(args.model))
    # quick: short chunks, so that even a one-page document has several to decode together
    settings = (PipelineSettings(max_chunk_tokens=160, map_tokens=48, condense_tokens=64,
                                 final_tokens=96) if args.quick else PipelineSettings())
    result: dict[str, Any] = {"schema": "lexbrief-bench-fast-engine/1", "quick": args.quick,
                              "model": engine.info.name, "threads": engine.info.threads,
                              "documents": []}
    for path in args.fast_engine:
        print(f"bench: {path.name}: map throughput...", file=sys.stderr, flush=True)
        entry = {"map": map_throughput(engine, path, chunks=2 if args.quick else 4,
                                       max_tokens=32 if args.quick else 128,
                                       settings=settings)}
        print(f"bench: {path.name}: whole document, parallel and one by one...",
              file=sys.stderr, flush=True)
        entry["document"] = whole_document(engine, path, settings=settings)
        result["documents"].append(entry)
    sys.stdout.write(fast_engine_table(result))
    _write(args.json, result)
    return 0


def _write(path: Path | None, result: dict[str, Any], plot: Any = None) -> None:
    """The JSON (and the plot) of a run; a full disk or a bad path is the user's to fix."""
    try:
        if path:
            path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        if plot:
            plot()
    except OSError as exc:
        raise StorageError(f"cannot write the result: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    if args.fast_engine:
        return run_fast_engine(args)
    from lexbrief.model_files.resolve import resolve_model
    from lexbrief.service import llama_engine
    from lexbrief.tools.bench.report import check_plotting, plot, table
    from lexbrief.tools.bench.runner import BenchOptions, run_bench

    if args.plot:
        check_plotting()  # fail before minutes of benchmarking, not after
    model = resolve_model(args.model)
    options = (BenchOptions.quick_options(args.corpus) if args.quick
               else BenchOptions(corpus=args.corpus))

    def log(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    result = run_bench(model.path, lambda: llama_engine(model), options, log)
    sys.stdout.write(table(result))
    _write(args.json, result, (lambda: plot(result, args.plot)) if args.plot else None)
    return 0
