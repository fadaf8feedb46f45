"""The metrics listener against hostile or broken clients: odd headers, huge passwords,
slow or silent connections by the hundred, and running out of file descriptors."""

from __future__ import annotations

import socket

import pytest
from test_web import TIMEOUT, make_app

from pf_exporter.web import MetricsServer, WebApp


@pytest.fixture
def serve():
    servers: list[MetricsServer] = []

    def start(app: WebApp | None = None, **kwargs) -> MetricsServer:
        s = MetricsServer(["127.0.0.1:0"], app or make_app(), poll_interval=0.01, **kwargs)
        s.start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.shutdown()


def raw_request(server: MetricsServer, data: bytes) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    host, port = server.addresses[0]
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


# --- request parsing -----------------------------------------------------------------------------

@pytest.mark.parametrize("length", [b"\xb2", b"\xb9\xb2", b"1\xb2", b"-1", b"+5", b"0x10", b"1 2"])
def test_a_content_length_that_is_not_ascii_digits_is_a_400(serve, length: bytes) -> None:
    """'²' (0xB2 in ISO-8859-1) passes str.isdigit() but not int(): it must not cost a dropped connection."""
    answer = raw_request(serve(), b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Length" in answer and b"decimal number of bytes" in answer


def test_a_valid_content_length_still_gets_the_405(serve) -> None:
    answer = raw_request(serve(), b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    assert answer.startswith(b"HTTP/1.1 405 ")
