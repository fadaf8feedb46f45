"""Render rules, tables and queues in pfctl's canonical syntax (what ``pfctl -nv`` and
``pfctl -sr`` print).  Works on :mod:`pf_exporter.ruleset.model` values, whether they
were parsed from pf.conf or decoded from kernel structs."""

from __future__ import annotations

import functools

from ..abi.constants import (
    AF_INET,
    AF_INET6,
    IPPROTO_TCP,
    PF_ADDR_ADDRMASK,
    PF_ADDR_DYNIFTL,
    PF_ADDR_NONE,
    PF_ADDR_NOROUTE,
    PF_ADDR_RANGE,
    PF_ADDR_RTLABEL,
    PF_ADDR_TABLE,
    PF_ADDR_URPFFAILED,
    PF_DIVERT_NONE,
    PF_DIVERT_PACKET,
    PF_DIVERT_REPLY,
    PF_DIVERT_TO,
    PF_DROP,
    PF_DUPTO,
    PF_FLUSH_GLOBAL,
    PF_IN,
    PF_LIMITER_NOMATCH,
    PF_LOG,
    PF_LOG_ALL,
    PF_LOG_MATCHES,
    PF_LOG_USER,
    PF_MATCH,
    PF_OP_EQ,
    PF_OP_GE,
    PF_OP_GT,
    PF_OP_IRG,
    PF_OP_LE,
    PF_OP_LT,
    PF_OP_NE,
    PF_OP_RRG,
    PF_OP_XRG,
    PF_OUT,
    PF_PASS,
    PF_POOL_BITMASK,
    PF_POOL_LEASTSTATES,
    PF_POOL_RANDOM,
    PF_POOL_ROUNDROBIN,
    PF_POOL_SRCHASH,
    PF_POOL_STICKYADDR,
    PF_POOL_TYPEMASK,
    PF_PRIO_ZERO,
    PF_REPLYTO,
    PF_ROUTETO,
    PF_STATE_MODULATE,
    PF_STATE_NORMAL,
    PF_STATE_SYNPROXY,
    PFI_AFLAG_BROADCAST,
    PFI_AFLAG_NETWORK,
    PFI_AFLAG_NOALIAS,
    PFI_AFLAG_PEER,
    PFQS_DEFAULT,
    PFQS_FLOWQUEUE,
    PFR_TFLAG_CONST,
    PFR_TFLAG_COUNTERS,
    PFR_TFLAG_PERSIST,
    PFRULE_AFTO,
    PFRULE_EXPIRED,
    PFRULE_FRAGMENT,
    PFRULE_IFBOUND,
    PFRULE_NOSYNC,
    PFRULE_ONCE,
    PFRULE_PFLOW,
    PFRULE_RETURN,
    PFRULE_RETURNICMP,
    PFRULE_RETURNRST,
    PFRULE_RULESRCTRACK,
    PFRULE_SETDELAY,
    PFRULE_SRCTRACK,
    PFRULE_STATESLOPPY,
    PFSTATE_NODF,
    PFSTATE_RANDOMID,
    PFSTATE_SCRUB_TCP,
    PFSTATE_SCRUBMASK,
    PFSTATE_SETMASK,
    PFSTATE_SETPRIO,
    PFSTATE_SETTOS,
    PFTM_MAX,
    TIMEOUT_NAMES,
)
from . import netdb
from .addr import is_zero, mask_bytes, ntop, unmask
from .model import AddrWrap, Pool, QueueSpec, RuleAddr, RuleDef, SourceLimiterDef, StateLimiterDef, TableAddress
from .osfp import Fingerprints

PF_NAT_PROXY_PORT_LOW = 50001
PF_NAT_PROXY_PORT_HIGH = 65535
TCP_FLAGS = "FSRPAUEW"

_ACTIONS = ("pass", "block", "scrub", "no scrub", "nat", "no nat", "binat", "no binat", "rdr", "no rdr",
            "", "", "match")
_ANCHOR_ACTIONS = ("anchor", "anchor", "anchor", "anchor", "nat-anchor", "nat-anchor", "binat-anchor",
                   "binat-anchor", "rdr-anchor", "rdr-anchor")
_POOL_ROUTE, _POOL_NAT, _POOL_RDR = 0, 1, 2

_PROTOCOL_NAMES = netdb.builtin_protocols()[1]
# the log options, in the order pfctl prints them
_LOG_OPTIONS = ((PF_LOG_ALL, "all"), (PF_LOG_MATCHES, "matches"), (PF_LOG_USER, "user"))


