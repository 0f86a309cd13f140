"""The curated catalog (models/catalog.toml) and the user's own catalog file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lexbrief.model_files.catalog import CatalogError, find_entry, load_catalog, user_catalog_path
from lexbrief.model_files.installed import hash_file


def test_the_curated_catalog_is_complete_and_consistent() -> None:
    catalog = load_catalog()
    assert len(catalog) >= 10
    for entry in catalog.values():
        assert entry.name and re.match(r"^[\w.-]+/[\w.-]+$", entry.repo), entry.id
        assert entry.file.lower().endswith(".gguf") and entry.revision
        assert entry.size > 0 and entry.parameters > 0 and entry.quantization
        assert entry.context_length >= 8192 and entry.license and entry.good_at
        assert entry.min_ram_gb > 0 and 1 <= entry.rank <= 10
        assert entry.has_shape, entry.id
        assert entry.sha256 == "" or re.match(r"^[0-9a-f]{64}$", entry.sha256)
    # The families the issue asks for, and the gated ones marked.
    ids = " ".join(catalog)
    for family in ("qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "llama-3.2-1b", "llama-3.2-3b",
                   "phi-3.5-mini", "gemma-3-1b", "gemma-3-4b", "smollm2-1.7b", "saul-7b",
                   "qwen3-4b-instruct-2507", "phi-4-mini", "granite-4.0-micro"):
        assert family in ids
    # gated: the licence-holders' own repositories (Google's); community conversions of
    # Llama (hugging-quants) are not, and permissive licences never are
    for entry in catalog.values():
        assert entry.gated == entry.repo.startswith(("google/", "meta-llama/")), entry.id
    assert not any(e.gated for e in catalog.values() if e.license in ("apache-2.0", "mit"))
    # a pinned sha256 goes with a pinned commit, or a new upload on the branch breaks it
    for entry in catalog.values():
        if entry.sha256 and entry.id != "smollm2-135m-instruct-q4_1":
            assert re.match(r"^[0-9a-f]{40}$", entry.revision), entry.id


def test_the_starter_hash_in_the_catalog_is_the_real_file(starter_model: Path) -> None:
    starter = next(e for e in load_catalog().values() if e.file == starter_model.name)
    assert starter.size == starter_model.stat().st_size
    assert hash_file(starter_model) == starter.sha256


def test_user_entries_add_to_and_replace_curated_ones() -> None:
    user_catalog_path().write_text(
        '[[model]]\nid = "my-model"\nname = "Mine"\nrepo = "me/mine-GGUF"\nfile = "m.gguf"\n'
        'size = 1000\nfuture_field = "ignored"\n\n'
        '[[model]]\nid = "qwen2.5-1.5b-instruct-q4_k_m"\nname = "Pinned Qwen"\n'
        'repo = "Qwen/Qwen2.5-1.5B-Instruct-GGUF"\nfile = "qwen2.5-1.5b-instruct-q8_0.gguf"\n',
        encoding="utf-8")
    catalog = load_catalog()
    assert catalog["my-model"].source == str(user_catalog_path())
    assert catalog["qwen2.5-1.5b-instruct-q4_k_m"].name == "Pinned Qwen"
    assert find_entry("MY-MODEL").repo == "me/mine-GGUF"


@pytest.mark.parametrize("text, problem", [
    ("[[model]]\nid = \"x\"\nname = \"X\"\n", "lacks repo, file"),
    ("[[model]]\nid = \"Bad Id\"\nname = \"X\"\nrepo = \"a/b\"\nfile = \"f.gguf\"\n",
     "lowercase"),
    ("[[model]]\nid = \"x\"\nname = \"X\"\nrepo = \"a/b\"\nfile = \"f.gguf\"\nsize = \"big\"\n",
     "'size' of model 'x' should be a int"),
    ("[[model]]\nid = \"x\"\nname = \"X\"\nrepo = \"a/b\"\nfile = \"f.gguf\"\nsha256 = \"abc\"\n",
     "64 hex digits"),
    ("[[model]\n", "not valid TOML"),
])
def test_a_broken_user_catalog_is_a_clear_error(text: str, problem: str) -> None:
    user_catalog_path().write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=re.escape(problem)):
        load_catalog()


def test_unknown_id_suggests_close_ones() -> None:
    from lexbrief.errors import UserFacingError

    with pytest.raises(UserFacingError, match=r"Did you mean: qwen2\.5-1\.5b"):
        find_entry("qwen2.5-1.5b")
