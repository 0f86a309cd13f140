"""The window, offscreen, driven as a user would: drop files, watch them stream, cancel, search."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from lexbrief.machine import detect_hardware
from lexbrief.machine.telemetry.gpu import AmdGpus
from lexbrief.store import DocumentRecord, Store, SummaryRecord
from lexbrief.ui.gui.database import Database
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


def _add(window: MainWindow, qtbot, path: Path, *, rerun: bool = False) -> list[int]:  # type: ignore[no-untyped-def]
    """Queue `path` as History's Re-run… or a drop does; its job ids, once the table has them."""
    with qtbot.waitSignal(window.queue_control.queued, timeout=10000) as blocker:
        window.add_paths([path], rerun=rerun)
    ids: list[int] = blocker.args[0]
    return ids


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


def test_marked_overview_sentences_keep_the_space_between_them() -> None:
    html = render_summary_html(
        "## Overview\n\nThe Court ruled. [p. 9] [unverified: words the document does not use: "
        "ruled] It also held. [p. 3] [unverified: a number not in the source: 18]")
    # the second mark starts after a space, not glued to the first one's reason
    assert "ruled)</b></span> <span" in html


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
    stall = StallMonitor()  # a 5 ms heartbeat on the GUI thread: how late it ever fires
    stall.start()
    tokens: list[str] = []
    window.worker.token.connect(lambda _job, stage, text: tokens.append(text))
    with qtbot.waitSignal(window.worker.finished, timeout=180000) as blocker:
        _drop(window, DOCUMENTS / "court-order-ca7.pdf")
    # the stored row arrives from the database worker; then the window can export it
    qtbot.waitUntil(lambda: window.reader.shown_summary is not None, timeout=10000)
    stall.stop()
    # The window never waits on the model or the database: during a whole real summary
    # (loading the model, streaming, the checked summary shown, its row read back) the GUI
    # thread was never blocked for long. 250 ms is a generous bound (a busy 2-core host);
    # a window that ran the model or the database on its own thread stalls for seconds.
    assert stall.samples > 100, "the heartbeat did not run"
    assert stall.max_stall_ms < 250, f"the GUI thread stalled {stall.max_stall_ms:.0f} ms"
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
    source = window.reader.source
    assert source is not None and source.isVisible() and source.showing_image
    assert source.parent() is window.summary_split
    assert source.spans == list(point.spans) and source.boxes
    # the text view marks exactly the quote's characters
    source.mode.setChecked(True)
    assert not source.showing_image
    assert "Seventh Circuit" in source.text.toPlainText()
    assert point.quote.split()[0] in source.text.toHtml()
    stored = window.reader.shown_summary
    assert stored is not None and stored.id == outcome.summary_id
    out = tmp_path / "brief.docx"
    window.reader.export_to(stored, "docx", out)
    qtbot.waitUntil(out.exists, timeout=10000)
    written: list[Path] = []
    window.reader.export_to(stored, "pdf", tmp_path / "brief.pdf", written.append)
    qtbot.waitUntil(lambda: bool(written), timeout=10000)  # the cost chart is read first
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
    items = [window.models.list.topLevelItem(i)
             for i in range(window.models.list.topLevelItemCount())]
    names = [item.text(0) for item in items]
    assert any("SmolLM2" in name for name in names)
    assert any("Qwen2.5" in name for name in names)
    first = items[0]
    # the starter is what runs until another is chosen
    assert "active" in first.text(STATUS_COLUMN) and "SmolLM2" in first.text(0)
    # what the tab says of this machine is what the inventory finds, GPU or not
    hw = detect_hardware()
    machine = window.models.machine.text()
    assert machine.startswith(f"{hw.cpu.physical_cores} CPU cores, ")
    fits = {item.text(FIT_COLUMN) for item in items}
    gpu = hw.best_gpu
    if gpu is None:
        assert machine.endswith(", no GPU")
        assert fits <= {"CPU only", "CPU only (tight)", "too big",
                        "unknown (no shape in the catalog)"}, fits
        assert first.text(FIT_COLUMN).startswith("CPU only")
    else:
        assert f"{gpu.name} {gpu.memory_free / 1e9:.1f} GB free" in machine
        offload = "unused: llama.cpp built for CPU only" not in machine
        # the 98 MB starter fits on any GPU llama.cpp can use
        assert first.text(FIT_COLUMN).startswith("fits on GPU" if offload else "CPU only")


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


