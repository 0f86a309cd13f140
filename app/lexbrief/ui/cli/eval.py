"""`lexbrief eval FILE.jsonl`: summary quality against human reference summaries."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lexbrief.errors import ExitCode, StorageError, UserFacingError


class UsageError(UserFacingError):
    exit_code = ExitCode.USAGE


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval", help="score summaries against human reference summaries (ROUGE, faithfulness)",
        description="Summarize every row of JSON Lines files (id, text, summary) with each "
                    "strategy on the same model, and score the result: ROUGE-1/2/L, length "
                    "ratio, faithfulness of numbers, dates, amounts, section references and "
                    "party names, and citation validity. Texts are cut into synthetic pages of "
                    "--chars-per-page characters so that citations can be checked.")
    p.add_argument("files", nargs="*", type=Path, metavar="FILE.jsonl")
    p.add_argument("--fields", type=Path, metavar="DIR",
                   help="score the contract abstract against CUAD-style labels "
                        "(DIR/labels.json and the contracts it names); no model needed")
    p.add_argument("-m", "--model", help="GGUF model file (default: the active or starter model)")
    p.add_argument("--reader-model", metavar="GGUF",
                   help="a (smaller) model that reads the chunks while --model writes the "
                        "overview, as summarize --reader-model does")
    p.add_argument("--compare", nargs=2, type=str, metavar=("FIRST.json", "SECOND.json"),
                   help="no model: compare two --json results row by row with a paired "
                        "bootstrap (ROUGE, facts in source, wall time); FILE.json:STRATEGY "
                        "picks a strategy (default mapreduce), e.g. run.json:textrank")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N rows of each file")
    p.add_argument("--strategies", default="mapreduce,lead,textrank",
                   help="comma-separated: mapreduce (LexBrief's pipeline), sequential (its map "
                        "one chunk at a time), naive (only what fits one prompt), lead and "
                        "textrank (baselines without a model, at the length of the first model "
                        "strategy's summary); default %(default)s")
    p.add_argument("-t", "--template", default="auto",
                   help="auto (default, as the app chooses), or a template name")
    p.add_argument("--chars-per-page", type=int, default=3000,
                   help="synthetic page size for citations (default %(default)s)")
    p.add_argument("--max-new-tokens", type=int, metavar="N",
                   help="cap every generation at N tokens (quick checks only; the recorded "
                        "results use the app's budgets)")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="write every row and score as JSON (rewritten after each row, so a "
                        "stopped run keeps what it did)")
    p.add_argument("--resume", action="store_true",
                   help="reuse the rows already in the --json file (same model and settings)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lexbrief.model_files.resolve import resolve_model
    from lexbrief.service import llama_engine
    from lexbrief.settings import load_settings
    from lexbrief.summarize.pipeline import PipelineSettings
    from lexbrief.tools.evaluation.runner import evaluate, load_references, table
    from lexbrief.tools.evaluation.strategies import STRATEGIES

    if args.compare:
        return _compare(args)
    if args.fields is not None:
        from lexbrief.tools.evaluation.fields import evaluate_fields, fields_table

        fields = evaluate_fields(args.fields)
        if args.json:
            args.json.write_text(json.dumps(fields, indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
        sys.stdout.write(fields_table(fields))
        if not args.files:
            return 0
    if not args.files:
        raise UsageError("give reference FILE.jsonl files, or --fields DIR")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.chars_per_page < 200:
        raise UsageError("--chars-per-page must be at least 200")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES] or ([] if strategies else ["(none)"])
    if unknown:
        raise UsageError(f"unknown strategy {', '.join(unknown)}; choose from "
                              f"{', '.join(STRATEGIES)}")
    references = [row for path in args.files for row in load_references(path, args.limit)]
    settings = PipelineSettings(max_chunk_tokens=load_settings().max_chunk_tokens)
    if args.max_new_tokens:
        cap = max(8, args.max_new_tokens)
        settings = PipelineSettings(
            max_chunk_tokens=settings.max_chunk_tokens, map_tokens=min(cap, settings.map_tokens),
            final_tokens=min(cap, settings.final_tokens))
    if args.resume and not args.json:
        raise UsageError("--resume needs --json FILE")
    previous = None
    if args.resume and args.json.is_file():
        try:
            previous = json.loads(args.json.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserFacingError(f"{args.json} cannot be resumed: {exc}") from exc

    def save(result: dict[str, Any]) -> None:
        if not args.json:
            return
        partial = args.json.with_name(args.json.name + ".part")
        try:
            partial.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                               encoding="utf-8")
            partial.replace(args.json)
        except OSError as exc:
            raise StorageError(f"cannot write {args.json}: {exc}") from exc

    engine = llama_engine(resolve_model(args.model))
    reader = llama_engine(resolve_model(args.reader_model)) if args.reader_model else None

    def log(message: str) -> None:
        print(f"eval: {message}", file=sys.stderr, flush=True)

    result = evaluate(engine, references, strategies, settings=settings, template=args.template,
                      chars_per_page=args.chars_per_page, log=log, previous=previous,
                      checkpoint=save, reader=reader)
    save(result)
    sys.stdout.write(table(result))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from lexbrief.tools.evaluation.compare import compare, comparison_table
    from lexbrief.tools.evaluation.strategies import STRATEGIES

    runs = []
    for spec in args.compare:
        path, strategy = spec, "mapreduce"
        head, _, tail = spec.rpartition(":")
        if head and tail in STRATEGIES:
            path, strategy = head, tail
        try:
            result = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"{path} cannot be read as an eval result: {exc}") from exc
        if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
            raise UsageError(f"{path} is not a `lexbrief eval --json` result")
        reader = result.get("reader")
        label = (f"{path} · {strategy} · {result.get('model', {}).get('name', '?')}"
                 + (f" (reading: {reader['name']})" if reader else ""))
        runs.append((result, strategy, label))
    (first, first_strategy, first_label), (second, second_strategy, second_label) = runs
    rows = compare(first, second, first_strategy=first_strategy,
                   second_strategy=second_strategy)
    if args.json:
        args.json.write_text(json.dumps(
            {"first": first_label, "second": second_label,
             "metrics": [c.as_dict() for c in rows]}, indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8")
    sys.stdout.write(comparison_table(first_label, second_label, rows))
    return 0
