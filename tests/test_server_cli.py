"""`lexbrief summarize --server` as a user runs it, against a real llama-server (issue 14): a
whole document, a server that is not running (exit 4), and a server killed with SIGKILL in the
middle of a batch (clear error, nothing stored, the job waits and `--resume` finishes it once
the server is back)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llama_server import free_port, llama_server

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]
ORDER = ROOT / "tests" / "fixtures" / "documents" / "court-order-ca7.pdf"  # see SOURCES.md


def _cli(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lexbrief", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "LEXBRIEF_HOME": str(home), "PYTHONPATH": str(ROOT / "app"), **extra}


def _document(tmp_path: Path) -> Path:
    """A short real court order (7th Cir.), copied so each test has its own file."""
    path = tmp_path / ORDER.name
    path.write_bytes(ORDER.read_bytes())
    return path


def _summaries(home: Path) -> list[tuple[str, str]]:
    db = home / "lexbrief.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT model_name, parameters FROM summaries").fetchall()


def test_a_document_summarized_on_the_server_records_the_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    document = _document(tmp_path)
    with llama_server(parallel=2, ctx_per_slot=2048, api_key="firm-secret") as server:
        result = _cli("summarize", str(document), "--json", "--server", server.base_url,
                      "--api-key-env", "FIRM_KEY", env=_env(home, FIRM_KEY="firm-secret"))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["model"]["source"] == "server" and out["model"]["server"] == server.base_url
    assert out["model"]["sha256"].startswith("server-sha256:")
    assert out["key_points"] and out["coverage"]["tokens_dropped"] == 0
    assert out["hardware"]["energy"]["wh"] is None  # the server's energy: unknown, not 0
    assert "UNKNOWN" in result.stderr and "would cost" in result.stderr
    assert "saved n/a (energy unknown: the model ran on the server" in result.stderr
    (_name, parameters), = _summaries(home)
    stored = json.loads(parameters)
    assert stored["server_url"] == server.base_url and stored["server_kind"] == "llama-server"
    assert stored["model_fingerprint"] == out["model"]["sha256"]
    for path in home.rglob("*"):  # the key is nowhere in the data folder
        if path.is_file():
            assert b"firm-secret" not in path.read_bytes(), path


def test_no_server_running_is_exit_code_4(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _cli("summarize", str(_document(tmp_path)), "--server",
                  f"http://127.0.0.1:{free_port()}", env=_env(home))
    assert result.returncode == 4
    assert "cannot reach the server" in result.stderr and "Is it running?" in result.stderr
    assert "Traceback" not in result.stderr
    assert _summaries(home) == []


def test_a_server_killed_mid_summary_leaves_nothing_and_resume_finishes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    document = _document(tmp_path)
    port = free_port()
    with llama_server(parallel=1, ctx_per_slot=2048, port=port) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "lexbrief", "summarize", str(document), "--server",
             server.base_url], env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # until the server is decoding LexBrief's request
            _status, slots = server.request("GET", "/slots")
            if isinstance(slots, list) and any(s.get("is_processing") for s in slots):
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        else:
            pytest.fail("the server never started on LexBrief's request")
        server.process.kill()
        _out, err = process.communicate(timeout=120)
    assert process.returncode == 4, err
    assert "closed the connection" in err or "cannot reach the server" in err, err
    assert _summaries(home) == []
    listed = _cli("queue", "list", env=_env(home))
    assert "queued" in listed.stdout, listed.stdout
    with llama_server(parallel=1, ctx_per_slot=2048, port=port) as server:
        resumed = _cli("summarize", "--resume", "--server", server.base_url, env=_env(home))
    assert resumed.returncode == 0, resumed.stderr
    assert len(_summaries(home)) == 1


def test_a_folder_on_a_server_summarizes_documents_at_once(tmp_path: Path) -> None:
    """Two slots, two documents: both in flight together, both stored, both printed."""
    home = tmp_path / "home"
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("court-order-ca7.pdf", "nda-mutual-bonterms.docx"):
        (folder / name).write_bytes((ORDER.parent / name).read_bytes())
    with llama_server(parallel=2, ctx_per_slot=2048) as server:
        result = _cli("summarize", str(folder), "--json", "--server", server.base_url,
                      env=_env(home))
    assert result.returncode == 0, result.stderr
    assert "2 documents at once on the server (2 slots)" in result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert sorted(p["document"]["name"] for p in printed) == [
        "court-order-ca7.pdf", "nda-mutual-bonterms.docx"]
    assert len(_summaries(home)) == 2
    listed = _cli("queue", "list", env=_env(home))
    assert listed.stdout.count("done") >= 2, listed.stdout
