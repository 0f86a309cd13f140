"""Issue 17's check of the calibration: the short search (`lexbrief bench --calibrate`) against
the best point of the full grid (every threads x flash attention x batch x width), measured in
the same process, round after round (the grid and the search interleaved, so that a change of
the machine's load shows in both). Prints a table and writes JSON.

    flock /tmp/lexbrief-cpu.lock .venv/bin/python scripts/bench_calibration.py \
        [--model GGUF] [--rounds 3] [--json docs/bench/calibration-smollm2.json]

A configuration's score is the seconds the 50-page contract's model work would take at its
measured rates (read 43,000 tokens, write 4,800: lexbrief.model_files.estimate). The goal:
the search's choice, scored by the grid of the same round, within 5% of that grid's best.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lexbrief.engine.llama_cpp.calibrate import Calibrator, Knobs
from lexbrief.model_files.estimate import CONTRACT_READ_TOKENS, CONTRACT_WRITTEN_TOKENS
from lexbrief.model_files.resolve import resolve_model
from lexbrief.service.calibration import machine_key, map_writing_params

GOAL = 1.05


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="GGUF (default: the active or starter model)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=20.0, help="the search's seconds")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    path = resolve_model(args.model).path
    result: dict[str, object] = {
        "schema": "lexbrief-calibration-check/1", "model": path.name, "machine": machine_key(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "commit": _commit(),
        "load_before": [round(x, 2) for x in os.getloadavg()], "goal": GOAL, "rounds": []}
    rounds: list[dict[str, object]] = []
    with Calibrator(path, read_tokens=CONTRACT_READ_TOKENS, written_tokens=CONTRACT_WRITTEN_TOKENS,
                    writing_params=map_writing_params()) as calibrator:
        for number in range(1, args.rounds + 1):
            load = [round(x, 2) for x in os.getloadavg()]
            started = time.perf_counter()
            search = calibrator.search(budget_seconds=args.budget)
            searched = time.perf_counter() - started
            started = time.perf_counter()
            grid = calibrator.grid(prompt_tokens=search.prompt_tokens,
                                   generate_tokens=search.generate_tokens)
            gridded = time.perf_counter() - started
            best = min(grid, key=lambda m: m.workload_seconds)
            chosen: Knobs = search.best.knobs
            same = next(m for m in grid if m.knobs == chosen)
            default = next(m for m in grid if m.knobs == search.baseline.knobs)
            entry = {
                "round": number, "load_average": load, "search_seconds": round(searched, 1),
                "grid_seconds": round(gridded, 1), "prompt_tokens": search.prompt_tokens,
                "generate_tokens": search.generate_tokens,
                "chosen": same.as_dict(), "grid_best": best.as_dict(),
                "defaults": default.as_dict(),
                "chosen_vs_best": round(same.workload_seconds / best.workload_seconds, 3),
                "defaults_vs_best": round(default.workload_seconds / best.workload_seconds, 3),
                "search": search.as_dict(), "grid": [m.as_dict() for m in grid]}
            rounds.append(entry)
            result["rounds"] = rounds
            if args.json:  # after every round: a run cut short keeps what it measured
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
            print(f"round {number} (load {load}): search {searched:.1f} s chose "
                  f"{chosen.label()} -> {same.workload_seconds:.1f} s in the grid; grid best "
                  f"{best.knobs.label()} -> {best.workload_seconds:.1f} s; ratio "
                  f"{entry['chosen_vs_best']}; defaults {entry['defaults_vs_best']}",
                  flush=True)
    ratios = [float(r["chosen_vs_best"]) for r in rounds]  # type: ignore[arg-type]
    result["rounds"] = rounds
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["summary"] = {
        "chosen_vs_best": ratios, "median": statistics.median(ratios),
        "worst": max(ratios), "within_goal": sum(r <= GOAL for r in ratios),
        "search_seconds": [r["search_seconds"] for r in rounds]}
    print(json.dumps(result["summary"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
