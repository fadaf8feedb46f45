"""The admin API's own HTTP listener: TCP (loopback, or anything with TLS) or a unix socket.

Per connection: TLS handshake in the connection's thread; authentication before anything
else (so unauthenticated clients learn nothing about routes); a 1 MiB body limit checked
on ``Content-Length`` before a byte of the body is read (``Expect: 100-continue`` is only
answered once the request is known to be acceptable); a short deadline (HEADER_TIMEOUT)
for the handshake and headers, then the request timeout once authenticated; bounded
unauthenticated connections, in all and per peer address, the oldest closed to make room
for a new one; one request per connection; JSON errors; one audit line per request,
whatever happens.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import socket
import socketserver
import ssl
import stat
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from ..guard import ConnectionGuard, InFlight
from ..httpcheck import parse_strictly, plain_http_on_tls
from .api import MAX_BODY, AdminApi, Request, Response, parse_query
from .audit import AuditLog
from .auth import ANONYMOUS, Authenticator, Identity
from .errors import ApiError
from .scopes import authorize

log = logging.getLogger("pf_exporter.admin")

MAX_CONNECTIONS = 32  # connection threads in all
MAX_PENDING = 24  # of those, not yet authenticated: the rest stay free for authenticated requests
MAX_PENDING_PER_PEER = 8  # not yet authenticated, from one IP address
HEADER_TIMEOUT = 5.0  # seconds for the TLS handshake, request line and headers (before authentication)
_DIGITS = re.compile(r"[0-9]{1,18}")  # str.isdigit() also accepts "²", which int() refuses


class AdminListenError(ValueError):
    """The --admin.listen-address is unusable; the message names the fix."""


def parse_admin_address(address: str) -> tuple[str, Any]:
    """``unix:/path`` or ``/path`` -> ("unix", path); ``host:port``/``[v6]:port`` -> ("tcp", (host, port))."""
    if address.startswith("unix:"):
        path = address[5:]
        if not path.startswith("/"):
            raise AdminListenError(f"--admin.listen-address {address!r}: a unix socket needs an absolute path")
        return "unix", path
    if address.startswith("/"):
        return "unix", address
    host, sep, port_s = address.rpartition(":")
    if not sep or not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise AdminListenError(
            f"invalid --admin.listen-address {address!r}: use host:port, [ipv6]:port or unix:/path/to/socket "
            "(e.g. 127.0.0.1:10074)"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise AdminListenError(f"invalid --admin.listen-address {address!r}: put an IPv6 address in brackets")
    return "tcp", (host, int(port_s))


def is_loopback(host: str) -> bool:
    """True when every address *host* names is a loopback address ("" = all interfaces is not)."""
    if host == "":
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    addrs = {str(i[4][0]) for i in infos}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addrs)


def _peer_credentials(sock: socket.socket) -> str:
    """``uid=N`` of a unix-socket peer, when the platform tells (SO_PEERCRED)."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return ""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    except OSError:
        return ""
    a, b, c = struct.unpack("3i", raw)
    # Linux: struct ucred {pid, uid, gid}; OpenBSD: struct sockpeercred {uid, gid, pid}
    uid, pid = (a, c) if sys.platform.startswith("openbsd") else (b, a)
    return f"uid={uid},pid={pid}"


class AdminApp:
    """What the handler needs: authentication, routes, audit log and limits."""

    def __init__(self, api: AdminApi, auth: Authenticator, audit: AuditLog, *, request_timeout: float = 30.0,
                 allowed_sans: tuple[str, ...] = (), headers: dict[str, str] | None = None) -> None:
        self.api = api
        self.auth = auth
        self.audit = audit
        self.request_timeout = request_timeout
        self.allowed_sans = allowed_sans
        self.headers = headers or {}


