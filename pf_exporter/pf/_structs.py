"""Convert between :mod:`pf_exporter.ruleset.model` values and a release's kernel structs
(``struct pf_rule``, ``pfr_table``, ``pfr_addr``, ``pf_queuespec``) through
:mod:`pf_exporter.abi`.  ``encode_rule`` is what pfctl copies into DIOCADDRULE;
``decode_rule`` turns what DIOCGETRULE returns back into a :class:`~.model.RuleDef`, so
one printer serves both."""

from __future__ import annotations

import ctypes
from typing import Any

from ..abi import Abi
from ..abi.constants import (
    AF_INET,
    PF_ADDR_DYNIFTL,
    PF_ADDR_RTLABEL,
    PF_ADDR_TABLE,
    PFRKE_COST,
    PFRKE_PLAIN,
    PFRKE_ROUTE,
    PFTM_MAX,
)
from ..ruleset.model import (
    AddrWrap,
    Divert,
    Pool,
    QueueSpec,
    RuleAddr,
    RuleDef,
    SourceLimiterDef,
    StateLimiterDef,
    TableAddress,
    TableDef,
)


def _htons(value: int) -> int:
    return ((value & 0xFF) << 8) | ((value >> 8) & 0xFF)


_ntohs = _htons


def _set_str(obj: ctypes.Structure | ctypes.Union, name: str, value: str, what: str) -> None:
    """Store a NUL-terminated string in char array *name* of *obj*."""
    size = getattr(type(obj), name).size
    raw = value.encode()
    if len(raw) >= size:
        raise ValueError(f"{what} {value!r} is longer than {size - 1} bytes")
    setattr(obj, name, raw)


def _get_str(field: object) -> str:
    raw = bytes(field) if not isinstance(field, bytes) else field  # type: ignore[call-overload]  # a ctypes char array
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def _put_bytes(target: ctypes.Structure | ctypes.Union, data: bytes) -> None:
    ctypes.memmove(ctypes.addressof(target), data, min(len(data), ctypes.sizeof(target)))


def _raw(obj: ctypes.Structure | ctypes.Union | ctypes.Array[Any]) -> bytes:
    return ctypes.string_at(ctypes.addressof(obj), ctypes.sizeof(obj))


# -- addresses ---------------------------------------------------------------------------
def encode_addr_wrap(aw: AddrWrap, out: ctypes.Structure) -> None:
    out.type = aw.type
    out.iflags = aw.iflags
    v = out.v
    if aw.type == PF_ADDR_DYNIFTL:
        _put_bytes(v.a.mask, aw.mask)
        _set_str(v, "ifname", aw.ifname, "interface name")
    elif aw.type == PF_ADDR_TABLE:
        _set_str(v, "tblname", aw.tblname, "table name")
    elif aw.type == PF_ADDR_RTLABEL:
        _set_str(v, "rtlabelname", aw.rtlabelname, "route label")
    else:
        _put_bytes(v.a.addr, aw.addr)
        _put_bytes(v.a.mask, aw.mask)


def decode_addr_wrap(raw: ctypes.Structure) -> AddrWrap:
    t = int(raw.type)
    aw = AddrWrap(type=t, iflags=int(raw.iflags), addr=_raw(raw.v.a.addr), mask=_raw(raw.v.a.mask))
    if t == PF_ADDR_DYNIFTL:
        aw.ifname = _get_str(raw.v.ifname)
        aw.addr = bytes(16)
        aw.count = int(raw.p.dyncnt)
    elif t == PF_ADDR_TABLE:
        aw.tblname = _get_str(raw.v.tblname)
        aw.addr = aw.mask = bytes(16)
        aw.count = int(raw.p.tblcnt)
    elif t == PF_ADDR_RTLABEL:
        aw.rtlabelname = _get_str(raw.v.rtlabelname)
        aw.addr = aw.mask = bytes(16)
    return aw


def _encode_rule_addr(ra: RuleAddr, out: ctypes.Structure) -> None:
    encode_addr_wrap(ra.addr, out.addr)
    out.port[0] = _htons(ra.port[0])
    out.port[1] = _htons(ra.port[1])
    out.neg = int(ra.neg)
    out.port_op = ra.port_op
    out.weight = ra.weight


def _decode_rule_addr(raw: ctypes.Structure) -> RuleAddr:
    return RuleAddr(addr=decode_addr_wrap(raw.addr), port=(_ntohs(raw.port[0]), _ntohs(raw.port[1])),
                    neg=bool(raw.neg), port_op=int(raw.port_op), weight=int(raw.weight))


