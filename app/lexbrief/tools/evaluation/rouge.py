"""ROUGE-1, ROUGE-2 and ROUGE-L (Lin, 2004), written out so the numbers are easy to audit.

Tokens follow the reference implementation's default (Google's `rouge-score`, no stemming):
lower-case, every run of characters other than a-z and 0-9 is a separator. ROUGE-L is the
sentence-level variant on the whole text (one longest common subsequence), not ROUGE-Lsum.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float

    @classmethod
    def of(cls, overlap: int, candidate_total: int, reference_total: int) -> Score:
        precision = overlap / candidate_total if candidate_total else 0.0
        recall = overlap / reference_total if reference_total else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1)

    def as_dict(self) -> dict[str, float]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4)}


def tokenize(text: str) -> list[str]:
    return [t for t in _SEPARATORS.sub(" ", text.lower()).split() if t]


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(candidate: str, reference: str, n: int) -> Score:
    cand, ref = _ngrams(tokenize(candidate), n), _ngrams(tokenize(reference), n)
    overlap = sum((cand & ref).values())
    return Score.of(overlap, sum(cand.values()), sum(ref.values()))


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, two rows)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> Score:
    cand, ref = tokenize(candidate), tokenize(reference)
    return Score.of(lcs_length(cand, ref), len(cand), len(ref))


def rouge(candidate: str, reference: str) -> dict[str, Score]:
    return {"rouge1": rouge_n(candidate, reference, 1), "rouge2": rouge_n(candidate, reference, 2),
            "rougeL": rouge_l(candidate, reference)}
