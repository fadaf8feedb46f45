"""The HTTP server: routes, web config (TLS, basic auth), and that no client can hold up another."""

from __future__ import annotations

import base64
import gzip
import http.client
import logging
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import pytest
from support.fakepf import FakePf

from pf_exporter.collectors import COLLECTORS
from pf_exporter.exporter import ExporterInfo, PfExporter, build_collectors, build_registry
from pf_exporter.web import LandingEntry, MetricsServer, WebApp, parse_listen_address
from pf_exporter.webconfig import WebConfig, WebConfigError, load_web_config, parse_web_config

TIMEOUT = 10.0


def make_app(config: WebConfig | None = None, telemetry_path: str = "/metrics") -> WebApp:
    exporter = PfExporter(FakePf(), build_collectors(COLLECTORS, frozenset({"limiters"})), ExporterInfo("7.9", "amd64"))
    registry = build_registry(exporter)

    def registry_for(only):
        if not only:
            return registry
        if set(only) - set(COLLECTORS):
            raise ValueError(f"collect[]: unknown {only}")
        return build_registry(exporter, tuple(only))

    landing = [LandingEntry(c.name, s.name, s.kind, s.labels, s.help) for c, s in exporter.specs()]
    return WebApp(registry_for, telemetry_path, "test", landing, [(n, True, "d") for n in COLLECTORS],
                  config or WebConfig())


