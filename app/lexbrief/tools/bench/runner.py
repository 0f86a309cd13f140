"""`lexbrief bench`: how fast and how big the app is on this machine, against hard limits.

(a) pipeline overhead: the app's summarization vs raw llama.cpp on the very same tokens.
    - fixed sequence: one real prompt, `Engine.chat` (what the pipeline calls) vs
      `LlamaCppEngine.raw_decode_benchmark` (llama_decode + native greedy sampling), interleaved.
    - pipeline replay: every corpus document is summarized by the real `Pipeline`; each model
      call it made (prompt tokens, decode steps, KV-cache reuse) is then replayed raw. The
      overhead ratio is raw seconds / pipeline seconds (goal >= 0.95).
(b) end-to-end seconds and pages per minute per corpus document (reading the file included).
(c) model load time.  (d) peak RSS vs weights + KV cache.
(e) generation speed vs the memory-bandwidth bound (every generated token reads all weights).

One module because (a)-(e) share one loaded engine and one report, measured in this order.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lexbrief import __version__
from lexbrief.cancel import NEVER, CancelToken
from lexbrief.engine.contract import (
    CallKey,
    Engine,
    EngineWrapper,
    GenerationParams,
    Message,
    RawTiming,
    Usage,
)
from lexbrief.errors import UserFacingError
from lexbrief.read import SUPPORTED_SUFFIXES, load_document
from lexbrief.read.document import Document
from lexbrief.summarize.chunking import chunk_document
from lexbrief.summarize.pipeline import Pipeline, PipelineSettings
from lexbrief.summarize.templates import detect_template, load_templates
from lexbrief.tools.bench.memory import (
    MiB,
    RssSampler,
    layout,
    measure_bandwidth,
    peak_rss_bytes,
    rss_bytes,
)

SCHEMA = "lexbrief-bench/1"
OVERHEAD_GOAL = 0.95
Log = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    corpus: Path | None = None  # a folder with documents/ (or documents directly)
    quick: bool = False  # seconds, not minutes: for smoke tests and a first look
    repeats: int = 3  # fixed-sequence repetitions (interleaved raw/app)
    loads: int = 3  # model loads timed
    bandwidth_mib: int = 1024
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)

    @classmethod
    def quick_options(cls, corpus: Path | None = None) -> BenchOptions:
        return cls(corpus=corpus, quick=True, repeats=1, loads=1, bandwidth_mib=128,
                   pipeline=PipelineSettings(map_tokens=48, condense_tokens=48, final_tokens=64))


# -- recording the pipeline's model calls ------------------------------------------------------
@dataclass
class ModelCall:
    messages: list[Message]
    usage: Usage


class RecordingEngine(EngineWrapper):
    """Passes everything to the real engine (batched chat included, so the bench measures the
    path the app takes) and remembers each request and its usage, to be replayed raw."""

    def __init__(self, inner: Engine) -> None:
        super().__init__(inner)
        self.calls: list[ModelCall] = []
        self.batched_calls = 0  # chat_many calls: their requests' times overlap

    def observe(self, key: CallKey, messages: list[Message], item: str | Usage) -> None:
        if isinstance(item, Usage):
            self.calls.append(ModelCall(list(messages), item))

    def chat_many(self, requests: list[tuple[list[Message], GenerationParams]],
                  cancel: CancelToken, *, stops: list[CancelToken] | None = None,
                  max_parallel: int = 4) -> Iterator[tuple[int, str | Usage]]:
        self.batched_calls += 1
        yield from super().chat_many(requests, cancel, stops=stops, max_parallel=max_parallel)


def decode_steps(usage: Usage) -> int:
    """Single-token decodes `chat` ran: one per generated token, except that a reply cut at
    max_tokens never decodes its last token (a stop or cancel decodes it, then samples EOG)."""
    return max(0, usage.completion_tokens - (1 if usage.finish_reason == "length" else 0))


# -- environment ---------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "physical_cores": psutil.cpu_count(logical=False),
            "logical_cpus": psutil.cpu_count(), "ram_gib": round(
                psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform(), "python": platform.python_version()}


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def corpus_documents(corpus: Path) -> list[Path]:
    folder = corpus / "documents" if (corpus / "documents").is_dir() else corpus
    if not folder.is_dir():
        raise UserFacingError(f"corpus folder not found: {folder}")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)


# -- the measurements --------------------------------------------------------------------------
def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def _chat(engine: Any, messages: list[Message], params: GenerationParams) -> tuple[Usage, float]:
    started = time.perf_counter()
    usage: Usage | None = None
    for item in engine.chat(messages, params, NEVER):
        if isinstance(item, Usage):
            usage = item
    if usage is None:
        raise RuntimeError("the engine returned no usage")
    return usage, time.perf_counter() - started


def fixed_sequence(engine: Any, document: Document, options: BenchOptions, log: Log
                   ) -> dict[str, Any]:
    """One real map prompt (the first chunk of `document`), app vs raw, interleaved; the best
    of `repeats` runs of each."""
    templates = load_templates()
    template = detect_template(document.text, templates)
    pipeline = Pipeline(engine, options.pipeline)
    budget = 256 if options.quick else pipeline.chunk_budget(template)
    chunk = chunk_document(document, engine.count_tokens, engine.split_by_tokens, budget)[0]
    prompt = template.map.format(pages=chunk.pages_label, text=chunk.text)
    messages = [Message("system", template.system), Message("user", prompt)]
    tokens = engine.prompt_token_ids(messages)
    max_tokens = 32 if options.quick else 256
    params = replace(options.pipeline.sampling, max_tokens=max_tokens)
    runs: list[dict[str, Any]] = []
    for i in range(options.repeats):
        log(f"fixed sequence {i + 1}/{options.repeats}: {len(tokens)} prompt tokens")
        engine.clear_cache()
        usage, call_seconds = _chat(engine, messages, params)
        steps = decode_steps(usage)
        engine.clear_cache()
        started = time.perf_counter()
        raw: RawTiming = engine.raw_decode_benchmark(tokens, steps)
        raw_call = time.perf_counter() - started
        runs.append({
            "decode_steps": steps, "finish_reason": usage.finish_reason,
            "app": {"prompt_seconds": usage.prompt_seconds,
                    "generation_seconds": usage.generation_seconds,
                    "call_seconds": call_seconds,
                    "prompt_tps": usage.prompt_tokens_per_second,
                    "generation_tps": steps / usage.generation_seconds
                    if usage.generation_seconds else 0.0},
            "raw": {"prompt_seconds": raw.prompt_seconds,
                    "generation_seconds": raw.generation_seconds, "call_seconds": raw_call,
                    "prompt_tps": raw.prompt_tokens_per_second,
                    "generation_tps": raw.generation_tokens_per_second},
        })
    engine.clear_cache()

    def best(side: str, key: str) -> float:
        # The best run of each side: other programs only ever slow a run down (timeit's rule).
        values = [r[side][key] for r in runs]
        return min(values) if key.endswith("seconds") else max(values)

    summary = {side: {key: round(best(side, key), 3) for key in
                      ("prompt_tps", "generation_tps", "call_seconds")} for side in ("app", "raw")}
    return {
        "source": f"{document.name}, first chunk ({chunk.pages_label}), map prompt",
        "template": template.name, "prompt_tokens": len(tokens),
        "max_tokens": max_tokens, "sampling": params.as_dict(),
        "decode_steps": [r["decode_steps"] for r in runs],
        "runs": runs, **summary,
        "ratio": {"prompt": _ratio(summary["app"]["prompt_tps"], summary["raw"]["prompt_tps"]),
                  "generation": _ratio(summary["app"]["generation_tps"],
                                       summary["raw"]["generation_tps"]),
                  "call": _ratio(summary["raw"]["call_seconds"], summary["app"]["call_seconds"])},
    }


def pipeline_document(engine: Any, path: Path, options: BenchOptions, log: Log,
                      document: Document | None = None) -> dict[str, Any]:
    """Summarize one document with the real pipeline, then replay its model calls raw."""
    load_before = load_average()
    started = time.perf_counter()
    document = document or load_document(path)
    read_seconds = time.perf_counter() - started
    template = detect_template(document.text, load_templates())
    recorder = RecordingEngine(engine)
    engine.clear_cache()
    log(f"{document.name}: summarizing {document.page_count} pages")
    summary = Pipeline(recorder, options.pipeline).run(document, template)
    log(f"{document.name}: replaying {len(recorder.calls)} model calls raw")
    engine.clear_cache()
    raw_seconds = raw_prompt = raw_generation = 0.0
    raw_cached = raw_steps = 0
    for call in recorder.calls:
        tokens = engine.prompt_token_ids(call.messages)
        timing: RawTiming = engine.raw_decode_benchmark(tokens, decode_steps(call.usage),
                                                        reuse_prefix=True)
        raw_seconds += timing.seconds
        raw_prompt += timing.prompt_seconds
        raw_generation += timing.generation_seconds
        raw_cached += timing.cached_prompt_tokens
        raw_steps += timing.decode_steps
    engine.clear_cache()
    usage = summary.usage
    engine_seconds = usage.prompt_seconds + usage.generation_seconds
    steps = sum(decode_steps(c.usage) for c in recorder.calls)
    total = read_seconds + summary.wall_seconds
    return {
        "document": document.name, "pages": document.page_count,
        "tokens_read": summary.coverage.tokens_read, "chunks": summary.chunks,
        "template": template.name, "model_calls": len(recorder.calls),
        "read_seconds": round(read_seconds, 3),
        "pipeline_seconds": round(summary.wall_seconds, 3),
        "end_to_end_seconds": round(total, 3),
        "pages_per_minute": round(document.page_count / total * 60, 2) if total else None,
        "app": {"prompt_tokens": usage.prompt_tokens,
                "cached_prompt_tokens": usage.cached_prompt_tokens,
                "completion_tokens": usage.completion_tokens, "decode_steps": steps,
                "prompt_seconds": round(usage.prompt_seconds, 3),
                "generation_seconds": round(usage.generation_seconds, 3),
                "engine_seconds": round(engine_seconds, 3)},
        "raw": {"cached_prompt_tokens": raw_cached, "decode_steps": raw_steps,
                "prompt_seconds": round(raw_prompt, 3),
                "generation_seconds": round(raw_generation, 3),
                "seconds": round(raw_seconds, 3)},
        # Raw llama.cpp time for the same work, as a share of what the app took. With batched
        # calls (the parallel map) the requests' own seconds overlap, so only wall time counts.
        "batched_calls": recorder.batched_calls,
        "overhead_ratio": _ratio(raw_seconds, summary.wall_seconds),
        "engine_ratio": None if recorder.batched_calls else _ratio(raw_seconds, engine_seconds),
        "orchestration_share": None if recorder.batched_calls else _ratio(
            summary.wall_seconds - engine_seconds, summary.wall_seconds),
        "load_average": {"before": load_before, "after": load_average()},
    }


def _quick_document(documents: list[Path]) -> Document:
    """A small real document for --quick: the shortest readable corpus file, else the first
    page of the bundled sample opinion."""
    from lexbrief.paths import resource_dir

    for path in sorted(documents, key=lambda p: p.stat().st_size):
        try:
            document = load_document(path)
        except UserFacingError:
            continue
        if document.page_count <= 2:
            return document
    sample = load_document(resource_dir() / "samples" / "court-opinion-ca1.pdf")
    return replace(sample, pages=sample.pages[:1])


def run_bench(model_path: Path, engine_factory: Callable[[], Any], options: BenchOptions,
              log: Log = lambda message: None) -> dict[str, Any]:
    started_at = dt.datetime.now(dt.UTC)
    load_before = load_average()
    model = layout(model_path)
    baseline_rss = rss_bytes()
    documents = corpus_documents(options.corpus) if options.corpus else []

    # (c) model load time. Each load is closed before the next, so RSS peaks hold one model.
    load_seconds: list[float] = []
    engine: Any = None
    for i in range(options.loads):
        if engine is not None:
            engine.close()
        log(f"loading the model ({i + 1}/{options.loads})")
        began = time.perf_counter()
        engine = engine_factory()
        load_seconds.append(time.perf_counter() - began)
    if not engine.abilities.raw_timing:
        raise UserFacingError("the benchmark needs an engine with raw timings (llama.cpp in "
                              "this process)")
    loaded_rss = rss_bytes()
    runtime = engine.runtime_settings()

    with RssSampler() as sampler:
        # (a) fixed sequence, on a real document
        if options.quick:
            probe = _quick_document(documents)
        else:
            from lexbrief.paths import resource_dir

            probe_path = next((p for p in documents if p.suffix.lower() == ".pdf"),
                              resource_dir() / "samples" / "court-opinion-ca1.pdf")
            probe = load_document(probe_path)
        fixed = fixed_sequence(engine, probe, options, log)

        # (a) pipeline replay and (b) throughput on the corpus
        results: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        if options.quick:
            results.append(pipeline_document(engine, probe.path, options, log, document=probe))
        else:
            for path in documents:
                try:
                    results.append(pipeline_document(engine, path, options, log))
                except UserFacingError as exc:
                    log(f"{path.name}: skipped ({exc.message})")
                    skipped.append({"document": path.name, "reason": exc.message})
    peak_sampled = sampler.peak
    peak_kernel = peak_rss_bytes()  # before the bandwidth buffers inflate it
    engine.close()

    # (e) memory bandwidth, last: its buffers would otherwise dominate the peak RSS.
    log(f"measuring memory bandwidth ({options.bandwidth_mib} MiB buffer)")
    bandwidth = measure_bandwidth(options.bandwidth_mib * MiB, threads=runtime["n_threads"],
                                  repeats=3 if options.quick else 5)

    pages = sum(r["pages"] for r in results)
    end_to_end = sum(r["end_to_end_seconds"] for r in results)
    pipeline_seconds = sum(r["pipeline_seconds"] for r in results)
    engine_seconds = sum(r["app"]["engine_seconds"] for r in results)
    raw_seconds = sum(r["raw"]["seconds"] for r in results)
    overhead = _ratio(raw_seconds, pipeline_seconds)

    kv_bytes = model.kv_cache_bytes(runtime["n_ctx"])
    estimate = model.file_bytes + kv_bytes
    peak = max(peak_sampled, peak_kernel or 0)
    # Bytes one generated token reads: all weights (see `layout`) + the KV cache so far.
    position = fixed["prompt_tokens"] + _median([float(s) for s in fixed["decode_steps"]]) / 2
    per_token = model.read_per_token_bytes + model.kv_bytes_per_position() * position
    bound = bandwidth.read_gbps * 1e9 / per_token
    return {
        "schema": SCHEMA,
        "date": started_at.isoformat(timespec="seconds"),
        "quick": options.quick,
        "lexbrief": __version__,
        "llama_cpp_python": _package_version("llama-cpp-python"),
        "machine": machine(),
        "load_average": {"before": load_before, "after": load_average()},
        "model": {"name": model_path.name, "file_bytes": model.file_bytes,
                  "weights_bytes": model.weights_bytes, **runtime,
                  "layout": model.as_dict()},
        "load": {"seconds": [round(s, 3) for s in load_seconds],
                 "first": round(load_seconds[0], 3), "best": round(min(load_seconds), 3),
                 "median": round(_median(load_seconds), 3)},
        "fixed_sequence": fixed,
        "pipeline": {
            "settings": options.pipeline.as_dict(),
            "documents": results, "skipped": skipped,
            "total": {"documents": len(results), "pages": pages,
                      "end_to_end_seconds": round(end_to_end, 3),
                      "pipeline_seconds": round(pipeline_seconds, 3),
                      "engine_seconds": round(engine_seconds, 3),
                      "raw_seconds": round(raw_seconds, 3),
                      "pages_per_minute": round(pages / end_to_end * 60, 2)
                      if end_to_end else None,
                      "overhead_ratio": overhead,
                      "engine_ratio": _ratio(raw_seconds, engine_seconds)},
        },
        "memory": {"baseline_rss_bytes": baseline_rss, "loaded_rss_bytes": loaded_rss,
                   "peak_rss_bytes": peak, "peak_rss_sampled_bytes": peak_sampled,
                   "peak_rss_kernel_bytes": peak_kernel,
                   "weights_bytes": model.file_bytes, "kv_cache_bytes": kv_bytes,
                   "estimate_bytes": estimate,
                   "model_rss_bytes": peak - baseline_rss,
                   "model_rss_vs_estimate": _ratio(peak - baseline_rss, estimate)},
        "bandwidth": {**bandwidth.as_dict(), "bytes_per_token": int(per_token),
                      "kv_position": round(position),
                      "bound_tokens_per_second": round(bound, 1),
                      "raw_generation_tps": fixed["raw"]["generation_tps"],
                      "app_generation_tps": fixed["app"]["generation_tps"],
                      "raw_vs_bound": _ratio(fixed["raw"]["generation_tps"], bound),
                      "app_vs_bound": _ratio(fixed["app"]["generation_tps"], bound)},
        "goals": {"overhead_ratio": {"goal": OVERHEAD_GOAL, "measured": overhead,
                                     "met": overhead is not None and overhead >= OVERHEAD_GOAL}},
    }
