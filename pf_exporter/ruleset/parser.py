"""A recursive-descent parser for pf.conf with pfctl's semantics.

It follows pf.conf(5) and the checks pfctl's parser makes (sbin/pfctl/parse.y): rules
are expanded over every combination of listed interfaces, protocols, addresses, ports,
users and groups, interface names become the host's addresses, binat-to yields an
outbound and an inbound rule, address pools become automatic tables, and every error
pfctl reports is reported the same way (``file:line: message``), after which parsing
resumes at the next line as pfctl's yacc grammar does.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..abi.constants import (
    AF_INET,
    AF_INET6,
    IFNAMSIZ,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
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
    PF_FLUSH,
    PF_FLUSH_GLOBAL,
    PF_IN,
    PF_INOUT,
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
    PF_OP_NONE,
    PF_OP_RRG,
    PF_OP_XRG,
    PF_OUT,
    PF_PASS,
    PF_POOL_BITMASK,
    PF_POOL_LEASTSTATES,
    PF_POOL_NONE,
    PF_POOL_RANDOM,
    PF_POOL_ROUNDROBIN,
    PF_POOL_SRCHASH,
    PF_POOL_STICKYADDR,
    PF_POOL_TYPEMASK,
    PF_PRIO_ZERO,
    PF_QNAME_SIZE,
    PF_REPLYTO,
    PF_ROUTETO,
    PF_RULE_LABEL_SIZE,
    PF_STATE_MODULATE,
    PF_STATE_NORMAL,
    PF_STATE_SYNPROXY,
    PF_SYNCOOKIES_ADAPTIVE,
    PF_SYNCOOKIES_ALWAYS,
    PF_SYNCOOKIES_HIWATPCT,
    PF_SYNCOOKIES_NEVER,
    PF_TABLE_NAME_SIZE,
    PF_TAG_NAME_SIZE,
    PF_THRESHOLD_MAX,
    PFI_AFLAG_BROADCAST,
    PFI_AFLAG_MODEMASK,
    PFI_AFLAG_NETWORK,
    PFI_AFLAG_NOALIAS,
    PFI_AFLAG_PEER,
    PFQS_DEFAULT,
    PFQS_FLOWQUEUE,
    PFQS_ROOTCLASS,
    PFR_TFLAG_CONST,
    PFR_TFLAG_COUNTERS,
    PFR_TFLAG_PERSIST,
    PFRULE_AFTO,
    PFRULE_DROP,
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
    PFSTATE_SETPRIO,
    PFSTATE_SETTOS,
    PFTM_ADAPTIVE_END,
    PFTM_ADAPTIVE_START,
    PFTM_SRC_NODE,
    RTLABEL_LEN,
    TIMEOUT_NAMES,
)
from . import lexer as lx
from . import netdb
from .addr import ONES, ZERO, and_bytes, inet_net_pton4, is_zero, mask_bytes, ntop, pton4, pton6, unmask
from .errors import Diagnostic, Unsupported
from .host import IFF_BROADCAST, IFF_LOOPBACK, IFF_POINTOPOINT, Host
from .model import AddrWrap, Anchor, Divert, Pool, QueueSpec, RuleAddr, RuleDef, TableAddress, TableDef
from .printer import PF_NAT_PROXY_PORT_HIGH, PF_NAT_PROXY_PORT_LOW, format_tabledef

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


class _SyntaxError(Exception):
    pass


_T = TypeVar("_T")


class _Abort(Exception):
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
    value: object = None


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


@dataclass
class QueueOpts:
    marker: int = 0
    realtime: tuple = ((0, 0), 0, (0, 0))
    linkshare: tuple = ((0, 0), 0, (0, 0))
    upperlimit: tuple = ((0, 0), 0, (0, 0))
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


class Parser:
    """Parses one pf.conf file into ``anchor`` (the ruleset being loaded), reporting into
    ``state`` like pfctl's parse_config()."""

    def __init__(self, text: str, filename: str, state: ParseState, anchor: Anchor,
                 macros: dict[str, str] | None = None, persistent: set[str] | None = None) -> None:
        self.state = state
        self.host = state.host
        self.macros = macros if macros is not None else {}
        self.persistent = persistent if persistent is not None else set()
        self.lex = lx.Lexer(text, filename, self._report, self.macros, self.persistent, state.read_file)
        self.lex.max_expansion = state.max_macro_expansion
        self.tok: lx.Token | None = None
        self.quiet = 0  # tokens to read before the next syntax error is reported (yacc's yyerrflag)
        self.main = anchor
        self.anchor = anchor  # where rules go now
        self.astack: list[Anchor] = [anchor]
        self.brace_counter = 0
        self.alast: Anchor | None = None
        self.returnicmpdefault = (netdb.ICMP_UNREACH << 8) | netdb.ICMP_UNREACH_PORT
        self.returnicmp6default = (netdb.ICMP6_DST_UNREACH << 8) | netdb.ICMP6_DST_UNREACH_NOPORT
        self.inline_anchors: dict[str, Anchor] = {}

    # -- diagnostics ------------------------------------------------------------------
    def _report(self, file: str, line: int, column: int, message: str) -> None:
        self.state.errors += 1
        self.state.diagnostics.append(
            Diagnostic(text=f"{file}:{line}: {message}", message=message, file=file, line=line, column=column))

    def yyerror(self, message: str) -> None:
        self._report(self.lex.file.name, self.lex.lineno, self.lex.column, message)

    def fail(self, message: str) -> None:
        self.yyerror(message)
        raise _Abort

    def warn(self, text: str) -> None:
        self.state.warn(text)

    def unsupported(self, what: str) -> None:
        self.yyerror(f"unsupported: {what} at line {self.lex.lineno}")
        raise _Abort

    # -- tokens -----------------------------------------------------------------------
    def peek(self) -> lx.Token:
        if self.tok is None:
            self.tok = self.lex.next()
        return self.tok

    def advance(self) -> lx.Token:
        tok = self.peek()
        self.tok = None
        if self.quiet:
            self.quiet -= 1
        return tok

    def at_kw(self, *words: str) -> bool:
        t = self.peek()
        return t.kind == lx.KEYWORD and t.value in words

    def at_punct(self, *chars: str) -> bool:
        t = self.peek()
        return t.kind == lx.PUNCT and t.value in chars

    def at(self, kind: str) -> bool:
        return self.peek().kind == kind

    def expect_kw(self, word: str) -> None:
        if not self.at_kw(word):
            raise _SyntaxError
        self.advance()

    def expect_punct(self, char: str) -> None:
        if not self.at_punct(char):
            raise _SyntaxError
        self.advance()

    def expect(self, kind: str) -> lx.Token:
        if not self.at(kind):
            raise _SyntaxError
        return self.advance()

    def accept_punct(self, char: str) -> bool:
        if self.at_punct(char):
            self.advance()
            return True
        return False

    def accept_kw(self, word: str) -> bool:
        if self.at_kw(word):
            self.advance()
            return True
        return False

    def optnl(self) -> None:
        while self.at(lx.NEWLINE):
            self.advance()

    def comma(self) -> None:
        self.accept_punct(",")

    def string(self) -> str:
        """`string`: one or more STRING tokens joined by spaces."""
        parts = [self.expect(lx.STRING).value]
        while self.at(lx.STRING):
            parts.append(self.advance().value)
        return " ".join(str(p) for p in parts)

    def numberstring(self) -> str:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            return str(t.value)
        return str(self.expect(lx.STRING).value)

    def number(self) -> int:
        return int(self.expect(lx.NUMBER).value)  # type: ignore[arg-type]

    def _once(self, opts: QueueOpts | FilterOpts, bit: int, message: str) -> None:
        """Record option `bit` in `opts.marker`; fail with `message` if the option was given already."""
        if opts.marker & bit:
            self.fail(message)
        opts.marker |= bit

    def _seen_once(self, seen: set[str], what: str) -> None:
        """Record `what` in `seen`; fail as pfctl does if it was given already in this option list."""
        if what in seen:
            self.fail(f"{what} cannot be respecified")
        seen.add(what)

    def _in_range(self, value: int, low: int, high: int, message: str) -> int:
        """Return `value`, or fail with `message` if it lies outside [low, high]."""
        if value < low or value > high:
            self.fail(message)
        return value

    # -- driver -----------------------------------------------------------------------
    def parse(self) -> None:
        while True:
            if self.peek().kind == lx.EOF:
                break
            try:
                self.statement(top=True)
            except _SyntaxError:
                if not self.quiet:
                    self.yyerror("syntax error")
                self._recover()
            except _Abort:
                self._recover()

    def _recover(self) -> None:
        self.state.errors += 1
        self.anchor = self.astack[0]
        del self.astack[1:]
        while True:
            t = self.peek()
            if t.kind == lx.EOF:
                return
            self.tok = None
            if t.kind == lx.NEWLINE:
                break
        self.quiet = 2

    def require_nl(self) -> None:
        """The statement ends here: LALR only reduces it (running its action) when the
        next token is the newline, so anything else is a syntax error first."""
        if not self.at(lx.NEWLINE):
            raise _SyntaxError

    def end_of_statement(self) -> None:
        if not self.at(lx.NEWLINE):
            raise _SyntaxError
        self.advance()

    def statement(self, top: bool) -> None:
        t = self.peek()
        if t.kind == lx.NEWLINE:
            self.advance()
            return
        if t.kind == lx.KEYWORD:
            word = t.value
            if word == "include":
                self.include()
            elif word in ("pass", "block", "match"):
                self.pfrule()
            elif word == "anchor":
                self.anchorrule()
            elif word == "table":
                self.tabledef()
            elif top and word == "set":
                self.option()
            elif top and word == "load":
                self.loadrule()
            elif top and word == "queue":
                self.queuespec()
            elif top and word == "antispoof":
                self.antispoof()
            else:
                raise _SyntaxError
        elif top and t.kind == lx.STRING:
            self.varset()
        else:
            raise _SyntaxError
        self.end_of_statement()

    # -- include, macros ----------------------------------------------------------------
    def include(self) -> None:
        self.advance()
        name = self.expect(lx.STRING).value
        assert isinstance(name, str)
        try:
            self.state.read_file(name)
        except OSError as e:
            self.warn(f"pfctl: pushfile: {name}: {e.strerror}")
            self.fail(f"failed to include file {name}")
        self.lex.pushfile(name)

    def varset(self) -> None:
        name = str(self.advance().value)
        self.expect_punct("=")
        parts = [self.numberstring()]
        while self.at(lx.STRING) or self.at(lx.NUMBER):
            parts.append(self.numberstring())
        value = " ".join(parts)
        self.require_nl()
        self.state.out(f'{name} = "{value}"')
        if any(c.isspace() for c in name[1:]):
            self.fail("macro name cannot contain whitespace")
        if name not in self.persistent:
            self.macros.pop(name, None)
            self.macros[name] = value

    # -- set options ------------------------------------------------------------------
    def option(self) -> None:
        line = self.advance().line
        opts = self.state.options
        t = self.peek()
        word = t.value if t.kind == lx.KEYWORD else None
        if word not in ("block-policy", "state-defaults", "state-policy", "ruleset-optimization"):
            self.state.option_lines.append(line)  # an option the kernel keeps, not a parser default
        if word == "reassemble":
            self.advance()
            on = self.yesno()
            nodf = self.accept_kw("no-df")
            if not nodf:
                self.require_nl()
            opts.reassemble = (1 | (2 if nodf else 0)) if on else 0
            self.state.out(f"set reassemble {'yes' if on else 'no'} {'no-df' if nodf else ''}")
        elif word == "optimization":
            self.advance()
            value = str(self.expect(lx.STRING).value)
            hint = PF_HINTS.get(value.lower())
            if hint is None:
                self.warn("pfctl: invalid state timeouts optimization")
                self.fail(f"unknown optimization {value}")
            for name, seconds in hint:
                self._set_timeout(name, seconds, quiet=True)
            self.state.out(f"set optimization {value}")
        elif word == "ruleset-optimization":
            self.advance()
            value = self.string()
            self.require_nl()
            if value not in ("none", "basic", "profile"):
                self.fail(f"unknown ruleset-optimization {value}")
        elif word == "timeout":
            self.advance()
            self._list(self.timeout_spec)
        elif word == "limit":
            self.advance()
            self._list(self.limit_spec)
        elif word == "loginterface":
            self.advance()
            if self.accept_kw("all"):
                value = "all"
            else:
                value = str(self.expect(lx.STRING).value)
            opts.loginterface = None if value == "none" else value
            opts.loginterface_set = True
            self.state.out(f"set loginterface {value}")
        elif word == "hostid":
            self.advance()
            value = self.number_or_string()
            if value == 0 or value > UINT_MAX:
                self.fail("hostid must be non-zero")
            opts.hostid = value
            self.state.out(f"set hostid 0x{value:08x}")
        elif word == "block-policy":
            self.advance()
            if self.accept_kw("drop"):
                self.state.out("set block-policy drop")
                opts.block_policy = PFRULE_DROP
            elif self.accept_kw("return"):
                self.state.out("set block-policy return")
                opts.block_policy = PFRULE_RETURN
            else:
                raise _SyntaxError
        elif word == "fingerprints":
            self.advance()
            value = str(self.expect(lx.STRING).value)
            self.state.out(f'set fingerprints "{value}"')
            self.unsupported("OS fingerprints (set fingerprints)")
        elif word == "state-policy":
            self.advance()
            if self.accept_kw("if-bound"):
                opts.state_policy = self.state.default_statelock = PFRULE_IFBOUND
                self.state.out("set state-policy if-bound")
            elif self.accept_kw("floating"):
                opts.state_policy = self.state.default_statelock = 0
                self.state.out("set state-policy floating")
            else:
                raise _SyntaxError
        elif word == "debug":
            self.advance()
            if self.accept_kw("debug"):
                value = "debug"
            else:
                value = str(self.expect(lx.STRING).value)
            level = netdb.loglevel_by_name(value)
            if level < 0:
                self.warn(f'pfctl: unknown debug level "{value}"')
                self.fail(f"error setting debuglevel {value}")
            opts.debug = level
            self.state.out(f"set debug {value}")
        elif word == "skip":
            self.advance()
            interfaces = self.interface()
            if interfaces is None:
                self.require_nl()
            self.skip_interfaces(interfaces)
        elif word == "state-defaults":
            self.advance()
            options = self.state_opt_list()
            self.require_nl()
            if self.state.keep_state_defaults is not None:
                self.fail("cannot redefine state-defaults")
            self.state.keep_state_defaults = options
        elif word == "syncookies":
            self.advance()
            self.syncookies()
        else:
            raise _SyntaxError

    def yesno(self) -> bool:
        if self.accept_kw("no"):
            return False
        value = str(self.expect(lx.STRING).value)
        if value != "yes":
            self.fail(f"invalid value '{value}', expected 'yes' or 'no'")
        return True

    def number_or_string(self) -> int:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            return int(t.value)  # type: ignore[arg-type]
        text = str(self.expect(lx.STRING).value)
        value = _strtoul(text)
        if value is None:
            self.fail(f"{text} is not a number")
        return value  # type: ignore[return-value]

    def _set_timeout(self, name: str, seconds: int, quiet: bool = False) -> bool:
        for tname, number in PF_TIMEOUTS:
            if tname == name.lower():
                self.state.options.timeouts[number] = seconds
                if not quiet:
                    self.state.out(f"set timeout {name} {_as_int(seconds)}")
                return True
        self.warn("pfctl: Bad timeout name.")
        return False

    def timeout_spec(self) -> None:
        name = str(self.expect(lx.STRING).value)
        seconds = self.number()
        if seconds < 0 or seconds > UINT_MAX:
            self.fail("only positive values permitted")
        if not self._set_timeout(name, seconds):
            self.fail(f"unknown timeout {name}")

    def limit_spec(self) -> None:
        name = str(self.expect(lx.STRING).value)
        value = self.number()
        if value < 0 or value > UINT_MAX:
            self.fail("only positive values permitted")
        for lname, index in PF_LIMITS:
            if lname == name.lower():
                self.state.options.limits[index] = value
                self.state.out(f"set limit {name} {_as_int(value)}")
                return
        self.warn("pfctl: Bad pool name.")
        self.fail(f"unable to set limit {name} {value}")

    def skip_interfaces(self, interfaces: list[NodeIf] | None) -> None:
        if not interfaces or (len(interfaces) == 1 and not interfaces[0].neg and interfaces[0].ifname == "none"):
            self.state.out("set skip on none")
            self.state.options.skip = []
            return
        errors = 0
        names = []
        for itf in interfaces:
            names.append(itf.ifname)
            if itf.neg:
                self.yyerror("skip on ! <interface> is not supported")
                errors += 1
            elif itf.use_rdomain:
                self.yyerror("skip on rdomain <num> is not supported")
                errors += 1
        self.state.out("set skip on {" + "".join(" " + n for n in names) + " }")
        if errors:
            self.fail("error setting skip interface(s)")
        self.state.options.skip = (self.state.options.skip or []) + names

    def syncookies(self) -> None:
        value = str(self.expect(lx.STRING).value)
        mode = {"never": PF_SYNCOOKIES_NEVER, "adaptive": PF_SYNCOOKIES_ADAPTIVE,
                "always": PF_SYNCOOKIES_ALWAYS}.get(value)
        if mode is None:
            self.fail("illegal value for syncookies")
        wats: list[float] | None = None
        if not self.at_punct("("):
            self.require_nl()
        if self.accept_punct("("):
            wats = [0.0, 0.0]  # (hi = start, lo = end)
            while True:
                what = str(self.expect(lx.STRING).value)
                pct = str(self.expect(lx.STRING).value)
                number, rest = _strtod(pct)
                if rest != "%":
                    raise _Abort
                if number <= 0 or number > 100:
                    self.fail("illegal percentage value")
                if what == "start":
                    wats[0] = number
                elif what == "end":
                    wats[1] = number
                else:
                    self.fail("illegal syncookie option")
                if self.accept_punct(")"):
                    break
                self.comma()
        opts = self.state.options
        if mode != PF_SYNCOOKIES_ADAPTIVE and wats is not None:
            self.warn("pfctl: syncookies start/end only apply to adaptive")
            self.fail("error setting syncookies")
        if mode == PF_SYNCOOKIES_ADAPTIVE and wats is not None:
            hi = int(wats[0]) or PF_SYNCOOKIES_HIWATPCT
            lo = int(wats[1]) or hi // 2
            if lo >= hi:
                self.warn("pfctl: start must be higher than end")
                self.fail("error setting syncookies")
            opts.syncookies_watermarks = (lo, hi)
        if mode == PF_SYNCOOKIES_NEVER:
            self.state.out("set syncookies never")
        elif mode == PF_SYNCOOKIES_ALWAYS:
            self.state.out("set syncookies always")
        elif opts.syncookies_watermarks:
            lo, hi = opts.syncookies_watermarks
            self.state.out(f"set syncookies adaptive (start {hi}%, end {lo}%)")
        else:
            self.state.out("set syncookies adaptive")
        opts.syncookies = mode

    # -- interfaces -------------------------------------------------------------------
    def interface(self) -> list[NodeIf] | None:
        if not self.accept_kw("on"):
            return None
        return self._list(self.if_item_not)

    def if_item_not(self) -> NodeIf:
        neg = self.accept_punct("!")
        item = self.if_item()
        item.neg = neg
        return item

    def if_item(self) -> NodeIf:
        if self.accept_kw("any"):
            return NodeIf(ifname="any")
        if self.accept_kw("rdomain"):
            value = self.number()
            if value < 0 or value > RT_TABLEID_MAX:
                self.yyerror(f"rdomain {value} outside range")
            return NodeIf(use_rdomain=True, rdomain=value)
        name = str(self.expect(lx.STRING).value)
        if len(name.encode()) >= IFNAMSIZ:
            self.fail("interface name too long")
        itf = self.host.interface(name)
        return NodeIf(ifname=name, ifa_flags=itf.flags if itf else 0)

    # -- hosts ------------------------------------------------------------------------
    def ifa_exists(self, name: str) -> tuple[bool, bool]:
        """(exists, is a real interface): groups exist but are not interfaces."""
        if self.host.is_group(name):
            return True, False
        return self.host.interface(name) is not None, self.host.interface(name) is not None

    def ifa_lookup(self, name: str, flags: int) -> list[NodeHost]:
        members = self.host.group_members(name)
        if members is not None:
            out: list[NodeHost] = []
            for m in members:
                out += self.ifa_lookup(m.name, flags)
            return out
        out = []
        for itf in self.host.interfaces:
            if name != "self" and _ifa_skip_if(name, itf.name):
                continue
            got4 = got6 = False
            for a in itf.addresses:
                if flags & PFI_AFLAG_BROADCAST and (a.af != AF_INET or not itf.flags & IFF_BROADCAST
                                                    or is_zero(a.broadcast, AF_INET)):
                    continue
                if flags & PFI_AFLAG_PEER and not itf.flags & IFF_POINTOPOINT:
                    continue
                if flags & PFI_AFLAG_NETWORK and a.scope > 0:
                    continue
                if flags & PFI_AFLAG_NOALIAS and ((a.af == AF_INET and got4) or (a.af == AF_INET6 and got6)):
                    continue
                if a.af == AF_INET:
                    got4 = True
                else:
                    got6 = True
                raw = a.broadcast if flags & PFI_AFLAG_BROADCAST else a.peer if flags & PFI_AFLAG_PEER else a.addr
                n = NodeHost(addr=AddrWrap(type=PF_ADDR_ADDRMASK, addr=raw), af=a.af, ifindex=a.scope)
                _set_ipmask(n, a.prefixlen if flags & PFI_AFLAG_NETWORK else -1)
                out.append(n)
        return out

    def host_lookup(self, text: str) -> list[NodeHost] | None:
        """host(): an interface, a numeric address or a host name, with optional /bits."""
        mask = -1
        ps = text
        if "/" in text:
            ps, _, bits = text.partition("/")
            value = _strtonum(bits, 0, 128)
            if isinstance(value, str):
                self.warn(f"netmask is {value}: /{bits}")
                return None
            mask = value
        hosts = self._host_if(ps, mask)
        if hosts is None:
            hosts = self._host_ip(ps, mask)
        if hosts is None:
            hosts = self._host_dns(ps, mask)
        if not hosts:
            self.warn(f"no IP address found for {text}")
            return None
        for n in hosts:
            n.addr.type = PF_ADDR_ADDRMASK
            n.weight = 0
        return hosts

    def _host_if(self, text: str, mask: int) -> list[NodeHost] | None:
        flags = 0
        ps = text
        while ":" in ps:
            ps, _, mod = ps.rpartition(":")
            bit = {"network": PFI_AFLAG_NETWORK, "broadcast": PFI_AFLAG_BROADCAST, "peer": PFI_AFLAG_PEER,
                   "0": PFI_AFLAG_NOALIAS}.get(mod)
            if bit is None:
                return None
            flags |= bit
        if flags & (flags - 1) & PFI_AFLAG_MODEMASK:
            self.warn("illegal combination of interface modifiers")
            return None
        if flags & (PFI_AFLAG_NETWORK | PFI_AFLAG_BROADCAST) and mask > -1:
            self.warn("network or broadcast lookup, but extra netmask given")
            return None
        if self.ifa_exists(ps)[0] or ps == "self":
            hosts = self.ifa_lookup(ps, flags)
            if mask > -1:
                for n in hosts:
                    _set_ipmask(n, mask)
            return hosts or None
        return None

    def _host_ip(self, text: str, mask: int) -> list[NodeHost] | None:
        af, raw, scope = self._numeric(text)
        if raw is None:
            if mask == -1:
                return None
            raw = inet_net_pton4(text)
            if raw is None:
                return None
            af, scope = AF_INET, 0
        h = NodeHost(addr=AddrWrap(addr=raw), af=af, ifindex=scope)
        _set_ipmask(h, mask)
        return [h]

    def _numeric(self, text: str) -> tuple[int, bytes | None, int]:
        raw = pton4(text)
        if raw is not None:
            return AF_INET, raw, 0
        addr, sep, scope_text = text.partition("%")
        raw = pton6(addr)
        if raw is None:
            return 0, None, 0
        scope = 0
        if sep:
            if scope_text.isdigit():
                scope = int(scope_text)
            else:
                itf = self.host.interface(scope_text)
                if itf is None:
                    return 0, None, 0
                scope = itf.index
        return AF_INET6, raw, scope

    def _host_dns(self, text: str, mask: int) -> list[NodeHost] | None:
        noalias = False
        ps = text
        if ps.endswith(":0") and ":" in ps:
            noalias = True
            ps = ps[:-2]
        if self.state.numeric:
            af, raw, scope = self._numeric(ps)
            results = [(af, raw)] if raw is not None else []
        else:
            af, raw, scope = self._numeric(ps)
            results = [(af, raw)] if raw is not None else self.host.resolve(ps)
        out: list[NodeHost] = []
        got4 = got6 = False
        for af, raw in results:
            if noalias:
                if af == AF_INET:
                    if got4:
                        continue
                    got4 = True
                else:
                    if got6:
                        continue
                    got6 = True
            n = NodeHost(addr=AddrWrap(addr=raw), af=af)
            _set_ipmask(n, mask)
            out.append(n)
        return out or None

    def ipspec(self) -> list[NodeHost] | None:
        """`ipspec`: any, one host or a { list }; None means any."""
        if self.accept_kw("any"):
            return None
        if self.accept_punct("{"):
            self.optnl()
            result = self.ipspec()
            self.optnl()
            while not self.at_punct("}"):
                self.comma()
                more = self.ipspec()
                self.optnl()
                if result is None or more is None:
                    result = None
                else:
                    result = result + more
            self.advance()
            return result
        return self.xhost()

    def xhost(self) -> list[NodeHost]:
        neg = self.accept_punct("!")
        if self.accept_kw("no-route"):
            return [NodeHost(addr=AddrWrap(type=PF_ADDR_NOROUTE), neg=neg)]
        if self.accept_kw("urpf-failed"):
            return [NodeHost(addr=AddrWrap(type=PF_ADDR_URPFFAILED), neg=neg)]
        hosts = self.host_()
        for n in hosts:
            n.neg = neg
        return hosts

    def host_(self) -> list[NodeHost]:
        t = self.peek()
        if t.kind == lx.STRING:
            self.advance()
            text = str(t.value)
            if self.accept_punct("-"):
                end = str(self.expect(lx.STRING).value)
                b = self.host_lookup(text)
                e = self.host_lookup(end) if b is not None else None
                if b is None or e is None:
                    self.fail("could not parse host specification")
                assert b is not None and e is not None
                full = 32 if b[0].af == AF_INET else 128
                full_e = 32 if e[0].af == AF_INET else 128
                if (b[0].af != e[0].af or b[0].addr.type != PF_ADDR_ADDRMASK or e[0].addr.type != PF_ADDR_ADDRMASK
                        or unmask(b[0].addr.mask) != full or unmask(e[0].addr.mask) != full_e
                        or len(b) > 1 or b[0].neg or len(e) > 1 or e[0].neg):
                    self.fail("invalid address range")
                h = b[0]
                h.addr.mask = e[0].addr.addr
                h.addr.type = PF_ADDR_RANGE
                return [h]
            if self.accept_punct("/"):
                bits = self.number()
                text = f"{text}/{bits}"
            hosts = self.host_lookup(text)
            if hosts is None:
                self.fail("could not parse host specification")
            return hosts  # type: ignore[return-value]
        if t.kind == lx.NUMBER:
            self.advance()
            self.expect_punct("/")
            bits = self.number()
            hosts = self.host_lookup(f"{t.value}/{bits}")
            if hosts is None:
                self.fail("could not parse host specification")
            return hosts  # type: ignore[return-value]
        if self.at_punct("("):
            hosts = [self.dynaddr()]
            if self.accept_punct("/"):
                bits = self.number()
                if bits < 0 or bits > 128:
                    self.fail("bit number too big")
                for n in hosts:
                    _set_ipmask(n, bits)
            return hosts
        if self.accept_punct("<"):
            name = str(self.expect(lx.STRING).value)
            self.expect_punct(">")
            if len(name.encode()) >= PF_TABLE_NAME_SIZE:
                self.fail(f"table name '{name}' too long")
            return [NodeHost(addr=AddrWrap(type=PF_ADDR_TABLE, tblname=name))]
        if self.accept_kw("route"):
            name = str(self.expect(lx.STRING).value)
            if len(name.encode()) >= RTLABEL_LEN:
                self.fail(f"route label too long, max {RTLABEL_LEN - 1} chars")
            return [NodeHost(addr=AddrWrap(type=PF_ADDR_RTLABEL, rtlabelname=name))]
        raise _SyntaxError

    def dynaddr(self) -> NodeHost:
        self.expect_punct("(")
        text = str(self.expect(lx.STRING).value)
        self.expect_punct(")")
        if not text[:1].isalpha():
            self.fail(f"invalid interface name '{text}'")
        flags = 0
        name = text
        while ":" in name:
            head, _, mod = name.rpartition(":")
            bit = {"network": PFI_AFLAG_NETWORK, "broadcast": PFI_AFLAG_BROADCAST, "peer": PFI_AFLAG_PEER,
                   "0": PFI_AFLAG_NOALIAS}.get(mod)
            if bit is None:
                self.fail(f"interface {name} has bad modifier")
            flags |= bit  # type: ignore[operator]
            name = head
        if flags & (flags - 1) & PFI_AFLAG_MODEMASK:
            self.fail("illegal combination of interface modifiers")
        if len(name.encode()) >= IFNAMSIZ:
            self.fail("interface name too long")
        return NodeHost(addr=AddrWrap(type=PF_ADDR_DYNIFTL, ifname=name, iflags=flags, mask=ONES), af=0)

    # -- ports, users, groups -----------------------------------------------------------
    def getservice(self, name: str) -> int:
        value = _strtoul(name)
        if value is not None:
            if value > 65535:
                self.fail(f"illegal port value {value}")
            return value
        port = self.host.service(name, "tcp")
        if port is None:
            port = self.host.service(name, "udp")
        if port is None:
            self.fail(f"unknown port {name}")
        return port  # type: ignore[return-value]

    def parseport(self, text: str, ranges: bool, star: bool) -> tuple[int, int, int]:
        if ":" not in text:
            return self.getservice(text), 0, PF_OP_NONE
        left, _, right = text.partition(":")
        if star and right == "*":
            return self.getservice(left), 0, PF_OP_IRG
        if ranges:
            a = self.getservice(left)
            b = self.getservice(right)
            if a == b:
                return a, 0, PF_OP_NONE
            return a, b, PF_OP_RRG
        self.fail(f"port is invalid: {text}")
        raise AssertionError

    def unaryop(self) -> int | None:
        t = self.peek()
        op = None
        if t.kind == lx.PUNCT:
            op = {"=": PF_OP_EQ, "<": PF_OP_LT, ">": PF_OP_GT}.get(str(t.value))
        elif t.kind in (lx.NE, lx.LE, lx.GE):
            op = {lx.NE: PF_OP_NE, lx.LE: PF_OP_LE, lx.GE: PF_OP_GE}[t.kind]
        if op is not None:
            self.advance()
        return op

    def portspec(self) -> list[NodePort]:
        return self._list(self.port_item)

    def port_item(self) -> NodePort:
        op = self.unaryop()
        a, b, t = self.parseport(self.numberstring(), True, False)
        if op is not None:
            if t:
                self.fail("':' cannot be used with an other port operator")
            return NodePort((a, b), op)
        if self.at(lx.PORTBINARY):
            binop = PF_OP_XRG if self.advance().value == "<>" else PF_OP_IRG
            a2, _, t2 = self.parseport(self.numberstring(), True, False)
            if t or t2:
                self.fail("':' cannot be used with an other port operator")
            if _invalid_range(binop, a, a2):
                self.fail("invalid port range")
            return NodePort((a, a2), binop)
        if t:
            if _invalid_range(PF_OP_RRG, a, b):
                self.fail("invalid port range")
            return NodePort((a, b), PF_OP_RRG)
        return NodePort((a, b), PF_OP_EQ)

    def _list(self, item: Callable[[], _T]) -> list[_T]:
        """One `item`, or `{ item [,] item ... }` with newlines allowed between the items."""
        if self.accept_punct("{"):
            self.optnl()
            items = [item()]
            self.optnl()
            while not self.at_punct("}"):
                self.comma()
                items.append(item())
                self.optnl()
            self.advance()
            return items
        return [item()]

    def _id_item(self, what: str) -> tuple[int, int, int]:
        op = self.unaryop()
        first = self._id(what)
        if op is not None:
            if first == UID_MAX and op not in (PF_OP_EQ, PF_OP_NE):
                self.fail(f"{what} unknown requires operator = or !=")
            return op, first, first
        if self.at(lx.PORTBINARY):
            binop = PF_OP_XRG if self.advance().value == "<>" else PF_OP_IRG
            second = self._id(what)
            if first == UID_MAX or second == UID_MAX:
                self.fail(f"{what} unknown requires operator = or !=")
            return binop, first, second
        return PF_OP_EQ, first, first

    def _id(self, what: str) -> int:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value)  # type: ignore[arg-type]
            if value < 0 or value >= UID_MAX:
                self.fail(f"illegal {'uid' if what == 'user' else 'gid'} value {value}")
            return value
        name = str(self.expect(lx.STRING).value)
        if name == "unknown":
            return UID_MAX
        table = self.host.users if what == "user" else self.host.groups
        if name not in table:
            self.fail(f"unknown {what} {name}")
        return table[name]

    # -- protocols, icmp, flags ---------------------------------------------------------
    def proto(self) -> list[int] | None:
        if not self.accept_kw("proto"):
            return None
        return self._list(self.proto_item)

    def proto_item(self) -> int:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value)  # type: ignore[arg-type]
            if value < 0 or value > 255:
                self.fail("protocol outside range")
        else:
            name = str(self.expect(lx.STRING).value)
            number = self.host.protocol_number(name)
            if number is None:
                self.fail(f"unknown protocol {name}")
            value = number  # type: ignore[assignment]
        if value & 0xFF == 0:
            self.fail("proto 0 cannot be used")
        return value & 0xFF

    def icmpspec(self) -> list[NodeIcmp]:
        inet6 = self.advance().value == "icmp6-type"
        return self._list(lambda: self.icmp_item(inet6))

    def icmp_item(self, inet6: bool) -> NodeIcmp:
        kind = "icmp6" if inet6 else "icmp"
        itype = self._icmp_number(lambda name: netdb.icmp_type_by_name(name, inet6), f"illegal {kind}-type",
                                  f"unknown {kind}-type") + 1
        code = 0
        if self.accept_kw("code"):
            code = self._icmp_number(lambda name: netdb.icmp_code_by_name(itype - 1, name, inet6),
                                     "illegal icmp-code", f"unknown {kind}-code") + 1
        return NodeIcmp(itype, code, IPPROTO_ICMPV6 if inet6 else IPPROTO_ICMP)

    def _icmp_number(self, by_name: Callable[[str], int | None], illegal: str, unknown: str) -> int:
        """An icmp type or code: a number 0-255 (else `<illegal> <number>`) or a name `by_name` knows
        (else `<unknown> <name>`)."""
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value)  # type: ignore[arg-type]
            return self._in_range(value, 0, 255, f"{illegal} {value}")
        name = str(self.expect(lx.STRING).value)
        number = by_name(name)
        if number is None:
            self.fail(f"{unknown} {name}")
        return number  # type: ignore[return-value]

    def flag(self) -> int:
        text = str(self.expect(lx.STRING).value)
        f = 0
        for ch in text:
            i = "FSRPAUEW".find(ch)
            if i < 0:
                self.fail(f"bad flags {text}")
            f |= 1 << i
        return f or PF_TH_ALL

    def tos(self) -> int:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value)  # type: ignore[arg-type]
            if value < 0 or value > 255:
                self.fail(f"illegal tos value {value}")
            return value
        text = str(self.expect(lx.STRING).value)
        value = netdb.TOS_NAMES.get(text.lower(), -1)
        if value < 0 and text.startswith("0x"):
            try:
                value = int(text[2:], 16) if text[2:].isalnum() else 256
            except ValueError:
                value = 256
        elif value < 0:
            value = 256
        if value < 0 or value > 255:
            self.fail(f"illegal tos value {text}")
        return value

    # -- state options ------------------------------------------------------------------
    def state_opt_list(self) -> list[StateOpt]:
        items = [self.state_opt_item()]
        while True:
            if self.at_punct(","):
                self.advance()
                items.append(self.state_opt_item())
            elif self._starts_state_opt():
                items.append(self.state_opt_item())
            else:
                return items

    def _starts_state_opt(self) -> bool:
        t = self.peek()
        if t.kind == lx.STRING:
            return True
        return t.kind == lx.KEYWORD and t.value in (
            "max", "no-sync", "max-src-states", "max-src-conn", "max-src-conn-rate", "overload",
            "max-src-nodes", "source-track", "if-bound", "floating", "sloppy", "pflow")

    def _positive(self) -> int:
        value = self.number()
        if value < 0 or value > UINT_MAX:
            self.fail("only positive values permitted")
        return value

    def state_opt_item(self) -> StateOpt:
        t = self.peek()
        if t.kind == lx.STRING:
            name = str(self.advance().value)
            seconds = self._positive()
            for tname, number in PF_TIMEOUTS:
                if tname == name:
                    if "." not in tname:
                        self.fail(f"illegal state timeout {name}")
                    return StateOpt(SO_TIMEOUT, (number, seconds))
            self.fail(f"illegal timeout name {name}")
        word = t.value if t.kind == lx.KEYWORD else None
        if word == "max":
            self.advance()
            return StateOpt(SO_MAX, self._positive())
        if word == "no-sync":
            self.advance()
            return StateOpt(SO_NOSYNC)
        if word == "max-src-states":
            self.advance()
            return StateOpt(SO_MAX_SRC_STATES, self._positive())
        if word == "max-src-conn":
            self.advance()
            return StateOpt(SO_MAX_SRC_CONN, self._positive())
        if word == "max-src-conn-rate":
            self.advance()
            limit = self.number()
            self.expect_punct("/")
            seconds = self.number()
            if limit < 0 or limit > UINT_MAX or seconds < 0 or seconds > UINT_MAX:
                self.fail("only positive values permitted")
            return StateOpt(SO_MAX_SRC_CONN_RATE, (limit, seconds))
        if word == "overload":
            self.advance()
            self.expect_punct("<")
            name = str(self.expect(lx.STRING).value)
            self.expect_punct(">")
            flush = 0
            if self.accept_kw("flush"):
                flush = PF_FLUSH
                if self.accept_kw("global"):
                    flush |= PF_FLUSH_GLOBAL
            if len(name.encode()) >= PF_TABLE_NAME_SIZE:
                self.fail(f"table name '{name}' too long")
            return StateOpt(SO_OVERLOAD, (name, flush))
        if word == "max-src-nodes":
            self.advance()
            return StateOpt(SO_MAX_SRC_NODES, self._positive())
        if word == "source-track":
            self.advance()
            track = SRCTRACK
            if self.accept_kw("global"):
                track = SRCTRACK_GLOBAL
            elif self.accept_kw("rule"):
                track = SRCTRACK_RULE
            return StateOpt(SO_SRCTRACK, track)
        if word == "if-bound":
            self.advance()
            return StateOpt(SO_STATELOCK, PFRULE_IFBOUND)
        if word == "floating":
            self.advance()
            return StateOpt(SO_STATELOCK, 0)
        if word == "sloppy":
            self.advance()
            return StateOpt(SO_SLOPPY)
        if word == "pflow":
            self.advance()
            return StateOpt(SO_PFLOW)
        raise _SyntaxError

    # -- translation pools ----------------------------------------------------------------
    def optweight(self) -> int:
        if self.accept_kw("weight"):
            value = self.number()
            if value < 1 or value > 0xFFFF:
                self.fail("weight out of range")
            return value
        return 0

    def redirspec(self) -> list[NodeHost]:
        if self.accept_punct("{"):
            self.optnl()
            hosts = self.host_()
            weight = self.optweight()
            self.optnl()
            if hosts[0].addr.type != PF_ADDR_ADDRMASK:
                self.fail("only addresses can be listed for redirection pools ")
            for n in hosts:
                n.weight = weight or n.weight
            while not self.at_punct("}"):
                self.comma()
                more = self.host_()
                weight = self.optweight()
                for n in more:
                    n.weight = weight or n.weight
                hosts += more
                self.optnl()
            self.advance()
            return hosts
        hosts = self.host_()
        weight = self.optweight()
        if weight:
            for n in hosts:
                n.weight = weight
        return hosts

    def redirpool(self) -> Redirection:
        hosts = self.redirspec()
        rport = (0, 0, 0)
        if self.accept_kw("port"):
            rport = self.parseport(self.numberstring(), True, True)
        return Redirection(hosts, rport)

    def pool_opts(self) -> PoolOpts:
        po = PoolOpts()
        while True:
            t = self.peek()
            word = t.value if t.kind == lx.KEYWORD else None
            ptype = {"bitmask": PF_POOL_BITMASK, "random": PF_POOL_RANDOM, "source-hash": PF_POOL_SRCHASH,
                     "round-robin": PF_POOL_ROUNDROBIN, "least-states": PF_POOL_LEASTSTATES}.get(str(word))
            if ptype is not None:
                self.advance()
                key = self.hashkey() if ptype == PF_POOL_SRCHASH else None
                if po.type:
                    self.fail("pool type cannot be redefined")
                po.type = ptype
                if key is not None:
                    po.key = key
            elif word == "static-port":
                self.advance()
                if po.staticport:
                    self.fail("static-port cannot be redefined")
                po.staticport = True
            elif word == "sticky-address":
                self.advance()
                if po.sticky:
                    self.fail("sticky-address cannot be redefined")
                po.sticky = True
                po.opts |= PF_POOL_STICKYADDR
            else:
                return po

    def hashkey(self) -> tuple[int, int, int, int]:
        if not self.at(lx.STRING):
            raw = self.state.random_bytes(16)
            return tuple(int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))  # type: ignore[return-value]
        text = self.string()
        if text.startswith("0x"):
            if len(text) != 34:
                self.fail("hex key must be 128 bits (32 hex digits) long")
            try:
                return tuple(int(text[2 + 8 * i:10 + 8 * i], 16) for i in range(4))  # type: ignore[return-value]
            except ValueError:
                self.fail("invalid hex key")
        digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()
        # MD5Final writes bytes; pfctl then applies htonl() to each 32-bit word, which on a
        # little-endian machine reads the digest words big-endian.
        return tuple(int.from_bytes(digest[i:i + 4], "big") for i in range(0, 16, 4))  # type: ignore[return-value]

    # -- filter options -------------------------------------------------------------------
    def filter_opts(self) -> FilterOpts:
        fo = FilterOpts()
        while self.filter_opt(fo):
            pass
        return fo

    def filter_opt(self, fo: FilterOpts) -> bool:  # noqa: C901 - one branch per option, as in the grammar
        t = self.peek()
        if t.kind == lx.PUNCT and t.value == "!":
            self.advance()
            if self.accept_kw("tagged"):
                fo.match_tag = self.string()
                fo.match_tag_not = True
                return True
            if self.accept_kw("received-on"):
                self._received_on(fo, True)
                return True
            raise _SyntaxError
        if t.kind != lx.KEYWORD:
            return False
        word = t.value
        if word == "user":
            self.advance()
            items = self._list(lambda: self._id_item("user"))
            fo.uid = items + (fo.uid or [])
        elif word == "group":
            self.advance()
            items = self._list(lambda: self._id_item("group"))
            fo.gid = items + (fo.gid or [])
        elif word == "flags":
            self.advance()
            if self.accept_kw("any"):
                b1 = b2 = 0
            elif self.accept_punct("/"):
                b1, b2 = 0, self.flag()
            else:
                b1 = self.flag()
                self.expect_punct("/")
                b2 = self.flag()
            self._once(fo, FOM_FLAGS, "flags cannot be redefined")
            fo.flags = (fo.flags[0] | b1, fo.flags[1] | b2)
        elif word in ("icmp-type", "icmp6-type"):
            spec = self.icmpspec()
            self._once(fo, FOM_ICMP, "icmp-type cannot be redefined")
            fo.icmpspec = spec
        elif word == "prio":
            self.advance()
            value = self.number()
            self._once(fo, FOM_PRIO, "prio cannot be redefined")
            fo.prio = self._in_range(value, 0, IFQ_MAXPRIO, f"prio must be 0 - {IFQ_MAXPRIO}")
        elif word == "tos":
            self.advance()
            value = self.tos()
            self._once(fo, FOM_TOS, "tos cannot be redefined")
            fo.tos = value
        elif word in ("no", "keep", "modulate", "synproxy"):
            self.advance()
            self.expect_kw("state")
            action = {"no": 0, "keep": PF_STATE_NORMAL, "modulate": PF_STATE_MODULATE,
                      "synproxy": PF_STATE_SYNPROXY}[str(word)]
            options = None
            if word != "no" and self.accept_punct("("):
                options = self.state_opt_list()
                self.expect_punct(")")
            self._once(fo, FOM_KEEP, "modulate or keep cannot be redefined")
            fo.keep_action = action
            fo.keep_options = options
        elif word == "fragment":
            self.advance()
            fo.fragment = True
        elif word == "allow-opts":
            self.advance()
            fo.allowopts = True
        elif word == "label":
            self.advance()
            label = str(self.expect(lx.STRING).value)
            if fo.label is not None:
                self.fail("label cannot be redefined")
            fo.label = label
        elif word == "queue":
            self.advance()
            self._queue_assign(fo)
        elif word == "tag":
            self.advance()
            fo.tag = self.string()
        elif word == "tagged":
            self.advance()
            fo.match_tag = self.string()
            fo.match_tag_not = False
        elif word == "probability":
            self.advance()
            self._probability(fo)
        elif word == "rtable":
            self.advance()
            value = self.number()
            if value < 0 or value > RT_TABLEID_MAX:
                self.fail("invalid rtable id")
            if not self.host.has_rtable(value):
                self.fail(f"rtable {value} does not exist")
            fo.rtableid = value
        elif word == "divert-to":
            self.advance()
            text = str(self.expect(lx.STRING).value)
            self.expect_kw("port")
            port = self.parseport(self.numberstring(), False, False)[0]
            if fo.divert_type != PF_DIVERT_NONE:
                self.fail("more than one divert option")
            fo.divert_type = PF_DIVERT_TO
            hosts = self.host_lookup(text)
            if hosts is None:
                self.fail(f"could not parse divert address: {text}")
            fo.divert_addr = hosts
            fo.divert_port = port
            if not port:
                self.fail(f"invalid divert port: {port}")
        elif word == "divert-reply":
            self.advance()
            if fo.divert_type != PF_DIVERT_NONE:
                self.fail("more than one divert option")
            fo.divert_type = PF_DIVERT_REPLY
        elif word == "divert-packet":
            self.advance()
            self.expect_kw("port")
            port = self.parseport(self.numberstring(), False, False)[0]
            if fo.divert_type != PF_DIVERT_NONE:
                self.fail("more than one divert option")
            fo.divert_type = PF_DIVERT_PACKET
            if self.state.options.reassemble is None or self.state.options.reassemble & 1:
                fo.marker |= FOM_SCRUB_TCP
            fo.divert_port = port
            if not port:
                self.fail(f"invalid divert port: {port}")
        elif word == "scrub":
            self.advance()
            self.expect_punct("(")
            self._scrub_opts(fo)
            self.expect_punct(")")
        elif word == "nat-to":
            self._redirect_to(fo.nat, "cannot respecify nat-to/binat-to")
        elif word == "af-to":
            self.advance()
            self._afto(fo)
        elif word == "rdr-to":
            self._redirect_to(fo.rdr, "cannot respecify rdr-to")
        elif word == "binat-to":
            self._redirect_to(fo.nat, "cannot respecify nat-to/binat-to").staticport = True
            fo.nat.binat = True
        elif word in ("route-to", "reply-to", "dup-to"):
            self.advance()
            hosts = self.redirspec()
            po = self.pool_opts()
            if fo.rt:
                self.fail("cannot respecify route-to/reply-to/dup-to")
            fo.rroute = RedirSpec(rdr=Redirection(hosts), pool_opts=po)
            fo.rt = {"route-to": PF_ROUTETO, "reply-to": PF_REPLYTO, "dup-to": PF_DUPTO}[str(word)]
        elif word == "received-on":
            self.advance()
            self._received_on(fo, False)
        elif word == "once":
            self.advance()
            fo.marker |= FOM_ONCE
        elif word == "max-pkt-rate":
            self.advance()
            limit = self.number()
            self.expect_punct("/")
            seconds = self.number()
            if limit < 0 or limit > UINT_MAX or seconds < 0 or seconds > UINT_MAX:
                self.fail("only positive values permitted")
            if fo.pktrate[0]:
                self.fail("cannot respecify max-pkt-rate")
            fo.pktrate = (limit, seconds)
        elif word == "set":
            self.advance()
            if self.accept_punct("("):
                self.filter_set(fo)
                while not self.at_punct(")"):
                    self.comma()
                    self.filter_set(fo)
                self.advance()
            else:
                self.filter_set(fo)
        else:
            return False
        return True

    def _received_on(self, fo: FilterOpts, neg: bool) -> None:
        item = self.if_item()
        if fo.rcv is not None:
            self.fail("cannot respecify received-on")
        item.neg = neg
        fo.rcv = item

    def _probability(self, fo: FilterOpts) -> None:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            p = float(t.value)  # type: ignore[arg-type]
        else:
            text = str(self.expect(lx.STRING).value)
            p, rest = _strtod(text)
            if rest.startswith("%"):
                p *= 0.01
                rest = rest[1:]
            if rest:
                self.fail(f"invalid probability: {text}")
        scaled = math.floor(p * UINT_MAX + 0.5)
        if scaled < 0.0 or scaled > UINT_MAX:
            self.fail(f"invalid probability: {_fmt_g(p * 100)}%")
        fo.prob = int(scaled) or 1

    def _redirect_to(self, spec: RedirSpec, message: str) -> PoolOpts:
        """`nat-to`/`rdr-to`/`binat-to` <pool> <pool options> into `spec`; fail with `message` if it is set."""
        self.advance()
        pool = self.redirpool()
        po = self.pool_opts()
        if spec.rdr is not None:
            self.fail(message)
        spec.rdr = pool
        spec.pool_opts = po
        return po

    def _scrub_opts(self, fo: FilterOpts) -> None:
        seen: set[str] = set()
        first = True
        while first or not self.at_punct(")"):
            if not first:
                self.comma()
            first = False
            t = self.peek()
            word = t.value if t.kind == lx.KEYWORD else None
            if word == "no-df":
                self.advance()
                self._seen_once(seen, "no-df")
                fo.nodf = True
            elif word == "min-ttl":
                self.advance()
                value = self.number()
                self._seen_once(seen, "min-ttl")
                fo.minttl = self._in_range(value, 0, 255, f"illegal min-ttl value {value}")
                fo.marker |= FOM_MINTTL
            elif word == "max-mss":
                self.advance()
                value = self.number()
                self._seen_once(seen, "max-mss")
                fo.max_mss = self._in_range(value, 0, 65535, f"illegal max-mss value {value}")
                fo.marker |= FOM_MAXMSS
            elif word == "reassemble":
                self.advance()
                what = str(self.expect(lx.STRING).value)
                if what.lower() != "tcp":
                    self.fail(f"scrub reassemble supports only tcp, not '{what}'")
                self._seen_once(seen, "reassemble tcp")
                fo.marker |= FOM_SCRUB_TCP
            elif word == "random-id":
                self.advance()
                self._seen_once(seen, "random-id")
                fo.randomid = True
            else:
                raise _SyntaxError

    def _afto(self, fo: FilterOpts) -> None:
        af = AF_INET if self.accept_kw("inet") else AF_INET6 if self.accept_kw("inet6") else 0
        self.expect_kw("from")
        pool = self.redirpool()
        po = self.pool_opts()
        to_pool = None
        to_po = None
        if self.accept_kw("to"):
            to_pool = self.redirpool()
            to_po = self.pool_opts()
        if fo.nat.rdr is not None:
            self.fail("cannot respecify af-to")
        if af == 0:
            self.fail("no target address family specified" if to_pool is None else "no address family specified")
        if to_pool is not None and ((pool.hosts[0].af and pool.hosts[0].af != af)
                                    or (to_pool.hosts[0].af and to_pool.hosts[0].af != af)):
            self.fail("af-to addresses must be in the target address family")
        fo.nat = RedirSpec(rdr=pool, pool_opts=po, af=af)
        if to_pool is None:
            fo.rdr = RedirSpec(rdr=Redirection([]), pool_opts=PoolOpts())
        else:
            fo.rdr = RedirSpec(rdr=to_pool, pool_opts=PoolOpts(), af=af)
            fo.nat.pool_opts = to_po  # type: ignore[assignment]  # pfctl copies the second pool's options
        fo.marker |= FOM_AFTO

    def filter_set(self, fo: FilterOpts) -> None:
        t = self.peek()
        word = t.value if t.kind == lx.KEYWORD else None
        if word == "prio":
            self.advance()
            if self.accept_punct("("):
                a = self.number()
                self.comma()
                b = self.number()
                self.expect_punct(")")
                if not 0 <= a <= IFQ_MAXPRIO or not 0 <= b <= IFQ_MAXPRIO:
                    self.fail(f"prio must be 0 - {IFQ_MAXPRIO}")
            else:
                a = self.number()
                if not 0 <= a <= IFQ_MAXPRIO:
                    self.fail(f"prio must be 0 - {IFQ_MAXPRIO}")
                b = a
            self._once(fo, FOM_SETPRIO, "prio cannot be redefined")
            fo.set_prio = (a, b)
        elif word == "queue":
            self.advance()
            self._queue_assign(fo)
        elif word == "tos":
            self.advance()
            value = self.tos()
            self._once(fo, FOM_SETTOS, "tos cannot be respecified")
            fo.settos = value
        elif word == "delay":
            self.advance()
            value = self.number()
            if fo.delay:
                self.fail("delay cannot be respecified")
            fo.delay = self._in_range(value, 0, 0xFFFF, f"illegal delay value {value} (0-{0xFFFF})")
            fo.marker |= FOM_SETDELAY
        else:
            raise _SyntaxError

    def _queue_assign(self, fo: FilterOpts) -> None:
        if self.accept_punct("("):
            qname = str(self.expect(lx.STRING).value)
            pqname = None
            if not self.at_punct(")"):
                self.comma()
                pqname = str(self.expect(lx.STRING).value)
            self.expect_punct(")")
        else:
            qname = str(self.expect(lx.STRING).value)
            pqname = None
        if self._find_queue(qname) is None:
            self.fail(f"queue {qname} is not defined")
        if pqname is not None and self._find_queue(pqname) is None:
            self.fail(f"queue {pqname} is not defined")
        if fo.qname is not None:
            self.fail("queue cannot be redefined")
        fo.qname, fo.pqname = qname, pqname

    def _find_queue(self, name: str) -> QueueSpec | None:
        for q in self.state.qspecs:
            if q.qname == name:
                return q
        return None

    # -- rules ------------------------------------------------------------------------
    def dir(self) -> int:
        if self.accept_kw("in"):
            return PF_IN
        if self.accept_kw("out"):
            return PF_OUT
        return PF_INOUT

    def log(self) -> tuple[int, int]:
        self.advance()
        log, logif = PF_LOG, 0
        if self.accept_punct("("):
            while True:
                if self.accept_kw("all"):
                    log |= PF_LOG_ALL
                elif self.accept_kw("matches"):
                    log |= PF_LOG_MATCHES
                elif self.accept_kw("user"):
                    log |= PF_LOG_USER
                elif self.accept_kw("to"):
                    name = self.string()
                    if not name.startswith("pflog"):
                        self.fail(f"{name}: should be a pflog interface")
                    value = _strtonum(name[5:], 0, 255)
                    if isinstance(value, str):
                        self.fail(f"{name}: {value}")
                    logif = value  # type: ignore[assignment]
                else:
                    raise _SyntaxError
                if self.accept_punct(")"):
                    break
                self.comma()
        return log, logif

    def logquick(self) -> tuple[int, int, bool]:
        log = logif = 0
        quick = False
        if self.at_kw("log"):
            log, logif = self.log()
            quick = self.accept_kw("quick")
        elif self.accept_kw("quick"):
            quick = True
            if self.at_kw("log"):
                log, logif = self.log()
        return log, logif, quick

    def af(self) -> int:
        if self.accept_kw("inet"):
            return AF_INET
        if self.accept_kw("inet6"):
            return AF_INET6
        return 0

    def fromto(self) -> tuple[list[NodeHost] | None, list[NodePort] | None, list[NodeHost] | None,
                              list[NodePort] | None]:
        if self.accept_kw("all"):
            return None, None, None, None
        src = sport = dst = dport = None
        if self.accept_kw("from"):
            src, sport = self.ipportspec()
        if self.at_kw("os"):
            self.unsupported("OS fingerprints (os)")
        if self.accept_kw("to"):
            dst, dport = self.ipportspec()
            if dst and any(h.addr.type == PF_ADDR_URPFFAILED for h in dst):
                self.fail('"urpf-failed" is not permitted in a destination address')
        return src, sport, dst, dport

    def ipportspec(self) -> tuple[list[NodeHost] | None, list[NodePort] | None]:
        if self.accept_kw("port"):
            return None, self.portspec()
        hosts = self.ipspec()
        ports = None
        if self.accept_kw("port"):
            ports = self.portspec()
        return hosts, ports

    def action(self) -> tuple[int, int, int, int]:
        """(action, blockspec flag, return value, return value for IPv6)"""
        word = self.advance().value
        if word == "pass":
            return PF_PASS, 0, 0, 0
        if word == "match":
            return PF_MATCH, 0, 0, 0
        t = self.peek()
        w = t.value if t.kind == lx.KEYWORD else None
        if w == "drop":
            self.advance()
            return PF_DROP, PFRULE_DROP, 0, 0
        if w == "return-rst":
            self.advance()
            ttl = 0
            if self.accept_punct("("):
                self.expect_kw("ttl")
                ttl = self.number()
                self.expect_punct(")")
                if ttl < 0 or ttl > 255:
                    self.fail(f"illegal ttl value {ttl}")
            return PF_DROP, PFRULE_RETURNRST, ttl, 0
        if w == "return-icmp":
            self.advance()
            if self.accept_punct("("):
                v4 = self.reticmpspec(False)
                if self.accept_punct(")"):
                    return PF_DROP, PFRULE_RETURNICMP, v4, self.returnicmpdefault
                self.comma()
                v6 = self.reticmpspec(True)
                self.expect_punct(")")
                return PF_DROP, PFRULE_RETURNICMP, v4, v6
            return PF_DROP, PFRULE_RETURNICMP, self.returnicmpdefault, self.returnicmp6default
        if w == "return-icmp6":
            self.advance()
            if self.accept_punct("("):
                v6 = self.reticmpspec(True)
                self.expect_punct(")")
                return PF_DROP, PFRULE_RETURNICMP, self.returnicmpdefault, v6
            return PF_DROP, PFRULE_RETURNICMP, self.returnicmpdefault, self.returnicmp6default
        if w == "return":
            self.advance()
            return PF_DROP, PFRULE_RETURN, self.returnicmpdefault, self.returnicmp6default
        policy = self.state.options.block_policy
        return PF_DROP, policy, self.returnicmpdefault, self.returnicmp6default

    def reticmpspec(self, inet6: bool) -> int:
        icmptype = (self.returnicmp6default if inet6 else self.returnicmpdefault) >> 8
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value)  # type: ignore[arg-type]
            if value < 0 or value > 255:
                self.fail(f"invalid icmp code {value}")
            return icmptype << 8 | value
        text = str(self.expect(lx.STRING).value)
        value = _strtoul(text)
        if value is None:
            code = netdb.icmp_code_by_name(icmptype, text, inet6)
            if code is None:
                self.fail(f"unknown icmp code {text}")
            value = code
        if value > 255:  # type: ignore[operator]
            self.fail(f"invalid icmp code {value}")
        result = icmptype << 8 | value  # type: ignore[operator]
        if not result:
            raise _Abort
        return result

    def pfrule(self) -> None:
        line = self.peek().line
        action, blockflag, w, w2 = self.action()
        direction = self.dir()
        log, logif, quick = self.logquick()
        interfaces = self.interface()
        af = self.af()
        protos = self.proto()
        src, sport, dst, dport = self.fromto()
        fo = self.filter_opts()
        self.require_nl()

        r = _zeroed_rule(action=action, line=line)
        if blockflag == PFRULE_RETURNRST:
            r.rule_flag |= PFRULE_RETURNRST
            r.return_ttl = w
        elif blockflag in (PFRULE_RETURNICMP, PFRULE_RETURN):
            r.rule_flag |= blockflag
            r.return_icmp, r.return_icmp6 = w, w2
        r.direction, r.log, r.logif, r.quick, r.af = direction, log, logif, quick, af
        self.filteropts_to_rule(r, fo)
        if (fo.flags[0] or fo.flags[1]) and protos is not None and IPPROTO_TCP not in protos:
            self.fail("flags only apply to tcp")

        r.keep_state = fo.keep_action
        options = fo.keep_options
        defaults = False
        if not r.keep_state and r.action == PF_PASS and not fo.marker & FOM_KEEP:
            r.keep_state = PF_STATE_NORMAL
            options = self.state.keep_state_defaults
            defaults = True
        del defaults
        srctrack = 0
        statelock = False
        adaptive = False
        for o in options or []:
            if o.type == SO_MAX:
                if r.max_states:
                    self.fail("state option 'max' multiple definitions")
                r.max_states = o.value  # type: ignore[assignment]
            elif o.type == SO_NOSYNC:
                if r.rule_flag & PFRULE_NOSYNC:
                    self.fail("state option 'sync' multiple definitions")
                r.rule_flag |= PFRULE_NOSYNC
            elif o.type == SO_SRCTRACK:
                if srctrack:
                    self.fail("state option 'source-track' multiple definitions")
                srctrack = o.value  # type: ignore[assignment]
                r.rule_flag |= PFRULE_SRCTRACK
            elif o.type in _SOURCE_LIMITS:
                attr, name, flags = _SOURCE_LIMITS[o.type]
                if getattr(r, attr):
                    self.fail(f"state option '{name}' multiple definitions")
                if not o.value:
                    self.fail(f"'{name}' must be > 0")
                setattr(r, attr, o.value)
                r.rule_flag |= flags
            elif o.type == SO_OVERLOAD:
                if r.overload_tblname:
                    self.fail("multiple 'overload' table definitions")
                r.overload_tblname, r.flush = o.value  # type: ignore[misc]
            elif o.type == SO_MAX_SRC_CONN_RATE:
                limit, seconds = o.value  # type: ignore[misc]
                if r.max_src_conn_rate[0]:
                    self.fail("state option 'max-src-conn-rate' multiple definitions")
                if not limit or not seconds:
                    self.fail("'max-src-conn-rate' values must be > 0")
                if limit > PF_THRESHOLD_MAX:
                    self.fail(f"'max-src-conn-rate' maximum rate must be < {PF_THRESHOLD_MAX}")
                r.max_src_conn_rate = (limit, seconds)
                r.rule_flag |= PFRULE_SRCTRACK | PFRULE_RULESRCTRACK
            elif o.type == SO_STATELOCK:
                if statelock:
                    self.fail("state locking option: multiple definitions")
                statelock = True
                r.rule_flag |= o.value  # type: ignore[operator]
            elif o.type == SO_SLOPPY:
                if r.rule_flag & PFRULE_STATESLOPPY:
                    self.fail("state sloppy option: multiple definitions")
                r.rule_flag |= PFRULE_STATESLOPPY
            elif o.type == SO_PFLOW:
                if r.rule_flag & PFRULE_PFLOW:
                    self.fail("state pflow option: multiple definitions")
                r.rule_flag |= PFRULE_PFLOW
            elif o.type == SO_TIMEOUT:
                number, seconds = o.value  # type: ignore[misc]
                if number in (PFTM_ADAPTIVE_START, PFTM_ADAPTIVE_END):
                    adaptive = True
                if r.timeout[number]:
                    name = PF_TIMEOUTS[number][0] if number < len(PF_TIMEOUTS) else "?"
                    self.fail(f"state timeout {name} multiple definitions")
                r.timeout[number] = seconds
        if (r.action == PF_PASS and not r.flags and not r.flagset and not fo.fragment
                and not fo.marker & FOM_FLAGS and r.keep_state):
            r.flags, r.flagset = 0x02, 0x12  # S/SA
        if not adaptive and r.max_states:
            r.timeout[PFTM_ADAPTIVE_START] = (r.max_states // 10) * 6
            r.timeout[PFTM_ADAPTIVE_END] = (r.max_states // 10) * 12
        if r.rule_flag & PFRULE_SRCTRACK:
            if srctrack == SRCTRACK_GLOBAL and r.max_src_nodes:
                self.fail("'max-src-nodes' is incompatible with 'source-track global'")
            if srctrack == SRCTRACK_GLOBAL and r.max_src_conn:
                self.fail("'max-src-conn' is incompatible with 'source-track global'")
            if srctrack == SRCTRACK_GLOBAL and r.max_src_conn_rate[1]:
                self.fail("'max-src-conn-rate' is incompatible with 'source-track global'")
            if r.timeout[PFTM_SRC_NODE] < r.max_src_conn_rate[1]:
                r.timeout[PFTM_SRC_NODE] = r.max_src_conn_rate[1]
            if srctrack == SRCTRACK_RULE:
                r.rule_flag |= PFRULE_RULESRCTRACK
        if r.keep_state and not statelock:
            r.rule_flag |= self.state.default_statelock
        r.af = _decide_af(src, r.af)
        r.af = _decide_af(dst, r.af)
        if fo.rt:
            if fo.rt != PF_DUPTO and not r.direction:
                self.fail("direction must be explicit with rules that specify routing")
            r.rt = fo.rt
        self.expand_divertspec(r, fo)
        self.expand_rule(r, False, interfaces, fo.nat, fo.rdr, fo.rroute, protos, src, sport, dst, dport,
                         fo.uid, fo.gid, fo.rcv, fo.icmpspec)

    def filteropts_to_rule(self, r: RuleDef, fo: FilterOpts) -> None:
        if fo.marker & FOM_ONCE:
            if r.action not in (PF_PASS, PF_DROP) or r.anchor is not None:
                self.fail("'once' only applies to pass/block rules")
            r.rule_flag |= PFRULE_ONCE
        r.keep_state = fo.keep_action
        r.pktrate = fo.pktrate
        r.prob = fo.prob
        r.rtableid = fo.rtableid
        r.tos = fo.tos
        if fo.nodf:
            r.scrub_flags |= PFSTATE_NODF
        if fo.randomid:
            r.scrub_flags |= PFSTATE_RANDOMID
        if fo.minttl:
            r.min_ttl = fo.minttl
        if fo.max_mss:
            r.max_mss = fo.max_mss
        if fo.tag is not None:
            if len(fo.tag.encode()) >= PF_TAG_NAME_SIZE:
                self.fail(f"tag too long, max {PF_TAG_NAME_SIZE - 1} chars")
            r.tagname = fo.tag
        if fo.match_tag is not None:
            if len(fo.match_tag.encode()) >= PF_TAG_NAME_SIZE:
                self.fail(f"tag too long, max {PF_TAG_NAME_SIZE - 1} chars")
            r.match_tagname = fo.match_tag
        r.match_tag_not = fo.match_tag_not
        self.rule_label(r, fo.label)
        if fo.marker & FOM_AFTO:
            r.rule_flag |= PFRULE_AFTO
            if r.direction != PF_IN:
                self.fail("af-to can only be used with direction in")
            if fo.rt:
                self.fail("af-to cannot be used together with route-to, reply-to, dup-to")
        if fo.marker & FOM_SCRUB_TCP:
            r.scrub_flags |= PFSTATE_SCRUB_TCP
        if fo.marker & FOM_SETDELAY:
            r.delay = fo.delay
            r.rule_flag |= PFRULE_SETDELAY
        if fo.marker & FOM_SETTOS:
            r.scrub_flags |= PFSTATE_SETTOS
            r.set_tos = fo.settos
        if fo.marker & FOM_PRIO:
            r.prio = fo.prio if fo.prio else PF_PRIO_ZERO
        if fo.marker & FOM_SETPRIO:
            r.set_prio = fo.set_prio
            r.scrub_flags |= PFSTATE_SETPRIO
        r.flags, r.flagset = fo.flags
        if fo.flags[0] & fo.flags[1] != fo.flags[0]:
            self.fail("flags always false")
        if fo.qname is not None:
            if len(fo.qname.encode()) >= PF_QNAME_SIZE:
                self.fail(f"rule qname too long (max {PF_QNAME_SIZE - 1} chars)")
            r.qname = fo.qname
        if fo.pqname is not None:
            if len(fo.pqname.encode()) >= PF_QNAME_SIZE:
                self.fail(f"rule pqname too long (max {PF_QNAME_SIZE - 1} chars)")
            r.pqname = fo.pqname
        if fo.fragment:
            r.rule_flag |= PFRULE_FRAGMENT
        r.allow_opts = fo.allowopts

    def rule_label(self, r: RuleDef, label: str | None) -> None:
        if label is not None:
            if len(label.encode()) >= PF_RULE_LABEL_SIZE:
                self.fail(f"rule label too long (max {PF_RULE_LABEL_SIZE - 1} chars)")
            r.label = label

    def expand_divertspec(self, r: RuleDef, fo: FilterOpts) -> None:
        if fo.divert_type == PF_DIVERT_TO:
            if r.direction == PF_OUT:
                self.fail("divert-to used with outgoing rule")
            hosts = fo.divert_addr or []
            if r.af:
                match = next((n for n in hosts if n.af == r.af), None)
                if match is None:
                    self.fail("divert-to address family mismatch")
                r.divert = Divert(PF_DIVERT_TO, match.addr.addr, fo.divert_port)  # type: ignore[union-attr]
            else:
                r.af = hosts[0].af
                r.divert = Divert(PF_DIVERT_TO, hosts[0].addr.addr, fo.divert_port)
        elif fo.divert_type == PF_DIVERT_REPLY:
            if r.direction == PF_IN:
                self.fail("divert-reply used with incoming rule")
            r.divert = Divert(PF_DIVERT_REPLY)
        elif fo.divert_type == PF_DIVERT_PACKET:
            r.divert = Divert(PF_DIVERT_PACKET, ZERO, fo.divert_port)

    # -- expansion ------------------------------------------------------------------------
    def expand_rule(self, r: RuleDef, keeprule: bool, interfaces: list[NodeIf] | None,
                    nat: RedirSpec | None, rdr: RedirSpec | None, rroute: RedirSpec | None,
                    protos: list[int] | None, src_hosts: list[NodeHost] | None,
                    src_ports: list[NodePort] | None, dst_hosts: list[NodeHost] | None,
                    dst_ports: list[NodePort] | None, uids: list[tuple[int, int, int]] | None,
                    gids: list[tuple[int, int, int]] | None, rcv: NodeIf | None,
                    icmp_types: list[NodeIcmp] | None) -> None:
        """Add one rule per combination of the lists (pfctl's expand_rule())."""
        af = r.af
        added = 0
        error = 0
        label, tagname, match_tagname = r.label, r.tagname, r.match_tagname
        flags, flagset, keep_state = r.flags, r.flagset, r.keep_state
        direction = r.direction
        r.src.addr.type = r.dst.addr.type = PF_ADDR_ADDRMASK

        ifs = interfaces or [NodeIf()]
        prs = protos or [0]
        ics = icmp_types or [NodeIcmp()]
        shs = src_hosts or [NodeHost()]
        dhs = dst_hosts or [NodeHost()]
        sps = src_ports or [NodePort()]
        dps = dst_ports or [NodePort()]
        us = uids or [(0, 0, 0)]
        gs = gids or [(0, 0, 0)]
        limit = self.state.max_rules
        if limit is not None:
            # checked before expanding: the combinations are the work (and the memory) to bound
            combinations = math.prod(len(x) for x in (ifs, prs, ics, shs, dhs, sps, dps, us, gs))
            if self.state.rules_expanded + combinations > limit:
                self.fail(f"this rule expands to {combinations} combinations of its lists, which would take the "
                          f"ruleset past the limit of {limit} rules; use tables instead of long lists")
            self.state.rules_expanded += combinations

        for ii, interface in enumerate(ifs):
            for pi, proto in enumerate(prs):
                for ci, icmp_type in enumerate(ics):
                    for si, src_host in enumerate(shs):
                        for di, dst_host in enumerate(dhs):
                            for spi, src_port in enumerate(sps):
                                for dpi, dst_port in enumerate(dps):
                                    for ui, uid in enumerate(us):
                                        for gi, gid in enumerate(gs):
                                            result = self._expand_one(
                                                r, af, direction, interface, proto, icmp_type, src_host,
                                                dst_host, src_port, dst_port, uid, gid, rcv, nat, rdr, rroute,
                                                label, tagname, match_tagname, flags, flagset, keep_state,
                                                error)
                                            if result is None:
                                                continue
                                            ok, err = result
                                            added += ok
                                            error += err
                                            if not error and nat is not None and nat.rdr is not None and nat.binat:
                                                self._binat_inbound(
                                                    r, nat, ifs[ii:], prs[pi:], ics[ci:], shs[si:], dhs[di:],
                                                    sps[spi:], dps[dpi:], us[ui:], gs[gi:], src_host, dst_host,
                                                    rcv)
        if not added:
            self.yyerror("rule expands to no valid combination")

    def _expand_one(self, r: RuleDef, af: int, direction: int, interface: NodeIf, proto: int,
                    icmp_type: NodeIcmp, src_host: NodeHost, dst_host: NodeHost, src_port: NodePort,
                    dst_port: NodePort, uid: tuple[int, int, int], gid: tuple[int, int, int],
                    rcv: NodeIf | None, nat: RedirSpec | None, rdr: RedirSpec | None,
                    rroute: RedirSpec | None, label: str, tagname: str, match_tagname: str,
                    flags: int, flagset: int, keep_state: int, prior_errors: int) -> tuple[int, int] | None:
        error = 0
        r.af = af
        error += self.collapse_redirspec(r, "rdr", rdr, False)
        error += self.collapse_redirspec(r, "nat", nat, False)
        error += self.collapse_redirspec(r, "route", rroute, True)
        if ((src_host.addr.type == PF_ADDR_ADDRMASK and src_host.ifname)
                or (dst_host.addr.type == PF_ADDR_ADDRMASK and dst_host.ifname)):
            self.yyerror("@if syntax not permitted in from or to")
            error += 1
        if ((r.af and src_host.af and r.af != src_host.af)
                or (r.af and dst_host.af and r.af != dst_host.af)
                or (src_host.af and dst_host.af and src_host.af != dst_host.af)
                or (src_host.ifindex and dst_host.ifindex and src_host.ifindex != dst_host.ifindex)
                or (src_host.ifindex and interface.ifname and src_host.ifindex != self._nametoindex(interface.ifname))
                or (dst_host.ifindex and interface.ifname and dst_host.ifindex != self._nametoindex(interface.ifname))):
            return None
        if not r.af and src_host.af:
            r.af = src_host.af
        elif not r.af and dst_host.af:
            r.af = dst_host.af
        if interface.ifname:
            r.ifname = interface.ifname
        elif self._indextoname(src_host.ifindex):
            r.ifname = self._indextoname(src_host.ifindex)  # type: ignore[assignment]
        elif self._indextoname(dst_host.ifindex):
            r.ifname = self._indextoname(dst_host.ifindex)  # type: ignore[assignment]
        else:
            r.ifname = ""
        r.onrdomain = interface.rdomain if interface.use_rdomain else -1
        r.label = self.expand_label(label, PF_RULE_LABEL_SIZE, r.ifname, r.af, src_host, src_port, dst_host,
                                    dst_port, proto)
        r.tagname = self.expand_label(tagname, PF_TAG_NAME_SIZE, r.ifname, r.af, src_host, src_port, dst_host,
                                      dst_port, proto)
        r.match_tagname = self.expand_label(match_tagname, PF_TAG_NAME_SIZE, r.ifname, r.af, src_host,
                                            src_port, dst_host, dst_port, proto)
        sh = _gen_dynnode(src_host, r.af)
        dh = _gen_dynnode(dst_host, r.af)
        error += self.check_netmask(sh, r.af)
        error += self.check_netmask(dh, r.af)
        r.ifnot = interface.neg
        r.proto = proto
        r.src = RuleAddr(addr=copy.copy(sh.addr), port=src_port.port, neg=sh.neg, port_op=src_port.op)
        r.dst = RuleAddr(addr=copy.copy(dh.addr), port=dst_port.port, neg=dh.neg, port_op=dst_port.op)
        r.uid = uid
        r.gid = gid
        if rcv is not None:
            r.rcv_ifname = rcv.ifname
            r.rcvifnot = rcv.neg
        r.type = icmp_type.type
        r.code = icmp_type.code
        if keep_state in (PF_STATE_MODULATE, PF_STATE_SYNPROXY) and r.proto and r.proto != IPPROTO_TCP:
            r.keep_state = PF_STATE_NORMAL
        else:
            r.keep_state = keep_state
        if r.proto and r.proto != IPPROTO_TCP:
            r.flags = r.flagset = 0
        else:
            r.flags, r.flagset = flags, flagset
        if icmp_type.proto and r.proto != icmp_type.proto:
            self.yyerror("icmp-type mismatch")
            error += 1
        r.os_fingerprint = 0
        if nat is not None and nat.rdr is not None and nat.binat:
            error += self._binat_checks(r, af, src_host)
            r.direction = PF_OUT
        error += self.apply_redirspec(r, "nat", nat, 0, dst_port)
        error += self.apply_redirspec(r, "rdr", rdr, 1, dst_port)
        error += self.apply_redirspec(r, "route", rroute, 2, dst_port)
        added = 0
        if self.rule_consistent(r) < 0 or error or prior_errors:
            self.yyerror("skipping rule due to errors")
        else:
            rule = r.clone()
            rule.nr = self.anchor.match
            self.anchor.match += 1
            self.anchor.rules.append(rule)
            added = 1
        r.direction = direction
        return added, error

    def _binat_checks(self, r: RuleDef, af: int, src_host: NodeHost) -> int:
        error = 0
        if src_host.addr.type == PF_ADDR_TABLE:
            self.yyerror(f"invalid use of table <{src_host.addr.tblname}> as the source address of a binat-to rule")
            error += 1
        elif _dynif_multiaddr(src_host.addr):
            self.yyerror(f"invalid use of interface ({src_host.addr.ifname}) as the source address of a "
                         "binat-to rule")
            error += 1
        elif (r.src.addr.type not in (PF_ADDR_ADDRMASK, PF_ADDR_DYNIFTL)
              or r.nat.addr.type not in (PF_ADDR_ADDRMASK, PF_ADDR_DYNIFTL)):
            self.yyerror("binat-to requires a specified source and redirect address")
            error += 1
        if _dynif_multiaddr(r.src.addr) or _dynif_multiaddr(r.nat.addr):
            self.yyerror("dynamic interfaces must be used with :0 in a binat-to rule")
            error += 1
        if is_zero(r.src.addr.union_mask(), af) or is_zero(r.nat.addr.union_mask(), af):
            self.yyerror("source and redir addresess must have a matching network mask in binat-rule")
            error += 1
        if r.nat.addr.type == PF_ADDR_TABLE:
            self.yyerror("tables cannot be used as the redirect address of a binat-to rule")
            error += 1
        if r.direction != PF_INOUT:
            self.yyerror("binat-to cannot be specified with a direction")
            error += 1
        return error

    def _binat_inbound(self, r: RuleDef, nat: RedirSpec, ifs: list[NodeIf], prs: list[int],
                       ics: list[NodeIcmp], shs: list[NodeHost], dhs: list[NodeHost],
                       sps: list[NodePort], dps: list[NodePort], us: list, gs: list,
                       src_host: NodeHost, dst_host: NodeHost, rcv: NodeIf | None) -> None:
        """The inbound half of binat-to: swap source and destination, redirect to the source."""
        rb = r.clone()
        rb.direction = PF_IN
        srch = copy.deepcopy(src_host)
        srch.ifname = None
        dsth = NodeHost(addr=copy.copy(rb.nat.addr))
        assert nat.rdr is not None
        binat = RedirSpec(rdr=Redirection([srch], nat.rdr.rport), pool_opts=copy.copy(nat.pool_opts))
        binat.pool_opts.staticport = False
        # pfctl passes the remainder of each list from the current element on
        dst_list = [dst_host] if dst_host.addr.type == PF_ADDR_DYNIFTL else dhs
        self.expand_rule(rb, True, ifs, None, binat, None, prs, dst_list, dps, [dsth], sps, us, gs, rcv, ics)

    def _nametoindex(self, name: str) -> int:
        itf = self.host.interface(name)
        return itf.index if itf else 0

    def _indextoname(self, index: int) -> str | None:
        if not index:
            return None
        itf = self.host.interface_by_index(index)
        return itf.name if itf else None

    def check_netmask(self, h: NodeHost, af: int) -> int:
        if h.addr.type == PF_ADDR_TABLE:
            return 0
        mask = h.addr.union_mask()
        if af == AF_INET and any(mask[4:]):
            self.warn(f"netmask {unmask(mask)} invalid for IPv4 address")
            return 1
        return 0

    def expand_label(self, label: str, size: int, ifname: str, af: int, src_host: NodeHost,
                     src_port: NodePort, dst_host: NodeHost, dst_port: NodePort, proto: int) -> str:
        if "$" not in label:
            return label
        if "$if" in label:
            label = label.replace("$if", ifname or "any")
        for name, h in (("$srcaddr", src_host), ("$dstaddr", dst_host)):
            if name in label:
                label = label.replace(name, ("! " if h.neg else "") + _label_addr(h, af))
        for name, p in (("$srcport", src_port), ("$dstport", dst_port)):
            if name in label:
                label = label.replace(name, _label_port(p))
        if "$proto" in label:
            label = label.replace("$proto", self.host.protocol_name(proto) or str(proto))
        if len(label.encode()) >= size:
            raise _Fatal("expand_label: label too long")
        return label

    def collapse_redirspec(self, r: RuleDef, which: str, rs: RedirSpec | None, routing: bool) -> int:
        """Turn a translation or routing target into the rule's pool, with an automatic
        table when it lists several addresses."""
        pool: Pool = getattr(r, which)
        if rs is None or rs.rdr is None or not rs.rdr.hosts:
            pool.addr = AddrWrap(type=PF_ADDR_NONE)
            return 0
        if r.rule_flag & PFRULE_AFTO:
            r.naf = rs.af
        kind = "routing" if routing else "translation"
        af = 0
        naddr = 0
        hprev: NodeHost | None = None
        table: list[NodeHost] | None = None
        for h in rs.rdr.hosts:
            if routing and h.addr.type == PF_ADDR_DYNIFTL and h.addr.iflags != PFI_AFLAG_PEER:
                self.yyerror("route spec requires :peer with dynamic interface addresses")
                return 1
            if rs.af and not r.af and not af:
                af = AF_INET if r.naf == AF_INET6 else AF_INET6 if r.naf == AF_INET else rs.af
            if h.af and not r.naf:
                if r.af and r.af != h.af:
                    continue
                if not r.af and af and af != h.af:
                    self.yyerror(f"{kind} spec contains addresses with different address families")
                    return 1
            elif h.af:
                if rs.af and rs.af != h.af:
                    self.yyerror(f"{kind} spec contains addresses that don't match target address family")
                    return 1
            if not r.af and not af:
                af = h.af
            if naddr == 0:
                pool.addr = copy.copy(h.addr)
                if h.ifname:
                    self.yyerror(f"@if not permitted for {kind}")
                    return 1
                hprev = h
            else:
                if rs.pool_opts.type and rs.pool_opts.type not in (PF_POOL_RANDOM, PF_POOL_ROUNDROBIN,
                                                                    PF_POOL_LEASTSTATES, PF_POOL_SRCHASH):
                    self.yyerror("pool type is not valid for multiple translation or routing addresses")
                    return 1
                if (hprev is not None and hprev.addr.type not in (PF_ADDR_ADDRMASK, PF_ADDR_NONE)
                        and h.addr.type not in (PF_ADDR_ADDRMASK, PF_ADDR_NONE)):
                    self.yyerror("multiple tables or dynamic interfaces not supported for translation or routing")
                    return 1
                if h.ifname:
                    self.yyerror(f"@if not permitted for {kind}")
                    return 1
                if table is None:
                    table = []
                if hprev is not None:
                    table.append(hprev)
                    hprev = None
                table.append(h)
            naddr += 1
        if not r.af and af:
            r.af = af
        if not naddr:
            self.yyerror(f"af mismatch in {kind} spec")
            return 1
        if table is not None:
            name = self.state.temporary_table_name()
            name = self.state.kernel_table_name() if self.state.kernel_table_names else name
            addrs = [_table_address(h) for h in table]
            self._count_table_addresses(len(addrs), f"the {kind} address pool")
            tdef = TableDef(name=name, flags=PFR_TFLAG_CONST, init_addr=True, init=[("hosts", addrs)],
                            addresses=addrs, anchor=self._anchor_path(), line=self.lex.lineno)
            tdef_anchor = self.anchor
            self.state.tables.append(tdef)
            self.state.table_owner[id(tdef)] = tdef_anchor
            self.state.out(format_tabledef(name, PFR_TFLAG_CONST, True, tdef.init))
            pool.addr = AddrWrap(type=PF_ADDR_TABLE, tblname=name)
        return 0

    def apply_redirspec(self, r: RuleDef, which: str, rs: RedirSpec | None, isrdr: int, np: NodePort) -> int:
        if rs is None or rs.rdr is None:
            return 0
        pool: Pool = getattr(r, which)
        a, b, t = rs.rdr.rport
        p0 = a
        if isrdr:
            if not b and t:
                p1 = (a + (np.port[1] - np.port[0])) & 0xFFFF
            else:
                if _invalid_range(t, a, b):
                    self.yyerror("invalid rdr-to port range")
                    return 1
                pool.port_op = t
                p1 = b
        else:
            p1 = b
            if not p0 and not p1:
                p0, p1 = PF_NAT_PROXY_PORT_LOW, PF_NAT_PROXY_PORT_HIGH
            elif not p1:
                p1 = p0
        pool.proxy_port = (p0, p1)
        pool.opts = rs.pool_opts.type
        if (pool.opts & PF_POOL_TYPEMASK) == PF_POOL_NONE and (
                pool.addr.type == PF_ADDR_TABLE or _dynif_multiaddr(pool.addr)):
            pool.opts |= PF_POOL_ROUNDROBIN
        if pool.opts & PF_POOL_TYPEMASK not in (PF_POOL_ROUNDROBIN, PF_POOL_LEASTSTATES, PF_POOL_RANDOM,
                                                PF_POOL_SRCHASH):
            for h in rs.rdr.hosts:
                if h.addr.type == PF_ADDR_TABLE:
                    self.yyerror("tables are not supported by pool type")
                    return 1
            for h in rs.rdr.hosts:
                if _dynif_multiaddr(h.addr):
                    self.yyerror(f"interface ({h.addr.ifname}) is not supported by pool type")
                    return 1
        if rs.pool_opts.key is not None:
            pool.key = rs.pool_opts.key
        if rs.pool_opts.opts:
            pool.opts |= rs.pool_opts.opts
        if rs.pool_opts.staticport:
            if isrdr:
                self.yyerror("the 'static-port' option is only valid with nat rules")
                return 1
            if pool.proxy_port[0] != PF_NAT_PROXY_PORT_LOW and pool.proxy_port[1] != PF_NAT_PROXY_PORT_HIGH:
                self.yyerror("the 'static-port' option can't be used when specifying a port range")
                return 1
            pool.proxy_port = (0, 0)
        return 0

    def rule_consistent(self, r: RuleDef) -> int:
        problems = 0

        def problem(message: str) -> None:
            nonlocal problems
            self.yyerror(message)
            problems += 1

        tcpudp = r.proto in (IPPROTO_TCP, IPPROTO_UDP)
        if r.proto != IPPROTO_TCP and r.os_fingerprint != 0:
            problem("os only applies to tcp")
        if not tcpudp and (r.src.port_op or r.dst.port_op):
            problem("port only applies to tcp/udp")
        if not tcpudp and r.uid[0]:
            problem("user only applies to tcp/udp")
        if not tcpudp and r.gid[0]:
            problem("group only applies to tcp/udp")
        if r.proto not in (IPPROTO_ICMP, IPPROTO_ICMPV6) and (r.type or r.code):
            problem("icmp-type/code only applies to icmp")
        if not r.af and (r.type or r.code):
            problem("must indicate address family with icmp-type/code")
        if r.rule_flag & PFRULE_AFTO and r.af == r.naf:
            problem("must indicate different address family with af-to")
        if r.overload_tblname and r.max_src_conn == 0 and r.max_src_conn_rate[1] == 0:
            problem("'overload' requires 'max-src-conn' or 'max-src-conn-rate'")
        if (r.proto == IPPROTO_ICMP and r.af == AF_INET6) or (r.proto == IPPROTO_ICMPV6 and r.af == AF_INET):
            problem(f"proto {'icmp' if r.proto == IPPROTO_ICMP else 'icmp6'} doesn't match address family "
                    f"{_af_name(r.af)}")
        if r.allow_opts and r.action != PF_PASS:
            problem("allow-opts can only be specified for pass rules")
        if r.rule_flag & PFRULE_FRAGMENT and (r.src.port_op or r.dst.port_op or r.flagset or r.type or r.code):
            problem("fragments can be filtered only on IP header fields")
        if r.rule_flag & PFRULE_RETURNRST and r.proto != IPPROTO_TCP:
            problem("return-rst can only be applied to TCP rules")
        if r.max_src_nodes and not r.rule_flag & PFRULE_RULESRCTRACK:
            problem("max-src-nodes requires 'source-track rule'")
        if r.action != PF_PASS and r.keep_state:
            problem("keep state is great, but only for pass rules")
        if r.rt and not r.keep_state:
            problem("route-to, reply-to and dup-to require keep state")
        if r.rule_flag & PFRULE_STATESLOPPY and r.keep_state in (PF_STATE_MODULATE, PF_STATE_SYNPROXY):
            problem("sloppy state matching cannot be used with synproxy state or modulate state")
        if r.keep_state == PF_STATE_SYNPROXY and r.direction != PF_IN:
            self.state.diagnostics.append(Diagnostic(
                text=f"{self.lex.file.name}:{self.lex.lineno}: warning: synproxy used for inbound rules only, "
                     "ignored for outbound",
                message="warning: synproxy used for inbound rules only, ignored for outbound",
                file=self.lex.file.name, line=self.lex.lineno, is_error=False))
        if ((r.nat.addr.type != PF_ADDR_NONE or r.rdr.addr.type != PF_ADDR_NONE)
                and r.action != PF_MATCH and not r.keep_state):
            problem("nat-to and rdr-to require keep state")
        if r.direction == PF_INOUT and (r.nat.addr.type != PF_ADDR_NONE or r.rdr.addr.type != PF_ADDR_NONE):
            problem("nat-to and rdr-to require a direction")
        if r.af == AF_INET6 and r.scrub_flags & (PFSTATE_NODF | PFSTATE_RANDOMID):
            problem("address family inet6 does not support scrub options no-df, random-id")
        if r.action == PF_MATCH:
            if r.divert.type != PF_DIVERT_NONE:
                problem("divert is not supported on match rules")
            if r.rt:
                problem("route-to, reply-to and dup-to are not supported on match rules")
            if r.rule_flag & PFRULE_AFTO:
                problem("af-to is not supported on match rules")
        elif r.action == PF_DROP and r.rt:
            problem("route-to, reply-to and dup-to are not supported on block rules")
        return -problems

    # -- anchors ----------------------------------------------------------------------
    def _anchor_path(self) -> str:
        return self.anchor.path

    def anchorname(self) -> str | None:
        if not self.at(lx.STRING):
            return None
        name = str(self.advance().value)
        if not name:
            self.fail("anchor name must not be empty")
        if len(self.anchor.path) + 1 + len(name) >= PATH_MAX:
            self.fail(f"anchor name is longer than {PATH_MAX - 1}")
        if name.startswith("_") or "/_" in name:
            self.fail("anchor names beginning with '_' are reserved for internal use")
        return name

    def anchorrule(self) -> None:
        line = self.peek().line
        self.advance()
        name = self.anchorname()
        direction = self.dir()
        quick = self.accept_kw("quick")
        interfaces = self.interface()
        af = self.af()
        protos = self.proto()
        src, sport, dst, dport = self.fromto()
        fo = self.filter_opts()
        block: Anchor | None = None
        if self.at_punct("{"):
            block = self.brace_block()
        else:
            self.require_nl()

        r = _zeroed_rule(line=line)
        if block is not None:
            if name and "/" in name:
                self.fail("anchor paths containing '/' cannot be used for inline anchors.")
            child_name = name or block.name
            target = self._child_anchor(self.anchor, child_name)
            if target is not block:
                if target.match:
                    self.fail(f"inline anchor '{target.name}' already exists")
                target.rules += block.rules
                target.match += len(block.rules)
                block.rules = []
                block.match = 0
                for tdef in self.state.tables:
                    if self.state.table_owner.get(id(tdef)) is block:
                        self.state.table_owner[id(tdef)] = target
            target.inline = True
            r.anchor = target
        else:
            if not name:
                self.fail("anchors without explicit rules must specify a name")
            assert name is not None
            last = name.rsplit("/", 1)[-1]
            if "/" in name and not last:
                self.fail(f"anchorrule: bad anchor name {name}")
            r.anchor = Anchor(name=last, path=name)
        r.direction = direction
        r.quick = quick
        r.af = af
        if (fo.flags[0] or fo.flags[1]) and protos is not None and IPPROTO_TCP not in protos:
            self.fail("flags only apply to tcp")
        self.filteropts_to_rule(r, fo)
        if fo.keep_action:
            self.fail("cannot specify state handling on anchors")
        if fo.rt:
            self.fail("cannot specify route handling on anchors")
        r.af = _decide_af(src, r.af)
        r.af = _decide_af(dst, r.af)
        self.expand_rule(r, False, interfaces, None, None, None, protos, src, sport, dst, dport, fo.uid, fo.gid,
                         fo.rcv, fo.icmpspec)

    def _child_anchor(self, parent: Anchor, name: str) -> Anchor:
        path = f"{parent.path}/{name}" if parent.path else name
        found = self.inline_anchors.get(path)
        if found is None:
            found = Anchor(name=name, path=path)
            self.inline_anchors[path] = found
        return found

    def brace_block(self) -> Anchor:
        """``{ ... }`` after an anchor rule: parse its rules into a holding ruleset."""
        self.advance()
        self.brace_counter += 1
        holding = self._child_anchor(self.main, f"_{self.brace_counter}")
        if not self.at(lx.NEWLINE):
            raise _SyntaxError
        self.advance()
        outer = self.anchor
        self.astack.append(holding)
        self.anchor = holding
        try:
            while not self.at_punct("}"):
                if self.at(lx.EOF):
                    raise _SyntaxError
                self.statement(top=False)
            self.advance()
        finally:
            self.astack.pop()
            self.anchor = outer
        return holding

    def loadrule(self) -> None:
        self.advance()
        self.expect_kw("anchor")
        name = self.anchorname()
        self.expect_kw("from")
        filename = self.string()
        self.require_nl()
        if name is None:
            self.fail("anchor name is missing")
        full = f"{self.anchor.path}/{name}" if self.anchor.name else str(name)
        self.state.load_anchors.append((full, filename, self.lex.lineno))

    # -- tables -----------------------------------------------------------------------
    def tabledef(self) -> None:
        line = self.peek().line
        self.advance()
        self.expect_punct("<")
        name = str(self.expect(lx.STRING).value)
        self.expect_punct(">")
        flags = 0
        init_addr = False
        init: list[tuple[str, object]] = []
        while True:
            t = self.peek()
            if t.kind == lx.STRING:
                self.advance()
                opt = str(t.value)
                bit = {"const": PFR_TFLAG_CONST, "persist": PFR_TFLAG_PERSIST,
                       "counters": PFR_TFLAG_COUNTERS}.get(opt)
                if bit is None:
                    self.fail(f"invalid table option '{opt}'")
                flags |= bit  # type: ignore[operator]
            elif self.accept_punct("{"):
                self.optnl()
                if self.accept_punct("}"):
                    init_addr = True
                    continue
                hosts = self.table_host_list()
                self.advance()
                for n in hosts:
                    problem = {
                        PF_ADDR_ADDRMASK: None,
                        PF_ADDR_RANGE: "address ranges are not permitted inside tables",
                        PF_ADDR_DYNIFTL: "dynamic addresses are not permitted inside tables",
                        PF_ADDR_TABLE: "tables cannot contain tables",
                        PF_ADDR_NOROUTE: '"no-route" is not permitted inside tables',
                        PF_ADDR_URPFFAILED: '"urpf-failed" is not permitted inside tables',
                    }.get(n.addr.type, f"unknown address type {n.addr.type}")
                    if problem:
                        self.fail(problem)
                init.append(("hosts", hosts))
                init_addr = True
            elif self.accept_kw("file"):
                init.append(("file", str(self.expect(lx.STRING).value)))
                init_addr = True
            else:
                break
        self.require_nl()
        if len(name.encode()) >= PF_TABLE_NAME_SIZE:
            self.fail(f"table name too long, max {PF_TABLE_NAME_SIZE - 1} chars")
        self.process_tabledef(name, flags, init_addr, init, line)

    def table_host_list(self) -> list[NodeHost]:
        hosts = self.tablespec()
        self.optnl()
        while not self.at_punct("}"):
            self.comma()
            hosts += self.tablespec()
            self.optnl()
        return hosts

    def tablespec(self) -> list[NodeHost]:
        if self.accept_punct("{"):
            self.optnl()
            hosts = self.table_host_list()
            self.advance()
            return hosts
        hosts = self.xhost()
        weight = self.optweight()
        if weight > 0:
            for n in hosts:
                n.weight = weight
        return hosts

    def process_tabledef(self, name: str, flags: int, init_addr: bool, init: list[tuple[str, object]],
                         line: int) -> None:
        addresses: list[TableAddress] = []
        printable: list[tuple[str, object]] = []
        for kind, value in init:
            if kind == "file":
                loaded = self.load_table_file(str(value))
                addresses += loaded
                printable.append(("file", value))
            else:
                hosts = value  # type: ignore[assignment]
                converted = []
                for n in hosts:  # type: ignore[attr-defined]
                    bits = 32 if n.af == AF_INET else 128
                    if n.af not in (AF_INET, AF_INET6) or unmask(n.addr.mask) > bits:
                        self.fail("cannot create address buffer: Invalid argument")
                    converted.append(_table_address(n))
                addresses += converted
                printable.append(("hosts", converted))
        self._count_table_addresses(len(addresses), f"table <{name}>")
        self.state.out(format_tabledef(name, flags, init_addr, printable))
        tdef = TableDef(name=name, flags=flags, init_addr=init_addr, init=printable, addresses=addresses,
                        anchor=self._anchor_path(), line=line)
        self.state.tables.append(tdef)
        self.state.table_owner[id(tdef)] = self.anchor

    def _count_table_addresses(self, n: int, what: str) -> None:
        limit = self.state.max_table_addresses
        self.state.table_addresses += n
        if limit is not None and self.state.table_addresses > limit:
            self.fail(f"{what} has {n} addresses, which takes the tables past the limit of {limit} addresses "
                      "per ruleset; fill large tables through the table address endpoints or pfctl -T")

    def load_table_file(self, path: str) -> list[TableAddress]:
        try:
            text = self.state.read_file(path)
        except OSError as e:
            self.fail(f'cannot load "{path}": {e.strerror}')
            raise AssertionError from None
        out: list[TableAddress] = []
        words = _table_file_words(text)
        i = 0
        while i < len(words):
            word = words[i]
            if word == "weight" and i + 1 < len(words):
                value = _strtonum(words[i + 1], 1, 0xFFFF)
                if isinstance(value, str):
                    self.warn(f"failed to convert weight {words[i + 1]}")
                    self.fail(f'file "{path}" contains bad data')
                if out:
                    out[-1].weight = value  # type: ignore[assignment]
                i += 2
                continue
            neg = False
            while word.startswith("!"):
                neg = not neg
                word = word[1:]
            hosts = self.host_lookup(word)
            if hosts is None:
                self.fail(f'file "{path}" contains bad data')
            for n in hosts:  # type: ignore[union-attr]
                a = _table_address(n)
                a.neg = a.neg != neg
                out.append(a)
            i += 1
        return out

    # -- queues -------------------------------------------------------------------------
    def queuespec(self) -> None:
        self.advance()
        qname = str(self.expect(lx.STRING).value)
        interfaces = self.interface()
        qo = self.queue_opts()
        self.require_nl()
        if interfaces is None and qo.parent is None:
            self.fail("root queue without interface")
        if interfaces is not None:
            for itf in interfaces[:1]:
                if self.host.interface(itf.ifname) is None:
                    self.fail("not an interface")
        self.expand_queue(qname, interfaces, qo)

    def queue_opts(self) -> QueueOpts:
        qo = QueueOpts()
        first = True
        while True:
            t = self.peek()
            word = t.value if t.kind == lx.KEYWORD else None
            if word == "bandwidth":
                self.advance()
                linkshare = self.scspec()
                realtime = upperlimit = ((0, 0), 0, (0, 0))
                for _ in range(2):
                    if self.at_punct(","):
                        self.advance()
                    if self.accept_kw("min"):
                        realtime = self.scspec()
                    elif self.accept_kw("max"):
                        upperlimit = self.scspec()
                    else:
                        break
                self._once(qo, QOM_BWSPEC, "bandwidth cannot be respecified")
                qo.linkshare, qo.realtime, qo.upperlimit = linkshare, realtime, upperlimit
            elif word == "parent":
                self.advance()
                parent = str(self.expect(lx.STRING).value)
                self._once(qo, QOM_PARENT, "parent cannot be respecified")
                qo.parent = parent
            elif word == "default":
                self.advance()
                self._once(qo, QOM_DEFAULT, "default cannot be respecified")
                qo.flags |= PFQS_DEFAULT
            elif word == "qlimit":
                qo.qlimit = self._queue_number(qo, QOM_QLIMIT, "qlimit", 0, 65535)
            elif word == "flows":
                qo.flows = self._queue_number(qo, QOM_FLOWS, "number of flows", 1, 32767)
                qo.flags |= PFQS_FLOWQUEUE
            elif word == "quantum":
                qo.quantum = self._queue_number(qo, QOM_QUANTUM, "quantum", 1, 65535)
            else:
                if first:
                    raise _SyntaxError
                return qo
            first = False

    def _queue_number(self, qo: QueueOpts, bit: int, what: str, low: int, high: int) -> int:
        """Parse `<keyword> number` for a queue option that may be given once and lies in [low, high]."""
        self.advance()
        value = self.number()
        self._once(qo, bit, f"{what} cannot be respecified")
        return self._in_range(value, low, high, f"{what} out of range: max {high}")

    def scspec(self) -> tuple[tuple[int, int], int, tuple[int, int]]:
        m2 = self.bandwidth()
        if self.accept_kw("burst"):
            m1 = self.bandwidth()
            self.expect_kw("for")
            text = str(self.expect(lx.STRING).value)
            digits = len(text) - len(text.lstrip("0123456789"))
            if text[digits:] != "ms":
                self.fail("time in scspec must be in ms")
            d = int(text[:digits] or "0")
            if m1[1] or m2[1]:
                self.fail("no bandwidth in % yet")
            return m1, d, m2
        if m2[1]:
            self.fail("no bandwidth in % yet")
        return (0, 0), 0, m2

    def bandwidth(self) -> tuple[int, int]:
        t = self.peek()
        if t.kind == lx.NUMBER:
            self.advance()
            value = int(t.value)  # type: ignore[arg-type]
            if value < 0 or value > LLONG_MAX:
                self.fail("bandwidth number too big")
            return value, 0
        text = str(self.expect(lx.STRING).value)
        bps, unit = _strtod(text)
        percent = 0
        if len(unit) > 1 and unit[1:] in ("Bit", "B", "bit", "b"):
            unit = unit[0]
        if unit == "b":
            pass
        elif unit == "K":
            bps *= 1000
        elif unit == "M":
            bps *= 1000 * 1000
        elif unit == "G":
            bps *= 1000 * 1000 * 1000
        elif unit == "%":
            if bps < 0 or bps > 100:
                self.fail("bandwidth spec out of range")
            percent = int(bps)
            bps = 0
        else:
            self.fail(f'unknown unit "{unit}"')
        if bps < 0 or bps > float(LLONG_MAX):
            self.fail("bandwidth number too big")
        return int(bps), percent

    def expand_queue(self, qname: str, interfaces: list[NodeIf] | None, qo: QueueOpts) -> None:
        for itf in interfaces or [NodeIf()]:
            if qo.parent is None and qo.marker & QOM_BWSPEC:
                qo.flags |= PFQS_ROOTCLASS
            if not qo.marker & QOM_BWSPEC and not qo.marker & QOM_FLOWS:
                self.yyerror("no bandwidth or flow specification")
                return
            if len(qname.encode()) >= PF_QNAME_SIZE:
                self.yyerror("queuename too long")
                return
            if qo.parent and len(qo.parent.encode()) >= PF_QNAME_SIZE:
                self.yyerror("parent too long")
                return
            q = QueueSpec(qname=qname, parent=qo.parent or "", ifname=itf.ifname, linkshare=qo.linkshare,
                          realtime=qo.realtime, upperlimit=qo.upperlimit, flows=qo.flows, quantum=qo.quantum,
                          flags=qo.flags, qlimit=qo.qlimit)
            if self.add_queue(q):
                self.yyerror("cannot add queue")
                return

    def add_queue(self, q: QueueSpec) -> bool:
        if self.anchor.name or self.state.anchorname:
            self.state.out("must not have queue definitions in an anchor", always=True)
            return True
        if not q.parent:
            for existing in self.state.rootqs:
                if existing.ifname == q.ifname:
                    self.state.out(f"A root queue is already defined on {q.ifname}", always=True)
                    return True
            self.state.rootqs.append(q)
        else:
            self.state.qspecs.append(q)
        return False

    # -- antispoof ----------------------------------------------------------------------
    def antispoof(self) -> None:
        self.advance()
        log, logif, quick = self.logquick()
        self.expect_kw("for")
        items: list[NodeIf] = []
        if self.accept_punct("{"):
            self.optnl()
            items.append(self.antispoof_if())
            self.optnl()
            while not self.at_punct("}"):
                self.comma()
                items.append(self.antispoof_if())
                self.optnl()
            self.advance()
        else:
            items.append(self.antispoof_if())
        af = self.af()
        label = None
        rtableid = -1
        while True:
            if self.accept_kw("label"):
                text = str(self.expect(lx.STRING).value)
                if label is not None:
                    self.fail("label cannot be redefined")
                label = text
            elif self.accept_kw("rtable"):
                value = self.number()
                if value < 0 or value > RT_TABLEID_MAX:
                    self.fail("invalid rtable id")
                if not self.host.has_rtable(value):
                    self.fail(f"rtable {value} does not exist")
                rtableid = value
            else:
                break
        self.require_nl()
        for i in items:
            r = _zeroed_rule(action=PF_DROP, direction=PF_IN, log=log, logif=logif, quick=quick, af=af)
            self.rule_label(r, label)
            r.rtableid = rtableid
            if len(i.ifname.encode()) >= IFNAMSIZ:
                self.fail("interface name too long")
            j = NodeIf(ifname=i.ifname, neg=True)
            hh: list[NodeHost] | None
            if i.dynamic:
                dyn = NodeHost(addr=AddrWrap(type=PF_ADDR_DYNIFTL, ifname=i.ifname, mask=ONES))
                hh = [copy.deepcopy(dyn)]
                dyn.addr.iflags = PFI_AFLAG_NETWORK
                hosts = [dyn]
            else:
                hosts = self.ifa_lookup(j.ifname, PFI_AFLAG_NETWORK)
                hh = None
            if hosts:
                self.expand_rule(r, False, [j], None, None, None, None, hosts, None, None, None, None, None, None,
                                 None)
            if not i.ifa_flags & IFF_LOOPBACK:
                r = _zeroed_rule(action=PF_DROP, direction=PF_IN, log=log, logif=logif, quick=quick, af=af)
                self.rule_label(r, label)
                r.rtableid = rtableid
                hosts = hh if hh is not None else self.ifa_lookup(i.ifname, 0)
                if hosts:
                    self.expand_rule(r, False, None, None, None, None, None, hosts, None, None, None, None, None,
                                     None, None)

    def antispoof_if(self) -> NodeIf:
        if self.accept_punct("("):
            item = self.if_item()
            self.expect_punct(")")
            item.dynamic = True
            return item
        return self.if_item()



def _zeroed_rule(**fields: object) -> RuleDef:
    """A rule as pfctl's memset(&r, 0) leaves it: pools of address type 0 (addr/mask)."""
    r = RuleDef(**fields)  # type: ignore[arg-type]
    for pool in (r.nat, r.rdr, r.route):
        pool.addr = AddrWrap()
    return r


class _Fatal(Exception):
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


__all__ = ["Parser", "ParseState", "Options", "TIMEOUT_NAMES", "PF_TIMEOUTS", "PF_LIMITS", "Unsupported"]
