"""The server engine against llama.cpp in-process, side by side in one run (issue 14).

    .venv/bin/python scripts/bench_server.py [--model GGUF] [--docs A.pdf B.pdf ...] [--json OUT]

For a folder of documents, one configuration after another (never two at once: llama.cpp's
threads collapse when cores are oversubscribed), each with 2 threads:
  - in-process llama.cpp, parallel map 4 (the default) and 1;
  - llama-server (packaging/llama_server.py) with 1, 2 and 4 slots, LexBrief sending up to that
    many requests at once, documents one after another;
  - llama-server with 4 slots and 4 documents at once (`summarize_batch`, what
    `lexbrief summarize --server` does with a folder): slots busy across documents.
Reports total wall time, documents per hour, the ratio to in-process, and the client's own
overhead: with one slot, each request's wall time at the client minus the time the server says
it spent (its `timings`), as a share of the wall time (goal: <= 3%). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lexbrief.cancel import CancelToken  # noqa: E402
from lexbrief.engine.contract import (  # noqa: E402
    CallKey,
    Engine,
    EngineWrapper,
    GenerationParams,
    Message,
    Usage,
)
from lexbrief.read import load_document  # noqa: E402
from lexbrief.read.document import Document  # noqa: E402
from lexbrief.summarize.pipeline import Pipeline, PipelineSettings  # noqa: E402
from lexbrief.summarize.templates import detect_kind, load_templates  # noqa: E402

from llama_server import llama_server  # noqa: E402

CONFIGS = ("in-process-4", "in-process-1", "server-1", "server-2", "server-4",
           "server-4-documents-4")
DOCS = [ROOT / "tests" / "fixtures" / "documents" / name for name in (
    "court-order-ca7.pdf", "contract-service-reynolds.pdf", "nda-mutual-bonterms.docx",
    "court-filing.docx")]


class ClientClock(EngineWrapper):
    """Each request's wall time at the client, beside the server's own account of it."""

    def __init__(self, inner: Engine) -> None:
        super().__init__(inner)
        self.client_seconds = 0.0
        self.server_seconds = 0.0
        self.requests = 0
        self._started: dict[CallKey, float] = {}

    def chat(self, messages: list[Message], params: GenerationParams,
             cancel: CancelToken) -> Iterator[str | Usage]:
        started = time.perf_counter()
        for item in super().chat(messages, params, cancel):
            if isinstance(item, Usage):
                self.client_seconds += time.perf_counter() - started
                self.server_seconds += item.prompt_seconds + item.generation_seconds
                self.requests += 1
            yield item


def run_documents(engine: Engine, documents: list[Document], settings: PipelineSettings,
                  *, at_once: int = 1) -> dict[str, Any]:
    templates = load_templates()
    started = time.perf_counter()
    tokens = 0
    if at_once == 1:
        for document in documents:
            template, _ = detect_kind(document.text, templates, document.page_count)
            summary = Pipeline(engine, settings).run(document, template)
            tokens += summary.usage.prompt_tokens + summary.usage.completion_tokens
    else:
        from concurrent.futures import ThreadPoolExecutor

        def one(document: Document) -> int:
            template, _ = detect_kind(document.text, templates, document.page_count)
            summary = Pipeline(engine, settings).run(document, template)
            return summary.usage.prompt_tokens + summary.usage.completion_tokens

        with ThreadPoolExecutor(at_once) as pool:
            tokens = sum(pool.map(one, documents))
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 1), "documents": len(documents),
            "documents_per_hour": round(len(documents) / wall * 3600, 1), "tokens": tokens,
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="GGUF (default: the starter)")
    parser.add_argument("--docs", type=Path, nargs="*", default=DOCS)
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=CONFIGS,
                        help="which configurations to run (in-process-4 is the reference)")
    args = parser.parse_args()
    from lexbrief.engine.llama_cpp.engine import LlamaCppEngine
    from lexbrief.engine.server.client import ServerConfig
    from lexbrief.engine.server.engine import ServerEngine
    from lexbrief.model_files.resolve import starter_model_path

    model = args.model or starter_model_path()
    assert model is not None, "no model: run scripts/setup.sh"
    documents = [load_document(path) for path in args.docs]
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor()
        or platform.machine(), "cpus": os.cpu_count(), "model": model.name,
        "documents": [d.name for d in documents], "load_before": list(os.getloadavg()),
        "runs": {}}
    runs = result["runs"]
    local = LlamaCppEngine(model, threads=2)
    context = local.info.context_length
    for width in (4, 1):
        if f"in-process-{width}" in args.configs:
            print(f"in-process, parallel map {width}", file=sys.stderr, flush=True)
            runs[f"in-process map {width}"] = run_documents(
                local, documents, PipelineSettings(parallel_map=width))
    local.close()
    for config in args.configs:
        if not config.startswith("server"):
            continue
        slots = int(config.split("-")[1])
        at_once = int(config.split("-")[3]) if config.endswith("documents-4") else 1
        # A fresh server each time: llama-server keeps prompts cached, and a run after
        # another over the same documents would read them from its cache.
        with llama_server(model, parallel=slots, ctx_per_slot=context, threads=2) as server:
            engine = ServerEngine(ServerConfig(url=server.base_url, max_parallel=slots))
            label = (f"server {slots} slot{'s' if slots > 1 else ''}"
                     + (f", {at_once} documents at once" if at_once > 1 else ""))
            print(label, file=sys.stderr, flush=True)
            clock = ClientClock(engine) if slots == 1 else None
            runs[label] = run_documents(clock or engine, documents,
                                        PipelineSettings(parallel_map=slots), at_once=at_once)
            if clock is not None:
                runs[label]["client_overhead"] = {
                    "requests": clock.requests,
                    "client_seconds": round(clock.client_seconds, 2),
                    "server_seconds": round(clock.server_seconds, 2),
                    "share_of_wall": round(
                        (clock.client_seconds - clock.server_seconds) / clock.client_seconds, 4)}
            engine.close()
    reference = runs["in-process map 4"]["wall_s"]
    for run in runs.values():
        run["wall_vs_in_process"] = round(run["wall_s"] / reference, 3)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
