"""The engine contract on an OpenAI-compatible server: llama.cpp's `llama-server` or vLLM.

What the pipeline needs that plain OpenAI chat lacks comes from each server's own endpoints,
so that token counts are the server's tokenizer's, never an estimate:

| need | llama-server | vLLM |
|---|---|---|
| alive | GET /health (503 while loading) | GET /health |
| model, context | GET /props (n_ctx per slot, slots), /v1/models | /v1/models (max_model_len) |
| tokens of text | POST /tokenize, /detokenize | POST /tokenize, /detokenize |
| tokens of a chat | POST /apply-template, then /tokenize | POST /tokenize with messages |
| prefill (continue an assistant message) | by default | continue_final_message |
| grammar (GBNF) | `grammar` | not used (the notes are parsed leniently) |

`chat_many` sends up to N requests at once (N = the server's idle slots when it reports them,
capped by `max_parallel`) from worker threads, and yields their pieces as they arrive, tagged
with the request's index: the server batches them (continuous batching).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any

from lexbrief.cancel import CancelToken
from lexbrief.engine.contract import Abilities, GenerationParams, Message, ModelInfo, Usage
from lexbrief.engine.server.client import ServerClient, ServerConfig, ServerError

log = logging.getLogger(__name__)

LLAMA_SERVER = "llama-server"
VLLM = "vllm"


class ServerEngine:
    """One model served over HTTP. Cheap to create: it asks the server, loads nothing."""

    def __init__(self, config: ServerConfig, *, wait_s: float = 0.0) -> None:
        started = time.perf_counter()
        self.client = ServerClient(config)
        self.config = config
        try:
            self._wait_until_healthy(wait_s)
            self.kind, self.info, self.slots = self._describe()
        except BaseException:
            self.client.close()
            raise
        self.info.load_seconds = time.perf_counter() - started
        self.abilities = Abilities(batched_chat=True, grammar=self.kind == LLAMA_SERVER)
        log.info("server %s (%s): model %s, context %d per request, %d slot(s)",
                 self.client.base, self.kind, self.info.name, self.info.context_length,
                 self.slots)

    # -- connecting --------------------------------------------------------------------------
    def _wait_until_healthy(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while True:
            status = self.client.status("/health")
            if status == 200:
                return
            if status in (401, 403):
                raise self.client.key_refused(status)
            if time.monotonic() >= deadline:
                loading = ", still loading its model" if status == 503 else ""
                raise ServerError(f"the server at {self.client.base} is not ready (GET /health: "
                                  f"HTTP {status}{loading})")
            time.sleep(0.5)

    def _describe(self) -> tuple[str, ModelInfo, int]:
        models = self.client.get("/v1/models")
        entries = models.get("data") or [] if isinstance(models, dict) else []
        if not entries:
            raise ServerError(f"the server at {self.client.base} serves no model (/v1/models)")
        model = entries[0]
        served = str(model.get("id", "unknown"))
        name = served.replace("\\", "/").rsplit("/", 1)[-1]  # llama-server's id is the path
        meta = model.get("meta") or {}
        props: dict[str, Any] | None = None
        if "max_model_len" not in model:  # vLLM says it here; llama-server has /props
            try:
                found = self.client.get("/props", retry=False)
                props = found if isinstance(found, dict) else None
            except ServerError:
                props = None
        if props is not None:
            settings = props.get("default_generation_settings") or {}
            context = int(settings.get("n_ctx") or meta.get("n_ctx_train") or 0)
            slots = int(props.get("total_slots") or 1)
            fingerprint = _fingerprint(served, meta, str(props.get("chat_template") or ""))
            kind = LLAMA_SERVER
            trained = int(meta.get("n_ctx_train") or context)
        elif "max_model_len" in model:
            context = int(model["max_model_len"])
            slots = self.config.max_parallel
            fingerprint = _fingerprint(served, model, "")
            kind = VLLM
            trained = context
        else:
            raise ServerError(
                f"the server at {self.client.base} is OpenAI-compatible but neither llama-server "
                "nor vLLM: LexBrief needs their /tokenize endpoint to count tokens exactly")
        if context <= 0:
            raise ServerError(f"the server at {self.client.base} does not say its context length")
        info = ModelInfo(name=name, path=None, context_length=context, trained_context=trained,
                         architecture=kind, threads=0, gpu_layers=0,
                         extra={"server_url": self.client.base, "server_kind": kind,
                                "served_model": served, "fingerprint": fingerprint,
                                "build": str((props or {}).get("build_info") or ""),
                                "slots": str(slots)})
        return kind, info, max(1, slots)

    def close(self) -> None:
        self.client.close()

    # -- tokens ------------------------------------------------------------------------------
    def _tokenize(self, text: str) -> list[int]:
        if self.kind == VLLM:
            body: dict[str, Any] = {"model": self.info.name, "prompt": text,
                                    "add_special_tokens": False}
        else:
            body = {"content": text, "add_special": False}
        tokens = self.client.post("/tokenize", body).get("tokens")
        if not isinstance(tokens, list):
            raise ServerError(f"{self.client.base}/tokenize answered without tokens")
        return [int(t["id"]) if isinstance(t, dict) else int(t) for t in tokens]

    def _detokenize(self, tokens: list[int]) -> str:
        body: dict[str, Any] = {"tokens": tokens}
        if self.kind == VLLM:
            body["model"] = self.info.name
        reply = self.client.post("/detokenize", body)
        return str(reply.get("content", reply.get("prompt", "")))

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text)) if text else 0

    def split_by_tokens(self, text: str, max_tokens: int) -> list[str]:
        """Consecutive pieces of at most max_tokens tokens. A piece is the server's own
        detokenization; where the pieces would not join back into the text exactly (a
        tokenizer that normalizes), the cuts fall at character offsets found by counting."""
        tokens = self._tokenize(text)
        if len(tokens) <= max_tokens:
            return [text] if text else []
        pieces = [self._detokenize(tokens[i:i + max_tokens])
                  for i in range(0, len(tokens), max_tokens)]
        if "".join(pieces) == text:
            return pieces
        return self._split_by_counting(text, max_tokens)

    def _split_by_counting(self, text: str, max_tokens: int) -> list[str]:
        pieces: list[str] = []
        start = 0
        while start < len(text):
            low, high = start + 1, len(text)
            if self.count_tokens(text[start:high]) <= max_tokens:
                pieces.append(text[start:])
                break
            while low < high:  # the longest prefix that fits
                middle = (low + high + 1) // 2
                if self.count_tokens(text[start:middle]) <= max_tokens:
                    low = middle
                else:
                    high = middle - 1
            pieces.append(text[start:low])
            start = low
        return pieces

    def count_chat_tokens(self, messages: list[Message]) -> int:
        wire = [{"role": m.role, "content": m.content} for m in messages]
        if self.kind == VLLM:
            body: dict[str, Any] = {"model": self.info.name, "messages": wire}
            if messages and messages[-1].role == "assistant":
                body.update(add_generation_prompt=False, continue_final_message=True)
            else:
                body["add_generation_prompt"] = True
            reply = self.client.post("/tokenize", body)
            return int(reply.get("count") or len(reply.get("tokens") or []))
        prompt = self.client.post("/apply-template", {"messages": wire}).get("prompt", "")
        body = {"content": str(prompt), "add_special": True, "parse_special": True}
        return len(self.client.post("/tokenize", body).get("tokens") or [])

    # -- chat --------------------------------------------------------------------------------
    def _body(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.info.name, "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_tokens, "temperature": params.temperature,
            "top_p": params.top_p, "top_k": params.top_k, "seed": params.seed,
        }
        if self.kind == VLLM:
            body["repetition_penalty"] = params.repeat_penalty
            if messages and messages[-1].role == "assistant":
                body.update(add_generation_prompt=False, continue_final_message=True)
        else:
            body["repeat_penalty"] = params.repeat_penalty
            body["cache_prompt"] = True
            if params.grammar:
                body["grammar"] = params.grammar
        return body

    def chat(self, messages: list[Message], params: GenerationParams,
             cancel: CancelToken) -> Iterator[str | Usage]:
        return self._stream(messages, params, cancel, None)

    def _stream(self, messages: list[Message], params: GenerationParams, cancel: CancelToken,
                stop: CancelToken | None) -> Iterator[str | Usage]:
        started = time.perf_counter()
        first: float | None = None
        usage = Usage()
        timings: dict[str, Any] = {}
        finish = "stop"
        # A prefill (a last assistant message) is continued; llama-server streams the prefill
        # back before the continuation, which is dropped here so the reply continues it.
        echo = messages[-1].content if messages and messages[-1].role == "assistant" else ""
        held = ""  # the reply's start while it may still be that echo
        events: Generator[dict[str, Any], None, None] = self.client.stream_events(
            "/v1/chat/completions", self._body(messages, params))
        try:
            for event in events:
                if cancel.cancelled or (stop is not None and stop.cancelled):
                    finish = "cancelled"
                    break
                for choice in event.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece and echo:
                        held += piece
                        if len(held) < len(echo) and echo.startswith(held):
                            continue
                        piece = held[len(echo):] if held.startswith(echo) else held
                        echo = held = ""
                    if piece:
                        if first is None:
                            first = time.perf_counter()
                        yield piece
                    if choice.get("finish_reason"):
                        finish = "length" if choice["finish_reason"] == "length" else "stop"
                if event.get("usage"):
                    reported = event["usage"]
                    usage.prompt_tokens = int(reported.get("prompt_tokens") or 0)
                    usage.completion_tokens = int(reported.get("completion_tokens") or 0)
                    details = reported.get("prompt_tokens_details") or {}
                    usage.cached_prompt_tokens = int(details.get("cached_tokens") or 0)
                if event.get("timings"):
                    timings = event["timings"]
        finally:
            events.close()  # closes the connection: the server stops generating
        if held and not held.startswith(echo):  # a reply shorter than the prefill
            yield held
        ended = time.perf_counter()
        if timings:  # llama-server's own clock: what its slot spent reading and writing
            usage.cached_prompt_tokens = int(timings.get("cache_n") or
                                             usage.cached_prompt_tokens)
            usage.prompt_seconds = float(timings.get("prompt_ms") or 0.0) / 1000
            usage.generation_seconds = float(timings.get("predicted_ms") or 0.0) / 1000
        else:
            usage.prompt_seconds = (first or ended) - started
            usage.generation_seconds = ended - (first or ended)
        usage.finish_reason = finish
        yield usage

    def chat_many(self, requests: list[tuple[list[Message], GenerationParams]],
                  cancel: CancelToken, *, stops: list[CancelToken] | None = None,
                  max_parallel: int = 4) -> Iterator[tuple[int, str | Usage]]:
        """Up to `width` requests in flight at once (the server's idle slots, capped by
        `max_parallel` and the setting); pieces are yielded as they arrive."""
        width = max(1, min(max_parallel, self.config.max_parallel, self.idle_slots(),
                           len(requests)))
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(requests)):
            todo.put(index)
        out: queue.SimpleQueue[tuple[int, str | Usage | BaseException] | None] = \
            queue.SimpleQueue()
        abandon = threading.Event()

        def work() -> None:
            try:
                while not abandon.is_set():
                    try:
                        index = todo.get_nowait()
                    except queue.Empty:
                        return
                    messages, params = requests[index]
                    stop = stops[index] if stops else None
                    try:
                        for item in self._stream(messages, params, cancel, stop):
                            if abandon.is_set():
                                return
                            out.put((index, item))
                    except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                        out.put((index, exc))
                        return
            finally:
                out.put(None)

        workers = [threading.Thread(target=work, name=f"lexbrief-server-{i}", daemon=True)
                   for i in range(width)]
        for worker in workers:
            worker.start()
        running = len(workers)
        try:
            while running:
                got = out.get()
                if got is None:
                    running -= 1
                    continue
                index, item = got
                if isinstance(item, BaseException):
                    raise item
                yield index, item
        finally:
            abandon.set()
            for worker in workers:
                worker.join(timeout=self.config.timeout_s)

    def idle_slots(self) -> int:
        """llama-server's idle slots now (GET /slots), else every slot it has."""
        if self.kind != LLAMA_SERVER:
            return self.slots
        try:
            slots = self.client.get("/slots", retry=False)
        except ServerError:  # started with --no-slots: assume all of them
            return self.slots
        if not isinstance(slots, list):
            return self.slots
        idle = sum(1 for slot in slots if not slot.get("is_processing"))
        return max(1, idle)


def _fingerprint(served: str, meta: dict[str, Any], chat_template: str) -> str:
    """What identifies the served model as the server describes it (its name, sizes, type,
    chat template): the same weights served again give the same fingerprint, so checkpoints and
    stored summaries can be matched to it. Not a hash of the weights, which LexBrief cannot
    read through the API."""
    described = json.dumps({"model": served, "meta": meta, "template": chat_template},
                           sort_keys=True, default=str)
    return "server-sha256:" + hashlib.sha256(described.encode("utf-8")).hexdigest()
