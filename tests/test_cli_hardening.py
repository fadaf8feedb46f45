"""Start-up through the command line: pf opened, config read and listeners bound as root, then
chdir("/"), the privilege drop and (on OpenBSD) unveil/pledge, in that order.

The credential calls (FakeKernel) and libc's unveil/pledge (FakeLibc) are injected through
``cli.Hardening``, and every step records itself into one list, so the order across steps
is checked without being root or on OpenBSD.  The control is told to stop before start-up,
so ``cli.main`` starts, stops at once and returns its exit status.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import syslog as real_syslog
from pathlib import Path
from typing import Any

import pytest
from support.fakeos import PF_GID, PF_UID, FakeKernel, FakeLibc, FakeSyslog

from pf_exporter import cli, logsetup, openbsd, privsep
from pf_exporter.device import Device

pytestmark = pytest.mark.usefixtures("restore_root_logger")  # conftest: handlers added here go away


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate and key for 127.0.0.1, made with openssl(1)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl(1) is needed to make a test certificate")
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "server.key", "-out", "server.pem", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        cwd=d, check=True, capture_output=True, timeout=60)
    return d


class Recorder:
    """Wraps the CLI's start-up steps so each appends to ``events`` (shared with the fakes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.pf: cli.Pf | None = None
        self.servers: list[Any] = []
        real_open, real_load, real_server = cli.open_pf, cli.load_web_config, cli.MetricsServer

        def open_pf(args: Any, **kw: Any) -> cli.Pf:
            self.pf = real_open(args, **kw)
            self.events.append(("open_pf", kw.get("writable", False)))
            return self.pf

        def load_web_config(path: str) -> Any:
            self.events.append(("load_web_config", path))
            return real_load(path)

        def metrics_server(addresses: Any, app: Any, **kwargs: Any) -> Any:
            server = real_server(addresses, app, poll_interval=0.01, **kwargs)  # quick shutdown
            self.servers.append(server)
            self.events.append(("bind", tuple(addresses)))
            return server

        monkeypatch.setattr(cli, "open_pf", open_pf)
        monkeypatch.setattr(cli, "load_web_config", load_web_config)
        monkeypatch.setattr(cli, "MetricsServer", metrics_server)

    def names(self) -> list[str]:
        return [e[0] for e in self.events]

    def index(self, *event: Any) -> int:
        return self.events.index(event)

    @property
    def device(self) -> Device:
        assert self.pf is not None
        return self.pf.source.backend.device


def hardening(rec: Recorder, kernel: FakeKernel | None = None, libc: FakeLibc | None = None,
              **kw: Any) -> cli.Hardening:
    if kernel is not None:
        kernel.calls = rec.events  # the fake kernel appends its calls to the shared list
    if libc is not None:
        libc.calls = rec.events
    return cli.Hardening(
        syscalls=kernel.syscalls() if kernel is not None else None,
        libc=libc,
        chdir=lambda path: rec.events.append(("chdir", path)),
        **kw,
    )


def start(*argv: str, h: cli.Hardening) -> int:
    control = cli.Control()
    control.request_stop("test")  # start, then stop at once
    try:
        return cli.main(["--simulate", "--web.listen-address", "127.0.0.1:0", *argv], control=control, hardening=h)
    finally:
        control.close()


def web_config(directory: Path, certs: Path | None = None) -> Path:
    f = directory / "web.yml"
    text = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    if certs is not None:
        for name in ("server.pem", "server.key"):
            shutil.copy(certs / name, directory / name)
        text += "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
    f.write_text(text)
    return f


# --- the whole sequence -----------------------------------------------------------------------------


