"""The SQLite store: documents (deduplicated by sha256) and every summary, with full-text search.
What is written and read back are the typed records of lexbrief.store.records."""

from lexbrief.store.db import Store
from lexbrief.store.records import DocumentRecord, StoredSummary, SummaryRecord

__all__ = ["DocumentRecord", "Store", "StoredSummary", "SummaryRecord"]
