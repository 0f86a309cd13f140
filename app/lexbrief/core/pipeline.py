"""Map-reduce summarization of a whole document, with page citations and proof of coverage.

map:      every chunk → short cited notes (the model sees page markers "[p. N]")
condense: while the notes do not fit one prompt, groups of notes → shorter notes (hierarchical)
final:    notes (or the full text of a document that fits one prompt) → overview + key points

Every key point's citation is then checked against the page text and repaired when the model got
it wrong (see `citations`). Progress and tokens go to an observer; cancel is checked between
steps and between tokens.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lexbrief.core.cancel import NEVER, CancelToken
from lexbrief.core.chunking import Chunk, Coverage, chunk_document, verify_coverage
from lexbrief.core.citations import (
    KeyPoint,
    PageIndex,
    content_words,
    format_citation,
    parse_pages,
    strip_citations,
    verify_point,
)
from lexbrief.core.document import Document
from lexbrief.core.templates import Template
from lexbrief.engine.base import Engine, GenerationParams, Message, Usage
from lexbrief.errors import DocumentError

_BULLET = re.compile(r"^\s*(?:[-*•‣▪]|\d{1,2}[.)])\s+(.*\S)\s*$")
_OVERVIEW_LABEL = re.compile(r"^\s*\**\s*(overview|summary)\s*\**\s*:?\s*\**", re.IGNORECASE)
_KEYPOINTS_LABEL = re.compile(r"^\s*[#*\s]*key\s+points\s*\**\s*:?\s*\**\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class PipelineSettings:
    max_chunk_tokens: int = 2048  # cap: small models read short excerpts better than long ones
    map_tokens: int = 256  # output budget of one chunk's notes
    condense_tokens: int = 384
    final_tokens: int = 512
    # Chunk notes decoded together as parallel sequences, when the engine can (1: one by one).
    parallel_map: int = 4
    sampling: GenerationParams = field(default_factory=GenerationParams)

    def as_dict(self) -> dict[str, object]:
        return {"max_chunk_tokens": self.max_chunk_tokens, "map_tokens": self.map_tokens,
                "condense_tokens": self.condense_tokens, "final_tokens": self.final_tokens,
                "parallel_map": self.parallel_map, **self.sampling.as_dict()}


@dataclass(frozen=True)
class Progress:
    stage: str  # "chunking", "map", "condense", "final", "done"
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
        """A piece of generated text (stage "final" is the summary being written)."""


class Checkpoints:
    """Where finished map/condense steps' notes are kept, so that a run interrupted by a crash
    resumes with only the missing steps (the store keeps them per document and model).
    `scope` names the run's parameters (chunk budget, prompts, budgets, sampling): notes are
    reused only under the same ones. This default keeps nothing."""

    def load(self, scope: str, step: str) -> str | None:
        return None

    def save(self, scope: str, step: str, notes: str, seconds: float) -> None:
        """A step finished: `notes` are its result, `seconds` what it cost."""


def _step_key(stage: str, text: str, index: int | None = None) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{stage}:{index}:{digest}" if index is not None else f"{stage}:{digest}"


@dataclass
class Summary:
    document: Document
    template: Template
    overview: str
    points: list[KeyPoint]
    coverage: Coverage
    usage: Usage
    chunks: int
    steps: int
    wall_seconds: float
    draft: str  # the model's final text before citations were checked
    notes: list[str]

    @property
    def text(self) -> str:
        lines = ["## Overview", "", self.overview or "(the model wrote no overview)", "",
                 "## Key points", ""]
        lines += [f"- {point.render()}" for point in self.points] or ["(none)"]
        return "\n".join(lines).strip() + "\n"

    @property
    def cited_pages(self) -> list[int]:
        return sorted({page for point in self.points for page in point.pages})


class Pipeline:
    def __init__(self, engine: Engine, settings: PipelineSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or PipelineSettings()
        self._checkpoints = Checkpoints()
        self._scope = ""

    # -- budgets ------------------------------------------------------------------------------
    def _messages(self, template: Template, user: str) -> list[Message]:
        return [Message("system", template.system), Message("user", user)]

    def _room(self, template: Template, prompt: str, output_tokens: int) -> int:
        """Tokens left for material in a prompt, after instructions and the output budget."""
        overhead = self.engine.count_chat_tokens(self._messages(template, prompt))
        return self.engine.info.context_length - overhead - output_tokens - 16

    def chunk_budget(self, template: Template) -> int:
        room = self._room(template, template.map.format(pages="pages 1–2", text=""),
                          self.settings.map_tokens)
        return min(room, self.settings.max_chunk_tokens)

    def _final_room(self, template: Template, document: Document) -> int:
        return self._room(template, self._final_prompt(template, document, "", "Notes"),
                          self.settings.final_tokens)

    # -- run ----------------------------------------------------------------------------------
    def checkpoint_scope(self, template: Template, budget: int) -> str:
        """What a step's notes depend on besides the document and the model."""
        settings = {k: v for k, v in self.settings.as_dict().items() if k != "parallel_map"}
        key = {"budget": budget, "context": self.engine.info.context_length,
               "settings": settings, "system": template.system, "map": template.map,
               "condense": template.condense}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]

    def run(self, document: Document, template: Template, *,
            observer: Observer | None = None, cancel: CancelToken = NEVER,
            checkpoints: Checkpoints | None = None) -> Summary:
        observer = observer or Observer()
        started = time.perf_counter()
        tracker = _Tracker(observer, started)
        tracker.emit("chunking", "reading the document with the model's tokenizer")
        count = self.engine.count_tokens
        budget = self.chunk_budget(template)
        self._checkpoints = checkpoints or Checkpoints()
        self._scope = self.checkpoint_scope(template, budget)
        chunks = chunk_document(document, count, self.engine.split_by_tokens, budget)
        coverage = verify_coverage(document, chunks, count)
        if coverage.tokens_dropped:
            raise RuntimeError(f"chunking lost {coverage.tokens_dropped} tokens of {document.name}")
        if not chunks:
            raise DocumentError(f"{document.name}: no text to summarize.")
        usage = Usage()
        notes: list[str] = []
        final_room = self._final_room(template, document)
        single = len(chunks) == 1 and chunks[0].tokens + 8 <= final_room
        tracker.total = 1 if single else len(chunks) + 1
        if single:
            material, label = chunks[0].text, "Full text"
        else:
            kept = {c.index: n for c in chunks
                    if (n := self._checkpoints.load(self._scope, _step_key("map", c.text, c.index)))
                    is not None}
            chat_many = getattr(self.engine, "chat_many", None)
            if chat_many is not None and self.settings.parallel_map > 1:
                for reused in sorted(kept):
                    tracker.emit("map", f"chunk {reused + 1} of {len(chunks)}: notes kept from "
                                        "an interrupted run")
                missing = [c for c in chunks if c.index not in kept]
                fresh = iter(self._map_parallel(chat_many, template, missing, observer, cancel,
                                                usage, tracker) if missing else [])
                notes = [kept[c.index] if c.index in kept else next(fresh) for c in chunks]
            else:
                for chunk in chunks:
                    cancel.check()
                    if chunk.index in kept:
                        tracker.emit("map", f"chunk {chunk.index + 1} of {len(chunks)}: notes "
                                            "kept from an interrupted run")
                        notes.append(kept[chunk.index])
                        continue
                    tracker.emit("map", f"reading {chunk.pages_label} (chunk "
                                        f"{chunk.index + 1} of {len(chunks)})")
                    cancel.check()
                    step_started = time.perf_counter()
                    prompt = template.map.format(pages=chunk.pages_label, text=chunk.text)
                    reply = self._generate(template, prompt, self.settings.map_tokens, "map",
                                           observer, cancel, usage, tracker)
                    notes.append(_cited_notes(reply, chunk))
                    self._checkpoints.save(self._scope, _step_key("map", chunk.text, chunk.index),
                                           notes[-1], time.perf_counter() - step_started)
            material = self._condense(template, notes, final_room, observer, cancel, usage,
                                      tracker)
            label = "Notes"
        cancel.check()
        tracker.emit("final", "writing the summary")
        final_prompt = self._final_prompt(template, document, material, label)
        observer.token("final", "Overview: ")
        draft = "Overview: " + self._generate(
            template, final_prompt, self.settings.final_tokens, "final", observer, cancel, usage,
            tracker, prefill="Overview: ")
        overview, raw_points = parse_summary(draft)
        if not raw_points:
            # Small models often stop after the overview: ask for the bullets explicitly.
            lead = f"Overview: {overview}\n\nKey points:\n- "
            observer.token("final", "\n\nKey points:\n- ")
            more = self._generate(template, final_prompt, self.settings.final_tokens, "final",
                                  observer, cancel, usage, tracker, prefill=lead)
            draft = lead + more
            raw_points = parse_summary(draft)[1]
        if not raw_points:
            raw_points = [line for note in notes for line in _bullets(note)][:8]
        index = PageIndex(document)
        points = _dedupe([verify_point(p, index) for p in raw_points if p.strip()])
        tracker.emit("done", "done")
        return Summary(
            document=document, template=template, overview=_clean_overview(overview),
            points=points, coverage=coverage, usage=usage, chunks=len(chunks),
            steps=tracker.step, wall_seconds=time.perf_counter() - started, draft=draft,
            notes=notes,
        )

    def _map_parallel(self, chat_many: Callable[..., Iterator[tuple[int, str | Usage]]],
                      template: Template, chunks: list[Chunk], observer: Observer,
                      cancel: CancelToken, usage: Usage, tracker: _Tracker) -> list[str]:
        """The map step with the chunks decoded together: same prompts, same budgets, same
        sampling as one by one; each chunk's loop guard stops only that chunk."""
        params = dataclasses.replace(self.settings.sampling, max_tokens=self.settings.map_tokens)
        requests = [(self._messages(template, template.map.format(pages=c.pages_label,
                                                                   text=c.text)), params)
                    for c in chunks]
        stops = [_StepCancel(cancel) for _ in chunks]
        replies = ["" for _ in chunks]
        guards = [_LoopGuard() for _ in chunks]
        done = 0
        tracker.emit("map", f"reading {len(chunks)} chunks, up to "
                            f"{self.settings.parallel_map} at once")
        for index, item in chat_many(requests, cancel, stops=stops,
                                     max_parallel=self.settings.parallel_map):
            if isinstance(item, Usage):
                usage.add(item)
                tracker.observe(item)
                done += 1
                if not cancel.cancelled:
                    chunk = chunks[index]
                    self._checkpoints.save(
                        self._scope, _step_key("map", chunk.text, chunk.index),
                        _cited_notes(guards[index].trim(replies[index]), chunk),
                        item.prompt_seconds + item.generation_seconds)
                if done < len(chunks):
                    tracker.emit("map", f"read {done} of {len(chunks)} chunks "
                                        f"({chunks[index].pages_label} done)")
                continue
            replies[index] += item
            observer.token("map", item)
            if guards[index].looping(replies[index]):
                stops[index].stop()
        cancel.check()
        return [_cited_notes(guards[i].trim(reply), chunk)
                for i, (reply, chunk) in enumerate(zip(replies, chunks, strict=True))]

    def _final_prompt(self, template: Template, document: Document, material: str,
                      label: str) -> str:
        kind = {"contract": "contract", "court_opinion": "court decision",
                "legislation": "statute or bill"}.get(template.name, "legal document")
        return template.final.format(
            material_label=label, kind=kind, title=document.title or document.name,
            page_count=document.page_count, material=material,
        )

    def _condense(self, template: Template, notes: list[str], room: int, observer: Observer,
                  cancel: CancelToken, usage: Usage, tracker: _Tracker) -> str:
        """Merge notes level by level until they fit the final prompt."""
        count = self.engine.count_tokens
        level = notes
        group_room = self._room(template, template.condense.format(notes=""),
                                self.settings.condense_tokens)
        while count("\n".join(level)) > room:
            groups = _group(level, count, group_room)
            if len(groups) == len(level) and len(level) > 1 and len(groups) > 1:
                # Each note alone fills a prompt: pair them anyway so every level shrinks.
                groups = [level[i:i + 2] for i in range(0, len(level), 2)]
            tracker.total += len(groups)
            merged = []
            for i, group in enumerate(groups):
                cancel.check()
                tracker.emit("condense", f"merging notes ({i + 1} of {len(groups)})")
                step = _step_key("condense", "\n".join(group))
                kept = self._checkpoints.load(self._scope, step)
                if kept is not None:
                    merged.append(kept)
                    continue
                step_started = time.perf_counter()
                reply = self._generate(template, template.condense.format(notes="\n".join(group)),
                                       self.settings.condense_tokens, "condense", observer,
                                       cancel, usage, tracker)
                pages = sorted({p for note in group for p in parse_pages(note)})
                merged.append(_keep_citations(reply, pages))
                self._checkpoints.save(self._scope, step, merged[-1],
                                       time.perf_counter() - step_started)
            if len(merged) >= len(level):  # cannot shrink further: cut at the prompt's room
                return self.engine.split_by_tokens("\n".join(merged), room)[0]
            level = merged
        return "\n".join(level)

    def _generate(self, template: Template, prompt: str, max_tokens: int, stage: str,
                  observer: Observer, cancel: CancelToken, usage: Usage, tracker: _Tracker,
                  prefill: str = "") -> str:
        params = dataclasses.replace(self.settings.sampling, max_tokens=max_tokens)
        messages = self._messages(template, prompt)
        if prefill:
            messages.append(Message("assistant", prefill))
        pieces: list[str] = []
        guard = _LoopGuard()
        step = _StepCancel(cancel)
        for item in self.engine.chat(messages, params, step):
            if isinstance(item, Usage):
                usage.add(item)
                tracker.observe(item)
                continue
            pieces.append(item)
            observer.token(stage, item)
            if guard.looping("".join(pieces)):
                step.stop()  # the engine ends the stream and still reports its usage
        cancel.check()
        return guard.trim("".join(pieces))


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

    def observe(self, usage: Usage) -> None:
        self.tokens += usage.completion_tokens
        self.seconds += usage.generation_seconds

    def emit(self, stage: str, message: str) -> None:
        if stage in ("map", "condense", "final"):
            self.step += 1
        elapsed = time.perf_counter() - self.started
        done = self.step - 1 if stage != "done" else self.step
        eta = elapsed / done * (self.total - done) if done > 0 else None
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


