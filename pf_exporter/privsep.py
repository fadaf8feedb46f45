"""Dropping root: become ``--run-as USER`` once ``/dev/pf``, the sockets and the key files are open.

The order is the one every OpenBSD daemon uses: supplementary groups first (only root may
change them), then the group id, then the user id (after which nothing can be changed back).
Afterwards the ids are read back and ``setuid(0)`` must fail; anything unexpected aborts
start-up with an error naming the step.  On Linux the capability bounding set is emptied
before setuid (it needs CAP_SETPCAP, which only root has) and ``PR_SET_NO_NEW_PRIVS`` is
set after it, so no exec of a set-uid program or file capability could ever give anything
back; both are checked in /proc/self/status.  The system calls are injected (:class:`Syscalls`)
so tests on any machine check order and ids without being root.
"""

from __future__ import annotations

import errno
import os
import pwd
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_OPENBSD_USER = "_pf_exporter"

_CREATE_USER_HINT = (
    "create it with `useradd -s /sbin/nologin -d /var/empty -c 'pf_exporter' {user}`"
    " or choose another user with --run-as USER"
)


class PrivilegeError(RuntimeError):
    """Start-up cannot reach a safe set of credentials; the message says what to do."""


class PrivilegeDropError(PrivilegeError):
    """One step of the privilege drop failed; ``step`` names it (getpwnam, setgroups, setgid, capabilities,
    setuid, no_new_privs, verify)."""

    def __init__(self, step: str, user: str, problem: str, fix: str = "") -> None:
        self.step = step
        self.user = user
        msg = f"cannot drop privileges to user {user!r}: {step}: {problem}"
        if fix:
            msg += f"; {fix}"
        super().__init__(msg)


@dataclass(frozen=True)
class Syscalls:
    """The credential system calls the drop uses; :meth:`from_os` gives the real ones."""

    getpwnam: Callable[[str], Any]
    initgroups: Callable[[str, int], None]
    setgroups: Callable[[list[int]], None]
    getgroups: Callable[[], list[int]]
    setgid: Callable[[int], None]
    setuid: Callable[[int], None]
    getuid: Callable[[], int]
    geteuid: Callable[[], int]
    getgid: Callable[[], int]
    getegid: Callable[[], int]
    # Saved ids, where the platform reports them (Linux and OpenBSD both do).
    getresuid: Callable[[], tuple[int, int, int]] | None = None
    getresgid: Callable[[], tuple[int, int, int]] | None = None
    # Linux only: empty the capability bounding set; set no_new_privs; read /proc/self/status.
    drop_bounding_set: Callable[[], None] | None = None
    set_no_new_privs: Callable[[], None] | None = None
    proc_status: Callable[[], dict[str, str]] | None = None

    @classmethod
    def from_os(cls) -> Syscalls:
        return cls(
            getpwnam=pwd.getpwnam,
            initgroups=os.initgroups,
            setgroups=os.setgroups,
            getgroups=os.getgroups,
            setgid=os.setgid,
            setuid=os.setuid,
            getuid=os.getuid,
            geteuid=os.geteuid,
            getgid=os.getgid,
            getegid=os.getegid,
            getresuid=getattr(os, "getresuid", None),
            getresgid=getattr(os, "getresgid", None),
            **(_linux_calls() if sys.platform.startswith("linux") else {}),
        )


# prctl(2) options (linux/prctl.h)
PR_CAPBSET_READ, PR_CAPBSET_DROP = 23, 24
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39


