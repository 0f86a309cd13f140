"""Start-up time of a built bundle's window, from the process's start to its window shown
(issue 18 item 6: "cold start to a usable window stays < 2 s").

    python scripts/bench_start.py [BUNDLE] [--rounds N] [--json OUT]

BUNDLE defaults to build/dist/lexbrief (packaging/build.py --target bundle). Each round starts
`lexbrief-gui --self-test` offscreen in a clean environment (`env -i`, a fresh data folder)
twice: once right after dropping the page cache (`/proc/sys/vm/drop_caches`: needs root; every
library and file is then read from disk, as on the first start after a reboot) and once warm.
The time is taken when the program prints "window shown" (the first turn of its event loop with
the window shown), measured here from just before the process is spawned; the time to its exit
(after the self-test's 0.3 s check and the shutdown) is recorded beside it. Cold and warm runs
alternate in one process, so a busy machine slows both alike; the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOWN = "lexbrief-gui self-test: window shown"


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def one_start(program: Path, home: Path) -> tuple[float, float]:
    """(seconds to the window shown, seconds to the program's exit after its self-test)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "LEXBRIEF_HOME": str(home / "data"), "QT_QPA_PLATFORM": "offscreen"}
    started = time.perf_counter()
    process = subprocess.Popen([str(program), "--self-test"], env=env, cwd=home,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    shown = None
    for line in process.stdout:
        if line.startswith(SHOWN) and shown is None:
            shown = time.perf_counter() - started
    if process.wait(timeout=120) != 0 or shown is None:
        raise SystemExit(f"{program} --self-test failed (exit {process.returncode})")
    return shown, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", nargs="?", type=Path,
                        default=ROOT / "build" / "dist" / "lexbrief")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    program = args.bundle.resolve() / "lexbrief-gui"  # started from the data folder
    if not program.is_file():
        raise SystemExit(f"no {program}: build it with python packaging/build.py --target bundle")
    results: dict[str, list[float]] = {"cold": [], "warm": [], "cold_exit": [],
                                       "warm_exit": []}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        one_start(program, home)  # the first start writes the data folder: not timed
        for _ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            runs = [("cold", drop_page_cache()), ("warm", True)]
            for kind, ok in runs:
                if ok:
                    shown, total = one_start(program, home)
                    results[kind].append(shown)
                    results[f"{kind}_exit"].append(total)
    report = {"bundle": str(args.bundle), "load_average_1min": loads,
              **{k: [round(v, 3) for v in vals] for k, vals in results.items()},
              **{f"{k}_median": round(statistics.median(v), 3) for k, v in results.items() if v}}
    if not results["cold"]:
        report["note"] = "the page cache could not be dropped (not root): warm starts only"
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