def format_addr(aw: AddrWrap, af: int, verbose: bool = False) -> str:  # noqa: C901 - mirrors pfctl_parser.c's print_addr(): one case per address type
    """print_addr(): an address, network, range, table, interface or keyword."""
    t = aw.type
    if t == PF_ADDR_DYNIFTL:
        out = "(" + aw.ifname
        if aw.iflags & PFI_AFLAG_NETWORK:
            out += ":network"
        if aw.iflags & PFI_AFLAG_BROADCAST:
            out += ":broadcast"
        if aw.iflags & PFI_AFLAG_PEER:
            out += ":peer"
        if aw.iflags & PFI_AFLAG_NOALIAS:
            out += ":0"
        if verbose:
            out += ":*" if aw.count <= 0 else f":{aw.count}"
        out += ")"
    elif t == PF_ADDR_TABLE:
        if verbose:
            return f"<{aw.tblname}:*>" if aw.count == -1 else f"<{aw.tblname}:{aw.count}>"
        return f"<{aw.tblname}>"
    elif t == PF_ADDR_RANGE:
        return (ntop(af, aw.addr) or "?") + " - " + (ntop(af, aw.mask) or "?")
    elif t == PF_ADDR_ADDRMASK:
        if is_zero(aw.addr, AF_INET6) and is_zero(aw.mask, AF_INET6):
            return "any"
        out = ntop(af, aw.addr) or "?"
    elif t == PF_ADDR_NOROUTE:
        return "no-route"
    elif t == PF_ADDR_URPFFAILED:
        return "urpf-failed"
    elif t == PF_ADDR_RTLABEL:
        return f'route "{aw.rtlabelname}"'
    else:
        return "?"
    # a netmask unless address and mask are both zero
    if not (is_zero(aw.union_addr(), AF_INET6) and is_zero(aw.union_mask(), AF_INET6)):
        bits = unmask(aw.union_mask())
        if bits < (32 if af == AF_INET else 128):
            out += f"/{bits}"
    return out


def _op(op: int, a1: str, a2: str) -> str:
    return {
        PF_OP_IRG: f" {a1} >< {a2}", PF_OP_XRG: f" {a1} <> {a2}", PF_OP_EQ: f" = {a1}",
        PF_OP_NE: f" != {a1}", PF_OP_LT: f" < {a1}", PF_OP_LE: f" <= {a1}", PF_OP_GT: f" > {a1}",
        PF_OP_GE: f" >= {a1}", PF_OP_RRG: f" {a1}:{a2}",
    }.get(op, "")


def _port(op: int, p1: int, p2: int) -> str:
    return " port" + _op(op, str(p1), str(p2))


def _ugid(op: int, i1: int, i2: int, what: str) -> str:
    if i1 == 0xFFFFFFFF and op in (PF_OP_EQ, PF_OP_NE):
        return f" {what}" + _op(op, "unknown", str(i2))
    return f" {what}" + _op(op, str(i1), str(i2))


def format_flags(f: int) -> str:
    return "".join(c for i, c in enumerate(TCP_FLAGS) if f & (1 << i))


def _is_all(a: RuleAddr) -> bool:
    return (a.addr.type == PF_ADDR_ADDRMASK and is_zero(a.addr.addr, AF_INET6)
            and is_zero(a.addr.mask, AF_INET6) and not a.neg and not a.port_op)


@functools.cache
def _standard_fingerprints() -> Fingerprints:
    return Fingerprints.standard()


def os_name(osfp: int) -> str:
    """The name of an OS fingerprint id in OpenBSD's pf.os (what the kernel has unless another
    list was loaded); callers that know the kernel's list set ``RuleDef.os_name`` instead."""
    return _standard_fingerprints().name(osfp)


def format_fromto(src: RuleAddr, osfp: int, dst: RuleAddr, af: int, verbose: bool = False, osname: str = "") -> str:
    if _is_all(src) and _is_all(dst) and osfp == 0:
        return " all"
    out = " from " + ("! " if src.neg else "") + format_addr(src.addr, af, verbose)
    if src.port_op:
        out += _port(src.port_op, *src.port)
    if osfp != 0:
        out += f' os "{osname or os_name(osfp)}"'
    out += " to " + ("! " if dst.neg else "") + format_addr(dst.addr, af, verbose)
    if dst.port_op:
        out += _port(dst.port_op, *dst.port)
    return out


