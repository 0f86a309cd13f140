"""Build (once) and locate the llama-cpp-python wheel LexBrief runs on.

PyPI ships llama-cpp-python only as source, and pip's default build compiles llama.cpp with
`-march=native`: tied to the build machine's CPU, and on CPUs that report AMX/AVX-512 in a VM it
crashes (SIGSEGV in ggml_backend_amx_mul_mat). So the project builds it itself, with flags it
chooses, into a wheel cache keyed by version and flags, and installs that wheel.

Variants:
  portable  -DGGML_NATIVE=OFF: AVX, AVX2, F16C, FMA (any x86-64 CPU since about 2013). Default,
            and lean: only what LexBrief loads (libllama and libggml*). -DLLAVA_BUILD=OFF drops
            the multimodal library (libmtmd: clip, audio), which the binding imports only for
            image chat; and the binding's CMakeLists forces llama.cpp's `common` library (and
            cpp-httplib) on, which the Python package never loads, so the unpacked source is
            patched to leave it off (LEAN_PATCH). Tools, examples and tests are off already
            when llama.cpp is built as a subproject.
  dispatch  runtime CPU dispatch, for installers (packaging/build.py): every CPU variant as a
            loadable `libggml-cpu-<variant>.so`, chosen at start by engine.llama_cpp.cpu_dispatch.
            They are not inside the wheel's llama_cpp package, so the build copies them to
            `<wheelhouse>/cpu-backends/` (from the wheel's top-level bin/, or from the CMake
            build folder it keeps). About 8 minutes on 2 idle cores.

Usage: python packaging/llama_wheel.py [--variant portable|dispatch]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
VARIANTS = {
    "portable": "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF "
                "-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF",
    "dispatch": "-DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DGGML_NATIVE=OFF",
}
# Variants whose CPU backends are loadable modules, kept beside the wheel.
DISPATCH_VARIANTS = {"dispatch"}
# Variants built from a patched copy of the source without llama.cpp's `common` library.
LEAN_VARIANTS = {"portable"}
# The one line of the binding's CMakeLists.txt that forces `common` on, and what replaces it.
LEAN_PATCH = ('set(LLAMA_BUILD_COMMON ON CACHE BOOL "Build llama.cpp common library" FORCE)',
              'set(LLAMA_BUILD_COMMON OFF CACHE BOOL "Build llama.cpp common library" FORCE)')
CPU_BACKENDS = "cpu-backends"
# A new cache folder whenever what a variant builds changes (an old wheel stays usable).
CACHE_TAGS = {"portable": "portable-lean", "dispatch": "dispatch"}


def wheelhouse(variant: str) -> Path:
    root = os.environ.get("LEXBRIEF_WHEELHOUSE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lexbrief" / "wheels"
    return Path(root) / f"llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}-{CACHE_TAGS[variant]}"


def cpu_backends_dir(variant: str) -> Path:
    """Where a dispatch build keeps its `libggml-cpu-<variant>.so` files."""
    return wheelhouse(variant) / CPU_BACKENDS


def find_wheel(variant: str) -> Path | None:
    wheels = sorted(wheelhouse(variant).glob("llama_cpp_python-*.whl"))
    if variant in DISPATCH_VARIANTS and not any(cpu_backends_dir(variant).glob("*ggml-cpu-*")):
        return None  # an interrupted build: the wheel without its CPU backends is useless
    return wheels[-1] if wheels else None


def build_wheel(variant: str) -> Path:
    existing = find_wheel(variant)
    if existing:
        return existing
    target = wheelhouse(variant)
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CMAKE_ARGS": VARIANTS[variant], "FORCE_CMAKE": "1"}
    dispatch = variant in DISPATCH_VARIANTS
    print(f"Building llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} ({variant}: "
          f"{VARIANTS[variant]}); about {8 if dispatch else 3} minutes on 2 cores, once per "
          "machine...", file=sys.stderr, flush=True)
    build_dir = target / "cmake-build"
    extra = [f"--config-settings=build-dir={build_dir}"] if dispatch else []
    with tempfile.TemporaryDirectory(prefix="lexbrief-llama-") as scratch:
        source = f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"
        if variant in LEAN_VARIANTS:
            source = str(lean_source(Path(scratch)))
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
                   "--no-binary", "llama-cpp-python", "--verbose", *extra, "-w", str(target),
                   source]
        run_with_progress(command, env, target / "build.log")
    if dispatch:
        keep_cpu_backends(variant, build_dir)
    built = find_wheel(variant)
    if not built:
        raise SystemExit(f"the build finished but left no wheel in {target}")
    return built


def unpacked_sdist(scratch: Path) -> Path:
    """The pinned llama-cpp-python sdist, downloaded from the package index and unpacked in
    `scratch`: its source folder (llama.cpp's own sources under vendor/llama.cpp)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         "--disable-pip-version-check", "--quiet", "-d", str(scratch),
         f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"],
        check=True, stdout=sys.stderr)
    archive = next(scratch.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(scratch, filter="data")
    archive.unlink()
    return next(p for p in scratch.iterdir() if p.is_dir())


def lean_source(scratch: Path) -> Path:
    """The binding's source, unpacked in `scratch` and patched (LEAN_PATCH)."""
    source = unpacked_sdist(scratch)
    cmake = source / "CMakeLists.txt"
    text = cmake.read_text(encoding="utf-8")
    old, new = LEAN_PATCH
    if text.count(old) != 1:
        raise SystemExit(f"{cmake} no longer has the line LexBrief patches ({old}); update "
                         "LEAN_PATCH in packaging/llama_wheel.py for this version")
    cmake.write_text(text.replace(old, new), encoding="utf-8")
    return source


PROGRESS = re.compile(r"^\s*\[(\d+)/(\d+)\]")


def run_with_progress(command: list[str], env: dict[str, str], log_path: Path) -> None:
    """Run pip's build with its output in `log_path`, and one line on stderr that says how far
    the compiler is ("compiling llama.cpp: 57/120 files, 1:12"); the log's tail on failure."""
    started = time.monotonic()
    tty = sys.stderr.isatty()
    shown = -1
    with log_path.open("w", encoding="utf-8", errors="replace") as log, subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace") as process:
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            match = PROGRESS.match(line)
            if not match:
                continue
            done, total = int(match.group(1)), int(match.group(2))
            elapsed = int(time.monotonic() - started)
            text = (f"compiling llama.cpp: {done}/{total} files, "
                    f"{elapsed // 60}:{elapsed % 60:02d}")
            if tty:
                sys.stderr.write("\r\x1b[2K" + text)
                sys.stderr.flush()
            elif done * 10 // total > shown:  # a log or CI: a line every tenth
                shown = done * 10 // total
                print(text, file=sys.stderr, flush=True)
        code = process.wait()
    elapsed = int(time.monotonic() - started)
    if tty:
        sys.stderr.write("\r\x1b[2K")
    if code != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"building llama-cpp-python failed (exit {code}); the whole log is "
                         f"{log_path}")
    print(f"llama.cpp built in {elapsed // 60}:{elapsed % 60:02d}.", file=sys.stderr, flush=True)


