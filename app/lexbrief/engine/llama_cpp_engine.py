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
from pathlib import Path

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from lexbrief.core.cancel import CancelToken
from lexbrief.engine.base import GenerationParams, Message, ModelInfo, RawTiming, Usage
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

    def __init__(self, model_path: Path | str, *, context_length: int | None = None,
                 threads: int | None = None, gpu_layers: int = 0, batch_size: int = 512) -> None:
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
                self._llm = llama_cpp.Llama(
                    str(path), n_ctx=n_ctx, n_batch=min(batch_size, n_ctx), n_ubatch=min(
                        batch_size, n_ctx), n_threads=threads, n_threads_batch=threads,
                    n_gpu_layers=gpu_layers, verbose=False, seed=0,
                )
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
        room = self.info.context_length - len(prompt)
        if room < 16:
            raise ValueError(
                f"prompt of {len(prompt)} tokens leaves no room in a {self.info.context_length}"
                "-token context"
            )
        max_tokens = min(params.max_tokens, room)
        cached = self._cached_prefix(prompt)
        usage = Usage(prompt_tokens=len(prompt), cached_prompt_tokens=cached)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._llm.set_seed(params.seed)
        started = time.perf_counter()
        first_token_at: float | None = None
        generated: list[int] = []
        usage.finish_reason = "length"
        try:
            for token in self._llm.generate(
                prompt, top_k=params.top_k, top_p=params.top_p, min_p=0.0,
                temp=params.temperature, repeat_penalty=params.repeat_penalty, reset=True,
            ):
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                if cancel.cancelled:
                    usage.finish_reason = "cancelled"
                    break
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    usage.finish_reason = "stop"
                    break
                generated.append(token)
                piece = decoder.decode(self._llm.detokenize([token], prev_tokens=generated[:-1]))
                if piece:
                    yield piece
                if len(generated) >= max_tokens:
                    break
        finally:
            ended = time.perf_counter()
            first = first_token_at or ended
            usage.completion_tokens = len(generated)
            usage.prompt_seconds = first - started
            usage.generation_seconds = ended - first
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail
        yield usage

    def _cached_prefix(self, prompt: list[int]) -> int:
        """Prompt tokens llama.cpp will reuse from the last request (same system text...)."""
        previous = self._llm._input_ids[: self._llm.n_tokens]
        shared = 0
        for a, b in zip(previous, prompt, strict=False):
            if a != b:
                break
            shared += 1
        return min(shared, len(prompt) - 1) if shared else 0

    def close(self) -> None:
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
        ctx = self._llm._ctx.ctx
        return {"n_ctx": int(llama_cpp.llama_n_ctx(ctx)),
                "n_batch": int(llama_cpp.llama_n_batch(ctx)),
                "n_ubatch": int(llama_cpp.llama_n_ubatch(ctx)),
                "n_threads": int(llama_cpp.llama_n_threads(ctx)),
                "n_threads_batch": int(llama_cpp.llama_n_threads_batch(ctx))}

    def clear_cache(self) -> None:
        """Forget every cached prompt: the next request evaluates its prompt from scratch."""
        memory = llama_cpp.llama_get_memory(self._llm._ctx.ctx)
        if memory is not None:
            llama_cpp.llama_memory_clear(memory, True)
        self._llm.reset()
        self._raw_kv_tokens: list[int] = []

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
        ctx = self._llm._ctx.ctx
        memory = llama_cpp.llama_get_memory(ctx)
        # What the KV cache holds now: the high-level object's tokens, or our previous run's.
        if self._llm.n_tokens > 0:
            held = [int(t) for t in self._llm._input_ids[: self._llm.n_tokens]]
        else:
            held = getattr(self, "_raw_kv_tokens", [])
        cached = 0
        if reuse_prefix:
            for a, b in zip(held, tokens, strict=False):
                if a != b:
                    break
                cached += 1
            cached = min(cached, len(tokens) - 1)  # decode at least one token for the logits
        if memory is not None:
            if cached:
                llama_cpp.llama_memory_seq_rm(memory, -1, cached, -1)
            else:
                llama_cpp.llama_memory_clear(memory, True)
        self._llm.reset()  # the high-level object must not trust the cache after this
        self._raw_kv_tokens = []

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
        return RawTiming(prompt_tokens=len(tokens), cached_prompt_tokens=cached,
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
        load_cpu_backend(files[choice.variant])
        log.info("CPU backend: %s (%s)", choice.variant, choice.source)
        _cpu_backend_loaded["variant"] = choice.variant
        return choice.variant
# == end of runtime CPU dispatch ==============================================================
