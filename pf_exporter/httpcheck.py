"""Strict HTTP/1.1 request framing (RFC 9112) for both listeners, over http.server's parser.

http.server is lenient where a lenient server can be desynchronised from a proxy or made to
hold memory: it accepts 100 header lines of 64 KiB each, obsolete line folding, whitespace
before a field's colon, bare CRs, several Content-Lengths, and leaves a body it does not read
in the stream to be parsed as the next request.  :class:`HeaderBudget` wraps the handler's
input while the headers are read: it stops reading past :data:`MAX_HEADER_BYTES` or
:data:`MAX_HEADER_FIELDS` (http.server then answers 431) and notes the first malformed line;
:func:`framing_problem` checks what the parsed headers say about the body.  Either problem is
answered 400 and the connection closed.
"""

from __future__ import annotations

import http.client
import re
from email.message import Message
from typing import Any

# The request's header section in all (field lines and their line ends); Prometheus sends ~300 bytes.
MAX_HEADER_BYTES = 32 * 1024
# Header field lines per request.
MAX_HEADER_FIELDS = 64

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a field name (RFC 9110 5.1)
_DIGITS = re.compile(r"[0-9]+")


class HeaderBudget:
    """Stands for a handler's ``rfile`` while http.server reads the header lines."""

    def __init__(self, raw: Any, max_bytes: int = MAX_HEADER_BYTES, max_fields: int = MAX_HEADER_FIELDS) -> None:
        self.raw = raw
        self.max_bytes = max_bytes
        self.max_fields = max_fields
        self.used = 0
        self.fields = 0
        self.problem: str | None = None  # the first malformed line, in words

    def readline(self, limit: int = -1) -> bytes:
        left = self.max_bytes - self.used
        if left <= 0:
            raise http.client.HTTPException(f"the request's headers are larger than {self.max_bytes} bytes in all")
        line: bytes = self.raw.readline(left + 1 if limit < 0 else min(limit, left + 1))
        self.used += len(line)
        if self.used > self.max_bytes:
            raise http.client.HTTPException(f"the request's headers are larger than {self.max_bytes} bytes in all")
        if line in (b"\r\n", b"\n", b""):
            return line
        self.fields += 1
        if self.fields > self.max_fields:
            raise http.client.HTTPException(f"the request has more than {self.max_fields} header fields")
        if self.problem is None:
            self.problem = _line_problem(line)
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _line_problem(line: bytes) -> str | None:
    if line[:1] in (b" ", b"\t"):
        return "obsolete line folding (a header line starting with whitespace) is not accepted"
    body = line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")
    if b"\r" in body or b"\0" in body:
        return "a header line contains a bare CR or a NUL byte"
    name, colon, _ = body.partition(b":")
    if not colon:
        return f"a header line has no colon: {body[:40]!r}"
    if not _TOKEN.fullmatch(name):
        return f"invalid header field name {name[:40]!r} (no whitespace before the colon)"
    return None


def framing_problem(command: str, version: str, headers: Message, *, body_allowed: bool) -> str | None:
    """What is wrong with how this request delimits its body and names its host, or None.
    ``body_allowed``: whether this method may carry a body on this listener at all."""
    hosts = headers.get_all("Host") or []
    if len(hosts) > 1:
        return "more than one Host header"
    if version == "HTTP/1.1" and not hosts:
        return "an HTTP/1.1 request needs a Host header"
    lengths = headers.get_all("Content-Length") or []
    codings = headers.get_all("Transfer-Encoding") or []
    if len(lengths) > 1:
        return "more than one Content-Length header"
    if lengths and not _DIGITS.fullmatch(lengths[0].strip()):
        return f"bad Content-Length {lengths[0][:40]!r}: it must be a decimal number of bytes (ASCII digits 0-9)"
    if codings and lengths:
        return "both Transfer-Encoding and Content-Length: the body's length would be ambiguous"
    if not body_allowed and (codings or (lengths and int(lengths[0]) > 0)):
        return f"a {command} request has no body here (send it without Content-Length or Transfer-Encoding)"
    return None


NO_BODY = frozenset({"GET", "HEAD"})


def parse_strictly(handler: Any, parse: Any, no_body: frozenset[str] = NO_BODY) -> bool:
    """Run http.server's ``parse_request`` (*parse*) under a :class:`HeaderBudget`, then the framing
    checks; on a problem answer ``handler.send_error(400, problem)``, close, and return False.
    *no_body*: the methods that must not carry a body."""
    budget = HeaderBudget(handler.rfile)
    handler.rfile = budget
    try:
        ok: bool = parse()
    finally:
        handler.rfile = budget.raw
    if not ok:
        return False
    problem = budget.problem or framing_problem(handler.command, handler.request_version, handler.headers,
                                                body_allowed=handler.command not in no_body)
    if problem is not None:
        handler.close_connection = True
        handler.send_error(400, problem)
        return False
    return True


# What Go's net/http answers a plain-HTTP request on a TLS port (and so does node_exporter).
PLAIN_HTTP_ON_TLS = (b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
                     b"Client sent an HTTP request to an HTTPS server.\n")
_METHOD_START = re.compile(rb"[A-Z]{3,8} ")


def plain_http_on_tls(sock: Any) -> bool:
    """Before a TLS handshake: whether the client sent plain HTTP instead (a TLS ClientHello starts with
    byte 0x16, a request with a method name).  If so, answer it as Go does and return True: the caller
    then closes the connection.  Reads nothing (MSG_PEEK), under the socket's timeout."""
    import socket

    try:
        head = socket.socket.recv(sock, 9, socket.MSG_PEEK)
    except OSError:
        return False
    if not head or head[0] == 0x16 or not _METHOD_START.match(head):
        return False
    try:
        socket.socket.sendall(sock, PLAIN_HTTP_ON_TLS)
    except OSError:
        pass
    return True
