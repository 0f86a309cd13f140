"""The queue survives for real: CLI batches on corpus documents with the real starter model,
SIGKILLed at random points; a long document resumed after k chunks; two processes on one data
folder; a data folder on a small tmpfs that fills up mid-batch."""

from __future__ import annotations

import collections
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lexbrief.engine.contract import Engine
from lexbrief.service import Summarizer
from lexbrief.store import Store
from lexbrief.summarize.pipeline import Checkpoints, PipelineSettings

from conftest import DOCUMENTS, fill

pytestmark = pytest.mark.model

# Corpus documents cut into small chunks, one chunk's notes at a time, so that a kill lands
# mid-step: two short ones first (kills after a document is stored), then a 24-chunk filing.
BATCH = {"a-court-order.pdf": "court-order-ca7.pdf", "b-nda.docx": "nda-mutual-bonterms.docx",
         "c-court-filing.docx": "court-filing.docx"}
SETTINGS = "max_chunk_tokens = 300\nparallel_map = 1\n"
_FRESH = ("reading", "merging", "writing")
_STEP = re.compile(r"^(?:\[\d+/\d+\] )?(?P<name>\S+): step \d+/\d+ · (?P<what>.*?)(?: · |$)")


@dataclass
class Run:
    """One CLI process, its stderr lines read as they come, with their times."""

    proc: subprocess.Popen[str]
    started: float
    lines: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.perf_counter(), line.rstrip("\n")))

    def wait_for(self, count: int, timeout: float = 120) -> bool:
        """Until `count` steps of new work have started (False: the process ended first)."""
        deadline = time.perf_counter() + timeout
        while sum(what.startswith(_FRESH) for _t, _n, what in self.steps()) < count:
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                return False
            time.sleep(0.02)
        return True

    def steps(self) -> list[tuple[float, str, str]]:
        found = []
        for at, line in list(self.lines):
            match = _STEP.match(line)
            if match:
                found.append((at, match["name"], match["what"]))
        return found

    def finish(self) -> None:
        self.proc.wait(timeout=600)
        self.reader.join(timeout=10)


def _start(folder: Path, *extra: str, env: dict[str, str] | None = None) -> Run:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lexbrief", "summarize", str(folder), "--resume", "--json",
         *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=env or os.environ.copy())
    return Run(proc, time.perf_counter())


def _batch_folder(tmp_path: Path, names: dict[str, str]) -> Path:
    folder = tmp_path / "matter"
    folder.mkdir()
    for name, source in names.items():
        shutil.copy(DOCUMENTS / source, folder / name)
    return folder


