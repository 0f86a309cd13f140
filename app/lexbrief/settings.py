"""User settings, persisted as TOML in the data folder (`settings.toml`)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from typing import Any

from lexbrief.errors import UserFacingError
from lexbrief.paths import data_dir

# `gpu_layers` values beyond a count of layers
GPU_LAYERS_AUTO = -2  # the hardware plan (lexbrief.model_files.fit) decides
GPU_LAYERS_ALL = -1  # every layer on the GPU


@dataclass
class Settings:
    active_model: str = ""  # path of the GGUF to use; empty = the bundled starter
    threads: int = 0  # 0 = physical cores
    gpu_layers: int = GPU_LAYERS_AUTO  # or GPU_LAYERS_ALL, 0 = CPU only, N layers
    context_length: int = 0  # 0 = the model's trained context, capped at 8192
    max_chunk_tokens: int = 2048
    # Excerpts summarized at once as parallel sequences (1 = one by one). See docs/BENCHMARKS.md:
    # on a 2-core CPU with the starter it is no faster; it pays where a step's weights dominate.
    parallel_map: int = 4
    electricity_price_per_kwh: float = 0.30
    currency: str = "USD"
    cloud_model: str = ""
    ocr: str = "auto"  # scanned pages: auto (pages without a text layer), always, never
    # The network policy (lexbrief.network): true = no connections at all, not even a model
    # download or the configured server. `lexbrief --offline` does the same for one command.
    offline: bool = False


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
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            continue  # a setting from a newer version: keep running
        default = getattr(Settings(), key)
        if not isinstance(value, type(default)) and not (
                isinstance(default, float) and isinstance(value, int)):
            raise UserFacingError(f"{path}: '{key}' should be a {type(default).__name__}")
        values[key] = type(default)(value)
    return Settings(**values)


def save_settings(settings: Settings) -> None:
    path = data_dir() / "settings.toml"
    lines = []
    for key, value in dataclasses.asdict(settings).items():
        if isinstance(value, bool):  # TOML's true/false, not Python's True/False
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, str):
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{key} = "{escaped}"')
        else:
            lines.append(f"{key} = {value}")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
