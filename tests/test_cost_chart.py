"""Cost at a glance: the bars (this computer vs 3–5 cloud models from pricing.toml, the chosen one
highlighted), the saving and the assumptions, for one summary and for a period; and
`lexbrief costs --plot FILE.png`."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexbrief.costs.chart import chart_for_period, chart_for_run, pick_models
from lexbrief.costs.compare import cloud_cost, compare_numbers
from lexbrief.costs.ledger import overall, totals
from lexbrief.costs.pricing import load_pricing
from lexbrief.paths import resource_dir
from lexbrief.store import Store
from lexbrief.ui.cli.main import main

from test_costs import _record, _save

BUNDLED = resource_dir() / "pricing.toml"


def _comparison(cloud: str = "gpt-4o-mini"):  # type: ignore[no-untyped-def]
    return compare_numbers(prompt_tokens=40_000, completion_tokens=2_000, energy_wh=2.0,
                           energy_estimated=True, wall_seconds=95, pricing=load_pricing(BUNDLED),
                           price_per_kwh=0.30, currency="USD", cloud_model=cloud)


def test_the_chosen_model_the_cheapest_and_the_dearest_are_always_shown() -> None:
    pricing = load_pricing(BUNDLED)
    everything = sorted(pricing.models.values(),
                        key=lambda m: cloud_cost(40_000, 2_000, m).usd)
    for chosen in ("gpt-4o-mini", "claude-opus-4.1", "gemini-2.5-flash"):
        picked = pick_models(pricing, chosen, 40_000, 2_000)
        keys = [m.key for m in picked]
        assert 3 <= len(keys) <= 5 and len(set(keys)) == len(keys)
        assert chosen in keys
        assert keys[0] == everything[0].key and keys[-1] == everything[-1].key
        costs = [cloud_cost(40_000, 2_000, m).usd for m in picked]
        assert costs == sorted(costs)


def test_a_summary_chart_by_hand() -> None:
    pricing = load_pricing(BUNDLED)
    chart = chart_for_run(_comparison("gpt-4o"), pricing, prompt_tokens=40_000,
                          completion_tokens=2_000, document="lease.pdf",
                          energy_method="CPU estimated: 2 cores × 5 W")
    local = chart.local
    assert local is not None and chart.bars[0] is local
    assert local.usd == pytest.approx(2.0 / 1000 * 0.30)  # 2 Wh at 0.30 USD/kWh
    assert "2.00 Wh estimated × 0.3 USD/kWh" in local.detail
    chosen = chart.chosen
    assert chosen is not None and chosen.label == "GPT-4o (OpenAI)"
    # 40,000 in × $2.50 + 2,000 out × $10 per million
    assert chosen.usd == pytest.approx(0.12)
    assert sum(b.chosen for b in chart.bars) == 1
    assert "40,000 tokens in × $2.50" in chosen.detail and "2026-" in chosen.detail
    assert chart.saving == "Saved 0.119 USD against GPT-4o (OpenAI), 200× what it cost here."
    assert "Electricity 0.3 USD/kWh" in chart.assumptions
    assert "from the power model" in chart.assumptions
    assert "1 local token counted as 1 OpenAI token" in chosen.detail


def test_without_an_exchange_rate_the_saving_is_unknown_not_zero() -> None:
    pricing = load_pricing(BUNDLED)
    comparison = compare_numbers(prompt_tokens=1000, completion_tokens=100, energy_wh=1.0,
                                 energy_estimated=False, wall_seconds=5, pricing=pricing,
                                 price_per_kwh=0.25, currency="EUR")
    chart = chart_for_run(comparison, pricing, prompt_tokens=1000, completion_tokens=100,
                          document="x.pdf")
    assert chart.local is not None and chart.local.usd is None
    assert chart.saving.startswith("Saving against GPT-4o mini (OpenAI): unknown — no exchange")


def test_a_period_chart_sums_the_ledger() -> None:
    store = Store()
    _save(store, "a" * 64, _record(prompt=1000, completion=100, wh=1.0))
    _save(store, "b" * 64, _record(prompt=3000, completion=300, wh=None))
    pricing = load_pricing(BUNDLED)
    price = pricing.model("gpt-4o")
    grand = overall(totals(store.ledger_entries(), "all", price, pricing), pricing)
    store.close()
    chart = chart_for_period(grand, pricing, price_per_kwh=0.30, currency="USD",
                             chosen="gpt-4o", label="all summaries")
    assert chart.title == "Cost of all summaries"
    assert chart.local is not None and chart.local.usd == pytest.approx(1.0 / 1000 * 0.30)
    assert chart.chosen is not None and chart.chosen.usd == pytest.approx(
        (4000 * 2.5 + 400 * 10) / 1e6)
    assert "1 summary without a local cost are left out" in chart.assumptions
    assert "unknown in 1" in chart.assumptions


def test_costs_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store()
    _save(store, "a" * 64, _record(prompt=1000, completion=100, wh=1.0))
    store.close()
    target = tmp_path / "costs.png"
    assert main(["costs", "--period", "all", "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Chart of all: {target}" in capsys.readouterr().out


def test_costs_plot_on_an_empty_ledger_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["costs", "--plot", str(tmp_path / "x.png")]) == 3
    assert "nothing to plot" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_costs_plot_into_a_missing_folder_names_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store()
    _save(store, "a" * 64, _record())
    store.close()
    target = tmp_path / "no-such-folder" / "c.png"
    assert main(["costs", "--plot", str(target)]) == 5
    assert f"cannot write {target}" in capsys.readouterr().err