def _summaries(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM summaries").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _check_database(db: Path) -> dict[str, Any]:
    """What must hold after any kill: an intact database, no partial summary, no document
    summarized twice, every 'done' job pointing at its summary."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        per_document = conn.execute(
            "SELECT d.name, count(s.id) FROM documents d LEFT JOIN summaries s "
            "ON s.document_id = d.id GROUP BY d.id").fetchall()
        assert all(n == 1 for _name, n in per_document), per_document
        partial = conn.execute(
            "SELECT s.id FROM summaries s LEFT JOIN run_records r ON r.summary_id = s.id "
            "WHERE r.id IS NULL OR s.text NOT LIKE '%## Overview%## Key points%' "
            "OR s.wall_seconds <= 0"
        ).fetchall()
        assert partial == []
        jobs = conn.execute("SELECT state, summary_id FROM jobs").fetchall()
        assert all(summary for state, summary in jobs if state == "done")
        done_docs = conn.execute(
            "SELECT count(*) FROM jobs j JOIN summaries s ON s.id = j.summary_id "
            "WHERE j.state = 'done'").fetchone()[0]
        assert done_docs == len(per_document)
        checkpoints = conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
        return {"summaries": len(per_document), "jobs": collections.Counter(s for s, _ in jobs),
                "checkpoints": checkpoints}
    finally:
        conn.close()


def test_a_batch_killed_20_times_at_random_points_finishes_each_document_once(
        tmp_path: Path, lexbrief_home: Path, starter_model: Path) -> None:
    lexbrief_home.mkdir(parents=True, exist_ok=True)
    (lexbrief_home / "settings.toml").write_text(SETTINGS)
    folder = _batch_folder(tmp_path, BATCH)
    db = lexbrief_home / "lexbrief.db"
    seed = int(os.environ.get("LEXBRIEF_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    kills: list[str] = []  # where each kill landed
    depths: list[int] = []  # how many new steps each kill mid-step waited for
    runs: list[Run] = []
    for _ in range(80):
        if len(kills) >= 22:
            break
        run = _start(folder)
        runs.append(run)
        short_ones_left = db.exists() and _summaries(db) < 2
        where = rng.choices(["startup", "step", "after-a-document"],
                            [2, 10, 3 if short_ones_left else 0])[0]
        if where == "startup":  # importing, loading the model, claiming, chunking
            time.sleep(rng.uniform(0.1, 1.2))
        elif where == "step":  # mid-map or mid-final, some way into the 1st or 2nd new step
            # False: the process ended (the batch is done: below) or no new step came within
            # the timeout on a slow machine; it is killed all the same, never left running
            # beside the next process
            # Into the 2nd step at least once (the 1st one's notes are then kept for the next
            # run: asserted below), not left to chance: 14 kills all in a 1st step were seen.
            second = not any(n == 2 for n in depths) and len(kills) >= 10
            depths.append(2 if second else rng.choice([1, 1, 1, 2]))
            run.wait_for(depths[-1])
            time.sleep(rng.uniform(0.0, 3.0))
        else:  # just after a document was stored (the next one's claim, load, chunking)
            deadline = time.perf_counter() + 120
            while (not any("done in" in line for _t, line in list(run.lines))
                   and run.proc.poll() is None and time.perf_counter() < deadline):
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.05))
        if run.proc.poll() is not None:
            run.finish()
            break  # the whole batch finished before this kill
        run.proc.send_signal(signal.SIGKILL)
        run.finish()
        assert run.proc.returncode == -signal.SIGKILL
        steps = [what for _t, _n, what in run.steps() if what.startswith(_FRESH)]
        kills.append(where if where != "step" or not steps else steps[-1].split(" ")[0])
        if db.exists():
            _check_database(db)
    final = _start(folder)
    runs.append(final)
    final.finish()
    assert final.proc.returncode == 0, "\n".join(line for _t, line in final.lines)
    state = _check_database(db)
    assert len(kills) >= 20, (seed, kills)
    assert state["summaries"] == len(BATCH) and state["jobs"] == {"done": len(BATCH)}
    assert state["checkpoints"] == 0  # each stored summary dropped its document's checkpoints
    # Work lost: a map step is only done again when a kill interrupted it (never two per kill)
    map_runs = collections.Counter(
        (name, re.search(r"chunk (\d+) of", what)[1])  # type: ignore[index]
        for run in runs for _t, name, what in run.steps() if what.startswith("reading"))
    redone = sum(n - 1 for n in map_runs.values())
    assert redone <= len(kills), (redone, kills)
    kept = sum("kept from an interrupted run" in what for run in runs
               for _t, _n, what in run.steps())
    finals = collections.Counter(name for run in runs for _t, name, what in run.steps()
                                 if what.startswith("writing"))
    latency = [steps[0][0] - run.started for run in runs[1:]
               if (steps := [s for s in run.steps() if s[2].startswith(_FRESH)])]
    report = {"seed": seed, "kills": len(kills), "where": collections.Counter(kills),
              "map_steps": sum(map_runs.values()), "map_steps_redone": redone,
              "final_steps_redone": sum(n - 1 for n in finals.values()),
              "steps_kept": kept, "resume_to_first_new_step_s": {
                  "median": sorted(latency)[len(latency) // 2], "max": max(latency)},
              "wall_s": round(time.perf_counter() - runs[0].started, 1)}
    print(json.dumps(report))
    assert kept > 0  # the resumed runs did reuse checkpoints


class CountingEngine:
    """The real engine, with every chat call's prompt recorded."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.prompts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def chat(self, messages: Any, params: Any, cancel: Any) -> Any:
        self.prompts.append(next(m.content for m in messages if m.role == "user"))
        return self._engine.chat(messages, params, cancel)


class Killed(BaseException):
    """Stands for the process dying just after its k-th checkpoint was committed."""


def test_a_long_document_killed_after_k_chunks_runs_only_the_remaining_ones(
        llama_engine: Engine) -> None:
    settings = PipelineSettings(max_chunk_tokens=700, map_tokens=48, condense_tokens=64,
                                final_tokens=96, parallel_map=1)
    first = CountingEngine(llama_engine)
    k = 3

    class DieAfterK(Checkpoints):
        def __init__(self, inner: Checkpoints) -> None:
            self.inner, self.saved = inner, 0

        def load(self, scope: str, step: str) -> str | None:
            return self.inner.load(scope, step)

        def save(self, scope: str, step: str, notes: str, seconds: float) -> None:
            self.inner.save(scope, step, notes, seconds)
            self.saved += 1
            if self.saved == k:
                raise Killed

    store = Store()
    summarizer = Summarizer(store, engine_factory=lambda _m: first,  # type: ignore[arg-type,return-value]
                            pipeline_settings=settings)
    original = store.checkpoints
    store.checkpoints = lambda sha, model: DieAfterK(original(sha, model))  # type: ignore[assignment,method-assign,return-value]
    with pytest.raises(Killed):
        summarizer.summarize(DOCUMENTS / "court-opinion-ca1.pdf")
    store.checkpoints = original  # type: ignore[method-assign]
    assert len(first.prompts) == k and store.counts()["summaries"] == 0

    resumed = CountingEngine(llama_engine)
    again = Summarizer(store, engine_factory=lambda _m: resumed,  # type: ignore[arg-type,return-value]
                       pipeline_settings=settings)
    outcome = again.summarize(DOCUMENTS / "court-opinion-ca1.pdf")
    chunks = outcome.summary.chunks
    assert chunks > k + 1
    maps = [p for p in resumed.prompts if p.startswith("Excerpt from ")]
    assert len(maps) == chunks - k  # only the chunks not read before the kill
    assert all(p.startswith("Excerpt from ") for p in first.prompts)
    assert not set(first.prompts) & set(maps)  # none of them read twice
    assert again.last_checkpoints.reused == k
    assert outcome.summary.coverage.tokens_dropped == 0
    assert store.db["checkpoints"].count == 0


def test_two_processes_on_one_data_folder_summarize_each_document_once(
        tmp_path: Path, lexbrief_home: Path, starter_model: Path) -> None:
    lexbrief_home.mkdir(parents=True, exist_ok=True)
    (lexbrief_home / "settings.toml").write_text(SETTINGS)
    folder = _batch_folder(tmp_path, {k: v for k, v in BATCH.items() if k < "c"})
    first = _start(folder)
    first.wait_for(1)  # the first has queued the folder and started on a document
    second = _start(folder)
    first.finish()
    second.finish()
    out = [line for run in (first, second) for _t, line in run.lines]
    assert first.proc.returncode == 0 and second.proc.returncode == 0, "\n".join(out)
    state = _check_database(lexbrief_home / "lexbrief.db")
    assert state["summaries"] == 2 and state["jobs"] == {"done": 2}  # not one job more
    done = [sum("done in" in line for _t, line in run.lines) for run in (first, second)]
    assert done == [1, 1]  # each document run by exactly one of them
    # They took turns with the model (service.turn): two llama.cpp engines side by side on 2
    # cores ran this test in 398 s, against 22 s in turns. The second said whom it waited for.
    assert any(f"waiting for its turn: pid {first.proc.pid} (summarizing " in line
               for _t, line in second.lines), "\n".join(out)
    spans = [[at for at, _name, what in run.steps() if what.startswith(_FRESH)]
             for run in (first, second)]
    assert max(spans[0]) < min(spans[1]), "\n".join(out)  # no model step at the same time


def test_a_disk_that_fills_up_mid_batch_stops_it_cleanly_and_it_resumes(
        tmp_path: Path, small_disk: Path, starter_model: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    home = small_disk / "lexbrief"
    monkeypatch.setenv("LEXBRIEF_HOME", str(home))
    home.mkdir()
    (home / "settings.toml").write_text(SETTINGS)
    folder = _batch_folder(tmp_path, {k: v for k, v in BATCH.items() if k < "c"})
    run = _start(folder)
    deadline = time.perf_counter() + 300
    while not any("done in" in line for _t, line in list(run.lines)):
        assert run.proc.poll() is None and time.perf_counter() < deadline, run.lines
        time.sleep(0.01)
    filler = small_disk / "filler"
    fill(filler)  # the disk is full while the second document is being read
    run.finish()
    stderr = "\n".join(line for _t, line in run.lines)
    assert run.proc.returncode == 5, stderr
    assert "the disk is full" in stderr and "Traceback" not in stderr
    db = home / "lexbrief.db"
    filler.unlink()
    state = _check_database(db)
    assert state["summaries"] == 1  # the first document, whole; nothing of the second
    # read-only media: a clear error, nothing written
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        readonly = _start(folder)
        readonly.finish()
        text = "\n".join(line for _t, line in readonly.lines)
        assert readonly.proc.returncode == 5 and "Traceback" not in text, text
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    resumed = _start(folder)
    resumed.finish()
    assert resumed.proc.returncode == 0, "\n".join(line for _t, line in resumed.lines)
    state = _check_database(db)
    assert state["summaries"] == 2 and state["jobs"] == {"done": 2}
