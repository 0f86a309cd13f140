"""Errors split into the world's fault and our bug.

A `UserFacingError` is something the user can act on (a damaged PDF, a missing model, a full
disk): it carries a one-line message in plain words and an exit code, and never shows a
traceback. Anything else that escapes is a bug in LexBrief: it is logged with its traceback.
"""

from __future__ import annotations


class ExitCode:
    OK = 0
    USAGE = 2  # argparse's own code for a bad command line
    BAD_INPUT = 3  # a document could not be read (damaged, encrypted, scanned, unsupported...)
    MODEL = 4  # no model, or the model file cannot be loaded
    STORAGE = 5  # the database or an output file could not be written (disk full, permissions)
    NOT_FOUND = 6  # a summary id that does not exist
    INTERNAL = 70  # a bug in LexBrief (EX_SOFTWARE); details in the log
    CANCELLED = 130  # stopped by the user (Ctrl-C)


class UserFacingError(Exception):
    """The world's fault: shown to the user as one plain sentence."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DocumentError(UserFacingError):
    """A document cannot be read."""


class PasswordRequired(DocumentError):
    """The document is encrypted with a user password that was not given (or was wrong)."""


class ScannedDocument(DocumentError):
    """A PDF without a text layer: it needs OCR."""


class ModelError(UserFacingError):
    exit_code = ExitCode.MODEL


class StorageError(UserFacingError):
    exit_code = ExitCode.STORAGE


class NotFound(UserFacingError):
    exit_code = ExitCode.NOT_FOUND


class Cancelled(Exception):
    """The user asked to stop. Nothing half-done is stored."""
