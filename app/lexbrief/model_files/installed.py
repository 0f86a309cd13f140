"""Installed models: the files in `<data folder>/models/` (or registered where they are) and
their manifest, `installed.json`, which keeps each file's sha256 from the moment it was verified.

Layout of the models folder:
  <file>.gguf          verified models, moved here atomically
  installed.json       the manifest
  catalog.toml         the user's own catalog entries
  .partial/            downloads in progress (resumed after an interruption or a restart)
  quarantine/          files that failed verification: kept for inspection, never used
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lexbrief.errors import NotFound, StorageError
from lexbrief.model_files.resolve import installed_models_dir

MANIFEST = "installed.json"
HASH_CHUNK = 4 * 1024 * 1024


@dataclass
class InstalledModel:
    id: str
    file: str  # a name inside the models folder, or an absolute path (registered in place)
    sha256: str
    size: int
    source: str  # "download" or "import"
    catalog_id: str = ""
    repo: str = ""
    revision: str = ""
    commit: str = ""
    installed: str = ""  # when it was verified, ISO 8601

    @property
    def path(self) -> Path:
        file = Path(self.file)
        return file if file.is_absolute() else installed_models_dir() / file

    @property
    def managed(self) -> bool:
        """The file lives in the models folder (LexBrief may move or delete it)."""
        return not Path(self.file).is_absolute()


def partial_dir() -> Path:
    path = installed_models_dir() / ".partial"
    path.mkdir(parents=True, exist_ok=True)
    return path


def quarantine_dir() -> Path:
    path = installed_models_dir() / "quarantine"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _manifest_path() -> Path:
    return installed_models_dir() / MANIFEST


def load_installed() -> dict[str, InstalledModel]:
    path = _manifest_path()
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StorageError(f"the model list {path} cannot be read: {exc}") from exc
    known = {f.name for f in fields(InstalledModel)}
    models: dict[str, InstalledModel] = {}
    for item in raw.get("models", []) if isinstance(raw, dict) else []:
        if isinstance(item, dict) and item.get("id") and item.get("file"):
            model = InstalledModel(**{k: v for k, v in item.items() if k in known})
            models[model.id] = model
    return models


def save_installed(models: dict[str, InstalledModel]) -> None:
    path = _manifest_path()
    tmp = path.with_name(f"{MANIFEST}.{os.getpid()}.tmp")
    data = {"version": 1, "models": [asdict(m) for m in models.values()]}
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"the model list {path} cannot be written: {exc.strerror or exc}") \
            from exc


def register(model: InstalledModel) -> InstalledModel:
    models = load_installed()
    model.installed = model.installed or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    models[model.id] = model
    save_installed(models)
    return model


def find_installed(key: str) -> InstalledModel | None:
    """An installed model by id, catalog id or file path."""
    models = load_installed()
    if key in models:
        return models[key]
    for model in models.values():
        if key == model.catalog_id:
            return model
    candidate = Path(key).expanduser()
    if candidate.exists():
        resolved = candidate.resolve()
        for model in models.values():
            if model.path.exists() and model.path.resolve() == resolved:
                return model
    return None


def require_installed(key: str) -> InstalledModel:
    model = find_installed(key)
    if model is None:
        raise NotFound(f"no installed model '{key}'; `lexbrief models list` shows what is "
                       "installed.")
    return model


def hash_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done)
    return digest.hexdigest()


def quarantine(path: Path, label: str | None = None) -> Path:
    """Move a file that failed verification out of the way, so nothing ever loads it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = quarantine_dir() / f"{label or path.name}.{stamp}"
    os.replace(path, target)
    return target


@dataclass(frozen=True)
class VerifyResult:
    model: InstalledModel
    status: str  # "ok", "mismatch", "missing"
    actual_sha256: str = ""
    quarantined_to: Path | None = None


def verify_installed(model: InstalledModel,
                     progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Hash the file again and compare it with the manifest. A managed file that no longer
    matches is quarantined and unregistered; a file registered in place is only reported."""
    path = model.path
    if not path.is_file():
        return VerifyResult(model, "missing")
    actual = hash_file(path, progress)
    if actual == model.sha256:
        return VerifyResult(model, "ok", actual)
    moved = None
    if model.managed:
        moved = quarantine(path)
        models = load_installed()
        models.pop(model.id, None)
        save_installed(models)
        _forget_active(path)
    return VerifyResult(model, "mismatch", actual, moved)


def _forget_active(path: Path) -> None:
    from lexbrief.settings import load_settings, save_settings

    settings = load_settings()
    if settings.active_model and Path(settings.active_model).expanduser() == path:
        settings.active_model = ""
        save_settings(settings)


def remove_installed(key: str) -> InstalledModel:
    """Unregister a model and delete its file if it lives in the models folder."""
    model = require_installed(key)
    path = model.path
    if model.managed:
        path.unlink(missing_ok=True)
    models = load_installed()
    models.pop(model.id, None)
    save_installed(models)
    _forget_active(path)
    return model
