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

import re
from dataclasses import dataclass, field

from ..abi import constants as C
from .errors import ValidationError
from .validate import (
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
class HostSpec:
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
    src: HostSpec = HostSpec()
    dst: HostSpec = HostSpec()
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


def parse_host(value: object, path: str) -> HostSpec:
    if isinstance(value, str):
        text = value.strip()
        if text == "any":
            return HostSpec()
        m = _TABLE_REF.match(text)
        if m:
            return HostSpec(table=check_table_name(m.group(2), path), negate=bool(m.group(1)))
        a = parse_address(text, path)
        return HostSpec(address=Address(a.network), negate=a.negated)
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
    return HostSpec(address, table, negate, port)


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


def parse_rule(value: object, path: str) -> RuleSpec:  # noqa: C901 - one check per JSON member, in the order the schema documents them
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
    src = parse_host(f.raw("from"), f.sub("from")) if f.has("from") else HostSpec()
    dst = parse_host(f.raw("to"), f.sub("to")) if f.has("to") else HostSpec()
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


def _render_host(h: HostSpec) -> str:
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


def render_rule(r: RuleSpec) -> str:  # noqa: C901 - one branch per pf.conf rule part, in pf.conf's order
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


__all__ = [
    "FAMILY_AF", "RulesetSpec", "RuleSpec", "TableSpec", "StateSpec", "HostSpec", "parse_ruleset_body", "parse_rule",
    "render_ruleset", "render_rule",
]