def get(server: MetricsServer, path: str = "/metrics", headers: dict[str, str] | None = None,
        context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = server.addresses[0]
    if context is not None:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


# --- routes ------------------------------------------------------------------------------------------

def test_metrics_are_served_in_the_text_format(serve) -> None:
    status, headers, body = get(serve())
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert "pf_running 1.0" in text
    assert 'pf_scrape_collector_success{collector="status"} 1.0' in text
    assert "pf_exporter_build_info{" in text


def test_gzip_when_the_client_accepts_it(serve) -> None:
    status, headers, body = get(serve(), headers={"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip"
    assert b"pf_running 1.0" in gzip.decompress(body)
    assert headers["content-length"] == str(len(body))


def test_gzip_body_is_the_plain_body_compressed(serve) -> None:
    url = serve()
    _, plain_headers, plain = get(url)
    _, headers, packed = get(url, headers={"Accept-Encoding": "gzip"})
    assert plain_headers["content-length"] == str(len(plain))
    def steady(body: bytes) -> list[bytes]:  # what moves between two scrapes: timings, this process's use
        return [x for x in body.splitlines() if b"duration_seconds" not in x and not x.startswith(b"process_")]

    assert steady(gzip.decompress(packed)) == steady(plain)


def test_openmetrics_when_asked(serve) -> None:
    status, headers, body = get(serve(), headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert headers["content-type"].startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)


def test_prometheus_default_accept_gets_the_text_format_it_lists(serve) -> None:
    """Prometheus prefers OpenMetrics but accepts text 0.0.4, which the exporter encodes faster."""
    status, headers, body = get(serve(), headers={"Accept": PROMETHEUS_ACCEPT})
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "pf_running 1.0" in body.decode()


@pytest.mark.parametrize(("accept", "text"), [
    ("", True), ("*/*", True), ("text/*;q=0.5", True), ("text/plain", True), ("text/plain; version=0.0.4", True),
    (PROMETHEUS_ACCEPT, True), ("application/openmetrics-text; version=1.0.0", False),
    ("text/plain;version=0.0.4;q=0, application/openmetrics-text", False),
    ("text/plain;version=1.0.0;escaping=allow-utf-8", False), ("text/plain;q=bogus", False),
])
def test_which_accept_headers_allow_the_text_format(accept: str, text: bool) -> None:
    from pf_exporter.web import text_acceptable

    assert text_acceptable(accept) is text


def test_collect_filter_runs_only_the_named_collectors(serve) -> None:
    status, _, body = get(serve(), "/metrics?collect[]=timeouts")
    text = body.decode()
    assert status == 200
    assert 'pf_timeout_seconds{timeout="tcp.established"}' in text
    assert "pf_running" not in text
    assert 'pf_scrape_collector_success{collector="status"}' not in text
    assert get(serve(), "/metrics?collect[]=nosuch")[0] == 400


def test_landing_page_lists_metrics_with_links(serve) -> None:
    status, headers, body = get(serve())
    status, headers, body = get(serve(), "/")
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert '<a href="/metrics">' in page
    assert "/-/healthy" in page
    for name in ("pf_running", "pf_label_packets_total", "pf_table_addresses"):
        assert f"<code>{name}</code>" in page


def test_landing_page_says_simulated_names_the_abi_and_shows_each_collectors_last_run(serve) -> None:
    app = make_app()
    app.abi, app.simulated = "7.9/amd64", "small"
    app.collectors = [("status", True, "pf's status as `pfctl -si -v` shows it"), ("rules", True, "rules"),
                      ("states", False, "states")]
    app.last_runs = lambda: {"status": (0.0042, True, time.time() - 5), "rules": (0.25, False, time.time())}
    page = get(serve(app), "/")[2].decode()
    assert "Simulated pf (scenario <code>small</code>)" in page
    assert "OpenBSD 7.9/amd64" in page
    assert "`" not in page and "<code>pfctl -si -v</code>" in page  # code spans, not backticks
    assert '<span class="ok">ok</span> in 4.2 ms, 5 s ago' in page
    assert '<span class="bad">failed</span> in 250.0 ms' in page
    assert '<td class="off">disabled</td>' in page
    assert '<a href="/metrics?collect[]=status">' in page


def test_landing_page_of_a_real_pf_has_no_simulation_banner(serve) -> None:
    app = make_app()
    app.abi = "7.8/arm64"
    page = get(serve(app), "/")[2].decode()
    assert "Simulated" not in page and "OpenBSD 7.8/arm64" in page and "not run yet" in page


def test_custom_telemetry_path(serve) -> None:
    s = serve(make_app(telemetry_path="/pf"))
    assert get(s, "/pf")[0] == 200
    assert get(s, "/metrics")[0] == 404


def test_healthy(serve) -> None:
    assert get(serve(), "/-/healthy")[:1] == (200,)


def test_unknown_path_is_404(serve) -> None:
    status, _, body = get(serve(), "/nope")
    assert status == 404 and b"/metrics" in body


def request(server: MetricsServer, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = server.addresses[0]
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND")


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/pf/enable", "/api/v1/anchors/deploy/rules", "/api"])
def test_admin_paths_are_404_on_the_metrics_port_for_every_method(serve, path: str) -> None:
    s = serve()
    for method in METHODS:
        status, headers, body = request(s, method, path, b'{"all": true}' if method not in ("GET", "HEAD") else None)
        assert (method, status) == (method, 404)
        if method != "HEAD":
            assert b"--admin.listen-address" in body


@pytest.mark.parametrize("path", ["/metrics", "/", "/-/healthy"])
def test_other_methods_on_the_exporters_own_paths_are_405_with_allow(serve, path: str) -> None:
    s = serve()
    for method in METHODS[2:]:
        status, headers, _ = request(s, method, path, b"x" * 100)
        assert (method, status, headers["allow"]) == (method, 405, "GET, HEAD")
        assert headers["connection"] == "close"  # the body is not for us: no keep-alive after it


def test_other_methods_on_unknown_paths_are_404(serve) -> None:
    assert request(serve(), "POST", "/nope", b"{}")[0] == 404


def test_a_refused_body_does_not_corrupt_the_next_request(serve) -> None:
    """The answer to a POST comes with Connection: close, so its body is never read as a request."""
    s = serve()
    host, port = s.addresses[0]
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        body = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"  # a request, if it were read as one
        sock.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 405 ") and data.count(b"HTTP/1.1") == 1


def test_several_listen_addresses(serve) -> None:
    s = serve(addresses=("127.0.0.1:0", "127.0.0.1:0"))
    assert len(s.addresses) == 2
    for host, port in s.addresses:
        conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        conn.request("GET", "/-/healthy")
        assert conn.getresponse().status == 200
        conn.close()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_ipv6_listen_address(serve) -> None:
    try:
        s = serve(addresses=("[::1]:0",))
    except OSError:
        pytest.skip("::1 not configured")
    host, port = s.addresses[0]
    conn = http.client.HTTPConnection("::1", port, timeout=TIMEOUT)
    conn.request("GET", "/-/healthy")
    assert conn.getresponse().status == 200
    conn.close()


def test_listen_address_forms() -> None:
    assert parse_listen_address(":10073") == ("", 10073)
    assert parse_listen_address("127.0.0.1:9") == ("127.0.0.1", 9)
    assert parse_listen_address("[::1]:10073") == ("::1", 10073)
    assert parse_listen_address("localhost:1") == ("localhost", 1)
    for bad in ("10073", "::1:10073", "host:port", "1.2.3.4:70000"):
        with pytest.raises(ValueError, match="--web.listen-address"):
            parse_listen_address(bad)


def test_busy_port_is_a_clear_error(serve) -> None:
    s = serve()
    host, port = s.addresses[0]
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}.*another"):
        MetricsServer([f"127.0.0.1:{port}"], make_app())


# --- concurrency and slow clients -------------------------------------------------------------------

def test_concurrent_scrapes_all_complete(serve) -> None:
    s = serve()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: get(s), range(16)))
    assert all(r[0] == 200 and b"pf_running 1.0" in r[2] for r in results)


def test_silent_and_slow_tcp_clients_do_not_block_scrapes(serve) -> None:
    s = serve()
    host, port = s.addresses[0]
    silent = socket.create_connection((host, port), timeout=TIMEOUT)  # connects, never sends
    slow = socket.create_connection((host, port), timeout=TIMEOUT)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    try:
        for _ in range(3):
            status, _, body = get(s)
            assert status == 200 and b"pf_running" in body
    finally:
        silent.close()
        slow.close()


def test_a_client_that_never_reads_does_not_block_scrapes(serve) -> None:
    s = serve()
    host, port = s.addresses[0]
    stuck = socket.create_connection((host, port), timeout=TIMEOUT)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stuck.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 50)  # many responses, none read
    try:
        assert get(s)[0] == 200
    finally:
        stuck.close()


