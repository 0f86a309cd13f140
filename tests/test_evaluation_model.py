"""`lexbrief eval` on the real SmolLM2 model, one short bill, both strategies (shape only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES
from test_cli import lexbrief

pytestmark = pytest.mark.model


def test_eval_runs_both_strategies_and_writes_json(tmp_path: Path) -> None:
    rows = (FIXTURES / "reference" / "us-bills-crs-2.jsonl").read_text(encoding="utf-8")
    one = tmp_path / "one.jsonl"
    one.write_text(rows.splitlines()[0] + "\n", encoding="utf-8")
    out = tmp_path / "eval.json"
    run = lexbrief("eval", str(one), "--max-new-tokens", "48", "--strategies",
                   "naive,mapreduce,textrank", "--json", str(out))
    assert run.returncode == 0, run.stderr
    table = run.stdout
    assert "naive" in table and "mapreduce" in table and "textrank" in table
    assert "reference" in table
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["schema"] == "lexbrief-eval/1"
    assert result["strategies"] == ["naive", "mapreduce", "textrank"]
    runs = {r["strategy"]: r for r in result["rows"]}
    assert set(runs) == {"reference", "naive", "mapreduce", "textrank"}
    # the baseline has the length of the first model strategy's summary, and no model tokens
    assert runs["textrank"]["completion_tokens"] == 0 and runs["textrank"]["words"] > 0
    for name in ("naive", "mapreduce"):
        run = runs[name]
        assert run["id"] == "billml-111s1992is" and run["template"] == "legislation"
        assert run["summary"].strip() and run["completion_tokens"] > 0
        assert 0 <= run["rouge"]["rougeL"]["f1"] <= 1
        assert run["read_share"] == 1.0  # a one-page bill fits either way
        assert {"score", "supported", "total", "by_kind"} <= set(run["faithfulness"])
        assert {"valid_share", "cited"} <= set(run["citations_checked"])
    # The bill fits one chunk: both strategies send the same prompt from a cold cache.
    assert runs["naive"]["summary"] == runs["mapreduce"]["summary"]
    summary = result["summary"]["all"]
    assert summary["naive"]["rows"] == summary["mapreduce"]["rows"] == 1