def _bullets(text: str) -> list[str]:
    found = [m.group(1) for line in text.splitlines() if (m := _BULLET.match(line))]
    if found:
        return found
    # No bullet marks: take the sentences.
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if len(s.split()) >= 4]


def _cited_notes(reply: str, chunk: Chunk) -> str:
    """One chunk's notes as bullets, each citing pages inside the chunk."""
    pages = list(range(chunk.first_page, chunk.last_page + 1))
    return _keep_citations(reply, pages)


def _keep_citations(reply: str, pages: list[int]) -> str:
    lines = []
    for bullet in _bullets(reply):
        cited = [p for p in parse_pages(bullet) if p in pages]
        if cited or not pages:
            lines.append(f"- {bullet}")
            continue
        # The model forgot or invented the page: cite the excerpt's page range.
        span = pages if len(pages) <= 2 else [pages[0], pages[-1]]
        lines.append(f"- {strip_citations(bullet)} {format_citation(span)}")
    return "\n".join(lines)


def _group(notes: list[str], count: Callable[[str], int], room: int) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    used = 0
    for note in notes:
        cost = count(note) + 1
        if groups[-1] and used + cost > room:
            groups.append([])
            used = 0
        groups[-1].append(note)
        used += cost
    return groups


_INLINE_KEYPOINTS = re.compile(r"\**\s*key\s+points\s*\**\s*:\s*\**", re.IGNORECASE)
_INLINE_NUMBER = re.compile(r"(?:^|\s)\d{1,2}[.)]\s+(?=\S)")
_LEADING_NUMBER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")


