"""Large /metrics bodies are sent while they are written (chunked), small ones with a Content-Length."""

from __future__ import annotations

import gzip
import http.client
import socket

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from test_web import client_context

from pf_exporter.collectors.base import counter, gauge
from pf_exporter.web import STREAM_BUFFER, MetricsServer, WebApp
from pf_exporter.webconfig import WebConfig

TIMEOUT = 10.0


class Fixed:
    def __init__(self, metrics: list) -> None:
        self.metrics = metrics

    def describe(self) -> list:
        return []

    def collect(self) -> list:
        return self.metrics


def families(n: int, broken_at: int | None = None) -> list:
    c = counter("pf_stream_packets_total", "many series", "table", "direction").new()
    for i in range(n):
        c.add((f"table{i:06d}", "in"), "not a number" if i == broken_at else i * 1_000_003)
    g = gauge("pf_stream_tail", "a small family after it").new()
    g.add1(1)
    return [c.metric, g.metric]


def registry_of(metrics: list) -> CollectorRegistry:
    r = CollectorRegistry(auto_describe=False)
    r.register(Fixed(metrics))  # type: ignore[arg-type]
    return r


@pytest.fixture
def serve():
    servers: list[MetricsServer] = []

    def start(metrics: list) -> tuple[str, int]:
        registry = registry_of(metrics)
        app = WebApp(lambda only: registry, "/metrics", "test", [], [], WebConfig())
        s = MetricsServer(["127.0.0.1:0"], app, poll_interval=0.01)
        s.start()
        servers.append(s)
        return s.addresses[0][:2]

    yield start
    for s in servers:
        s.shutdown()


