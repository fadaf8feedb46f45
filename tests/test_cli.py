"""The command line: flags in node_exporter's style, and start-up errors as one clear line."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.fakepf import FakePf

from pf_exporter import cli
from pf_exporter.collectors import COLLECTORS
from pf_exporter.exporter import ExporterInfo
from pf_exporter.web import DEFAULT_PORT

DEFAULT_ON = [n for n, c in COLLECTORS.items() if c.default_enabled]


def parse(*argv: str):
    return cli.build_parser().parse_args(list(argv))


def test_default_collectors_are_all_but_states() -> None:
    assert cli.enabled_collectors(parse()) == DEFAULT_ON
    assert "states" not in DEFAULT_ON and "rules" in DEFAULT_ON


def test_collector_switches() -> None:
    assert "states" in cli.enabled_collectors(parse("--collector.states"))
    assert "tables" not in cli.enabled_collectors(parse("--no-collector.tables"))
    assert cli.enabled_collectors(parse("--collector.disable-defaults", "--collector.status")) == ["status"]
    assert cli.enabled_collectors(parse("--collector.disable-defaults")) == []


def test_flag_defaults() -> None:
    a = parse()
    assert a.listen is None and cli.DEFAULT_LISTEN_ADDRESS == f":{DEFAULT_PORT}"
    assert a.telemetry_path == "/metrics"
    assert a.device == "/dev/pf"
    assert a.scenario == "small" and not a.simulate and a.state_fill is None
    assert (a.log_level, a.log_format, a.log_syslog) == ("info", "logfmt", False)
    assert a.run_as is None
    assert not a.per_rule
    a = parse("--web.listen-address", "127.0.0.1:1", "--web.listen-address=[::1]:2", "--simulate.state-fill=0.85")
    assert a.listen == ["127.0.0.1:1", "[::1]:2"]
    assert a.state_fill == 0.85
    a = parse("--run-as=_pf_exporter", "--log.syslog")
    assert (a.run_as, a.log_syslog) == ("_pf_exporter", True)


def test_default_port_is_outside_the_allocated_exporter_range() -> None:
    assert DEFAULT_PORT >= 10000


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "lots"])
def test_state_fill_must_be_a_fraction(bad: str, capsys) -> None:
    with pytest.raises(SystemExit):
        parse("--simulate.state-fill", bad)
    assert "--simulate.state-fill" in capsys.readouterr().err


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        parse("--version")
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("pf_exporter ")


def test_the_version_is_the_installed_distributions() -> None:
    import importlib.metadata

    import pf_exporter

    assert pf_exporter.__version__ == importlib.metadata.version("pf_exporter")


def test_an_exporter_without_admin_or_web_config_does_not_load_them() -> None:
    # the admin API, the ruleset compiler and the YAML parser cost memory only when used
    code = ("import sys, pf_exporter.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('yaml', 'pf_exporter.ruleset', "
            "'pf_exporter.admin.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}).stdout
    assert out.strip() == "['pf_exporter.admin.flags']"


def pf_exporter(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    return subprocess.run([sys.executable, "-m", "pf_exporter", *argv], capture_output=True, text=True,
                          timeout=60, env=env)


def one_line_error(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 1, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("pf_exporter: ")
    return lines[0]


@pytest.mark.skipif(os.uname().sysname == "OpenBSD", reason="checks the message off OpenBSD")
def test_no_dev_pf(tmp_path: Path) -> None:
    line = one_line_error(pf_exporter("--pf.release", "7.9", "--pf.device", str(tmp_path / "pf")))
    assert "No such file" in line and "--pf.device" in line and "--simulate" in line


@pytest.mark.skipif(os.uname().sysname == "OpenBSD", reason="detection works there")
def test_release_cannot_be_detected_off_openbsd() -> None:
    line = one_line_error(pf_exporter("--web.listen-address", "127.0.0.1:0"))
    assert "--pf.release" in line and "--simulate" in line


def test_unsupported_release() -> None:
    line = one_line_error(pf_exporter("--pf.release", "6.9"))
    assert "unsupported OpenBSD release 6.9" in line and "--pf.release" in line


def test_permission_denied(monkeypatch, tmp_path: Path) -> None:
    device = tmp_path / "pf"
    device.touch()
    real_open = os.open

    def refusing_open(path, *a, **kw):
        if str(path) == str(device):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(cli.StartupError, match="Permission denied.*start as root, or give the user read access"):
        cli.open_pf(parse("--pf.release", "7.9", "--pf.device", str(device)))


def test_bad_web_config(tmp_path: Path) -> None:
    f = tmp_path / "web.yml"
    f.write_text("basic_auth_users:\n  alice: plaintext\n")
    line = one_line_error(pf_exporter("--simulate", "--web.config.file", str(f)))
    assert "web.yml" in line and "not a bcrypt hash" in line


def test_a_bcrypt_cost_of_31_is_refused_at_start_up_instead_of_hanging_it(tmp_path: Path) -> None:
    f = tmp_path / "web.yml"
    f.write_text("basic_auth_users:\n  alice: '$2b$31$" + "C" * 21 + "e" + "C" * 31 + "'\n")
    line = one_line_error(pf_exporter("--simulate", "--web.config.file", str(f)))  # (days if it were hashed)
    assert "bcrypt cost 31 is outside 4..14" in line


def test_bad_listen_address() -> None:
    with pytest.raises(cli.StartupError, match="invalid --web.listen-address"):
        cli.build_service(parse("--web.listen-address", "nope"), pf=fake_pf())


def test_bad_telemetry_path() -> None:
    with pytest.raises(cli.StartupError, match="--web.telemetry-path"):
        cli.build_service(parse("--web.telemetry-path", "metrics"), pf=fake_pf())


def fake_pf() -> cli.Pf:
    return cli.Pf(FakePf(), ExporterInfo("7.9", "amd64", frozenset({"limiters"})))


def test_run_serves_until_stopped() -> None:
    """The whole path: flags -> service -> HTTP, stopped the way SIGTERM stops it."""
    args = parse("--web.listen-address", "127.0.0.1:0", "--collector.states", "--collector.rules.per-rule")
    service = cli.build_service(args, pf=fake_pf())
    service.server.start()
    try:
        host, port = service.server.addresses[0]
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        conn.close()
        assert 'pf_scrape_collector_success{collector="states"} 1.0' in body
        assert "pf_rule_evaluations_total{" in body
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/metrics?collect[]=states")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        service.close()


def test_run_returns_zero_when_stopped(monkeypatch) -> None:
    monkeypatch.setattr(cli, "open_pf", lambda args, **kw: fake_pf())
    control = cli.Control()
    result: list[int] = []
    # Not root (so nothing to drop) and no chdir: this runs inside the test process.
    hardening = cli.Hardening(euid=1000, sysname="Linux", chdir=lambda path: None)
    t = threading.Thread(target=lambda: result.append(
        cli.run(parse("--web.listen-address", "127.0.0.1:0"), control, hardening)))
    t.start()
    control.request_stop()
    t.join(30)
    control.close()
    assert result == [0]


def test_reload_rereads_the_web_config_and_keeps_the_old_one_when_bad(tmp_path: Path) -> None:
    import base64

    import bcrypt

    f = tmp_path / "web.yml"

    def users(password: bytes) -> str:
        return f"basic_auth_users:\n  alice: '{bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode()}'\n"

    def status(password: str) -> int:
        host, port = service.server.addresses[0]
        conn = http.client.HTTPConnection(host, port, timeout=10)
        auth = base64.b64encode(f"alice:{password}".encode()).decode()
        conn.request("GET", "/-/healthy", headers={"Authorization": f"Basic {auth}"})
        code = conn.getresponse().status
        conn.close()
        return code

    f.write_text(users(b"one"))
    service = cli.build_service(parse("--web.listen-address", "127.0.0.1:0", "--web.config.file", str(f)),
                                pf=fake_pf())
    service.server.start()
    try:
        assert status("one") == 200
        f.write_text(users(b"two"))
        assert service.reload()
        assert (status("one"), status("two")) == (401, 200)
        f.write_text("basic_auth_users: {alice: plain}\n")
        assert not service.reload()
        assert status("two") == 200
    finally:
        service.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_simulate_serves_a_filled_state_table_and_stops_on_sigterm() -> None:
    """The command the dashboards' end-to-end test runs."""
    import re
    import signal
    import time
    import urllib.request

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pf_exporter", "--simulate", "--simulate.scenario", "small",
         "--simulate.state-fill", "0.85", "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        body = ""
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    body = r.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.1)
        used = float(re.search(r'^pf_limit_used\{limit="states"\} (\S+)$', body, re.M).group(1))
        limit = float(re.search(r'^pf_limit\{limit="states"\} (\S+)$', body, re.M).group(1))
        assert 0.80 <= used / limit <= 0.90
        assert 'pf_exporter_build_info{abi="7.9/amd64"' in body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "level=info msg=listening address=127.0.0.1:" in err
    assert 'msg="shutting down"' in err


