"""Page citations: parse them from model output, check them against the pages, repair them.

A small model cites badly: pages that do not exist, or none at all. Every key point that leaves
LexBrief cites real pages of the input, chosen by what the cited page actually says: a citation
is "verified" when most of the point's content words occur on that page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lexbrief.read.document import Document

CITATION = re.compile(
    r"[\[(]\s*(?:pp?|pages?|pg)\.?\s*(\d+(?:\s*(?:[-–,]|and)\s*\d+)*)\s*[\])]", re.IGNORECASE
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]{2,}|\d[\d,.$%/-]*\d|\d")
_STOP = frozenset({
    "the", "and", "for", "that", "with", "this", "from", "are", "was",
    "were", "has", "have", "had", "not", "but", "its", "any", "all",
    "can", "may", "shall", "will", "would", "which", "who", "whom", "whose",
    "what", "when", "where", "there", "their", "them", "they", "his", "her",
    "she", "him", "our", "out", "into", "onto", "under", "over", "than",
    "then", "such", "also", "each", "other", "only", "upon", "said", "same",
    "these", "those", "being", "been", "does", "did", "done", "made", "make",
    "more", "most", "must", "should", "could", "about", "after", "before", "between",
    "within", "without", "page", "pages", "document", "excerpt", "key", "points", "point",
    "overview", "notes",
})
VERIFIED_SUPPORT = 0.5


def content_words(text: str) -> set[str]:
    return {
        w.lower().strip(".,").replace("’", "'")
        for w in _WORD.findall(text)
        if w.lower() not in _STOP
    }


def parse_pages(text: str) -> list[int]:
    pages: list[int] = []
    for match in CITATION.finditer(text):
        spec = match.group(1)
        for part in re.split(r"\s*(?:,|and)\s*", spec):
            if re.search(r"[-–]", part):
                start, end = (int(x) for x in re.split(r"\s*[-–]\s*", part)[:2])
                if 0 < end - start < 20:
                    pages.extend(range(start, end + 1))
                    continue
                pages.extend((start, end))
            elif part.strip().isdigit():
                pages.append(int(part))
    return list(dict.fromkeys(pages))


def strip_citations(text: str) -> str:
    return re.sub(r"\s{2,}", " ", CITATION.sub("", text)).strip(" .;,") + ""


def format_citation(pages: list[int]) -> str:
    pages = sorted(set(pages))
    if not pages:
        return ""
    if len(pages) == 1:
        return f"[p. {pages[0]}]"
    return f"[pp. {', '.join(str(p) for p in pages)}]"


@dataclass(frozen=True)
class KeyPoint:
    text: str  # without citations
    pages: tuple[int, ...]
    support: float  # share of the point's content words found on its cited pages
    model_cited: bool  # the model's own citation survived the check

    @property
    def verified(self) -> bool:
        return self.support >= VERIFIED_SUPPORT

    def render(self) -> str:
        return f"{self.text} {format_citation(list(self.pages))}"

    def as_dict(self) -> dict[str, object]:
        return {"point": self.text, "pages": list(self.pages), "support": round(self.support, 3),
                "verified": self.verified, "model_cited": self.model_cited}


class PageIndex:
    """Content words per page, to score how well a page supports a statement."""

    def __init__(self, document: Document) -> None:
        self.page_count = document.page_count
        self._words = {page.number: content_words(page.text) for page in document.pages}

    def support(self, words: set[str], pages: list[int]) -> float:
        if not words:
            return 0.0
        found: set[str] = set()
        for page in pages:
            found |= words & self._words.get(page, set())
        return len(found) / len(words)

    def best_pages(self, words: set[str], candidates: list[int] | None = None) -> list[int]:
        pool = candidates or list(self._words)
        scored = sorted(pool, key=lambda p: (-len(words & self._words.get(p, set())), p))
        if not scored:
            return []
        best = scored[0]
        chosen = [best]
        # A point drawn from two pages: add the second page if it brings words the first lacks.
        if len(scored) > 1:
            rest = words - self._words.get(best, set())
            second = max(scored[1:], key=lambda p: (len(rest & self._words.get(p, set())), -p))
            if rest and len(rest & self._words.get(second, set())) >= max(2, len(rest) // 2):
                chosen.append(second)
        return sorted(chosen)


def verify_point(raw: str, index: PageIndex, hint_pages: list[int] | None = None) -> KeyPoint:
    """Keep the model's citation when the page supports the point; otherwise cite the page that
    does (searching the hinted pages first, then the whole document)."""
    cited = [p for p in parse_pages(raw) if 1 <= p <= index.page_count]
    text = strip_citations(raw)
    words = content_words(text)
    if cited and index.support(words, cited) >= VERIFIED_SUPPORT:
        return KeyPoint(text, tuple(cited), index.support(words, cited), True)
    best = index.best_pages(words, hint_pages) if hint_pages else []
    if not best or index.support(words, best) < VERIFIED_SUPPORT:
        best = index.best_pages(words)
    if cited and index.support(words, cited) >= index.support(words, best):
        best = cited
    return KeyPoint(text, tuple(best), index.support(words, best), best == cited)
