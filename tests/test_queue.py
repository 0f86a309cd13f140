"""The job queue and step checkpoints in SQLite, with the deterministic stand-in model (the real
model and real kill -9 run in test_queue_crash.py)."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lexbrief.errors import StorageError
from lexbrief.read.document import Document, Page
from lexbrief.store import DocumentRecord, Store, SummaryRecord
from lexbrief.store.jobs import Heartbeat, JobQueue, LeaseLost, owner_is_dead, process_owner
from lexbrief.summarize.pipeline import Checkpoints, Pipeline, PipelineSettings
from lexbrief.summarize.templates import load_templates

from conftest import fill
from fake_engine import FakeEngine, FakeParallelEngine


class Crash(BaseException):
    """Stands for the process dying right after a checkpoint was committed."""


class CrashAfter(Checkpoints):
    """The store's checkpoints, but the 'process' dies after `k` more saves."""

    def __init__(self, inner: Checkpoints, k: int) -> None:
        self.inner = inner
        self.k = k

    def load(self, scope: str, step: str) -> str | None:
        return self.inner.load(scope, step)

    def save(self, scope: str, step: str, notes: str, seconds: float) -> None:
        self.inner.save(scope, step, notes, seconds)
        self.k -= 1
        if self.k == 0:
            raise Crash


def _doc(pages: int = 12, sha: str = "f" * 64) -> Document:
    body = [Page(p, " ".join(f"Clause {p}.{i} obliges supplier number {p} to deliver goods item "
                             f"{i} on schedule." for i in range(25))) for p in range(1, pages + 1)]
    return Document(path=Path("supply.pdf"), kind="pdf", pages=body, sha256=sha, size=1)


def _map_prompts(engine: FakeEngine) -> list[str]:
    return [c for c in engine.calls if "Excerpt" in c]


def test_a_crashed_run_resumes_with_only_the_missing_map_steps() -> None:
    store = Store()
    template = load_templates()["contract"]
    settings = PipelineSettings(max_chunk_tokens=600, parallel_map=1)
    reference = FakeEngine(context_length=1024)
    whole = Pipeline(reference, settings).run(_doc(), template)
    assert whole.chunks >= 5

    first = FakeEngine(context_length=1024)
    with pytest.raises(Crash):
        Pipeline(first, settings).run(_doc(), template,
                                      checkpoints=CrashAfter(store.checkpoints("f" * 64, "m"), 3))
    assert len(_map_prompts(first)) == 3
    assert store.db["checkpoints"].count == 3

    resumed = FakeEngine(context_length=1024)
    checkpoints = store.checkpoints("f" * 64, "m")
    summary = Pipeline(resumed, settings).run(_doc(), template, checkpoints=checkpoints)
    # only the chunks after the third were read again, and the result is the uninterrupted one
    assert _map_prompts(resumed) == _map_prompts(reference)[3:]
    assert checkpoints.reused == 3
    assert summary.notes == whole.notes and summary.text == whole.text


def test_checkpoints_are_not_reused_under_other_parameters_or_another_model() -> None:
    store = Store()
    template = load_templates()["contract"]
    settings = PipelineSettings(max_chunk_tokens=600, parallel_map=1)
    with pytest.raises(Crash):
        Pipeline(FakeEngine(context_length=1024), settings).run(
            _doc(), template, checkpoints=CrashAfter(store.checkpoints("f" * 64, "m"), 2))
    other_budget = FakeEngine(context_length=1024)
    Pipeline(other_budget, PipelineSettings(max_chunk_tokens=500, parallel_map=1)).run(
        _doc(), template, checkpoints=(cp := store.checkpoints("f" * 64, "m")))
    assert cp.reused == 0
    other_model = store.checkpoints("f" * 64, "another-model")
    Pipeline(FakeEngine(context_length=1024), settings).run(_doc(), template,
                                                              checkpoints=other_model)
    assert other_model.reused == 0


def test_parallel_map_resumes_only_the_missing_chunks() -> None:
    store = Store()
    template = load_templates()["contract"]
    settings = PipelineSettings(max_chunk_tokens=600, parallel_map=4)
    first = FakeParallelEngine(context_length=1024)
    with pytest.raises(Crash):
        Pipeline(first, settings).run(_doc(), template,
                                      checkpoints=CrashAfter(store.checkpoints("f" * 64, "m"), 2))
    chunks = first.parallel_calls[0]
    resumed = FakeParallelEngine(context_length=1024)
    checkpoints = store.checkpoints("f" * 64, "m")
    summary = Pipeline(resumed, settings).run(_doc(), template, checkpoints=checkpoints)
    assert resumed.parallel_calls[0] == chunks - 2 and checkpoints.reused >= 2
    assert summary.chunks == chunks


