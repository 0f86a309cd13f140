"""Telemetry and costs inside a summary run: the record rides on the Outcome, the ledger row is
written with the summary or not at all, and a real summary prints a truthful card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lexbrief.cancel import CancelToken
from lexbrief.costs.card import card
from lexbrief.errors import Cancelled
from lexbrief.machine.telemetry.rapl import RaplReader
from lexbrief.read.document import Document, Page
from lexbrief.service import Summarizer
from lexbrief.store import Store

from conftest import DOCUMENTS
from fake_engine import FakeEngine
from test_cli import lexbrief


def _doc() -> Document:
    text = " ".join(f"Clause {i} obliges the tenant to pay rent of {i} dollars monthly."
                    for i in range(40))
    return Document(path=Path("lease.txt"), kind="txt", pages=[Page(1, text), Page(2, text)],
                    sha256="1" * 64, size=10)


def _summarizer(tmp_path: Path, engine: Any) -> Summarizer:
    model = tmp_path / "fake.gguf"
    model.write_bytes(b"GGUF not really")
    return Summarizer(Store(), model=str(model), engine_factory=lambda _: engine)


def test_a_summary_carries_its_run_record_and_ledger_row(tmp_path: Path) -> None:
    summarizer = _summarizer(tmp_path, FakeEngine())
    outcome = summarizer.summarize_document(_doc())
    run, cost = outcome.run, outcome.cost
    assert run is not None and cost is not None and outcome.cost_error is None
    assert run.prompt_tokens == outcome.summary.usage.prompt_tokens > 0
    assert run.energy.wh is not None and run.energy.estimated == (not RaplReader().available)
    assert cost.cloud.model == "gpt-4o-mini" and cost.local.currency == "USD"
    (row,) = summarizer.store.db.query("SELECT * FROM run_records")
    assert row["summary_id"] == outcome.summary_id
    assert row["cloud_cost_usd"] == pytest.approx(cost.cloud.usd)
    data = json.loads(json.dumps(outcome.as_json()))
    assert data["hardware"]["energy"]["estimated"] == run.energy.estimated
    assert data["cost"]["cloud"]["usd"] == pytest.approx(cost.cloud.usd)
    lines = card(run, cost)
    assert lines[0].startswith("hardware:") and lines[2].startswith("cost:")
    assert ("ESTIMATED" if run.energy.estimated else "MEASURED") in lines[1]


def test_a_cancelled_run_leaves_no_row_anywhere(tmp_path: Path) -> None:
    engine = FakeEngine()
    cancel = CancelToken()
    engine.on_token = lambda piece: cancel.cancel()  # type: ignore[assignment]
    summarizer = _summarizer(tmp_path, engine)
    with pytest.raises(Cancelled):
        summarizer.summarize_document(_doc(), cancel=cancel)
    assert summarizer.store.counts() == {"documents": 0, "summaries": 0}
    assert summarizer.store.db["run_records"].count == 0


def test_a_broken_pricing_file_does_not_stop_a_summary(tmp_path: Path,
                                                       lexbrief_home: Path) -> None:
    lexbrief_home.mkdir(parents=True, exist_ok=True)
    (lexbrief_home / "pricing.toml").write_text("[models\n", encoding="utf-8")
    summarizer = _summarizer(tmp_path, FakeEngine())
    outcome = summarizer.summarize_document(_doc())
    assert outcome.run is not None and outcome.cost is None
    assert outcome.cost_error and "not valid TOML" in outcome.cost_error
    assert outcome.as_json()["cost"] == {"error": outcome.cost_error}
    assert "not computed" in card(outcome.run, None, outcome.cost_error)[2]
    (row,) = summarizer.store.db.query("SELECT local_cost, cost, energy_wh FROM run_records")
    assert row["local_cost"] is None and row["cost"] is None and row["energy_wh"] is not None


@pytest.mark.model
def test_a_real_summary_prints_a_truthful_card_and_costs_sums_it() -> None:
    result = lexbrief("summarize", str(DOCUMENTS / "court-order-ca7.pdf"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    hw, cost = data["hardware"], data["cost"]
    assert hw["prompt_tokens"] == data["usage"]["prompt_tokens"] > 0
    assert hw["completion_tokens"] > 0 and hw["generation_tokens_per_second"] > 0
    assert 0 < hw["time_to_first_token_seconds"] <= hw["wall_seconds"]
    assert hw["peak_rss_bytes"] > 50 * 2**20  # the model is mapped and read: ~100 MB
    measured = RaplReader().available
    assert hw["energy"]["estimated"] is not measured and hw["energy"]["wh"] > 0
    assert cost["cloud"]["input_tokens"] == hw["prompt_tokens"]  # 1:1 conversion
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert any(line.startswith("hardware:") for line in lines)
    energy = next(line for line in lines if line.startswith("energy:"))
    assert ("MEASURED" if measured else "ESTIMATED") in energy
    assert any(line.startswith("cost:") and "GPT-4o mini would cost" in line for line in lines)

    totals = lexbrief("costs", "--json", "--period", "all")
    assert totals.returncode == 0, totals.stderr
    total = json.loads(totals.stdout)["total"]
    assert total["runs"] == 1 and total["prompt_tokens"] == hw["prompt_tokens"]
    assert total["cloud_usd"] == pytest.approx(cost["cloud"]["usd"])
    assert total["savings_usd"] == pytest.approx(cost["savings_usd"])
