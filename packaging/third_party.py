"""List what a LexBrief bundle ships and under which licences: THIRD-PARTY.md, plus each
bundled Python distribution's own licence files under `<bundle>/_internal/licenses/`.

Runs with the build venv's Python (packaging/build.py calls it), because the licences come from
the metadata of the distributions installed there. It maps every module and library PyInstaller
collected (the spec writes their names to a JSON file) to its distribution, and fails when a
licence is one LexBrief cannot ship (AGPL, or GPL without a permissive or LGPL alternative).

Usage: python packaging/third_party.py --modules MODULES.json --bundle DIR --out FILE.md
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import re
import shutil
import sys
from pathlib import Path

# Parts of the bundle that are not Python distributions: (name, what, licence, URL, a glob under
# _internal/ that must match for the entry to be listed, or None for always).
NATIVE = [
    ("Python", "3.11 runtime (libpython, standard library)", "PSF-2.0",
     "https://docs.python.org/3/license.html", None),
    ("llama.cpp / ggml", "inside llama-cpp-python: libllama, libggml, CPU backends", "MIT",
     "https://github.com/ggml-org/llama.cpp", "llama_cpp/lib/libllama*"),
    ("Qt 6", "inside PySide6: QtCore, QtGui, QtWidgets and platform plugins, linked "
     "dynamically (replaceable files in _internal/PySide6/Qt/lib)", "LGPL-3.0-only",
     "https://www.qt.io/licensing/open-source-lgpl-obligations", "PySide6/Qt/lib/libQt6Core*"),
    ("ICU", "inside PySide6/Qt/lib: libicuuc, libicui18n and libicudata 73, linked dynamically "
     "by Qt Core; the data library rewritten with only the root and English locales and the "
     "non-locale tables (packaging/icu_data.py)", "Unicode-DFS-2016 AND ICU",
     "https://github.com/unicode-org/icu/blob/release-73-2/icu4c/LICENSE",
     "PySide6/Qt/lib/libicu*"),
    ("OCR models", "inside rapidocr/models: PP-OCRv6 small text detection and recognition "
     "(the recogniser's MatMul weights stored as int8 by packaging/ocr_models.py), "
     "PP-OCR mobile v2.0 angle classifier (ONNX, converted from PaddleOCR; see rapidocr's "
     "MODEL_LICENSES.md)", "Apache-2.0",
     "https://github.com/PaddlePaddle/PaddleOCR/blob/main/LICENSE", "rapidocr/models/*.onnx"),
    ("ONNX Runtime", "inside onnxruntime: the runtime in its Python module "
     "(onnxruntime_pybind11_state)", "MIT", "https://github.com/microsoft/onnxruntime",
     "onnxruntime/capi/*"),
    ("OpenCV (lean)", "the cv2 module: OpenCV's core, imgproc and imgcodecs with its bundled "
     "libpng and zlib, linked statically (built by packaging/opencv_wheel.py)",
     "Apache-2.0 AND libpng-2.0 AND Zlib", "https://opencv.org/license/", "cv2.cpython-*"),
    ("FFmpeg", "inside opencv-python-headless: libavcodec, libavformat, libavutil, libswscale, "
     "libswresample, linked dynamically (replaceable files)", "LGPL-2.1-or-later",
     "https://ffmpeg.org/legal.html", "opencv_python_headless.libs/libavcodec*"),
    ("OpenBLAS", "inside opencv-python-headless: libopenblas, libgfortran, libquadmath",
     "BSD-3-Clause (libgfortran: GPL-3.0-or-later WITH GCC-exception-3.1)",
     "https://github.com/OpenMathLib/OpenBLAS", "opencv_python_headless.libs/libopenblas*"),
    ("GEOS", "inside shapely: libgeos, libgeos_c, linked dynamically", "LGPL-2.1-or-later",
     "https://libgeos.org/project/license/", "shapely.libs/libgeos*"),
    ("PyInstaller bootloader", "the `lexbrief` and `lexbrief-gui` executables' loader",
     "GPL-2.0-or-later WITH Bootloader-exception (allows any licence for the bundled program)",
     "https://pyinstaller.org/en/stable/license.html", None),
]


def native_components(bundle_internal: Path) -> list[tuple[str, str, str, str]]:
    """The NATIVE entries whose files this bundle holds."""
    return [(name, what, lic, url) for name, what, lic, url, present in NATIVE
            if present is None or any(bundle_internal.glob(present))]


# System libraries PyInstaller copies from the build machine, by file-name prefix.
SYSTEM_LIBS = {
    "libffi": "MIT", "libssl": "Apache-2.0", "libcrypto": "Apache-2.0", "libz.": "Zlib",
    "libbz2": "bzip2-1.0.6", "liblzma": "0BSD", "libexpat": "MIT", "libsqlite3": "blessing",
    "libxcb": "MIT", "libX": "MIT", "libxkbcommon": "MIT", "libfontconfig": "MIT",
    "libfreetype": "FTL", "libpng": "libpng-2.0", "libgfortran": "GPL-3.0-or-later WITH "
    "GCC-exception-3.1", "libquadmath": "LGPL-2.1-or-later", "libgomp": "GPL-3.0-or-later WITH "
    "GCC-exception-3.1", "libstdc++": "GPL-3.0-or-later WITH GCC-exception-3.1",
    "libgcc_s": "GPL-3.0-or-later WITH GCC-exception-3.1", "libuuid": "BSD-3-Clause",
    "libreadline": "GPL-3.0-or-later", "libncurses": "MIT", "libtinfo": "MIT",
    "libmpdec": "BSD-2-Clause", "libdbus": "AFL-2.1 OR GPL-2.0-or-later",
    "libglib": "LGPL-2.1-or-later", "libgthread": "LGPL-2.1-or-later", "libpcre2": "BSD-3-Clause",
    "libicu": "Unicode-3.0", "libzstd": "BSD-3-Clause", "libbrotli": "MIT",
    "libgraphite2": "LGPL-2.1-or-later", "libharfbuzz": "MIT", "libEGL": "MIT",
    "libGL": "MIT", "libwayland": "MIT", "libxml2": "MIT", "libxslt": "MIT", "libexslt": "MIT",
    "libscipy_openblas": "BSD-3-Clause", "libopenblas": "BSD-3-Clause", "libmd": "BSD-3-Clause",
    "libbsd": "BSD-3-Clause", "libcap": "BSD-3-Clause OR GPL-2.0-only",
    "libgcrypt": "LGPL-2.1-or-later", "libgpg-error": "LGPL-2.1-or-later",
    "liblz4": "BSD-2-Clause", "libsystemd": "LGPL-2.1-or-later",
    # OCR (OpenCV, Pillow, Shapely wheels' own libraries)
    "libavcodec": "LGPL-2.1-or-later", "libavformat": "LGPL-2.1-or-later",
    "libavutil": "LGPL-2.1-or-later", "libswscale": "LGPL-2.1-or-later",
    "libswresample": "LGPL-2.1-or-later", "libaom": "BSD-2-Clause", "libavif": "BSD-2-Clause",
    "libvpx": "BSD-3-Clause", "libdrm": "MIT", "libgeos": "LGPL-2.1-or-later",
    "libonnxruntime": "MIT", "libjpeg": "IJG", "libtiff": "libtiff", "libwebp": "BSD-3-Clause",
    "libsharpyuv": "BSD-3-Clause", "liblcms2": "MIT", "libopenjp2": "BSD-2-Clause",
}
# Licence texts the bundle must carry that no dist-info provides (PySide6's wheels carry none;
# Qt and the LGPL system libraries above need them), taken from the build system if there.
COMMON_LICENCES = Path("/usr/share/common-licenses")
COMMON_NEEDED = ("LGPL-2.1", "LGPL-3", "GPL-3", "GPL-2", "MPL-2.0", "Apache-2.0")

_LICENCE_FILE = re.compile(r"(^|/)(LICEN[CS]E|COPYING|NOTICE|AUTHORS)[^/]*$", re.IGNORECASE)


def licence_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::") and c.count("::") > 1]
    raw = (meta.get("License") or "").strip()
    if raw and len(raw) <= 80 and "\n" not in raw:
        return raw
    if classifiers:
        return " OR ".join(dict.fromkeys(classifiers))
    return raw.splitlines()[0][:80] if raw else "UNKNOWN"


def forbidden(licence: str) -> bool:
    """AGPL anywhere, or a GPL with no LGPL/permissive alternative and no linking exception."""
    text = licence.upper()
    if "AGPL" in text or "AFFERO" in text:
        return True
    if "GPL" not in text and "GENERAL PUBLIC" not in text:
        return False
    alternatives = ("LGPL", "LESSER", "EXCEPTION", " OR ")
    return not any(word in text for word in alternatives)


def _top_levels(names: list[str]) -> set[str]:
    return {n.replace("\\", "/").split("/")[0].split(".")[0] for n in names}


def bundled_distributions(modules: dict[str, list[str]]) -> dict[str, md.Distribution]:
    owners = md.packages_distributions()
    tops = _top_levels(modules.get("modules", []))
    # Binaries and data live under their package's folder (PySide6/Qt/lib/..., numpy.libs/...).
    for name in modules.get("binaries", []) + modules.get("datas", []):
        head = name.replace("\\", "/").split("/")[0]
        if head == name and (".cpython-" in head or head.endswith((".abi3.so", ".pyd"))):
            head = head.split(".")[0]  # a top-level extension module (the lean OpenCV's cv2)
        tops.add(head.removesuffix(".libs"))
    found: dict[str, md.Distribution] = {}
    for top in sorted(tops):
        for dist_name in owners.get(top, []):
            dist = md.distribution(dist_name)
            found[dist.metadata["Name"].lower()] = dist
    return found


def copy_licence_files(dist: md.Distribution, target: Path) -> list[str]:
    copied: list[str] = []
    for file in dist.files or []:
        if _LICENCE_FILE.search(str(file)) and ".dist-info/" in str(file).replace("\\", "/"):
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / source.name)
                copied.append(source.name)
    return copied


def system_libraries(bundle_internal: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for path in sorted(bundle_internal.glob("*.so*")):
        if path.name.startswith("libpython") or path.is_symlink() or ".cpython-" in path.name:
            continue  # symlinks point into Python distributions' own folders; extension
            # modules belong to their distribution
        licence = next((v for k, v in SYSTEM_LIBS.items() if path.name.startswith(k)),
                       "see the build system's package for this library")
        rows.append((path.name, licence))
    return rows


def render(dists: dict[str, md.Distribution], system: list[tuple[str, str]],
           model: dict[str, str] | None,
           native: list[tuple[str, str, str, str]] | None = None) -> str:
    lines = [
        "# Third-party components in the LexBrief bundle",
        "",
        "Generated by `packaging/build.py` from the installed metadata of the build venv; the",
        "licence texts of the Python distributions are in `_internal/licenses/` of the bundle",
        "(the GPL, LGPL, MPL and Apache texts in `_internal/licenses/common/`).",
        "LexBrief itself is Apache-2.0.",
        "",
        "## Python distributions",
        "",
        "| distribution | version | licence |",
        "|---|---|---|",
    ]
    for name in sorted(dists):
        dist = dists[name]
        lines.append(f"| {dist.metadata['Name']} | {dist.version} | {licence_of(dist)} |")
    lines += ["", "## Native components", "", "| component | what | licence |", "|---|---|---|"]
    native = native if native is not None else [entry[:4] for entry in NATIVE]
    lines += [f"| {n} | {what} | [{lic}]({url}) |" for n, what, lic, url in native]
    if system:
        lines += ["", "## System libraries copied from the build machine", "",
                  "| file | licence |", "|---|---|"]
        lines += [f"| {name} | {lic} |" for name, lic in system]
    if model:
        lines += ["", "## Embedded model", "", "| file | licence | source |", "|---|---|---|",
                  f"| {model.get('file', '')} | {model.get('license', '') or 'see its card'} | "
                  f"{model.get('repo', '')} |"]
    lines += ["", "No component is under the AGPL, or under the GPL without a linking exception "
              "or an LGPL/permissive alternative (checked by packaging/third_party.py).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--out", type=Path, action="append", required=True)
    args = parser.parse_args(argv)
    modules = json.loads(args.modules.read_text(encoding="utf-8"))
    internal = args.bundle / "_internal"
    dists = bundled_distributions(modules)
    bad = {n: licence_of(d) for n, d in dists.items() if forbidden(licence_of(d))}
    system = system_libraries(internal)
    bad.update({n: lic for n, lic in system if forbidden(lic)})
    for name, dist in dists.items():
        copy_licence_files(dist, internal / "licenses" / name)
    for name in COMMON_NEEDED:
        if (COMMON_LICENCES / name).is_file():
            (internal / "licenses" / "common").mkdir(parents=True, exist_ok=True)
            shutil.copy2(COMMON_LICENCES / name, internal / "licenses" / "common" / name)
    model = None
    manifest = internal / "models" / "embedded.json"
    if manifest.is_file():
        model = json.loads(manifest.read_text(encoding="utf-8"))
    text = render(dists, system, model, native_components(internal))
    for out in args.out:
        out.write_text(text, encoding="utf-8")
    if bad:
        print("licences LexBrief cannot ship: " + ", ".join(f"{k} ({v})" for k, v in
                                                          sorted(bad.items())), file=sys.stderr)
        return 1
    print(f"{len(dists)} Python distributions, {len(system)} system libraries", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