def _encode_pool(pool: Pool, out: ctypes.Structure) -> None:
    encode_addr_wrap(pool.addr, out.addr)
    for i, k in enumerate(pool.key):
        out.key.pfk.key32[i] = k
    _set_str(out, "ifname", pool.ifname, "pool interface")
    out.proxy_port[0], out.proxy_port[1] = pool.proxy_port
    out.port_op = pool.port_op
    out.opts = pool.opts


def _decode_pool(raw: ctypes.Structure) -> Pool:
    return Pool(addr=decode_addr_wrap(raw.addr), key=tuple(int(raw.key.pfk.key32[i]) for i in range(4)),  # type: ignore[arg-type]  # four words, as the field has
                ifname=_get_str(raw.ifname), proxy_port=(int(raw.proxy_port[0]), int(raw.proxy_port[1])),
                port_op=int(raw.port_op), opts=int(raw.opts))


# -- rules -------------------------------------------------------------------------------
_STRINGS = ("label", "ifname", "rcv_ifname", "qname", "pqname", "tagname", "match_tagname", "overload_tblname")
_SCALARS = ("os_fingerprint", "rtableid", "onrdomain", "max_states", "max_src_nodes", "max_src_states",
            "max_src_conn", "prob", "return_icmp", "return_icmp6", "max_mss", "scrub_flags", "delay",
            "rule_flag", "action", "direction", "log", "logif", "keep_state", "af", "proto", "type", "code",
            "flags", "flagset", "min_ttl", "rt", "return_ttl", "tos", "set_tos", "flush", "prio", "naf", "nr")
_BOOLS = ("quick", "ifnot", "match_tag_not", "allow_opts", "rcvifnot")


def encode_rule(abi: Abi, r: RuleDef) -> Any:
    """The ``struct pf_rule`` pfctl would hand to DIOCADDRULE for *r*."""
    out = abi.new("pf_rule")
    _encode_rule_addr(r.src, out.src)
    _encode_rule_addr(r.dst, out.dst)
    for name in _STRINGS:
        _set_str(out, name, getattr(r, name), name)
    for name in _SCALARS:
        setattr(out, name, getattr(r, name))
    for name in _BOOLS:
        setattr(out, name, int(getattr(r, name)))
    _encode_pool(r.nat, out.nat)
    _encode_pool(r.rdr, out.rdr)
    _encode_pool(r.route, out.route)
    out.pktrate.limit, out.pktrate.seconds = r.pktrate
    for i in range(PFTM_MAX):
        out.timeout[i] = r.timeout[i]
    out.max_src_conn_rate.limit, out.max_src_conn_rate.seconds = r.max_src_conn_rate
    out.uid.op, out.uid.uid[0], out.uid.uid[1] = r.uid
    out.gid.op, out.gid.gid[0], out.gid.gid[1] = r.gid
    out.set_prio[0], out.set_prio[1] = r.set_prio
    out.divert.type = r.divert.type
    out.divert.port = _htons(r.divert.port)
    _put_bytes(out.divert.addr, r.divert.addr)
    for name in ("statelim", "sourcelim"):  # 7.9+
        if hasattr(out, name):
            lim = getattr(out, name)
            lim.id, lim.limiter_action = getattr(r, name)
    return out


def decode_rule(raw: ctypes.Structure) -> RuleDef:
    """A :class:`RuleDef` from a ``struct pf_rule`` (as DIOCGETRULE fills it)."""
    r = RuleDef()
    r.src = _decode_rule_addr(raw.src)
    r.dst = _decode_rule_addr(raw.dst)
    for name in _STRINGS:
        setattr(r, name, _get_str(getattr(raw, name)))
    for name in _SCALARS:
        setattr(r, name, int(getattr(raw, name)))
    for name in _BOOLS:
        setattr(r, name, bool(getattr(raw, name)))
    r.nat = _decode_pool(raw.nat)
    r.rdr = _decode_pool(raw.rdr)
    r.route = _decode_pool(raw.route)
    r.pktrate = (int(raw.pktrate.limit), int(raw.pktrate.seconds))
    r.timeout = [int(raw.timeout[i]) for i in range(PFTM_MAX)]
    r.max_src_conn_rate = (int(raw.max_src_conn_rate.limit), int(raw.max_src_conn_rate.seconds))
    r.uid = (int(raw.uid.op), int(raw.uid.uid[0]), int(raw.uid.uid[1]))
    r.gid = (int(raw.gid.op), int(raw.gid.gid[0]), int(raw.gid.gid[1]))
    r.set_prio = (int(raw.set_prio[0]), int(raw.set_prio[1]))
    r.divert = Divert(type=int(raw.divert.type), addr=_raw(raw.divert.addr), port=_ntohs(raw.divert.port))
    for name in ("statelim", "sourcelim"):  # 7.9+
        if hasattr(raw, name):
            lim = getattr(raw, name)
            setattr(r, name, (int(lim.id), int(lim.limiter_action)))
    return r


