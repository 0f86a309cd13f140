"""A summary run's statistics in words, written one way for every front end: the CLI's card after
each document, the window's footer under a fresh summary and under a stored one, and the header
of an export.

    3/3 pages read, 1,812 tokens read, 0 dropped · 2,410 prompt + 301 generated tokens ·
    reading 640 tok/s · writing 41 tok/s · 12 s · OCR: 2 pages, mean confidence 97%

Each front end puts its own labels in front (the summary's number, the template, the model) and
may add details between the coverage and the tokens (chunks, key points). The speed part is
lexbrief.machine.telemetry.speed's, which the cost card's hardware line shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lexbrief.machine.telemetry.speed import usage_text
from lexbrief.summarize.chunking import ocr_notes


def coverage_text(coverage: Mapping[str, Any]) -> str:
    """"3/4 pages read, 1,812 tokens read, 0 dropped" from `Coverage.as_dict()` (live or
    stored; a value a stored row lacks is shown as "?")."""

    def number(key: str) -> str:
        value = coverage.get(key)
        return f"{value:,}" if isinstance(value, int) else "?"

    return (f"{number('pages_read')}/{number('pages_total')} pages read, "
            f"{number('tokens_read')} tokens read, {number('tokens_dropped')} dropped")


def run_stats(coverage: Mapping[str, Any], *, prompt_tokens: int, completion_tokens: int,
              record: object, seconds: float, details: Sequence[str] = ()) -> list[str]:
    """The statistics' parts, in order: coverage, `details`, tokens and speed (`record`: the
    run's RunRecord, or None when only its time is known), then the OCR notes."""
    return [coverage_text(coverage), *details,
            usage_text(prompt_tokens, completion_tokens, record, seconds),
            *ocr_notes(coverage)]


def stats_line(*parts: str | Sequence[str]) -> str:
    """Labels and parts joined with " · " (a sequence counts as its parts)."""
    flat: list[str] = []
    for part in parts:
        flat.extend([part] if isinstance(part, str) else part)
    return " · ".join(p for p in flat if p)
