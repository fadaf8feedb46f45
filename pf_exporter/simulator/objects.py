"""The simulator's kernel objects: compact Python stand-ins for pf's in-kernel structures.

Each class names the kernel structure it models.  Counters are floats that
:meth:`Simulator.advance` moves; they are exported as integers.
"""

from __future__ import annotations

import ctypes
from typing import Any

from ..abi import constants as C
from .wire import U32, cstr


class SimAnchor:
    """``struct pf_anchor`` with its ``pf_ruleset`` (the main ruleset is the anchor with path "")."""

    __slots__ = (
        "name", "path", "parent", "children", "active", "active_version", "inactive", "inactive_version",
        "inactive_open", "tables", "topen", "tticket", "refcnt", "linked",
    )

    def __init__(self, name: str, path: str, parent: SimAnchor | None) -> None:
        self.name = name
        self.path = path
        self.parent = parent
        self.children: dict[str, SimAnchor] = {}
        self.active: list[SimRule] = []
        self.active_version = 0
        self.inactive: list[SimRule] = []
        self.inactive_version = 0
        self.inactive_open = False
        self.tables = 0  # ktables attached to this ruleset (pf_ruleset.tables)
        self.topen = False  # a table transaction is open (pf_ruleset.topen)
        self.tticket = 0
        self.refcnt = 0  # rules whose anchor call points here
        self.linked = True  # still in the global anchor tree

    def sorted_children(self) -> list[SimAnchor]:
        return [self.children[k] for k in sorted(self.children, key=str.encode)]

    def __repr__(self) -> str:
        return f"<anchor {self.path or '/'}: {len(self.active)} rules>"


class SimRule:
    """``struct pf_rule`` as the kernel keeps it after DIOCADDRULE (``kr`` holds the struct bytes).

    Python attributes mirror what matching and export need; counters move with traffic.
    """

    __slots__ = (
        "kr", "nr", "ruleset", "label", "ifname", "action", "direction", "quick", "log", "af", "proto",
        "anchor", "tables", "kifs", "evaluations", "packets", "bytes", "states_cur", "states_tot", "src_nodes",
        "rate", "pass_share", "bpp", "skip",
    )

    def __init__(self, kr: ctypes.Structure, ruleset: SimAnchor) -> None:
        self.kr = kr
        self.nr = U32
        self.ruleset = ruleset
        self.label = cstr(kr.label)
        self.ifname = cstr(kr.ifname)
        self.action = kr.action
        self.direction = kr.direction
        self.quick = kr.quick
        self.log = kr.log
        self.af = kr.af
        self.proto = kr.proto
        self.anchor: SimAnchor | None = None
        self.tables: list[tuple[str, Any]] = []  # (pf_rule_addr field, ktable.KTable) for each table address
        self.kifs: list[str] = []
        self.evaluations = 0.0
        self.packets = [0.0, 0.0]
        self.bytes = [0.0, 0.0]
        self.states_cur = 0
        self.states_tot = kr.states_tot
        self.src_nodes = 0
        self.rate = 0.0  # evaluations per second
        self.pass_share = 0.0  # fraction of evaluations that match
        self.bpp = 0.0  # bytes per packet
        self.skip: list[int] = [U32] * 9

    def __repr__(self) -> str:
        return f"<rule {self.ruleset.path}#{self.nr} {self.label!r}>"


class SimKif:
    """``struct pfi_kif``: an interface, an interface group, or a name only rules refer to."""

    __slots__ = (
        "name", "is_group", "has_ifp", "members", "groups", "packets", "bytes", "rates", "bpp", "tzero", "flags",
        "flags_new", "states", "rules", "routes", "srcnodes", "flagrefs", "addr", "v4", "v6",
    )

    def __init__(self, name: str, *, is_group: bool = False, has_ifp: bool = False, addr: int = 0) -> None:
        self.name = name
        self.is_group = is_group
        self.has_ifp = has_ifp
        self.members: list[str] = []
        self.groups: list[str] = []
        # pfik_packets[af][dir][action] flattened as af*4 + dir*2 + action
        self.packets = [0.0] * 8
        self.bytes = [0.0] * 8
        self.rates = [0.0] * 8
        self.bpp = 0.0
        self.tzero = 0
        self.flags = 0
        self.flags_new = 0
        self.states = 0
        self.rules = 0
        self.routes = 0
        self.srcnodes = 0
        self.flagrefs = 0
        self.addr = addr  # a made-up kernel address for the pointers pfi_get_ifaces copies out
        self.v4: list[tuple[bytes, int]] = []  # (address, prefix) configured on the interface
        self.v6: list[tuple[bytes, int]] = []

    def __repr__(self) -> str:
        return f"<kif {self.name}{' (group)' if self.is_group else ''}>"


