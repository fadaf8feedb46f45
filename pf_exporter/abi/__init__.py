"""The pf(4) ioctl ABI of each supported OpenBSD release and architecture.

:func:`select_abi` is the one place that decides which ABI to speak: from an explicit
release/arch (``--pf.release``) or from ``os.uname()``.  Everything else receives the
resulting :class:`Abi`.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from . import constants
from .decls import records_for
from .ioctls import LIMITER_REQUESTS, REQUESTS, ioc
from .layout import ARCH_WORD, Layout, build_layout
from .releases import SUPPORTED_RELEASES, release_features

SUPPORTED_ARCHS = ("amd64", "arm64", "i386")
_RELEASE_ALIASES = {"8.0": "current", "-current": "current"}
_SCALARS = {"u_int32_t": ctypes.c_uint32, "u_int8_t": ctypes.c_uint8}

__all__ = ["Abi", "UnsupportedRelease", "select_abi", "SUPPORTED_RELEASES", "SUPPORTED_ARCHS", "constants"]


class UnsupportedRelease(ValueError):
    """The running (or requested) OpenBSD release or architecture has no ABI here."""


@dataclass(frozen=True)
class Request:
    name: str
    number: int
    arg: str | None  # struct tag or scalar C type
    writes: bool  # kernel refuses it on a read-only fd (pfioctl's FWRITE switch)


# The project's one list of requests pfioctl serves on a descriptor opened without FWRITE
# (net/pf_ioctl.c, its second switch); DIOCGETRULE only without PF_GET_CLR_CNTR.
READ_ONLY_REQUESTS = frozenset(
    {
        "DIOCGETRULES", "DIOCGETRULE", "DIOCGETSTATE", "DIOCGETSTATUS", "DIOCGETSTATES",
        "DIOCGETTIMEOUT", "DIOCGETLIMIT", "DIOCGETRULESETS", "DIOCGETRULESET", "DIOCGETQUEUES",
        "DIOCGETQUEUE", "DIOCGETQSTATS", "DIOCNATLOOK", "DIOCRGETTABLES", "DIOCRGETTSTATS",
        "DIOCRGETADDRS", "DIOCRGETASTATS", "DIOCRTSTADDRS", "DIOCOSFPGET", "DIOCGETSRCNODES",
        "DIOCIGETIFACES", "DIOCGETSYNFLWATS", "DIOCXEND", "DIOCGETSTATELIM",
        "DIOCGETNSTATELIM", "DIOCGETSOURCELIM", "DIOCGETNSOURCELIM", "DIOCGETSOURCE",
        "DIOCGETNSOURCE",
    }
)
# ... and the table requests it serves there only as a dry run (PFR_FLAG_DUMMY).
READ_ONLY_IF_DUMMY = frozenset(
    {
        "DIOCRCLRTABLES", "DIOCRADDTABLES", "DIOCRDELTABLES", "DIOCRCLRTSTATS", "DIOCRCLRADDRS", "DIOCRADDADDRS",
        "DIOCRDELADDRS", "DIOCRSETADDRS", "DIOCRSETTFLAGS",
    }
)


@dataclass(frozen=True)
class Abi:
    """Structs, request numbers and constants for one (release, arch)."""

    release: str
    arch: str
    layout: Layout = field(repr=False, compare=False)
    requests: dict[str, Request] = field(repr=False, compare=False)

    @property
    def features(self) -> frozenset[str]:
        """What this release's pf has beyond the 7.6 baseline (:mod:`.releases`): e.g. ``"limiters"``,
        7.9's state and source limiters."""
        return release_features(self.release)

    @property
    def has_limiters(self) -> bool:
        return "limiters" in self.features

    @property
    def native(self) -> bool:
        """True when these structs can be handed to this host's kernel (word size matches)."""
        return ctypes.sizeof(ctypes.c_void_p) == ARCH_WORD[self.arch]

    def request(self, name: str) -> Request:
        try:
            return self.requests[name]
        except KeyError:
            raise UnsupportedRelease(f"{name} does not exist in OpenBSD {self.release}") from None

    def by_number(self, number: int) -> Request | None:
        return _by_number(self.release, self.arch).get(number)

    def new(self, tag: str, **values: object) -> Any:
        """A zeroed instance of struct *tag*, with top-level fields set from *values* (a ctypes
        Structure built at run time, so typed Any: its fields are known only then)."""
        obj = getattr(self.layout, tag)()
        for k, v in values.items():
            setattr(obj, k, v)
        return obj

    def arg_type(self, req: Request) -> Any:
        if req.arg is None:
            return None
        if req.arg in _SCALARS:
            return _SCALARS[req.arg]
        return getattr(self.layout, req.arg)


