"""JSON rules: the schema of ``PUT /api/v1/anchors/{path}/rules``, its pf.conf rendering, and
the decoding of kernel rules back into it for ``GET``.

One JSON rule is one pf rule (no list expansion: put many addresses in a table).  The body
is either a list of rules or ``{"rules": [...], "tables": {...}}``::

    {"rules": [
       {"action": "block", "return": "return-rst", "direction": "in", "quick": true,
        "interface": "egress", "proto": "tcp", "from": "<bruteforce>", "to": {"port": 22}},
       {"action": "pass", "direction": "in", "proto": "tcp", "to": {"address": "192.0.2.10", "port": "80"},
        "state": {"type": "modulate", "max": 1000, "max_src_conn_rate": "100/10",
                  "overload": "bruteforce", "flush": "global"},
        "label": "web", "tag": "WEB"}],
     "tables": {"bruteforce": {"persist": true}, "web": {"addresses": ["192.0.2.0/24", "!192.0.2.1"]}}}

Members of a rule (all optional but ``action``):

============ ===================================================================================
action       ``pass`` | ``block`` | ``match`` | ``anchor`` (then ``anchor`` names the child anchor)
return       block only: ``drop`` | ``return`` | ``return-rst`` | ``return-icmp``
direction    ``in`` | ``out`` (omitted: both)
quick, log   booleans
interface    ``em0``, ``egress`` (a group) or ``!em0``
af           ``inet`` | ``inet6`` (inferred from addresses when omitted)
proto        ``tcp``, ``udp``, ``icmp``, ``icmp6``, ... or 1-255
from, to     ``"any"``, ``"192.0.2.0/24"``, ``"!10.0.0.0/8"``, ``"<table>"``, ``"!<table>"`` or an object
             ``{"address": ..., "table": ..., "negate": bool, "port": ...}``; ports need tcp/udp:
             ``22``, ``"1024:65535"``, ``">=1024"``, ``"!=80"``, ``"1000<>2000"``, ``"1000><2000"``
flags        ``"S/SA"`` (tcp only) or ``"any"``; stateful pass rules get pf's default S/SA when omitted
icmp_type    icmp/icmp6 only: 0-255, with optional ``icmp_code``
state        pass only: ``"keep"`` | ``"modulate"`` | ``"synproxy"`` | ``"none"`` or an object with
             ``type`` and ``max``, ``max_src_states``, ``max_src_nodes``, ``max_src_conn``,
             ``max_src_conn_rate`` (``"n/seconds"``), ``overload`` (table), ``flush``
             (``"rule"`` | ``"global"``), ``source_track`` (``"rule"`` | ``"global"``), ``sloppy``,
             ``if_bound``, ``no_sync``, ``pflow`` (booleans), ``timeouts`` (``{"tcp.established": 600}``).
             Omitted: pf's default (pass rules keep state).
label, tag   strings (at most 63 bytes, no ``"`` ``\\`` ``$``); ``tagged`` matches a tag
============ ===================================================================================

Tables: ``{"name": {"addresses": [...], "persist": bool, "const": bool, "counters": bool}}``;
without ``addresses`` a table keeps the addresses it has (like ``table <t> persist`` in pf.conf).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from ..abi import constants as C
from ..ruleset.model import Pool as KPool
from ..ruleset.model import Rule as KRule
from ..ruleset.model import RuleAddr as KRuleAddr
from .errors import ValidationError
from .validate import (
    AF_FAMILY,
    FAMILY_AF,
    PORT_PROTOCOLS,
    Address,
    Fields,
    PortSpec,
    _shown,
    check_anchor_path,
    check_int,
    check_interface,
    check_proto,
    check_table_name,
    check_text,
    parse_address,
    parse_port,
    proto_name,
    type_name,
)

MAX_RULES = 10000
MAX_TABLES = 1000
MAX_TABLE_ADDRESSES = 65536

ACTIONS = ("pass", "block", "match", "anchor")
BLOCK_RETURNS = {
    "drop": C.PFRULE_DROP,
    "return": C.PFRULE_RETURN,
    "return-rst": C.PFRULE_RETURNRST,
    "return-icmp": C.PFRULE_RETURNICMP,
}
STATE_TYPES = {"none": 0, "keep": C.PF_STATE_NORMAL, "modulate": C.PF_STATE_MODULATE,
               "synproxy": C.PF_STATE_SYNPROXY}
STATE_NAMES = {v: k for k, v in STATE_TYPES.items()}
TCP_FLAGS = "FSRPAUEW"  # bit i is 1 << i (TH_FIN .. TH_CWR)

RULE_KEYS = ("action", "anchor", "return", "direction", "quick", "log", "interface", "af", "proto", "from", "to",
             "flags", "icmp_type", "icmp_code", "state", "label", "tag", "tagged")
STATE_KEYS = ("type", "max", "max_src_states", "max_src_nodes", "max_src_conn", "max_src_conn_rate", "overload",
              "flush", "source_track", "sloppy", "if_bound", "no_sync", "pflow", "timeouts")
HOST_KEYS = ("address", "table", "negate", "port")
TABLE_KEYS = ("addresses", "persist", "const", "counters")


# --- the validated form ---------------------------------------------------------


@dataclass(frozen=True)
class Host:
    address: Address | None = None  # negation lives in `negate`, not in the address
    table: str | None = None
    negate: bool = False
    port: PortSpec | None = None

    @property
    def is_any(self) -> bool:
        return self.address is None and self.table is None and not self.negate


@dataclass(frozen=True)
class StateSpec:
    type: str = "keep"
    max: int = 0
    max_src_states: int = 0
    max_src_nodes: int = 0
    max_src_conn: int = 0
    max_src_conn_rate: tuple[int, int] = (0, 0)
    overload: str = ""
    flush: str = ""  # "" | "rule" | "global"
    source_track: str = ""  # "" | "rule" | "global"
    sloppy: bool = False
    if_bound: bool = False
    no_sync: bool = False
    pflow: bool = False
    timeouts: tuple[tuple[str, int], ...] = ()

    @property
    def has_options(self) -> bool:
        return self != StateSpec(type=self.type)


@dataclass(frozen=True)
class RuleSpec:
    action: str
    anchor: str = ""
    block_return: str = ""
    direction: str = ""
    quick: bool = False
    log: bool = False
    interface: str = ""
    interface_negated: bool = False
    af: str = ""
    proto: int = 0
    src: Host = Host()
    dst: Host = Host()
    flags: tuple[int, int] | None = None  # None: pf's default; (0, 0): "flags any"
    icmp_type: int | None = None
    icmp_code: int | None = None
    state: StateSpec | None = None  # None: pf's default
    label: str = ""
    tag: str = ""
    tagged: str = ""
    source: str = ""  # "rules[3]"


@dataclass(frozen=True)
class TableSpec:
    name: str
    persist: bool = False
    const: bool = False
    counters: bool = False
    addresses: tuple[Address, ...] | None = None
    source: str = ""

    @property
    def flags(self) -> int:
        return ((C.PFR_TFLAG_PERSIST if self.persist else 0) | (C.PFR_TFLAG_CONST if self.const else 0)
                | (C.PFR_TFLAG_COUNTERS if self.counters else 0))


@dataclass
class RulesetSpec:
    rules: list[RuleSpec] = field(default_factory=list)
    tables: list[TableSpec] = field(default_factory=list)


# --- parsing JSON ----------------------------------------------------------------


def parse_ruleset_body(body: object) -> RulesetSpec:
    """A JSON body (list of rules, or ``{"rules": [...], "tables": {...}}``) -> :class:`RulesetSpec`."""
    if isinstance(body, list):
        rules_value: object = body
        tables_value: object = None
    else:
        f = Fields(body, "")
        rules_value = f.raw("rules")
        tables_value = f.raw("tables")
        f.done(("rules", "tables"))
        if rules_value is None:
            raise ValidationError("rules",
                                  "rules is missing: send {\"rules\": [...]} (an empty list clears the anchor)")
    if not isinstance(rules_value, list):
        raise ValidationError("rules", f"rules must be a list of rule objects, not {type_name(rules_value)}")
    if len(rules_value) > MAX_RULES:
        raise ValidationError("rules", f"at most {MAX_RULES} rules per request")
    spec = RulesetSpec()
    if tables_value is not None:
        if not isinstance(tables_value, dict):
            raise ValidationError("tables",
                                  f"tables must be an object of name: definition, not {type_name(tables_value)}")
        if len(tables_value) > MAX_TABLES:
            raise ValidationError("tables", f"at most {MAX_TABLES} tables per request")
        for name, tdef in tables_value.items():
            spec.tables.append(parse_table(name, tdef))
    for i, r in enumerate(rules_value):
        spec.rules.append(parse_rule(r, f"rules[{i}]"))
    return spec


def parse_table(name: object, value: object) -> TableSpec:
    path = f"tables.{name}"
    check_table_name(name, path)
    f = Fields(value if value is not None else {}, path)
    addresses = None
    if f.has("addresses"):
        raw = f.raw("addresses")
        if not isinstance(raw, list):
            raise ValidationError(f.sub("addresses"), f"{f.sub('addresses')} must be a list of address strings")
        if len(raw) > MAX_TABLE_ADDRESSES:
            raise ValidationError(f.sub("addresses"), f"at most {MAX_TABLE_ADDRESSES} addresses per table")
        addresses = tuple(parse_address(a, f"{f.sub('addresses')}[{i}]") for i, a in enumerate(raw))
    spec = TableSpec(str(name), f.get_bool("persist"), f.get_bool("const"), f.get_bool("counters"), addresses, path)
    f.done(TABLE_KEYS)
    return spec


_TABLE_REF = re.compile(r"^(!)?\s*<([^<>]*)>$")


def parse_host(value: object, path: str) -> Host:
    if isinstance(value, str):
        text = value.strip()
        if text == "any":
            return Host()
        m = _TABLE_REF.match(text)
        if m:
            return Host(table=check_table_name(m.group(2), path), negate=bool(m.group(1)))
        a = parse_address(text, path)
        return Host(address=Address(a.network), negate=a.negated)
    f = Fields(value, path)
    address = table = None
    negate = f.get_bool("negate")
    if f.has("address") and f.has("table"):
        raise ValidationError(f.sub("table"), f"{path}: give either address or table, not both")
    if f.has("address"):
        raw = f.raw("address")
        if raw != "any":
            a = parse_address(raw, f.sub("address"))
            address = Address(a.network)
            if a.negated:
                if negate:
                    raise ValidationError(f.sub("negate"), f"{path}: negated twice ('!' and negate)")
                negate = True
    elif f.has("table"):
        raw = f.raw("table")
        if isinstance(raw, str):
            m = _TABLE_REF.match(raw.strip())
            if m:
                raw = m.group(2)
                if m.group(1):
                    negate = True
        table = check_table_name(raw, f.sub("table"))
    port = parse_port(f.raw("port"), f.sub("port")) if f.has("port") else None
    f.done(HOST_KEYS)
    if negate and address is None and table is None:
        raise ValidationError(f.sub("negate"), f"{path}: negate needs an address or a table")
    return Host(address, table, negate, port)


def parse_flags(value: object, path: str) -> tuple[int, int]:
    if not isinstance(value, str):
        raise ValidationError(path, f"{path} must be a string such as \"S/SA\" or \"any\", not {type_name(value)}")
    if value == "any":
        return (0, 0)
    have, slash, mask = value.partition("/")
    if not slash or any(c not in TCP_FLAGS for c in have + mask) or not mask:
        raise ValidationError(path, f"{path}: {_shown(value)} is not a flags expression; write e.g. \"S/SA\" "
                              f"(letters from {TCP_FLAGS})")
    bits = [sum(1 << TCP_FLAGS.index(c) for c in set(part)) for part in (have, mask)]
    if bits[0] & ~bits[1]:
        raise ValidationError(path, f"{path}: flags {have} are not all in the mask {mask}, so the rule never matches")
    return bits[0], bits[1]


def flags_text(bits: int) -> str:
    return "".join(c for i, c in enumerate(TCP_FLAGS) if bits & (1 << i))


def parse_state(value: object, path: str) -> StateSpec:
    if isinstance(value, str):
        if value not in STATE_TYPES:
            raise ValidationError(path, f"{path} must be one of {', '.join(STATE_TYPES)}, not {_shown(value)}")
        return StateSpec(type=value)
    f = Fields(value, path)
    stype = f.get_str("type", "keep")
    if stype not in STATE_TYPES or stype == "none":
        raise ValidationError(f.sub("type"), f"{f.sub('type')} must be keep, modulate or synproxy (options need state)")
    rate = (0, 0)
    if f.has("max_src_conn_rate"):
        raw = f.raw("max_src_conn_rate")
        m = re.match(r"^(\d{1,9})/(\d{1,9})$", raw) if isinstance(raw, str) else None
        if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
            raise ValidationError(f.sub("max_src_conn_rate"),
                                  f"{f.sub('max_src_conn_rate')} must be \"connections/seconds\" such as \"100/10\"")
        rate = (int(m.group(1)), int(m.group(2)))
    overload = ""
    if f.has("overload"):
        raw = f.raw("overload")
        if isinstance(raw, str) and raw.startswith("<") and raw.endswith(">"):
            raw = raw[1:-1]
        overload = check_table_name(raw, f.sub("overload"))
    flush = f.get_choice("flush", ("rule", "global"), 'be "rule" or "global"')
    if flush and not overload:
        raise ValidationError(f.sub("flush"), f"{f.sub('flush')} needs an overload table")
    track = f.get_choice("source_track", ("rule", "global"), 'be "rule" or "global"')
    timeouts: list[tuple[str, int]] = []
    if f.has("timeouts"):
        tf = Fields(f.raw("timeouts"), f.sub("timeouts"))
        names = _rule_timeout_names()
        for key in list(tf.value):
            if key not in names:
                raise ValidationError(f"{tf.path}.{key}", f"unknown timeout {_shown(key)}; known: {', '.join(names)}")
            timeouts.append((key, check_int(tf.raw(key), f"{tf.path}.{key}", 1, 2**31 - 1)))
        timeouts.sort(key=lambda kv: names.index(kv[0]))
    spec = StateSpec(
        type=stype,
        max=f.get_int("max", 0, lo=1) or 0,
        max_src_states=f.get_int("max_src_states", 0, lo=1) or 0,
        max_src_nodes=f.get_int("max_src_nodes", 0, lo=1) or 0,
        max_src_conn=f.get_int("max_src_conn", 0, lo=1) or 0,
        max_src_conn_rate=rate,
        overload=overload,
        flush=flush,
        source_track=track,
        sloppy=f.get_bool("sloppy"),
        if_bound=f.get_bool("if_bound"),
        no_sync=f.get_bool("no_sync"),
        pflow=f.get_bool("pflow"),
        timeouts=tuple(timeouts),
    )
    f.done(STATE_KEYS)
    if (spec.max_src_conn or spec.max_src_conn_rate[0] or spec.max_src_nodes or spec.max_src_states) \
            and not spec.source_track:
        spec = StateSpec(**{**spec.__dict__, "source_track": "rule"})  # pfctl implies source-track rule
    if spec.overload and not (spec.max_src_conn or spec.max_src_conn_rate[0]):
        raise ValidationError(f.sub("overload"), f"{f.sub('overload')} needs max_src_conn or max_src_conn_rate")
    return spec


def _rule_timeout_names() -> list[str]:
    # per-rule timeouts: every pfctl timeout name except the global-only ones
    names = [C.TIMEOUT_NAMES[i] for i in sorted(C.TIMEOUT_NAMES)]
    return [n for n in names if n not in ("interval", "src.track", "frag")]


def parse_rule(value: object, path: str) -> RuleSpec:
    f = Fields(value, path)
    action = f.get_str("action")
    if action not in ACTIONS:
        raise ValidationError(f.sub("action"), f"{f.sub('action')} must be one of {', '.join(ACTIONS)}"
                              + ("" if action is None else f", not {_shown(action)}"))
    anchor = ""
    if f.has("anchor"):
        if action != "anchor":
            raise ValidationError(f.sub("anchor"), f"{f.sub('anchor')} is only for \"action\": \"anchor\"")
        raw = f.raw("anchor")
        if not isinstance(raw, str):
            raise ValidationError(f.sub("anchor"), f"{f.sub('anchor')} must be a string")
        anchor = check_anchor_path(raw, f.sub("anchor"), for_write=True)
        if not anchor:
            raise ValidationError(f.sub("anchor"), f"{f.sub('anchor')} must name the anchor to evaluate")
    elif action == "anchor":
        raise ValidationError(f.sub("anchor"), f"{path}: an anchor rule needs \"anchor\": \"<name>\"")
    block_return = f.get_str("return", "") or ""
    if block_return:
        if action != "block":
            raise ValidationError(f.sub("return"), f"{f.sub('return')} is only for block rules")
        if block_return not in BLOCK_RETURNS:
            raise ValidationError(f.sub("return"), f"{f.sub('return')} must be one of {', '.join(BLOCK_RETURNS)}")
    direction = f.get_choice("direction", ("in", "out"), 'be "in" or "out" (omit for both)')
    interface, ifnot = ("", False)
    if f.has("interface"):
        interface, ifnot = check_interface(f.raw("interface"), f.sub("interface"))
    af = f.get_choice("af", ("inet", "inet6"), 'be "inet" or "inet6"')
    proto = check_proto(f.raw("proto"), f.sub("proto")) if f.has("proto") else 0
    src = parse_host(f.raw("from"), f.sub("from")) if f.has("from") else Host()
    dst = parse_host(f.raw("to"), f.sub("to")) if f.has("to") else Host()
    for host, key in ((src, "from"), (dst, "to")):
        if host.address is not None:
            if af and host.address.family != af:
                raise ValidationError(f.sub(key), f"{f.sub(key)} is an {host.address.family} address but af is {af}")
            af = host.address.family
        if host.port is not None and proto not in PORT_PROTOCOLS:
            raise ValidationError(f.sub(key) + ".port", "ports need \"proto\": \"tcp\" or \"udp\"")
    flags = parse_flags(f.raw("flags"), f.sub("flags")) if f.has("flags") else None
    if flags is not None and flags != (0, 0) and proto != C.IPPROTO_TCP:
        raise ValidationError(f.sub("flags"), "flags need \"proto\": \"tcp\"")
    icmp_type = icmp_code = None
    if f.has("icmp_type"):
        if proto not in (C.IPPROTO_ICMP, C.IPPROTO_ICMPV6):
            raise ValidationError(f.sub("icmp_type"), "icmp_type needs \"proto\": \"icmp\" or \"icmp6\"")
        icmp_type = f.get_int("icmp_type", lo=0, hi=254)
        if proto == C.IPPROTO_ICMP and af == "inet6" or proto == C.IPPROTO_ICMPV6 and af == "inet":
            raise ValidationError(f.sub("icmp_type"), "icmp goes with inet and icmp6 with inet6")
    if f.has("icmp_code"):
        if icmp_type is None:
            raise ValidationError(f.sub("icmp_code"), "icmp_code needs icmp_type")
        icmp_code = f.get_int("icmp_code", lo=0, hi=254)
    state = None
    if f.has("state"):
        if action != "pass":
            raise ValidationError(f.sub("state"), f"{f.sub('state')} is only for pass rules")
        state = parse_state(f.raw("state"), f.sub("state"))
        if state.type == "synproxy" and proto != C.IPPROTO_TCP:
            raise ValidationError(f.sub("state"), "synproxy state needs \"proto\": \"tcp\"")
    label = check_text(f.raw("label"), f.sub("label"), C.PF_RULE_LABEL_SIZE) if f.has("label") else ""
    tag = check_text(f.raw("tag"), f.sub("tag"), C.PF_TAG_NAME_SIZE) if f.has("tag") else ""
    tagged = check_text(f.raw("tagged"), f.sub("tagged"), C.PF_TAG_NAME_SIZE) if f.has("tagged") else ""
    quick = f.get_bool("quick")
    log = f.get_bool("log")
    f.done(RULE_KEYS)
    if action == "anchor":
        for key, present in (("flags", flags is not None), ("state", state is not None), ("label", label),
                             ("tag", tag), ("icmp_type", icmp_type is not None), ("log", log)):
            if present:
                raise ValidationError(f.sub(key), f"{f.sub(key)} is not allowed on an anchor rule")
    if tag and action == "block":
        raise ValidationError(f.sub("tag"), "tag is for pass and match rules")
    return RuleSpec(
        action=action, anchor=anchor, block_return=block_return, direction=direction, quick=quick, log=log,
        interface=interface, interface_negated=ifnot, af=af, proto=proto, src=src, dst=dst, flags=flags,
        icmp_type=icmp_type, icmp_code=icmp_code, state=state, label=label, tag=tag, tagged=tagged, source=path,
    )


# --- pf.conf rendering -------------------------------------------------------------


@dataclass
class Rendered:
    text: str
    sources: dict[int, str]  # line number (1-based) -> "rules[3]" / "tables.web"


def render_ruleset(spec: RulesetSpec) -> Rendered:
    """pf.conf text for *spec*: one line per table, then one line per rule."""
    lines: list[str] = []
    sources: dict[int, str] = {}
    for t in spec.tables:
        lines.append(render_table(t))
        sources[len(lines)] = t.source
    for r in spec.rules:
        lines.append(render_rule(r))
        sources[len(lines)] = r.source
    return Rendered("\n".join(lines) + ("\n" if lines else ""), sources)


def render_table(t: TableSpec) -> str:
    out = [f"table <{t.name}>"]
    if t.const:
        out.append("const")
    if t.persist:
        out.append("persist")
    if t.counters:
        out.append("counters")
    if t.addresses is not None:
        out.append("{ " + ", ".join(str(a) for a in t.addresses) + " }" if t.addresses else "{ }")
    return " ".join(out)


def _render_host(h: Host) -> str:
    if h.table is not None:
        s = f"<{h.table}>"
    elif h.address is not None:
        s = str(h.address)
    else:
        s = "any"
    if h.negate:
        s = "! " + s
    if h.port is not None:
        s += f" port {h.port.pfconf()}"
    return s


def render_rule(r: RuleSpec) -> str:
    out: list[str] = []
    if r.action == "anchor":
        out.append(f'anchor "{r.anchor}"')
    else:
        out.append(r.action)
        if r.block_return:
            out.append(r.block_return)
    if r.direction:
        out.append(r.direction)
    if r.log:
        out.append("log")
    if r.quick:
        out.append("quick")
    if r.interface:
        out.append(f"on {'! ' if r.interface_negated else ''}{r.interface}")
    if r.af:
        out.append(r.af)
    if r.proto:
        name = proto_name(r.proto)
        out.append(f"proto {name}")
    if r.src.is_any and r.dst.is_any and r.src.port is None and r.dst.port is None:
        out.append("all")
    else:
        out.append(f"from {_render_host(r.src)} to {_render_host(r.dst)}")
    if r.flags is not None:
        out.append("flags any" if r.flags == (0, 0) else f"flags {flags_text(r.flags[0])}/{flags_text(r.flags[1])}")
    if r.icmp_type is not None:
        out.append(f"{'icmp6-type' if r.proto == C.IPPROTO_ICMPV6 else 'icmp-type'} {r.icmp_type}")
        if r.icmp_code is not None:
            out.append(f"code {r.icmp_code}")
    if r.state is not None:
        out.append(_render_state(r.state))
    if r.label:
        out.append(f'label "{r.label}"')
    if r.tag:
        out.append(f'tag "{r.tag}"')
    if r.tagged:
        out.append(f'tagged "{r.tagged}"')
    return " ".join(out)


def _render_state(s: StateSpec) -> str:
    if s.type == "none":
        return "no state"
    opts: list[str] = []
    if s.max:
        opts.append(f"max {s.max}")
    if s.no_sync:
        opts.append("no-sync")
    if s.source_track:
        opts.append(f"source-track {s.source_track}")
    if s.max_src_states:
        opts.append(f"max-src-states {s.max_src_states}")
    if s.max_src_conn:
        opts.append(f"max-src-conn {s.max_src_conn}")
    if s.max_src_conn_rate[0]:
        opts.append(f"max-src-conn-rate {s.max_src_conn_rate[0]}/{s.max_src_conn_rate[1]}")
    if s.max_src_nodes:
        opts.append(f"max-src-nodes {s.max_src_nodes}")
    if s.overload:
        opts.append(f"overload <{s.overload}>" + (" flush" if s.flush else "") + (" global" if s.flush == "global"
                                                                                   else ""))
    if s.if_bound:
        opts.append("if-bound")
    if s.sloppy:
        opts.append("sloppy")
    if s.pflow:
        opts.append("pflow")
    for name, secs in s.timeouts:
        opts.append(f"{name} {secs}")
    head = {"keep": "keep state", "modulate": "modulate state", "synproxy": "synproxy state"}[s.type]
    return head + (f" ({', '.join(opts)})" if opts else "")


# --- decoding kernel rules -----------------------------------------------------------

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


def decode_rule(r: KRule, anchor_call: str = "") -> dict[str, Any]:
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


def normalise(spec: RuleSpec) -> dict[str, Any]:
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


def _host_json(h: Host) -> Any:
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


__all__ = [
    "FAMILY_AF", "RulesetSpec", "RuleSpec", "TableSpec", "StateSpec", "Host", "parse_ruleset_body", "parse_rule",
    "render_ruleset", "render_rule", "decode_rule", "normalise",
]
