"""Shared fixtures. Every test gets its own data folder (LEXBRIEF_HOME) under tmp_path."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from lexbrief.network import Recording

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIXTURES = Path(__file__).parent / "fixtures"
DOCUMENTS = FIXTURES / "documents"
MALFORMED = FIXTURES / "malformed"


@pytest.fixture(autouse=True)
def lexbrief_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "lexbrief-home"
    monkeypatch.setenv("LEXBRIEF_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_network_policy_left_on() -> Iterator[None]:
    """The network policy's audit hook is process-wide and permanent: whatever a test put in
    force (the window installs it at start) is lifted after it, so no other test runs under it."""
    yield
    from lexbrief import network

    network.reset()


@pytest.fixture
def network_guard() -> Iterator[Recording]:
    """The network policy in force as the app has it (the hub only inside a download, no
    server, not offline), every connection attempt recorded: a `lexbrief.network.Recording`
    (`.attempts`, `.blocked`, `.outside(url, ...)`). Call `network.allow_server(url)` (or let
    the code under test do it) to allow a server."""
    from lexbrief import network

    with network.enforced(), network.recording() as seen:
        yield seen


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


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A real 6 MiB filesystem (tmpfs) to fill up."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs",
                             str(mount)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN): "
                    f"{result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write until the filesystem holding `path` is full, to the last byte."""
    with path.open("wb", buffering=0) as handle:  # unbuffered: each write hits the disk
        for block in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * block)
            except OSError:
                continue
