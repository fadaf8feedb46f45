"""The HTTP side: ``/metrics`` (or ``--web.telemetry-path``), a landing page at ``/``,
``/-/healthy``; optional TLS and basic auth from an exporter-toolkit web-config file.

Every connection gets its own thread, and the TLS handshake happens in that thread, so a
slow or silent client (plain TCP or TLS) only ever holds up itself.  A :class:`ConnectionGuard`
keeps slow clients from piling up: at most ``max_connections`` connections are open at once
(at the cap the connection that has waited longest without a request is dropped for the new
one, or, when every one is inside a request, the new one gets a 503), a connection must
deliver its TLS handshake, request line and headers within HEADER_TIMEOUT seconds in total
(a watchdog ends it otherwise, however steadily it trickles bytes), and a keep-alive connection
its next request within CONNECTION_TIMEOUT.  Running out of file descriptors makes the accept
loop pause briefly instead of spinning.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import html
import ipaddress
import logging
import re
import select
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest

from .exporter import generate_chunks, generate_text, request_arrived

log = logging.getLogger(__name__)

# No known exporter uses it: the Prometheus wiki's allocation range 9100-9999 is full,
# and 10000-10100 holds only webmin (10000), Zabbix (10050/10051) and Amanda (10080-10083).
DEFAULT_PORT = 10073
DEFAULT_LISTEN_ADDRESS = f":{DEFAULT_PORT}"

# A connection (TLS handshake, request line and headers, and every read or write
# after) that makes no progress for this long is closed.
CONNECTION_TIMEOUT = 30.0

# The TLS handshake, request line and headers of a new connection must all have arrived within
# this many seconds of its accept(2); a watchdog ends the connection otherwise.
HEADER_TIMEOUT = 10.0
# At most this many metrics connections are open at once (all listeners together).
DEFAULT_MAX_CONNECTIONS = 64
# accept(2) failing for want of descriptors or memory: pause this long before trying again.
ACCEPT_BACKOFF = 0.1
_ACCEPT_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

# The admin API's paths: the metrics listener answers them with 404, whatever the method.
ADMIN_PREFIX = "/api/"
# A /metrics body up to this size is sent with a Content-Length once complete; a longer one is
# sent while it is written (chunked), so the exporter never holds a whole large exposition.
STREAM_BUFFER = 64 * 1024


class WebConfigError(ValueError):
    """The --web.config.file is unreadable or invalid; the message names the key and the fix."""


# --- web config (exporter-toolkit format) ------------------------------------------------------------

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# exporter-toolkit knows these too, but Python's ssl cannot ask for a certificate without
# verifying it.
_CLIENT_AUTH_UNSUPPORTED = ("RequestClientCert", "RequireAnyClientCert")
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users")
_TLS_KEYS = ("cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version",
             "client_allowed_sans")
_TLS_KEYS_UNSUPPORTED = ("cipher_suites", "curve_preferences", "prefer_server_cipher_suites", "cert", "key",
                         "client_ca")
_HTTP_KEYS = ("http2", "headers")
# The response headers exporter-toolkit lets a web config set.
_ALLOWED_HEADERS = ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection",
                    "Content-Security-Policy")


@dataclass(frozen=True)
class TlsConfig:
    cert_file: str
    key_file: str
    client_ca_file: str = ""
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"
    max_version: str = ""
    client_allowed_sans: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebConfig:
    tls: TlsConfig | None = None
    basic_auth_users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _check_keys(section: str, data: Any, known: Sequence[str], unsupported: Sequence[str] = ()) -> dict[str, Any]:
    where = f"{section}: " if section else "top level: "
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise WebConfigError(f"{where}expected a mapping of keys, got {type(data).__name__}")
    for key in data:
        if key in unsupported:
            raise WebConfigError(
                f"{where}{key} is an exporter-toolkit option pf_exporter does not support; remove it"
            )
        if key not in known:
            raise WebConfigError(f"{where}unknown key {key!r}; valid keys are {', '.join(known)}")
    return data


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise WebConfigError(f"{where}: expected a string, got {value!r}")
    return value


def parse_web_config(text: str, base: Path = Path(".")) -> WebConfig:
    """Validate a web-config document; relative file names are relative to *base*."""
    import yaml  # only with --web.config.file: not every exporter needs a YAML parser in memory

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise WebConfigError(f"not valid YAML: {e}".replace("\n", " ")) from None
    top = _check_keys("", data, _TOP_KEYS)

    tls: TlsConfig | None = None
    tls_raw = _check_keys("tls_server_config", top.get("tls_server_config"), _TLS_KEYS, _TLS_KEYS_UNSUPPORTED)
    if tls_raw:
        def path(key: str) -> str:
            v = tls_raw.get(key)
            if v in (None, ""):
                return ""
            p = Path(_string(f"tls_server_config.{key}", v))
            return str(p if p.is_absolute() else base / p)

        cert, key = path("cert_file"), path("key_file")
        if not cert or not key:
            raise WebConfigError("tls_server_config: both cert_file and key_file are required for TLS")
        auth = _string("tls_server_config.client_auth_type", tls_raw.get("client_auth_type") or "NoClientCert")
        if auth in _CLIENT_AUTH_UNSUPPORTED:
            raise WebConfigError(
                f"tls_server_config.client_auth_type {auth} is not supported (Python cannot request a client "
                "certificate without verifying it); use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            )
        if auth not in _CLIENT_AUTH:
            raise WebConfigError(
                f"tls_server_config.client_auth_type {auth!r} is unknown; use one of {', '.join(_CLIENT_AUTH)}"
            )
        ca = path("client_ca_file")
        if auth != "NoClientCert" and not ca:
            raise WebConfigError(f"tls_server_config: client_auth_type {auth} needs client_ca_file")
        versions = {}
        for k, default in (("min_version", "TLS12"), ("max_version", "")):
            v = _string(f"tls_server_config.{k}", tls_raw.get(k) or default) if tls_raw.get(k) or default else ""
            if v and v not in _TLS_VERSIONS:
                raise WebConfigError(f"tls_server_config.{k} {v!r} is unknown; use one of {', '.join(_TLS_VERSIONS)}")
            versions[k] = v
        sans_raw = tls_raw.get("client_allowed_sans") or []
        if not isinstance(sans_raw, list):
            raise WebConfigError("tls_server_config.client_allowed_sans: expected a list of names")
        sans = tuple(_string("tls_server_config.client_allowed_sans", s) for s in sans_raw)
        if sans and auth != "RequireAndVerifyClientCert":
            raise WebConfigError(
                "tls_server_config.client_allowed_sans needs client_auth_type RequireAndVerifyClientCert"
            )
        tls = TlsConfig(cert, key, ca, auth, versions["min_version"], versions["max_version"], sans)

    http_raw = _check_keys("http_server_config", top.get("http_server_config"), _HTTP_KEYS)
    headers: dict[str, str] = {}
    if "http2" in http_raw and not isinstance(http_raw["http2"], bool):
        raise WebConfigError("http_server_config.http2: expected true or false")
    for name, v in (_check_keys("http_server_config.headers", http_raw.get("headers"), _ALLOWED_HEADERS)).items():
        headers[name] = _string(f"http_server_config.headers.{name}", v)

    users: dict[str, bytes] = {}
    users_raw = top.get("basic_auth_users") or {}
    if not isinstance(users_raw, dict):
        raise WebConfigError("basic_auth_users: expected a mapping of user name to bcrypt hash")
    for user, hashed in users_raw.items():
        h = _string(f"basic_auth_users.{user}", hashed)
        if not h.startswith(("$2a$", "$2b$", "$2y$")) or len(h) != 60:
            raise WebConfigError(
                f"basic_auth_users.{user}: not a bcrypt hash; create one with "
                "`python3 -c 'import bcrypt,getpass; print(bcrypt.hashpw(getpass.getpass().encode(), "
                "bcrypt.gensalt()).decode())'` or `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
            )
        users[str(user)] = h.encode()
    return WebConfig(tls, users, headers)


def load_web_config(path: str) -> WebConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise WebConfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        config = parse_web_config(text, p.parent)
    except WebConfigError as e:
        raise WebConfigError(f"{path}: {e}") from None
    if config.tls is not None:
        build_ssl_context(config.tls, path)  # fail at start-up, not at the first connection
    return config


def build_ssl_context(tls: TlsConfig, where: str = "web config") -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as e:
        raise WebConfigError(
            f"{where}: cannot load TLS certificate {tls.cert_file} with key {tls.key_file}: {e}; "
            "check tls_server_config.cert_file and key_file"
        ) from None
    ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    if tls.max_version:
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
    ctx.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file:
        try:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as e:
            raise WebConfigError(f"{where}: cannot load client_ca_file {tls.client_ca_file}: {e}") from None
    return ctx


# --- basic auth --------------------------------------------------------------------------------------

# bcrypt reads at most this many bytes of a password; bcrypt 5 refuses longer ones.
BCRYPT_MAX_PASSWORD = 72


def basic_auth_password_too_long(header: str | None) -> bool:
    """Whether an ``Authorization: Basic`` header carries a password bcrypt cannot check."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except binascii.Error:
        return False
    return len(decoded.partition(b":")[2]) > BCRYPT_MAX_PASSWORD


