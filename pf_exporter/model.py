"""Typed, immutable values decoded from pf's structs.  No ctypes object leaks past here.

Names follow pfctl's vocabulary (``pfctl -si -v``, ``-sm``, ``-st``, ``-sI -v``,
``-vsT``, ``-vsr``, ``-vsq``).  Counter dictionaries are keyed by the label pfctl
prints, in the kernel's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

FAMILIES = ("inet", "inet6")
DIRECTIONS = ("in", "out")


@dataclass(frozen=True)
class Status:
    """DIOCGETSTATUS: every field of ``struct pf_status``."""

    running: bool
    since: int  # seconds since boot when pf was enabled (kernel getuptime())
    enabled_seconds: int  # how long pf has been enabled, as `pfctl -si` computes it (0 when stopped)
    states: int
    states_halfopen: int
    src_nodes: int
    fragments: int
    debug: int  # syslog level (LOG_*)
    hostid: int  # host byte order
    reass: int  # PF_REASS_* flags
    stateid: int
    syncookies_active: bool
    syncookies_mode: str  # "never" | "always" | "adaptive"
    syncookies_inflight: tuple[int, int]
    loginterface: str  # `set loginterface`, "" when unset
    checksum: str  # ruleset MD5, 32 hex digits
    counters: Mapping[str, int]  # PFRES_NAMES -> count
    limit_counters: Mapping[str, int]  # LCNT_NAMES -> count
    state_operations: Mapping[str, int]  # searches/inserts/removals (fcounters)
    src_node_operations: Mapping[str, int]  # searches/inserts/removals (scounters)
    fragment_operations: Mapping[str, int]  # searches/inserts/removals (ncounters)
    # loginterface counters: [family][direction] -> {"pass": n, "block": n}
    loginterface_packets: Mapping[tuple[str, str, str], int]  # (family, direction, "pass"|"block")
    loginterface_bytes: Mapping[tuple[str, str], int]  # (family, direction)


@dataclass(frozen=True)
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


TABLE_ACTIONS = ("block", "match", "pass", "xpass")  # PFR_OP_* order


@dataclass(frozen=True)
class Table:
    """DIOCRGETTSTATS: one active table (``pfr_tstats``)."""

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


@dataclass(frozen=True)
class TableAddress:
    """DIOCRGETADDRS / DIOCRGETASTATS: one ``pfr_addr`` (with stats when read with them)."""

    address: str  # "192.0.2.0", "2001:db8::", or an interface name for dynamic entries
    prefix: int
    family: str  # "inet" | "inet6"
    negated: bool
    packets: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (direction, pass|block|xpass?)
    bytes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    cleared: int = 0

    def __str__(self) -> str:
        full = 32 if self.family == "inet" else 128
        s = ("!" if self.negated else "") + self.address
        return s if self.prefix == full else f"{s}/{self.prefix}"


class Rule(NamedTuple):
    """DIOCGETRULE: one rule of one anchor, with its counters.

    A NamedTuple rather than a frozen dataclass: as immutable, with the same fields, but a
    rule costs about a fifth of the memory (no per-instance dict) and one ``tuple.__new__``
    to build, which matters at tens of thousands of rules per scrape."""

    anchor: str  # "" for the main ruleset, else the anchor path
    number: int
    action: str  # pass | block | match | scrub | nat | rdr | binat | ... (pfctl's words)
    direction: str  # in | out | "" (both)
    quick: bool
    log: bool
    interface: str  # "" = any; "!em0" when negated
    family: str  # inet | inet6 | ""
    protocol: int  # 0 = any
    label: str
    anchor_call: str  # name of the anchor this rule calls, "" for ordinary rules
    evaluations: int
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    states_current: int
    states_total: int
    src_nodes: int
    max_states: int


@dataclass(frozen=True)
class Ruleset:
    """A rule tree node: the main ruleset ("") or an anchor path, with its rules."""

    path: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class QueueStats:
    packets: int
    bytes: int
    dropped_packets: int
    dropped_bytes: int
    length: int
    limit: int


@dataclass(frozen=True)
class FlowQueueStats:
    """fq_codel's extra statistics (``struct fqcodel_stats``)."""

    flows: int
    target_ns: int
    interval_ns: int
    delay_sum: int
    delay_sum_squares: int


@dataclass(frozen=True)
class Queue:
    """DIOCGETQUEUE + DIOCGETQSTATS: one queue with its statistics."""

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


@dataclass(frozen=True)
class StateLimiter:
    """7.9+: DIOCGETNSTATELIM, one ``pfioc_statelim``."""

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


@dataclass(frozen=True)
class SourceLimiter:
    """7.9+: DIOCGETNSOURCELIM, one ``pfioc_sourcelim``."""

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


@dataclass(frozen=True)
class State:
    """DIOCGETSTATES: one ``pfsync_state`` (decoded from network byte order)."""

    id: int
    creatorid: int
    interface: str
    family: str  # inet | inet6 | "af<N>"
    protocol: int
    direction: str  # in | out
    # key[0] is the wire side, key[1] the stack side: ((addr, port), (addr, port))
    wire: tuple[tuple[str, int], tuple[str, int]]
    stack: tuple[tuple[str, int], tuple[str, int]]
    src_state: int
    dst_state: int
    packets: tuple[int, int]  # (from source, from destination)
    bytes: tuple[int, int]
    rule: int  # rule number, 0xffffffff = none
    anchor: int
    creation: int  # seconds the state has existed
    expire: int  # seconds until it expires
    timeout: int  # PFTM_* index


@dataclass(frozen=True)
class Snapshot:
    """Everything one scrape reads, for callers that want it in one piece."""

    status: Status
    limits: Mapping[str, int]
    timeouts: Mapping[str, int]
    interfaces: tuple[Interface, ...] = ()
    tables: tuple[Table, ...] = ()
    rulesets: tuple[Ruleset, ...] = ()
    queues: tuple[Queue, ...] = ()
    state_limiters: tuple[StateLimiter, ...] = ()
    source_limiters: tuple[SourceLimiter, ...] = ()
