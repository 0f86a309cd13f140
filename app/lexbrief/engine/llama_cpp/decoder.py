"""Native decoding (issue 8) on llama.cpp's own decode loop and sampler chains."""

from __future__ import annotations

import codecs
import ctypes
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lexbrief.cancel import CancelToken
from lexbrief.engine.contract import GenerationParams, Usage
from lexbrief.engine.llama_cpp.native import llama_cpp, quiet_native_logs
from lexbrief.errors import ModelError

# == native decoding (issue 8) =================================================================
# Generation runs on llama.cpp's own decode loop and sampler chains: no per-token Python
# sampling. One context serves both paths: the sequential one (sequence 0) and the parallel map,
# where several chunk summaries are decoded together as separate sequences of one batch, a
# finished sequence freeing its slot for the next request (continuous batching), and the prompt
# prefix all requests share (system text, the template's opening) evaluated once and shared
# through the KV cache instead of recomputed.


@dataclass
class _Request:
    index: int
    tokens: list[int]
    params: GenerationParams
    stop: CancelToken
    seq: int = -1
    pos: int = 0  # next position in its sequence
    pending: list[int] = field(default_factory=list)  # prompt tokens still to evaluate
    sampler: Any = None
    grammar: Any = None  # its grammar sampler, checked after the chain (see _sample_checked)
    generated: list[int] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    admitted_at: float = 0.0
    first_at: float | None = None
    logits_at: int = -1  # batch row whose logits this request samples from
    last: int = -1  # the token to feed next
    decoder: Any = None
    max_tokens: int = 0


# llama_token_data: {int32 id; float logit; float p}
_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
PREFILL_PIECE = 256  # prompt tokens per step while other sequences generate


