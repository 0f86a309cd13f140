"""Citation validity: does the page a key point cites hold text that supports the point?

Support is measured as LexBrief measures it when it checks its own output
(`lexbrief.summarize.citations`): the share of the point's content words found on the cited pages;
a citation is valid at `VERIFIED_SUPPORT` (0.5) or more.
"""

from __future__ import annotations

from dataclasses import dataclass

from lexbrief.summarize.citations import (
    VERIFIED_SUPPORT,
    PageIndex,
    content_words,
    parse_pages,
    strip_citations,
)


@dataclass(frozen=True)
class CitationValidity:
    points: int  # key points examined
    cited: int  # points citing at least one page
    valid: int  # cited points whose pages exist and support them
    out_of_range: int  # cited points naming a page the document does not have

    @property
    def valid_share(self) -> float | None:
        """Valid citations among the points that cite (None when nothing is cited)."""
        return self.valid / self.cited if self.cited else None

    @property
    def cited_share(self) -> float | None:
        return self.cited / self.points if self.points else None

    def as_dict(self) -> dict[str, object]:
        share = self.valid_share
        cited = self.cited_share
        return {"points": self.points, "cited": self.cited, "valid": self.valid,
                "out_of_range": self.out_of_range,
                "valid_share": None if share is None else round(share, 4),
                "cited_share": None if cited is None else round(cited, 4)}


def check_cited_points(points: list[tuple[str, list[int]]], index: PageIndex) -> CitationValidity:
    """Each point is (text without citations, pages it cites)."""
    cited = valid = out_of_range = 0
    for text, pages in points:
        if not pages:
            continue
        cited += 1
        if any(not 1 <= p <= index.page_count for p in pages):
            out_of_range += 1
            continue
        if index.support(content_words(text), pages) >= VERIFIED_SUPPORT:
            valid += 1
    return CitationValidity(len(points), cited, valid, out_of_range)


def check_raw_points(raw_points: list[str], index: PageIndex) -> CitationValidity:
    """Points as the model wrote them, citations inline: "The fee is $5 [p. 2]"."""
    return check_cited_points([(strip_citations(p), parse_pages(p)) for p in raw_points], index)
