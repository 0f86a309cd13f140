"""Downloads through the real huggingface_hub client against a local hub (tests/hub_server.py)
serving the real starter GGUF: complete, dropped and resumed, cancelled and resumed, killed
and resumed, corrupted, 404, 401/403, offline, and a full disk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lexbrief import network
from lexbrief.cancel import CancelToken
from lexbrief.errors import Cancelled, StorageError
from lexbrief.model_files.catalog import CatalogEntry
from lexbrief.model_files.download import (
    AccessDenied,
    ChecksumMismatch,
    DownloadProgress,
    NotOnHub,
    OfflineError,
    download_model,
)
from lexbrief.model_files.installed import load_installed, partial_dir, quarantine_dir
from lexbrief.model_files.resolve import installed_models_dir

from hub_server import COMMIT, HubServer

REPO = "lexbrief-test/starter-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@pytest.fixture
def hub(starter_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[HubServer]:
    from huggingface_hub import constants

    # Nothing from the developer's own Hugging Face setup may leak in.
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_HUB_OFFLINE",
                 "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 5)
    with HubServer() as server, network.enforced(), network.recording() as seen:
        server.add(REPO, FILE, starter_model)
        yield server
    # Every download ran under the app's network policy and tried nothing it does not allow
    # (an unreachable hub is still the hub the download was pointed at).
    assert seen.blocked == []
    assert {a.rule for a in seen.attempts} <= {"the model download you started"}


def entry(**changes: object) -> CatalogEntry:
    values: dict[str, object] = {"id": "test-starter", "name": "Test starter", "repo": REPO,
                                 "file": FILE, "size": 98_362_432}
    values.update(changes)
    return CatalogEntry(**values)  # type: ignore[arg-type]


def _assert_installed(sha: str = STARTER_SHA) -> None:
    target = installed_models_dir() / FILE
    assert target.is_file()
    model = load_installed()["test-starter"]
    assert model.sha256 == sha and model.commit == COMMIT and model.source == "download"
    assert list(partial_dir().iterdir()) == []


def test_complete_download_is_verified_and_installed(hub: HubServer) -> None:
    seen: list[DownloadProgress] = []
    model = download_model(entry(sha256=STARTER_SHA), endpoint=hub.endpoint,
                           progress=seen.append)
    assert model.path == installed_models_dir() / FILE
    _assert_installed()
    # The file and nothing else (no telemetry, no agent-registry fetch).
    assert [(r.method, r.path) for r in hub.requests] == [
        ("HEAD", f"/{REPO}/resolve/main/{FILE}"), ("GET", f"/{REPO}/resolve/main/{FILE}")]
    assert "lexbrief/" in hub.requests[0].headers["user-agent"]
    assert seen and seen[-1].downloaded == seen[-1].total == 98_362_432
    assert [p.downloaded for p in seen] == sorted(p.downloaded for p in seen)
    assert all(p.speed >= 0 for p in seen)
    # Installed already: a second call does not touch the network.
    assert download_model(entry(), endpoint=hub.endpoint) == model
    assert len(hub.requests) == 2


def test_dropped_connection_resumes_with_a_range_request(hub: HubServer) -> None:
    hub.drop_after = 35_000_000
    download_model(entry(), endpoint=hub.endpoint)  # no catalog sha: the hub's is checked
    _assert_installed()
    gets = hub.gets()
    assert len(gets) == 2
    assert "range" not in gets[0].headers
    resumed_at = int(gets[1].headers["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 35_000_000


def test_cancelled_download_resumes_later_where_it_stopped(hub: HubServer) -> None:
    cancel = CancelToken()

    def stop_after_some(p: DownloadProgress) -> None:
        if p.downloaded >= 20_000_000:
            cancel.cancel()

    with pytest.raises(Cancelled):
        download_model(entry(), endpoint=hub.endpoint, progress=stop_after_some, cancel=cancel)
    parts = list(partial_dir().glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size >= 20_000_000
    kept = parts[0].stat().st_size
    assert not (installed_models_dir() / FILE).exists()

    seen: list[DownloadProgress] = []
    download_model(entry(sha256=STARTER_SHA), endpoint=hub.endpoint, progress=seen.append)
    _assert_installed()
    assert hub.gets()[-1].headers["range"] == f"bytes={kept}-"
    assert seen[-1].resumed_from == kept


def _user_catalog(home: Path) -> None:
    folder = home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.toml").write_text(
        f'[[model]]\nid = "test-starter"\nname = "Test starter"\nrepo = "{REPO}"\n'
        f'file = "{FILE}"\nsize = 98362432\nsha256 = "{STARTER_SHA}"\n', encoding="utf-8")


def _cli(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LEXBRIEF_HOME": str(home), "HF_HUB_DOWNLOAD_TIMEOUT": "5",
           "HF_HOME": str(home / "hf")}
    env.pop("HF_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "lexbrief", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_cli_download_resumes_when_run_again(hub: HubServer,
                                                    lexbrief_home: Path) -> None:
    _user_catalog(lexbrief_home)
    hub.stall_after = 45_000_000  # the transfer hangs there, as on a dead network
    first = _cli(lexbrief_home, "models", "download", "test-starter", "--endpoint",
                 hub.endpoint)
    try:
        assert hub.stalled.wait(60), "the download never started"
        part_folder = lexbrief_home / "models" / ".partial"
        deadline = time.monotonic() + 60
        # The client writes in 10 MB pieces; wait until some are on disk, then kill it.
        while not any(p.stat().st_size >= 20_000_000 for p in part_folder.glob("*.part")):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        hub.release.set()
    kept = next(part_folder.glob("*.part")).stat().st_size

    second = _cli(lexbrief_home, "models", "download", "test-starter", "--endpoint",
                  hub.endpoint, "--use")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "verified" in out and "Active model: test-starter" in out
    assert hub.gets()[-1].headers["range"] == f"bytes={kept}-"
    assert (lexbrief_home / "models" / FILE).stat().st_size == 98_362_432


def test_corrupted_bytes_are_quarantined_never_installed(hub: HubServer) -> None:
    hub.corrupt = True
    with pytest.raises(ChecksumMismatch) as caught:
        download_model(entry(sha256=STARTER_SHA), endpoint=hub.endpoint)
    assert "damaged" in caught.value.message and "will not be used" in caught.value.message
    assert not (installed_models_dir() / FILE).exists()
    assert "test-starter" not in load_installed()
    assert [p.name.split(".gguf")[0] for p in quarantine_dir().iterdir()] == [FILE[:-5]]
    assert list(partial_dir().iterdir()) == []


def test_catalog_hash_that_differs_from_the_hub_stops_before_downloading(
        hub: HubServer) -> None:
    with pytest.raises(ChecksumMismatch, match="not the one the catalog names"):
        download_model(entry(sha256="0" * 64), endpoint=hub.endpoint)
    assert hub.gets() == []


def test_missing_file_is_a_plain_404(hub: HubServer) -> None:
    with pytest.raises(NotOnHub, match="was not found in lexbrief-test/starter-GGUF"):
        download_model(entry(file="missing.gguf"), endpoint=hub.endpoint)


def test_missing_repository(hub: HubServer) -> None:
    with pytest.raises(AccessDenied, match="does not exist, or it is private or gated"):
        download_model(entry(repo="nobody/nothing"), endpoint=hub.endpoint)


def test_gated_repository_without_a_token_says_how_to_log_in(hub: HubServer) -> None:
    hub.token = "hf_right"
    with pytest.raises(AccessDenied) as caught:
        download_model(entry(), endpoint=hub.endpoint)
    message = caught.value.message
    assert "gated" in message and "401" in message
    assert "HF_TOKEN" in message and "hf auth login" in message and "accept its licence" in message
    assert "authorization" not in hub.requests[0].headers


def test_gated_repository_with_a_wrong_token_is_403(hub: HubServer) -> None:
    hub.token = "hf_right"
    with pytest.raises(AccessDenied, match=r"403.*does not have access"):
        download_model(entry(), endpoint=hub.endpoint, token="hf_wrong")


def test_gated_repository_with_hf_token_downloads(hub: HubServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    hub.token = "hf_right"
    monkeypatch.setenv("HF_TOKEN", "hf_right")
    download_model(entry(), endpoint=hub.endpoint)
    _assert_installed()
    assert all(r.headers.get("authorization") == "Bearer hf_right" for r in hub.requests)


def test_hf_hub_offline_means_no_network_at_all(hub: HubServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"^You are offline: HF_HUB_OFFLINE is set"):
        download_model(entry(), endpoint=hub.endpoint)
    assert hub.requests == []


def test_unreachable_hub_is_reported_as_offline(hub: HubServer) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OfflineError, match=rf"^You are offline: http://127\.0\.0\.1:{port} cannot"):
        download_model(entry(), endpoint=f"http://127.0.0.1:{port}")


def test_not_enough_disk_space_is_refused_before_downloading(hub: HubServer) -> None:
    hub.fake_size = 10**15  # one petabyte
    with pytest.raises(StorageError, match=r"not enough disk space.*needs .* GB free"):
        download_model(entry(), endpoint=hub.endpoint)
    assert hub.gets() == []


def main(argv: list[str]) -> int:
    """The CLI in this process; its log file is closed afterwards."""
    import logging

    from lexbrief.ui.cli.main import main as cli_main

    try:
        return cli_main(argv)
    finally:
        logger = logging.getLogger("lexbrief")
        for handler in logger.handlers:
            handler.close()
        logger.handlers.clear()  # a closed FileHandler reopens its file on the next record


def test_cli_download_then_verify_use_and_remove(hub: HubServer, lexbrief_home: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from lexbrief.settings import load_settings

    _user_catalog(lexbrief_home)
    assert main(["models", "download", "test-starter", "--endpoint", hub.endpoint,
                 "--quiet"]) == 0
    assert "verified" in capsys.readouterr().out
    assert main(["models", "use", "test-starter"]) == 0
    assert load_settings().active_model == str(installed_models_dir() / FILE)
    assert main(["models", "verify"]) == 0
    assert "OK        test-starter" in capsys.readouterr().out
    # Damage the installed copy: verify finds it and takes it out of use.
    with open(installed_models_dir() / FILE, "r+b") as f:
        f.seek(50_000_000)
        f.write(b"\x00\x01\x02")
    assert main(["models", "verify", "test-starter"]) == 4
    out = capsys.readouterr().out
    assert "MISMATCH  test-starter" in out and "quarantine" in out
    assert load_settings().active_model == ""
    assert main(["models", "remove", "test-starter", "--yes"]) == 6  # already gone
