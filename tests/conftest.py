"""Shared fixtures. Every test gets its own data folder (LEXBRIEF_HOME) under tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIXTURES = Path(__file__).parent / "fixtures"
DOCUMENTS = FIXTURES / "documents"
MALFORMED = FIXTURES / "malformed"


@pytest.fixture(autouse=True)
def lexbrief_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "lexbrief-home"
    monkeypatch.setenv("LEXBRIEF_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def starter_model() -> Path:
    from lexbrief.model_files.resolve import starter_model_path

    path = starter_model_path()
    if path is None:  # a failure, not a skip: the end-to-end tests must run the real model
        pytest.fail("the starter model is not installed; run scripts/setup.sh (extra 'starter')")
    return path


@pytest.fixture(scope="session")
def llama_engine(starter_model: Path) -> Iterator[object]:
    """The real SmolLM2 model in llama.cpp, loaded once for the whole session."""
    from lexbrief.engine.llama_cpp.engine import LlamaCppEngine

    engine = LlamaCppEngine(starter_model)
    yield engine
    engine.close()


@pytest.fixture
def fake_engine() -> object:
    from fake_engine import FakeEngine

    return FakeEngine()
