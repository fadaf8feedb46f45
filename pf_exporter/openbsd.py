"""unveil(2) and pledge(2) through ctypes on libc, applied only on OpenBSD.

After the privilege drop the exporter unveils just what it must still open: the files
SIGHUP re-reads (web config, TLS certificate/key/client CA, admin token files) and, read-only,
the Python library directories (modules imported lazily after start-up), then locks unveil.
The calls go through libc's own stubs (looked up with dlsym): recent releases pin system
calls to libc (pinsyscalls(2)) and no longer offer syscall(2).

Why there is no pledge(2) promise set
-------------------------------------
Every pf ioctl is checked by ``pledge_ioctl()`` in sys/kern/kern_pledge.c.  The ``pf``
promise lets through exactly twelve requests, a list unchanged since December 2015 (so the
same for 7.6 through 7.9 and -current)::

    DIOCADDRULE DIOCGETSTATUS DIOCNATLOOK DIOCRADDTABLES DIOCRCLRADDRS DIOCRCLRTABLES
    DIOCRCLRTSTATS DIOCRGETTSTATS DIOCRSETADDRS DIOCXBEGIN DIOCXCOMMIT DIOCKILLSRCNODES

That list serves daemons that add rules to their own anchor or look up NAT entries
(ftp-proxy-like helpers, miniupnpd), not a monitor. A scrape needs DIOCGETRULES,
DIOCGETRULE, DIOCXEND (rules and labels), DIOCGETRULESETS/DIOCGETRULESET (anchors),
DIOCRGETTABLES (tables), DIOCIGETIFACES (interfaces), DIOCGETLIMIT, DIOCGETTIMEOUT,
DIOCGETSYNFLWATS, DIOCGETQUEUES/DIOCGETQUEUE/DIOCGETQSTATS (queues), DIOCGETSTATES (states)
and, on 7.9, the DIOCGET*LIM requests: none of them is allowed, so a process pledged with
e.g. ``"stdio inet unix rpath pf"`` would be killed with SIGABRT during its first scrape
(with the ``error`` promise the ioctl would fail with ENOSYS instead, so the collectors
would still break). The admin API is no better off: DIOCXROLLBACK, DIOCKILLSTATES,
DIOCCLRSTATES, DIOCRADDADDRS, DIOCRDELADDRS, DIOCSTART and DIOCSTOP are not in the list
either. The collectors issue these requests on every scrape for the life of the process,
so there is no later point at which promises (which can only ever be reduced) could be
narrowed to "pf".

What *is* pledged: ``pledge(NULL, "")`` — the current process keeps no promise
restrictions (``promises`` NULL leaves them unchanged), but any program it might execve(2)
starts with no promises at all and is killed on its first system call.  The exporter never
executes anything, so this costs nothing and removes "spawn a shell" from what an attacker
who took over the process could do.  Pledging the network-facing code would need a
privilege-separated design (an unpledged process that only talks to /dev/pf, and an HTTP
child pledged ``"stdio inet"`` fed over a socketpair), which this project does not do.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# sys/kern/kern_pledge.c, pledge_ioctl(): the DIOC* requests the "pf" promise allows.
PLEDGE_PF_IOCTLS = frozenset(
    {
        "DIOCADDRULE", "DIOCGETSTATUS", "DIOCNATLOOK", "DIOCRADDTABLES", "DIOCRCLRADDRS", "DIOCRCLRTABLES",
        "DIOCRCLRTSTATS", "DIOCRGETTSTATS", "DIOCRSETADDRS", "DIOCXBEGIN", "DIOCXCOMMIT", "DIOCKILLSRCNODES",
    }
)

# sys/kern/kern_pledge.c, pledgereq[]: every promise name the kernel accepts.
PLEDGE_PROMISES = frozenset(
    {
        "audio", "bpf", "chown", "cpath", "disklabel", "dns", "dpath", "drm", "error", "exec", "fattr",
        "flock", "getpw", "id", "inet", "mcast", "pf", "proc", "prot_exec", "ps", "recvfd", "route",
        "rpath", "sendfd", "settime", "stdio", "tape", "tty", "unix", "unveil", "video", "vminfo", "vmm",
        "wpath", "wroute",
    }
)

# sys/kern/kern_unveil.c: UNVEIL_MAX_VNODES / UNVEIL_MAX_NAMES.
UNVEIL_MAX_PATHS = 128
_PERMISSION_ORDER = "rwxc"  # unveil_parsepermissions(); the kernel copies at most 4 chars + NUL

# int unveil(const char *path, const char *permissions);
# int pledge(const char *promises, const char *execpromises);
_PROTOTYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, use_errno=True)


class SandboxError(RuntimeError):
    """unveil(2)/pledge(2) refused, or the plan is invalid; ``errno`` is set when the kernel said no."""

    def __init__(self, message: str, err: int | None = None) -> None:
        super().__init__(message)
        self.errno = err


@dataclass(frozen=True)
class UnveilRule:
    path: str
    permissions: str

    def __str__(self) -> str:
        return f"{self.path} ({self.permissions or 'hidden'})"


@dataclass(frozen=True)
class SandboxPlan:
    """What to unveil (in order), then lock, then pledge; ``None`` for a pledge argument means NULL."""

    unveil: tuple[UnveilRule, ...]
    promises: str | None = None
    execpromises: str | None = ""


def is_openbsd(sysname: str | None = None) -> bool:
    return (os.uname().sysname if sysname is None else sysname) == "OpenBSD"


def check_permissions(permissions: str) -> str:
    """Validate unveil permissions ("r", "w", "x", "c", each at most once) and return them in canonical order."""
    bad = sorted(set(permissions) - set(_PERMISSION_ORDER))
    if bad or len(set(permissions)) != len(permissions):
        raise SandboxError(
            f"invalid unveil permissions {permissions!r}: use each of r, w, x, c at most once (or '' to hide)"
        )
    return "".join(ch for ch in _PERMISSION_ORDER if ch in permissions)


def check_promises(promises: str, what: str = "promises") -> None:
    unknown = [p for p in promises.split() if p not in PLEDGE_PROMISES]
    if unknown:
        raise SandboxError(f"unknown pledge {what} {' '.join(unknown)!r}: see pledge(2) for the valid names")


def _encode(value: str | None, what: str) -> bytes | None:
    if value is None:
        return None
    raw = os.fsencode(value)
    if b"\0" in raw:
        # ctypes would silently cut the string at the NUL and unveil a different path.
        raise SandboxError(f"{what} {value!r} contains a NUL byte")
    return raw


def _bind(lib: Any, name: str) -> Any:
    try:
        symbol = getattr(lib, name)
    except AttributeError:
        raise SandboxError(f"libc has no {name}(): this is not an OpenBSD libc (unveil needs 6.4 or later)") from None
    address = ctypes.cast(symbol, ctypes.c_void_p).value
    if not address:
        raise SandboxError(f"libc's {name}() has no address")
    return _PROTOTYPE(address)


def load_libc() -> Any:
    """The process's libc (OpenBSD: dlopen(NULL) already sees it), with errno saved after each call."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        from ctypes.util import find_library  # only here: it brings subprocess along (a third of a MB)

        path = find_library("c")
        if path is None:
            raise SandboxError("cannot find libc to call unveil(2)/pledge(2)") from None
        return ctypes.CDLL(path, use_errno=True)


