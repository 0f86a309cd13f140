"""Grounding: every statement LexBrief shows is backed by words that stand on a real page.

- `SourceText` (source_text.py) is the document's text normalized for matching, with a map
  from each normalized character back to its page: a quote found there gives its page, and the
  exact words to highlight, by construction. What is shown afterwards is the page's own text at
  the match, never the model's copy of it.
- `check_point` lets a note's paraphrase stand only when its names, numbers, dates and amounts
  occur in its quote and most of its content words do; otherwise the quote is shown alone.
- `check_sentence` checks prose (the overview) sentence by sentence against the whole source.
- `central_sentences` (ranking.py) is the fallback when a model gives too few verified notes:
  the most central sentences of an excerpt (TextRank), shown as quotes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lexbrief.read.document import Document
from lexbrief.summarize.citations import content_words
from lexbrief.summarize.facts import SourceIndex, extract_facts
from lexbrief.summarize.ranking import (
    Sentence,
    central_sentences,
    page_sentences,
)
from lexbrief.summarize.source_text import (
    QuoteMatch,
    SourceText,
    Span,
    _stems,
    stem,
)

POINT_WORD_SUPPORT = 0.6  # share of a paraphrase's content words its quote must hold
MAX_UNKNOWN_WORDS = 3  # an overview sentence with this many words the document lacks is removed
BACKING_SUPPORT = 0.5  # share of an overview sentence's words its best key point must hold


@dataclass(frozen=True)
class PointCheck:
    paraphrase_ok: bool
    missing_facts: tuple[str, ...] = ()
    word_support: float = 0.0


def check_point(point: str, quote: str) -> PointCheck:
    """May the model's paraphrase be shown beside this (verified) quote? Its facts must all be in
    the quote, and most of its content words."""
    index = SourceIndex(quote)
    missing = tuple(f.text for f in extract_facts(point) if not index.supports(f))
    words = _stems(point)
    support = len(words & _stems(quote)) / len(words) if words else 0.0
    # "Page 1." or ".12-re-opening plan" says nothing a reader can check
    wordy = sum(not w[:1].isdigit() for w in words) >= 3 and len(point.split()) >= 4
    ok = not missing and wordy and support >= POINT_WORD_SUPPORT
    return PointCheck(ok, missing, round(support, 3))


# Words a summary may use that need not stand in the document.
_SUMMARY_WORDS = frozenset(stem(w) for w in (
    "document", "documents", "summary", "summarizes", "describes", "describe", "concerns",
    "concerning", "addresses", "decides", "decided", "decision", "requires", "required",
    "requirement", "states", "stated", "sets", "set", "out", "provides", "provide", "includes",
    "include", "including", "explains", "explain", "outlines", "outline", "discusses", "discuss",
    "notes", "noted", "says", "said", "about", "regarding", "deals", "covers", "cover", "main",
    "purpose", "important", "key", "following", "details", "detail", "also", "overall", "which",
    "whose", "between", "parties", "party",
))


@dataclass(frozen=True)
class SentenceCheck:
    sentence: str
    # "kept"; "marked" (words the source lacks, or no quoted point backs it); "removed" (a fact
    # the source lacks, too many words it lacks, or unfinished)
    status: str
    missing_facts: tuple[str, ...] = ()
    unknown_words: tuple[str, ...] = ()
    pages: tuple[int, ...] = ()  # where the key point that backs it is quoted
    backing: float = 0.0  # share of its words found in that point and its quote

    @property
    def reason(self) -> str:
        if self.missing_facts:
            return f"not in the document: {', '.join(self.missing_facts)}"
        if self.unknown_words:
            return f"words the document does not use: {', '.join(self.unknown_words)}"
        if self.status != "kept":
            return "no quoted key point backs it" if self.sentence.rstrip()[-1:] in ".!?" \
                else "unfinished sentence"
        return ""

    def as_dict(self) -> dict[str, object]:
        return {"sentence": self.sentence, "status": self.status, "reason": self.reason,
                "missing_facts": list(self.missing_facts),
                "unknown_words": list(self.unknown_words), "pages": list(self.pages),
                "backing": round(self.backing, 3)}


def check_sentence(sentence: str, source: SourceText,
                   points: Sequence[GroundedPoint] | None = None) -> SentenceCheck:
    """Every number, date, amount, section reference and name must occur in the source (else the
    sentence is removed); a content word the source never uses marks it, and three remove it, as
    does a sentence the model did not finish. With `points` (the verified key points the
    sentence was written from), the point whose words it shares most backs it and gives its
    page; a sentence that no point backs for at least half of its words is marked."""
    missing = tuple(f.text for f in extract_facts(sentence) if not source.facts.supports(f))
    if missing:
        return SentenceCheck(sentence, "removed", missing_facts=missing)
    unknown = tuple(sorted(w for w in content_words(sentence)
                           if not w[:1].isdigit() and stem(w) not in source.stems
                           and stem(w) not in _SUMMARY_WORDS))
    if len(unknown) >= MAX_UNKNOWN_WORDS or not sentence.rstrip().endswith((".", "!", "?")):
        # more of the model's own story than the document's, or cut off mid-sentence
        return SentenceCheck(sentence, "removed", unknown_words=unknown)
    pages: tuple[int, ...] = ()
    backing = 1.0
    if points is not None:
        words = _stems(sentence) - _SUMMARY_WORDS
        backing, pages = 0.0, ()
        for point in points:
            share = (len(words & _stems(f"{point.text} {point.quote}")) / len(words)
                     if words else 0.0)
            if share > backing:
                backing, pages = share, point.pages
    status = "kept" if not unknown and backing >= BACKING_SUPPORT else "marked"
    return SentenceCheck(sentence, status, unknown_words=unknown, pages=pages, backing=backing)


@dataclass(frozen=True)
class GroundedPoint:
    """A key point as shown: the text, the quote that proves it, and where the quote stands.

    origin: "model" (the model's paraphrase, checked against its quote), "quote" (the model's
    paraphrase failed the check, so its quote is shown alone), "extract" (a central sentence
    chosen without the model, because the model gave too few verified notes)."""

    text: str
    quote: str
    spans: tuple[Span, ...]
    origin: str
    score: float = 100.0

    @property
    def pages(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(span.page for span in self.spans))

    @property
    def verified(self) -> bool:
        return bool(self.spans)

    def render(self) -> str:
        from lexbrief.summarize.citations import format_citation

        cite = format_citation(list(self.pages))
        if self.origin == "model":
            return f"{self.text} {cite}\n  > “{self.quote}”"
        return f"“{self.quote}” {cite}"

    def as_dict(self) -> dict[str, object]:
        return {"text": self.text, "quote": self.quote, "pages": list(self.pages),
                "verified": self.verified, "origin": self.origin,
                "spans": [{"page": s.page, "start": s.start, "end": s.end}
                          for s in self.spans],
                "score": round(self.score, 1)}


@dataclass(frozen=True)
class RejectedNote:
    """A model note that is not shown (kept in the stored record for audit)."""

    point: str
    quote: str
    reason: str
    pages: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"point": self.point, "quote": self.quote, "reason": self.reason,
                "pages": list(self.pages)}


@dataclass
class ChunkNotes:
    """What one excerpt gave: the points shown and the notes rejected."""

    points: list[GroundedPoint] = field(default_factory=list)
    rejected: list[RejectedNote] = field(default_factory=list)


def ground_notes(notes: list[tuple[str, str]], source: SourceText, first_page: int,
                 last_page: int, document: Document | None = None) -> ChunkNotes:
    """Check each (point, quote) note of one excerpt against that excerpt's pages.

    A note whose quote is missing, or whose paraphrase its quote does not bear out, gets one more
    chance when `document` is given: the excerpt's sentence that best matches the paraphrase,
    if the paraphrase passes the same check against it."""
    out = ChunkNotes()
    sentences = page_sentences(document, first_page, last_page) if document else []
    for raw_point, raw_quote in notes:
        point, quote = " ".join(raw_point.split()), " ".join(raw_quote.split())
        match = source.find(quote, first_page, last_page) if quote else None
        check = check_point(point, match.text) if match else None
        if check is not None and check.paraphrase_ok and match is not None:
            out.points.append(GroundedPoint(point, match.text, match.spans, "model",
                                            match.score))
            continue
        rescued = _best_sentence(point, sentences, source, first_page, last_page)
        if rescued is not None:
            out.points.append(GroundedPoint(point, rescued.text, rescued.spans, "model",
                                            rescued.score))
            continue
        if match is None:
            elsewhere = source.find(quote) if quote else None
            reason = ("no quote" if not quote else
                      f"quote is not in the excerpt (found on p. {elsewhere.pages[0]})"
                      if elsewhere else "quote not found in the document")
            out.rejected.append(RejectedNote(point, quote, reason))
            continue
        assert check is not None
        why = (f"names or figures not in its quote: {', '.join(check.missing_facts)}"
               if check.missing_facts else
               f"paraphrase shares {check.word_support:.0%} of its words with the quote")
        out.rejected.append(RejectedNote(point, quote, f"paraphrase not shown: {why}",
                                         match.pages))
        out.points.append(GroundedPoint(match.text, match.text, match.spans, "quote",
                                        match.score))
    return out


def _best_sentence(point: str, sentences: list[Sentence], source: SourceText, first_page: int,
                   last_page: int) -> QuoteMatch | None:
    words = _stems(point)
    if not words or not sentences:
        return None
    best = max(sentences, key=lambda s: len(words & _stems(s.text)))
    if not check_point(point, best.text).paraphrase_ok:
        return None
    return source.find(best.text, best.page, last_page)


def extract_points(document: Document, source: SourceText, first_page: int, last_page: int,
                   k: int, exclude: Iterable[str] = ()) -> list[GroundedPoint]:
    """Up to k central sentences of pages first..last, as quote-only points."""
    points: list[GroundedPoint] = []
    for sentence in central_sentences(page_sentences(document, first_page, last_page), k,
                                      exclude):
        match = source.find(sentence.text, sentence.page, last_page)
        if match is not None:
            points.append(GroundedPoint(text=match.text, quote=match.text, spans=match.spans,
                                        origin="extract", score=match.score))
    return points
