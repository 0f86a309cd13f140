"""The offline installers for real (marker `packaging`, part of scripts/test.sh and CI):
build the PyInstaller bundle with the embedded starter model, the .tar.gz and the .deb
(packaging/build.py), then, in a clean environment with no project venv on PATH:
  - the frozen CLI summarizes a real court order with the embedded model, offline;
  - the frozen CLI OCRs a real scanned page (no text layer) with the bundled OCR engine and
    models, and the words known to be on that page come back;
  - the runtime CPU dispatch chose a backend variant that works here and remembered it;
  - the frozen GUI opens offscreen and quits cleanly (`--self-test`);
  - the .deb installs with dpkg, its commands run from PATH, and it removes cleanly.
Timings and sizes go to build/packaging-report.json.

The first run on a machine builds llama.cpp with every CPU variant (about 8 minutes on 2 idle
cores, 30 on busy ones), the lean OpenCV (packaging/opencv_wheel.py, about 17 minutes) and
numpy without BLAS (packaging/numpy_wheel.py, about 12 minutes), all cached in the wheelhouse,
and the build venv (about a minute); later runs take 3-4 minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lexbrief.model_files.resolve import STARTER_FILE

pytestmark = [pytest.mark.packaging]

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "tests" / "fixtures" / "documents" / "court-order-ca7.pdf"
# A scanned court opinion without a text layer (tests/fixtures/SOURCES.md); its first page only.
SCANNED = ROOT / "tests" / "fixtures" / "documents" / "scanned-no-text-layer.pdf"
REPORT = ROOT / "build" / "packaging-report.json"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _packaging_module(name: str):  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"lexbrief_packaging_{name}",
                                                  ROOT / "packaging" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """What `env -i` leaves, plus a HOME and a data folder: no venv, no PYTHONPATH."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": CLEAN_PATH, "HOME": str(home), "LANG": "C.UTF-8",
            "LEXBRIEF_HOME": str(home / "lexbrief-data"), **extra}


def timed(cmd: list[str], env: dict[str, str], timeout: float = 600,
          ) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    # `env -i` as the brief says, so nothing of this test's environment leaks in.
    result = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], *cmd],
                            capture_output=True, text=True, timeout=timeout, check=False,
                            cwd=env["HOME"], stdin=subprocess.DEVNULL)
    return result, round(time.perf_counter() - started, 2)


def check(result: subprocess.CompletedProcess[str], what: str) -> None:
    assert result.returncode == 0, (
        f"{what}: exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n"
        f"--- stderr\n{result.stderr[-3000:]}")


@pytest.fixture(scope="module")
def report() -> Iterator[dict[str, object]]:
    data: dict[str, object] = {}
    yield data
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, report: dict[str, object]) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), "--target", "all",
         "--embed-model", "starter", "--dist-dir", str(dist), "--compress-level", "1"],
        capture_output=True, text=True, check=False, timeout=3600)
    check(result, "packaging/build.py --target all")
    report["build_seconds"] = round(time.perf_counter() - started, 1)
    build_report = json.loads((dist / "lexbrief-build.json").read_text())
    report["build"] = build_report
    return {"bundle": Path(str(build_report["bundle"])), "deb": Path(str(build_report["deb"])),
            "tar": Path(str(build_report["tar"]))}


def _summarize_and_check(program: str, home: Path, report: dict[str, object],
                         key: str) -> dict[str, object]:
    env = clean_env(home)
    result, seconds = timed([program, "summarize", str(DOCUMENT), "--json"], env)
    check(result, f"{program} summarize --json")
    report[f"{key}_summary_seconds"] = seconds
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    assert doc["summary"].strip(), doc
    assert doc["coverage"]["pages_read"] == doc["coverage"]["pages_total"] >= 1
    assert doc["coverage"]["tokens_dropped"] == 0
    assert doc["model"]["name"].startswith("SmolLM2"), doc["model"]
    # The runtime CPU dispatch chose a variant that works here, after any crash, and kept it.
    choice = json.loads((Path(env["LEXBRIEF_HOME"]) / "cpu-backend.json").read_text())
    attempts = choice["attempts"]
    assert attempts and attempts[-1]["ok"] and attempts[-1]["variant"] == choice["variant"]
    assert all(not a["ok"] for a in attempts[:-1])
    report[f"{key}_cpu_variant"] = choice["variant"]
    report[f"{key}_cpu_attempts"] = attempts
    # A second start reads the choice and probes nothing (`hw` loads the backend, no model).
    again, seconds = timed([program, "hw"], env)
    check(again, f"{program} hw (second start)")
    report[f"{key}_hw_second_start_seconds"] = seconds
    kept = json.loads((Path(env["LEXBRIEF_HOME"]) / "cpu-backend.json").read_text())
    assert kept["chosen"] == choice["chosen"] and kept["variant"] == choice["variant"]
    return doc


