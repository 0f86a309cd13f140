"""Grounding: quotes found on real pages (tolerant of PDF text quirks), paraphrases and prose
checked against the document, the notes format, and the extractive fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexbrief.read import load_document
from lexbrief.read.document import Document, Page
from lexbrief.summarize.grounding import check_point, check_sentence, ground_notes
from lexbrief.summarize.notes import NOTES_GRAMMAR, NOTES_PREFILL, parse_notes
from lexbrief.summarize.ranking import central_sentences, page_sentences
from lexbrief.summarize.source_text import SourceText, normalize, normalize_with_map

from conftest import DOCUMENTS


def _doc(*pages: str) -> Document:
    return Document(path=Path("t.pdf"), kind="pdf", sha256="0", size=1,
                    pages=[Page(i, text) for i, text in enumerate(pages, 1)])


@pytest.fixture(scope="module")
def opinion() -> Document:
    return load_document(DOCUMENTS / "court-opinion-ca1.pdf")


# -- normalization ------------------------------------------------------------------------------

def test_normalization_folds_what_pdf_text_varies_in() -> None:
    assert normalize("The Licensee’s “Of\ufb01ce” — 30 days") == \
        "the licensee's \"office\" - 30 days"
    assert normalize("an agree-\nment  between\n\nthem") == "an agreement between them"
    assert normalize("well-known terms") == "well-known terms"  # a real hyphen stays
    assert normalize("co\u00adoperate") == "cooperate"  # soft hyphen


def test_normalization_maps_back_to_the_original_offsets() -> None:
    text = "Re: the agree-\nment, signed"
    folded, where = normalize_with_map(text)
    start = folded.index("agreement")
    assert text[where[start]:where[start + len("agreement") - 1] + 1] == "agree-\nment"


# -- the quote matcher ----------------------------------------------------------------------

def test_a_quote_with_curly_quotes_ligatures_and_hyphenation_is_found_on_its_page() -> None:
    doc = _doc("Nothing here but a preamble about nothing.",
               "The Licensee shall pay the “Annual Fee” of $5,000 within thirty (30)\n"
               "days of the Effective Date, and the ﬁrst pay-\nment is due on signing.")
    source = SourceText(doc)
    match = source.find('the licensee shall pay the "annual fee" of $5,000 within thirty (30) '
                        "days of the effective date, and the first payment is due", 1, 2)
    assert match is not None and match.pages == (2,) and match.score == 100.0
    span = match.spans[0]
    assert doc.page(2).text[span.start:span.end].startswith("The Licensee shall pay")
    # what is shown is the page's own words (the whole sentence), not the model's copy
    assert match.text.startswith("The Licensee shall pay the “Annual Fee”")
    assert match.text.endswith("is due on signing.")


def test_a_slightly_miscopied_quote_still_matches_but_a_paraphrase_does_not(
        opinion: Document) -> None:
    source = SourceText(opinion)
    sentence = ("The Chapel contends that the district court's decision to deny it a temporary "
                "restraining order functionally precluded any possibility of a preliminary "
                "injunction.")
    assert source.find(sentence, 9, 9) is not None
    miscopied = sentence.replace("functionally", "functionaly").replace(",", "")
    found = source.find(miscopied, 8, 10)
    assert found is not None and found.pages == (9,) and 90 <= found.score < 100
    paraphrase = "The church argues that being refused a TRO ruled out any preliminary injunction."
    assert source.find(paraphrase, 1, opinion.page_count) is None


def test_a_quote_running_over_a_page_break_cites_both_pages() -> None:
    doc = _doc("Some words first. The supplier shall deliver all goods to the buyer",
               "at its warehouse in Boston no later than March 1, 2021. Other text.")
    match = SourceText(doc).find("deliver all goods to the buyer at its warehouse in Boston",
                                 1, 2)
    assert match is not None and match.pages == (1, 2)
    assert match.spans[1].start == 0
    assert match.text.endswith("no later than March 1, 2021.")


def test_a_quote_from_outside_the_excerpt_is_not_found_there(opinion: Document) -> None:
    source = SourceText(opinion)
    sentence = ("The Chapel contends that the district court's decision to deny it a temporary "
                "restraining order functionally precluded any possibility")
    assert source.find(sentence, 1, 3) is None
    assert source.find(sentence) is not None  # it is in the document, on page 9


def test_too_short_quotes_prove_nothing(opinion: Document) -> None:
    source = SourceText(opinion)
    assert source.find("the court", 1, 17) is None
    assert source.find("No. 20-1507", 1, 1) is None
    assert source.find("No. 20-1507", 1, 1, short=True) is not None


# -- points and sentences ------------------------------------------------------------------------

def test_a_paraphrase_stands_only_with_its_facts_and_most_of_its_words_in_the_quote() -> None:
    quote = ("The Licensee shall pay an annual fee of $5,000 within thirty (30) days of the "
             "Effective Date.")
    assert check_point("The licensee pays an annual fee of $5,000 within 30 days.",
                       quote).paraphrase_ok
    wrong_amount = check_point("The licensee pays an annual fee of $50,000.", quote)
    assert not wrong_amount.paraphrase_ok and "$50,000" in wrong_amount.missing_facts
    new_party = check_point("Acme Corp pays the annual fee of $5,000.", quote)
    assert not new_party.paraphrase_ok and "Acme Corp" in new_party.missing_facts
    assert not check_point("The agreement is governed by Ohio law and may be assigned.",
                           quote).paraphrase_ok
    assert not check_point("Page 1.", quote).paraphrase_ok  # says nothing checkable


def test_overview_sentences_are_kept_marked_or_removed(opinion: Document) -> None:
    source = SourceText(opinion)
    kept = check_sentence("The Chapel appealed the denial of a temporary restraining order.",
                          source)
    assert kept.status == "kept"
    # the starter model's actual invention on this opinion
    invented_section = check_sentence(
        "The court applied section 304(a)(1) to the church.", source)
    assert invented_section.status == "removed"
    assert "section 304(a)(1)" in invented_section.missing_facts
    invented_date = check_sentence("The order was issued on 5 May 2019.", source)
    assert invented_date.status == "removed"
    hospital = check_sentence("The denial was a significant setback for the hospital.", source)
    assert hospital.status in {"marked", "removed"} and "hospital" in hospital.unknown_words
    story = check_sentence("Zebras galloped past unicorn lighthouses.", source)
    assert story.status == "removed"
    unfinished = check_sentence("The Chapel appealed the", source)
    assert unfinished.status == "removed"


def test_an_overview_sentence_cites_the_key_point_that_backs_it(opinion: Document) -> None:
    source = SourceText(opinion)
    real = ("The Chapel contends that the district court's decision to deny it a temporary "
            "restraining order functionally precluded any possibility of a preliminary "
            "injunction.")
    points = ground_notes([("The Chapel says the denial precluded a preliminary injunction.",
                            real)], source, 9, 9, opinion).points
    backed = check_sentence("The Chapel argues the denial of a temporary restraining order "
                            "precluded a preliminary injunction.", source, points)
    assert backed.status == "kept" and backed.pages == (9,) and backed.backing >= 0.5
    unbacked = check_sentence("The governor limited gatherings in churches.", source, points)
    assert unbacked.status == "marked" and unbacked.reason == "no quoted key point backs it"


# -- notes ---------------------------------------------------------------------------------------

def test_notes_parse_complete_notes_and_survive_a_cut_reply() -> None:
    reply = NOTES_PREFILL + ('The term is five years.", "point": "Five-year term."},\n'
                             '{"quote": "Rent is due monthly.", "point": "Monthly rent."},\n'
                             '{"quote": "The tenant may not sub')
    assert parse_notes(reply) == [("Five-year term.", "The term is five years."),
                                  ("Monthly rent.", "Rent is due monthly.")]
    assert parse_notes('[{"quote": "A \\"b\\" c.", "point": "p"}]') == [("p", 'A "b" c.')]
    assert parse_notes("no json at all") == []


def test_the_notes_grammar_bounds_its_strings() -> None:
    assert "root ::=" in NOTES_GRAMMAR and "chr{20,300}" in NOTES_GRAMMAR
    assert "chr{8,200}" in NOTES_GRAMMAR


def test_ground_notes_sorts_real_rejected_and_rescued_notes(opinion: Document) -> None:
    source = SourceText(opinion)
    real = ("The Chapel contends that the district court's decision to deny it a temporary "
            "restraining order functionally precluded any possibility of a preliminary "
            "injunction.")
    notes = [
        ("The Chapel says denying the restraining order precluded a preliminary injunction.",
         real),
        ("The hospital was closed.", "The hospital was closed by order of the governor."),
        # a true paraphrase with a wrong quote: rescued by the excerpt's best sentence
        ("The Chapel contends the denial of a temporary restraining order precluded any "
         "preliminary injunction.", "For ease in exposition we refer to this quartet."),
        ("The Chapel won damages of $1,000,000.", real),
    ]
    result = ground_notes(notes, source, 8, 10, opinion)
    origins = [(p.origin, p.pages) for p in result.points]
    assert origins == [("model", (9,)), ("model", (9,)), ("quote", (9,))]
    assert result.points[2].text == result.points[2].quote  # the quote alone, not the $1M
    reasons = [r.reason for r in result.rejected]
    assert reasons[0] == "quote not found in the document"
    assert reasons[1].startswith("paraphrase not shown: names or figures not in its quote")


# -- extractive fallback -------------------------------------------------------------------------

def test_central_sentences_are_real_sentences_in_document_order(opinion: Document) -> None:
    sentences = page_sentences(opinion, 1, opinion.page_count)
    chosen = central_sentences(sentences, 4)
    assert len(chosen) == 4
    pages = [s.page for s in chosen]
    assert pages == sorted(pages)
    source = SourceText(opinion)
    for sentence in chosen:
        match = source.find(sentence.text, sentence.page, sentence.page + 1)
        assert match is not None and sentence.page in match.pages
    again = central_sentences(sentences, 4, exclude=[chosen[0].text])
    assert chosen[0] not in again
