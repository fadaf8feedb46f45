"""The metrics listener against hostile or broken clients: odd headers, huge passwords,
slow or silent connections by the hundred, and running out of file descriptors."""

from __future__ import annotations

import base64
import http.client
import socket

import bcrypt
import pytest
from test_web import TIMEOUT, get, make_app

from pf_exporter.web import BasicAuth, MetricsServer, WebApp, parse_web_config


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


# --- basic auth ------------------------------------------------------------------------------------

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


def basic(user: str, password: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(user.encode() + b":" + password).decode()}


@pytest.mark.parametrize("user", ["alice", "mallory"])
def test_a_password_longer_than_bcrypt_takes_is_a_401_not_a_dropped_connection(serve, user: str) -> None:
    s = serve(make_app(parse_web_config(f"basic_auth_users:\n  alice: '{HASH}'\n")))
    status, headers, body = get(s, headers=basic(user, b"s3cret" + b"x" * 100))
    assert status == 401
    assert "www-authenticate" in headers
    assert b"72 bytes" in body  # says why
    assert get(s, headers=basic("alice", b"s3cret"))[0] == 200  # the server is fine afterwards


def test_basic_auth_check_refuses_long_passwords_without_raising() -> None:
    auth = BasicAuth({"alice": HASH.encode()})
    header = basic("alice", b"p" * 73)["Authorization"]
    assert auth.check(header) is False
    assert auth.check(basic("alice", b"p" * 72)["Authorization"]) is False  # 72 is allowed, just wrong


def test_a_password_of_exactly_72_bytes_works() -> None:
    password = b"q" * 72
    auth = BasicAuth({"bob": bcrypt.hashpw(password, bcrypt.gensalt(rounds=4))})
    assert auth.check(basic("bob", password)["Authorization"]) is True


def test_http_client_sees_the_401_body(serve) -> None:
    s = serve(make_app(parse_web_config(f"basic_auth_users:\n  alice: '{HASH}'\n")))
    host, port = s.addresses[0]
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/metrics", headers=basic("alice", "é".encode() * 40))
        assert conn.getresponse().status == 401
    finally:
        conn.close()
