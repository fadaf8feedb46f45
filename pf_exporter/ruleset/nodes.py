"""The parser's working values (parse.y's node_* structs, filter and queue options, the
parse state) and the small helpers its parts share."""

from __future__ import annotations

import copy
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..abi.constants import (
    AF_INET,
    AF_INET6,
    IFNAMSIZ,
    PF_ADDR_ADDRMASK,
    PF_ADDR_DYNIFTL,
    PF_ADDR_NOROUTE,
    PF_ADDR_TABLE,
    PF_ADDR_URPFFAILED,
    PF_DIVERT_NONE,
    PF_OP_EQ,
    PF_OP_GE,
    PF_OP_GT,
    PF_OP_IRG,
    PF_OP_LE,
    PF_OP_LT,
    PF_OP_NE,
    PF_OP_RRG,
    PF_OP_XRG,
    PFI_AFLAG_NOALIAS,
    PFRULE_DROP,
    PFRULE_RULESRCTRACK,
    PFRULE_SRCTRACK,
)
from . import lexer as lx
from .addr import and_bytes, is_zero, mask_bytes, ntop, unmask
from .errors import Diagnostic
from .host import Host
from .model import AddrWrap, Anchor, QueueSpec, RuleDef, TableAddress, TableDef

UID_MAX = 0xFFFFFFFF
IFQ_MAXPRIO = 7
RT_TABLEID_MAX = 255
PF_TH_ALL = 0xFF
UINT_MAX = 0xFFFFFFFF
LLONG_MAX = 2**63 - 1
PF_OPT_TABLE_PREFIX = "__automatic_"
PATH_MAX = 1024

# pf_timeouts[] in pfctl's order: (name, PFTM_*)
PF_TIMEOUTS: tuple[tuple[str, int], ...] = (
    ("tcp.first", 0), ("tcp.opening", 1), ("tcp.established", 2), ("tcp.closing", 3), ("tcp.finwait", 4),
    ("tcp.closed", 5), ("tcp.tsdiff", 19), ("udp.first", 6), ("udp.single", 7), ("udp.multiple", 8),
    ("icmp.first", 9), ("icmp.error", 10), ("other.first", 11), ("other.single", 12),
    ("other.multiple", 13), ("frag", 14), ("interval", 15), ("adaptive.start", 16), ("adaptive.end", 17),
    ("src.track", 18),
)
PF_LIMITS: tuple[tuple[str, int], ...] = (
    ("states", 0), ("src-nodes", 1), ("frags", 2), ("tables", 3), ("table-entries", 4),
    ("pktdelay-pkts", 5), ("anchors", 6),
)
# `set optimization` presets: the tcp timeouts each one sets
_HINT_NORMAL = (("tcp.first", 120), ("tcp.opening", 30), ("tcp.established", 86400), ("tcp.closing", 900),
                ("tcp.finwait", 45), ("tcp.closed", 90), ("tcp.tsdiff", 30))
_HINT_SATELLITE = (("tcp.first", 180), ("tcp.opening", 35), ("tcp.established", 86400), ("tcp.closing", 905),
                   ("tcp.finwait", 50), ("tcp.closed", 95), ("tcp.tsdiff", 60))
_HINT_CONSERVATIVE = (("tcp.first", 3600), ("tcp.opening", 900), ("tcp.established", 432000),
                      ("tcp.closing", 3600), ("tcp.finwait", 600), ("tcp.closed", 180), ("tcp.tsdiff", 60))
_HINT_AGGRESSIVE = (("tcp.first", 30), ("tcp.opening", 5), ("tcp.established", 18000), ("tcp.closing", 60),
                    ("tcp.finwait", 30), ("tcp.closed", 30), ("tcp.tsdiff", 10))
PF_HINTS = {"normal": _HINT_NORMAL, "satellite": _HINT_SATELLITE, "high-latency": _HINT_SATELLITE,
            "conservative": _HINT_CONSERVATIVE, "aggressive": _HINT_AGGRESSIVE}

