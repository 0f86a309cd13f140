"""The catalog rated on this machine, shared by `lexbrief models` and the window's Models tab:
which catalog models are installed, which one is active, how each fits this computer."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from lexbrief.errors import UserFacingError


def active_model_path() -> Path | None:
    from lexbrief.model_files.resolve import resolve_model

    try:
        return resolve_model().path.resolve()
    except UserFacingError:
        return None


def installed_catalog_ids() -> dict[str, Path]:
    """Catalog ids that are on this machine (downloaded, imported, or the bundled starter)."""
    from lexbrief.model_files.catalog import load_catalog
    from lexbrief.model_files.installed import load_installed
    from lexbrief.model_files.resolve import STARTER_FILE, starter_model_path

    found: dict[str, Path] = {}
    for model in load_installed().values():
        if model.catalog_id and model.path.is_file():
            found[model.catalog_id] = model.path
    starter = starter_model_path()
    if starter:
        for entry in load_catalog().values():
            if entry.file == STARTER_FILE:
                found.setdefault(entry.id, starter)
    return found


def rate_catalog(context: int | None = None) -> tuple[Any, Any, bool, int | None]:
    """(hardware, recommendation, GPU offload possible, context planned for): `context` None
    plans for the settings' context length."""
    from lexbrief.machine import detect_hardware
    from lexbrief.model_files.catalog import load_catalog
    from lexbrief.model_files.fit import ModelShape, llama_gpu_offload, recommend
    from lexbrief.model_files.gguf_info import read_gguf_info
    from lexbrief.settings import load_settings

    hw = detect_hardware()
    offload = llama_gpu_offload()
    context = context or load_settings().context_length or None
    catalog = load_catalog()
    installed = installed_catalog_ids()
    shapes = {}  # an installed file's own header beats a catalog entry without a shape
    for model_id, path in installed.items():
        if not catalog[model_id].has_shape:
            with contextlib.suppress(UserFacingError):
                shapes[model_id] = ModelShape.from_gguf(read_gguf_info(path))
    rec = recommend(catalog.values(), hw, context=context, gpu_offload=offload,
                    installed=installed, shapes=shapes)
    return hw, rec, offload, context


def machine_text(hw: Any, offload: bool) -> str:
    gpu = hw.best_gpu
    gpu_text = (f"{gpu.name} {gpu.memory_free / 1e9:.1f} GB free"
                + ("" if offload else ", unused: llama.cpp built for CPU only")) if gpu \
        else "no GPU"
    return (f"{hw.cpu.physical_cores} CPU cores, {hw.memory.available / 1e9:.1f} of "
            f"{hw.memory.total / 1e9:.1f} GB RAM available, {gpu_text}")
