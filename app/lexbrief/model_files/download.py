"""Downloading catalog models from the Hugging Face hub, verified and resumable.

huggingface_hub does the HTTP work: `get_hf_file_metadata` (the HEAD that yields the commit,
the file's sha256 and size; tokens, HF_ENDPOINT mirrors, proxies from the environment and TLS
verification as the library does them) and `http_get` (the GET, which already resumes with a
Range request when the connection drops mid-file). LexBrief keeps the partial file itself, in
`<data folder>/models/.partial/`, because `hf_hub_download` (2.x) writes to a temporary name
it deletes on failure: here an interrupted download, a cancel or a restart of the app resumes
where it stopped.

The sha256 is computed while the bytes arrive and compared with the catalog's (when it has
one) or the hub's own (the LFS sha256 in X-Linked-Etag). A mismatch moves the file to
`quarantine/`, never into use. Only a verified file is moved, atomically, into the models folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

from lexbrief import __version__, network
from lexbrief.cancel import NEVER, CancelToken
from lexbrief.errors import Cancelled, ModelError, StorageError
from lexbrief.model_files.catalog import CatalogEntry
from lexbrief.model_files.gguf_info import InvalidModelFile, check_header
from lexbrief.model_files.installed import (
    HASH_CHUNK,
    InstalledModel,
    find_installed,
    partial_dir,
    quarantine,
    register,
)
from lexbrief.model_files.resolve import installed_models_dir
from lexbrief.units import size_text

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
DISK_MARGIN = 64 * 1024 * 1024  # never fill the disk to the last byte
LOGIN_HINT = "set HF_TOKEN to an access token, or run `hf auth login`"


class DownloadError(ModelError):
    """A model could not be downloaded; the message says why and what to do."""


class OfflineError(DownloadError):
    """No network, the hub unreachable, or HF_HUB_OFFLINE set."""


class AccessDenied(DownloadError):
    """401/403: a gated or private repository, or a missing/insufficient token."""


class NotOnHub(DownloadError):
    """404: no such repository, revision or file."""


class ChecksumMismatch(DownloadError):
    """The bytes are not the expected ones; the file was quarantined."""


@dataclass(frozen=True)
class DownloadProgress:
    downloaded: int  # bytes in the partial file, earlier sessions included
    total: int
    resumed_from: int  # bytes that were already there when this session started
    speed: float  # bytes/s in this session
    eta: float | None  # seconds left, when the speed is known

    @property
    def fraction(self) -> float:
        return self.downloaded / self.total if self.total else 0.0


ProgressCallback = Callable[[DownloadProgress], None]


def hub_endpoint(explicit: str | None = None) -> str:
    """The hub to talk to: the argument, else HF_ENDPOINT (read now, not at import), else
    huggingface.co."""
    from huggingface_hub import constants

    return (explicit or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline_mode() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return constants.is_offline_mode() or flag in {"1", "ON", "YES", "TRUE"}


def _offline(reason: str, fix: str = "Connect to the internet") -> OfflineError:
    return OfflineError(
        f"You are offline: {reason}. {fix} and run the download again (a partly downloaded "
        "file is kept and resumed), or copy a .gguf file here another way and add it with "
        "`lexbrief models import FILE`.")


_OFFLINE_MODE = "HF_HUB_OFFLINE is set, so LexBrief does not use the network"


def explain(exc: BaseException, entry: CatalogEntry, endpoint: str) -> DownloadError:
    """A plain sentence for what went wrong talking to the hub."""
    import httpx2
    from huggingface_hub import errors as hf

    where = f"{entry.repo}/{entry.file}"
    page = f"{endpoint}/{entry.repo}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    blocked = _blocked_by_policy(exc)
    if blocked is not None:
        return DownloadError(f"downloading {where} was stopped: {blocked.message} The hub "
                             f"({endpoint}) is allowed during the download; see the README's "
                             "Network policy.")
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return _offline(_OFFLINE_MODE, "Unset HF_HUB_OFFLINE")
    if isinstance(exc, hf.GatedRepoError):
        told = (" The access token that was sent does not have access yet."
                if status == 403 else "")
        return AccessDenied(
            f"{entry.repo} is a gated repository (HTTP {status}): open {page}, log in and "
            f"accept its licence ({entry.license or 'see the page'}), then {LOGIN_HINT}.{told}")
    if isinstance(exc, hf.RepositoryNotFoundError):
        if status == 401:
            return AccessDenied(
                f"the hub did not give access to {entry.repo} (HTTP 401): it does not exist, or "
                f"it is private or gated and you are not logged in. Check the name; to log in, "
                f"{LOGIN_HINT}.")
        return NotOnHub(f"the repository {entry.repo} was not found on the hub ({endpoint}).")
    if isinstance(exc, hf.RevisionNotFoundError):
        return NotOnHub(f"revision '{entry.revision}' of {entry.repo} was not found on the hub.")
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return NotOnHub(f"the file {entry.file} was not found in {entry.repo} (HTTP 404); the "
                        "catalog entry may be out of date.")
    if isinstance(exc, hf.HfHubHTTPError):
        if status in (401, 403):
            return AccessDenied(f"the hub refused access to {where} (HTTP {status}); "
                                f"{LOGIN_HINT}, after accepting the licence on {page}.")
        if status == 404:
            return NotOnHub(f"{where} was not found on the hub (HTTP 404).")
        return DownloadError(f"the hub answered HTTP {status} for {where}; try again later.")
    if isinstance(exc, httpx2.ProxyError):
        return OfflineError(f"the proxy refused the connection to {endpoint} ({exc}); check "
                            "HTTPS_PROXY / HTTP_PROXY.")
    if isinstance(exc, httpx2.ConnectError) and "CERTIFICATE" in str(exc).upper():
        return DownloadError(
            f"the TLS certificate of {endpoint} could not be verified ({exc}). LexBrief always "
            "verifies certificates; behind a TLS-inspecting proxy, point SSL_CERT_FILE at its "
            "certificate.")
    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout):
        return _offline(f"{endpoint} cannot be reached ({exc or type(exc).__name__})")
    if isinstance(exc, httpx2.TransportError):
        return OfflineError(
            f"the connection to {endpoint} broke off during the download "
            f"({exc or type(exc).__name__}). Run the download again: it resumes where it "
            "stopped.")
    return DownloadError(f"downloading {where} failed: {exc}")


def _blocked_by_policy(exc: BaseException | None) -> network.NetworkBlocked | None:
    """The network policy's refusal, when it is what an HTTP error wraps."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, network.NetworkBlocked):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