# node_state_opt types
(SO_MAX, SO_NOSYNC, SO_SRCTRACK, SO_MAX_SRC_STATES, SO_MAX_SRC_CONN, SO_MAX_SRC_CONN_RATE,
 SO_MAX_SRC_NODES, SO_OVERLOAD, SO_STATELOCK, SO_TIMEOUT, SO_SLOPPY, SO_PFLOW) = range(12)
# the per-source limits among the state options: RuleDef field, option name, rule flags they turn on
_SOURCE_LIMITS = {
    SO_MAX_SRC_STATES: ("max_src_states", "max-src-states", PFRULE_SRCTRACK),
    SO_MAX_SRC_CONN: ("max_src_conn", "max-src-conn", PFRULE_SRCTRACK | PFRULE_RULESRCTRACK),
    SO_MAX_SRC_NODES: ("max_src_nodes", "max-src-nodes", PFRULE_SRCTRACK | PFRULE_RULESRCTRACK),
}
SRCTRACK_NONE, SRCTRACK, SRCTRACK_GLOBAL, SRCTRACK_RULE = range(4)

# filter_opts markers
FOM_FLAGS, FOM_ICMP, FOM_TOS, FOM_KEEP = 0x01, 0x02, 0x04, 0x08
FOM_SRCTRACK, FOM_MINTTL, FOM_MAXMSS, FOM_AFTO = 0x10, 0x20, 0x40, 0x80
FOM_SETTOS, FOM_SCRUB_TCP, FOM_SETPRIO, FOM_ONCE, FOM_PRIO, FOM_SETDELAY = 0x100, 0x200, 0x400, 0x1000, 0x2000, 0x4000
QOM_BWSPEC, QOM_PARENT, QOM_DEFAULT, QOM_QLIMIT, QOM_FLOWS, QOM_QUANTUM = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


class ParseSyntaxError(Exception):
    pass


_T = TypeVar("_T")


class StatementAborted(Exception):
    """YYERROR: the message (if any) has been reported; resume at the next line."""


# ----------------------------------------------------------------------------------------
# parse-tree nodes (pfctl's node_* structs)
@dataclass
class NodeHost:
    addr: AddrWrap = field(default_factory=AddrWrap)
    af: int = 0
    ifname: str | None = None  # "addr@if" (tables only)
    ifindex: int = 0
    neg: bool = False
    weight: int = 0
    line: int = 0


@dataclass
class NodeIf:
    ifname: str = ""
    neg: bool = False
    dynamic: bool = False
    use_rdomain: bool = False
    rdomain: int = 0
    ifa_flags: int = 0


@dataclass
class NodePort:
    port: tuple[int, int] = (0, 0)
    op: int = 0


@dataclass
class NodeIcmp:
    type: int = 0
    code: int = 0
    proto: int = 0


@dataclass
class StateOpt:
    type: int
    value: Any = None  # per type: a number, a (limit, seconds) pair, a (table, flush) pair, flags


@dataclass
class Redirection:
    hosts: list[NodeHost]
    rport: tuple[int, int, int] = (0, 0, 0)  # (a, b, t)


@dataclass
class PoolOpts:
    type: int = 0
    staticport: bool = False
    opts: int = 0
    key: tuple[int, int, int, int] | None = None
    sticky: bool = False


@dataclass
class RedirSpec:
    rdr: Redirection | None = None
    pool_opts: PoolOpts = field(default_factory=PoolOpts)
    binat: bool = False
    af: int = 0


