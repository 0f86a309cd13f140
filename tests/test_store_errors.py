"""SQLite's errors sorted by result code (lexbrief.store.sqlite_errors), each made for real: a
database that may grow no more (SQLITE_FULL), a file size limit (SQLITE_IOERR), read-only
media or file (SQLITE_READONLY / SQLITE_CANTOPEN), a folder where the file should be
(SQLITE_CANTOPEN), a file of words (SQLITE_NOTADB), damaged pages (SQLITE_CORRUPT), a writer
that holds the lock past the busy timeout (SQLITE_BUSY). Our own mistakes stay bugs."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lexbrief.errors import ExitCode, StorageError, UserFacingError
from lexbrief.store import DocumentRecord, Store, SummaryRecord, db
from lexbrief.store.sqlite_errors import world_fault


def _document(sha: str = "a" * 64) -> DocumentRecord:
    return DocumentRecord(sha256=sha, name="lease.pdf", path="/docs/lease.pdf", kind="pdf",
                          title=None, pages=3, pagination="printed", size=1)


def _summary(text: str = "## Overview\n\nRent is due monthly.\n") -> SummaryRecord:
    return SummaryRecord(model_name="m.gguf", model_sha256="m", template="contract",
                         parameters={}, text=text, citations=[], coverage={}, prompt_tokens=1,
                         completion_tokens=1, load_seconds=0.0, prompt_seconds=0.0,
                         generation_seconds=0.0, wall_seconds=0.0)


def _cause(error: BaseException) -> str:
    cause = error.__cause__
    assert isinstance(cause, sqlite3.Error), cause
    return str(cause.sqlite_errorname)


def test_a_full_database_is_a_clear_error_and_keeps_what_was_stored(
        lexbrief_home: Path) -> None:
    store = Store()
    first = store.save_summary(document=_document(), summary=_summary())
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL past it
    with pytest.raises(StorageError, match="the disk is full") as caught:
        store.save_summary(document=_document("b" * 64), summary=_summary("rent " * 20_000))
    assert _cause(caught.value) == "SQLITE_FULL"
    assert str(lexbrief_home / "lexbrief.db") in caught.value.message
    assert caught.value.exit_code == ExitCode.STORAGE
    with pytest.raises(StorageError, match="the disk is full"):  # checkpoints' writes too
        store.checkpoints("b" * 64, "m").save("scope", "map:0:x", "- a note " * 20_000, 1.0)
    assert store.counts() == {"documents": 1, "summaries": 1}
    assert store.get(first).text.startswith("## Overview")
    store.db.execute(f"PRAGMA max_page_count = {pages + 1000}")  # space again: it goes on
    store.save_summary(document=_document("b" * 64), summary=_summary("rent " * 20_000))
    assert store.counts()["summaries"] == 2


@contextlib.contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """RLIMIT_FSIZE for this process: a write past `limit` bytes fails with EFBIG."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_write_the_system_refuses_is_an_input_output_error(lexbrief_home: Path) -> None:
    store = Store()
    with _file_size_limit(1 << 20), pytest.raises(StorageError,
                                                  match="input/output error") as caught:
        store.save_summary(document=_document(), summary=_summary("rent " * 400_000))
    assert _cause(caught.value).startswith("SQLITE_IOERR")  # SQLITE_IOERR_WRITE
    assert str(lexbrief_home / "lexbrief.db") in caught.value.message
    assert store.counts() == {"documents": 0, "summaries": 0}
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@contextlib.contextmanager
def _tmpfs(mount: Path) -> Iterator[Path]:
    """A small real filesystem at `mount` (root only), unmounted afterwards."""
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): "
                    f"{mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)


def _rollback_journal_database(path: Path) -> None:
    """A stored summary in a database left out of WAL (read-only, it could not use WAL)."""
    store = Store(path)
    store.save_summary(document=_document(), summary=_summary())
    store.db.execute("PRAGMA journal_mode=DELETE")
    store.close()


@pytest.fixture
def read_only_database(tmp_path: Path) -> Iterator[Path]:
    """A database LexBrief may not write: a 0444 file for a normal user; for root (whom file
    modes do not stop) the same file on a tmpfs remounted read-only."""
    if os.geteuid() != 0:
        path = tmp_path / "lexbrief.db"
        _rollback_journal_database(path)
        path.chmod(0o444)
        yield path
        return
    with _tmpfs(tmp_path / "read-only") as mount:
        _rollback_journal_database(mount / "lexbrief.db")
        _read_only(mount)
        yield mount / "lexbrief.db"