# --- web config ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "lost"), [
    ("tls_server_config: {cert_file: c, key_file: k}", "", "turns TLS off"),
    ("tls_server_config: {cert_file: c, key_file: k, client_auth_type: RequireAndVerifyClientCert, "
     "client_ca_file: ca}", "tls_server_config: {cert_file: c, key_file: k}",
     "weakens client_auth_type from RequireAndVerifyClientCert to NoClientCert"),
    ("tls_server_config: {cert_file: c, key_file: k, client_auth_type: RequireAndVerifyClientCert, "
     "client_ca_file: ca, client_allowed_sans: [prom]}",
     "tls_server_config: {cert_file: c, key_file: k, client_auth_type: RequireAndVerifyClientCert, "
     "client_ca_file: ca}", "removes client_allowed_sans"),
    ("basic_auth_users: {alice: $2b$04$" + "a" * 21 + "e" + "a" * 31 + "}", "", "turns basic auth off"),
])
def test_a_reload_that_would_lower_the_protection_is_refused(old: str, new: str, lost: str) -> None:
    from pf_exporter.webconfig import downgrades

    assert any(lost in d for d in downgrades(parse_web_config(old), parse_web_config(new)))
    assert downgrades(parse_web_config(new), parse_web_config(old)) == []  # adding protection is fine


def test_update_config_keeps_the_running_config_when_it_would_lower_it(serve) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    s = serve(make_app(parse_web_config(f"basic_auth_users:\n  alice: '{hashed}'\n")))
    before = s.app.config
    with pytest.raises(WebConfigError, match="turns basic auth off.*restart"):
        s.update_config(WebConfig())
    assert s.app.config is before and get(s)[0] == 401


GOOD_HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()


@pytest.mark.parametrize(("hashed", "message"), [
    (GOOD_HASH[:28] + "a" + GOOD_HASH[29:], "not a valid bcrypt hash (bad cost or salt characters)"),  # bad salt
    (GOOD_HASH[:7] + "!" + GOOD_HASH[8:], "not a valid bcrypt hash"),
    ("$2b$31$" + GOOD_HASH[7:], "bcrypt cost 31 is outside 4..14"),
    ("$2b$99$" + GOOD_HASH[7:], "bcrypt cost 99 is outside 4..14"),
    ("$2b$03$" + GOOD_HASH[7:], "bcrypt cost 3 is outside 4..14"),
    ("$2x$04$" + GOOD_HASH[7:], "not a bcrypt hash"),
    (GOOD_HASH + "x", "not a bcrypt hash"),
])
def test_bcrypt_hashes_are_checked_when_the_config_is_read(hashed: str, message: str) -> None:
    with pytest.raises(WebConfigError, match=re.escape(message)):
        parse_web_config(f"basic_auth_users:\n  alice: '{hashed}'\n")


def test_a_valid_hash_of_each_prefix_and_the_extreme_costs_is_accepted() -> None:
    for prefix in ("$2a$", "$2b$", "$2y$"):
        parse_web_config(f"basic_auth_users:\n  alice: '{prefix}{GOOD_HASH[4:]}'\n")
    parse_web_config(f"basic_auth_users:\n  alice: '$2b$14${GOOD_HASH[7:]}'\n")