class NativeDecoder:
    """A llama.cpp context decoding up to `slots` sequences at once. With one slot it is a plain
    context of `n_ctx` tokens. With several, every sequence gets a KV stream of `n_ctx` tokens of
    its own (`kv_unified = False`) plus one stream for the shared prefix: in a unified cache each
    token would attend over every sequence's cells (masked out, but computed), so four 2k-token
    chunks would cost as much attention as one 8k-token prompt."""

    def __init__(self, model: Any, vocab: Any, *, n_ctx: int, slots: int, threads: int,
                 batch_size: int, offload_kqv: bool = True, flash_attn: bool | None = None
                 ) -> None:
        params = llama_cpp.llama_context_default_params()
        streams = 1 if slots == 1 else slots + 1  # the last sequence holds the shared prefix
        params.n_ctx = n_ctx * streams
        params.n_batch = min(batch_size, params.n_ctx)
        params.n_ubatch = min(batch_size, params.n_ctx)
        params.n_seq_max = streams
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = streams == 1
        params.offload_kqv = offload_kqv
        params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO if flash_attn is None
                                  else llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                  else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        params.no_perf = True
        with quiet_native_logs():
            self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise ModelError(f"llama.cpp could not create a {n_ctx}-token context with "
                             f"{slots} sequences (out of memory?)")
        self.vocab = vocab
        self.n_ctx = int(llama_cpp.llama_n_ctx_seq(self.ctx))  # tokens one sequence can hold
        self.slots = slots
        self.prefix_seq = slots
        self.n_batch = params.n_batch
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.held: dict[int, list[int]] = {}  # tokens each sequence holds in the cache
        self._piece = ctypes.create_string_buffer(256)
        # Candidates for grammar-checked sampling: every token's logit, filled per step.
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
        self._ids = np.arange(self.n_vocab, dtype=np.int32)
        self._candidates = np.zeros(self.n_vocab, dtype=_TOKEN_DATA)
        self._one = np.zeros(1, dtype=_TOKEN_DATA)

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_batch_free(self.batch)
            llama_cpp.llama_free(self.ctx)
            self.ctx = None

    # -- pieces -------------------------------------------------------------------------------
    def piece(self, token: int) -> bytes:
        n = llama_cpp.llama_token_to_piece(self.vocab, token, self._piece, 256, 0, False)
        return self._piece.raw[:n] if n > 0 else b""

    def _grammar(self, params: GenerationParams) -> Any:
        if not params.grammar:
            return None
        grammar = llama_cpp.llama_sampler_init_grammar(
            self.vocab, params.grammar.encode("utf-8"), b"root")
        if not grammar:
            raise ValueError("llama.cpp rejected the grammar (GBNF syntax error)")
        return grammar

    def _sampler(self, params: GenerationParams) -> Any:
        """The sampler chain without the grammar (that one is checked apart, after it)."""
        chain = llama_cpp.llama_sampler_chain_init(
            llama_cpp.llama_sampler_chain_default_params())
        add = llama_cpp.llama_sampler_chain_add
        if params.repeat_penalty != 1.0:
            add(chain, llama_cpp.llama_sampler_init_penalties(
                llama_cpp.llama_vocab_n_tokens(self.vocab), 64, params.repeat_penalty, 0.0, 0.0))
        if params.temperature <= 0:
            add(chain, llama_cpp.llama_sampler_init_greedy())
        else:
            add(chain, llama_cpp.llama_sampler_init_top_k(params.top_k))
            add(chain, llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
            add(chain, llama_cpp.llama_sampler_init_temp(params.temperature))
            add(chain, llama_cpp.llama_sampler_init_dist(params.seed))
        return chain

    # -- cache bookkeeping --------------------------------------------------------------------
    def _forget(self, seq: int, keep: int = 0) -> None:
        llama_cpp.llama_memory_seq_rm(self.memory, seq, keep, -1)
        self.held[seq] = self.held.get(seq, [])[:keep]

    def _share_prefix(self, requests: list[_Request]) -> int:
        """Evaluate the prompt prefix every request shares once, in the prefix sequence."""
        if len(requests) < 2:
            return 0
        shared = _common_prefix([r.tokens for r in requests])
        shared = min(shared, min(len(r.tokens) for r in requests) - 1)
        if shared < 16:  # not worth a separate pass
            return 0
        prefix = requests[0].tokens[:shared]
        held = self.held.get(self.prefix_seq, [])
        reuse = _common_prefix([held, prefix])
        self._forget(self.prefix_seq, reuse)
        todo = prefix[reuse:]
        for start in range(0, len(todo), self.n_batch):
            part = todo[start:start + self.n_batch]
            self._fill([(t, reuse + start + i, self.prefix_seq, False)
                        for i, t in enumerate(part)])
            self._decode()
        self.held[self.prefix_seq] = list(prefix)
        return shared

    # -- batches ------------------------------------------------------------------------------
    def _fill(self, rows: list[tuple[int, int, int, bool]]) -> None:
        batch = self.batch
        for i, (token, pos, seq, logits) in enumerate(rows):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(rows)

    def _decode(self) -> None:
        code = llama_cpp.llama_decode(self.ctx, self.batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code} (the context is full?)")

    # -- generation ---------------------------------------------------------------------------
    def generate(self, prompts: list[list[int]], params: list[GenerationParams],
                 stops: list[CancelToken], cancel: CancelToken
                 ) -> Iterator[tuple[int, str | Usage]]:
        """Decode every prompt's reply; yields (request index, text piece or final Usage).
        At most `slots` requests are in flight; the rest wait for a free slot."""
        waiting = [_Request(i, p, params[i], stops[i]) for i, p in enumerate(prompts)]
        for request in waiting:
            room = self.n_ctx - len(request.tokens)
            request.max_tokens = max(0, min(request.params.max_tokens, room))
        shared = self._share_prefix(waiting) if self.slots > 1 else 0
        free = list(range(self.slots))
        active: list[_Request] = []
        try:
            while waiting or active:
                # A stop before a request's prompt is read costs nothing: the waiting ones are
                # never admitted, and those still reading their prompt end where they are.
                for request in [r for r in waiting if cancel.cancelled or r.stop.cancelled]:
                    waiting.remove(request)
                    yield request.index, Usage(prompt_tokens=len(request.tokens),
                                               finish_reason="cancelled")
                for request in [r for r in active if r.pending
                                and (cancel.cancelled or r.stop.cancelled)]:
                    active.remove(request)
                    yield request.index, self._stop_reading(request)
                    free.append(request.seq)
                if not (waiting or active):
                    break
                # Admit waiting requests into free slots.
                while waiting and free:
                    request = waiting.pop(0)
                    request.seq = free.pop(0)
                    self._admit(request, shared)
                    active.append(request)
                rows: list[tuple[int, int, int, bool]] = []
                # One token for every request that is generating...
                for request in active:
                    if not request.pending:
                        request.logits_at = len(rows)
                        rows.append((request.last, request.pos, request.seq, True))
                        request.pos += 1
                # ...and room for prompts still being read: while others generate, a short
                # piece per step, so that their tokens keep coming (a step of a full batch of
                # prompt takes a second on a laptop CPU, and would hold every reply that long).
                budget = self.n_batch if not rows else min(self.n_batch, len(rows) + PREFILL_PIECE)
                for request in active:
                    room = budget - len(rows)
                    if not request.pending or room <= 0:
                        continue
                    part, request.pending = request.pending[:room], request.pending[room:]
                    for token in part:
                        rows.append((token, request.pos, request.seq, False))
                        request.pos += 1
                    if not request.pending:  # its last prompt token gives the first logits
                        token, pos, seq, _ = rows[-1]
                        rows[-1] = (token, pos, seq, True)
                        request.logits_at = len(rows) - 1
                self._fill(rows)
                self._decode()
                finished: list[_Request] = []
                for request in active:
                    if request.pending or request.logits_at < 0:
                        continue
                    yield from self._step(request, cancel, finished)
                    request.logits_at = -1
                for request in finished:
                    active.remove(request)
                    free.append(request.seq)
                    yield request.index, request.usage
        finally:
            for request in active:
                self._release(request)

    def _admit(self, request: _Request, shared: int) -> None:
        request.admitted_at = time.perf_counter()
        request.grammar = self._grammar(request.params)
        request.sampler = self._sampler(request.params)
        request.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        seq = request.seq
        if shared:
            # Another stream: llama.cpp copies the prefix stream's whole buffer (it holds
            # nothing but the prefix) at the next decode.
            self._forget(seq)
            llama_cpp.llama_memory_seq_cp(self.memory, self.prefix_seq, seq, -1, -1)
            reuse = shared
        else:  # sequential path: keep what this sequence already holds of the prompt
            reuse = min(_common_prefix([self.held.get(seq, []), request.tokens]),
                        len(request.tokens) - 1)
            self._forget(seq, reuse)
        self.held[seq] = list(request.tokens)
        request.pending = request.tokens[reuse:]
        request.pos = reuse
        request.usage = Usage(prompt_tokens=len(request.tokens), cached_prompt_tokens=reuse,
                              finish_reason="length")

    def _stop_reading(self, request: _Request) -> Usage:
        """End a request stopped while its prompt was being read: the sequence holds only
        the prompt tokens decoded so far (what the next request may reuse)."""
        self.held[request.seq] = self.held[request.seq][:request.pos]
        self._release(request)
        usage = request.usage
        usage.finish_reason = "cancelled"
        usage.prompt_seconds = time.perf_counter() - request.admitted_at
        return usage

    def _step(self, request: _Request, cancel: CancelToken,
              finished: list[_Request]) -> Iterator[tuple[int, str | Usage]]:
        now = time.perf_counter()
        if request.first_at is None:
            request.first_at = now
        if request.grammar is None:
            token = llama_cpp.llama_sampler_sample(request.sampler, self.ctx, request.logits_at)
        else:
            token = self._sample_checked(request)
        done = None
        if cancel.cancelled or request.stop.cancelled:
            done = "cancelled"
        elif llama_cpp.llama_vocab_is_eog(self.vocab, token):
            done = "stop"
        elif len(request.generated) >= request.max_tokens:
            done = "length"
        if done is None:
            request.generated.append(token)
            request.last = token
            self.held[request.seq].append(token)
            text = request.decoder.decode(self.piece(token))
            if text:
                yield request.index, text
            if len(request.generated) < request.max_tokens:
                return
            done = "length"
            # The budget's last token is returned but never decoded: the cache lacks it.
            self.held[request.seq].pop()
        tail = request.decoder.decode(b"", final=True)
        if tail:
            yield request.index, tail
        usage = request.usage
        usage.finish_reason = done
        usage.completion_tokens = len(request.generated)
        usage.prompt_seconds = (request.first_at or now) - request.admitted_at
        usage.generation_seconds = now - (request.first_at or now)
        self._release(request)
        finished.append(request)

    def _sample_checked(self, request: _Request) -> int:
        """Grammar-constrained sampling at nearly the unconstrained speed (llama.cpp's common
        sampler does the same): sample with the chain alone, then ask the grammar about that
        one token; only when it is refused, apply the grammar to the whole vocabulary and
        sample again. Applying a grammar to every token of a 49k-150k vocabulary at every
        step is what made constrained decoding ~4x slower (docs/BENCHMARKS.md)."""
        logits = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits_ith(self.ctx, request.logits_at), shape=(self.n_vocab,))
        token = self._apply(request.sampler, logits)
        one = self._one
        one["id"], one["logit"], one["p"] = token, 0.0, 0.0
        single = llama_cpp.llama_token_data_array(
            data=one.ctypes.data_as(llama_cpp.llama_token_data_p), size=1, selected=-1,
            sorted=False)
        llama_cpp.llama_sampler_apply(request.grammar, ctypes.byref(single))
        if not np.isfinite(one["logit"][0]):  # refused: the grammar first, then the chain
            token = self._apply(request.sampler, logits, grammar=request.grammar)
        llama_cpp.llama_sampler_accept(request.grammar, token)
        llama_cpp.llama_sampler_accept(request.sampler, token)
        return token

    def _apply(self, chain: Any, logits: Any, *, grammar: Any = None) -> int:
        candidates = self._candidates
        candidates["id"] = self._ids
        candidates["logit"] = logits
        candidates["p"] = 0.0
        array = llama_cpp.llama_token_data_array(
            data=candidates.ctypes.data_as(llama_cpp.llama_token_data_p), size=self.n_vocab,
            selected=-1, sorted=False)
        if grammar is not None:
            llama_cpp.llama_sampler_apply(grammar, ctypes.byref(array))
        llama_cpp.llama_sampler_apply(chain, ctypes.byref(array))
        if not 0 <= array.selected < array.size:
            raise RuntimeError("llama.cpp's sampler chain selected no token")
        return int(array.data[array.selected].id)  # a sampler may sort (or swap) the data

    def _release(self, request: _Request) -> None:
        if request.sampler is not None:
            llama_cpp.llama_sampler_free(request.sampler)
            request.sampler = None
        if request.grammar is not None:
            llama_cpp.llama_sampler_free(request.grammar)
            request.grammar = None
        # The generated tail is not worth keeping; the prompt stays for the next request.
        if request.seq >= 0 and request.seq != 0:
            self._forget(request.seq)


def _common_prefix(sequences: list[list[int]]) -> int:
    if not sequences:
        return 0
    shortest = min(len(s) for s in sequences)
    for i in range(shortest):
        token = sequences[0][i]
        if any(s[i] != token for s in sequences[1:]):
            return i
    return shortest
# == end of native decoding ====================================================================