def test_a_read_only_database_is_a_clear_error(read_only_database: Path) -> None:
    with pytest.raises(StorageError, match="may not write to") as caught:
        Store(read_only_database).save_summary(document=_document("b" * 64),
                                               summary=_summary())
    assert _cause(caught.value) == "SQLITE_READONLY"
    assert str(read_only_database) in caught.value.message


def test_a_wal_database_on_read_only_media_cannot_be_opened(tmp_path: Path) -> None:
    """A WAL database needs its -shm file: on read-only media SQLite cannot open it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only tmpfs (file modes do not give this)")
    with _tmpfs(tmp_path / "read-only") as mount:
        Store(mount / "lexbrief.db").close()
        _read_only(mount)
        with pytest.raises(StorageError, match="cannot be opened") as caught:
            Store(mount / "lexbrief.db")
        assert _cause(caught.value) == "SQLITE_CANTOPEN"


def test_a_folder_where_the_database_should_be_cannot_be_opened(tmp_path: Path) -> None:
    folder = tmp_path / "lexbrief.db"
    folder.mkdir()
    with pytest.raises(StorageError, match="cannot be opened") as caught:
        Store(folder)
    assert _cause(caught.value) == "SQLITE_CANTOPEN"
    assert str(folder) in caught.value.message


def test_a_file_that_is_not_a_database_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "lexbrief.db"
    words = b"Notes for the lease, not a database.\n" * 200
    path.write_bytes(words)
    with pytest.raises(StorageError, match="is not a LexBrief database") as caught:
        Store(path)
    assert _cause(caught.value) == "SQLITE_NOTADB"
    assert str(path) in caught.value.message
    assert path.read_bytes() == words


def test_a_damaged_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lexbrief.db"
    store = Store(path)
    store.save_summary(document=_document(), summary=_summary())
    page_size = store.db.execute("PRAGMA page_size").fetchone()[0]
    store.close()
    data = bytearray(path.read_bytes())
    data[page_size:] = b"\x5a" * (len(data) - page_size)  # every page but the first
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="is damaged") as caught:
        Store(path).history()
    assert _cause(caught.value) == "SQLITE_CORRUPT"
    assert str(path) in caught.value.message


def test_a_writer_holding_the_lock_past_the_busy_timeout(
        lexbrief_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store()
    monkeypatch.setattr(db, "BUSY_TIMEOUT", 0.2)
    waiting = Store()
    other = sqlite3.connect(lexbrief_home / "lexbrief.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    with pytest.raises(StorageError, match="is busy in another program") as caught:
        waiting.save_summary(document=_document(), summary=_summary())
    assert _cause(caught.value) == "SQLITE_BUSY"
    other.execute("ROLLBACK")
    waiting.save_summary(document=_document(), summary=_summary())
    assert store.counts()["summaries"] == 1


def test_a_table_lock_is_sorted_with_busy() -> None:
    """SQLITE_LOCKED (a conflict inside one connection or shared cache), made for real and
    classified (the store itself never leaves a statement open across writes)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(10)])
    conn.commit()
    reading = conn.execute("SELECT x FROM t")
    reading.fetchone()
    with pytest.raises(sqlite3.OperationalError) as caught:
        conn.execute("DROP TABLE t")
    assert caught.value.sqlite_errorname == "SQLITE_LOCKED"
    error = world_fault(caught.value, Path("/data/lexbrief.db"))
    assert error is not None and "busy" in error.message


def test_our_own_mistakes_stay_bugs(lexbrief_home: Path) -> None:
    """A constraint we broke, SQL the table cannot take, a closed connection: raised as they
    are (the front end logs the traceback), never dressed as the world's fault."""
    store = Store()
    with pytest.raises(sqlite3.OperationalError, match="no_such_column"):
        store.save_summary(document=_document(), summary=_summary(),
                           run_record={"no_such_column": 1})
    assert store.counts() == {"documents": 0, "summaries": 0}
    store.save_summary(document=_document(), summary=_summary())
    with pytest.raises(sqlite3.IntegrityError) as constraint, store._write():
        store.db.execute("INSERT INTO documents (id, sha256, name, kind, pages, "
                         "pagination, size, created) SELECT id, 'x', 'x', 'x', 1, 'x', 1, "
                         "'x' FROM documents")
    assert not isinstance(constraint.value, UserFacingError)
    assert world_fault(constraint.value, store.path) is None
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.history()
