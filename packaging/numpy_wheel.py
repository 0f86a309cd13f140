"""Build (once) and locate the numpy wheel without BLAS that LexBrief's Linux installers ship.

numpy's PyPI wheel for Linux carries OpenBLAS with gfortran and quadmath (`numpy.libs/`,
25.4 + 2.8 MB), and `_multiarray_umath` names OpenBLAS in DT_NEEDED, so a bundle cannot simply
leave it out. LexBrief never multiplies large matrices with numpy: llama.cpp does the model's
arithmetic in its own code, ONNX Runtime the OCR models', and what numpy does for them (pyqtgraph's
plot arrays, RapidOCR's box geometry, llama-cpp-python's logits buffers) is element-wise work
that never reaches BLAS. So this builds the same numpy release from its PyPI source with
`-Dblas=none -Dlapack=none` (numpy then uses its own slower reference loops for `dot`/`matmul`
and `lapack_lite` for `linalg`), everything else as numpy's own build does it.

The wheel is relabelled `<release>+lexbrief.noblas.v3` (so THIRD-PARTY.md says which numpy ships
and packaging/build.py can tell it from the PyPI wheel), kept in
`~/.cache/lexbrief/wheels/numpy-<release>-noblas-v3-<python>/` (under $XDG_CACHE_HOME or
$LEXBRIEF_WHEELHOUSE if set) with its build log; a second run reuses it. packaging/build.py
installs it into the build venv only: the dev venv keeps the PyPI wheel.

Usage: python packaging/numpy_wheel.py [VERSION]   (with the Python the wheel is for; default:
the numpy installed there; needs a C/C++ compiler; pip fetches meson-python and Cython from the
package index). Prints the wheel's path.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

# numpy's SIMD loops up to x86-64-v3 (AVX2, chosen at run time); no AVX-512 copies: those are
# half the build time (x86-simd-sort) and a few MB, for element-wise work LexBrief barely does.
SETUP_ARGS = ["-Dblas=none", "-Dlapack=none", "-Dallow-noblas=true",
              "-Dcpu-dispatch=X86_V2 X86_V3"]
FLAVOUR = "noblas-v3"  # other SETUP_ARGS, another name: of the wheelhouse folder and the version
LOCAL_TAG = "lexbrief." + FLAVOUR.replace("-", ".")


def release(version: str) -> str:
    return version.split("+", 1)[0]


def installed_version() -> str:
    return importlib.metadata.version("numpy")


def wheelhouse(version: str) -> Path:
    root = os.environ.get("LEXBRIEF_WHEELHOUSE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lexbrief" / "wheels"
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return Path(root) / f"numpy-{release(version)}-{FLAVOUR}-{py}"


def find_wheel(version: str) -> Path | None:
    wheels = sorted(wheelhouse(version).glob(f"numpy-{release(version)}+*.whl"))
    return wheels[-1] if wheels else None


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def relabel(wheel: Path, target: Path, local: str = LOCAL_TAG) -> Path:
    """A copy of `wheel` whose version carries `+local`: the dist-info folder renamed, METADATA's
    Version line and RECORD rewritten; every other file's bytes and mode as they were."""
    name, version, rest = wheel.name.split("-", 2)
    new_version = f"{release(version)}+{local}"
    old_info, new_info = f"{name}-{version}.dist-info/", f"{name}-{new_version}.dist-info/"
    out = target / f"{name}-{new_version}-{rest}"
    partial = out.with_name(out.name + ".partial")
    records: list[str] = []
    with zipfile.ZipFile(wheel) as source, \
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in source.infolist():
            data = source.read(entry)
            new_name = entry.filename.replace(old_info, new_info, 1) \
                if entry.filename.startswith(old_info) else entry.filename
            if new_name == f"{new_info}RECORD":
                continue
            if new_name == f"{new_info}METADATA":
                lines = data.decode("utf-8").split("\n")
                lines = [f"Version: {new_version}" if line.startswith("Version: ") else line
                         for line in lines]
                data = "\n".join(lines).encode("utf-8")
            copy = zipfile.ZipInfo(new_name, date_time=entry.date_time)
            copy.external_attr = entry.external_attr
            copy.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(copy, data)
            records.append(_record_line(new_name, data))
        records.append(f"{new_info}RECORD,,")
        archive.writestr(f"{new_info}RECORD", "\n".join(records) + "\n")
    partial.replace(out)  # never a half-written wheel under the real name
    return out


def build_wheel(version: str) -> Path:
    existing = find_wheel(version)
    if existing:
        return existing
    target = wheelhouse(version)
    work = target / "work"
    work.mkdir(parents=True, exist_ok=True)
    log_path = target / "build.log"
    started = time.monotonic()
    print(f"Building numpy {release(version)} without BLAS; about 12 minutes on 2 cores, once "
          "per machine...", file=sys.stderr, flush=True)
    built = sorted(work.glob(f"numpy-{release(version)}-*.whl"))  # an earlier run's
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-binary", "numpy",
               "--disable-pip-version-check", "-w", str(work), "-v",
               *[f"-Csetup-args={arg}" for arg in SETUP_ARGS], f"numpy=={release(version)}"]
    code = 0
    if not built:
        with log_path.open("w", encoding="utf-8", errors="replace") as log:
            log.write("$ " + " ".join(command) + "\n")
            log.flush()
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                  check=False).returncode
        built = sorted(work.glob(f"numpy-{release(version)}-*.whl"))
    if code != 0 or not built:
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"building numpy failed (exit {code}); the whole log is {log_path}")
    with zipfile.ZipFile(built[-1]) as archive:
        if any(n.startswith("numpy.libs/") for n in archive.namelist()):
            raise SystemExit(f"{built[-1]} bundles libraries (numpy.libs/): not a BLAS-free "
                             f"build; see {log_path}")
    wheel = relabel(built[-1], target)
    for leftover in work.iterdir():
        leftover.unlink()
    work.rmdir()
    elapsed = int(time.monotonic() - started)
    print(f"numpy built in {elapsed // 60}:{elapsed % 60:02d}: {wheel.name}, "
          f"{wheel.stat().st_size / 1e6:.1f} MB", file=sys.stderr, flush=True)
    return wheel


def main(argv: list[str]) -> int:
    print(build_wheel(argv[0] if argv else installed_version()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
