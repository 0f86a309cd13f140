"""What a LexBrief bundle weighs, by component (the table in packaging/README.md).

    python packaging/sizes.py build/dist/lexbrief [--json]

Bytes on disk of the bundle's files, each hard-linked file once, symlinks not counted (as
packaging/build.py's tree_size), grouped by where they lie. packaging/build.py puts the same
table in dist/lexbrief-build.json ("components").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# (component, path prefixes under _internal/ or the bundle root); the first match wins.
COMPONENTS: list[tuple[str, tuple[str, ...]]] = [
    ("embedded model", ("_internal/models/",)),
    ("programs (bootloader + Python code archive)", ("lexbrief", "lexbrief-gui")),
    ("llama.cpp (libllama, libggml, CPU variants)", ("_internal/llama_cpp/",)),
    ("Qt: ICU (libicu*)", ("_internal/PySide6/Qt/lib/libicu",)),
    ("Qt: libraries and plugins", ("_internal/PySide6/Qt/",)),
    ("Qt: PySide6 + shiboken6 modules", ("_internal/PySide6/", "_internal/shiboken6/")),
    ("OCR: OpenCV (cv2)", ("_internal/cv2", "_internal/opencv_python_headless.libs/")),
    ("OCR: ONNX Runtime", ("_internal/onnxruntime/",)),
    ("OCR: RapidOCR models", ("_internal/rapidocr/models/",)),
    ("OCR: RapidOCR code and configs", ("_internal/rapidocr/",)),
    ("OCR: Shapely + GEOS, pyclipper", ("_internal/shapely", "_internal/pyclipper")),
    ("numpy (+ its OpenBLAS, if bundled)", ("_internal/numpy",)),
    ("Pillow (+ its image libraries)", ("_internal/PIL/", "_internal/pillow.libs/")),
    ("PDFium (pypdfium2)", ("_internal/pypdfium2",)),
    ("lxml (python-docx)", ("_internal/lxml/",)),
    ("RapidFuzz", ("_internal/rapidfuzz",)),
    ("Python: libpython + stdlib", ("_internal/libpython", "_internal/base_library.zip",
                                    "_internal/python3", "_internal/lib-dynload/")),
    ("licences", ("_internal/licenses/", "THIRD-PARTY.md")),
    ("system libraries (libxcb, libssl, ...)", ("_internal/lib",)),
]
OTHER = "other (Python extension modules, data)"


def component_of(relative: str) -> str:
    for name, prefixes in COMPONENTS:
        if relative.startswith(prefixes):
            if name.startswith("system") and "/" in relative.removeprefix("_internal/"):
                continue  # only the top-level _internal/lib*.so* are system libraries
            return name
    return OTHER


def component_sizes(bundle: Path) -> dict[str, int]:
    """{component: bytes}, largest first, with "total"."""
    seen: set[tuple[int, int]] = set()
    sizes: dict[str, int] = {}
    for path in bundle.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        st = path.stat()
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        name = component_of(path.relative_to(bundle).as_posix())
        sizes[name] = sizes.get(name, 0) + st.st_size
    ordered = dict(sorted(sizes.items(), key=lambda kv: -kv[1]))
    ordered["total"] = sum(sizes.values())
    return ordered


def table(sizes: dict[str, int]) -> str:
    rows = ["| component | MB |", "|---|---:|"]
    rows += [f"| {name} | {size / 1e6:.1f} |" for name, size in sizes.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = component_sizes(args.bundle)
    print(json.dumps(sizes, indent=1) if args.json else table(sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
