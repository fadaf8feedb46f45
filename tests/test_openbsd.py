"""unveil(2)/pledge(2): calls built correctly through ctypes, and skipped off OpenBSD.

The fake libc's ``unveil``/``pledge`` are real C-callable ctypes callbacks, so these tests go
through the same prototype, argument conversion (str -> bytes, None -> NULL) and errno
handling as the real libc calls do.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.fakeos import FakeLibc

from pf_exporter import openbsd
from pf_exporter.abi import READ_ONLY_REQUESTS
from pf_exporter.abi.ioctls import LIMITER_REQUESTS, REQUESTS
from pf_exporter.openbsd import (
    PLEDGE_PF_IOCTLS,
    UNVEIL_MAX_PATHS,
    Sandbox,
    SandboxError,
    SandboxPlan,
    UnveilRule,
    apply_sandbox,
    check_permissions,
    is_openbsd,
    python_library_paths,
    unveil_plan,
)

PLAN = SandboxPlan(
    unveil=(
        UnveilRule("/etc/pf_exporter/web.yml", "r"),
        UnveilRule("/etc/ssl/pf_exporter.crt", "r"),
        UnveilRule("/var/run/pf_exporter/admin.sock", "c"),
    ),
    promises=None,
    execpromises="",
)


def test_calls_are_unveil_each_path_then_lock_then_pledge_with_nulls() -> None:
    libc = FakeLibc()
    assert apply_sandbox(PLAN, libc=libc) is True
    assert libc.calls == [
        ("unveil", b"/etc/pf_exporter/web.yml", b"r"),
        ("unveil", b"/etc/ssl/pf_exporter.crt", b"r"),
        ("unveil", b"/var/run/pf_exporter/admin.sock", b"c"),
        ("unveil", None, None),  # unveil(NULL, NULL): lock
        ("pledge", None, b""),  # pledge(NULL, ""): promises unchanged, exec'd programs get none
    ]


def test_skipped_off_openbsd_without_touching_libc(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_libc() -> None:
        raise AssertionError("libc must not be loaded off OpenBSD")

    monkeypatch.setattr(openbsd, "load_libc", no_libc)
    assert apply_sandbox(PLAN, sysname="Linux") is False
    assert apply_sandbox(PLAN, sysname="FreeBSD") is False


def test_on_openbsd_the_calls_are_made() -> None:
    libc = FakeLibc()
    assert apply_sandbox(PLAN, sysname="OpenBSD", libc=libc) is True
    assert len(libc.calls) == 5


def test_is_openbsd_looks_at_uname() -> None:
    assert is_openbsd("OpenBSD") and not is_openbsd("Linux")
    assert is_openbsd() == (os.uname().sysname == "OpenBSD")


@pytest.mark.skipif(sys.platform.startswith("openbsd"), reason="checks a libc without unveil")
def test_a_libc_without_unveil_is_a_clear_error() -> None:
    with pytest.raises(SandboxError, match=r"libc has no unveil\(\): this is not an OpenBSD libc"):
        apply_sandbox(PLAN, sysname="OpenBSD")  # the real libc of this (non-OpenBSD) host


def test_paths_are_passed_as_filesystem_bytes() -> None:
    libc = FakeLibc()
    Sandbox(libc).unveil("/etc/pf_exporter/ünï.yml", "r")
    assert libc.calls == [("unveil", "/etc/pf_exporter/ünï.yml".encode(), b"r")]


def test_pledge_with_promises_passes_both_strings() -> None:
    libc = FakeLibc()
    Sandbox(libc).pledge("stdio inet", None)
    assert libc.calls == [("pledge", b"stdio inet", None)]


# --- errors -----------------------------------------------------------------------------------------


def test_unveil_failure_names_the_call_the_errno_and_the_fix_and_stops() -> None:
    libc = FakeLibc(fail={("unveil", b"/etc/ssl/pf_exporter.crt"): errno.ENOENT})
    with pytest.raises(SandboxError) as info:
        apply_sandbox(PLAN, libc=libc)
    assert str(info.value) == (
        "unveil('/etc/ssl/pf_exporter.crt', 'r') failed: No such file or directory"
        " (a directory on the path does not exist; fix the path in the configuration)"
    )
    assert info.value.errno == errno.ENOENT
    assert [c[1] for c in libc.calls] == [b"/etc/pf_exporter/web.yml", b"/etc/ssl/pf_exporter.crt"]


def test_lock_failure_is_reported() -> None:
    libc = FakeLibc(fail={("unveil", None): errno.EPERM})
    with pytest.raises(SandboxError, match=r"^unveil\(NULL, NULL\) failed: Operation not permitted"):
        Sandbox(libc).lock_unveil()


def test_pledge_failure_is_reported() -> None:
    libc = FakeLibc(fail={("pledge", b"stdio"): errno.EPERM})
    with pytest.raises(SandboxError, match=r"^pledge\('stdio', NULL\) failed: Operation not permitted "
                       r"\(promises can only be reduced, never widened\)$"):
        Sandbox(libc).pledge("stdio", None)


@pytest.mark.parametrize("perms", ["rr", "R", "rwxcq", "read"])
def test_bad_permissions_are_refused_before_any_call(perms: str) -> None:
    libc = FakeLibc()
    with pytest.raises(SandboxError, match="invalid unveil permissions"):
        Sandbox(libc).unveil("/etc/x", perms)
    assert libc.calls == []


def test_permissions_are_put_in_canonical_order() -> None:
    assert check_permissions("cr") == "rc"
    assert check_permissions("") == ""


def test_unknown_promise_is_refused_before_any_call() -> None:
    libc = FakeLibc()
    with pytest.raises(SandboxError, match=r"unknown pledge promises 'fly': see pledge\(2\)"):
        Sandbox(libc).pledge("stdio fly", None)
    assert libc.calls == []


def test_nul_byte_in_a_path_is_refused() -> None:
    libc = FakeLibc()
    with pytest.raises(SandboxError, match="contains a NUL byte"):
        Sandbox(libc).unveil("/etc/web.yml\0/etc/master.passwd", "r")
    assert libc.calls == []


def test_too_many_paths_is_refused_before_any_call() -> None:
    libc = FakeLibc()
    plan = SandboxPlan(tuple(UnveilRule(f"/f{i}", "r") for i in range(UNVEIL_MAX_PATHS + 1)))
    with pytest.raises(SandboxError, match="129 paths to unveil: the kernel allows 128"):
        Sandbox(libc).apply(plan)
    assert libc.calls == []


# --- the plan from the configuration ----------------------------------------------------------------


def test_plan_unveils_every_file_sighup_rereads_read_only(tmp_path: Path) -> None:
    web, cert, key, token = (tmp_path / n for n in ("web.yml", "tls.crt", "tls.key", "tokens"))
    plan = unveil_plan(web_config_files=[web], tls_files=[cert, key], token_files=[token], python_paths=[])
    assert plan.unveil == (
        UnveilRule(str(web), "r"),
        UnveilRule(str(cert), "r"),
        UnveilRule(str(key), "r"),
        UnveilRule(str(token), "r"),
    )
    assert plan.promises is None and plan.execpromises == ""


def test_plan_makes_relative_paths_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plan = unveil_plan(web_config_files=["web.yml"], python_paths=[])
    assert plan.unveil == (UnveilRule(str(tmp_path / "web.yml"), "r"),)


def test_plan_unveils_a_symlinked_file_under_both_names(tmp_path: Path) -> None:
    real = tmp_path / "archive" / "cert1.pem"
    real.parent.mkdir()
    real.write_text("x")
    link = tmp_path / "cert.pem"
    link.symlink_to(real)
    plan = unveil_plan(tls_files=[link], python_paths=[])
    assert plan.unveil == (UnveilRule(str(link), "r"), UnveilRule(str(real), "r"))


def test_plan_merges_duplicates(tmp_path: Path) -> None:
    shared = tmp_path / "admin"
    plan = unveil_plan(web_config_files=[shared, shared], unix_sockets=[shared], python_paths=[])
    assert plan.unveil == (UnveilRule(str(shared), "rc"),)


def test_plan_includes_the_python_library_so_lazy_imports_still_work() -> None:
    plan = unveil_plan()
    paths = [r.path for r in plan.unveil]
    assert str(Path(openbsd.__file__).resolve().parent) in paths
    assert os.path.dirname(os.__file__) in paths  # the standard library
    assert all(r.permissions == "r" for r in plan.unveil)
    assert paths == python_library_paths()


def test_an_empty_plan_hides_everything_rather_than_nothing() -> None:
    plan = unveil_plan(python_paths=[])
    assert plan.unveil == (UnveilRule("/", ""),)


def test_empty_path_in_the_configuration_is_an_error() -> None:
    with pytest.raises(SandboxError, match="empty path in the configuration"):
        unveil_plan(token_files=[""], python_paths=[])


# --- why no promises are pledged --------------------------------------------------------------------


def test_pf_promise_list_names_real_requests() -> None:
    known = set(REQUESTS) | set(LIMITER_REQUESTS)
    assert PLEDGE_PF_IOCTLS <= known
    assert len(PLEDGE_PF_IOCTLS) == 12


def test_the_pf_promise_cannot_cover_a_scrape() -> None:
    """Of the requests a read-only descriptor serves, the "pf" promise allows only three."""
    allowed = READ_ONLY_REQUESTS & PLEDGE_PF_IOCTLS
    assert allowed == {"DIOCGETSTATUS", "DIOCNATLOOK", "DIOCRGETTSTATS"}
    refused = READ_ONLY_REQUESTS - PLEDGE_PF_IOCTLS
    for needed in ("DIOCGETRULES", "DIOCGETRULE", "DIOCXEND", "DIOCGETRULESETS", "DIOCRGETTABLES",
                   "DIOCIGETIFACES", "DIOCGETLIMIT", "DIOCGETTIMEOUT", "DIOCGETQUEUES", "DIOCGETQSTATS",
                   "DIOCGETSTATES", "DIOCGETSTATELIM"):
        assert needed in refused


# --- the real thing ---------------------------------------------------------------------------------


@pytest.mark.skipif(not is_openbsd(), reason="unveil(2)/pledge(2) exist only on OpenBSD")
def test_real_sandbox_hides_everything_else_and_forbids_exec(tmp_path: Path) -> None:
    visible = tmp_path / "web.yml"
    visible.write_text("ok")
    script = textwrap.dedent(f"""
        import os, subprocess
        from pf_exporter.openbsd import SandboxPlan, UnveilRule, apply_sandbox, unveil_plan
        plan = unveil_plan(web_config_files=[{str(visible)!r}])
        # /bin/echo unveiled only so the test can show that execpromises "" kills it
        plan = SandboxPlan(plan.unveil + (UnveilRule("/bin/echo", "x"),), None, "")
        apply_sandbox(plan)
        print(open({str(visible)!r}).read())
        try:
            open("/etc/passwd")
        except OSError as e:
            print(e.errno)
        print(subprocess.run(["/bin/echo", "hi"], capture_output=True).returncode)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    lines = out.stdout.split()
    assert lines[0] == "ok"
    assert int(lines[1]) == errno.ENOENT
    assert int(lines[2]) == -6  # SIGABRT: the exec'd program had no promises