@dataclass
class FilterOpts:
    marker: int = 0
    uid: list[tuple[int, int, int]] | None = None
    gid: list[tuple[int, int, int]] | None = None
    rcv: NodeIf | None = None
    flags: tuple[int, int] = (0, 0)
    icmpspec: list[NodeIcmp] | None = None
    tos: int = 0
    prob: int = 0
    keep_action: int = 0
    keep_options: list[StateOpt] | None = None
    fragment: bool = False
    allowopts: bool = False
    label: str | None = None
    qname: str | None = None
    pqname: str | None = None
    tag: str | None = None
    match_tag: str | None = None
    match_tag_not: bool = False
    rtableid: int = -1
    prio: int = 0
    set_prio: tuple[int, int] = (0, 0)
    delay: int = 0
    divert_type: int = PF_DIVERT_NONE
    divert_addr: list[NodeHost] | None = None
    divert_port: int = 0
    nat: RedirSpec = field(default_factory=RedirSpec)
    rdr: RedirSpec = field(default_factory=RedirSpec)
    rroute: RedirSpec = field(default_factory=RedirSpec)
    rt: int = 0
    nodf: bool = False
    minttl: int = 0
    settos: int = 0
    randomid: bool = False
    max_mss: int = 0
    pktrate: tuple[int, int] = (0, 0)
    statelim: tuple[str | int, int] | None = None  # (name or id, limiter_action), 7.9+
    sourcelim: tuple[str | int, int] | None = None


@dataclass
class QueueOpts:
    marker: int = 0
    realtime: tuple[tuple[int, int], int, tuple[int, int]] = ((0, 0), 0, (0, 0))
    linkshare: tuple[tuple[int, int], int, tuple[int, int]] = ((0, 0), 0, (0, 0))
    upperlimit: tuple[tuple[int, int], int, tuple[int, int]] = ((0, 0), 0, (0, 0))
    flows: int = 0
    quantum: int = 0
    parent: str | None = None
    flags: int = 0
    qlimit: int = 0


@dataclass
class Options:
    """`set` options, as pfctl's struct pfctl keeps them (what -nv does not load)."""

    timeouts: dict[int, int] = field(default_factory=dict)
    limits: dict[int, int] = field(default_factory=dict)
    loginterface: str | None = None
    loginterface_set: bool = False
    hostid: int | None = None
    debug: int | None = None
    reassemble: int | None = None
    syncookies: int | None = None
    syncookies_watermarks: tuple[int, int] | None = None  # (end %, start %)
    skip: list[str] | None = None
    block_policy: int = PFRULE_DROP
    state_policy: int = 0


