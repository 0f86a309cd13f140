"""The log file both front ends write (CLI and window): private (0600), rotated, and silent
when the disk is full."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import Any


class PrivateLogHandler(logging.handlers.RotatingFileHandler):
    """The log names client files: it and its rotated copies are created 0600. A log that
    cannot be written (a full disk) is not a reason to print tracebacks at the user."""

    def _open(self) -> Any:
        from lexbrief.paths import private_opener

        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
                    opener=private_opener)

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handleError(record)


def setup_logging(verbose: bool = False) -> str:
    from lexbrief.paths import log_dir, repair_notes

    path = log_dir() / "lexbrief.log"
    handler = PrivateLogHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("lexbrief")
    for old in root.handlers:
        old.close()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for note in repair_notes():
        root.warning("data folder permissions: %s", note)
    return str(path)
