"""The metrics listener against hostile or broken clients: odd headers, huge passwords,
slow or silent connections by the hundred, and running out of file descriptors."""

from __future__ import annotations

import base64
import errno
import http.client
import logging
import re
import shutil
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import pytest
from support.fakeos import FakeClock, FakeConn, ended_by_server
from test_web import TIMEOUT, get, make_app

from pf_exporter.guard import ConnectionGuard
from pf_exporter.web import MetricsServer, WebApp
from pf_exporter.webconfig import BasicAuth, parse_web_config


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


# --- slow clients, the connection cap, the watchdog --------------------------------------------------

def wait_until(condition, timeout: float = TIMEOUT) -> bool:
    """Poll a condition (no timing assertion: the bound only keeps a broken build from hanging)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_more_silent_and_trickling_clients_than_the_cap_do_not_keep_a_scrape_out(serve) -> None:
    s = serve(max_connections=8, header_timeout=0.5)
    host, port = s.addresses[0]
    silent = [socket.create_connection((host, port), timeout=TIMEOUT) for _ in range(12)]
    trickling = [socket.create_connection((host, port), timeout=TIMEOUT) for _ in range(12)]
    try:
        for t in trickling:
            t.sendall(b"GET /metrics HTTP/1.1\r\n")
        assert get(s)[0] == 200  # served at once: the connections that waited longest made room
        assert s.guard.open <= 8
        assert s.guard.evicted > 0
    finally:
        for c in silent + trickling:
            c.close()


def test_a_client_trickling_its_headers_is_dropped_at_the_deadline_unserved(serve) -> None:
    """The deadline covers request line and headers together, not each read: a byte every 50 ms
    (well inside any per-read timeout) does not keep the connection."""
    s = serve(header_timeout=0.5)
    host, port = s.addresses[0]
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\n")
        got = b""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"X")
            except OSError:
                break
            if ended_by_server(sock):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the trickling client kept its connection")
        sock.settimeout(0.1)
        try:
            got = sock.recv(65536)
        except OSError:
            pass
        assert not got.startswith(b"HTTP/1.1 200")  # never served (no scrape for it either)
    assert s.guard.timed_out >= 1
    assert get(s)[0] == 200


def test_silent_tcp_clients_are_dropped_after_the_deadline(serve) -> None:
    s = serve(header_timeout=0.3)
    host, port = s.addresses[0]
    silent = [socket.create_connection((host, port), timeout=TIMEOUT) for _ in range(5)]
    try:
        assert wait_until(lambda: all(ended_by_server(c) for c in silent))
        assert wait_until(lambda: s.guard.open == 0)
    finally:
        for c in silent:
            c.close()


def test_a_tls_client_that_never_handshakes_is_dropped_after_the_deadline(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    config = parse_web_config(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
    s = MetricsServer(["127.0.0.1:0"], make_app(config), poll_interval=0.01, header_timeout=0.3)
    s.start()
    try:
        with socket.create_connection(s.addresses[0], timeout=TIMEOUT) as sock:
            sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, never finished
            assert wait_until(lambda: ended_by_server(sock))
    finally:
        s.shutdown()


def test_when_every_slot_is_inside_a_request_a_new_connection_gets_a_503(serve) -> None:
    release = threading.Event()
    app = make_app()
    inner = app.registry_for

    def slow_registry(only):
        release.wait(TIMEOUT)
        return inner(only)

    app.registry_for = slow_registry
    s = serve(app, max_connections=2)
    with ThreadPoolExecutor(2) as pool:
        scrapes = [pool.submit(get, s) for _ in range(2)]
        try:
            assert wait_until(lambda: s.in_flight.requests == 2)
            answer = raw_request(s, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert b"--web.max-connections" in answer and b"Retry-After: 1" in answer
        finally:
            release.set()
        assert [f.result()[0] for f in scrapes] == [200, 200]
    assert get(s)[0] == 200  # the slots came back


def test_keep_alive_connections_are_reused_and_count_once(serve) -> None:
    s = serve(max_connections=1)
    host, port = s.addresses[0]
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        for _ in range(3):
            conn.request("GET", "/-/healthy")
            assert conn.getresponse().read() == b"Healthy\n"
    finally:
        conn.close()


def guard_with(**kwargs) -> tuple[ConnectionGuard, FakeClock]:
    clock = FakeClock()
    return ConnectionGuard(clock=clock, **kwargs), clock


def test_guard_deadlines_cover_the_whole_request_then_the_keep_alive_wait() -> None:
    guard, clock = guard_with(header_timeout=10, idle_timeout=30)
    conn = FakeConn()
    sock = conn.a
    assert guard.admit(sock)
    clock.now += 9.9
    assert guard.expire() == 0
    assert guard.request_started(sock)
    clock.now += 1000  # a long scrape has no deadline
    assert guard.expire() == 0
    guard.idle(sock)  # answered; waiting for the next request
    clock.now += 29.9
    assert guard.expire() == 0
    clock.now += 0.2
    assert guard.expire() == 1 and conn.ended()
    assert not guard.request_started(sock)  # a request completed after the deadline is not served
    assert guard.open == 0


def test_guard_at_the_cap_ends_the_connection_that_waited_longest() -> None:
    guard, clock = guard_with(max_connections=3)
    conns = [FakeConn() for _ in range(5)]
    for c in conns[:3]:
        assert guard.admit(c.a)
        clock.now += 1
    assert guard.request_started(conns[0].a)  # the oldest is inside a request: kept
    assert guard.admit(conns[3].a)
    assert conns[1].ended() and not conns[0].ended() and not conns[2].ended()
    assert guard.evicted == 1 and guard.open == 3


def test_guard_refuses_when_every_connection_is_inside_a_request() -> None:
    guard, _ = guard_with(max_connections=2)
    conns = [FakeConn() for _ in range(3)]
    for c in conns[:2]:
        assert guard.admit(c.a) and guard.request_started(c.a)
    assert not guard.admit(conns[2].a)
    assert guard.refused == 1
    guard.closed(conns[0].a)
    assert guard.admit(conns[2].a)


def test_guard_out_of_descriptors_ends_the_longest_waiting_connection() -> None:
    guard, clock = guard_with()
    busy, old, new = FakeConn(), FakeConn(), FakeConn()
    for c in (busy, old, new):
        assert guard.admit(c.a)
        clock.now += 1
    guard.request_started(busy.a)
    assert guard.evict_oldest()
    assert old.ended() and not busy.ended() and not new.ended()
    guard.request_started(new.a)
    assert not guard.evict_oldest()  # nobody waiting: nothing to end


@pytest.mark.parametrize("kwargs", [{"max_connections": 0}, {"header_timeout": 0}])
def test_guard_rejects_nonsense_limits(kwargs) -> None:
    with pytest.raises(ValueError, match="must be"):
        ConnectionGuard(**kwargs)


# --- out of file descriptors ---------------------------------------------------------------------

class FailingListener:
    """A listening socket whose accept(2) fails with EMFILE a few times, then works."""

    def __init__(self, real: socket.socket, failures: int) -> None:
        self.real, self.failures = real, failures

    def accept(self):
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return self.real.accept()

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_accept_out_of_descriptors_backs_off_logs_once_and_recovers(monkeypatch, caplog) -> None:
    import pf_exporter.web as web

    s = MetricsServer(["127.0.0.1:0"], make_app(), poll_interval=0.01)
    server = s.servers[0]
    pauses: list[float] = []
    monkeypatch.setattr(web.time, "sleep", pauses.append)
    real = server.socket
    server.socket = FailingListener(real, failures=3)
    client = socket.create_connection(s.addresses[0], timeout=TIMEOUT)
    try:
        with caplog.at_level(logging.INFO, logger="pf_exporter.web"):
            for _ in range(3):
                with pytest.raises(OSError):
                    server.get_request()
            sock, _ = server.get_request()
            sock.close()
        assert pauses == [web.ACCEPT_BACKOFF] * 3  # a pause per failure: no busy loop
        messages = [r.getMessage() for r in caplog.records]
        assert sum("cannot accept connections" in m for m in messages) == 1
    finally:
        client.close()
        server.socket = real
        s.close()


# --- clients that do not read their answer (slow readers) --------------------------------------------

def big_app(samples: int = 60000) -> WebApp:
    """An app whose /metrics body (~3 MB) is far larger than any socket buffer."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily

    class Big:
        def collect(self):
            g = GaugeMetricFamily("pf_test_big", "A large family.", labels=["n"])
            for i in range(samples):
                g.add_metric([f"{i:08d}"], float(i))
            yield g

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Big())  # type: ignore[arg-type]  # a duck-typed collector, as prometheus_client allows
    return WebApp(lambda only: registry, "/metrics", "test")


