"""Legal abstracts: each field extractor on real corpus text, every value backed by a quote that
stands on the page it cites, "not found" rather than a guess, and CUAD scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lexbrief.read import load_document
from lexbrief.read.document import Document
from lexbrief.summarize.abstract import extract_abstract
from lexbrief.summarize.source_text import SourceText, normalize
from lexbrief.tools.evaluation.fields import evaluate_fields, fields_table
from lexbrief.tools.evaluation.strategies import reference_document

from conftest import DOCUMENTS, FIXTURES

CUAD = FIXTURES / "cuad"


def _abstract(path: Path, kind: str) -> tuple[Document, dict[str, object]]:
    document = load_document(path)
    abstract = extract_abstract(kind, document, SourceText(document))
    _assert_quotes_on_their_pages(document, abstract)
    return document, {f.name: f.value for f in abstract.fields}


def _assert_quotes_on_their_pages(document: Document, abstract: object) -> None:
    for field in abstract.fields:  # type: ignore[attr-defined]
        if field.value is None:
            assert field.quote is None and not field.spans
            continue
        assert field.spans, field.name
        on_pages = " ".join(document.page(s.page).text[s.start:s.end] for s in field.spans)
        assert normalize(field.quote) == normalize(on_pages), field.name
        if field.name not in {"parties", "case_name"}:  # composed from the quote's parts
            assert normalize(field.value) in normalize(field.quote), field.name


def test_court_opinion_fields() -> None:
    _doc, fields = _abstract(DOCUMENTS / "court-opinion-ca1.pdf", "court_opinion")
    assert fields["court"] == "United States Court of Appeals For the First Circuit"
    assert fields["case_name"] == "CALVARY CHAPEL OF BANGOR v. JANET T. MILLS"
    assert fields["docket_number"] == "No. 20-1507"
    assert fields["decision_date"] == "12/22/2020"
    assert fields["judges"] == "Howard, Chief Judge, Selya and Barron, Circuit Judges"
    assert "dismissed without prejudice for lack of appellate jurisdiction" in str(
        fields["disposition"])
    assert fields["question_presented"] is None  # the opinion never states one: not a guess


def test_procedural_order_fields() -> None:
    _doc, fields = _abstract(DOCUMENTS / "court-order-ca7.pdf", "notice")
    assert fields["issued_by"] == "United States Court of Appeals For the Seventh Circuit"
    assert fields["case_number"] == "No. 17-2400"
    assert fields["date"] == "July 13, 2017"
    assert fields["deadline"] == "July 21, 2017"
    assert "ORDERS the parties to this appeal to file a Statement" in str(fields["requirement"])


@pytest.mark.parametrize(("file", "expected"), [
    ("01_service_gpaq.pdf", {
        "document_name": "SPONSORSHIP AND SERVICES AGREEMENT",
        "agreement_date": "19th day of December, 2018", "governing_law": "State of Ohio",
        "effective_date": None, "renewal": None}),
    ("05_license_gopage.pdf", {
        "document_name": "WEBSITE CONTENT LICENSE AGREEMENT", "agreement_date": "Feb 10, 2014",
        "effective_date": "Feb 10, 2014", "governing_law": "State of Nevada",
        "payment": "US$200,000"}),
    ("04_service_integrity.pdf", {
        "document_name": "DISTRIBUTION AND SERVICES AGREEMENT",
        "agreement_date": "January 18, 2020"}),
])
def test_contract_fields_on_cuad_contracts(file: str, expected: dict[str, object]) -> None:
    _doc, fields = _abstract(CUAD / file, "contract")
    for name, value in expected.items():
        assert fields[name] == value, name


def test_contract_parties_name_both_sides() -> None:
    _doc, fields = _abstract(CUAD / "01_service_gpaq.pdf", "contract")
    parties = str(fields["parties"])
    assert "HOF Village, LLC" in parties and "Constellation NewEnergy, Inc." in parties


def test_statute_fields_on_a_real_bill() -> None:
    rows = [json.loads(line) for line in
            (FIXTURES / "reference" / "us-bills-crs-2.jsonl").read_text().splitlines()]
    first = reference_document(rows[0]["id"], rows[0]["text"])
    abstract = extract_abstract("legislation", first, SourceText(first))
    _assert_quotes_on_their_pages(first, abstract)
    effective = abstract.get("effective_date")
    assert effective is not None and effective.value == (
        "on or after the 15th day after the date of the enactment of this Act")
    second = reference_document(rows[1]["id"], rows[1]["text"])
    title = extract_abstract("legislation", second, SourceText(second)).get("title")
    assert title is not None
    assert title.value == "Microenterprise and Youth Entrepreneurship Development Act of 2011"


def test_general_documents_have_no_abstract_and_markdown_says_not_found() -> None:
    document = load_document(DOCUMENTS / "court-order-ca7.pdf")
    source = SourceText(document)
    assert extract_abstract("general", document, source).fields == ()
    table = extract_abstract("court_opinion", document, source).markdown()
    assert table[0] == "## Abstract"
    assert any("| Holding | not found |" in row for row in table)


def test_cuad_scoring_counts_hits_misses_and_false_positives() -> None:
    result = evaluate_fields(CUAD)
    fields = result["fields"]
    assert fields["all"]["contracts"] == 3
    assert fields["all"]["false_positive"] == 0
    assert fields["all"]["precision"] == 1.0
    # each contract's name, parties and agreement date are labelled and found
    for name in ("document_name", "parties", "agreement_date"):
        assert fields[name]["correct"] == fields[name]["labelled"] == 3
    # gpaq's term is labelled ("shall expire on December 31, 2028") and found
    row = next(r for r in result["rows"]
               if r["file"] == "01_service_gpaq.pdf" and r["field"] == "expiration")
    assert row["correct"] and row["value"] == "December 31, 2028" and row["page_ok"]
    assert fields_table(result).splitlines()[-1].split()[:4] == ["all", "19", "19", "19"]


def _contract(pages: list[str]) -> Document:
    from lexbrief.read.document import Page

    return Document(path=Path("agreement.txt"), kind="txt",
                    pages=[Page(i, text) for i, text in enumerate(pages, 1)], sha256="0" * 64,
                    size=sum(map(len, pages)))


def test_a_blank_date_in_a_template_is_shown_as_blank_not_guessed() -> None:
    document = _contract([
        "TRADEMARK LICENSE AGREEMENT\n\nThis TRADEMARK LICENSE AGREEMENT (the “Agreement”) is "
        "effective as of the [·] day of [·], 2019 (“Effective Date”) between Alpha LLC and "
        "Beta Inc. The parties agree as follows.",
        "TRANSITION SERVICES AGREEMENT (the “Services Agreement”) dated as of [•], 2020, "
        "between Gamma Holdings Inc. and Delta Corp."])
    abstract = extract_abstract("contract", document, SourceText(document))
    _assert_quotes_on_their_pages(document, abstract)
    values = {f.name: f.value for f in abstract.fields}
    assert values["effective_date"] == "[·] day of [·], 2019"
    assert values["agreement_date"] == "[•], 2020"


def test_an_agreement_after_cover_pages_still_gives_its_date() -> None:
    cover = "Source: EXAMPLE INC., 10-K, 5/5/2017. THIS EXHIBIT HAS BEEN REDACTED. " * 3
    document = _contract([cover, cover, cover,
                          "THIS AGREEMENT (this “Agreement”), dated December 30, 2016 (the "
                          "“Effective Date”), is BETWEEN Alpha Inc. AND Beta AG.",
                          *["The Supplier shall deliver the goods on time."] * 8])
    abstract = extract_abstract("contract", document, SourceText(document))
    effective = abstract.get("effective_date")
    assert effective is not None and effective.value == "December 30, 2016"
    assert effective.page == 4
