"""Settings → Engine: "a server", with Test connection against a real llama-server (issue 14).
The connection is tried in the background; the dialog shows what the server serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_server import free_port, llama_server

pytestmark = [pytest.mark.gui, pytest.mark.server]


def test_test_connection_shows_the_model_context_and_slots(
        qtbot, lexbrief_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from lexbrief.settings import load_settings
    from lexbrief.ui.gui.settings_dialog import SettingsDialog

    monkeypatch.setenv("FIRM_KEY", "gui-secret")
    dialog = SettingsDialog(None)
    qtbot.addWidget(dialog)
    assert not dialog.test_button.isEnabled()  # "this computer" until a server is chosen
    dialog.engine.setCurrentIndex(dialog.engine.findData("server"))
    assert dialog.test_button.isEnabled() and not dialog.gpu.isEnabled()
    with llama_server(parallel=4, ctx_per_slot=1024, api_key="gui-secret") as server:
        dialog.server_url.setText(server.base_url)
        dialog.server_key_env.setText("FIRM_KEY")
        dialog.test_connection()
        qtbot.waitUntil(lambda: dialog.test_result.text().startswith(("Connected", "Not")),
                        timeout=30000)
        text = dialog.test_result.text()
        assert text.startswith("Connected: llama-server serving SmolLM2-135M-Instruct"), text
        assert "1,024 tokens of context per request, 4 slot(s)" in text
        dialog.server_key_env.setText("")  # no key: the server refuses, and the dialog says so
        dialog.test_connection()
        qtbot.waitUntil(dialog.test_button.isEnabled, timeout=30000)
        assert "refused LexBrief without an API key" in dialog.test_result.text()
        dialog.server_key_env.setText("FIRM_KEY")
        dialog.save()
    saved = load_settings().server
    assert (saved.url, saved.api_key_env) == (server.base_url, "FIRM_KEY")
    assert "gui-secret" not in (lexbrief_home / "settings.toml").read_text(encoding="utf-8")


def test_test_connection_to_nothing_says_why(qtbot, lexbrief_home: Path) -> None:  # type: ignore[no-untyped-def]
    from lexbrief.ui.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(None)
    qtbot.addWidget(dialog)
    dialog.engine.setCurrentIndex(dialog.engine.findData("server"))
    dialog.server_url.setText(f"http://127.0.0.1:{free_port()}")
    dialog.test_connection()
    qtbot.waitUntil(dialog.test_button.isEnabled, timeout=30000)
    assert dialog.test_result.text().startswith("Not connected: LexBrief cannot reach the server")
