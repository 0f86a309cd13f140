"""The job queue in SQLite: one row per document to summarize, shared by the window and the CLI.

A job is claimed by one process at a time (a lease: `owner` plus `lease_expires`, renewed by a
heartbeat thread while it runs). A process that dies leaves its job "running": the next claim
queues it again at once when the owner is a dead process on this machine, else when its lease
has run out. Marking a job done happens in the transaction that stores its summary
(`Store.save_summary(job=...)`), and only while the lease is still ours, so a document is never
summarized twice by two processes, nor lost between "stored" and "done".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexbrief.errors import NotFound, StorageError
from lexbrief.store.db import LeaseLost, Store
from lexbrief.store.sqlite_errors import storage_errors

__all__ = ["LeaseLost"]  # defined beside the store, which raises it; the queue's own error

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class Job:
    id: int
    path: Path
    name: str
    state: str
    template: str
    model: str | None
    password_required: bool
    rerun: bool
    reason: str | None
    attempts: int
    document_sha256: str | None
    summary_id: int | None
    owner: str | None
    lease_expires: float | None
    created: str
    started: str | None
    finished: str | None
    # The reading model (--reader-model) it was queued with: None = not recorded (the
    # settings' reader_model when it runs), "" = none, else the GGUF's path.
    reader_model: str | None = None
    matter: str | None = None  # the client matter its summary is filed under (m008)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def clean_matter(name: str | None) -> str | None:
    """A matter name as stored: spaces collapsed, None for an empty one."""
    text = " ".join((name or "").split())
    return text or None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _process_started(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def process_owner() -> str:
    """Who holds a lease: host, pid, the process's start time (pid reuse), a random tag."""
    pid = os.getpid()
    started = _process_started(pid) or 0.0
    return f"{socket.gethostname()}:{pid}:{started:.2f}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True only when `owner` is certainly a process of this machine that no longer runs."""
    try:
        host, pid, started, _tag = owner.rsplit(":", 3)
        pid_number, started_at = int(pid), float(started)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    now_started = _process_started(pid_number)
    return now_started is None or abs(now_started - started_at) > 0.05


def owner_pid(owner: str | None) -> int | None:
    try:
        return int(owner.rsplit(":", 3)[1]) if owner else None
    except (ValueError, IndexError):
        return None


def _job(row: sqlite3.Row | tuple[Any, ...], columns: list[str]) -> Job:
    data = dict(zip(columns, row, strict=True))
    return Job(
        id=data["id"], path=Path(data["path"]), name=data["name"], state=data["state"],
        template=data["template"], model=data["model"],
        password_required=bool(data["password_required"]), rerun=bool(data["rerun"]),
        reason=data["reason"], attempts=data["attempts"],
        document_sha256=data["document_sha256"], summary_id=data["summary_id"],
        owner=data["owner"], lease_expires=data["lease_expires"], created=data["created"],
        started=data["started"], finished=data["finished"],
        reader_model=data.get("reader_model"), matter=data.get("matter"))


