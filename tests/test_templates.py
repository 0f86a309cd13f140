"""Templates: the built-in prompt files load, detection picks the right kind, users can edit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lexbrief.errors import UserFacingError
from lexbrief.read import load_document
from lexbrief.summarize.templates import detect_kind, detect_template, load_templates

from conftest import DOCUMENTS, FIXTURES


def test_builtin_templates_load() -> None:
    templates = load_templates()
    assert set(templates) >= {"general", "contract", "court_opinion", "legislation"}
    for template in templates.values():
        assert "{text}" in template.map and "{material}" in template.final


@pytest.mark.parametrize(("path", "expected"), [
    (DOCUMENTS / "court-opinion-ca1.pdf", "court_opinion"),
    # a one-page order to file a statement by a date: described as what it is, not asked for a
    # holding it does not have
    (DOCUMENTS / "court-order-ca7.pdf", "notice"),
    (DOCUMENTS / "contract-service-reynolds.pdf", "contract"),
    (DOCUMENTS / "nda-mutual-bonterms.docx", "contract"),
])
def test_detection_on_real_documents(path: Path, expected: str) -> None:
    doc = load_document(path)
    assert detect_template(doc.text, load_templates()).name == expected


def test_detection_says_which_kind_was_assumed_and_why() -> None:
    order = load_document(DOCUMENTS / "court-order-ca7.pdf")
    template, note = detect_kind(order.text, load_templates(), order.page_count)
    assert template.name == "notice"
    assert "notice or procedural order" in note and "“orders the”" in note
    opinion = load_document(DOCUMENTS / "court-opinion-ca1.pdf")
    template, note = detect_kind(opinion.text, load_templates(), opinion.page_count)
    assert template.name == "court_opinion" and "court opinion" in note


def test_detection_on_a_real_bill() -> None:
    rows = [json.loads(line) for line in
            (FIXTURES / "reference" / "us-bills-crs-2.jsonl").read_text().splitlines()]
    assert detect_template(rows[1]["text"], load_templates()).name == "legislation"


def test_plain_prose_stays_general() -> None:
    prose = "We walked to the market and bought apples, bread and cheese for lunch. " * 20
    assert detect_template(prose, load_templates()).name == "general"


def test_user_template_overrides_builtin(lexbrief_home: Path) -> None:
    folder = lexbrief_home / "prompts"
    folder.mkdir(parents=True)
    builtin = load_templates()["contract"].source.read_text(encoding="utf-8")
    (folder / "contract.toml").write_text(builtin.replace('label = "Contract or agreement"',
                                                          'label = "Our firm contract"'))
    assert load_templates()["contract"].label == "Our firm contract"


def test_broken_user_template_is_a_clear_error(lexbrief_home: Path) -> None:
    folder = lexbrief_home / "prompts"
    folder.mkdir(parents=True)
    (folder / "lease.toml").write_text('name = "lease"\nlabel = "Lease"\nsystem = "x"\n'
                                       'map = "no placeholder"\ncondense = "{notes}"\n'
                                       'final = "{material}"\n')
    with pytest.raises(UserFacingError, match="must contain"):
        load_templates()
    (folder / "lease.toml").write_text("name = [unclosed")
    with pytest.raises(UserFacingError, match="cannot be read"):
        load_templates()
