"""How work leaves the GUI thread and how its answer comes back.

Every background answer reaches the window the same way: `on_gui(fn)` posts `fn` through a Qt
signal to an object that lives on the GUI thread, so `fn` runs there, in order, and a widget
closed in the meantime is not an error. Every failure is split the same way
(`failure_message`): a `UserFacingError` is the world's fault and its message is shown as it
is; anything else is a bug, logged with its traceback, and the window says only "internal
error, see the log".

Three kinds of worker use this: the database worker (`database.py`, one Store for the window's
life), the model worker (`worker.py`, the loaded engine), and `run_in_background` below for short
jobs that touch neither (loading a document, writing an export, rating the catalog).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, Signal, Slot

from lexbrief.errors import UserFacingError

log = logging.getLogger(__name__)

T = TypeVar("T")
OnDone = Callable[[T], object]
OnError = Callable[[str], object]


def failure_message(exc: BaseException, what: str) -> str:
    """What the window says about `exc`; a bug's traceback goes to the log. Call it in the
    `except` block (it logs the exception being handled)."""
    if isinstance(exc, UserFacingError):
        return exc.message
    log.exception("internal error: %s", what)
    return f"internal error ({type(exc).__name__}); see the log file"


class _Poster(QObject):
    """Lives on the GUI thread: what is emitted to it from any thread runs there."""

    posted = Signal(object)  # a callable without arguments

    def __init__(self) -> None:
        super().__init__()
        self.posted.connect(self._run)

    @Slot(object)
    def _run(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except RuntimeError as exc:  # a result arrived after its window closed
            if "already deleted" not in str(exc):
                raise
            log.debug("a background result arrived after its widget was closed")


_posters: list[_Poster] = []  # the one poster, once made
_poster_lock = threading.Lock()


def gui_poster() -> _Poster:
    """The one poster (made on first use, and moved to the GUI thread if made elsewhere)."""
    with _poster_lock:
        if not _posters:
            poster = _Poster()
            app = QCoreApplication.instance()
            if app is not None and poster.thread() is not app.thread():
                poster.moveToThread(app.thread())
            _posters.append(poster)
        return _posters[0]


def on_gui(fn: Callable[[], object]) -> None:
    """Run `fn` on the GUI thread (soon, after what was posted before it)."""
    try:
        gui_poster().posted.emit(fn)
    except RuntimeError as exc:  # the application is shutting down: nobody to tell
        log.debug("a background result had nowhere to go: %s", exc)


def settle(fn: Callable[[], T], on_done: OnDone[T] | None, on_error: OnError | None,
           what: str) -> None:
    """Run `fn` here (a worker thread) and post its result or its failure to the GUI thread."""
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 (split below: the world's fault or a bug)
        message = failure_message(exc, what)
        if on_error is None:
            log.warning("%s failed: %s", what, message)
        else:
            on_gui(lambda: on_error(message))
        return
    if on_done is not None:
        on_gui(lambda: on_done(result))


class _Task(QRunnable):
    def __init__(self, work: Callable[[], None]) -> None:
        super().__init__()
        self.work = work

    def run(self) -> None:
        self.work()


def run_in_background(fn: Callable[[], T], on_done: OnDone[T] | None = None,
                      on_error: OnError | None = None, *, long: bool = False,
                      what: str = "a background task") -> None:
    """A short job on Qt's thread pool (`long`: a thread of its own, e.g. a download, so the
    pool stays free for short ones). `on_done(result)` or `on_error(message)` runs on the GUI
    thread."""

    def work() -> None:
        settle(fn, on_done, on_error, what)

    if long:
        threading.Thread(target=work, name=f"lexbrief-{what}", daemon=True).start()
    else:
        QThreadPool.globalInstance().start(_Task(work))
