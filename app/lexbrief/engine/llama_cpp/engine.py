"""llama.cpp in-process, through llama-cpp-python: the `Engine` contract on a GGUF file.

This package is the only one that imports `llama_cpp` (an import-linter contract): the engine
here, the native decode loop (`decoder`), the library's CPU backend and abilities (`native`),
raw timings for the bench (`raw`) and the installers' CPU-variant probe (`cpu_dispatch`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

from lexbrief.cancel import CancelToken
from lexbrief.engine.contract import (
    Abilities,
    GenerationParams,
    Message,
    ModelInfo,
    Usage,
)
from lexbrief.engine.llama_cpp.decoder import NativeDecoder
from lexbrief.engine.llama_cpp.native import (
    Jinja2ChatFormatter,
    ensure_cpu_backend,
    llama_cpp,
    physical_cores,
    quiet_native_logs,
)
from lexbrief.engine.llama_cpp.raw import RawBenchmarks
from lexbrief.engine.memory import kv_bytes_per_cell
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



class LlamaCppEngine(RawBenchmarks):
    """A GGUF model loaded once and reused for every request."""

    abilities = Abilities(batched_chat=True, grammar=True, raw_timing=True)

    def __init__(self, model_path: Path | str, *, context_length: int | None = None,
                 threads: int | None = None, gpu_layers: int = 0, batch_size: int = 512,
                 flash_attn: bool | None = None) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        ensure_cpu_backend(path)  # issue 6: installers' runtime CPU dispatch (native.py)
        threads = threads or physical_cores()
        started = time.perf_counter()
        try:
            with quiet_native_logs():
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
            # Weights and vocabulary through the binding's public pointers and C API.
            self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
            self._decoder = NativeDecoder(
                self._llm.model, self._vocab, n_ctx=n_ctx, slots=1,
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
        eos = self._llm.token_eos()
        bos = self._llm.token_bos()
        self._bos_text = self._token_text(bos) if bos >= 0 else ""
        self._formatter = Jinja2ChatFormatter(
            template=metadata.get("tokenizer.chat_template") or _FALLBACK_TEMPLATE,
            eos_token=self._token_text(eos) if eos >= 0 else "",
            bos_token=self._bos_text,
        )
        log.info("loaded %s: ctx %d (trained %d), %d threads, %d GPU layers, %.2f s",
                 path.name, n_ctx, trained, threads, gpu_layers, self.info.load_seconds)

    def _token_text(self, token: int) -> str:
        return llama_cpp.llama_vocab_get_text(self._vocab, token).decode("utf-8", "replace")

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
        add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab)) and not (
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
            self._llm.model, self._vocab, n_ctx=per_sequence + 256,
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

        model = self._llm.model
        layers = llama_cpp.llama_model_n_layer(model)
        heads = max(1, llama_cpp.llama_model_n_head(model))
        head_dim = llama_cpp.llama_model_n_embd(model) // heads
        bytes_per_token = layers * kv_bytes_per_cell(
            llama_cpp.llama_model_n_head_kv(model), head_dim, head_dim)
        budget = psutil.virtual_memory().available // 4
        # one stream per sequence plus the shared prefix's
        by_memory = max(1, budget // max(1, bytes_per_token * tokens_each) - 1)
        return max(1, min(wanted, requests, by_memory))

    def close(self) -> None:
        self._decoder.close()
        if self._parallel is not None:
            self._parallel.close()
        self._llm.close()