_UNVEIL_HINTS = {
    errno.ENOENT: "a directory on the path does not exist; fix the path in the configuration",
    errno.EPERM: "unveil is already locked, or the exporter's user cannot access the path at all",
    errno.E2BIG: f"too many unveiled paths (the kernel allows {UNVEIL_MAX_PATHS})",
    errno.EINVAL: "bad permissions or an empty path",
}
_PLEDGE_HINTS = {
    errno.EINVAL: "a promise name is unknown to this kernel",
    errno.EPERM: "promises can only be reduced, never widened",
}


class Sandbox:
    """The two system calls, bound with explicit prototypes to ``libc`` (real, or a test's fake)."""

    def __init__(self, libc: Any | None = None) -> None:
        self.libc = load_libc() if libc is None else libc  # keeps a fake's callbacks alive
        self._unveil = _bind(self.libc, "unveil")
        self._pledge = _bind(self.libc, "pledge")

    def unveil(self, path: str, permissions: str) -> None:
        perms = check_permissions(permissions)
        if not path:
            raise SandboxError("unveil: empty path")
        self._call(self._unveil, _encode(path, "unveil path"), perms.encode(), f"unveil({path!r}, {perms!r})",
                   _UNVEIL_HINTS)

    def lock_unveil(self) -> None:
        """unveil(NULL, NULL): no further unveil calls; the view of the file system is final."""
        self._call(self._unveil, None, None, "unveil(NULL, NULL)", _UNVEIL_HINTS)

    def pledge(self, promises: str | None, execpromises: str | None) -> None:
        if promises is not None:
            check_promises(promises)
        if execpromises is not None:
            check_promises(execpromises, "execpromises")
        shown = ", ".join("NULL" if p is None else repr(p) for p in (promises, execpromises))
        self._call(self._pledge, _encode(promises, "promises"), _encode(execpromises, "execpromises"),
                   f"pledge({shown})", _PLEDGE_HINTS)

    def apply(self, plan: SandboxPlan) -> None:
        if len(plan.unveil) > UNVEIL_MAX_PATHS:
            raise SandboxError(f"{len(plan.unveil)} paths to unveil: the kernel allows {UNVEIL_MAX_PATHS}")
        for rule in plan.unveil:
            self.unveil(rule.path, rule.permissions)
        self.lock_unveil()
        if plan.promises is not None or plan.execpromises is not None:
            self.pledge(plan.promises, plan.execpromises)

    @staticmethod
    def _call(fn: Any, a: bytes | None, b: bytes | None, shown: str, hints: dict[int, str]) -> None:
        ctypes.set_errno(0)
        if fn(a, b) == 0:
            return
        err = ctypes.get_errno()
        msg = f"{shown} failed: {os.strerror(err)}"
        if err in hints:
            msg += f" ({hints[err]})"
        raise SandboxError(msg, err)