def format_pool(pool: Pool, p1: int, p2: int, af: int, kind: int, verbose: bool = False) -> str:
    if pool.ifname:
        out = ""
        if not is_zero(pool.addr.union_addr(), af):
            out = format_addr(pool.addr, af, verbose) + "@"
        out += pool.ifname
    else:
        out = format_addr(pool.addr, af, verbose)
    if kind == _POOL_NAT:
        if (p1, p2) != (PF_NAT_PROXY_PORT_LOW, PF_NAT_PROXY_PORT_HIGH) and (p1 or p2):
            out += f" port {p1}" if p1 == p2 else f" port {p1}:{p2}"
    elif kind == _POOL_RDR and p1:
        out += f" port {p1}"
        if p2 and p2 != p1:
            out += f":{p2}"
    ptype = pool.opts & PF_POOL_TYPEMASK
    if ptype == PF_POOL_BITMASK:
        out += " bitmask"
    elif ptype == PF_POOL_RANDOM:
        out += " random"
    elif ptype == PF_POOL_SRCHASH:
        out += " source-hash 0x" + "".join(f"{k:08x}" for k in pool.key)
    elif ptype == PF_POOL_ROUNDROBIN:
        out += " round-robin"
    elif ptype == PF_POOL_LEASTSTATES:
        out += " least-states"
    if pool.opts & PF_POOL_STICKYADDR:
        out += " sticky-address"
    if kind == _POOL_NAT and p1 == 0 and p2 == 0:
        out += " static-port"
    return out


def _protocol(number: int, names: dict[int, str] | None) -> str:
    table = names if names is not None else _PROTOCOL_NAMES
    name = table.get(number)
    return name if name is not None else str(number)


def format_probability(prob: int) -> str:
    text = "%f" % (prob * 100.0 / (0xFFFFFFFF + 1.0))
    text = text.rstrip("0")
    return text.rstrip(".") if text.endswith(".") else text


