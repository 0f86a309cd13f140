"""Contract abstracts scored against human clause labels (CUAD), for `lexbrief eval --fields`.

A labels file lists, per contract file, the text spans human labellers selected for each CUAD
category (an empty list: the contract has no such clause). For every field LexBrief's abstract
(lexbrief.summarize.abstract) either shows a value with its quote and page, or "not found":

- found + correct: the quote (with the value) holds at least half of the words of one labelled
  span, or, for a short labelled span (a date, a name), all of them;
- found + wrong: it holds none well enough, or CUAD found no such clause (a false positive);
- not found: a miss when CUAD has a label, a correct "not found" when it has none.

precision = correct / found; recall = correct / labelled. The page is checked too: the labelled
span is looked up in the document and its page compared with the quote's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lexbrief.errors import UserFacingError
from lexbrief.read import load_document
from lexbrief.summarize.abstract import extract_abstract
from lexbrief.summarize.source_text import SourceText

CUAD_FIELDS = {
    "Document Name": "document_name", "Parties": "parties", "Agreement Date": "agreement_date",
    "Effective Date": "effective_date", "Expiration Date": "expiration",
    "Renewal Term": "renewal", "Notice Period To Terminate Renewal":
        "notice_to_terminate_renewal", "Governing Law": "governing_law",
}
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("t h day", "th day"))


def _covers(shown: str, label: str) -> bool:
    label_words = _words(label)
    if not label_words:
        return False
    have = set(_words(shown))
    hits = sum(w in have for w in label_words)
    return hits == len(label_words) if len(label_words) <= 4 else hits >= len(label_words) / 2


def score_contract(path: Path, labels: dict[str, list[str]]) -> list[dict[str, Any]]:
    document = load_document(path)
    source = SourceText(document)
    abstract = extract_abstract("contract", document, source)
    rows = []
    for category, name in CUAD_FIELDS.items():
        spans = labels.get(category, [])
        field = abstract.get(name)
        value = field.value if field else None
        shown = f"{value} {field.quote}" if field and value else ""
        correct = bool(value) and any(_covers(shown, span) for span in spans)
        page_ok = None
        if correct and field is not None:
            label_pages = {m.pages[0] for span in spans
                           if (m := source.find(span) or source.find(span, short=True))}
            page_ok = field.page in label_pages if label_pages else None
        rows.append({"file": path.name, "field": name, "category": category,
                     "labelled": bool(spans), "found": bool(value), "correct": correct,
                     "page_ok": page_ok, "value": value, "page": field.page if field else None,
                     "labels": spans[:3]})
    return rows


def evaluate_fields(folder: Path, labels_file: Path | None = None) -> dict[str, Any]:
    labels_file = labels_file or folder / "labels.json"
    try:
        entries = json.loads(labels_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserFacingError(f"{labels_file} cannot be read as CUAD labels: {exc}") from exc
    rows: list[dict[str, Any]] = []
    for entry in entries:
        path = folder / entry["file"]
        if not path.is_file():
            raise UserFacingError(f"{path} is listed in {labels_file.name} but missing")
        rows += score_contract(path, entry)
    fields: dict[str, Any] = {}
    for name in [*CUAD_FIELDS.values(), "all"]:
        mine = [r for r in rows if name in ("all", r["field"])]
        found = sum(r["found"] for r in mine)
        correct = sum(r["correct"] for r in mine)
        labelled = sum(r["labelled"] for r in mine)
        pages = [r["page_ok"] for r in mine if r["page_ok"] is not None]
        fields[name] = {
            "contracts": len({r["file"] for r in mine}), "labelled": labelled, "found": found,
            "correct": correct,
            "precision": round(correct / found, 3) if found else None,
            "recall": round(correct / labelled, 3) if labelled else None,
            "true_not_found": sum(not r["labelled"] and not r["found"] for r in mine),
            "false_positive": sum(not r["labelled"] and r["found"] for r in mine),
            "page_agreement": round(sum(pages) / len(pages), 3) if pages else None,
        }
    return {"schema": "lexbrief-eval-fields/1", "labels": labels_file.name, "fields": fields,
            "rows": rows}


def fields_table(result: dict[str, Any]) -> str:
    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = [f"{'field':30}{'labelled':>9}{'found':>7}{'correct':>8}{'prec':>6}{'recall':>7}"
             f"{'no-FP':>7}{'FP':>4}{'page':>6}"]
    for name, f in result["fields"].items():
        lines.append(f"{name:30}{f['labelled']:>9}{f['found']:>7}{f['correct']:>8}"
                     f"{num(f['precision']):>6}{num(f['recall']):>7}{f['true_not_found']:>7}"
                     f"{f['false_positive']:>4}{num(f['page_agreement']):>6}")
    return "\n".join(lines) + "\n"
