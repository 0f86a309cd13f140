"""SQLite errors sorted by result code into the world's fault and our bug.

The world's fault (a full disk, read-only media, a damaged or foreign file, another program
holding the lock past the busy timeout) becomes a `StorageError` whose message names the
database. Anything else (a constraint we broke, SQL that does not parse, a closed connection) is
a bug: it propagates unchanged, and the front end logs its traceback. The code is SQLite's
primary result code (`sqlite3.Error.sqlite_errorcode & 0xFF`, Python 3.11+), never the message
text. An `OSError` around the database file (creating it, the data folder) is the world's fault
too, worded by its errno.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from lexbrief.errors import StorageError

# Primary result codes (https://sqlite.org/rescode.html) that say the world is in the way.
FULL = sqlite3.SQLITE_FULL
IOERR = sqlite3.SQLITE_IOERR
READONLY = sqlite3.SQLITE_READONLY
PERM = sqlite3.SQLITE_PERM
CANTOPEN = sqlite3.SQLITE_CANTOPEN
NOTADB = sqlite3.SQLITE_NOTADB
CORRUPT = sqlite3.SQLITE_CORRUPT
BUSY = sqlite3.SQLITE_BUSY
LOCKED = sqlite3.SQLITE_LOCKED


def primary_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of `exc` (the extended code's low byte), or None when the
    error did not come from SQLite itself (e.g. `ProgrammingError` on a closed connection)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def world_fault(exc: sqlite3.Error, path: Path) -> StorageError | None:
    """The `StorageError` to show for `exc`, or None when `exc` is our bug."""
    code = primary_code(exc)
    name = getattr(exc, "sqlite_errorname", None) or "?"
    if code == FULL:
        return StorageError(f"the disk is full; LexBrief cannot write to {path}. Free some "
                            "space and run it again: finished work is kept.")
    if code in (READONLY, PERM):
        return StorageError(f"LexBrief may not write to {path} (read-only or no permission; "
                            f"{name}).")
    if code == CANTOPEN:
        return StorageError(f"the database {path} cannot be opened (a missing or read-only "
                            f"folder, no permission, or not a file; {name}).")
    if code == IOERR:
        return StorageError(f"the system could not read or write {path} (an input/output "
                            f"error, {name}); check the disk and run it again.")
    if code == NOTADB:
        return StorageError(f"{path} is not a LexBrief database (not an SQLite file, or "
                            "encrypted). Move it away, or choose another data folder.")
    if code == CORRUPT:
        return StorageError(f"the database {path} is damaged ({name}). Restore a backup of "
                            "it, or move it away to start an empty one.")
    if code in (BUSY, LOCKED):
        return StorageError(f"the database {path} is busy in another program; try again.")
    return None


def os_fault(exc: OSError, path: Path) -> StorageError:
    """An `OSError` on the database file or its folder, in plain words."""
    if exc.errno == errno.ENOSPC:
        return StorageError(f"the disk is full; LexBrief cannot write to {path}. Free some "
                            "space and run it again: finished work is kept.")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StorageError(f"LexBrief may not write to {path} (read-only or no permission).")
    return StorageError(f"the database {path} cannot be used: {exc.strerror or exc}.")


@contextlib.contextmanager
def storage_errors(path: Path) -> Iterator[None]:
    """Inside: an SQLite error that is the world's fault leaves as a `StorageError` (the
    original as its cause); any other SQLite error leaves unchanged, as the bug it is."""
    try:
        yield
    except sqlite3.Error as exc:
        error = world_fault(exc, path)
        if error is None:
            raise
        raise error from exc