# Mirrors pfctl_parser.c's print_rule(), part by part in its order.
def format_rule(r: RuleDef, anchor_call: str = "", verbose: bool = False, debug: bool = False,  # noqa: C901 - see above
                protocol_names: dict[int, str] | None = None) -> str:
    """print_rule(): one rule on one line, without the trailing newline.

    *verbose*/*debug* correspond to pfctl's -vv and -g (rule numbers, table and
    interface counts)."""
    show = verbose or debug
    out = f"@{r.nr} " if show else ""
    if anchor_call:
        if r.action >= len(_ANCHOR_ACTIONS):
            out += f"anchor({r.action})"
        else:
            last = anchor_call.rsplit("/", 1)[-1]
            out += _ANCHOR_ACTIONS[r.action] if last.startswith("_") else f'{_ANCHOR_ACTIONS[r.action]} "{anchor_call}"'
    else:
        out += _ACTIONS[r.action] if r.action < len(_ACTIONS) else f"action({r.action})"
    if r.action == PF_DROP:
        if r.rule_flag & PFRULE_RETURN:
            out += " return"
        elif r.rule_flag & PFRULE_RETURNRST:
            out += " return-rst" if not r.return_ttl else f" return-rst(ttl {r.return_ttl})"
        elif r.rule_flag & PFRULE_RETURNICMP:
            ic = netdb.icmp_code_name(r.return_icmp >> 8, r.return_icmp & 255, False)
            ic6 = netdb.icmp_code_name(r.return_icmp6 >> 8, r.return_icmp6 & 255, True)
            v4 = ic if ic is not None else str(r.return_icmp & 255)
            v6 = ic6 if ic6 is not None else str(r.return_icmp6 & 255)
            if r.af == AF_INET:
                out += f" return-icmp({v4})"
            elif r.af == AF_INET6:
                out += f" return-icmp6({v6})"
            else:
                out += f" return-icmp({v4}, {v6})"
        else:
            out += " drop"
    if r.direction == PF_IN:
        out += " in"
    elif r.direction == PF_OUT:
        out += " out"
    if r.log:
        out += " log"
        if r.log & ~PF_LOG or r.logif:
            opts = [word for bit, word in _LOG_OPTIONS if r.log & bit]
            if r.logif:
                opts.append(f"to pflog{r.logif}")
            out += " (" + ", ".join(opts) + ")"
    if r.quick:
        out += " quick"
    if r.ifname:
        out += f" on ! {r.ifname}" if r.ifnot else f" on {r.ifname}"
    if r.onrdomain >= 0:
        out += f" on ! rdomain {r.onrdomain}" if r.ifnot else f" on rdomain {r.onrdomain}"
    if r.af:
        out += " inet" if r.af == AF_INET else " inet6"
    if r.proto:
        out += " proto " + _protocol(r.proto, protocol_names)
    out += format_fromto(r.src, r.os_fingerprint, r.dst, r.af, show, r.os_name)
    if r.rcv_ifname:
        out += f" {'!' if r.rcvifnot else ''}received-on {r.rcv_ifname}"
    if r.uid[0]:
        out += _ugid(*r.uid, "user")
    if r.gid[0]:
        out += _ugid(*r.gid, "group")
    if r.flags or r.flagset:
        out += f" flags {format_flags(r.flags)}/{format_flags(r.flagset)}"
    elif (r.action in (PF_PASS, PF_MATCH) and (not r.proto or r.proto == IPPROTO_TCP)
          and not r.rule_flag & PFRULE_FRAGMENT and not anchor_call and r.keep_state):
        out += " flags any"
    if r.type:
        inet6 = r.af == AF_INET6
        name = netdb.icmp_type_name(r.type - 1, inet6)
        out += " icmp6-type" if inet6 else " icmp-type"
        out += f" {name}" if name is not None else f" {r.type - 1}"
        if r.code:
            cname = netdb.icmp_code_name(r.type - 1, r.code - 1, inet6)
            out += f" code {cname}" if cname is not None else f" code {r.code - 1}"
    if r.tos:
        out += f" tos 0x{r.tos:02x}"
    if r.prio:
        out += f" prio {0 if r.prio == PF_PRIO_ZERO else r.prio}"
    if r.pktrate[0]:
        out += f" max-pkt-rate {r.pktrate[0]}/{r.pktrate[1]}"
    if r.scrub_flags & PFSTATE_SETMASK or r.qname or r.rule_flag & PFRULE_SETDELAY:
        sets = []
        if r.scrub_flags & PFSTATE_SETPRIO:
            p0, p1 = r.set_prio
            sets.append(f"prio {p0}" if p0 == p1 else f"prio({p0}, {p1})")
        if r.qname:
            sets.append(f"queue({r.qname}, {r.pqname})" if r.pqname else f"queue {r.qname}")
        if r.scrub_flags & PFSTATE_SETTOS:
            sets.append(f"tos 0x{r.set_tos:02x}")
        if r.rule_flag & PFRULE_SETDELAY:
            sets.append(f"delay {r.delay}")
        out += " set (" + ", ".join(sets) + ")"
    ropts = bool(
        r.max_states or r.max_src_nodes or r.max_src_states
        or r.rule_flag & (PFRULE_NOSYNC | PFRULE_SRCTRACK | PFRULE_IFBOUND | PFRULE_STATESLOPPY | PFRULE_PFLOW)
        or any(r.timeout[:PFTM_MAX])
    )
    if not r.keep_state and r.action == PF_PASS and not anchor_call:
        out += " no state"
    elif r.keep_state == PF_STATE_NORMAL and ropts:
        out += " keep state"
    elif r.keep_state == PF_STATE_MODULATE:
        out += " modulate state"
    elif r.keep_state == PF_STATE_SYNPROXY:
        out += " synproxy state"
    if r.prob:
        out += f" probability {format_probability(r.prob)}%"
    if ropts:
        out += " (" + _state_options(r) + ")"
    if r.statelim[0]:
        out += format_limiter_option("state", r.statelim, r.statelim_name)
    if r.sourcelim[0]:
        out += format_limiter_option("source", r.sourcelim, r.sourcelim_name)
    if r.rule_flag & PFRULE_FRAGMENT:
        out += " fragment"
    if r.scrub_flags & PFSTATE_SCRUBMASK or r.min_ttl or r.max_mss:
        scrub = []
        if r.scrub_flags & PFSTATE_NODF:
            scrub.append("no-df")
        if r.scrub_flags & PFSTATE_RANDOMID:
            scrub.append("random-id")
        if r.min_ttl:
            scrub.append(f"min-ttl {r.min_ttl}")
        if r.scrub_flags & PFSTATE_SCRUB_TCP:
            scrub.append("reassemble tcp")
        if r.max_mss:
            scrub.append(f"max-mss {r.max_mss}")
        out += " scrub (" + " ".join(scrub) + ")"
    if r.allow_opts:
        out += " allow-opts"
    if r.label:
        out += f' label "{r.label}"'
    if r.rule_flag & PFRULE_ONCE:
        out += " once"
    if r.tagname:
        out += f" tag {r.tagname}"
    if r.match_tagname:
        out += (" !" if r.match_tag_not else "") + f" tagged {r.match_tagname}"
    if r.rtableid != -1:
        out += f" rtable {r.rtableid}"
    dt = r.divert.type
    if dt == PF_DIVERT_TO:
        out += f" divert-to {_addr_str(r.af, r.divert.addr)} port {r.divert.port}"
    elif dt == PF_DIVERT_REPLY:
        out += " divert-reply"
    elif dt == PF_DIVERT_PACKET:
        out += f" divert-packet port {r.divert.port}"
    elif dt != PF_DIVERT_NONE:
        out += " divert ???"
    xaf = r.naf if r.naf else r.af
    if not anchor_call and r.nat.addr.type != PF_ADDR_NONE and r.rule_flag & PFRULE_AFTO:
        out += f" af-to {'inet' if r.naf == AF_INET else 'inet6'} from "
        out += format_pool(r.nat, r.nat.proxy_port[0], r.nat.proxy_port[1], xaf, _POOL_NAT, show)
        if r.rdr.addr.type != PF_ADDR_NONE:
            out += " to " + format_pool(r.rdr, r.rdr.proxy_port[0], r.rdr.proxy_port[1], xaf, _POOL_RDR, show)
    elif not anchor_call and r.nat.addr.type != PF_ADDR_NONE:
        out += " nat-to " + format_pool(r.nat, r.nat.proxy_port[0], r.nat.proxy_port[1], xaf, _POOL_NAT, show)
    elif not anchor_call and r.rdr.addr.type != PF_ADDR_NONE:
        out += " rdr-to " + format_pool(r.rdr, r.rdr.proxy_port[0], r.rdr.proxy_port[1], r.af, _POOL_RDR, show)
    if r.rt:
        out += {PF_ROUTETO: " route-to", PF_REPLYTO: " reply-to", PF_DUPTO: " dup-to"}.get(r.rt, "")
        out += " " + format_pool(r.route, 0, 0, r.af, _POOL_ROUTE, show)
    if r.rule_flag & PFRULE_EXPIRED:
        out += " # expired"
    return out


