"""Rule loading as pf_ioctl.c does it: DIOCADDRULE's copy-in and checks (``pf_rule_copyin``),
anchor calls (``pf_anchor_setup``), the inactive ruleset's begin, rollback and commit
(``pf_begin_rules``, ``pf_rollback_rules``, ``pf_commit_rules``), skip steps and queues.

:class:`RuleLoading` is a part of the kernel model (:class:`.kernel.PfKernel` inherits it)."""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
from typing import TYPE_CHECKING, Any

from ..abi import Abi
from ..abi import constants as C
from .clock import SimClock
from .objects import SimAnchor, SimKif, SimQueue, SimRule, SimSourceLimiter, SimStateLimiter
from .wire import U32, KernelError, cstr, field_bytes, ntohs, set_cstr

IFQ_MAXPRIO = 7
ICMP_MAXTYPE = 40


class RuleLoading:
    """The kernel model's rule loading; the attributes below are the kernel's (:class:`.kernel.PfKernel`)."""

    abi: Abi
    layout: Any
    clock: SimClock
    main: SimAnchor
    anchors: dict[str, SimAnchor]
    tags: dict[str, int]
    qids: dict[str, int]
    tables: Any  # tables.TableStore
    kifs: dict[str, SimKif]
    queues: list[SimQueue]
    queues_inactive: list[SimQueue]
    statelims: dict[int, SimStateLimiter]
    statelims_inactive: dict[int, SimStateLimiter]
    sourcelims: dict[int, SimSourceLimiter]
    sourcelims_inactive: dict[int, SimSourceLimiter]
    chksum: bytes

    if TYPE_CHECKING:
        def find_ruleset(self, path: str) -> SimAnchor | None: ...
        def find_or_create_ruleset(self, path: str) -> SimAnchor | None: ...
        def remove_if_empty_ruleset(self, rs: SimAnchor | None) -> None: ...
        def kif_get(self, name: str) -> SimKif: ...
        def kif_unref_rule(self, name: str) -> None: ...
        def kaddr(self) -> int: ...

    def rule_copyin(self, frm: ctypes.Structure) -> ctypes.Structure:  # noqa: C901 - mirrors pf_rule_copyin(): one check per field
        """pf_rule_copyin(): the kernel's copy of a user rule: only the fields it takes,
        strings cut at their first NUL, pointers and counters zero."""
        L = self.layout
        if frm.scrub_flags & C.PFSTATE_SETPRIO and (frm.set_prio[0] > IFQ_MAXPRIO or frm.set_prio[1] > IFQ_MAXPRIO):
            raise KernelError(errno.EINVAL)
        for ra in (frm.src, frm.dst):
            if not _valid_range(ra.port_op, ntohs(ra.port[0]), ntohs(ra.port[1])):
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

    def add_rule(self, anchor: str, ticket: int, frm: ctypes.Structure, anchor_call: str) -> SimRule:  # noqa: C901 - mirrors pfioctl()'s DIOCADDRULE case and its checks
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


@functools.cache
def _rule_spans(cls: type) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """pf_rule_copyin(): the fields it leaves zero, and the strings it strlcpy()s."""
    zero = ("skip", "entries", "evaluations", "packets", "bytes", "kif", "rcv_kif", "anchor", "overload_tbl",
            "states_cur", "src_nodes", "nr", "qid", "pqid", "tag", "match_tag", "cuid", "cpid", "exptime")
    strings = ("label", "ifname", "rcv_ifname", "qname", "pqname", "tagname", "match_tagname", "overload_tblname")
    return ([(getattr(cls, n).offset, getattr(cls, n).size) for n in zero],
            [(getattr(cls, n).offset, getattr(cls, n).size) for n in strings])


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
