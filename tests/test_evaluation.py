"""`lexbrief eval`'s scoring, on hand-computed cases (no model: the fake engine runs strategies)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lexbrief.errors import DocumentError, UserFacingError
from lexbrief.read.document import Document, Page
from lexbrief.summarize.citations import PageIndex
from lexbrief.summarize.facts import extract_facts, faithfulness
from lexbrief.tools.evaluation.citation_check import check_cited_points, check_raw_points
from lexbrief.tools.evaluation.rouge import lcs_length, rouge, rouge_l, rouge_n, tokenize
from lexbrief.tools.evaluation.runner import evaluate, load_references, table
from lexbrief.tools.evaluation.strategies import paginate, reference_document

from conftest import FIXTURES
from fake_engine import FakeParallelEngine

# -- ROUGE ---------------------------------------------------------------------------------------
# Values computed by hand (and identical to Google's rouge-score 0.1.2 without stemming).


def test_rouge_on_the_textbook_example() -> None:
    candidate, reference = "police killed the gunman", "the gunman was shot down by police"
    r1 = rouge_n(candidate, reference, 1)  # police, the, gunman: 3 of 4 and 3 of 7
    assert (r1.precision, r1.recall) == (3 / 4, 3 / 7)
    assert r1.f1 == pytest.approx(6 / 11)  # 2PR/(P+R) = 0.5454...
    r2 = rouge_n(candidate, reference, 2)  # only "the gunman": 1 of 3 and 1 of 6
    assert (r2.precision, r2.recall) == (1 / 3, 1 / 6)
    assert r2.f1 == pytest.approx(2 / 9)
    rl = rouge_l(candidate, reference)  # LCS "the gunman" = 2
    assert (rl.precision, rl.recall) == (2 / 4, 2 / 7)
    assert rl.f1 == pytest.approx(4 / 11)


def test_rouge_counts_repeated_words_once_per_occurrence() -> None:
    scores = rouge("the cat sat on the mat", "the cat lay on the mat")
    assert scores["rouge1"].f1 == pytest.approx(5 / 6)  # the×2, cat, on, mat
    assert scores["rouge2"].f1 == pytest.approx(3 / 5)  # the cat, on the, the mat
    assert scores["rougeL"].f1 == pytest.approx(5 / 6)
    assert rouge_n("the the the", "the", 1).precision == pytest.approx(1 / 3)


def test_rouge_tokens_and_edge_cases() -> None:
    assert tokenize("Don't pay $5,000! Pokémon") == ["don", "t", "pay", "5", "000", "pok", "mon"]
    assert rouge_n("", "something", 1).f1 == 0.0
    assert rouge_n("same words", "same words", 2).f1 == 1.0
    assert lcs_length(list("abcbdab"), list("bdcaba")) == 4


# -- faithfulness ----------------------------------------------------------------------------------
def _kinds(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for fact in extract_facts(text):
        out.setdefault(fact.kind, []).append(fact.key)
    return out


def test_extracts_amounts_dates_sections_numbers_and_parties() -> None:
    found = _kinds(
        "Reynolds American Inc. pays $1,500,000 and 2.5 million dollars, 12% interest, "
        "on March 5, 2020 under Section 3(a) and § 4; the appeal of 5.4.1991 took 30 days.")
    assert found["amount"] == ["$1500000", "$2500000", "%12"]
    assert found["date"] == ["2020-03-05", "1991-04-05|1991-05-04"]  # day/month order unknown
    assert found["section"] == ["section 3(a)", "section 4"]
    assert found["number"] == ["30"]
    assert found["party"] == ["reynolds american inc"]


def test_citations_and_sentence_openers_are_not_facts() -> None:
    found = _kinds("The fee is due [p. 4]. Overview: The Court held. Key points: Licensee pays.")
    assert found == {}


def test_list_numbers_labels_and_defined_terms_are_not_facts() -> None:
    found = _kinds("Key points:\n1. You must be 13.\n2) Pokémon Go is run by Niantic, Inc. and "
                   "the Premises are safe.\nDemonstration: the appellants.\n1951 was the year. "
                   "Civil rules apply.\n1.1 Each fact counts once: 13.")
    assert found["number"] == ["13", "1951"]  # not 1, 2 or 1.1; 13 once
    assert found["party"] == ["pokémon go", "niantic"]
    assert "section" not in found  # neither "appellants.\n1951" nor "rules" + "civil"


def test_names_end_at_a_full_stop() -> None:
    found = _kinds("The State of Bombay v. Ram Prasad. Bank of India paid Bank of America, N.A.")
    assert found["party"] == ["bombay", "ram prasad", "bank of india", "bank of america"]


def test_facts_match_the_source_whatever_their_format() -> None:
    source = ("This Agreement between REYNOLDS AMERICAN INC. and CytoDyn is dated 5th March, 2020."
              " The fee of USD 1,500,000 is due within 30 days. Section 3 (a) applies. Interest "
              "runs at 12 per cent.")
    result = faithfulness(
        "Reynolds American Inc. pays CytoDyn $1,500,000 within 30 days (March 5, 2020), at 12%, "
        "under § 3(a).", source)
    assert result.unsupported() == []
    assert result.total == 7 and result.score == 1.0


def test_invented_facts_are_caught() -> None:
    source = "The bill suspends the duty on air mattresses until 12/31/2011 (heading 9902.01.00)."
    result = faithfulness(
        "Senator John McCain introduced the bill in 2013; it costs $40 million under section 7. "
        "The duty is suspended until December 31, 2011.", source)
    assert sorted(result.unsupported()) == [
        "amount: $40 million", "number: 2013", "party: Senator John McCain", "section: section 7"]
    assert result.by_kind()["date"] == (1, 1)  # 12/31/2011 = December 31, 2011
    assert result.score == pytest.approx(1 / 5)


def test_a_summary_without_facts_has_no_score() -> None:
    result = faithfulness("the agreement is about games and accounts.", "anything")
    assert result.total == 0 and result.score is None
    assert result.as_dict()["score"] is None


def test_section_number_of_a_bill_heading_counts_as_found() -> None:
    # Bills number their sections "2. Short title" without the word "Section".
    assert faithfulness("Section 2 repeals the rule.", "1. Short title \n2. Repeal ...").score == 1


# -- citation validity -----------------------------------------------------------------------------
def _document() -> Document:
    return Document(path=Path("x.txt"), kind="txt", sha256="0", size=1, pages=[
        Page(1, "The licensee pays royalties of five percent on net sales every quarter."),
        Page(2, "Either party may terminate the agreement after material breach and notice."),
    ])


def test_citation_is_valid_only_on_the_page_that_supports_it() -> None:
    index = PageIndex(_document())
    checked = check_raw_points([
        "The licensee pays quarterly royalties on net sales [p. 1]",  # right page
        "Either party may terminate after material breach [p. 1]",  # wrong page
        "The licensee pays royalties on net sales [p. 9]",  # no such page
        "Termination needs notice",  # no citation
    ], index)
    assert (checked.points, checked.cited, checked.valid, checked.out_of_range) == (4, 3, 1, 1)
    assert checked.valid_share == pytest.approx(1 / 3)
    assert checked.cited_share == pytest.approx(3 / 4)
    assert check_cited_points([("terminate material breach notice", [2])], index).valid == 1
    assert check_cited_points([], index).valid_share is None


# -- documents from reference rows ---------------------------------------------------------------
def test_paginate_keeps_every_character_in_order() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 90 for i in range(40))
    pages = paginate(text, 1000)
    assert all(len(p) <= 1000 for p in pages) and len(pages) >= 18
    assert "".join("".join(pages).split()) == "".join(text.split())
    assert all(p.startswith("Paragraph") for p in pages)  # cut at paragraph ends
    assert paginate("short") == ["short"]


def test_reference_rows_load_and_bad_rows_are_refused(tmp_path: Path) -> None:
    rows = load_references(FIXTURES / "reference" / "us-bills-crs-2.jsonl")
    assert [r.id for r in rows] == ["billml-111s1992is", "billml-112hr2809ih"]
    assert len(load_references(FIXTURES / "reference" / "us-bills-crs-2.jsonl", limit=1)) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "t", "summary": "s"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DocumentError, match="line 2"):
        load_references(bad)
    bad.write_text('{"id": "a", "text": "t"}\n', encoding="utf-8")
    with pytest.raises(DocumentError, match="missing summary"):
        load_references(bad)
    document = reference_document("r1", "word " * 2000, "A title", chars_per_page=3000)
    assert document.page_count == 4 and document.title == "A title"


# -- the runner, on the fake engine ----------------------------------------------------------------
def _long_row(tmp_path: Path, sections: int, dated: bool = True) -> Path:
    """One reference row: a contract of `sections` numbered sections, too long for one chunk."""
    text = "\n\n".join(f"Section {i}. The licensee shall pay {i * 100} dollars"
                       + (f" by March {i}, 2020. " if dated else ". ")
                       + "Further terms apply. " * 30 for i in range(1, sections + 1))
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"id": "long", "text": text, "summary": "The licensee pays."})
                    + "\n", encoding="utf-8")
    return path


def test_naive_reads_what_fits_and_mapreduce_reads_everything(fake_engine: object,
                                                              tmp_path: Path) -> None:
    fake_engine.info.context_length = 1024  # type: ignore[attr-defined]
    path = _long_row(tmp_path, 24)
    result = evaluate(fake_engine, load_references(path), ["naive", "mapreduce"],  # type: ignore[arg-type]
                      template="contract")
    rows = {r["strategy"]: r for r in result["rows"]}
    assert set(rows) == {"reference", "naive", "mapreduce"}
    assert rows["naive"]["read_share"] < 0.5 and rows["naive"]["chunks"] == 1
    assert rows["mapreduce"]["read_share"] == 1.0 and rows["mapreduce"]["chunks"] > 1
    for name in ("naive", "mapreduce"):
        row = rows[name]
        assert set(row["rouge"]) == {"rouge1", "rouge2", "rougeL"}
        assert 0 <= row["rouge"]["rouge1"]["f1"] <= 1 and row["length_ratio"] > 0
        assert row["faithfulness"]["total"] >= 0 and "citations_checked" in row
    summary = result["summary"]["all"]
    assert summary["naive"]["rows"] == 1 and summary["reference"]["rows"] == 1
    assert "rouge1_f1" not in summary["reference"]
    json.dumps(result)  # JSON-able
    text_table = table(result)
    assert "mapreduce" in text_table and "naive" in text_table


def test_sequential_maps_one_chunk_at_a_time_and_mapreduce_in_parallel(tmp_path: Path) -> None:
    engine = FakeParallelEngine(context_length=1024)
    path = _long_row(tmp_path, 12, dated=False)
    result = evaluate(engine, load_references(path), ["sequential", "mapreduce"],  # type: ignore[arg-type]
                      template="contract")
    rows = {r["strategy"]: r for r in result["rows"]}
    # Only the mapreduce run used the parallel call, once per map step, with every chunk.
    assert engine.parallel_calls == [rows["mapreduce"]["chunks"]]
    assert rows["sequential"]["chunks"] == rows["mapreduce"]["chunks"] > 1
    # The fake answers deterministically, so both ways give the same summary.
    assert rows["sequential"]["summary"] == rows["mapreduce"]["summary"]
    assert "sequential" in table(result)


def test_unknown_strategy_or_template_is_refused(fake_engine: object) -> None:
    rows = load_references(FIXTURES / "reference" / "us-bills-crs-2.jsonl", limit=1)
    with pytest.raises(UserFacingError, match="unknown strategy"):
        evaluate(fake_engine, rows, ["oneshot"])  # type: ignore[arg-type]
    with pytest.raises(UserFacingError, match="unknown template"):
        evaluate(fake_engine, rows, ["naive"], template="poetry")  # type: ignore[arg-type]


def test_eval_command_refuses_bad_options_before_loading_a_model() -> None:
    from test_cli import lexbrief

    rows = str(FIXTURES / "reference" / "us-bills-crs-2.jsonl")
    bad = lexbrief("eval", rows, "--strategies", "naive,oneshot")
    assert bad.returncode == 2 and "unknown strategy oneshot" in bad.stderr
    assert lexbrief("eval", rows, "--limit", "0").returncode == 2
    missing = lexbrief("eval", "absent.jsonl")
    assert missing.returncode == 3 and "absent.jsonl" in missing.stderr
    assert "Traceback" not in bad.stderr + missing.stderr


def test_a_stopped_run_resumes_from_its_checkpoint(fake_engine: object) -> None:
    rows = load_references(FIXTURES / "reference" / "us-bills-crs-2.jsonl")
    saved: list[dict[str, object]] = []
    first = evaluate(fake_engine, rows[:1], ["naive", "mapreduce"],  # type: ignore[arg-type]
                     checkpoint=saved.append)
    assert len(saved) == 2  # after each strategy run
    calls = len(fake_engine.calls)  # type: ignore[attr-defined]
    resumed = evaluate(fake_engine, rows, ["naive", "mapreduce"],  # type: ignore[arg-type]
                       previous=json.loads(json.dumps(first)))
    assert len([r for r in resumed["rows"] if r["strategy"] != "reference"]) == 4
    assert resumed["rows"][1] == first["rows"][1]  # reused, not recomputed
    assert resumed["date"] == first["date"]
    resumed_calls = len(fake_engine.calls) - calls  # type: ignore[attr-defined]
    evaluate(fake_engine, rows[1:], ["naive", "mapreduce"])  # type: ignore[arg-type]
    # The resumed run did only the second bill's work.
    assert resumed_calls == len(fake_engine.calls) - calls - resumed_calls > 0  # type: ignore[attr-defined]


def test_a_reading_model_reads_the_chunks_and_the_writer_writes(tmp_path: Path) -> None:
    reader = FakeParallelEngine(context_length=1024)
    writer = FakeParallelEngine(context_length=1024)
    path = _long_row(tmp_path, 12, dated=False)
    result = evaluate(writer, load_references(path), ["mapreduce"],  # type: ignore[arg-type]
                      template="contract", reader=reader)  # type: ignore[arg-type]
    row = next(r for r in result["rows"] if r["strategy"] == "mapreduce")
    # Every chunk's notes were read by the reader (one parallel call, all chunks); the writer
    # wrote the overview and read no chunk.
    assert reader.parallel_calls == [row["chunks"]] and row["chunks"] > 1
    assert writer.parallel_calls == [] and writer.calls
    assert result["reader"]["name"] == reader.info.name
    assert "(reading: " in table(result)
    # A run without the reader is not resumed from this one, nor the reverse.
    alone = evaluate(writer, load_references(path), ["mapreduce"],  # type: ignore[arg-type]
                     template="contract", previous=json.loads(json.dumps(result)))
    assert alone["reader"] is None
    assert writer.parallel_calls == [row["chunks"]]  # read again, by the writer this time


def _eval_result(values: dict[str, tuple[float, int, int, float]], strategy: str = "mapreduce"
                 ) -> dict[str, object]:
    """A minimal `lexbrief eval --json` result: per row id, (ROUGE-L F1, facts supported,
    facts stated, seconds); ROUGE-1/2 follow ROUGE-L."""
    rows = []
    for identifier, (f1, supported, stated, seconds) in values.items():
        rows.append({"file": "refs.jsonl", "id": identifier, "strategy": "reference"})
        rows.append({"file": "refs.jsonl", "id": identifier, "strategy": strategy,
                     "rouge": {name: {"f1": f1} for name in ("rouge1", "rouge2", "rougeL")},
                     "faithfulness_shown": {"supported": supported, "total": stated},
                     "seconds": seconds})
    return {"model": {"name": "m.gguf"}, "reader": None, "rows": rows}


def test_paired_bootstrap_tells_a_real_difference_from_noise() -> None:
    from lexbrief.tools.evaluation.compare import compare

    base = {f"r{i}": (0.20 + 0.01 * (i % 5), 19, 20, 100.0) for i in range(12)}
    # The same summaries: no change, an interval of exactly [0, 0].
    same = {m.metric: m for m in compare(_eval_result(base), _eval_result(base))}
    assert same["rougeL_f1"].observed == 0 and same["rougeL_f1"].within_noise is True
    assert same["seconds"].observed == 1.0 and same["seconds"].within_noise is True
    # Every row 0.05 better and twice as fast: a real difference, whatever the resample.
    better = {k: (f1 + 0.05, s, n, sec / 2) for k, (f1, s, n, sec) in base.items()}
    moved = {m.metric: m for m in compare(_eval_result(base), _eval_result(better))}
    assert moved["rougeL_f1"].observed == pytest.approx(0.05)
    assert moved["rougeL_f1"].within_noise is False and moved["rougeL_f1"].low > 0
    assert moved["seconds"].observed == pytest.approx(0.5) and moved["seconds"].high < 1
    # Up on half the rows, down as much on the other half: no direction, within noise.
    mixed = {k: (f1 + (0.05 if i % 2 else -0.05), s, n, sec)
             for i, (k, (f1, s, n, sec)) in enumerate(base.items())}
    noisy = {m.metric: m for m in compare(_eval_result(base), _eval_result(mixed))}
    assert noisy["rougeL_f1"].observed == pytest.approx(0.0, abs=1e-9)
    assert noisy["rougeL_f1"].low < 0 < noisy["rougeL_f1"].high
    assert noisy["rougeL_f1"].within_noise is True
    # Facts in source are pooled: 1 unsupported of 20 on every row → 0.95 in both.
    assert same["facts_in_source_shown"].first == pytest.approx(0.95)


def test_eval_compare_pairs_rows_and_refuses_runs_without_common_rows(tmp_path: Path) -> None:
    from test_cli import lexbrief

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    base = {f"r{i}": (0.2, 9, 10, 50.0) for i in range(6)}
    first.write_text(json.dumps(_eval_result(base)), encoding="utf-8")
    second.write_text(json.dumps(_eval_result(
        {k: (0.3, 10, 10, 25.0) for k in base}, strategy="textrank")), encoding="utf-8")
    out = lexbrief("eval", "--compare", str(first), f"{second}:textrank",
                   "--json", str(tmp_path / "c.json"))
    assert out.returncode == 0, out.stderr
    assert "paired bootstrap over 6 rows" in out.stdout and "a real difference" in out.stdout
    saved = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    rouge_l = next(m for m in saved["metrics"] if m["metric"] == "rougeL_f1")
    assert rouge_l["observed"] == pytest.approx(0.1) and rouge_l["within_noise"] is False
    # The second run has no mapreduce rows: nothing to pair.
    none = lexbrief("eval", "--compare", str(first), str(second))
    assert none.returncode != 0 and "no row in common" in none.stderr
    assert "Traceback" not in none.stderr
    bad = lexbrief("eval", "--compare", str(first), str(tmp_path / "absent.json"))
    assert bad.returncode == 2 and "absent.json" in bad.stderr


def test_a_day_and_month_without_a_year_is_checked_as_a_date() -> None:
    # the starter wrote "denied ... on April 18th" of the bundled opinion, which has only
    # April 29: as the bare number 18 (found in any long document) it passed
    source = ("Executive Order 49, issued on April 29, provided for the plan. The order of "
              "March 24, 2020 closed gatherings. See 18 U.S.C. and page 18.")
    result = faithfulness("The order was denied on April 18th. It was issued on April 29. "
                          "Gatherings closed on the 24th of March.", source)
    assert result.unsupported() == ["date: April 18th"]
    assert result.by_kind()["date"] == (2, 3)  # April 29 and 24th of March are in the source
    assert _kinds("You may 5 times ask.").get("date") is None  # "may" the verb
