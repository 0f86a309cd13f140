"""House rules that keep the design honest: the layers, Qt only in the window, llama.cpp only in
its engine package (import-linter contracts in pyproject.toml), and modules a reader can hold."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "app" / "lexbrief"
ROOT = PACKAGE.parents[1]


def test_the_import_contracts_hold() -> None:
    """Layers, Qt only in the window, llama.cpp only in its engine: pyproject's contracts."""
    import subprocess
    import sys

    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter), "--no-cache"], capture_output=True, text=True,
                            check=False, cwd=ROOT, env={**__import__("os").environ,
                                                        "PYTHONPATH": str(ROOT / "app")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_name_every_top_level_package() -> None:
    """A new top-level package must be placed in the layers, or it escapes every rule."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    layers = pyproject["tool"]["importlinter"]["contracts"][0]["layers"]
    placed = {name.strip().removeprefix("lexbrief.") for layer in layers
              for name in layer.split("|")}
    present = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
               if (p.is_dir() and (p / "__init__.py").exists())
               or (p.suffix == ".py" and not p.name.startswith("__"))}
    assert present - placed == set()


def test_long_modules_say_why() -> None:
    """A module over 400 lines states at its top why it is one module."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 400 and "One module because" not in text[:3000]:
            unexplained.append(str(path.relative_to(PACKAGE)))
    assert unexplained == []


def test_core_imports_neither_qt_nor_llama_at_runtime() -> None:
    """Importing the core (as a headless server would) must not pull Qt or llama.cpp in."""
    import subprocess
    import sys

    code = (
        "import sys, lexbrief.summarize.pipeline, lexbrief.service, lexbrief.store, lexbrief.read\n"
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


def test_no_module_imports_itself_back() -> None:
    """No import cycle between modules (grimp, import-linter's graph), imports made only for
    type checking included: the layers read top-down."""
    import grimp

    graph = grimp.build_graph("lexbrief", cache_dir=None)  # never a stale cache
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append((module, imported))
    assert cycles == []
