"""What the store keeps, as typed records: one per table row that a caller writes or reads.

Three summary types, one story:

- `lexbrief.summarize.pipeline.Summary` is the model's product in memory: the checked overview,
  the grounded points with their spans, the abstract, the rejected notes, the usage. It lives
  as long as a run (the window shows it live) and is never stored as it is.
- `SummaryRecord` is that summary *as saved*: plain values (text, citations, coverage, the
  grounding audit as JSON-ready dicts) plus what the run was (model, template, parameters,
  timings). The service builds it from a `Summary` (`lexbrief.service.summary_record`) and hands
  it to `Store.save_summary` with the `DocumentRecord` of its document.
- `StoredSummary` is a summary *as read back* (`Store.get`, `Store.history`): every field of the
  `SummaryRecord` plus its id, its document's id, sha256 and page count, and when it was saved.

The service's `Outcome` is a run's result for its caller: the `Summary`, the id it was stored
under, and what the hardware did and cost. The store does not import the pipeline (they are
siblings in the layers contract), hence these plain records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class DocumentRecord:
    """A document as saved (table `documents`), deduplicated by `sha256`: saving a summary of
    a document already stored keeps its row and updates its `name` and `path` only."""

    sha256: str
    name: str
    path: str | None  # absolute path where it was read, or None (not known)
    kind: str  # pdf, docx, txt, image...
    title: str | None
    pages: int
    pagination: str  # "printed" page numbers or "sequential" ones
    size: int  # bytes


@dataclass(frozen=True, kw_only=True)
class SummaryRecord:
    """A summary as saved (table `summaries`), without what the store assigns (id, document id,
    the time it was saved); the document's name is copied from its `DocumentRecord`."""

    model_name: str
    model_sha256: str | None
    template: str
    parameters: dict[str, Any]  # pipeline settings and the engine's context, threads, layers
    text: str  # the markdown shown and exported
    citations: list[dict[str, Any]]  # the key points shown, with their quotes and pages
    coverage: dict[str, Any]  # pages and tokens read (lexbrief.summarize.chunking.Coverage)
    prompt_tokens: int
    completion_tokens: int
    load_seconds: float
    prompt_seconds: float
    generation_seconds: float
    wall_seconds: float
    # abstract, rejected notes, overview sentence checks, kind assumed (see grounding_record)
    grounding: dict[str, Any] = field(default_factory=dict)
    matter: str | None = None  # the client matter it was made for (migration m008)


@dataclass(frozen=True)
class StoredSummary:
    """A stored summary read back: a `SummaryRecord`'s fields (tests/test_store.py keeps the
    two in step) plus the ids, its document's sha256 and pages, and `created`. The fields
    are in the order `lexbrief show --json` prints them."""

    id: int
    document_id: int
    document_name: str
    document_sha256: str
    document_pages: int
    model_name: str
    model_sha256: str | None
    template: str
    parameters: dict[str, Any]
    text: str
    citations: list[dict[str, Any]]
    coverage: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    load_seconds: float
    prompt_seconds: float
    generation_seconds: float
    wall_seconds: float
    created: str
    # abstract, rejected notes, overview sentence checks, kind assumed ({} before migration 6)
    grounding: dict[str, Any] = field(default_factory=dict)
    matter: str | None = None  # the client matter (None: none given, or before migration 8)
