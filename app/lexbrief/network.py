"""The network policy: which connections LexBrief may open, enforced inside the process.

LexBrief opens connections only to
  - the model hub (and the file host it redirects the download to), while a download the user
    started runs: `with allowing(url, reason="model download"):`;
  - the configured server: `allow_server(url)`;
and in offline mode (the `offline` setting, or `lexbrief --offline`) to nothing at all:
`allowing` and `allow_server` then raise `NetworkForbidden`, a plain message saying how to
change it. A proxy named in HTTPS_PROXY / HTTP_PROXY / ALL_PROXY is allowed with the address it
carries traffic for.

Enforcement is a Python audit hook (PEP 578) installed once per process (`install`). Audit hooks
cannot be removed, so the hook consults the mutable state here; before `install` (and after
`reset`, for tests) it lets everything through without looking. It sees every call made through
Python's socket module, before the system call:
  socket.connect (connect, connect_ex), socket.sendto / socket.sendmsg to an address (UDP),
  name lookups (getaddrinfo, gethostbyname, gethostbyaddr, getnameinfo): checked;
  socket.bind: to a non-loopback address blocked (LexBrief never listens on the network);
  AF_UNIX sockets (the X11/Wayland display, D-Bus): local IPC, always allowed, not counted;
  other families (netlink, packet...): blocked.
A blocked call raises `NetworkBlocked` (a PermissionError, so HTTP clients report it as a failed
connection) and is logged once per address. Loopback is not special: a llama-server on
127.0.0.1 is allowed because it is the configured server, and any other loopback port is blocked.

A connect names an IP address; a grant names a host. `socket.getaddrinfo` is wrapped (a
pass-through) to learn which addresses an allowed name resolved to; an address resolved any
other way is not learned, so the connect is blocked: the wrapper can only fail closed.

Not seen: native code that opens sockets without Python's socket module (C, C++, Rust
libraries). `silence_native_telemetry` turns off the one LexBrief is known to load that does
(ONNX Runtime's telemetry); the README's "Network policy" section lists the others and why
they do not connect.

Every attempt the hook judges (allowed or blocked) is counted (`attempt_counts`) and given to
the open `recording()`s, which is how the tests count connection attempts.

One module because the policy, its grants, its counters and the hook that enforces them share
one state under one lock, and the hook (called for every audit event in the process) reads it
directly; split, each half would be the other's private details.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import os
import socket
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lexbrief.errors import ExitCode, UserFacingError

log = logging.getLogger(__name__)

# Environment switches that keep native libraries from phoning home. ONNX Runtime (the OCR's
# engine) ships 1DS telemetry on Linux and macOS since 1.29: without this it looks up
# mobile.events.data.microsoft.com about ten seconds after its first inference, from C++,
# where the audit hook cannot see it. Read once, when ONNX Runtime initializes.
NATIVE_OPT_OUTS = {"ORT_DISABLE_TELEMETRY": "1"}

OFFLINE_REASON = ("LexBrief's network policy is offline (the `offline` setting, or --offline), "
                  "so it opens no connections")
OFFLINE_FIX = ("Turn the offline policy off (Settings, or `offline = false` in settings.toml, "
               "and no --offline)")


class NetworkBlocked(PermissionError):
    """The policy stopped a socket call. `str(exc)` is the whole message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NetworkForbidden(UserFacingError):
    """Offline mode forbids what was asked (a download, the server)."""

    exit_code = ExitCode.MODEL  # what it forbids is always a model's source: hub or server


@dataclass(frozen=True)
class Attempt:
    kind: str  # connect, send, bind, dns
    host: str  # the IP address, or the name looked up (dns)
    port: int | None
    allowed: bool
    rule: str  # the grant's reason that allowed it, or why it was blocked
    name: str = ""  # for an address: the allowed name it was resolved from, when known


@dataclass
class _Grant:
    host: str  # a lower-case name or a normalized IP address
    port: int | None
    reason: str


@dataclass
class _State:
    enforcing: bool = False
    offline: bool = False
    grants: list[_Grant] = field(default_factory=list)
    server: list[_Grant] = field(default_factory=list)
    server_label: str = ""


class Recording:
    """The attempts judged while it was open (see `recording`)."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    @property
    def blocked(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.allowed]

    @property
    def allowed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.allowed]

    def outside(self, *targets: str) -> list[Attempt]:
        """Attempts not to any of `targets` (URLs or host[:port]): a name matches its own
        lookups (which have no port) and the addresses learned for it."""
        parsed = [_parse_target(t) for t in targets]
        return [a for a in self.attempts
                if not any(host in (a.host, a.name) and (None in (port, a.port) or port == a.port)
                           for host, port in parsed)]


class _Guard:
    """The process's one policy, its counters, and what the hook has learned."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.state = _State()
        self.recordings: list[Recording] = []
        self.counts: Counter[tuple[str, bool]] = Counter()
        self.resolved: dict[str, set[str]] = {}  # address -> allowed names it resolved from
        self.warned: set[tuple[str, str, int | None]] = set()
        self.installed = False
        self.logging = threading.local()  # the hook's own warning must not re-enter it