def _addr_str(af: int, addr: bytes) -> str:
    """print_addr_str(): a bare address (divert-to)."""
    return ntop(af, addr) or "?"


def _state_options(r: RuleDef) -> str:  # noqa: C901 - mirrors print_rule()'s state options, one per branch
    # (text, ends the "first option" state): pfctl forgets to clear that state after
    # an overload clause, so an option right after a leading overload gets no comma.
    parts: list[tuple[str, bool]] = []
    if r.max_states:
        parts.append((f"max {r.max_states}", True))
    if r.rule_flag & PFRULE_NOSYNC:
        parts.append(("no-sync", True))
    if r.rule_flag & PFRULE_SRCTRACK:
        parts.append(("source-track " + ("rule" if r.rule_flag & PFRULE_RULESRCTRACK else "global"), True))
    if r.max_src_states:
        parts.append((f"max-src-states {r.max_src_states}", True))
    if r.max_src_conn:
        parts.append((f"max-src-conn {r.max_src_conn}", True))
    if r.max_src_conn_rate[0]:
        parts.append((f"max-src-conn-rate {r.max_src_conn_rate[0]}/{r.max_src_conn_rate[1]}", True))
    if r.max_src_nodes:
        parts.append((f"max-src-nodes {r.max_src_nodes}", True))
    if r.overload_tblname:
        text = f"overload <{r.overload_tblname}>"
        if r.flush:
            text += " flush"
        if r.flush & PF_FLUSH_GLOBAL:
            text += " global"
        parts.append((text, False))
    if r.rule_flag & PFRULE_IFBOUND:
        parts.append(("if-bound", True))
    if r.rule_flag & PFRULE_STATESLOPPY:
        parts.append(("sloppy", True))
    if r.rule_flag & PFRULE_PFLOW:
        parts.append(("pflow", True))
    for i in range(PFTM_MAX):
        if r.timeout[i]:
            parts.append((f"{TIMEOUT_NAMES.get(i, 'inv.timeout')} {r.timeout[i]}", True))
    out, first = "", True
    for text, ends_first in parts:
        if not first:
            out += ", "
        out += text
        if ends_first:
            first = False
    return out


