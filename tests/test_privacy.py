"""Confidential by default: the data folder is 0700, the database, its WAL/SHM files, the logs
and exports 0600, whatever the umask; looser modes from older versions are repaired at start."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lexbrief.store import DocumentRecord, Store, SummaryRecord

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _lexbrief(*args: str, umask: int = 0) -> subprocess.CompletedProcess[str]:
    """A real CLI process under a permissive umask: modes must not depend on the user's."""
    return subprocess.run([sys.executable, "-m", "lexbrief", *args], capture_output=True,
                          text=True, env=os.environ.copy(), check=False, timeout=120,
                          preexec_fn=lambda: os.umask(umask))


def _document(sha: str = "a" * 64) -> DocumentRecord:
    return DocumentRecord(sha256=sha, name="lease.pdf", path="/docs/lease.pdf", kind="pdf",
                          title=None, pages=3, pagination="printed", size=1234)


def _summary() -> SummaryRecord:
    return SummaryRecord(model_name="m.gguf", model_sha256="b" * 64, template="contract",
                         parameters={}, text="## Overview\n\nRent is due monthly [p. 2].\n",
                         citations=[], coverage={"pages_read": 3, "pages_total": 3},
                         prompt_tokens=1, completion_tokens=1, load_seconds=0.0,
                         prompt_seconds=0.0, generation_seconds=0.0, wall_seconds=0.0)


def test_a_new_data_folder_is_private_under_a_permissive_umask(lexbrief_home: Path) -> None:
    result = _lexbrief("history")
    assert result.returncode == 0, result.stderr
    assert _mode(lexbrief_home) == 0o700
    assert _mode(lexbrief_home / "lexbrief.db") == 0o600
    assert _mode(lexbrief_home / "logs") == 0o700
    assert _mode(lexbrief_home / "logs" / "lexbrief.log") == 0o600


def test_wal_and_shm_files_take_the_database_mode(lexbrief_home: Path) -> None:
    old = os.umask(0)
    try:
        store = Store()
        store.save_summary(document=_document(), summary=_summary())
        wal = lexbrief_home / "lexbrief.db-wal"
        shm = lexbrief_home / "lexbrief.db-shm"
        assert wal.exists() and shm.exists()  # still open: SQLite keeps them
        assert (_mode(lexbrief_home / "lexbrief.db"), _mode(wal), _mode(shm)) == (
            0o600, 0o600, 0o600)
        store.close()
    finally:
        os.umask(old)


def test_looser_modes_are_repaired_at_start_with_a_note_in_the_log(lexbrief_home: Path) -> None:
    Store().close()
    logs = lexbrief_home / "logs"
    logs.mkdir()
    old_log = logs / "lexbrief.log.1"
    old_log.write_text("an old rotated log naming client files\n")
    (logs / "lexbrief.log").write_text("")
    wal = lexbrief_home / "lexbrief.db-wal"
    wal.write_bytes(b"")
    elsewhere = lexbrief_home / "my-notes.txt"  # not LexBrief's: left as the user set it
    elsewhere.write_text("mine")
    for path, mode in ((lexbrief_home, 0o755), (lexbrief_home / "lexbrief.db", 0o644),
                       (wal, 0o666), (logs, 0o775), (old_log, 0o644),
                       (logs / "lexbrief.log", 0o644), (elsewhere, 0o644)):
        path.chmod(mode)
    result = _lexbrief("history")
    assert result.returncode == 0, result.stderr
    assert _mode(lexbrief_home) == 0o700 and _mode(logs) == 0o700
    assert _mode(lexbrief_home / "lexbrief.db") == 0o600
    assert _mode(old_log) == 0o600 and _mode(logs / "lexbrief.log") == 0o600
    assert _mode(elsewhere) == 0o644
    text = (logs / "lexbrief.log").read_text()
    notes = [line for line in text.splitlines() if "data folder permissions" in line]
    assert any("lexbrief.db was readable by other accounts (mode 644); now 600" in n
               for n in notes), text
    assert any(f"{lexbrief_home} was readable" in n for n in notes), text
    # a second start has nothing to repair
    _lexbrief("history")
    again = (logs / "lexbrief.log").read_text()[len(text):]
    assert "data folder permissions" not in again


def test_exports_are_private(tmp_path: Path) -> None:
    summary_id = Store().save_summary(document=_document(), summary=_summary())
    for fmt in ("md", "txt", "docx"):
        out = tmp_path / f"brief.{fmt}"
        result = _lexbrief("export", str(summary_id), "--format", fmt, "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert _mode(out) == 0o600 and out.stat().st_size > 50
    # overwriting an export another program left world-readable makes it private too
    shared = tmp_path / "shared.md"
    shared.write_text("old")
    shared.chmod(0o644)
    assert _lexbrief("export", str(summary_id), "--out", str(shared)).returncode == 0
    assert _mode(shared) == 0o600 and "Rent is due" in shared.read_text()
