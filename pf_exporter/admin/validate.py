"""Validation of everything a client sends, before any ioctl: addresses, names, ports, filters.

Every function raises :class:`~pf_exporter.admin.errors.ValidationError` naming the JSON
field at fault and what would be accepted instead.  Nothing here touches pf.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..abi import constants as C
from .errors import ValidationError

# --- JSON shape helpers --------------------------------------------------------

def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Fields:
    """Reads the members of one JSON object, remembering its path; unknown members are errors."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise ValidationError(path or None, f"{path or 'the body'} must be a JSON object, not {type_name(value)}")
        self.value: dict[str, Any] = value
        self.path = path
        self.seen: set[str] = set()

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        if key in self.value:
            self.seen.add(key)  # a known member sent as null is absent, not unknown
        return key in self.value and self.value[key] is not None

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.value.get(key)

    def get_str(self, key: str, default: str | None = None, *, max_len: int = 1024) -> str | None:
        v = self.raw(key)
        if v is None:
            return default
        if not isinstance(v, str):
            raise ValidationError(self.sub(key), f"{self.sub(key)} must be a string, not {type_name(v)}")
        if len(v) > max_len:
            raise ValidationError(self.sub(key), f"{self.sub(key)} is longer than {max_len} characters")
        return v

    def get_choice(self, key: str, choices: tuple[str, ...], must: str) -> str:
        """A string member that is one of *choices*, or "" (absent or empty); otherwise the error
        says the member *must* ... (e.g. 'be "in" or "out"')."""
        v = self.get_str(key, "") or ""
        if v and v not in choices:
            raise ValidationError(self.sub(key), f"{self.sub(key)} must {must}")
        return v

    def get_bool(self, key: str, default: bool = False) -> bool:
        v = self.raw(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ValidationError(self.sub(key), f"{self.sub(key)} must be true or false, not {type_name(v)}")
        return v

    def get_int(self, key: str, default: int | None = None, *, lo: int = 0, hi: int = 2**32 - 1) -> int | None:
        v = self.raw(key)
        if v is None:
            return default
        return check_int(v, self.sub(key), lo, hi)

    def done(self, allowed: Iterable[str] | None = None) -> None:
        unknown = sorted(set(self.value) - self.seen)
        if unknown:
            known = sorted(allowed if allowed is not None else self.seen)
            name = self.sub(unknown[0])
            raise ValidationError(
                name, f"unknown member {name!r}; allowed here: {', '.join(known)}"
            )


def check_int(v: object, field: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValidationError(field, f"{field} must be an integer, not {type_name(v)}")
    if not lo <= v <= hi:
        raise ValidationError(field, f"{field} must be between {lo} and {hi}, got {v}")
    return v


# --- addresses -----------------------------------------------------------------

FAMILY_AF = {"inet": C.AF_INET, "inet6": C.AF_INET6}
AF_FAMILY = {v: k for k, v in FAMILY_AF.items()}


@dataclass(frozen=True)
class Address:
    """An IPv4/IPv6 network with optional negation, e.g. ``!192.0.2.0/24``; host bits are zero."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    negated: bool = False

    @property
    def family(self) -> str:
        return "inet" if self.network.version == 4 else "inet6"

    @property
    def af(self) -> int:
        return FAMILY_AF[self.family]

    @property
    def prefix(self) -> int:
        return self.network.prefixlen

    @property
    def packed(self) -> bytes:
        """The address in network byte order, zero-padded to 16 bytes (``struct pf_addr``)."""
        return self.network.network_address.packed.ljust(16, b"\0")

    @property
    def mask_packed(self) -> bytes:
        return self.network.netmask.packed.ljust(16, b"\0")

    @property
    def is_host(self) -> bool:
        return self.network.prefixlen == self.network.max_prefixlen

    def __str__(self) -> str:
        s = ("!" if self.negated else "") + str(self.network.network_address)
        return s if self.is_host else f"{s}/{self.prefix}"


_ADDR_CHARS = re.compile(r"^[0-9A-Fa-f:./]+$")


def parse_address(value: object, field: str, *, allow_negation: bool = True) -> Address:
    """``"192.0.2.1"``, ``"192.0.2.0/24"``, ``"!10.0.0.0/8"``, ``"2001:db8::/32"`` -> :class:`Address`."""
    if not isinstance(value, str):
        raise ValidationError(
            field, f"{field} must be an address string such as \"192.0.2.0/24\", not {type_name(value)}"
        )
    text = value.strip()
    negated = text.startswith("!")
    if negated:
        if not allow_negation:
            raise ValidationError(field, f"{field}: negation ('!') is not allowed here")
        text = text[1:].strip()
    if not text or len(text) > 64 or not _ADDR_CHARS.match(text):
        raise ValidationError(
            field,
            f"{field}: {_shown(value)} is not an IPv4 or IPv6 address; write e.g. 192.0.2.1, 192.0.2.0/24, "
            "!10.0.0.0/8 or 2001:db8::/32 (host names and interface names are not accepted)",
        )
    addr_text, slash, prefix_text = text.partition("/")
    try:
        ip = ipaddress.ip_address(addr_text)
    except ValueError:
        raise ValidationError(
            field, f"{field}: {_shown(value)} is not an IPv4 or IPv6 address; write e.g. 192.0.2.1 or 2001:db8::1"
        ) from None
    maxlen = ip.max_prefixlen
    if slash:
        if not prefix_text.isdigit() or len(prefix_text) > 3 or int(prefix_text) > maxlen:
            raise ValidationError(
                field, f"{field}: prefix length in {_shown(value)} must be a number from 0 to {maxlen}"
            )
        prefix = int(prefix_text)
    else:
        prefix = maxlen
    net = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    if net.network_address != ip:
        raise ValidationError(
            field,
            f"{field}: {_shown(value)} has host bits set below the /{prefix} prefix; "
            f"did you mean {'!' if negated else ''}{net}?",
        )
    return Address(net, negated)


def _shown(value: object, limit: int = 48) -> str:
    """A client-supplied value quoted for an error message, cut short (never a secret)."""
    s = repr(value)
    return s if len(s) <= limit else s[: limit - 3] + "...'"


def parse_address_list(value: object, field: str) -> list[Address]:
    if not isinstance(value, list):
        raise ValidationError(field, f"{field} must be a list of address strings, not {type_name(value)}")
    return [parse_address(v, f"{field}[{i}]") for i, v in enumerate(value)]


# --- names ---------------------------------------------------------------------

_IFNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")
_TABLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,30}$")
_ANCHOR_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
RESERVED_ANCHOR = "_pf"  # PF_RESERVED_ANCHOR (net/pfvar.h)
ANCHOR_MAXPATH = C.PF_ANCHOR_MAXPATH


def check_interface(value: object, field: str) -> tuple[str, bool]:
    """An interface or interface-group name, optionally negated: ``"em0"``, ``"!egress"``."""
    if not isinstance(value, str):
        raise ValidationError(field, f"{field} must be an interface name string, not {type_name(value)}")
    neg = value.startswith("!")
    name = value[1:] if neg else value
    if not _IFNAME.match(name):
        raise ValidationError(
            field,
            f"{field}: {_shown(value)} is not an interface or group name (a letter, then up to 14 letters, "
            "digits, '_', '.' or '-', e.g. em0 or egress)",
        )
    return name, neg


def check_table_name(value: object, field: str) -> str:
    if not isinstance(value, str) or not _TABLE.match(value):
        raise ValidationError(
            field,
            f"{field}: {_shown(value)} is not a table name (1 to 31 characters: letters, digits, '_', '.', ':', "
            "'-'; without the < >)",
        )
    return value


def check_anchor_path(value: str, field: str, *, for_write: bool) -> str:
    """An anchor path such as ``"relayd/web"`` (``""`` is the main ruleset).

    Writes refuse components starting with ``_``: pf reserves ``_pf`` and pfctl names
    inline anchors ``_1``, ``_2``... which a later ``pfctl -f`` would silently replace.
    """
    if value == "":
        return ""
    path = value.strip("/")
    if len(path.encode()) > ANCHOR_MAXPATH:
        raise ValidationError(field, f"{field}: anchor path is longer than {ANCHOR_MAXPATH} bytes")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", "..") or not _ANCHOR_PART.match(part):
            raise ValidationError(
                field,
                f"{field}: {_shown(value)} is not an anchor path (names of letters, digits, '_', '.', '-' "
                "separated by '/', e.g. deploy/web)",
            )
        if for_write and part.startswith("_"):
            raise ValidationError(
                field,
                f"{field}: anchor names starting with '_' are reserved (pf's _pf, pfctl's inline anchors _1, _2...);"
                " choose another name",
            )
    return "/".join(parts)


_TEXT_BAD = re.compile(r"[\x00-\x1f\x7f\"\\$]")


def check_text(value: object, field: str, size: int) -> str:
    """A label or tag: at most size-1 bytes, printable, without quotes, backslashes or '$' (pfctl macros)."""
    if not isinstance(value, str):
        raise ValidationError(field, f"{field} must be a string, not {type_name(value)}")
    if len(value.encode()) > size - 1:
        raise ValidationError(field, f"{field} is longer than {size - 1} bytes")
    if _TEXT_BAD.search(value):
        raise ValidationError(
            field, f"{field} contains a control character, '\"', '\\' or '$'; these are not allowed"
        )
    if not value:
        raise ValidationError(field, f"{field} must not be empty; leave it out instead")
    return value


# --- protocols and ports ---------------------------------------------------------

PROTOCOLS = {
    "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50,
    "ah": 51, "icmp6": 58, "ipv6-icmp": 58, "ospf": 89, "pim": 103, "ipcomp": 108, "carp": 112, "vrrp": 112,
    "sctp": 132, "pfsync": 240,
}
PROTOCOL_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6"}
PORT_PROTOCOLS = (6, 17)


def check_proto(value: object, field: str) -> int:
    if isinstance(value, str):
        num = PROTOCOLS.get(value.lower())
        if num is None:
            raise ValidationError(
                field, f"{field}: unknown protocol {_shown(value)}; use a name ({', '.join(sorted(PROTOCOLS))}) "
                "or a number 1-255"
            )
        return num
    return check_int(value, field, 1, 255)


def proto_name(num: int) -> str | int:
    return PROTOCOL_NAMES.get(num, num)


@dataclass(frozen=True)
class PortSpec:
    """A port match: ``op`` is a PF_OP_* value; ``low``/``high`` host-order ports."""

    op: int
    low: int
    high: int = 0

    def pfconf(self) -> str:
        op, a, b = self.op, self.low, self.high
        if op == C.PF_OP_EQ:
            return str(a)
        if op == C.PF_OP_RRG:
            return f"{a}:{b}"
        if op == C.PF_OP_IRG:
            return f"{a} >< {b}"
        if op == C.PF_OP_XRG:
            return f"{a} <> {b}"
        return f"{_OP_TEXT[op]} {a}"

    def json(self) -> int | str:
        if self.op == C.PF_OP_EQ:
            return self.low
        if self.op == C.PF_OP_RRG:
            return f"{self.low}:{self.high}"
        if self.op == C.PF_OP_IRG:
            return f"{self.low}><{self.high}"
        if self.op == C.PF_OP_XRG:
            return f"{self.low}<>{self.high}"
        return f"{_OP_TEXT[self.op]}{self.low}"


_OP_TEXT = {C.PF_OP_NE: "!=", C.PF_OP_LT: "<", C.PF_OP_LE: "<=", C.PF_OP_GT: ">", C.PF_OP_GE: ">="}
_UNARY = {"!=": C.PF_OP_NE, "<=": C.PF_OP_LE, ">=": C.PF_OP_GE, "<": C.PF_OP_LT, ">": C.PF_OP_GT, "=": C.PF_OP_EQ}
# pf.conf(5): "><" is the range without its ends (PF_OP_IRG), "<>" everything outside it (PF_OP_XRG)
_BINARY = (("<>", C.PF_OP_XRG), ("><", C.PF_OP_IRG), (":", C.PF_OP_RRG))
_PORT_HELP = "write 22, \"1024:65535\" (inclusive range), \">=1024\", \"!=80\", \"1000<>2000\" or \"1000><2000\""


def _port_number(text: str, field: str) -> int:
    text = text.strip()
    if not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise ValidationError(field, f"{field}: {_shown(text)} is not a port number (0-65535); {_PORT_HELP}")
    return int(text)


def parse_port(value: object, field: str) -> PortSpec:
    if isinstance(value, int) and not isinstance(value, bool):
        return PortSpec(C.PF_OP_EQ, check_int(value, field, 0, 65535))
    if not isinstance(value, str) or not value.strip() or len(value) > 32:
        raise ValidationError(field, f"{field} must be a port number or a port expression; {_PORT_HELP}")
    text = value.strip()
    for sym, op in _BINARY:
        if sym in text:
            a, _, b = text.partition(sym)
            lo, hi = _port_number(a, field), _port_number(b, field)
            if lo > hi:
                raise ValidationError(field, f"{field}: range {_shown(value)} goes downwards; write {hi}{sym}{lo}")
            return PortSpec(op, lo, hi)
    for sym, op in _UNARY.items():
        if text.startswith(sym):
            return PortSpec(op, _port_number(text[len(sym):], field))
    return PortSpec(C.PF_OP_EQ, _port_number(text, field))


# --- state-kill filters ------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    address: Address | None = None
    port: PortSpec | None = None


@dataclass(frozen=True)
class KillFilter:
    """What ``DELETE /api/v1/states`` matches; see :func:`parse_kill_filter`."""

    all: bool = False
    family: str = ""
    proto: int = 0
    src: Endpoint = Endpoint()
    dst: Endpoint = Endpoint()
    interface: str = ""
    label: str = ""
    rdomain: int = 0
    state_id: int | None = None
    creator_id: int = 0
    rule: int | None = None
    anchor: str = ""  # the ruleset of ``rule`` ("" the main ruleset)

    def params(self) -> dict[str, object]:
        """The filter as audit-log parameters: ``all`` always, the rest only when given."""
        out: dict[str, object] = {"all": self.all}  # always shown: the audit log tells an all-kill apart
        for key in ("family", "interface", "label"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.proto:
            out["proto"] = proto_name(self.proto)
        for side, ep in (("from", self.src), ("to", self.dst)):
            if ep.address is not None:
                out[side] = str(ep.address)
            if ep.port is not None:
                out[f"{side}_port"] = ep.port.json()
        if self.rdomain:
            out["rdomain"] = self.rdomain
        if self.state_id is not None:
            out["id"] = f"{self.state_id:016x}"
        if self.rule is not None:
            out["rule"] = self.rule
            out["anchor"] = self.anchor
        return out


KILL_KEYS = ("all", "af", "proto", "from", "to", "interface", "label", "rdomain", "id", "creator_id", "rule",
             "anchor")


def parse_endpoint(value: object, field: str, *, allow_tables: bool = False) -> tuple[Fields | None, Endpoint]:
    """``"192.0.2.1"`` or ``{"address": "...", "port": 22}`` -> Endpoint (rules add tables themselves)."""
    if isinstance(value, str):
        if value == "any":
            return None, Endpoint()
        return None, Endpoint(parse_address(value, field))
    f = Fields(value, field)
    addr = f.raw("address")
    address = None
    if addr is not None and addr != "any":
        address = parse_address(addr, f.sub("address"))
    port = f.raw("port")
    return f, Endpoint(address, parse_port(port, f.sub("port")) if port is not None else None)


def _parse_id(value: object, field: str) -> int:
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0x")
        if not text or len(text) > 16 or any(c not in "0123456789abcdef" for c in text):
            raise ValidationError(field, f"{field}: state ids are up to 16 hex digits as pfctl -ss -vv prints them")
        num = int(text, 16)
    else:
        num = check_int(value, field, 1, 2**64 - 1)
    if num == 0:
        raise ValidationError(field, f"{field}: state id 0 does not exist")
    return num


def parse_kill_filter(body: object) -> KillFilter:  # noqa: C901 - every member and every combination rule of the kill filter
    """Validate a state-kill filter (the JSON body of ``DELETE /api/v1/states``).

    Refuses an empty filter: killing every state needs ``{"all": true}`` (optionally with
    ``"interface"``).  ``"id"`` (a state id) cannot be combined with anything but
    ``"creator_id"``; ``"rule"`` needs ``"anchor"`` (the ruleset the rule is in, "" for the main
    ruleset: rule numbers repeat in every anchor) and combines only with ``"interface"``.
    """
    if body is None:
        body = {}
    f = Fields(body, "")
    all_ = f.get_bool("all")
    family = f.get_str("af")
    if family is not None and family not in FAMILY_AF:
        raise ValidationError("af", f"af must be \"inet\" or \"inet6\", not {_shown(family)}")
    proto = check_proto(f.raw("proto"), "proto") if f.has("proto") else 0
    src = dst = Endpoint()
    src_f = dst_f = None
    if f.has("from"):
        src_f, src = parse_endpoint(f.raw("from"), "from")
    if f.has("to"):
        dst_f, dst = parse_endpoint(f.raw("to"), "to")
    for sf in (src_f, dst_f):
        if sf is not None:
            sf.done(("address", "port"))
    interface = ""
    if f.has("interface"):
        interface, neg = check_interface(f.raw("interface"), "interface")
        if neg:
            raise ValidationError("interface", "interface: negation is not supported when killing states")
    label = check_text(f.raw("label"), "label", C.PF_RULE_LABEL_SIZE) if f.has("label") else ""
    rdomain = f.get_int("rdomain", 0, lo=0, hi=255) or 0
    state_id = _parse_id(f.raw("id"), "id") if f.has("id") else None
    creator_id = _parse_id(f.raw("creator_id"), "creator_id") if f.has("creator_id") else 0
    rule = f.get_int("rule", None, lo=0, hi=2**32 - 2)
    anchor = f.get_str("anchor")
    if anchor is not None:
        anchor = check_anchor_path(anchor, "anchor", for_write=False) if anchor else ""
    f.done(KILL_KEYS)

    fams = {ep.address.family for ep in (src, dst) if ep.address is not None}
    if len(fams) > 1:
        raise ValidationError("to", "from and to addresses are of different families (inet and inet6)")
    if fams:
        addr_family = fams.pop()
        if family and family != addr_family:
            raise ValidationError("af", f"af is {family} but the addresses are {addr_family}")
        family = addr_family
    family = family or ""
    ports_given = src.port is not None or dst.port is not None
    if ports_given and proto not in PORT_PROTOCOLS:
        raise ValidationError("proto", "matching ports needs \"proto\": \"tcp\" or \"udp\"")

    members: dict[str, Any] = body if isinstance(body, dict) else {}  # Fields() refused anything else
    given = {k for k, v in members.items() if v is not None and k != "all"}
    if all_:
        extra = given - {"interface"}
        if extra:
            raise ValidationError(
                sorted(extra)[0], "\"all\": true clears every state (optionally of one \"interface\"); "
                "it cannot be combined with other filters"
            )
        return KillFilter(all=True, interface=interface)
    if creator_id and state_id is None:
        raise ValidationError("creator_id", "creator_id needs an \"id\"")
    if state_id is not None:
        extra = given - {"id", "creator_id"}
        if extra:
            raise ValidationError(sorted(extra)[0], "\"id\" names one state; it cannot be combined with other filters")
        return KillFilter(state_id=state_id, creator_id=creator_id)
    if anchor is not None and rule is None:
        raise ValidationError("anchor", "\"anchor\" names the ruleset of a \"rule\"; give the rule number too")
    if rule is not None:
        if anchor is None:
            raise ValidationError("anchor", "\"rule\" needs \"anchor\": the ruleset the rule is in (\"\" for the main "
                                  "ruleset), since every anchor numbers its rules from 0")
        extra = given - {"rule", "interface", "anchor"}
        if extra:
            raise ValidationError(sorted(extra)[0], "\"rule\" can only be combined with \"anchor\" and \"interface\"")
        return KillFilter(rule=rule, anchor=anchor, interface=interface)
    # Members that are present but match everything ("from": "any", "to": {}, "rdomain": 0,
    # "all": false) do not count: a filter without one real criterion would kill every state.
    criteria = (family, proto, src.address, dst.address, src.port, dst.port, interface, label, rdomain)
    if not any(c for c in criteria):
        raise ValidationError(
            None,
            "empty filter: name what to kill (af, proto, a from/to address other than any, a port, interface, "
            "label, rdomain other than 0, id or rule), or send {\"all\": true} to clear every state",
        )
    return KillFilter(
        family=family, proto=proto, src=src, dst=dst, interface=interface, label=label, rdomain=rdomain
    )
