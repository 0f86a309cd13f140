"""The cost model: the bundled price table, validation of hand-edited files, hand-computed cost
arithmetic, the ledger in SQLite (atomic with the summary), and `lexbrief costs`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from lexbrief.costs.compare import cloud_cost, compare_numbers, local_cost
from lexbrief.costs.ledger import ledger_row, overall, period_key, totals
from lexbrief.costs.pricing import Hardware, PricingError, load_pricing, pricing_path
from lexbrief.errors import UserFacingError
from lexbrief.machine.telemetry.run import EnergyRecord, RunRecord
from lexbrief.paths import resource_dir
from lexbrief.store import DocumentRecord, Store, SummaryRecord
from lexbrief.ui.cli import main as cli

BUNDLED = resource_dir() / "pricing.toml"

GOOD_MODEL = """
[models.m]
provider = "OpenAI"
name = "M"
input_usd_per_mtok = 2.50
output_usd_per_mtok = 10.00
source = "https://example.com/pricing"
as_of = 2026-03-21
"""


def main(argv: list[str]) -> int:
    """The CLI in this process; closes the log file it opens (setup_logging replaces handlers
    without closing them)."""
    try:
        return cli.main(argv)
    finally:
        for handler in logging.getLogger("lexbrief").handlers[:]:
            handler.close()
            logging.getLogger("lexbrief").removeHandler(handler)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pricing.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the bundled table ----------------------------------------------------------------------------

def test_the_bundled_price_table_is_valid_dated_and_sourced() -> None:
    pricing = load_pricing(BUNDLED)
    assert pricing_path() == BUNDLED  # no user copy in this test's data folder
    providers = {m.provider for m in pricing.models.values()}
    assert {"OpenAI", "Anthropic", "Google"} <= providers
    for model in pricing.models.values():
        assert model.source.startswith("https://")
        assert dt.date(2025, 1, 1) <= model.as_of <= dt.date.today()
        assert 0 < model.input_usd_per_mtok <= model.output_usd_per_mtok
    assert pricing.default_cloud_model in pricing.models
    assert pricing.cloud_tokens_per_local_token == 1.0
    mini = pricing.model("gpt-4o-mini")
    assert (mini.input_usd_per_mtok, mini.output_usd_per_mtok) == (0.15, 0.60)
    assert pricing.model("GPT-4O-MINI") is mini  # case does not matter
    assert not pricing.hardware.enabled and pricing.power_model.watts_per_core == 5.0


def test_a_user_copy_in_the_data_folder_replaces_the_bundled_file(lexbrief_home: Path) -> None:
    lexbrief_home.mkdir(parents=True, exist_ok=True)
    (lexbrief_home / "pricing.toml").write_text(GOOD_MODEL, encoding="utf-8")
    assert pricing_path() == lexbrief_home / "pricing.toml"
    assert list(load_pricing().models) == ["m"]


# -- malformed files ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "problem"), [
    ("[models.m\nprovider = 1", "is not valid TOML"),
    (GOOD_MODEL.replace("2.50", "-2.50"), "input_usd_per_mtok must be at least 0, not -2.5"),
    (GOOD_MODEL.replace("10.00", '"ten"'), "output_usd_per_mtok must be a number, not 'ten'"),
    (GOOD_MODEL.replace("10.00", "true"), "output_usd_per_mtok must be a number"),
    (GOOD_MODEL.replace("10.00", "nan"), "output_usd_per_mtok must be a number"),
    (GOOD_MODEL.replace('source = "https://example.com/pricing"\n', ""),
     "model 'm' lacks 'source'"),
    (GOOD_MODEL.replace('name = "M"\n', ""), "model 'm' lacks 'name'"),
    (GOOD_MODEL.replace("as_of = 2026-03-21", 'as_of = "March 2026"'),
     "as_of must be a date like 2026-03-21, not 'March 2026'"),
    (GOOD_MODEL.replace("as_of = 2026-03-21", "as_of = 2926-03-21"), "is in the future"),
    (GOOD_MODEL.replace("input_usd_per_mtok", "input_usd_per_mtoken"),
     "unknown key 'input_usd_per_mtoken'"),
    (GOOD_MODEL.replace('provider = "OpenAI"', 'provider = ""'), "'provider' must be a non-empty"),
    ('default_cloud_model = "gpt-9"\n' + GOOD_MODEL, "default_cloud_model 'gpt-9' is not one"),
    ("schema = 1\n", "lists no cloud models"),
    ("schema = 2\n" + GOOD_MODEL, "schema 2 is not supported"),
    ("[tokens]\ncloud_tokens_per_local_token = 0\n" + GOOD_MODEL,
     "cloud_tokens_per_local_token must be above 0"),
    ("[hardware]\nprice = 1500\n" + GOOD_MODEL, "lifetime_hours is 0"),
    ("[exchange_rates]\nEUR = -1\n" + GOOD_MODEL, "exchange_rates.EUR must be above 0"),
    ("prices = 3\n" + GOOD_MODEL, "unknown key 'prices'"),
    ("models = 3\n", "'models' must be a table"),
])
def test_malformed_pricing_files_are_rejected_clearly(tmp_path: Path, text: str,
                                                      problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(PricingError) as caught:
        load_pricing(path)
    message = caught.value.message
    assert problem in message
    assert str(path) in message and "\n" not in message.strip()
    assert isinstance(caught.value, UserFacingError)


def test_a_missing_or_unreadable_pricing_file(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="does not exist"):
        load_pricing(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(PricingError, match="cannot be read"):
        load_pricing(tmp_path / "bin.toml")


def test_an_unknown_cloud_model_names_the_known_ones() -> None:
    with pytest.raises(PricingError, match=r"no cloud model 'gpt-9'.*gpt-4o-mini"):
        load_pricing(BUNDLED).model("gpt-9")


# -- arithmetic by hand ---------------------------------------------------------------------------

def test_cloud_cost_by_hand(tmp_path: Path) -> None:
    price = load_pricing(_write(tmp_path, GOOD_MODEL)).model("m")
    # 1M in × $2.50 + 0.5M out × $10 = 2.50 + 5.00
    assert cloud_cost(1_000_000, 500_000, price).usd == pytest.approx(7.50)
    # 977 × 0.15 + 313 × 0.60 = 146.55 + 187.8 = 334.35 micro-dollars (gpt-4o-mini)
    mini = load_pricing(BUNDLED).model("gpt-4o-mini")
    assert cloud_cost(977, 313, mini).usd == pytest.approx(334.35e-6)


def test_token_conversion_factor_by_hand(tmp_path: Path) -> None:
    text = "[tokens]\ncloud_tokens_per_local_token = 1.1\n" + GOOD_MODEL
    price = load_pricing(_write(tmp_path, text)).model("m")
    cost = cloud_cost(1_000_000, 500_000, price)
    # 1.1M in × $2.50 = 2.75; 0.55M out × $10 = 5.50
    assert (cost.input_tokens, cost.output_tokens) == (1_100_000, 550_000)
    assert cost.usd == pytest.approx(8.25) and cost.tokens_per_local_token == 1.1
    per_model = GOOD_MODEL + "cloud_tokens_per_local_token = 1.25\n"
    price = load_pricing(_write(tmp_path, text.replace(GOOD_MODEL, per_model))).model("m")
    assert cloud_cost(1000, 0, price).input_tokens == 1250  # the model's own factor wins


def test_local_cost_by_hand() -> None:
    # 0.142 Wh = 0.000142 kWh × 0.30 = 0.0000426
    cost = local_cost(0.142, estimated=True, wall_seconds=51.1, price_per_kwh=0.30,
                      currency="USD", hardware=Hardware())
    assert cost.energy_cost == pytest.approx(0.0000426) and cost.total == cost.energy_cost
    assert cost.hardware_cost == 0
    # Amortisation: 1,200 over 6,000 h = 0.20 per hour; 90 s = 0.025 h → 0.005
    with_hw = local_cost(10.0, estimated=False, wall_seconds=90, price_per_kwh=0.25,
                         currency="EUR", hardware=Hardware(price=1200, lifetime_hours=6000))
    assert with_hw.energy_cost == pytest.approx(0.0025)
    assert with_hw.hardware_cost == pytest.approx(0.005)
    assert with_hw.total == pytest.approx(0.0075)
    unknown = local_cost(None, estimated=False, wall_seconds=5, price_per_kwh=0.3,
                         currency="USD", hardware=Hardware())
    assert unknown.energy_cost is None and unknown.total is None


def test_savings_by_hand_and_across_currencies(tmp_path: Path) -> None:
    pricing = load_pricing(BUNDLED)
    usd = compare_numbers(prompt_tokens=977, completion_tokens=313, energy_wh=0.142,
                          energy_estimated=True, wall_seconds=51.1, pricing=pricing,
                          price_per_kwh=0.30, currency="USD", cloud_model="gpt-4o-mini")
    assert usd.savings_usd == pytest.approx(334.35e-6 - 42.6e-6)
    eur = compare_numbers(prompt_tokens=977, completion_tokens=313, energy_wh=0.142,
                          energy_estimated=True, wall_seconds=51.1, pricing=pricing,
                          price_per_kwh=0.30, currency="EUR", cloud_model="gpt-4o-mini")
    assert eur.savings_usd is None and "no exchange rate for EUR" in eur.note
    rated = load_pricing(_write(tmp_path, "[exchange_rates]\neur = 1.1\n" + GOOD_MODEL))
    eur = compare_numbers(prompt_tokens=1_000_000, completion_tokens=0, energy_wh=1000,
                          energy_estimated=False, wall_seconds=1, pricing=rated,
                          price_per_kwh=0.5, currency="EUR")
    # cloud 2.50 USD − local (1 kWh × 0.5 EUR × 1.1 USD/EUR = 0.55 USD) = 1.95 USD
    assert eur.savings_usd == pytest.approx(1.95) and eur.cloud.model == "m"
    assert type(eur).from_dict(json.loads(json.dumps(eur.as_dict()))) == eur


# -- the ledger -----------------------------------------------------------------------------------

def _record(prompt: int = 1000, completion: int = 200, wh: float | None = 0.5,
            estimated: bool = True, wall: float = 10.0) -> RunRecord:
    return RunRecord(
        prompt_tokens=prompt, completion_tokens=completion, cached_prompt_tokens=0,
        prompt_seconds=1.0, generation_seconds=4.0, prompt_tokens_per_second=1000.0,
        generation_tokens_per_second=50.0, time_to_first_token_seconds=1.2, wall_seconds=wall,
        peak_rss_bytes=300 * 2**20, mean_cpu_percent=90.0, mean_process_cpu_percent=80.0,
        cpu_count=2, physical_cores=2, gpus=[],
        energy=EnergyRecord(wh=wh, estimated=estimated, method="test"), samples=10,
        sampler_cpu_seconds=0.004)


def _document(sha: str) -> DocumentRecord:
    return DocumentRecord(sha256=sha, name=f"{sha[:4]}.pdf", path=None, kind="pdf",
                          title=None, pages=1, pagination="printed", size=10)


def _summary() -> SummaryRecord:
    return SummaryRecord(model_name="m.gguf", model_sha256=None, template="general",
                         parameters={}, text="text", citations=[], coverage={},
                         prompt_tokens=1000, completion_tokens=200, load_seconds=0.1,
                         prompt_seconds=1.0, generation_seconds=4.0, wall_seconds=10.0)


def _save(store: Store, sha: str, record: RunRecord, currency: str = "USD") -> int:
    pricing = load_pricing(BUNDLED)
    comparison = compare_numbers(
        prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens,
        energy_wh=record.energy.wh, energy_estimated=record.energy.estimated,
        wall_seconds=record.wall_seconds, pricing=pricing, price_per_kwh=0.30,
        currency=currency)
    row = ledger_row(record, comparison, document_name=f"{sha[:4]}.pdf", model_name="m.gguf",
                     currency=currency)
    return store.save_summary(document=_document(sha), summary=_summary(), run_record=row)


def test_the_ledger_row_is_written_with_the_summary_and_survives_its_deletion() -> None:
    store = Store()
    summary_id = _save(store, "a" * 64, _record())
    (row,) = store.db.query("SELECT * FROM run_records")
    assert row["summary_id"] == summary_id and row["energy_estimated"] == 1
    assert row["local_cost"] == pytest.approx(0.5 / 1000 * 0.30)
    assert row["cloud_model"] == "gpt-4o-mini"
    assert row["cloud_cost_usd"] == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    assert RunRecord.from_dict(json.loads(row["hardware"])) == _record()
    store.delete_summary(summary_id)
    (row,) = store.db.query("SELECT summary_id FROM run_records")
    assert row["summary_id"] is None  # the energy was still spent: the ledger keeps it


def test_a_failed_ledger_write_leaves_no_summary_either() -> None:
    store = Store()
    bad = {**ledger_row(_record(), None, document_name="x", model_name="m", currency="USD"),
           "no_such_column": 1}
    # a ledger row the table cannot take is our bug (SQLITE_ERROR), not the world's fault
    with pytest.raises(sqlite3.OperationalError, match="no_such_column"):
        store.save_summary(document=_document("b" * 64), summary=_summary(), run_record=bad)
    assert store.counts() == {"documents": 0, "summaries": 0}
    assert store.db["run_records"].count == 0


def _entries_on(store: Store, days: list[tuple[str, RunRecord]]) -> None:
    for i, (_, record) in enumerate(days):
        _save(store, f"{i:064x}", record)
    for i, (when, _) in enumerate(days, 1):
        store.db.execute("UPDATE run_records SET created = ? WHERE id = ?", [when, i])
    store.db.conn.commit()


def test_totals_per_period_by_hand() -> None:
    store = Store()
    noon = "T12:00:00+00:00"
    _entries_on(store, [
        (f"2026-10-31{noon}", _record(prompt=1000, completion=100, wh=1.0)),
        (f"2026-11-02{noon}", _record(prompt=2000, completion=200, wh=2.0, estimated=False)),
        (f"2026-11-02{noon}", _record(prompt=3000, completion=300, wh=None)),
    ])
    items = store.ledger_entries()
    pricing = load_pricing(BUNDLED)
    price = pricing.model("gpt-4o")  # $2.50 / $10 per 1M
    months = totals(items, "month", price, pricing)
    assert [t.period for t in months] == [period_key(i.created, "month") for i in items[::2]]
    if [t.period for t in months] == ["2026-10", "2026-11"]:  # in every time zone but the far ones
        october, november = months
        assert (october.runs, november.runs) == (1, 2)
        assert november.energy_wh == pytest.approx(2.0)
        assert november.unknown_energy_runs == 1 and november.uncosted_runs == 1
        assert november.estimated_runs == 0
        # 5,000 in × 2.50 + 500 out × 10 = 12,500 + 5,000 micro-dollars
        assert november.cloud_usd == pytest.approx(0.0175)
        # savings only over the run with a local cost:
        # (2,000 × 2.50 + 200 × 10 = 7,000 micro-dollars) − 2 Wh × 0.30/kWh
        assert november.savings_usd == pytest.approx(0.0070 - 0.0006)
    grand = overall(totals(items, "all", price, pricing), pricing)
    assert grand.runs == 3 and grand.prompt_tokens == 6000 and grand.completion_tokens == 600
    assert grand.energy_wh == pytest.approx(3.0) and grand.estimated_runs == 1
    assert grand.local_cost == {"USD": pytest.approx(3.0 / 1000 * 0.30)}
    assert grand.cloud_usd == pytest.approx((6000 * 2.5 + 600 * 10) / 1e6)
    assert grand.savings_usd == pytest.approx((3000 * 2.5 + 300 * 10) / 1e6 - 0.0009)
    days = totals(items, "day", price, pricing)
    assert sum(t.runs for t in days) == 3
    week = period_key(dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC), "week")
    assert week.startswith("2026-W")


# -- the command ----------------------------------------------------------------------------------

def test_costs_command_on_an_empty_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["costs"]) == 0
    assert "No summaries in the cost ledger yet" in capsys.readouterr().out


def test_costs_command_sums_the_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    store = Store()
    _save(store, "a" * 64, _record(prompt=1000, completion=100, wh=1.0))
    _save(store, "c" * 64, _record(prompt=3000, completion=300, wh=3.0))
    store.close()
    assert main(["costs", "--period", "all", "--cloud", "gpt-4o"]) == 0
    out = capsys.readouterr().out
    assert "GPT-4o" in out and "4,000" in out and "400" in out
    assert "4.00 Wh (est.)" in out
    assert "0.00120 USD" in out  # 4 Wh × 0.30 USD/kWh
    assert "0.0140 USD" in out  # 4,000 × 2.50 + 400 × 10 = 14,000 micro-dollars
    assert "estimated from the power model in 2" in out
    assert main(["costs", "--json", "--cloud", "gpt-4o"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["runs"] == 2
    assert data["total"]["savings_usd"] == pytest.approx(0.014 - 0.0012)
    assert main(["costs", "--prices"]) == 0
    assert "claude-sonnet-4.5" in capsys.readouterr().out


def test_costs_command_errors_are_one_line(lexbrief_home: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["costs", "--cloud", "gpt-9"]) == 3
    assert "no cloud model 'gpt-9'" in capsys.readouterr().err
    lexbrief_home.mkdir(parents=True, exist_ok=True)
    (lexbrief_home / "pricing.toml").write_text(GOOD_MODEL.replace("2.50", "-1"))
    assert main(["costs"]) == 3
    err = capsys.readouterr().err
    assert "must be at least 0" in err and err.count("\n") == 1
