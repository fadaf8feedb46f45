"""The simulated pf kernel: rulesets, tables, interfaces, queues, states and counters.

:class:`Simulator` holds the model; :mod:`.ioctl` answers requests against it the way
``pfioctl()`` does; :class:`SimTransport` is one open descriptor (the simulator's
stand-in for ``FcntlTransport``).  Everything is deterministic from the seed and the
injectable :class:`~.clock.SimClock`.
"""

from __future__ import annotations

import ctypes
import hashlib
import heapq
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..abi import Abi, select_abi
from ..abi import constants as C
from . import srcnodes
from .clock import SimClock
from .objects import SimAnchor, SimKif, SimQueue, SimRule, SimSourceLimiter, SimState, SimStateLimiter
from .rules import RuleLoading
from .tables import TableStore
from .wire import DYNAMIC, PFSYNC_STATE, STATE_DYNAMIC_OFFSET, U32, KernelError, htons

LOG_ERR = 3  # <sys/syslog.h>
IFQ_MAXPRIO = 7
ICMP_MAXTYPE = 40
MAX_TICKETS_PER_FD = C.PF_ANCHOR_STACK_MAX * 8  # pf_open_trans(): 512 per descriptor
PFFRAG_FRENT_HIWAT = 65536  # NMBCLUSTERS / 16 on amd64/arm64
TCPS_ESTABLISHED = 4

DEFAULT_LIMITS = (
    C.PFSTATE_HIWAT, C.PFSNODE_HIWAT, PFFRAG_FRENT_HIWAT, C.PFR_KTABLE_HIWAT, C.PFR_KENTRY_HIWAT,
    C.PF_PKTDELAY_MAXPKTS, C.PF_ANCHOR_HIWAT,
)


def default_timeouts() -> list[int]:
    """pfattach(): the default rule's timeouts."""
    t = [0] * C.PFTM_MAX
    for name, value in vars(C).items():
        if name.startswith("PFTM_") and name.endswith("_VAL"):
            t[getattr(C, name[:-4])] = value
    t[C.PFTM_ADAPTIVE_START] = 60000  # PFSTATE_ADAPT_START
    t[C.PFTM_ADAPTIVE_END] = 120000  # PFSTATE_ADAPT_END
    return t


@dataclass
class Trans:
    """``struct pf_trans`` of type PF_TRANS_GETRULE: one rule walk's position."""

    unit: int
    anchor: SimAnchor
    version: int
    rules: list[SimRule]
    pos: int = 0


@dataclass
class _Fault:
    name: str
    after: int
    times: int | None
    err: int = 0
    action: Callable[[PfKernel], None] | None = None
    seen: int = field(default=0)


# The mean lifetime of a simulated connection's state (the scenarios' StateMaker: 5 s + Exp(600 s)).
STATE_MEAN_LIFE = 605.0