@dataclass
class ParseState:
    """What survives one file: pfctl's ``struct pfctl`` plus parse.y's globals."""

    host: Host
    anchorname: str = ""
    numeric: bool = False  # -N
    read_file: Callable[[str], str] = lx.read_text_file
    options: Options = field(default_factory=Options)
    tables: list[TableDef] = field(default_factory=list)
    rootqs: list[QueueSpec] = field(default_factory=list)
    qspecs: list[QueueSpec] = field(default_factory=list)
    load_anchors: list[tuple[str, str, int]] = field(default_factory=list)  # (anchor, file, line)
    option_lines: list[int] = field(default_factory=list)  # lines of `set` statements loaded into the kernel
    table_counter: int = 0
    stdout: list[str] = field(default_factory=list)
    stdout_always: set[int] = field(default_factory=set)  # indexes of lines printed without -v too
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: int = 0
    random_bytes: Callable[[int], bytes] = os.urandom
    table_owner: dict[int, Anchor] = field(default_factory=dict)
    optimize: bool = False  # run pfctl's basic optimizer when loading (-o basic)
    kernel_table_names: bool = False  # name automatic tables as a loading pfctl does, not as -n does
    kernel_table_counter: int = 0
    # parse.y globals that, unlike the block policy, carry over into `load anchor` files
    keep_state_defaults: list[StateOpt] | None = None
    default_statelock: int = 0  # id(TableDef) -> ruleset holding it
    # Bounds for rulesets from untrusted senders (the admin API); None = unbounded like pfctl.
    # Lists multiply (`from $a to $b port $c`) and macros nest, so a small text can expand enormously.
    max_rules: int | None = None  # rules after list expansion, over every anchor
    max_table_addresses: int | None = None  # addresses over every table
    max_macro_expansion: int | None = None  # characters of macro values substituted, over the whole text
    rules_expanded: int = 0
    table_addresses: int = 0
    # OS fingerprints: the list `os "name"` is looked up in (Fingerprints, a callable returning
    # them when first needed, or None for OpenBSD's pf.os), and what `set fingerprints` loaded
    fingerprints: Any = None
    fingerprints_file: tuple[str, str] | None = None  # (file, text) of `set fingerprints`
    uses_os: bool = False  # a rule has `os`: the fingerprints are loaded with the main ruleset
    # 7.9 limiters defined by the text, and those pf already has (an anchor's rules refer to them)
    state_limiters: list[Any] = field(default_factory=list)  # StateLimiterDef
    source_limiters: list[Any] = field(default_factory=list)  # SourceLimiterDef
    known_limiters: dict[str, dict[str, int]] = field(default_factory=dict)  # "state"/"source" -> name -> id

    def fingerprint_list(self) -> Any:
        """The fingerprint names rules are resolved against (loaded on first use)."""
        if self.fingerprints is None or callable(self.fingerprints):
            from .osfp import Fingerprints

            self.fingerprints = self.fingerprints() if callable(self.fingerprints) else Fingerprints.standard()
        return self.fingerprints

    def temporary_table_name(self) -> str:
        """add_opt_table(): the name an automatic table has while pfctl parses (what -n shows)."""
        self.table_counter += 1
        return f"{PF_OPT_TABLE_PREFIX}{self.table_counter - 1}"

    def kernel_table_name(self) -> str:
        """pf_opt_create_table(): the name an automatic table is loaded under.  pfctl picks a
        random identifier per run; this one is derived from the anchor, so it is stable."""
        ident = zlib.crc32(self.anchorname.encode())
        self.kernel_table_counter += 1
        return f"{PF_OPT_TABLE_PREFIX}{ident:x}_{self.kernel_table_counter - 1}"

    def out(self, line: str, always: bool = False) -> None:
        """printf() to stdout: only with -v unless *always*."""
        if always:
            self.stdout_always.add(len(self.stdout))
        self.stdout.append(line)

    def warn(self, text: str) -> None:
        """warnx(3)/fprintf(stderr): an unlocated message on stderr."""
        self.diagnostics.append(Diagnostic(text=text, message=text))


def _af_name(af: int) -> str:
    return "inet" if af == AF_INET else "inet6"


def _dynif_multiaddr(aw: AddrWrap) -> bool:
    return aw.type == PF_ADDR_DYNIFTL and (not aw.iflags & PFI_AFLAG_NOALIAS or not aw.ifname[-1:].isdigit())


def _strtoul(text: str) -> int | None:
    """atoul(): strtoul(s, &end, 0) that must consume all of *s*; None when it does not
    (or overflows).  A leading minus wraps around, as in C."""
    i = 0
    while i < len(text) and text[i] in " \t\n\r\v\f":
        i += 1
    neg = False
    if i < len(text) and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    rest = text[i:]
    if rest[:2].lower() == "0x" and rest[2:3] and rest[2] in "0123456789abcdefABCDEF":
        digits, base = rest[2:], 16
    elif rest.startswith("0"):
        digits, base = rest, 8
    else:
        digits, base = rest, 10
    if not text or not digits:
        return None
    try:
        value = int(digits, base)
    except ValueError:
        return None
    if not digits.isalnum() or value > 2**64 - 1:
        return None
    return (2**64 - value) % 2**64 if neg else value


def _set_ipmask(h: NodeHost, bits: int) -> None:
    if bits == -1:
        bits = 32 if h.af == AF_INET else 128
    h.addr.mask = mask_bytes(min(bits, 128))
    if h.addr.type == PF_ADDR_ADDRMASK:
        h.addr.addr = and_bytes(h.addr.addr, h.addr.mask)


def _zeroed_rule(**fields: object) -> RuleDef:
    """A rule as pfctl's memset(&r, 0) leaves it: pools of address type 0 (addr/mask)."""
    r = RuleDef(**fields)  # type: ignore[arg-type]  # the fields named are RuleDef's
    for pool in (r.nat, r.rdr, r.route):
        pool.addr = AddrWrap()
    return r


