"""`lexbrief bench`: qualify a laptop; measure the app against raw llama.cpp and the hardware."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lexbrief.errors import StorageError


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
    p.add_argument("--fast-engine", type=Path, metavar="DOCUMENT",
                   help="only the fast-engine measurements on one document: the native decode "
                        "loop and the parallel map against the high-level loop and a single "
                        "raw llama.cpp stream")
    p.set_defaults(func=run)


def run_fast_engine(args: argparse.Namespace) -> int:
    from lexbrief.bench.fast_engine import map_throughput, whole_document
    from lexbrief.models.resolve import resolve_model
    from lexbrief.service import llama_engine

    engine: Any = llama_engine(resolve_model(args.model))
    print("bench: map throughput (4 chunks)...", file=sys.stderr, flush=True)
    result = {"map": map_throughput(engine, args.fast_engine)}
    print(json.dumps(result["map"], indent=2), flush=True)  # long runs: show each part
    print("bench: whole document, parallel and one by one...", file=sys.stderr, flush=True)
    result["document"] = whole_document(engine, args.fast_engine)
    print(json.dumps(result["document"], indent=2), flush=True)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.fast_engine:
        return run_fast_engine(args)
    from lexbrief.bench.report import check_plotting, plot, table
    from lexbrief.bench.runner import BenchOptions, run_bench
    from lexbrief.models.resolve import resolve_model
    from lexbrief.service import llama_engine

    if args.plot:
        check_plotting()  # fail before minutes of benchmarking, not after
    model = resolve_model(args.model)
    options = (BenchOptions.quick_options(args.corpus) if args.quick
               else BenchOptions(corpus=args.corpus))

    def log(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    result = run_bench(model.path, lambda: llama_engine(model), options, log)
    sys.stdout.write(table(result))
    try:
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        if args.plot:
            plot(result, args.plot)
    except OSError as exc:
        raise StorageError(f"cannot write the result: {exc}") from exc
    return 0
