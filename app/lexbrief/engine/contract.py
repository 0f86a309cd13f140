"""The engine contract: what the summarization pipeline needs from a language model.

Kept small on purpose (like simonw/llm's models): count tokens, stream a chat completion as text
pieces followed by one `Usage`, close. What an engine can do beyond that is declared in its
`abilities` (batched chat, grammar, raw timings) and used through the matching protocol below,
never discovered with getattr. llama.cpp in-process (`engine.llama_cpp`) implements it; an
OpenAI-compatible server (llama-server, vLLM) implements it without touching the pipeline.
`EngineWrapper` is the one place that forwards the contract, for those who watch an engine
(the run monitor, the bench's recorder).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from lexbrief.cancel import CancelToken


@dataclass(frozen=True)
class Message:
    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.0  # greedy: summaries of legal text should not be creative
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.15  # small models loop without it
    seed: int = 0
    # A GBNF grammar the reply must follow (engines with `Abilities.grammar` enforce it while
    # sampling; the others ignore it, and the caller parses leniently).
    grammar: str | None = None

    def as_dict(self) -> dict[str, float | int]:
        return {
            "max_tokens": self.max_tokens, "temperature": self.temperature,
            "top_p": self.top_p, "top_k": self.top_k, "repeat_penalty": self.repeat_penalty,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Abilities:
    """What an engine can do beyond the required methods, declared rather than guessed.

    batched_chat: it is a `BatchedEngine` (`chat_many`: several requests decoded together).
    grammar:      it enforces `GenerationParams.grammar` while sampling (constrained decoding).
    raw_timing:   it is a `RawTimingEngine` (token ids, raw decode timings, a cache to clear:
                  what `lexbrief bench` compares the app with).
    """

    batched_chat: bool = False
    grammar: bool = False
    raw_timing: bool = False


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0  # prompt tokens reused from the KV cache, not recomputed
    prompt_seconds: float = 0.0  # until the first generated token
    generation_seconds: float = 0.0
    finish_reason: str = "stop"  # "stop", "length" or "cancelled"

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_prompt_tokens += other.cached_prompt_tokens
        self.prompt_seconds += other.prompt_seconds
        self.generation_seconds += other.generation_seconds

    @property
    def generation_tokens_per_second(self) -> float:
        return self.completion_tokens / self.generation_seconds if self.generation_seconds else 0.0

    @property
    def prompt_tokens_per_second(self) -> float:
        computed = self.prompt_tokens - self.cached_prompt_tokens
        return computed / self.prompt_seconds if self.prompt_seconds else 0.0


@dataclass(frozen=True)
class RawTiming:
    """One prompt + greedy generation timed at the lowest level the backend offers (benchmarks).

    `prompt_seconds` runs until the first token is sampled; `generation_seconds` covers
    `decode_steps` single-token decodes (each followed by a native greedy sample)."""

    prompt_tokens: int
    cached_prompt_tokens: int
    decode_steps: int
    prompt_seconds: float
    generation_seconds: float

    @property
    def prompt_tokens_per_second(self) -> float:
        computed = self.prompt_tokens - self.cached_prompt_tokens
        return computed / self.prompt_seconds if self.prompt_seconds else 0.0

    @property
    def generation_tokens_per_second(self) -> float:
        return self.decode_steps / self.generation_seconds if self.generation_seconds else 0.0

    @property
    def seconds(self) -> float:
        return self.prompt_seconds + self.generation_seconds


@dataclass
class ModelInfo:
    name: str
    path: Path | None
    context_length: int  # the context this engine runs with
    trained_context: int
    architecture: str = ""
    threads: int = 0
    gpu_layers: int = 0
    load_seconds: float = 0.0
    offload_note: str = ""  # why this many layers are on the GPU (or none), for the window
    extra: dict[str, str] = field(default_factory=dict)  # the GGUF's name, size label, licence


class Engine(Protocol):
    info: ModelInfo
    abilities: Abilities

    def count_tokens(self, text: str) -> int:
        """Tokens the model's own tokenizer makes of plain text (no special tokens)."""
        ...

    def split_by_tokens(self, text: str, max_tokens: int) -> list[str]:
        """Cut text into consecutive pieces of at most max_tokens tokens, losing nothing."""
        ...

    def count_chat_tokens(self, messages: list[Message]) -> int:
        """Tokens the formatted chat prompt takes, template included."""
        ...

    def chat(self, messages: list[Message], params: GenerationParams,
             cancel: CancelToken) -> Iterator[str | Usage]:
        """Stream the assistant's reply as text pieces, then exactly one Usage.

        When the last message is from the assistant, the reply continues that text (a prefill).
        When `cancel` is set the stream stops early and its Usage says "cancelled"; raising is
        the caller's choice.
        """
        ...

    def close(self) -> None:
        """Free the model (memory, threads, connections). Calls after it are errors."""
        ...


