"""The internal ruleset representation: one dataclass per kernel struct, field for field
(``struct pf_rule``, ``pf_rule_addr``, ``pf_addr_wrap``, ``pf_pool``, ``pf_queuespec``).

Both the pf.conf parser and the decoder of kernel structs produce these values, and the
printer renders them, so a rule read back from the kernel prints exactly like the rule
compiled from text.  Ports are host byte order here (the kernel keeps them in network
order); addresses are 16-byte ``pf_addr`` values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ..abi.constants import (
    PF_ADDR_ADDRMASK,
    PF_ADDR_DYNIFTL,
    PF_ADDR_NONE,
    PF_ADDR_RTLABEL,
    PF_ADDR_TABLE,
    PF_INOUT,
    PF_PASS,
    PFTM_MAX,
)
from .addr import ZERO


@dataclass
class AddrWrap:
    """``struct pf_addr_wrap``.  The kernel overlays ``ifname``/``tblname``/``rtlabelname``
    on ``addr``/``mask``; :meth:`union_addr` and :meth:`union_mask` give that view."""

    type: int = PF_ADDR_ADDRMASK
    addr: bytes = ZERO
    mask: bytes = ZERO
    ifname: str = ""
    tblname: str = ""
    rtlabelname: str = ""
    iflags: int = 0
    count: int = -1  # dyncnt/tblcnt as read back from the kernel; -1 when unknown

    def _union(self) -> bytes:
        if self.type == PF_ADDR_DYNIFTL:
            name = self.ifname.encode()[:16]
            return name + bytes(16 - len(name)) + self.mask
        if self.type == PF_ADDR_TABLE:
            name = self.tblname.encode()[:32]
            return name + bytes(32 - len(name))
        if self.type == PF_ADDR_RTLABEL:
            name = self.rtlabelname.encode()[:32]
            return name + bytes(32 - len(name))
        return self.addr + self.mask

    def union_addr(self) -> bytes:
        return self._union()[:16]

    def union_mask(self) -> bytes:
        return self._union()[16:]


@dataclass
class RuleAddr:
    """``struct pf_rule_addr``."""

    addr: AddrWrap = field(default_factory=AddrWrap)
    port: tuple[int, int] = (0, 0)
    neg: bool = False
    port_op: int = 0
    weight: int = 0


@dataclass
class Pool:
    """``struct pf_pool``: a translation or routing target."""

    addr: AddrWrap = field(default_factory=lambda: AddrWrap(type=PF_ADDR_NONE))
    key: tuple[int, int, int, int] = (0, 0, 0, 0)
    ifname: str = ""
    proxy_port: tuple[int, int] = (0, 0)
    port_op: int = 0
    opts: int = 0


@dataclass
class Divert:
    type: int = 0
    addr: bytes = ZERO
    port: int = 0


@dataclass
class RuleDef:
    """A rule's definition, field for field ``struct pf_rule`` (what pfctl hands to DIOCADDRULE
    and gets from DIOCGETRULE); not to be confused with :class:`pf_exporter.pf.Rule`, a rule
    read from pf with its counters and text."""

    action: int = PF_PASS
    direction: int = PF_INOUT
    log: int = 0
    logif: int = 0
    quick: bool = False
    ifname: str = ""
    ifnot: bool = False
    onrdomain: int = -1
    rcv_ifname: str = ""
    rcvifnot: bool = False
    af: int = 0
    naf: int = 0
    proto: int = 0
    src: RuleAddr = field(default_factory=RuleAddr)
    dst: RuleAddr = field(default_factory=RuleAddr)
    os_fingerprint: int = 0
    uid: tuple[int, int, int] = (0, 0, 0)  # (op, uid[0], uid[1])
    gid: tuple[int, int, int] = (0, 0, 0)
    flags: int = 0
    flagset: int = 0
    type: int = 0  # ICMP type + 1, 0 = none
    code: int = 0  # ICMP code + 1, 0 = none
    tos: int = 0
    prio: int = 0
    set_prio: tuple[int, int] = (0, 0)
    set_tos: int = 0
    delay: int = 0
    pktrate: tuple[int, int] = (0, 0)  # (limit, seconds)
    scrub_flags: int = 0
    min_ttl: int = 0
    max_mss: int = 0
    qname: str = ""
    pqname: str = ""
    keep_state: int = 0
    max_states: int = 0
    max_src_nodes: int = 0
    max_src_states: int = 0
    max_src_conn: int = 0
    max_src_conn_rate: tuple[int, int] = (0, 0)
    overload_tblname: str = ""
    flush: int = 0
    rule_flag: int = 0
    timeout: list[int] = field(default_factory=lambda: [0] * PFTM_MAX)
    prob: int = 0
    allow_opts: bool = False
    label: str = ""
    tagname: str = ""
    match_tagname: str = ""
    match_tag_not: bool = False
    rtableid: int = -1
    divert: Divert = field(default_factory=Divert)
    nat: Pool = field(default_factory=Pool)
    rdr: Pool = field(default_factory=Pool)
    route: Pool = field(default_factory=Pool)
    rt: int = 0
    return_ttl: int = 0
    return_icmp: int = 0
    return_icmp6: int = 0
    nr: int = 0
    statelim: tuple[int, int] = (0, 0)  # 7.9+: (limiter id, limiter_action); id 0 = none
    sourcelim: tuple[int, int] = (0, 0)
    # not in the kernel struct: the ruleset an anchor rule calls, and the name it is called by
    anchor: Anchor | None = None
    anchor_call: str = ""
    line: int = 0  # pf.conf line the rule came from (0 when read from the kernel)
    # names the kernel keeps only as numbers, for printing: the OS fingerprint (os_fingerprint)
    # and the 7.9 limiters (statelim/sourcelim ids); "" = not known, printed from the number
    os_name: str = ""
    statelim_name: str = ""
    sourcelim_name: str = ""

    def clone(self) -> RuleDef:
        """A copy sharing nothing mutable except the called anchor."""
        dup = copy.copy(self)
        dup.src = RuleAddr(copy.copy(self.src.addr), self.src.port, self.src.neg, self.src.port_op, self.src.weight)
        dup.dst = RuleAddr(copy.copy(self.dst.addr), self.dst.port, self.dst.neg, self.dst.port_op, self.dst.weight)
        for name in ("nat", "rdr", "route"):
            pool = copy.copy(getattr(self, name))
            pool.addr = copy.copy(pool.addr)
            setattr(dup, name, pool)
        dup.divert = copy.copy(self.divert)
        dup.timeout = list(self.timeout)
        return dup


@dataclass
class StateLimiterDef:
    """``state limiter NAME ...`` (OpenBSD 7.9+): ``struct pfioc_statelim``'s settings."""

    name: str
    id: int
    limit: int
    rate: tuple[int, int] = (0, 0)  # (limit, seconds)
    description: str = ""
    line: int = 0