class BasicAuth:
    """Checks ``Authorization: Basic`` against bcrypt hashes.

    bcrypt is slow on purpose (~0.1 s); a successful check is remembered (keyed by a
    SHA-256 of user, password and hash) so a scraper is not charged it on every scrape.
    Unknown users still cost one bcrypt, so timing does not reveal which users exist.
    """

    def __init__(self, users: dict[str, bytes]) -> None:
        self.users = users
        # A hash with the users' own cost, checked for unknown users.
        rounds = max((int(h[4:6]) for h in users.values() if h[4:6].isdigit()), default=10)
        self._dummy = bcrypt.hashpw(b"pf_exporter", bcrypt.gensalt(rounds=min(max(rounds, 4), 31)))
        self._ok: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        if len(password.encode()) > BCRYPT_MAX_PASSWORD:
            # bcrypt (5 and later) raises ValueError for these; a wrong password, still charged one
            # bcrypt so the answer takes as long as any other refusal.
            bcrypt.checkpw(b"", self._dummy)
            return False
        token = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed or b""))).digest()
        with self._lock:
            if hashed is not None and token in self._ok:
                return True
        good = bcrypt.checkpw(password.encode(), hashed if hashed is not None else self._dummy)
        if good and hashed is not None:
            with self._lock:
                if len(self._ok) > 1024:
                    self._ok.clear()
                self._ok.add(token)
            return True
        return False


