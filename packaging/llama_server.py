"""Build (once) and locate llama-server, llama.cpp's HTTP server, for LexBrief's server mode.

The program is built from the llama.cpp sources that the pinned llama-cpp-python sdist vendors
(`vendor/llama.cpp`), so the server and the binding run the same llama.cpp, with the binding's
portable CPU flags (the `-DGGML_*` flags of packaging/llama_wheel.py's `portable` variant:
`-DGGML_NATIVE=OFF`; a -march=native build crashes on CPUs that report AMX/AVX-512 in a VM).
It is linked statically against llama.cpp (`-DBUILD_SHARED_LIBS=OFF`): one file that needs only
the system's C/C++ runtime (libstdc++, libgcc_s, libgomp, libc), no libllama/libggml beside it.
Left out: HTTPS (`-DLLAMA_OPENSSL=OFF`; it listens on a local port) and the web UI
(`-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF`: the UI would otherwise be downloaded from
the Hugging Face hub during the build). About 5-10 minutes on 2 cores, once per machine.

The result lives in <cache>/lexbrief/llama-server-<version>-portable/bin/llama-server, with
<cache> = $XDG_CACHE_HOME or ~/.cache (as for the wheels), beside the build log, the flags it was
built with and llama.cpp's licence. An existing build with the same flags is reused.

Usage: python packaging/llama_server.py [--jobs N]   (prints the program's path on stdout)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType


def _llama_wheel() -> ModuleType:
    """packaging/llama_wheel.py, loaded by path (this file may be loaded by path too)."""
    spec = importlib.util.spec_from_file_location(
        "lexbrief_packaging_llama_wheel", Path(__file__).resolve().with_name("llama_wheel.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_wheel = _llama_wheel()
LLAMA_CPP_PYTHON_VERSION: str = _wheel.LLAMA_CPP_PYTHON_VERSION
# The binding's CPU flags, whatever else its portable variant switches off.
CPU_FLAGS = [f for f in _wheel.VARIANTS["portable"].split() if f.startswith("-DGGML_")]
FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release", *CPU_FLAGS, "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_COMMON=ON",
    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_CURL=OFF",  # 0.3.36's llama.cpp no longer uses libcurl; kept off for older ones
    "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
]
TARGET = "llama-server"
EXE = TARGET + (".exe" if os.name == "nt" else "")
FLAGS_FILE = "build-flags.txt"
# Libraries that must not be needed at run time: the build is static.
SHARED_LLAMA = ("libllama", "libggml", "libmtmd", "libllama-common")


def server_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lexbrief"
    return root / f"llama-server-{LLAMA_CPP_PYTHON_VERSION}-portable"


def server_path() -> Path:
    """Where the program is (or will be once built)."""
    return server_dir() / "bin" / EXE


def find_server() -> Path | None:
    """The built program, if it is there and was built with today's flags."""
    program, flags = server_path(), server_dir() / FLAGS_FILE
    if not (program.is_file() and os.access(program, os.X_OK) and flags.is_file()):
        return None
    return program if flags.read_text(encoding="utf-8").split() == FLAGS else None


def build_server(jobs: int = 2) -> Path:
    existing = find_server()
    if existing:
        return existing
    target = server_dir()
    target.mkdir(parents=True, exist_ok=True)
    print(f"Building llama-server from llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}'s llama.cpp "
          f"({' '.join(CPU_FLAGS)}, static); about 5-10 minutes on 2 cores, once per machine...",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="lexbrief-llama-server-") as scratch:
        source = vendored_llama_cpp(Path(scratch))
        build = Path(scratch) / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        configure(["cmake", "-S", str(source), "-B", str(build), *generator, *FLAGS],
                  target / "configure.log")
        try:
            _wheel.run_with_progress(
                ["cmake", "--build", str(build), "--config", "Release", "--target", TARGET,
                 "-j", str(jobs)], dict(os.environ), target / "build.log")
        except SystemExit as failure:
            raise SystemExit(f"llama-server: {failure}") from None
        built = next((p for p in (build / "bin" / EXE, build / "bin" / "Release" / EXE)
                      if p.is_file()), None)
        if built is None:
            raise SystemExit(f"the build finished but left no {EXE} in {build / 'bin'}")
        check_runs(built)
        check_static(built)
        (target / "bin").mkdir(exist_ok=True)
        partial = target / "bin" / (EXE + ".partial")
        shutil.copy2(built, partial)
        shutil.copy2(source / "LICENSE", target / "LICENSE-llama.cpp")
        partial.replace(target / "bin" / EXE)  # the program appears whole or not at all
    (target / FLAGS_FILE).write_text(" ".join(FLAGS) + "\n", encoding="utf-8")
    found = find_server()
    assert found is not None
    return found


def vendored_llama_cpp(scratch: Path) -> Path:
    """vendor/llama.cpp of the pinned llama-cpp-python sdist, unpacked in `scratch` (outside
    any git checkout: llama.cpp's CMake asks git for its version)."""
    source = _wheel.unpacked_sdist(scratch) / "vendor" / "llama.cpp"
    if not (source / "tools" / "server").is_dir():
        raise SystemExit(f"the llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} sdist has no "
                         "vendor/llama.cpp/tools/server")
    return source


def configure(command: list[str], log_path: Path) -> None:
    with log_path.open("w", encoding="utf-8", errors="replace") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                              check=False).returncode
    if code != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"configuring llama-server failed (exit {code}); the whole log is "
                         f"{log_path}")


def check_runs(program: Path) -> None:
    result = subprocess.run([str(program), "--version"], capture_output=True, text=True,
                            errors="replace", timeout=60, check=False)
    if result.returncode != 0 or "version:" not in result.stdout + result.stderr:
        raise SystemExit(f"the built {program} does not run: `--version` exited "
                         f"{result.returncode}:\n{result.stdout}{result.stderr}")


def check_static(program: Path) -> None:
    """On Linux: the program must not need llama.cpp's shared libraries."""
    ldd = shutil.which("ldd")
    if sys.platform != "linux" or not ldd:
        return
    output = subprocess.run([ldd, str(program)], capture_output=True, text=True,
                            check=False).stdout
    shared = [line.strip() for line in output.splitlines()
              if line.strip().startswith(SHARED_LLAMA)]
    if shared:
        raise SystemExit(f"the built {program} is not self-contained: it needs "
                         + ", ".join(shared))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel compile jobs (2)")
    args = parser.parse_args()
    print(build_server(args.jobs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
