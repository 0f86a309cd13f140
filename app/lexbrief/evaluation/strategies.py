"""Two ways to summarize with the same model, compared by `lexbrief eval`.

naive      what a one-shot summarizer does: the document's text, cut to what fits one prompt of
           the model's context, goes into the final prompt. Whatever does not fit is never read.
mapreduce  LexBrief's pipeline: every chunk is read (map), notes are merged (condense), then the
           final prompt gets the notes. The map decodes up to `parallel_map` chunks at once.
sequential the same pipeline with the map one chunk at a time (`parallel_map = 1`): compared
           with mapreduce it shows whether decoding chunks together changes the summaries.

Both use the same engine, template, final prompt, sampling, output parsing and citation check:
naive *is* the pipeline's one-prompt path, fed a truncated document, so the comparison isolates
"read everything in chunks" vs "read what fits".
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lexbrief.core.chunking import chunk_document
from lexbrief.core.citations import KeyPoint
from lexbrief.core.document import Document, Page
from lexbrief.core.pipeline import Pipeline, PipelineSettings, parse_summary
from lexbrief.core.templates import Template
from lexbrief.engine.base import Engine, Usage

CHARS_PER_PAGE = 3000  # about one printed page of legal text


@dataclass
class StrategyRun:
    strategy: str
    overview: str
    points: list[KeyPoint]  # after LexBrief's citation check
    raw_points: list[str]  # as the model wrote them, with its own citations
    usage: Usage
    seconds: float
    tokens_total: int  # tokens of the whole document
    tokens_read: int  # tokens the model was shown
    chunks: int

    @property
    def text(self) -> str:
        """The summary's words, without citations or headings (what ROUGE compares)."""
        return "\n".join([self.overview, *(p.text for p in self.points)]).strip()

    @property
    def read_share(self) -> float:
        return self.tokens_read / self.tokens_total if self.tokens_total else 1.0


def paginate(text: str, chars_per_page: int = CHARS_PER_PAGE) -> list[str]:
    """Cut plain text into pages of about `chars_per_page`, at a paragraph, line or sentence end
    when there is one in the last third of the page. Nothing is lost or reordered."""
    pages: list[str] = []
    rest = text.strip()
    while len(rest) > chars_per_page:
        window = rest[:chars_per_page]
        cut = -1
        for pattern in (r"\n\s*\n", r"\n", r"(?<=[.;:])\s"):
            ends = [m.end() for m in re.finditer(pattern, window)
                    if m.end() > chars_per_page * 2 // 3]
            if ends:
                cut = ends[-1]
                break
        if cut < 0:
            cut = window.rfind(" ") + 1 or chars_per_page
        pages.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pages.append(rest)
    return pages or [""]


def reference_document(identifier: str, text: str, title: str | None = None,
                       chars_per_page: int = CHARS_PER_PAGE) -> Document:
    """A reference text as a Document with synthetic pages (the files carry no page breaks)."""
    data = text.encode("utf-8")
    pages = [Page(i, body) for i, body in enumerate(paginate(text, chars_per_page), 1)]
    return Document(path=Path(f"{identifier}.txt"), kind="txt", pages=pages,
                    sha256=hashlib.sha256(data).hexdigest(), size=len(data), title=title,
                    pagination="synthetic")


def _run(name: str, engine: Engine, pipeline: Pipeline, document: Document, template: Template,
         tokens_total: int) -> StrategyRun:
    # A cold cache for every run: llama.cpp's numbers depend slightly on how a prompt is split
    # into batches, so a cached prefix could change a greedy reply.
    clear_cache = getattr(engine, "clear_cache", None)
    if clear_cache:
        clear_cache()
    started = time.perf_counter()
    summary = pipeline.run(document, template)
    return StrategyRun(
        strategy=name, overview=summary.overview, points=summary.points,
        raw_points=parse_summary(summary.draft)[1], usage=summary.usage,
        seconds=time.perf_counter() - started, tokens_total=tokens_total,
        tokens_read=engine.count_tokens(document.text), chunks=summary.chunks)


def truncate_to_one_prompt(engine: Engine, document: Document, template: Template,
                           settings: PipelineSettings) -> tuple[Document, Pipeline]:
    """The longest prefix of the document that the pipeline takes in one prompt (pages after the
    cut stay, empty, so the prompt still states the true page count)."""
    pipeline = Pipeline(engine, replace(settings, max_chunk_tokens=engine.info.context_length))
    room = pipeline._final_room(template, document)  # the same budget the pipeline applies
    budget = pipeline.chunk_budget(template)
    limit = room - 8
    while limit > 64:
        pages: list[Page] = []
        left = limit
        for page in document.pages:
            tokens = engine.count_tokens(page.text) if left > 0 else 0
            if left <= 0:
                body = ""
            elif tokens <= left:
                body, left = page.text, left - tokens - 8  # 8: the page marker
            else:
                body, left = engine.split_by_tokens(page.text, left)[0], 0
            pages.append(Page(page.number, body))
        cut = replace(document, pages=pages)
        chunks = chunk_document(cut, engine.count_tokens, engine.split_by_tokens, budget)
        if len(chunks) == 1 and chunks[0].tokens + 8 <= room:
            return cut, pipeline
        limit -= max(32, limit // 20)
    raise ValueError(f"{document.name}: no room for any text in one prompt")


def run_naive(engine: Engine, document: Document, template: Template,
              settings: PipelineSettings) -> StrategyRun:
    tokens_total = engine.count_tokens(document.text)
    cut, pipeline = truncate_to_one_prompt(engine, document, template, settings)
    return _run("naive", engine, pipeline, cut, template, tokens_total)


def run_mapreduce(engine: Engine, document: Document, template: Template,
                  settings: PipelineSettings) -> StrategyRun:
    tokens_total = engine.count_tokens(document.text)
    return _run("mapreduce", engine, Pipeline(engine, settings), document, template,
                tokens_total)


def run_sequential(engine: Engine, document: Document, template: Template,
                   settings: PipelineSettings) -> StrategyRun:
    tokens_total = engine.count_tokens(document.text)
    one_by_one = replace(settings, parallel_map=1)
    return _run("sequential", engine, Pipeline(engine, one_by_one), document, template,
                tokens_total)


Strategy = Callable[[Engine, Document, Template, PipelineSettings], StrategyRun]
STRATEGIES: dict[str, Strategy] = {"naive": run_naive, "mapreduce": run_mapreduce,
                                   "sequential": run_sequential}
