"""Models that explain themselves: the time for a 50-page contract here (estimated, then measured
from the model's own runs), memory needed vs free, the licence in plain words, the gated badge."""

from __future__ import annotations

import pytest

from lexbrief.model_files.estimate import (
    CONTRACT_READ_TOKENS,
    CONTRACT_WRITTEN_TOKENS,
    contract_time,
    licence_words,
    measured_rates,
)
from lexbrief.store import Store
from lexbrief.ui.gui.models_view import COLUMNS, LICENCE_COLUMN, MEMORY_COLUMN, TIME_COLUMN

from test_costs import _record, _save


def test_the_contract_time_is_reading_plus_writing() -> None:
    estimate = contract_time(200.0, 20.0)
    assert estimate.seconds == pytest.approx(CONTRACT_READ_TOKENS / 200 + CONTRACT_WRITTEN_TOKENS
                                             / 20)  # 215 + 240 s
    assert estimate.text == "about 7 min 35 s (estimate)"
    assert "estimated from the model's size" in estimate.detail
    measured = contract_time(400.0, 40.0, measured=True, runs=2)
    assert measured.text == "3 min 48 s (measured here)"
    assert "measured in 2 summaries on this computer" in measured.detail


def test_measured_rates_come_from_this_models_runs_only() -> None:
    store = Store()
    assert measured_rates(store.db, "m.gguf") is None
    # _record: 1000 tok/s reading, 50 tok/s writing; two runs of different sizes
    _save(store, "a" * 64, _record(prompt=1000, completion=100))
    _save(store, "b" * 64, _record(prompt=3000, completion=300))
    rates = measured_rates(store.db, "m.gguf")
    assert rates is not None
    reading, writing, runs = rates
    assert (reading, writing, runs) == (pytest.approx(1000.0), pytest.approx(50.0), 2)
    assert measured_rates(store.db, "other.gguf") is None
    store.close()


def test_licences_in_plain_words() -> None:
    assert licence_words("apache-2.0").startswith("Apache 2.0 — free for any use")
    assert "non-commercial" in licence_words("qwen-research")
    assert "700 million" in licence_words("llama3.2")
    assert licence_words("custom-x") == "custom-x — read its terms before use"


@pytest.mark.gui
def test_the_models_tab_shows_time_memory_licence_and_the_gated_badge(qtbot) -> None:  # type: ignore[no-untyped-def]
    from lexbrief.ui.gui.database import Database
    from lexbrief.ui.gui.models_view import ModelsView, load_rows

    assert COLUMNS[TIME_COLUMN] == "50-page contract"
    rows, machine = load_rows()  # the real catalog, rated on this computer
    assert "CPU cores" in machine
    view = ModelsView(Database())  # its worker thread starts with its first operation
    qtbot.addWidget(view)
    view._show((rows, machine))
    items = {view.list.topLevelItem(i).text(0): view.list.topLevelItem(i)
             for i in range(view.list.topLevelItemCount())}
    starter = next(r for r in rows if "SmolLM2 135M" in r.name)
    item = items[starter.name]
    assert item.text(TIME_COLUMN).endswith(("(estimate)", "(measured here)"))
    assert "50-page contract" in item.toolTip(TIME_COLUMN)
    needed, free = item.text(MEMORY_COLUMN).split(" / ")
    assert needed.endswith("MB") and free.endswith("GB")
    assert "free for any use" in item.toolTip(LICENCE_COLUMN)
    gated = [r for r in rows if r.gated]
    assert gated, "the catalog has gated models (Llama, Gemma)"
    for row in gated:
        assert "gated" in items[row.name].text(LICENCE_COLUMN)
        assert "log in" in items[row.name].toolTip(LICENCE_COLUMN)
    # a bigger model is estimated slower than the starter on the same machine
    saul = next(r for r in rows if r.name.startswith("Saul"))
    assert saul.time_text != starter.time_text
