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

from lexbrief import __version__, network
from lexbrief.errors import Cancelled, ExitCode, UserFacingError
from lexbrief.ui.logs import setup_logging

log = logging.getLogger("lexbrief")

# Command modules, in the order `--help` lists them. Each has register(subparsers).
COMMAND_MODULES = ["lexbrief.ui.cli.summarize", "lexbrief.ui.cli.queue", "lexbrief.ui.cli.history",
                   "lexbrief.ui.cli.costs",
                   "lexbrief.ui.cli.models", "lexbrief.ui.cli.hw",
                   "lexbrief.ui.cli.bench", "lexbrief.ui.cli.eval"]


def build_parser() -> argparse.ArgumentParser:

    parser = argparse.ArgumentParser(
        prog="lexbrief",
        description="Faithful, page-cited summaries of legal documents, offline.",
        epilog="Exit codes: 0 ok, 2 usage, 3 bad document, 4 model, 5 storage, 6 not found, "
               "70 internal error, 130 cancelled.",
    )
    parser.add_argument("--version", action="version", version=f"lexbrief {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug details in the log")
    parser.add_argument("--offline", action="store_true",
                        help="open no network connection at all, not even a model download or "
                             "the configured server (as the `offline` setting does)")
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
        from lexbrief.ui.gui.app import main as gui_main

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
        from lexbrief.settings import load_settings

        # The network policy (README, "Network policy"), for this command only: main() run
        # in-process (the tests) leaves no policy behind.
        with network.enforced(offline=args.offline or load_settings().offline):
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
