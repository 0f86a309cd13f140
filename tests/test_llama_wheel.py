"""packaging/llama_wheel.py: the progress line while llama.cpp compiles, the build log, and the
lean build's flags (the build itself is measured in README.md, not timed here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("llama_wheel", ROOT / "packaging" /
                                                  "llama_wheel.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_compiler_progress_is_one_line_per_tenth_in_a_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel = _module()
    script = ("import sys\nprint('-- Configuring done')\n"
              "for i in range(1, 21):\n    print(f'[{i}/20] /usr/bin/c++ -c file{i}.cpp')\n")
    log = tmp_path / "build.log"
    wheel.run_with_progress([sys.executable, "-c", script], {}, log)
    err = capsys.readouterr().err.splitlines()
    progress = [line for line in err if line.startswith("compiling llama.cpp:")]
    assert progress[0].startswith("compiling llama.cpp: 1/20 files, 0:0")
    assert progress[-1].startswith("compiling llama.cpp: 20/20 files")
    assert 5 <= len(progress) <= 11  # not one line per file
    assert err[-1].startswith("llama.cpp built in 0:0")
    assert "[20/20] /usr/bin/c++ -c file20.cpp" in log.read_text()


def test_a_failed_build_shows_the_logs_tail_and_names_the_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel = _module()
    script = "import sys\nprint('[1/2] c++ a.cpp')\nprint('error: no such file')\nsys.exit(3)\n"
    log = tmp_path / "build.log"
    with pytest.raises(SystemExit, match=f"exit 3.*{log}"):
        wheel.run_with_progress([sys.executable, "-c", script], {}, log)
    assert "error: no such file" in capsys.readouterr().err


def test_the_lean_build_leaves_out_what_lexbrief_never_loads() -> None:
    wheel = _module()
    flags = wheel.VARIANTS["portable"].split()
    assert "-DGGML_NATIVE=OFF" in flags and "-DLLAVA_BUILD=OFF" in flags
    old, new = wheel.LEAN_PATCH
    assert old.replace(" ON ", " OFF ") == new
    # a new cache folder, so that an older full build is never taken for the lean one
    assert wheel.wheelhouse("portable").name.endswith("-portable-lean")
    assert "dispatch" not in wheel.LEAN_VARIANTS  # the installers' build is unchanged
