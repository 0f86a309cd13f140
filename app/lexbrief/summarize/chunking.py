"""Cut a document into chunks that fit the model, on paragraph and section boundaries.

Token counts come from the model's own tokenizer. Each chunk knows the pages it covers, and page
starts are marked inside the text as "[p. N]" so the model can cite them. Nothing is ever
dropped: `verify_coverage` checks that the chunks hold every character of the document, in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lexbrief.read.document import Document

CountTokens = Callable[[str], int]
SplitByTokens = Callable[[str, int], list[str]]

_HEADING = re.compile(
    r"^(ARTICLE|Article|SECTION|Section|SCHEDULE|Schedule|EXHIBIT|Exhibit|PART|Part|CHAPTER|"
    r"Chapter|§|[IVXLC]+\.\s|\d+(\.\d+)*\.?\s+[A-Z])"
)
_NUMBERED = re.compile(r"^\(?[a-z0-9]{1,3}[.)]\s")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=[\"'(\[A-Z0-9§])")
# Each "[p. N]" marker costs a few tokens; reserve them so a chunk never overflows its budget.
MARKER_TOKENS = 8


@dataclass(frozen=True)
class Unit:
    page: int
    text: str
    tokens: int
    heading: bool = False


@dataclass(frozen=True)
class Chunk:
    index: int
    units: tuple[Unit, ...]
    text: str  # with page markers
    first_page: int
    last_page: int
    tokens: int  # tokens of the document text it holds (markers not counted)

    @property
    def pages_label(self) -> str:
        if self.first_page == self.last_page:
            return f"page {self.first_page}"
        return f"pages {self.first_page}–{self.last_page}"

    @property
    def source_text(self) -> str:
        return "\n\n".join(unit.text for unit in self.units)


# A page recognized by OCR with a mean confidence below this is flagged. Calibrated on 95
# renders of five corpus pages, clean and degraded (docs/BENCHMARKS.md, OCR): every page read
# with at most 3% of characters wrong scored 0.972 or more; the pages misread beyond 10% scored
# 0.83-0.87; 0.95 also flags a 60-dpi page at 5.5% wrong.
LOW_OCR_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Coverage:
    pages_total: int
    pages_read: int  # pages whose text entered a chunk
    pages_blank: int  # pages with no text at all (nothing to read)
    tokens_read: int
    tokens_dropped: int
    chunks: int
    # OCR (scanned pages): each recognized page with its mean confidence, and the image-only
    # pages left unread because OCR was off.
    ocr_pages: tuple[tuple[int, float], ...] = ()
    ocr_skipped: tuple[int, ...] = ()

    @property
    def ocr_low_confidence(self) -> list[int]:
        return [n for n, c in self.ocr_pages if 0 < c < LOW_OCR_CONFIDENCE]

    @property
    def ocr_empty(self) -> list[int]:
        """Recognized pages on which OCR found no text at all."""
        return [n for n, c in self.ocr_pages if c == 0]

    @property
    def ocr_mean_confidence(self) -> float | None:
        found = [c for _, c in self.ocr_pages if c > 0]
        return round(sum(found) / len(found), 4) if found else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pages_read": self.pages_read, "pages_total": self.pages_total,
            "pages_blank": self.pages_blank, "tokens_read": self.tokens_read,
            "tokens_dropped": self.tokens_dropped, "chunks": self.chunks,
        }
        if self.ocr_pages or self.ocr_skipped:
            out["ocr"] = {
                "pages": [n for n, _ in self.ocr_pages],
                "mean_confidence": self.ocr_mean_confidence,
                "page_confidence": {str(n): c for n, c in self.ocr_pages},
                "low_confidence_pages": self.ocr_low_confidence,
                "low_confidence_below": LOW_OCR_CONFIDENCE,
                "empty_pages": self.ocr_empty,
                "skipped_pages": list(self.ocr_skipped),
            }
        return out


def ocr_notes(coverage: Mapping[str, Any]) -> list[str]:
    """What the reader must know about OCR'd pages, from `Coverage.as_dict()` (live or stored):
    ["OCR: 2 pages, mean confidence 97%", "p. 7: low OCR confidence (61%)", ...]."""
    ocr = coverage.get("ocr")
    if not isinstance(ocr, Mapping):
        return []
    notes: list[str] = []
    pages = list(ocr.get("pages") or [])
    if pages:
        mean = ocr.get("mean_confidence")
        conf = f", mean confidence {mean:.0%}" if isinstance(mean, int | float) else ""
        notes.append(f"OCR: {len(pages)} page{'s' if len(pages) != 1 else ''}{conf}")
    per_page = ocr.get("page_confidence") or {}
    for page in ocr.get("low_confidence_pages") or []:
        value = per_page.get(str(page))
        detail = f" ({value:.0%})" if isinstance(value, int | float) else ""
        notes.append(f"p. {page}: low OCR confidence{detail}")
    notes += [f"p. {page}: OCR found no text" for page in ocr.get("empty_pages") or []]
    skipped = list(ocr.get("skipped_pages") or [])
    if skipped:
        listed = ", ".join(str(p) for p in skipped)
        notes.append(f"p{'p' if len(skipped) > 1 else ''}. {listed}: scanned, not read (OCR off)")
    return notes


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of one page. PDF text has a line break at every printed line, so a paragraph
    also ends at a short line that closes a sentence, or before a heading or a numbered item."""
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        widths = sorted(len(line) for line in lines)
        typical = widths[len(widths) * 3 // 4]
        current: list[str] = []
        for i, line in enumerate(lines):
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            current.append(line)
            ends_short = len(line) < 0.7 * typical and line[-1:] in ".:;)\"'”"
            starts_new = bool(nxt) and (_is_heading(nxt) or bool(_NUMBERED.match(nxt)))
            if ends_short or starts_new or _is_heading(line):
                paragraphs.append(" ".join(current) if len(lines) > 1 else "\n".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
    return paragraphs


def _is_heading(line: str) -> bool:
    if len(line) > 80:
        return False
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 4 and all(c.isupper() for c in letters):
        return True
    return bool(_HEADING.match(line)) and len(line) < 60


def document_units(document: Document, count: CountTokens, split: SplitByTokens,
                   max_tokens: int) -> list[Unit]:
    units: list[Unit] = []
    for page in document.pages:
        for paragraph in split_paragraphs(page.text):
            tokens = count(paragraph)
            if tokens <= max_tokens:
                units.append(Unit(page.number, paragraph, tokens, _is_heading(paragraph)))
                continue
            for piece in _split_long(paragraph, count, split, max_tokens):
                units.append(Unit(page.number, piece, count(piece)))
    return units


def _split_long(text: str, count: CountTokens, split: SplitByTokens,
                max_tokens: int) -> Iterable[str]:
    """A paragraph larger than a chunk: cut at sentence ends, and only where a single sentence is
    still too long, at token boundaries."""
    current = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{current} {sentence}".strip()
        if count(candidate) <= max_tokens:
            current = candidate
            continue
        if current:
            yield current
        if count(sentence) <= max_tokens:
            current = sentence
        else:
            pieces = split(sentence, max_tokens)
            yield from pieces[:-1]
            current = pieces[-1]
    if current:
        yield current


def chunk_document(document: Document, count: CountTokens, split: SplitByTokens,
                   budget: int) -> list[Chunk]:
    """Pack paragraphs into chunks of at most `budget` tokens (markers included)."""
    if budget < 64:
        raise ValueError(f"a chunk budget of {budget} tokens is too small to be useful")
    unit_budget = budget - 2 * MARKER_TOKENS
    units = document_units(document, count, split, unit_budget)
    groups: list[list[Unit]] = []
    current: list[Unit] = []
    used = 0
    for unit in units:
        cost = unit.tokens + (MARKER_TOKENS if not current or current[-1].page != unit.page else 2)
        # A new section starts a new chunk when the current one is already well filled.
        if current and (used + cost > unit_budget or (unit.heading and used > 0.6 * unit_budget)):
            groups.append(current)
            current, used = [], 0
            cost = unit.tokens + MARKER_TOKENS
        current.append(unit)
        used += cost
    if current:
        groups.append(current)
    return [_make_chunk(i, group) for i, group in enumerate(groups)]


def _make_chunk(index: int, units: list[Unit]) -> Chunk:
    parts: list[str] = []
    page = None
    for unit in units:
        if unit.page != page:
            parts.append(f"[p. {unit.page}]")
            page = unit.page
        parts.append(unit.text)
    return Chunk(
        index=index, units=tuple(units), text="\n".join(parts), first_page=units[0].page,
        last_page=units[-1].page, tokens=sum(u.tokens for u in units),
    )


def verify_coverage(document: Document, chunks: list[Chunk], count: CountTokens) -> Coverage:
    """Prove that the chunks hold the whole document: every non-space character, in order."""
    expected = "".join(document.text.split())
    covered = "".join("".join(chunk.source_text.split()) for chunk in chunks)
    dropped = 0
    if covered != expected:
        # Never claim full coverage without proof: count what is missing.
        prefix = 0
        while prefix < min(len(covered), len(expected)) and covered[prefix] == expected[prefix]:
            prefix += 1
        dropped = max(1, count(expected[prefix:]) - count(covered[prefix:]))
    pages_with_text = {p.number for p in document.pages if p.text.strip()}
    pages_read = {u.page for chunk in chunks for u in chunk.units}
    return Coverage(
        pages_total=document.page_count,
        pages_read=len(pages_read) + (document.page_count - len(pages_with_text)),
        pages_blank=document.page_count - len(pages_with_text),
        tokens_read=sum(chunk.tokens for chunk in chunks),
        tokens_dropped=dropped,
        chunks=len(chunks),
        ocr_pages=tuple((p.number, p.ocr_confidence) for p in document.pages
                        if p.ocr_confidence is not None),
        ocr_skipped=tuple(p.number for p in document.pages if p.ocr_skipped),
    )
