"""The admin listener: start-up refusals, flags, unix socket, TLS with client certificates,
body limits before reading, slow clients, the connection cap, raw protocol errors."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.admin import TOKEN, Admin, raw_exchange, start_admin, token_file
from support.tooling import make_pki, wait_until

from pf_exporter.admin import AdminConfig, AdminConfigError, add_admin_flags, admin_config_from_args
from pf_exporter.admin.config import build_admin_server
from pf_exporter.admin.server import is_loopback, parse_admin_address
from pf_exporter.device import Device
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Admin]:
    a = start_admin(tmp_path)
    yield a
    a.close()


def handle(sim: Simulator, writable: bool = True) -> PacketFilter:
    return PacketFilter.from_device(Device(sim.abi, sim.open(writable)), sim)


# --- start-up refusals ------------------------------------------------------------------------------


def test_refuses_to_start_without_authentication(tmp_path: Path) -> None:
    wpf = handle(Simulator("empty"))
    with pytest.raises(AdminConfigError, match="refuses to start without authentication"):
        build_admin_server(AdminConfig("127.0.0.1:0"), wpf)


@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:10074"])
def test_refuses_plain_http_off_loopback(tmp_path: Path, listen: str) -> None:
    wpf = handle(Simulator("empty"))
    config = AdminConfig(listen, token_file=str(token_file(tmp_path)))
    with pytest.raises(AdminConfigError, match="needs|not a loopback address"):
        build_admin_server(config, wpf)


def test_refuses_a_token_file_others_can_read(tmp_path: Path) -> None:
    wpf = handle(Simulator("empty"))
    tokens = token_file(tmp_path)
    tokens.chmod(0o644)
    with pytest.raises(AdminConfigError) as e:
        build_admin_server(AdminConfig("127.0.0.1:0", token_file=str(tokens)), wpf)
    assert "chmod 600" in str(e.value) and TOKEN not in str(e.value)


def test_refuses_an_audit_log_others_can_write(tmp_path: Path) -> None:
    wpf = handle(Simulator("empty"))
    audit = tmp_path / "audit.log"
    audit.write_text("")
    audit.chmod(0o666)
    config = AdminConfig("127.0.0.1:0", token_file=str(token_file(tmp_path)), audit_log=str(audit))
    with pytest.raises(AdminConfigError, match=f"cannot open --admin.audit-log {audit}: group or others may write"):
        build_admin_server(config, wpf)


def test_refuses_a_read_only_device(tmp_path: Path) -> None:
    wpf = handle(Simulator("empty"), writable=False)
    with pytest.raises(AdminConfigError, match="writable"):
        build_admin_server(AdminConfig("127.0.0.1:0", token_file=str(token_file(tmp_path))), wpf)


def test_refuses_basic_auth_and_tokens_together(tmp_path: Path) -> None:
    wpf = handle(Simulator("empty"))
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  ops: $2b$04$" + "a" * 21 + "e" + "a" * 31 + "\n")
    with pytest.raises(AdminConfigError, match="use one of them"):
        build_admin_server(AdminConfig("127.0.0.1:0", token_file=str(token_file(tmp_path)),
                                       web_config_file=str(web)), wpf)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.1.2.3")
    assert is_loopback("localhost")
    assert not is_loopback("") and not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")


def test_listen_address_forms() -> None:
    assert parse_admin_address("unix:/run/pf.sock") == ("unix", "/run/pf.sock")
    assert parse_admin_address("/run/pf.sock") == ("unix", "/run/pf.sock")
    assert parse_admin_address("[::1]:10074") == ("tcp", ("::1", 10074))
    for bad in ("unix:relative", "127.0.0.1", "::1:80", "host:port"):
        with pytest.raises(ValueError, match="admin.listen-address"):
            parse_admin_address(bad)


# --- flags ----------------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_admin_flags(p)
    return p.parse_args(argv)


def test_admin_is_off_by_default() -> None:
    assert admin_config_from_args(parse()) is None


def test_flags_make_a_config() -> None:
    cfg = admin_config_from_args(parse("--admin.listen-address", "unix:/run/a.sock", "--admin.token-file", "/t",
                                       "--admin.allow-main-ruleset", "--admin.audit-log", "/var/log/a",
                                       "--admin.request-timeout", "5", "--admin.socket-mode", "0660"))
    assert cfg == AdminConfig("unix:/run/a.sock", token_file="/t", allow_main_ruleset=True, audit_log="/var/log/a",
                              request_timeout=5.0, socket_mode=0o660)


def test_admin_flags_without_a_listener_are_an_error() -> None:
    with pytest.raises(AdminConfigError, match="--admin.token-file has no effect without --admin.listen-address"):
        admin_config_from_args(parse("--admin.token-file", "/t"))


@pytest.mark.parametrize("mode", ["0666", "0604", "rw", "01600"])
def test_socket_mode_must_not_admit_others(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--admin.socket-mode", mode)


# --- unix socket ----------------------------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def test_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    path.touch()
    with pytest.raises(AdminConfigError, match="not a socket"):
        start_admin(tmp_path, listen=f"unix:{path}")
    path.unlink()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # left over from a previous run: nobody listens
    stale.close()
    admin = start_admin(tmp_path, listen=f"unix:{path}")
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        conn = UnixHTTPConnection(str(path))
        conn.request("GET", "/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"})
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["running"] is True
        conn.close()
        assert admin.audit()[-1]["remote"].startswith("unix")
        assert admin.server.address == f"unix:{path}"
    finally:
        admin.close()
    assert not path.exists()


# --- TLS and client certificates -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate with CN deploy-bot (openssl(1))."""
    d = make_pki(tmp_path_factory.mktemp("admin-pki"), "deploy-bot", "DNS:deploy.example", "admin-test-ca")
    (d / "mtls.yml").write_text("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
                                "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n")
    return d


