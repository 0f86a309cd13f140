"""House rules that keep the design honest: Qt stays in the GUI layer, llama.cpp in one module."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "app" / "lexbrief"
ROOT = PACKAGE.parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_modules() -> None:
    assert len(_modules()) > 10


def test_qt_is_imported_only_by_the_gui_package() -> None:
    offenders = [
        str(path.relative_to(PACKAGE)) for path in _modules()
        if {"PySide6", "pyqtgraph", "shiboken6"} & _imports(path)
        and "gui" not in path.relative_to(PACKAGE).parts
    ]
    assert offenders == []


def test_only_the_engine_module_imports_llama_cpp() -> None:
    importers = [str(path.relative_to(PACKAGE)) for path in _modules()
                 if "llama_cpp" in _imports(path)]
    assert importers == ["engine/llama_cpp_engine.py"]


def test_core_imports_neither_qt_nor_llama_at_runtime() -> None:
    """Importing the core (as a headless server would) must not pull Qt or llama.cpp in."""
    import subprocess
    import sys

    code = (
        "import sys, lexbrief.core.pipeline, lexbrief.service, lexbrief.store, lexbrief.loaders\n"
        "bad = [m for m in ('PySide6', 'llama_cpp') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_llama_wheel_pin_matches_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pin = next(d for d in pyproject["project"]["dependencies"] if d.startswith("llama-cpp-python"))
    script = (ROOT / "packaging" / "llama_wheel.py").read_text(encoding="utf-8")
    version = re.search(r'LLAMA_CPP_PYTHON_VERSION = "([^"]+)"', script)
    assert version and pin == f"llama-cpp-python=={version.group(1)}"


def test_setup_builds_llama_without_native_cpu_flags() -> None:
    script = (ROOT / "packaging" / "llama_wheel.py").read_text(encoding="utf-8")
    assert "-DGGML_NATIVE=OFF" in script
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "packaging/llama_wheel.py" in setup
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().endswith("scripts/test.sh")
