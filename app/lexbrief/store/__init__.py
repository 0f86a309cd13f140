"""The SQLite store: documents (deduplicated by sha256) and every summary, with full-text search."""

from lexbrief.store.db import Store, StoredSummary

__all__ = ["Store", "StoredSummary"]
