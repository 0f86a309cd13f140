"""llama.cpp in-process, through llama-cpp-python. The only module that imports `llama_cpp`."""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from lexbrief.core.cancel import CancelToken
from lexbrief.engine.base import (
    Abilities,
    GenerationParams,
    Message,
    ModelInfo,
    RawTiming,
    Usage,
)
from lexbrief.errors import ModelError

log = logging.getLogger(__name__)

# Context the engine asks for when the caller sets none: enough for long chunks, while a model
# trained on 128k tokens does not reserve gigabytes of KV cache on a laptop.
DEFAULT_CONTEXT_CAP = 8192

# Used only when a GGUF carries no chat template of its own.
_FALLBACK_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


@contextlib.contextmanager
def _quiet_native_logs() -> Iterator[None]:
    """llama.cpp prints load chatter on stderr even when asked not to; keep the CLI clean."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class LlamaCppEngine:
    """A GGUF model loaded once and reused for every request."""

    abilities = Abilities(batched_chat=True, grammar=True)

    def __init__(self, model_path: Path | str, *, context_length: int | None = None,
                 threads: int | None = None, gpu_layers: int = 0, batch_size: int = 512,
                 flash_attn: bool | None = None) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        ensure_cpu_backend(path)  # issue 6: installers' runtime CPU dispatch (end of module)
        threads = threads or physical_cores()
        started = time.perf_counter()
        try:
            with _quiet_native_logs():
                # A vocab-only load reads the metadata without the weights (n_ctx_train() is 0
                # there, so the trained context comes from the GGUF key itself).
                probe = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
                meta = probe.metadata
                trained = int(meta.get(f"{meta.get('general.architecture')}.context_length", 0)
                              or 2048)
                probe.close()
                n_ctx = min(context_length or DEFAULT_CONTEXT_CAP, trained)
                # The high-level object holds the weights and the vocabulary; decoding runs on
                # the engine's own context (NativeDecoder, end of module), so its own context
                # stays tiny.
                self._llm = llama_cpp.Llama(
                    str(path), n_ctx=min(256, n_ctx), n_batch=min(256, n_ctx),
                    n_ubatch=min(256, n_ctx), n_threads=threads, n_threads_batch=threads,
                    n_gpu_layers=gpu_layers, verbose=False, seed=0,
                )
            self._threads, self._batch_size = threads, batch_size
            # Flash attention: None leaves it to llama.cpp ("auto": on where supported). On our
            # 2-core test VM, off made generation 25-30% faster and prompts ~10% slower at
            # 2k-token contexts (docs/BENCHMARKS.md); one machine is not enough to change the
            # default, so off is a measurement option for now.
            self._flash_attn = flash_attn
            self._raw_kv_tokens: list[int] = []
            self._parallel: NativeDecoder | None = None  # created by the first chat_many
            self._decoder = NativeDecoder(
                self._llm._model.model, self._llm._model.vocab, n_ctx=n_ctx, slots=1,
                threads=threads, batch_size=batch_size, flash_attn=self._flash_attn)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"{path.name} cannot be loaded by llama.cpp: it is not a valid GGUF model or its "
                f"architecture is not supported ({exc})."
            ) from exc
        metadata = self._llm.metadata
        self.info = ModelInfo(
            name=path.stem, path=path, context_length=n_ctx,
            trained_context=trained, architecture=metadata.get("general.architecture", ""),
            threads=threads, gpu_layers=gpu_layers,
            load_seconds=time.perf_counter() - started,
            extra={"general_name": metadata.get("general.name", ""),
                   "size_label": metadata.get("general.size_label", ""),
                   "license": metadata.get("general.license", "")},
        )
        model = self._llm._model
        eos = self._llm.token_eos()
        bos = self._llm.token_bos()
        self._bos_text = model.token_get_text(bos) if bos >= 0 else ""
        self._formatter = Jinja2ChatFormatter(
            template=metadata.get("tokenizer.chat_template") or _FALLBACK_TEMPLATE,
            eos_token=model.token_get_text(eos) if eos >= 0 else "",
            bos_token=self._bos_text,
        )
        self._vocab = model.vocab
        log.info("loaded %s: ctx %d (trained %d), %d threads, %d GPU layers, %.2f s",
                 path.name, n_ctx, trained, threads, gpu_layers, self.info.load_seconds)

    # -- tokens -------------------------------------------------------------------------------
    def _tokenize(self, text: str, *, special: bool = False) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text))

    def split_by_tokens(self, text: str, max_tokens: int) -> list[str]:
        tokens = self._tokenize(text)
        pieces: list[str] = []
        start = 0
        while start < len(tokens):
            end = min(start + max_tokens, len(tokens))
            # Do not cut inside a UTF-8 character: back off while the piece is not valid text.
            while end > start + 1:
                raw = self._llm.detokenize(tokens[start:end])
                try:
                    pieces.append(raw.decode("utf-8"))
                    break
                except UnicodeDecodeError:
                    end -= 1
            else:
                pieces.append(self._llm.detokenize(tokens[start:end]).decode("utf-8", "replace"))
            start = end
        return pieces

    def _prompt_tokens(self, messages: list[Message]) -> list[int]:
        # A last assistant message is a prefill: the reply continues it.
        prefill = messages[-1].content if messages and messages[-1].role == "assistant" else ""
        turns = messages[:-1] if prefill else messages
        formatted = self._formatter(
            messages=[{"role": m.role, "content": m.content} for m in turns]  # type: ignore[misc]
        )
        prompt = formatted.prompt + prefill
        add_bos = bool(self._llm._model.add_bos_token()) and not (
            self._bos_text and prompt.startswith(self._bos_text))
        return self._llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def count_chat_tokens(self, messages: list[Message]) -> int:
        return len(self._prompt_tokens(messages))

    # -- generation ---------------------------------------------------------------------------
    def chat(self, messages: list[Message], params: GenerationParams,
             cancel: CancelToken) -> Iterator[str | Usage]:
        prompt = self._prompt_tokens(messages)
        self._check_room(prompt)
        for _index, item in self._decoder.generate([prompt], [params], [cancel], cancel):
            yield item

    def chat_many(self, requests: list[tuple[list[Message], GenerationParams]],
                  cancel: CancelToken, *, stops: list[CancelToken] | None = None,
                  max_parallel: int = 4) -> Iterator[tuple[int, str | Usage]]:
        """Several chat requests decoded together as parallel sequences; yields
        (request index, text piece or its final Usage). `stops[i]` ends request i early."""
        prompts = [self._prompt_tokens(messages) for messages, _params in requests]
        for prompt in prompts:
            self._check_room(prompt)
        longest = max(len(p) + params.max_tokens for p, (_m, params) in zip(
            prompts, requests, strict=True))
        slots = self._parallel_slots(len(prompts), longest, max_parallel)
        decoder = self._decoder
        if slots > 1:
            decoder = self._parallel_decoder(slots, longest + 64)
        yield from decoder.generate(prompts, [params for _m, params in requests],
                                    stops or [cancel] * len(prompts), cancel)

    def _parallel_decoder(self, slots: int, per_sequence: int) -> NativeDecoder:
        """A context with a KV stream of its own for each of `slots` sequences (and one for the
        shared prefix), kept beside the one-by-one context so that the two never evict each
        other; rebuilt only when a request needs more sequences or a longer stream."""
        decoder = self._parallel
        if decoder is not None and decoder.slots >= slots and decoder.n_ctx >= per_sequence:
            return decoder
        if decoder is not None:
            decoder.close()
        self._parallel = None
        # A little headroom, so the next document's slightly longer chunk fits too.
        decoder = self._parallel = NativeDecoder(
            self._llm._model.model, self._llm._model.vocab, n_ctx=per_sequence + 256,
            slots=slots, threads=self._threads, batch_size=self._batch_size,
            flash_attn=self._flash_attn)
        log.info("parallel decoding: %d sequences of %d tokens each", slots, decoder.n_ctx)
        return decoder

    def _check_room(self, prompt: list[int]) -> None:
        if self.info.context_length - len(prompt) < 16:
            raise ValueError(f"prompt of {len(prompt)} tokens leaves no room in a "
                             f"{self.info.context_length}-token context")

    def _parallel_slots(self, requests: int, tokens_each: int, wanted: int) -> int:
        """How many sequences to decode at once: what was asked, as far as a quarter of the
        free memory holds their KV cache (f16 keys and values for every layer)."""
        import psutil

        model = self._llm._model.model
        layers = llama_cpp.llama_model_n_layer(model)
        heads = max(1, llama_cpp.llama_model_n_head(model))
        kv_width = llama_cpp.llama_model_n_embd(model) // heads * llama_cpp.llama_model_n_head_kv(
            model)
        bytes_per_token = 2 * layers * kv_width * 2
        budget = psutil.virtual_memory().available // 4
        # one stream per sequence plus the shared prefix's
        by_memory = max(1, budget // max(1, bytes_per_token * tokens_each) - 1)
        return max(1, min(wanted, requests, by_memory))

    def close(self) -> None:
        self._decoder.close()
        if self._parallel is not None:
            self._parallel.close()
        self._llm.close()

    # == benchmarks (issue 7: `lexbrief bench`) ===============================================
    # The raw measurement lives here because this is the only module that may touch llama_cpp.
    # It runs on this engine's own context (same threads, batch and KV cache) and leaves the
    # high-level `Llama` object in a state it continues from (a fresh prompt evaluation).

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
        with _quiet_native_logs():
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
    # == end of benchmarks ======================================================================


def backend_report() -> dict[str, object]:
    """What this llama.cpp build can do, for the hardware plan (lexbrief.models.fit) and
    `lexbrief hw`: whether it can offload layers to a GPU, and the CPU features it uses."""
    ensure_cpu_backend()  # issue 6: installers' runtime CPU dispatch (end of module)
    return {
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
    }


# == runtime CPU dispatch (issue 6: installers) ==============================================
# Installers ship llama.cpp built with GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS: no CPU code is
# linked in, and one `libggml-cpu-<variant>.so` must be loaded before the first model. Which
# one is decided by lexbrief.engine.cpu_backend (probed once in a child, then remembered); it is
# loaded here, through the libggml copy libllama links. A wheel holds copies, not symlinks:
# `libggml.so` is another copy, and a backend registered there is invisible to llama.cpp.
# An ordinary build (the dev venv) has no variant files, and all this does nothing.
_cpu_backend_lock = threading.Lock()
_cpu_backend_loaded: dict[str, str] = {}  # {"variant": name, or "" for an ordinary build}


def load_cpu_backend(library: Path) -> None:
    """Register one CPU backend module with the libggml that libllama uses."""
    folder = Path(llama_cpp.llama_cpp._base_path)
    names = ("libggml.so.0", "libggml.0.dylib", "ggml.dll", "libggml.so", "libggml.dylib")
    ggml_path = next((folder / n for n in names if (folder / n).is_file()), None)
    if ggml_path is None:
        raise ModelError(f"llama.cpp's libggml is missing from {folder}")
    ggml = ctypes.CDLL(str(ggml_path), mode=ctypes.RTLD_GLOBAL)  # already loaded: same handle
    ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load.restype = ctypes.c_void_p
    if not ggml.ggml_backend_load(os.fsencode(library)):
        raise ModelError(f"llama.cpp cannot load its CPU backend {library}")


def ensure_cpu_backend(model_path: Path | None = None) -> str | None:
    """Load the CPU backend once per process, if this llama.cpp needs one; the variant's name
    (None for an ordinary build, or while no model is known to probe with)."""
    from lexbrief.engine import cpu_backend

    with _cpu_backend_lock:
        if "variant" in _cpu_backend_loaded:
            return _cpu_backend_loaded["variant"] or None
        folder = Path(llama_cpp.llama_cpp._base_path)
        files = cpu_backend.variant_files(folder)
        if not files:
            _cpu_backend_loaded["variant"] = ""
            return None
        choice = cpu_backend.select_variant(
            folder, model_path or cpu_backend.default_probe_model())
        if choice is None:
            return None
        with _quiet_native_logs():  # ggml says "load_backend: loaded CPU backend from ..."
            load_cpu_backend(files[choice.variant])
        log.info("CPU backend: %s (%s)", choice.variant, choice.source)
        _cpu_backend_loaded["variant"] = choice.variant
        return choice.variant
# == end of runtime CPU dispatch ==============================================================


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
    generated: list[int] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    admitted_at: float = 0.0
    first_at: float | None = None
    logits_at: int = -1  # batch row whose logits this request samples from
    last: int = -1  # the token to feed next
    decoder: Any = None
    max_tokens: int = 0


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
        with _quiet_native_logs():
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

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_batch_free(self.batch)
            llama_cpp.llama_free(self.ctx)
            self.ctx = None

    # -- pieces -------------------------------------------------------------------------------
    def piece(self, token: int) -> bytes:
        n = llama_cpp.llama_token_to_piece(self.vocab, token, self._piece, 256, 0, False)
        return self._piece.raw[:n] if n > 0 else b""

    def _sampler(self, params: GenerationParams) -> Any:
        chain = llama_cpp.llama_sampler_chain_init(
            llama_cpp.llama_sampler_chain_default_params())
        add = llama_cpp.llama_sampler_chain_add
        if params.grammar:
            grammar = llama_cpp.llama_sampler_init_grammar(
                self.vocab, params.grammar.encode("utf-8"), b"root")
            if not grammar:
                llama_cpp.llama_sampler_free(chain)
                raise ValueError("llama.cpp rejected the grammar (GBNF syntax error)")
            add(chain, grammar)
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

    def _step(self, request: _Request, cancel: CancelToken,
              finished: list[_Request]) -> Iterator[tuple[int, str | Usage]]:
        now = time.perf_counter()
        if request.first_at is None:
            request.first_at = now
        token = llama_cpp.llama_sampler_sample(request.sampler, self.ctx, request.logits_at)
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

    def _release(self, request: _Request) -> None:
        if request.sampler is not None:
            llama_cpp.llama_sampler_free(request.sampler)
            request.sampler = None
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