def test_root_on_openbsd_opens_everything_then_drops_to_pf_exporter_then_unveils(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    web_config(tmp_path, certs)
    monkeypatch.chdir(tmp_path)  # --web.config.file given relative, as a user might
    rec = Recorder(monkeypatch)
    kernel, libc = FakeKernel(), FakeLibc()
    h = hardening(rec, kernel, libc, euid=0, sysname="OpenBSD")

    assert start("--web.config.file", "web.yml", h=h) == 0

    web, cert, key = (str(tmp_path / n) for n in ("web.yml", "server.pem", "server.key"))
    # As root: the config (with its TLS files) is read, pf opened read-only, the listener bound ...
    assert rec.events[:3] == [("load_web_config", web), ("open_pf", False), ("bind", ("127.0.0.1:0",))]
    # ... then the working directory, then the credentials in the one safe order, proven final ...
    assert rec.events[3:10] == [
        ("chdir", "/"),
        ("getpwnam", "_pf_exporter"),
        ("setgroups", [PF_GID]),
        ("setgid", PF_GID),
        ("setuid", PF_UID),
        ("setuid", 0),  # verify: root cannot be regained (the fake kernel refuses)
        ("setgid", 0),
    ]
    assert kernel.ids == (PF_UID,) * 3 + (PF_GID,) * 3 and kernel.groups == [PF_GID]
    # ... and last the sandbox: every file SIGHUP re-reads, read-only, then the lock, then pledge.
    sandbox = rec.events[rec.names().index("unveil"):]
    assert set(rec.names()[rec.index("setgid", 0) + 1:]) == {"unveil", "pledge"}
    unveiled = [(a.decode(), b.decode()) for name, a, b in sandbox if name == "unveil" and a is not None]
    assert unveiled[:3] == [(web, "r"), (cert, "r"), (key, "r")]
    assert all(perms == "r" for _, perms in unveiled)
    assert sandbox[-2:] == [("unveil", None, None), ("pledge", None, b"")]

    err = capsys.readouterr().err
    assert 'msg="dropped privileges" user=_pf_exporter uid=871 gid=871' in err
    assert "unveil(2) locked" in err and f"reloadable={web},{cert},{key}" in err
    assert "sandboxed=true" in err and "uid=871" in err
    assert "level=warn" not in err


def test_writable_pf_is_opened_before_the_drop_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin API's second descriptor: opened O_RDWR with the read-only one, closed with it."""
    pf = cli.open_pf(cli.build_parser().parse_args(["--simulate"]), writable=True)
    assert pf.writable is not None and pf.writable.writable
    assert not pf.source.backend.device.transport.writable
    pf.close()
    assert pf.writable.backend.device.transport.closed and pf.source.backend.device.transport.closed


# --- every failure stops start-up with one line -----------------------------------------------------


FAILURES = {
    "unknown user": (["--run-as", "nosuch"], {}, (),
                     "cannot drop privileges to user 'nosuch': getpwnam: no such user; create it with `useradd"),
    "setgroups": ([], {"setgroups": errno.EPERM}, (),
                  "setgroups: setgroups([871]) failed: Operation not permitted; only root can switch users"),
    "setgid": ([], {"setgid": errno.EPERM}, (), "setgid: setgid(871) failed: Operation not permitted"),
    "setuid": ([], {"setuid": errno.EAGAIN}, (), "setuid: setuid(871) failed: Resource temporarily unavailable"),
    "verify": ([], {}, ("root_regainable",), "verify: setuid(0) succeeded after the drop, so root could be regained"),
}


@pytest.mark.parametrize("case", FAILURES)
def test_a_failing_drop_step_aborts_start_up_with_one_line_and_closes_everything(
        case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    argv, fail, quirks, message = FAILURES[case]
    rec = Recorder(monkeypatch)
    libc = FakeLibc()
    h = hardening(rec, FakeKernel(fail=fail, quirks=quirks), libc, euid=0, sysname="OpenBSD")

    assert start(*argv, h=h) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("pf_exporter: cannot drop privileges to user ") and message in err[-1]
    assert [line for line in err if line.startswith("pf_exporter:")] == [err[-1]]
    assert "unveil" not in rec.names() and "pledge" not in rec.names()  # nothing after a failed step
    assert not any("msg=listening" in line for line in err)
    assert rec.device.transport.closed
    assert all(s.socket.fileno() == -1 for server in rec.servers for s in server.servers)


@pytest.mark.parametrize(("where", "fails", "message"), [
    ("unveil", lambda web: {("unveil", os.fsencode(web)): errno.ENOENT},
     "pf_exporter: cannot sandbox: unveil('{web}', 'r') failed: No such file or directory"),
    ("lock", lambda web: {("unveil", None): errno.EPERM}, "pf_exporter: cannot sandbox: unveil(NULL, NULL) failed"),
    ("pledge", lambda web: {("pledge", None): errno.EINVAL}, "pf_exporter: cannot sandbox: pledge(NULL, '') failed"),
])
def test_a_failing_sandbox_call_aborts_start_up(where: str, fails: Any, message: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    web = str(web_config(tmp_path))
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(), FakeLibc(fail=fails(web)), euid=0, sysname="OpenBSD")
    assert start("--web.config.file", web, h=h) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(message.format(web=web))
    assert rec.device.transport.closed


def test_chdir_failure_aborts_start_up(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(), FakeLibc(), euid=0, sysname="OpenBSD")

    def refuse(path: str) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    h.chdir = refuse
    assert start(h=h) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "pf_exporter: cannot change directory to /: Permission denied"
    assert "getpwnam" not in rec.names()


def test_run_as_root_without_being_root_fails_before_pf_is_opened(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(uid=1000, gid=1000, groups=(1000,)), FakeLibc(), euid=1000, sysname="OpenBSD")
    assert start("--run-as", "root", h=h) == 1
    assert capsys.readouterr().err.strip() == (
        "pf_exporter: --run-as root: pf_exporter was not started as root; start it as root or drop the flag")
    assert rec.events == []


# --- the policy, through the CLI --------------------------------------------------------------------


def no_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: Any, **kw: Any) -> None:
        raise AssertionError("unveil/pledge must not be called off OpenBSD")

    monkeypatch.setattr(openbsd, "Sandbox", refuse)


def test_root_off_openbsd_without_run_as_serves_as_root_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`pf_exporter --simulate` as root in a container: it starts, and says how to drop."""
    no_sandbox(monkeypatch)
    rec = Recorder(monkeypatch)
    kernel = FakeKernel()
    h = hardening(rec, kernel, euid=0, sysname="Linux")
    assert start(h=h) == 0
    assert not {"getpwnam", "setgroups", "setgid", "setuid"} & set(rec.names())
    assert kernel.ids == (0,) * 6
    err = capsys.readouterr().err
    assert 'level=warn msg="running as root: pass --run-as USER' in err
    assert "sandboxed=false" in err


def test_run_as_off_openbsd_drops_but_skips_unveil_while_still_planning_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no_sandbox(monkeypatch)
    conf = tmp_path / "conf"
    conf.mkdir()
    web_config(conf, certs)
    (conf / "current.pem").symlink_to(conf / "server.pem")
    (conf / "web.yml").write_text("tls_server_config:\n  cert_file: current.pem\n  key_file: server.key\n")
    monkeypatch.chdir(tmp_path)
    rec = Recorder(monkeypatch)
    kernel = FakeKernel()
    h = hardening(rec, kernel, euid=0, sysname="Linux")

    assert start("--web.config.file", "conf/web.yml", "--run-as", "www", h=h) == 0

    assert kernel.ids == (67,) * 6
    [plan] = h.plans
    rules = {r.path: r.permissions for r in plan.unveil}
    for name in ("web.yml", "current.pem", "server.pem", "server.key"):  # the link under both names
        assert rules[str(conf / name)] == "r"
    assert all(os.path.isabs(p) for p in rules) and set(rules.values()) == {"r"}
    assert set(openbsd.python_library_paths()) <= set(rules)
    assert (plan.promises, plan.execpromises) == (None, "")
    err = capsys.readouterr().err
    assert 'msg="dropped privileges" user=www uid=67 gid=67' in err and "sandboxed=false" in err


def test_explicit_run_as_root_keeps_root_on_openbsd_with_a_warning_and_still_sandboxes(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    rec = Recorder(monkeypatch)
    kernel, libc = FakeKernel(), FakeLibc()
    h = hardening(rec, kernel, libc, euid=0, sysname="OpenBSD")
    assert start("--run-as", "root", h=h) == 0
    assert kernel.ids == (0,) * 6 and "getpwnam" not in rec.names()
    assert rec.events[-1] == ("pledge", None, b"")
    assert 'level=warn msg="running as root because --run-as root was given' in capsys.readouterr().err


def test_not_root_and_no_flag_keeps_the_user_quietly(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    no_sandbox(monkeypatch)
    rec = Recorder(monkeypatch)
    kernel = FakeKernel(uid=1000, gid=1000, groups=(1000,))
    assert start(h=hardening(rec, kernel, euid=1000, sysname="Linux")) == 0
    assert [e for e in rec.events if e[0] in ("getpwnam", "setuid")] == []
    assert "level=warn" not in capsys.readouterr().err


def test_reload_files_the_dropped_user_cannot_read_are_named_with_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    web = web_config(tmp_path, certs)
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(), FakeLibc(), euid=0, sysname="OpenBSD",
                  access=lambda path, mode: not path.endswith(".key"))
    assert start("--web.config.file", str(web), h=h) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "level=warn" in line]
    key = tmp_path / "server.key"
    assert len(warnings) == 1
    assert f"file={key} user=_pf_exporter" in warnings[0]
    assert f'fix="chgrp {cli._group_name(PF_GID)} {key} && chmod g+r {key}' in warnings[0]


# --- logging ----------------------------------------------------------------------------------------


def test_log_syslog_sends_the_log_and_start_up_errors_to_syslog_daemon(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeSyslog()
    real_setup = logsetup.setup_logging
    monkeypatch.setattr(logsetup, "setup_logging",
                        lambda level, fmt, syslog=False: real_setup(level, fmt, syslog, syslog_module=fake))
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(), FakeLibc(), euid=0, sysname="OpenBSD")

    assert start("--log.syslog", "--run-as", "nosuch", h=h) == 1

    assert fake.opened == [("pf_exporter", real_syslog.LOG_PID | real_syslog.LOG_NDELAY, real_syslog.LOG_DAEMON)]
    priority, message = fake.sent[-1]
    assert priority == real_syslog.LOG_DAEMON | real_syslog.LOG_ERR
    assert message.startswith('level=error msg="cannot start" err="cannot drop privileges to user')
    assert "ts=" not in message  # syslogd stamps the time
    # stderr still gets the one line (rc.d's daemon_logger, or a terminal)
    assert capsys.readouterr().err.startswith("pf_exporter: cannot drop privileges")


@pytest.mark.parametrize("writable", [False, True])
def test_pf_device_stays_visible_to_be_reopened_at_securelevel_2(monkeypatch: pytest.MonkeyPatch,
                                                                  writable: bool) -> None:
    """At securelevel > 1 the device renews its descriptor by opening the path again: unveil
    must leave it visible (read-write only when the admin API has a read-write descriptor)."""
    rec = Recorder(monkeypatch)
    h = hardening(rec, FakeKernel(), FakeLibc(), euid=1000, sysname="OpenBSD")
    args = cli.build_parser().parse_args(["--simulate", "--web.listen-address", "127.0.0.1:0",
                                          "--pf.device", "/dev/pf"])
    service = cli.build_service(args, writable=writable)
    try:
        service.args.simulate = False  # as on OpenBSD, where the descriptors come from --pf.device
        cli.harden(service, privsep.RunAs(None), h)
    finally:
        service.close()
    unveiled = [(e[1].decode(), e[2].decode()) for e in rec.events if e[0] == "unveil" and e[1] is not None]
    assert ("/dev/pf", "rw" if writable else "r") in unveiled
