"""A reading model and a writing model (issue 17): the map step runs on the reader, the overview
on the writer, both loaded once; the stored summary names both, and its identity is both."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexbrief.model_files.resolve import ResolvedModel
from lexbrief.service import Summarizer
from lexbrief.store import Store
from lexbrief.tools.bench.runner import RecordingEngine

from conftest import DOCUMENTS

pytestmark = pytest.mark.model


def test_the_reader_reads_and_the_writer_writes(starter_model: Path, tmp_path: Path) -> None:
    from lexbrief.engine.llama_cpp.engine import LlamaCppEngine

    reader_copy = tmp_path / "reader.gguf"  # the same weights under another name: two models
    reader_copy.write_bytes(starter_model.read_bytes())
    loaded: dict[str, RecordingEngine] = {}

    def factory(model: ResolvedModel) -> RecordingEngine:
        assert model.path.name not in loaded, "a model was loaded twice"
        loaded[model.path.name] = RecordingEngine(LlamaCppEngine(model.path))
        return loaded[model.path.name]

    store = Store()
    summarizer = Summarizer(store, model=str(starter_model), reader_model=str(reader_copy),
                            engine_factory=factory)  # type: ignore[arg-type]
    try:
        outcome = summarizer.summarize(DOCUMENTS / "court-order-ca7.pdf")
        again = summarizer.summarize(DOCUMENTS / "court-order-ca7.pdf")  # no reload
    finally:
        for engine in loaded.values():
            engine.inner.close()
    reader, writer = loaded["reader.gguf"], loaded[starter_model.name]
    chunks = outcome.summary.chunks
    assert len(reader.calls) == 2 * chunks  # every map step, both runs
    assert len(writer.calls) == 2  # one overview per run
    assert all(c.messages[-1].role == "assistant" for c in reader.calls)  # the notes prefill
    assert again.summary_id != outcome.summary_id
    stored = store.get(outcome.summary_id)
    parameters = stored.parameters
    assert parameters["reader_model"] == "reader.gguf"
    writer_sha, reader_sha = outcome.model_sha256.split("+")
    assert parameters["reader_model_sha256"] == reader_sha == writer_sha  # same bytes
    assert outcome.as_json()["reader_model"]["name"] == "reader.gguf"