def request(addr: tuple[str, int], method: str = "GET", headers: dict[str, str] | None = None,
            conn: http.client.HTTPConnection | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    conn = conn or http.client.HTTPConnection(*addr, timeout=TIMEOUT)
    conn.request(method, "/metrics", headers=headers or {})
    r = conn.getresponse()
    return r, r.read()


def test_a_large_body_is_chunked_and_is_the_exposition(serve) -> None:
    metrics = families(20_000)
    want = generate_latest(registry_of(metrics))
    assert len(want) > 10 * STREAM_BUFFER
    r, body = request(serve(metrics))
    assert r.status == 200
    assert r.getheader("Transfer-Encoding") == "chunked" and r.getheader("Content-Length") is None
    assert body == want


def test_the_connection_stays_usable_after_a_chunked_answer(serve) -> None:
    metrics = families(20_000)
    addr = serve(metrics)
    conn = http.client.HTTPConnection(*addr, timeout=TIMEOUT)
    try:
        bodies = [request(addr, conn=conn)[1] for _ in range(3)]
    finally:
        conn.close()
    assert bodies[0] == bodies[1] == bodies[2] == generate_latest(registry_of(metrics))


def test_a_small_body_keeps_its_content_length(serve) -> None:
    r, body = request(serve(families(10)))
    assert r.getheader("Content-Length") == str(len(body)) and r.getheader("Transfer-Encoding") is None


def test_gzip_of_a_large_body_is_streamed_too(serve) -> None:
    metrics = families(100_000)
    r, body = request(serve(metrics), headers={"Accept-Encoding": "gzip"})
    assert r.getheader("Content-Encoding") == "gzip" and r.getheader("Transfer-Encoding") == "chunked"
    assert gzip.decompress(body) == generate_latest(registry_of(metrics))


def test_head_says_how_long_the_body_is_without_sending_it(serve) -> None:
    metrics = families(20_000)
    addr = serve(metrics)
    r, body = request(addr, "HEAD")
    assert body == b"" and r.getheader("Content-Length") == str(len(generate_latest(registry_of(metrics))))


def raw(addr: tuple[str, int], request: bytes) -> tuple[bytes, bytes]:
    with socket.create_connection(addr, timeout=TIMEOUT) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize("version", [b"HTTP/1.0", b"HTTP/1.00"])
def test_clients_older_than_http_1_1_get_the_whole_body_with_its_length(serve, version) -> None:
    metrics = families(20_000)
    head, body = raw(serve(metrics), b"GET /metrics " + version + b"\r\nHost: x\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0] and b"Transfer-Encoding" not in head
    assert b"Content-Length: %d" % len(body) in head
    assert body == generate_latest(registry_of(metrics))


def test_an_encoder_failure_is_a_500_for_http_1_0_clients_even_on_a_large_body(serve) -> None:
    # HTTP/1.0 has no way to mark a body broken once sent (nginx talks to upstreams in HTTP/1.0)
    head, body = raw(serve(families(20_000, broken_at=15_000)), b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
    assert b" 500 " in head.split(b"\r\n")[0] and b"scrape failed" in body


def test_a_client_leaving_in_the_middle_of_a_large_body_is_not_an_error(serve, caplog) -> None:
    import logging
    import time

    addr = serve(families(200_000))
    caplog.set_level(logging.DEBUG, logger="pf_exporter")
    with socket.create_connection(addr, timeout=TIMEOUT) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
    time.sleep(1.0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_an_encoder_failure_after_the_answer_began_breaks_the_body_visibly(serve) -> None:
    # a short but well-formed exposition would be worse than a failed scrape
    addr = serve(families(20_000, broken_at=15_000))
    conn = http.client.HTTPConnection(*addr, timeout=TIMEOUT)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        assert r.status == 200
        with pytest.raises(http.client.IncompleteRead):
            r.read()
    finally:
        conn.close()


def test_an_encoder_failure_before_anything_was_sent_is_a_500(serve) -> None:
    r, body = request(serve(families(10, broken_at=3)))
    assert r.status == 500 and b"scrape failed" in body


def test_head_with_gzip_gives_the_length_of_the_gzipped_body(serve) -> None:
    addr = serve(families(20_000))
    r, body = request(addr, "HEAD", headers={"Accept-Encoding": "gzip"})
    _, packed = request(addr, headers={"Accept-Encoding": "gzip"})
    assert body == b"" and r.getheader("Content-Encoding") == "gzip"
    assert r.getheader("Content-Length") == str(len(packed))


def test_a_large_body_is_streamed_over_tls_too(pki) -> None:
    from pf_exporter.webconfig import load_web_config

    f = pki / "web-streaming.yml"
    f.write_text("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n")
    metrics = families(50_000)
    registry = registry_of(metrics)
    app = WebApp(lambda only: registry, "/metrics", "test", [], [], load_web_config(str(f)))
    server = MetricsServer(["127.0.0.1:0"], app, poll_interval=0.01)
    server.start()
    try:
        host, port = server.addresses[0][:2]
        conn = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=client_context(pki))
        try:
            r, body = request((host, port), conn=conn)
            again = request((host, port), conn=conn)[1]  # the same TLS connection, after a chunked answer
        finally:
            conn.close()
    finally:
        server.shutdown()
    assert r.getheader("Transfer-Encoding") == "chunked"
    assert body == again == generate_latest(registry)


def test_a_gzipped_body_broken_mid_way_is_broken_visibly_too(serve) -> None:
    """The gzipped path encodes in a thread of its own (EncodeAhead): its failure still ends the body
    without the last chunk."""
    addr = serve(families(20_000, broken_at=15_000))
    conn = http.client.HTTPConnection(*addr, timeout=TIMEOUT)
    try:
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Content-Encoding") == "gzip"
        with pytest.raises(http.client.IncompleteRead):
            r.read()
    finally:
        conn.close()


def test_encode_ahead_yields_every_chunk_in_order_and_stops_its_thread() -> None:
    import threading

    from pf_exporter.web import EncodeAhead

    parts = [bytes([65 + i]) * (i + 1) for i in range(40)]
    got = list(EncodeAhead(iter(parts)))
    assert b"".join(got) == b"".join(parts)  # in order; what was encoded ahead comes joined
    assert len(got) <= len(parts) and all(got)

    def failing():  # type: ignore[no-untyped-def]
        yield b"x"
        raise ValueError("encoder broke")

    ahead = EncodeAhead(failing())
    assert next(ahead) == b"x"
    with pytest.raises(ValueError, match="encoder broke"):
        next(ahead)
    ahead.close()
    endless = EncodeAhead(iter(lambda: b"y" * 10, None))  # a reader that goes away early
    first = next(endless)
    assert first and first == b"y" * len(first) and len(first) % 10 == 0
    endless.close()
    assert not [t for t in threading.enumerate() if t.name == "encode-ahead"]


def test_encode_ahead_takes_a_small_body_without_a_thread() -> None:
    import threading

    from pf_exporter.exposition import EncodeAhead

    def threads() -> int:
        return sum(t.name == "encode-ahead" for t in threading.enumerate())

    small = EncodeAhead(iter([b"a" * 10, b"b" * 10]), start_after=100)
    assert next(small) == b"a" * 10 and threads() == 0  # chunk by chunk, in the reader's thread
    assert list(small) == [b"b" * 10] and threads() == 0
    small.close()

    def failing():  # type: ignore[no-untyped-def]
        yield b"x" * 10
        raise ValueError("encoder broke early")

    early = EncodeAhead(failing(), start_after=100)
    assert next(early) == b"x" * 10
    with pytest.raises(ValueError, match="encoder broke early"):
        next(early)
    early.close()
    parts = [bytes([65 + i]) * 1000 for i in range(50)]
    big = EncodeAhead(iter(parts), start_after=2500)
    got = list(big)  # three chunks taken one by one, then the thread's, joined
    assert got[:3] == parts[:3] and b"".join(got) == b"".join(parts)
    big.close()
    assert threads() == 0
