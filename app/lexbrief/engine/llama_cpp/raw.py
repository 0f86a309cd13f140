"""Raw llama.cpp timings for `lexbrief bench` (issue 7), measured on an engine's own context
(same threads, batch and KV cache); afterwards the high-level `Llama` object continues from a
fresh prompt evaluation. A mixin of `LlamaCppEngine`, kept apart so the engine reads as the
app's path only."""

from __future__ import annotations

import ctypes
import time
from typing import TYPE_CHECKING, Any

from lexbrief.engine.contract import Message, ModelInfo, RawTiming
from lexbrief.engine.llama_cpp.native import llama_cpp, quiet_native_logs

if TYPE_CHECKING:
    from lexbrief.engine.llama_cpp.decoder import NativeDecoder


class RawBenchmarks:
    """Benchmark methods; the engine provides the attributes below."""

    info: ModelInfo
    _llm: Any
    _decoder: NativeDecoder
    _parallel: NativeDecoder | None
    _raw_kv_tokens: list[int]
    _threads: int
    _batch_size: int

    def _tokenize(self, text: str, *, special: bool = False) -> list[int]:
        raise NotImplementedError

    def _prompt_tokens(self, messages: list[Message]) -> list[int]:
        raise NotImplementedError


    def tokenize(self, text: str) -> list[int]:
        """Token ids of plain text (no special tokens, no BOS)."""
        return self._tokenize(text)

    def prompt_token_ids(self, messages: list[Message]) -> list[int]:
        """The exact token sequence `chat` feeds the model for these messages."""
        return self._prompt_tokens(messages)

    def runtime_settings(self) -> dict[str, int]:
        """What the llama.cpp context really runs with (the raw benchmark shares it)."""
        ctx = self._decoder.ctx
        return {"n_ctx": int(llama_cpp.llama_n_ctx(ctx)),
                "n_batch": int(llama_cpp.llama_n_batch(ctx)),
                "n_ubatch": int(llama_cpp.llama_n_ubatch(ctx)),
                "n_threads": int(llama_cpp.llama_n_threads(ctx)),
                "n_threads_batch": int(llama_cpp.llama_n_threads_batch(ctx))}

    def clear_cache(self) -> None:
        """Forget every cached prompt: the next request evaluates its prompt from scratch."""
        for decoder in (self._decoder, self._parallel):
            if decoder is not None:
                llama_cpp.llama_memory_clear(decoder.memory, True)
                decoder.held.clear()
        self._raw_kv_tokens = []

    def raw_decode_benchmark(self, tokens: list[int], n_generate: int, *,
                             reuse_prefix: bool = False) -> RawTiming:
        """Time `tokens` as a prompt, then `n_generate` single-token decode steps with greedy
        sampling, straight through `llama_decode` and a native `llama_sampler` chain: no Python
        per-token work beyond the ctypes calls. With `reuse_prefix` the KV cache keeps the prefix
        it shares with the previous request, as `chat` does; otherwise the cache is cleared."""
        if not tokens:
            raise ValueError("raw_decode_benchmark needs at least one prompt token")
        n_ctx = self.info.context_length
        if len(tokens) + n_generate > n_ctx:
            raise ValueError(f"{len(tokens)} + {n_generate} tokens exceed the {n_ctx} context")
        ctx = self._decoder.ctx
        memory = self._decoder.memory
        # What sequence 0 of the KV cache holds now: the last request's tokens, or our own
        # previous run's (which `chat` is not told about, so it starts clean).
        held = self._decoder.held.get(0) or self._raw_kv_tokens
        cached = 0
        if reuse_prefix:
            for a, b in zip(held, tokens, strict=False):
                if a != b:
                    break
                cached += 1
            cached = min(cached, len(tokens) - 1)  # decode at least one token for the logits
        if cached:
            llama_cpp.llama_memory_seq_rm(memory, -1, cached, -1)
        else:
            llama_cpp.llama_memory_clear(memory, True)
        self._decoder.held.clear()

        n_batch = llama_cpp.llama_n_batch(ctx)
        batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        int32_size = ctypes.sizeof(ctypes.c_int32)
        try:
            for i in range(n_batch):
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 0
            todo = tokens[cached:]
            token_ids = (ctypes.c_int32 * len(todo))(*todo)
            positions = (ctypes.c_int32 * len(todo))(*range(cached, len(tokens)))

            def decode(start: int, count: int) -> None:
                ctypes.memmove(batch.token, ctypes.byref(token_ids, start * int32_size),
                               count * int32_size)
                ctypes.memmove(batch.pos, ctypes.byref(positions, start * int32_size),
                               count * int32_size)
                batch.n_tokens = count
                batch.logits[count - 1] = 1
                code = llama_cpp.llama_decode(ctx, batch)
                batch.logits[count - 1] = 0
                if code != 0:
                    raise RuntimeError(f"llama_decode returned {code}")

            started = time.perf_counter()
            for start in range(0, len(todo), n_batch):
                decode(start, min(n_batch, len(todo) - start))
            token = llama_cpp.llama_sampler_sample(chain, ctx, -1)
            first = time.perf_counter()
            # One-token steps: reuse the batch, write token and position in place.
            batch.n_tokens = 1
            batch.logits[0] = 1
            generated: list[int] = []
            position = len(tokens)
            for _ in range(n_generate):
                batch.token[0] = token
                batch.pos[0] = position
                code = llama_cpp.llama_decode(ctx, batch)
                if code != 0:
                    raise RuntimeError(f"llama_decode returned {code}")
                generated.append(token)
                position += 1
                token = llama_cpp.llama_sampler_sample(chain, ctx, -1)
            ended = time.perf_counter()
        finally:
            llama_cpp.llama_sampler_free(chain)
            llama_cpp.llama_batch_free(batch)
        self._raw_kv_tokens = list(tokens) + generated
        self._decoder.held[0] = []  # chat must not trust a cache the benchmark filled
        return RawTiming(prompt_tokens=len(tokens), cached_prompt_tokens=cached,
                         decode_steps=n_generate, prompt_seconds=first - started,
                         generation_seconds=ended - first)
    def high_level_benchmark(self, tokens: list[int], n_generate: int,
                             repeat_penalty: float = 1.15) -> RawTiming:
        """The binding's high-level per-token loop (`Llama.eval` + `Llama.sample`, as most
        llama-cpp-python apps generate), on a temporary context with the same threads and
        batch: the baseline the native decode loop is measured against (issue 8)."""
        n_ctx = len(tokens) + n_generate + 16
        with quiet_native_logs():
            llm = llama_cpp.Llama(str(self.info.path), n_ctx=n_ctx,
                                  n_batch=min(self._batch_size, n_ctx),
                                  n_ubatch=min(self._batch_size, n_ctx),
                                  n_threads=self._threads, n_threads_batch=self._threads,
                                  n_gpu_layers=self.info.gpu_layers, verbose=False, seed=0)
        try:
            started = time.perf_counter()
            llm.eval(tokens)
            first = time.perf_counter()
            for _ in range(n_generate):
                token = llm.sample(temp=0.0, repeat_penalty=repeat_penalty)
                llm.eval([token])
            ended = time.perf_counter()
        finally:
            llm.close()
        return RawTiming(prompt_tokens=len(tokens), cached_prompt_tokens=0,
                         decode_steps=n_generate, prompt_seconds=first - started,
                         generation_seconds=ended - first)
