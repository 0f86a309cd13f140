"""The cost ledger in SQLite (table `run_records`, migration m003): one row per summary run,
and totals per day, week or month.

The rows are read back by `Store.ledger_entries()`. A row is written by
`Store.save_summary(..., run_record=ledger_row(...))` in the summary's own
transaction, so a failed or cancelled run leaves none. Totals add up the stored local costs (what
the electricity cost at the price of the day) and price the stored token counts with the chosen
cloud model from the current pricing file.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from lexbrief.costs.compare import CostComparison, cloud_cost
from lexbrief.costs.pricing import CloudPrice, Pricing
from lexbrief.machine.telemetry.run import RunRecord

PERIODS = ("day", "week", "month", "matter", "all")
NO_MATTER = "(no matter)"  # the group of the summaries filed under none


def ledger_row(record: RunRecord, comparison: CostComparison | None, *,
               document_name: str, model_name: str, currency: str,
               matter: str | None = None) -> dict[str, Any]:
    """The `run_records` columns for one run (summary_id and created are added on insert)."""
    return {
        "document_name": document_name, "model_name": model_name, "matter": matter,
        "wall_seconds": record.wall_seconds,
        "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
        "energy_wh": record.energy.wh, "energy_estimated": int(record.energy.estimated),
        "currency": comparison.local.currency if comparison else currency,
        "local_cost": comparison.local.total if comparison else None,
        "cloud_model": comparison.cloud.model if comparison else None,
        "cloud_cost_usd": comparison.cloud.usd if comparison else None,
        "savings_usd": comparison.savings_usd if comparison else None,
        "hardware": json.dumps(record.as_dict(), sort_keys=True),
        "cost": json.dumps(comparison.as_dict(), sort_keys=True) if comparison else None,
    }


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    summary_id: int | None
    created: dt.datetime  # aware, UTC
    document_name: str
    wall_seconds: float
    prompt_tokens: int
    completion_tokens: int
    energy_wh: float | None
    energy_estimated: bool
    currency: str | None
    local_cost: float | None
    matter: str | None = None  # the client matter (m008), None: filed under none


@dataclass(frozen=True)
class RunCost:
    """One stored summary's ledger row, as its report's cost chart needs it."""

    summary_id: int
    document_name: str
    prompt_tokens: int
    completion_tokens: int
    comparison: CostComparison | None  # None: the run had no cost (e.g. no pricing file)
    energy_method: str  # how the energy figure was obtained (the run's EnergyRecord.method)


def entry_key(entry: LedgerEntry, period: str) -> str:
    """The group an entry falls in: its local-time period, or its matter (NO_MATTER if none)."""
    if period == "matter":
        return entry.matter or NO_MATTER
    return period_key(entry.created, period)


def matter_entries(items: list[LedgerEntry], matter: str) -> list[LedgerEntry]:
    """The entries of one matter (its name compared without case or extra spaces)."""
    wanted = " ".join(matter.split()).casefold()
    return [e for e in items if " ".join((e.matter or "").split()).casefold() == wanted]


def period_key(moment: dt.datetime, period: str) -> str:
    """The local-time period a moment falls in: 2026-11-29, 2026-W48, 2026-11 or all."""
    local = moment.astimezone()
    if period == "day":
        return local.date().isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{local.year}-{local.month:02d}"
    if period == "all":
        return "all"
    raise ValueError(f"unknown period {period!r}; choose one of {', '.join(PERIODS)}")


@dataclass
class PeriodTotal:
    period: str
    runs: int = 0
    wall_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    energy_wh: float = 0.0  # of the runs whose energy is known
    estimated_runs: int = 0  # runs whose energy is an estimate
    unknown_energy_runs: int = 0  # runs whose energy is unknown: not in energy_wh / local
    uncosted_runs: int = 0  # runs without a local cost (unknown energy, invalid pricing file)
    local_cost: dict[str, float] = field(default_factory=dict)  # currency → amount
    cloud_usd: float = 0.0  # every run's tokens at the chosen cloud model's prices
    costed_cloud_usd: float = 0.0  # the same, for the runs that have a local cost
    savings_usd: float | None = None  # costed runs: cloud − local; None: no exchange rate

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}


def totals(items: list[LedgerEntry], period: str, price: CloudPrice,
           pricing: Pricing) -> list[PeriodTotal]:
    """Totals per period (oldest first), each with the cloud cost of its tokens at `price`."""
    groups: dict[str, PeriodTotal] = {}
    for entry in items:
        key = entry_key(entry, period)
        total = groups.setdefault(key, PeriodTotal(key))
        total.runs += 1
        total.wall_seconds += entry.wall_seconds
        total.prompt_tokens += entry.prompt_tokens
        total.completion_tokens += entry.completion_tokens
        if entry.energy_wh is None:
            total.unknown_energy_runs += 1
        else:
            total.energy_wh += entry.energy_wh
            total.estimated_runs += int(entry.energy_estimated)
        cloud = cloud_cost(entry.prompt_tokens, entry.completion_tokens, price).usd
        total.cloud_usd += cloud
        if entry.local_cost is None or entry.currency is None:
            total.uncosted_runs += 1
        else:
            total.local_cost[entry.currency] = (total.local_cost.get(entry.currency, 0.0)
                                                + entry.local_cost)
            total.costed_cloud_usd += cloud
    for total in groups.values():
        total.savings_usd = _savings(total, pricing)
    return [groups[key] for key in sorted(groups)]


def overall(per_period: list[PeriodTotal], pricing: Pricing) -> PeriodTotal:
    grand = PeriodTotal("total")
    for t in per_period:
        grand.runs += t.runs
        grand.wall_seconds += t.wall_seconds
        grand.prompt_tokens += t.prompt_tokens
        grand.completion_tokens += t.completion_tokens
        grand.energy_wh += t.energy_wh
        grand.estimated_runs += t.estimated_runs
        grand.unknown_energy_runs += t.unknown_energy_runs
        grand.uncosted_runs += t.uncosted_runs
        grand.cloud_usd += t.cloud_usd
        grand.costed_cloud_usd += t.costed_cloud_usd
        for currency, amount in t.local_cost.items():
            grand.local_cost[currency] = grand.local_cost.get(currency, 0.0) + amount
    grand.savings_usd = _savings(grand, pricing)
    return grand


def _savings(total: PeriodTotal, pricing: Pricing) -> float | None:
    local_usd = 0.0
    for currency, amount in total.local_cost.items():
        rate = pricing.usd_per_unit(currency)
        if rate is None:
            return None
        local_usd += amount * rate
    return total.costed_cloud_usd - local_usd
