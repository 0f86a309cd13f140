"""One place that turns a file into a stored summary, for the CLI and the window alike.

Loads the model once and reuses it for every document. Writes nothing until a summary is
complete; a failure or a cancel leaves the database as it was.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexbrief.cancel import NEVER, CancelToken
from lexbrief.costs.compare import CostComparison
from lexbrief.engine.contract import Engine
from lexbrief.engine.server.client import ServerConfig
from lexbrief.errors import UserFacingError
from lexbrief.machine.telemetry.run import RunRecord
from lexbrief.model_files.resolve import ResolvedModel, resolve_model
from lexbrief.read import Limits, load_document
from lexbrief.read.document import Document
from lexbrief.read.ocr import OcrOptions, OcrProgress
from lexbrief.service.accounting import Accountant
from lexbrief.service.calibration import DEFAULT_PARALLEL, Tuning, model_tuning
from lexbrief.service.calibration import tuning as tuning_from
from lexbrief.service.engines import llama_engine
from lexbrief.service.server import SERVER_SPEC, is_server_spec, server_config, server_spec
from lexbrief.service.turn import model_turn
from lexbrief.settings import load_settings
from lexbrief.store import DocumentRecord, Store, SummaryRecord
from lexbrief.summarize.pipeline import Observer, Pipeline, PipelineSettings, Progress, Summary
from lexbrief.summarize.templates import Template, detect_kind, load_templates

log = logging.getLogger(__name__)

EngineFactory = Callable[[ResolvedModel], Engine]


def server_record(engine: Engine) -> dict[str, str]:
    """A server run's parameters: where, which served model, its fingerprint (no key)."""
    extra = engine.info.extra
    if "server_url" not in extra:
        return {}
    return {"server_url": extra["server_url"], "server_kind": extra["server_kind"],
            "served_model": extra["served_model"], "model_fingerprint": extra["fingerprint"],
            "server_build": extra.get("build", "")}


def grounding_record(summary: Summary) -> dict[str, Any]:
    """What the store keeps beside the text to show how the summary was checked."""
    return {"kind_note": summary.kind_note, "template": summary.template.name,
            "abstract": summary.abstract.as_dict(),
            "abstract_fields": [[f.name, f.label] for f in summary.abstract.fields],
            "rejected": [r.as_dict() for r in summary.rejected],
            "overview_check": {**summary.overview_counts,
                               "sentences": [c.as_dict() for c in summary.overview_checks]},
            "draft": summary.draft}


def document_record(document: Document) -> DocumentRecord:
    """The document as the store keeps it."""
    return DocumentRecord(sha256=document.sha256, name=document.name,
                          path=str(document.path.resolve()), kind=document.kind,
                          title=document.title, pages=document.page_count,
                          pagination=document.pagination, size=document.size)


def summary_record(summary: Summary, *, model_name: str, model_sha256: str | None,
                   parameters: dict[str, Any], load_seconds: float,
                   matter: str | None = None) -> SummaryRecord:
    """The pipeline's `Summary` as the store keeps it (lexbrief.store.records tells the three
    summary types apart): its text, shown points, coverage, grounding audit and usage, with
    the model and the run's parameters."""
    return SummaryRecord(
        model_name=model_name, model_sha256=model_sha256, template=summary.template.name,
        parameters=parameters, text=summary.text,
        citations=[p.as_dict() for p in summary.points], coverage=summary.coverage.as_dict(),
        grounding=grounding_record(summary), prompt_tokens=summary.usage.prompt_tokens,
        completion_tokens=summary.usage.completion_tokens, load_seconds=load_seconds,
        prompt_seconds=summary.usage.prompt_seconds,
        generation_seconds=summary.usage.generation_seconds,
        wall_seconds=summary.wall_seconds, matter=matter)


@dataclass(frozen=True)
class ModelRef:
    """The model a summary is made with, as stored and shown: a GGUF file here, or a model on
    a server (`spec` is then `server:<url>`, `sha256` the server's fingerprint)."""

    name: str  # the file's name, or the served model's
    spec: str  # the file's path, or server:<url> (what a queue job records)
    source: str  # "--model", "active model", "embedded", "starter", "server"
    sha256: str = ""  # filled once known (hashing a file takes a moment)