def format_table_address(a: TableAddress) -> str:
    aw = AddrWrap(type=PF_ADDR_ADDRMASK, addr=a.addr, mask=mask_bytes(a.prefixlen))
    text = ("!" if a.neg else "") + format_addr(aw, a.af)
    if a.ifname:
        text += "@" + a.ifname
    return text


def format_tabledef(name: str, flags: int, init_addr: bool, init: list[tuple[str, object]]) -> str:
    """print_tabledef(): the ``table <name> ...`` line pfctl -nv prints."""
    out = f"table <{name}>"
    if flags & PFR_TFLAG_CONST:
        out += " const"
    if flags & PFR_TFLAG_PERSIST:
        out += " persist"
    if flags & PFR_TFLAG_COUNTERS:
        out += " counters"
    i = 0
    while i < len(init):
        kind, value = init[i]
        if kind == "file":
            out += f' file "{value}"'
            i += 1
            continue
        out += " {"
        while True:
            for a in value:  # type: ignore[attr-defined]  # hosts entries hold address lists
                out += " " + format_table_address(a)
            if i + 1 < len(init) and init[i + 1][0] != "file":
                i += 1
                value = init[i][1]
            else:
                break
        out += " }"
        i += 1
    if init_addr and not init:
        out += " { }"
    return out


def _bw(prefix: str, bw: tuple[int, int]) -> str:
    absolute, percent = bw
    if percent:
        return f"{prefix}{percent}%"
    if absolute:
        rate, i = absolute, 0
        while rate >= 1000 and i <= 3 and rate % 1000 == 0:
            rate //= 1000
            i += 1
        return f"{prefix}{rate}{' KMG'[i] if i else ''}"
    return ""


def _sc(prefix: str, sc: tuple[tuple[int, int], int, tuple[int, int]]) -> str:
    m1, d, m2 = sc
    out = _bw(prefix, m2)
    if d:
        out += " burst " + _bw("", m1) + f" for {d}ms"
    return out


def format_queuespec(q: QueueSpec) -> str:
    out = f"queue {q.qname}"
    if q.parent:
        out += f" parent {q.parent}"
    elif q.ifname:
        out += f" on {q.ifname}"
    if q.flags & PFQS_FLOWQUEUE:
        out += f" flows {q.flows}"
        if q.quantum > 0:
            out += f" quantum {q.quantum}"
        if q.interval > 0:
            out += f" interval {q.interval // 1000000}ms"
        if q.target > 0:
            out += f" target {q.target // 1000000}ms"
    if q.linkshare[0][0] or q.linkshare[2][0]:
        out += _sc(" bandwidth ", q.linkshare) + _sc(", min ", q.realtime) + _sc(", max ", q.upperlimit)
    if q.flags & PFQS_DEFAULT:
        out += " default"
    if q.qlimit:
        out += f" qlimit {q.qlimit}"
    return out


def format_state_limiter(d: StateLimiterDef) -> str:
    out = f"state limiter {d.name} id {d.id} limit {d.limit}"
    if d.rate[0]:
        out += f" rate {d.rate[0]}/{d.rate[1]}"
    if d.description:
        out += f' description "{d.description}"'
    return out


def format_source_limiter(d: SourceLimiterDef) -> str:
    out = f"source limiter {d.name} id {d.id} entries {d.entries} limit {d.limit}"
    if d.rate[0]:
        out += f" rate {d.rate[0]}/{d.rate[1]}"
    if d.inet_prefix != 32:
        out += f" inet mask {d.inet_prefix}"
    if d.inet6_prefix != 128:
        out += f" inet6 mask {d.inet6_prefix}"
    if d.table:
        out += f" table <{d.table}> above {d.above}"
        if d.below:
            out += f" below {d.below}"
    if d.description:
        out += f' description "{d.description}"'
    return out


def format_limiter_option(kind: str, ref: tuple[int, int], name: str) -> str:
    """`` state limiter NAME`` (or ``id N`` when the name is not known) for a rule's reference."""
    lim_id, action = ref
    out = f" {kind} limiter " + (name or f"id {lim_id}")
    if action == PF_LIMITER_NOMATCH:
        out += " (no-match)"
    return out
