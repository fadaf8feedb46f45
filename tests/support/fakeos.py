"""Stand-ins for the operating system: libc's unveil/pledge, the credential system calls, syslog,
a clock and a socket, so start-up, privilege drop and the connection guard are tested without root."""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import syslog as real_syslog
from types import SimpleNamespace

from pf_exporter.privsep import (
    Syscalls,
)


def ended_by_server(sock: socket.socket) -> bool:
    """Whether the server closed this connection (without answering anything but, maybe, nothing)."""
    sock.settimeout(0.01)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeConn:
    """Stands for a socket: the guard only shuts it down."""

    def __init__(self) -> None:
        self.a, self.b = socket.socketpair()

    def fileno(self) -> int:
        return self.a.fileno()

    def ended(self) -> bool:
        return ended_by_server(self.b)


class FakeSyslog:
    """Stands in for the stdlib ``syslog`` module and records what would be sent."""

    LOG_DAEMON = real_syslog.LOG_DAEMON
    LOG_PID = real_syslog.LOG_PID
    LOG_NDELAY = real_syslog.LOG_NDELAY
    LOG_DEBUG = real_syslog.LOG_DEBUG
    LOG_INFO = real_syslog.LOG_INFO
    LOG_WARNING = real_syslog.LOG_WARNING
    LOG_ERR = real_syslog.LOG_ERR
    LOG_CRIT = real_syslog.LOG_CRIT

    def __init__(self) -> None:
        self.opened: list[tuple[str, int, int]] = []
        self.sent: list[tuple[int, str]] = []
        self.closed = 0

    def openlog(self, ident: str, logoption: int, facility: int) -> None:
        self.opened.append((ident, logoption, facility))

    def syslog(self, priority: int, message: str) -> None:
        self.sent.append((priority, message))

    def closelog(self) -> None:
        self.closed += 1


PF_UID = PF_GID = 871


def pwent(name: str, uid: int, gid: int) -> SimpleNamespace:
    return SimpleNamespace(pw_name=name, pw_uid=uid, pw_gid=gid, pw_dir="/var/empty", pw_shell="/sbin/nologin")


class FakeKernel:
    """Process credentials with the kernel's rules, recording every call that changes them."""

    def __init__(self, uid: int = 0, gid: int = 0, groups: tuple[int, ...] = (0, 2, 3), *,
                 fail: dict[str, int] | None = None, quirks: tuple[str, ...] = ()) -> None:
        self.ruid = self.euid = self.suid = uid
        self.rgid = self.egid = self.sgid = gid
        self.groups = list(groups)
        self.users = {
            "_pf_exporter": pwent("_pf_exporter", PF_UID, PF_GID),
            "root": pwent("root", 0, 0),
            "toor": pwent("toor", 0, 0),
            "www": pwent("www", 67, 67),
        }
        self.group_members = {"_pf_exporter": [PF_GID, 100]}
        self.fail = fail or {}
        self.quirks = set(quirks)
        self.calls: list[tuple[str, object]] = []

    def _enter(self, name: str, arg: object) -> None:
        self.calls.append((name, arg))
        if name in self.fail:
            raise OSError(self.fail[name], os.strerror(self.fail[name]))

    def getpwnam(self, name: str) -> SimpleNamespace:
        self._enter("getpwnam", name)
        try:
            return self.users[name]
        except KeyError:
            raise KeyError(f"getpwnam(): name not found: {name!r}") from None

    def setgroups(self, groups: list[int]) -> None:
        self._enter("setgroups", list(groups))
        if self.euid != 0:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        if "setgroups_ignored" not in self.quirks:
            self.groups = list(groups)

    def initgroups(self, name: str, gid: int) -> None:
        self._enter("initgroups", (name, gid))
        if self.euid != 0:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        self.groups = sorted({gid, *self.group_members.get(name, [])})

    def setgid(self, gid: int) -> None:
        self._enter("setgid", gid)
        if self.euid == 0:
            self.rgid = self.egid = self.sgid = gid
        elif gid in (self.rgid, self.sgid):
            self.egid = gid
        else:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    def setuid(self, uid: int) -> None:
        self._enter("setuid", uid)
        if self.euid == 0 and "setuid_effective_only" in self.quirks:
            self.euid = uid
        elif self.euid == 0 and "setuid_keeps_saved" in self.quirks:
            self.ruid = self.euid = uid
        elif self.euid == 0:
            self.ruid = self.euid = self.suid = uid
        elif uid in (self.ruid, self.suid) or "root_regainable" in self.quirks:
            self.euid = uid
        else:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    def syscalls(self) -> Syscalls:
        return Syscalls(
            getpwnam=self.getpwnam,
            initgroups=self.initgroups,
            setgroups=self.setgroups,
            getgroups=lambda: list(self.groups),
            setgid=self.setgid,
            setuid=self.setuid,
            getuid=lambda: self.ruid,
            geteuid=lambda: self.euid,
            getgid=lambda: self.rgid,
            getegid=lambda: self.egid,
            getresuid=lambda: (self.ruid, self.euid, self.suid),
            getresgid=lambda: (self.rgid, self.egid, self.sgid),
        )

    @property
    def ids(self) -> tuple[int, int, int, int, int, int]:
        return (self.ruid, self.euid, self.suid, self.rgid, self.egid, self.sgid)


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, use_errno=True)


class FakeLibc:
    """Records every call as the C side sees it; ``fail[(name, first_arg)] = errno`` makes one fail."""

    def __init__(self, fail: dict[tuple[str, bytes | None], int] | None = None) -> None:
        self.calls: list[tuple[str, bytes | None, bytes | None]] = []
        self.fail = fail or {}
        self.unveil = _CALLBACK(lambda a, b: self._record("unveil", a, b))
        self.pledge = _CALLBACK(lambda a, b: self._record("pledge", a, b))

    def _record(self, name: str, a: bytes | None, b: bytes | None) -> int:
        self.calls.append((name, a, b))
        err = self.fail.get((name, a))
        if err:
            ctypes.set_errno(err)  # copied into the C errno when the callback returns
            return -1
        return 0