class _Handler(BaseHTTPRequestHandler):
    server: _ServerMixin  # type: ignore[assignment]  # the mixin is what our servers really are
    protocol_version = "HTTP/1.1"
    server_version = "pf_exporter-admin"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version  # no Python version, and no trailing space after the name

    # --- connection set-up ---------------------------------------------------------------

    def setup(self) -> None:
        app = self.server.app
        # Until authenticated: a short deadline for the handshake, request line and headers (the
        # guard's, from admission), so clients that connect and stay silent hold their slot
        # seconds, not the request timeout.
        header_timeout = self.server.guard.header_timeout
        self.timeout = header_timeout  # type: ignore[misc]  # http.server reads it per handler instance
        self._expect_continue = False
        self._body_read = False
        self._audited = False
        self._remote = self.server.remote_of(self.request, self.client_address)
        sock = self.request
        sock.settimeout(header_timeout)
        if isinstance(sock, ssl.SSLSocket):
            if plain_http_on_tls(sock):
                raise ConnectionAbortedError("plain HTTP on the TLS port (answered 400)")
            sock.do_handshake()  # in this connection's thread, under the timeout
            if app.allowed_sans:
                cert = sock.getpeercert() or {}
                names = {v for _, v in cert.get("subjectAltName", ())}  # type: ignore[str-unpack]  # (type, name) pairs
                if not names & set(app.allowed_sans):
                    raise ssl.SSLError("client certificate has none of the client_allowed_sans")
        super().setup()

    def parse_request(self) -> bool:
        # Called once the request line has arrived: from here on a request is under way, and a
        # shutdown waits for its answer (AdminServer.shutdown's drain).
        self.server.in_flight.set_busy(self.request, True)
        # Bounded headers, strict framing (RFC 9112); only changes carry a body.
        return parse_strictly(self, super().parse_request)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            self.server.in_flight.set_busy(self.request, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("admin http: " + format, *args)

    def handle_expect_100(self) -> bool:
        # Answer "100 Continue" only after authentication and the size check (_read_body).
        self._expect_continue = True
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method...) as JSON, audited."""
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # answer with a status line and headers all the same
        status = 405 if code == 501 else code
        err = ApiError(status, message or "bad request", headers={"Allow": "GET, POST, PUT, DELETE"}
                       if status == 405 else None)
        self._respond(Response(err.status, err.body(), err.headers))
        self._audit(ANONYMOUS, _url_path(getattr(self, "path", None)), "invalid", {}, err.status, err.message)

    # --- methods -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        app = self.server.app
        self.close_connection = True
        identity: Identity = ANONYMOUS
        action = "unknown"
        params: dict[str, Any] = {}
        message: str | None = None
        url = urllib.parse.urlsplit(self.path)
        try:
            if not self.path.startswith("/"):
                raise ApiError(400, "the request target must be a path such as /api/v1/status")
            peercert = self.request.getpeercert() if isinstance(self.request, ssl.SSLSocket) else None
            identity = app.auth.authenticate(self.headers.get("Authorization"), peercert,
                                             _peer_address(self.client_address))
            # authenticated: inside a request (no longer evictable by newcomers); the request timeout
            # bounds the body's upload
            if not self.server.guard.busy(self.request, app.request_timeout):
                raise ConnectionError("ended by the connection guard")
            self.request.settimeout(app.request_timeout)
            _refuse_browsers(self.headers.get("Origin"), self.headers.get("Sec-Fetch-Site"))
            route = app.api.route(self.command, url.path)
            action, params = route.action, route.params
            authorize(identity, identity.scopes, route.need, action)
            app.api.check_content_type(route, self.headers.get("Content-Type"),
                                       self.headers.get("Content-Length", "0").strip() not in ("", "0")
                                       or bool(self.headers.get("Transfer-Encoding")))
            body = self._read_body()
            self.server.guard.busy(self.request, None)  # the change takes what it takes
            req = Request(self.command, url.path, parse_query(url.query), body,
                          self.headers.get("Content-Type", ""))
            resp = app.api.handle(req, route)
        except ApiError as e:
            resp = Response(e.status, e.body(), e.headers)
            message = e.message
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self._audit(identity, url.path, action, params, 408, "connection closed or timed out")
            raise
        except Exception:
            log.exception("admin request failed", extra={"action": action})
            resp = Response(500, ApiError(500, "internal error; see the exporter's log").body())
            message = "internal error"
        # audited before the answer leaves: the log is complete by the time the client knows
        self._audit(identity, url.path, action, params, resp.status, message)
        self._respond(resp)
        if not self._body_read and not self._expect_continue:
            self._drain()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "send the body with a Content-Length (chunked transfer encoding is not accepted)")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        if not _DIGITS.fullmatch(raw.strip()):
            raise ApiError(400, "Content-Length must be a decimal number of bytes (ASCII digits 0-9)")
        length = int(raw)
        if length > MAX_BODY:
            raise ApiError(413, f"the body is {length} bytes, more than the limit of {MAX_BODY} (1 MiB); "
                           "split the change into several requests")
        if self._expect_continue:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        self._body_read = True
        chunks = []
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                raise ApiError(400, f"the body ended after {length - left} of {length} bytes")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _drain(self, limit: int = 4 * MAX_BODY, seconds: float = 2.0) -> None:
        """Read and discard a body we refused without reading (bounded), so the client can
        finish sending and read our answer instead of meeting a connection reset."""
        raw = self.headers.get("Content-Length", "") if self.headers else ""
        if not _DIGITS.fullmatch(raw.strip()) or int(raw) == 0:
            return
        deadline = time.monotonic() + seconds
        left = min(int(raw), limit)
        try:
            while left > 0 and time.monotonic() < deadline:
                self.request.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = self.rfile.read1(min(left, 65536)) if hasattr(self.rfile, "read1") else b""
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _respond(self, resp: Response) -> None:
        self.server.guard.writing(self.request)  # a client that does not read its answer is ended
        payload = b"" if self.command == "HEAD" else json.dumps(resp.body, indent=1).encode() + b"\n"
        self.send_response(resp.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in {**self.server.app.headers, **resp.headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _audit(self, identity: Identity, path: str, action: str, params: dict[str, Any], status: int,
               message: str | None) -> None:
        if self._audited:
            return
        self._audited = True
        try:
            self.server.app.audit.record(
                identity=str(identity), remote=self._remote, method=getattr(self, "command", None) or "-",
                path=path, action=action, params=params, status=status, message=message,
            )
        except Exception:
            log.exception("cannot write the admin audit log")


def _peer_address(client_address: Any) -> str | None:
    """The client's IP address (None on a unix socket: every local client is one peer there)."""
    if isinstance(client_address, tuple) and client_address:
        return str(client_address[0])
    return None


