"""settings.toml: the flat settings and the [server] table, read back as written; wrong types
are clear errors; a newer version's unknown keys are ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexbrief.errors import UserFacingError
from lexbrief.settings import ServerSettings, Settings, load_settings, save_settings


def test_settings_round_trip_with_a_server_table(lexbrief_home: Path) -> None:
    settings = Settings(parallel_map=2, currency="EUR",
                        server=ServerSettings(url="https://gpu.firm.local:8443",
                                              api_key_env="LEXBRIEF_SERVER_KEY", timeout_s=60.0,
                                              max_parallel=8))
    save_settings(settings)
    text = (lexbrief_home / "settings.toml").read_text(encoding="utf-8")
    assert "[server]" in text and 'url = "https://gpu.firm.local:8443"' in text
    assert load_settings() == settings


def test_a_wrong_type_in_the_server_table_is_a_clear_error(lexbrief_home: Path) -> None:
    lexbrief_home.mkdir(parents=True, exist_ok=True)
    (lexbrief_home / "settings.toml").write_text(
        'parallel_map = 1\n[server]\nmax_parallel = "four"\n', encoding="utf-8")
    with pytest.raises(UserFacingError, match=r"'server\.max_parallel' should be a int"):
        load_settings()


def test_unknown_keys_from_a_newer_version_are_ignored(lexbrief_home: Path) -> None:
    lexbrief_home.mkdir(parents=True, exist_ok=True)
    (lexbrief_home / "settings.toml").write_text('future_knob = 3\ntimeout_s = 5\n[server]\n'
                                        'url = "http://127.0.0.1:8080"\nfuture = true\n',
                                        encoding="utf-8")
    loaded = load_settings()
    assert loaded.server.url == "http://127.0.0.1:8080" and loaded.server.timeout_s == 300.0