def test_the_frozen_cli_summarizes_offline_with_the_embedded_model(
        built: dict[str, Path], tmp_path: Path, report: dict[str, object]) -> None:
    cli = str(built["bundle"] / "lexbrief")
    env = clean_env(tmp_path / "home")
    result, seconds = timed([cli, "--version"], env)
    check(result, "lexbrief --version")
    assert result.stdout.startswith("lexbrief ")
    report["cli_version_seconds"] = seconds
    _summarize_and_check(cli, tmp_path / "home", report, "bundle")


def _first_page_only(source: Path, out: Path) -> Path:
    import pypdfium2 as pdfium

    pdf, page = pdfium.PdfDocument.new(), pdfium.PdfDocument(source)
    pdf.import_pages(page, [0])
    pdf.save(out)
    return out


def test_the_frozen_cli_ocrs_a_scanned_page(built: dict[str, Path], tmp_path: Path,
                                            report: dict[str, object]) -> None:
    """The bundle carries RapidOCR, ONNX Runtime, OpenCV and the OCR models: a scanned page
    with no text layer is recognized by the frozen program, offline, and summarized; the OCR
    cache holds the page's text, which must have the words known to be on it."""
    scan = _first_page_only(SCANNED, tmp_path / "scanned-page-1.pdf")
    env = clean_env(tmp_path / "home")
    result, seconds = timed([str(built["bundle"] / "lexbrief"), "--offline", "summarize",
                             str(scan), "--json", "--ocr", "auto"], env)
    check(result, "lexbrief summarize (scanned page)")
    report["ocr_summary_seconds"] = seconds
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    ocr = doc["coverage"]["ocr"]
    assert ocr["pages"] == [1], doc["coverage"]
    assert ocr["mean_confidence"] > 0.9, ocr
    report["ocr_mean_confidence"] = ocr["mean_confidence"]
    cache = Path(env["LEXBRIEF_HOME"]) / "ocr" / f"{doc['document']['sha256']}.json"
    text = json.loads(cache.read_text(encoding="utf-8"))["pages"]["1"]["text"]
    for words in ("TARRANT REGIONAL WATER DISTRICT",
                  "The Red River Compact (or Compact) is a congressionally sanctioned",
                  "located in Oklahoma's"):
        assert words in text, text
    assert doc["summary"].strip(), doc


def test_a_crashing_or_refused_cpu_variant_is_survived(
        built: dict[str, Path], tmp_path: Path, report: dict[str, object]) -> None:
    """Probe `sapphirerapids` first, as llama.cpp's own choice does on VMs that advertise AMX:
    where this CPU cannot run it (SIGILL, or llama.cpp refuses to load it), the next candidate
    is chosen and remembered."""
    env = clean_env(tmp_path / "home", LEXBRIEF_CPU_CANDIDATES="sapphirerapids,haswell,x64")
    result, seconds = timed([str(built["bundle"] / "lexbrief"), "hw"], env)
    check(result, "lexbrief hw (CPU backend fallback)")
    choice = json.loads((Path(env["LEXBRIEF_HOME"]) / "cpu-backend.json").read_text())
    first = choice["attempts"][0]
    assert first["variant"] == "sapphirerapids"
    report["fallback_attempts"] = choice["attempts"]
    report["fallback_hw_seconds"] = seconds
    flags = Path("/proc/cpuinfo").read_text().split()
    if "amx_tile" not in flags or "avx512_fp16" not in flags:  # this CPU cannot run it
        assert not first["ok"], first
        assert choice["variant"] in ("haswell", "x64")
    assert "llama.cpp  CPU" in result.stdout