def test_settings_ocr_choice_is_shown_and_saved(qtbot, lexbrief_home: Path) -> None:  # type: ignore[no-untyped-def]
    from lexbrief.settings import load_settings, save_settings
    from lexbrief.ui.gui.settings_dialog import SettingsDialog

    settings = load_settings()
    settings.ocr = "always"
    save_settings(settings)
    dialog = SettingsDialog(None)
    qtbot.addWidget(dialog)
    assert dialog.ocr.currentData() == "always"  # what settings.toml says
    assert [dialog.ocr.itemData(i) for i in range(dialog.ocr.count())] == \
        ["auto", "always", "never"]
    dialog.engine.setCurrentIndex(dialog.engine.findData("server"))
    assert dialog.ocr.isEnabled()  # OCR runs here even when a server writes the summary
    dialog.engine.setCurrentIndex(dialog.engine.findData("local"))
    dialog.ocr.setCurrentIndex(dialog.ocr.findData("never"))
    dialog.save()
    assert load_settings().ocr == "never"
    again = SettingsDialog(None)
    qtbot.addWidget(again)
    assert again.ocr.currentData() == "never"


@pytest.mark.model
def test_settings_ocr_never_reaches_the_queue(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    """The window's next document is read with the dialog's choice: with "never", the scanned
    PDF fails in the queue saying OCR is off, instead of being recognized."""
    from lexbrief.ui.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window)
    qtbot.addWidget(dialog)
    dialog.ocr.setCurrentIndex(dialog.ocr.findData("never"))
    dialog.save()
    stages: list[str] = []
    window.worker.progress.connect(lambda _job, progress: stages.append(progress.stage))
    with qtbot.waitSignal(window.worker.failed, timeout=180000) as blocker:
        _drop(window, DOCUMENTS / "scanned-no-text-layer.pdf")
    _, message = blocker.args
    assert "OCR is off" in message, message
    assert "ocr" not in stages


