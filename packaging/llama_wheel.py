"""Build (once) and locate the llama-cpp-python wheel LexBrief runs on.

PyPI ships llama-cpp-python only as source, and pip's default build compiles llama.cpp with
`-march=native`: tied to the build machine's CPU, and on CPUs that report AMX/AVX-512 in a VM it
crashes (SIGSEGV in ggml_backend_amx_mul_mat). So the project builds it itself, with flags it
chooses, into a wheel cache keyed by version and flags, and installs that wheel.

Variants:
  portable  -DGGML_NATIVE=OFF: AVX, AVX2, F16C, FMA (any x86-64 CPU since about 2013). Default.

Usage: python packaging/llama_wheel.py [--variant portable] [--print-path]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
VARIANTS = {
    "portable": "-DGGML_NATIVE=OFF",
}


def wheelhouse(variant: str) -> Path:
    root = os.environ.get("LEXBRIEF_WHEELHOUSE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lexbrief" / "wheels"
    return Path(root) / f"llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}-{variant}"


def find_wheel(variant: str) -> Path | None:
    wheels = sorted(wheelhouse(variant).glob("llama_cpp_python-*.whl"))
    return wheels[-1] if wheels else None


def build_wheel(variant: str) -> Path:
    existing = find_wheel(variant)
    if existing:
        return existing
    target = wheelhouse(variant)
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CMAKE_ARGS": VARIANTS[variant], "FORCE_CMAKE": "1"}
    print(f"Building llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} ({variant}: "
          f"{VARIANTS[variant]}); about 4 minutes on 2 cores, once per machine...",
          file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
         "--no-binary", "llama-cpp-python", "-w", str(target),
         f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"],
        check=True, env=env, stdout=sys.stderr,  # stdout carries only the wheel's path
    )
    built = find_wheel(variant)
    if not built:
        raise SystemExit(f"the build finished but left no wheel in {target}")
    return built


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="portable")
    parser.parse_args()
    print(build_wheel(parser.parse_args().variant))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
