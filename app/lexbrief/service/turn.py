"""One local model at work at a time per data folder: the window and a CLI batch (or two
batches) take turns instead of running two llama.cpp engines on the same cores.

Two engines that each take every core do not share them: llama.cpp's threads wait for each
other at every step. Two processes on one two-document batch (tests/test_queue_crash.py) took
398 s side by side on the 2-core VM, and 22 s one after the other. A calibration measured
beside another run would keep wrong knobs. So a process that
runs a local model takes the turn for one document at a time (an advisory lock on
`<data folder>/model-turn.lock`, which the kernel drops when the process ends, kill -9 too);
another one waits, says who it waits for, and can be cancelled while it waits. Documents a
server summarizes take no turn: the server schedules its own slots.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lexbrief.cancel import NEVER, CancelToken
from lexbrief.errors import StorageError

LOCK_NAME = "model-turn.lock"
POLL_SECONDS = 0.25


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def holder(path: Path) -> str:
    """Who has the turn, as its holder wrote it ("" when unknown)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def model_turn(folder: Path, *, what: str, cancel: CancelToken = NEVER,
               waiting: Callable[[str], None] | None = None) -> Iterator[float]:
    """Hold the turn while the block runs; yields the seconds spent waiting for it.
    `waiting(message)` is called once if another process has it; `cancel` ends the wait
    (Cancelled). A data folder that cannot hold the lock file is the world's fault. The
    holder's name is written unbuffered and only as a courtesy: a full disk fails the work
    inside the block (its own clear error), never the turn."""
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        reason = ("the disk is full" if exc.errno == errno.ENOSPC
                  else exc.strerror or str(exc))
        raise StorageError(f"LexBrief cannot create {path} ({reason}); free some space or "
                           "check the data folder's permissions, then run it again.") from exc
    try:
        started = time.perf_counter()
        told = False
        while not _try_lock(fd):
            if not told and waiting is not None:
                other = holder(path) or "another LexBrief process"
                waiting(f"waiting for its turn: {other} is using the model on this computer")
                told = True
            cancel.check()
            cancel.wait(POLL_SECONDS)
            cancel.check()
        waited = time.perf_counter() - started
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} ({what})".encode(), 0)
            yield waited
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            _unlock(fd)
    finally:
        os.close(fd)
