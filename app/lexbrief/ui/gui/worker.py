"""The model worker: one QThread owns the loaded engine and runs the queue's jobs, one at a time.

Its partner is the database worker (database.py), which answers everything else the window asks
of the database. This thread keeps one Store of its own for its whole life, for what a run
writes while it goes (the job's lease, the step checkpoints, the summary row, all in the
service's own transactions). It talks back only through signals; cancel is a thread-safe flag
the window sets directly, checked by the pipeline between steps and between tokens. Failures are
split as everywhere in the window (tasks.failure_message).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from lexbrief.cancel import CancelToken
from lexbrief.errors import Cancelled, ExitCode, UserFacingError
from lexbrief.store import Store
from lexbrief.store.jobs import Heartbeat, JobQueue, LeaseLost
from lexbrief.summarize.pipeline import Observer, Progress
from lexbrief.ui.gui.tasks import failure_message

log = logging.getLogger(__name__)


@dataclass
class Job:
    id: int
    path: Path
    template: str = "auto"
    password: str | None = None
    model: str | None = None  # None: the active or starter model
    rerun: bool = False  # run even if the history has this document (same model, template)
    # the reading model recorded with the job (a CLI --reader-model): None = the settings'
    reader_model: str | None = None
    cancel: CancelToken = field(default_factory=CancelToken)


class _SignalObserver(Observer):
    def __init__(self, worker: SummaryWorker, job: Job) -> None:
        self.worker = worker
        self.job = job

    def progress(self, progress: Progress) -> None:
        from lexbrief.machine.telemetry.speed import current_meter

        meter = current_meter()
        if meter is not None:  # before the progress, so that it can show the live speed
            self.worker.speed.emit(self.job.id, meter)
        self.worker.progress.emit(self.job.id, progress)

    def token(self, stage: str, text: str) -> None:
        self.worker.token.emit(self.job.id, stage, text)


class SummaryWorker(QObject):
    started = Signal(int)  # job id
    progress = Signal(int, object)  # job id, Progress
    speed = Signal(int, object)  # job id, the run's SpeedMeter (lexbrief.machine.telemetry.speed)
    token = Signal(int, str, str)  # job id, stage, text
    finished = Signal(int, object)  # job id, Outcome
    failed = Signal(int, str)  # job id, plain-words reason
    cancelled = Signal(int)
    from_history = Signal(int, int)  # job id, the stored summary's id (not run again)
    model_loaded = Signal(object)  # ModelInfo

    def __init__(self, engine_factory: Any = None) -> None:
        super().__init__()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._engine_factory = engine_factory
        self._summarizers: dict[tuple[str | None, str | None], Any] = {}
        self._reload = threading.Event()
        self.sampler: Any = None  # the window's telemetry sampler, shared with each run
        self._stopping = False
        self._store: Store | None = None  # the worker thread's own connection, for its life
        self._table: JobQueue | None = None

    # -- called from the GUI thread -----------------------------------------------------------
    def submit(self, job_id: int, path: Path, *, template: str = "auto",
               password: str | None = None, model: str | None = None,
               rerun: bool = False, reader_model: str | None = None) -> Job:
        """Run job `job_id` (a row of the jobs table, lexbrief.store.jobs, that the window and
        the CLI share; negative: a job the table could not record, run all the same)."""
        job = Job(job_id, Path(path), template, password, model, rerun=rerun,
                  reader_model=reader_model)
        with self._lock:
            self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def cancel(self, job_id: int) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job:
            job.cancel.cancel()

    def cancel_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.cancel()

    def stop(self) -> None:
        """The window closes: unfinished jobs stay queued in the table for the next start."""
        self._stopping = True
        self.cancel_all()
        self._queue.put(None)

    def reload_model(self) -> None:
        """The active model changed: load it for the next document."""
        self._reload.set()

    # -- the worker thread --------------------------------------------------------------------
    def run(self) -> None:
        try:
            while (job := self._queue.get()) is not None:
                try:
                    self._run_job(job)
                finally:
                    with self._lock:
                        self._jobs.pop(job.id, None)
        finally:
            self._close()
            if self._store is not None:
                self._store.close()
                self._store = None
            self._table = None

    def _jobs_table(self) -> JobQueue:
        """This thread's connection (opened at its first job, after the database worker has
        created and migrated the database) and the jobs table on it."""
        if self._store is None:
            self._store = Store()
            self._table = None
        if self._table is None:
            self._table = JobQueue(self._store)
        return self._table

    def _summarizer(self, model: str | None, reader_model: str | None = None) -> Any:
        from lexbrief.service import Summarizer
        from lexbrief.service.server import is_server_spec, server_config

        if self._reload.is_set():
            self._reload.clear()
            self._close()
        key = (model, reader_model)
        if key not in self._summarizers:
            # One engine at a time: a laptop cannot hold several models.
            self._close()
            store = self._jobs_table().store
            # Settings → Engine "a server": the window's documents go to the server too.
            server = server_config(model) if model is None or is_server_spec(model) else None
            summarizer = Summarizer(store, model=None if server else model, server=server,
                                    engine_factory=self._engine_factory,
                                    sampler=self.sampler, reader_model=reader_model)
            self._summarizers[key] = summarizer
            self.model_loaded.emit(summarizer.engine.info)
        return self._summarizers[key]

    def _run_job(self, job: Job) -> None:
        if job.cancel.cancelled:
            if job.id > 0 and not self._stopping:
                self._cancel_row(job.id)
            self.cancelled.emit(job.id)
            return
        self.started.emit(job.id)
        table = None
        try:
            summarizer = self._summarizer(job.model, job.reader_model)
            if job.id > 0:
                table = self._jobs_table()
                if table.claim([job.id]) is None:
                    self.failed.emit(job.id, "another LexBrief window or batch is summarizing "
                                             "it, or it is finished; see the queue")
                    return
            outcome = self._summarize(summarizer, job, table)
        except Cancelled:
            if self._stopping:
                self._release(table, job, "queued", "interrupted when the window closed")
            else:
                self._release(table, job, "cancelled", "cancelled by the user")
            self.cancelled.emit(job.id)
        except Exception as exc:  # noqa: BLE001 (the world's fault, or a bug: logged)
            message = failure_message(exc, f"summarizing {job.path}")
            if isinstance(exc, UserFacingError):
                # a full disk or a model that cannot load: the job waits for the next start
                retry = exc.exit_code in (ExitCode.STORAGE, ExitCode.MODEL)
                self._release(table, job, "queued" if retry else "failed", exc.message)
            else:
                self._release(table, job, "failed", "internal error (a bug); see the log")
            self.failed.emit(job.id, message)
        else:
            if isinstance(outcome, int):
                self.from_history.emit(job.id, outcome)
            else:
                self.finished.emit(job.id, outcome)

    def _summarize(self, summarizer: Any, job: Job, table: JobQueue | None) -> Any:
        observer = _SignalObserver(self, job)
        if table is None:
            return summarizer.summarize(job.path, template=job.template, password=job.password,
                                        observer=observer, cancel=job.cancel)
        from lexbrief.read import load_document
        from lexbrief.service import ocr_options
        from lexbrief.settings import load_settings

        lease = (job.id, table.owner)
        try:
            with Heartbeat(table, job.id):
                # scanned pages are recognized page by page, with progress and cancel
                document = load_document(job.path, password=job.password, ocr=ocr_options(
                    load_settings().ocr, observer, job.cancel))
                chosen, _kind_note = summarizer.template(job.template, document)
                row = table.get(job.id)
                earlier = None if job.rerun or row.rerun else summarizer.store.find_summary(
                    document.sha256, summarizer.model_sha256, chosen.name)
                if earlier is not None:  # offered from the history instead of run again
                    summarizer.store.finish_from_history(lease, earlier, document.sha256)
                    return earlier
                return summarizer.summarize_document(document, template=job.template,
                                                     observer=observer, cancel=job.cancel,
                                                     job=lease, matter=row.matter)
        except LeaseLost as exc:
            raise UserFacingError("another LexBrief process took this document over") from exc

    def _cancel_row(self, job_id: int) -> None:
        try:
            self._jobs_table().cancel(job_id)
        except UserFacingError as exc:
            log.warning("job #%d: cancel not recorded: %s", job_id, exc.message)

    def _release(self, table: JobQueue | None, job: Job, state: str, reason: str) -> None:
        if table is None:
            return
        try:
            table.release(job.id, state, reason)
        except UserFacingError as exc:
            log.warning("job #%d: state not recorded: %s", job.id, exc.message)

    def _close(self) -> None:
        """Unload the engines (the next job loads the model again); the Store stays open."""
        for summarizer in self._summarizers.values():
            engine = summarizer._engine
            if engine is not None:
                engine.close()
        self._summarizers.clear()


class WorkerThread(QThread):
    """Runs the worker's job loop (no event loop needed: signals cross threads queued)."""

    def __init__(self, worker: SummaryWorker) -> None:
        super().__init__()
        self.worker = worker
        self.setObjectName("lexbrief-summary-worker")

    def run(self) -> None:
        self.worker.run()

    def stop(self, timeout_ms: int = 60000) -> bool:
        self.worker.stop()
        finished = self.wait(timeout_ms)
        if not finished:
            # Destroying a running QThread aborts the process: keep it until it ends.
            log.warning("the summary worker is still stopping; leaving it to finish")
            _still_stopping.append(self)
        return finished


_still_stopping: list[WorkerThread] = []
