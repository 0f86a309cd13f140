"""Grounding: every statement LexBrief shows is backed by words that stand on a real page.

- `SourceText` is the document's text normalized for matching (case, runs of whitespace, curly
  quotes, dashes, ligatures, words hyphenated at a line end), with a map from each normalized
  character back to its page and its offset in that page's text. A quote found there therefore
  gives its page, and the exact words to highlight, by construction.
- `SourceText.find` looks a quote up inside the pages an excerpt covers: an exact search first,
  then rapidfuzz's partial alignment (a dropped comma or one changed word still matches; a
  paraphrase does not). What is shown afterwards is the page's own text at the match, never the
  model's copy of it.
- `check_point` lets a note's paraphrase stand only when its names, numbers, dates and amounts
  occur in its quote and most of its content words do; otherwise the quote is shown alone.
- `check_sentence` checks prose (the overview) sentence by sentence against the whole source.
- `central_sentences` is the fallback when a model gives too few verified notes: the most
  central sentences of an excerpt (TextRank), shown as quotes.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from lexbrief.core.citations import CITATION, content_words
from lexbrief.core.document import Document
from lexbrief.core.facts import SourceIndex, extract_facts

QUOTE_SCORE = 90.0  # rapidfuzz partial alignment score a quote must reach (0-100)
MIN_QUOTE_CHARS = 20
MIN_QUOTE_WORDS = 4
POINT_WORD_SUPPORT = 0.6  # share of a paraphrase's content words its quote must hold
MAX_UNKNOWN_WORDS = 3  # an overview sentence with this many words the document lacks is removed
BACKING_SUPPORT = 0.5  # share of an overview sentence's words its best key point must hold

_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"',
    "\u00bb": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\u2212": "-", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
})
_SOFT_HYPHEN = "\u00ad"
_HYPHENS = "-\u2010\u2011\u00ad"


def normalize_with_map(text: str) -> tuple[str, list[int]]:
    """`text` folded for matching, and for each output character the index in `text` it came
    from. Line-end hyphenation ("agree-\\nment") is joined; whitespace runs become one space."""
    out: list[str] = []
    where: list[int] = []
    n = len(text)
    i = 0
    space = True  # drop leading whitespace
    while i < n:
        ch = text[i]
        if ch in _HYPHENS and out and out[-1].isalpha():
            j = i + 1
            while j < n and text[j] in " \t":
                j += 1
            if j < n and text[j] in "\r\n":
                k = j
                while k < n and text[k] in " \t\r\n":
                    k += 1
                if k < n and text[k].islower():
                    i = k  # "agree-\nment" -> "agreement"
                    continue
        if ch == _SOFT_HYPHEN:
            i += 1
            continue
        for folded in unicodedata.normalize("NFKC", ch).translate(_TRANSLATE).casefold():
            c = folded
            if c.isspace():
                if space:
                    continue
                c = " "
                space = True
            else:
                space = False
            out.append(c)
            where.append(i)
        i += 1
    while out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def normalize(text: str) -> str:
    return normalize_with_map(text)[0]


@dataclass(frozen=True)
class Span:
    """Where on a page a quote stands: `page.text[start:end]`."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class QuoteMatch:
    text: str  # the page's own words at the match (whitespace collapsed)
    spans: tuple[Span, ...]  # one per page the quote runs over
    score: float  # 100 for an exact (normalized) match

    @property
    def pages(self) -> tuple[int, ...]:
        return tuple(span.page for span in self.spans)


class SourceText:
    """The whole document, normalized once, with the way back to pages and offsets."""

    def __init__(self, document: Document) -> None:
        parts: list[str] = []
        self._page_of: list[int] = []
        self._offset_of: list[int] = []
        self._page_start: dict[int, int] = {}
        self._pages = {page.number: page.text for page in document.pages}
        length = 0
        for page in document.pages:
            norm, where = normalize_with_map(page.text)
            self._page_start[page.number] = length
            parts.append(norm + " ")
            self._page_of.extend([page.number] * (len(norm) + 1))
            self._offset_of.extend([*where, len(page.text)])
            length += len(norm) + 1
        self.text = "".join(parts)
        self._page_end = {number: self._page_start.get(number + 1, length)
                          for number in self._page_start}
        self._facts: SourceIndex | None = None
        self._stems: set[str] | None = None

    @property
    def facts(self) -> SourceIndex:
        if self._facts is None:
            self._facts = SourceIndex("\n\n".join(self._pages.values()))
        return self._facts

    @property
    def stems(self) -> set[str]:
        if self._stems is None:
            self._stems = {stem(w) for w in content_words("\n".join(self._pages.values()))}
        return self._stems

    def page_text(self, number: int) -> str:
        return self._pages.get(number, "")

    def _region(self, first_page: int | None, last_page: int | None) -> tuple[int, int]:
        if first_page is None or not self._page_start:
            return 0, len(self.text)
        last = last_page if last_page is not None else first_page
        lo = self._page_start.get(first_page, 0)
        hi = self._page_end.get(last, len(self.text))
        return lo, hi

    def find(self, quote: str, first_page: int | None = None,
             last_page: int | None = None, *, short: bool = False) -> QuoteMatch | None:
        """The quote's place in pages first_page..last_page (the whole document when None),
        widened to whole sentences. `short`: a few exact words (a caption line, a docket
        number) are enough, and are not widened."""
        needle = normalize(CITATION.sub(" ", quote)).strip(" \"'.,;:")
        if short:
            if len(needle) < 3:
                return None
        elif len(needle) < MIN_QUOTE_CHARS or len(needle.split()) < MIN_QUOTE_WORDS:
            return None
        lo, hi = self._region(first_page, last_page)
        position = self.text.find(needle, lo, hi)
        if position >= 0:
            start, end = _word_bounds(self.text, position, position + len(needle))
            return self._match(start, end, 100.0, widen=not short)
        if short:
            return None
        region = self.text[lo:hi]
        if len(needle) > len(region):
            return None
        alignment = fuzz.partial_ratio_alignment(needle, region, score_cutoff=QUOTE_SCORE)
        if alignment is None:
            return None
        start, end = _word_bounds(region, alignment.dest_start, alignment.dest_end)
        return self._match(lo + start, lo + end, float(alignment.score))

    def _match(self, start: int, end: int, score: float, widen: bool = True) -> QuoteMatch:
        while end > start and self.text[end - 1] == " ":
            end -= 1
        spans: list[Span] = []
        i = start
        while i < end:
            page = self._page_of[i]
            j = i
            while j < end and self._page_of[j] == page:
                j += 1
            last = j - 1
            while last > i and self.text[last] == " ":
                last -= 1
            first_offset = self._offset_of[i]
            last_offset = self._offset_of[last] + 1
            if self.text[i:last + 1].strip():
                spans.append(Span(page, first_offset, last_offset))
            i = j
        if spans and widen:  # a fragment can mean what its sentence does not: whole sentences
            first, last_span = spans[0], spans[-1]
            start_at = _sentence_start(self._pages[first.page], first.start)
            end_at = _sentence_end(self._pages[last_span.page], last_span.end)
            spans[0] = Span(first.page, start_at, first.end)
            spans[-1] = Span(last_span.page, spans[-1].start, end_at)
        words = " ".join(" ".join(self._pages[s.page][s.start:s.end].split()) for s in spans)
        return QuoteMatch(text=_join_hyphenation(words), spans=tuple(spans), score=score)


