"""Loading a model in-process: llama.cpp with the hardware plan's GPU offload and this
machine's calibration of the model (service.calibration)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lexbrief.engine.contract import Engine
from lexbrief.model_files.resolve import ResolvedModel
from lexbrief.service.calibration import Tuning, model_tuning
from lexbrief.service.calibration import tuning as tuning_from
from lexbrief.settings import load_settings
from lexbrief.store import Store

log = logging.getLogger(__name__)


def llama_engine(model: ResolvedModel, tuning: Tuning | None = None) -> Engine:
    """The model in-process, with this machine's calibration of it (threads, flash attention,
    batch; `tuning`, else read from the store) where the settings leave the choice."""
    from lexbrief.engine.llama_cpp.engine import LlamaCppEngine
    from lexbrief.errors import ModelError
    from lexbrief.model_files.fit import decide_offload
    from lexbrief.settings import GPU_LAYERS_AUTO

    settings = load_settings()
    if tuning is None:
        tuning = stored_tuning(model.path, settings)
    log.info("engine knobs for %s: %s", model.path.name, tuning.describe())
    context = settings.context_length or None
    knobs = {"threads": tuning.threads, "batch_size": tuning.batch_size,
             "flash_attn": tuning.flash_attn}

    def load(gpu_layers: int) -> Engine:
        engine = LlamaCppEngine(model.path, context_length=context, gpu_layers=gpu_layers,
                                **knobs)  # type: ignore[arg-type]
        engine.info.extra["tuning"] = tuning.describe()
        if tuning.calibration is not None:
            engine.info.extra["tuning_reasons"] = "\n".join(
                tuning.calibration.details.get("reasons", []))
        return engine

    if settings.gpu_layers != GPU_LAYERS_AUTO:  # set by the user: used as it is
        return load(settings.gpu_layers)
    # Automatic: the hardware plan (lexbrief.model_files.fit) decides what goes to the GPU.
    try:
        decision = decide_offload(model.path, context=context)
        gpu_layers, reason = decision.gpu_layers, decision.reason
    except (ModelError, OSError, ValueError) as exc:
        gpu_layers, reason = 0, f"runs on the CPU because the offload plan failed ({exc})"
    log.info("offload plan for %s: %d GPU layers; %s", model.path.name, gpu_layers, reason)
    if gpu_layers:
        try:
            engine = load(gpu_layers)
            engine.info.offload_note = reason
            return engine
        except ModelError as exc:
            reason = (f"runs on the CPU because loading with {gpu_layers} GPU layers failed "
                      f"({exc.message})")
            log.warning("%s: %s", model.path.name, reason)
    engine = load(0)
    engine.info.offload_note = reason
    return engine


def stored_tuning(path: Path, settings: Any = None) -> Tuning:
    """This machine's calibration of `path` from the store (the defaults when the store cannot
    be read: a calibration is an optimization, never a reason not to summarize)."""
    from lexbrief.errors import StorageError

    settings = settings or load_settings()
    try:
        store = Store()
    except StorageError as exc:
        log.warning("calibration not read (%s): defaults", exc.message)
        return tuning_from(None, settings)
    try:
        return model_tuning(store, path, settings)
    except (StorageError, OSError) as exc:
        log.warning("calibration not read (%s): defaults", exc)
        return tuning_from(None, settings)
    finally:
        store.close()
