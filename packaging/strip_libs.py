"""Strip the symbol tables the bundle's wheels left in their native libraries, and prove each
stripped library still loads.

    python packaging/strip_libs.py BUNDLE/_internal

PyPI wheels ship some libraries with their full symbol table (`.symtab`, kept only for
debuggers): pyclipper's module is 3.7 MB of which 3.3 MB are symbols, PyYAML's 2.7 of 2.4,
Pillow's `_imaging` 3.5 of 2.7, PDFium and GEOS a megabyte each. `strip --strip-unneeded`
keeps the dynamic symbols the loader uses. It has broken a library before: numpy's OpenBLAS,
rewritten by auditwheel's patchelf, would no longer load ("ELF load command address/offset not
page-aligned"). So every library is first loaded as it is (one child process, `dlopen` with
every symbol bound now), then stripped, then loaded again in a fresh child process; one that
fails after stripping gets its original bytes back, and one that cannot be loaded outside the
frozen app is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Loads each path given on stdin (one per line) with every symbol bound now, in the order given,
# and prints the ones that failed with the loader's message, as JSON.
_LOADER = r"""
import ctypes, json, os, sys
failed = {}
for path in sys.stdin.read().splitlines():
    try:
        ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
    except OSError as exc:
        failed[path] = str(exc)
print(json.dumps(failed))
"""


@dataclass
class Stripped:
    saved: int = 0
    files: dict[str, int] = field(default_factory=dict)  # relative path -> bytes saved
    restored: dict[str, str] = field(default_factory=dict)  # failed after strip: why
    not_loadable: dict[str, str] = field(default_factory=dict)  # left alone: why

    def as_dict(self) -> dict[str, object]:
        return {"saved": self.saved, "files": self.files, "restored": self.restored,
                "not_loadable": self.not_loadable}


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def _has_symtab(path: Path) -> bool:
    sections = subprocess.run(["readelf", "-S", "-W", str(path)], capture_output=True,
                              text=True, check=False).stdout
    return " .symtab " in sections


def candidates(internal: Path) -> list[Path]:
    """The bundle's native libraries (no links) that still carry a symbol table."""
    found = []
    for path in sorted(internal.rglob("*.so*")):
        if path.is_symlink() or not path.is_file() or not is_elf(path):
            continue
        if _has_symtab(path):
            found.append(path)
    return found


def load_failures(paths: list[Path], internal: Path) -> dict[str, str]:
    """Which of `paths` the dynamic loader refuses, as the frozen app's folder would find
    their dependencies (the bundle's `_internal` first, as the bootloader sets it)."""
    if not paths:
        return {}
    env = {**os.environ, "LD_LIBRARY_PATH": str(internal)}
    result = subprocess.run([sys.executable, "-c", _LOADER], input="\n".join(map(str, paths)),
                            capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:  # the loader crashed on one of them: try each alone
        failed: dict[str, str] = {}
        for path in paths:
            alone = subprocess.run([sys.executable, "-c", _LOADER], input=str(path),
                                   capture_output=True, text=True, env=env, check=False)
            if alone.returncode != 0:
                failed[str(path)] = f"the loader crashed (exit {alone.returncode})"
            else:
                failed.update(json.loads(alone.stdout))
        return failed
    return dict(json.loads(result.stdout))


def strip_bundle(internal: Path, *, strip: str = "strip") -> Stripped:
    report = Stripped()
    if not sys.platform.startswith("linux") or not shutil.which(strip):
        return report
    found = candidates(internal)
    before_failures = load_failures(found, internal)
    for path, why in before_failures.items():
        report.not_loadable[str(Path(path).relative_to(internal))] = why
    todo = [p for p in found if str(p) not in before_failures]
    with tempfile.TemporaryDirectory(prefix="lexbrief-strip-") as keep:
        originals: dict[Path, Path] = {}
        sizes: dict[Path, int] = {}
        for number, path in enumerate(todo):
            original = Path(keep) / f"{number}.so"
            shutil.copy2(path, original)
            originals[path], sizes[path] = original, path.stat().st_size
            subprocess.run([strip, "--strip-unneeded", str(path)], check=True)
        after_failures = load_failures(todo, internal)
        for path in todo:
            relative = str(path.relative_to(internal))
            if str(path) in after_failures:
                shutil.copy2(originals[path], path)
                report.restored[relative] = after_failures[str(path)]
                continue
            saved = sizes[path] - path.stat().st_size
            report.files[relative] = saved
            report.saved += saved
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("internal", type=Path, help="the bundle's _internal folder")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    report = strip_bundle(args.internal)
    print(f"stripped {len(report.files)} libraries: {report.saved / 1e6:.1f} MB less; "
          f"{len(report.restored)} restored (would not load stripped), "
          f"{len(report.not_loadable)} left alone (not loadable outside the app)",
          file=sys.stderr)
    for relative, why in {**report.restored, **report.not_loadable}.items():
        print(f"  {relative}: {why[:200]}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
