"""Run strategies over reference rows (id, text, summary) and score them."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexbrief import __version__
from lexbrief.engine.contract import Engine
from lexbrief.errors import DocumentError, UserFacingError
from lexbrief.summarize.citations import PageIndex
from lexbrief.summarize.facts import KINDS, SourceIndex, faithfulness
from lexbrief.summarize.pipeline import PipelineSettings
from lexbrief.summarize.templates import Template, detect_kind, load_templates
from lexbrief.tools.evaluation.citation_check import check_cited_points, check_raw_points
from lexbrief.tools.evaluation.rouge import rouge, tokenize
from lexbrief.tools.evaluation.strategies import (
    CHARS_PER_PAGE,
    MODEL_FREE,
    STRATEGIES,
    StrategyRun,
    reference_document,
)

SCHEMA = "lexbrief-eval/1"
Log = Callable[[str], None]


@dataclass(frozen=True)
class Reference:
    id: str
    text: str
    summary: str
    title: str | None
    source_file: str


def load_references(path: Path, limit: int | None = None) -> list[Reference]:
    """Rows of a JSON Lines file with at least id, text and summary."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{path.name} cannot be read: {exc}") from exc
    rows: list[Reference] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"{path.name}, line {number}: not JSON ({exc.msg})") from exc
        missing = [k for k in ("id", "text", "summary")
                   if not isinstance(row, dict) or not isinstance(row.get(k), str | int)
                   or not str(row.get(k)).strip()]
        if missing:
            raise DocumentError(f"{path.name}, line {number}: missing {', '.join(missing)}")
        rows.append(Reference(str(row["id"]), row["text"], row["summary"], row.get("title"),
                              path.name))
        if limit and len(rows) >= limit:
            break
    if not rows:
        raise DocumentError(f"{path.name} holds no rows")
    return rows


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def score(run: StrategyRun, reference: Reference, index: PageIndex,
          source: SourceIndex) -> dict[str, Any]:
    candidate = run.text
    scores = rouge(candidate, reference.summary)
    ref_words = len(tokenize(reference.summary))
    return {
        "rouge": {name: s.as_dict() for name, s in scores.items()},
        "length_ratio": _round(len(tokenize(candidate)) / ref_words if ref_words else None),
        "words": len(tokenize(candidate)), "reference_words": ref_words,
        "faithfulness": faithfulness(candidate, source).as_dict(),
        "citations_model": check_raw_points(run.raw_points, index).as_dict(),
        "citations_checked": check_cited_points(
            [(p.text, list(p.pages)) for p in run.points], index).as_dict(),
        "tokens_total": run.tokens_total, "tokens_read": run.tokens_read,
        "read_share": _round(run.read_share), "chunks": run.chunks,
        "seconds": round(run.seconds, 2),
        "prompt_tokens": run.usage.prompt_tokens,
        "completion_tokens": run.usage.completion_tokens,
        "summary": candidate,
        "points": [{"text": p.text, "quote": p.quote, "pages": list(p.pages),
                    "origin": p.origin} for p in run.points],
        # Everything the window would show: overview, point texts and their quotes.
        "faithfulness_shown": faithfulness(
            "\n".join([run.overview, *(f"{p.text}\n{p.quote}" for p in run.points)]),
            source).as_dict(),
        "model_points": run.raw_points,
    }


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over rows (ROUGE, read share); pooled counts (length, faithfulness, citations)."""
    if not rows:
        return {"rows": 0}

    def mean(values: list[float | None]) -> float | None:
        kept = [v for v in values if v is not None]
        return round(statistics.fmean(kept), 4) if kept else None

    def pooled(key: str, ok: str, total: str) -> float | None:
        n = sum(r[key][total] for r in rows)
        return round(sum(r[key][ok] for r in rows) / n, 4) if n else None

    faith_total = sum(r["faithfulness"]["total"] for r in rows)
    by_kind = {}
    for kind in KINDS:
        ok = sum(r["faithfulness"]["by_kind"][kind]["supported"] for r in rows)
        n = sum(r["faithfulness"]["by_kind"][kind]["total"] for r in rows)
        by_kind[kind] = {"supported": ok, "total": n, "share": round(ok / n, 4) if n else None}
    out: dict[str, Any] = {
        "rows": len(rows),
        "faithfulness": pooled("faithfulness", "supported", "total"),
        "facts": faith_total,
        "faithfulness_shown": (pooled("faithfulness_shown", "supported", "total")
                               if "faithfulness_shown" in rows[0] else None),
        "faithfulness_by_kind": by_kind,
    }
    if "rouge" in rows[0]:  # not on the human summaries' calibration rows
        out.update({
            "rouge1_f1": mean([r["rouge"]["rouge1"]["f1"] for r in rows]),
            "rouge2_f1": mean([r["rouge"]["rouge2"]["f1"] for r in rows]),
            "rougeL_f1": mean([r["rouge"]["rougeL"]["f1"] for r in rows]),
            # Pooled (all words / all reference words): a 1-word reference ("hi.") would
            # otherwise dominate a mean of ratios.
            "length_ratio": _round(sum(r["words"] for r in rows)
                                   / max(1, sum(r["reference_words"] for r in rows))),
            "citations_model_valid": pooled("citations_model", "valid", "cited"),
            "citations_model_cited": pooled("citations_model", "cited", "points"),
            "citations_checked_valid": pooled("citations_checked", "valid", "cited"),
            "read_share": mean([r["read_share"] for r in rows]),
            "seconds": round(sum(r["seconds"] for r in rows), 1),
        })
    return out


def evaluate(engine: Engine, references: list[Reference], strategies: list[str], *,
             settings: PipelineSettings | None = None, template: str = "auto",
             chars_per_page: int = CHARS_PER_PAGE, log: Log = lambda message: None,
             previous: dict[str, Any] | None = None,
             checkpoint: Callable[[dict[str, Any]], None] | None = None,
             reader: Engine | None = None) -> dict[str, Any]:
    """Score every strategy on every row. `checkpoint` receives the result so far after each
    row; rows of a `previous` result made with the same model and settings are reused (a long
    run that was stopped continues where it was). `reader`: a model that reads the chunks (the
    map step) while `engine` writes the overview, as `--reader-model` does in the app."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise UserFacingError(f"unknown strategy {', '.join(unknown)}; choose from "
                              f"{', '.join(STRATEGIES)}")
    settings = settings or PipelineSettings()
    templates = load_templates()
    if template != "auto" and template not in templates:
        raise UserFacingError(f"unknown template '{template}'; choose one of: auto, "
                              f"{', '.join(templates)}")
    started_at = dt.datetime.now(dt.UTC)
    header = {
        "schema": SCHEMA, "date": started_at.isoformat(timespec="seconds"),
        "lexbrief": __version__,
        "model": {"name": engine.info.name, "context_length": engine.info.context_length,
                  "threads": engine.info.threads},
        "reader": ({"name": reader.info.name, "context_length": reader.info.context_length,
                    "threads": reader.info.threads} if reader is not None else None),
        "settings": {**settings.as_dict(), "template": template,
                     "chars_per_page": chars_per_page},
    }
    reusable: dict[tuple[str, str, str], dict[str, Any]] = {}
    if previous and all(previous.get(k) == header[k]
                        for k in ("schema", "model", "reader", "settings")):
        header["date"] = previous.get("date", header["date"])
        reusable = {(r["file"], r["id"], r["strategy"]): r for r in previous.get("rows", [])}
    rows: list[dict[str, Any]] = []
    for number, ref in enumerate(references, 1):
        document = reference_document(ref.id, ref.text, ref.title, chars_per_page)
        chosen: Template = (detect_kind(document.text, templates, document.page_count)[0]
                            if template == "auto" else templates[template])
        index = PageIndex(document)
        source = SourceIndex(ref.text)
        # The human summary, scored by the same fact checker: how far the checker can be trusted.
        calibration = faithfulness(ref.summary, source).as_dict()
        rows.append({"file": ref.source_file, "id": ref.id, "strategy": "reference",
                     "pages": document.page_count, "faithfulness": calibration})
        target_words = 0  # the baselines' length: that of the first model strategy's summary
        for name in strategies:
            done = reusable.get((ref.source_file, ref.id, name))
            if done is not None and not target_words and name not in MODEL_FREE:
                target_words = done.get("words", 0)
            if done is not None:
                log(f"[{number}/{len(references)}] {ref.id}: {name} (from the previous run)")
                rows.append(done)
                continue
            log(f"[{number}/{len(references)}] {ref.id}: {name} ({document.page_count} pages, "
                f"template {chosen.name})")
            run = STRATEGIES[name](engine, document, chosen, settings, target_words, reader)
            if not target_words and name not in MODEL_FREE:
                target_words = len(tokenize(run.text))
            rows.append({"file": ref.source_file, "id": ref.id, "strategy": name,
                         "template": chosen.name, "pages": document.page_count,
                         **score(run, ref, index, source)})
            if checkpoint:
                checkpoint(_result(header, strategies, rows))
    return _result(header, strategies, rows)


