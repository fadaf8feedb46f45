"""The values the pf library returns: frozen, typed, with pfctl's names.

No ctypes object appears here.  Names and enumerations are spelled as pfctl prints
them (``pfctl -si -v``, ``-sm``, ``-st``, ``-sI -v``, ``-vsT``, ``-vsr``, ``-vsq``, ``-ss``);
counter mappings are keyed by pfctl's labels in the kernel's order; addresses are
:mod:`ipaddress` objects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FAMILIES = ("inet", "inet6")
DIRECTIONS = ("in", "out")
TABLE_ACTIONS = ("block", "match", "pass", "xpass")  # PFR_OP_* order (pfr_tstats counters)
ADDRESS_ACTIONS = ("block", "match", "pass")  # pfras_packets[dir][PFR_OP_BLOCK..PFR_OP_PASS]


@dataclass(frozen=True, slots=True)
class Status:
    """DIOCGETSTATUS: every field of ``struct pf_status``."""

    running: bool
    since: int  # seconds since boot when pf was last enabled or disabled (kernel getuptime())
    enabled_seconds: int  # how long pf has been enabled, as `pfctl -si` computes it (0 when stopped)
    states: int
    states_halfopen: int
    src_nodes: int
    fragments: int
    debug: int  # syslog level (LOG_*), `set debug`
    hostid: int  # host byte order, `set hostid`
    reass: int  # PF_REASS_* flags, `set reassemble`
    stateid: int
    syncookies_active: bool
    syncookies_mode: str  # "never" | "always" | "adaptive"
    syncookies_inflight: tuple[int, int]
    loginterface: str  # `set loginterface`, "" when unset
    checksum: str  # ruleset MD5, 32 hex digits
    counters: Mapping[str, int]  # PFRES_NAMES -> count (`pfctl -si` Counters)
    limit_counters: Mapping[str, int]  # LCNT_NAMES -> count (Limit Counters)
    state_operations: Mapping[str, int]  # searches/inserts/removals (fcounters)
    src_node_operations: Mapping[str, int]  # searches/inserts/removals (scounters)
    fragment_operations: Mapping[str, int]  # searches/inserts/removals (ncounters)
    loginterface_packets: Mapping[tuple[str, str, str], int]  # (family, direction, "pass"|"block")
    loginterface_bytes: Mapping[tuple[str, str], int]  # (family, direction)
    changed: int = 0  # Unix time pf was last enabled or disabled (from `since`, the kernel's uptime then)


@dataclass(frozen=True, slots=True)
class Interface:
    """DIOCIGETIFACES: one ``pfi_kif`` (an interface, an interface group, or ``all``)."""

    name: str
    is_group: bool
    skip: bool  # `set skip on`
    # (family, direction, action) -> count; family inet|inet6, direction in|out, action pass|block
    packets: Mapping[tuple[str, str, str], int]
    bytes: Mapping[tuple[str, str, str], int]
    cleared: int  # epoch seconds when counters were last cleared (pfik_tzero)
    states: int
    rules: int
    routes: int
    src_nodes: int


@dataclass(frozen=True, slots=True)
class Table:
    """DIOCRGETTSTATS: one active table (``pfr_tstats``), as ``pfctl -vsT`` shows it."""

    anchor: str
    name: str
    flags: frozenset[str]  # persist, const, counters, active, inactive, referenced, refdanchor
    addresses: int
    packets: Mapping[tuple[str, str], int]  # (direction, action)
    bytes: Mapping[tuple[str, str], int]
    matches: int
    nomatches: int
    cleared: int  # epoch seconds
    rule_references: int
    anchor_references: int


@dataclass(frozen=True, slots=True)
class TableAddress:
    """One address of a table (``pfr_addr``), with its counters when read with them (``pfr_astats``)."""

    network: IPNetwork
    negated: bool = False
    interface: str = ""  # route-to tables: the interface of the entry
    packets: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (direction, block|match|pass)
    bytes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    cleared: int = 0  # epoch seconds when its counters were last cleared
    weight: int = 0  # the entry's weight (`weight N` in a table definition; 0 for plain entries)

    @property
    def address(self) -> IPAddress:
        """The network's address (the host for a /32 or /128)."""
        return self.network.network_address

    @property
    def prefix(self) -> int:
        """The prefix length."""
        return self.network.prefixlen

    @property
    def family(self) -> str:
        """"inet" or "inet6"."""
        return "inet" if self.network.version == 4 else "inet6"

    def __str__(self) -> str:
        """As pfctl -T show prints it: the address, ``/prefix`` unless a host, ``!`` when negated."""
        s = ("!" if self.negated else "") + str(self.address)
        return s if self.prefix == self.network.max_prefixlen else f"{s}/{self.prefix}"


