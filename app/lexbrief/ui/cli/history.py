"""`lexbrief history`, `show ID` and `export ID`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lexbrief.ui.export import FORMATS, as_markdown, export, report_chart


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("history", help="list stored summaries, or search them")
    p.add_argument("-s", "--search", metavar="TEXT",
                   help="full-text search in summaries and document names")
    p.add_argument("-n", "--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_history)

    p = subparsers.add_parser("show", help="print a stored summary")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_show)

    p = subparsers.add_parser("export", help="write a stored summary to a file",
                              description="Write a stored summary to a file, with its cost "
                                          "chart (Word: the picture; Markdown and text: a "
                                          "table) and the saving and assumptions under it.")
    p.add_argument("id", type=int)
    p.add_argument("-f", "--format", choices=FORMATS, default="md")
    p.add_argument("-o", "--out", type=Path,
                   help="output file (default: <document>.summary.<format> here)")
    p.add_argument("--no-costs", action="store_true",
                   help="leave the cost chart and its assumptions out of the report")
    p.set_defaults(func=run_export)


def run_history(args: argparse.Namespace) -> int:
    from lexbrief.store import Store

    rows = Store().history(search=args.search, limit=args.limit)
    if args.json:
        for row in rows:
            print(json.dumps({"id": row.id, "document": row.document_name,
                              "created": row.created, "template": row.template,
                              "model": row.model_name, "matter": row.matter}))
        return 0
    if not rows:
        print("No summaries match." if args.search else "No summaries yet.")
        return 0
    for row in rows:
        first = next((line for line in row.text.splitlines()
                      if line.strip() and not line.startswith("#")), "")
        print(f"#{row.id:<5} {row.created[:16].replace('T', ' ')}  {row.document_name[:40]:<40} "
              f"{row.template:<14} {first[:60]}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from lexbrief.store import Store

    row = Store().get(args.id)
    if args.json:
        print(json.dumps(row.__dict__, ensure_ascii=False, indent=2))
    else:
        print(as_markdown(row))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from lexbrief.store import Store

    store = Store()
    try:
        row = store.get(args.id)
        chart = None if args.no_costs else report_chart(store, row)
    finally:
        store.close()
    out = args.out or Path(f"{Path(row.document_name).stem}.summary.{args.format}")
    export(row, args.format, out, chart)
    print(out)
    return 0
