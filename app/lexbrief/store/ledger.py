"""The cost ledger's table (`run_records`, migration m003) read back as typed entries; the
arithmetic over them (totals per day, week or month) is `lexbrief.costs.ledger`'s."""

from __future__ import annotations

import datetime as dt

import sqlite_utils

from lexbrief.costs.ledger import LedgerEntry


def ledger_entries(db: sqlite_utils.Database) -> list[LedgerEntry]:
    if not db["run_records"].exists():
        return []
    rows = db.query("SELECT id, summary_id, created, document_name, wall_seconds, "
                    "prompt_tokens, completion_tokens, energy_wh, energy_estimated, currency, "
                    "local_cost FROM run_records ORDER BY created, id")
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
            currency=row["currency"], local_cost=row["local_cost"]))
    return result
