"""The table subsystem's objects (net/pf_table.c): a table (``pfr_ktable``), its entries
(``pfr_kentry``), the addresses of a request (``pfr_addr``) and a table request's name."""

from __future__ import annotations

import errno

from ..abi import constants as C
from .objects import SimAnchor
from .wire import KernelError

NO_ADDRESSES = -1
SETMASK = C.PFR_TFLAG_SETMASK
USRMASK = C.PFR_TFLAG_USRMASK
ALLMASK = C.PFR_FLAG_ALLMASK
USERIOCTL = 0x10000000  # PFR_FLAG_USERIOCTL (kernel-only flag, outside PFR_FLAG_ALLMASK)
RESERVED_ANCHOR = "_pf"


def accept_flags(flags: int, ok: int) -> None:
    """ACCEPT_FLAGS(): flags outside *ok* (within PFR_FLAG_ALLMASK) are EINVAL."""
    if (flags & ~ok) & ALLMASK:
        raise KernelError(errno.EINVAL)


def family_bits(af: int) -> int:
    return 32 if af == C.AF_INET else 128


class Addr:
    """A user-supplied ``struct pfr_addr``, decoded (pfr_addr fields)."""

    __slots__ = ("af", "addr", "net", "neg", "fback", "type", "ifname", "weight", "raw")

    def __init__(self, af: int, addr: bytes, net: int, neg: int = 0, fback: int = 0, type: int = 0,
                 ifname: str = "", weight: int = 0, raw: bytes = b"") -> None:
        self.af = af
        self.addr = addr  # 16 bytes, the pfra_u union
        self.net = net
        self.neg = neg
        self.fback = fback
        self.type = type
        self.ifname = ifname
        self.weight = weight
        self.raw = raw

    @property
    def key(self) -> tuple[int, bytes, int]:
        return (self.af, self.addr, self.net)

    def valid(self) -> bool:
        """pfr_validate_addr()."""
        if self.af == C.AF_INET:
            if self.net > 32:
                return False
        elif self.af == C.AF_INET6:
            if self.net > 128:
                return False
        else:
            return False
        if self.net < 128 and self.addr[self.net // 8] & (0xFF >> (self.net % 8)):
            return False
        if any(self.addr[(self.net + 7) // 8:]):
            return False
        if self.neg not in (0, 1):
            return False
        if self.fback != C.PFR_FB_NONE:
            return False
        return self.type < C.PFRKE_MAX


class KEntry:
    """``struct pfr_kentry``: one address of a table, with counters when the table counts."""

    __slots__ = ("af", "addr", "net", "neg", "type", "ifname", "weight", "counters", "packets", "bytes", "tzero",
                 "states", "rate", "bpp")

    def __init__(self, a: Addr, tzero: int, counters: bool) -> None:
        self.af = a.af
        self.addr = a.addr
        self.net = a.net
        self.neg = bool(a.neg)
        self.type = a.type
        self.ifname = a.ifname
        self.weight = a.weight
        self.counters = counters
        self.packets = [0.0] * 6  # [dir][PFR_OP_BLOCK, PFR_OP_MATCH, PFR_OP_PASS] flattened dir*3 + op
        self.bytes = [0.0] * 6
        self.tzero = tzero
        self.states = 0
        self.rate = 0.0
        self.bpp = 0.0

    @property
    def key(self) -> tuple[int, bytes, int]:
        return (self.af, self.addr, self.net)

    def walk_key(self) -> tuple[int, bytes, int]:
        """The order rn_walktree visits entries in: IPv4 head first, by address, most specific first."""
        return (0 if self.af == C.AF_INET else 1, self.addr, -self.net)

    def clear(self, tzero: int) -> None:
        self.packets = [0.0] * 6
        self.bytes = [0.0] * 6
        self.tzero = tzero


class Shadow:
    """The inactive copy of a table a transaction defines (``pfrkt_shadow``)."""

    __slots__ = ("flags", "entries")

    def __init__(self, flags: int, entries: dict[tuple[int, bytes, int], Addr] | None) -> None:
        self.flags = flags
        self.entries = entries  # None: NO_ADDRESSES (defined without PFR_FLAG_ADDRSTOO)


class KTable:
    """``struct pfr_ktable``."""

    __slots__ = ("name", "anchor", "flags", "nflags", "entries", "packets", "bytes", "match", "nomatch", "tzero",
                 "refcnt", "root", "shadow", "rs", "rate", "bpp")

    def __init__(self, name: str, anchor: str, flags: int, tzero: int) -> None:
        self.name = name
        self.anchor = anchor
        self.flags = flags
        self.nflags = 0
        self.entries: dict[tuple[int, bytes, int], KEntry] = {}
        self.packets = [0.0] * 8  # [dir][PFR_OP_BLOCK..PFR_OP_XPASS] flattened dir*4 + op
        self.bytes = [0.0] * 8
        self.match = 0.0
        self.nomatch = 0.0
        self.tzero = tzero
        self.refcnt = [0, 0]  # [PFR_REFCNT_RULE, PFR_REFCNT_ANCHOR]
        self.root: KTable | None = None
        self.shadow: Shadow | None = None
        self.rs: SimAnchor | None = None
        self.rate = 0.0
        self.bpp = 0.0

    @property
    def key(self) -> tuple[bytes, bytes]:
        """pfr_ktable_compare(): by name, then anchor."""
        return (self.name.encode(), self.anchor.encode())

    @property
    def active(self) -> bool:
        return bool(self.flags & C.PFR_TFLAG_ACTIVE)

    def sorted_entries(self) -> list[KEntry]:
        return sorted(self.entries.values(), key=KEntry.walk_key)

    def clstats(self, tzero: int, recurse: bool) -> None:
        """pfr_clstats_ktable()."""
        if recurse:
            for e in self.entries.values():
                e.clear(tzero)
        self.packets = [0.0] * 8
        self.bytes = [0.0] * 8
        self.match = self.nomatch = 0.0
        self.tzero = tzero

    def __repr__(self) -> str:
        return f"<table <{self.name}> in {self.anchor or '/'} flags {self.flags:#x}>"


class TableRequest:
    """A user's ``struct pfr_table`` decoded: the raw name/anchor bytes decide validity."""

    __slots__ = ("name_raw", "anchor_raw", "flags")

    def __init__(self, name_raw: bytes, anchor_raw: bytes, flags: int) -> None:
        self.name_raw = name_raw
        self.anchor_raw = anchor_raw
        self.flags = flags

    @property
    def name(self) -> str:
        return self.name_raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    @property
    def anchor(self) -> str:
        return fix_anchor(self.anchor_raw)[1]


def fix_anchor(raw: bytes) -> tuple[bool, str]:
    """pfr_fix_anchor(): drop leading slashes; the rest must be NUL-terminated and NUL-padded."""
    raw = raw.ljust(1024, b"\0")
    if raw[:1] == b"/":
        stripped = raw.lstrip(b"/")
        raw = stripped + b"\0" * (1024 - len(stripped))
    if raw[1023]:
        return False, ""
    n = raw.find(b"\0")
    if raw[n:].strip(b"\0"):
        return False, ""
    return True, raw[:n].decode("utf-8", "replace")