def apply_sandbox(plan: SandboxPlan, *, sysname: str | None = None, libc: Any | None = None) -> bool:
    """Unveil, lock and pledge as ``plan`` says; on anything but OpenBSD do nothing and return False.

    An injected ``libc`` forces the calls (tests build the real ctypes calls against a fake).
    """
    if libc is None and not is_openbsd(sysname):
        return False
    Sandbox(libc).apply(plan)
    return True


def python_library_paths() -> list[str]:
    """Directories Python may still import from after start-up: stdlib, site-packages, this package."""
    import sysconfig  # only on OpenBSD, once at start-up

    names = ("stdlib", "platstdlib", "purelib", "platlib")
    paths = sysconfig.get_paths()
    found = [paths[n] for n in names if n in paths]
    found.append(str(Path(__file__).resolve().parent))
    return [p for p in dict.fromkeys(found) if os.path.isdir(p)]


def unveil_plan(
    *,
    web_config_files: Iterable[str | os.PathLike[str]] = (),
    tls_files: Iterable[str | os.PathLike[str]] = (),
    token_files: Iterable[str | os.PathLike[str]] = (),
    unix_sockets: Iterable[str | os.PathLike[str]] = (),
    devices: Iterable[tuple[str | os.PathLike[str], str]] = (),
    log_files: Iterable[str | os.PathLike[str]] = (),
    python_paths: Iterable[str] | None = None,
    execpromises: str | None = "",
) -> SandboxPlan:
    """The sandbox for a configuration: everything SIGHUP re-reads, read-only; nothing else.

    ``tls_files`` are the cert/key/client-CA paths named in the web config(s) (for both the
    metrics and the admin listener); ``token_files`` the admin bearer-token files;
    ``unix_sockets`` an admin unix socket, unveiled "c" so it can be removed at exit;
    ``devices`` (path, permissions) pairs: ``/dev/pf``, which the exporter reopens at
    securelevel > 1 (the kernel then refuses DIOCXEND, so walk tickets are only released by
    closing the descriptor); ``log_files`` the admin audit log, unveiled "w" so SIGHUP can reopen
    it by name after newsyslog rotated it (newsyslog creates the new file, so no "c").
    Relative paths are made absolute against the current directory, so build the plan
    before any chdir.  A symlinked file is unveiled under both names.  Only the files are
    visible, not their directories; a file replaced by rename (acme-client, certbot) stays
    visible because unveil remembers the name.  Changing the *paths* in the web config
    needs a restart: a SIGHUP cannot see files that were not unveiled at start-up.
    """
    wanted: dict[str, set[str]] = {}

    def add(path: str | os.PathLike[str], perms: str) -> None:
        text = os.fspath(path)
        if not text:
            raise SandboxError("empty path in the configuration")
        absolute = os.path.abspath(text)
        for p in dict.fromkeys([absolute, os.path.realpath(absolute)]):
            wanted.setdefault(p, set()).update(perms)

    for group in (web_config_files, tls_files, token_files):
        for path in group:
            add(path, "r")
    for path in unix_sockets:
        add(path, "c")
    for path, perms in devices:
        add(path, perms)
    for path in log_files:
        add(path, "w")
    for path in python_library_paths() if python_paths is None else python_paths:
        add(path, "r")

    rules = tuple(UnveilRule(p, check_permissions("".join(perms))) for p, perms in wanted.items())
    if not rules:
        # Lock with nothing visible rather than leave the whole file system open.
        rules = (UnveilRule("/", ""),)
    if len(rules) > UNVEIL_MAX_PATHS:
        raise SandboxError(f"{len(rules)} paths to unveil: the kernel allows {UNVEIL_MAX_PATHS}")
    return SandboxPlan(unveil=rules, promises=None, execpromises=execpromises)