def slow_reader(host: str, port: int) -> socket.socket:
    """A client that asks for the metrics and never reads the answer (a tiny receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.settimeout(TIMEOUT)
    sock.connect((host, port))
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


def test_clients_that_never_read_their_answer_do_not_lock_a_scraper_out(serve) -> None:
    s = serve(big_app(), max_connections=8)
    host, port = s.addresses[0]
    stuck = [slow_reader(host, port) for _ in range(8)]
    try:
        assert wait_until(lambda: s.guard.phases()["writing"] == 8)
        time.sleep(1.2)  # past the grace a reading client never needs
        status, _, body = get(s)
        assert status == 200 and body.endswith(b"\n") and b"pf_test_big" in body
        assert s.guard.evicted >= 1
    finally:
        for c in stuck:
            c.close()


def test_an_answer_must_be_written_within_the_write_timeout(serve) -> None:
    s = serve(big_app(), write_timeout=0.5)
    host, port = s.addresses[0]
    sock = slow_reader(host, port)
    try:
        got, ended = 0, False
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # reads a trickle: never "not reading", never done in time
            try:
                data = sock.recv(512)
            except ConnectionResetError:  # what was still queued for it is dropped, not sent
                ended = True
                break
            if not data:
                ended = True
                break
            got += len(data)
            time.sleep(0.05)
        assert ended, "the connection was not ended at its write deadline"
        assert 0 < got < 3_000_000
        assert s.guard.timed_out == 1
    finally:
        sock.close()


def test_the_write_deadline_is_60_seconds_by_default(serve) -> None:
    from pf_exporter.web import WRITE_TIMEOUT

    assert WRITE_TIMEOUT == 60.0 and serve().guard.write_timeout == WRITE_TIMEOUT


def test_guard_at_the_cap_ends_a_writer_whose_client_does_not_read_but_not_one_that_does() -> None:
    reading: set = set()
    guard = ConnectionGuard(max_connections=2, clock=(clock := FakeClock()), writable=lambda c: c in reading)
    a, b, c = FakeConn(), FakeConn(), FakeConn()
    for conn in (a, b):
        assert guard.admit(conn.a) and guard.writing(conn.a)
    reading.add(b.a)
    assert not guard.admit(c.a)  # within the grace: both kept
    clock.now += 1.5
    assert guard.admit(c.a)
    assert a.ended() and not b.ended()


# --- headers: bounded, and strict request framing (RFC 9112) -----------------------------------------

@pytest.mark.parametrize(("headers", "what"), [
    (b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(40)), b"larger than 32768 bytes"),
    (b"X-Big: " + b"a" * 60000 + b"\r\n", b"larger than 32768 bytes"),
    (b"".join(b"X-%d: 1\r\n" % i for i in range(65)), b"more than 64 header fields"),
])
def test_oversized_headers_are_a_431_and_the_connection_closes(serve, headers: bytes, what: bytes) -> None:
    answer = raw_request(serve(), b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ") and what in answer
    assert len(re.findall(rb"(?:^|\n)HTTP/1\.1 \d{3} ", answer)) == 1


def test_a_header_flood_is_cut_off_without_being_read_whole(serve) -> None:
    s = serve()
    host, port = s.addresses[0]
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        sent = 0
        try:
            for _ in range(2000):  # 64 MB if the server kept reading
                sock.sendall(b"X-Flood: " + b"a" * 32000 + b"\r\n")
                sent += 32011
        except OSError:
            pass  # the server answered and closed: our sends fail
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 431 ")
    assert sent < 64_000_000


DESYNC = {
    "GET with a body": b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n"
                       b"GET /-/healthy HTTP/1.1\r\nH: x\r\n",
    "GET with chunked": b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HEAD with a body": b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    "two Content-Lengths": b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"
                           b"abcd",
    "Content-Length and chunked": b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "space before the colon": b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
    "obsolete line folding": b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n",
    "a bare CR": b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: 1\rContent-Length: 5\r\n\r\nhello",
    "no Host": b"GET /metrics HTTP/1.1\r\n\r\n",
    "two Hosts": b"GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "a line without a colon": b"GET /metrics HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n",
}


@pytest.mark.parametrize("case", DESYNC)
def test_ambiguous_framing_is_a_plain_400_and_the_connection_closes(serve, case: str) -> None:
    answer = raw_request(serve(), DESYNC[case])
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"Content-Type: text/plain" in answer and b"<html" not in answer.lower()
    assert len(re.findall(rb"(?:^|\n)HTTP/1\.1 \d{3} ", answer)) == 1  # nothing after it taken for a request
    assert b"Connection: close" in answer


def test_http_1_0_needs_no_host_and_get_with_an_empty_body_is_fine(serve) -> None:
    s = serve()
    assert raw_request(s, b"GET /-/healthy HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200 ")
    answer = raw_request(s, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


# --- smaller: nosniff, the basic scheme's case -----------------------------------------------------

def test_every_answer_says_nosniff_even_one_that_echoes_collect(serve) -> None:
    status, headers, body = get(serve(), "/metrics?collect[]=%3Cscript%3Ealert(1)%3C/script%3E")
    assert status == 400 and b"<script>" in body  # echoed as text ...
    assert headers["x-content-type-options"] == "nosniff"  # ... and never sniffed as HTML
    assert headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_the_basic_scheme_is_case_insensitive(serve, scheme: str) -> None:
    s = serve(make_app(parse_web_config(f"basic_auth_users:\n  alice: '{HASH}'\n")))
    token = base64.b64encode(b"alice:s3cret").decode()
    assert get(s, "/-/healthy", headers={"Authorization": f"{scheme} {token}"})[0] == 200


# --- wrong passwords are rate-limited per address -----------------------------------------------------

def test_failure_limiter_spends_a_burst_then_refills_per_address_and_in_total() -> None:
    from pf_exporter.webconfig import FailureLimiter, Throttled

    clock = FakeClock()
    lim = FailureLimiter(burst=3, rate=1.0, total_burst=5, total_rate=10.0, max_peers=2, clock=clock)
    for _ in range(3):
        lim.check("a")
        lim.failed("a")
    with pytest.raises(Throttled) as e:
        lim.check("a")
    assert e.value.retry_after >= 1
    lim.check("b")  # another address is not affected...
    lim.failed("b")
    lim.failed("b")
    with pytest.raises(Throttled):
        lim.check("c")  # ...until everyone together has failed total_burst times
    clock.now += 1.0
    lim.check("a")  # one failure refilled
    lim.failed("c")
    lim.failed("d")
    assert len(lim._peers) == 2  # the least recently failing address was forgotten


def test_wrong_passwords_are_throttled_per_address_without_bcrypt_and_a_known_login_still_works(
        serve, monkeypatch: pytest.MonkeyPatch) -> None:
    s = serve(make_app(parse_web_config(f"basic_auth_users:\n  alice: '{HASH}'\n")))
    good = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"alice:guess").decode()}
    assert get(s, "/-/healthy", headers=good)[0] == 200  # remembered: no bcrypt next time
    statuses = [get(s, "/-/healthy", headers=bad)[0] for _ in range(5)]
    assert statuses == [401] * 5
    checks = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda *a: checks.append(1) or real(*a))
    status, headers, body = get(s, "/-/healthy", headers=bad)
    assert status == 429 and int(headers["retry-after"]) >= 1 and b"Too many failed logins" in body
    assert checks == []  # refused before any bcrypt
    assert get(s, "/-/healthy", headers=good)[0] == 200  # the scraper that logged in before is not locked out