def test_hardware_panel_plots_live_samples(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    hardware = window.hardware
    qtbot.waitUntil(lambda: hardware.cpu.latest(1) is not None, timeout=10000)
    own = hardware.cpu.latest(0)
    assert own is not None and 0 <= own <= 100  # LexBrief, % of all cores
    ram = hardware.ram
    assert 0 < (ram.latest(0) or 0) <= ram.top()  # all programs, GiB, on 0–this RAM
    assert (ram.latest(1) or 0) > 0.01  # LexBrief's own memory, GiB
    # The GPU plot shows what the inventory finds: NVIDIA GPUs are read through NVML by both.
    # (AMD cards are plotted from sysfs but not in the inventory, which lists the GPUs
    # llama.cpp can use; Apple's GPU is in the inventory but has no live readings.)
    hw = detect_hardware()
    nvidia = [g.name for g in hw.gpus if g.vendor == "NVIDIA"]
    plotted_amd = AmdGpus().count
    if nvidia:
        assert hardware.gpu is not None and hardware.gpu.title == f"GPU: {nvidia[0]}"
        assert not hardware.note.text().startswith("No GPU")
    elif not plotted_amd:  # no GPU to read: one line of text, not an empty plot
        assert hardware.gpu is None and hardware.note.text().startswith("No GPU")
    else:
        assert hardware.gpu is not None and hardware.gpu.title.startswith("GPU: ")


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
        # the table is read by the database worker: the rows appear without the window waiting
        qtbot.waitUntil(lambda: win.queue.topLevelItemCount() == 3, timeout=10000)
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
        [first] = _add(win, qtbot, order)
        qtbot.waitUntil(lambda: win.queue.job_state(first) == "done", timeout=60000)
        calls = len(engine.calls)
        [second] = _add(win, qtbot, order)
        assert second != first
        qtbot.waitUntil(lambda: win.queue.job_state(second).startswith("done (from the history"),
                        timeout=60000)
        assert len(engine.calls) == calls and Store().counts()["summaries"] == 1
        [third] = _add(win, qtbot, order, rerun=True)
        qtbot.waitUntil(lambda: win.queue.job_state(third) == "done", timeout=60000)
        assert len(engine.calls) > calls and Store().counts()["summaries"] == 2
    finally:
        win.close()


# -- the two workers ------------------------------------------------------------------------------

def test_the_database_worker_runs_every_operation_on_one_store_in_its_own_thread(  # type: ignore[no-untyped-def]
        qtbot) -> None:
    gui = threading.get_ident()
    db = Database()
    ran: list[tuple[int, Store]] = []
    answers: list[tuple[dict[str, int], int]] = []

    def count(store: Store) -> dict[str, int]:
        ran.append((threading.get_ident(), store))
        return store.counts()

    for _ in range(3):
        db.run(count, lambda counts: answers.append((counts, threading.get_ident())))
    qtbot.waitUntil(lambda: len(answers) == 3, timeout=10000)
    assert {thread for thread, _store in ran} != {gui} and len({t for t, _s in ran}) == 1
    assert len({id(store) for _thread, store in ran}) == 1  # one Store for the worker's life
    assert answers == [({"documents": 0, "summaries": 0}, gui)] * 3  # answered on the GUI thread
    assert db.close()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the worker
        ran[0][1].db.execute("SELECT 1")
    db.run(count)  # after close (a late answer asking for more): nothing starts again
    assert db._thread is None and len(ran) == 3


def test_database_failures_are_the_worlds_fault_or_a_logged_bug(  # type: ignore[no-untyped-def]
        qtbot, caplog: pytest.LogCaptureFixture) -> None:
    db = Database()
    messages: list[str] = []
    try:
        db.run(lambda store: store.get(42), on_error=messages.append)  # NotFound: user-facing
        db.run(lambda store: {}["missing"], on_error=messages.append)  # a bug
        with qtbot.waitSignal(db.failed, timeout=10000) as blocker:  # no on_error: the window's
            db.run(lambda store: store.delete_summary(7))  # status bar says it
        qtbot.waitUntil(lambda: len(messages) == 2, timeout=10000)
    finally:
        db.close()
    assert "no summary #42" in messages[0] and "Traceback" not in messages[0]
    assert messages[1] == "internal error (KeyError); see the log file"
    assert "no summary #7" in blocker.args[0]
    bugs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(bugs) == 1 and bugs[0].exc_info is not None and bugs[0].exc_info[0] is KeyError


def test_the_window_opens_no_store_on_the_gui_thread_and_one_per_worker(  # type: ignore[no-untyped-def]
        qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every window task used to open a Store of its own (and the jobs table was read on the
    GUI thread). Now: the database worker's and the model worker's, whatever the window does."""
    from lexbrief.ui.gui.worker import SummaryWorker

    from fake_engine import FakeEngine

    opened: list[tuple[int, str]] = []
    real_init = Store.__init__

    def spy(self: Store, path: Path | None = None) -> None:
        opened.append((threading.get_ident(), threading.current_thread().name))
        real_init(self, path)

    monkeypatch.setattr(Store, "__init__", spy)
    win = MainWindow(SummaryWorker(engine_factory=lambda _model: FakeEngine()))
    win.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(win)
    try:
        [first] = _add(win, qtbot, DOCUMENTS / "court-order-ca7.pdf")
        qtbot.waitUntil(lambda: win.queue.job_state(first) == "done", timeout=60000)
        qtbot.waitUntil(lambda: win.history.list.topLevelItemCount() == 1, timeout=10000)
        with qtbot.waitSignal(win.history.loaded, timeout=10000):
            win.history.search.setText("no-such-words")
        win.hardware.period.setCurrentIndex(win.hardware.period.findData("all"))
        qtbot.waitUntil(lambda: win.hardware.chart.chart is not None, timeout=10000)
        qtbot.waitUntil(lambda: win.models.list.topLevelItemCount() > 5, timeout=60000)
    finally:
        win.close()
    gui = threading.get_ident()
    assert all(thread != gui for thread, _name in opened), opened
    # the lease heartbeat of a long job keeps its own (lexbrief.store.jobs.Heartbeat)
    workers = [name for _thread, name in opened if not name.startswith("lexbrief-lease-")]
    assert len(workers) == 2, opened


def test_one_renderer_for_the_run_statistics(tmp_path: Path) -> None:
    """The CLI's card, the window's footers, the cost card and an export's header write the
    same numbers with the same words (lexbrief.summarize.stats, telemetry.speed.usage_text)."""
    from lexbrief.costs.card import card
    from lexbrief.machine.telemetry.speed import usage_text
    from lexbrief.service import Summarizer
    from lexbrief.summarize.stats import coverage_text
    from lexbrief.ui.cli.summarize import _card
    from lexbrief.ui.export import header_lines
    from lexbrief.ui.gui.reader import outcome_footer, stored_footer

    from fake_engine import FakeEngine

    model = tmp_path / "fake.gguf"
    model.write_bytes(b"GGUF not really")
    store = Store()
    outcome = Summarizer(store, model=str(model), engine_factory=lambda _m: FakeEngine()
                         ).summarize(DOCUMENTS / "court-order-ca7.pdf")
    s, run = outcome.summary, outcome.run
    assert run is not None
    usage = usage_text(s.usage.prompt_tokens, s.usage.completion_tokens, run, s.wall_seconds)
    cover = coverage_text(s.coverage.as_dict())
    assert " generated tokens · " in usage and " tok/s" in usage
    for line in (_card(outcome), outcome_footer(outcome)):
        assert usage in line and cover in line
    hardware = card(run, outcome.cost, outcome.cost_error)[0]
    assert usage_text(run.prompt_tokens, run.completion_tokens, run, run.wall_seconds) in hardware
    stored = store.get(outcome.summary_id)
    store.close()
    footer = stored_footer(stored)
    assert coverage_text(stored.coverage) == cover and cover in footer
    assert usage_text(stored.prompt_tokens, stored.completion_tokens, None,
                      stored.wall_seconds) in footer
    assert f"Coverage: {cover}" in header_lines(stored)


def test_documents_run_even_when_the_jobs_table_cannot_be_written(  # type: ignore[no-untyped-def]
        qtbot, tmp_path: Path) -> None:
    """The database worker cannot open its database (here: a folder where the file should be):
    the window says so and the documents run all the same (unrecorded, negative ids)."""
    from lexbrief.ui.gui.worker import SummaryWorker

    from fake_engine import FakeEngine

    broken = tmp_path / "not-a-database"
    broken.mkdir()
    said: list[str] = []
    win = MainWindow(SummaryWorker(engine_factory=lambda _model: FakeEngine()),
                     Database(broken))
    win.statusBar().messageChanged.connect(said.append)
    win.skip_close_question = True  # type: ignore[attr-defined]
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: any(m.startswith("The queue cannot be read: the database ")
                                    for m in said), timeout=10000)
        [job] = _add(win, qtbot, DOCUMENTS / "court-order-ca7.pdf")
        assert job < 0
        qtbot.waitUntil(lambda: win.queue.job_state(job) == "done", timeout=60000)
    finally:
        win.close()
    assert Store().counts()["summaries"] == 1  # the model worker's own Store could write


def test_the_unchecked_draft_is_never_shown_while_it_is_written(qtbot) -> None:  # type: ignore[no-untyped-def]
    from lexbrief.ui.gui.summary_view import SummaryView

    view = SummaryView()
    qtbot.addWidget(view)
    view.start("notice.pdf")
    view.append_token("The Court of Appeals for the Fifth Circuit held on April 30, 2024 ")
    view.append_token("that the players were awarded damages.")
    qtbot.waitUntil(lambda: "so far" in view.toPlainText())
    shown = view.toPlainText()
    assert "Fifth Circuit" not in shown and "April 30, 2024" not in shown
    assert "19 words so far" in shown
