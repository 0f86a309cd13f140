"""Store access. A summary row is written once, complete, in one transaction with its document:
a failed or cancelled run never leaves a row behind. What is written and read back are typed
records (lexbrief.store.records); SQLite's errors are sorted by result code
(lexbrief.store.sqlite_errors)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from lexbrief.costs.ledger import LedgerEntry, RunCost
from lexbrief.errors import NotFound, StorageError
from lexbrief.paths import create_private, database_path
from lexbrief.store.ledger import ledger_entries, run_cost
from lexbrief.store.migrations import NewerDatabase, migrate, pending_migrations
from lexbrief.store.records import DocumentRecord, StoredSummary, SummaryRecord
from lexbrief.store.sqlite_errors import BUSY, os_fault, primary_code, storage_errors

__all__ = ["BUSY_TIMEOUT", "LeaseLost", "Store", "StoreCheckpoints", "StoredSummary",
           "file_sha256"]

BUSY_TIMEOUT = 10.0  # seconds a statement waits for another connection's lock, then SQLITE_BUSY
_JSON_SORTED = {"parameters": True, "citations": False, "coverage": True, "grounding": True}


class LeaseLost(Exception):
    """Another process took this job over (ours looked dead): nothing was stored."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or database_path()
        try:
            # 0600 from the start; SQLite gives its -wal and -shm files the database's mode.
            create_private(self.path)
        except OSError as exc:
            raise os_fault(exc, self.path) from exc
        with storage_errors(self.path):
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, check_same_thread=False)
        try:
            with storage_errors(self.path):
                self.db = sqlite_utils.Database(conn)
                self.migrations_applied = self._prepare()
        except BaseException:
            conn.close()
            raise

    def _prepare(self) -> list[str]:
        """Refuse a database of a newer LexBrief (before writing anything to it), then WAL,
        foreign keys, migrations."""
        try:
            pending_migrations(self.db)
        except NewerDatabase as exc:
            raise StorageError(
                f"the database {self.path} was made by a newer LexBrief (it has migrations "
                f"this version does not know: {', '.join(exc.names)}); use that LexBrief, or "
                "choose another data folder.") from exc
        self._use_wal()
        self.db.execute("PRAGMA foreign_keys=ON")
        return migrate(self.db)

    def _use_wal(self) -> None:
        """Switch the database to WAL (once in its life: the mode is kept in the file).

        The switch begins with a shared lock and then needs the exclusive one. When another
        connection holds the write lock at that moment (another window thread or process
        switching the same new database, or a writer of an old one not yet in WAL), SQLite
        refuses the switch at once with SQLITE_BUSY instead of calling the busy handler: a
        connection holding a shared lock never waits to upgrade it, as that wait could
        deadlock (https://sqlite.org/c3ref/busy_handler.html). So, refused, it waits for the
        other connection holding nothing, by taking the write lock (BEGIN IMMEDIATE does
        wait, up to the busy timeout), lets it go, and switches again; by then the database
        is normally in WAL already. Refused a second time: a StorageError (busy).
        """
        conn = self.db.conn
        if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if primary_code(exc) != BUSY:
                raise
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
            conn.execute("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        self.db.conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock first (BEGIN IMMEDIATE), so it waits
        for other writers instead of failing when it upgrades from reading (WAL snapshots).
        SQLite's errors inside (and at BEGIN or COMMIT) leave sorted by `storage_errors`."""
        conn = self.db.conn
        with storage_errors(self.path):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.commit()
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    # -- writing ------------------------------------------------------------------------------
    def save_summary(self, *, document: DocumentRecord, summary: SummaryRecord,
                     run_record: dict[str, Any] | None = None,
                     job: tuple[int, str] | None = None) -> int:
        """Upsert the document by sha256 and insert the summary, atomically; returns the
        summary's id. `run_record`: the summary's cost-ledger row (see
        lexbrief.costs.ledger.ledger_row), same transaction. `job` (id, lease owner): that
        queue job becomes done in the same transaction, and only while the lease is still the
        owner's (else `LeaseLost`, nothing stored). The document's step checkpoints under this
        model are deleted in it too."""
        with self._write():
            if job is not None:
                self._check_lease(*job)
            existing = self.db.execute(
                "SELECT id FROM documents WHERE sha256 = ?", [document.sha256]).fetchone()
            if existing:
                document_id = int(existing[0])
                self.db.execute("UPDATE documents SET name = ?, path = ? WHERE id = ?",
                                [document.name, document.path, document_id])
            else:
                cursor = self.db.execute(
                    "INSERT INTO documents (sha256, name, path, kind, title, pages, "
                    "pagination, size, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [document.sha256, document.name, document.path, document.kind,
                     document.title, document.pages, document.pagination, document.size,
                     _now()])
                document_id = int(cursor.lastrowid or 0)
            row = _summary_row(summary, document_id, document.name, _now())
            cursor = self.db.execute(
                f"INSERT INTO summaries ({', '.join(row)}) "
                f"VALUES ({', '.join('?' for _ in row)})", list(row.values()))
            summary_id = int(cursor.lastrowid or 0)
            if run_record is not None:
                ledger = {**run_record, "summary_id": summary_id, "created": row["created"]}
                self.db.execute(
                    f"INSERT INTO run_records ({', '.join(ledger)}) "
                    f"VALUES ({', '.join('?' for _ in ledger)})", list(ledger.values()))
            self.db.execute("DELETE FROM checkpoints WHERE document_sha256 = ? AND "
                            "model_sha256 IS ?", [document.sha256, summary.model_sha256])
            if job is not None:
                self._finish_job(job[0], summary_id, document.sha256)
            return summary_id

    def _check_lease(self, job_id: int, owner: str) -> None:
        row = self.db.execute("SELECT state, owner FROM jobs WHERE id = ?", [job_id]).fetchone()
        if row is None or row[0] != "running" or row[1] != owner:
            raise LeaseLost(f"job #{job_id} was taken over by another process")

    def _finish_job(self, job_id: int, summary_id: int | None, sha256: str,
                    reason: str | None = None) -> None:
        self.db.execute(
            "UPDATE jobs SET state = 'done', summary_id = ?, document_sha256 = ?, reason = ?, "
            "owner = NULL, lease_expires = NULL, finished = ? WHERE id = ?",
            [summary_id, sha256, reason, _now(), job_id])

    def finish_from_history(self, job: tuple[int, str], summary_id: int, sha256: str) -> None:
        """The job's document was already summarized (same sha256, model, template)."""
        with self._write():
            self._check_lease(*job)
            self._finish_job(job[0], summary_id, sha256, f"already summarized as #{summary_id}")

    def find_summary(self, sha256: str, model_sha256: str, template: str) -> int | None:
        """The newest stored summary of this document by this model with this template."""
        with storage_errors(self.path):
            row = self.db.execute(
                "SELECT s.id FROM summaries s JOIN documents d ON d.id = s.document_id "
                "WHERE d.sha256 = ? AND s.model_sha256 = ? AND s.template = ? "
                "ORDER BY s.id DESC LIMIT 1", [sha256, model_sha256, template]).fetchone()
        return int(row[0]) if row else None

    # -- step checkpoints (see lexbrief.summarize.pipeline.Checkpoints) ----------------------------
    def checkpoints(self, document_sha256: str, model_sha256: str) -> StoreCheckpoints:
        return StoreCheckpoints(self, document_sha256, model_sha256)

    def delete_summary(self, summary_id: int) -> None:
        with self._write():
            cursor = self.db.execute("DELETE FROM summaries WHERE id = ?", [summary_id])
        if cursor.rowcount == 0:
            raise NotFound(f"there is no summary #{summary_id}.")

    # -- reading ------------------------------------------------------------------------------
    _SELECT = """
        SELECT s.*, d.sha256 AS document_sha256, d.pages AS document_pages
        FROM summaries s JOIN documents d ON d.id = s.document_id
    """

    def get(self, summary_id: int) -> StoredSummary:
        with storage_errors(self.path):
            rows = list(self.db.query(self._SELECT + " WHERE s.id = ?", [summary_id]))
        if not rows:
            raise NotFound(f"there is no summary #{summary_id}; see `lexbrief history`.")
        return _row(rows[0])

    def history(self, *, search: str | None = None, limit: int = 50) -> list[StoredSummary]:
        with storage_errors(self.path):
            if not search:
                return [_row(r) for r in self.db.query(
                    self._SELECT + " ORDER BY s.id DESC LIMIT ?", [limit])]
            query = self._SELECT + """
                JOIN summaries_fts f ON f.rowid = s.id
                WHERE summaries_fts MATCH ? ORDER BY f.rank, s.id DESC LIMIT ?"""
            try:
                return [_row(r) for r in self.db.query(query, [_fts_query(search), limit])]
            except sqlite3.OperationalError as exc:
                if primary_code(exc) != sqlite3.SQLITE_ERROR:
                    raise
                return []  # words FTS5 cannot read as a query (none match)

    def document_path(self, document_id: int) -> Path | None:
        """Where the document was last read from (None: not recorded, or no such document)."""
        with storage_errors(self.path):
            row = self.db.execute("SELECT path FROM documents WHERE id = ?",
                                  [document_id]).fetchone()
        return Path(row[0]) if row and row[0] else None

    def counts(self) -> dict[str, int]:
        with storage_errors(self.path):
            return {"documents": self.db["documents"].count,
                    "summaries": self.db["summaries"].count}

    # -- model file hashes --------------------------------------------------------------------
    def ledger_entries(self) -> list[LedgerEntry]:
        """Every run in the cost ledger, oldest first."""
        with storage_errors(self.path):
            return ledger_entries(self.db)

    def run_cost(self, summary_id: int) -> RunCost | None:
        """The cost-ledger row of one summary, for its report's cost chart."""
        with storage_errors(self.path):
            return run_cost(self.db, summary_id)

    def known_model_sha256(self, path: Path) -> str | None:
        """The file's sha256 if it was hashed here before (unchanged since), without hashing."""
        try:
            stat = path.stat()
        except OSError:
            return None
        with storage_errors(self.path):
            row = self.db.execute(
                "SELECT sha256 FROM model_files WHERE path = ? AND size = ? AND mtime_ns = ?",
                [str(path.resolve()), stat.st_size, stat.st_mtime_ns]).fetchone()
        return str(row[0]) if row else None

    def model_sha256(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        with storage_errors(self.path):
            row = self.db.execute(
                "SELECT sha256 FROM model_files WHERE path = ? AND size = ? AND mtime_ns = ?",
                [key, stat.st_size, stat.st_mtime_ns],
            ).fetchone()
        if row:
            return str(row[0])
        digest = file_sha256(path)
        try:
            with self._write():
                self.db.execute(
                    "INSERT OR REPLACE INTO model_files (path, size, mtime_ns, sha256) "
                    "VALUES (?, ?, ?, ?)", [key, stat.st_size, stat.st_mtime_ns, digest])
        except StorageError:
            pass  # only a cache: a full or read-only disk costs a hash next time
        return digest


class StoreCheckpoints:
    """A document's finished map/condense steps in the `checkpoints` table (the pipeline's
    `Checkpoints` interface, by shape: the store does not import the pipeline), one short
    transaction each. Counts what it reused and saved, and the time spent doing it."""

    def __init__(self, store: Store, document_sha256: str, model_sha256: str) -> None:
        self.store = store
        self.key = [document_sha256, model_sha256]
        self.reused = 0
        self.saved = 0
        self.seconds_reused = 0.0  # model time the reused steps had cost
        self.overhead_seconds = 0.0  # time spent reading and writing checkpoints

    def load(self, scope: str, step: str) -> str | None:
        started = time.perf_counter()
        try:
            with storage_errors(self.store.path):
                row = self.store.db.execute(
                    "SELECT notes, seconds FROM checkpoints WHERE document_sha256 = ? AND "
                    "model_sha256 = ? AND parameters = ? AND step = ?",
                    [*self.key, scope, step]).fetchone()
        finally:
            self.overhead_seconds += time.perf_counter() - started
        if row is None:
            return None
        self.reused += 1
        self.seconds_reused += float(row[1])
        return str(row[0])

    def save(self, scope: str, step: str, notes: str, seconds: float) -> None:
        started = time.perf_counter()
        try:
            with self.store._write():
                self.store.db.execute(
                    "INSERT OR REPLACE INTO checkpoints (document_sha256, model_sha256, "
                    "parameters, step, notes, seconds, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [*self.key, scope, step, notes, seconds, _now()])
        finally:
            self.overhead_seconds += time.perf_counter() - started
        self.saved += 1


def file_sha256(path: Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _fts_query(text: str) -> str:
    """User words as an FTS5 query: every word must match (prefix match on the last one)."""
    words = [w.replace('"', "") for w in text.split() if w.replace('"', "")]
    if not words:
        return '""'
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def _summary_row(summary: SummaryRecord, document_id: int, document_name: str,
                 created: str) -> dict[str, Any]:
    """The `summaries` row of a record: its fields, the JSON ones as text."""
    row: dict[str, Any] = {"document_id": document_id, "document_name": document_name}
    for f in dataclasses.fields(summary):
        name, value = f.name, getattr(summary, f.name)
        row[name] = (json.dumps(value, sort_keys=_JSON_SORTED[name]) if name in _JSON_SORTED
                     else value)
    return {**row, "created": created}


def _row(row: dict[str, Any]) -> StoredSummary:
    return StoredSummary(
        id=row["id"], document_id=row["document_id"], document_name=row["document_name"],
        document_sha256=row["document_sha256"], document_pages=row["document_pages"],
        model_name=row["model_name"], model_sha256=row["model_sha256"], template=row["template"],
        parameters=json.loads(row["parameters"]), text=row["text"],
        citations=json.loads(row["citations"]), coverage=json.loads(row["coverage"]),
        prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
        load_seconds=row["load_seconds"], prompt_seconds=row["prompt_seconds"],
        generation_seconds=row["generation_seconds"], wall_seconds=row["wall_seconds"],
        created=row["created"], grounding=json.loads(row.get("grounding") or "{}"),
        matter=row.get("matter"),
    )