_SENTENCE_BREAK = re.compile(r"[.!?;:][\"'”’)\]]*(?:\s|$)|\n\s*\n")
SENTENCE_REACH = 400  # characters a quote is widened by, at most, to reach its sentence's ends


def _sentence_start(text: str, at: int) -> int:
    window = text[max(0, at - SENTENCE_REACH):at]
    breaks = list(_SENTENCE_BREAK.finditer(window))
    if breaks:
        return max(0, at - SENTENCE_REACH) + breaks[-1].end()
    return 0 if at <= SENTENCE_REACH else at


def _sentence_end(text: str, at: int) -> int:
    if at > 0 and text[at - 1] in ".!?;:":
        return at
    found = _SENTENCE_BREAK.search(text, at, min(len(text), at + SENTENCE_REACH))
    if found:
        return found.start() + 1 if text[found.start()] in ".!?;:" else found.start()
    return at  # the sentence runs on past the page (or far): not into its footer


def _word_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a fuzzy match to whole words."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


def _join_hyphenation(text: str) -> str:
    return re.sub(r"(?<=[a-z])[-\u00ad] (?=[a-z])", "", text)


def stem(word: str) -> str:
    """A crude stem for comparing wordings: "terminates"/"termination" -> "termin"."""
    word = word.lower().replace("’", "'")
    word = re.sub(r"'s$", "", word)
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:6]


def _stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


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


_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    text = " ".join(text.split())
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


@dataclass(frozen=True)
class Sentence:
    text: str
    page: int


def page_sentences(document: Document, first_page: int, last_page: int) -> list[Sentence]:
    """Sentences of pages first..last (a sentence running over a page break counts on the page
    where it starts), long enough to be worth quoting."""
    out: list[Sentence] = []
    for page in document.pages:
        if first_page <= page.number <= last_page:
            for paragraph in re.split(r"\n\s*\n", page.text):
                joined = _join_hyphenation(" ".join(paragraph.split()))
                for sentence in split_sentences(joined):
                    words = sentence.split()
                    if 6 <= len(words) <= 150 and sum(c.isalpha() for c in sentence) > 20:
                        out.append(Sentence(sentence, page.number))
    return out


def rank_sentences(sentences: list[Sentence]) -> list[int]:
    """Indices of `sentences`, most central first (TextRank: PageRank over word-overlap
    similarity, as in Mihalcea and Tarau 2004)."""
    bags = [_stems(s.text) for s in sentences]
    n = len(sentences)
    if n == 0:
        return []
    weights: list[list[float]] = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            common = len(bags[i] & bags[j])
            if common and len(bags[i]) > 1 and len(bags[j]) > 1:
                w = common / (math.log(len(bags[i])) + math.log(len(bags[j])))
                weights[i][j] = weights[j][i] = w
    totals = [sum(row) for row in weights]
    links = [[(j, weights[j][i] / totals[j]) for j in range(n) if weights[j][i]]
             for i in range(n)]
    rank = [1.0 / n] * n
    for _ in range(30):
        rank = [0.15 / n + 0.85 * sum(rank[j] * w for j, w in links[i]) for i in range(n)]
    return sorted(range(n), key=lambda i: (-rank[i], i))


def central_sentences(sentences: list[Sentence], k: int,
                      exclude: Iterable[str] = ()) -> list[Sentence]:
    """The k most central sentences, in document order; sentences too similar to `exclude`
    (or to one already taken) are skipped."""
    if not sentences or k <= 0:
        return []
    bags = [_stems(s.text) for s in sentences]
    taken = [_stems(text) for text in exclude]
    chosen: list[int] = []
    for i in rank_sentences(sentences):
        if any(_overlap(bags[i], other) > 0.6 for other in taken):
            continue
        chosen.append(i)
        taken.append(bags[i])
        if len(chosen) == k:
            break
    return [sentences[i] for i in sorted(chosen)]


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


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
        from lexbrief.core.citations import format_citation

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
