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
    p.add_argument("--calibrate", action="store_true",
                   help="measure which threads, flash attention, batch size and parallel "
                        "width are fastest for this model on this machine (about 20 s) and "
                        "keep them; summaries then use them unless settings.toml sets a value")
    p.set_defaults(func=run)


def run_calibrate(args: argparse.Namespace) -> int:
    from lexbrief.model_files.resolve import resolve_model
    from lexbrief.service.calibration import machine_key, model_tuning
    from lexbrief.store import Store
    from lexbrief.tools.bench.runner import load_average

    model = resolve_model(args.model)
    store = Store()
    try:
        from lexbrief.service.calibration import calibrate_model

        print(f"bench: calibrating {model.path.name} on {machine_key()} (load "
              f"{load_average()})...", file=sys.stderr, flush=True)
        record = calibrate_model(store, model.path, log_line=lambda m: print(
            f"bench: {m}", file=sys.stderr, flush=True))
        chosen = model_tuning(store, model.path)
    finally:
        store.close()
    seconds = record.details.get("seconds", 0.0)
    baseline = record.details.get("baseline", {})
    best = record.details.get("best", {})
    print(f"Calibrated {model.path.name} in {seconds:.1f} s: {record.threads} threads, flash "
          f"attention {'on' if record.flash_attn else 'off'}, batch {record.batch_size}, "
          f"{record.parallel} excerpt(s) at once.")
    print(f"  reading {record.reading_tps:,.0f} tok/s, writing {record.writing_tps:,.1f} tok/s "
          "(raw llama.cpp at a 1k-token context)")
    if baseline and best:
        print(f"  a 50-page contract's model work: {best['workload_seconds']:.0f} s, vs "
              f"{baseline['workload_seconds']:.0f} s with the defaults")
    for reason in record.details.get("reasons", []):
        print(f"  {reason}")
    print(f"Summaries now use: {chosen.describe()}")
    _write(args.json, {"schema": "lexbrief-calibration/1", "model": model.path.name,
                       "machine": record.machine, "load_average": load_average(),
                       **record.details})
    return 0


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
    if args.calibrate:
        return run_calibrate(args)
    if args.fast_engine:
        return run_fast_engine(args)
    from lexbrief.model_files.resolve import resolve_model
    from lexbrief.service import llama_engine
    from lexbrief.tools.bench.report import check_plotting, plot, table
    from lexbrief.tools.bench.runner import BenchOptions, run_bench

    if args.plot:
        check_plotting()  # fail before minutes of benchmarking, not after
    from dataclasses import replace

    from lexbrief.service.engines import stored_tuning

    model = resolve_model(args.model)
    options = (BenchOptions.quick_options(args.corpus) if args.quick
               else BenchOptions(corpus=args.corpus))
    # the app as it runs here: this machine's calibration (or the defaults), its width too
    tuned = stored_tuning(model.path)
    options = replace(options, pipeline=replace(options.pipeline,
                                                parallel_map=tuned.parallel_map))

    def log(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    log(f"engine settings: {tuned.describe()}")
    result = run_bench(model.path, lambda: llama_engine(model, tuned), options, log)
    result["engine_tuning"] = tuned.describe()
    sys.stdout.write(table(result))
    _write(args.json, result, (lambda: plot(result, args.plot)) if args.plot else None)
    return 0
