"""The SQLite store: named migrations, sha256 dedupe, atomic summary rows, full-text search."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lexbrief.errors import NotFound, StorageError
from lexbrief.store import DocumentRecord, Store, StoredSummary, SummaryRecord
from lexbrief.store.migrations import MIGRATIONS


def _document(sha: str = "a" * 64, name: str = "lease.pdf") -> DocumentRecord:
    return DocumentRecord(sha256=sha, name=name, path=f"/docs/{name}", kind="pdf", title=None,
                          pages=3, pagination="printed", size=1234)


def _summary(text: str = "The tenant pays rent monthly [p. 2].") -> SummaryRecord:
    return SummaryRecord(
        model_name="m.gguf", model_sha256="b" * 64, template="contract",
        parameters={"max_tokens": 256}, text=text, citations=[{"point": "rent", "pages": [2]}],
        coverage={"pages_read": 3, "pages_total": 3, "tokens_read": 900, "tokens_dropped": 0},
        grounding={"kind_note": "Read as: a contract.", "rejected": []},
        prompt_tokens=1000, completion_tokens=120, load_seconds=0.2, prompt_seconds=4.0,
        generation_seconds=2.0, wall_seconds=6.5)


def full_after(store: Store, pages: int = 0) -> None:
    """The database may grow by `pages` pages at most: a real SQLITE_FULL past them."""
    count = store.db.execute("PRAGMA page_count").fetchone()[0]
    assert store.db.execute(f"PRAGMA max_page_count = {count + pages}").fetchone()[0] == (
        count + pages)


def test_migrations_are_named_recorded_and_run_once(lexbrief_home: Path) -> None:
    store = Store()
    names = [fn.__name__ for fn in MIGRATIONS]
    assert store.migrations_applied == names
    recorded = [r["name"] for r in store.db.query("SELECT name FROM _migrations ORDER BY name")]
    assert recorded == sorted(names)
    assert Store().migrations_applied == []
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.path == lexbrief_home / "lexbrief.db"


def test_documents_are_deduplicated_by_sha256() -> None:
    store = Store()
    first = store.save_summary(document=_document(), summary=_summary())
    second = store.save_summary(document=_document(name="lease-copy.pdf"), summary=_summary())
    assert first != second
    assert store.counts() == {"documents": 1, "summaries": 2}
    assert store.get(second).document_name == "lease-copy.pdf"
    assert store.get(first).document_id == store.get(second).document_id


def test_round_trip_keeps_every_field() -> None:
    store = Store()
    saved = _summary()
    row = store.get(store.save_summary(document=_document(), summary=saved))
    for field in dataclasses.fields(SummaryRecord):  # every field of the record, read back
        assert getattr(row, field.name) == getattr(saved, field.name), field.name
    assert row.document_sha256 == "a" * 64 and row.document_pages == 3
    assert row.document_name == "lease.pdf"
    assert store.history()[0] == row


def test_the_records_are_the_tables_columns() -> None:
    """What save_summary writes and get reads back, field by field, is the tables' columns."""
    store = Store()

    def columns(table: str) -> list[str]:
        return [row[1] for row in store.db.execute(f"PRAGMA table_info('{table}')")]

    summary_fields = {f.name: f.type for f in dataclasses.fields(SummaryRecord)}
    stored_fields = {f.name: f.type for f in dataclasses.fields(StoredSummary)}
    assert {name: stored_fields[name] for name in summary_fields} == summary_fields
    assigned = {"id", "document_id", "document_name", "created"}  # by the store
    assert set(columns("summaries")) == set(summary_fields) | assigned
    assert set(stored_fields) == set(columns("summaries")) | {"document_sha256",
                                                             "document_pages"}
    document_fields = [f.name for f in dataclasses.fields(DocumentRecord)]
    assert columns("documents") == ["id", *document_fields, "created"]


def test_full_text_search_over_summaries_and_names() -> None:
    store = Store()
    store.save_summary(document=_document(), summary=_summary("Rent is due monthly."))
    store.save_summary(document=_document("c" * 64, "calvary-v-mills.pdf"),
                       summary=_summary("The court denied the injunction on standing."))
    assert [r.document_name for r in store.history(search="injunction")] == ["calvary-v-mills.pdf"]
    assert [r.document_name for r in store.history(search="calvary")] == ["calvary-v-mills.pdf"]
    assert [r.document_name for r in store.history(search="stand")] == ["calvary-v-mills.pdf"]
    assert store.history(search='"unbalanced') == []  # odd input is not an error
    assert len(store.history()) == 2


def test_a_failed_write_leaves_no_row_at_all() -> None:
    """The document row is written, then the summary's does not fit (SQLITE_FULL): both go."""
    store = Store()
    full_after(store)
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    with pytest.raises(StorageError, match="the disk is full"):
        store.save_summary(document=_document("d" * 64), summary=_summary("rent " * 20_000))
    assert any(s.startswith("INSERT INTO documents") for s in statements)
    assert statements[-1] == "ROLLBACK"
    store.db.conn.set_trace_callback(None)
    assert store.counts() == {"documents": 0, "summaries": 0}


def test_missing_summary_and_delete() -> None:
    store = Store()
    with pytest.raises(NotFound, match="#99"):
        store.get(99)
    sid = store.save_summary(document=_document(), summary=_summary())
    store.delete_summary(sid)
    assert store.history() == [] and store.history(search="rent") == []
    with pytest.raises(NotFound):
        store.delete_summary(sid)


def test_model_hash_is_cached(tmp_path: Path) -> None:
    store = Store()
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 100)
    first = store.model_sha256(model)
    assert store.db["model_files"].count == 1
    assert store.model_sha256(model) == first
    model.write_bytes(b"GGUF" + b"\1" * 100)  # changed file: hashed again
    assert store.model_sha256(model) != first


def test_many_connections_opening_a_new_database_at_once() -> None:
    """The window opens the store from several threads; the first open must not race."""
    import threading

    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store().close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Store().migrations_applied == []
