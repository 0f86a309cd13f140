"""Engine calibrations (issue 17): the fastest threads, flash attention, batch size and parallel
width measured for one model on one machine, kept beside the model's hash (`model_files`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from lexbrief.store.db import Store
from lexbrief.store.sqlite_errors import storage_errors


@dataclass(frozen=True)
class CalibrationRecord:
    model_sha256: str
    machine: str
    threads: int
    flash_attn: bool
    batch_size: int
    parallel: int
    reading_tps: float  # at the chosen knobs, one sequence
    writing_tps: float  # at the chosen knobs and width, all sequences together
    details: dict[str, Any] = field(default_factory=dict)  # measurements, reasons
    created: str = ""


def save_calibration(store: Store, record: CalibrationRecord) -> None:
    created = record.created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with store._write() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO calibrations (model_sha256, machine, created, threads, "
            "flash_attn, batch_size, parallel, reading_tps, writing_tps, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [record.model_sha256, record.machine, created, record.threads,
             int(record.flash_attn), record.batch_size, record.parallel, record.reading_tps,
             record.writing_tps, json.dumps(record.details, sort_keys=True)])


def load_calibration(store: Store, model_sha256: str, machine: str) -> CalibrationRecord | None:
    with storage_errors(store.path):
        row = store.db.conn.execute(
            "SELECT model_sha256, machine, threads, flash_attn, batch_size, parallel, "
            "reading_tps, writing_tps, details, created FROM calibrations "
            "WHERE model_sha256 = ? AND machine = ?", [model_sha256, machine]).fetchone()
    if row is None:
        return None
    try:
        details = json.loads(row[8])
    except ValueError:
        details = {}
    return CalibrationRecord(
        model_sha256=row[0], machine=row[1], threads=int(row[2]), flash_attn=bool(row[3]),
        batch_size=int(row[4]), parallel=int(row[5]), reading_tps=float(row[6]),
        writing_tps=float(row[7]), details=details if isinstance(details, dict) else {},
        created=row[9])