@dataclass(frozen=True, slots=True)
class Rule:
    """DIOCGETRULE: one rule with its counters; ``text`` is the rule as ``pfctl -sr`` prints it."""

    anchor: str  # "" for the main ruleset, else the anchor path
    number: int
    action: str  # pass | block | match | scrub | nat | rdr | binat | anchor | ... (pfctl's words)
    direction: str  # in | out | "" (both)
    quick: bool
    log: bool
    interface: str  # "" = any; "!em0" when negated
    family: str  # inet | inet6 | ""
    protocol: int  # 0 = any
    label: str
    anchor_call: str  # the anchor this rule calls, "" for ordinary rules
    evaluations: int
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    states_current: int
    states_total: int
    src_nodes: int
    max_states: int
    text: str

    @property
    def packets(self) -> int:
        """Packets in both directions, as `pfctl -vsr` prints them."""
        return self.packets_in + self.packets_out

    @property
    def bytes(self) -> int:
        """Bytes in both directions."""
        return self.bytes_in + self.bytes_out


class RuleCounters(NamedTuple):
    """A rule's identity and counters, without its text: what monitoring reads per rule.

    A NamedTuple (immutable like the dataclasses) because a scrape builds tens of thousands:
    it costs one ``tuple.__new__`` and about a fifth of the memory of an instance with a dict."""

    anchor: str
    number: int
    action: str
    direction: str
    quick: bool
    log: bool
    interface: str
    family: str
    protocol: int
    label: str
    anchor_call: str
    evaluations: int
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    states_current: int
    states_total: int
    src_nodes: int
    max_states: int


@dataclass(frozen=True, slots=True)
class Ruleset:
    """One node of the rule tree: the main ruleset ("") or an anchor path, with its rules' counters
    (and, when asked for, each rule as ``pfctl -sr`` prints it, in the same order)."""

    path: str
    rules: tuple[RuleCounters, ...]
    texts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelTotals:
    """One ruleset's rule counters summed per label (``pfctl -sl``), label "" for unlabelled rules:
    label -> (evaluations, packets in, packets out, bytes in, bytes out, states, states created, rules)."""

    path: str
    rules: int
    labels: Mapping[str, tuple[int, int, int, int, int, int, int, int]]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A queue's statistics: what it sent, what it dropped, how full it is (``pfctl -vvsq``)."""

    packets: int
    bytes: int
    dropped_packets: int
    dropped_bytes: int
    length: int
    limit: int


@dataclass(frozen=True, slots=True)
class FlowQueueStats:
    """fq_codel's extra statistics (``struct fqcodel_stats``)."""

    flows: int
    target_ns: int
    interval_ns: int
    delay_sum: int
    delay_sum_squares: int


@dataclass(frozen=True, slots=True)
class Queue:
    """DIOCGETQUEUE + DIOCGETQSTATS: one queue with its statistics (``pfctl -vsq``)."""

    interface: str
    name: str
    parent: str  # "" for a root queue
    bandwidth: int  # bits per second (linkshare m2), 0 when unset
    min_bandwidth: int  # realtime m2
    max_bandwidth: int  # upperlimit m2
    flags: int
    qlimit: int
    flowqueue: bool  # fq_codel flow queue
    stats: QueueStats
    flow_stats: FlowQueueStats | None  # only for fq_codel queues


@dataclass(frozen=True, slots=True)
class StateLimiter:
    """OpenBSD 7.9+: one state limiter (``pfioc_statelim``)."""

    id: int
    name: str
    description: str
    limit: int
    rate_limit: int
    rate_seconds: int
    inuse: int
    admitted: int
    hardlimited: int
    ratelimited: int


@dataclass(frozen=True, slots=True)
class SourceLimiter:
    """OpenBSD 7.9+: one source limiter (``pfioc_sourcelim``)."""

    id: int
    name: str
    description: str
    entries: int  # maximum number of source entries
    limit: int  # states per source
    rate_limit: int
    rate_seconds: int
    overload_table: str
    overload_hwm: int
    overload_lwm: int
    inet_prefix: int
    inet6_prefix: int
    nentries: int  # source entries in use
    inuse: int  # states in use
    addrallocs: int
    addrnomem: int
    admitted: int
    addrlimited: int
    hardlimited: int
    ratelimited: int