_g = _Guard()


def silence_native_telemetry() -> None:
    """Set NATIVE_OPT_OUTS in the environment (native libraries read it when they start)."""
    os.environ.update(NATIVE_OPT_OUTS)


def install(*, offline: bool = False) -> None:
    """Put the policy in force for this process (at program start): no grants, no server;
    `offline` forbids everything. Safe to call again; it replaces the policy."""
    silence_native_telemetry()
    with _g.lock:
        if not _g.installed:
            socket.getaddrinfo = _learning_getaddrinfo(socket.getaddrinfo)
            sys.addaudithook(_hook)
            _g.installed = True
        _g.state = _State(enforcing=True, offline=offline)


def set_offline(offline: bool) -> None:
    """Change the mode while running (the window's Settings). Going offline stops new
    connections at once; a transfer already under way keeps its open connection."""
    with _g.lock:
        _g.state.offline = offline


def is_enforcing() -> bool:
    return _g.state.enforcing


def is_offline() -> bool:
    return _g.state.enforcing and _g.state.offline


def describe() -> str:
    """One line for the window's status bar."""
    state = _g.state
    if not state.enforcing:
        return "Network: not guarded"
    if state.offline:
        return "Network: offline — no connections"
    if state.server_label:
        return (f"Network: the model hub during downloads you start, and the server at "
                f"{state.server_label}")
    return "Network: only the model hub, during downloads you start"


def reset() -> None:
    """No policy in force (the hook stays, dormant). For tests; counters cleared."""
    with _g.lock:
        _g.state = _State()
        _g.recordings.clear()
        _g.counts.clear()
        _g.resolved.clear()
        _g.warned.clear()


@contextlib.contextmanager
def enforced(*, offline: bool = False) -> Iterator[None]:
    """`install` for the length of a block, then whatever policy was there before (the CLI's
    main(), run in-process by tests, must not leave its policy on)."""
    with _g.lock:
        before = _g.state
    install(offline=offline)
    try:
        yield
    finally:
        with _g.lock:
            _g.state = before


