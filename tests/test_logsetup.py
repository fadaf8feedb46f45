"""Logging: logfmt like node_exporter's by default, JSON on request, syslog with the daemon facility."""

from __future__ import annotations

import io
import json
import logging
import re
import syslog as real_syslog

import pytest
from support.fakeos import FakeSyslog

from pf_exporter.logsetup import LogfmtFormatter, logfmt_value, parse_level, setup_logging

pytestmark = pytest.mark.usefixtures("restore_root_logger")  # conftest: handlers added here go away


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_logfmt_line_has_timestamp_level_message_and_extra_fields() -> None:
    out = io.StringIO()
    setup_logging("info", "logfmt", stream=out)
    logging.getLogger("pf_exporter.cli").info("listening", extra={"address": "127.0.0.1:9632", "tls": False})
    [line] = lines(out)
    assert re.fullmatch(
        r'ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info msg=listening address=127\.0\.0\.1:9632 tls=false',
        line,
    ), line


def test_logfmt_quotes_and_escapes_only_when_needed() -> None:
    assert logfmt_value("plain") == "plain"
    assert logfmt_value("two words") == '"two words"'
    assert logfmt_value("") == '""'
    assert logfmt_value('say "hi"') == '"say \\"hi\\""'
    assert logfmt_value("a=b") == '"a=b"'
    assert logfmt_value("line1\nline2") == '"line1\\nline2"'
    assert logfmt_value("back\\slash") == '"back\\\\slash"'
    assert logfmt_value(None) == "null"
    assert logfmt_value(3) == "3"
    assert logfmt_value(0.25) == "0.25"


def test_levels_are_named_like_node_exporter_and_filtered() -> None:
    out = io.StringIO()
    setup_logging("warn", stream=out)
    log = logging.getLogger("pf_exporter.test")
    log.debug("hidden")
    log.info("hidden too")
    log.warning("careful")
    log.error("broken")
    log.critical("very broken")
    got = [re.search(r"level=(\w+) msg=(.*)", line).groups() for line in lines(out)]
    assert got == [("warn", "careful"), ("error", "broken"), ("error", '"very broken"')]


def test_debug_level_shows_everything() -> None:
    out = io.StringIO()
    setup_logging("debug", stream=out)
    logging.getLogger("x").debug("details")
    assert "level=debug msg=details" in out.getvalue()


def test_traceback_stays_on_one_line() -> None:
    out = io.StringIO()
    setup_logging("info", stream=out)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("x").exception("scrape failed", extra={"collector": "tables"})
    [line] = lines(out)
    assert 'level=error msg="scrape failed" collector=tables exc="Traceback' in line
    assert "RuntimeError: boom" in line


def test_json_format_has_the_same_keys() -> None:
    out = io.StringIO()
    setup_logging("info", "json", stream=out)
    logging.getLogger("x").info("reloaded", extra={"files": 3, "path": "/etc/pf_exporter/web.yml"})
    [line] = lines(out)
    obj = json.loads(line)
    assert list(obj) == ["ts", "level", "msg", "files", "path"]
    assert obj["level"] == "info" and obj["msg"] == "reloaded"
    assert obj["files"] == 3 and obj["path"] == "/etc/pf_exporter/web.yml"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["ts"])


def test_syslog_uses_the_daemon_facility_and_matching_priorities() -> None:
    fake = FakeSyslog()
    setup_logging("debug", "logfmt", syslog=True, syslog_module=fake)
    log = logging.getLogger("pf_exporter.x")
    log.debug("d")
    log.info("started", extra={"port": 9632})
    log.warning("w")
    log.error("e")
    log.critical("c")
    assert fake.opened == [("pf_exporter", real_syslog.LOG_PID | real_syslog.LOG_NDELAY, real_syslog.LOG_DAEMON)]
    daemon = real_syslog.LOG_DAEMON
    assert fake.sent == [
        (daemon | real_syslog.LOG_DEBUG, "level=debug msg=d"),
        (daemon | real_syslog.LOG_INFO, "level=info msg=started port=9632"),
        (daemon | real_syslog.LOG_WARNING, "level=warn msg=w"),
        (daemon | real_syslog.LOG_ERR, "level=error msg=e"),
        (daemon | real_syslog.LOG_CRIT, "level=error msg=c"),
    ]


def test_syslog_message_with_percent_sign_is_passed_verbatim() -> None:
    fake = FakeSyslog()
    setup_logging("info", syslog=True, syslog_module=fake)
    logging.getLogger("x").info("100%s done")
    assert fake.sent[-1][1] == 'level=info msg="100%s done"'


def test_calling_again_replaces_the_previous_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    fake = FakeSyslog()
    setup_logging("info", syslog=True, syslog_module=fake)
    setup_logging("info", stream=first)
    setup_logging("info", stream=second)
    logging.getLogger("x").info("once")
    assert first.getvalue() == ""
    assert lines(second)[0].endswith("level=info msg=once")
    assert fake.sent == [] and fake.closed == 1
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, LogfmtFormatter)]
    assert len(ours) == 1


def test_python_warnings_are_logged() -> None:
    import warnings

    out = io.StringIO()
    setup_logging("info", stream=out)
    warnings.warn("old flag", DeprecationWarning, stacklevel=1)
    assert "level=warn" in out.getvalue() and "old flag" in out.getvalue()


@pytest.mark.parametrize("bad", ["verbose", "", "trace"])
def test_unknown_level_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ValueError, match=r"unknown log level .*use one of debug, info, warn, error \(--log.level\)"):
        parse_level(bad)


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown log format 'xml': use logfmt or json \(--log.format\)"):
        setup_logging("info", "xml", stream=io.StringIO())


def test_level_names_are_case_insensitive_and_accept_warning() -> None:
    assert parse_level("INFO") == logging.INFO
    assert parse_level("warning") == logging.WARNING
    assert parse_level(logging.ERROR) == logging.ERROR



def test_without_a_syslog_socket_syslog_falls_back_to_stderr_loudly(restore_root_logger) -> None:
    out = io.StringIO()
    handler = setup_logging("info", syslog=True, stream=out, syslog_check=lambda: "no syslog socket (/dev/log)")
    logging.getLogger("pf_exporter.test").info("hello")
    text = out.getvalue()
    assert text.startswith("pf_exporter: --log.syslog: no syslog socket (/dev/log); logging to stderr instead\n")
    assert 'msg="--log.syslog cannot deliver: logging to stderr instead"' in text
    assert "msg=hello" in text
    assert isinstance(handler, logging.StreamHandler)


def test_syslog_problem_looks_for_a_socket(tmp_path) -> None:
    import socket

    from pf_exporter.logsetup import syslog_problem

    missing = str(tmp_path / "log")
    assert "no syslog socket" in (syslog_problem("Linux", [missing]) or "")
    (tmp_path / "file").write_text("")
    assert syslog_problem("Linux", [str(tmp_path / "file")]) is not None  # a file is not a socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(missing)
        assert syslog_problem("Linux", [missing]) is None
    assert syslog_problem("OpenBSD", [str(tmp_path / "nothing")]) is None  # sendsyslog(2) needs no socket


def test_the_command_says_so_too(tmp_path, monkeypatch) -> None:
    import subprocess
    import sys

    code = ("import pf_exporter.logsetup as l; l.SYSLOG_SOCKETS = ('/nonexistent/log',); "
            "import pf_exporter.cli as c; raise SystemExit(c.main(['--simulate', '--web.listen-address', 'nope', "
            "'--log.syslog']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "--log.syslog: no syslog socket (/nonexistent/log)" in p.stderr
    assert "invalid --web.listen-address" in p.stderr