# -- tables and queues ---------------------------------------------------------------------
def encode_table(abi: Abi, t: TableDef, anchor: str) -> Any:
    out = abi.new("pfr_table")
    _set_str(out, "pfrt_anchor", anchor, "anchor path")
    _set_str(out, "pfrt_name", t.name, "table name")
    out.pfrt_flags = t.flags
    return out


def encode_table_address(abi: Abi, a: TableAddress) -> Any:
    out = abi.new("pfr_addr")
    nbytes = 4 if a.af == AF_INET else 16
    ctypes.memmove(ctypes.addressof(out.pfra_u), a.addr[:nbytes], nbytes)
    _set_str(out, "pfra_ifname", a.ifname, "interface name")
    out.pfra_af = a.af
    out.pfra_net = a.prefixlen
    out.pfra_not = int(a.neg)
    out.pfra_weight = a.weight
    out.pfra_type = PFRKE_COST if a.weight else PFRKE_ROUTE if a.ifname else PFRKE_PLAIN
    return out


def decode_table_address(raw: ctypes.Structure) -> TableAddress:
    af = int(raw.pfra_af)
    nbytes = 4 if af == AF_INET else 16
    addr = _raw(raw.pfra_u)[:nbytes]
    return TableAddress(af=af, addr=addr + bytes(16 - nbytes), prefixlen=int(raw.pfra_net),
                        neg=bool(raw.pfra_not), ifname=_get_str(raw.pfra_ifname), weight=int(raw.pfra_weight))


def encode_queue(abi: Abi, q: QueueSpec) -> Any:
    out = abi.new("pf_queuespec")
    _set_str(out, "qname", q.qname, "queue name")
    _set_str(out, "parent", q.parent, "parent queue")
    _set_str(out, "ifname", q.ifname, "interface name")
    for name in ("realtime", "linkshare", "upperlimit"):
        (m1, d, m2) = getattr(q, name)
        sc = getattr(out, name)
        sc.m1.absolute, sc.m1.percent = m1
        sc.m2.absolute, sc.m2.percent = m2
        sc.d = d
    out.flowqueue.flows = q.flows
    out.flowqueue.quantum = q.quantum
    out.flowqueue.interval = q.interval
    out.flowqueue.target = q.target
    out.flags = q.flags
    out.qlimit = q.qlimit
    return out


def decode_queue(raw: ctypes.Structure) -> QueueSpec:
    def sc(name: str) -> tuple[tuple[int, int], int, tuple[int, int]]:
        s = getattr(raw, name)
        return (int(s.m1.absolute), int(s.m1.percent)), int(s.d), (int(s.m2.absolute), int(s.m2.percent))

    return QueueSpec(qname=_get_str(raw.qname), parent=_get_str(raw.parent), ifname=_get_str(raw.ifname),
                     realtime=sc("realtime"), linkshare=sc("linkshare"), upperlimit=sc("upperlimit"),
                     flows=int(raw.flowqueue.flows), quantum=int(raw.flowqueue.quantum),
                     interval=int(raw.flowqueue.interval), target=int(raw.flowqueue.target),
                     flags=int(raw.flags), qlimit=int(raw.qlimit))


# -- 7.9 limiters ----------------------------------------------------------------------------
def encode_state_limiter(abi: Abi, d: StateLimiterDef) -> Any:
    """``struct pfioc_statelim`` for DIOCADDSTATELIM (the ticket is the main ruleset's)."""
    out = abi.new("pfioc_statelim", id=d.id, limit=d.limit)
    _set_str(out, "name", d.name, "state limiter name")
    _set_str(out, "description", d.description, "state limiter description")
    out.rate.limit, out.rate.seconds = d.rate
    return out


def encode_source_limiter(abi: Abi, d: SourceLimiterDef) -> Any:
    """``struct pfioc_sourcelim`` for DIOCADDSOURCELIM."""
    out = abi.new("pfioc_sourcelim", id=d.id, entries=d.entries, limit=d.limit, overload_hwm=d.above,
                  overload_lwm=d.below, inet_prefix=d.inet_prefix, inet6_prefix=d.inet6_prefix)
    _set_str(out, "name", d.name, "source limiter name")
    _set_str(out, "description", d.description, "source limiter description")
    _set_str(out, "overload_tblname", d.table, "overload table")
    out.rate.limit, out.rate.seconds = d.rate
    return out
