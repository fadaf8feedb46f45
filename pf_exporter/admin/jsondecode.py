"""Kernel rules as the admin API's JSON rules (``GET .../rules``): each rule read back through the pf
library (:meth:`pf_exporter.pf.PacketFilter.rule_specs`) in the schema of :mod:`.jsonrules`, with
what the schema cannot express listed under ``unsupported``; and :func:`normalise`, the JSON a
GET returns for a rule loaded from a spec."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..abi import constants as C
from ..ruleset.model import Pool as KPool
from ..ruleset.model import RuleAddr as KRuleAddr
from ..ruleset.model import RuleDef as KRule
from .jsonrules import STATE_NAMES, HostSpec, RuleSpec, StateSpec, flags_text
from .validate import AF_FAMILY, PortSpec, proto_name

_ACTION_NAMES = {C.PF_PASS: "pass", C.PF_DROP: "block", C.PF_MATCH: "match"}


def _mask_prefix(mask: bytes, bits: int) -> int | None:
    n = int.from_bytes(mask[: bits // 8], "big")
    prefix = bin(n).count("1")
    if n != ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1):
        return None  # not a contiguous netmask
    return prefix


def _decode_host(ra: KRuleAddr, af: int, unsupported: list[str], side: str) -> Any:
    aw = ra.addr
    kind = aw.type
    neg = ra.neg
    out: dict[str, Any] = {}
    if kind == C.PF_ADDR_TABLE:
        out["table"] = aw.tblname
    elif kind == C.PF_ADDR_ADDRMASK:
        addr, mask = aw.addr, aw.mask
        if any(addr) or any(mask):
            bits = 32 if af == C.AF_INET else 128
            prefix = _mask_prefix(mask, bits)
            if prefix is None or af not in (C.AF_INET, C.AF_INET6):
                unsupported.append(f"{side} address with a non-contiguous mask")
            else:
                raw = addr[:4] if bits == 32 else addr
                ip = ipaddress.ip_address(raw)
                out["address"] = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
                if prefix == bits:
                    out["address"] = str(ip)
    else:
        names = {C.PF_ADDR_NOROUTE: "no-route", C.PF_ADDR_DYNIFTL: "interface address",
                 C.PF_ADDR_RTLABEL: "route label", C.PF_ADDR_URPFFAILED: "urpf-failed",
                 C.PF_ADDR_RANGE: "address range", C.PF_ADDR_NONE: "no address"}
        unsupported.append(f"{side} {names.get(kind, f'address type {kind}')}")
    if neg and out:
        out["negate"] = True
    elif neg:
        unsupported.append(f"{side} negation")
    op = ra.port_op
    if op:
        spec = PortSpec(op, ra.port[0], ra.port[1])
        if op not in (C.PF_OP_EQ, C.PF_OP_NE, C.PF_OP_LT, C.PF_OP_LE, C.PF_OP_GT, C.PF_OP_GE, C.PF_OP_IRG,
                      C.PF_OP_XRG, C.PF_OP_RRG):
            unsupported.append(f"{side} port operator {op}")
        else:
            out["port"] = spec.json()
    return _host_form(out)


def _host_form(out: dict[str, Any]) -> Any:
    """The shortest JSON that parses back to the same endpoint: a string when it can be."""
    if not out:
        return None
    if set(out) == {"address"}:
        return out["address"]
    if set(out) <= {"table", "negate"} and "table" in out:
        return ("!" if out.get("negate") else "") + f"<{out['table']}>"
    if set(out) == {"address", "negate"}:
        return "!" + out["address"]
    return out


def _pool_used(pool: KPool) -> bool:
    t = pool.addr.type
    if t == C.PF_ADDR_NONE:
        return False
    if t == C.PF_ADDR_ADDRMASK:
        return any(pool.addr.addr) or any(pool.addr.mask) or bool(pool.ifname)
    return True


def decode_rule(r: KRule, anchor_call: str = "") -> dict[str, Any]:  # noqa: C901 - one branch per JSON member of the rule schema
    """A rule read from the kernel (as the pf library gives it, :meth:`PacketFilter.rule_specs`) as a JSON
    rule; features outside the schema are listed in ``unsupported``.

    A rule with ``unsupported`` members cannot be sent back unchanged (the member is not
    part of the schema), so a client cannot silently drop what it does not understand.
    """
    unsupported: list[str] = []
    out: dict[str, Any] = {}
    action = int(r.action)
    if anchor_call:
        out["action"] = "anchor"
        out["anchor"] = anchor_call
    elif action in _ACTION_NAMES:
        out["action"] = _ACTION_NAMES[action]
    else:
        out["action"] = f"action {action}"
        unsupported.append(f"action {action} (nat/rdr/scrub... rules are not in the schema)")
    flags = int(r.rule_flag)
    if action == C.PF_DROP and not anchor_call:
        if flags & C.PFRULE_RETURN:
            out["return"] = "return"
        elif flags & C.PFRULE_RETURNRST:
            out["return"] = "return-rst"
        elif flags & C.PFRULE_RETURNICMP:
            out["return"] = "return-icmp"
    direction = int(r.direction)
    if direction == C.PF_IN:
        out["direction"] = "in"
    elif direction == C.PF_OUT:
        out["direction"] = "out"
    if r.quick:
        out["quick"] = True
    if r.log:
        out["log"] = True
        if int(r.log) & ~C.PF_LOG:
            unsupported.append("log options")
    ifname = r.ifname
    if ifname:
        out["interface"] = ("!" if r.ifnot else "") + ifname
    af = int(r.af)
    if af in AF_FAMILY:
        out["af"] = AF_FAMILY[af]
    if r.proto:
        out["proto"] = proto_name(int(r.proto))
    src = _decode_host(r.src, af, unsupported, "from")
    dst = _decode_host(r.dst, af, unsupported, "to")
    if src is not None:
        out["from"] = src
    if dst is not None:
        out["to"] = dst
    flags_pair = (int(r.flags), int(r.flagset))
    if action == C.PF_PASS and r.keep_state and not anchor_call:
        # pfctl gives stateful pass rules "flags S/SA" unless told otherwise: leave that
        # default implicit, and make its absence explicit, so the JSON loads back the same
        if flags_pair == (0, 0):
            out["flags"] = "any"
        elif flags_pair != (0x02, 0x12):
            out["flags"] = f"{flags_text(flags_pair[0])}/{flags_text(flags_pair[1])}"
    elif flags_pair != (0, 0):
        out["flags"] = f"{flags_text(flags_pair[0])}/{flags_text(flags_pair[1])}"
    if r.type:
        out["icmp_type"] = int(r.type) - 1
        if r.code:
            out["icmp_code"] = int(r.code) - 1
    state = None if anchor_call else _decode_state(r, flags)
    if state is not None:
        out["state"] = state
    for key, fld in (("label", "label"), ("tag", "tagname"), ("tagged", "match_tagname")):
        v = getattr(r, fld)
        if v:
            out[key] = v
    if r.match_tag_not:
        unsupported.append("! tagged")
    _check_unsupported(r, flags, unsupported)
    if unsupported:
        out["unsupported"] = unsupported
    return out


def _decode_state(r: KRule, flags: int) -> Any:
    ks = int(r.keep_state)
    if ks == 0:
        return "none" if int(r.action) == C.PF_PASS else None
    s: dict[str, Any] = {"type": STATE_NAMES.get(ks, "keep")}
    for key, fld in (("max", "max_states"), ("max_src_states", "max_src_states"), ("max_src_nodes", "max_src_nodes"),
                     ("max_src_conn", "max_src_conn")):
        if getattr(r, fld):
            s[key] = int(getattr(r, fld))
    if r.max_src_conn_rate[0]:
        s["max_src_conn_rate"] = f"{r.max_src_conn_rate[0]}/{r.max_src_conn_rate[1]}"
    ov = r.overload_tblname
    if ov:
        s["overload"] = ov
        if r.flush:
            s["flush"] = "global" if int(r.flush) & C.PF_FLUSH_GLOBAL else "rule"
    if flags & C.PFRULE_SRCTRACK:
        s["source_track"] = "rule" if flags & C.PFRULE_RULESRCTRACK else "global"
    for key, bit in (("sloppy", C.PFRULE_STATESLOPPY), ("if_bound", C.PFRULE_IFBOUND), ("no_sync", C.PFRULE_NOSYNC),
                     ("pflow", C.PFRULE_PFLOW)):
        if flags & bit:
            s[key] = True
    timeouts = {C.TIMEOUT_NAMES[i]: int(r.timeout[i]) for i in range(len(r.timeout))
                if r.timeout[i] and i in C.TIMEOUT_NAMES}
    implied = {"adaptive.start": (r.max_states // 10) * 6, "adaptive.end": (r.max_states // 10) * 12}
    if r.max_states and all(timeouts.get(k) == v for k, v in implied.items()):
        del timeouts["adaptive.start"], timeouts["adaptive.end"]  # what pfctl derives from `max`
    if timeouts:
        s["timeouts"] = timeouts
    return s if len(s) > 1 else s["type"]


def _check_unsupported(r: KRule, flags: int, unsupported: list[str]) -> None:
    checks = [
        ("nat-to", _pool_used(r.nat)),
        ("rdr-to", _pool_used(r.rdr)),
        ("route-to/reply-to/dup-to", bool(r.rt) or _pool_used(r.route)),
        ("received-on", bool(r.rcv_ifname)),
        ("queue", bool(r.qname)),
        ("probability", bool(r.prob)),
        ("tos", bool(r.tos)),
        ("min-ttl", bool(r.min_ttl)),
        ("max-mss", bool(r.max_mss)),
        ("allow-opts", bool(r.allow_opts)),
        ("user/group", bool(r.uid[0] or r.gid[0])),
        ("os fingerprint", int(r.os_fingerprint) not in (0, 0xFFFFFFFF)),
        ("rtable", int(r.rtableid) > 0),
        ("on rdomain", int(r.onrdomain) > 0),
        ("prio/set prio", bool(r.prio) or bool(r.set_prio[0] or r.set_prio[1])),
        ("max-pkt-rate", bool(r.pktrate[0])),
        ("divert", bool(r.divert.type)),
        ("af-to", bool(flags & C.PFRULE_AFTO)),
        ("once", bool(flags & C.PFRULE_ONCE)),
        ("fragment", bool(flags & C.PFRULE_FRAGMENT)),
        ("scrub options", bool(r.scrub_flags)),
        ("delay", bool(r.delay)),
    ]
    for name, used in checks:
        if used:
            unsupported.append(name)
    for lim in ("statelim", "sourcelim"):
        if getattr(r, lim)[0]:
            unsupported.append(lim.replace("lim", " limiter"))


def normalise(spec: RuleSpec) -> dict[str, Any]:  # noqa: C901 - one branch per JSON member of the rule schema
    """The JSON a GET returns for a rule loaded from *spec* (before pf's implicit defaults)."""
    out: dict[str, Any] = {"action": spec.action}
    if spec.anchor:
        out["anchor"] = spec.anchor
    if spec.block_return and spec.block_return != "drop":
        out["return"] = spec.block_return
    if spec.direction:
        out["direction"] = spec.direction
    if spec.quick:
        out["quick"] = True
    if spec.log:
        out["log"] = True
    if spec.interface:
        out["interface"] = ("!" if spec.interface_negated else "") + spec.interface
    if spec.af:
        out["af"] = spec.af
    if spec.proto:
        out["proto"] = proto_name(spec.proto)
    for key, h in (("from", spec.src), ("to", spec.dst)):
        v = _host_json(h)
        if v is not None:
            out[key] = v
    if spec.flags is not None and spec.flags != (0, 0):
        out["flags"] = f"{flags_text(spec.flags[0])}/{flags_text(spec.flags[1])}"
    if spec.icmp_type is not None:
        out["icmp_type"] = spec.icmp_type
        if spec.icmp_code is not None:
            out["icmp_code"] = spec.icmp_code
    if spec.state is not None:
        out["state"] = _state_json(spec.state)
    for key in ("label", "tag", "tagged"):
        if getattr(spec, key):
            out[key] = getattr(spec, key)
    return out


def _host_json(h: HostSpec) -> Any:
    out: dict[str, Any] = {}
    if h.table is not None:
        out["table"] = h.table
    if h.address is not None:
        out["address"] = str(h.address)
    if h.negate:
        out["negate"] = True
    if h.port is not None:
        out["port"] = h.port.json()
    return _host_form(out)


def _state_json(s: StateSpec) -> Any:
    if not s.has_options:
        return s.type
    out: dict[str, Any] = {"type": s.type}
    for key in ("max", "max_src_states", "max_src_nodes", "max_src_conn"):
        if getattr(s, key):
            out[key] = getattr(s, key)
    if s.max_src_conn_rate[0]:
        out["max_src_conn_rate"] = f"{s.max_src_conn_rate[0]}/{s.max_src_conn_rate[1]}"
    if s.overload:
        out["overload"] = s.overload
        if s.flush:
            out["flush"] = s.flush
    if s.source_track:
        out["source_track"] = s.source_track
    for key in ("sloppy", "if_bound", "no_sync", "pflow"):
        if getattr(s, key):
            out[key] = True
    if s.timeouts:
        out["timeouts"] = dict(s.timeouts)
    return out


__all__ = ["decode_rule", "normalise"]