def _linux_calls() -> dict[str, Any]:
    """prctl(2) through libc (no Python API exists), and /proc/self/status."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return {}
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int

    def call(option: int, arg: int) -> int:
        rc = int(prctl(option, arg, 0, 0, 0))
        if rc < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return rc

    def drop_bounding_set() -> None:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                last = int(f.read())
        except (OSError, ValueError):
            last = 63
        for cap in range(last + 1):
            try:
                if call(PR_CAPBSET_READ, cap):
                    call(PR_CAPBSET_DROP, cap)
            except OSError as e:
                if e.errno != errno.EINVAL:  # a capability this kernel does not know
                    raise

    def set_no_new_privs() -> None:
        call(PR_SET_NO_NEW_PRIVS, 1)

    return {"drop_bounding_set": drop_bounding_set, "set_no_new_privs": set_no_new_privs, "proc_status": _proc_status}


def _proc_status() -> dict[str, str]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


@dataclass(frozen=True)
class DropResult:
    """Who the process is after :func:`drop_privileges`; ``changed`` is False if it already was that user."""

    user: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    changed: bool


@dataclass(frozen=True)
class RunAs:
    """What start-up should do about credentials: become ``user``, or keep the current ones (``user is None``)."""

    user: str | None
    allow_root: bool = False
    reason: str = ""
    warning: str | None = field(default=None, compare=False)


def decide_run_as(run_as: str | None, *, euid: int | None = None, sysname: str | None = None) -> RunAs:
    """Apply the policy for ``--run-as``.

    - ``--run-as root``: keep root, on purpose (a warning is logged).
    - ``--run-as USER``: become USER.
    - no flag, started as root on OpenBSD: become ``_pf_exporter``.
    - no flag, started as root elsewhere (a container, a laptop trying ``--simulate``): stay
      root, with a warning that says how to drop (there is no conventional user to pick).
    - no flag, not root: stay who we are.
    """
    euid = os.geteuid() if euid is None else euid
    sysname = os.uname().sysname if sysname is None else sysname
    if run_as is not None:
        run_as = run_as.strip()
        if not run_as:
            raise PrivilegeError("--run-as needs a user name, e.g. --run-as _pf_exporter")
        if run_as == "root":
            if euid != 0:
                raise PrivilegeError(
                    "--run-as root: pf_exporter was not started as root; start it as root or drop the flag"
                )
            return RunAs(
                None,
                allow_root=True,
                reason="--run-as root given",
                warning="running as root because --run-as root was given; a dedicated user is safer",
            )
        return RunAs(run_as, reason="--run-as given")
    if euid != 0:
        return RunAs(None, reason="not started as root")
    if sysname == "OpenBSD":
        return RunAs(DEFAULT_OPENBSD_USER, reason="started as root on OpenBSD")
    return RunAs(
        None,
        reason="started as root, not on OpenBSD",
        warning="running as root: pass --run-as USER to drop to USER once pf and the listeners are open"
        " (or --run-as root to keep root on purpose and silence this warning)",
    )


def _fix_for(err: OSError, user: str) -> str:
    if err.errno in (errno.EPERM, errno.EACCES):
        return f"only root can switch users: start pf_exporter as root (rcctl does) or leave out --run-as {user}"
    return ""


def _step(step: str, call: str, user: str, action: Callable[[], None]) -> None:
    try:
        action()
    except OSError as err:
        raise PrivilegeDropError(step, user, f"{call} failed: {err.strerror or err}", _fix_for(err, user)) from err


def drop_privileges(
    user: str,
    *,
    syscalls: Syscalls | None = None,
    keep_supplementary_groups: bool = False,
    allow_root: bool = False,
) -> DropResult:
    """Become ``user`` for good: setgroups -> setgid -> setuid, then verify.

    Supplementary groups are reduced to the user's primary group, as OpenBSD daemons do;
    with ``keep_supplementary_groups`` the user's groups from /etc/group are kept
    (initgroups(3)).  A user whose uid is 0 is refused unless ``allow_root``.
    """
    sc = syscalls if syscalls is not None else Syscalls.from_os()

    # getpwnam
    try:
        pw = sc.getpwnam(user)
    except KeyError:
        raise PrivilegeDropError("getpwnam", user, "no such user", _CREATE_USER_HINT.format(user=user)) from None
    except OSError as err:
        raise PrivilegeDropError("getpwnam", user, f"cannot read the password database: {err}") from err
    uid, gid = int(pw.pw_uid), int(pw.pw_gid)
    if uid == 0 and not allow_root:
        raise PrivilegeDropError(
            "getpwnam", user, "this user has uid 0, so nothing would be dropped",
            "use --run-as root to keep root on purpose",
        )

    # Already exactly this user (e.g. started by hand as _pf_exporter): nothing to change.
    if sc.geteuid() != 0 and (sc.getuid(), sc.geteuid(), sc.getgid(), sc.getegid()) == (uid, uid, gid, gid):
        return DropResult(user, uid, gid, tuple(sc.getgroups()), changed=False)

    # setgroups first (it needs root), then setgid (setuid would take away the right to change
    # it), then setuid, which cannot be undone.
    if keep_supplementary_groups:
        _step("setgroups", f"initgroups({pw.pw_name!r}, {gid})", user, lambda: sc.initgroups(pw.pw_name, gid))
    else:
        _step("setgroups", f"setgroups([{gid}])", user, lambda: sc.setgroups([gid]))
    _step("setgid", f"setgid({gid})", user, lambda: sc.setgid(gid))
    bounded = False
    if sc.drop_bounding_set is not None and uid != 0:
        try:
            sc.drop_bounding_set()
            bounded = True
        except PermissionError:
            pass  # no CAP_SETPCAP (a container that withheld it): no_new_privs still stops exec gaining any
        except OSError as err:
            raise PrivilegeDropError("capabilities", user, f"prctl(PR_CAPBSET_DROP) failed: {err.strerror or err}") \
                from err
    _step("setuid", f"setuid({uid})", user, lambda: sc.setuid(uid))
    if sc.set_no_new_privs is not None:
        _step("no_new_privs", "prctl(PR_SET_NO_NEW_PRIVS, 1)", user, sc.set_no_new_privs)

    groups = tuple(sc.getgroups())
    _verify(sc, user, uid, gid, groups, keep_supplementary_groups, bounded)
    return DropResult(user, uid, gid, groups, changed=True)


def _verify(sc: Syscalls, user: str, uid: int, gid: int, groups: Sequence[int], keep_supplementary: bool,
            bounded: bool = False) -> None:
    def fail(problem: str) -> PrivilegeDropError:
        fix = "refusing to run with credentials that are not the ones asked for"
        return PrivilegeDropError("verify", user, problem, fix)

    got_uids = (sc.getuid(), sc.geteuid())
    got_gids = (sc.getgid(), sc.getegid())
    if got_uids != (uid, uid):
        raise fail(f"real/effective uid are {got_uids[0]}/{got_uids[1]}, expected {uid}")
    if got_gids != (gid, gid):
        raise fail(f"real/effective gid are {got_gids[0]}/{got_gids[1]}, expected {gid}")
    if sc.getresuid is not None and tuple(sc.getresuid()) != (uid, uid, uid):
        raise fail(f"real/effective/saved uid are {tuple(sc.getresuid())}, expected {uid} for all three")
    if sc.getresgid is not None and tuple(sc.getresgid()) != (gid, gid, gid):
        raise fail(f"real/effective/saved gid are {tuple(sc.getresgid())}, expected {gid} for all three")
    if keep_supplementary:
        if gid not in groups:
            raise fail(f"supplementary groups {list(groups)} do not contain the user's group {gid}")
    elif set(groups) - {gid}:
        raise fail(f"supplementary groups are {list(groups)}, expected only {gid}")
    problem = _capabilities_left(sc, uid, bounded)
    if problem:
        raise fail(problem)
    if uid != 0:
        for name, call in (("setuid", sc.setuid), ("setgid", sc.setgid)):
            try:
                call(0)
            except OSError:
                continue
            raise fail(f"{name}(0) succeeded after the drop, so root could be regained")


def _capabilities_left(sc: Syscalls, uid: int, bounded: bool) -> str | None:
    """Linux: what /proc/self/status says is left that should not be (None: nothing)."""
    if sc.proc_status is None:
        return None
    status = sc.proc_status()
    if sc.set_no_new_privs is not None and status.get("NoNewPrivs", "1") != "1":
        return "no_new_privs is not set"
    if uid != 0:
        for key in ("CapEff", "CapPrm", "CapAmb") + (("CapBnd",) if bounded else ()):
            if key in status and int(status[key], 16) != 0:
                return f"{key} is {status[key]}, expected no capability left"
    return None


def unreadable_files(paths: Iterable[str], *, access: Callable[[str, int], bool] = os.access) -> list[str]:
    """The paths the current (dropped) user cannot read: reloading them on SIGHUP would fail.

    Call after :func:`drop_privileges` and log a warning naming each, with the fix
    (e.g. ``chgrp _pf_exporter FILE; chmod 640 FILE``).
    """
    return [p for p in dict.fromkeys(paths) if not access(p, os.R_OK)]
