"""Importing GGUF files from disk: the real starter model, and copies that are truncated,
renamed or not models at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lexbrief.model_files.gguf_info import InvalidModelFile, check_header, read_gguf_info
from lexbrief.model_files.importer import import_model
from lexbrief.model_files.installed import load_installed, remove_installed
from lexbrief.model_files.resolve import installed_models_dir

from conftest import DOCUMENTS

STARTER_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def cli(*argv: str) -> int:
    """The CLI in this process; its log file is closed after each command."""
    import logging

    from lexbrief.ui.cli.main import main

    try:
        return main(list(argv))
    finally:
        logger = logging.getLogger("lexbrief")
        for handler in logger.handlers:
            handler.close()
        logger.handlers.clear()  # a closed FileHandler reopens its file on the next record


def _head(source: Path, target: Path, length: int) -> Path:
    with open(source, "rb") as src, open(target, "wb") as dst:
        dst.write(src.read(length))
    return target


def test_metadata_of_the_starter_without_loading_weights(starter_model: Path) -> None:
    info = read_gguf_info(starter_model)
    assert (info.architecture, info.quantization, info.version) == ("llama", "Q4_1", 3)
    assert 130e6 < info.parameters < 140e6 and info.size_label == "135M"
    assert info.context_length == 8192
    assert (info.n_layers, info.n_embd, info.n_head, info.n_head_kv) == (30, 576, 9, 3)
    assert (info.head_dim_k, info.head_dim_v, info.n_vocab) == (64, 64, 49152)
    assert info.has_chat_template and "<|im_start|>" in info.chat_template
    assert info.data_end == info.size == starter_model.stat().st_size
    assert 90e6 < info.weights_bytes <= info.size
    # Cached: a second read is the same object's data without parsing.
    assert read_gguf_info(starter_model) == info


def test_import_copies_verifies_and_registers(starter_model: Path) -> None:
    model, info = import_model(starter_model)
    assert model.path == installed_models_dir() / starter_model.name
    assert model.sha256 == STARTER_SHA and model.source == "import"
    assert model.catalog_id == "smollm2-135m-instruct-q4_1"  # recognised by its sha256
    assert model.id == "smollm2-135m-instruct-q4_1"
    assert info.architecture == "llama"
    assert load_installed()[model.id] == model
    assert list((installed_models_dir() / ".partial").iterdir()) == []
    # The same bytes again: nothing new.
    again, _ = import_model(starter_model)
    assert again == model and len(load_installed()) == 1


def test_a_gguf_under_another_name_is_accepted_by_its_content(starter_model: Path,
                                                              tmp_path: Path) -> None:
    renamed = tmp_path / "usb" / "contract-model.bin"
    renamed.parent.mkdir()
    shutil.copyfile(starter_model, renamed)
    model, _ = import_model(renamed, keep_in_place=True)
    assert model.path == renamed.resolve() and not model.managed
    remove_installed(model.id)
    assert renamed.exists()  # registered in place: removing forgets it, never deletes it


@pytest.mark.parametrize("length", [50_000_000, 1_000_000, 100])
def test_truncated_copies_are_refused(starter_model: Path, tmp_path: Path, length: int) -> None:
    cut = _head(starter_model, tmp_path / "cut.gguf", length)
    with pytest.raises(InvalidModelFile, match=r"truncated|damaged"):
        import_model(cut)
    assert load_installed() == {}
    assert not (installed_models_dir() / "cut.gguf").exists()


def test_a_pdf_renamed_to_gguf_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    shutil.copyfile(DOCUMENTS / "court-opinion-ca1.pdf", fake)
    with pytest.raises(InvalidModelFile, match="not a GGUF model file"):
        import_model(fake)


def test_tiny_and_missing_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "tiny.gguf").write_bytes(b"GGU")
    with pytest.raises(InvalidModelFile, match="only 3 bytes"):
        check_header(tmp_path / "tiny.gguf")
    with pytest.raises(InvalidModelFile, match="not found"):
        import_model(tmp_path / "absent.gguf")
    with pytest.raises(InvalidModelFile, match="is a folder"):
        import_model(tmp_path)


def test_unsupported_gguf_version_is_refused(starter_model: Path, tmp_path: Path) -> None:
    old = _head(starter_model, tmp_path / "old.gguf", 4096)
    with open(old, "r+b") as f:
        f.seek(4)
        f.write((1).to_bytes(4, "little"))
    with pytest.raises(InvalidModelFile, match="GGUF version 1"):
        import_model(old)


def test_cli_import_and_use(starter_model: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from lexbrief.settings import load_settings

    assert cli("models", "import", str(starter_model), "--use") == 0
    out = capsys.readouterr().out
    assert "llama" in out and "Q4_1" in out and "chat template: yes" in out
    assert "CPU only" in out or "GPU" in out
    assert load_settings().active_model == str(installed_models_dir() / starter_model.name)
    cut = _head(starter_model, tmp_path / "cut.gguf", 1_000_000)
    assert cli("models", "import", str(cut)) == 4
    assert "truncated" in capsys.readouterr().err
    assert cli("models", "use", "starter") == 0
    assert load_settings().active_model == ""
