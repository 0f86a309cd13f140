"""The queue's side of the window: documents in (they become rows of the jobs table through the
database worker, then jobs of the model worker), the table as the last session left it, and the
model worker's news shown in the queue, the summary pane and the hardware plots."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from lexbrief.errors import UserFacingError
from lexbrief.machine.telemetry.speed import SpeedMeter, live_text
from lexbrief.read import expand_inputs
from lexbrief.store import Store
from lexbrief.store.jobs import FINISHED, Job, JobQueue, owner_pid
from lexbrief.summarize.pipeline import Progress
from lexbrief.ui.gui.database import Database
from lexbrief.ui.gui.reader import Reader
from lexbrief.ui.gui.tasks import run_in_background
from lexbrief.ui.gui.worker import SummaryWorker

log = logging.getLogger(__name__)

ENDED = ("done", "failed", "cancelled")  # how a row's state starts once its job has ended


@dataclass
class WindowJob:
    """What the window keeps of a job it lists."""

    path: Path
    outcome: Any = None  # the service's Outcome, once summarized in this session
    draft: str = ""  # the final step's text so far
    summary_id: int | None = None  # the stored summary (a finished job of an earlier session)
    meter: SpeedMeter | None = None  # the run's live speed


def queue_documents(store: Store, paths: list[Path], *, template: str, rerun: bool,
                    matter: str | None = None) -> list[tuple[Path, int | None]]:
    """A database operation: the documents under `paths`, each with its job id (None: the table
    could not record it; the window runs it all the same), filed under `matter`."""
    table = JobQueue(store)
    queued: list[tuple[Path, int | None]] = []
    for path in expand_inputs(paths):
        try:
            queued.append((path, table.enqueue(path, template=template, rerun=rerun,
                                               matter=matter).id))
        except UserFacingError as exc:  # the table cannot be written: run it anyway
            log.warning("job not recorded in the queue table: %s", exc.message)
            queued.append((path, None))
    return queued


def unrecorded_documents(paths: list[Path]) -> list[tuple[Path, int | None]]:
    """The documents under `paths`, none recorded (the database cannot be opened)."""
    return [(path, None) for path in expand_inputs(paths)]


def restore_jobs(store: Store) -> list[Job]:
    """A database operation: the jobs table after a crash or the last quit (running jobs of a
    dead process are queued again); what is unfinished, and the last 50 finished."""
    table = JobQueue(store)
    table.recover()
    rows = table.jobs()
    return [j for j in rows if j.state not in FINISHED] + [
        j for j in rows if j.state in FINISHED][-50:]


class QueueControl(QObject):
    queued = Signal(list)  # the job ids of documents just added, in order

    def __init__(self, window: Any, worker: SummaryWorker, db: Database,
                 reader: Reader) -> None:
        super().__init__(window)
        self.window = window
        self.view = window.queue
        self.worker = worker
        self.db = db
        self.reader = reader
        self.jobs: dict[int, WindowJob] = {}
        self.shown_job: int | None = None
        self._with_worker: set[int] = set()  # handed to the model worker, not ended yet
        self._unrecorded = itertools.count(1)  # negative ids for jobs the table did not take
        w = worker
        w.started.connect(self._on_started)
        w.progress.connect(self._on_progress)
        w.speed.connect(self._on_speed)
        w.token.connect(self._on_token)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        w.from_history.connect(self._on_from_history)
        self.view.itemSelectionChanged.connect(self._selection_changed)

    def _status(self, text: str, ms: int) -> None:
        self.window.statusBar().showMessage(text, ms)

    def _hand_over(self, job_id: int, path: Path, template: str = "auto",
                   model: str | None = None, reader_model: str | None = None) -> None:
        if job_id not in self._with_worker:  # a document dropped twice runs once
            self._with_worker.add(job_id)
            self.worker.submit(job_id, path, template=template, model=model,
                               reader_model=reader_model)

    def _ended(self, job_id: int) -> None:
        self._with_worker.discard(job_id)

    # -- documents in -------------------------------------------------------------------------
    def add_paths(self, paths: list[Path], *, template: str | None = None,
                  rerun: bool = False) -> None:
        """Queue the documents under `paths`; `queued` tells their job ids."""
        chosen = template or self.window.template.currentData()
        matter = self.window.matter.text()

        def unrecorded(message: str) -> None:  # no jobs table at all: run them all the same
            log.warning("documents not recorded in the queue table: %s", message)
            run_in_background(lambda: unrecorded_documents(paths),
                              lambda queued: self._queued(queued, chosen),
                              lambda problem: self._status(f"Cannot queue: {problem}", 8000),
                              what="listing documents")

        self.db.run(lambda store: queue_documents(store, paths, template=chosen, rerun=rerun,
                                                  matter=matter),
                    lambda queued: self._queued(queued, chosen), unrecorded,
                    what="queueing documents")

    def _queued(self, queued: list[tuple[Path, int | None]], template: str) -> None:
        if not queued:
            self._status("No supported documents there.", 5000)
            return
        ids = []
        for path, recorded in queued:
            job_id = recorded if recorded is not None else -next(self._unrecorded)
            ids.append(job_id)
            if job_id not in self.jobs:  # the table keeps one unfinished job per document
                self.jobs[job_id] = WindowJob(path)
                self.view.add(job_id, path)
            self._hand_over(job_id, path, template)
        if self.shown_job is None or self.view.job_state(self.shown_job).startswith(ENDED):
            self.select(ids[0])
        self._status(f"{len(queued)} document(s) queued.", 4000)
        self.queued.emit(ids)

    def restore(self) -> None:
        """Show the jobs table: what a crash or the last quit left queued runs now; finished
        jobs are listed."""
        self.db.run(restore_jobs, self._restored,
                    lambda message: self._status(f"The queue cannot be read: {message}", 8000),
                    what="reading the queue")

    def _restored(self, shown: list[Job]) -> None:
        for job in sorted(shown, key=lambda j: j.id):
            if job.id in self.jobs:
                continue
            self.jobs[job.id] = WindowJob(job.path, summary_id=job.summary_id)
            self.view.add(job.id, job.path)
            if job.state == "queued" and job.password_required:
                self.view.set_state(job.id, "waiting: needs its password (drop it again)")
            elif job.state == "queued":
                self._hand_over(job.id, job.path, job.template, job.model, job.reader_model)
            elif job.state == "running":
                self.view.set_state(job.id, f"running in another LexBrief (pid "
                                            f"{owner_pid(job.owner)})")
            elif job.state == "done":
                self.view.set_state(job.id, "done", f"stored as summary #{job.summary_id}")
            else:
                self.view.set_state(job.id, f"{job.state}: {job.reason or ''}".strip(": "))
        if shown:
            waiting = sum(j.state == "queued" for j in shown)
            self._status(f"{waiting} document(s) from the last session queued again."
                         if waiting else f"{len(shown)} job(s) from earlier sessions.", 6000)

    # -- the model worker's news --------------------------------------------------------------
    def _on_started(self, job_id: int) -> None:
        self.view.set_state(job_id, "reading")
        self.window.hardware.mark(f"▶ {self.jobs[job_id].path.name}")
        if self.shown_job == job_id:
            self.reader.start(self.jobs[job_id].path.name)

    def _on_speed(self, job_id: int, meter: SpeedMeter) -> None:
        self.jobs[job_id].meter = meter
        self.window.hardware.track(meter)

    def _on_progress(self, job_id: int, progress: Progress) -> None:
        meter = self.jobs[job_id].meter
        self.view.set_progress(job_id, progress, live_text(meter) if meter else None)

    def _on_token(self, job_id: int, stage: str, text: str) -> None:
        if stage != "final":
            return
        self.jobs[job_id].draft += text
        if self.shown_job == job_id:
            self.reader.view.append_token(text)

    def _on_finished(self, job_id: int, outcome: Any) -> None:
        self._ended(job_id)
        self.jobs[job_id].outcome = outcome
        s = outcome.summary
        self.view.set_state(job_id, "done", f"stored as summary #{outcome.summary_id}")
        item = self.view.job_item(job_id)
        if item:
            item.setText(2, f"100% · {s.coverage.pages_read}/{s.coverage.pages_total} pages")
        if self.shown_job == job_id:
            self.reader.show_outcome(outcome)
        window = self.window
        window.history.refresh()
        window.models.refresh()  # this model's 50-page time is now measured here
        window.hardware.mark("■ done")
        window.hardware.show_run(outcome)

    def _on_from_history(self, job_id: int, summary_id: int) -> None:
        self._ended(job_id)
        self.jobs[job_id].summary_id = summary_id
        self.view.set_state(job_id, "done (from the history)",
                            f"already summarized as #{summary_id} with this model and "
                            "template; History → Re-run… runs it again")
        if self.shown_job == job_id:
            self.show_job(job_id)

    def _on_failed(self, job_id: int, message: str) -> None:
        self._ended(job_id)
        self.view.set_state(job_id, f"failed: {message}", message)
        self.window.hardware.mark("✕ failed")
        if self.shown_job == job_id:
            self.reader.show_message(self.jobs[job_id].path.name, message)

    def _on_cancelled(self, job_id: int) -> None:
        self._ended(job_id)
        self.view.set_state(job_id, "cancelled")
        self.window.hardware.mark("✕ cancelled")
        if self.shown_job == job_id:
            self.reader.show_message(self.jobs[job_id].path.name,
                                     "Cancelled. Nothing was saved for this document.")

    # -- showing a job ------------------------------------------------------------------------
    def select(self, job_id: int) -> None:
        item = self.view.job_item(job_id)
        if item:
            self.view.setCurrentItem(item)
        self.show_job(job_id)

    def _selection_changed(self) -> None:
        jobs = self.view.selected_jobs()
        if jobs:
            self.show_job(jobs[0])

    def show_job(self, job_id: int) -> None:
        self.shown_job = job_id
        job = self.jobs[job_id]
        state = self.view.job_state(job_id)
        if job.outcome is not None:
            self.reader.show_outcome(job.outcome)
        elif job.summary_id and state.startswith("done"):  # from an earlier session
            summary_id = job.summary_id
            self.reader.show_stored_id(summary_id, lambda: self.shown_job == job_id)
        elif state.startswith(("failed", "cancelled")):
            self.reader.show_message(job.path.name, state)
        else:
            self.reader.start(job.path.name, job.draft)

    def forget_shown(self) -> None:
        """Something else is shown (a summary opened from the history)."""
        self.shown_job = None
        self.view.clearSelection()

    # -- control ------------------------------------------------------------------------------
    def cancel_selected(self) -> None:
        for job_id in self.view.selected_jobs():
            self.worker.cancel(job_id)

    def cancel_all(self) -> None:
        self.worker.cancel_all()
