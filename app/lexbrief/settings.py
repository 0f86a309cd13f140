"""User settings, persisted as TOML in the data folder (`settings.toml`)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any

from lexbrief.errors import UserFacingError
from lexbrief.paths import data_dir

# `gpu_layers` values beyond a count of layers
GPU_LAYERS_AUTO = -2  # the hardware plan (lexbrief.model_files.fit) decides
GPU_LAYERS_ALL = -1  # every layer on the GPU


@dataclass
class ServerSettings:
    """The `[server]` table: summarize on a server the firm runs (llama-server or vLLM's OpenAI
    server) instead of this computer. The API key is never written here: `api_key_env` names
    the environment variable that holds it."""

    url: str = ""  # e.g. http://gpu-box.firm.local:8080; empty = this computer
    api_key_env: str = ""  # e.g. LEXBRIEF_SERVER_KEY; empty = no key
    ca_bundle: str = ""  # PEM file of the firm's certificate authority; empty = the system's
    timeout_s: float = 300.0  # the longest silence while a reply streams
    max_parallel: int = 4  # requests at once, at most (fewer when the server has fewer slots)


@dataclass
class Settings:
    active_model: str = ""  # path of the GGUF to use; empty = the bundled starter
    # A smaller GGUF that reads the document (map step) while active_model writes (issue 17)
    reader_model: str = ""
    # Engine knobs: 0 / "auto" = this machine's calibration of the model (`lexbrief bench
    # --calibrate`), else the default named; a value set here wins over the calibration.
    threads: int = 0  # 0 = calibrated, else physical cores
    flash_attn: str = "auto"  # auto (calibrated, else llama.cpp's choice), on, off
    batch_size: int = 0  # prompt tokens per decode: 0 = calibrated, else 512
    gpu_layers: int = GPU_LAYERS_AUTO  # or GPU_LAYERS_ALL, 0 = CPU only, N layers
    context_length: int = 0  # 0 = the model's trained context, capped at 8192
    max_chunk_tokens: int = 2048
    # Excerpts summarized at once as parallel sequences (1 = one by one; 0 = calibrated, else 4).
    # See docs/BENCHMARKS.md: on a 2-core CPU with the starter it is no faster; it pays where a
    # step's weights dominate.
    parallel_map: int = 0
    electricity_price_per_kwh: float = 0.30
    currency: str = "USD"
    cloud_model: str = ""
    # Exports (Markdown, Word, PDF) carry the summary's cost comparison; false leaves it out
    # (a brief for a client). `lexbrief export --no-costs` does the same for one export.
    export_costs: bool = True
    ocr: str = "auto"  # scanned pages: auto (pages without a text layer), always, never
    # The network policy (lexbrief.network): true = no connections at all, not even a model
    # download or the configured server. `lexbrief --offline` does the same for one command.
    offline: bool = False
    server: ServerSettings = field(default_factory=ServerSettings)


def settings_path() -> os.PathLike[str]:
    return data_dir() / "settings.toml"


def load_settings() -> Settings:
    path = data_dir() / "settings.toml"
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserFacingError(f"the settings file {path} cannot be read: {exc}") from exc
    values = _typed(raw, Settings(), path, "")
    if values.get("flash_attn", "auto") not in ("auto", "on", "off"):
        raise UserFacingError(f"{path}: 'flash_attn' should be \"auto\", \"on\" or \"off\"")
    server = raw.get("server", {})
    if not isinstance(server, dict):
        raise UserFacingError(f"{path}: 'server' should be a table ([server])")
    values["server"] = ServerSettings(**_typed(server, ServerSettings(), path, "server."))
    return Settings(**values)


def _typed(raw: dict[str, Any], defaults: Any, path: Any, prefix: str) -> dict[str, Any]:
    """The known keys of a TOML table, checked against the defaults' types."""
    values: dict[str, Any] = {}
    for f in fields(defaults):
        if f.name not in raw or f.name == "server":
            continue  # missing: the default; unknown keys (a newer version's) are ignored
        value, default = raw[f.name], getattr(defaults, f.name)
        widened = isinstance(default, float) and isinstance(value, int)  # 300 for 300.0
        same = isinstance(value, type(default)) or widened
        if not same or isinstance(value, bool) != isinstance(default, bool):
            raise UserFacingError(f"{path}: '{prefix}{f.name}' should be a "
                                  f"{type(default).__name__}")
        values[f.name] = type(default)(value)
    return values


def save_settings(settings: Settings) -> None:
    path = data_dir() / "settings.toml"
    values = dataclasses.asdict(settings)
    server = values.pop("server")
    lines = [_toml_line(key, value) for key, value in values.items()]
    lines += ["", "[server]"] + [_toml_line(key, value) for key, value in server.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _toml_line(key: str, value: Any) -> str:
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{key} = "{escaped}"'
    if isinstance(value, bool):
        return f"{key} = {'true' if value else 'false'}"
    return f"{key} = {value}"