def test_empty_web_config_means_plain_http() -> None:
    assert parse_web_config("") == WebConfig()
    assert parse_web_config("{}") == WebConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_config: {}", "unknown key 'tls_config'; valid keys are tls_server_config"),
        ("tls_server_config: {cert_file: a, key_file: b, cert_fil: c}", "unknown key 'cert_fil'"),
        ("tls_server_config: {cert_file: a}", "a certificate (cert_file or cert) and a key (key_file or key)"),
        ("tls_server_config: {cert_file: a, key_file: b, client_auth_type: Bogus}", "client_auth_type 'Bogus'"),
        ("tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequireAnyClientCert}",
         "not supported"),
        ("tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequireAndVerifyClientCert}",
         "needs client_ca_file"),
        ("tls_server_config: {cert_file: a, key_file: b, min_version: TLS14}", "min_version 'TLS14'"),
        ("tls_server_config: {cert_file: a, key_file: b, cipher_suites: [X]}", "cipher_suites: unknown X"),
        ("basic_auth_users: {alice: secret}", "not a bcrypt hash"),
        ("basic_auth_users: [alice]", "expected a mapping"),
        ("http_server_config: {headers: {Server: x}}", "unknown key 'Server'"),
        ("http_server_config: {http2: maybe}", "http2"),
        ("tls_server_config: [", "not valid YAML"),
    ],
)
def test_bad_web_config_is_rejected_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(WebConfigError, match=re.escape(message)):
        parse_web_config(text)


def test_web_config_file_problems_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match="cannot read .*missing.yml"):
        load_web_config(str(tmp_path / "missing.yml"))
    f = tmp_path / "web.yml"
    f.write_text("tls_server_config: {cert_file: nope.pem, key_file: nope.key}\n")
    with pytest.raises(WebConfigError, match=r"web.yml: cannot load TLS certificate .*nope.pem"):
        load_web_config(str(f))


HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth(serve) -> None:
    s = serve(make_app(parse_web_config(f"basic_auth_users:\n  alice: '{HASH}'\n")))
    status, headers, _ = get(s)
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    assert get(s, headers=basic("alice", "wrong"))[0] == 401
    assert get(s, headers=basic("bob", "s3cret"))[0] == 401
    assert get(s, headers={"Authorization": "Basic !!!"})[0] == 401
    assert get(s, headers=basic("alice", "s3cret"))[0] == 200
    assert get(s, headers=basic("alice", "s3cret"))[0] == 200  # remembered, still right
    assert get(s, "/-/healthy", headers=basic("alice", "s3cret"))[0] == 200
    # other methods and the admin paths: authentication first, like every request
    assert request(s, "POST", "/metrics")[0] == 401
    assert request(s, "DELETE", "/api/v1/states")[0] == 401
    assert request(s, "POST", "/metrics", headers=basic("alice", "s3cret"))[0] == 405
    assert request(s, "DELETE", "/api/v1/states", headers=basic("alice", "s3cret"))[0] == 404


def test_configured_security_headers_are_sent(serve) -> None:
    s = serve(make_app(parse_web_config("http_server_config:\n  headers:\n    X-Frame-Options: deny\n")))
    assert get(s)[1]["x-frame-options"] == "deny"


# --- TLS -------------------------------------------------------------------------------------------

