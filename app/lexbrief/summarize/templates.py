"""Summary templates: editable prompt files, and a simple auto-detection of the document's kind."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from lexbrief.errors import UserFacingError
from lexbrief.paths import data_dir, resource_dir

_FIELDS = ("name", "label", "system", "map", "final")


@dataclass(frozen=True)
class Template:
    name: str
    label: str
    keywords: tuple[str, ...]
    system: str
    map: str
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
    for field, needed in (("map", "{text}"), ("final", "{material}")):
        if needed not in raw[field]:
            raise UserFacingError(f"template {path.name}: '{field}' must contain {needed}")
    return Template(
        name=raw["name"], label=raw["label"],
        keywords=tuple(str(k).lower() for k in raw.get("keywords", [])),
        system=raw["system"].strip(), map=raw["map"].strip(), final=raw["final"].strip(),
        source=path,
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


# Words of a decided dispute: a short document without them that orders or announces something is
# a procedural notice, not an opinion (a docketing notice must not be asked for its holding).
_DECISION = re.compile(
    r"\b(?:we\s+(?:hold|conclude|affirm|reverse|vacate|agree|disagree)|affirmed|reversed|vacated|"
    r"remanded|for\s+the\s+(?:foregoing\s+)?reasons|opinion\s+of\s+the\s+court|"
    r"memorandum\s+(?:opinion|and\s+order)|findings\s+of\s+fact|conclusions?\s+of\s+law|"
    r"it\s+is\s+(?:so\s+)?held)\b", re.IGNORECASE)
_PROCEDURAL = re.compile(
    r"\b(?:notice\s+of|please\s+take\s+notice|docketed|docketing|(?:is|are)\s+due|on\s+or\s+"
    r"before|no\s+later\s+than|orders\s+the|it\s+is\s+(?:hereby\s+)?ordered|shall\s+file|"
    r"must\s+file|appearance|scheduling|dear\s+\w+|enclosed\s+(?:please\s+)?find)\b",
    re.IGNORECASE)
# Wording of a statute or an agreement: such a text is not a notice even when short and dated.
_NOT_NOTICE = re.compile(
    r"\b(?:is\s+amended|be\s+it\s+enacted|this\s+act|u\.s\.c\.|subchapter|this\s+agreement|"
    r"the\s+parties\s+(?:hereto\s+)?agree|hereby\s+agree|whereas)\b", re.IGNORECASE)
NOTICE_MAX_PAGES = 5


def _scores(text: str, templates: dict[str, Template]) -> dict[str, float]:
    opening = text[:20000].lower()
    words = max(1, len(opening.split()))
    return {name: sum(len(re.findall(r"\b" + re.escape(k), opening)) for k in t.keywords)
            * 1000 / words for name, t in templates.items()}


def detect_template(text: str, templates: dict[str, Template]) -> Template:
    """The template whose keywords are most frequent in the opening text (per 1,000 words)."""
    return detect_kind(text, templates)[0]


def detect_kind(text: str, templates: dict[str, Template], page_count: int | None = None
                ) -> tuple[Template, str]:
    """The template for this text, and a sentence saying which kind was assumed and why."""
    pages = page_count if page_count is not None else 1 + len(text.split()) // 600
    if "notice" in templates and pages <= NOTICE_MAX_PAGES:
        procedural = {m.group(0).lower() for m in _PROCEDURAL.finditer(text[:20000])}
        if procedural and not _DECISION.search(text) and not _NOT_NOTICE.search(text[:20000]):
            cues = ", ".join(f"“{c}”" for c in sorted(procedural)[:3])
            return templates["notice"], (
                f"Read as a notice or procedural order: a short document with {cues} and no "
                "decision of a dispute.")
    scores = {n: v for n, v in _scores(text, templates).items() if n != "notice"}
    best = max(scores, key=lambda n: scores[n], default="general")
    # A handful of stray legal words is not enough to leave the general template.
    if scores.get(best, 0.0) < 8:
        return templates["general"], "Read as a legal document (general): no kind stood out."
    template = templates[best]
    return template, f"Read as: {template.label.lower()} (from its wording)."
