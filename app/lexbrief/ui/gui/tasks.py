"""Short background tasks (database reads, file loads) on Qt's thread pool, results delivered
to the GUI thread by a signal, so the window never waits on the disk."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from lexbrief.errors import UserFacingError

log = logging.getLogger(__name__)


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(str)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.fn = fn
        self.relay = relay

    def run(self) -> None:
        try:
            result = self.fn()
        except UserFacingError as exc:
            self._emit(self.relay.failed, exc.message)
        except Exception as exc:
            log.exception("background task failed")
            self._emit(self.relay.failed,
                       f"internal error ({type(exc).__name__}); see the log file")
        else:
            self._emit(self.relay.done, result)

    @staticmethod
    def _emit(signal: Any, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError as exc:  # the application is shutting down: nobody to tell
            log.debug("a background result had nowhere to go: %s", exc)


_alive: set[_Relay] = set()


def _deliver(callback: Callable[[Any], object], value: Any) -> None:
    """A result may arrive after its window closed: a deleted widget is not an error."""
    try:
        callback(value)
    except RuntimeError as exc:
        if "already deleted" not in str(exc):
            raise
        log.debug("a background result arrived after its widget was closed")


def run_in_background(fn: Callable[[], Any], on_done: Callable[[Any], None],
                      on_failed: Callable[[str], object] | None = None) -> None:
    relay = _Relay()
    _alive.add(relay)  # keep the relay alive until it has delivered

    def finish_ok(result: Any) -> None:
        _alive.discard(relay)
        _deliver(on_done, result)

    def finish_failed(message: str) -> None:
        _alive.discard(relay)
        if on_failed:
            _deliver(on_failed, message)

    relay.done.connect(finish_ok)
    relay.failed.connect(finish_failed)
    QThreadPool.globalInstance().start(_Task(fn, relay))
