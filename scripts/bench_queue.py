"""Checkpoint overhead and resume cost on a whole document with the real starter model.

    LEXBRIEF_HOME=$(mktemp -d) .venv/bin/python scripts/bench_queue.py [DOCUMENT]

Runs the document once with step checkpoints in SQLite (what every run does) and reports the
time spent reading and writing them as a share of the run's wall time; then "kills" a second
run after half its map steps (an exception right after a checkpoint commit) and resumes it,
reporting the steps and model seconds the resume reused and the time from the resume's start
to its first new step. Prints one JSON object (with the load average before and after).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lexbrief.service import Summarizer
from lexbrief.store import Store
from lexbrief.summarize.pipeline import Checkpoints, Observer, PipelineSettings, Progress

ROOT = Path(__file__).resolve().parents[1]


class Killed(BaseException):
    pass


def main() -> int:
    document = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        ROOT / "tests" / "fixtures" / "documents" / "court-opinion-ca1.pdf")
    load_before = os.getloadavg()
    settings = PipelineSettings(parallel_map=1)
    store = Store()
    summarizer = Summarizer(store, pipeline_settings=settings)
    started = time.perf_counter()
    outcome = summarizer.summarize(document)
    wall = time.perf_counter() - started
    whole = summarizer.last_checkpoints
    result: dict[str, Any] = {
        "document": document.name, "chunks": outcome.summary.chunks,
        "wall_s": round(wall, 2), "checkpoints_saved": whole.saved,
        "checkpoint_io_s": round(whole.overhead_seconds, 4),
        "checkpoint_overhead_pct": round(100 * whole.overhead_seconds / wall, 3),
    }
    # A second run of the same document, killed after half its map steps, then resumed.
    half = max(1, outcome.summary.chunks // 2)
    original = store.checkpoints

    class DieAfterHalf(Checkpoints):
        def __init__(self, inner: Any) -> None:
            self.inner, self.saved = inner, 0

        def load(self, scope: str, step: str) -> str | None:
            return self.inner.load(scope, step)

        def save(self, scope: str, step: str, notes: str, seconds: float) -> None:
            self.inner.save(scope, step, notes, seconds)
            self.saved += 1
            if self.saved == half:
                raise Killed

    store.checkpoints = lambda sha, model: DieAfterHalf(original(sha, model))  # type: ignore[method-assign,assignment,return-value]
    killed_at = time.perf_counter()
    with contextlib.suppress(Killed):
        summarizer.summarize(document)
    killed_after = time.perf_counter() - killed_at
    store.checkpoints = original  # type: ignore[method-assign]
    first_new: list[float] = []

    class FirstNewStep(Observer):
        def progress(self, progress: Progress) -> None:
            if progress.stage in ("map", "condense", "final") and "kept from" not in \
                    progress.message and not first_new:
                first_new.append(time.perf_counter())

    resume_started = time.perf_counter()
    resumed = summarizer.summarize(document, observer=FirstNewStep())
    resume_wall = time.perf_counter() - resume_started
    kept = summarizer.last_checkpoints
    result |= {
        "killed_after_map_steps": half, "killed_run_s": round(killed_after, 2),
        "resume_reused_steps": kept.reused, "resume_reused_model_s": round(kept.seconds_reused, 2),
        "resume_to_first_new_step_s": round(first_new[0] - resume_started, 3),
        "resume_wall_s": round(resume_wall, 2), "resumed_chunks": resumed.summary.chunks,
        "machine": f"{platform.node()} {platform.processor() or platform.machine()} "
                   f"{os.cpu_count()} CPUs",
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True, check=False).stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
