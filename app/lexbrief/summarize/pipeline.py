"""Map-reduce summarization of a whole document in which every statement shown is grounded.

map:      every chunk → notes, each a quote copied from the excerpt and a point saying what it
          means (JSON, grammar-constrained where the engine can). Each quote is looked up on the
          excerpt's pages (lexbrief.summarize.grounding): found, it gives the page by construction;
          not found, the note is rejected (kept for audit, never shown). A point whose names,
          numbers or words are not in its quote is replaced by the quote. A chunk with too few
          verified notes gets its most central sentences instead (extractive, shown as quotes).
select:   the key points are chosen among the verified notes, spread over the document.
overview: the model writes two or three sentences from the verified points only; each sentence
          is then checked against the document (lexbrief.summarize.grounding.check_sentence): one
          with a number, date, amount, section or name the document lacks is removed, one with
          words the document never uses is marked.
abstract: the template's fields (parties, dates, court, holding...) by deterministic extractors
          (lexbrief.summarize.abstract), each with its quote and page, or "not found".

Progress and tokens go to an observer; cancel is checked between steps and between tokens.

One module because the stages above read top to bottom in the order they run; what each stage
stands on (grounding, notes, abstracts, chunking) lives in its own module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Protocol, cast

from lexbrief.cancel import NEVER, CancelToken
from lexbrief.engine.contract import BatchedEngine, Engine, GenerationParams, Message, Usage
from lexbrief.errors import DocumentError
from lexbrief.read.document import Document
from lexbrief.summarize.abstract import Abstract, extract_abstract
from lexbrief.summarize.chunking import Chunk, Coverage, chunk_document, verify_coverage
from lexbrief.summarize.citations import content_words, format_citation
from lexbrief.summarize.grounding import (
    ChunkNotes,
    GroundedPoint,
    RejectedNote,
    SentenceCheck,
    check_sentence,
    extract_points,
    ground_notes,
)
from lexbrief.summarize.notes import NOTES_GRAMMAR, NOTES_INSTRUCTION, NOTES_PREFILL, parse_notes
from lexbrief.summarize.ranking import split_sentences
from lexbrief.summarize.source_text import SourceText
from lexbrief.summarize.templates import Template

_BULLET = re.compile(r"^\s*(?:[-*•‣▪]|\d{1,2}[.)])\s+(.*\S)\s*$")
_OVERVIEW_LABEL = re.compile(r"^\s*\**\s*(overview|summary)\s*\**\s*:?\s*\**", re.IGNORECASE)
MIN_POINTS_PER_CHUNK = 2  # fewer verified notes than this: add central sentences
MIN_POINTS_SINGLE = 3  # the same for a document read in one chunk
# For the time left (issue 18): a chunk's notes run about 200 tokens (model_files.estimate's
# 50-page contract), the overview's prompt ~900 (ten points with their pages, instructions).
NOTES_TOKENS_GUESS = 200
OVERVIEW_PROMPT_GUESS = 900
Speeds = tuple[float, float]  # reading, writing tokens/s measured on this machine


@dataclass(frozen=True)
class PipelineSettings:
    max_chunk_tokens: int = 2048  # cap: small models read short excerpts better than long ones
    map_tokens: int = 384  # output budget of one chunk's notes (JSON with quotes)
    condense_tokens: int = 384  # kept for stored settings; notes are selected, not condensed
    final_tokens: int = 200  # the overview: two or three sentences
    # Chunk notes decoded together as parallel sequences, when the engine can (1: one by one).
    parallel_map: int = 4
    max_points: int = 10  # key points shown, at most
    sampling: GenerationParams = field(default_factory=GenerationParams)

    def as_dict(self) -> dict[str, object]:
        return {"max_chunk_tokens": self.max_chunk_tokens, "map_tokens": self.map_tokens,
                "final_tokens": self.final_tokens, "parallel_map": self.parallel_map,
                "max_points": self.max_points, **self.sampling.as_dict()}


@dataclass(frozen=True)
class Progress:
    stage: str  # "chunking", "map", "final", "done"
    step: int  # 1-based step of this run
    total: int  # current estimate of the run's steps
    message: str
    tokens_per_second: float = 0.0
    eta_seconds: float | None = None


class Observer:
    """What the pipeline tells the outside world (CLI progress bar, Qt signals)."""

    def progress(self, progress: Progress) -> None:
        """A step starts or ends."""

    def token(self, stage: str, text: str) -> None:
        """A piece of generated text (stage "final" is the overview being written)."""


class Checkpoints(Protocol):
    """Where finished map steps' notes are kept, so that a run interrupted by a crash resumes
    with only the missing steps (the store keeps them per document and model). `scope` names
    the run's parameters (chunk budget, prompts, budgets, sampling): notes are reused only under
    the same ones."""

    def load(self, scope: str, step: str) -> str | None: ...

    def save(self, scope: str, step: str, notes: str, seconds: float) -> None:
        """A step finished: `notes` are its result, `seconds` what it cost."""


class NoCheckpoints:
    """Keeps nothing: every run starts from the first step."""

    def load(self, scope: str, step: str) -> str | None:
        return None

    def save(self, scope: str, step: str, notes: str, seconds: float) -> None:
        return None


def _step_key(stage: str, text: str, index: int | None = None) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{stage}:{index}:{digest}" if index is not None else f"{stage}:{digest}"


@dataclass
class Summary:
    document: Document
    template: Template
    overview_checks: list[SentenceCheck]
    points: list[GroundedPoint]
    rejected: list[RejectedNote]
    abstract: Abstract
    coverage: Coverage
    usage: Usage
    chunks: int
    steps: int
    wall_seconds: float
    draft: str  # the model's overview before it was checked
    notes: list[str]  # the model's raw map replies, one per chunk
    kind_note: str = ""  # which kind of document was assumed, and why

    @property
    def overview(self) -> str:
        """The overview as shown: kept sentences, and marked ones flagged inline."""
        return " ".join(_shown_sentence(c) for c in self.overview_checks
                        if c.status != "removed")

    @property
    def overview_counts(self) -> dict[str, int]:
        counts = {"kept": 0, "marked": 0, "removed": 0}
        for check in self.overview_checks:
            counts[check.status] += 1
        return counts

    @property
    def text(self) -> str:
        lines = []
        if self.kind_note:
            lines += [f"*{self.kind_note}*", ""]
        lines += ["## Overview", "", self.overview or "(No sentence of the model's overview "
                  "passed the check against the document; the key points are quoted from it.)",
                  "", "## Key points", ""]
        lines += [f"- {point.render()}" for point in self.points] or ["(none)"]
        lines += ["", *self.abstract.markdown()]
        return "\n".join(lines).strip() + "\n"

    @property
    def cited_pages(self) -> list[int]:
        return sorted({page for point in self.points for page in point.pages})


def _shown_sentence(check: SentenceCheck) -> str:
    """A kept sentence cites the page of the key point that backs it; a marked one says why it
    is not verified."""
    cite = f" {format_citation(list(check.pages))}" if check.pages else ""
    if check.status == "marked":
        return f"{check.sentence}{cite} [unverified: {check.reason}]"
    return f"{check.sentence}{cite}"


class Pipeline:
    """`engine` writes the overview; `reader` (by default the same engine) reads the document:
    chunking with its tokenizer, the map step's notes. A small reader is safe because a note
    whose quote is not on the page is dropped, whoever wrote it (issue 17)."""

    def __init__(self, engine: Engine, settings: PipelineSettings | None = None, *,
                 reader: Engine | None = None, speeds: Speeds | None = None,
                 reader_speeds: Speeds | None = None) -> None:
        """`speeds`, `reader_speeds`: (reading, writing) tokens/s measured for the writer and
        the reader on this machine (issue 18): the time left is then predicted from the work
        left from the first step on, instead of extrapolated from the steps done."""
        self.engine = engine
        self.reader = reader or engine
        self.speeds = speeds
        self.reader_speeds = reader_speeds if reader is not None else speeds
        self.settings = settings or PipelineSettings()
        self._checkpoints: Checkpoints = NoCheckpoints()
        self._scope = ""

    # -- budgets ------------------------------------------------------------------------------
    def _messages(self, template: Template, user: str, prefill: str = "") -> list[Message]:
        messages = [Message("system", template.system), Message("user", user)]
        if prefill:
            messages.append(Message("assistant", prefill))
        return messages

    def _map_prompt(self, template: Template, chunk_pages: str, text: str) -> str:
        return template.map.format(pages=chunk_pages, text=text) + "\n\n" + NOTES_INSTRUCTION

    def _room(self, messages: list[Message], output_tokens: int) -> int:
        """Tokens left for material in a prompt, after instructions and the output budget."""
        overhead = self.reader.count_chat_tokens(messages)
        return self.reader.info.context_length - overhead - output_tokens - 16

    def chunk_budget(self, template: Template) -> int:
        room = self._room(self._messages(template, self._map_prompt(template, "pages 1–2", ""),
                                         NOTES_PREFILL), self.settings.map_tokens)
        return min(room, self.settings.max_chunk_tokens)

    def _map_params(self) -> GenerationParams:
        return dataclasses.replace(
            self.settings.sampling, max_tokens=self.settings.map_tokens,
            grammar=NOTES_GRAMMAR if self.reader.abilities.grammar else None)

    # -- run ----------------------------------------------------------------------------------
    def checkpoint_scope(self, template: Template, budget: int) -> str:
        """What a step's notes depend on besides the document and the model."""
        settings = {k: v for k, v in self.settings.as_dict().items() if k != "parallel_map"}
        key = {"budget": budget, "context": self.reader.info.context_length,
               "settings": settings, "system": template.system, "map": template.map,
               "format": NOTES_INSTRUCTION, "grammar": self.reader.abilities.grammar}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]

    def run(self, document: Document, template: Template, *,
            observer: Observer | None = None, cancel: CancelToken = NEVER,
            kind_note: str = "", checkpoints: Checkpoints | None = None) -> Summary:
        observer = observer or Observer()
        started = time.perf_counter()
        tracker = _Tracker(observer, started)
        tracker.emit("chunking", "reading the document with the model's tokenizer")
        count = self.reader.count_tokens
        budget = self.chunk_budget(template)
        self._checkpoints = checkpoints or NoCheckpoints()
        self._scope = self.checkpoint_scope(template, budget)
        chunks = chunk_document(document, count, self.reader.split_by_tokens, budget)
        coverage = verify_coverage(document, chunks, count)
        if coverage.tokens_dropped:
            raise RuntimeError(f"chunking lost {coverage.tokens_dropped} tokens of {document.name}")
        if not chunks:
            raise DocumentError(f"{document.name}: no text to summarize.")
        usage = Usage()
        tracker.total = len(chunks) + 1
        kept = {c.index: n for c in chunks
                if (n := self._checkpoints.load(self._scope, _step_key("map", c.text, c.index)))
                is not None}
        parallel = (self.reader.abilities.batched_chat and self.settings.parallel_map > 1
                    and len(chunks) > 1)
        tracker.expected = self._expected_seconds(template, chunks, kept, parallel)
        if parallel:
            for reused in sorted(kept):
                tracker.emit("map", f"chunk {reused + 1} of {len(chunks)}: notes kept from an "
                                    "interrupted run")
            missing = [c for c in chunks if c.index not in kept]
            fresh = iter(self._map_parallel(template, missing, observer, cancel, usage, tracker)
                         if missing else [])
            replies = [kept[c.index] if c.index in kept else next(fresh) for c in chunks]
        else:
            replies = []
            for chunk in chunks:
                cancel.check()
                if chunk.index in kept:
                    tracker.emit("map", f"chunk {chunk.index + 1} of {len(chunks)}: notes kept "
                                        "from an interrupted run")
                    replies.append(kept[chunk.index])
                    continue
                tracker.emit("map", f"reading {chunk.pages_label} (chunk "
                                    f"{chunk.index + 1} of {len(chunks)})")
                cancel.check()
                step_started = time.perf_counter()
                replies.append(self._generate(
                    self._messages(template, self._map_prompt(template, chunk.pages_label,
                                                              chunk.text), NOTES_PREFILL),
                    self._map_params(), "map", observer, cancel, usage, tracker,
                    engine=self.reader))
                self._checkpoints.save(self._scope, _step_key("map", chunk.text, chunk.index),
                                       replies[-1], time.perf_counter() - step_started)
        cancel.check()
        source = SourceText(document)
        grounded = [self._ground(document, source, chunk, NOTES_PREFILL + reply, len(chunks))
                    for chunk, reply in zip(chunks, replies, strict=True)]
        points = select_points(grounded, self.settings.max_points)
        rejected = [note for notes in grounded for note in notes.rejected]
        cancel.check()
        draft = ""
        if points:
            tracker.emit("final", "writing the overview from the verified points")
            draft = self._overview(template, document, points, observer, cancel, usage,
                                   tracker)
        checks = [check_sentence(sentence, source, points)
                  for sentence in split_sentences(draft)]
        abstract = extract_abstract(template.name, document, source)
        tracker.emit("done", "done")
        return Summary(
            document=document, template=template, overview_checks=_dedupe_checks(checks),
            points=points, rejected=rejected, abstract=abstract, coverage=coverage,
            usage=usage, chunks=len(chunks), steps=tracker.step,
            wall_seconds=time.perf_counter() - started, draft=draft,
            notes=[NOTES_PREFILL + reply for reply in replies], kind_note=kind_note,
        )

    def _expected_seconds(self, template: Template, chunks: list[Chunk], kept: dict[int, str],
                          parallel: bool) -> list[float] | None:
        """Each step's seconds at the measured speeds, in the order the steps are told (kept
        chunks first on the parallel path), the overview last; None without speeds."""
        if self.reader_speeds is None or self.speeds is None:
            return None
        read, write = self.reader_speeds
        overhead = self.reader.count_chat_tokens(self._messages(
            template, self._map_prompt(template, "pages 1–2", ""), NOTES_PREFILL))
        notes = min(self.settings.map_tokens, NOTES_TOKENS_GUESS)

        def seconds(chunk: Chunk) -> float:
            if chunk.index in kept:
                return 0.0
            return (chunk.tokens + overhead) / max(read, 1e-9) + notes / max(write, 1e-9)

        order = ([c for c in chunks if c.index in kept] + [c for c in chunks if c.index not in kept]
                 if parallel else chunks)
        final_read, final_write = self.speeds
        overview = (OVERVIEW_PROMPT_GUESS / max(final_read, 1e-9)
                    + self.settings.final_tokens / max(final_write, 1e-9))
        return [seconds(c) for c in order] + [overview]

    def _ground(self, document: Document, source: SourceText, chunk: Chunk, reply: str,
                chunks: int) -> ChunkNotes:
        notes = ground_notes(parse_notes(reply), source, chunk.first_page, chunk.last_page,
                             document)
        wanted = MIN_POINTS_SINGLE if chunks == 1 else MIN_POINTS_PER_CHUNK
        if len(notes.points) < wanted:
            notes.points += extract_points(document, source, chunk.first_page, chunk.last_page,
                                           wanted - len(notes.points),
                                           exclude=[p.quote for p in notes.points])
        return notes

    def _overview(self, template: Template, document: Document, points: list[GroundedPoint],
                  observer: Observer, cancel: CancelToken, usage: Usage,
                  tracker: _Tracker) -> str:
        material = "\n".join(f"- {p.text} {format_citation(list(p.pages))}" for p in points)
        kind = {"contract": "contract", "court_opinion": "court decision",
                "legislation": "statute or bill", "notice": "procedural document"}.get(
                    template.name, "legal document")
        prompt = template.final.format(
            material_label="Verified notes", kind=kind, title=document.title or document.name,
            page_count=document.page_count, material=material)
        params = dataclasses.replace(self.settings.sampling,
                                     max_tokens=self.settings.final_tokens)
        text = self._generate(self._messages(template, prompt), params, "final", observer,
                              cancel, usage, tracker)
        return _OVERVIEW_LABEL.sub("", text).strip()

    def _map_parallel(self, template: Template, chunks: list[Chunk], observer: Observer,
                      cancel: CancelToken, usage: Usage, tracker: _Tracker) -> list[str]:
        """The map step with the chunks decoded together: same prompts, same budgets, same
        sampling as one by one; each chunk's loop guard stops only that chunk."""
        params = self._map_params()
        requests = [(self._messages(template, self._map_prompt(template, c.pages_label, c.text),
                                    NOTES_PREFILL), params) for c in chunks]
        steps = [_StepCancel(cancel) for _ in chunks]
        stops: list[CancelToken] = list(steps)
        replies = ["" for _ in chunks]
        guards = [_LoopGuard() for _ in chunks]
        done = 0
        tracker.emit("map", f"reading {len(chunks)} chunks, up to "
                            f"{self.settings.parallel_map} at once")
        engine = cast(BatchedEngine, self.reader)  # declared by Abilities.batched_chat
        for index, item in engine.chat_many(requests, cancel, stops=stops,
                                            max_parallel=self.settings.parallel_map):
            if cancel.cancelled:  # leave now: the chunks still waiting would each be read
                break
            if isinstance(item, Usage):
                usage.add(item)
                tracker.observe(item)
                done += 1
                if not cancel.cancelled:
                    chunk = chunks[index]
                    self._checkpoints.save(self._scope, _step_key("map", chunk.text, chunk.index),
                                           replies[index],
                                           item.prompt_seconds + item.generation_seconds)
                if done < len(chunks):
                    tracker.emit("map", f"read {done} of {len(chunks)} chunks "
                                        f"({chunks[index].pages_label} done)")
                continue
            replies[index] += item
            observer.token("map", item)
            if guards[index].looping(replies[index]):
                steps[index].stop()
        cancel.check()
        return replies

    def _generate(self, messages: list[Message], params: GenerationParams, stage: str,
                  observer: Observer, cancel: CancelToken, usage: Usage,
                  tracker: _Tracker, *, engine: Engine | None = None) -> str:
        pieces: list[str] = []
        guard = _LoopGuard()
        step = _StepCancel(cancel)
        for item in (engine or self.engine).chat(messages, params, step):
            if isinstance(item, Usage):
                usage.add(item)
                tracker.observe(item)
                continue
            pieces.append(item)
            observer.token(stage, item)
            if guard.looping("".join(pieces)):
                step.stop()  # the engine ends the stream and still reports its usage
        cancel.check()
        return "".join(pieces)


