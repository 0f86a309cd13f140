"""`lexbrief summarize FILE|FOLDER...`: progress on stderr, the summary on stdout or in files."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from lexbrief.errors import Cancelled, ExitCode, UserFacingError
from lexbrief.read import Limits, expand_inputs
from lexbrief.summarize.pipeline import Observer, Progress


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "summarize", help="summarize documents (PDF, DOCX, TXT, MD, HTML, RTF, PNG, JPEG, "
                          "TIFF) or folders",
        description="Summarize documents with the local model; each summary is stored.")
    p.add_argument("files", nargs="*", type=Path, metavar="FILE",
                   help="documents, or folders (every supported document inside)")
    p.add_argument("--resume", action="store_true",
                   help="go on with an interrupted batch: documents done earlier are skipped, "
                        "a half-read one resumes from its checkpoints (no FILE: every queued "
                        "job)")
    p.add_argument("--again", action="store_true",
                   help="summarize documents again even if the history has them (same "
                        "document, model and template)")
    p.add_argument("-t", "--template", default="auto",
                   help="auto (default), general, contract, court_opinion, legislation, or one "
                        "of your own")
    p.add_argument("-m", "--model", help="GGUF model file (default: the active or starter model)")
    p.add_argument("--reader-model", metavar="GGUF",
                   help="a smaller model that reads the document (the notes) while --model "
                        "writes the overview; default: reader_model in settings.toml")
    p.add_argument("--server", metavar="URL",
                   help="summarize on a llama-server or vLLM server (e.g. http://gpu-box:8080) "
                        "instead of this computer; default: the [server] url of settings.toml")
    p.add_argument("--local", action="store_true",
                   help="summarize on this computer even when settings.toml names a server")
    p.add_argument("--documents-at-once", type=int, metavar="N",
                   help="on a server: documents summarized at once (default: its slots), so "
                        "that every slot stays busy")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="environment variable holding the server's API key (never the key "
                        "itself on the command line)")
    p.add_argument("--matter", metavar="NAME",
                   help="the client matter these summaries are for: stored with each one, so "
                        "`lexbrief costs --matter NAME` totals its cost")
    p.add_argument("--password", help="password of an encrypted PDF")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per document (JSON Lines) instead of text")
    p.add_argument("-o", "--out", type=Path,
                   help="write the output here instead of stdout (a folder: one file each)")
    p.add_argument("--max-pages", type=int, default=Limits().max_pages,
                   help="refuse longer documents (default %(default)s)")
    p.add_argument("--ocr", choices=("auto", "always", "never"),
                   help="scanned pages: auto (default: OCR the pages without a usable text "
                        "layer, and images), always (every page), never")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


class ConsoleProgress(Observer):
    """One line on stderr, rewritten in place: step, stage, speed, time left."""

    def __init__(self, stream: TextIO, name: str, index: int, count: int) -> None:
        self.stream = stream
        self.prefix = f"[{index}/{count}] {name}" if count > 1 else name
        self.tty = stream.isatty()
        self.last = ""

    def progress(self, progress: Progress) -> None:
        if progress.stage == "waiting":  # another LexBrief process has the model (turn.py)
            self.finish(progress.message)
            return
        eta = "" if progress.eta_seconds is None else f" · ~{_clock(progress.eta_seconds)} left"
        from lexbrief.machine.telemetry.speed import live_text

        speed = f" · {live}" if (live := live_text()) else ""
        line = (f"{self.prefix}: step {progress.step}/{progress.total} · {progress.message}"
                f"{speed}{eta}")
        if self.tty:
            done = progress.step - (progress.stage != "done")
            filled = int(20 * max(0, done) / max(1, progress.total))
            bar = "█" * filled + "░" * (20 - filled)
            width = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r\x1b[2K" + f"{bar} {line}"[: width - 1])
        elif progress.stage in ("ocr", "map", "condense", "final"):
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last = line

    def token(self, stage: str, text: str) -> None:
        pass

    def finish(self, message: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")
        self.stream.write(f"{self.prefix}: {message}\n")
        self.stream.flush()


class StreamingProgress(ConsoleProgress):
    """On a terminal, while the model writes: how far it got, in words, not the words: nothing
    in a draft is checked yet (a small model's names courts and dates the document lacks). The
    checked summary follows."""

    def __init__(self, stream: TextIO, name: str, index: int, count: int) -> None:
        super().__init__(stream, name, index, count)
        self.streaming = False
        self.draft = ""
        self.words = 0  # the draft's words so far (the line is rewritten when they change)

    def progress(self, progress: Progress) -> None:
        if not self.streaming:
            super().progress(progress)

    def token(self, stage: str, text: str) -> None:
        if stage != "final":
            return
        self.streaming = True
        self.draft += text
        words = len(self.draft.split())
        if words != self.words:
            self.words = words
            self.stream.write(f"\r\x1b[2K{self.prefix}: writing the overview, {words} words "
                              "(shown once checked against the document)")
            self.stream.flush()

    def finish(self, message: str) -> None:
        if self.streaming:
            self.stream.write("\r\x1b[2K")
            self.streaming = False
        super().finish(message)


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _card(outcome: Any) -> str:
    from lexbrief.summarize.stats import run_stats, stats_line

    s = outcome.summary
    return stats_line(f"#{outcome.summary_id}", run_stats(
        s.coverage.as_dict(), prompt_tokens=s.usage.prompt_tokens,
        completion_tokens=s.usage.completion_tokens, record=outcome.run,
        seconds=s.wall_seconds, details=[f"{s.chunks} chunk{'s' if s.chunks != 1 else ''}"]))


def _write_private(path: Path, text: str) -> None:
    from lexbrief.paths import create_private

    tmp = path.with_name(f".{path.name}.partial")
    tmp.unlink(missing_ok=True)
    create_private(tmp)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # never a half-written file under the real name


def run(args: argparse.Namespace) -> int:
    """Queue the documents as jobs (lexbrief.store.jobs), then work through them. A crash or a
    kill loses at most the step that was running: `--resume` goes on from the table and the
    checkpoints."""
    from lexbrief.read import load_document
    from lexbrief.service import Summarizer, ocr_options
    from lexbrief.service.server import server_config, server_spec
    from lexbrief.settings import load_settings
    from lexbrief.store import Store
    from lexbrief.store.jobs import Heartbeat, JobQueue, LeaseLost, owner_pid
    from lexbrief.ui.cli.batch import Batch, lane_in_thread

    if not args.files and not args.resume:
        print("lexbrief summarize: error: give documents or folders (or --resume)",
              file=sys.stderr)
        return ExitCode.USAGE
    files = expand_inputs(args.files)
    if args.files and not files:
        raise UserFacingError("no supported documents found in the given folder(s).")
    store = Store()
    queue = JobQueue(store)
    server = None if args.local or args.model else server_config(
        args.server, api_key_env=args.api_key_env)
    # a missing model or an unreachable server: exit 4, nothing queued
    summarizer = Summarizer(store, model=args.model, server=server,
                            reader_model=args.reader_model)
    model = summarizer.model.spec
    # the reading model is recorded with each job ("" = none), so that --resume reads with it
    reader = summarizer.reader.spec if summarizer.reader else ""
    summarizers: dict[tuple[str | None, str | None], Summarizer] = {(model, reader): summarizer}
    limits = Limits(max_pages=args.max_pages)
    out_dir = args.out if args.out and (args.out.is_dir() or len(files) > 1) else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    show_progress = not args.quiet

    def note(message: str) -> None:
        if show_progress:
            print(f"lexbrief: {message}", file=sys.stderr, flush=True)

    from lexbrief.service.calibration import CALIBRATE_HINT

    hinted: set[Any] = set()  # models told to be uncalibrated, once each
    queue.recover()
    ids: list[int] = []
    if args.resume and not files:
        ids = [job.id for job in queue.jobs(states=("queued", "running"))]
    for path in files:
        latest = queue.latest_for(path) if args.resume else None
        if latest is not None and latest.state in ("queued", "running"):
            ids.append(latest.id)
        elif latest is not None and latest.state == "done" and not args.again:
            note(f"{path.name}: done earlier (job #{latest.id})")
        elif latest is not None and latest.state in ("failed", "cancelled"):
            note(f"{path.name}: {latest.state} earlier (job #{latest.id}: {latest.reason}); "
                 f"`lexbrief queue retry {latest.id}` queues it again")
        else:
            ids.append(queue.enqueue(path, template=args.template, model=model,
                                     password_required=bool(args.password),
                                     rerun=args.again, reader_model=reader,
                                     matter=args.matter).id)
    if args.resume and not ids:
        note("nothing left to do in the queue.")
        return ExitCode.OK
    total = len(ids)
    remaining = list(ids)
    # On a server with several slots, several documents at once keep every slot busy (the
    # map steps of one document may be fewer than the slots, and its overview uses one).
    lanes = 1
    if summarizer.server is not None and total > 1:
        slots = int(summarizer.engine.info.extra.get("slots", "1"))
        lanes = max(1, min(total, args.documents_at_once or slots))
    batch = Batch(total=total, remaining=remaining, show_progress=show_progress,
                   stream_draft=show_progress and sys.stderr.isatty() and not args.json
                   and lanes == 1)

    def lane(store: Store, queue: JobQueue,
             summarizers: dict[tuple[str | None, str | None], Summarizer],
             server: Any) -> None:
        while not batch.cancel.cancelled:
            job, index = batch.claim(queue)
            if job is None:
                return
            name = job.name
            observer: ConsoleProgress = (StreamingProgress if batch.stream_draft
                                         else ConsoleProgress)(sys.stderr, name, index, total)
            if job.password_required and not args.password:
                queue.release(job.id, "queued", "needs its password: run again with --password")
                note(f"{name} needs its password: run again with --password")
                batch.worse(ExitCode.BAD_INPUT)
                continue
            key = (job.model, job.reader_model)
            if key not in summarizers:  # a job queued earlier, with its own models
                summarizers[key] = Summarizer(
                    store, model=job.model, reader_model=job.reader_model,
                    server=server if server is not None and job.model == server_spec(
                        server.url) else None)
            worker = summarizers[key]
            started = time.perf_counter()
            lease = (job.id, queue.owner)
            try:
                with Heartbeat(queue, job.id):
                    document = load_document(
                        job.path, password=args.password, limits=limits,
                        ocr=ocr_options(args.ocr or load_settings().ocr,
                                        observer if show_progress else None, batch.cancel))
                    chosen, _kind_note = worker.template(job.template, document)
                    earlier = (None if job.rerun else store.find_summary(
                        document.sha256, worker.model_sha256, chosen.name))
                    if earlier is not None:
                        store.finish_from_history(lease, earlier, document.sha256)
                        outcome = None
                    else:
                        outcome = worker.summarize_document(
                            document, template=job.template, cancel=batch.cancel,
                            observer=observer if show_progress else None, job=lease,
                            matter=job.matter)
                        for tuned, name_of in ((worker.tuning, worker.model.name),
                                               (worker.reader_tuning, worker.reader
                                                and worker.reader.name)):
                            if tuned is not None and not tuned.calibrated \
                                    and name_of not in hinted:
                                hinted.add(name_of)
                                note(f"{name_of} is not calibrated on this machine: "
                                     f"{CALIBRATE_HINT}")
            except LeaseLost:
                note(f"{name}: another LexBrief process took this document over; left to it")
                continue
            except UserFacingError as exc:
                if show_progress:
                    observer.finish(f"failed: {exc.message}")
                if exc.exit_code == ExitCode.BAD_INPUT:
                    queue.release(job.id, "failed", exc.message)
                    if total > 1:
                        print(f"lexbrief: error: {exc.message}", file=sys.stderr)
                        batch.worse(exc.exit_code)
                        continue
                else:  # a full disk, a model that cannot load: the job waits for --resume
                    with contextlib.suppress(UserFacingError):
                        queue.release(job.id, "queued", exc.message)
                raise
            except (Cancelled, KeyboardInterrupt):
                with contextlib.suppress(UserFacingError):
                    queue.release(job.id, "queued", "interrupted (Ctrl-C); --resume goes on")
                raise
            except Exception:
                with contextlib.suppress(UserFacingError):
                    queue.release(job.id, "failed", "internal error (a bug); see the log")
                raise
            if outcome is None:
                stored = store.get(earlier or 0)
                if show_progress:
                    observer.finish(f"already summarized as #{stored.id} on "
                                    f"{stored.created[:16].replace('T', ' ')} (from the "
                                    "history; --again summarizes it again)")
                rendered = (json.dumps({"id": stored.id, "from_history": True,
                                        "document": {"name": name,
                                                     "sha256": stored.document_sha256,
                                                     "pages": stored.document_pages},
                                        "template": stored.template, "summary": stored.text},
                                       ensure_ascii=False) if args.json
                            else f"# {name}\n\n{stored.text}")
            else:
                if show_progress:
                    kept = worker.last_checkpoints.reused if worker.last_checkpoints else 0
                    resumed = f" · {kept} step(s) kept from an interrupted run" if kept else ""
                    lines = [f"done in {time.perf_counter() - started:.1f} s · "
                             f"{_card(outcome)}{resumed}"]
                    if outcome.run is not None:  # the hardware + cost card
                        from lexbrief.costs.card import card

                        lines += card(outcome.run, outcome.cost, outcome.cost_error)
                    with batch.lock:
                        observer.finish(lines[0])
                        sys.stderr.write("".join(f"  {line}\n" for line in lines[1:]))
                        sys.stderr.flush()
                rendered = (json.dumps(outcome.as_json(), ensure_ascii=False) if args.json
                            else f"# {name}\n\n{outcome.summary.text}")
            with batch.lock:
                if out_dir:
                    suffix = ".json" if args.json else ".md"
                    _write_private(out_dir / f"{Path(name).stem}.summary{suffix}",
                                   rendered + "\n")
                else:
                    batch.results.append(rendered)
                    if not args.out:
                        print(rendered, flush=True)

    if lanes == 1:
        lane(store, queue, summarizers, server)
    else:
        note(f"{lanes} documents at once on the server ({summarizer.engine.info.extra['slots']} "
             "slots)")
        batch.run_lanes(lanes, lambda: lane_in_thread(lane, summarizer, server))
    worst = batch.worst
    results = batch.results
    if remaining:
        others = {owner_pid(j.owner) for j in queue.jobs(ids=remaining) if j.state == "running"}
        pids = ", ".join(str(p) for p in sorted(p for p in others if p is not None))
        note(f"{len(remaining)} document(s) are being summarized by another LexBrief process"
             f"{f' (pid {pids})' if pids else ''}; `lexbrief queue` shows them.")
    if args.out and not out_dir:
        _write_private(args.out, "\n".join(results) + "\n")
    return worst