class BatchedEngine(Engine, Protocol):
    """An engine with `Abilities.batched_chat`: several requests decoded together."""

    def chat_many(self, requests: list[tuple[list[Message], GenerationParams]],
                  cancel: CancelToken, *, stops: list[CancelToken] | None = None,
                  max_parallel: int = 4) -> Iterator[tuple[int, str | Usage]]:
        """Yields (request index, text piece or that request's final Usage); `stops[i]` ends
        request i early."""
        ...


class RawTimingEngine(Engine, Protocol):
    """An engine with `Abilities.raw_timing`: the bench's view below the app's calls."""

    def prompt_token_ids(self, messages: list[Message]) -> list[int]:
        """The exact token sequence `chat` feeds the model for these messages."""
        ...

    def raw_decode_benchmark(self, tokens: list[int], n_generate: int, *,
                             reuse_prefix: bool = False) -> RawTiming:
        ...

    def runtime_settings(self) -> dict[str, int]:
        ...

    def clear_cache(self) -> None:
        """Forget every cached prompt prefix (a cold start for the next call)."""
        ...


CallKey = tuple[int, int]  # (the wrapper's call number, the request's index in that call)


class EngineWrapper:
    """Forwards the contract to `inner`, declaring the same abilities (or fewer), and shows each
    streamed item to `observe`. Owns nothing: `close` leaves the inner engine to its owner."""

    def __init__(self, inner: Engine, *, abilities: Abilities | None = None) -> None:
        self.inner = inner
        self.info: ModelInfo = inner.info
        self.abilities = abilities or inner.abilities
        self._calls = itertools.count()

    def observe(self, key: CallKey, messages: list[Message], item: str | Usage) -> None:
        """One streamed item of request `key` (text piece, or its final Usage)."""

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def split_by_tokens(self, text: str, max_tokens: int) -> list[str]:
        return self.inner.split_by_tokens(text, max_tokens)

    def count_chat_tokens(self, messages: list[Message]) -> int:
        return self.inner.count_chat_tokens(messages)

    def chat(self, messages: list[Message], params: GenerationParams,
             cancel: CancelToken) -> Iterator[str | Usage]:
        key = (next(self._calls), 0)
        for item in self.inner.chat(messages, params, cancel):
            self.observe(key, messages, item)
            yield item

    def chat_many(self, requests: list[tuple[list[Message], GenerationParams]],
                  cancel: CancelToken, *, stops: list[CancelToken] | None = None,
                  max_parallel: int = 4) -> Iterator[tuple[int, str | Usage]]:
        if not self.abilities.batched_chat:
            raise TypeError(f"{self.info.name}: this engine does not declare batched chat")
        call = next(self._calls)
        batched = cast(BatchedEngine, self.inner)
        for index, item in batched.chat_many(requests, cancel, stops=stops,
                                              max_parallel=max_parallel):
            self.observe((call, index), requests[index][0], item)
            yield index, item

    def close(self) -> None:
        return None
