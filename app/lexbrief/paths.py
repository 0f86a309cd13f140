"""Where LexBrief keeps its data and finds its bundled resources.

`LEXBRIEF_HOME` overrides the per-user data folder; tests and scripts rely on that.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "LexBrief"


def _location_file() -> Path:
    """Where the user's choice of data folder is remembered (outside the data folder)."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "data-folder.txt"


def data_dir() -> Path:
    override = os.environ.get("LEXBRIEF_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        chosen = _location_file()
        text = chosen.read_text(encoding="utf-8").strip() if chosen.is_file() else ""
        path = Path(text) if text else Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def choose_data_dir(path: Path | None) -> None:
    """Remember another data folder for the next start (None: back to the default)."""
    location = _location_file()
    if path is None:
        location.unlink(missing_ok=True)
        return
    path.mkdir(parents=True, exist_ok=True)
    location.parent.mkdir(parents=True, exist_ok=True)
    location.write_text(str(path), encoding="utf-8")


def database_path() -> Path:
    return data_dir() / "lexbrief.db"


def log_dir() -> Path:
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _bundled_folder(name: str) -> Path:
    """A top-level data folder (`resources`, `models`) wherever this copy of LexBrief runs from.

    A wheel and a frozen bundle carry it inside the package; an editable checkout reads the
    folder at the repository's top level.
    """
    package = Path(__file__).resolve().parent
    candidates = [package / "_data" / name, package.parents[1] / name]
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.insert(0, Path(frozen_root) / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"LexBrief's '{name}' folder is missing from this installation")


def resource_dir() -> Path:
    return _bundled_folder("resources")


def models_dir() -> Path:
    return _bundled_folder("models")
