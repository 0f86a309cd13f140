"""The schema the migrations make, pinned (like simonw/llm's tests/test_migrate.py: a schema
change must update this file on purpose); older databases brought up to date, newer ones
refused untouched; migrations all-or-nothing; the first open of a database while another
connection writes to it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlite_utils

from lexbrief.errors import StorageError
from lexbrief.store import Store, migrations
from lexbrief.store.migrations import MIGRATIONS

# Every table after all migrations: its columns in order, as "name [TYPE] [NOT NULL]
# [DEFAULT x] [PK n]". The FTS5 index's own shadow tables (summaries_fts_data, _idx,
# _docsize, _config) belong to SQLite's FTS5 and are left out; the virtual table's columns
# are ours.
SCHEMA = {
    "_migrations": ["name TEXT PK 1", "applied_at TEXT NOT NULL"],
    "calibrations": [
        "model_sha256 TEXT NOT NULL PK 1", "machine TEXT NOT NULL PK 2", "created TEXT NOT NULL",
        "threads INTEGER NOT NULL", "flash_attn INTEGER NOT NULL", "batch_size INTEGER NOT NULL",
        "parallel INTEGER NOT NULL", "reading_tps REAL NOT NULL", "writing_tps REAL NOT NULL",
        "details TEXT NOT NULL"],
    "checkpoints": [
        "document_sha256 TEXT NOT NULL PK 1", "model_sha256 TEXT NOT NULL PK 2",
        "parameters TEXT NOT NULL PK 3", "step TEXT NOT NULL PK 4", "notes TEXT NOT NULL",
        "seconds REAL NOT NULL", "created TEXT NOT NULL"],
    "documents": [
        "id INTEGER PK 1", "sha256 TEXT NOT NULL", "name TEXT NOT NULL", "path TEXT",
        "kind TEXT NOT NULL", "title TEXT", "pages INTEGER NOT NULL", "pagination TEXT NOT NULL",
        "size INTEGER NOT NULL", "created TEXT NOT NULL"],
    "jobs": [
        "id INTEGER PK 1", "path TEXT NOT NULL", "name TEXT NOT NULL",
        "state TEXT NOT NULL DEFAULT 'queued'", "template TEXT NOT NULL", "model TEXT",
        "password_required INTEGER NOT NULL DEFAULT 0", "rerun INTEGER NOT NULL DEFAULT 0",
        "reason TEXT", "attempts INTEGER NOT NULL DEFAULT 0", "document_sha256 TEXT",
        "summary_id INTEGER", "owner TEXT", "lease_expires REAL", "created TEXT NOT NULL",
        "started TEXT", "finished TEXT", "reader_model TEXT", "matter TEXT"],
    "model_files": [
        "path TEXT PK 1", "size INTEGER NOT NULL", "mtime_ns INTEGER NOT NULL",
        "sha256 TEXT NOT NULL"],
    "run_records": [
        "id INTEGER PK 1", "summary_id INTEGER", "created TEXT NOT NULL",
        "document_name TEXT NOT NULL", "model_name TEXT NOT NULL", "wall_seconds REAL NOT NULL",
        "prompt_tokens INTEGER NOT NULL", "completion_tokens INTEGER NOT NULL",
        "energy_wh REAL", "energy_estimated INTEGER NOT NULL", "currency TEXT",
        "local_cost REAL", "cloud_model TEXT", "cloud_cost_usd REAL", "savings_usd REAL",
        "hardware TEXT NOT NULL", "cost TEXT", "matter TEXT"],
    "summaries": [
        "id INTEGER PK 1", "document_id INTEGER NOT NULL", "document_name TEXT NOT NULL",
        "model_name TEXT NOT NULL", "model_sha256 TEXT", "template TEXT NOT NULL",
        "parameters TEXT NOT NULL", "text TEXT NOT NULL", "citations TEXT NOT NULL",
        "coverage TEXT NOT NULL", "prompt_tokens INTEGER NOT NULL",
        "completion_tokens INTEGER NOT NULL", "load_seconds REAL NOT NULL",
        "prompt_seconds REAL NOT NULL", "generation_seconds REAL NOT NULL",
        "wall_seconds REAL NOT NULL", "created TEXT NOT NULL",
        "grounding TEXT NOT NULL DEFAULT '{}'", "matter TEXT"],
    "summaries_fts": ["text", "document_name"],
}
# Indexes (not SQLite's automatic ones) and triggers: name -> table.
INDEXES = {"jobs_path": "jobs", "jobs_state": "jobs", "run_records_created": "run_records",
           "run_records_matter": "run_records", "summaries_document": "summaries"}
TRIGGERS = {"summaries_ad": "summaries", "summaries_ai": "summaries", "summaries_au": "summaries"}
FOREIGN_KEYS = {  # (table, column) -> (table, column, on delete)
    ("jobs", "summary_id"): ("summaries", "id", "SET NULL"),
    ("run_records", "summary_id"): ("summaries", "id", "SET NULL"),
    ("summaries", "document_id"): ("documents", "id", "CASCADE"),
}


def _column(row: tuple[object, ...]) -> str:
    _cid, name, kind, notnull, default, pk = row
    return " ".join([str(name), *([str(kind)] if kind else []),
                     *(["NOT NULL"] if notnull else []),
                     *([f"DEFAULT {default}"] if default is not None else []),
                     *([f"PK {pk}"] if pk else [])])


def schema(conn: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE 'summaries_fts_%' ORDER BY name")]
    return {t: [_column(r) for r in conn.execute(f"PRAGMA table_info('{t}')")] for t in tables}


def objects(conn: sqlite3.Connection, kind: str) -> dict[str, str]:
    return {str(name): str(table) for name, table in conn.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%'",
        [kind])}


def foreign_keys(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[str, str, str]]:
    found = {}
    for table in schema(conn):
        for row in conn.execute(f"PRAGMA foreign_key_list('{table}')"):
            found[(table, row[3])] = (row[2], row[4], row[6])
    return found


def _assert_pinned(conn: sqlite3.Connection) -> None:
    assert schema(conn) == SCHEMA
    assert objects(conn, "index") == INDEXES
    assert objects(conn, "trigger") == TRIGGERS
    assert foreign_keys(conn) == FOREIGN_KEYS


def test_the_schema_after_all_migrations_is_pinned() -> None:
    store = Store()
    _assert_pinned(store.db.conn)


@pytest.mark.parametrize("done", range(1, len(MIGRATIONS)))
def test_an_older_database_is_brought_up_to_the_same_schema(tmp_path: Path, done: int) -> None:
    """A database that has seen the first `done` migrations (an older LexBrief made it)."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for fn in MIGRATIONS[:done]:
        fn(db)
        db.execute("INSERT INTO _migrations VALUES (?, '2026-01-01T00:00:00+00:00')",
                   [fn.__name__])
    db.conn.commit()
    db.conn.close()
    store = Store(path)
    assert store.migrations_applied == [fn.__name__ for fn in MIGRATIONS[done:]]
    _assert_pinned(store.db.conn)