@lru_cache(maxsize=256)
def array_type(cls: Any, n: int) -> Any:
    """``cls * n``, made once per (cls, n) and kept (the 256 most recent): ctypes makes a new
    type for each ``cls * n``, and a type is a reference cycle, which a scrape every few seconds
    would pile up between the garbage collector's rare passes (pinning the memory around it)."""
    return cls * n


def array(cls: Any, n: int) -> Any:
    """A zeroed ``cls * n`` array (of :func:`array_type`)."""
    return array_type(cls, n)()


def bucket(n: int) -> int:
    """*n* rounded up to one of eight sizes per power of two (at most an eighth more; up to 16 as
    it is): a buffer sized for a count that changes every scrape (states, addresses) reuses a few
    array types instead of making one per count."""
    if n <= 16:
        return n
    step = 1 << (n.bit_length() - 4)
    return -(-n // step) * step


def _normalise_release(release: str) -> str:
    return _RELEASE_ALIASES.get(release, release)


@cache
def _build(release: str, arch: str) -> Abi:
    layout = build_layout(records_for(release), arch)
    table = dict(REQUESTS)
    if "limiters" in release_features(release):
        table.update(LIMITER_REQUESTS)
    requests: dict[str, Request] = {}
    for name, (direction, num, arg) in table.items():
        if arg is None:
            size = 0
        elif arg in _SCALARS:
            size = ctypes.sizeof(_SCALARS[arg])
        else:
            size = ctypes.sizeof(getattr(layout, arg))
        requests[name] = Request(name, ioc(direction, "D", num, size), arg, name not in READ_ONLY_REQUESTS)
    return Abi(release, arch, layout, requests)


@cache
def _by_number(release: str, arch: str) -> dict[int, Request]:
    return {r.number: r for r in _build(release, arch).requests.values()}


def _unsupported_message(what: str, hint: str) -> str:
    return (
        f"unsupported {what}: supported are OpenBSD {', '.join(SUPPORTED_RELEASES[:-1])} and "
        f"-current (8.0) on {', '.join(SUPPORTED_ARCHS)}; {hint}"
    )


def select_abi(release: str | None = None, arch: str | None = None, uname: os.uname_result | None = None) -> Abi:
    """Pick the ABI: an explicit *release*/*arch* wins, else ``os.uname()`` decides.

    ``uname`` is injectable for tests.  A host that is not OpenBSD needs an explicit
    release (the simulator passes one).
    """
    given = release is not None
    if release is None or arch is None:
        u = uname if uname is not None else os.uname()
        if release is None:
            if u.sysname != "OpenBSD":
                raise UnsupportedRelease(
                    f"this is {u.sysname}, not OpenBSD, so the pf release cannot be detected; "
                    "pass --pf.release (e.g. 7.9) or use --simulate"
                )
            release = u.release
        if arch is None:
            arch = u.machine if u.sysname == "OpenBSD" else _host_arch(u.machine)
    rel = _normalise_release(release)
    if rel not in SUPPORTED_RELEASES:
        if given:
            hint = f"give --pf.release one of {', '.join(SUPPORTED_RELEASES[:-1])} or current"
        else:
            hint = ("this system's pf is not one of them; if its ABI matches a supported release (a snapshot "
                    "just after a release, say), name that release with --pf.release")
        raise UnsupportedRelease(_unsupported_message(f"OpenBSD release {release}", hint))
    if arch not in SUPPORTED_ARCHS:
        raise UnsupportedRelease(_unsupported_message(f"architecture {arch}", "pf's structs are known for those only"))
    return _build(rel, arch)


def _host_arch(machine: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64", "i686": "i386", "i386": "i386"}.get(machine, machine)
