"""End to end with the real SmolLM2-135M model in llama.cpp, on real legal documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lexbrief.cancel import CancelToken
from lexbrief.errors import Cancelled
from lexbrief.read import load_document
from lexbrief.service import Summarizer
from lexbrief.store import Store
from lexbrief.summarize.grounding import check_point, check_sentence
from lexbrief.summarize.pipeline import Observer, PipelineSettings, Progress
from lexbrief.summarize.source_text import SourceText, normalize

from conftest import DOCUMENTS, MALFORMED
from test_cli import lexbrief

pytestmark = pytest.mark.model


def _summarizer(engine: object, **settings: int) -> Summarizer:
    return Summarizer(Store(), engine_factory=lambda model: engine,  # type: ignore[arg-type,return-value]
                      pipeline_settings=PipelineSettings(**settings) if settings else None)


def test_cli_json_summary_of_a_court_order_is_stored_and_searchable(tmp_path: Path) -> None:
    result = lexbrief("summarize", str(DOCUMENTS / "court-order-ca7.pdf"), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["document"]["name"] == "court-order-ca7.pdf"
    assert record["document"]["pages"] == 1 and len(record["document"]["sha256"]) == 64
    assert record["coverage"] == {"pages_read": 1, "pages_total": 1, "pages_blank": 0,
                                  "tokens_read": record["coverage"]["tokens_read"],
                                  "tokens_dropped": 0, "chunks": 1}
    assert record["coverage"]["tokens_read"] > 100
    assert record["usage"]["prompt_tokens"] > record["coverage"]["tokens_read"]
    assert record["usage"]["completion_tokens"] > 0 and record["usage"]["seconds"] > 0
    assert record["model"]["name"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert len(record["model"]["sha256"]) == 64
    # a one-page order to file a statement: described as a procedural document, not asked for
    # the holding it does not have
    assert record["template"] == "notice"
    assert record["kind_note"].startswith("Read as a notice or procedural order")
    assert "## Overview" in record["summary"] and record["key_points"]
    assert set(record["citations"]) == {1}
    assert "[p. 1]" in record["summary"]
    text = " ".join(load_document(DOCUMENTS / "court-order-ca7.pdf").page(1).text.split())
    for point in record["key_points"]:
        assert point["verified"] and point["pages"] == [1]
        assert point["quote"] in text  # the page's own words
    assert record["abstract"]["case_number"]["value"] == "No. 17-2400"
    deadline = record["abstract"]["deadline"]
    assert deadline["value"] == "July 21, 2017" and deadline["page"] == 1
    assert deadline["quote"] == "The parties’ Statements are due on or before July 21, 2017."
    counts = record["overview_check"]
    assert counts["kept"] + counts["marked"] + counts["removed"] == len(counts["sentences"])

    stored = Store().get(record["id"])
    assert stored.text == record["summary"]
    found = lexbrief("history", "--search", "court-order")
    assert f"#{record['id']}" in found.stdout
    shown = lexbrief("show", str(record["id"]))
    assert shown.returncode == 0 and "court-order-ca7.pdf" in shown.stdout
    for fmt in ("md", "txt", "docx"):
        out = tmp_path / f"brief.{fmt}"
        exported = lexbrief("export", str(record["id"]), "--format", fmt, "--out", str(out))
        assert exported.returncode == 0 and out.stat().st_size > 200
    from docx import Document as Docx

    assert any("Key points" in p.text for p in Docx(str(tmp_path / "brief.docx")).paragraphs)


def test_a_17_page_opinion_is_read_whole_with_real_page_citations(llama_engine: object) -> None:
    summarizer = _summarizer(llama_engine)
    progress: list[Progress] = []

    class Keep(Observer):
        def progress(self, p: Progress) -> None:
            progress.append(p)

    outcome = summarizer.summarize(DOCUMENTS / "court-opinion-ca1.pdf", observer=Keep())
    summary = outcome.summary
    assert summary.chunks > 1
    assert summary.coverage.pages_read == summary.coverage.pages_total == 17
    assert summary.coverage.tokens_dropped == 0
    assert summary.points, summary.notes
    assert all(1 <= page <= 17 for page in summary.cited_pages)
    # faithful by construction: every shown point's quote stands on the page it cites, and a
    # paraphrase is shown only when its quote bears it out
    document = load_document(DOCUMENTS / "court-opinion-ca1.pdf")
    for point in summary.points:
        # the raw page text (normalize joins its line-end hyphenation as the quote does)
        on_pages = " ".join(document.page(s.page).text[s.start:s.end] for s in point.spans)
        assert normalize(point.quote) == normalize(on_pages)
        if point.origin == "model":
            assert check_point(point.text, point.quote).paraphrase_ok
        else:
            assert point.text == point.quote
    # what the overview shows passed the sentence check against the document
    source = SourceText(document)
    for check in summary.overview_checks:
        assert check_sentence(check.sentence, source, summary.points) == check
        if check.status != "removed":
            assert check.sentence in summary.overview
        elif len(check.sentence.split()) >= 4:  # (a cut-off "The" is in every sentence)
            assert check.sentence not in summary.overview
    assert summary.abstract.get("docket_number").value == "No. 20-1507"  # type: ignore[union-attr]
    assert summary.usage.prompt_tokens > summary.coverage.tokens_read
    assert [p.stage for p in progress].count("map") == summary.chunks
    assert progress[-1].stage == "done"
    stored = Store().get(outcome.summary_id)
    assert stored.coverage["pages_read"] == 17 and stored.template == "court_opinion"
    assert stored.prompt_tokens == summary.usage.prompt_tokens
    assert stored.citations == [p.as_dict() for p in summary.points]
    assert stored.grounding["abstract"]["court"]["page"] == 1
    assert len(stored.grounding["rejected"]) == len(summary.rejected)


def test_docx_contract_and_engine_reuse(llama_engine: object) -> None:
    summarizer = _summarizer(llama_engine)
    first = summarizer.summarize(DOCUMENTS / "nda-mutual-bonterms.docx")
    assert first.summary.template.name == "contract"
    assert first.summary.cited_pages == [1]
    # a second document reuses the loaded model; the same document again reuses its row
    second = summarizer.summarize(MALFORMED / "stray-eof-before-header.pdf")
    again = summarizer.summarize(DOCUMENTS / "nda-mutual-bonterms.docx")
    assert summarizer.engine is llama_engine
    assert second.summary.coverage.pages_read == 5
    assert Store().counts() == {"documents": 2, "summaries": 3}
    assert again.summary_id != first.summary_id


def test_many_small_chunks_on_real_model(llama_engine: object) -> None:
    """Small chunks make many map calls on a real model: every one is grounded in its pages."""
    summarizer = _summarizer(llama_engine, max_chunk_tokens=400, map_tokens=160,
                             final_tokens=160)
    stages: list[str] = []

    class Keep(Observer):
        def progress(self, p: Progress) -> None:
            stages.append(p.stage)

    doc = load_document(MALFORMED / "stray-eof-before-header.pdf")
    outcome = summarizer.summarize_document(doc, observer=Keep())
    assert stages.count("map") >= 5
    assert outcome.summary.coverage.tokens_dropped == 0
    assert all(1 <= p <= 5 for p in outcome.summary.cited_pages)
    source = SourceText(doc)
    for point in outcome.summary.points:
        found = source.find(point.quote, point.pages[0], point.pages[-1])
        assert found is not None and found.pages == point.pages


def test_cancel_during_generation_stores_nothing(llama_engine: object) -> None:
    summarizer = _summarizer(llama_engine)
    cancel = CancelToken()

    class CancelOnFirstToken(Observer):
        def token(self, stage: str, text: str) -> None:
            cancel.cancel()

    with pytest.raises(Cancelled):
        summarizer.summarize(DOCUMENTS / "court-opinion-ca1.pdf", observer=CancelOnFirstToken(),
                             cancel=cancel)
    assert Store().counts() == {"documents": 0, "summaries": 0}


def test_batch_folder_with_one_bad_file(tmp_path: Path) -> None:
    folder = tmp_path / "matter"
    folder.mkdir()
    shutil.copy(DOCUMENTS / "court-order-ca7.pdf", folder / "a-order.pdf")
    shutil.copy(MALFORMED / "random-bytes.pdf", folder / "b-broken.pdf")
    out = tmp_path / "briefs"
    result = lexbrief("summarize", str(folder), "--out", str(out))
    assert result.returncode == 3
    assert "b-broken.pdf" in result.stderr and "Traceback" not in result.stderr
    assert (out / "a-order.summary.md").read_text().startswith("# a-order.pdf")
    assert not (out / "b-broken.summary.md").exists()
    assert Store().counts()["summaries"] == 1