def test_a_database_of_a_newer_lexbrief_is_refused_and_left_untouched(
        lexbrief_home: Path) -> None:
    store = Store()
    store.db.execute("INSERT INTO _migrations VALUES ('m099_from_a_newer_lexbrief', '2027')")
    store.db.conn.commit()
    # out of WAL, so that switching it back (a write) would show in its bytes
    assert store.db.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    store.close()
    path = lexbrief_home / "lexbrief.db"
    before = path.read_bytes()
    with pytest.raises(StorageError, match=r"made by a newer LexBrief \(.*"
                                           r"m099_from_a_newer_lexbrief") as caught:
        Store()
    assert str(path) in caught.value.message
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()


def test_migrations_are_all_or_nothing(monkeypatch: pytest.MonkeyPatch,
                                       lexbrief_home: Path) -> None:
    """A migration that fails (a bug: it propagates as it is) leaves no table at all."""

    def m999_broken(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("a bug in a migration")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, m999_broken])
    with pytest.raises(RuntimeError, match="a bug in a migration"):
        Store()
    conn = sqlite3.connect(lexbrief_home / "lexbrief.db")
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
    conn.close()
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    assert Store().migrations_applied == [fn.__name__ for fn in MIGRATIONS]


def test_the_first_open_waits_for_a_writer_instead_of_failing_the_wal_switch(
        tmp_path: Path) -> None:
    """Switching to WAL while another connection holds the write lock is refused by SQLite at
    once, without the busy timeout (Store._use_wal): the open waits for the writer instead."""
    path = tmp_path / "rollback-journal.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    done = threading.Timer(0.3, writer.execute, ["COMMIT"])
    done.start()
    try:
        store = Store(path)
    finally:
        done.join()
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.migrations_applied == [fn.__name__ for fn in MIGRATIONS]
    assert store.db.execute("SELECT x FROM other").fetchall() == [(1,)]
    writer.close()
