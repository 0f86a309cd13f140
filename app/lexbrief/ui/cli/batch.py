"""The lanes of one `lexbrief summarize` batch: on a server with several slots, several
documents at once, each lane with its own database connection and its own HTTP client."""

from __future__ import annotations

import threading
from typing import Any

from lexbrief.errors import Cancelled, ExitCode


class Batch:
    """What the lanes of one batch share: the jobs left, the results, the worst exit code, one
    cancel for all (Ctrl-C, or a lane's failure that ends the batch), and the first failure."""

    def __init__(self, *, total: int, remaining: list[int], show_progress: bool,
                 stream_draft: bool) -> None:
        from lexbrief.cancel import CancelToken

        self.total, self.remaining = total, remaining
        self.show_progress, self.stream_draft = show_progress, stream_draft
        self.lock = threading.RLock()
        self.cancel = CancelToken()
        self.results: list[str] = []
        self.worst = ExitCode.OK
        self.index = 0
        self.failure: BaseException | None = None

    def claim(self, queue: Any) -> tuple[Any, int]:
        """The next job (or None) and its number in the batch."""
        with self.lock:
            job = queue.claim(self.remaining)
            if job is not None:
                self.remaining.remove(job.id)
                self.index += 1
            return job, self.index

    def worse(self, code: int) -> None:
        with self.lock:
            self.worst = max(self.worst, code)

    def run_lanes(self, lanes: int, target: Any) -> None:
        """Run `lanes` threads; the first failure cancels the others and is raised here, as
        is Ctrl-C (after every lane has put its document back in the queue)."""
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - raised in the main thread below
                with self.lock:
                    if self.failure is None and not isinstance(exc, Cancelled):
                        self.failure = exc
                self.cancel.cancel()

        threads = [threading.Thread(target=guarded, name=f"lexbrief-lane-{i}")
                   for i in range(lanes)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:
            self.cancel.cancel()
            for thread in threads:
                thread.join()
            raise
        if self.failure is not None:
            raise self.failure


def lane_in_thread(lane: Any, first: Any, server: Any) -> None:
    """One lane in its own thread: its own database connection and job table, and its own
    engine on the shared server (an HTTP client; the server holds the model)."""
    from lexbrief.service import Summarizer
    from lexbrief.store import Store
    from lexbrief.store.jobs import JobQueue

    store = Store()
    try:
        summarizer = Summarizer(store, server=server, reader_model="")
        lane(store, JobQueue(store), {(first.model.spec, ""): summarizer}, server)
    finally:
        store.close()
