"""Taking turns with the local model (service.turn): a real second process holds the turn; the
wait says who has it, can be cancelled, and ends when the holder is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lexbrief.cancel import CancelToken
from lexbrief.errors import Cancelled, StorageError
from lexbrief.service import Summarizer
from lexbrief.service.turn import LOCK_NAME, model_turn
from lexbrief.store import Store
from lexbrief.summarize.pipeline import Observer, PipelineSettings, Progress
from test_queue import _doc

from conftest import fill
from fake_engine import FakeEngine

HOLD = """
import sys, time
from pathlib import Path
from lexbrief.service.turn import model_turn
with model_turn(Path(sys.argv[1]), what="the other batch"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def other_process(lexbrief_home: Path) -> Iterator[subprocess.Popen[str]]:
    """A second process that has the turn on this data folder until it is killed."""
    lexbrief_home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lexbrief_home)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait(timeout=30)


def _deadline(seconds: float) -> CancelToken:
    """A cancel that fires after `seconds`: a wait that never ends fails the test instead."""
    token = CancelToken()
    timer = threading.Timer(seconds, token.cancel)
    timer.daemon = True
    timer.start()
    return token


def test_a_wait_for_the_turn_names_the_holder_and_can_be_cancelled(
        lexbrief_home: Path, other_process: subprocess.Popen[str]) -> None:
    cancel = CancelToken()
    said: list[str] = []

    def waiting(message: str) -> None:
        said.append(message)
        threading.Timer(0.5, cancel.cancel).start()

    with pytest.raises(Cancelled), model_turn(lexbrief_home, what="this one", cancel=cancel,
                                              waiting=waiting):
        pytest.fail("had the turn while another process holds it")
    assert said == [f"waiting for its turn: pid {other_process.pid} (the other batch) is "
                    "using the model on this computer"]


def test_the_turn_comes_when_its_holder_is_killed(
        lexbrief_home: Path, other_process: subprocess.Popen[str]) -> None:
    said: list[str] = []

    def waiting(message: str) -> None:
        said.append(message)
        os.kill(other_process.pid, signal.SIGKILL)  # no chance to let go: the kernel does

    with model_turn(lexbrief_home, what="this one", cancel=_deadline(60),
                    waiting=waiting) as waited:
        assert (lexbrief_home / LOCK_NAME).read_text() == f"pid {os.getpid()} (this one)"
    assert len(said) == 1 and waited > 0
    assert (lexbrief_home / LOCK_NAME).read_text() == ""  # let go: nobody named


class Recorder(Observer):
    def __init__(self, engine: FakeEngine, release: subprocess.Popen[str]) -> None:
        self.engine, self.release = engine, release
        self.seen: list[tuple[str, int]] = []  # (stage, model calls made by then)

    def progress(self, progress: Progress) -> None:
        self.seen.append((progress.stage, len(self.engine.calls)))
        if progress.stage == "waiting":
            self.release.kill()


def test_a_local_summary_waits_for_the_other_process_before_the_model_reads_a_word(
        other_process: subprocess.Popen[str]) -> None:
    engine = FakeEngine(context_length=1024)
    summarizer = Summarizer(Store(), engine_factory=lambda _m: engine,  # type: ignore[arg-type,return-value]
                            pipeline_settings=PipelineSettings(max_chunk_tokens=600,
                                                               parallel_map=1))
    observer = Recorder(engine, other_process)
    outcome = summarizer.summarize_document(_doc(pages=3), observer=observer,
                                            cancel=_deadline(60))
    assert observer.seen[0] == ("waiting", 0)  # told first, before any prompt
    assert [stage for stage, _calls in observer.seen].count("waiting") == 1
    assert observer.seen[-1][0] == "done" and engine.calls
    assert summarizer.store.get(outcome.summary_id).document_sha256 == "f" * 64


def test_the_windows_queue_row_says_it_waits_and_for_whom(qtbot: Any) -> None:
    from lexbrief.ui.gui.queue_view import QueueView

    view = QueueView()
    qtbot.addWidget(view)
    view.add(7, Path("lease.pdf"))
    message = "waiting for its turn: pid 42 (summarizing nda.docx) is using the model here"
    view.set_progress(7, Progress("waiting", 0, 0, message))
    item = view.job_item(7)
    assert item is not None
    assert (view.job_state(7), item.text(2), item.toolTip(1)) == ("waiting", message, message)
    view.set_progress(7, Progress("map", 1, 3, "reading pages 1-2"))
    assert view.job_state(7) == "reading pages 1-2"


def test_a_full_disk_fails_the_work_not_the_turn(small_disk: Path) -> None:
    """On a real full filesystem the holder's name cannot be written: the turn is still taken
    and given back, and the work's own error (here the store's StorageError) is what leaves."""
    folder = small_disk / "data"
    folder.mkdir()
    fill(small_disk / "filler")
    with pytest.raises(StorageError, match="the disk is full"), \
            model_turn(folder, what="this one", cancel=_deadline(60)):
        assert (folder / LOCK_NAME).read_text() == ""  # no room for the name
        raise StorageError("the disk is full; LexBrief cannot write to the database")
    with model_turn(folder, what="the next one", cancel=_deadline(60)) as waited:
        assert waited < 1  # given back: the next one has it at once
