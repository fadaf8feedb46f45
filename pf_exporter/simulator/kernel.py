"""The simulated pf kernel: rulesets, tables, interfaces, queues, states and counters.

:class:`Simulator` holds the model; :mod:`.ioctl` answers requests against it the way
``pfioctl()`` does; :class:`SimTransport` is one open descriptor (the simulator's
stand-in for ``FcntlTransport``).  Everything is deterministic from the seed and the
injectable :class:`~.clock.SimClock`.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import heapq
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..abi import Abi, select_abi
from ..abi import constants as C
from .clock import SimClock
from .objects import (
    U32,
    SimAnchor,
    SimKif,
    SimQueue,
    SimRule,
    SimSourceLimiter,
    SimState,
    SimStateLimiter,
    cstr,
    field_bytes,
    set_cstr,
)
from .tables import KernelError, TableStore

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


class SimulatorUnsupported(RuntimeError):
    """A request the simulator cannot serve (not an errno the kernel would return)."""


# pfsync_state as exported by pf_state_export(): __packed, multi-byte fields in network order.
PFSYNC_STATE = struct.Struct(
    ">Q16s"  # id, ifname
    "16s16sHHHBB"  # key[PF_SK_WIRE]: addr[2], port[2], rdomain, af, pad
    "16s16sHHHBB"  # key[PF_SK_STACK]
    "HBBIIIIHHBB6s"  # src peer: scrub{flags, ttl, scrub_flag, ts_mod}, seqlo, seqhi, seqdiff, max_win, mss, state,
    "HBBIIIIHHBB6s"  # dst peer                                                      wscale, pad
    "16s"  # rt_addr
    "13I"  # rule, anchor, nat_rule, creation, expire, packets[2][2], bytes[2][2]
    "I2i"  # creatorid, rtableid[2]
    "HBBBBBBBBBBH2B"  # max_mss, af, proto, direction, log, rt, timeout, sync_flags, updates, min_ttl, set_tos,
)  # state_flags, set_prio[2]
DYNAMIC = struct.Struct(">13I")


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
    action: Callable[[Simulator], None] | None = None
    seen: int = field(default=0)


class SimTransport:
    """One open descriptor on the simulated /dev/pf (the Transport interface of device.py)."""

    def __init__(self, sim: Simulator, unit: int, writable: bool) -> None:
        self.sim = sim
        self.unit = unit
        self.writable = writable
        self.closed = False

    def ioctl(self, request: int, arg: object) -> None:
        from .ioctl import dispatch

        if self.closed:
            raise OSError(errno.EBADF, "simulated /dev/pf descriptor is closed")
        dispatch(self.sim, self, request, arg)

    def uptime(self) -> int:
        """The simulated machine's seconds since boot (what pfctl -si subtracts `since` from)."""
        return self.sim.clock.uptime()

    @property
    def open_tickets(self) -> int:
        return self.sim.tickets_of(self.unit)

    def close(self) -> None:
        """pfclose(): every ticket this descriptor holds is released."""
        if not self.closed:
            self.closed = True
            self.sim.close_unit(self.unit)


