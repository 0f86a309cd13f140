"""Pipeline logic with a deterministic stand-in model (the real model runs in test_end_to_end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexbrief.core.cancel import CancelToken
from lexbrief.core.document import Document, Page
from lexbrief.core.pipeline import Observer, Pipeline, PipelineSettings, Progress, parse_summary
from lexbrief.core.templates import load_templates
from lexbrief.errors import Cancelled

from fake_engine import FakeEngine


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
    # the notes were too long for one prompt: at least one condense level ran
    assert any(e.stage == "condense" for e in recorder.events)
    assert recorder.events[-1].stage == "done" and recorder.events[-1].eta_seconds == 0
    steps = [e.step for e in recorder.events]
    assert steps == sorted(steps)
    assert all(e.step <= e.total for e in recorder.events)
    assert summary.points and all(1 <= p <= 40 for point in summary.points for p in point.pages)
    assert summary.usage.prompt_tokens > 0 and summary.usage.completion_tokens > 0
    assert "Key points" in recorder.tokens["final"]
    assert summary.text.startswith("## Overview")


def test_single_chunk_document_is_one_final_call() -> None:
    engine = FakeEngine()
    doc = _long_doc(1)
    summary = Pipeline(engine).run(doc, load_templates()["general"])
    assert summary.chunks == 1 and summary.steps == 1
    assert len(engine.calls) == 1
    assert "Full text" in engine.calls[0]


def test_invented_pages_are_repaired_to_real_ones() -> None:
    engine = FakeEngine(context_length=1024, wrong_pages=True)  # cites page N+100
    summary = Pipeline(engine, PipelineSettings(max_chunk_tokens=600)).run(
        _long_doc(), load_templates()["general"])
    assert summary.points
    for point in summary.points:
        assert all(1 <= page <= 12 for page in point.pages)
    assert "[p. 10" not in summary.text.replace("[p. 10]", "")  # no page 101+ survives


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
    assert summary.usage.completion_tokens < 100  # stopped long before the 512-token budget
    assert summary.overview.count("The same sentence again") == 1


def test_parse_summary_forms() -> None:
    assert parse_summary("Overview: A lease. Key points: 1. Rent [p. 1] 2. Term [p. 2]") == (
        "Overview: A lease.", ["Rent [p. 1]", "Term [p. 2]"])
    draft = "Overview: A lease.\n\nKey points:\n- Rent\n  monthly\n- 2. Term"
    overview, points = parse_summary(draft)
    assert overview == "Overview: A lease." and points == ["Rent monthly", "Term"]
    assert parse_summary("Just prose, no points.") == ("Just prose, no points.", [])


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