def keep_cpu_backends(variant: str, build_dir: Path) -> Path:
    """Put the `libggml-cpu-<variant>` modules beside the wheel. 0.3.36's wheel carries
    installed (RUNPATH-free) copies at its top-level `bin/`, which pip would scatter into
    site-packages/bin; the CMake build folder has the same files (with the build folder in
    their RUNPATH) under bin/ (bin/Release/ with Visual Studio). Prefer the wheel's."""
    import zipfile

    backends = cpu_backends_dir(variant)
    backends.mkdir(parents=True, exist_ok=True)
    wheel = sorted(wheelhouse(variant).glob("llama_cpp_python-*.whl"))[-1]
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            base = name.rsplit("/", 1)[-1]
            if "ggml-cpu-" in base and base.endswith((".so", ".dll", ".dylib")):
                (backends / base).write_bytes(archive.read(name))
                (backends / base).chmod(0o755)
    if not any(backends.iterdir()):
        for library in sorted((build_dir / "bin").rglob("*ggml-cpu-*")):
            if library.suffix in (".so", ".dll", ".dylib"):
                shutil.copy2(library, backends / library.name)
    shutil.rmtree(build_dir, ignore_errors=True)
    return backends


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="portable")
    parser.parse_args()
    print(build_wheel(parser.parse_args().variant))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
