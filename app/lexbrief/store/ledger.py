"""The cost ledger's table (`run_records`, migration m003) read back as typed entries; the
arithmetic over them (totals per day, week or month) is `lexbrief.costs.ledger`'s."""

from __future__ import annotations

import datetime as dt
import json

import sqlite_utils

from lexbrief.costs.compare import CostComparison
from lexbrief.costs.ledger import LedgerEntry, RunCost


def ledger_entries(db: sqlite_utils.Database) -> list[LedgerEntry]:
    if not db["run_records"].exists():
        return []
    rows = db.query("SELECT id, summary_id, created, document_name, wall_seconds, "
                    "prompt_tokens, completion_tokens, energy_wh, energy_estimated, currency, "
                    "local_cost, matter FROM run_records ORDER BY created, id")
    result = []
    for row in rows:
        created = dt.datetime.fromisoformat(row["created"])
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        result.append(LedgerEntry(
            id=row["id"], summary_id=row["summary_id"], created=created,
            document_name=row["document_name"], wall_seconds=row["wall_seconds"],
            prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
            energy_wh=row["energy_wh"], energy_estimated=bool(row["energy_estimated"]),
            currency=row["currency"], local_cost=row["local_cost"], matter=row["matter"]))
    return result


def run_cost(db: sqlite_utils.Database, summary_id: int) -> RunCost | None:
    """The ledger row of one summary (None: it has none, e.g. saved before migration m003)."""
    if not db["run_records"].exists():
        return None
    row = db.execute("SELECT document_name, prompt_tokens, completion_tokens, cost, hardware "
                     "FROM run_records WHERE summary_id = ?", [summary_id]).fetchone()
    if row is None:
        return None
    name, prompt, completion, cost, hardware = row
    energy = json.loads(hardware).get("energy") or {}
    return RunCost(summary_id=summary_id, document_name=name, prompt_tokens=prompt,
                   completion_tokens=completion,
                   comparison=CostComparison.from_dict(json.loads(cost)) if cost else None,
                   energy_method=str(energy.get("method") or ""))