@dataclass
class Outcome:
    """A run's result for its caller (CLI, window): the pipeline's `Summary` as made (live
    spans and all), the id of the `StoredSummary` it was saved as, the model, and what the
    hardware did and cost. `lexbrief.store.records` tells the summary types apart."""

    summary_id: int
    summary: Summary
    model: ModelRef
    model_sha256: str
    reader: ModelRef | None = None  # the model that read the document, when not `model`
    # What the hardware did and what it cost (lexbrief.machine.telemetry / lexbrief.costs).
    run: RunRecord | None = None
    cost: CostComparison | None = None
    cost_error: str | None = None  # why `cost` is missing (e.g. a malformed pricing.toml)

    def as_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "id": self.summary_id,
            "document": {"name": s.document.name, "pages": s.document.page_count,
                         "sha256": s.document.sha256, "kind": s.document.kind,
                         "title": s.document.title, "pagination": s.document.pagination},
            "template": s.template.name,
            "kind_note": s.kind_note,
            "summary": s.text,
            "overview": s.overview,
            "overview_check": {**s.overview_counts,
                               "sentences": [c.as_dict() for c in s.overview_checks]},
            "key_points": [p.as_dict() for p in s.points],
            "abstract": s.abstract.as_dict(),
            "rejected_notes": [r.as_dict() for r in s.rejected],
            "citations": s.cited_pages,
            "coverage": s.coverage.as_dict(),
            "usage": {
                "prompt_tokens": s.usage.prompt_tokens,
                "completion_tokens": s.usage.completion_tokens,
                "cached_prompt_tokens": s.usage.cached_prompt_tokens,
                "seconds": round(s.wall_seconds, 3),
                "prompt_seconds": round(s.usage.prompt_seconds, 3),
                "generation_seconds": round(s.usage.generation_seconds, 3),
                "prompt_tokens_per_second": round(s.usage.prompt_tokens_per_second, 1),
                "generation_tokens_per_second": round(s.usage.generation_tokens_per_second, 1),
            },
            "reader_model": ({"name": self.reader.name, "sha256": self.reader.sha256}
                             if self.reader else None),
            "model": {"name": self.model.name, "sha256": self.model_sha256,
                      "source": self.model.source,
                      **({"server": self.model.spec.removeprefix(SERVER_SPEC)}
                         if self.model.source == "server" else {})},
            "hardware": self.run.as_dict() if self.run else None,
            "cost": (self.cost.as_dict() if self.cost
                     else {"error": self.cost_error} if self.cost_error else None),
        }


def ocr_options(mode: str, observer: Observer | None, cancel: CancelToken) -> OcrOptions:
    """OCR while loading, its page-by-page progress told to the observer (stage "ocr"), on as
    many threads as the `threads` setting gives llama.cpp (0: the physical cores). OCR and
    llama.cpp never compute at once: a document is read (and OCR'd) before the model starts on
    it, one document at a time (docs/BENCHMARKS.md measures what sharing the cores would cost).
    """

    def progress(p: OcrProgress) -> None:
        if observer is not None:
            source = "from the cache" if p.cached else "recognized"
            observer.progress(Progress(
                stage="ocr", step=p.done, total=p.total, eta_seconds=p.eta_seconds,
                message=f"OCR of scanned page {p.page} {source} ({p.done} of {p.total})"))

    return OcrOptions(mode=mode, progress=progress, cancel=cancel,
                      threads=max(0, load_settings().threads))


