"""The server engine against a real llama-server process (issue 14), and its failures: a server
that is not there, refuses the key, goes silent (SIGSTOP), dies mid-reply (SIGKILL), or answers
5xx again and again (a real HTTP server on 127.0.0.1 that does only that)."""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lexbrief.cancel import NEVER, CancelToken
from lexbrief.engine.contract import GenerationParams, Message, Usage
from lexbrief.engine.server.client import ServerConfig, ServerError, public_url
from lexbrief.engine.server.engine import LLAMA_SERVER, ServerEngine
from lexbrief.network import NetworkForbidden, Recording
from lexbrief.read import load_document
from lexbrief.summarize.notes import NOTES_GRAMMAR, NOTES_PREFILL
from lexbrief.summarize.pipeline import Pipeline
from lexbrief.summarize.source_text import normalize
from lexbrief.summarize.templates import detect_kind, load_templates

from llama_server import RunningServer, free_port, llama_server

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]
OPINION = ROOT / "resources" / "samples" / "court-opinion-ca1.pdf"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with llama_server(parallel=4, ctx_per_slot=2048) as running:
        yield running


@pytest.fixture(scope="module")
def engine(server: RunningServer) -> Iterator[ServerEngine]:
    engine = ServerEngine(ServerConfig(url=server.base_url))
    yield engine
    engine.close()


def _text(items: list[str | Usage]) -> str:
    return "".join(i for i in items if isinstance(i, str))


def test_the_engine_reads_what_the_server_serves(engine: ServerEngine,
                                                 server: RunningServer) -> None:
    assert engine.kind == LLAMA_SERVER
    assert engine.slots == 4
    assert engine.info.context_length == 2048  # per slot: -c 8192 split over -np 4
    assert engine.info.trained_context == 8192
    assert engine.info.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert engine.info.extra["server_url"] == server.base_url
    assert engine.info.extra["fingerprint"].startswith("server-sha256:")
    assert engine.abilities.batched_chat and engine.abilities.grammar
    assert not engine.abilities.raw_timing


def test_token_counts_are_the_servers_own(engine: ServerEngine, llama_engine: object) -> None:
    """The same GGUF in-process and on the server: the same counts, split and chat prompt."""
    text = "The Lessee shall pay rent of $1,200 on the first day of each month. Café résumé."
    assert engine.count_tokens(text) == llama_engine.count_tokens(text)  # type: ignore[attr-defined]
    pieces = engine.split_by_tokens(text, 8)
    assert "".join(pieces) == text and len(pieces) > 1
    assert all(engine.count_tokens(p) <= 8 for p in pieces)
    messages = [Message("system", "You summarize."), Message("user", "Say hello.")]
    assert engine.count_chat_tokens(messages) == llama_engine.count_chat_tokens(messages)  # type: ignore[attr-defined]


def test_a_reply_streams_with_its_usage_and_a_prefill_is_continued(engine: ServerEngine) -> None:
    messages = [Message("user", "Say hello in five words."),
                Message("assistant", "Hello there,")]
    items = list(engine.chat(messages, GenerationParams(max_tokens=12), NEVER))
    usage = items[-1]
    assert isinstance(usage, Usage) and all(isinstance(i, str) for i in items[:-1])
    assert 0 < usage.completion_tokens <= 12
    assert usage.finish_reason == ("length" if usage.completion_tokens == 12 else "stop")
    assert usage.prompt_tokens == engine.count_chat_tokens(messages)
    assert not _text(items).startswith("Hello there")  # continued, not echoed


def test_the_notes_grammar_is_enforced_by_the_server(engine: ServerEngine) -> None:
    from lexbrief.summarize.notes import parse_notes

    messages = [Message("user", "Notes on: The rent is $1,200 per month, due on the first."),
                Message("assistant", NOTES_PREFILL)]
    items = list(engine.chat(messages, GenerationParams(max_tokens=120, grammar=NOTES_GRAMMAR),
                             NEVER))
    reply = _text(items)
    notes = parse_notes(NOTES_PREFILL + reply)
    assert notes, reply  # the grammar makes it parse, whatever the small model says


def test_batched_requests_use_several_slots_and_keep_their_order(engine: ServerEngine) -> None:
    requests = [([Message("user", f"Write the number {i} in words.")],
                 GenerationParams(max_tokens=8)) for i in range(6)]
    stops = [CancelToken() for _ in requests]
    stops[2].cancel()  # stopped before it starts: ends at once, "cancelled"
    seen: dict[int, list[str | Usage]] = {}
    for index, item in engine.chat_many(requests, NEVER, stops=stops, max_parallel=4):
        seen.setdefault(index, []).append(item)
    assert sorted(seen) == list(range(6))
    for index, items in seen.items():
        usage = items[-1]
        assert isinstance(usage, Usage)
        assert usage.finish_reason == ("cancelled" if index == 2 else "length"), index