class PfKernel(RuleLoading):
    """A model of OpenBSD's pf behind the ioctl ABI of one release and architecture, empty: the
    scenarios fill it (:class:`pf_exporter.simulator.Simulator` builds one with a scenario).
    ``securelevel``: above 1 pf refuses changes (EPERM)."""

    def __init__(self, release: str = "7.9", arch: str = "amd64", seed: int = 1, clock: SimClock | None = None,
                 securelevel: int = 0) -> None:
        self.abi: Abi = select_abi(release, arch)
        self.layout = self.abi.layout
        self.release = self.abi.release
        self.scenario = ""
        self.seed = seed
        self.clock = clock if clock is not None else SimClock()
        self.rng = random.Random(seed)
        self.securelevel = securelevel
        # pf_status
        self.running = False
        self.since = 0
        self.debug = LOG_ERR
        self.hostid = self.rng.getrandbits(32)  # as pfctl prints it (the kernel keeps it in network order)
        self.reass = C.PF_REASS_ENABLED
        self.stateid = 0
        self.counters = [0.0] * C.PFRES_MAX
        self.lcounters = [0.0] * C.LCNT_MAX
        self.fcounters = [0.0] * C.FCNT_MAX
        self.scounters = [0.0] * C.SCNT_MAX
        self.ncounters = [0.0] * C.NCNT_MAX
        self.fragments = 0
        self.states_halfopen = 0
        self.syncookies_active = False
        self.syncookies_mode = C.PF_SYNCOOKIES_NEVER
        self.syncookies_inflight = [0, 0]
        self.synflwats = (C.PFSTATE_HIWAT * C.PF_SYNCOOKIES_HIWATPCT // 100,
                          C.PFSTATE_HIWAT * C.PF_SYNCOOKIES_LOWATPCT // 100)
        self.status_ifname = ""
        self.chksum = bytes(16)
        self.trans_set: dict[str, Any] = {}  # pf_trans_set: options applied at DIOCXCOMMIT
        self.limits = list(DEFAULT_LIMITS)
        self.limits_new = list(DEFAULT_LIMITS)
        self.timeouts = default_timeouts()
        self.timeouts_new = list(self.timeouts)
        # rulesets
        self.main = SimAnchor("", "", None)
        self.anchors: dict[str, SimAnchor] = {}  # pf_anchors: every anchor by path
        self.tags: dict[str, int] = {}
        self.qids: dict[str, int] = {}
        # tables, interfaces, queues, states, limiters
        self.tables = TableStore(self)
        self.kifs: dict[str, SimKif] = {}
        self._kif_order: list[SimKif] | None = None
        self.queues: list[SimQueue] = []
        self.queues_inactive: list[SimQueue] = []
        self.states: dict[int, SimState] = {}
        from .net import SimNet

        self.net = SimNet(self)  # carp, pfsync, interface groups (none unless a scenario adds them)
        self.osfp: dict[tuple[int, ...], list[tuple[int, int, bytes, bytes, bytes]]] = {}  # pf_osfp_list
        self.src_nodes: dict[tuple, Any] = {}  # pf_src_tree: srcnodes.SimSrcNode by (type, rule, af, addr)
        self.state_src_nodes: dict[int, tuple] = {}  # state id -> its node's key
        self._deaths: list[tuple[float, int]] = []
        self.state_target = 0
        # New connections arrive at state_target / STATE_MEAN_LIFE per second (what keeps the table
        # at its target in the steady state); a kill is refilled at that rate, not at once.
        self.state_mean_life = STATE_MEAN_LIFE
        self._arrivals = 0.0  # the fraction of a connection owed to the next tick
        self.statelims: dict[int, SimStateLimiter] = {}
        self.statelims_inactive: dict[int, SimStateLimiter] = {}
        self.sourcelims: dict[int, SimSourceLimiter] = {}
        self.sourcelims_inactive: dict[int, SimSourceLimiter] = {}
        # descriptors and rule-walk tickets
        self._next_unit = 0
        self._next_ticket = 1
        self._trans: dict[int, Trans] = {}
        self._tcount: dict[int, int] = {}
        self.transports: list[Any] = []  # every descriptor opened (transport.SimTransport)
        self._faults: list[_Fault] = []
        self.calls: dict[str, int] = {}
        self._kaddr = 0xFFFF_8000_0010_0000 if self.abi.native else 0xD010_0000
        self.state_spawner: Callable[[PfKernel], SimState | None] | None = None
        self._current = ""
        _check_pfsync_layout(self.layout)

    # --- descriptors ------------------------------------------------------------

    def tickets_of(self, unit: int) -> int:
        return self._tcount.get(unit, 0)

    def open_tickets(self) -> int:
        """Rule-walk tickets currently open on all descriptors."""
        return len(self._trans)

    def close_unit(self, unit: int) -> None:
        for ticket in [k for k, t in self._trans.items() if t.unit == unit]:
            del self._trans[ticket]
        self._tcount.pop(unit, None)

    def open_trans(self, unit: int, anchor: SimAnchor) -> int | None:
        """pf_open_trans() + pf_init_tgetrule(): None when the descriptor has 512 open."""
        if self._tcount.get(unit, 0) >= MAX_TICKETS_PER_FD:
            return None
        ticket = self._next_ticket
        self._next_ticket += 1
        self._trans[ticket & U32] = Trans(unit, anchor, anchor.active_version, anchor.active)
        self._tcount[unit] = self._tcount.get(unit, 0) + 1
        return ticket & U32

    def find_trans(self, unit: int, ticket: int) -> Trans | None:
        """pf_find_trans(): only the descriptor that opened a ticket can use it."""
        t = self._trans.get(ticket)
        return t if t is not None and t.unit == unit else None

    def close_trans(self, ticket: int) -> None:
        t = self._trans.pop(ticket)
        self._tcount[t.unit] -= 1

    def kaddr(self) -> int:
        """A made-up, non-NULL kernel address for the pointers the kernel copies out verbatim."""
        self._kaddr += 0x200
        return self._kaddr

    # --- fault injection (tests) ---------------------------------------------------

    def inject(self, request: str, err: int, after: int = 0, times: int | None = 1) -> None:
        """Make request *request* fail with errno *err*: skip *after* calls, then fail *times*
        calls (None: every later call)."""
        self._faults.append(_Fault(request, after, times, err=err))

    def hook(self, request: str, action: Callable[[PfKernel], None], after: int = 0, times: int | None = 1) -> None:
        """Run *action(sim)* just before the kernel handles *request* (after *after* calls)."""
        self._faults.append(_Fault(request, after, times, action=action))

    def change_ruleset_during_walk(self, anchor: str = "", after: int = 1, times: int | None = 1) -> None:
        """Reload *anchor* (same rules, new version) before the *after*-th next DIOCGETRULE, so
        that call and every later one of the same walk answer EBUSY."""
        self.hook("DIOCGETRULE", lambda s: s.touch_ruleset(anchor), after=after, times=times)

    def clear_faults(self) -> None:
        self._faults.clear()

    def _check_faults(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        for f in list(self._faults):
            if f.name != name:
                continue
            f.seen += 1
            if f.seen <= f.after:
                continue
            if f.times is not None:
                f.times -= 1
                if f.times <= 0:
                    self._faults.remove(f)
            if f.action is not None:
                f.action(self)
            if f.err:
                raise KernelError(f.err)

    # --- rulesets (net/pf_ruleset.c) ---------------------------------------------------

    def find_ruleset(self, path: str) -> SimAnchor | None:
        """pf_find_ruleset()."""
        path = path.lstrip("/")
        if not path:
            return self.main
        return self.anchors.get(path)

    def find_or_create_ruleset(self, path: str) -> SimAnchor | None:
        """pf_find_or_create_ruleset(): creates the missing anchors along *path*."""
        if not path:
            return self.main
        path = path.lstrip("/")
        rs = self.find_ruleset(path)
        if rs is not None:
            return rs
        parts = path.split("/")
        # validate every component first, so a failure creates nothing
        parent = self.main
        depth = 0
        for i in range(len(parts), 0, -1):
            found = self.anchors.get("/".join(parts[:i]))
            if found is not None:
                parent, depth = found, i
                break
        new = parts[depth:]
        if any(not p or len(p.encode()) >= C.PF_ANCHOR_NAME_SIZE for p in new):
            return None
        if len(path.encode()) >= C.PF_ANCHOR_MAXPATH + C.PF_ANCHOR_NAME_SIZE:
            return None
        if len(self.anchors) + len(new) > self.limits[C.PF_LIMIT_ANCHORS]:
            return None
        for name in new:
            a = SimAnchor(name, f"{parent.path}/{name}" if parent.path else name, parent if parent.path else None)
            self.anchors[a.path] = a
            parent.children[name] = a
            parent = a
        return parent

    def remove_if_empty_ruleset(self, rs: SimAnchor | None) -> None:
        """pf_remove_if_empty_ruleset(): unlink empty anchors, walking up to the root."""
        while rs is not None and rs is not self.main:
            if rs.children or rs.refcnt > 0 or rs.tables > 0 or rs.topen:
                return
            if rs.active or rs.inactive or rs.inactive_open:
                return
            self.anchors.pop(rs.path, None)
            rs.linked = False
            parent = rs.parent or self.main
            parent.children.pop(rs.name, None)
            if rs.parent is None:
                return
            rs = rs.parent

    def top_anchors(self) -> list[SimAnchor]:
        """The anchors DIOCGETRULESET lists for the main ruleset (parent NULL, in path order)."""
        return [self.anchors[p] for p in sorted(self.anchors, key=str.encode) if self.anchors[p].parent is None]

    def all_rulesets(self) -> list[SimAnchor]:
        """The main ruleset and every anchor, depth first (the order a recursive walk visits them)."""
        out: list[SimAnchor] = []
        todo = [self.main]  # a stack, not a recursive closure (a reference cycle per call)
        while todo:
            a = todo.pop()
            out.append(a)
            todo.extend(reversed(self.top_anchors() if a is self.main else a.sorted_children()))
        return out

    def touch_ruleset(self, anchor: str = "") -> None:
        """Reload *anchor* with the same rules (what `pfctl -a anchor -f` does): its version changes."""
        rs = self.find_ruleset(anchor)
        if rs is None:
            raise ValueError(f"no anchor {anchor!r} to reload")
        rs.active_version = rs.inactive_version = (max(rs.active_version, rs.inactive_version) + 1) & U32
        if rs is self.main:
            self.chksum = self._chksum(rs.active)

    # --- interfaces (net/pf_if.c) ------------------------------------------------------

    def kif_get(self, name: str) -> SimKif:
        """pfi_kif_get(): find a kif, or create one for a name nothing backs yet."""
        k = self.kifs.get(name)
        if k is None:
            k = SimKif(name, addr=self.kaddr())
            k.tzero = 0
            self.kifs[name] = k
            self._kif_order = None
        return k

    def kif_unref_rule(self, name: str) -> None:
        """pfi_kif_unref(PFI_KIF_REF_RULE): a kif nothing backs or references goes away."""
        k = self.kifs.get(name)
        if k is None:
            return
        k.rules -= 1
        if k.rules <= 0 and not k.has_ifp and not k.is_group and k.states == 0 and not k.flagrefs:
            del self.kifs[name]
            self._kif_order = None

    def dyn_count(self, ifname: str, iflags: int, af: int) -> int:
        """pfi_dynaddr_update() + pfr_dynaddr_update(): how many addresses of family *af* (0: both)
        a dynamic interface address `(ifname)` stands for (what DIOCGETRULE puts in p.dyncnt)."""
        kif = self.kifs.get(ifname)
        if kif is None:
            return 0
        members = [kif] if kif.has_ifp else [self.kifs[m] for m in kif.members if m in self.kifs]
        seen: set[tuple[int, bytes, int]] = set()
        for m in members:
            if not m.has_ifp:
                continue
            broadcast = not m.name.startswith(("lo", "pflog", "enc", "wg", "gif", "gre", "tun", "pppoe"))
            p2p = m.name.startswith(("gif", "gre", "tun", "pppoe"))
            got = {4: False, 6: False}
            for fam, addrs in ((4, m.v4), (6, m.v6)):
                for ip, plen in addrs:
                    if iflags & C.PFI_AFLAG_BROADCAST and (fam == 6 or not broadcast):
                        continue
                    if iflags & C.PFI_AFLAG_PEER and not p2p:
                        continue
                    if iflags & C.PFI_AFLAG_NETWORK and fam == 6 and ip[:2] == b"\xfe\x80":
                        continue
                    if iflags & C.PFI_AFLAG_NOALIAS and got[fam]:
                        continue
                    got[fam] = True
                    net = plen if iflags & C.PFI_AFLAG_NETWORK else (32 if fam == 4 else 128)
                    value = int.from_bytes(ip, "big") >> (len(ip) * 8 - net) if net else 0
                    seen.add((fam, value.to_bytes(16, "big"), net))
        want = {C.AF_INET: (4,), C.AF_INET6: (6,)}.get(af, (4, 6))
        return sum(1 for fam, _a, _n in seen if fam in want)

    def ordered_kifs(self) -> list[SimKif]:
        """pfi_ifs in RB order (by name)."""
        if self._kif_order is None:
            self._kif_order = [self.kifs[n] for n in sorted(self.kifs, key=str.encode)]
        return self._kif_order

    def kif_members(self, k: SimKif) -> list[SimKif]:
        """The interfaces whose counters a kif stands for (its members if it is a group)."""
        if k.is_group:
            return [self.kifs[m] for m in k.members if m in self.kifs]
        return [k]

    # --- states ---------------------------------------------------------------------

    def insert_state(self, st: SimState) -> None:
        """pf_state_insert(): ids come from pf_status.stateid, creatorid is the hostid."""
        st.id = self.stateid  # htobe64(pf_status.stateid++)
        self.stateid += 1
        self.states[st.id] = st
        if st.proto == C.IPPROTO_TCP and st.timeout == C.PFTM_TCP_OPENING:
            self.states_halfopen += 1
        heapq.heappush(self._deaths, (st.death, st.id))
        self.fcounters[C.FCNT_STATE_INSERT] += 1
        if st.rule is not None:
            st.rule.states_cur += 1
            st.rule.states_tot += 1
        k = self.kifs.get(st.kif)
        if k is not None:
            k.states += 1

    def new_state(
        self,
        rule: SimRule | None,
        kif: str,
        af: int,
        proto: int,
        direction: int,
        wire: tuple[tuple[bytes, int], tuple[bytes, int]],
        stack: tuple[tuple[bytes, int], tuple[bytes, int]] | None = None,
        *,
        peers: tuple[int, int] = (0, 0),
        timeout: int = 0,
        rate: float = 0.0,
        bpp: float = 0.0,
        age: int = 0,
        lifetime: float = 3600.0,
        anchor: SimRule | None = None,
        log: int = 0,
    ) -> SimState:
        """Create and insert a state: *wire*/*stack* are ((addr, port), (addr, port)) keys
        (16-byte addresses, ports in host order); *stack* defaults to *wire* (no NAT)."""
        stack = stack or wire
        st = SimState()
        st.kif, st.af, st.proto, st.direction = kif, af, proto, direction
        st.rule, st.anchor = rule, anchor
        now = self.clock.uptime()
        st.created = now - age
        st.last = now
        st.timeout = timeout
        st.rate, st.bpp = rate, bpp
        st.death = self.clock.uptime() + lifetime
        # how DIOCKILLSTATES sees the connection: the stack key going out, the wire key coming in
        sk = stack if direction == C.PF_OUT else wire
        (s_i, d_i) = (1, 0) if direction == C.PF_OUT else (0, 1)
        st.src, st.dst = sk[s_i][0], sk[d_i][0]
        st.sport, st.dport = htons(sk[s_i][1]), htons(sk[d_i][1])
        self.insert_state(st)
        srcnodes.attach(self, st)

        def peer(state: int, seed: int) -> tuple[object, ...]:
            return (0, 0, 0, 0, (seed * 2654435761) & U32, ((seed * 2654435761) + 65535) & U32, 0,
                    65535 if proto == C.IPPROTO_TCP else 0, 1460 if proto == C.IPPROTO_TCP else 0, state,
                    (7 | 0x80) if proto == C.IPPROTO_TCP else 0, b"")

        st.tmpl = PFSYNC_STATE.pack(
            st.id, kif.encode(),
            wire[0][0], wire[1][0], wire[0][1], wire[1][1], 0, af, 0,
            stack[0][0], stack[1][0], stack[0][1], stack[1][1], 0, af, 0,
            *peer(peers[0], st.id), *peer(peers[1], st.id + 1),
            bytes(16),
            *(0,) * 13,
            self.hostid, -1, -1,
            0, af, proto, direction, log, 0, timeout, 0, 0, 0, 0, 0, 0, 0,
        )
        return st

    def remove_state(self, st: SimState) -> None:
        """pf_remove_state()."""
        if self.states.pop(st.id, None) is None:
            return
        srcnodes.detach(self, st)
        self.fcounters[C.FCNT_STATE_REMOVALS] += 1
        if st.proto == C.IPPROTO_TCP and st.timeout == C.PFTM_TCP_OPENING:
            self.states_halfopen -= 1
        if st.rule is not None:
            st.rule.states_cur -= 1
        k = self.kifs.get(st.kif)
        if k is not None:
            k.states -= 1

    def pack_state(self, st: SimState, now: int) -> bytes:
        """pf_state_export(): the state's pfsync_state with creation/expire/counters filled in."""
        b = bytearray(st.tmpl)
        DYNAMIC.pack_into(b, STATE_DYNAMIC_OFFSET, *self.state_dynamic(st, now))
        return bytes(b)

    def state_dynamic(self, st: SimState, now: int) -> tuple[int, ...]:
        """rule, anchor, nat_rule, creation, expire, packets[2][2], bytes[2][2] of one state."""
        age = now - st.created
        pk = st.rate * age
        p0, p1 = int(pk * 0.55), int(pk * 0.45)
        b0, b1 = int(p0 * st.bpp * 0.4), int(p1 * st.bpp * 1.6)
        expire = max(0, self.state_expires(st) - now)
        rule = st.rule.nr if st.rule is not None else U32
        anchor = st.anchor.nr if st.anchor is not None else U32
        return (rule, anchor, U32, age & U32, expire & U32,
                p0 >> 32 & U32, p0 & U32, p1 >> 32 & U32, p1 & U32,
                b0 >> 32 & U32, b0 & U32, b1 >> 32 & U32, b1 & U32)

    def state_expires(self, st: SimState) -> int:
        """pf_state_expires(): last activity + timeout, scaled down by the adaptive timeouts."""
        r = st.rule
        timeout = r.kr.timeout[st.timeout] if r is not None else 0
        if not timeout:
            timeout = self.timeouts[st.timeout]
        start = r.kr.timeout[C.PFTM_ADAPTIVE_START] if r is not None else 0
        if start:
            end = r.kr.timeout[C.PFTM_ADAPTIVE_END]  # type: ignore[union-attr]  # a state's rule is set here
            states = r.states_cur  # type: ignore[union-attr]  # a state's rule is set here
        else:
            start = self.timeouts[C.PFTM_ADAPTIVE_START]
            end = self.timeouts[C.PFTM_ADAPTIVE_END]
            states = len(self.states)
        if end and states > start and start < end:
            if states >= end:
                return 0
            timeout = timeout * (end - states) // (end - start)
        # the traffic model keeps live states busy: their last packet is recent
        last = max(st.last, self.clock.uptime() - 1 - (st.id % 7))
        return last + timeout

    # --- snapshots ------------------------------------------------------------------

    def fingerprint(self) -> str:
        """A hash of the configuration and membership pf holds: rulesets (active rules and
        open transactions' rules), anchors, tables and their addresses, states (which exist),
        queues, limiters, limits, timeouts, options and interface flags.  Counters and
        rule-walk tickets are left out, so reads never change it."""
        h = hashlib.sha256()

        def put(*parts: object) -> None:
            h.update(repr(parts).encode())
            h.update(b"\n")

        put("status", self.running, self.debug, self.hostid, self.reass, self.status_ifname, self.chksum,
            self.syncookies_mode, self.synflwats)
        put("limits", self.limits, self.limits_new)
        put("timeouts", self.timeouts, self.timeouts_new)
        for rs in [self.main, *(self.anchors[p] for p in sorted(self.anchors))]:
            put("ruleset", rs.path, rs.tables, rs.refcnt, len(rs.inactive))
            for r in rs.active:
                put("rule", r.nr, self.anchor_call_string(rs, r), hashlib.sha256(bytes(r.kr)).hexdigest())
            for r in rs.inactive:
                put("inactive", hashlib.sha256(bytes(r.kr)).hexdigest())
        for kt in self.tables.ordered():
            put("table", kt.name, kt.anchor, kt.flags, kt.refcnt,
                sorted((e.key, e.neg) for e in kt.entries.values()),
                None if kt.shadow is None else (kt.shadow.flags, None if kt.shadow.entries is None
                                                 else sorted(kt.shadow.entries)))
        put("states", hashlib.sha256(struct.pack(f"<{len(self.states)}Q", *self.states)).hexdigest())
        for q in self.queues:
            put("queue", bytes(q.spec))
        for q in self.queues_inactive:
            put("inactive-queue", bytes(q.spec))
        for lim in (self.statelims, self.statelims_inactive):
            put("statelim", sorted((s.id, s.name, s.limit, s.rate_limit, s.rate_seconds) for s in lim.values()))
        for slim in (self.sourcelims, self.sourcelims_inactive):
            put("sourcelim", sorted((s.id, s.name, s.entries, s.limit) for s in slim.values()))
        for k in self.ordered_kifs():
            put("kif", k.name, k.flags, k.flags_new)
        return h.hexdigest()

    # --- counts the pools would report (pr_nout) ------------------------------------------

    def pool_inuse(self, index: int) -> int:
        """How many objects of PF_LIMIT_<index>'s pool are allocated (DIOCSETLIMIT's pr_nout)."""
        if index == C.PF_LIMIT_STATES:
            return len(self.states)
        if index == C.PF_LIMIT_TABLES:
            return len(self.tables.tables)
        if index == C.PF_LIMIT_TABLE_ENTRIES:
            return self.tables.entry_count()
        if index == C.PF_LIMIT_ANCHORS:
            return len(self.anchors)
        if index == C.PF_LIMIT_FRAGS:
            return self.fragments
        if index == C.PF_LIMIT_SRC_NODES:
            return len(self.src_nodes)
        return 0

    def iter_rules(self) -> Iterator[SimRule]:
        for rs in self.all_rulesets():
            yield from rs.active

    def calling_rule(self, rs: SimAnchor) -> SimRule | None:
        """The anchor rule through which pf evaluates ruleset *rs* (what a state created by one of
        *rs*'s rules keeps as st->anchor, exported as pfsync_state.anchor): the first rule that
        calls *rs*, or calls its parent with a wildcard (``anchor "parent/*"``); None for the main
        ruleset."""
        if rs is self.main:
            return None
        parent = rs.parent or self.main
        for r in self.iter_rules():
            if r.anchor is rs and not r.kr.anchor_wildcard:
                return r
            if r.anchor is parent and r.kr.anchor_wildcard:
                return r
        return None


def _check_pfsync_layout(layout: object) -> None:
    """The packed pfsync_state format used for exports must agree with the ABI layer."""
    cls = layout.pfsync_state  # type: ignore[attr-defined]  # a ctypes class built at run time
    if ctypes.sizeof(cls) != PFSYNC_STATE.size or cls.rule.offset != STATE_DYNAMIC_OFFSET:
        raise AssertionError("pfsync_state layout and the simulator's export format disagree")


