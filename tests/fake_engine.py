"""A deterministic stand-in for a language model, for unit tests of the pipeline's logic only.

It tokenizes by words and punctuation and "summarizes" by quoting the first sentence after each
page marker (as the map step's JSON notes), so tests can check chunking, grounding, citations and
cancellation without waiting for a real model. `invent=True` adds a note whose quote is not in
the document, and an overview sentence with a made-up date. End-to-end tests use the real SmolLM2
model instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from lexbrief.cancel import CancelToken
from lexbrief.engine.contract import Abilities, GenerationParams, Message, ModelInfo, Usage
from lexbrief.summarize.notes import NOTES_PREFILL

_TOKEN = re.compile(r"\w+|[^\w\s]")


INVENTED_QUOTE = "The hospital was closed by order of the governor on 5 May 2020."


class FakeEngine:
    abilities = Abilities()

    def __init__(self, context_length: int = 4096, *, wrong_pages: bool = False,
                 loop: bool = False, invent: bool = False) -> None:
        self.info = ModelInfo(name="fake", path=None, context_length=context_length,
                              trained_context=context_length)
        self.wrong_pages = wrong_pages
        self.loop = loop
        self.invent = invent
        self.calls: list[str] = []
        self.on_token = None  # optional hook called with each piece (to cancel mid-stream)

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text))

    def split_by_tokens(self, text: str, max_tokens: int) -> list[str]:
        spans = [m.start() for m in _TOKEN.finditer(text)]
        cuts = spans[max_tokens::max_tokens]
        pieces, start = [], 0
        for cut in cuts:
            pieces.append(text[start:cut])
            start = cut
        pieces.append(text[start:])
        return [p for p in pieces if p]

    def count_chat_tokens(self, messages: list[Message]) -> int:
        return sum(self.count_tokens(m.content) + 4 for m in messages)

    def close(self) -> None:
        self.closed = True

    def _reply(self, prompt: str, prefill: str) -> str:
        if self.loop:
            return "The same sentence again and again here. " * 50
        if prefill == NOTES_PREFILL:  # the map step: JSON notes, continuing the prefill
            notes = [{"quote": sentence, "point": sentence} for sentence in self._sentences(prompt)]
            if self.invent:
                notes.insert(0, {"quote": INVENTED_QUOTE, "point": "The hospital closed."})
            body = ",\n".join(json.dumps(note) for note in notes) or '{"quote": "", "point": ""}'
            return body[len('{"quote": "'):] + "]"
        points = [line[2:].split(" [p.")[0] for line in prompt.splitlines()
                  if line.startswith("- ")]
        overview = "This is a test document. " + (points[0] if points else "")
        if self.invent:
            overview += " It was signed on 31 February 1999 by Acme Rocket Corp."
        return overview

    def _sentences(self, prompt: str) -> list[str]:
        """The first sentence after each page marker (wrong_pages: of a later page's text)."""
        found = []
        for _page, text in re.findall(r"\[p\. (\d+)\]\n(.*?)(?=\n\[p\. |\n\n[A-Z]|\Z)",
                                      prompt, re.S):
            found.append(re.split(r"(?<=[.!?])\s", text.strip())[0][:200])
        if self.wrong_pages:
            found = found[1:] + found[:1]
        return found

    def chat(self, messages: list[Message], params: GenerationParams,
             cancel: CancelToken) -> Iterator[str | Usage]:
        prefill = messages[-1].content if messages[-1].role == "assistant" else ""
        prompt = next(m.content for m in messages if m.role == "user")
        self.calls.append(prompt)
        usage = Usage(prompt_tokens=self.count_chat_tokens(messages), finish_reason="stop")
        for n, piece in enumerate(re.findall(r"\S+\s*", self._reply(prompt, prefill))):
            if cancel.cancelled:
                usage.finish_reason = "cancelled"
                break
            if n >= params.max_tokens:
                usage.finish_reason = "length"
                break
            usage.completion_tokens += 1
            if self.on_token:
                self.on_token(piece)
            yield piece
        usage.generation_seconds = 0.001 * max(1, usage.completion_tokens)
        yield usage


class FakeParallelEngine(FakeEngine):
    """The fake with the parallel contract: replies interleaved piece by piece, like sequences
    decoded together."""

    abilities = Abilities(batched_chat=True)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.parallel_calls: list[int] = []

    def chat_many(self, requests: list[tuple[list[Message], GenerationParams]],
                  cancel: CancelToken, *, stops: list[CancelToken] | None = None,
                  max_parallel: int = 4) -> Iterator[tuple[int, str | Usage]]:
        self.parallel_calls.append(len(requests))
        stops = stops or [cancel] * len(requests)
        streams = {i: self.chat(messages, params, stops[i])
                   for i, (messages, params) in enumerate(requests[:max_parallel])}
        queue = list(range(max_parallel, len(requests)))
        while streams:
            for index in list(streams):
                item = next(streams[index])
                yield index, item
                if isinstance(item, Usage):
                    del streams[index]
                    if queue:
                        nxt = queue.pop(0)
                        streams[nxt] = self.chat(*requests[nxt], stops[nxt])