def tls_get(port: int, pki: Path, *, cert: bool, token: str | None = None) -> tuple[int, dict[str, object]]:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("GET", "/api/v1/status", headers={"Authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_mutual_tls_identity_is_the_client_cn(tmp_path: Path, pki: Path) -> None:
    sim = Simulator("small")
    wpf = handle(sim)
    audit = tmp_path / "audit.log"
    server = build_admin_server(AdminConfig("127.0.0.1:0", web_config_file=str(pki / "mtls.yml"),
                                            audit_log=str(audit)), wpf)
    server.start()
    try:
        assert server.tls
        assert tls_get(server.port, pki, cert=True)[0] == 200
        assert json.loads(audit.read_text().splitlines()[-1])["identity"] == "cn:deploy-bot"
        with pytest.raises((ssl.SSLError, ConnectionError)):
            tls_get(server.port, pki, cert=False)
    finally:
        server.shutdown()


def test_mutual_tls_and_token_are_both_required_when_both_are_configured(tmp_path: Path, pki: Path) -> None:
    wpf = handle(Simulator("small"))
    audit = tmp_path / "audit.log"
    server = build_admin_server(AdminConfig("127.0.0.1:0", token_file=str(token_file(tmp_path)),
                                            web_config_file=str(pki / "mtls.yml"), audit_log=str(audit)),
                                wpf)
    server.start()
    try:
        assert tls_get(server.port, pki, cert=True)[0] == 401
        assert tls_get(server.port, pki, cert=True, token=TOKEN)[0] == 200
        assert json.loads(audit.read_text().splitlines()[-1])["identity"] == "cn:deploy-bot+token:deploy"
    finally:
        server.shutdown()


def test_plain_http_to_the_tls_admin_port_gets_gos_400(tmp_path: Path, pki: Path) -> None:
    server = build_admin_server(AdminConfig("127.0.0.1:0", web_config_file=str(pki / "mtls.yml"),
                                            audit_log=str(tmp_path / "audit.log")), handle(Simulator("small")))
    server.start()
    try:
        answer = raw_exchange(server.port, b"GET /api/v1/status HTTP/1.1\r\nHost: a\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 400 Bad Request\r\n")
        assert answer.endswith(b"Client sent an HTTP request to an HTTPS server.\n")
        assert tls_get(server.port, pki, cert=True)[0] == 200
    finally:
        server.shutdown()


# --- protocol limits ----------------------------------------------------------------------------------


def test_oversized_body_is_refused_before_it_is_sent(admin: Admin) -> None:
    """With ``Expect: 100-continue`` the client learns of the 413 before sending 2 MiB."""
    head = (f"PUT /api/v1/anchors/x/rules HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {2 << 20}\r\nExpect: 100-continue\r\n\r\n").encode()
    answer = raw_exchange(admin.port, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer


def test_accepted_body_gets_100_continue(admin: Admin) -> None:
    body = b'["192.0.2.1"]'
    with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as s:
        s.sendall((f"POST /api/v1/tables/bruteforce/addresses HTTP/1.1\r\nHost: a\r\n"
                   f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n"
                   "Content-Type: application/json\r\nExpect: 100-continue\r\n\r\n").encode())
        assert s.recv(25).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(body)
        rest = b""
        while chunk := s.recv(65536):
            rest += chunk
    assert b"200 OK" in rest and b'"added": 1' in rest


@pytest.mark.slow
def test_unauthenticated_large_body_is_401_not_413(admin: Admin) -> None:
    head = f"PUT /api/v1/anchors/x/rules HTTP/1.1\r\nHost: a\r\nContent-Length: {2 << 20}\r\n\r\n".encode()
    assert raw_exchange(admin.port, head).startswith(b"HTTP/1.1 401 ")


def test_chunked_bodies_are_refused(admin: Admin) -> None:
    head = (f"POST /api/v1/tables/bruteforce/addresses HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[\"1\"]\r\n0\r\n\r\n").encode()
    assert raw_exchange(admin.port, head).startswith(b"HTTP/1.1 411 ")


def test_garbage_request_line_is_a_json_400_and_audited(admin: Admin) -> None:
    answer = raw_exchange(admin.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"error"' in answer
    assert admin.audit()[-1]["action"] == "invalid"


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_requests_from_web_pages_are_refused(admin: Admin, headers: dict[str, str]) -> None:
    # with basic auth or mutual TLS a browser adds the credentials itself: a page must not disable pf
    status, resp, _ = admin.call("POST", "/api/v1/pf/disable", headers=headers)
    assert status == 403 and "web pages" in resp["error"]["message"]
    assert admin.call("GET", "/api/v1/status", headers=headers)[0] == 403
    assert admin.sim.running is True
    assert admin.audit()[-1]["status"] == 403


@pytest.mark.parametrize(("method", "path", "ctype", "body"), [
    ("POST", "/api/v1/pf/disable", "application/x-www-form-urlencoded", b""),  # an HTML form, no fields
    ("POST", "/api/v1/pf/disable", "text/plain", b"x=1"),
    ("POST", "/api/v1/pf/disable", "multipart/form-data; boundary=x", b"--x--"),
    ("POST", "/api/v1/pf/disable", None, b"{}"),
    ("POST", "/api/v1/tables/bruteforce/addresses", "text/plain", b'["192.0.2.9"]'),
    ("POST", "/api/v1/tables/bruteforce/addresses", "application/x-www-form-urlencoded", b'["192.0.2.9"]'),
    ("DELETE", "/api/v1/states", None, b'{"all": true}'),
    ("PUT", "/api/v1/anchors/deploy/rules", "application/x-www-form-urlencoded", b"pass all"),
])
def test_changes_need_a_json_or_pfconf_content_type(admin: Admin, method: str, path: str, ctype: str | None,
                                                     body: bytes) -> None:
    fp = admin.sim.fingerprint()
    status, resp, _ = admin.call(method, path, raw=body, headers={"Content-Type": ctype} if ctype else {})
    assert status == 415 and "application/json" in resp["error"]["message"], resp
    assert admin.sim.fingerprint() == fp


def test_changes_without_a_body_need_no_content_type(admin: Admin) -> None:
    assert admin.call("POST", "/api/v1/pf/disable")[0] == 200
    assert admin.call("POST", "/api/v1/pf/enable", raw=b"{}",
                      headers={"Content-Type": "application/json; charset=utf-8"})[0] == 200
    assert admin.call("PUT", "/api/v1/anchors/deploy/rules", "pass all\n", ctype="text/plain")[0] == 200


def test_http_errors_audit_the_url_path_not_the_method(admin: Admin) -> None:
    assert raw_exchange(admin.port, b"FOO /api/v1/status?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    entry = admin.audit()[-1]
    assert (entry["method"], entry["path"], entry["action"]) == ("FOO", "/api/v1/status", "invalid")
    raw_exchange(admin.port, b"GET /api/v1/anchors HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n")
    assert admin.audit()[-1]["path"] == "/api/v1/anchors"


@pytest.mark.parametrize("value", [b"\xb2", b"\xd9\xa3", b"1_0", b"+5", b"0x10", b""])
def test_content_length_must_be_ascii_digits(admin: Admin, value: bytes) -> None:
    # "\xb2" arrives as "²" (latin-1), which str.isdigit() accepts and int() refuses: it was a 500
    answer = raw_exchange(admin.port, b"PUT /api/v1/tables/bruteforce/addresses HTTP/1.1\r\nAuthorization: Bearer "
                          + TOKEN.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " + value
                          + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Content-Length" in answer


def test_slow_client_is_disconnected(tmp_path: Path) -> None:
    admin = start_admin(tmp_path, request_timeout=1.0)
    try:
        with socket.create_connection(("127.0.0.1", admin.port), timeout=30) as s:
            s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: a\r\n")  # and then nothing
            assert s.recv(100) == b""  # closed by the server, no answer
        assert admin.call("GET", "/api/v1/status")[0] == 200  # others are served meanwhile and after
    finally:
        admin.close()


def test_connection_cap(admin: Admin) -> None:
    """When every connection is inside a request, a new one is refused with 503 (a silent one
    would instead make room: see the next tests)."""
    import threading

    admin.server.server.guard.max_connections = 2
    inside, release = threading.Semaphore(0), threading.Event()
    admin.sim.hook("DIOCRADDADDRS", lambda sim: (inside.release(), release.wait(20)), times=2)
    results: list[int] = []
    changes = [threading.Thread(target=lambda i=i: results.append(admin.call(
        "POST", "/api/v1/tables/bruteforce/addresses", {"addresses": [f"192.0.2.{i}"]})[0])) for i in (1, 2)]
    for t in changes:
        t.start()
    try:
        assert inside.acquire(timeout=20)  # the first change is inside pf...
        # ...the second, authenticated, waits its turn: both are inside a request
        assert wait_until(lambda: admin.server.server.guard.phases()["busy"] == 2)
        answer = raw_exchange(admin.port, b"GET /api/v1/status HTTP/1.1\r\nHost: a\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 ")
    finally:
        release.set()
        for t in changes:
            t.join(20)
    assert results == [200, 200]
    assert admin.call("GET", "/api/v1/status")[0] == 200


def test_silent_clients_do_not_lock_out_a_real_request(admin: Admin) -> None:
    # 32 connections that never authenticate used to hold every slot for the whole request timeout;
    # now a peer has at most 8 unauthenticated connections and a new one closes its oldest
    held = [socket.create_connection(("127.0.0.1", admin.port), timeout=10) for _ in range(40)]
    try:
        for s in held:
            s.sendall(b"GET /api/v1/status HTTP/1.1\r\n")  # and then nothing
        for _ in range(3):
            assert admin.call("GET", "/api/v1/status")[0] == 200
        assert admin.call("DELETE", "/api/v1/states", {"proto": "udp"})[0] == 200
    finally:
        for s in held:
            s.close()


def test_unauthenticated_connections_of_all_peers_together_are_bounded(admin: Admin) -> None:
    admin.server.server.guard.max_waiting = 3
    held = [socket.create_connection(("127.0.0.1", admin.port), timeout=10) for _ in range(3)]
    try:
        assert admin.call("GET", "/api/v1/status")[0] == 200
        assert held[0].recv(100) == b""  # the oldest silent one made room
    finally:
        for s in held:
            s.close()


@pytest.mark.slow
def test_headers_have_a_short_deadline_the_body_the_request_timeout(tmp_path: Path) -> None:
    admin = start_admin(tmp_path, request_timeout=60.0)
    admin.server.server.guard.header_timeout = 0.5
    try:
        with socket.create_connection(("127.0.0.1", admin.port), timeout=30) as s:
            s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: a\r\n")  # headers never end
            assert s.recv(100) == b""  # closed long before the 60 s request timeout
        body = b'["192.0.2.77"]'
        with socket.create_connection(("127.0.0.1", admin.port), timeout=30) as s:
            s.sendall((f"POST /api/v1/tables/bruteforce/addresses HTTP/1.1\r\nHost: a\r\n"
                       f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode())
            time.sleep(1.5)  # authenticated: the body may take longer than the header deadline
            s.sendall(body)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ")
    finally:
        admin.close()


def test_head_answers_headers_only(admin: Admin) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", admin.port, timeout=10)
    conn.request("HEAD", "/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"})
    resp = conn.getresponse()
    assert resp.status == 405 and resp.read() == b""
    conn.close()


def test_basic_auth_users_of_the_admin_web_config(tmp_path: Path) -> None:
    import base64

    import bcrypt

    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  ops: {bcrypt.hashpw(b'open sesame', bcrypt.gensalt(4)).decode()}\n")
    wpf = handle(Simulator("empty"))
    audit = tmp_path / "audit.log"
    server = build_admin_server(AdminConfig("127.0.0.1:0", web_config_file=str(web), audit_log=str(audit)),
                                wpf)
    server.start()
    try:
        def status(password: str | None) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            headers = {}
            if password is not None:
                headers["Authorization"] = "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()
            conn.request("GET", "/api/v1/status", headers=headers)
            code = conn.getresponse().status
            conn.close()
            return code

        assert status(None) == 401 and status("wrong") == 401
        assert status("x" * 73) == 401  # bcrypt refuses passwords over 72 bytes: still a 401, not a 500
        assert status("open sesame") == 200
        lines = [json.loads(x) for x in audit.read_text().splitlines()]
        assert lines[-1]["identity"] == "user:ops"
        assert "open sesame" not in audit.read_text()
    finally:
        server.shutdown()


@pytest.mark.slow
def test_clients_that_never_read_their_answer_do_not_lock_out_a_real_request(admin: Admin) -> None:
    """Authenticated clients that ask for a large answer (2 MB, more than the socket buffers take)
    and never read it hold slots only until a newcomer needs one: at the cap, the writer whose
    client lets its answer pile up is ended."""
    addresses = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(1, 150001)]
    handle(admin.sim).add_addresses("bruteforce", addresses)  # through the library: faster than 3 POSTs
    guard = admin.server.server.guard
    guard.max_connections = 2
    stuck = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        s.settimeout(10)
        s.connect(("127.0.0.1", admin.port))
        s.sendall(f"GET /api/v1/tables/bruteforce/addresses HTTP/1.1\r\nHost: a\r\n"
                  f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
        stuck.append(s)
    try:
        assert wait_until(lambda: guard.phases()["writing"] == 2, timeout=30)
        time.sleep(1.2)  # past the grace
        assert admin.call("GET", "/api/v1/status")[0] == 200
        assert guard.evicted >= 1
    finally:
        for s in stuck:
            s.close()


ADMIN_DESYNC = {
    "GET with a body": b"GET /api/v1/status HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "two Content-Lengths": b"POST /api/v1/pf/enable HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                           b"Content-Length: 3\r\n\r\n{}",
    "Content-Length and chunked": b"POST /api/v1/pf/enable HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "space before the colon": b"DELETE /api/v1/states HTTP/1.1\r\nHost: a\r\nContent-Length : 2\r\n\r\n{}",
    "obsolete line folding": b"GET /api/v1/status HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer\r\n x\r\n\r\n",
    "no Host": b"GET /api/v1/status HTTP/1.1\r\n\r\n",
    "headers too large": b"GET /api/v1/status HTTP/1.1\r\nHost: a\r\n" + b"X-Pad: " + b"a" * 40000 + b"\r\n\r\n",
}


@pytest.mark.parametrize("case", ADMIN_DESYNC)
def test_ambiguous_or_oversized_requests_are_refused_as_json_and_audited(admin: Admin, case: str) -> None:
    answer = raw_exchange(admin.port, ADMIN_DESYNC[case])
    status = 431 if case == "headers too large" else 400
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/json" in head and json.loads(body)["error"]["status"] == status
    assert admin.audit()[-1]["status"] == status
