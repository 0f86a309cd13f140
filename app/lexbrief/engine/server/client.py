"""HTTP to an OpenAI-compatible server (llama-server, vLLM): one client per engine, shared by
its threads, with the failures sorted into clear messages.

- TLS is verified (the system's trust store, or `ca_bundle`); there is no switch to turn it off.
- The API key goes in the Authorization header only: never in a log line, a message or the DB.
- 429 and 5xx answers are retried a bounded number of times with exponential backoff
  (Retry-After honoured, capped); then the last answer becomes a `ServerError`.
- A server that is not there, that refuses the key, that goes silent past the timeout or that
  closes the connection mid-reply gives a `ServerError` saying which, with the URL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from lexbrief import network
from lexbrief.errors import ModelError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT_S = 30.0


class ServerError(ModelError):
    """The server cannot be used (not running, refused, failing): exit code 4, like a model
    that cannot be loaded."""


@dataclass(frozen=True)
class ServerConfig:
    url: str  # e.g. http://127.0.0.1:8080 (no /v1)
    api_key: str | None = None
    ca_bundle: str = ""  # a PEM file of the firm's CA; empty: the system's trust store
    timeout_s: float = 300.0  # the longest silence while a reply streams
    connect_timeout_s: float = 10.0
    max_retries: int = 4  # for 429/5xx answers, after the first try
    backoff_s: float = 0.5  # the first wait; doubled each retry
    max_parallel: int = 4  # requests at once, at most (the server's free slots may be fewer)

    @property
    def public_url(self) -> str:
        """The URL without credentials or query: what may be logged and stored."""
        return public_url(self.url)


def public_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class ServerClient:
    def __init__(self, config: ServerConfig, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        parts = urlsplit(config.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServerError(f"'{config.url}' is not a server address; write it like "
                              "http://gpu-box.firm.local:8080")
        self.config = config
        self.base = public_url(config.url)
        # The configured server is the one host the network policy lets LexBrief reach
        # (besides the hub during a download); offline, this refuses with a clear message.
        network.allow_server(self.base)
        self._sleep = sleep
        verify: ssl.SSLContext | bool = True
        if config.ca_bundle:
            try:
                verify = ssl.create_default_context(cafile=config.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise ServerError(f"the CA bundle {config.ca_bundle} cannot be read: "
                                  f"{exc}") from exc
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = httpx2.Client(
            base_url=self.base, headers=headers, verify=verify, trust_env=False,
            timeout=httpx2.Timeout(config.timeout_s, connect=config.connect_timeout_s),
            limits=httpx2.Limits(max_connections=max(4, config.max_parallel + 2)))
        self._lock = threading.Lock()
        self.retries = 0  # answers retried so far (429/5xx), for the run's record

    def close(self) -> None:
        self._http.close()

    # -- requests ----------------------------------------------------------------------------
    def get(self, path: str, *, retry: bool = True) -> Any:
        with self._request("GET", path, None, stream=False, retry=retry) as response:
            return _json(response, self.base + path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        with self._request("POST", path, body, stream=False, retry=True) as response:
            return _json(response, self.base + path)

    def status(self, path: str) -> int:
        """The HTTP status of a GET, without retries (for /health); raises when unreachable."""
        with self._request("GET", path, None, stream=False, retry=False,
                           accept_errors=True) as response:
            return response.status_code

    def stream_events(self, path: str,
                      body: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """POST, then yield each server-sent event's JSON until `[DONE]`. Closing the
        generator closes the connection (llama-server and vLLM then stop generating)."""
        with self._request("POST", path, body, stream=True, retry=True) as response:
            try:
                for event in httpx2.EventSource(response):
                    if event.data.strip() == "[DONE]":
                        return
                    if not event.data.strip():
                        continue
                    try:
                        yield json.loads(event.data)
                    except json.JSONDecodeError as exc:
                        raise ServerError(f"{self.base}{path} sent a reply that is not JSON "
                                          f"({event.data[:80]!r})") from exc
                # The stream ended without its [DONE]: a server killed mid-reply just closes
                # the socket, and a chunked reply cut at a chunk's end reads as a clean end.
                raise ServerError(
                    f"the server at {self.base} closed the connection in the middle of a "
                    "reply; nothing was stored: run it again when the server is back")
            except httpx2.SSEError as exc:
                raise ServerError(f"{self.base}{path} did not stream its reply ({exc})") from exc
            except httpx2.ReadTimeout as exc:
                raise ServerError(
                    f"the server at {self.base} sent nothing for {self.config.timeout_s:.0f} s "
                    "in the middle of a reply (timeout_s in the server settings)") from exc
            except (httpx2.RemoteProtocolError, httpx2.ReadError) as exc:
                raise ServerError(
                    f"the server at {self.base} closed the connection in the middle of a "
                    f"reply ({type(exc).__name__}); nothing was stored: run it again when the "
                    "server is back") from exc

    @contextlib.contextmanager
    def _request(self, method: str, path: str, body: dict[str, Any] | None, *, stream: bool,
                 retry: bool, accept_errors: bool = False) -> Iterator[httpx2.Response]:
        attempt = 0
        while True:
            request = self._http.build_request(method, path, json=body)
            try:
                response = self._http.send(request, stream=stream)
            except httpx2.ConnectTimeout as exc:
                raise ServerError(f"the server at {self.base} did not answer within "
                                  f"{self.config.connect_timeout_s:.0f} s") from exc
            except httpx2.ConnectError as exc:
                raise ServerError(f"LexBrief cannot reach the server at {self.base} "
                                  f"({_reason(exc)}). Is it running?") from exc
            except httpx2.ReadTimeout as exc:
                raise ServerError(f"the server at {self.base} sent no answer within "
                                  f"{self.config.timeout_s:.0f} s") from exc
            except (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError) as exc:
                raise ServerError(f"the server at {self.base} dropped the connection "
                                  f"({type(exc).__name__})") from exc
            except httpx2.TransportError as exc:
                raise ServerError(f"the server at {self.base} cannot be used: "
                                  f"{_reason(exc)}") from exc
            status = response.status_code
            if retry and status in RETRY_STATUSES and attempt < self.config.max_retries:
                wait = _retry_wait(response, self.config.backoff_s * 2 ** attempt)
                response.close()
                attempt += 1
                with self._lock:
                    self.retries += 1
                log.warning("%s %s%s: HTTP %d, retry %d of %d in %.1f s", method, self.base,
                            path, status, attempt, self.config.max_retries, wait)
                self._sleep(wait)
                continue
            try:
                if status >= 400 and not accept_errors:
                    if stream:
                        response.read()
                    raise self._failure(response, path, attempt)
                yield response
            finally:
                response.close()
            return

    def key_refused(self, status: int) -> ServerError:
        given = "LexBrief's API key" if self.config.api_key else "LexBrief without an API key"
        return ServerError(f"the server at {self.base} refused {given} (HTTP {status}): check "
                           "the key in the environment variable the server settings name")

    def _failure(self, response: httpx2.Response, path: str, retries: int) -> ServerError:
        status = response.status_code
        detail = _error_text(response)
        if status in (401, 403):
            return self.key_refused(status)
        if status == 404:
            return ServerError(f"the server at {self.base} has no {path} (HTTP 404): is it "
                               "llama-server or vLLM's OpenAI server?")
        tried = f" after {retries + 1} tries" if retries else ""
        return ServerError(f"the server at {self.base} failed{tried} (HTTP {status}"
                           + (f": {detail}" if detail else "") + ")")


def _retry_wait(response: httpx2.Response, backoff: float) -> float:
    after = response.headers.get("retry-after", "")
    try:
        return min(MAX_RETRY_WAIT_S, max(backoff, float(after)))
    except ValueError:
        return min(MAX_RETRY_WAIT_S, backoff)


def _json(response: httpx2.Response, where: str) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ServerError(f"{where} did not answer with JSON") from exc


def _error_text(response: httpx2.Response) -> str:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, httpx2.ResponseNotRead):
        return response.text[:200].strip() if response.is_stream_consumed else ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:200]
    return str(error or data.get("message", "") if isinstance(data, dict) else "")[:200]


def _reason(exc: BaseException) -> str:
    """What the operating system said, from the exception chain's OSError (not its words)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "the server's name cannot be resolved"
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"its TLS certificate is not trusted ({seen.verify_message})"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__