# --- listen addresses --------------------------------------------------------------------------------

def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (every address) -> (host, port); host "" = any."""
    host, sep, port_s = address.rpartition(":")
    if not sep or not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise ValueError(
            f"invalid --web.listen-address {address!r}: use host:port, [ipv6]:port or :port (e.g. :{DEFAULT_PORT})"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"invalid --web.listen-address {address!r}: put an IPv6 address in brackets, [::1]:port")
    return host, int(port_s)


def _has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::", 0))
        return True
    except OSError:
        return False


# --- the application ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LandingEntry:
    """One metric family for the landing page."""

    collector: str
    name: str
    kind: str
    labels: tuple[str, ...]
    help: str


@dataclass
class WebApp:
    """What the handler serves.  ``registry_for(only)`` gives the registry for a scrape
    (``only``: the ``collect[]`` names, or None for all)."""

    registry_for: Callable[[Sequence[str] | None], CollectorRegistry]
    telemetry_path: str = "/metrics"
    version: str = ""
    landing: Sequence[LandingEntry] = ()
    collectors: Sequence[tuple[str, bool, str]] = ()  # (name, enabled, description)
    config: WebConfig = field(default_factory=WebConfig)
    auth: BasicAuth | None = None

    def __post_init__(self) -> None:
        if self.config.basic_auth_users and self.auth is None:
            self.auth = BasicAuth(self.config.basic_auth_users)

    def landing_page(self) -> bytes:
        e = html.escape
        rows = []
        for item in self.landing:
            rows.append(
                f"<tr><td><code>{e(item.name)}</code></td><td>{e(item.kind)}</td>"
                f"<td>{e(', '.join(item.labels))}</td><td>{e(item.collector)}</td><td>{e(item.help)}</td></tr>"
            )
        colls = "".join(
            f"<li><code>{e(n)}</code> ({'enabled' if on else 'disabled'}): {e(d)}</li>"
            for n, on, d in self.collectors
        )
        path = e(self.telemetry_path)
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pf_exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{text-align:left;padding:2px 8px;vertical-align:top}}
tr:nth-child(even){{background:#f4f4f4}}</style></head>
<body><h1>pf_exporter</h1>
<p>Prometheus exporter for OpenBSD's Packet Filter (pf). Version {e(self.version)}.</p>
<ul><li><a href="{path}">{path}</a> &mdash; the metrics</li>
<li><a href="-/healthy">/-/healthy</a> &mdash; health check</li></ul>
<h2>Collectors</h2><ul>{colls}</ul>
<p>Limit a scrape to some collectors with <code>{path}?collect[]=status&amp;collect[]=tables</code>.</p>
<h2>Exported metrics</h2>
<table><tr><th>metric</th><th>type</th><th>labels</th><th>collector</th><th>meaning</th></tr>
{''.join(rows)}
</table></body></html>
"""
        return page.encode()