class SimQueue:
    """``struct pf_queuespec`` plus the HFSC class / fq_codel statistics behind it."""

    __slots__ = (
        "spec", "qname", "parent", "ifname", "qid", "parent_qid", "flags", "qlimit", "xmit_packets", "xmit_bytes",
        "drop_packets", "drop_bytes", "qlength", "period", "rate", "drop_share", "bpp", "flows", "delaysum",
        "delaysumsq", "class_handle",
    )

    def __init__(self, spec: ctypes.Structure) -> None:
        self.spec = spec
        self.qname = cstr(spec.qname)
        self.parent = cstr(spec.parent)
        self.ifname = cstr(spec.ifname)
        self.qid = spec.qid
        self.parent_qid = spec.parent_qid
        self.flags = spec.flags
        self.qlimit = spec.qlimit
        self.xmit_packets = 0.0
        self.xmit_bytes = 0.0
        self.drop_packets = 0.0
        self.drop_bytes = 0.0
        self.qlength = 0
        self.period = 0
        self.rate = 0.0
        self.drop_share = 0.0
        self.bpp = 0.0
        self.flows = 0
        self.delaysum = 0
        self.delaysumsq = 0
        self.class_handle = 0

    def fq_stats(self) -> bool:
        """pfioctl's DIOCGETQSTATS test: a root flow queue that is not an HFSC root class."""
        return bool(self.flags & 0x0001) and self.parent_qid == 0 and not (self.flags & 0x0002)

    def __repr__(self) -> str:
        return f"<queue {self.qname} on {self.ifname}>"


class SimState:
    """``struct pf_state`` reduced to what DIOCGETSTATES exports and DIOCKILLSTATES matches.

    ``tmpl`` is the exported ``pfsync_state`` (network byte order) with the time-dependent
    fields left zero; they are filled in at export.
    """

    __slots__ = (
        "id", "tmpl", "kif", "af", "proto", "direction", "src", "dst", "sport", "dport", "rdomain", "rule",
        "anchor", "created", "last", "timeout", "rate", "bpp", "death",
    )

    def __init__(self) -> None:
        self.id = 0
        self.tmpl = b""
        self.kif = ""
        self.af = 0
        self.proto = 0
        self.direction = 0
        # the connection's source and destination as the kill filter sees them (pf_ioctl.c DIOCKILLSTATES)
        self.src = b""
        self.dst = b""
        self.sport = 0
        self.dport = 0
        self.rdomain = 0
        self.rule: SimRule | None = None
        self.anchor: SimRule | None = None
        self.created = 0  # uptime seconds
        self.last = 0  # uptime of the last packet (st->expire)
        self.timeout = 0
        self.rate = 0.0  # packets per second, both directions
        self.bpp = 0.0
        self.death = 0.0  # uptime at which the traffic model lets the state expire


class SimStateLimiter:
    """``struct pf_statelim`` (7.9+)."""

    __slots__ = ("id", "name", "limit", "rate_limit", "rate_seconds", "inuse", "admitted", "hardlimited",
                 "ratelimited", "growth")

    def __init__(self, id: int, name: str, limit: int, rate_limit: int = 0, rate_seconds: int = 0) -> None:
        self.id = id
        self.name = name
        self.limit = limit
        self.rate_limit = rate_limit
        self.rate_seconds = rate_seconds
        self.inuse = 0
        self.admitted = 0.0
        self.hardlimited = 0.0
        self.ratelimited = 0.0
        self.growth = 0.0


class SimSourceLimiter:
    """``struct pf_sourcelim`` (7.9+)."""

    __slots__ = (
        "id", "name", "entries", "limit", "rate_limit", "rate_seconds", "overload_table", "overload_hwm",
        "overload_lwm", "inet_prefix", "inet6_prefix", "nsources", "inuse", "addrallocs", "addrnomem", "admitted",
        "addrlimited", "hardlimited", "ratelimited", "growth", "sources",
    )

    def __init__(self, id: int, name: str, entries: int, limit: int, **kw: Any) -> None:
        self.id = id
        self.name = name
        self.entries = entries
        self.limit = limit
        self.rate_limit = int(kw.get("rate_limit", 0))
        self.rate_seconds = int(kw.get("rate_seconds", 0))
        self.overload_table = str(kw.get("overload_table", ""))
        self.overload_hwm = int(kw.get("overload_hwm", 0))
        self.overload_lwm = int(kw.get("overload_lwm", 0))
        self.inet_prefix = int(kw.get("inet_prefix", 32))
        self.inet6_prefix = int(kw.get("inet6_prefix", 128))
        self.nsources = 0
        self.inuse = 0
        self.addrallocs = 0.0
        self.addrnomem = 0.0
        self.admitted = 0.0
        self.addrlimited = 0.0
        self.hardlimited = 0.0
        self.ratelimited = 0.0
        self.growth = 0.0
        # pf_source entries: (af, rdomain, 16-byte masked address) -> [inuse, admitted, hardlimited, ratelimited]
        self.sources: dict[tuple[int, int, bytes], list[int]] = {}


def source_key(af: int, rdomain: int, addr: bytes, inet_prefix: int, inet6_prefix: int) -> tuple[int, int, bytes]:
    """A source limiter entry's key: the address masked to the limiter's prefix length."""
    bits = inet_prefix if af == C.AF_INET else inet6_prefix
    n = 4 if af == C.AF_INET else 16
    value = int.from_bytes(addr[:n], "big") & (((1 << bits) - 1) << (n * 8 - bits) if bits else 0)
    return af, rdomain, value.to_bytes(n, "big") + bytes(16 - n)