def test_every_map_step_is_checkpointed_and_a_rerun_reads_no_chunk() -> None:
    store = Store()
    template = load_templates()["contract"]
    settings = PipelineSettings(max_chunk_tokens=600, parallel_map=1)
    engine = FakeEngine(context_length=1024)
    first = Pipeline(engine, settings).run(_doc(40), template,
                                           checkpoints=store.checkpoints("f" * 64, "m"))
    maps = [c for c in engine.calls if "Excerpt" in c]
    assert len(maps) == first.chunks > 1
    steps = [r[0] for r in store.db.execute("SELECT step FROM checkpoints")]
    assert len(steps) == first.chunks and all(s.startswith("map:") for s in steps)
    again = FakeEngine(context_length=1024)
    second = Pipeline(again, settings).run(_doc(40), template,
                                           checkpoints=store.checkpoints("f" * 64, "m"))
    assert [c for c in again.calls if "Excerpt" in c] == []  # only the overview is written
    assert len(again.calls) == 1 and second.text == first.text


def _document(sha: str) -> DocumentRecord:
    return DocumentRecord(sha256=sha, name="lease.pdf", path="/docs/lease.pdf", kind="pdf",
                          title=None, pages=3, pagination="printed", size=1)


def _summary(text: str = "## Overview\n\nok\n") -> SummaryRecord:
    return SummaryRecord(model_name="m.gguf", model_sha256="m", template="contract",
                         parameters={}, text=text, citations=[], coverage={}, prompt_tokens=1,
                         completion_tokens=1, load_seconds=0.0, prompt_seconds=0.0,
                         generation_seconds=0.0, wall_seconds=0.0)


def test_storing_the_summary_finishes_the_job_and_drops_its_checkpoints_atomically(
        tmp_path: Path) -> None:
    store = Store()
    queue = JobQueue(store)
    job = queue.enqueue(tmp_path / "lease.pdf", template="contract", model="m.gguf")
    claimed = queue.claim()
    assert claimed is not None and claimed.id == job.id and claimed.state == "running"
    store.checkpoints("a" * 64, "m").save("scope", "map:0:x", "- note [p. 1]", 1.0)
    store.checkpoints("b" * 64, "m").save("scope", "map:0:x", "- other document", 1.0)
    summary_id = store.save_summary(document=_document("a" * 64), summary=_summary(),
                                    job=(job.id, queue.owner))
    done = queue.get(job.id)
    assert (done.state, done.summary_id, done.owner) == ("done", summary_id, None)
    assert done.document_sha256 == "a" * 64
    left = [r[0] for r in store.db.execute("SELECT document_sha256 FROM checkpoints")]
    assert left == ["b" * 64]


def test_a_failed_summary_write_keeps_the_job_and_the_checkpoints(tmp_path: Path) -> None:
    store = Store()
    queue = JobQueue(store)
    job = queue.enqueue(tmp_path / "lease.pdf")
    queue.claim()
    store.checkpoints("a" * 64, "m").save("scope", "map:0:x", "- note [p. 1]", 1.0)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # a real SQLITE_FULL from here on
    with pytest.raises(StorageError, match="the disk is full"):
        store.save_summary(document=_document("a" * 64), summary=_summary("rent " * 20_000),
                           job=(job.id, queue.owner))
    assert queue.get(job.id).state == "running"
    assert store.db["checkpoints"].count == 1 and store.counts()["summaries"] == 0


def test_two_processes_never_claim_the_same_job(tmp_path: Path) -> None:
    first = JobQueue(Store())
    second = JobQueue(Store())
    ids = [first.enqueue(tmp_path / f"{n}.pdf").id for n in range(5)]
    assert second.enqueue(tmp_path / "0.pdf").id == ids[0]  # queued once
    claimed: list[int] = []
    for _ in range(3):
        for queue in (first, second):
            job = queue.claim(ids)
            if job is not None:
                claimed.append(job.id)
    assert sorted(claimed) == ids
    assert first.claim(ids) is None and second.claim(ids) is None