def test_tune_runtime_freezes_start_up_objects_raises_the_young_threshold_and_shortens_gil_turns() -> None:
    import subprocess
    import sys

    code = ("import gc; from pf_exporter import cli; cli.tune_runtime(); "
            "assert gc.get_threshold() == cli.GC_THRESHOLD, gc.get_threshold(); assert gc.get_freeze_count() > 0; "
            "import sys; assert abs(sys.getswitchinterval() - cli.SWITCH_INTERVAL) < 1e-6")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(("argv", "line"), [
    (["--bogus"], "pf_exporter: unknown flag --bogus; see pf_exporter --help"),
    (["--collector.rule"], "pf_exporter: unknown flag --collector.rule (did you mean --collector.rules?); "
                           "see pf_exporter --help"),
    (["--web.listen-address"], "pf_exporter: argument --web.listen-address: expected one argument; "
                               "see pf_exporter --help"),
    (["--web.max-connections", "x"], "pf_exporter: argument --web.max-connections: 'x' is not a whole number; "
                                     "give one such as 64; see pf_exporter --help"),
])
def test_a_bad_flag_is_one_line_naming_it_and_help(argv: list[str], line: str) -> None:
    p = pf_exporter(*argv)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.splitlines() == [line]


def test_an_unsupported_release_lists_the_supported_ones() -> None:
    line = one_line_error(pf_exporter("--simulate", "--pf.release", "7.5"))
    assert "unsupported OpenBSD release 7.5" in line
    assert "give --pf.release one of 7.6, 7.7, 7.8, 7.9 or current" in line
    assert "use --pf.release" not in line


def test_the_cli_offers_every_scenario_of_the_simulator() -> None:
    from pf_exporter.simulator import SCENARIOS as SIMULATED

    # (benchmarks/replay.py registers xlarge and the rules-* curve in the same process: not the CLI's)
    assert set(cli.SCENARIOS) == {s for s in SIMULATED if s != "xlarge" and not s.startswith("rules-")}
    args = parse("--simulate", "--simulate.scenario", "empty", "--web.listen-address", "127.0.0.1:0")
    service = cli.build_service(args)
    try:
        assert service.pf.source.rule_count() == 0
    finally:
        service.close()