class Endpoint(NamedTuple):
    """One end of a connection: an address and a port (0 for protocols without ports)."""

    address: IPAddress
    port: int

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 and self.port else str(self.address)
        return f"{host}:{self.port}" if self.port else host


class StateKey(NamedTuple):
    """``pf_state_key`` as exported: the two (address, port) pairs of one side of a state."""

    family: str
    addresses: tuple[IPAddress, IPAddress]
    ports: tuple[int, int]


@dataclass(frozen=True, slots=True)
class State:
    """DIOCGETSTATES: one ``pfsync_state``.

    ``source``/``destination`` are the connection's ends as pf's state kill filter
    (``pfctl -k``) sees them: from the stack-side key for outbound states, from the
    wire-side key for inbound ones.  ``rule`` is the number of the rule that created the
    state in its ruleset, ``anchor_rule`` the number of the anchor rule that led to that
    ruleset (None for the main ruleset)."""

    id: int
    creator_id: int
    interface: str
    family: str  # inet | inet6
    protocol: int
    direction: str  # in | out
    wire: StateKey
    stack: StateKey
    source: Endpoint
    destination: Endpoint
    src_state: int
    dst_state: int
    packets: tuple[int, int]  # (from source, from destination)
    bytes: tuple[int, int]
    rule: int | None
    anchor_rule: int | None
    creation: int  # seconds the state has existed
    expire: int  # seconds until it expires
    timeout: int  # PFTM_* index


@dataclass(frozen=True, slots=True)
class TableChange:
    """What a table edit did, as pfctl -T add/delete/replace reports it; with ``feedback=True``
    also what happened to each address (``pfctl -v``), and ``dry_run`` when nothing was changed
    (``pfctl -n``)."""

    added: int = 0
    deleted: int = 0
    changed: int = 0
    results: tuple[AddressResult, ...] = ()
    dry_run: bool = False


FEEDBACK = ("none", "match", "added", "deleted", "changed", "cleared", "duplicate", "nomatch", "conflict", "nocount")
FEEDBACK_MARKS = {"none": " ", "match": "M", "added": "A", "deleted": "D", "changed": "C", "cleared": "Z",
                  "duplicate": "X", "nomatch": " ", "conflict": "!", "nocount": " "}  # pfctl -v's first column


@dataclass(frozen=True, slots=True)
class AddressResult:
    """What pf did with one address of a table request (``pfra_fback``): one of :data:`FEEDBACK`;
    for :meth:`PacketFilter.test_addresses`, ``entry`` is the table entry that matched."""

    address: TableAddress
    result: str
    entry: TableAddress | None = None

    @property
    def mark(self) -> str:
        """The letter ``pfctl -v`` prints in front of the address (A added, D deleted, X duplicate...)."""
        return FEEDBACK_MARKS.get(self.result, " ")

    def __str__(self) -> str:
        """As pfctl -v prints it: ``A  192.0.2.1`` / ``D !10.0.0.0/8``."""
        text = str(self.address)
        return f"{self.mark} {text if self.address.negated else ' ' + text}"


@dataclass(frozen=True, slots=True)
class TableTest:
    """:meth:`PacketFilter.test_addresses`: how many of the addresses the table matches."""

    matched: int
    results: tuple[AddressResult, ...]

    @property
    def all_match(self) -> bool:
        return self.matched == len(self.results)


@dataclass(frozen=True, slots=True)
class OsFingerprint:
    """DIOCOSFPGET: one OS fingerprint pf knows (``pfctl -s osfp``); ``signature`` is its pf.os(5)
    form (window:ttl:df:size:options)."""

    os_class: str
    version: str
    subtype: str
    signature: str
    id: int  # pf_osfp_t: class, version and subtype numbers packed
    generic: bool  # an "@class" entry: an approximate match for a family

    @property
    def name(self) -> str:
        """As ``os "..."`` in a rule names it: class, version, subtype."""
        return " ".join(x for x in (self.os_class, self.version, self.subtype) if x)


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """OpenBSD 7.9+: one source address a source limiter tracks (``pfioc_source_entry``): its address
    masked to the limiter's prefix, the states it holds now and what the limiter did with it."""

    limiter: int
    family: str
    rdomain: int
    network: IPNetwork
    states: int
    admitted: int
    hardlimited: int
    ratelimited: int


CARP_STATES = ("init", "backup", "master")