def test_a_whole_document_through_the_server_is_grounded(engine: ServerEngine) -> None:
    document = load_document(OPINION)
    template, _note = detect_kind(document.text, load_templates(), document.page_count)
    summary = Pipeline(engine).run(document, template)
    assert summary.points, "no verified key points"
    assert summary.coverage.pages_read == summary.coverage.pages_total == document.page_count
    for point in summary.points:  # every quote shown stands on its page, by construction
        on_pages = " ".join(document.page(s.page).text[s.start:s.end] for s in point.spans)
        assert normalize(point.quote) == normalize(on_pages)
    model_notes = [p for p in summary.points if p.origin in ("model", "quote")]
    assert model_notes, "the server's notes were all rejected: only extracts are shown"
    assert summary.usage.prompt_tokens > 0


# -- failures ----------------------------------------------------------------------------------
def test_no_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerError, match=r"cannot reach the server at .*connection refused"):
        ServerEngine(ServerConfig(url=url))


def test_a_wrong_api_key_is_refused_clearly() -> None:
    with llama_server(parallel=1, ctx_per_slot=1024, api_key="right-key") as running:
        with pytest.raises(ServerError, match=r"refused LexBrief's API key \(HTTP 401") as info:
            ServerEngine(ServerConfig(url=running.base_url, api_key="wrong-key"))
        assert "wrong-key" not in str(info.value) and "right-key" not in str(info.value)
        with pytest.raises(ServerError, match="without an API key"):
            ServerEngine(ServerConfig(url=running.base_url))
        good = ServerEngine(ServerConfig(url=running.base_url, api_key="right-key"))
        assert good.count_tokens("two words") > 0
        good.close()


def test_a_silent_server_times_out() -> None:
    with llama_server(parallel=1, ctx_per_slot=1024) as running:
        engine = ServerEngine(ServerConfig(url=running.base_url, timeout_s=2.0))
        os.kill(running.process.pid, signal.SIGSTOP)  # alive, listening, answering nothing
        try:
            started = time.monotonic()
            with pytest.raises(ServerError, match="sent no answer within 2 s"):
                list(engine.chat([Message("user", "Hello")], GenerationParams(max_tokens=4),
                                 NEVER))
            assert time.monotonic() - started < 30
        finally:
            os.kill(running.process.pid, signal.SIGCONT)
            engine.close()


def test_a_server_killed_mid_reply_is_a_clear_error() -> None:
    with llama_server(parallel=1, ctx_per_slot=1024) as running:
        engine = ServerEngine(ServerConfig(url=running.base_url))
        stream = engine.chat([Message("user", "Tell a long story about a court.")],
                             GenerationParams(max_tokens=400), NEVER)
        assert isinstance(next(stream), str)  # the reply has begun
        running.process.kill()
        running.process.wait()
        with pytest.raises(ServerError, match="closed the connection in the middle of a reply"):
            list(stream)
        engine.close()


class _Failing(http.server.BaseHTTPRequestHandler):
    status = 503
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "overloaded", "code": 503}}')

    def log_message(self, *args: object) -> None:
        pass


def test_a_5xx_storm_is_retried_a_bounded_number_of_times_then_reported() -> None:
    from lexbrief.engine.server.client import ServerClient

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    waits: list[float] = []
    try:
        client = ServerClient(ServerConfig(url=f"http://127.0.0.1:{httpd.server_port}",
                                           max_retries=3, backoff_s=0.5), sleep=waits.append)
        with pytest.raises(ServerError, match=r"failed after 4 tries \(HTTP 503: overloaded\)"):
            client.get("/v1/models")
        assert _Failing.hits == 4 and client.retries == 3
        assert waits == [0.5, 1.0, 2.0]  # exponential backoff (Retry-After 0 is shorter)
        client.close()
    finally:
        httpd.shutdown()


def test_credentials_never_reach_the_stored_url() -> None:
    assert public_url("https://user:secret@gpu.firm.local:8443/?key=abc") == \
        "https://gpu.firm.local:8443"


def test_a_whole_server_run_connects_only_to_the_server(server: RunningServer,
                                                        network_guard: Recording) -> None:
    """The network policy in force (as `lexbrief` has it): a whole document through the server
    makes connections to the server and to nothing else; an offline policy refuses it."""
    from lexbrief import network

    engine = ServerEngine(ServerConfig(url=server.base_url))  # the configured server
    document = load_document(ROOT / "tests" / "fixtures" / "documents" / "court-order-ca7.pdf")
    template, _note = detect_kind(document.text, load_templates(), document.page_count)
    summary = Pipeline(engine).run(document, template)
    engine.close()
    assert summary.points
    assert network_guard.outside(server.base_url) == []
    assert network_guard.allowed and all(
        a.rule == "the configured server" for a in network_guard.allowed)
    network.set_offline(True)
    with pytest.raises(NetworkForbidden, match="offline"):
        ServerEngine(ServerConfig(url=server.base_url))
