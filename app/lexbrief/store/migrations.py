"""Schema migrations as named functions, applied once each and recorded in `_migrations`
(the pattern of simonw/llm's migrations.py). Never edit one that has shipped: add a new one, and
update the schema that tests/test_store_schema.py pins.

A database whose `_migrations` names one this program does not know was made by a newer
LexBrief: it is refused (`NewerDatabase`) before anything is written to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


class NewerDatabase(Exception):
    """The database records migrations this program does not have."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def _recorded(db: sqlite_utils.Database) -> set[str] | None:
    """The names in `_migrations`, or None before the table exists."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                      "name = '_migrations'").fetchone():
        return None
    return {str(name) for (name,) in db.execute("SELECT name FROM _migrations")}


def pending_migrations(db: sqlite_utils.Database) -> list[Migration]:
    """The migrations still to apply (read only); `NewerDatabase` if the database records one
    this program does not know."""
    done = _recorded(db) or set()
    newer = sorted(done - {fn.__name__ for fn in MIGRATIONS})
    if newer:
        raise NewerDatabase(newer)
    return [fn for fn in MIGRATIONS if fn.__name__ not in done]


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations this database has not seen, all in one transaction; returns their
    names. Raises `NewerDatabase`, having written nothing, for a database of a newer LexBrief.

    Reads first, without a lock: an up-to-date database (every open but the first) is left
    alone. Otherwise the transaction takes SQLite's write lock first (BEGIN IMMEDIATE, which
    waits up to the connection's busy timeout) and looks again, so several connections opening
    a new database at once (the window's threads, two CLI processes) run them one after the
    other: the first applies them, the others find them applied. A failure leaves the database
    as it was.
    """
    if not pending_migrations(db):
        return []
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        pending = pending_migrations(db)
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations "
                     "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for fn in pending:
            fn(db)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                         [fn.__name__, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")])
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    conn.commit()
    return [fn.__name__ for fn in pending]


@migration
def m001_documents_and_summaries(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            path TEXT,
            kind TEXT NOT NULL,
            title TEXT,
            pages INTEGER NOT NULL,
            pagination TEXT NOT NULL,
            size INTEGER NOT NULL,
            created TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE summaries (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            document_name TEXT NOT NULL,
            model_name TEXT NOT NULL,
            model_sha256 TEXT,
            template TEXT NOT NULL,
            parameters TEXT NOT NULL,
            text TEXT NOT NULL,
            citations TEXT NOT NULL,
            coverage TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            load_seconds REAL NOT NULL,
            prompt_seconds REAL NOT NULL,
            generation_seconds REAL NOT NULL,
            wall_seconds REAL NOT NULL,
            created TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX summaries_document ON summaries(document_id)")
    db.table("summaries").enable_fts(["text", "document_name"], create_triggers=True,
                                     tokenize="porter")


@migration
def m002_model_file_hashes(db: sqlite_utils.Database) -> None:
    # Hashing a 4 GB model takes seconds: remember it per (path, size, mtime).
    db.execute("""
        CREATE TABLE model_files (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL
        )""")


@migration
def m003_run_records(db: sqlite_utils.Database) -> None:
    # The cost ledger: one row per stored summary, written in the summary's own transaction.
    # Deleting a summary keeps its row (summary_id becomes NULL): the energy was still spent.
    db.execute("""
        CREATE TABLE run_records (
            id INTEGER PRIMARY KEY,
            summary_id INTEGER UNIQUE REFERENCES summaries(id) ON DELETE SET NULL,
            created TEXT NOT NULL,
            document_name TEXT NOT NULL,
            model_name TEXT NOT NULL,
            wall_seconds REAL NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            energy_wh REAL,
            energy_estimated INTEGER NOT NULL,
            currency TEXT,
            local_cost REAL,
            cloud_model TEXT,
            cloud_cost_usd REAL,
            savings_usd REAL,
            hardware TEXT NOT NULL,
            cost TEXT
        )""")
    db.execute("CREATE INDEX run_records_created ON run_records(created)")


@migration
def m004_job_queue(db: sqlite_utils.Database) -> None:
    # One row per document to summarize, for the window and the CLI alike. The password of an
    # encrypted file is never stored: only that one is needed. A running job is leased to one
    # process (owner, lease_expires renewed by a heartbeat); a crash leaves it "running" with
    # a dead owner or a stale lease, and the next claim queues it again.
    db.execute("""
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            name TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            template TEXT NOT NULL,
            model TEXT,
            password_required INTEGER NOT NULL DEFAULT 0,
            rerun INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            document_sha256 TEXT,
            summary_id INTEGER REFERENCES summaries(id) ON DELETE SET NULL,
            owner TEXT,
            lease_expires REAL,
            created TEXT NOT NULL,
            started TEXT,
            finished TEXT
        )""")
    db.execute("CREATE INDEX jobs_state ON jobs(state, id)")
    db.execute("CREATE INDEX jobs_path ON jobs(path)")


@migration
def m005_step_checkpoints(db: sqlite_utils.Database) -> None:
    # The notes of each finished map/condense step of a document not yet summarized, keyed by
    # the document, the model and the run's parameters (chunk budget, prompts, budgets). Each
    # is written in its own short transaction; storing the summary deletes them in its own.
    db.execute("""
        CREATE TABLE checkpoints (
            document_sha256 TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            parameters TEXT NOT NULL,
            step TEXT NOT NULL,
            notes TEXT NOT NULL,
            seconds REAL NOT NULL,
            created TEXT NOT NULL,
            PRIMARY KEY (document_sha256, model_sha256, parameters, step)
        ) WITHOUT ROWID""")


@migration
def m006_grounded_summaries(db: sqlite_utils.Database) -> None:
    # What backs a grounded summary, for audit: the abstract (field -> value, quote, page), the
    # model's notes that were not shown and why, the overview's sentence checks, and which kind
    # of document was assumed. `citations` holds the shown key points with their quotes.
    db.execute("ALTER TABLE summaries ADD COLUMN grounding TEXT NOT NULL DEFAULT '{}'")


@migration
def m007_job_reader_model(db: sqlite_utils.Database) -> None:
    # The reading model a job was queued with (`--reader-model`), so that a resumed job reads
    # with it again: NULL = not recorded (a job of an older LexBrief: the settings' reader, as
    # then), '' = no reading model, else the GGUF's path.
    db.execute("ALTER TABLE jobs ADD COLUMN reader_model TEXT")


@migration
def m008_matters(db: sqlite_utils.Database) -> None:
    # The client matter a document was summarized for (a free name, NULL: none), so costs can
    # be totalled per matter: on the queue job (it carries the name to the run), the summary
    # and its ledger row (kept when the summary is deleted, like the energy).
    db.execute("ALTER TABLE jobs ADD COLUMN matter TEXT")
    db.execute("ALTER TABLE summaries ADD COLUMN matter TEXT")
    db.execute("ALTER TABLE run_records ADD COLUMN matter TEXT")
    db.execute("CREATE INDEX run_records_matter ON run_records(matter)")


@migration
def m009_engine_calibrations(db: sqlite_utils.Database) -> None:
    # What `lexbrief bench --calibrate` measured fastest for a model on this machine (issue 17):
    # keyed by the model file's sha256 (as model_files knows it) and the machine (CPU, cores,
    # memory, llama.cpp build), so a data folder copied to another computer does not apply it.
    # `details` holds every measurement and the reason for each choice.
    db.execute("""
        CREATE TABLE calibrations (
            model_sha256 TEXT NOT NULL,
            machine TEXT NOT NULL,
            created TEXT NOT NULL,
            threads INTEGER NOT NULL,
            flash_attn INTEGER NOT NULL,
            batch_size INTEGER NOT NULL,
            parallel INTEGER NOT NULL,
            reading_tps REAL NOT NULL,
            writing_tps REAL NOT NULL,
            details TEXT NOT NULL,
            PRIMARY KEY (model_sha256, machine)
        ) WITHOUT ROWID""")