class Access:
    """What `allowing` yields: `also(url)` adds a host inside the same scope (the file host
    the hub redirects a download to)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.grants: list[_Grant] = []

    def also(self, *targets: str) -> None:
        if is_offline():
            raise NetworkForbidden(f"{OFFLINE_REASON}: {self.reason} is not possible. "
                                   f"{OFFLINE_FIX}.")
        new = _grants_for(targets, self.reason)
        with _g.lock:
            _g.state.grants.extend(new)
            self.grants.extend(new)


@contextlib.contextmanager
def allowing(*targets: str, reason: str) -> Iterator[Access]:
    """Allow connections to `targets` (URLs, or host[:port]) while the block runs; in offline
    mode raise NetworkForbidden before anything is opened."""
    access = Access(reason)
    state = _g.state
    access.also(*targets)
    try:
        yield access
    finally:
        with _g.lock:
            for grant in access.grants:
                for holder in (state, _g.state):  # install() may have replaced the state
                    with contextlib.suppress(ValueError):
                        holder.grants.remove(grant)


def allow_server(url: str) -> None:
    """Allow the configured server (`http(s)://host:port`) until `forget_server` or another
    `allow_server`. Raises NetworkForbidden in offline mode."""
    if is_offline():
        raise NetworkForbidden(f"{OFFLINE_REASON}: the server at {url} cannot be used. "
                               f"{OFFLINE_FIX}, or summarize on this computer.")
    grants = _grants_for([url], "the configured server")
    host, port = _parse_target(url)
    label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with _g.lock:
        _g.state.server = grants
        _g.state.server_label = label


def forget_server() -> None:
    with _g.lock:
        _g.state.server = []
        _g.state.server_label = ""


@contextlib.contextmanager
def recording() -> Iterator[Recording]:
    """Collect every attempt judged while the block runs (for tests and diagnostics)."""
    rec = Recording()
    with _g.lock:
        _g.recordings.append(rec)
    try:
        yield rec
    finally:
        with _g.lock:
            _g.recordings.remove(rec)


def attempt_counts() -> Counter[tuple[str, bool]]:
    """(host, allowed) -> attempts since the policy was installed or reset."""
    with _g.lock:
        return Counter(_g.counts)


# -- targets ---------------------------------------------------------------------------------


def _normal_host(host: str | bytes) -> str:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def _parse_target(target: str) -> tuple[str, int | None]:
    """'https://hub:8443/x' -> ('hub', 8443); 'https://hub' -> ('hub', 443); 'hub' -> ('hub',
    None); 'hub:80', '[::1]:80' -> with the port."""
    if "://" in target:
        parts = urlsplit(target)
        if not parts.hostname:
            raise ValueError(f"no host in {target!r}")
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        return _normal_host(parts.hostname), port
    host, sep, port_text = target.rpartition(":")
    if sep and port_text.isdigit() and (not host.count(":") or host.endswith("]")):
        return _normal_host(host), int(port_text)
    return _normal_host(target), None


def _grants_for(targets: Any, reason: str) -> list[_Grant]:
    grants = []
    proxies = urllib.request.getproxies()
    for target in targets:
        host, port = _parse_target(target)
        grants.append(_Grant(host, port, reason))
        scheme = target.split("://", 1)[0].lower() if "://" in target else ""
        proxy = proxies.get(scheme) or proxies.get("all")
        if scheme and proxy and not urllib.request.proxy_bypass(host):
            proxy_host, proxy_port = _parse_target(proxy if "://" in proxy else f"http://{proxy}")
            grants.append(_Grant(proxy_host, proxy_port, f"{reason} (through the proxy)"))
    return grants


# -- the hook --------------------------------------------------------------------------------


def _learning_getaddrinfo(real: Any) -> Any:
    @functools.wraps(real)
    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        results = real(host, port, *args, **kwargs)
        name = _normal_host(host) if host is not None else ""
        if name and _g.state.enforcing and not _is_address(name):
            with _g.lock:
                for *_, sockaddr in results:
                    if isinstance(sockaddr, tuple) and sockaddr:
                        _g.resolved.setdefault(_normal_host(sockaddr[0]), set()).add(name)
        return results

    return getaddrinfo


_ADDRESS_EVENTS = {"socket.connect": "connect", "socket.sendto": "send",
                   "socket.sendmsg": "send", "socket.bind": "bind"}
_FORWARD_LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname"}
_LOOKUP_EVENTS = {*_FORWARD_LOOKUPS, "socket.gethostbyaddr", "socket.getnameinfo"}
_AF_UNIX = getattr(socket, "AF_UNIX", None)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not event.startswith("socket.") or not _g.state.enforcing:
        return
    if event in _ADDRESS_EVENTS:
        sock, address = args[0], args[1]
        if address is None:  # sendmsg on a connected socket: its connect was judged
            return
        family = getattr(sock, "family", None)
        if _AF_UNIX is not None and family == _AF_UNIX:
            return  # local IPC, not network
        kind = _ADDRESS_EVENTS[event]
        if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            host, port = _normal_host(address[0] or "0.0.0.0"), int(address[1])
            if kind == "bind":
                if _is_loopback(host):
                    return  # listening on this computer only
                _judge(kind, host, port, "LexBrief never listens on the network")
                return
            _judge(kind, host, port)
            return
        _judge(kind, f"<address family {int(family or 0)}>", None,
               "only IP connections are ever allowed")
        return
    if event in _LOOKUP_EVENTS:
        target = args[0]
        if event == "socket.getnameinfo" and isinstance(target, tuple):
            target = target[0]
        if target is None or target == "":
            return  # a local lookup (passive address): no name leaves the machine
        host = _normal_host(target)
        if event in _FORWARD_LOOKUPS and _is_address(host):
            return  # an address "looked up" as itself: nothing leaves; its connect is judged
        _judge("dns", host, None)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _judge(kind: str, host: str, port: int | None, refusal: str | None = None) -> None:
    with _g.lock:
        state = _g.state
        names = _g.resolved.get(host, set())
        rule = refusal
        allowed = False
        if refusal is None:
            if state.offline:
                rule = "offline mode (the `offline` setting, or --offline) forbids every connection"
            else:
                for grant in [*state.grants, *state.server]:
                    if (grant.host == host or grant.host in names) and (
                            kind == "dns" or grant.port in (None, port)):
                        allowed, rule = True, grant.reason
                        break
                else:
                    rule = ("only the model hub during a download you start and the configured "
                            "server are allowed")
        name = next((g.host for g in [*state.grants, *state.server] if g.host in names),
                    min(names) if names else "")
        attempt = Attempt(kind, host, port, allowed, rule or "", name)
        _g.counts[(host, allowed)] += 1
        for rec in _g.recordings:
            rec.attempts.append(attempt)
        first = (kind, host, port) not in _g.warned
        if not allowed:
            _g.warned.add((kind, host, port))
    if allowed:
        return
    where = host if port is None else (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    what = {"dns": "a name lookup of", "bind": "listening on",
            "send": "sending to"}.get(kind, "a connection to")
    message = f"LexBrief's network policy blocked {what} {where}: {rule}."
    if first and not getattr(_g.logging, "on", False):
        _g.logging.on = True
        try:
            log.warning("%s", message)
        finally:
            _g.logging.on = False
    raise NetworkBlocked(message)
