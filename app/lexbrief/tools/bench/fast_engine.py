"""Issue 8's measurements: the native decode loop and the parallel map against the binding's
high-level loop and a single raw llama.cpp stream, on the same prompts, in one process.

- map throughput: the map prompts of a real document (same budgets, greedy), decoded by
  (a) the high-level loop, (b) the native loop one by one, (c) the native loop as parallel
  sequences; generation tok/s = generated tokens / (wall − prompt time), the prompt time of
  (b) and (c) being the raw prompt-processing time of the same prompts.
- whole document: the pipeline's wall time, parallel and one by one, against one raw stream
  doing the same calls (prompt tokens and decode steps) back to back.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from lexbrief.cancel import NEVER
from lexbrief.engine.contract import Message, Usage
from lexbrief.read import load_document
from lexbrief.summarize.chunking import chunk_document
from lexbrief.summarize.pipeline import Pipeline, PipelineSettings
from lexbrief.summarize.templates import detect_template, load_templates
from lexbrief.tools.bench.runner import RecordingEngine, decode_steps


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def map_throughput(engine: Any, document_path: Path, *, chunks: int = 4,
                   max_tokens: int = 128, parallel: int = 4,
                   settings: PipelineSettings | None = None) -> dict[str, Any]:
    document = load_document(document_path)
    template = detect_template(document.text, load_templates())
    settings = replace(settings or PipelineSettings(), map_tokens=max_tokens,
                       parallel_map=parallel)
    pipeline = Pipeline(engine, settings)
    found = chunk_document(document, engine.count_tokens, engine.split_by_tokens,
                           pipeline.chunk_budget(template))[:chunks]
    params = replace(settings.sampling, max_tokens=max_tokens)
    requests = [([Message("system", template.system),
                  Message("user", template.map.format(pages=c.pages_label, text=c.text))],
                 params) for c in found]
    prompts = [engine.prompt_token_ids(m) for m, _p in requests]

    # (b) native, one by one (a cold cache for each prompt, as different chunks have)
    steps: list[int] = []
    native_tokens = 0
    started = time.perf_counter()
    for messages, p in requests:
        engine.clear_cache()
        usage = next(i for i in engine.chat(messages, p, NEVER) if isinstance(i, Usage))
        steps.append(usage.completion_tokens)
        native_tokens += usage.completion_tokens
    sequential_wall = time.perf_counter() - started

    # raw prompt time of the same prompts (cold), the part no decode loop can change
    raw_prompt = 0.0
    for tokens in prompts:
        engine.clear_cache()
        raw_prompt += engine.raw_decode_benchmark(tokens, 0).prompt_seconds

    # (c) native, parallel sequences with the shared prefix
    engine.clear_cache()
    parallel_tokens = 0
    cached = 0
    started = time.perf_counter()
    for _index, item in engine.chat_many(requests, NEVER, max_parallel=parallel):
        if isinstance(item, Usage):
            parallel_tokens += item.completion_tokens
            cached += item.cached_prompt_tokens
    parallel_wall = time.perf_counter() - started

    # (a) the high-level loop, the same number of steps per prompt
    high_prompt = high_generation = 0.0
    for tokens, n in zip(prompts, steps, strict=True):
        timing = engine.high_level_benchmark(tokens, n)
        high_prompt += timing.prompt_seconds
        high_generation += timing.generation_seconds
    engine.clear_cache()

    high_tps = sum(steps) / high_generation if high_generation else 0.0
    native_tps = native_tokens / max(1e-9, sequential_wall - raw_prompt)
    parallel_tps = parallel_tokens / max(1e-9, parallel_wall - raw_prompt)
    return {
        "document": document.name, "chunks": len(found), "max_tokens": max_tokens,
        "parallel": parallel, "prompt_tokens": sum(len(p) for p in prompts),
        "shared_prefix_tokens_reused": cached,
        "high_level": {"prompt_seconds": round(high_prompt, 3),
                       "generation_seconds": round(high_generation, 3),
                       "generated": sum(steps), "generation_tps": round(high_tps, 1)},
        "native_sequential": {"wall_seconds": round(sequential_wall, 3),
                              "generated": native_tokens,
                              "generation_tps": round(native_tps, 1)},
        "native_parallel": {"wall_seconds": round(parallel_wall, 3),
                            "generated": parallel_tokens,
                            "generation_tps": round(parallel_tps, 1)},
        "raw_prompt_seconds": round(raw_prompt, 3),
        "ratio_native_vs_high_level": _ratio(native_tps, high_tps),
        "ratio_parallel_vs_high_level": _ratio(parallel_tps, high_tps),
    }


def whole_document(engine: Any, document_path: Path, *, parallel: int = 4,
                   settings: PipelineSettings | None = None) -> dict[str, Any]:
    """Pipeline wall time, parallel and one by one, each against one raw llama.cpp stream doing
    that run's own model calls (its prompt tokens and decode steps) back to back. Greedy
    replies can differ slightly between the two runs (floating-point near-ties), so each run is
    compared with the replay of its own work, not with the other's."""
    settings = settings or PipelineSettings()
    document = load_document(document_path)
    template = detect_template(document.text, load_templates())
    results: dict[str, Any] = {"document": document.name, "pages": document.page_count}

    for label, workers in (("sequential", 1), ("parallel", parallel)):
        engine.clear_cache()
        recorder = RecordingEngine(engine)
        started = time.perf_counter()
        summary = Pipeline(recorder, replace(settings, parallel_map=workers)).run(
            document, template)
        wall = time.perf_counter() - started
        calls = [(engine.prompt_token_ids(c.messages), decode_steps(c.usage))
                 for c in recorder.calls]
        raw = 0.0
        for prompt_tokens, steps in calls:  # one raw stream, a cold cache each call
            engine.clear_cache()
            raw += engine.raw_decode_benchmark(prompt_tokens, steps).seconds
        engine.clear_cache()
        results[label] = {"wall_seconds": round(wall, 3), "chunks": summary.chunks,
                          "completion_tokens": summary.usage.completion_tokens,
                          "cached_prompt_tokens": summary.usage.cached_prompt_tokens,
                          "key_points": len(summary.points),
                          "verified_points": sum(p.verified for p in summary.points),
                          "raw_calls": len(calls),
                          "raw_prompt_tokens": sum(len(t) for t, _ in calls),
                          "raw_decode_steps": sum(n for _, n in calls),
                          "raw_single_stream_seconds": round(raw, 3),
                          "ratio_vs_raw": _ratio(wall, raw)}
    results["ratio_parallel_vs_raw"] = results["parallel"]["ratio_vs_raw"]
    results["ratio_sequential_vs_raw"] = results["sequential"]["ratio_vs_raw"]
    return results


