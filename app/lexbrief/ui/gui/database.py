"""The window's database worker (Anki's single collection worker): one thread owns one Store for
the window's life, and every database operation of the window runs there, in order.

    db.run(lambda store: store.history(search="lease"), show_rows, on_error=say)

`op(store)` runs on the database thread; `on_done(result)` or `on_error(message)` runs on the GUI
thread (tasks.on_gui). The GUI thread never opens a Store and never waits for one. Failures are
split as everywhere in the window (tasks.failure_message); an operation without `on_error` has
its message emitted as `failed`, which the window shows in its status bar.

The model worker (worker.py) keeps a connection of its own for what a summary writes while it
runs (its checkpoints, its job's lease, the summary row), so a long summary never holds up
the history, the queue or the cost chart.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QThread, Signal

from lexbrief.store import Store
from lexbrief.ui.gui.tasks import OnDone, OnError, gui_poster, settle

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Operation:
    op: Callable[[Store], Any]
    on_done: Callable[[Any], object] | None
    on_error: Callable[[str], object]
    what: str


class _Thread(QThread):
    def __init__(self, loop: Callable[[], None]) -> None:
        super().__init__()
        self.loop = loop
        self.setObjectName("lexbrief-database")

    def run(self) -> None:
        self.loop()


class Database(QObject):
    failed = Signal(str)  # an operation without on_error failed: what to tell the user

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = path
        self._queue: queue.Queue[_Operation | None] = queue.Queue()
        self._thread: _Thread | None = None  # started by the first operation
        self._store: Store | None = None  # the database thread's, opened there
        self._closed = False
        gui_poster()  # made here, on the GUI thread, before any answer needs it

    def run(self, op: Callable[[Store], T], on_done: OnDone[T] | None = None,
            on_error: OnError | None = None, *, what: str = "") -> None:
        """Queue `op` for the database thread; never blocks."""
        if self._closed:  # a late answer asked for more after the window closed
            log.debug("database operation after close ignored: %s", what or op)
            return
        if self._thread is None:
            self._thread = _Thread(self._loop)
            self._thread.start()
        self._queue.put(_Operation(op, on_done, on_error or self._report,
                                   what or getattr(op, "__name__", "a database operation")))

    def _report(self, message: str) -> None:
        self.failed.emit(message)

    # -- the database thread ------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                settle(partial(self._apply, item.op), item.on_done, item.on_error, item.what)
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _apply(self, op: Callable[[Store], T]) -> T:
        return op(self._open())

    def _open(self) -> Store:
        """The thread's Store, opened at its first operation (and again at the next one if
        opening failed: a full disk may have been freed)."""
        if self._store is None:
            self._store = Store(self.path)
        return self._store

    # -- shutting down ------------------------------------------------------------------------
    def close(self, timeout_ms: int = 30000) -> bool:
        """Run what is queued, close the Store, end the thread (called as the window closes)."""
        self._closed = True
        if self._thread is None:
            return True
        self._queue.put(None)
        finished = self._thread.wait(timeout_ms)
        if not finished:
            # Destroying a running QThread aborts the process: keep it until it ends.
            log.warning("the database worker is still busy; leaving it to finish")
            _still_running.append(self._thread)
        self._thread = None
        return finished


_still_running: list[QThread] = []
