"""Schema migrations as named functions, applied once each and recorded in `_migrations`
(the pattern of simonw/llm's migrations.py). Never edit one that has shipped: add a new one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations this database has not seen; returns their names.

    Safe when several connections open a new database at once (the window's threads do): each
    migration runs under SQLite's write lock (BEGIN IMMEDIATE) and re-checks what is applied.
    """
    db.execute("CREATE TABLE IF NOT EXISTS _migrations "
               "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = []
    for fn in MIGRATIONS:
        conn = db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?",
                                [fn.__name__]).fetchone()
            if not done:
                fn(db)
                conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                             [fn.__name__,
                              dt.datetime.now(dt.UTC).isoformat(timespec="seconds")])
                applied.append(fn.__name__)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    return applied


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