def client_context(pki: Path, cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    return ctx


def tls_app(pki: Path, extra: str = "") -> WebApp:
    f = pki / "web.yml"
    f.write_text(f"tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n{extra}")
    return make_app(load_web_config(str(f)))


def test_tls_scrape(serve, pki: Path) -> None:
    s = serve(tls_app(pki))
    status, _, body = get(s, context=client_context(pki))
    assert status == 200 and b"pf_running" in body


def test_tls_min_version_is_enforced(serve, pki: Path) -> None:
    s = serve(tls_app(pki, "  min_version: TLS13\n"))
    ctx = client_context(pki)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(s, context=ctx)
    assert get(s, context=client_context(pki))[0] == 200


def test_tls_client_certificates(serve, pki: Path) -> None:
    s = serve(tls_app(pki, "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(s, context=client_context(pki))
    assert get(s, context=client_context(pki, cert=True))[0] == 200


def test_tls_client_allowed_sans(serve, pki: Path) -> None:
    base = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"
    ok = serve(tls_app(pki, base + "  client_allowed_sans: [prometheus.example]\n"))
    assert get(ok, context=client_context(pki, cert=True))[0] == 200
    refused = serve(tls_app(pki, base + "  client_allowed_sans: [other.example]\n"))
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        get(refused, context=client_context(pki, cert=True))


def test_silent_tls_client_does_not_block_tls_scrapes(serve, pki: Path) -> None:
    """A client that opens TCP and never starts the handshake would stall a server that
    handshakes in its accept loop; here the handshake runs in the connection's own thread."""
    s = serve(tls_app(pki))
    host, port = s.addresses[0]
    silent = [socket.create_connection((host, port), timeout=TIMEOUT) for _ in range(3)]
    half = socket.create_connection((host, port), timeout=TIMEOUT)
    half.sendall(b"\x16\x03\x01\x00\xff")  # a TLS record header promising a ClientHello that never comes
    try:
        for _ in range(3):
            status, _, body = get(s, context=client_context(pki))
            assert status == 200 and b"pf_running" in body
    finally:
        for c in [*silent, half]:
            c.close()


def test_plain_http_to_a_tls_port_is_refused_without_harm(serve, pki: Path) -> None:
    s = serve(tls_app(pki))
    host, port = s.addresses[0]
    with socket.create_connection((host, port), timeout=TIMEOUT) as c:
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := c.recv(4096):
            data += chunk
    # what Go's server (node_exporter) answers, instead of an empty reply
    assert data.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert data.endswith(b"\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
    assert get(s, context=client_context(pki))[0] == 200


@pytest.fixture(autouse=True)
def _no_thread_leak_across_tests() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() < before + 64


def test_the_server_header_names_the_exporter_only(serve) -> None:
    _, headers, _ = get(serve())
    assert headers["server"] == "pf_exporter"  # no Python version, no trailing space


# --- every exporter-toolkit key --------------------------------------------------------------------

EVERY_KEY = """tls_server_config:
  cert_file: server.pem
  key_file: server.key
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: ca.pem
  min_version: TLS12
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    - TLS_AES_128_GCM_SHA256
  prefer_server_cipher_suites: true
  curve_preferences: [X25519, CurveP256]
http_server_config:
  http2: true
  headers:
    X-Frame-Options: deny
"""


def test_every_exporter_toolkit_key_is_accepted_and_what_python_cannot_do_is_a_warning(
        pki: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = pki / "every.yml"
    f.write_text(EVERY_KEY)
    with caplog.at_level(logging.WARNING, logger="pf_exporter.web"):
        config = load_web_config(str(f))
    assert config.tls is not None
    assert config.tls.ciphers == "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "http2: true has no effect" in warned
    assert "TLS 1.3 suites cannot be chosen" in warned
    assert "can restrict key exchange to one curve, not order several" in warned


def test_cipher_suites_are_applied_to_tls_1_2(serve, pki: Path) -> None:
    s = serve(tls_app(pki, "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n"))
    refused = client_context(pki)
    refused.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(s, context=refused)
    host, port = s.addresses[0]
    with socket.create_connection((host, port), timeout=TIMEOUT) as raw, \
            client_context(pki).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.cipher()[0] == "ECDHE-ECDSA-AES256-GCM-SHA384"


def test_one_curve_is_applied(serve, pki: Path) -> None:
    s = serve(tls_app(pki, "  curve_preferences: [CurveP384]\n"))
    assert s.app.config.tls is not None and s.app.config.tls.curve == "secp384r1"
    assert get(s, context=client_context(pki))[0] == 200


def test_inline_cert_key_and_client_ca(serve, pki: Path) -> None:
    def block(name: str) -> str:
        return "|\n" + "".join(f"    {line}\n" for line in (pki / name).read_text().splitlines())

    f = pki / "inline.yml"
    f.write_text(f"tls_server_config:\n  cert: {block('server.pem')}  key: {block('server.key')}"
                 f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca: {block('ca.pem')}")
    s = serve(make_app(load_web_config(str(f))))
    assert get(s, context=client_context(pki, cert=True))[0] == 200
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(s, context=client_context(pki))
    assert not list(Path(tempfile.gettempdir()).glob("pf_exporter-tls-*"))  # the key was not left on disk


@pytest.mark.parametrize(("extra", "message"), [
    ("  cert: x\n", "give cert_file or cert, not both"),
    ("  curve_preferences: [CurveP999]\n", "curve_preferences: unknown CurveP999"),
    ("  prefer_server_cipher_suites: maybe\n", "prefer_server_cipher_suites: expected true or false"),
    ("  cipher_suites: TLS_RSA_WITH_AES_128_CBC_SHA\n", "cipher_suites: expected a list of names"),
])
def test_bad_values_of_the_new_keys_name_the_key(pki: Path, extra: str, message: str) -> None:
    with pytest.raises(WebConfigError, match=re.escape(message)):
        parse_web_config(f"tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n{extra}", pki)