GOALS = {"generation vs high-level loop": 2.0, "prompt vs raw": 0.95,
         "whole document vs raw stream": 0.8}


def fast_engine_table(result: dict[str, Any]) -> str:
    """The ratios per document against issue 8's goals, as a readable table."""
    lines = [f"Fast engine on {result['model']} ({result['threads']} threads)"
             + (" (quick: rough numbers)" if result.get("quick") else ""), ""]
    header = f"{'document':<34} {'gen tok/s hl/native/par':>24} {'gen ×hl':>8} " \
             f"{'doc s seq/par/raw':>20} {'par/raw':>8}"
    lines += [header, "-" * len(header)]
    for entry in result["documents"]:
        m, d = entry["map"], entry["document"]
        speeds = (f"{m['high_level']['generation_tps']:.0f}/"
                  f"{m['native_sequential']['generation_tps']:.0f}/"
                  f"{m['native_parallel']['generation_tps']:.0f}")
        walls = (f"{d['sequential']['wall_seconds']:.0f}/{d['parallel']['wall_seconds']:.0f}/"
                 f"{d['parallel']['raw_single_stream_seconds']:.0f}")
        lines.append(f"{d['document'][:34]:<34} {speeds:>24} "
                     f"{m['ratio_parallel_vs_high_level'] or 0:>8.2f} {walls:>20} "
                     f"{d['ratio_parallel_vs_raw'] or 0:>8.2f}")
    lines += ["", "doc s: the pipeline one by one / in parallel / one raw stream replaying the "
                  "parallel run's calls",
              "goals: parallel generation ≥ 2× the high-level loop; whole document "
              "≤ 0.8× one raw stream of the same calls", ""]
    return "\n".join(lines)
