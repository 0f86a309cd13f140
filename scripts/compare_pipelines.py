#!/usr/bin/env python3
"""Wall time of this checkout's pipeline against another LexBrief source tree (e.g. the landed
main before a change), side by side on the same documents, model and machine.

Each document is summarized by both trees in turn (A B A B ... so that a change in the machine's
load hits both), each run in its own process with its own empty data folder, through
`lexbrief summarize --json`; the pipeline's own wall time (`usage.seconds`) is compared.

  python3 scripts/compare_pipelines.py --other-src /tmp/old/app --runs 2 DOC...
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(src: Path, document: Path, model: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="lexbrief-compare-") as home:
        env = {**os.environ, "LEXBRIEF_HOME": home, "PYTHONPATH": str(src)}
        command = [sys.executable, "-m", "lexbrief", "summarize", str(document), "--json"]
        if model:
            command += ["--model", model]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{src}: {document.name} failed ({done.returncode}): "
                             f"{done.stderr[-800:]}")
        record = json.loads(done.stdout)
        return {"seconds": record["usage"]["seconds"],
                "prompt_tokens": record["usage"]["prompt_tokens"],
                "completion_tokens": record["usage"]["completion_tokens"],
                "points": len(record["key_points"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("documents", nargs="+", type=Path)
    parser.add_argument("--other-src", type=Path, required=True,
                        help="the other tree's source root (its app/ folder)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--model")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    trees = {"this": ROOT / "app", "other": args.other_src.resolve()}
    results: dict[str, dict[str, list[dict[str, object]]]] = {}
    for document in args.documents:
        per: dict[str, list[dict[str, object]]] = {"this": [], "other": []}
        for i in range(args.runs):
            order = ["other", "this"] if i % 2 == 0 else ["this", "other"]
            for name in order:
                per[name].append(run(trees[name], document, args.model))
                print(f"{document.name} {name} run {i + 1}: {per[name][-1]}", file=sys.stderr,
                      flush=True)
        results[document.name] = per
    print(f"{'document':34}{'other s':>9}{'this s':>9}{'ratio':>7}{'tok other':>11}"
          f"{'tok this':>10}")
    for name, per in results.items():
        other = statistics.median(float(r["seconds"]) for r in per["other"])  # type: ignore[arg-type]
        this = statistics.median(float(r["seconds"]) for r in per["this"])  # type: ignore[arg-type]
        tok_o = statistics.median(int(r["completion_tokens"]) for r in per["other"])  # type: ignore[call-overload]
        tok_t = statistics.median(int(r["completion_tokens"]) for r in per["this"])  # type: ignore[call-overload]
        print(f"{name[:33]:34}{other:>9.1f}{this:>9.1f}{this / other:>7.2f}{tok_o:>11}"
              f"{tok_t:>10}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