@dataclass
class SourceLimiterDef:
    """``source limiter NAME ...`` (OpenBSD 7.9+): ``struct pfioc_sourcelim``'s settings."""

    name: str
    id: int
    entries: int
    limit: int
    rate: tuple[int, int] = (0, 0)
    inet_prefix: int = 32
    inet6_prefix: int = 128
    table: str = ""  # overload table
    above: int = 0  # overload_hwm
    below: int = 0  # overload_lwm
    description: str = ""
    line: int = 0


@dataclass
class TableAddress:
    """One ``struct pfr_addr``: an address or network, possibly negated."""

    af: int
    addr: bytes
    prefixlen: int
    neg: bool = False
    ifname: str = ""
    weight: int = 0


@dataclass
class TableDef:
    """A ``table <name> ...`` definition as pfctl keeps it until loading."""

    name: str
    flags: int
    init_addr: bool
    # the initializers in order: ("file", path) or ("hosts", [TableAddress, ...])
    init: list[tuple[str, object]] = field(default_factory=list)
    addresses: list[TableAddress] = field(default_factory=list)  # everything, files included
    anchor: str = ""
    line: int = 0


@dataclass
class QueueSpec:
    """``struct pf_queuespec``; bandwidths are (absolute bit/s, percent)."""

    qname: str
    parent: str = ""
    ifname: str = ""
    linkshare: tuple[tuple[int, int], int, tuple[int, int]] = ((0, 0), 0, (0, 0))  # (m1, d, m2)
    realtime: tuple[tuple[int, int], int, tuple[int, int]] = ((0, 0), 0, (0, 0))
    upperlimit: tuple[tuple[int, int], int, tuple[int, int]] = ((0, 0), 0, (0, 0))
    flows: int = 0
    quantum: int = 0
    interval: int = 0
    target: int = 0
    flags: int = 0
    qlimit: int = 0
    children: list[QueueSpec] = field(default_factory=list)
    matches: int = 0


@dataclass
class Anchor:
    """A ruleset: the main one (path "") or an anchor's."""

    name: str = ""
    path: str = ""
    rules: list[RuleDef] = field(default_factory=list)
    match: int = 0  # rules moved in from a brace block (pf_anchor.match in pfctl)
    inline: bool = False
    loaded_path: str = ""  # the kernel path it is loaded at (parent's path + "/" + name)
