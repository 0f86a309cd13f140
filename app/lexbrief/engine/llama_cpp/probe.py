"""The CPU-variant probe's child side (`cpu_dispatch` runs it in a child process): load one
`libggml-cpu-<variant>` and decode a few tokens with the real engine, or report llama.cpp's own
scores of the variants. A crash here (SIGILL) tells the parent that variant cannot run."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
from collections.abc import Sequence
from pathlib import Path

from lexbrief.engine.llama_cpp.cpu_dispatch import ENV_OVERRIDE, HIDDEN_FLAG, variant_files


def _scores_here(folder: Path) -> dict[str, int]:
    files = variant_files(folder)
    # The modules need libggml-base; load it first from the same folder, globally.
    for base in ("libggml-base.so.0", "libggml-base.so", "libggml-base.dylib", "ggml-base.dll"):
        if (folder / base).is_file():
            ctypes.CDLL(str(folder / base), mode=ctypes.RTLD_GLOBAL)
            break
    scores: dict[str, int] = {}
    for name, path in files.items():
        library = ctypes.CDLL(str(path))
        score_fn = getattr(library, "ggml_backend_score", None)
        if score_fn is None:
            continue
        score_fn.restype = ctypes.c_int
        scores[name] = int(score_fn())
    return scores


def _probe_here(variant: str, model: Path) -> None:
    """Load `variant` (LEXBRIEF_CPU_VARIANT, set by the parent) and decode a few tokens."""
    os.environ[ENV_OVERRIDE] = variant
    from lexbrief.cancel import NEVER
    from lexbrief.engine.contract import GenerationParams, Message
    from lexbrief.engine.llama_cpp.engine import LlamaCppEngine

    # One thread: no barrier spinning when the machine is busy; the decode still runs every
    # kernel the variant was compiled with.
    engine = LlamaCppEngine(model, context_length=256, threads=1, gpu_layers=0)
    try:
        pieces = list(engine.chat([Message("user", "Say hello.")],
                                  GenerationParams(max_tokens=4), NEVER))
    finally:
        engine.close()
    if not pieces:
        raise RuntimeError("the model produced nothing")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lexbrief-cpu-backend",
                                     description="LexBrief's CPU backend probe (internal)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--probe", metavar="VARIANT")
    mode.add_argument("--scores", action="store_true")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args(argv)
    if args.scores:
        print(json.dumps(_scores_here(args.dir)), flush=True)
        return 0
    if args.model is None:
        parser.error("--probe needs --model")
    _probe_here(args.probe, args.model)
    print(f"ok {args.probe}", flush=True)
    return 0


def handle_hidden_flag(argv: Sequence[str]) -> int | None:
    """For a frozen entry point: run the child mode if `argv` starts with the hidden flag."""
    if argv and argv[0] == HIDDEN_FLAG:
        return main(argv[1:])
    return None


if __name__ == "__main__":
    raise SystemExit(main())