def test_a_job_whose_process_died_is_queued_again_at_once(tmp_path: Path) -> None:
    store = Store()
    dead = subprocess.run([sys.executable, "-c",
                           "from lexbrief.store.jobs import process_owner; "
                           "print(process_owner())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert owner_is_dead(dead) and not owner_is_dead(process_owner())
    crashed = JobQueue(store, owner=dead)
    job = crashed.enqueue(tmp_path / "a.pdf")
    assert crashed.claim() is not None
    survivor = JobQueue(store)
    again = survivor.claim()
    assert again is not None and again.id == job.id and again.attempts == 2
    assert crashed.heartbeat(job.id) is False
    with pytest.raises(LeaseLost):  # the dead owner's late write does not count
        store.save_summary(document=_document("a" * 64), summary=_summary(),
                           job=(job.id, dead))
    assert store.counts()["summaries"] == 0


def test_a_live_lease_is_respected_until_it_expires(tmp_path: Path) -> None:
    store = Store()
    elsewhere = JobQueue(store, owner="another-host:1234:1.00:abcd", lease_seconds=0.5)
    elsewhere.enqueue(tmp_path / "a.pdf")
    assert elsewhere.claim() is not None
    here = JobQueue(Store())
    assert here.claim() is None  # another machine's live lease
    time.sleep(0.6)
    assert here.claim() is not None  # nobody renewed it


def test_the_heartbeat_keeps_a_lease_alive(tmp_path: Path) -> None:
    store = Store()
    queue = JobQueue(store, lease_seconds=0.6)
    job = queue.enqueue(tmp_path / "a.pdf")
    queue.claim()
    other = JobQueue(Store(), owner="another-host:1:1.00:x")
    with Heartbeat(queue, job.id, interval=0.1) as beat:
        time.sleep(1.2)
        assert other.claim() is None
    assert not beat.lost
    assert queue.get(job.id).lease_expires > time.time() - 1  # type: ignore[operator]


def test_retry_cancel_and_clear(tmp_path: Path) -> None:
    queue = JobQueue(Store())
    a, b, c = (queue.enqueue(tmp_path / f"{n}.pdf") for n in "abc")
    queue.claim([a.id])
    queue.release(a.id, "failed", "damaged PDF")
    assert queue.cancel(b.id) and not queue.cancel(a.id)
    assert queue.get(a.id).reason == "damaged PDF"
    assert queue.retry([a.id]) == 1 and queue.get(a.id).state == "queued"
    assert queue.clear() == 1  # b (cancelled)
    assert [j.id for j in queue.jobs()] == [a.id, c.id]
    assert queue.counts()["queued"] == 2


def test_queue_schema_is_pinned() -> None:
    store = Store()

    def columns(table: str) -> list[tuple[str, str, int]]:
        return [(r[1], r[2], r[3]) for r in store.db.execute(f"PRAGMA table_info({table})")]

    assert columns("jobs") == [
        ("id", "INTEGER", 0), ("path", "TEXT", 1), ("name", "TEXT", 1), ("state", "TEXT", 1),
        ("template", "TEXT", 1), ("model", "TEXT", 0), ("password_required", "INTEGER", 1),
        ("rerun", "INTEGER", 1), ("reason", "TEXT", 0), ("attempts", "INTEGER", 1),
        ("document_sha256", "TEXT", 0), ("summary_id", "INTEGER", 0), ("owner", "TEXT", 0),
        ("lease_expires", "REAL", 0), ("created", "TEXT", 1), ("started", "TEXT", 0),
        ("finished", "TEXT", 0), ("reader_model", "TEXT", 0), ("matter", "TEXT", 0)]
    assert columns("checkpoints") == [
        ("document_sha256", "TEXT", 1), ("model_sha256", "TEXT", 1), ("parameters", "TEXT", 1),
        ("step", "TEXT", 1), ("notes", "TEXT", 1), ("seconds", "REAL", 1),
        ("created", "TEXT", 1)]
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO jobs (path, name, state, template, created) "
                         "VALUES ('p', 'n', 'half-done', 'auto', 'now')")


def test_queue_cli_lists_retries_and_clears_a_batch(tmp_path: Path) -> None:
    """A real CLI batch of two damaged files: both fail into the table, `queue` shows why,
    `retry` queues them again, `summarize --resume` works through them, `clear` forgets them."""
    import shutil

    from conftest import MALFORMED
    from test_cli import lexbrief

    folder = tmp_path / "matter"
    folder.mkdir()
    shutil.copy(MALFORMED / "random-bytes.pdf", folder / "a.pdf")
    shutil.copy(MALFORMED / "fuzzed-1.docx", folder / "b.docx")
    assert "The queue is empty." in lexbrief("queue").stdout
    batch = lexbrief("summarize", str(folder))
    assert batch.returncode == 3 and "Traceback" not in batch.stderr
    listed = lexbrief("queue")
    assert listed.returncode == 0
    assert [line.split()[1] for line in listed.stdout.splitlines()[:2]] == ["failed", "failed"]
    assert "a.pdf" in listed.stdout and "2 failed" in listed.stdout
    resumed = lexbrief("summarize", str(folder), "--resume")
    assert resumed.returncode == 0 and "failed earlier" in resumed.stderr
    retried = lexbrief("queue", "retry")
    assert retried.returncode == 0 and "2 job(s) queued again" in retried.stdout
    again = lexbrief("summarize", "--resume")
    assert again.returncode == 3 and again.stderr.count("lexbrief: error:") == 2
    jobs = JobQueue(Store()).jobs()
    assert [(j.state, j.attempts) for j in jobs] == [("failed", 2), ("failed", 2)]
    assert lexbrief("summarize", "--resume").stderr.strip() == (
        "lexbrief: nothing left to do in the queue.")
    cleared = lexbrief("queue", "clear")
    assert cleared.returncode == 0 and "2 job(s) cleared" in cleared.stdout
    assert JobQueue(Store()).jobs() == []
    assert lexbrief("queue", "cancel", "99").returncode == 3


def test_a_document_the_history_has_is_offered_from_it_not_run_again(
        starter_model: Path) -> None:
    """Same sha256, model and template: the CLI shows the stored summary (no model run)."""
    from lexbrief.read import load_document
    from lexbrief.store.db import file_sha256
    from lexbrief.summarize.templates import detect_template

    from conftest import DOCUMENTS
    from test_cli import lexbrief

    path = DOCUMENTS / "court-order-ca7.pdf"
    document = load_document(path)
    template = detect_template(document.text, load_templates()).name
    store = Store()
    stored = store.save_summary(
        document=dataclasses.replace(_document(document.sha256), name=path.name),
        summary=dataclasses.replace(
            _summary("## Overview\n\nThe stored summary.\n"),
            model_sha256=file_sha256(starter_model), model_name=starter_model.name,
            template=template))
    result = lexbrief("summarize", str(path))
    assert result.returncode == 0, result.stderr
    assert "The stored summary." in result.stdout
    assert f"already summarized as #{stored}" in result.stderr
    assert store.counts()["summaries"] == 1
    job = JobQueue(store).jobs()[-1]
    assert (job.state, job.summary_id) == ("done", stored)
    assert job.reason == f"already summarized as #{stored}"


def test_a_full_disk_is_a_clear_error_that_writes_nothing_half(
        small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store on a real filesystem that fills up (conftest's small tmpfs): checkpoint and
    summary writes fail with the store's message, the database stays whole, and work goes on
    once space is freed. (The CLI batch on it: test_queue_crash.py.)"""
    monkeypatch.setenv("LEXBRIEF_HOME", str(small_disk / "home"))
    store = Store()
    queue = JobQueue(store)
    job = queue.enqueue(tmp_path / "lease.pdf")
    queue.claim()
    checkpoints = store.checkpoints("a" * 64, "m")
    checkpoints.save("scope", "map:0:x", "- first [p. 1]", 1.0)
    filler = small_disk / "filler"
    fill(filler)
    with pytest.raises(StorageError, match="the disk is full"):
        for n in range(1, 50):  # the WAL's last page may still hold a frame or two
            checkpoints.save("scope", f"map:{n}:x", "- more notes [p. 2]" * 40, 1.0)
    with pytest.raises(StorageError, match="the disk is full"):
        store.save_summary(document=_document("a" * 64), summary=_summary(),
                           job=(job.id, queue.owner))
    filler.unlink()
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.counts()["summaries"] == 0 and queue.get(job.id).state == "running"
    store.save_summary(document=_document("a" * 64), summary=_summary(),
                       job=(job.id, queue.owner))
    assert queue.get(job.id).state == "done" and store.db["checkpoints"].count == 0
    store.close()


_WORKER = """
import sys, time
from lexbrief.store import DocumentRecord, Store, SummaryRecord
from lexbrief.store.jobs import JobQueue
queue = JobQueue(Store())
ran = []
while (job := queue.claim()) is not None:
    time.sleep(0.05)  # the work
    assert queue.release(job.id, "done", "worked")
    ran.append(job.id)
print(" ".join(map(str, ran)))
"""


def test_processes_sharing_a_data_folder_split_the_queue_without_overlap(
        tmp_path: Path) -> None:
    """Three real processes claim from one jobs table at once (the model-free half of the
    two-process test in test_queue_crash.py): every job runs once, none twice."""
    queue = JobQueue(Store())
    ids = [queue.enqueue(tmp_path / f"{n:02}.pdf").id for n in range(40)]
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER], stdout=subprocess.PIPE,
                                text=True) for _ in range(3)]
    ran = [[int(x) for x in w.communicate(timeout=120)[0].split()] for w in workers]
    assert all(w.returncode == 0 for w in workers)
    every = sorted(job for part in ran for job in part)
    assert every == ids  # each exactly once
    assert sum(1 for part in ran if part) >= 2  # they did share the work
    assert queue.counts()["done"] == 40