def test_the_frozen_gui_passes_its_self_test_offscreen(
        built: dict[str, Path], tmp_path: Path, report: dict[str, object]) -> None:
    env = clean_env(tmp_path / "home", QT_QPA_PLATFORM="offscreen")
    result, seconds = timed([str(built["bundle"] / "lexbrief-gui"), "--self-test"], env,
                            timeout=120)
    check(result, "lexbrief-gui --self-test")
    assert "self-test: window shown" in result.stdout and "self-test: ok" in result.stdout
    report["gui_self_test_seconds"] = seconds


def test_the_bundle_carries_no_library_it_never_loads(built: dict[str, Path]) -> None:
    """The cuts of packaging/lexbrief.spec and the lean OpenCV hold (packaging/README.md
    measures each): no FFmpeg or OpenBLAS behind cv2, no ONNX Runtime C API library, no
    llama.cpp multimodal library, no Pillow AVIF/WebP/font modules, no Qt translations."""
    internal = built["bundle"] / "_internal"
    for pattern in ("**/libavcodec*", "**/libavformat*", "**/libopenblas*", "**/libaom*",
                    "onnxruntime/capi/libonnxruntime.so*", "llama_cpp/lib/libmtmd*",
                    "PIL/_avif*", "PIL/_webp*", "PIL/_imagingft*", "PySide6/Qt/translations",
                    "numpy.libs", "**/libscipy_openblas*", "**/libgfortran*"):
        assert not list(internal.glob(pattern)), pattern
    assert list(internal.glob("cv2.cpython-*")), "not the lean OpenCV"
    assert list(internal.glob("onnxruntime/capi/onnxruntime_pybind11_state*"))
    assert len(list(internal.glob("rapidocr/models/*.onnx"))) == 3
    assert (internal / "rapidocr" / "models" / "PP-OCRv6_rec_small.int8.onnx").is_file()
    assert not list(internal.glob("onnx/*"))  # onnx quantizes at build time; never shipped
    # the embedded model and nothing else: a checkout's models/eval/ (fetched for the eval
    # tier, as scripts/test.sh does) must not travel
    assert [p.name for p in internal.rglob("*.gguf")] == [STARTER_FILE]
    assert (internal / "models" / "catalog.toml").is_file()
    # Qt's ICU data is the filtered package (packaging/icu_data.py): root and English only
    icu_data = _packaging_module("icu_data")
    (library,) = [p for p in internal.glob("PySide6/Qt/lib/libicudata.so.*")
                  if not p.is_symlink()]
    names = {n.split("/", 1)[1] for n, _ in icu_data.read_library(library)[1].items}
    assert {"root.res", "en.res", "coll/root.res", "zoneinfo64.res"} <= names
    assert not {"de.res", "coll/zh.res", "brkitr/cjdict.dict"} & names
    assert library.stat().st_size < 8_000_000


def test_every_library_the_bundle_takes_from_the_system_is_a_dependency_of_the_deb(
        built: dict[str, Path]) -> None:
    """The desktop's libraries (fonts, D-Bus, GLib, X11) come from the system, not from the
    build machine (lexbrief.spec's SYSTEM_PROVIDED); each library a bundled binary needs and
    the bundle lacks is provided by a package the .deb depends on or recommends, and each it
    depends on is on this machine."""
    build = _packaging_module("build")
    internal = built["bundle"] / "_internal"
    for name in ("libfontconfig.so.1", "libfreetype.so.6", "libdbus-1.so.3",
                 "libglib-2.0.so.0", "libX11.so.6", "libsystemd.so.0", "libgcrypt.so.20"):
        assert not (internal / name).exists(), name
    needs = build.system_needs(built["bundle"])
    assert {"libc.so.6", "libGL.so.1", "libfontconfig.so.1", "libglib-2.0.so.0"} <= set(needs)
    declared = {d.split(" ")[0] for d in build.DEB_DEPENDS + build.DEB_RECOMMENDS}
    unknown = {soname: files[:3] for soname, files in needs.items()
               if build.SYSTEM_SONAMES.get(soname) not in declared}
    assert not unknown, f"needed from the system, no package declared: {unknown}"
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                           check=True).stdout
    # What the .deb depends on is here; what it only recommends (the Wayland session's client
    # libraries, for Qt's Wayland plugin) may be missing from a machine without that session.
    recommended = {d.split(" ")[0] for d in build.DEB_RECOMMENDS}
    missing = [soname for soname in needs if f"{soname} (" not in cache
               and build.SYSTEM_SONAMES[soname] not in recommended]
    assert not missing, missing