def parse_summary(draft: str) -> tuple[str, list[str]]:
    """Split the model's answer into the overview and the key points."""
    parts = _INLINE_KEYPOINTS.split(draft, maxsplit=1)
    head, tail = (parts[0], parts[1]) if len(parts) == 2 else (draft, "")
    overview_lines: list[str] = []
    points: list[str] = []
    in_points = False
    for line in head.splitlines():
        bullet = _BULLET.match(line)
        if bullet:
            in_points = True
            points.append(bullet.group(1))
        elif in_points and line.strip() and points:
            points[-1] += " " + line.strip()
        elif not in_points:
            overview_lines.append(line)
    if tail.strip():
        lines = [line for line in tail.splitlines() if line.strip()]
        if len(lines) == 1 and len(_INLINE_NUMBER.findall(lines[0])) >= 2:
            # "1. first point 2. second point" on one line
            lines = [f"- {p.strip()}" for p in _INLINE_NUMBER.split(lines[0]) if p.strip()]
        for line in lines:
            bullet = _BULLET.match(line)
            if bullet or not points:
                points.append(bullet.group(1) if bullet else line.strip())
            else:
                points[-1] += " " + line.strip()
    cleaned = [_LEADING_NUMBER.sub("", p).strip() for p in points]
    return " ".join(" ".join(overview_lines).split()), [p for p in cleaned if len(p) > 3]


def _clean_overview(text: str) -> str:
    text = _OVERVIEW_LABEL.sub("", text).strip()
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if sentence.strip() and not any(_similar(sentence, k) for k in kept):
            kept.append(sentence.strip())
    return " ".join(kept)


def _similar(a: str, b: str, threshold: float = 0.7) -> bool:
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return a.strip().lower() == b.strip().lower()
    return len(wa & wb) / len(wa | wb) >= threshold


def _dedupe(points: list[KeyPoint]) -> list[KeyPoint]:
    """Drop repeated points (the same point reworded counts as repeated)."""
    out: list[KeyPoint] = []
    for point in points:
        if len(point.text) > 3 and not any(_similar(point.text, kept.text) for kept in out):
            out.append(point)
    return out
