"""Signals against a running exporter: SIGHUP reloads the web config and TLS files without
dropping the listener; SIGTERM/SIGINT stop accepting, let the scrape under way finish,
release pf and exit 0.

The first tests run ``python -m pf_exporter --simulate`` on a free loopback port; the last
ones drive the same shutdown in-process, where a simulator hook can hold a rule walk (and
its ticket) open while the exporter is told to stop.  Every wait is bounded.
"""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import pytest

from pf_exporter import cli
from pf_exporter.device import Device
from pf_exporter.exporter import ExporterInfo
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
WAIT = 30.0  # seconds: the bound on every wait (the happy path takes a fraction of it)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Exporter:
    """A ``python -m pf_exporter --simulate`` process; its stderr is collected line by line."""

    def __init__(self, *flags: str, user: str | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pf_exporter", "--simulate", "--web.listen-address", f"127.0.0.1:{self.port}",
             *flags],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
            user=user)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, text: str, count: int = 1) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"exporter exited ({self.proc.returncode}) before logging {text!r}:\n{self.log}")
            return sum(text in line for line in self.lines) >= count

        wait_until(seen, f"{text!r} in the log")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self) -> int:
        code = self.proc.wait(timeout=WAIT)
        self._reader.join(WAIT)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)

    def accepting(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
        except OSError:
            return False
        return True


@pytest.fixture
def exporters() -> Iterator[Callable[..., Exporter]]:
    started: list[Exporter] = []

    def start(*flags: str, user: str | None = None) -> Exporter:
        e = Exporter(*flags, user=user)
        started.append(e)
        e.wait_log("msg=listening")
        return e

    yield start
    for e in started:  # only the processes this test started, by their Popen handle
        e.kill()


def read_response(sock: socket.socket, method: str = "GET") -> tuple[int, http.client.HTTPMessage, bytes]:
    r = http.client.HTTPResponse(sock, method=method)
    r.begin()
    return r.status, r.headers, r.read()  # read() raises IncompleteRead for a cut-off body


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- SIGTERM / SIGINT -------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_lets_the_scrape_under_way_finish_then_exits_0(sig: signal.Signals, exporters) -> None:
    e = exporters("--collector.states")
    with socket.create_connection(("127.0.0.1", e.port), timeout=WAIT) as sock:
        # A first request proves the connection is accepted and served (and keeps it alive) ...
        sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200
        # ... then a scrape is begun: its request line and a header are sent, the end is not yet.
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        e.signal(sig)
        e.wait_log('msg="shutting down"')
        assert f"signal={sig.name}" in e.log
        wait_until(lambda: not e.accepting(), "the listener to close")  # no new connections ...
        assert e.proc.poll() is None  # ... but the process waits for the scrape under way
        sock.sendall(b"Accept-Encoding: identity\r\n\r\n")
        status, headers, body = read_response(sock)
    assert status == 200
    assert headers["Connection"] == "close"  # the client is told not to reuse the connection
    assert b"\npf_running 1.0\n" in body and b"pf_scrape_collector_success{collector=\"states\"} 1.0" in body
    assert e.wait() == 0, e.log
    assert e.lines[-1].endswith("level=info msg=stopped")
    assert "level=warn msg=\"scrapes still running" not in e.log


def test_idle_keep_alive_connections_are_closed_at_shutdown(exporters) -> None:
    e = exporters()
    with socket.create_connection(("127.0.0.1", e.port), timeout=WAIT) as sock:
        sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200
        e.signal(signal.SIGTERM)
        assert sock.recv(1) == b""  # end of file: the exporter closed the idle connection
    assert e.wait() == 0, e.log


# --- SIGHUP -----------------------------------------------------------------------------------------


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        cwd=directory, check=True, capture_output=True, timeout=60)
    return directory / f"{name}.pem", directory / f"{name}.key"


def install(src: Path, dst: Path) -> None:
    """Replace dst by rename, as acme-client and certbot do."""
    tmp = dst.with_suffix(".new")
    shutil.copy(src, tmp)
    os.replace(tmp, dst)


def users(password: str) -> str:
    return f"basic_auth_users:\n  alice: '{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}'\n"


TLS = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"