def select_points(grounded: list[ChunkNotes], limit: int) -> list[GroundedPoint]:
    """Up to `limit` verified points, spread over the document (round robin over the chunks,
    the model's checked paraphrases before bare quotes and extracts), in page order; a point
    whose quote repeats one already taken is skipped."""
    rank = {"model": 0, "quote": 1, "extract": 2}
    n = len(grounded)
    order = list(range(n))
    if n > limit > 1:  # more chunks than points: visit evenly spaced chunks first
        spread = sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
        order = spread + [i for i in range(n) if i not in spread]
    queues = [sorted(grounded[i].points, key=lambda p: rank[p.origin]) for i in order]
    chosen: list[GroundedPoint] = []
    seen: list[set[str]] = []
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if not queue or len(chosen) >= limit:
                continue
            point = queue.pop(0)
            words = content_words(point.quote)
            if any(_repeats(words, other) for other in seen):
                continue
            chosen.append(point)
            seen.append(words)
    return sorted(chosen, key=lambda p: (p.spans[0].page, p.spans[0].start))


def _repeats(a: set[str], b: set[str]) -> bool:
    """Mostly the same words and the same figures: the same statement (boilerplate that differs
    in its numbers states different facts)."""
    figures = {w for w in a if w[:1].isdigit()}, {w for w in b if w[:1].isdigit()}
    return figures[0] == figures[1] and _jaccard(a, b) >= 0.6


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _dedupe_checks(checks: list[SentenceCheck]) -> list[SentenceCheck]:
    out: list[SentenceCheck] = []
    for check in checks:
        words = content_words(check.sentence)
        if not any(_jaccard(words, content_words(c.sentence)) >= 0.7 for c in out):
            out.append(check)
    return out