def test_no_bundled_library_keeps_a_symbol_table_it_could_lose(built: dict[str, Path]) -> None:
    """packaging/strip_libs.py stripped every library that still loads stripped; what keeps
    its .symtab is in its report as put back or not loadable outside the app."""
    strip_libs = _packaging_module("strip_libs")
    stripped = json.loads((ROOT / "build" / "stripped.json").read_text(encoding="utf-8"))
    assert stripped["saved"] > 10_000_000  # pyclipper, PyYAML, Pillow, PDFium, GEOS, ICU...
    internal = built["bundle"] / "_internal"
    left = {str(p.relative_to(internal)) for p in strip_libs.candidates(internal)}
    assert left == set(stripped["restored"]) | set(stripped["not_loadable"])


def test_the_tarball_holds_the_bundle(built: dict[str, Path]) -> None:
    with tarfile.open(built["tar"]) as tar:
        names = set(tar.getnames())
    top = built["tar"].name.removesuffix(".tar.gz")
    for name in ("lexbrief", "lexbrief-gui", "THIRD-PARTY.md", "lexbrief.desktop",
                 "_internal/models/embedded.json"):
        assert f"{top}/{name}" in names


def _as_root(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return cmd
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], check=False,
                                               capture_output=True).returncode == 0:
        return ["sudo", "-n", *cmd]
    pytest.skip("installing the .deb needs root or passwordless sudo")
    raise AssertionError  # unreachable


def test_the_deb_installs_runs_and_removes(built: dict[str, Path], tmp_path: Path,
                                           report: dict[str, object]) -> None:
    deb = built["deb"]
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    assert "Package: lexbrief" in info and "Architecture: amd64" in info
    contents = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                              text=True, check=True).stdout
    for path in ("./opt/lexbrief/lexbrief", "./usr/bin/lexbrief -> /opt/lexbrief/lexbrief",
                 "./usr/share/applications/lexbrief.desktop",
                 "./usr/share/icons/hicolor/256x256/apps/lexbrief.png"):
        assert path in contents
    install = subprocess.run(_as_root(["dpkg", "-i", str(deb)]), capture_output=True,
                             text=True, check=False)
    if install.returncode != 0 and "dependency problems" in install.stderr:
        # A machine without a desktop's libraries: let apt bring the Depends, then retry.
        subprocess.run(_as_root(["apt-get", "-y", "-f", "install"]), check=False)
        install = subprocess.run(_as_root(["dpkg", "-i", str(deb)]), capture_output=True,
                                 text=True, check=False)
    check(install, "dpkg -i")
    try:
        env = clean_env(tmp_path / "home")
        result, _ = timed(["lexbrief", "--version"], env)  # found on the clean PATH
        check(result, "installed lexbrief --version")
        _summarize_and_check("lexbrief", tmp_path / "home", report, "deb")
        gui, seconds = timed(["lexbrief-gui", "--self-test"],
                             clean_env(tmp_path / "home", QT_QPA_PLATFORM="offscreen"),
                             timeout=120)
        check(gui, "installed lexbrief-gui --self-test")
        report["deb_gui_self_test_seconds"] = seconds
    finally:
        remove = subprocess.run(_as_root(["dpkg", "-r", "lexbrief"]), capture_output=True,
                                text=True, check=False)
    check(remove, "dpkg -r")
    assert not Path("/opt/lexbrief/lexbrief").exists()
    assert not Path("/usr/bin/lexbrief").exists()
