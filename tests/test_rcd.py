"""rc.d/pf_exporter: parsed by a Korn shell and sourced with a stub rc.subr.

The stub sets the variables the way rc.subr(8) does (``<name>_flags`` from rc.conf.local
override ``daemon_flags``, defaults for user and signals, ``pexp``) and then, instead of
running su(1), reports what it would run.  With ``STUB_RUN=1`` it also runs that command
(without su; logger(1) replaced by a recorder) and starts, checks, reloads and stops a
stand-in daemon with ``pgrep -xf``/``pkill -xf`` exactly as rc.subr does, proving that
``pexp`` matches the real Python command line.

OpenBSD's /bin/ksh is pdksh-derived; Debian's ``mksh`` is its closest relative and
``ksh`` is ksh93.  Tests skip a shell that is not installed, except under CI=true.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.tooling import tool_or_skip

SCRIPT = Path(__file__).resolve().parent.parent / "rc.d" / "pf_exporter"
PREFIX = "/usr/local/pf_exporter"
RC_SUBR = ". /etc/rc.d/rc.subr"

STUB_RC_SUBR = r"""
# Stub of rc.subr(8) for tests: the same variable handling, but reports instead of su(1).
_name=${0##*/}
[ -n "${KSH_VERSION}" ] || { echo "$0: wrong shell, use /bin/ksh" >&2; exit 1; }
[ -n "${daemon}" ] || { echo "$0: daemon is not set" >&2; exit 1; }

rc_reload_signal=${rc_reload_signal:=HUP}
rc_stop_signal=${rc_stop_signal:=TERM}
eval _rcflags=\${${_name}_flags}
eval _rclogger=\${${_name}_logger}
eval _rcuser=\${${_name}_user}
daemon_class=daemon
[ -z "${daemon_user}" ] && daemon_user=root
[ -n "${_rcflags}" ] && daemon_flags=${_rcflags}
[ -n "${_rclogger}" ] && daemon_logger=${_rclogger}
[ -n "${_rcuser}" ] && daemon_user=${_rcuser}
pexp="$(eval echo ${daemon}${daemon_flags:+ ${daemon_flags}})"

_stub_command() {
	_logger="logger -isp ${daemon_logger} -t ${_name}"
	print -r -- "${daemon_logger:+set -o pipefail; }${daemon} ${daemon_flags}${daemon_logger:+ 2>&1 | ${_logger}}"
}

_stub_running() {
	pgrep -xf "${pexp}" >/dev/null && echo running=yes || echo running=no
}

rc_cmd() {
	print -r -- "action=$1"
	print -r -- "name=${_name}"
	print -r -- "daemon=${daemon}"
	print -r -- "daemon_flags=${daemon_flags}"
	print -r -- "daemon_user=${daemon_user}"
	print -r -- "daemon_logger=${daemon_logger}"
	print -r -- "rc_bg=${rc_bg}"
	print -r -- "rc_reload_signal=${rc_reload_signal}"
	print -r -- "rc_stop_signal=${rc_stop_signal}"
	print -r -- "pexp=${pexp}"
	print -r -- "su=su -fl -c ${daemon_class} -s /bin/sh ${daemon_user} -c $(_stub_command)"
	[ "${STUB_RUN}" = 1 ] || return 0
	case "$1" in
	start)
		if [ "${rc_bg}" = YES ]; then
			${STUB_SH} -c "$(_stub_command)" </dev/null >/dev/null 2>&1 &
		else
			${STUB_SH} -c "$(_stub_command)"
		fi
		_i=0
		while [ $_i -lt 200 ] && ! pgrep -xf "${pexp}" >/dev/null; do
			sleep 0.05; _i=$((_i + 1))
		done
		_stub_running ;;
	check)
		_stub_running ;;
	reload)
		pkill -${rc_reload_signal} -xf "${pexp}" && echo signalled=yes ;;
	stop)
		pkill -${rc_stop_signal} -xf "${pexp}" && echo signalled=yes
		_i=0
		while [ $_i -lt 200 ] && pgrep -xf "${pexp}" >/dev/null; do
			sleep 0.05; _i=$((_i + 1))
		done
		_stub_running ;;
	esac
}
"""

FAKE_DAEMON = """\
import os, signal, sys

