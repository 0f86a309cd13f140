"""The model catalog: LexBrief's curated list (`models/catalog.toml`) plus the user's own
entries (`<data folder>/models/catalog.toml`, same format; a user entry replaces a curated one
with the same id)."""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lexbrief.errors import UserFacingError

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.toml"
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED = ("id", "name", "repo", "file")


class CatalogError(UserFacingError):
    """A catalog file that cannot be read."""


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    repo: str
    file: str
    revision: str = "main"
    sha256: str = ""
    size: int = 0  # bytes (approximate unless sha256 is set)
    parameters: int = 0
    quantization: str = ""
    context_length: int = 0
    license: str = ""
    gated: bool = False
    good_at: str = ""
    min_ram_gb: float = 0.0
    rank: int = 0  # editorial: how well it summarizes legal text, 1-10
    # Shape, for memory estimates before the file is here (0 = unknown).
    layers: int = 0
    embedding: int = 0
    feed_forward: int = 0
    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    vocab: int = 0
    tied_embeddings: bool = True
    sliding_window: int = 0
    swa_pattern: int = 0
    source: str = "LexBrief"  # "LexBrief" or the user catalog's path

    @property
    def has_shape(self) -> bool:
        return all((self.layers, self.embedding, self.heads, self.vocab))


def bundled_catalog_path() -> Path:
    from lexbrief.paths import models_dir

    return models_dir() / CATALOG_FILE


def user_catalog_path() -> Path:
    from lexbrief.model_files.resolve import installed_models_dir

    return installed_models_dir() / CATALOG_FILE


def _entry(raw: dict[str, Any], origin: Path, source: str) -> CatalogEntry:
    missing = [k for k in _REQUIRED if not raw.get(k)]
    if missing:
        raise CatalogError(f"{origin}: a [[model]] entry lacks {', '.join(missing)}")
    if not _ID.match(str(raw["id"])):
        raise CatalogError(f"{origin}: model id '{raw['id']}' should be lowercase letters, "
                           "digits, '.', '-' or '_'")
    known = {f.name: f for f in fields(CatalogEntry)}
    values: dict[str, Any] = {"source": source}
    for key, raw_value in raw.items():
        if key not in known or key == "source":
            continue  # a field from a newer version: ignored
        default = getattr(CatalogEntry, key, None)
        expected = type(default) if default is not None else str
        value = raw_value
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise CatalogError(f"{origin}: '{key}' of model '{raw['id']}' should be a "
                               f"{expected.__name__}")
        values[key] = value
    sha = str(values.get("sha256", "")).lower()
    if sha and not _SHA256.match(sha):
        raise CatalogError(f"{origin}: sha256 of model '{raw['id']}' should be 64 hex digits")
    values["sha256"] = sha
    if Path(str(values["file"])).name != values["file"]:
        raise CatalogError(f"{origin}: file of model '{raw['id']}' should be a file name in the "
                           "repository's top folder")
    return CatalogEntry(**values)


def read_catalog_file(path: Path, *, source: str) -> list[CatalogEntry]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"the model catalog {path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"the model catalog {path} is not valid TOML: {exc}") from exc
    models = data.get("model", [])
    if not isinstance(models, list):
        raise CatalogError(f"{path}: models are [[model]] tables")
    return [_entry(raw, path, source) for raw in models if isinstance(raw, dict)]


def load_catalog(*, include_user: bool = True) -> dict[str, CatalogEntry]:
    """Every catalog entry by id, curated ones first, in file order."""
    entries = {e.id: e for e in read_catalog_file(bundled_catalog_path(), source="LexBrief")}
    user = user_catalog_path()
    if include_user and user.is_file():
        for entry in read_catalog_file(user, source=str(user)):
            entries[entry.id] = entry
    return entries


def find_entry(model_id: str) -> CatalogEntry:
    catalog = load_catalog()
    entry = catalog.get(model_id.lower())
    if entry is None:
        close = [i for i in catalog if model_id.lower() in i]
        hint = f" Did you mean: {', '.join(close[:3])}?" if close else (
            " `lexbrief models list` shows the catalog.")
        raise UserFacingError(f"there is no model '{model_id}' in the catalog.{hint}")
    return entry
