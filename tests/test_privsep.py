"""Privilege drop: setgroups -> setgid -> setuid, verified, with a clear error naming any failing step.

The credential system calls are injected: :class:`FakeKernel` keeps real/effective/saved ids
and the group list with the POSIX rules (root may set anything; others may only switch
between their real and saved ids), so order and ids are checked without being root.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import subprocess
import sys

import pytest
from support.fakeos import PF_GID, PF_UID, FakeKernel

from pf_exporter.privsep import (
    DEFAULT_OPENBSD_USER,
    DropResult,
    PrivilegeDropError,
    PrivilegeError,
    RunAs,
    Syscalls,
    decide_run_as,
    drop_privileges,
    unreadable_files,
)

# --- the sequence -----------------------------------------------------------------------------------


def test_drop_runs_setgroups_then_setgid_then_setuid_then_proves_root_is_gone() -> None:
    k = FakeKernel()
    result = drop_privileges("_pf_exporter", syscalls=k.syscalls())
    assert k.calls == [
        ("getpwnam", "_pf_exporter"),
        ("setgroups", [PF_GID]),
        ("setgid", PF_GID),
        ("setuid", PF_UID),
        # verification: both must be refused now
        ("setuid", 0),
        ("setgid", 0),
    ]
    assert k.ids == (PF_UID,) * 3 + (PF_GID,) * 3
    assert k.groups == [PF_GID]
    assert result == DropResult("_pf_exporter", PF_UID, PF_GID, (PF_GID,), changed=True)


def test_keeping_supplementary_groups_uses_initgroups_in_the_setgroups_slot() -> None:
    k = FakeKernel()
    result = drop_privileges("_pf_exporter", syscalls=k.syscalls(), keep_supplementary_groups=True)
    assert [name for name, _ in k.calls[:4]] == ["getpwnam", "initgroups", "setgid", "setuid"]
    assert k.calls[1] == ("initgroups", ("_pf_exporter", PF_GID))
    assert result.groups == (100, PF_GID)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("setgroups", "setgroups: setgroups([871]) failed: Operation not permitted"),
        ("setgid", "setgid: setgid(871) failed: Operation not permitted"),
        ("setuid", "setuid: setuid(871) failed: Operation not permitted"),
    ],
)
def test_a_failing_step_aborts_with_a_message_naming_it(step: str, expected: str) -> None:
    k = FakeKernel(fail={step: errno.EPERM})
    with pytest.raises(PrivilegeDropError) as info:
        drop_privileges("_pf_exporter", syscalls=k.syscalls())
    assert info.value.step == step
    assert str(info.value) == (
        f"cannot drop privileges to user '_pf_exporter': {expected}; only root can switch users:"
        " start pf_exporter as root (rcctl does) or leave out --run-as _pf_exporter"
    )
    # nothing after the failing step was attempted
    assert [name for name, _ in k.calls][-1] == step


def test_other_errnos_are_reported_without_the_root_hint() -> None:
    k = FakeKernel(fail={"setgid": errno.EINVAL})
    with pytest.raises(PrivilegeDropError, match=r"^cannot drop privileges to user '_pf_exporter': setgid: "
                       r"setgid\(871\) failed: Invalid argument$"):
        drop_privileges("_pf_exporter", syscalls=k.syscalls())


def test_unknown_user_says_how_to_create_it() -> None:
    k = FakeKernel()
    with pytest.raises(PrivilegeDropError) as info:
        drop_privileges("_nobody_here", syscalls=k.syscalls())
    assert info.value.step == "getpwnam"
    assert "no such user" in str(info.value)
    assert "useradd -s /sbin/nologin -d /var/empty -c 'pf_exporter' _nobody_here" in str(info.value)
    assert k.calls == [("getpwnam", "_nobody_here")]


def test_a_uid_0_user_is_not_a_privilege_drop() -> None:
    k = FakeKernel()
    with pytest.raises(PrivilegeDropError, match="has uid 0.*--run-as root"):
        drop_privileges("toor", syscalls=k.syscalls())
    assert k.ids == (0,) * 6


def test_uid_0_allowed_explicitly_skips_the_regain_check() -> None:
    k = FakeKernel()
    result = drop_privileges("root", syscalls=k.syscalls(), allow_root=True)
    assert result.uid == 0 and k.groups == [0]
    assert ("setuid", 0) in k.calls and k.calls.count(("setuid", 0)) == 1


# --- verification catches a drop that did not take --------------------------------------------------


def test_verify_catches_setuid_changing_only_the_effective_uid() -> None:
    k = FakeKernel(quirks=("setuid_effective_only",))
    with pytest.raises(PrivilegeDropError) as info:
        drop_privileges("_pf_exporter", syscalls=k.syscalls())
    assert info.value.step == "verify"
    assert "real/effective uid are 0/871, expected 871" in str(info.value)


def test_verify_catches_a_saved_uid_left_at_0() -> None:
    k = FakeKernel(quirks=("setuid_keeps_saved",))
    with pytest.raises(PrivilegeDropError, match=r"verify: real/effective/saved uid are \(871, 871, 0\)"):
        drop_privileges("_pf_exporter", syscalls=k.syscalls())


def test_verify_catches_root_being_regainable() -> None:
    k = FakeKernel(quirks=("root_regainable",))
    with pytest.raises(PrivilegeDropError, match=r"verify: setuid\(0\) succeeded after the drop"):
        drop_privileges("_pf_exporter", syscalls=k.syscalls())


def test_verify_catches_supplementary_groups_left_behind() -> None:
    k = FakeKernel(quirks=("setgroups_ignored",))
    with pytest.raises(PrivilegeDropError, match=r"verify: supplementary groups are \[0, 2, 3\], expected only 871"):
        drop_privileges("_pf_exporter", syscalls=k.syscalls())


def test_without_saved_id_getters_the_real_and_effective_checks_still_run() -> None:
    k = FakeKernel(quirks=("setuid_effective_only",))
    sc = k.syscalls()
    sc = Syscalls(**{**sc.__dict__, "getresuid": None, "getresgid": None})
    with pytest.raises(PrivilegeDropError, match="real/effective uid are 0/871"):
        drop_privileges("_pf_exporter", syscalls=sc)


# --- not started as root ----------------------------------------------------------------------------


def test_already_that_user_changes_nothing() -> None:
    k = FakeKernel(uid=PF_UID, gid=PF_GID, groups=(PF_GID,))
    result = drop_privileges("_pf_exporter", syscalls=k.syscalls())
    assert result.changed is False and result.uid == PF_UID
    assert k.calls == [("getpwnam", "_pf_exporter")]


def test_switching_users_without_root_fails_at_setgroups_with_the_fix() -> None:
    k = FakeKernel(uid=67, gid=67, groups=(67,))
    with pytest.raises(PrivilegeDropError, match=r"setgroups: .*only root can switch users"):
        drop_privileges("_pf_exporter", syscalls=k.syscalls())
    assert k.ids == (67,) * 6


# --- policy -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run_as", "euid", "sysname", "expected_user", "allow_root"),
    [
        (None, 0, "OpenBSD", DEFAULT_OPENBSD_USER, False),  # rcctl start: becomes _pf_exporter
        ("www", 0, "OpenBSD", "www", False),
        ("nobody", 0, "Linux", "nobody", False),
        ("root", 0, "OpenBSD", None, True),  # explicit: stays root
        ("root", 0, "Linux", None, True),
        (None, 0, "Linux", None, False),  # root off OpenBSD: stays root, warned
        (None, 1000, "Linux", None, False),  # unprivileged: stays as is
        (None, 871, "OpenBSD", None, False),
        ("_pf_exporter", 871, "OpenBSD", "_pf_exporter", False),
    ],
)
def test_run_as_policy(run_as: str | None, euid: int, sysname: str, expected_user: str | None,
                       allow_root: bool) -> None:
    decision = decide_run_as(run_as, euid=euid, sysname=sysname)
    assert decision.user == expected_user
    assert decision.allow_root is allow_root


def test_explicit_root_comes_with_a_warning() -> None:
    decision = decide_run_as("root", euid=0, sysname="OpenBSD")
    assert decision == RunAs(None, allow_root=True, reason="--run-as root given")
    assert decision.warning and "--run-as root" in decision.warning


def test_root_without_run_as_off_openbsd_stays_root_with_a_warning_naming_the_flag() -> None:
    """`pf_exporter --simulate` in a container runs as root: it must start, and say how to drop."""
    decision = decide_run_as(None, euid=0, sysname="Linux")
    assert decision.user is None and decision.allow_root is False
    assert decision.warning and "--run-as USER" in decision.warning


def test_run_as_root_when_not_root_is_an_error() -> None:
    with pytest.raises(PrivilegeError, match="not started as root"):
        decide_run_as("root", euid=1000, sysname="OpenBSD")


def test_empty_run_as_is_an_error() -> None:
    with pytest.raises(PrivilegeError, match="--run-as needs a user name"):
        decide_run_as("  ", euid=0, sysname="OpenBSD")


def test_unreadable_files_lists_what_a_reload_could_not_read() -> None:
    readable = {"/etc/pf_exporter/web.yml"}
    got = unreadable_files(
        ["/etc/pf_exporter/web.yml", "/etc/ssl/private/exporter.key", "/etc/ssl/private/exporter.key"],
        access=lambda path, mode: path in readable,
    )
    assert got == ["/etc/ssl/private/exporter.key"]


# --- the real system calls --------------------------------------------------------------------------


def test_on_linux_the_bounding_set_goes_before_setuid_and_no_new_privs_after() -> None:
    k = FakeKernel()
    calls: list[str] = []
    base = k.syscalls()
    real_setuid = base.setuid

    def setuid(uid: int) -> None:
        calls.append(f"setuid({uid})")
        real_setuid(uid)

    def drop_bounding_set() -> None:
        if k.euid != 0:
            raise PermissionError(errno.EPERM, "Operation not permitted")  # CAP_SETPCAP is root's
        calls.append("capbset")

    import dataclasses

    sc = dataclasses.replace(
        base, setuid=setuid, drop_bounding_set=drop_bounding_set, set_no_new_privs=lambda: calls.append("no_new_privs"),
        proc_status=lambda: {"NoNewPrivs": "1", "CapEff": "0" * 16, "CapPrm": "0" * 16, "CapBnd": "0" * 16})
    drop_privileges(DEFAULT_OPENBSD_USER, syscalls=sc)
    assert calls[:3] == ["capbset", f"setuid({PF_UID})", "no_new_privs"]


def test_without_cap_setpcap_the_bounding_set_stays_and_no_new_privs_still_holds() -> None:
    """In a container that withheld CAP_SETPCAP the bounding set cannot be emptied: the drop goes on
    (no_new_privs alone stops exec from gaining anything) and the bounding set is not held against it."""
    import dataclasses

    def refused() -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    k = FakeKernel()
    sc = dataclasses.replace(k.syscalls(), drop_bounding_set=refused, set_no_new_privs=lambda: None,
                             proc_status=lambda: {"NoNewPrivs": "1", "CapEff": "0" * 16, "CapBnd": "000001ffffffffff"})
    assert drop_privileges(DEFAULT_OPENBSD_USER, syscalls=sc).uid == PF_UID


@pytest.mark.parametrize(("status", "problem"), [
    ({"NoNewPrivs": "0", "CapBnd": "0" * 16}, "no_new_privs is not set"),
    ({"NoNewPrivs": "1", "CapBnd": "000001ffffffffff"}, "CapBnd is 000001ffffffffff, expected no capability left"),
    ({"NoNewPrivs": "1", "CapBnd": "0" * 16, "CapEff": "0000000000000400"}, "CapEff is 0000000000000400"),
])
def test_capabilities_left_after_the_drop_abort_start_up(status: dict[str, str], problem: str) -> None:
    import dataclasses

    k = FakeKernel()
    sc = dataclasses.replace(k.syscalls(), drop_bounding_set=lambda: None, set_no_new_privs=lambda: None,
                             proc_status=lambda: status)
    with pytest.raises(PrivilegeDropError, match=problem) as e:
        drop_privileges(DEFAULT_OPENBSD_USER, syscalls=sc)
    assert e.value.step == "verify"


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.mark.skipif(os.geteuid() != 0 or not _has_user("nobody"), reason="needs root and a 'nobody' user")
def test_real_drop_to_nobody_in_a_child_process() -> None:
    """The real calls (Syscalls.from_os) in a throw-away process: ids end as nobody's, root is gone."""
    script = """
import json, os
from pf_exporter.privsep import drop_privileges
r = drop_privileges("nobody")
try:
    os.setuid(0)
    regained = True
except PermissionError:
    regained = False
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"uid": r.uid, "gid": r.gid, "res": os.getresuid(), "resg": os.getresgid(),
                  "groups": os.getgroups(), "regained": regained,
                  "caps": {k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(out.stdout)
    nobody = pwd.getpwnam("nobody")
    assert got["res"] == [nobody.pw_uid] * 3
    assert got["resg"] == [nobody.pw_gid] * 3
    assert got["groups"] == [nobody.pw_gid]
    assert got["regained"] is False
    if sys.platform.startswith("linux"):  # nothing left to gain back, not even through exec
        assert got["caps"] == {"CapEff": "0" * 16, "CapPrm": "0" * 16, "CapBnd": "0" * 16, "NoNewPrivs": "1"}
