"""TextRank over a document's sentences: the extractive fallback when a model gives too few
verified notes, and a baseline for `lexbrief eval` (Mihalcea and Tarau 2004)."""


from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from lexbrief.read.document import Document
from lexbrief.summarize.source_text import _join_hyphenation, _stems

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


