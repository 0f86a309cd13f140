"""Client matters (migration m008): a matter name per summary, carried by its queue job to the
stored summary and its ledger row; `lexbrief costs --period matter` totals them,
`--matter NAME` picks one (and `--plot` charts it), the window's period "Latest matter" charts
the latest one; `lexbrief summarize --matter NAME` files a real run under it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lexbrief.costs.compare import compare_numbers
from lexbrief.costs.ledger import NO_MATTER, ledger_row, matter_entries, overall, totals
from lexbrief.costs.pricing import load_pricing
from lexbrief.store import Store
from lexbrief.store.jobs import JobQueue, clean_matter
from lexbrief.store.records import SummaryRecord
from lexbrief.ui.cli.main import main

from conftest import DOCUMENTS
from test_costs import BUNDLED, _document, _record


def _save(store: Store, sha: str, matter: str | None, *, prompt: int = 1000) -> int:
    pricing = load_pricing(BUNDLED)
    record = _record(prompt=prompt, completion=100, wh=1.0)
    comparison = compare_numbers(
        prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens,
        energy_wh=1.0, energy_estimated=True, wall_seconds=10, pricing=pricing,
        price_per_kwh=0.30, currency="USD")
    row = ledger_row(record, comparison, document_name=f"{sha[:4]}.pdf", model_name="m.gguf",
                     currency="USD", matter=matter)
    summary = SummaryRecord(model_name="m.gguf", model_sha256=None, template="general",
                            parameters={}, text="text", citations=[], coverage={},
                            prompt_tokens=prompt, completion_tokens=100, load_seconds=0.1,
                            prompt_seconds=1.0, generation_seconds=4.0, wall_seconds=10.0,
                            matter=matter)
    return store.save_summary(document=_document(sha), summary=summary, run_record=row)


def _three() -> Store:
    store = Store()
    _save(store, "a" * 64, "Acme v. Beta", prompt=1000)
    _save(store, "b" * 64, "Acme v. Beta", prompt=3000)
    _save(store, "c" * 64, None, prompt=500)
    return store


def test_the_matter_goes_with_the_job_the_summary_and_its_ledger_row(tmp_path: Path) -> None:
    store = _three()
    queue = JobQueue(store)
    job = queue.enqueue(tmp_path / "lease.pdf", matter="  Acme   v. Beta ")
    assert job.matter == "Acme v. Beta" and queue.get(job.id).matter == "Acme v. Beta"
    # the same document for another matter is another job; for the same matter, the same one
    assert queue.enqueue(tmp_path / "lease.pdf", matter="Gamma").id != job.id
    assert queue.enqueue(tmp_path / "lease.pdf", matter="Acme v. Beta").id == job.id
    assert queue.enqueue(tmp_path / "other.pdf", matter="  ").matter is None
    assert clean_matter("") is None
    history = store.history()
    assert [s.matter for s in history] == [None, "Acme v. Beta", "Acme v. Beta"]
    entries = store.ledger_entries()
    assert [e.matter for e in entries] == ["Acme v. Beta", "Acme v. Beta", None]
    assert len(matter_entries(entries, "acme V. beta")) == 2  # case and spaces aside
    store.close()


def test_totals_by_matter() -> None:
    store = _three()
    pricing = load_pricing(BUNDLED)
    price = pricing.model("gpt-4o-mini")
    by_matter = totals(store.ledger_entries(), "matter", price, pricing)
    store.close()
    assert [(t.period, t.runs, t.prompt_tokens) for t in by_matter] == [
        (NO_MATTER, 1, 500), ("Acme v. Beta", 2, 4000)]
    assert overall(by_matter, pricing).runs == 3


def test_costs_by_matter_and_of_one_matter(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _three().close()
    assert main(["costs", "--period", "matter"]) == 0
    out = capsys.readouterr().out
    assert "by client matter" in out and out.count("Acme v. Beta") == 1
    assert NO_MATTER in out and "matter" in out.splitlines()[2]
    assert main(["costs", "--matter", "acme v. beta", "--period", "all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["matter"] == "acme v. beta" and data["total"]["runs"] == 2
    assert data["total"]["prompt_tokens"] == 4000
    target = tmp_path / "acme.png"
    assert main(["costs", "--matter", "Acme v. Beta", "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Chart of Acme v. Beta: {target}" in capsys.readouterr().out
    assert main(["costs", "--matter", "Delta"]) == 3
    assert "no summary in the cost ledger is filed under the matter 'Delta'" in (
        capsys.readouterr().err)


@pytest.mark.gui
def test_the_windows_latest_matter_chart_and_matter_box(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lexbrief.ui.gui.hardware_view import period_chart
    from lexbrief.ui.gui.queue_control import queue_documents

    store = Store()
    assert period_chart(store, "matter") is None  # no summary has a matter yet
    _save(store, "a" * 64, "Acme v. Beta", prompt=1000)
    _save(store, "b" * 64, "Gamma", prompt=2000)
    _save(store, "c" * 64, None, prompt=500)
    chart = period_chart(store, "matter")
    assert chart is not None and chart.title == "Cost of the matter Gamma"
    assert "2,000 read" in chart.assumptions and "in 1 summary" in chart.assumptions
    document = tmp_path / "lease.txt"
    document.write_text("The tenant pays rent.", encoding="utf-8")
    ((_path, job_id),) = queue_documents(store, [document], template="auto", rerun=False,
                                        matter="Acme v. Beta")
    assert job_id is not None and JobQueue(store).get(job_id).matter == "Acme v. Beta"
    store.close()

    from lexbrief.ui.gui.main_window import MainWindow

    window = MainWindow()
    window.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(window)
    assert window.matter.accessibleName() == "Matter"
    with qtbot.waitSignal(window.history.loaded, timeout=10000):
        window.history.refresh()
    matters = {window.history.list.topLevelItem(i).text(5)
               for i in range(window.history.list.topLevelItemCount())}
    assert matters == {"Acme v. Beta", "Gamma", ""}
    periods = [window.hardware.period.itemData(i) for i in range(window.hardware.period.count())]
    assert "matter" in periods
    window.close()


@pytest.mark.model
def test_summarize_with_a_matter_files_the_real_run_under_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summarize", str(DOCUMENTS / "court-order-ca7.pdf"), "--matter",
                 "Smith v. Jones", "--quiet"]) == 0
    store = Store()
    (stored,) = store.history()
    (entry,) = store.ledger_entries()
    (job,) = JobQueue(store).jobs()
    store.close()
    assert stored.matter == entry.matter == job.matter == "Smith v. Jones"
    assert entry.prompt_tokens > 100  # the real model's run
    capsys.readouterr()
    assert main(["costs", "--matter", "smith v. jones"]) == 0
    assert "of the matter Smith v. Jones" in capsys.readouterr().out
