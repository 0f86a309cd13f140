"""A deterministic stand-in for a language model, for unit tests of the pipeline's logic only.

It tokenizes by words and punctuation and "summarizes" by quoting the first sentence after each
page marker, so tests can check chunking, condensing, citations and cancellation without
waiting for a real model. End-to-end tests use the real SmolLM2 model instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lexbrief.core.cancel import CancelToken
from lexbrief.engine.base import GenerationParams, Message, ModelInfo, Usage

_TOKEN = re.compile(r"\w+|[^\w\s]")


class FakeEngine:
    def __init__(self, context_length: int = 4096, *, wrong_pages: bool = False,
                 loop: bool = False) -> None:
        self.info = ModelInfo(name="fake", path=None, context_length=context_length,
                              trained_context=context_length)
        self.wrong_pages = wrong_pages
        self.loop = loop
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

    def _reply(self, prompt: str, prefill: str) -> str:
        if self.loop:
            return "The same sentence again and again here. " * 50
        if "Key points:\n- " in prefill:
            return "first point [p. 1]\n- second point [p. 1]"
        if "Excerpt" in prompt:
            return "\n".join(self._quote_pages(prompt)) or "- nothing here"
        if "Merge these notes" in prompt:
            lines = [line for line in prompt.splitlines() if line.startswith("- ")]
            return "\n".join(lines[: max(1, len(lines) // 2)])
        lines = [line for line in prompt.splitlines() if line.startswith("- ")]
        lines = lines or self._quote_pages(prompt)
        return "This is a test document.\n\nKey points:\n" + "\n".join(lines[:8])

    def _quote_pages(self, prompt: str) -> list[str]:
        """A bullet per page marker: the first sentence after it, citing that page."""
        bullets = []
        for page, text in re.findall(r"\[p\. (\d+)\]\n(.*?)(?=\n\[p\. |\n\n[A-Z]|\Z)", prompt,
                                     re.S):
            sentence = re.split(r"(?<=[.!?])\s", text.strip())[0][:200]
            cited = int(page) + 100 if self.wrong_pages else int(page)
            bullets.append(f"- {sentence} [p. {cited}]")
        return bullets

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
