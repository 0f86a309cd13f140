"""Chunking: budgets respected with the model's own tokenizer, page ranges kept, nothing lost."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from lexbrief.read import load_document
from lexbrief.read.document import Document, Page
from lexbrief.summarize.chunking import chunk_document, split_paragraphs, verify_coverage

from conftest import DOCUMENTS
from fake_engine import FakeEngine


def _doc(*pages: str) -> Document:
    return Document(path=Path("t.txt"), kind="txt", pages=[Page(i + 1, t) for i, t in
                                                           enumerate(pages)], sha256="0", size=1)


def test_pdf_lines_become_paragraphs() -> None:
    text = ("The appellant filed a motion for an injunction pending appeal, which the\n"
            "district court denied.\n"
            "II. DISCUSSION\n"
            "(a) The first factor weighs against the appellant because it has not\n"
            "shown a likelihood of success.")
    paragraphs = split_paragraphs(text)
    assert paragraphs[0].startswith("The appellant") and paragraphs[0].endswith("denied.")
    assert "II. DISCUSSION" in paragraphs
    assert paragraphs[-1].startswith("(a) The first factor")


def test_budget_pages_and_full_coverage_with_fake_tokenizer() -> None:
    engine = FakeEngine()
    pages = [" ".join(f"Sentence {p}-{i} says the party must pay." for i in range(30))
             for p in range(1, 8)]
    doc = _doc(*pages)
    chunks = chunk_document(doc, engine.count_tokens, engine.split_by_tokens, 300)
    assert len(chunks) > 3
    for chunk in chunks:
        assert engine.count_tokens(chunk.text) <= 300
        assert chunk.text.startswith(f"[p. {chunk.first_page}]")
        assert chunk.first_page <= chunk.last_page
    assert chunks[0].first_page == 1 and chunks[-1].last_page == 7
    coverage = verify_coverage(doc, chunks, engine.count_tokens)
    assert coverage.tokens_dropped == 0
    assert coverage.pages_read == coverage.pages_total == 7
    assert coverage.tokens_read == sum(c.tokens for c in chunks) > 0


def test_a_paragraph_longer_than_a_chunk_is_split_without_loss() -> None:
    engine = FakeEngine()
    huge = "word " * 2000  # no sentence ends at all: cut at token boundaries
    doc = _doc("Intro paragraph here.\n\n" + huge)
    chunks = chunk_document(doc, engine.count_tokens, engine.split_by_tokens, 200)
    assert len(chunks) >= 10
    assert all(engine.count_tokens(c.text) <= 200 for c in chunks)
    assert verify_coverage(doc, chunks, engine.count_tokens).tokens_dropped == 0


def test_section_headings_start_new_chunks_when_well_filled() -> None:
    engine = FakeEngine()
    body = " ".join("The tenant shall keep the premises in good repair." for _ in range(14))
    doc = _doc(f"{body}\n\nARTICLE 2 RENT\n\n{body}")
    chunks = chunk_document(doc, engine.count_tokens, engine.split_by_tokens, 260)
    assert any(c.units[0].text == "ARTICLE 2 RENT" for c in chunks)


def test_lost_text_is_detected_not_hidden() -> None:
    engine = FakeEngine()
    doc = _doc("Alpha beta gamma delta.", "Epsilon zeta eta theta.")
    chunks = chunk_document(doc, engine.count_tokens, engine.split_by_tokens, 100)
    truncated = _doc("Alpha beta gamma delta.", "Epsilon zeta eta theta. And a lost tail here.")
    assert verify_coverage(truncated, chunks, engine.count_tokens).tokens_dropped > 0


def test_tiny_budget_is_refused() -> None:
    engine = FakeEngine()
    with pytest.raises(ValueError, match="too small"):
        chunk_document(_doc("x y z"), engine.count_tokens, engine.split_by_tokens, 10)


@pytest.mark.model
def test_real_tokenizer_on_a_17_page_opinion(llama_engine: object) -> None:
    engine = llama_engine
    doc = load_document(DOCUMENTS / "court-opinion-ca1.pdf")
    chunks = chunk_document(doc, engine.count_tokens, engine.split_by_tokens,  # type: ignore[attr-defined]
                            1024)
    assert len(chunks) >= 6
    for chunk in chunks:
        assert engine.count_tokens(chunk.text) <= 1024  # type: ignore[attr-defined]
    coverage = verify_coverage(doc, chunks, engine.count_tokens)  # type: ignore[attr-defined]
    assert coverage.tokens_dropped == 0 and coverage.pages_read == 17
    # consecutive chunks continue where the previous one stopped
    for before, after in itertools.pairwise(chunks):
        assert after.first_page in (before.last_page, before.last_page + 1)