class Summarizer:
    def __init__(self, store: Store, *, model: str | None = None,
                 engine_factory: EngineFactory | None = None,
                 pipeline_settings: PipelineSettings | None = None,
                 sampler: Any = None, server: ServerConfig | None = None,
                 reader_model: str | None = None) -> None:
        """`model`: a GGUF path, or a `server:<url>` spec; `server`: summarize on that server
        (a spec without one reads the [server] settings and the key from the environment).
        `reader_model`: a smaller GGUF that reads the document (the map step) while `model`
        writes the overview (issue 17); default: the settings' reader_model, else none ("":
        none). `engine_factory`: default, llama.cpp in-process with this machine's calibration
        of each model (service.calibration), which also sets the parallel map's width."""
        self.store = store
        self.sampler = sampler  # a running telemetry Sampler to share (the window's), or None
        if server is None and is_server_spec(model):
            server = server_config(model)
        self.server = server
        self._engine: Engine | None = None
        self._model_sha256: str | None = None
        if server is not None:
            from lexbrief.engine.server.engine import ServerEngine

            engine = ServerEngine(server)  # asks the server now: unreachable = exit 4 here
            self._engine = engine
            self._model_sha256 = engine.info.extra["fingerprint"]
            self.model = ModelRef(engine.info.name, server_spec(server.url), "server",
                                  self._model_sha256)
            self._resolved: ResolvedModel | None = None
        else:
            self._resolved = resolve_model(model)
            self.model = ModelRef(self._resolved.path.name, str(self._resolved.path),
                                  self._resolved.source)
        self._engine_factory = engine_factory
        user = load_settings()
        reader_model = user.reader_model if reader_model is None else reader_model
        self._reader_resolved = resolve_model(reader_model) if reader_model and not server \
            else None
        self.reader = (ModelRef(self._reader_resolved.path.name,
                                str(self._reader_resolved.path), "reader")
                       if self._reader_resolved else None)
        self._reader_engine: Engine | None = None
        self.last_checkpoints: Any = None  # the last run's StoreCheckpoints (counts, overhead)
        self.templates = load_templates()
        self._width_given = pipeline_settings is not None
        self.pipeline_settings = pipeline_settings or PipelineSettings(
            max_chunk_tokens=user.max_chunk_tokens,
            parallel_map=max(1, user.parallel_map or DEFAULT_PARALLEL))
        # The engines' knobs, once loaded by the default factory (None: a given factory)
        self.tuning: Tuning | None = None
        self.reader_tuning: Tuning | None = None

    def _tuning(self, path: Path) -> Tuning:
        from lexbrief.errors import StorageError

        settings = load_settings()
        try:
            return model_tuning(self.store, path, settings)
        except (StorageError, OSError) as exc:
            log.warning("calibration of %s not read (%s): defaults", path.name, exc)
            return tuning_from(None, settings)

    def _speeds(self, resolved: ResolvedModel | None) -> tuple[float, float] | None:
        """The model's reading and writing speeds measured here (its summaries, else its
        calibration: the Models tab's source too), for the time left; None: not measured."""
        from lexbrief.errors import StorageError
        from lexbrief.service.calibration import measured_speeds

        if resolved is None:
            return None
        try:
            found = measured_speeds(self.store, resolved.path)
        except StorageError as exc:
            log.warning("speeds of %s not read (%s)", resolved.path.name, exc.message)
            return None
        return (found[0], found[1]) if found else None

    def _load(self, resolved: ResolvedModel, reader: bool = False) -> Engine:
        if self._engine_factory is not None:
            return self._engine_factory(resolved)
        chosen = self._tuning(resolved.path)
        if reader:
            self.reader_tuning = chosen
        else:
            self.tuning = chosen
        # The map step runs on the reader when there is one: its width is the reader's.
        if not self._width_given and (reader or self._reader_resolved is None):
            self.pipeline_settings = dataclasses.replace(
                self.pipeline_settings, parallel_map=chosen.parallel_map)
        return llama_engine(resolved, chosen)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            assert self._resolved is not None  # a server engine is made in __init__
            self._engine = self._load(self._resolved)
        return self._engine

    @property
    def reader_engine(self) -> Engine | None:
        """The reading model's engine, loaded once beside the writer's; None: one model."""
        if self._reader_resolved is not None and self._reader_engine is None:
            self._reader_engine = self._load(self._reader_resolved, reader=True)
        return self._reader_engine

    def _reader_record(self) -> dict[str, Any]:
        if self.reader is None or self._reader_engine is None:
            return {}
        info = self._reader_engine.info
        return {"reader_model": self.reader.name, "reader_model_sha256": self.reader.sha256,
                "reader_context_length": info.context_length, "reader_threads": info.threads}

    def template(self, name: str, document: Document) -> tuple[Template, str]:
        """The template to use, and the sentence saying which kind of document was assumed."""
        if name == "auto":
            return detect_kind(document.text, self.templates, document.page_count)
        if name not in self.templates:
            raise UserFacingError(
                f"unknown template '{name}'; choose one of: auto, {', '.join(self.templates)}"
            )
        chosen = self.templates[name]
        return chosen, f"Read as: {chosen.label.lower()} (chosen by you)."

    def summarize(self, path: Path, *, template: str = "auto", password: str | None = None,
                  observer: Observer | None = None, cancel: CancelToken = NEVER,
                  limits: Limits = Limits(), job: tuple[int, str] | None = None,
                  ocr: str | None = None, matter: str | None = None) -> Outcome:
        document = load_document(path, password=password, limits=limits,
                                 ocr=ocr_options(ocr or load_settings().ocr, observer, cancel))
        return self.summarize_document(document, template=template, observer=observer,
                                       cancel=cancel, job=job, matter=matter)

    @property
    def model_sha256(self) -> str:
        """The writer's sha256; with a reading model, both: `writer+reader` (the map notes and
        the stored summary depend on both, so history and checkpoints match both)."""
        if self._model_sha256 is None:
            assert self._resolved is not None
            digest = self.store.model_sha256(self._resolved.path)
            self.model = dataclasses.replace(self.model, sha256=digest)
            if self._reader_resolved is not None:
                reader = self.store.model_sha256(self._reader_resolved.path)
                assert self.reader is not None
                self.reader = dataclasses.replace(self.reader, sha256=reader)
                digest = f"{digest}+{reader}"
            self._model_sha256 = digest
        return self._model_sha256

    def summarize_document(self, document: Document, *, template: str = "auto",
                           observer: Observer | None = None,
                           cancel: CancelToken = NEVER,
                           job: tuple[int, str] | None = None,
                           matter: str | None = None) -> Outcome:
        """`job` (id, lease owner): the queue job this run is, marked done with the summary.
        `matter`: the client matter the summary and its cost are filed under.
        Finished map steps are checkpointed; a resumed run reuses them. A local model takes
        its turn first (service.turn): a document another LexBrief process is summarizing
        on the same data folder finishes before this one starts."""
        if self.server is not None:
            return self._summarize_document(document, template=template, observer=observer,
                                            cancel=cancel, job=job, matter=matter)

        def waiting(message: str) -> None:
            log.info("%s: %s", document.name, message)
            if observer is not None:
                observer.progress(Progress("waiting", 0, 0, message))

        with model_turn(self.store.path.parent, what=f"summarizing {document.name}",
                        cancel=cancel, waiting=waiting) as waited:
            if waited >= 1:
                log.info("%s: had its turn after %.1f s", document.name, waited)
            return self._summarize_document(document, template=template, observer=observer,
                                            cancel=cancel, job=job, matter=matter)

    def _summarize_document(self, document: Document, *, template: str,
                            observer: Observer | None, cancel: CancelToken,
                            job: tuple[int, str] | None, matter: str | None) -> Outcome:
        chosen, kind_note = self.template(template, document)
        engine = self.engine
        accountant = Accountant(sampler=self.sampler)
        checkpoints = self.store.checkpoints(document.sha256, self.model_sha256)
        with (monitor := accountant.monitor()):
            reader = self.reader_engine
            summary = Pipeline(
                monitor.wrap(engine), self.pipeline_settings,
                reader=monitor.wrap(reader) if reader else None,
                speeds=self._speeds(self._resolved),
                reader_speeds=self._speeds(self._reader_resolved)).run(
                document, chosen, observer=observer, cancel=cancel, kind_note=kind_note,
                checkpoints=checkpoints)
        cancel.check()
        account = accountant.settle(
            monitor, summary.usage, remote=engine.info.extra.get("server_url"))
        self.last_checkpoints = checkpoints
        if checkpoints.reused:
            log.info("%s: resumed with %d step(s) from checkpoints (%.1f s of model time "
                     "saved)", document.name, checkpoints.reused, checkpoints.seconds_reused)
        parameters = {**self.pipeline_settings.as_dict(),
                      "context_length": engine.info.context_length,
                      "threads": engine.info.threads, "gpu_layers": engine.info.gpu_layers,
                      **server_record(engine), **self._reader_record(),
                      **({"engine_tuning": self.tuning.describe()} if self.tuning else {})}
        summary_id = self.store.save_summary(
            document=document_record(document),
            summary=summary_record(summary, model_name=self.model.name,
                                   model_sha256=self.model_sha256, parameters=parameters,
                                   load_seconds=engine.info.load_seconds, matter=matter),
            run_record=account.ledger_row(document.name, self.model.name, matter),
            job=job,
        )
        log.info("stored summary #%d of %s (%d chunks, %.1f s)", summary_id, document.name,
                 summary.chunks, summary.wall_seconds)
        return Outcome(summary_id, summary, self.model, self.model_sha256, run=account.record,
                       cost=account.cost, cost_error=account.cost_error, reader=self.reader)
