"""Per-machine calibration (issue 17 item 2) and the time left from measured speeds (issue 17
item 3, issue 18 item 3), on the real starter model: the search measures within its budget and
is kept beside the model's hash; the service loads the engine with it unless settings.toml
sets a value; the progress predicts the time left from the first step on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lexbrief.service import Summarizer
from lexbrief.service.calibration import (
    machine_key,
    measured_speeds,
    model_tuning,
    tuning,
)
from lexbrief.settings import Settings, load_settings, save_settings
from lexbrief.store import Store
from lexbrief.store.calibration import CalibrationRecord, load_calibration, save_calibration
from lexbrief.summarize.pipeline import Observer, Pipeline, PipelineSettings, Progress
from lexbrief.summarize.templates import load_templates

from conftest import DOCUMENTS


def _record(sha256: str, **values: object) -> CalibrationRecord:
    knobs: dict[str, object] = {"threads": 1, "flash_attn": False, "batch_size": 128,
                                "parallel": 1, "reading_tps": 900.0, "writing_tps": 45.0}
    knobs.update(values)
    return CalibrationRecord(model_sha256=sha256, machine=machine_key(),
                             details={"reasons": ["threads 1 (a test)"]},
                             **knobs)  # type: ignore[arg-type]


def test_settings_win_over_the_calibration_and_defaults_fill_in() -> None:
    record = _record("a" * 64, threads=1, flash_attn=False, batch_size=128, parallel=2)
    chosen = tuning(record, Settings())
    assert (chosen.threads, chosen.flash_attn, chosen.batch_size, chosen.parallel_map) == (
        1, False, 128, 2)
    assert chosen.calibrated and "calibrated here" in chosen.source
    mine = tuning(record, Settings(threads=3, flash_attn="on", batch_size=256, parallel_map=4))
    assert (mine.threads, mine.flash_attn, mine.batch_size, mine.parallel_map) == (
        3, True, 256, 4)
    assert len(mine.notes) == 4 and "settings.toml" in mine.source
    none = tuning(None, Settings())
    assert (none.threads, none.flash_attn, none.batch_size, none.parallel_map) == (
        None, None, 512, 4)
    assert "bench --calibrate" in none.source


def test_a_bad_flash_attn_setting_is_a_clear_error(lexbrief_home: Path) -> None:
    from lexbrief.errors import UserFacingError

    lexbrief_home.mkdir(parents=True, exist_ok=True)
    (lexbrief_home / "settings.toml").write_text('flash_attn = "sometimes"\n', encoding="utf-8")
    with pytest.raises(UserFacingError, match="flash_attn"):
        load_settings()


@pytest.mark.model
def test_the_calibration_measures_within_its_budget_and_is_kept(starter_model: Path) -> None:
    from lexbrief.service.calibration import calibrate_model

    store = Store()
    assert not model_tuning(store, starter_model).calibrated
    lines: list[str] = []
    record = calibrate_model(store, starter_model, budget_seconds=10.0, log_line=lines.append)
    details = record.details
    assert details["seconds"] < 10.0 * 2  # the budget holds (slack for a busy machine)
    measured = details["measurements"]
    assert len(measured) >= 6 and len(lines) == len(measured)
    best = details["best"]
    knobs = ("threads", "flash_attn", "batch_size", "width")
    assert {k: best[k] for k in knobs} in [{k: m[k] for k in knobs} for m in measured]
    # each knob keeps the faster value: never worse than the start
    assert best["workload_seconds"] <= details["baseline"]["workload_seconds"]
    assert {m["flash_attn"] for m in measured} == {True, False}
    assert {m["width"] for m in measured} == {1, 2, 4}
    assert len(details["reasons"]) == 4
    kept = load_calibration(store, store.model_sha256(starter_model), machine_key())
    assert kept is not None and kept.threads == record.threads
    assert model_tuning(store, starter_model).calibrated
    assert measured_speeds(store, starter_model) == (record.reading_tps, record.writing_tps, 0)


@pytest.mark.model
def test_the_service_loads_the_engine_with_the_calibration_unless_settings_say_otherwise(
        starter_model: Path) -> None:
    store = Store()
    save_calibration(store, _record(store.model_sha256(starter_model), threads=1,
                                    batch_size=128, parallel=1))
    summarizer = Summarizer(store, model=str(starter_model))
    engine = summarizer.engine
    try:
        runtime = engine.runtime_settings()  # type: ignore[attr-defined]
        assert (runtime["n_threads"], runtime["n_batch"]) == (1, 128)
        assert summarizer.pipeline_settings.parallel_map == 1
        assert "calibrated here" in engine.info.extra["tuning"]
    finally:
        engine.close()
    save_settings(Settings(threads=2, batch_size=256, parallel_map=3))
    mine = Summarizer(store, model=str(starter_model))
    engine = mine.engine
    try:
        runtime = engine.runtime_settings()  # type: ignore[attr-defined]
        assert (runtime["n_threads"], runtime["n_batch"]) == (2, 256)
        assert mine.pipeline_settings.parallel_map == 3
    finally:
        engine.close()


class _Times(Observer):
    def __init__(self) -> None:
        self.seen: list[Progress] = []

    def progress(self, progress: Progress) -> None:
        self.seen.append(progress)


@pytest.mark.model
def test_the_time_left_comes_from_measured_speeds_from_the_first_step(
        llama_engine: object) -> None:
    from lexbrief.read import load_document

    document = load_document(DOCUMENTS / "court-order-ca7.pdf")
    template = load_templates()["court_opinion"]
    settings = PipelineSettings(max_chunk_tokens=400, map_tokens=48, final_tokens=48,
                                parallel_map=1)
    measured, guessed = _Times(), _Times()
    Pipeline(llama_engine, settings, speeds=(800.0, 40.0)).run(  # type: ignore[arg-type]
        document, template, observer=measured)
    Pipeline(llama_engine, settings).run(document, template,  # type: ignore[arg-type]
                                         observer=guessed)
    first = next(p for p in measured.seen if p.stage == "map")
    assert first.step == 1 and first.eta_seconds is not None and first.eta_seconds > 0
    steps = first.total
    # the work left at 800/40 tok/s: every chunk's tokens plus its notes, then the overview
    assert first.eta_seconds > (steps - 1) * (48 / 40.0)
    assert next(p for p in guessed.seen if p.stage == "map").eta_seconds is None
    assert measured.seen[-1].eta_seconds == 0.0


@pytest.mark.model
def test_measured_speeds_prefer_summaries_over_the_calibration_and_skip_reader_runs(
        starter_model: Path) -> None:
    store = Store()
    save_calibration(store, _record(store.model_sha256(starter_model), reading_tps=111.0,
                                    writing_tps=11.0))
    assert measured_speeds(store, starter_model) == (111.0, 11.0, 0)
    summarizer = Summarizer(store, model=str(starter_model), reader_model="",
                            pipeline_settings=PipelineSettings(map_tokens=48, final_tokens=48))
    try:
        outcome = summarizer.summarize(DOCUMENTS / "court-order-ca7.pdf")
    finally:
        summarizer.engine.close()
    speeds = measured_speeds(store, starter_model)
    assert speeds is not None and speeds[2] == 1 and speeds[:2] != (111.0, 11.0)
    # a run whose notes a reading model wrote does not count for this model's speed
    with store._write() as conn:
        row = conn.execute("SELECT parameters FROM summaries WHERE id = ?",
                           [outcome.summary_id]).fetchone()
        parameters = {**json.loads(row[0]), "reader_model": "reader.gguf"}
        conn.execute("UPDATE summaries SET parameters = ? WHERE id = ?",
                     [json.dumps(parameters), outcome.summary_id])
    assert measured_speeds(store, starter_model) == (111.0, 11.0, 0)