def _result(header: dict[str, Any], strategies: list[str], rows: list[dict[str, Any]]
            ) -> dict[str, Any]:
    files = sorted({r["file"] for r in rows})
    summary: dict[str, Any] = {}
    for file in [*files, "all"]:
        summary[file] = {
            name: aggregate([r for r in rows if r["strategy"] == name
                             and (file == "all" or r["file"] == file)])
            for name in [*strategies, "reference"]
        }
    return {**header, "strategies": strategies, "files": files, "summary": summary,
            "rows": rows}


def table(result: dict[str, Any]) -> str:
    def num(value: float | None, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    header = (f"{'file':30}{'strategy':11}{'rows':>5}{'R-1':>7}{'R-2':>7}{'R-L':>7}"
              f"{'len':>6}{'faith':>7}{'shown':>7}{'facts':>6}{'cite*':>7}{'read':>6}"
              f"{'sec':>8}")
    reader = result.get("reader")
    reading = f" (reading: {reader['name']})" if reader else ""
    lines = [f"LexBrief {result['lexbrief']} eval · {result['model']['name']}{reading} · "
             f"ctx {result['model']['context_length']} · {result['date']}", header]
    for file, by_strategy in result["summary"].items():
        for name, agg in by_strategy.items():
            if not agg.get("rows"):
                continue
            lines.append(
                f"{file[:29]:30}{name:11}{agg['rows']:>5}{num(agg.get('rouge1_f1')):>7}"
                f"{num(agg.get('rouge2_f1')):>7}{num(agg.get('rougeL_f1')):>7}"
                f"{num(agg.get('length_ratio'), 2):>6}{num(agg['faithfulness']):>7}"
                f"{num(agg.get('faithfulness_shown')):>7}{agg['facts']:>6}"
                f"{num(agg.get('citations_checked_valid')):>7}{num(agg.get('read_share'), 2):>6}"
                f"{num(agg.get('seconds'), 1):>8}")
    lines += [
        "R-1/R-2/R-L: ROUGE F1 vs the human summary · len: words vs the human summary · faith: "
        "share of numbers, dates, amounts, section refs and party names found in the source "
        "(the 'reference' row scores the human summary: the checker's ceiling) · shown: the "
        "same over everything the window shows (overview, key points and their quotes) · "
        "cite*: shown citations whose page supports the point · read: share of the "
        "document's tokens the model read",
    ]
    return "\n".join(lines) + "\n"
