"""A reading model and a writing model (issue 17): the map step runs on the reader, the overview
on the writer, both loaded once; the stored summary names both, and its identity is both."""

from __future__ import annotations

import json
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


def test_a_resumed_job_reads_with_the_reader_it_was_queued_with(starter_model: Path,
                                                                 tmp_path: Path) -> None:
    """The bug: the jobs table kept only the writer, so `summarize --resume` (or the window
    after a crash) read with the settings' reader instead of the job's --reader-model."""
    from lexbrief.store.jobs import JobQueue

    from test_cli import lexbrief

    reader_copy = tmp_path / "reader.gguf"
    reader_copy.write_bytes(starter_model.read_bytes())
    document = DOCUMENTS / "court-order-ca7.pdf"
    first = lexbrief("summarize", str(document), "--model", str(starter_model),
                     "--reader-model", str(reader_copy), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["reader_model"]["name"] == "reader.gguf"
    queue = JobQueue(Store())
    assert [j.reader_model for j in queue.jobs()] == [str(reader_copy)]
    # what an interrupted run of the same command leaves in the table: its job, queued
    queue.enqueue(document, model=str(starter_model), reader_model=str(reader_copy),
                  rerun=True)
    resumed = lexbrief("summarize", "--resume", "--json")  # no --reader-model this time
    assert resumed.returncode == 0, resumed.stderr
    again = json.loads(resumed.stdout)
    assert again["reader_model"]["name"] == "reader.gguf"
    assert Store().get(again["id"]).parameters["reader_model"] == "reader.gguf"
    # a job recorded with no reader ("") reads with the writer even if settings name one
    from lexbrief.settings import Settings, save_settings

    save_settings(Settings(reader_model=str(reader_copy)))
    queue.enqueue(document, model=str(starter_model), reader_model="", rerun=True)
    alone = lexbrief("summarize", "--resume", "--json")
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout)["reader_model"] is None


@pytest.mark.gui
def test_the_window_runs_a_crashed_jobs_reader_too(  # type: ignore[no-untyped-def]
        qtbot, starter_model: Path, tmp_path: Path) -> None:
    """A job an interrupted `summarize --reader-model` left queued, picked up by the window on
    its start: read by the job's reader (real engines, the window's own model worker)."""
    from lexbrief.store.jobs import JobQueue
    from lexbrief.ui.gui.main_window import MainWindow

    reader_copy = tmp_path / "reader.gguf"
    reader_copy.write_bytes(starter_model.read_bytes())
    job = JobQueue(Store()).enqueue(DOCUMENTS / "court-order-ca7.pdf",
                                    model=str(starter_model), reader_model=str(reader_copy))
    win = MainWindow()
    win.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: win.queue.job_state(job.id) == "done", timeout=300000)
    finally:
        win.close()
    done = JobQueue(Store()).get(job.id)
    assert done.summary_id is not None
    assert Store().get(done.summary_id).parameters["reader_model"] == "reader.gguf"
