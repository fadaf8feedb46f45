"""Build the ``struct pf_rule`` pfctl would pass to DIOCADDRULE for a rule described in
keyword arguments (scenarios and tests use it; it is not a pf.conf parser)."""

from __future__ import annotations

import ctypes
import ipaddress

from ..abi import constants as C
from .wire import set_cstr

ACTIONS = {
    "pass": C.PF_PASS, "block": C.PF_DROP, "match": C.PF_MATCH, "scrub": C.PF_SCRUB, "nat": C.PF_NAT,
    "rdr": C.PF_RDR, "binat": C.PF_BINAT, "anchor": C.PF_PASS,  # pfctl zeroes an anchor rule: action pass
}
DIRECTIONS = {"": C.PF_INOUT, "in": C.PF_IN, "out": C.PF_OUT}
FAMILIES = {"": 0, "inet": C.AF_INET, "inet6": C.AF_INET6}
PROTOCOLS = {"": 0, "icmp": C.IPPROTO_ICMP, "tcp": C.IPPROTO_TCP, "udp": C.IPPROTO_UDP,
             "icmp6": C.IPPROTO_ICMPV6, "ipv6-icmp": C.IPPROTO_ICMPV6}
TH_SYN, TH_ACK = 0x02, 0x10


def htons(v: int) -> int:
    return ((v & 0xFF) << 8) | (v >> 8)


def parse_address(spec: str) -> tuple[int, bytes, bytes]:
    """"192.0.2.0/24" -> (af, address, mask) as 16-byte pf_addrs."""
    net = ipaddress.ip_network(spec, strict=False)
    af = C.AF_INET if net.version == 4 else C.AF_INET6
    return af, net.network_address.packed.ljust(16, b"\0"), net.netmask.packed.ljust(16, b"\0")


def _set_addr(ra: ctypes.Structure, spec: str | None) -> None:
    """Fill a pf_rule_addr's address: None/"any", "<table>", "!<table>", "!net", "net"."""
    aw = ra.addr
    aw.type = C.PF_ADDR_ADDRMASK
    if spec is None or spec == "any":
        return
    if spec.startswith("!"):
        ra.neg = 1
        spec = spec[1:]
    if spec.startswith("<") and spec.endswith(">"):
        aw.type = C.PF_ADDR_TABLE
        set_cstr(aw.v, "tblname", spec[1:-1])
        return
    _af, addr, mask = parse_address(spec)
    ctypes.memmove(ctypes.addressof(aw.v.a.addr), addr, 16)
    ctypes.memmove(ctypes.addressof(aw.v.a.mask), mask, 16)


def _set_ports(ra: ctypes.Structure, port: int | tuple[int, int] | None) -> None:
    if port is None:
        return
    if isinstance(port, tuple):
        ra.port_op = C.PF_OP_RRG
        ra.port[0], ra.port[1] = htons(port[0]), htons(port[1])
    else:
        ra.port_op = C.PF_OP_EQ
        ra.port[0] = htons(port)


def _set_pool(pool: ctypes.Structure, spec: str | None, port: int | None = None) -> None:
    if spec is None:
        pool.addr.type = C.PF_ADDR_NONE
        return
    pool.addr.type = C.PF_ADDR_ADDRMASK
    _af, addr, mask = parse_address(spec)
    ctypes.memmove(ctypes.addressof(pool.addr.v.a.addr), addr, 16)
    ctypes.memmove(ctypes.addressof(pool.addr.v.a.mask), mask, 16)
    if port is not None:
        pool.proxy_port[0] = pool.proxy_port[1] = port
        pool.port_op = C.PF_OP_EQ


def build_rule(
    layout: object,
    action: str = "pass",
    direction: str = "",
    *,
    quick: bool = False,
    log: bool = False,
    on: str = "",
    af: str = "",
    proto: str = "",
    src: str | None = None,
    dst: str | None = None,
    sport: int | tuple[int, int] | None = None,
    dport: int | tuple[int, int] | None = None,
    label: str = "",
    keep_state: bool | None = None,
    if_bound: bool = False,
    queue: str = "",
    tag: str = "",
    max_states: int = 0,
    max_src_conn: int = 0,
    overload: str = "",
    nat_to: str | None = None,
    rdr_to: str | None = None,
    rdr_port: int | None = None,
    scrub_max_mss: int = 0,
    return_rst: bool = False,
    statelim: int = 0,
    sourcelim: int = 0,
    timeouts: dict[int, int] | None = None,
) -> ctypes.Structure:
    """A user-side ``struct pf_rule`` as pfctl fills it for the rule these arguments describe."""
    r = layout.pf_rule()  # type: ignore[attr-defined]  # a ctypes class built at run time
    r.action = ACTIONS[action]
    r.direction = DIRECTIONS[direction]
    r.quick = int(quick)
    if log:
        r.log = C.PF_LOG
    if on.startswith("!"):
        r.ifnot = 1
        on = on[1:]
    set_cstr(r, "ifname", on)
    r.af = FAMILIES[af]
    r.proto = PROTOCOLS[proto]
    _set_addr(r.src, src)
    _set_addr(r.dst, dst)
    _set_ports(r.src, sport)
    _set_ports(r.dst, dport)
    set_cstr(r, "label", label)
    _set_pool(r.nat, nat_to)
    _set_pool(r.rdr, rdr_to, rdr_port)
    _set_pool(r.route, None)
    r.rtableid = -1
    r.onrdomain = -1
    if keep_state is None:
        keep_state = action == "pass"
    if keep_state:
        r.keep_state = C.PF_STATE_NORMAL
        if r.proto == C.IPPROTO_TCP:
            r.flags, r.flagset = TH_SYN, TH_SYN | TH_ACK
    if if_bound:
        r.rule_flag |= C.PFRULE_IFBOUND
    if return_rst:
        r.rule_flag |= C.PFRULE_RETURNRST
    set_cstr(r, "qname", queue)
    set_cstr(r, "tagname", tag)
    r.max_states = max_states
    if max_src_conn:
        r.max_src_conn = max_src_conn
        r.rule_flag |= C.PFRULE_SRCTRACK
    set_cstr(r, "overload_tblname", overload)
    if scrub_max_mss:
        r.max_mss = scrub_max_mss
        r.scrub_flags = 0x0100  # PFSTATE_SCRUB_TCP
    if statelim:
        r.statelim.id = statelim
        r.statelim.limiter_action = C.PF_LIMITER_BLOCK
    if sourcelim:
        r.sourcelim.id = sourcelim
        r.sourcelim.limiter_action = C.PF_LIMITER_BLOCK
    for idx, secs in (timeouts or {}).items():
        r.timeout[idx] = secs
    return r