def _refuse_browsers(origin: str | None, fetch_site: str | None) -> None:
    """403 for requests a web browser makes on behalf of a page (CSRF): browsers add ``Origin``
    to cross-origin requests and to every POST, and ``Sec-Fetch-Site``; automation sends neither."""
    site = (fetch_site or "").strip().lower()
    if origin is not None or site in ("cross-site", "same-site"):
        what = "an Origin header" if origin is not None else f"Sec-Fetch-Site: {site}"
        raise ApiError(403, f"the request carries {what}: requests from web pages are refused (the admin API is "
                       "for automation); send it without that header, e.g. with curl")


def _url_path(target: str | None) -> str:
    """The path of a request target for the audit log ("-" when there is none)."""
    if not target:
        return "-"
    try:
        return urllib.parse.urlsplit(target).path or "-"
    except ValueError:
        return target.split("?", 1)[0] or "-"


class _ServerMixin:
    """Shared by the TCP and unix-socket servers: TLS wrapping, the connection guard (the one the
    metrics listener uses too), the connections under way (for a draining shutdown)."""

    app: AdminApp
    ssl_context: ssl.SSLContext | None
    guard: ConnectionGuard
    in_flight: InFlight
    daemon_threads = True
    block_on_close = False

    def _init_limits(self) -> None:
        # At most MAX_CONNECTIONS connections; of those at most MAX_PENDING not yet authenticated,
        # MAX_PENDING_PER_PEER from one address: a newcomer ends the oldest silent one, so clients
        # that connect and stay silent cannot lock out one that sends its request at once.
        self.guard = ConnectionGuard(
            MAX_CONNECTIONS, min(HEADER_TIMEOUT, self.app.request_timeout), self.app.request_timeout,
            max_waiting=MAX_PENDING, max_waiting_per_peer=MAX_PENDING_PER_PEER,
            write_timeout=self.app.request_timeout, name="admin", flag="the admin API's connection limit")
        self.guard.start()
        self.in_flight = InFlight()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()  # type: ignore[attr-defined]  # socketserver's socket attribute comes from the concrete server
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        peer = client_address[0] if isinstance(client_address, tuple) and client_address else None
        if not self.guard.admit(request, peer):
            # Every connection is inside a request: refuse without spending a thread on it.
            try:
                if not isinstance(request, ssl.SSLSocket):
                    request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n"
                                    b"Connection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)  # type: ignore[attr-defined]  # from the concrete socketserver class
            return
        # Registered here, in the accept loop, so a shutdown knows every accepted connection.
        self.in_flight.opened(request)
        try:
            super().process_request(request, client_address)  # type: ignore[misc]  # the concrete socketserver class has it
        except BaseException:
            self.in_flight.closed(request)
            self.guard.closed(request)
            raise

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]  # the concrete socketserver class has it
        finally:
            self.in_flight.closed(request)
            self.guard.closed(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("admin connection error", exc_info=True)

    def remote_of(self, sock: socket.socket, client_address: Any) -> str:
        if isinstance(client_address, tuple) and len(client_address) >= 2:
            host = client_address[0]
            return f"[{host}]:{client_address[1]}" if ":" in host else f"{host}:{client_address[1]}"
        creds = _peer_credentials(sock)
        return f"unix:{creds}" if creds else "unix"


class _TcpServer(_ServerMixin, socketserver.ThreadingMixIn, HTTPServer):  # type: ignore[misc]  # request: a socket, not Any
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], family: int, app: AdminApp,
                 ssl_context: ssl.SSLContext | None) -> None:
        self.address_family = family
        self.app = app
        self.ssl_context = ssl_context
        self._init_limits()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup of our own name
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]  # a TCP server's address is (host, port)


