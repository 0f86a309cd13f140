"""Pipeline logic with a deterministic stand-in model (the real model runs in test_end_to_end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexbrief.cancel import CancelToken
from lexbrief.errors import Cancelled
from lexbrief.read.document import Document, Page
from lexbrief.summarize.pipeline import Observer, Pipeline, PipelineSettings, Progress
from lexbrief.summarize.templates import load_templates

from fake_engine import INVENTED_QUOTE, FakeEngine


def _long_doc(pages: int = 12) -> Document:
    body = []
    for p in range(1, pages + 1):
        sentences = " ".join(f"Clause {p}.{i} obliges supplier number {p} to deliver goods item "
                             f"{i} on schedule." for i in range(25))
        body.append(Page(p, sentences))
    return Document(path=Path("supply.pdf"), kind="pdf", pages=body, sha256="0", size=1)


class Recorder(Observer):
    def __init__(self) -> None:
        self.events: list[Progress] = []
        self.tokens: dict[str, str] = {}

    def progress(self, progress: Progress) -> None:
        self.events.append(progress)

    def token(self, stage: str, text: str) -> None:
        self.tokens[stage] = self.tokens.get(stage, "") + text


def test_multi_chunk_map_reduce_covers_every_page() -> None:
    engine = FakeEngine(context_length=1024)
    recorder = Recorder()
    summary = Pipeline(engine, PipelineSettings(max_chunk_tokens=600)).run(
        _long_doc(40), load_templates()["contract"], observer=recorder)
    assert summary.chunks >= 20
    assert summary.coverage.pages_read == summary.coverage.pages_total == 40
    assert summary.coverage.tokens_dropped == 0
    assert len(engine.calls) == summary.chunks + 1  # every chunk read, then one overview
    assert recorder.events[-1].stage == "done" and recorder.events[-1].eta_seconds == 0
    steps = [e.step for e in recorder.events]
    assert steps == sorted(steps)
    assert all(e.step <= e.total for e in recorder.events)
    assert summary.usage.prompt_tokens > 0 and summary.usage.completion_tokens > 0
    assert summary.text.startswith("## Overview")
    # the key points are spread over the document, each quoted from its own page
    pages = summary.cited_pages
    assert len(summary.points) == 10 and pages[0] <= 4 and pages[-1] >= 36
    for point in summary.points:
        (page,) = point.pages
        assert point.quote in " ".join(_long_doc(40).page(page).text.split())


def test_single_chunk_document_reads_once_and_writes_the_overview() -> None:
    engine = FakeEngine()
    doc = _long_doc(1)
    summary = Pipeline(engine).run(doc, load_templates()["general"])
    assert summary.chunks == 1 and summary.steps == 2
    assert len(engine.calls) == 2
    assert "Excerpt from page 1" in engine.calls[0] and "Verified notes" in engine.calls[1]


def test_quotes_from_the_wrong_excerpt_are_never_shown_as_theirs() -> None:
    # The fake quotes the next page's first sentence: a real sentence of the document, but not
    # of the excerpt it was asked about when the chunk ends before that page.
    engine = FakeEngine(context_length=1024, wrong_pages=True)
    document = _long_doc()
    summary = Pipeline(engine, PipelineSettings(max_chunk_tokens=600)).run(
        document, load_templates()["general"])
    assert summary.points
    for point in summary.points:
        for span in point.spans:
            assert point.quote.startswith(" ".join(
                document.page(span.page).text[span.start:span.end].split())[:40])


def test_an_invented_quote_is_rejected_and_kept_for_audit() -> None:
    engine = FakeEngine(context_length=1024, invent=True)
    summary = Pipeline(engine, PipelineSettings(max_chunk_tokens=600)).run(
        _long_doc(3), load_templates()["general"])
    assert all("hospital" not in p.text and "hospital" not in p.quote for p in summary.points)
    rejected = [r for r in summary.rejected if r.quote == INVENTED_QUOTE]
    assert rejected and rejected[0].reason == "quote not found in the document"
    assert "hospital" not in summary.text
    # the overview's invented date and company are removed, not shown
    assert summary.overview_counts["removed"] >= 1
    assert "February 1999" not in summary.overview and "Acme" not in summary.overview


def test_cancel_between_chunks() -> None:
    engine = FakeEngine(context_length=1024)
    cancel = CancelToken()

    class CancelAfterFirstChunk(Observer):
        def progress(self, progress: Progress) -> None:
            if progress.stage == "map" and progress.step == 2:
                cancel.cancel()

    with pytest.raises(Cancelled):
        Pipeline(engine, PipelineSettings(max_chunk_tokens=600)).run(
            _long_doc(), load_templates()["general"], observer=CancelAfterFirstChunk(),
            cancel=cancel)
    assert len(engine.calls) == 1


def test_cancel_during_generation() -> None:
    engine = FakeEngine(context_length=1024)
    cancel = CancelToken()
    seen: list[str] = []

    def on_token(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            cancel.cancel()

    engine.on_token = on_token  # type: ignore[assignment]
    with pytest.raises(Cancelled):
        Pipeline(engine).run(_long_doc(1), load_templates()["general"], cancel=cancel)
    assert len(seen) == 3  # the stream stopped at the next token


def test_a_looping_model_is_stopped_and_its_usage_still_counted() -> None:
    engine = FakeEngine(loop=True)
    summary = Pipeline(engine).run(_long_doc(1), load_templates()["general"])
    assert summary.usage.completion_tokens < 200  # both replies stopped long before budget
    assert summary.overview.count("The same sentence again") <= 1
    assert summary.points  # the looping notes gave nothing: central sentences stand in
    assert all(p.origin == "extract" for p in summary.points)


def test_parallel_map_gives_the_same_notes_as_sequential() -> None:
    from fake_engine import FakeParallelEngine

    settings = PipelineSettings(max_chunk_tokens=600)
    sequential = Pipeline(FakeEngine(context_length=1024),
                          PipelineSettings(max_chunk_tokens=600, parallel_map=1)).run(
        _long_doc(), load_templates()["general"])
    engine = FakeParallelEngine(context_length=1024)
    recorder = Recorder()
    parallel = Pipeline(engine, settings).run(_long_doc(), load_templates()["general"],
                                              observer=recorder)
    assert engine.parallel_calls == [parallel.chunks]
    assert parallel.notes == sequential.notes
    assert parallel.text == sequential.text
    assert parallel.usage.completion_tokens == sequential.usage.completion_tokens
    maps = [e for e in recorder.events if e.stage == "map"]
    assert len(maps) == parallel.chunks  # one step per chunk, as in the sequential path


def test_parallel_map_cancel() -> None:
    from fake_engine import FakeParallelEngine

    engine = FakeParallelEngine(context_length=1024)
    cancel = CancelToken()
    engine.on_token = lambda piece: cancel.cancel()  # type: ignore[assignment]
    with pytest.raises(Cancelled):
        Pipeline(engine, PipelineSettings(max_chunk_tokens=600)).run(
            _long_doc(), load_templates()["general"], cancel=cancel)
