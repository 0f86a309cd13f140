"""The command line as users run it: a real process, real files, exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lexbrief.store import Store

from conftest import DOCUMENTS, MALFORMED


def lexbrief(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lexbrief", *args], capture_output=True,
                          text=True, cwd=cwd, env=os.environ.copy(), check=False, timeout=600)


@pytest.mark.parametrize("name", sorted(
    p.name for p in MALFORMED.iterdir() if p.name != "stray-eof-before-header.pdf"))
def test_malformed_file_one_line_error_exit_3_no_row(name: str) -> None:
    result = lexbrief("summarize", str(MALFORMED / name))
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("lexbrief: error:")]
    assert len(errors) == 1 and name in errors[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert Store().counts() == {"documents": 0, "summaries": 0}


def test_missing_model_is_exit_4_with_advice(tmp_path: Path) -> None:
    result = lexbrief("summarize", str(DOCUMENTS / "court-order-ca7.pdf"), "--model",
                      str(tmp_path / "absent.gguf"))
    assert result.returncode == 4 and "model file not found" in result.stderr


def test_a_file_that_is_not_a_model_is_exit_4(tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"this is not a gguf file at all" * 100)
    result = lexbrief("summarize", str(DOCUMENTS / "court-order-ca7.pdf"), "--model", str(fake))
    assert result.returncode == 4, result.stderr
    assert "cannot be loaded" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_are_exit_2() -> None:
    assert lexbrief().returncode == 2
    assert lexbrief("summarize").returncode == 2
    assert lexbrief("export", "1", "--format", "pdf").returncode == 2


def test_show_unknown_id_is_exit_6() -> None:
    result = lexbrief("show", "42")
    assert result.returncode == 6 and "no summary #42" in result.stderr


def test_history_when_empty() -> None:
    result = lexbrief("history")
    assert result.returncode == 0 and "No summaries yet" in result.stdout


def test_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = lexbrief("summarize", str(tmp_path))
    assert result.returncode == 3 and "no supported documents" in result.stderr


def test_unwritable_data_folder_is_exit_5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("LEXBRIEF_HOME", str(blocker / "home"))
    result = lexbrief("history")
    assert result.returncode == 5 and "cannot be written" in result.stderr


def test_a_terminal_sees_how_far_the_draft_got_not_its_unchecked_words() -> None:
    import io

    from lexbrief.ui.cli.summarize import StreamingProgress

    out = io.StringIO()
    progress = StreamingProgress(out, "notice.pdf", 1, 1)
    progress.token("final", "The Fifth Circuit held on ")
    progress.token("final", "April 30, 2024 that")
    progress.finish("done")
    text = out.getvalue()
    assert "Fifth Circuit" not in text and "April 30" not in text
    assert "writing the overview, 9 words" in text
