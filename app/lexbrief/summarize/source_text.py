"""The document's text normalized for matching, with a map back to every character's page.

`SourceText` normalizes case, runs of whitespace, curly quotes, dashes, ligatures and words
hyphenated at a line end, and remembers where each normalized character came from, so a quote
found here gives its page and the exact words to highlight. `SourceText.find` looks a quote up
inside an excerpt's pages: an exact search, then rapidfuzz's partial alignment (a dropped comma
or one changed word still matches; a paraphrase does not).
"""


from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz

from lexbrief.read.document import Document
from lexbrief.summarize.citations import CITATION, content_words
from lexbrief.summarize.facts import SourceIndex

QUOTE_SCORE = 90.0  # rapidfuzz partial alignment score a quote must reach (0-100)
MIN_QUOTE_CHARS = 20
MIN_QUOTE_WORDS = 4

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