def test_sighup_reloads_users_and_certificate_on_the_same_listener(tmp_path: Path, exporters) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl(1) is needed to make test certificates")
    certs = {name: make_cert(tmp_path, name) for name in ("first", "second")}
    conf = tmp_path / "conf"
    conf.mkdir()
    install(certs["first"][0], conf / "server.pem")
    install(certs["first"][1], conf / "server.key")
    web = conf / "web.yml"
    web.write_text(TLS + users("one"))
    e = exporters("--web.config.file", str(web))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE

    def connect() -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", e.port, timeout=WAIT, context=ctx)

    def served_cert(conn: http.client.HTTPSConnection) -> bytes:
        assert conn.sock is not None
        return conn.sock.getpeercert(binary_form=True)

    def status(conn: http.client.HTTPSConnection, password: str) -> int:
        conn.request("GET", "/-/healthy", headers={"Authorization": basic("alice", password)})
        r = conn.getresponse()
        r.read()
        return r.status

    def der(name: str) -> bytes:
        return ssl.PEM_cert_to_DER_cert(certs[name][0].read_text())

    kept = connect()
    assert status(kept, "one") == 200
    assert served_cert(kept) == der("first")

    install(certs["second"][0], conf / "server.pem")
    install(certs["second"][1], conf / "server.key")
    web.write_text(TLS + users("two"))
    e.signal(signal.SIGHUP)
    e.wait_log('msg="web config reloaded"')

    fresh = connect()
    assert (status(fresh, "one"), status(fresh, "two")) == (401, 200)
    assert served_cert(fresh) == der("second")  # new connections get the new certificate
    assert status(kept, "two") == 200  # the connection opened before the reload still works
    assert served_cert(kept) == der("first")

    web.write_text("basic_auth_users: {alice: plaintext}\n")  # a broken edit ...
    e.signal(signal.SIGHUP)
    e.wait_log('msg="web config not reloaded, keeping the previous one"')
    again = connect()
    assert status(again, "two") == 200  # ... leaves the exporter serving the last good config
    for conn in (kept, fresh, again):
        conn.close()

    e.signal(signal.SIGTERM)
    assert e.wait() == 0, e.log
    assert sum("msg=listening" in line for line in e.lines) == 1  # the listener was never re-created


def reload_gauges(port: int, password: str) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("GET", "/metrics?collect[]=status", headers={"Authorization": basic("alice", password)})
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    values = {line.split()[0]: float(line.split()[1]) for line in body.splitlines()
              if line.startswith("pf_exporter_config_last_reload")}
    return (values["pf_exporter_config_last_reload_successful"],
            values["pf_exporter_config_last_reload_success_timestamp_seconds"])


@pytest.mark.parametrize("edit", ["", "# nothing here\n",
                                  "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"])
def test_a_reload_never_turns_basic_auth_off_and_says_so_in_the_metrics(tmp_path: Path, exporters,
                                                                       edit: str) -> None:
    web = tmp_path / "web.yml"
    web.write_text(users("one"))
    e = exporters("--web.config.file", str(web))
    assert reload_gauges(e.port, "one")[0] == 1
    started = reload_gauges(e.port, "one")[1]
    web.write_text(edit)  # emptied, or rewritten without basic_auth_users
    e.signal(signal.SIGHUP)
    e.wait_log('msg="web config not reloaded, keeping the previous one"')
    assert "turns basic auth off" in e.log and "restart" in e.log
    conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=WAIT)
    conn.request("GET", "/metrics")
    assert conn.getresponse().status == 401  # still protected
    conn.close()
    assert reload_gauges(e.port, "one") == (0, started)
    web.write_text(users("two"))
    time.sleep(0.01)
    e.signal(signal.SIGHUP)
    e.wait_log('msg="web config reloaded"')
    ok, when = reload_gauges(e.port, "two")
    assert ok == 1 and when > started


# --- as root: --run-as, and a plain user ------------------------------------------------------------