class _UnixServer(_ServerMixin, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):  # type: ignore[misc]  # as above
    request_queue_size = 64

    def __init__(self, path: str, app: AdminApp, ssl_context: ssl.SSLContext | None, mode: int) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self._init_limits()
        self.mode = mode
        _remove_stale_socket(path)
        super().__init__(path, _Handler)

    def server_bind(self) -> None:
        old = os.umask(0o777 & ~self.mode)  # the socket is never reachable with wider permissions
        try:
            super().server_bind()
        finally:
            os.umask(old)
        os.chmod(self.server_address, self.mode)  # type: ignore[arg-type]  # a unix server's address is its path


def _remove_stale_socket(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise AdminListenError(f"--admin.listen-address: {path} exists and is not a socket; remove it or pick another")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: left over from a previous run
        return
    finally:
        probe.close()
    raise AdminListenError(f"--admin.listen-address: something already listens on {path}")


class AdminServer:
    """The running admin listener: ``start()`` (background) or ``serve_forever()``, then ``shutdown()``.

    ``web_config_file`` and ``web`` are the admin web config it was built with (set by
    :func:`.config.build_admin_server`; SIGHUP's :func:`.config.reload_admin_web_config` swaps them).
    """

    def __init__(self, address: str, app: AdminApp, ssl_context: ssl.SSLContext | None,
                 socket_mode: int = 0o600) -> None:
        self.app = app
        self.tls = ssl_context is not None
        kind, where = parse_admin_address(address)
        self.kind = kind
        self.web_config_file: str | None = None
        self.web: Any = None  # pf_exporter.webconfig.WebConfig
        self._thread: threading.Thread | None = None
        self._closed = False
        self._accepting = True
        self._serving = False
        if kind == "unix":
            self.unix_path: str | None = where
            try:
                self.server: _ServerMixin = _UnixServer(where, app, ssl_context, socket_mode)
            except OSError as e:
                raise AdminListenError(f"cannot listen on unix socket {where}: {e.strerror or e}") from None
        else:
            self.unix_path = None
            host, port = where
            try:
                ip = ipaddress.ip_address(host)
                family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            except ValueError:
                try:
                    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                except socket.gaierror as e:
                    raise AdminListenError(f"cannot resolve admin listen host {host!r}: {e.strerror}") from None
                family, host = info[0][0], info[0][4][0]
            try:
                self.server = _TcpServer((host, port), family, app, ssl_context)
            except OSError as e:
                raise AdminListenError(f"cannot listen on {address} for the admin API: {e.strerror or e}") from None
        self._address = self._format_address()

    def _format_address(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host, port = self.server.server_address[:2]  # type: ignore[attr-defined]  # the concrete server's (host, port)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def address(self) -> str:
        return self._address

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])  # type: ignore[attr-defined]  # the concrete server's (host, port)

    @property
    def requests(self) -> int:
        """Requests under way (read, being handled, or arrived and waiting to be read)."""
        return self.server.in_flight.requests

    def update_ssl_context(self, ssl_context: ssl.SSLContext) -> None:
        """New connections get this TLS context (SIGHUP: renewed certificate or client CA)."""
        self.server.ssl_context = ssl_context

    def serve_forever(self) -> None:
        self._serving = True
        self.server.serve_forever(poll_interval=0.2)  # type: ignore[attr-defined]  # from the concrete socketserver class

    def start(self) -> None:
        self._serving = True
        self._thread = threading.Thread(target=self.serve_forever, name="admin-http", daemon=True)
        self._thread.start()

    def stop_accepting(self) -> None:
        """Close the listener (a unix socket is removed); connections already accepted go on."""
        if not self._accepting:
            return
        self._accepting = False
        self.server.in_flight.draining = True
        if self._serving:  # socketserver's shutdown() waits for a serve_forever that never ran otherwise
            self.server.shutdown()  # type: ignore[attr-defined]  # from the concrete socketserver class
        self.server.server_close()  # type: ignore[attr-defined]  # from the concrete socketserver class
        if self.unix_path is not None:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass

    def shutdown(self, drain_timeout: float = 0.0) -> int:
        """Stop accepting, give the requests under way up to ``drain_timeout`` seconds to finish
        (a change being made completes and its client gets the answer), end the connections
        that have not sent a request, close the audit log.  Returns the number of requests
        still running (daemon threads: they do not keep the process alive)."""
        if self._closed:
            return 0
        self.stop_accepting()
        left = self.server.in_flight.wait_idle(drain_timeout)
        self.server.in_flight.close_idle()
        self._closed = True
        self.server.guard.stop()
        self.app.audit.close()
        return left
