"""The admin API through the command line: ``--admin.*`` flags, the second (writable) pf
descriptor, refusals at start-up, the listener served next to the metrics, the files the
sandbox must keep visible, SIGHUP and a draining SIGTERM.

The end-to-end test runs ``python -m pf_exporter --simulate --admin.listen-address ...`` and
changes pf over HTTP, then reads the change back from the metrics endpoint.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.admin import TOKEN, token_file
from support.fakeos import PF_GID, PF_UID, FakeKernel, FakeLibc
from test_cli import one_line_error, pf_exporter
from test_cli_hardening import Recorder, hardening, start
from test_signals import WAIT, exporters, free_port, install, make_cert, wait_until

from pf_exporter import cli, docs
from pf_exporter.device import Device
from pf_exporter.exporter import ExporterInfo
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator

__all__ = ["exporters"]  # a fixture used here, defined with its own tests
pytestmark = pytest.mark.usefixtures("restore_root_logger")  # conftest


def call(port: int, method: str, path: str, body: Any = None, *, token: str | None = TOKEN,
         ctype: str = "application/json", context: ssl.SSLContext | None = None) -> tuple[int, Any]:
    """One admin request over loopback; (status, parsed JSON)."""
    if context is not None:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", port, timeout=WAIT,
                                                                        context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Content-Type"] = "text/plain" if isinstance(body, str) else ctype
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
        return r.status, json.loads(payload) if payload else None
    finally:
        conn.close()


def scrape(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        assert r.status == 200
        return r.read().decode()
    finally:
        conn.close()


def sample(text: str, series: str) -> float:
    """The value of one series (``name{labels}`` exactly as exposed) in a scrape."""
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert m is not None, f"{series} not in the scrape"
    return float(m.group(1))


def status_on_metrics_port(port: int, method: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request(method, "/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return True
    return False


# --- end to end -------------------------------------------------------------------------------------


PF_CONF = """\
table <webservers> persist { 192.0.2.10 192.0.2.11 }
block in quick proto tcp from <bruteforce> to any port 22
pass in proto tcp to <webservers> port { 80 443 }
"""


def test_admin_api_changes_pf_and_the_metrics_show_it(tmp_path: Path, exporters) -> None:
    tokens, audit = token_file(tmp_path), tmp_path / "audit.log"
    assert tokens.stat().st_mode & 0o777 == 0o600
    aport = free_port()
    e = exporters("--admin.listen-address", f"127.0.0.1:{aport}", "--admin.token-file", str(tokens),
                  "--admin.audit-log", str(audit))
    e.wait_log("pf_exporter started")
    assert f"admin=127.0.0.1:{aport}" in e.log
    mport = e.port

    # status, and no way in without the token
    status, body = call(aport, "GET", "/api/v1/status")
    assert status == 200 and body["running"] is True and body["release"] == "7.9"
    assert call(aport, "GET", "/api/v1/status", token=None)[0] == 401
    assert call(aport, "GET", "/api/v1/status", token="not-the-token-0123456789")[0] == 401

    # a table add: pf_table_addresses grows by the addresses added
    before = sample(scrape(mport), 'pf_table_addresses{anchor="",table="bruteforce"}')
    status, body = call(aport, "POST", "/api/v1/tables/bruteforce/addresses",
                        {"addresses": ["192.0.2.200", "2001:db8::/64"]})
    assert status == 200 and body["added"] == 2, body
    assert sample(scrape(mport), 'pf_table_addresses{anchor="",table="bruteforce"}') == before + 2

    # a rules PUT in pf.conf syntax: the anchor and its table appear in the metrics
    status, body = call(aport, "PUT", "/api/v1/anchors/deploy/web/rules", PF_CONF)
    assert status == 200 and body["changed"] is True and body["tables"] == 1, body
    text = scrape(mport)
    assert sample(text, 'pf_rules{anchor="deploy/web"}') == body["rules"] == 3  # the port list is two rules
    assert sample(text, 'pf_table_addresses{anchor="deploy/web",table="webservers"}') == 2
    status, got = call(aport, "GET", "/api/v1/anchors/deploy/web/rules")
    assert status == 200 and "block drop in quick proto tcp from <bruteforce> to any port = 22" in got["text"]

    # a state kill: pf counts each killed state as a removal
    removals = sample(scrape(mport), 'pf_state_operations_total{operation="removals"}')
    status, body = call(aport, "DELETE", "/api/v1/states", {"proto": "tcp"})
    assert status == 200 and body["killed"] > 0, body
    assert sample(scrape(mport), 'pf_state_operations_total{operation="removals"}') >= removals + body["killed"]

    # disable and enable, idempotent
    status, body = call(aport, "POST", "/api/v1/pf/disable")
    assert (status, body["running"], body["changed"]) == (200, False, True)
    assert sample(scrape(mport), "pf_running") == 0
    assert call(aport, "POST", "/api/v1/pf/disable")[1]["changed"] is False
    status, body = call(aport, "POST", "/api/v1/pf/enable")
    assert (status, body["running"], body["changed"]) == (200, True, True)
    assert sample(scrape(mport), "pf_running") == 1

    # the metrics port knows nothing of the admin API, whatever the method
    assert [status_on_metrics_port(mport, m) for m in ("GET", "HEAD", "POST", "PUT", "DELETE")] == [404] * 5

    # every request was audited, with the token's name and never the token
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [x["action"] for x in lines if x["outcome"] == "ok"] == [
        "status", "table.add", "rules.replace", "rules.get", "states.kill", "pf.disable", "pf.disable",
        "pf.enable"]
    assert {x["identity"] for x in lines if x["outcome"] == "ok"} == {"token:deploy"}
    assert TOKEN not in audit.read_text() and TOKEN not in e.log

    e.signal(signal.SIGTERM)
    assert e.wait() == 0
    assert refuses_connections(aport)


# --- start-up refusals ------------------------------------------------------------------------------


def admin_start(*argv: str) -> str:
    return one_line_error(pf_exporter("--simulate", "--web.listen-address", "127.0.0.1:0", *argv))


def test_admin_without_authentication_is_refused_at_start_up() -> None:
    line = admin_start("--admin.listen-address", "127.0.0.1:0")
    assert "refuses to start without authentication" in line and "--admin.token-file" in line


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.1:10074"])
def test_plain_http_off_loopback_is_refused_at_start_up(tmp_path: Path, listen: str) -> None:
    line = admin_start("--admin.listen-address", listen, "--admin.token-file", str(token_file(tmp_path)))
    assert "not a loopback address" in line and "--admin.web.config.file" in line


def test_a_token_file_others_can_read_is_refused_at_start_up(tmp_path: Path) -> None:
    tokens = token_file(tmp_path)
    tokens.chmod(0o644)
    line = admin_start("--admin.listen-address", "127.0.0.1:0", "--admin.token-file", str(tokens))
    assert "--admin.token-file" in line and "chmod 600" in line and TOKEN not in line


def test_admin_flags_without_the_listener_are_refused_at_start_up(tmp_path: Path) -> None:
    line = admin_start("--admin.token-file", str(token_file(tmp_path)))
    assert "--admin.token-file has no effect without --admin.listen-address" in line


def test_a_refused_admin_api_closes_both_descriptors_and_the_metrics_listener(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(), FakeLibc(), euid=0, sysname="OpenBSD")
    assert start("--admin.listen-address", "127.0.0.1:0", h=h) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "pf_exporter: the admin API refuses to start without authentication")
    assert rec.pf is not None and rec.pf.writable.backend.device.transport.closed and rec.device.transport.closed
    assert all(s.socket.fileno() == -1 for server in rec.servers for s in server.servers)
    assert "chdir" not in rec.names() and "setuid" not in rec.names()  # refused before any drop


def test_without_admin_pf_is_only_opened_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(), FakeLibc(), euid=0, sysname="OpenBSD")
    assert start(h=h) == 0
    assert ("open_pf", False) in rec.events and rec.pf is not None and rec.pf.writable is None


def test_flags_table_lists_the_admin_flags() -> None:
    table = docs.flags_markdown()
    for flag in ("--admin.listen-address ADDRESS", "--admin.token-file FILE", "--admin.web.config.file FILE",
                 "--admin.allow-main-ruleset", "--admin.audit-log FILE"):
        assert f"| `{flag}` |" in table
    assert "| `--admin.request-timeout SECONDS` | `30` |" in table
    assert "| `--admin.socket-mode MODE` | `0600` |" in table


# --- privileges and sandbox -------------------------------------------------------------------------


def admin_web_config(directory: Path, certs: Path, cert: str = "server.pem") -> Path:
    for name in ("server.pem", "server.key"):
        if not (directory / name).exists():
            shutil.copy(certs / name, directory / name)
    f = directory / "admin-web.yml"
    f.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: server.key\n")
    return f


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl(1) is needed to make a test certificate")
    d = tmp_path_factory.mktemp("admin-certs")
    for name in ("server", "renewed"):
        make_cert(d, name)
    return d


def test_writable_pf_and_the_admin_listener_come_before_the_drop_and_stay_visible_to_unveil(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    web = admin_web_config(conf, certs)
    token_file(conf)
    sock = tmp_path / "run" / "admin.sock"
    sock.parent.mkdir()
    monkeypatch.chdir(tmp_path)  # the token file given relative, as a user might
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(), FakeLibc(), euid=0, sysname="OpenBSD")
    bound: list[bool] = []
    real_harden = cli.harden

    def harden(service: cli.Service, *a: Any, **kw: Any) -> None:
        bound.append(sock.exists())  # the admin socket is bound (as root) before the drop
        real_harden(service, *a, **kw)

    monkeypatch.setattr(cli, "harden", harden)

    assert start("--admin.listen-address", f"unix:{sock}", "--admin.token-file", "conf/admin-tokens",
                 "--admin.web.config.file", str(web), h=h) == 0

    assert ("open_pf", True) in rec.events
    assert rec.events.index(("open_pf", True)) < rec.names().index("setuid")
    assert bound == [True]
    [plan] = h.plans
    rules = {r.path: r.permissions for r in plan.unveil}
    assert rules[str(conf / "admin-tokens")] == "r"  # made absolute before chdir("/")
    assert rules[str(web)] == rules[str(conf / "server.pem")] == rules[str(conf / "server.key")] == "r"
    assert rules[str(sock)] == "c"  # removed at exit
    assert not sock.exists()  # ... as it was, by the stop
    assert rec.pf is not None and rec.pf.writable.backend.device.transport.closed and rec.device.transport.closed
    assert "auth: token" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="chown(2) to another user needs root")
def test_a_token_file_owned_by_the_run_as_user_is_accepted_so_it_can_be_reread_after_the_drop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = token_file(tmp_path)
    os.chown(tokens, PF_UID, PF_GID)  # mode 0600, owned by _pf_exporter (the fake kernel's uid 871)
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(), FakeLibc(), euid=0, sysname="OpenBSD")
    assert start("--admin.listen-address", "127.0.0.1:0", "--admin.token-file", str(tokens), h=h) == 0, \
        capsys.readouterr().err
    # owned by anyone else it is still refused
    os.chown(tokens, PF_UID + 1, PF_GID)
    assert start("--admin.listen-address", "127.0.0.1:0", "--admin.token-file", str(tokens), h=h) == 1
    assert f"owned by uid {PF_UID + 1}; it must belong to root or to the user the exporter runs as" in \
        capsys.readouterr().err


# --- SIGHUP and SIGTERM, in process ----------------------------------------------------------------


class AdminPf:
    """A simulated pf with its read-only and writable descriptors, as open_pf gives them."""

    def __init__(self) -> None:
        self.sim = Simulator("small", release="7.9")
        self.ro = PacketFilter.from_device(Device(self.sim.abi, self.sim.open(False)), self.sim)
        self.rw = PacketFilter.from_device(Device(self.sim.abi, self.sim.open(True)), self.sim)
        self.device, self.writable = self.ro.backend.device, self.rw.backend.device

    def pf(self) -> cli.Pf:
        def close() -> None:
            cli.close_handle(self.ro)
            cli.close_handle(self.rw)

        return cli.Pf(self.ro, ExporterInfo("7.9", "amd64", frozenset({"limiters"})), close=close, writable=self.rw)


@pytest.fixture
def started() -> Iterator[list[cli.Service]]:
    services: list[cli.Service] = []
    yield services
    for s in services:
        s.close()


def start_in_process(started: list[cli.Service], pf: cli.Pf, *argv: str) -> cli.Service:
    args = cli.build_parser().parse_args(["--web.listen-address", "127.0.0.1:0", "--run-as", "root", *argv])
    service = cli.start(args, cli.Hardening(euid=0, sysname="Linux", chdir=lambda path: None), pf=pf)
    started.append(service)
    service.server.poll_interval = 0.01
    service.server.start()
    assert service.admin is not None
    service.admin.start()
    return service


def test_sigterm_lets_an_admin_change_under_way_finish_before_pf_is_closed(tmp_path: Path, started) -> None:
    held = AdminPf()
    inside, release = threading.Event(), threading.Event()
    held.sim.hook("DIOCRADDADDRS", lambda sim: (inside.set(), release.wait(WAIT)))
    service = start_in_process(started, held.pf(), "--admin.listen-address", "127.0.0.1:0",
                               "--admin.token-file", str(token_file(tmp_path)))
    assert service.admin is not None
    port = service.admin.port
    result: list[tuple[int, Any]] = []
    client = threading.Thread(target=lambda: result.append(
        call(port, "POST", "/api/v1/tables/bruteforce/addresses", {"addresses": ["192.0.2.201"]})))
    client.start()
    assert inside.wait(WAIT)  # the change is inside pf

    closer = threading.Thread(target=service.close, kwargs={"drain_timeout": WAIT})
    closer.start()
    wait_until(lambda: refuses_connections(port), "the admin listener to close")
    assert closer.is_alive() and not held.writable.transport.closed  # pf stays open for the change
    release.set()
    closer.join(WAIT)
    client.join(WAIT)
    assert not closer.is_alive()
    [(status, body)] = result
    assert status == 200 and body["added"] == 1
    assert held.writable.transport.closed and held.device.transport.closed
    after = PacketFilter.from_device(Device(held.sim.abi, held.sim.open(False))).table_addresses(
        "bruteforce", counters=False)
    assert "192.0.2.201" in [str(a) for a in after]  # committed, not cut off


def served_cert(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as raw:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_sighup_reloads_the_admin_certificate_and_refuses_to_change_authentication(
        tmp_path: Path, certs: Path, started, caplog: pytest.LogCaptureFixture) -> None:
    web = admin_web_config(tmp_path, certs)
    service = start_in_process(started, AdminPf().pf(), "--admin.listen-address", "127.0.0.1:0",
                               "--admin.token-file", str(token_file(tmp_path)), "--admin.web.config.file", str(web))
    assert service.admin is not None and service.admin.tls
    port = service.admin.port
    first = served_cert(port)
    assert str(web) in service.reload_files() and str(tmp_path / "server.pem") in service.reload_files()

    install(certs / "renewed.pem", tmp_path / "server.pem")
    install(certs / "renewed.key", tmp_path / "server.key")
    assert service.reload() is True
    renewed = served_cert(port)
    assert renewed != first  # the same listener, the new certificate
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    assert call(port, "GET", "/api/v1/status", context=ctx)[0] == 200

    web.write_text("http_server_config:\n  headers:\n    X-Frame-Options: deny\n")  # TLS off: restart only
    assert service.reload() is False
    assert any("changes how clients authenticate" in r.getMessage() for r in caplog.records)
    assert served_cert(port) == renewed  # still TLS, with the certificate it had
    web.write_text("tls_server_config:\n  cert_file: missing.pem\n  key_file: server.key\n")
    assert service.reload() is False
    assert served_cert(port) == renewed


def test_sighup_rereads_the_token_file_and_reports_a_broken_one(tmp_path: Path, started,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pf_exporter")
    tokens = token_file(tmp_path)
    service = start_in_process(started, AdminPf().pf(), "--admin.listen-address", "127.0.0.1:0",
                               "--admin.token-file", str(tokens))
    assert service.admin is not None
    port = service.admin.port
    assert service.reload() is True  # nothing changed

    rotated = "rotated-token-0123456789abcdef"
    tokens.write_text(f"deploy:{rotated}\n")
    assert service.reload() is True
    assert any("re-read: 1 tokens" in r.getMessage() for r in caplog.records)
    assert call(port, "GET", "/api/v1/status", token=rotated)[0] == 200
    assert call(port, "GET", "/api/v1/status")[0] == 401  # the old token is gone

    tokens.chmod(0o644)
    assert service.reload() is False  # said at the signal, not only at the next request
    assert any("refusing every request" in r.getMessage() for r in caplog.records)
    assert call(port, "GET", "/api/v1/status", token=rotated)[0] == 401
    tokens.chmod(0o600)
    assert service.reload() is True
    assert call(port, "GET", "/api/v1/status", token=rotated)[0] == 200


def test_sighup_reopens_the_audit_log_after_newsyslog_rotated_it(tmp_path: Path, started,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    tokens = token_file(tmp_path)
    audit = tmp_path / "admin-audit.log"
    service = start_in_process(started, AdminPf().pf(), "--admin.listen-address", "127.0.0.1:0",
                               "--admin.token-file", str(tokens), "--admin.audit-log", str(audit))
    assert service.admin is not None
    port = service.admin.port
    assert call(port, "GET", "/api/v1/status")[0] == 200
    rotated = tmp_path / "admin-audit.log.0"
    audit.rename(rotated)  # what newsyslog does: rename, create the new file, then send SIGHUP
    assert call(port, "GET", "/api/v1/anchors")[0] == 200  # before the signal: still the old file
    audit.touch(mode=0o600)
    assert service.reload() is True
    assert call(port, "GET", "/api/v1/status")[0] == 200
    old_lines = [json.loads(line)["path"] for line in rotated.read_text().splitlines()]
    new_lines = [json.loads(line)["path"] for line in audit.read_text().splitlines()]
    assert old_lines == ["/api/v1/status", "/api/v1/anchors"] and new_lines == ["/api/v1/status"]

    audit.rename(rotated)  # rotated, but no new file: the old one stays in use, and the reload fails
    assert service.reload() is False
    assert "cannot reopen --admin.audit-log" in caplog.text and "newsyslog creates it" in caplog.text
    assert service.exporter.config.successful is False
    assert call(port, "GET", "/api/v1/status")[0] == 200
    assert len(rotated.read_text().splitlines()) == 2


def test_the_audit_log_is_unveiled_for_writing_so_it_can_be_reopened(tmp_path: Path) -> None:
    from pf_exporter import openbsd

    plan = openbsd.unveil_plan(log_files=[tmp_path / "audit.log"], python_paths=[])
    assert [(r.path, r.permissions) for r in plan.unveil] == [(str(tmp_path / "audit.log"), "w")]