@dataclass(frozen=True, slots=True)
class CarpVhost:
    """One virtual host of a carp interface (``ifconfig carpN``: vhid, advskew, state)."""

    vhid: int
    advskew: int
    state: str  # init, backup, master


@dataclass(frozen=True, slots=True)
class CarpInterface:
    """SIOCGVH: one carp(4) interface (a member of group "carp" that answers SIOCGVH)."""

    name: str
    carpdev: str
    advbase: int  # seconds
    peer: str  # dotted quad; "" before the first configuration
    balancing: int
    vhosts: tuple[CarpVhost, ...]


@dataclass(frozen=True, slots=True)
class PfsyncInterface:
    """SIOCGETPFSYNC: one pfsync(4) interface."""

    name: str
    syncdev: str
    syncpeer: str  # "" when unset (multicast)
    maxupdates: int
    defer: bool


@dataclass(frozen=True, slots=True)
class CarpSettings:
    """sysctl net.inet.carp.allow, .preempt and .log."""

    allow: int
    preempt: int
    log: int


@dataclass(frozen=True, slots=True)
class FingerprintLoad:
    """What :meth:`PacketFilter.load_fingerprints` loaded."""

    added: int
    warnings: tuple[str, ...]


SOURCE_NODE_KINDS = ("filter", "nat", "rdr", "route")  # PF_SN_NONE .. PF_SN_ROUTE, as pfctl -sS -v names the rule


@dataclass(frozen=True, slots=True)
class SourceNode:
    """DIOCGETSRCNODES: one source-tracking node (``struct pf_src_node``), the data of ``pfctl -sS -v``."""

    family: str
    address: IPAddress
    redirect: IPAddress  # the translation/route address it is bound to (sticky-address), or the unspecified one
    rule: int | None  # the rule's number in its ruleset (None if the node tracks no one rule)
    kind: str  # filter, nat, rdr, route
    states: int
    connections: int
    rate: float  # connections per rate_seconds, pfctl's "rate" (max-src-conn-rate)
    rate_seconds: int
    age: int  # seconds since creation
    expires_in: int  # seconds left once it has no states
    packets: tuple[int, int]  # (in, out)
    bytes: tuple[int, int]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What :meth:`PacketFilter.load` loaded (or, with ``dry_run``, would load)."""

    anchor: str
    anchors: tuple[str, ...]  # every ruleset the load replaces: the anchor, then inline anchors below it
    rules: int
    tables: int
    warnings: tuple[str, ...]
    dry_run: bool
    changed: bool




# Protocol numbers as pfctl prints them (getprotobynumber with OpenBSD's /etc/protocols), for the
# protocols rules and states name; any other is shown by number
PROTOCOL_NAMES = {1: "icmp", 2: "igmp", 4: "ipencap", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp", 51: "ah",
                  58: "ipv6-icmp", 89: "ospf", 103: "pim", 112: "carp", 132: "sctp", 240: "pfsync"}


def protocol_name(number: int) -> str:
    """A protocol number as pfctl names it (the number itself when it has no name here)."""
    return PROTOCOL_NAMES.get(number) or str(number)


def as_json(value: Any) -> Any:
    """A library value as JSON data: dataclasses and named tuples as objects, addresses as strings,
    tuple keys such as (direction, action) as ``"in/pass"``, sets sorted."""
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: as_json(v) for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {("/".join(map(str, k)) if isinstance(k, tuple) else str(k)): as_json(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(as_json(v) for v in value)
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
                  | ipaddress.IPv6Network):
        return str(value)
    return value


# A state's peer states as pfctl -ss prints them: TCP's (netinet/tcp_fsm.h), and PFUDPS_*/PFOTHERS_*
TCP_STATE_NAMES = ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "CLOSING",
                   "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT")
OTHER_STATE_NAMES = ("NO_TRAFFIC", "SINGLE", "MULTIPLE")


def peer_state_name(protocol: int, value: int) -> str:
    """One side's state as pfctl -ss prints it (TCP's names for tcp, NO_TRAFFIC/SINGLE/MULTIPLE else)."""
    names = TCP_STATE_NAMES if protocol == 6 else OTHER_STATE_NAMES
    return names[value] if 0 <= value < len(names) else str(value)


PORT_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "><", "<>", ":")  # pfctl's port operators


class PortMatch(NamedTuple):
    """A port condition as pf.conf writes it: ``PortMatch("=", 22)``, ``PortMatch(":", 1024, 65535)``
    (inclusive range), ``PortMatch("><", 1, 1024)`` (exclusive), ``PortMatch("<>", 1, 1024)`` (outside)."""

    op: str
    low: int
    high: int = 0

    def matches(self, port: int) -> bool:
        """Whether *port* satisfies the condition, as pf_match_port() decides."""
        op, lo, hi = self.op, self.low, self.high
        return {
            "=": port == lo, "!=": port != lo, "<": port < lo, "<=": port <= lo, ">": port > lo,
            ">=": port >= lo, "><": lo < port < hi, "<>": port < lo or port > hi, ":": lo <= port <= hi,
        }[op]

    def __str__(self) -> str:
        if self.op == ":":
            return f"{self.low}:{self.high}"
        if self.op in ("><", "<>"):
            return f"{self.low} {self.op} {self.high}"
        return f"{self.op} {self.low}" if self.op != "=" else str(self.low)


@dataclass(frozen=True, slots=True)
class AddressMatch:
    """An address condition: a network, possibly negated (``!192.0.2.0/24``)."""

    network: IPNetwork
    negated: bool = False

    def matches(self, address: IPAddress) -> bool:
        """Whether *address* is in the network (not in it, when negated)."""
        inside = address.version == self.network.version and address in self.network
        return inside != self.negated

    def __str__(self) -> str:
        return ("!" if self.negated else "") + str(self.network)


@dataclass(frozen=True, slots=True)
class Options:
    """pf's runtime options, as the ``set`` lines of pf.conf name them (:meth:`PacketFilter.options`)."""

    limits: Mapping[str, int]  # `set limit`, by pfctl -sm's names
    timeouts: Mapping[str, int]  # `set timeout`, by pfctl -st's names (seconds; adaptive.* in states)
    optimization: str  # the `set optimization` profile the tcp timeouts match, "" when none does
    debug: str  # `set debug`: emerg, alert, crit, err, warning, notice, info, debug
    hostid: int  # `set hostid`
    loginterface: str  # `set loginterface`, "" when none
    reassemble: bool  # `set reassemble yes`
    no_df: bool  # `set reassemble yes no-df`
    syncookies: str  # `set syncookies`: never, always, adaptive
    syncookies_start: float  # adaptive: % of the state limit where they start ...
    syncookies_end: float  # ... and where they end
    syncookies_high: int  # the same two watermarks in half-open states
    syncookies_low: int
    skip: tuple[str, ...]  # `set skip on`: the interfaces and groups pf skips


