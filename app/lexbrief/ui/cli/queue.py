"""`lexbrief queue`: the jobs table (list, retry, cancel, clear). `lexbrief summarize --resume`
works through it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lexbrief.errors import ExitCode, UserFacingError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "queue", help="list the queued, running and finished jobs; retry, cancel or clear them",
        description="The job queue the window and `lexbrief summarize` share. A job a crash "
                    "left running is queued again; `lexbrief summarize --resume` goes on.")
    p.set_defaults(func=run_list, all=False, json=False, limit=50)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    ls = actions.add_parser("list", help="list jobs (default: unfinished and the last 50)")
    ls.add_argument("--all", action="store_true", help="every job, finished ones too")
    ls.add_argument("--json", action="store_true", help="one JSON object per job")
    ls.add_argument("-n", "--limit", type=int, default=50)
    ls.set_defaults(func=run_list)
    retry = actions.add_parser("retry", help="queue failed or cancelled jobs again")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID",
                       help="job ids (default: every failed or cancelled job)")
    retry.set_defaults(func=run_retry)
    cancel = actions.add_parser("cancel", help="cancel queued jobs")
    cancel.add_argument("ids", nargs="+", type=int, metavar="ID")
    cancel.set_defaults(func=run_cancel)
    clear = actions.add_parser("clear", help="forget finished jobs (summaries stay in history)")
    clear.add_argument("--queued", action="store_true",
                       help="also drop jobs still waiting (never a running one)")
    clear.set_defaults(func=run_clear)


def _queue() -> Any:
    from lexbrief.store import Store
    from lexbrief.store.jobs import JobQueue

    queue = JobQueue(Store())
    queue.recover()
    return queue


def run_list(args: argparse.Namespace) -> int:
    from lexbrief.store.jobs import owner_pid

    queue = _queue()
    jobs = queue.jobs()
    if not args.all:
        unfinished = [j for j in jobs if j.state in ("queued", "running")]
        finished = [j for j in jobs if j.state not in ("queued", "running")][-args.limit:]
        jobs = sorted(unfinished + finished, key=lambda j: j.id)
    if args.json:
        for job in jobs:
            print(json.dumps(job.as_dict(), ensure_ascii=False))
        return ExitCode.OK
    if not jobs:
        print("The queue is empty.")
        return ExitCode.OK
    for job in jobs:
        detail = job.reason or ""
        if job.state == "running":
            detail = f"pid {owner_pid(job.owner)}"
        elif job.state == "done" and job.summary_id:
            detail = f"summary #{job.summary_id}" + (f" ({job.reason})" if job.reason else "")
        print(f"#{job.id:<5} {job.state:<9} {job.name[:40]:<40} {job.template:<13} "
              f"tries {job.attempts}  {detail}")
    counts = queue.counts()
    print(" · ".join(f"{n} {state}" for state, n in counts.items() if n))
    return ExitCode.OK


def run_retry(args: argparse.Namespace) -> int:
    count = _queue().retry(args.ids or None)
    print(f"{count} job(s) queued again; `lexbrief summarize --resume` runs them.")
    return ExitCode.OK


def run_cancel(args: argparse.Namespace) -> int:
    queue = _queue()
    refused = [i for i in args.ids if not queue.cancel(i)]
    if refused:
        raise UserFacingError(
            f"job(s) {', '.join(f'#{i}' for i in refused)} are not waiting in the queue (a "
            "running job is stopped in the window or with Ctrl-C where it runs).")
    print(f"{len(args.ids)} job(s) cancelled.")
    return ExitCode.OK


def run_clear(args: argparse.Namespace) -> int:
    states = ["done", "failed", "cancelled"] + (["queued"] if args.queued else [])
    count = _queue().clear(states)
    print(f"{count} job(s) cleared; their summaries stay in `lexbrief history`.")
    return ExitCode.OK