class _StepCancel(CancelToken):
    """Cancelled when the user cancels, or when the pipeline stops one generation early."""

    def __init__(self, parent: CancelToken) -> None:
        super().__init__()
        self._parent = parent

    def stop(self) -> None:
        super().cancel()

    @property
    def cancelled(self) -> bool:
        return self._parent.cancelled or super().cancelled


class _Tracker:
    """Steps, speed and a time estimate from the steps done so far."""

    def __init__(self, observer: Observer, started: float) -> None:
        self.observer = observer
        self.started = started
        self.step = 0
        self.total = 1
        self.tokens = 0
        self.seconds = 0.0
        # each step's seconds at the measured speeds (Pipeline._expected_seconds), or None
        self.expected: list[float] | None = None
        self._first_step_at: float | None = None

    def eta(self, done: int, now: float) -> float | None:
        """Seconds left. With measured speeds: the work left at those speeds, scaled by how
        the steps done so far compared with their prediction (a busy machine, a slower
        document); without: the time per step so far times the steps left."""
        if self.expected is not None and len(self.expected) == self.total:
            left = sum(self.expected[done:])
            predicted_done = sum(self.expected[:done])
            if done > 0 and predicted_done > 0 and self._first_step_at is not None:
                ratio = (now - self._first_step_at) / predicted_done
                left *= min(4.0, max(0.25, ratio))
            return left
        elapsed = now - self.started
        return elapsed / done * (self.total - done) if done > 0 else None

    def observe(self, usage: Usage) -> None:
        self.tokens += usage.completion_tokens
        self.seconds += usage.generation_seconds

    def emit(self, stage: str, message: str) -> None:
        now = time.perf_counter()
        if stage in ("map", "condense", "final"):
            self.step += 1
            if self._first_step_at is None:
                self._first_step_at = now
        done = self.step - 1 if stage != "done" else self.step
        eta = self.eta(done, now) if stage != "chunking" else None
        self.observer.progress(Progress(
            stage=stage, step=self.step, total=max(self.total, self.step), message=message,
            tokens_per_second=self.tokens / self.seconds if self.seconds else 0.0,
            eta_seconds=0.0 if stage == "done" else eta,
        ))


class _LoopGuard:
    """Small models sometimes repeat themselves forever: stop when a line comes back twice or
    a long sentence comes back once."""

    def looping(self, text: str) -> bool:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) >= 3 and lines[-1] == lines[-2] == lines[-3]:
            return True
        if not text.endswith((". ", ".\n")):
            return False
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
        last = sentences[-1] if sentences else ""
        return len(last) >= 30 and last in sentences[:-1]

    def trim(self, text: str) -> str:
        out: list[str] = []
        for line in text.splitlines():
            if line.strip() and any(line.strip() == seen.strip() for seen in out):
                continue
            out.append(line)
        return "\n".join(out).strip()
