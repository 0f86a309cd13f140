"""Cooperative cancellation: a flag set by the user, checked between steps and between tokens."""

from __future__ import annotations

import threading

from lexbrief.errors import Cancelled


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, less if cancelled meanwhile; True if cancelled."""
        return self._event.wait(seconds)

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled("cancelled by the user")


NEVER = CancelToken()