def _has_input(conn: Any) -> bool:
    """Whether a connection has bytes (or an end of file) waiting to be read, without reading them."""
    if isinstance(conn, ssl.SSLSocket) and conn.pending():
        return True
    try:
        fd = conn.fileno()
    except OSError:
        return False
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class InFlight:
    """The open connections of a :class:`MetricsServer` and which of them are inside a request.

    A request counts from the moment its request line has been read until its response has
    been written; a keep-alive connection waiting for its next request is idle.  Shutdown
    uses it to let the requests under way finish (:meth:`wait_idle`), then to close the idle
    connections, so a scraper sees a complete response and then a clean end of connection.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy: dict[Any, bool] = {}  # connection -> inside a request
        self.draining = False  # set once shutdown began: responses then say "Connection: close"

    def opened(self, conn: Any) -> None:
        with self._cond:
            self._busy[conn] = False

    def closed(self, conn: Any) -> None:
        with self._cond:
            self._busy.pop(conn, None)
            self._cond.notify_all()

    def set_busy(self, conn: Any, busy: bool) -> None:
        with self._cond:
            if conn in self._busy:
                self._busy[conn] = busy
            self._cond.notify_all()

    def _under_way(self) -> int:
        # Also a connection whose next request has arrived but is not read yet: it was sent before
        # the listener closed, so it is served too.  (Called with the lock held.)
        return sum(1 for conn, busy in self._busy.items() if busy or _has_input(conn))

    @property
    def requests(self) -> int:
        with self._cond:
            return self._under_way()

    def wait_idle(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for every request under way to finish; the number still running."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (left := self._under_way()) and (remaining := deadline - time.monotonic()) > 0:
                # Woken when a request ends; the short period catches requests still only in a socket buffer.
                self._cond.wait(min(remaining, 0.05))
            return left

    def close_idle(self) -> int:
        """End every connection that is not inside a request (its thread sees end of file); how many."""
        with self._cond:
            idle = [c for c, busy in self._busy.items() if not busy]
        for conn in idle:
            try:
                # The plain socket's shutdown, also under TLS: the handler's thread still owns the TLS state.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
            except OSError:
                pass
        return len(idle)


def _shutdown_socket(conn: Any) -> None:
    """End a connection from another thread: its owner's blocked read sees end of file.  The plain
    socket's shutdown, also under TLS: the owner's thread still owns the TLS state."""
    try:
        socket.socket.shutdown(conn, socket.SHUT_RDWR)
    except OSError:
        pass


class ConnectionGuard:
    """Bounds the connections of a :class:`MetricsServer`: how many are open, and how long each may
    take to deliver a request.

    A connection is either *waiting* (for its TLS handshake, request line and headers, with a
    deadline) or *inside a request* (no deadline: the scrape takes what it takes).  A watchdog
    thread ends waiting connections whose deadline passed.  At ``max_connections`` a new
    connection ends the one that has waited longest, so clients that connect and dawdle cannot
    crowd out a scraper that sends its request at once; only when every connection is inside a
    request is the new one refused.  An ended connection no longer counts (its thread closes it
    within moments).
    """

    def __init__(self, max_connections: int = DEFAULT_MAX_CONNECTIONS, header_timeout: float = HEADER_TIMEOUT,
                 idle_timeout: float = CONNECTION_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections {max_connections} must be at least 1")
        if header_timeout <= 0 or idle_timeout <= 0:
            raise ValueError("header_timeout and idle_timeout must be > 0 seconds")
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.clock = clock
        self._lock = threading.Lock()
        # connection -> (waiting since, deadline); deadline None: inside a request.
        self._conns: dict[Any, tuple[float, float | None]] = {}
        self.timed_out = 0  # connections ended by the watchdog
        self.evicted = 0  # connections ended to make room for a new one
        self.refused = 0  # new connections refused: every slot was inside a request
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._interval = min(0.25, header_timeout / 4)
        self._warned = -float("inf")

    @property
    def open(self) -> int:
        with self._lock:
            return len(self._conns)

    def admit(self, conn: Any) -> bool:
        """A new connection: True if it may be served (it is then waiting for its request)."""
        now = self.clock()
        with self._lock:
            if len(self._conns) >= self.max_connections:
                waiting = [(since, c) for c, (since, deadline) in self._conns.items() if deadline is not None]
                if not waiting:
                    self.refused += 1
                    self._warn(now, "every --web.max-connections slot is inside a request; refusing a connection")
                    return False
                victim = min(waiting, key=lambda item: item[0])[1]
                self._end(victim)
                self.evicted += 1
                self._warn(now, "--web.max-connections reached; ended the connection that had waited longest "
                           "for its request")
            self._conns[conn] = (now, now + self.header_timeout)
        return True

    def _warn(self, now: float, message: str) -> None:
        # At most once a minute: a flood must not flood the log as well.  (Called with the lock held.)
        if now - self._warned >= 60.0:
            self._warned = now
            log.warning(message, extra={"max_connections": self.max_connections,
                                        "fix": "raise --web.max-connections if this is not an attack"})

    def evict_oldest(self) -> bool:
        """End the connection that has waited longest for its request (out of descriptors: make room
        for a client that sends its request at once); False when none is waiting."""
        with self._lock:
            waiting = [(since, c) for c, (since, deadline) in self._conns.items() if deadline is not None]
            if not waiting:
                return False
            self._end(min(waiting, key=lambda item: item[0])[1])
            self.evicted += 1
            return True

    def _end(self, conn: Any) -> None:
        del self._conns[conn]
        _shutdown_socket(conn)

    def request_started(self, conn: Any) -> bool:
        """The request (headers and any body read) has fully arrived; False if the connection was
        already ended (timed out or evicted): then it must not be served."""
        with self._lock:
            if conn not in self._conns:
                return False
            self._conns[conn] = (self._conns[conn][0], None)
            return True

    def idle(self, conn: Any) -> None:
        """An answer is out: the keep-alive connection now waits for its next request."""
        now = self.clock()
        with self._lock:
            if conn in self._conns:
                self._conns[conn] = (now, now + self.idle_timeout)

    def closed(self, conn: Any) -> None:
        with self._lock:
            self._conns.pop(conn, None)

    def expire(self) -> int:
        """End every waiting connection whose deadline has passed; how many."""
        now = self.clock()
        with self._lock:
            late = [c for c, (_, deadline) in self._conns.items() if deadline is not None and deadline < now]
            for c in late:
                self._end(c)
            self.timed_out += len(late)
        if late:
            log.debug("connections ended: request not received in time", extra={"connections": len(late)})
        return len(late)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="http-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.expire()

    def stop(self) -> None:
        self._stop.set()


def text_acceptable(accept: str) -> bool:
    """Whether an Accept header allows the text format 0.0.4 (``text/plain``, unversioned or
    version 0.0.4, ``text/*`` or ``*/*``, with q > 0).  Prometheus's default Accept prefers
    OpenMetrics but lists text 0.0.4; like node_exporter, the exporter then serves the text
    format, which it encodes several times faster.  No header at all means anything goes."""
    if not accept.strip():
        return True
    for part in accept.split(","):
        fields = part.split(";")
        mtype = fields[0].strip().lower()
        if mtype not in ("text/plain", "text/*", "*/*"):
            continue
        params = {}
        for f in fields[1:]:
            k, _, v = f.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        if q > 0 and (mtype != "text/plain" or params.get("version", "0.0.4") == "0.0.4"):
            return True
    return False


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Answers go out at once: a small (gzipped) answer written after the headers otherwise
    # waits for the client's delayed ACK (40 ms) under Nagle's algorithm.
    disable_nagle_algorithm = True
    timeout = CONNECTION_TIMEOUT
    server_version = "pf_exporter"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version  # no Python version, and no trailing space after the name

    def setup(self) -> None:
        sock = self.request
        sock.settimeout(self.timeout)
        if isinstance(sock, ssl.SSLSocket):
            sock.do_handshake()  # in this connection's own thread, under the timeout
            self.server.check_client_sans(sock)
        super().setup()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            self.server.in_flight.set_busy(self.request, False)
            self.server.guard.idle(self.request)

    def _request_complete(self) -> bool:
        """Called once the request has fully arrived: from now on no deadline (the scrape takes what
        it takes).  False if the watchdog already ended the connection: it is not served."""
        if self.server.guard.request_started(self.request):
            return True
        self.close_connection = True
        return False

    def parse_request(self) -> bool:
        # Called once the request line has arrived: from here on a request is under way.
        self.arrived = time.monotonic()
        self.server.in_flight.set_busy(self.request, True)
        return super().parse_request()

    def end_headers(self) -> None:
        # Closed after the answer: when shutting down, and after any method but GET and HEAD
        # (whose body, if any, is not read).
        closing = self.server.in_flight.draining or getattr(self, "command", None) not in ("GET", "HEAD")
        if closing and not self.close_connection:
            self.send_header("Connection", "close")  # also sets close_connection
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("http: " + format, *args, extra={"client": self.client_address[0]})

    def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
              extra: dict[str, str] | None = None) -> None:
        """Answer with *body*."""
        self._head(code, ctype, extra)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _head(self, code: int, ctype: str, extra: dict[str, str] | None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in self.server.app.config.headers.items():
            self.send_header(k, v)
        for k, v in (extra or {}).items():
            self.send_header(k, v)

    def _send_stream(self, chunks: Iterator[bytes], ctype: str, gzip: bool) -> int:
        """Answer 200 with the concatenation of *chunks* (gzipped with *gzip*), sent while they
        are made: a body that ends within the first :data:`STREAM_BUFFER` bytes goes out with a
        Content-Length, a longer one with ``Transfer-Encoding: chunked``.  Clients older than
        HTTP/1.1 get the whole body with a Content-Length (a body ended by closing the connection
        could not tell a failed scrape from a short one).  Returns the bytes sent (HEAD: those a
        GET would have sent)."""
        z = zlib.compressobj(1, zlib.DEFLATED, 31) if gzip else None
        extra = {"Content-Encoding": "gzip"} if gzip else None
        if self.command == "HEAD":  # the headers a GET would get: its length, without holding the body
            size = sum(len(z.compress(c)) for c in chunks) + len(z.flush()) if z is not None else sum(map(len, chunks))
            self._head(200, ctype, extra)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            return size
        limit = STREAM_BUFFER if _http_version(self.request_version) >= (1, 1) else float("inf")
        buf = bytearray()
        sent = 0
        streaming = False
        write = self.wfile.write
        for chunk in chunks:  # a failure before the first write: the caller answers 500
            if z is not None:
                chunk = z.compress(chunk)
            if len(buf) + len(chunk) < limit:
                buf += chunk
                continue
            if not streaming:
                streaming = True
                self._head(200, ctype, extra)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
            if buf:
                buf += chunk
                write(b"%x\r\n%b\r\n" % (len(buf), buf))
                sent += len(buf)
                buf.clear()
            else:  # a large piece on its own (OpenMetrics: the whole body): framed without a copy
                write(b"%x\r\n" % len(chunk))
                write(chunk)
                write(b"\r\n")
                sent += len(chunk)
            break
        if streaming:
            return self._stream_rest(chunks, z, sent)
        if z is not None:
            buf += z.flush()
        self._head(200, ctype, extra)
        self.send_header("Content-Length", str(len(buf)))
        self.end_headers()
        write(buf)
        return len(buf)

    def _stream_rest(self, chunks: Iterator[bytes], z: Any, sent: int) -> int:
        """The chunks after the first one sent, then the last chunk.  An encoder failure now ends the
        connection without the last chunk: the client sees a broken body, not a short exposition."""
        write = self.wfile.write
        buf = bytearray()
        try:
            for chunk in chunks:
                buf += z.compress(chunk) if z is not None else chunk
                if len(buf) >= STREAM_BUFFER:
                    write(b"%x\r\n%b\r\n" % (len(buf), buf))
                    sent += len(buf)
                    buf.clear()
            if z is not None:
                buf += z.flush()
        except OSError:
            raise  # the client went away: the server's own (quiet) handling
        except Exception:
            log.exception("scrape failed while its body was being sent")
            self.close_connection = True
            return sent
        write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(buf), buf) if buf else b"0\r\n\r\n")
        return sent + len(buf)

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD> and answers 501 when it is missing; every method
        # other than GET and HEAD goes to _other_method instead, so the status depends on the path.
        if name.startswith("do_"):
            return self._other_method
        raise AttributeError(name)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        app = self.server.app
        if not self._request_complete() or not self._authorized():
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path == app.telemetry_path:
            self._metrics(url.query)
        elif url.path == "/":
            self._send(200, app.landing_page(), "text/html; charset=utf-8")
        elif url.path == "/-/healthy":
            self._send(200, b"Healthy\n")
        else:
            self._not_found(url.path)

    def _authorized(self) -> bool:
        app = self.server.app
        header = self.headers.get("Authorization")
        if app.auth is not None and not app.auth.check(header):
            body = b"Unauthorized\n"
            if basic_auth_password_too_long(header):
                body = (f"Unauthorized: the password is longer than {BCRYPT_MAX_PASSWORD} bytes, more than bcrypt "
                        "can check; use a shorter one\n").encode()
            self._send(401, body, extra={"WWW-Authenticate": 'Basic realm="pf_exporter"'})
            return False
        return True

    def _not_found(self, path: str) -> None:
        if path == ADMIN_PREFIX.rstrip("/") or path.startswith(ADMIN_PREFIX):
            # The admin API never answers here, whatever the method: it has its own listener.
            self._send(404, b"Not found; the admin API is served only on its own listener "
                       b"(--admin.listen-address), never on the metrics port\n")
        else:
            self._send(404, f"Not found; the metrics are at {self.server.app.telemetry_path}\n".encode())

    def _other_method(self) -> None:
        """POST, PUT, DELETE and any other method: 405 on the exporter's own paths, 404 elsewhere
        (the admin API's paths included).  A body is not read: the connection is closed after the
        answer, once a small body has been discarded."""
        if not self._discard_body() or not self._request_complete() or not self._authorized():
            return
        path = urllib.parse.urlsplit(self.path).path
        if path in (self.server.app.telemetry_path, "/", "/-/healthy"):
            self._send(405, b"Method not allowed; use GET or HEAD\n", extra={"Allow": "GET, HEAD"})
        else:
            self._not_found(path)

    def _discard_body(self, limit: int = 65536) -> bool:
        """Read a small request body we will not use, so the client can read the answer instead of
        meeting a connection reset (a larger one is left unread; the connection closes anyway).
        False when the Content-Length is not a number: a 400 has been sent."""
        raw = self.headers.get("Content-Length")
        if raw is None:
            return True
        if not re.fullmatch(r"[0-9]+", raw.strip()):
            # isdigit() is not enough: it also accepts '²' and other digits int() refuses.
            self._send(400, f"Bad Content-Length {raw[:40]!r}: it must be a decimal number of bytes\n".encode())
            return False
        length = int(raw)
        if 0 < length <= limit and not self.headers.get("Transfer-Encoding"):
            try:
                self.rfile.read(length)
            except OSError:
                pass
        return True

    def _metrics(self, query: str) -> None:
        app = self.server.app
        params = urllib.parse.parse_qs(query)
        only = params.get("collect[]")
        try:
            registry = app.registry_for(only)
        except ValueError as e:
            self._send(400, f"{e}\n".encode())
            return
        accept = self.headers.get("Accept", "")
        if text_acceptable(accept):
            encoder, ctype = generate_text, CONTENT_TYPE_PLAIN_0_0_4  # generate_latest's bytes, faster
        else:
            encoder, ctype = choose_encoder(accept)
            if encoder is generate_latest:
                encoder = generate_text
        start = time.perf_counter()
        try:
            with request_arrived(self.arrived):
                # the text format a slice at a time: the body is never held whole
                chunks = generate_chunks(registry) if encoder is generate_text else iter([encoder(registry)])
        except Exception as e:  # the collectors isolate their own failures; this is a bug
            log.exception("scrape failed")
            self._send(500, f"scrape failed: {e}\n".encode())
            return
        try:
            size = self._send_stream(chunks, ctype, "gzip" in self.headers.get("Accept-Encoding", ""))
        except OSError:
            raise  # the client went away (ssl.SSLError is one too): the server's own handling
        except Exception as e:  # the encoder failed before anything was sent
            log.exception("scrape failed")
            self._send(500, f"scrape failed: {e}\n".encode())
            return
        log.debug("scrape", extra={"seconds": round(time.perf_counter() - start, 6), "bytes": size})


def _http_version(text: str) -> tuple[int, int]:
    """("HTTP/1.1" ->) (1, 1); (0, 9) for anything http.server let through that is not HTTP/x.y."""
    try:
        major, minor = text.split("/", 1)[1].split(".", 1)
        return int(major), int(minor)
    except (IndexError, ValueError):
        return (0, 9)


class _Server(ThreadingHTTPServer):
    """One listening socket.  Threads are daemons and not joined on close: a stuck client
    must not hold up shutdown either."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], family: int, app: WebApp, ssl_context: ssl.SSLContext | None,
                 dual_stack: bool = False, in_flight: InFlight | None = None,
                 guard: ConnectionGuard | None = None) -> None:
        self.address_family = family
        self.app = app
        self.in_flight = in_flight if in_flight is not None else InFlight()
        self.guard = guard if guard is not None else ConnectionGuard()
        self._starved_logged = -float("inf")  # when running out of descriptors was last logged
        self.ssl_context = ssl_context
        self.dual_stack = dual_stack
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self.dual_stack:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            sock, addr = self.socket.accept()
        except OSError as e:
            if e.errno in _ACCEPT_RESOURCE_ERRORS:
                # The pending connection stays queued, so the listener stays readable: without a pause
                # the accept loop would spin.  Logged at most once a minute.
                now = time.monotonic()
                if now - self._starved_logged >= 60.0:
                    self._starved_logged = now
                    log.warning("cannot accept connections: out of file descriptors or memory; retrying every "
                                f"{ACCEPT_BACKOFF} s", extra={"err": e.strerror, "open_connections": self.guard.open,
                                                              "fix": "raise the descriptor limit (ulimit -n, "
                                                              "login.conf openfiles) or lower --web.max-connections"})
                self.guard.evict_oldest()  # our own dawdling clients may be what holds the descriptors
                time.sleep(ACCEPT_BACKOFF)
            raise
        if self.ssl_context is not None:
            # No handshake here: this is the accept loop every client shares.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.guard.admit(request):
            self._refuse(request)
            return
        # Registered here, in the accept loop, so once serve_forever has returned every accepted
        # connection is known to a shutdown.
        self.in_flight.opened(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.in_flight.closed(request)
            self.guard.closed(request)
            raise

    def _refuse(self, request: Any) -> None:
        """Every slot is inside a request: a 503 (plain HTTP; a TLS client just sees the close),
        without spending a thread on it."""
        if not isinstance(request, ssl.SSLSocket):
            body = (f"Too many connections: all {self.guard.max_connections} (--web.max-connections) are "
                    "serving requests; retry shortly\n").encode()
            try:
                request.settimeout(0)
                request.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             b"Retry-After: 1\r\nConnection: close\r\n"
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            except OSError:
                pass
        self.shutdown_request(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.in_flight.closed(request)
            self.guard.closed(request)

    def check_client_sans(self, sock: ssl.SSLSocket) -> None:
        tls = self.app.config.tls
        if tls is None or not tls.client_allowed_sans:
            return
        cert = sock.getpeercert() or {}
        names = {v for _, v in cert.get("subjectAltName", ())}
        if not names & set(tls.client_allowed_sans):
            raise ssl.SSLError("client certificate has none of the client_allowed_sans")

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Timeouts, resets and failed handshakes are the client's business; keep them quiet.
        log.debug("connection error", exc_info=True, extra={"client": str(client_address[0])})


def _check_descriptor_limit(max_connections: int) -> None:
    """Warn when the descriptor limit cannot hold --web.max-connections and the rest (pf, listeners,
    the admin API, logs): accept(2) would then fail before the cap is reached."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return
    if soft != resource.RLIM_INFINITY and max_connections + 64 > soft:
        log.warning("the open file limit is low for --web.max-connections", extra={
            "max_connections": max_connections, "nofile": soft,
            "fix": f"lower --web.max-connections to {max(1, soft - 64)} or raise the limit (ulimit -n, "
                   "login.conf openfiles)"})


class MetricsServer:
    """Listens on every ``--web.listen-address``, each socket served by its own thread."""

    def __init__(self, addresses: Sequence[str], app: WebApp, poll_interval: float = 0.5, *,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS, header_timeout: float = HEADER_TIMEOUT) -> None:
        self.app = app
        self.poll_interval = poll_interval  # how quickly shutdown() is noticed
        self.in_flight = InFlight()
        self.guard = ConnectionGuard(max_connections, header_timeout)
        _check_descriptor_limit(max_connections)
        ctx = build_ssl_context(app.config.tls) if app.config.tls is not None else None
        self.servers: list[_Server] = []
        try:
            for a in addresses:
                self.servers.append(self._bind(a, ctx))
        except BaseException:
            self.close()
            raise
        self._threads: list[threading.Thread] = []

    def _bind(self, address: str, ctx: ssl.SSLContext | None) -> _Server:
        host, port = parse_listen_address(address)
        try:
            if host == "":
                if _has_ipv6():
                    return _Server(("::", port), socket.AF_INET6, self.app, ctx, dual_stack=True,
                                   in_flight=self.in_flight, guard=self.guard)
                return _Server(("0.0.0.0", port), socket.AF_INET, self.app, ctx, in_flight=self.in_flight,
                               guard=self.guard)
            try:
                ip = ipaddress.ip_address(host)
                family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            except ValueError:
                info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                family, host = info[0][0], info[0][4][0]
            return _Server((host, port), family, self.app, ctx, in_flight=self.in_flight, guard=self.guard)
        except socket.gaierror as e:
            raise OSError(errno.EADDRNOTAVAIL, f"cannot listen on {address}: {e.strerror}") from None
        except OSError as e:
            hint = " (is another exporter already using it? pick another --web.listen-address)" \
                if e.errno == errno.EADDRINUSE else ""
            raise OSError(e.errno, f"cannot listen on {address}: {e.strerror}{hint}") from None

    def update_config(self, config: WebConfig) -> None:
        """Swap in a new web config (SIGHUP): new TLS context and users for new connections.
        Raises WebConfigError, keeping the old config, when the certificates do not load."""
        ctx = build_ssl_context(config.tls) if config.tls is not None else None
        auth = BasicAuth(config.basic_auth_users) if config.basic_auth_users else None
        self.app.config, self.app.auth = config, auth
        for s in self.servers:
            s.ssl_context = ctx

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [s.server_address[:2] for s in self.servers]  # type: ignore[misc]

    @property
    def tls(self) -> bool:
        return self.app.config.tls is not None

    def start(self) -> None:
        """Serve in background threads (returns at once)."""
        self.guard.start()
        for s in self.servers:
            t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": self.poll_interval}, daemon=True,
                                 name=f"http-{s.server_address[1]}")
            t.start()
            self._threads.append(t)

    def shutdown(self, drain_timeout: float = 0.0) -> int:
        """Stop accepting (the listening sockets are closed), give the requests under way up to
        ``drain_timeout`` seconds to finish, then end the idle keep-alive connections.
        Returns the number of requests still running (their threads are daemons: they do not
        keep the process alive)."""
        self.in_flight.draining = True
        for s in self.servers:
            if self._threads:
                s.shutdown()
        self.close()
        left = self.in_flight.wait_idle(drain_timeout)
        self.in_flight.close_idle()
        return left

    def close(self) -> None:
        self.guard.stop()
        for s in self.servers:
            s.server_close()
