"""llama.cpp in-process, through llama-cpp-python. The only module that imports `llama_cpp`."""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from lexbrief.core.cancel import CancelToken
from lexbrief.engine.base import GenerationParams, Message, ModelInfo, Usage
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
