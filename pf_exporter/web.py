"""The HTTP side: ``/metrics`` (or ``--web.telemetry-path``), a landing page at ``/``,
``/-/healthy``; optional TLS and basic auth from an exporter-toolkit web-config file.

Every connection gets its own thread, and the TLS handshake happens in that thread, so a
slow or silent client (plain TCP or TLS) only ever holds up itself.  A :class:`ConnectionGuard`
keeps slow clients from piling up: at most ``max_connections`` connections are open at once
(at the cap the connection that has waited longest without a request is dropped for the new
one, or, when every one is inside a request, the new one gets a 503), a connection must
deliver its TLS handshake, request line and headers within HEADER_TIMEOUT seconds in total
(a watchdog ends it otherwise, however steadily it trickles bytes), and a keep-alive connection
its next request within CONNECTION_TIMEOUT, and every answer must be written within
WRITE_TIMEOUT (at the cap, a client that lets its answer pile up unread is ended first for
a newcomer).  Running out of file descriptors makes the accept
loop pause briefly instead of spinning.
"""

from __future__ import annotations

import errno
import html
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest

from . import runbooks
from .exporter import request_arrived, scrape_gc_paused
from .exposition import EncodeAhead, generate_chunks, generate_text
from .guard import ConnectionGuard, InFlight
from .httpcheck import parse_strictly, plain_http_on_tls
from .webconfig import (
    BCRYPT_MAX_PASSWORD,
    BasicAuth,
    Throttled,
    WebConfig,
    WebConfigError,
    basic_auth_password_too_long,
    build_ssl_context,
    downgrades,
)

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
# An answer (headers and body) must be written within this many seconds, however steadily the client
# reads: Prometheus gives up on a scrape at its scrape_timeout (at most the scrape interval) anyway.
WRITE_TIMEOUT = 60.0
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
ENCODE_AHEAD_AFTER = 256 * 1024  # text bytes of a gzipped body encoded before a thread takes over
# zlib's fastest level: Python's default (9) costs several times as much for a few percent
# (measured in docs/performance.md); Go's exporters use their library's default (6, ~3x level 1).
GZIP_LEVEL = 1


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
    abi: str = ""  # the pf ABI spoken, e.g. "7.9/amd64"
    simulated: str = ""  # the simulator's scenario when pf is simulated, else ""
    # name -> (seconds, succeeded, when) of each collector's last run, for the landing page
    last_runs: Callable[[], dict[str, tuple[float, bool, float]]] = field(default=dict)

    def __post_init__(self) -> None:
        if self.config.basic_auth_users and self.auth is None:
            self.auth = BasicAuth(self.config.basic_auth_users)

    def landing_page(self) -> bytes:
        """A small page: what this is (and whether pf is simulated), the ABI, the collectors with
        their last run, the links, and every metric family."""
        e = html.escape
        path = e(self.telemetry_path)
        runs = self.last_runs()
        now = time.time()
        rows = []
        for name, on, desc in self.collectors:
            if not on:
                state = '<td class="off">disabled</td><td></td>'
            elif name not in runs:
                state = "<td>enabled</td><td>not run yet</td>"
            else:
                took, ok, when = runs[name]
                mark = '<span class="ok">ok</span>' if ok else '<span class="bad">failed</span>'
                state = f"<td>enabled</td><td>{mark} in {took * 1000:.1f} ms, {max(0, now - when):.0f} s ago</td>"
            rows.append(f"<tr><td><code>{e(name)}</code></td>{state}<td>{_prose(desc)}</td></tr>")
        metrics = "".join(
            f"<tr><td><code>{e(m.name)}</code></td><td>{e(m.kind)}</td><td>{e(', '.join(m.labels))}</td>"
            f"<td>{e(m.collector)}</td><td>{_prose(m.help)}</td></tr>"
            for m in self.landing)
        banner = (f'<p class="sim">Simulated pf (scenario <code>{e(self.simulated)}</code>): these are not a real '
                  "firewall's numbers.</p>") if self.simulated else ""
        abi = f" Speaking the pf ABI of OpenBSD {e(self.abi)}." if self.abi else ""
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pf_exporter</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:80em}}
td,th{{text-align:left;padding:3px 10px;vertical-align:top}}tr:nth-child(even){{background:#f4f4f4}}
.sim{{background:#fff3cd;border:1px solid #e0c060;padding:.5em 1em}}.ok{{color:#1a7f37}}.bad{{color:#cf222e}}
.off{{color:#888}}code{{font-size:95%}}</style></head>
<body><h1>pf_exporter</h1>
{banner}<p>Prometheus exporter for OpenBSD's Packet Filter, version {e(self.version)}.{abi}</p>
<ul><li><a href="{path}">{path}</a>: the metrics
(<a href="{path}?collect[]=status">only <code>status</code></a>; any collectors with
<code>?collect[]=NAME&amp;collect[]=NAME</code>)</li>
<li><a href="-/healthy">/-/healthy</a>: health check</li>
<li><a href="runbooks">/runbooks</a>: what to do when an alert fires (the alerts link here)</li></ul>
<h2>Collectors</h2>
<table><tr><th>collector</th><th>state</th><th>last run</th><th>what it reads</th></tr>
{''.join(rows)}</table>
<h2>Metrics</h2>
<table><tr><th>metric</th><th>type</th><th>labels</th><th>collector</th><th>meaning</th></tr>
{metrics}</table></body></html>
"""
        return page.encode()


def _prose(text: str) -> str:
    """A help or description text as HTML: escaped, with its `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


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
            if plain_http_on_tls(sock):
                raise ConnectionAbortedError("plain HTTP on the TLS port (answered 400)")
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
        # Bounded headers, strict framing; GET and HEAD carry no body (other methods get a 405 or 404).
        return parse_strictly(self, super().parse_request)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors and the framing checks': plain text, and the connection closed."""
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # a status line and headers all the same
        if not hasattr(self, "command"):
            self.command = ""
        text = message or "Bad request"
        if explain and explain != message:
            text += f": {explain}"
        self._send(code, f"{code} {text}\n".encode(), extra={"Connection": "close"})

    def end_headers(self) -> None:
        # Closed after the answer: when shutting down, and after any method but GET and HEAD
        # (whose body, if any, is not read).
        closing = self.server.in_flight.draining or getattr(self, "command", None) not in ("GET", "HEAD")
        if closing and not self.close_connection:
            self.send_header("Connection", "close")  # also sets close_connection
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
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
        self.server.guard.writing(self.request)  # from here, at most WRITE_TIMEOUT to write it all
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        # Error bodies echo what the client sent (e.g. collect[] names): never sniffed as HTML
        if "X-Content-Type-Options" not in self.server.app.config.headers:
            self.send_header("X-Content-Type-Options", "nosniff")
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
        z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if gzip else None
        extra = {"Content-Encoding": "gzip"} if gzip else None
        if self.command == "HEAD":  # the headers a GET would get: its length, without holding the body
            size = sum(len(z.compress(c)) for c in chunks) + len(z.flush()) if z is not None else sum(map(len, chunks))
            self._head(200, ctype, extra)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            return size
        if z is None:
            return self._send_body(chunks, ctype, None, extra)
        # gzipped: past its first ENCODE_AHEAD_AFTER bytes the text is encoded in a thread while this
        # one compresses and writes, so gzip costs little more than the encoding
        ahead = EncodeAhead(chunks, start_after=ENCODE_AHEAD_AFTER)
        try:
            return self._send_body(ahead, ctype, z, extra)
        finally:
            ahead.close()

    def _send_body(self, chunks: Iterator[bytes], ctype: str, z: Any, extra: dict[str, str] | None) -> int:
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
                write(b"%x\r\n%b\r\n" % (len(buf), bytes(buf)))
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
                    write(b"%x\r\n%b\r\n" % (len(buf), bytes(buf)))
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
        write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(buf), bytes(buf)) if buf else b"0\r\n\r\n")
        return sent + len(buf)

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD> and answers 501 when it is missing; every method
        # other than GET and HEAD goes to _other_method instead, so the status depends on the path.
        if name.startswith("do_"):
            return self._other_method
        raise AttributeError(name)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
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
        elif url.path == "/runbooks":
            self._send(200, runbooks.html_page(), "text/html; charset=utf-8")
        else:
            self._not_found(url.path)

    def _authorized(self) -> bool:
        app = self.server.app
        header = self.headers.get("Authorization")
        if app.auth is None:
            return True
        try:
            ok = app.auth.check(header, str(self.client_address[0]))
        except Throttled as e:
            self._send(429, f"Too many failed logins from {self.client_address[0]}; retry in "
                       f"{e.retry_after:.0f} s\n".encode(), extra={"Retry-After": f"{e.retry_after:.0f}"})
            return False
        if not ok:
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
        if path in (self.server.app.telemetry_path, "/", "/-/healthy", "/runbooks"):
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
        with scrape_gc_paused():  # until the families are sent and let go
            self._scrape(query)

    def _scrape(self, query: str) -> None:
        app = self.server.app
        params = urllib.parse.parse_qs(query)
        only = params.get("collect[]")
        try:
            registry = app.registry_for(only)
        except ValueError as e:
            self._send(400, f"{e}\n".encode())
            return
        accept = self.headers.get("Accept", "")
        encoder: Callable[[Any], bytes]
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
        names = {v for _, v in cert.get("subjectAltName", ())}  # type: ignore[str-unpack]  # (type, name) pairs
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
                 max_connections: int = DEFAULT_MAX_CONNECTIONS, header_timeout: float = HEADER_TIMEOUT,
                 write_timeout: float = WRITE_TIMEOUT) -> None:
        self.app = app
        self.poll_interval = poll_interval  # how quickly shutdown() is noticed
        self.in_flight = InFlight()
        self.guard = ConnectionGuard(max_connections, header_timeout, CONNECTION_TIMEOUT, write_timeout=write_timeout)
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
                family, host = info[0][0], str(info[0][4][0])
            return _Server((host, port), family, self.app, ctx, in_flight=self.in_flight, guard=self.guard)
        except socket.gaierror as e:
            raise OSError(errno.EADDRNOTAVAIL, f"cannot listen on {address}: {e.strerror}") from None
        except OSError as e:
            hint = " (is another exporter already using it? pick another --web.listen-address)" \
                if e.errno == errno.EADDRINUSE else ""
            raise OSError(e.errno, f"cannot listen on {address}: {e.strerror}{hint}") from None

    def update_config(self, config: WebConfig) -> None:
        """Swap in a new web config (SIGHUP): new TLS context and users for new connections.
        Raises WebConfigError, keeping the old config, when the certificates do not load or when
        the new config would remove protection the running one gives (TLS, client certificates,
        basic auth: only a restart takes those away)."""
        lost = downgrades(self.app.config, config)
        if lost:
            raise WebConfigError("refused: " + "; ".join(lost) + ". A reload never lowers the listener's "
                                 "protection; to remove it on purpose, restart the exporter")
        ctx = build_ssl_context(config.tls) if config.tls is not None else None
        limiter = self.app.auth.limiter if self.app.auth is not None else None  # failures are remembered
        auth = BasicAuth(config.basic_auth_users, limiter) if config.basic_auth_users else None
        self.app.config, self.app.auth = config, auth
        for s in self.servers:
            s.ssl_context = ctx

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [s.server_address[:2] for s in self.servers]  # type: ignore[misc]  # TCP servers: (host, port)

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