def runs_as(user: str) -> bool:
    """Whether ``user`` may execute this interpreter and read the project (not so under a 0700 home)."""
    try:
        subprocess.run([sys.executable, "-c", "import pf_exporter"], user=user, check=True, capture_output=True,
                       timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def proc_ids(pid: int) -> tuple[list[int], list[int]]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    uid = next(line for line in status if line.startswith("Uid:")).split()[1:]
    gid = next(line for line in status if line.startswith("Gid:")).split()[1:]
    return [int(x) for x in uid], [int(x) for x in gid]


needs_root_on_linux = pytest.mark.skipif(os.geteuid() != 0 or not Path("/proc/self/status").exists(),
                                         reason="needs root (to drop) and /proc")


@needs_root_on_linux
def test_a_root_owned_token_file_touched_after_the_drop_keeps_the_tokens_and_says_so(exporters) -> None:
    conf = Path(tempfile.mkdtemp(prefix="pf_exporter-test-"))
    token = "t0k3n-" + "9f8e7d6c5b4a3210" * 2
    try:
        conf.chmod(0o755)
        tokens = conf / "admin.tokens"
        tokens.write_text(f"deploy:{token}\n")
        tokens.chmod(0o600)  # root's: nobody cannot read it after the drop
        port = free_port()
        e = exporters("--run-as", "nobody", "--admin.listen-address", f"127.0.0.1:{port}",
                      "--admin.token-file", str(tokens))

        def status() -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
            try:
                conn.request("GET", "/api/v1/status", headers={"Authorization": f"Bearer {token}"})
                return conn.getresponse().status
            finally:
                conn.close()

        assert status() == 200
        os.utime(tokens)  # touched (or replaced by an editor): it changed, and cannot be re-read
        assert status() == 200  # not locked out
        e.wait_log("admin token file changed but cannot be read as the exporter's user; keeping the 1 tokens")
        e.signal(signal.SIGHUP)
        assert status() == 200
        e.signal(signal.SIGTERM)
        assert e.wait() == 0, e.log
    finally:
        shutil.rmtree(conf)


@needs_root_on_linux
def test_run_as_nobody_serves_reloads_and_stops_without_root(exporters) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    conf = Path(tempfile.mkdtemp(prefix="pf_exporter-test-"))
    try:
        conf.chmod(0o755)
        web = conf / "web.yml"
        web.write_text("http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
        web.chmod(0o644)
        e = exporters("--run-as", "nobody", "--web.config.file", str(web))
        assert proc_ids(e.proc.pid) == ([nobody.pw_uid] * 4, [nobody.pw_gid] * 4)  # real, effective, saved, fs
        assert "level=warn" not in e.log
        conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=WAIT)
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        assert r.status == 200 and b"\npf_running 1.0\n" in r.read()
        conn.close()
        web.write_text("http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n")
        e.signal(signal.SIGHUP)
        e.wait_log('msg="web config reloaded"')  # re-read as nobody
        e.signal(signal.SIGTERM)
        assert e.wait() == 0, e.log
    finally:
        shutil.rmtree(conf)


@needs_root_on_linux
def test_quick_start_as_a_plain_user(exporters) -> None:
    """README quick start `pf_exporter --simulate`, started by a user who is not root."""
    if not runs_as("nobody"):
        pytest.skip("user nobody cannot run this Python (it lives in a private directory)")
    e = exporters(user="nobody")
    assert "level=warn" not in e.log and "uid=65534" in e.log
    e.signal(signal.SIGTERM)
    assert e.wait() == 0, e.log


# --- in-process: a rule walk under way at shutdown --------------------------------------------------


class HeldWalk:
    """A simulated pf whose next DIOCGETRULE waits until released: a scrape stopped mid-walk."""

    def __init__(self) -> None:
        self.sim = Simulator("small", release="7.9")
        self.handle = PacketFilter.from_device(Device(self.sim.abi, self.sim.open(False)), self.sim)
        self.device = self.handle.backend.device
        self.inside, self.release = threading.Event(), threading.Event()
        self.sim.hook("DIOCGETRULE", lambda sim: (self.inside.set(), self.release.wait(WAIT)))

    def pf(self) -> cli.Pf:
        return cli.Pf(self.handle, ExporterInfo("7.9", "amd64", frozenset({"limiters"})),
                      close=lambda: cli.close_handle(self.handle))

    @property
    def tickets(self) -> int:
        return self.device.transport.open_tickets


def scrape_in_thread(service: cli.Service) -> tuple[threading.Thread, list[tuple[int, bytes]]]:
    host, port = service.server.addresses[0]
    result: list[tuple[int, bytes]] = []

    def scrape() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=WAIT)
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        result.append((r.status, r.read()))
        conn.close()

    t = threading.Thread(target=scrape)
    t.start()
    return t, result


def build(pf: cli.Pf) -> cli.Service:
    args = cli.build_parser().parse_args(
        ["--web.listen-address", "127.0.0.1:0", "--collector.disable-defaults", "--collector.rules"])
    service = cli.build_service(args, pf=pf)
    service.server.poll_interval = 0.01
    service.server.start()
    return service