events = os.environ["FAKE_DAEMON_EVENTS"]

def note(what):
    with open(events, "a") as f:
        f.write(what + "\\n")

def on_hup(signum, frame):
    note("reload")

def on_term(signum, frame):
    note("stop")
    sys.exit(0)

signal.signal(signal.SIGHUP, on_hup)
signal.signal(signal.SIGTERM, on_term)
signal.alarm(60)  # never outlive a broken test
note("start pid=%d args=%s" % (os.getpid(), " ".join(sys.argv[1:])))
print("level=info msg=started", file=sys.stderr, flush=True)
while True:
    signal.pause()
"""

FAKE_LOGGER = """\
#!/bin/sh
echo "$*" >> "$FAKE_LOGGER_ARGS"
cat >> "$FAKE_LOGGER_OUT"
"""


def wait_for(condition: Callable[[], bool], tries: int = 400) -> None:
    for _ in range(tries):
        if condition():
            return
        time.sleep(0.025)
    raise AssertionError("condition not reached")


def shell_or_skip(name: str) -> str:
    return tool_or_skip(name, "apt-get install -y ksh mksh")


SHELLS = ["ksh", "mksh"]
FLAGS = "--web.listen-address=[::1]:10073 --web.listen-address=192.0.2.1:10073 --log.syslog"


def install(tmp_path: Path, prefix: str = PREFIX) -> Path:
    """Copy the script into tmp_path/rc.d, sourcing the stub rc.subr and using ``prefix`` for the venv."""
    text = SCRIPT.read_text()
    assert text.count(RC_SUBR) == 1
    (tmp_path / "rc.subr").write_text(STUB_RC_SUBR)
    text = text.replace(RC_SUBR, f". {tmp_path / 'rc.subr'}").replace(PREFIX, prefix)
    target = tmp_path / "rc.d" / "pf_exporter"
    target.parent.mkdir(exist_ok=True)
    target.write_text(text)
    return target


def run_rcd(shell: str, script: Path, action: str, **env: str) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("pf_exporter_")}
    full_env.update(env)
    out = subprocess.run([shell, str(script), action], capture_output=True, text=True, env=full_env,
                         timeout=60, check=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines())


def ere_escape(text: str) -> str:
    return re.sub(r"([][\\.*^$+?(){}|])", r"\\\1", text)


# --- static -----------------------------------------------------------------------------------------


def test_script_is_a_ksh_rc_script() -> None:
    text = SCRIPT.read_text()
    assert text.startswith("#!/bin/ksh\n")
    assert text.rstrip().endswith("rc_cmd $1")
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.parametrize("shell", SHELLS)
def test_script_parses(shell: str) -> None:
    sh = shell_or_skip(shell)
    result = subprocess.run([sh, "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_variables_and_command_line(shell: str, tmp_path: Path) -> None:
    sh = shell_or_skip(shell)
    got = run_rcd(sh, install(tmp_path), "start")
    daemon = f"{PREFIX}/bin/python3 {PREFIX}/bin/pf_exporter"
    assert got["name"] == "pf_exporter"
    assert got["daemon"] == daemon
    assert got["daemon_flags"] == "--run-as=_pf_exporter"
    assert got["daemon_user"] == "root"  # the program drops privileges itself after opening /dev/pf
    assert got["daemon_logger"] == "daemon.info"
    assert got["rc_bg"] == "YES"
    assert got["rc_reload_signal"] == "HUP"
    assert got["rc_stop_signal"] == "TERM"
    assert got["su"] == (
        "su -fl -c daemon -s /bin/sh root -c set -o pipefail; "
        f"{daemon} --run-as=_pf_exporter 2>&1 | logger -isp daemon.info -t pf_exporter"
    )
    assert got["pexp"] == ere_escape(f"{daemon} --run-as=_pf_exporter")
    # the process rc.subr starts has exactly this argument list
    assert re.fullmatch(got["pexp"], f"{daemon} --run-as=_pf_exporter")


@pytest.mark.parametrize("shell", SHELLS)
def test_flags_from_rc_conf_local_replace_the_defaults_and_stay_matchable(shell: str, tmp_path: Path) -> None:
    sh = shell_or_skip(shell)
    flags = FLAGS
    got = run_rcd(sh, install(tmp_path), "check", pf_exporter_flags=flags)
    cmdline = f"{PREFIX}/bin/python3 {PREFIX}/bin/pf_exporter {flags}"
    assert got["daemon_flags"] == flags
    assert "\\[::1\\]" in got["pexp"] and "192\\.0\\.2\\.1" in got["pexp"]
    assert re.fullmatch(got["pexp"], cmdline)
    assert not re.fullmatch(got["pexp"], cmdline.replace("[::1]", "1"))


def script_default_flags() -> str:
    m = re.search(r'^daemon_flags="([^"]*)"$', SCRIPT.read_text(), re.M)
    assert m is not None
    return m.group(1)


def test_default_flags_are_flags_the_program_accepts() -> None:
    from pf_exporter.cli import build_parser

    args = build_parser().parse_args(shlex.split(script_default_flags()))
    assert args.run_as == "_pf_exporter"


def test_usage_examples_use_real_flags_and_the_default_port() -> None:
    from pf_exporter.cli import build_parser
    from pf_exporter.web import DEFAULT_PORT, parse_listen_address

    examples = re.findall(r"^#\s+rcctl set pf_exporter flags (.+)$", SCRIPT.read_text(), re.M)
    assert examples
    for flags in examples:
        args = build_parser().parse_args(shlex.split(flags))
        assert all(parse_listen_address(a)[1] == DEFAULT_PORT for a in args.listen or [])


def test_flags_used_in_these_tests_are_flags_the_program_accepts() -> None:
    from pf_exporter.cli import build_parser

    args = build_parser().parse_args(shlex.split(FLAGS))
    assert args.log_syslog and args.listen == ["[::1]:10073", "192.0.2.1:10073"]


# --- start, check, reload, stop a real process ------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_start_check_reload_stop_with_pgrep(shell: str, tmp_path: Path) -> None:
    sh = shell_or_skip(shell)
    if shutil.which("pgrep") is None or shutil.which("pkill") is None:
        pytest.skip("pgrep/pkill not installed")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python3").symlink_to(sys.executable)
    (venv / "bin" / "pf_exporter").write_text(FAKE_DAEMON)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "logger").write_text(FAKE_LOGGER)
    (tools / "logger").chmod(0o755)
    events, logged, logger_args = tmp_path / "events", tmp_path / "logged", tmp_path / "logger-args"
    script = install(tmp_path, prefix=str(venv))
    env = {
        "STUB_RUN": "1",
        "STUB_SH": sh,
        "PATH": f"{tools}:{os.environ['PATH']}",
        "FAKE_DAEMON_EVENTS": str(events),
        "FAKE_LOGGER_OUT": str(logged),
        "FAKE_LOGGER_ARGS": str(logger_args),
        "pf_exporter_flags": "--run-as=_pf_exporter --web.listen-address=[::1]:10073",
    }
    try:
        assert run_rcd(sh, script, "start", **env)["running"] == "yes"
        wait_for(lambda: events.exists() and events.read_text().startswith("start"))
        first = events.read_text().splitlines()[0]
        assert first.endswith("args=--run-as=_pf_exporter --web.listen-address=[::1]:10073")

        assert run_rcd(sh, script, "check", **env)["running"] == "yes"

        assert run_rcd(sh, script, "reload", **env)["signalled"] == "yes"
        wait_for(lambda: "reload" in events.read_text())

        stopped = run_rcd(sh, script, "stop", **env)
        assert stopped["signalled"] == "yes" and stopped["running"] == "no"
        assert events.read_text().splitlines()[1:] == ["reload", "stop"]

        wait_for(lambda: logged.exists() and "level=info msg=started" in logged.read_text())
        assert logger_args.read_text().split() == ["-isp", "daemon.info", "-t", "pf_exporter"]
    finally:
        # whatever happened, end the stand-in daemon this test started (by its pid)
        started = re.match(r"start pid=(\d+) ", events.read_text()) if events.exists() else None
        if started and "stop" not in events.read_text():
            try:
                os.kill(int(started.group(1)), signal.SIGKILL)
            except ProcessLookupError:
                pass