@dataclass(frozen=True, slots=True)
class StateFilter:
    """Which states :meth:`PacketFilter.states` lists and :meth:`PacketFilter.kill_states` kills
    (every condition given must hold; none given means every state).  ``source``/``destination``
    are as pfctl -k reads them (see :class:`State`); ``address`` matches either end."""

    family: str | None = None
    protocol: int | None = None
    interface: str | None = None
    address: AddressMatch | None = None
    source: AddressMatch | None = None
    destination: AddressMatch | None = None
    port: PortMatch | None = None
    source_port: PortMatch | None = None
    destination_port: PortMatch | None = None
    label: str | None = None
    id: int | None = None
    creator_id: int | None = None
    rule: int | None = None
    anchor: str = ""  # the ruleset of ``rule``
    rdomain: int = 0

    @property
    def empty(self) -> bool:
        """True when no condition is given (the filter matches every state)."""
        return all(getattr(self, f.name) in (None, "", 0) for f in fields(self))


__all__ = [
    "ADDRESS_ACTIONS", "AddressMatch", "DIRECTIONS", "Endpoint", "FAMILIES", "FlowQueueStats", "IPAddress",
    "IPNetwork", "Interface", "LoadResult", "Options", "PORT_OPERATORS", "PortMatch", "Queue", "QueueStats", "Rule",
    "RuleCounters", "Ruleset", "SourceLimiter", "State", "StateFilter", "StateKey", "StateLimiter", "Status",
    "TABLE_ACTIONS", "Table", "TableAddress", "TableChange", "AddressResult", "TableTest", "SourceNode", "FEEDBACK",
    "OsFingerprint", "FingerprintLoad", "CARP_STATES", "CarpVhost", "CarpInterface", "PfsyncInterface",
    "CarpSettings", "SourceEntry", "SOURCE_NODE_KINDS", "TCP_STATE_NAMES", "OTHER_STATE_NAMES", "peer_state_name",
    "LabelTotals"
]
