"""A local stand-in for the Hugging Face hub's file protocol, for download tests.

It speaks what huggingface_hub needs from `/{repo}/resolve/{revision}/{file}` (see
../shared/NOTES-hub-protocol.md): HEAD and GET, `X-Repo-Commit`, `ETag`, `X-Linked-Etag`
(the sha256) and `X-Linked-Size`, `Range` → 206 with `Content-Range`, and the hub's
`X-Error-Code` header on errors. It serves real files from disk.

Switches (attributes, change them between downloads):
  drop_after      close the socket after this many body bytes, once (then serve normally)
  stall_after     stop sending after this many body bytes until `release` is set (or the
                  server stops); `stalled` is set when it gets there
  token           require `Authorization: Bearer <token>`: none → 401, another → 403 (GatedRepo)
  corrupt         flip one byte in the middle of the body (the advertised sha256 stays right)
  fake_size       advertise this size instead of the real one (disk-space checks)
  redirect_to     answer a file's HEAD/GET with a 302 to this endpoint + the same path, with the
                  file's headers (as huggingface.co sends downloads to its CDN)
Every request is recorded in `requests` (method, path, headers with lowercase names).
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 256 * 1024


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


class HubServer:
    def __init__(self) -> None:
        self.files: dict[tuple[str, str], Path] = {}
        self._sha: dict[Path, str] = {}
        self.requests: list[Request] = []
        self.drop_after: int | None = None
        self.stall_after: int | None = None
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.token: str | None = None
        self.corrupt = False
        self.fake_size: int | None = None
        self.redirect_to: str | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo: str, filename: str, path: Path) -> str:
        """Serve `path` as `repo`/`filename`; returns its sha256."""
        self.files[(repo, filename)] = path
        if path not in self._sha:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
            self._sha[path] = digest.hexdigest()
        return self._sha[path]

    def gets(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET"]

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _error(self, status: int, code: str, message: str = "") -> None:
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                if message:
                    self.send_header("X-Error-Message", message)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _serve(self, *, body: bool) -> None:
                hub.requests.append(Request(self.command, self.path,
                                            {k.lower(): v for k, v in self.headers.items()}))
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    self._error(404, "RepoNotFound")
                    return
                repo, filename = f"{parts[0]}/{parts[1]}", "/".join(parts[4:])
                if not any(r == repo for r, _ in hub.files):
                    self._error(401, "RepoNotFound", "Invalid username or password.")
                    return
                if hub.token is not None:
                    auth = self.headers.get("Authorization", "")
                    if not auth:
                        self._error(401, "GatedRepo", "Access to this model is restricted.")
                        return
                    if auth != f"Bearer {hub.token}":
                        self._error(403, "GatedRepo", "Please accept the licence first.")
                        return
                path = hub.files.get((repo, filename))
                if path is None:
                    self._error(404, "EntryNotFound")
                    return
                if hub.redirect_to:
                    self._redirect(path)
                    return
                self._send_file(path, body=body)

            def _redirect(self, path: Path) -> None:
                self.send_response(302)
                self.send_header("Location", f"{hub.redirect_to}{self.path}")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{hub._sha[path]}"')
                self.send_header("X-Linked-Size", str(path.stat().st_size))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send_file(self, path: Path, *, body: bool) -> None:
                size = path.stat().st_size
                start = 0
                range_header = self.headers.get("Range")
                if range_header and range_header.startswith("bytes="):
                    first = range_header[len("bytes="):].split("-")[0]
                    start = int(first or 0)
                status = 206 if start else 200
                self.send_response(status)
                sha = hub._sha[path]
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{sha}"')
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(hub.fake_size or size))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(size - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                self.end_headers()
                if not body:
                    return
                self._stream(path, start, size)

            def _stream(self, path: Path, start: int, size: int) -> None:
                try:
                    self._stream_body(path, start, size)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _stream_body(self, path: Path, start: int, size: int) -> None:
                with hub._lock:
                    drop, hub.drop_after = hub.drop_after, None
                    stall, hub.stall_after = hub.stall_after, None
                sent = 0
                middle = size // 2
                with open(path, "rb") as f:
                    f.seek(start)
                    position = start
                    while position < size:
                        chunk = bytearray(f.read(CHUNK))
                        if not chunk:
                            break
                        if hub.corrupt and position <= middle < position + len(chunk):
                            chunk[middle - position] ^= 0xFF
                        limit = drop if drop is not None else stall
                        if limit is not None and sent + len(chunk) >= limit:
                            chunk = chunk[: max(limit - sent, 0)]
                            self.wfile.write(chunk)
                            self.wfile.flush()
                            if drop is not None:
                                self._drop()
                                return
                            hub.stalled.set()
                            hub.release.wait()
                            self._drop()
                            return
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        position += len(chunk)

            def _drop(self) -> None:
                """Close the connection mid-body, as a broken network would."""
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

        return Handler