def test_shutdown_waits_for_a_rule_walk_then_its_ticket_is_released_and_pf_closed() -> None:
    held = HeldWalk()
    service = build(held.pf())
    scraper, result = scrape_in_thread(service)
    assert held.inside.wait(WAIT)
    assert held.tickets == 1  # the walk holds its DIOCGETRULES ticket

    closer = threading.Thread(target=service.close, kwargs={"drain_timeout": WAIT})
    closer.start()
    host, port = service.server.addresses[0]

    def refused() -> bool:
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError:
            return True
        return False

    wait_until(refused, "the listener to close")
    assert closer.is_alive() and not held.device.transport.closed  # pf stays open for the scrape
    held.release.set()
    closer.join(WAIT)
    scraper.join(WAIT)
    assert not closer.is_alive()
    [(status, body)] = result
    assert status == 200 and b'pf_scrape_collector_success{collector="rules"} 1.0' in body
    assert held.tickets == 0  # DIOCXEND was sent
    assert held.device.transport.closed


def test_shutdown_is_bounded_when_a_scrape_does_not_finish(monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(cli, "PF_CLOSE_TIMEOUT", 0.05)
    held = HeldWalk()
    service = build(held.pf())
    scraper, result = scrape_in_thread(service)
    try:
        assert held.inside.wait(WAIT)
        service.close(drain_timeout=0.05)  # returns although the scrape is still inside pf
        messages = [r.getMessage() for r in caplog.records]
        assert "scrapes still running at exit" in messages
        assert any("descriptor is closed at exit" in m for m in messages)
    finally:
        held.release.set()
        scraper.join(WAIT)
    assert held.tickets == 0  # the walk still ended with its DIOCXEND


def test_idle_tls_connections_are_closed_at_shutdown_too(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl(1) is needed to make a test certificate")
    make_cert(tmp_path, "server")
    web = tmp_path / "web.yml"
    web.write_text(TLS)
    args = cli.build_parser().parse_args(
        ["--web.listen-address", "127.0.0.1:0", "--collector.disable-defaults", "--web.config.file", str(web)])
    service = cli.build_service(args, pf=HeldWalk().pf())
    service.server.poll_interval = 0.01
    service.server.start()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    host, port = service.server.addresses[0]
    conn = http.client.HTTPSConnection(host, port, timeout=WAIT, context=ctx)
    conn.request("GET", "/-/healthy")
    assert conn.getresponse().read() == b"Healthy\n"
    service.close(drain_timeout=WAIT)  # returns at once: the connection is idle
    assert conn.sock is not None
    try:
        data = conn.sock.recv(1)
    except (ssl.SSLError, ConnectionError):
        data = b""
    assert data == b""  # the server ended the connection
    conn.close()


# --- a signal the kernel hands to another thread ----------------------------------------------------


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="needs the main thread")
def test_signals_delivered_to_a_listener_thread_still_reach_the_main_loop(
        monkeypatch: pytest.MonkeyPatch, restore_root_logger: None) -> None:
    """The kernel may give a process's signal to any of its threads; Python runs the handler in
    the main thread only, so the main thread must be woken (the wakeup fd) or it waits forever."""
    control = cli.Control()
    reloaded, done = threading.Event(), threading.Event()
    real_reload = cli.Service.reload

    def reload(self: cli.Service) -> bool:
        reloaded.set()
        return real_reload(self)

    monkeypatch.setattr(cli.Service, "reload", reload)
    problems: list[str] = []

    earlier = {t.ident for t in threading.enumerate()}  # listener threads other tests may have left ending

    def listener_thread() -> threading.Thread | None:
        return next((t for t in threading.enumerate() if t.name.startswith("http-") and t.ident not in earlier),
                    None)

    def send() -> None:
        try:
            wait_until(lambda: listener_thread() is not None, "the listener thread")
            thread = listener_thread()
            assert thread is not None and thread.ident is not None
            signal.pthread_kill(thread.ident, signal.SIGHUP)
            if not reloaded.wait(WAIT):
                problems.append("SIGHUP sent to the listener thread did not reload")
            signal.pthread_kill(thread.ident, signal.SIGTERM)
            if not done.wait(WAIT):
                problems.append("SIGTERM sent to the listener thread did not stop the exporter")
        finally:
            control.request_stop("rescue")  # never leave the test hanging

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    hardening = cli.Hardening(euid=1000, sysname="Linux", chdir=lambda path: None)
    try:
        code = cli.main(["--simulate", "--web.listen-address", "127.0.0.1:0"], control=control, hardening=hardening)
    finally:
        done.set()
        sender.join(WAIT)
        control.close()
    assert problems == []
    assert code == 0 and control.stop_reason == "SIGTERM"
