"""The engine's machine-dependent knobs (issue 17): threads, flash attention, batch size and the
parallel map's width, from this machine's calibration of the model when there is one
(`lexbrief bench --calibrate`), else the defaults; a value the user set in settings.toml wins.

Calibration is not run by itself before a first summary: the defaults work, the gain is a few
percent to a few tens of percent, and a 20-second measurement in the middle of someone's work
(on a machine that may be busy with something else, which would also spoil the measurement) is
a surprise. The CLI and the window say the model is not calibrated, and how to do it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lexbrief.engine.contract import GenerationParams
from lexbrief.settings import Settings, load_settings
from lexbrief.store import Store
from lexbrief.store.calibration import CalibrationRecord, load_calibration, save_calibration
from lexbrief.store.sqlite_errors import storage_errors

log = logging.getLogger(__name__)

DEFAULT_BATCH = 512
DEFAULT_PARALLEL = 4
CALIBRATE_HINT = "`lexbrief bench --calibrate` measures the fastest settings (about 20 s)"


@functools.cache
def machine_key() -> str:
    """This computer as far as speed goes: CPU, cores, memory, and the llama.cpp build."""
    from importlib.metadata import PackageNotFoundError, version

    from lexbrief.machine import detect_cpu, detect_memory

    cpu, memory = detect_cpu(), detect_memory()
    try:
        binding = version("llama_cpp_python")
    except PackageNotFoundError:
        binding = "unknown"
    return (f"{cpu.model} | {cpu.physical_cores} cores / {cpu.logical_cores} threads "
            f"| {round(memory.total / 2**30)} GiB | llama-cpp-python {binding}")


@dataclass(frozen=True)
class Tuning:
    """What the engine is loaded with, and why (shown by `lexbrief bench --calibrate`, the
    Models tab, and logged)."""

    threads: int | None  # None: physical cores
    flash_attn: bool | None  # None: llama.cpp decides ("auto")
    batch_size: int
    parallel_map: int
    calibration: CalibrationRecord | None  # this machine's, when there is one
    notes: tuple[str, ...] = ()  # which values came from settings.toml

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None

    @property
    def source(self) -> str:
        if self.calibration is None:
            return f"defaults (this model is not calibrated on this machine: {CALIBRATE_HINT})"
        text = f"calibrated here on {self.calibration.created[:10]}"
        return text + (f"; {', '.join(self.notes)}" if self.notes else "")

    def describe(self) -> str:
        flash = {None: "auto", True: "on", False: "off"}[self.flash_attn]
        threads = f"{self.threads} threads" if self.threads else "threads: physical cores"
        return (f"{threads}, flash attention {flash}, "
                f"batch {self.batch_size}, {self.parallel_map} excerpt(s) at once — "
                f"{self.source}")


def tuning(calibration: CalibrationRecord | None, settings: Settings) -> Tuning:
    """The calibration's values where the settings leave the choice (0 / "auto")."""
    notes = []
    threads: int | None = settings.threads or None
    flash: bool | None = {"on": True, "off": False}.get(settings.flash_attn)
    batch = settings.batch_size or DEFAULT_BATCH
    parallel = settings.parallel_map or DEFAULT_PARALLEL
    if calibration is not None:
        if settings.threads:
            notes.append(f"threads {settings.threads} from settings.toml")
        else:
            threads = calibration.threads
        if flash is not None:
            notes.append(f"flash attention {settings.flash_attn} from settings.toml")
        else:
            flash = calibration.flash_attn
        if settings.batch_size:
            notes.append(f"batch {settings.batch_size} from settings.toml")
        else:
            batch = calibration.batch_size
        if settings.parallel_map:
            notes.append(f"{settings.parallel_map} excerpt(s) at once from settings.toml")
        else:
            parallel = calibration.parallel
    return Tuning(threads, flash, batch, max(1, parallel), calibration, tuple(notes))


def model_tuning(store: Store, path: Path, settings: Settings | None = None) -> Tuning:
    """The tuning for `path` on this machine (hashes the file once; the store remembers)."""
    settings = settings or load_settings()
    record = load_calibration(store, store.model_sha256(path), machine_key())
    return tuning(record, settings)


def map_writing_params() -> GenerationParams:
    """How the map step samples (its settings and its notes grammar): what the calibration
    measures the parallel width with."""
    from lexbrief.summarize.notes import NOTES_GRAMMAR
    from lexbrief.summarize.pipeline import PipelineSettings

    return dataclasses.replace(PipelineSettings().sampling, grammar=NOTES_GRAMMAR)


def calibrate_model(store: Store, path: Path, *, budget_seconds: float = 20.0,
                    gpu_layers: int | None = None, log_line: Callable[[str], None] = log.info
                    ) -> CalibrationRecord:
    """Measure the knobs for `path` here (within `budget_seconds`) and keep the best; with the
    GPU layers the summaries will use (`gpu_layers` None: the settings', else the plan's)."""
    from lexbrief.engine.llama_cpp.calibrate import Calibrator
    from lexbrief.errors import ModelError
    from lexbrief.model_files.estimate import CONTRACT_READ_TOKENS, CONTRACT_WRITTEN_TOKENS
    from lexbrief.model_files.fit import decide_offload
    from lexbrief.settings import GPU_LAYERS_AUTO

    if gpu_layers is None:
        gpu_layers = load_settings().gpu_layers
        if gpu_layers == GPU_LAYERS_AUTO:
            try:
                gpu_layers = decide_offload(path).gpu_layers
            except (ModelError, OSError, ValueError):
                gpu_layers = 0

    from lexbrief.service.turn import model_turn

    sha256 = store.model_sha256(path)
    try:
        # Measured while another LexBrief process runs a model, the knobs would be wrong.
        with model_turn(store.path.parent, what=f"calibrating {path.name}",
                        waiting=log_line), \
                Calibrator(path, gpu_layers=gpu_layers, read_tokens=CONTRACT_READ_TOKENS,
                           written_tokens=CONTRACT_WRITTEN_TOKENS,
                           writing_params=map_writing_params()) as calibrator:
            found = calibrator.search(budget_seconds=budget_seconds, log=log_line)
    except (ValueError, RuntimeError) as exc:  # not a GGUF llama.cpp can run, or no memory
        raise ModelError(f"{path.name} cannot be calibrated: {exc}") from exc
    best = found.best
    record = CalibrationRecord(
        model_sha256=sha256, machine=machine_key(), threads=best.knobs.threads,
        flash_attn=best.knobs.flash_attn, batch_size=best.knobs.batch_size,
        parallel=best.knobs.width, reading_tps=best.reading_tps,
        writing_tps=best.writing_tps,
        details={**found.as_dict(), "model": path.name, "gpu_layers": gpu_layers})
    save_calibration(store, record)
    return load_calibration(store, sha256, record.machine) or record


Speeds = tuple[float, float, int]  # reading tok/s, writing tok/s, runs (0: the calibration)


def measured_speeds(store: Store, path: Path) -> Speeds | None:
    """How fast `path` reads and writes on this computer, measured: its summaries' rates in
    the cost ledger once it has run here, else its calibration's; None: never measured here.
    The one source of the Models tab's measured 50-page time and of the progress ETA."""
    from lexbrief.model_files.estimate import measured_rates

    with storage_errors(store.path):
        ledger = measured_rates(store.db, path.name)
    if ledger is not None:
        return ledger
    sha256 = store.known_model_sha256(path)  # a calibrated file has been hashed
    record = load_calibration(store, sha256, machine_key()) if sha256 else None
    if record is None:
        return None
    return record.reading_tps, record.writing_tps, 0
