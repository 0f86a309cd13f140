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
    """Apply the migrations this database has not seen; returns their names."""
    table = db["_migrations"]
    if not table.exists():
        db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row["name"] for row in db.query("SELECT name FROM _migrations")}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        with db.atomic():
            fn(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                       [fn.__name__, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")])
        applied.append(fn.__name__)
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
