"""Citations: parsed in the forms models write them, checked against the page text, repaired."""

from __future__ import annotations

from pathlib import Path

from lexbrief.read.document import Document, Page
from lexbrief.summarize.citations import (
    PageIndex,
    format_citation,
    parse_pages,
    strip_citations,
    verify_point,
)


def _doc() -> Document:
    pages = [
        "The parties are Acme Corporation and Beta Limited, who sign this supply agreement.",
        "Acme shall deliver 500 widgets each month at a price of $12 per widget.",
        "Either party may terminate on 90 days written notice. Delaware law governs.",
    ]
    return Document(path=Path("c.pdf"), kind="pdf", pages=[Page(i + 1, t) for i, t in
                                                           enumerate(pages)], sha256="0", size=1)


def test_parse_forms() -> None:
    assert parse_pages("x [p. 4]") == [4]
    assert parse_pages("x [pp. 2-4]") == [2, 3, 4]
    assert parse_pages("x (p. 3, 5)") == [3, 5]
    assert parse_pages("x [page 7] and [p.8]") == [7, 8]
    assert parse_pages("x [pp. 6, 8]") == [6, 8]
    assert parse_pages("no citation [1]") == []


def test_strip_and_format() -> None:
    assert strip_citations("Acme pays $12 [p. 2].") == "Acme pays $12"
    assert format_citation([3]) == "[p. 3]"
    assert format_citation([4, 2, 2]) == "[pp. 2, 4]"


def test_correct_citation_is_kept_and_verified() -> None:
    point = verify_point("Acme shall deliver 500 widgets at $12 each [p. 2]", PageIndex(_doc()))
    assert point.pages == (2,) and point.model_cited and point.verified


def test_wrong_or_impossible_page_is_repaired() -> None:
    index = PageIndex(_doc())
    wrong = verify_point("Either party may terminate on 90 days notice [p. 1]", index)
    assert wrong.pages == (3,) and not wrong.model_cited and wrong.verified
    impossible = verify_point("Delaware law governs the agreement [p. 40]", index)
    assert impossible.pages == (3,)
    missing = verify_point("Acme Corporation and Beta Limited are the parties", index)
    assert missing.pages == (1,)


def test_unsupported_point_is_cited_but_not_verified() -> None:
    point = verify_point("The moon is made of green cheese [p. 2]", PageIndex(_doc()))
    assert 1 <= point.pages[0] <= 3
    assert not point.verified
    assert point.as_dict()["verified"] is False
