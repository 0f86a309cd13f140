"""The window, offscreen, driven as a user would: drop files, watch them stream, cancel, search."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from lexbrief.store import DocumentRecord, Store, SummaryRecord
from lexbrief.ui.gui.main_window import MainWindow
from lexbrief.ui.gui.models_view import FIT_COLUMN, STATUS_COLUMN
from lexbrief.ui.gui.stall import StallMonitor
from lexbrief.ui.gui.summary_view import render_summary_html

from conftest import DOCUMENTS, MALFORMED

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot):  # type: ignore[no-untyped-def]
    win = MainWindow()
    win.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def _drop(window: MainWindow, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_citations_render_as_links() -> None:
    html = render_summary_html("## Key points\n\n- Rent is due [p. 4]\n- Term [pp. 2, 5]")
    assert '<a href="page:4?point=0"' in html and '<a href="page:2?point=1"' in html
    assert "<li>" in html and "<h2>Key points</h2>" in html


def test_quotes_marks_and_the_abstract_render() -> None:
    html = render_summary_html(
        "*Read as: contract (from its wording).*\n\n## Overview\n\nA lease [p. 1]. Rent rises "
        "[unverified: words the document does not use: escalator]\n\n## Key points\n\n"
        "- Rent is $5 [p. 2]\n  > “Rent is $5 a month.”\n- “Term is one year.” [p. 3]\n\n"
        "## Abstract\n\n"
        "| Field | Value | Page |\n|---|---|---|\n| Parties | A; B | 1 |\n"
        "| Governing law | not found |  |")
    assert "<i>Read as: contract (from its wording).</i>" in html
    assert "<blockquote" in html and "“Rent is $5 a month.”" in html
    assert "⚠ unverified (words the document does not use: escalator)" in html
    assert '<a href="page:1"' in html  # the overview's backing page
    assert '<a href="page:3?point=1"' in html  # the quote's own point
    assert "<table" in html and '<a href="page:1?field=0">1</a>' in html
    assert "<i style='color:gray'>not found</i>" in html
    assert "|---|" not in html


def test_history_search_finds_a_stored_summary(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    Store().save_summary(
        document=DocumentRecord(sha256="e" * 64, name="calvary-v-mills.pdf", path=None,
                                kind="pdf", title=None, pages=17, pagination="printed", size=1),
        summary=SummaryRecord(model_name="m", model_sha256=None, template="court_opinion",
                              parameters={}, text="## Overview\n\nThe court denied the injunction.",
                              citations=[], coverage={}, prompt_tokens=1, completion_tokens=1,
                              load_seconds=0, prompt_seconds=0, generation_seconds=0,
                              wall_seconds=0))
    window.history.search.setText("injunction")
    qtbot.waitUntil(lambda: window.history.list.topLevelItemCount() == 1, timeout=10000)
    assert window.history.list.topLevelItem(0).text(2) == "calvary-v-mills.pdf"
    window.history.search.setText("no-such-words")
    qtbot.waitUntil(lambda: window.history.list.topLevelItemCount() == 0, timeout=10000)


@pytest.mark.model
def test_drop_a_pdf_streams_a_summary_that_is_stored(window: MainWindow, qtbot,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path) -> None:
    stall = StallMonitor()
    stall.start()
    tokens: list[str] = []
    window.worker.token.connect(lambda _job, stage, text: tokens.append(text))
    with qtbot.waitSignal(window.worker.finished, timeout=180000) as blocker:
        _drop(window, DOCUMENTS / "court-order-ca7.pdf")
    stall.stop()
    job_id, outcome = blocker.args
    assert tokens, "no token was streamed"
    assert window.queue.job_state(job_id) == "done"
    assert Store().get(outcome.summary_id).document_name == "court-order-ca7.pdf"
    html = window.summary.toHtml()
    assert "Key points" in html and "page:1" in html
    # clicking a key point's citation opens the printed page beside the summary (not over
    # it), with the point's quote boxed where it is printed
    point = outcome.summary.points[0]
    window.summary.page_clicked.emit(1, 0, -1)
    source = window._source
    assert source is not None and source.isVisible() and source.showing_image
    assert source.parent() is window.summary_split
    assert source.spans == list(point.spans) and source.boxes
    # the text view marks exactly the quote's characters
    source.mode.setChecked(True)
    assert not source.showing_image
    assert "Seventh Circuit" in source.text.toPlainText()
    assert point.quote.split()[0] in source.text.toHtml()
    print(f"\nlongest event-loop stall during the summary: {stall.max_stall_ms:.1f} ms "
          f"over {stall.samples} ticks")
    # the stored row arrives from a background read; then the window can export it
    qtbot.waitUntil(lambda: window.shown_summary is not None, timeout=10000)
    out = tmp_path / "brief.docx"
    window.export_to(window.shown_summary, "docx", out)
    qtbot.waitUntil(out.exists, timeout=10000)
    window.export_to(window.shown_summary, "pdf", tmp_path / "brief.pdf")
    assert (tmp_path / "brief.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.model
def test_cancel_mid_run_leaves_no_row(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.worker.token, timeout=180000):
        _drop(window, DOCUMENTS / "court-opinion-ca1.pdf")
    with qtbot.waitSignal(window.worker.cancelled, timeout=60000):
        window.cancel_all()
    assert Store().counts() == {"documents": 0, "summaries": 0}
    assert window.queue.job_state(1) == "cancelled"


@pytest.mark.model
def test_a_malformed_file_fails_in_the_queue_and_the_next_one_runs(  # type: ignore[no-untyped-def]
        window: MainWindow, qtbot) -> None:
    failures: list[str] = []
    window.worker.failed.connect(lambda _job, message: failures.append(message))
    with qtbot.waitSignal(window.worker.finished, timeout=180000):
        _drop(window, MALFORMED / "random-bytes.pdf", DOCUMENTS / "court-order-ca7.pdf")
    assert failures and "random-bytes.pdf" in failures[0]
    assert window.queue.job_state(1).startswith("failed: random-bytes.pdf")
    assert window.queue.job_state(2) == "done"
    assert Store().counts()["summaries"] == 1


def test_model_manager_lists_the_catalog_with_fit_badges(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.models.list.topLevelItemCount() > 5, timeout=60000)
    names = [window.models.list.topLevelItem(i).text(0)
             for i in range(window.models.list.topLevelItemCount())]
    assert any("SmolLM2" in name for name in names)
    assert any("Qwen2.5" in name for name in names)
    first = window.models.list.topLevelItem(0)
    # the starter is what runs until another is chosen
    assert "active" in first.text(STATUS_COLUMN)
    fits = {window.models.list.topLevelItem(i).text(FIT_COLUMN)
            for i in range(window.models.list.topLevelItemCount())}
    assert any("CPU" in fit or "GPU" in fit for fit in fits)
    assert "CPU" in window.models.machine.text()


def test_settings_persist(window: MainWindow, lexbrief_home: Path) -> None:
    from lexbrief.settings import load_settings
    from lexbrief.ui.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window)
    dialog.threads.setValue(3)
    dialog.price.setValue(0.25)
    dialog.gpu.setCurrentIndex(dialog.gpu.findData(0))
    dialog.parallel.setValue(1)
    dialog.save()
    settings = load_settings()
    assert (settings.threads, settings.electricity_price_per_kwh, settings.gpu_layers,
            settings.parallel_map) == (3, 0.25, 0, 1)
    # the next summarizer maps one excerpt at a time
    from lexbrief.service import Summarizer
    from lexbrief.store import Store

    assert Summarizer(Store()).pipeline_settings.parallel_map == 1
    assert (lexbrief_home / "settings.toml").exists()


def test_hardware_panel_plots_live_samples(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    hardware = window.hardware
    qtbot.waitUntil(lambda: hardware.cpu.latest(1) is not None, timeout=10000)
    own = hardware.cpu.latest(0)
    assert own is not None and 0 <= own <= 100  # LexBrief, % of all cores
    ram = hardware.ram
    assert 0 < (ram.latest(0) or 0) <= ram.top()  # all programs, GiB, on 0–this RAM
    assert (ram.latest(1) or 0) > 0.01  # LexBrief's own memory, GiB
    if hardware.sampler.sensors.gpu_count:
        assert hardware.gpu is not None
    else:  # no GPU here: one line of text, not an empty plot
        assert hardware.gpu is None and hardware.note.text().startswith("No GPU")


def test_the_window_shows_the_jobs_table_on_start_and_runs_what_a_crash_left(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path) -> None:
    """The queue's logic in the window (the stand-in model: what is checked is which jobs
    run and how the table ends, not the summary; the real model runs in the tests above)."""
    import shutil
    import subprocess
    import sys

    from lexbrief.store.jobs import JobQueue
    from lexbrief.ui.gui.worker import SummaryWorker

    from fake_engine import FakeEngine

    store = Store()
    dead = subprocess.run([sys.executable, "-c", "from lexbrief.store.jobs import "
                           "process_owner; print(process_owner())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    crashed = JobQueue(store, owner=dead)
    failed = crashed.enqueue(tmp_path / "old.pdf")
    crashed.claim()
    crashed.release(failed.id, "failed", "the file is damaged")
    order = tmp_path / "order.pdf"
    shutil.copy(DOCUMENTS / "court-order-ca7.pdf", order)
    running = crashed.enqueue(order)
    crashed.claim()  # the process running it was killed: the row still says "running"
    waiting = crashed.enqueue(MALFORMED / "random-bytes.pdf")
    win = MainWindow(SummaryWorker(engine_factory=lambda _model: FakeEngine()))
    win.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(win)
    try:
        assert win.queue.topLevelItemCount() == 3
        assert win.queue.job_state(failed.id) == "failed: the file is damaged"
        qtbot.waitUntil(lambda: win.queue.job_state(running.id) == "done", timeout=60000)
        qtbot.waitUntil(lambda: win.queue.job_state(waiting.id).startswith("failed"),
                        timeout=60000)
        table = JobQueue(Store())
        done = table.get(running.id)
        assert (done.state, done.attempts) == ("done", 2) and done.summary_id is not None
        assert Store().get(done.summary_id).document_name == "order.pdf"
        bad = table.get(waiting.id)
        assert bad.state == "failed" and "random-bytes.pdf" in (bad.reason or "")
        # nothing is left waiting
        assert table.counts()["queued"] == 0
    finally:
        win.close()


def test_a_document_already_in_the_history_is_shown_from_it_unless_re_run(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path) -> None:
    """Queue logic with the stand-in model: the second drop of a summarized document is not
    run again; History → Re-run… runs it."""
    from lexbrief.ui.gui.worker import SummaryWorker

    from fake_engine import FakeEngine

    engine = FakeEngine()
    win = MainWindow(SummaryWorker(engine_factory=lambda _model: engine))
    win.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(win)
    try:
        order = DOCUMENTS / "court-order-ca7.pdf"
        [first] = win.add_paths([order])
        qtbot.waitUntil(lambda: win.queue.job_state(first) == "done", timeout=60000)
        calls = len(engine.calls)
        [second] = win.add_paths([order])
        assert second != first
        qtbot.waitUntil(lambda: win.queue.job_state(second).startswith("done (from the history"),
                        timeout=60000)
        assert len(engine.calls) == calls and Store().counts()["summaries"] == 1
        [third] = win.add_paths([order], rerun=True)
        qtbot.waitUntil(lambda: win.queue.job_state(third) == "done", timeout=60000)
        assert len(engine.calls) > calls and Store().counts()["summaries"] == 2
    finally:
        win.close()