class Simulator:
    """A model of OpenBSD's pf behind the ioctl ABI of one release and architecture.

    ``scenario``: "small", "large" or "empty"; ``state_fill``: make the state count this
    fraction of the states limit; ``securelevel``: above 1 pf refuses changes (EPERM).
    """

    def __init__(
        self,
        scenario: str = "small",
        release: str = "7.9",
        arch: str = "amd64",
        seed: int = 1,
        clock: SimClock | None = None,
        state_fill: float | None = None,
        securelevel: int = 0,
    ) -> None:
        from .scenarios import SCENARIOS

        if scenario not in SCENARIOS:
            raise ValueError(f"unknown simulator scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
        if state_fill is not None and not 0 <= state_fill <= 1:
            raise ValueError(f"state_fill is a fraction of the states limit (0..1), got {state_fill}")
        self.abi: Abi = select_abi(release, arch)
        self.layout = self.abi.layout
        self.release = self.abi.release
        self.scenario = scenario
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
        self.trans_set: dict[str, object] = {}  # pf_trans_set: options applied at DIOCXCOMMIT
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
        self._deaths: list[tuple[float, int]] = []
        self.state_target = 0
        self.statelims: dict[int, SimStateLimiter] = {}
        self.statelims_inactive: dict[int, SimStateLimiter] = {}
        self.sourcelims: dict[int, SimSourceLimiter] = {}
        self.sourcelims_inactive: dict[int, SimSourceLimiter] = {}
        # descriptors and rule-walk tickets
        self._next_unit = 0
        self._next_ticket = 1
        self._trans: dict[int, Trans] = {}
        self._tcount: dict[int, int] = {}
        self.transports: list[SimTransport] = []
        self._faults: list[_Fault] = []
        self.calls: dict[str, int] = {}
        self._kaddr = 0xFFFF_8000_0010_0000 if self.abi.native else 0xD010_0000
        self.state_spawner: Callable[[Simulator], SimState | None] | None = None
        self._current = ""
        _check_pfsync_layout(self.layout)
        SCENARIOS[scenario](self, state_fill)

    # --- descriptors ------------------------------------------------------------

    def open(self, writable: bool = False) -> SimTransport:
        """pfopen(): a new descriptor (its own ticket namespace), read-only unless *writable*."""
        self._next_unit += 1
        t = SimTransport(self, self._next_unit, writable)
        self.transports.append(t)
        return t

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

    def hook(self, request: str, action: Callable[[Simulator], None], after: int = 0, times: int | None = 1) -> None:
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

        def visit(a: SimAnchor) -> None:
            out.append(a)
            for c in (self.top_anchors() if a is self.main else a.sorted_children()):
                visit(c)

        visit(self.main)
        return out

    def touch_ruleset(self, anchor: str = "") -> None:
        """Reload *anchor* with the same rules (what `pfctl -a anchor -f` does): its version changes."""
        rs = self.find_ruleset(anchor)
        if rs is None:
            raise ValueError(f"no anchor {anchor!r} to reload")
        rs.active_version = rs.inactive_version = (max(rs.active_version, rs.inactive_version) + 1) & U32
        if rs is self.main:
            self.chksum = self._chksum(rs.active)

    # --- rule loading (pf_ioctl.c DIOCADDRULE, pf_rule_copyin) ----------------------

    def rule_copyin(self, frm: ctypes.Structure) -> ctypes.Structure:
        """pf_rule_copyin(): the kernel's copy of a user rule: only the fields it takes,
        strings cut at their first NUL, pointers and counters zero."""
        L = self.layout
        if frm.scrub_flags & C.PFSTATE_SETPRIO and (frm.set_prio[0] > IFQ_MAXPRIO or frm.set_prio[1] > IFQ_MAXPRIO):
            raise KernelError(errno.EINVAL)
        for ra in (frm.src, frm.dst):
            if not _valid_range(ra.port_op, _ntohs(ra.port[0]), _ntohs(ra.port[1])):
                raise KernelError(errno.EINVAL)
        if not _valid_range(frm.rdr.port_op, frm.rdr.proxy_port[0], frm.rdr.proxy_port[1]):
            raise KernelError(errno.EINVAL)
        if frm.rtableid >= 0 and frm.rtableid != 0:
            raise KernelError(errno.EBUSY)  # rtable_exists(): the simulated host has rdomain 0 only
        if frm.onrdomain != -1 and not 0 <= frm.onrdomain <= 255:
            raise KernelError(errno.EINVAL)
        qid = pqid = 0
        qname, pqname = cstr(field_bytes(frm, "qname")[:-1]), cstr(field_bytes(frm, "pqname")[:-1])
        if qname:
            qid = self.qids.get(qname, 0)
            if not qid:
                raise KernelError(errno.EBUSY)
            pqid = qid
            if pqname:
                pqid = self.qids.get(pqname, 0)
                if not pqid:
                    raise KernelError(errno.EBUSY)
        if self.abi.has_limiters:
            for lim in (frm.statelim, frm.sourcelim):
                if lim.limiter_action not in (C.PF_LIMITER_NOMATCH, C.PF_LIMITER_BLOCK):
                    raise KernelError(errno.EINVAL)
        to = L.pf_rule.from_buffer_copy(frm)
        base = ctypes.addressof(to)
        for off, size in _rule_spans(L.pf_rule)[0]:
            ctypes.memset(base + off, 0, size)
        raw = bytes(frm)
        for off, size in _rule_spans(L.pf_rule)[1]:
            # strlcpy() of a string whose last byte was forced to NUL: nothing after the first NUL
            text = raw[off:off + size - 1].split(b"\0", 1)[0]
            ctypes.memmove(base + off, text.ljust(size, b"\0"), size)
        for ra in (to.src, to.dst):
            ra.addr.p.tbl = 0
        for pool in (to.nat, to.rdr, to.route):
            pool.kif = 0
            pool.addr.p.tbl = 0
        to.pktrate.limit = (frm.pktrate.limit * C.PF_THRESHOLD_MULT) & U32
        to.pktrate.count = 0
        to.pktrate.last = self.clock.uptime() & U32
        to.qid, to.pqid = qid, pqid
        if not to.log:
            to.logif = 0
        return to

    def _tag(self, name: str) -> int:
        if name not in self.tags:
            self.tags[name] = len(self.tags) + 1
        return self.tags[name]

    def add_rule(self, anchor: str, ticket: int, frm: ctypes.Structure, anchor_call: str) -> SimRule:
        """DIOCADDRULE: append a rule to *anchor*'s inactive ruleset (needs its transaction ticket)."""
        kr = self.rule_copyin(frm)
        if frm.return_icmp >> 8 > ICMP_MAXTYPE:
            raise KernelError(errno.EINVAL)
        _check_af(kr)
        if kr.src.addr.type == C.PF_ADDR_NONE or kr.dst.addr.type == C.PF_ADDR_NONE:
            raise KernelError(errno.EINVAL)
        if kr.rt and not kr.direction:
            raise KernelError(errno.EINVAL)
        rs = self.find_ruleset(anchor)
        if rs is None:
            raise KernelError(errno.EINVAL)
        if ticket != rs.inactive_version:
            raise KernelError(errno.EBUSY)
        call_path = self._anchor_call_path(rs, anchor_call) if anchor_call else None
        if anchor_call and call_path is None:
            raise KernelError(errno.EINVAL)
        # from here on nothing fails: take the references
        kr.cuid, kr.cpid = 0, 1
        if kr.tagname:
            kr.tag = self._tag(cstr(kr.tagname))
        if kr.match_tagname:
            kr.match_tag = self._tag(cstr(kr.match_tagname))
        r = SimRule(kr, rs)
        r.nr = rs.inactive[-1].nr + 1 if rs.inactive else 0
        kr.nr = r.nr
        for ifname in {cstr(kr.ifname), cstr(kr.rcv_ifname), cstr(kr.nat.ifname), cstr(kr.rdr.ifname),
                       cstr(kr.route.ifname)} - {""}:
            self.kif_get(ifname).rules += 1
            r.kifs.append(ifname)
        if kr.overload_tblname:
            kt = self.tables.attach_table(rs, cstr(kr.overload_tblname))
            kt.flags |= C.PFR_TFLAG_ACTIVE
            r.tables.append(("overload", kt))
        for where in ("src", "dst", "rdr", "nat", "route"):
            ra = getattr(kr, where)
            if ra.addr.type == C.PF_ADDR_DYNIFTL:  # pfi_dynaddr_setup(): a kif reference for the rule
                ifname = cstr(ra.addr.v.ifname)
                self.kif_get(ifname).rules += 1
                r.kifs.append(ifname)
        for where in ("src", "dst"):
            aw = getattr(kr, where).addr
            if aw.type == C.PF_ADDR_TABLE:
                r.tables.append((where, self.tables.attach_table(rs, cstr(aw.v.tblname))))
        for where in ("rdr", "nat", "route"):
            aw = getattr(kr, where).addr
            if aw.type == C.PF_ADDR_TABLE:
                r.tables.append((where, self.tables.attach_table(rs, cstr(aw.v.tblname))))
        if call_path is not None:
            target, relative, wildcard = call_path
            a = self.find_or_create_ruleset(target)
            assert a is not None and a is not self.main
            kr.anchor_relative, kr.anchor_wildcard = relative, wildcard
            a.refcnt += 1
            r.anchor = a
        else:
            kr.anchor_relative = kr.anchor_wildcard = 0
        rs.inactive.append(r)
        return r

    def _anchor_call_path(self, rs: SimAnchor, name: str) -> tuple[str, int, int] | None:
        """pf_anchor_setup(): resolve an anchor call to (path, anchor_relative, anchor_wildcard)."""
        relative = wildcard = 0
        if name.startswith("/"):
            path = name[1:]
        else:
            relative = 1
            path = rs.path
            while name.startswith("../"):
                if not path:
                    return None  # ".." beyond root
                path = path.rsplit("/", 1)[0] if "/" in path else ""
                relative += 1
                name = name[3:]
            path = f"{path}/{name}" if path else name
        if path.endswith("/*") or path == "*":
            wildcard = 1
            path = path[:-2] if path.endswith("/*") else ""
        parts = path.split("/") if path else []
        if not parts or any(not p or len(p.encode()) >= C.PF_ANCHOR_NAME_SIZE for p in parts):
            return None
        return path, relative, wildcard

    def anchor_call_string(self, rs: SimAnchor, r: SimRule) -> str:
        """pf_anchor_copyout(): how DIOCGETRULE spells a rule's anchor call."""
        if r.anchor is None:
            return ""
        kr = r.kr
        if not kr.anchor_relative:
            s = "/" + r.anchor.path
        else:
            base = rs.path
            s = ""
            for _ in range(1, kr.anchor_relative):
                base = base.rsplit("/", 1)[0] if "/" in base else ""
                s += "../"
            if r.anchor.path.startswith(base) and len(r.anchor.path) > len(base):
                s += r.anchor.path[len(base) + 1 if base else 0:]
        if kr.anchor_wildcard:
            s += "/*" if s else "*"
        return s

    def remove_rule(self, r: SimRule) -> None:
        """pf_rm_rule(): drop the references a rule holds; a state keeps pointing at it (nr -1)."""
        for _where, kt in r.tables:
            self.tables.detach_table(kt)
        r.tables = []
        for ifname in r.kifs:
            self.kif_unref_rule(ifname)
        r.kifs = []
        if r.anchor is not None:
            a, r.anchor = r.anchor, None
            a.refcnt -= 1
            if a.refcnt == 0:
                self.remove_if_empty_ruleset(a)
        r.nr = U32

    def begin_rules(self, anchor: str) -> int:
        """pf_begin_rules(): empty the inactive ruleset and open it; returns its new version."""
        rs = self.find_or_create_ruleset(anchor)
        if rs is None:
            raise KernelError(errno.EINVAL)
        for r in rs.inactive:
            self.remove_rule(r)
        rs.inactive = []
        rs.inactive_version = (rs.inactive_version + 1) & U32
        rs.inactive_open = True
        return rs.inactive_version

    def rollback_rules(self, ticket: int, anchor: str) -> None:
        """pf_rollback_rules(): a stale ticket is ignored."""
        rs = self.find_ruleset(anchor)
        if rs is None or not rs.inactive_open or rs.inactive_version != ticket:
            return
        for r in rs.inactive:
            self.remove_rule(r)
        rs.inactive = []
        rs.inactive_open = False
        if anchor:
            return
        self.statelims_inactive = {}
        self.sourcelims_inactive = {}
        self.queues_inactive = []

    def check_rules_ticket(self, ticket: int, anchor: str) -> bool:
        rs = self.find_ruleset(anchor)
        return rs is not None and rs.inactive_open and rs.inactive_version == ticket

    def commit_rules(self, ticket: int, anchor: str) -> None:
        """pf_commit_rules(): the inactive ruleset becomes active; the old one is freed."""
        rs = self.find_ruleset(anchor)
        if rs is None or not rs.inactive_open or ticket != rs.inactive_version:
            raise KernelError(errno.EBUSY)
        if rs is self.main:
            self.chksum = self._chksum(rs.inactive)
        old = rs.active
        rs.active, rs.inactive = rs.inactive, []
        rs.active_version = rs.inactive_version
        calc_skip_steps(rs.active)
        for r in old:
            self.remove_rule(r)
        rs.inactive_open = False
        self.remove_if_empty_ruleset(rs)
        if anchor:
            return
        self.statelims, self.statelims_inactive = self.statelims_inactive, {}
        self.sourcelims, self.sourcelims_inactive = self.sourcelims_inactive, {}
        self.queues, self.queues_inactive = self.queues_inactive, []

    def _chksum(self, rules: list[SimRule]) -> bytes:
        """pf_calc_chksum(): an MD5 over the fields pf_hash_rule() takes (not bit-identical to it)."""
        h = hashlib.md5()
        L = self.layout.pf_rule
        names = ("src", "dst", "label", "ifname", "rcv_ifname", "match_tagname", "os_fingerprint", "prob", "uid",
                 "gid", "rule_flag", "action", "direction", "af", "quick", "ifnot", "rcvifnot", "match_tag_not",
                 "keep_state", "proto", "type", "code", "flags", "flagset", "allow_opts", "rt", "tos")
        spans = [(getattr(L, n).offset, getattr(L, n).size) for n in names]
        for r in rules:
            raw = bytes(r.kr)
            for off, size in spans:
                h.update(raw[off:off + size])
        return h.digest()

    def add_queue(self, ticket: int, user: ctypes.Structure) -> SimQueue:
        """DIOCADDQUEUE: a queue for the next main-ruleset commit; names are NUL-terminated,
        the qid comes from the queue name, the parent must exist (ESRCH)."""
        if ticket != self.main.inactive_version:
            raise KernelError(errno.EBUSY)
        spec = type(user).from_buffer_copy(user)
        for f in ("qname", "parent", "ifname"):
            set_cstr(spec, f, field_bytes(spec, f)[:-1])
        qname, parent = cstr(spec.qname), cstr(spec.parent)
        if not qname:
            raise KernelError(errno.EBUSY)
        if parent and parent not in self.qids:
            raise KernelError(errno.ESRCH)
        if qname not in self.qids:
            self.qids[qname] = len(self.qids) + 1
        spec.qid = self.qids[qname]
        spec.parent_qid = self.qids[parent] if parent else 0
        kif = self.kif_get(cstr(spec.ifname))
        spec.kif = kif.addr
        spec.entries.tqe_next = self.kaddr()
        spec.entries.tqe_prev = self.kaddr()
        q = SimQueue(spec)
        self.queues_inactive.append(q)
        return q

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
        st.sport, st.dport = _htons(sk[s_i][1]), _htons(sk[d_i][1])
        self.insert_state(st)

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
            end = r.kr.timeout[C.PFTM_ADAPTIVE_END]  # type: ignore[union-attr]
            states = r.states_cur  # type: ignore[union-attr]
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

    # --- traffic -------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock and let traffic flow: every counter grows at its own rate, states
        come and go (deterministic from the seed and the sequence of calls)."""
        if seconds < 0:
            raise ValueError(f"advance() takes a non-negative number of seconds, got {seconds}")
        self.clock.advance(seconds)
        if not self.running or seconds == 0:
            return
        from .traffic import flow

        flow(self, float(seconds))

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


@functools.cache
def _rule_spans(cls: type) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """pf_rule_copyin(): the fields it leaves zero, and the strings it strlcpy()s."""
    zero = ("skip", "entries", "evaluations", "packets", "bytes", "kif", "rcv_kif", "anchor", "overload_tbl",
            "states_cur", "src_nodes", "nr", "qid", "pqid", "tag", "match_tag", "cuid", "cpid", "exptime")
    strings = ("label", "ifname", "rcv_ifname", "qname", "pqname", "tagname", "match_tagname", "overload_tblname")
    return ([(getattr(cls, n).offset, getattr(cls, n).size) for n in zero],
            [(getattr(cls, n).offset, getattr(cls, n).size) for n in strings])


def _ntohs(v: int) -> int:
    return ((v & 0xFF) << 8) | (v >> 8)


def _htons(v: int) -> int:
    """A port in network byte order, as the native value of its u_int16_t field."""
    return ((v & 0xFF) << 8) | (v >> 8)


def _check_pfsync_layout(layout: object) -> None:
    """The packed pfsync_state format used for exports must agree with the ABI layer."""
    cls = layout.pfsync_state  # type: ignore[attr-defined]
    if ctypes.sizeof(cls) != PFSYNC_STATE.size or cls.rule.offset != STATE_DYNAMIC_OFFSET:
        raise AssertionError("pfsync_state layout and the simulator's export format disagree")


def _valid_range(op: int, a: int, b: int) -> bool:
    """pf_validate_range(): empty port ranges are refused."""
    return not ((op == C.PF_OP_RRG and a > b) or (op == C.PF_OP_IRG and a >= b) or (op == C.PF_OP_XRG and a > b))


def _check_af(r: ctypes.Structure) -> None:
    """pf_rule_checkaf()."""
    afto = r.rule_flag & C.PFRULE_AFTO
    if r.af == 0:
        if afto:
            raise KernelError(errno.EPFNOSUPPORT)
    elif r.af == C.AF_INET:
        if afto and r.naf != C.AF_INET6:
            raise KernelError(errno.EPFNOSUPPORT)
    elif r.af == C.AF_INET6:
        if afto and r.naf != C.AF_INET:
            raise KernelError(errno.EPFNOSUPPORT)
    else:
        raise KernelError(errno.EPFNOSUPPORT)
    if not afto and r.naf != 0:
        raise KernelError(errno.EPFNOSUPPORT)


def _addr_wrap_key(aw: ctypes.Structure, af: int) -> tuple[object, ...]:
    """What pf_addr_wrap_neq() compares for each address type."""
    t = aw.type
    if t in (C.PF_ADDR_ADDRMASK, C.PF_ADDR_RANGE):
        return (t, bytes(aw.v.a.addr), bytes(aw.v.a.mask))
    if t == C.PF_ADDR_DYNIFTL:
        # the same pfid_kt, whose name pfi_dynaddr_setup() makes of the interface, the flags and
        # the prefix (an IPv4 /32 counts as 128, like IPv6's)
        net = int.from_bytes(bytes(aw.v.a.mask), "big").bit_count()
        if af == C.AF_INET and net == 32:
            net = 128
        return (t, aw.v.ifname, aw.iflags, net)
    if t == C.PF_ADDR_TABLE:
        return (t, aw.v.tblname)
    if t == C.PF_ADDR_RTLABEL:
        return (t, aw.v.rtlabelname)
    return (t,)


def calc_skip_steps(rules: list[SimRule]) -> None:
    """pf_calc_skip_steps(): for each of the 9 skip fields, the number of the next rule that differs."""
    if not rules:
        return

    def keys(r: SimRule) -> tuple[object, ...]:
        k = r.kr
        return (
            (k.ifname, k.ifnot), k.direction, (k.onrdomain, k.ifnot), k.af, k.proto,
            (k.src.neg, _addr_wrap_key(k.src.addr, k.af)), (k.dst.neg, _addr_wrap_key(k.dst.addr, k.af)),
            (k.src.port[0], k.src.port[1], k.src.port_op), (k.dst.port[0], k.dst.port[1], k.dst.port_op),
        )

    ks = [keys(r) for r in rules]
    n = len(rules)
    for i in range(9):
        nxt = U32
        for j in range(n - 1, -1, -1):
            if j + 1 < n and ks[j + 1][i] != ks[j][i]:
                nxt = rules[j + 1].nr
            rules[j].skip[i] = nxt
            rules[j].kr.skip[i].nr = nxt


STATE_DYNAMIC_OFFSET = 8 + 16 + 80 + 32 + 32 + 16  # pfsync_state.rule