class _HashingWriter:
    """The file object http_get writes to: appends to the partial file and hashes on the way.
    When the server ignores a Range request, http_get truncates the file; the hash restarts."""

    def __init__(self, f: BinaryIO, path: Path, digest: Any) -> None:
        self._f = f
        self._path = path
        self.digest = digest

    def write(self, data: bytes) -> int:
        try:
            written = self._f.write(data)
        except OSError as exc:  # not a network error: http_get must not retry it
            raise StorageError(
                f"{self._path} cannot be written: {exc.strerror or exc}") from exc
        self.digest.update(data)
        return written

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        result = self._f.truncate(size)
        self._f.flush()
        self.digest = _hash_prefix(self._path, result)
        return result

    def flush(self) -> None:
        self._f.flush()


def _hash_prefix(path: Path, length: int, cancel: CancelToken = NEVER) -> Any:
    digest = hashlib.sha256()
    left = length
    with open(path, "rb") as f:
        while left > 0:
            cancel.check()
            chunk = f.read(min(HASH_CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest


def _progress_bar(callback: ProgressCallback | None, cancel: CancelToken, total: int,
                  resumed_from: int) -> type:
    """A tqdm stand-in for http_get: reports progress and stops the transfer on cancel."""

    class Bar:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.n = int(kwargs.get("initial") or 0)
            self.total = int(kwargs.get("total") or total)
            self._start_n = self.n
            self._start = time.monotonic()
            self._last = 0.0

        def update(self, n: float | None = 1) -> None:
            if cancel.cancelled:
                raise Cancelled("download cancelled; the part already downloaded is kept")
            self.n += int(n or 0)
            now = time.monotonic()
            if callback and (now - self._last >= 0.2 or self.n >= self.total):
                self._last = now
                elapsed = now - self._start
                speed = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
                eta = (self.total - self.n) / speed if speed > 0 else None
                callback(DownloadProgress(self.n, self.total, resumed_from, speed, eta))

        def close(self) -> None:
            pass

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    return Bar


def _check_disk(folder: Path, needed: int, name: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed + DISK_MARGIN > free:
        raise StorageError(
            f"not enough disk space to download {name}: it needs {size_text(needed + DISK_MARGIN)} "
            f"more and {folder} has {size_text(free)} free. Free some space and run the download "
            "again.")




def partial_path(entry: CatalogEntry, etag: str) -> Path:
    tag = re.sub(r"[^0-9A-Za-z]", "", etag)[:16] or "unknown"
    return partial_dir() / f"{entry.file}.{tag}.part"


def download_model(entry: CatalogEntry, *, endpoint: str | None = None,
                   token: str | bool | None = None, progress: ProgressCallback | None = None,
                   cancel: CancelToken = NEVER) -> InstalledModel:
    """Download, verify and install one catalog model; resumes a partial download.

    `token`: None uses HF_TOKEN or the token saved by `hf auth login`; False sends none.
    Raises DownloadError (and subclasses), StorageError, or Cancelled (the partial file stays).
    """
    from huggingface_hub import constants

    # Nothing but the file itself: huggingface_hub's telemetry (user-agent probes, and since
    # 2.x a fetch of {endpoint}/api/agent-harnesses) stays off. Checked at call time.
    constants.HF_HUB_DISABLE_TELEMETRY = True
    existing = find_installed(entry.id)
    if existing and existing.path.is_file():
        return existing
    if offline_mode():
        raise _offline(_OFFLINE_MODE, "Unset HF_HUB_OFFLINE")
    if network.is_offline():  # before any socket: not even a name lookup
        raise _offline(network.OFFLINE_REASON, network.OFFLINE_FIX)
    ep = hub_endpoint(endpoint)
    with network.allowing(ep, reason="the model download you started") as access:
        return _download(entry, ep, token, progress, cancel, access)


def _download(entry: CatalogEntry, ep: str, token: str | bool | None,
              progress: ProgressCallback | None, cancel: CancelToken,
              access: network.Access) -> InstalledModel:
    """download_model's work, while the network policy allows the hub."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(entry.repo, entry.file, revision=entry.revision or "main", endpoint=ep)
    headers = build_hf_headers(token=token, library_name="lexbrief",
                               library_version=__version__)
    try:
        meta = get_hf_file_metadata(url, token=token, endpoint=ep, headers=headers)
    except Exception as exc:  # every failure gets a plain sentence
        raise explain(exc, entry, ep) from exc
    etag = (meta.etag or "").strip('"').lower()
    hub_sha = etag if _SHA256.match(etag) else ""
    if entry.sha256 and hub_sha and entry.sha256 != hub_sha:
        raise ChecksumMismatch(
            f"the file {entry.file} on the hub is not the one the catalog names (its sha256 is "
            f"{hub_sha[:16]}…, the catalog expects {entry.sha256[:16]}…); nothing was "
            "downloaded. Update the catalog entry if the new file is intended.")
    expected = entry.sha256 or hub_sha
    size = meta.size or entry.size
    if not size:
        raise DownloadError(f"the hub did not say how large {entry.file} is; try again later.")

    part = partial_path(entry, etag or meta.commit_hash or "")
    for stale in part.parent.glob(f"{glob_escape(entry.file)}.*.part"):
        if stale != part:  # an older version of the file upstream: useless now
            stale.unlink(missing_ok=True)
    resume = part.stat().st_size if part.exists() else 0
    if resume > size:
        part.unlink()
        resume = 0
    _check_disk(part.parent, size - resume, entry.name)
    if resume:
        log.info("resuming %s at %d of %d bytes", entry.file, resume, size)
    digest = _hash_prefix(part, resume, cancel) if resume else hashlib.sha256()
    download_url = meta.location or url
    if urlparse(download_url).netloc != urlparse(url).netloc:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        access.also(download_url)  # the file host the hub sends the download to (its CDN)
    bar = _progress_bar(progress, cancel, size, resume)
    started = time.monotonic()
    with open(part, "ab") as f:
        writer = _HashingWriter(f, part, digest)
        try:
            if resume < size:
                cancel.check()
                http_get(download_url, writer, resume_size=resume,  # type: ignore[arg-type]
                         headers=headers, expected_size=size, displayed_filename=entry.file,
                         tqdm_class=bar)
        except (Cancelled, StorageError):
            raise
        except Exception as exc:
            if "Consistency check failed" in str(exc):
                raise DownloadError(
                    f"the download of {entry.file} ended early; run it again to resume.") \
                    from exc
            raise explain(exc, entry, ep) from exc
        f.flush()
        os.fsync(f.fileno())
        digest = writer.digest
    actual = digest.hexdigest()
    log.info("downloaded %s (%d bytes, %.1f s)", entry.file, size - resume,
             time.monotonic() - started)
    if expected and actual != expected:
        moved = quarantine(part, entry.file)
        raise ChecksumMismatch(
            f"the downloaded {entry.file} is damaged: its sha256 ({actual[:16]}…) is not the "
            f"expected {expected[:16]}…. It was moved to {moved} and will not be used; run "
            "the download again.")
    try:
        check_header(part)
    except InvalidModelFile as exc:
        moved = quarantine(part, entry.file)
        raise DownloadError(f"the hub sent a file that is not a GGUF model ({exc.message}); it "
                            f"was moved to {moved}.") from exc
    target = installed_models_dir() / entry.file
    os.replace(part, target)
    return register(InstalledModel(
        id=entry.id, file=entry.file, sha256=actual, size=size, source="download",
        catalog_id=entry.id, repo=entry.repo, revision=entry.revision,
        commit=meta.commit_hash or ""))


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)