class FatalError(Exception):
    """errx(3) inside pfctl: the whole run stops."""


def _as_int(value: int) -> int:
    """A u_int printed with %d."""
    return value - 2**32 if value >= 2**31 else value


def _strtod(text: str) -> tuple[float, str]:
    """strtod(): the longest numeric prefix and the rest."""
    best = 0
    for end in range(len(text), 0, -1):
        try:
            float(text[:end])
        except ValueError:
            continue
        if text[:end].strip() != text[:end] or text[:end].lower() in ("inf", "nan", "infinity"):
            continue
        best = end
        break
    if best == 0:
        return 0.0, text
    return float(text[:best]), text[best:]


def _strtonum(text: str, low: int, high: int) -> int | str:
    try:
        value = int(text, 10)
    except ValueError:
        return "invalid"
    if not text.strip() or text.strip() != text:
        return "invalid"
    if value < low:
        return "too small"
    if value > high:
        return "too large"
    return value


def _table_file_words(text: str) -> list[str]:
    """pfr_next_token(): whitespace-separated words; '#' starts a comment only at a word's start."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text[i] == "#":
            while i < n and text[i] != "\n":
                i += 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            words.append(text[i:j])
            i = j
    return words


def _fmt_g(value: float) -> str:
    return f"{value:g}"


def _invalid_range(op: int, a: int, b: int) -> bool:
    return (op == PF_OP_RRG and a > b) or (op == PF_OP_IRG and a >= b) or (op == PF_OP_XRG and a > b)


def _ifa_skip_if(name: str, ifname: str) -> bool:
    if ifname == name:
        return False
    if not 1 <= len(name) < IFNAMSIZ:
        return True
    if name[-1].isdigit():
        return True
    if not ifname.startswith(name):
        return True
    nxt = ifname[len(name):len(name) + 1]
    return not (nxt and nxt.isdigit())


def _decide_af(hosts: list[NodeHost] | None, af: int) -> int:
    if af or not hosts:
        return af
    first = hosts[0].af
    return first if all(h.af == first for h in hosts) else 0


def _gen_dynnode(h: NodeHost, af: int) -> NodeHost:
    if h.addr.type != PF_ADDR_DYNIFTL:
        return h
    n = copy.deepcopy(h)
    n.ifname = None
    if af == AF_INET and unmask(n.addr.mask) > 32:
        n.addr.mask = mask_bytes(32)
    return n


def _label_addr(h: NodeHost, af: int) -> str:
    t = h.addr.type
    if t == PF_ADDR_DYNIFTL:
        return f"({h.addr.ifname})"
    if t == PF_ADDR_TABLE:
        return f"<{h.addr.tblname}>"
    if t == PF_ADDR_NOROUTE:
        return "no-route"
    if t == PF_ADDR_URPFFAILED:
        return "urpf-failed"
    if t == PF_ADDR_ADDRMASK:
        if not af or (is_zero(h.addr.addr, af) and is_zero(h.addr.mask, af)):
            return "any"
        text = ntop(af, h.addr.addr)
        if text is None:
            return "?"
        bits = unmask(h.addr.mask)
        return f"{text}/{bits}" if (af == AF_INET and bits < 32) or (af == AF_INET6 and bits < 128) else text
    return "?"


def _label_port(p: NodePort) -> str:
    a1, a2 = p.port
    return {
        PF_OP_IRG: f"{a1}><{a2}", PF_OP_XRG: f"{a1}<>{a2}", PF_OP_EQ: f"{a1}", PF_OP_NE: f"!={a1}",
        PF_OP_LT: f"<{a1}", PF_OP_LE: f"<={a1}", PF_OP_GT: f">{a1}", PF_OP_GE: f">={a1}",
    }.get(p.op, "")


def _table_address(n: NodeHost) -> TableAddress:
    return TableAddress(af=n.af, addr=n.addr.addr, prefixlen=unmask(n.addr.mask), neg=n.neg,
                        ifname=n.ifname or "", weight=n.weight)
