"""Summary templates: editable prompt files, and a simple auto-detection of the document's kind."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from lexbrief.errors import UserFacingError
from lexbrief.paths import data_dir, resource_dir

_FIELDS = ("name", "label", "system", "map", "condense", "final")


@dataclass(frozen=True)
class Template:
    name: str
    label: str
    keywords: tuple[str, ...]
    system: str
    map: str
    condense: str
    final: str
    source: Path


def _load(path: Path) -> Template:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserFacingError(f"template {path.name} cannot be read: {exc}") from exc
    missing = [f for f in _FIELDS if not isinstance(raw.get(f), str) or not raw[f].strip()]
    if missing:
        raise UserFacingError(f"template {path.name} lacks {', '.join(missing)}")
    for field, needed in (("map", "{text}"), ("condense", "{notes}"), ("final", "{material}")):
        if needed not in raw[field]:
            raise UserFacingError(f"template {path.name}: '{field}' must contain {needed}")
    return Template(
        name=raw["name"], label=raw["label"],
        keywords=tuple(str(k).lower() for k in raw.get("keywords", [])),
        system=raw["system"].strip(), map=raw["map"].strip(), condense=raw["condense"].strip(),
        final=raw["final"].strip(), source=path,
    )


def load_templates() -> dict[str, Template]:
    """Built-in templates, overridden or extended by the user's own files."""
    templates: dict[str, Template] = {}
    folders = [resource_dir() / "prompts", data_dir() / "prompts"]
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                template = _load(path)
                templates[template.name] = template
    if "general" not in templates:
        raise UserFacingError("the built-in 'general' template is missing from this installation")
    return templates


def detect_template(text: str, templates: dict[str, Template]) -> Template:
    """The template whose keywords are most frequent in the opening text (per 1,000 words)."""
    opening = text[:20000].lower()
    words = max(1, len(opening.split()))
    best, best_score = templates["general"], 0.0
    for template in templates.values():
        hits = sum(len(re.findall(r"\b" + re.escape(k), opening)) for k in template.keywords)
        score = hits * 1000 / words
        if score > best_score:
            best, best_score = template, score
    # A handful of stray legal words is not enough to leave the general template.
    return best if best_score >= 8 else templates["general"]
