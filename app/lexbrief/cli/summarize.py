"""`lexbrief summarize FILE|FOLDER...`: progress on stderr, the summary on stdout or in files."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from lexbrief.core.chunking import ocr_notes
from lexbrief.core.pipeline import Observer, Progress
from lexbrief.errors import ExitCode, UserFacingError
from lexbrief.loaders import Limits, expand_inputs


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "summarize", help="summarize documents (PDF, DOCX, TXT, MD, HTML, RTF, PNG, JPEG, "
                          "TIFF) or folders",
        description="Summarize documents with the local model; each summary is stored.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="documents, or folders (every supported document inside)")
    p.add_argument("-t", "--template", default="auto",
                   help="auto (default), general, contract, court_opinion, legislation, or one "
                        "of your own")
    p.add_argument("-m", "--model", help="GGUF model file (default: the active or starter model)")
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
        eta = "" if progress.eta_seconds is None else f" · ~{_clock(progress.eta_seconds)} left"
        speed = f" · {progress.tokens_per_second:.0f} tok/s" if progress.tokens_per_second else ""
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
    """On a terminal, the summary streams as the model writes it (the draft, before citations
    are checked); the checked summary follows."""

    def __init__(self, stream: TextIO, name: str, index: int, count: int) -> None:
        super().__init__(stream, name, index, count)
        self.streaming = False

    def progress(self, progress: Progress) -> None:
        if not self.streaming:
            super().progress(progress)

    def token(self, stage: str, text: str) -> None:
        if stage != "final":
            return
        if not self.streaming:
            self.streaming = True
            self.stream.write("\r\x1b[2K\x1b[2mdraft: ")
        self.stream.write(text)
        self.stream.flush()

    def finish(self, message: str) -> None:
        if self.streaming:
            self.stream.write("\x1b[0m\n")
            self.streaming = False
        super().finish(message)


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _card(outcome: Any) -> str:
    s = outcome.summary
    cov = s.coverage
    u = s.usage
    return (f"#{outcome.summary_id} · {cov.pages_read}/{cov.pages_total} pages, "
            f"{cov.tokens_read} tokens read, {cov.tokens_dropped} dropped · {s.chunks} chunk"
            f"{'s' if s.chunks != 1 else ''} · {u.prompt_tokens} prompt + {u.completion_tokens} "
            f"generated tokens · {u.generation_tokens_per_second:.0f} tok/s · "
            f"{s.wall_seconds:.1f} s"
            + "".join(f" · {note}" for note in ocr_notes(cov.as_dict())))


def run(args: argparse.Namespace) -> int:
    from lexbrief.service import Summarizer
    from lexbrief.store import Store

    files = expand_inputs(args.files)
    if not files:
        raise UserFacingError("no supported documents found in the given folder(s).")
    store = Store()
    summarizer = Summarizer(store, model=args.model)
    limits = Limits(max_pages=args.max_pages)
    out_dir = args.out if args.out and (args.out.is_dir() or len(files) > 1) else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    worst = ExitCode.OK
    results: list[str] = []
    show_progress = not args.quiet
    for index, path in enumerate(files, 1):
        name = path.name
        stream_draft = show_progress and sys.stderr.isatty() and not args.json
        observer: ConsoleProgress = (StreamingProgress if stream_draft else ConsoleProgress)(
            sys.stderr, name, index, len(files))
        started = time.perf_counter()
        try:
            outcome = summarizer.summarize(path, template=args.template, password=args.password,
                                           observer=observer if show_progress else None,
                                           limits=limits, ocr=args.ocr)
        except UserFacingError as exc:
            if show_progress:
                observer.finish(f"failed: {exc.message}")
            if len(files) == 1 or exc.exit_code not in (ExitCode.BAD_INPUT,):
                raise
            print(f"lexbrief: error: {exc.message}", file=sys.stderr)
            worst = max(worst, exc.exit_code)
            continue
        if show_progress:
            observer.finish(f"done in {time.perf_counter() - started:.1f} s · {_card(outcome)}")
            if outcome.run is not None:  # the hardware + cost card (lexbrief.costs.card)
                from lexbrief.costs.card import card

                lines = card(outcome.run, outcome.cost, outcome.cost_error)
                sys.stderr.write("".join(f"  {line}\n" for line in lines))
                sys.stderr.flush()
        rendered = (json.dumps(outcome.as_json(), ensure_ascii=False) if args.json
                    else f"# {name}\n\n{outcome.summary.text}")
        if out_dir:
            suffix = ".json" if args.json else ".md"
            (out_dir / f"{path.stem}.summary{suffix}").write_text(rendered + "\n",
                                                                   encoding="utf-8")
        else:
            results.append(rendered)
            if not args.out:
                print(rendered, flush=True)
    if args.out and not out_dir:
        args.out.write_text("\n".join(results) + "\n", encoding="utf-8")
    return worst
