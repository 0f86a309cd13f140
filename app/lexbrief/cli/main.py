"""Entry point: parse the command line, run the command, turn failures into exit codes.

Exit codes (also in the README):
  0 success · 2 bad command line · 3 a document could not be read · 4 model missing or
  unloadable · 5 database or output file not writable · 6 no such summary ·
  70 internal error (a bug: traceback in the log) · 130 cancelled (Ctrl-C)
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import logging.handlers
import os
import sys
from collections.abc import Sequence
from typing import Any

from lexbrief import __version__
from lexbrief.errors import Cancelled, ExitCode, UserFacingError

log = logging.getLogger("lexbrief")

# Command modules, in the order `--help` lists them. Each has register(subparsers).
COMMAND_MODULES = ["lexbrief.cli.summarize", "lexbrief.cli.queue", "lexbrief.cli.history",
                   "lexbrief.cli.costs",
                   "lexbrief.cli.models", "lexbrief.cli.hw",
                   "lexbrief.cli.bench", "lexbrief.cli.eval"]


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


def build_parser() -> argparse.ArgumentParser:

    parser = argparse.ArgumentParser(
        prog="lexbrief",
        description="Faithful, page-cited summaries of legal documents, offline.",
        epilog="Exit codes: 0 ok, 2 usage, 3 bad document, 4 model, 5 storage, 6 not found, "
               "70 internal error, 130 cancelled.",
    )
    parser.add_argument("--version", action="version", version=f"lexbrief {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug details in the log")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        __import__(name, fromlist=["register"]).register(subparsers)
    return parser


def _desktop_available() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if not arguments and _desktop_available() and importlib.util.find_spec("PySide6"):
        # `lexbrief` alone, double-clicked or typed on a desktop: open the window.
        from lexbrief.gui.app import main as gui_main

        return gui_main([])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if not getattr(args, "func", None):
        parser.print_help()
        return ExitCode.USAGE
    try:
        log_path = setup_logging(args.verbose)
    except OSError as exc:
        print(f"lexbrief: error: the data folder cannot be written: {exc}", file=sys.stderr)
        return ExitCode.STORAGE
    try:
        return int(args.func(args) or 0)
    except UserFacingError as exc:
        print(f"lexbrief: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except (Cancelled, KeyboardInterrupt):
        print("\nlexbrief: cancelled; nothing was saved for the unfinished document.",
              file=sys.stderr)
        return ExitCode.CANCELLED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception:
        log.exception("internal error running %s", sys.argv)
        print(f"lexbrief: internal error (a bug in LexBrief); details are in {log_path}",
              file=sys.stderr)
        return ExitCode.INTERNAL
