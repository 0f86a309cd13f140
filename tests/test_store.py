"""The SQLite store: named migrations, sha256 dedupe, atomic summary rows, full-text search."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lexbrief.errors import NotFound, StorageError
from lexbrief.store import Store
from lexbrief.store.migrations import MIGRATIONS


def _document(sha: str = "a" * 64, name: str = "lease.pdf") -> dict[str, Any]:
    return {"sha256": sha, "name": name, "path": f"/docs/{name}", "kind": "pdf",
            "title": None, "pages": 3, "pagination": "printed", "size": 1234}


def _summary(text: str = "The tenant pays rent monthly [p. 2].") -> dict[str, Any]:
    return {"model_name": "m.gguf", "model_sha256": "b" * 64, "template": "contract",
            "parameters": {"max_tokens": 256}, "text": text,
            "citations": [{"point": "rent", "pages": [2]}],
            "coverage": {"pages_read": 3, "pages_total": 3, "tokens_read": 900,
                         "tokens_dropped": 0},
            "prompt_tokens": 1000, "completion_tokens": 120, "load_seconds": 0.2,
            "prompt_seconds": 4.0, "generation_seconds": 2.0, "wall_seconds": 6.5}


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
    row = store.get(store.save_summary(document=_document(), summary=_summary()))
    assert row.coverage["tokens_dropped"] == 0
    assert row.citations == [{"point": "rent", "pages": [2]}]
    assert row.parameters == {"max_tokens": 256}
    assert row.document_sha256 == "a" * 64 and row.document_pages == 3
    assert row.prompt_tokens == 1000 and row.generation_seconds == 2.0


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
    store = Store()
    broken = _summary()
    del broken["wall_seconds"]  # NOT NULL column missing: the insert fails mid-transaction
    with pytest.raises(StorageError):
        store.save_summary(document=_document("d" * 64), summary=broken)
    assert store.counts() == {"documents": 0, "summaries": 0}


def test_read_only_database_is_a_clear_error(lexbrief_home: Path) -> None:
    Store().close()
    db = lexbrief_home / "lexbrief.db"
    uri = f"file:{db}?mode=ro"
    store = Store()
    store.db.conn.close()
    store.db.conn = sqlite3.connect(uri, uri=True)  # type: ignore[misc]
    with pytest.raises(StorageError, match=r"read-only|cannot"):
        store.save_summary(document=_document(), summary=_summary())


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