class JobQueue:
    def __init__(self, store: Any, *, owner: str | None = None,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self.owner = owner or process_owner()
        self.lease_seconds = lease_seconds

    # -- plumbing -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self.store._write() as conn:
            yield conn

    def _select(self, where: str = "", params: Iterable[Any] = ()) -> list[Job]:
        with storage_errors(self.store.path):
            cursor = self.store.db.conn.execute(f"SELECT * FROM jobs {where}", list(params))
            columns = [d[0] for d in cursor.description]
            return [_job(row, columns) for row in cursor.fetchall()]

    # -- reading ------------------------------------------------------------------------------
    def get(self, job_id: int) -> Job:
        found = self._select("WHERE id = ?", [job_id])
        if not found:
            raise NotFound(f"there is no job #{job_id}; see `lexbrief queue`.")
        return found[0]

    def jobs(self, states: Iterable[str] | None = None, ids: Iterable[int] | None = None,
             limit: int | None = None) -> list[Job]:
        clauses: list[str] = []
        params: list[Any] = []
        if states is not None:
            chosen = list(states)
            clauses.append(f"state IN ({', '.join('?' for _ in chosen)})")
            params += chosen
        if ids is not None:
            wanted = list(ids)
            clauses.append(f"id IN ({', '.join('?' for _ in wanted)})")
            params += wanted
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit else ""
        return self._select(where + "ORDER BY id" + tail, params)

    def latest_for(self, path: Path) -> Job | None:
        found = self._select("WHERE path = ? ORDER BY id DESC LIMIT 1", [str(path.resolve())])
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        with storage_errors(self.store.path):
            rows = self.store.db.conn.execute(
                "SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
        return {state: 0 for state in STATES} | {str(s): int(n) for s, n in rows}

    # -- writing ------------------------------------------------------------------------------
    def enqueue(self, path: Path, *, template: str = "auto", model: str | None = None,
                password_required: bool = False, rerun: bool = False,
                reader_model: str | None = None, matter: str | None = None) -> Job:
        """A job for `path`, or the unfinished one already queued for it with the same options
        (two windows dropping the same folder queue it once). `reader_model`: the reading
        model's path, "" for none, None to leave it to the settings when the job runs."""
        resolved = str(Path(path).resolve())
        matter = clean_matter(matter)
        with self._write() as conn:
            same = conn.execute(
                "SELECT id FROM jobs WHERE path = ? AND template = ? AND model IS ? AND "
                "reader_model IS ? AND matter IS ? AND state IN ('queued', 'running') "
                "ORDER BY id LIMIT 1",
                [resolved, template, model, reader_model, matter]).fetchone()
            if same:
                job_id = int(same[0])
                if rerun:
                    conn.execute("UPDATE jobs SET rerun = 1 WHERE id = ?", [job_id])
            else:
                job_id = int(conn.execute(
                    "INSERT INTO jobs (path, name, state, template, model, password_required, "
                    "rerun, created, reader_model, matter) "
                    "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                    [resolved, Path(path).name, template, model, int(password_required),
                     int(rerun), _now(), reader_model, matter]).lastrowid or 0)
        return self.get(job_id)

    def recover(self) -> list[int]:
        """Jobs a crash left "running" (dead owner, or a lease nobody renewed) become queued."""
        now = time.time()
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, owner, lease_expires FROM jobs WHERE state = 'running'").fetchall()
            stale = [int(job_id) for job_id, owner, expires in rows
                     if owner != self.owner and (owner is None or expires is None
                                                 or expires < now or owner_is_dead(owner))]
            for job_id in stale:
                conn.execute("UPDATE jobs SET state = 'queued', owner = NULL, "
                             "lease_expires = NULL, reason = ? WHERE id = ?",
                             ["interrupted (the process running it stopped); queued again",
                              job_id])
        return stale

    def claim(self, ids: Iterable[int] | None = None) -> Job | None:
        """Lease the oldest queued job (among `ids` if given) to this process."""
        self.recover()
        wanted = None if ids is None else list(ids)
        if wanted == []:
            return None
        with self._write() as conn:
            query = "SELECT id FROM jobs WHERE state = 'queued'"
            params: list[Any] = []
            if wanted is not None:
                query += f" AND id IN ({', '.join('?' for _ in wanted)})"
                params += wanted
            row = conn.execute(query + " ORDER BY id LIMIT 1", params).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET state = 'running', owner = ?, lease_expires = ?, "
                "attempts = attempts + 1, started = ?, reason = NULL WHERE id = ?",
                [self.owner, time.time() + self.lease_seconds, _now(), int(row[0])])
        return self.get(int(row[0]))

    def heartbeat(self, job_id: int) -> bool:
        """Renew our lease; False if the job is no longer ours."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease_expires = ? WHERE id = ? AND owner = ? AND "
                "state = 'running'", [time.time() + self.lease_seconds, job_id, self.owner])
        return cursor.rowcount == 1

    def release(self, job_id: int, state: str, reason: str | None = None, *,
                document_sha256: str | None = None, summary_id: int | None = None) -> bool:
        """End our lease: back to "queued" (interrupted), or "failed"/"cancelled"/"done"."""
        if state not in STATES or state == "running":
            raise ValueError(state)
        finished = _now() if state in FINISHED else None
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET state = ?, reason = ?, owner = NULL, lease_expires = NULL, "
                "finished = ?, document_sha256 = coalesce(?, document_sha256), "
                "summary_id = coalesce(?, summary_id) WHERE id = ? AND owner = ?",
                [state, reason, finished, document_sha256, summary_id, job_id, self.owner])
        return cursor.rowcount == 1

    def cancel(self, job_id: int) -> bool:
        """Cancel a job nobody runs (a running one is cancelled by its process)."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET state = 'cancelled', finished = ?, reason = 'cancelled by the "
                "user' WHERE id = ? AND state = 'queued'", [_now(), job_id])
        return cursor.rowcount == 1

    def retry(self, ids: Iterable[int] | None = None) -> int:
        """Failed or cancelled jobs (these, or all of them) go back to the queue."""
        query = ("UPDATE jobs SET state = 'queued', reason = NULL, finished = NULL "
                 "WHERE state IN ('failed', 'cancelled')")
        params: list[Any] = []
        if ids is not None:
            wanted = list(ids)
            query += f" AND id IN ({', '.join('?' for _ in wanted)})"
            params += wanted
        with self._write() as conn:
            return conn.execute(query, params).rowcount

    def clear(self, states: Iterable[str] = FINISHED) -> int:
        """Delete finished jobs (their summaries stay in the history); "queued" may be cleared
        too, never a job some process is running."""
        chosen = [s for s in states if s != "running"]
        if not chosen:
            return 0
        with self._write() as conn:
            return conn.execute(
                f"DELETE FROM jobs WHERE state IN ({', '.join('?' for _ in chosen)})",
                chosen).rowcount


class Heartbeat:
    """Renews a job's lease from a thread of its own (its own connection) while it runs."""

    def __init__(self, queue: JobQueue, job_id: int, interval: float | None = None) -> None:
        self.queue = queue
        self.job_id = job_id
        self.interval = interval or queue.lease_seconds / 3
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lexbrief-lease-{job_id}",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        store: Store | None = None
        try:
            while not self._stop.wait(self.interval):
                try:
                    store = store or Store(self.queue.store.path)
                    mine = JobQueue(store, owner=self.queue.owner,
                                    lease_seconds=self.queue.lease_seconds)
                    if not mine.heartbeat(self.job_id):
                        self.lost = True
                        return
                except StorageError:
                    continue  # a full disk: try again; the job's own writes report it
        finally:
            if store is not None:
                store.close()
