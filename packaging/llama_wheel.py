"""Build (once) and locate the llama-cpp-python wheel LexBrief runs on.

PyPI ships llama-cpp-python only as source, and pip's default build compiles llama.cpp with
`-march=native`: tied to the build machine's CPU, and on CPUs that report AMX/AVX-512 in a VM it
crashes (SIGSEGV in ggml_backend_amx_mul_mat). So the project builds it itself, with flags it
chooses, into a wheel cache keyed by version and flags, and installs that wheel.

Variants:
  portable  -DGGML_NATIVE=OFF: AVX, AVX2, F16C, FMA (any x86-64 CPU since about 2013). Default.
  dispatch  runtime CPU dispatch, for installers (packaging/build.py): every CPU variant as a
            loadable `libggml-cpu-<variant>.so`, chosen at start by lexbrief.engine.cpu_backend.
            They are not inside the wheel's llama_cpp package, so the build copies them to
            `<wheelhouse>/cpu-backends/` (from the wheel's top-level bin/, or from the CMake
            build folder it keeps). About 8 minutes on 2 idle cores.

Usage: python packaging/llama_wheel.py [--variant portable|dispatch]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
VARIANTS = {
    "portable": "-DGGML_NATIVE=OFF",
    "dispatch": "-DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DGGML_NATIVE=OFF",
}
# Variants whose CPU backends are loadable modules, kept beside the wheel.
DISPATCH_VARIANTS = {"dispatch"}
CPU_BACKENDS = "cpu-backends"


def wheelhouse(variant: str) -> Path:
    root = os.environ.get("LEXBRIEF_WHEELHOUSE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lexbrief" / "wheels"
    return Path(root) / f"llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}-{variant}"


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
          f"{VARIANTS[variant]}); about {8 if dispatch else 4} minutes on 2 cores, once per "
          "machine...", file=sys.stderr, flush=True)
    build_dir = target / "cmake-build"
    extra = [f"--config-settings=build-dir={build_dir}"] if dispatch else []
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
         "--no-binary", "llama-cpp-python", *extra, "-w", str(target),
         f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"],
        check=True, env=env, stdout=sys.stderr,  # stdout carries only the wheel's path
    )
    if dispatch:
        keep_cpu_backends(variant, build_dir)
    built = find_wheel(variant)
    if not built:
        raise SystemExit(f"the build finished but left no wheel in {target}")
    return built


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
