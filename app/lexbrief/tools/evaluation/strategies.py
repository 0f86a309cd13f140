"""Ways to summarize the same document, compared by `lexbrief eval`.

mapreduce  LexBrief's pipeline: every chunk is read (grounded notes), the verified points are
           selected, the overview is written from them and checked. The map decodes up to
           `parallel_map` chunks at once.
sequential the same pipeline with the map one chunk at a time (`parallel_map = 1`): compared
           with mapreduce it shows whether decoding chunks together changes the summaries.
naive      the same pipeline fed only what fits one prompt of the model's context (a one-shot
           summarizer's view): "read everything in chunks" vs "read what fits".
lead       no model: the document's first words, as many as the first model strategy of the
           row wrote (a classic summarization baseline).
textrank   no model: the document's most central sentences (TextRank), at the same length.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from lexbrief.engine.contract import Engine, RawTimingEngine, Usage
from lexbrief.read.document import Document, Page
from lexbrief.summarize.chunking import chunk_document
from lexbrief.summarize.grounding import GroundedPoint
from lexbrief.summarize.pipeline import Pipeline, PipelineSettings
from lexbrief.summarize.ranking import page_sentences, rank_sentences
from lexbrief.summarize.source_text import SourceText
from lexbrief.summarize.templates import Template

CHARS_PER_PAGE = 3000  # about one printed page of legal text


@dataclass
class StrategyRun:
    strategy: str
    overview: str
    points: list[GroundedPoint]  # as shown (each with its verified quote)
    raw_points: list[str]  # the model's own notes (points), before any check
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
    for model in {id(engine): engine, id(pipeline.reader): pipeline.reader}.values():
        if model.abilities.raw_timing:
            cast(RawTimingEngine, model).clear_cache()
    started = time.perf_counter()
    summary = pipeline.run(document, template)
    raw = [note.point for note in summary.rejected] + [
        p.text for p in summary.points if p.origin == "model"]
    return StrategyRun(
        strategy=name, overview=summary.overview, points=summary.points,
        raw_points=raw, usage=summary.usage,
        seconds=time.perf_counter() - started, tokens_total=tokens_total,
        tokens_read=engine.count_tokens(document.text), chunks=summary.chunks)


def truncate_to_one_prompt(engine: Engine, document: Document, template: Template,
                           settings: PipelineSettings) -> tuple[Document, Pipeline]:
    """The longest prefix of the document that the pipeline takes in one prompt (pages after the
    cut stay, empty, so the prompt still states the true page count)."""
    pipeline = Pipeline(engine, replace(settings, max_chunk_tokens=engine.info.context_length))
    budget = room = pipeline.chunk_budget(template)  # the same budget the pipeline applies
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
              settings: PipelineSettings, target_words: int = 0,
              reader: Engine | None = None) -> StrategyRun:
    tokens_total = engine.count_tokens(document.text)
    cut, pipeline = truncate_to_one_prompt(reader or engine, document, template, settings)
    return _run("naive", engine, Pipeline(engine, pipeline.settings, reader=reader), cut,
                template, tokens_total)


def run_mapreduce(engine: Engine, document: Document, template: Template,
                  settings: PipelineSettings, target_words: int = 0,
                  reader: Engine | None = None) -> StrategyRun:
    tokens_total = engine.count_tokens(document.text)
    return _run("mapreduce", engine, Pipeline(engine, settings, reader=reader), document,
                template, tokens_total)


def run_sequential(engine: Engine, document: Document, template: Template,
                   settings: PipelineSettings, target_words: int = 0,
                   reader: Engine | None = None) -> StrategyRun:
    tokens_total = engine.count_tokens(document.text)
    one_by_one = replace(settings, parallel_map=1)
    return _run("sequential", engine, Pipeline(engine, one_by_one, reader=reader), document,
                template, tokens_total)


DEFAULT_BASELINE_WORDS = 150  # baselines' length when no model strategy ran before them


def _extractive(name: str, engine: Engine, document: Document, sentences: list[str],
                pages: list[int], target_words: int) -> StrategyRun:
    started = time.perf_counter()
    source = SourceText(document)
    points: list[GroundedPoint] = []
    words = 0
    for text, page in zip(sentences, pages, strict=True):
        if words >= (target_words or DEFAULT_BASELINE_WORDS):
            break
        match = source.find(text, page, min(document.page_count, page + 1), short=True)
        if match is None:
            continue
        points.append(GroundedPoint(match.text, match.text, match.spans, "extract"))
        words += len(text.split())
    tokens = engine.count_tokens(document.text)
    return StrategyRun(strategy=name, overview="", points=points, raw_points=[],
                       usage=Usage(), seconds=time.perf_counter() - started,
                       tokens_total=tokens, tokens_read=tokens, chunks=0)


def run_lead(engine: Engine, document: Document, template: Template,
             settings: PipelineSettings, target_words: int = 0,
             reader: Engine | None = None) -> StrategyRun:
    sentences = page_sentences(document, 1, document.page_count)
    return _extractive("lead", engine, document, [s.text for s in sentences],
                       [s.page for s in sentences], target_words)


def run_textrank(engine: Engine, document: Document, template: Template,
                 settings: PipelineSettings, target_words: int = 0,
                 reader: Engine | None = None) -> StrategyRun:
    sentences = page_sentences(document, 1, document.page_count)
    target = target_words or DEFAULT_BASELINE_WORDS
    chosen: list[int] = []
    words = 0
    for index in rank_sentences(sentences):
        if words >= target:
            break
        chosen.append(index)
        words += len(sentences[index].text.split())
    picked = [sentences[i] for i in sorted(chosen)]
    return _extractive("textrank", engine, document, [s.text for s in picked],
                       [s.page for s in picked], target + 10_000)


# (writer, document, template, settings, baseline words, reading model or None)
Strategy = Callable[[Engine, Document, Template, PipelineSettings, int, Engine | None],
                    StrategyRun]
STRATEGIES: dict[str, Strategy] = {"naive": run_naive, "mapreduce": run_mapreduce,
                                   "sequential": run_sequential, "lead": run_lead,
                                   "textrank": run_textrank}
MODEL_FREE = frozenset({"lead", "textrank"})
