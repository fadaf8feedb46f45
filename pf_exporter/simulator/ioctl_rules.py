"""pfioctl()'s transaction, rule, ruleset and queue cases (net/pf_ioctl.c, net/hfsc.c,
net/fq_codel.c)."""

from __future__ import annotations

import ctypes
import errno
from typing import TYPE_CHECKING

from ..abi import constants as C
from .handlers import anchor_arg, copyout, fail, handles, user_array
from .ioctl_status import xcommit_kifs
from .objects import SimQueue
from .wire import U32, cstr, field_bytes, set_cstr

if TYPE_CHECKING:
    from .kernel import PfKernel as Simulator
    from .transport import SimTransport


# --- transactions ---------------------------------------------------------------------------

def _trans_elements(sim: Simulator, io: ctypes.Structure) -> ctypes.Array:
    if io.esize != ctypes.sizeof(sim.layout.pfioc_trans_e):
        fail(errno.ENODEV)
    return user_array(sim, "pfioc_trans_e", io.array, io.size)


def _trans_anchor(e: ctypes.Structure) -> str:
    raw = field_bytes(e, "anchor")
    if b"\0" not in raw:
        fail(errno.ENAMETOOLONG)
    return cstr(raw)


@handles("DIOCXBEGIN")
def diocxbegin(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCXBEGIN: open each element's ruleset (pf_begin_rules) or tables (pfr_ina_begin) and
    write its ticket back; an error stops there, earlier elements stay open."""
    arr = _trans_elements(sim, io)
    sim.timeouts_new = list(sim.timeouts)
    sim.trans_set = {}
    for e in arr:
        anchor = _trans_anchor(e)
        if e.type == C.PF_TRANS_TABLE:
            e.ticket = sim.tables.ina_begin(anchor)
        elif e.type == C.PF_TRANS_RULESET:
            e.ticket = sim.begin_rules(anchor)
        else:
            fail(errno.EINVAL)


@handles("DIOCXROLLBACK")
def diocxrollback(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCXROLLBACK: pfr_ina_rollback() / pf_rollback_rules(); stale tickets are ignored."""
    for e in _trans_elements(sim, io):
        anchor = _trans_anchor(e)
        if e.type == C.PF_TRANS_TABLE:
            sim.tables.ina_rollback(anchor, e.ticket)
        elif e.type == C.PF_TRANS_RULESET:
            sim.rollback_rules(e.ticket, anchor)
        else:
            fail(errno.EINVAL)


@handles("DIOCXCOMMIT")
def diocxcommit(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCXCOMMIT: check every ticket first (EBUSY, nothing changes), then commit them all,
    then the options: timeouts, interface flags, pf_trans_set (and limits up to 7.7)."""
    arr = _trans_elements(sim, io)
    elements = []
    for e in arr:
        anchor = _trans_anchor(e)
        if e.type == C.PF_TRANS_TABLE:
            ok = sim.tables.ina_check(anchor, e.ticket)
        elif e.type == C.PF_TRANS_RULESET:
            ok = sim.check_rules_ticket(e.ticket, anchor)
        else:
            fail(errno.EINVAL)
        if not ok:
            fail(errno.EBUSY)
        elements.append((e.type, anchor, e.ticket))
    deferred_limits = "immediate-limits" not in sim.abi.features
    if deferred_limits and any(sim.pool_inuse(i) > sim.limits_new[i] for i in range(C.PF_LIMIT_MAX)):
        fail(errno.EBUSY)
    for typ, anchor, ticket in elements:
        if typ == C.PF_TRANS_TABLE:
            sim.tables.ina_commit(anchor, ticket)
        else:
            sim.commit_rules(ticket, anchor)
    if deferred_limits:
        sim.limits = list(sim.limits_new)
    sim.timeouts = list(sim.timeouts_new)
    xcommit_kifs(sim)
    ts = sim.trans_set
    if "statusif" in ts:
        sim.status_ifname = str(ts["statusif"])
    if "debug" in ts:
        sim.debug = int(ts["debug"])
    if "hostid" in ts:
        sim.hostid = int(ts["hostid"])
    if "reass" in ts:
        sim.reass = int(ts["reass"])

# --- rules and anchors -----------------------------------------------------------------------

@handles("DIOCADDRULE")
def diocaddrule(sim: Simulator, fd: SimTransport, pr: ctypes.Structure) -> None:
    """DIOCADDRULE: pf_rule_copyin() and the checks around it; the rule goes to the inactive
    ruleset of pr.anchor, whose transaction ticket pr.ticket must be."""
    sim.add_rule(anchor_arg(field_bytes(pr, "anchor")), pr.ticket, pr.rule,
                 cstr(field_bytes(pr, "anchor_call")))


@handles("DIOCGETRULESETS")
def diocgetrulesets(sim: Simulator, fd: SimTransport, pr: ctypes.Structure) -> None:
    """DIOCGETRULESETS: how many child anchors pr.path has (EINVAL when it does not exist)."""
    rs = sim.find_ruleset(anchor_arg(field_bytes(pr, "path")))
    if rs is None:
        fail(errno.EINVAL)
    assert rs is not None
    pr.nr = len(sim.top_anchors()) if rs is sim.main else len(rs.children)


@handles("DIOCGETRULESET")
def diocgetruleset(sim: Simulator, fd: SimTransport, pr: ctypes.Structure) -> None:
    """DIOCGETRULESET: the name of child number pr.nr; EBUSY past the end."""
    rs = sim.find_ruleset(anchor_arg(field_bytes(pr, "path")))
    if rs is None:
        fail(errno.EINVAL)
    assert rs is not None
    children = sim.top_anchors() if rs is sim.main else rs.sorted_children()
    set_cstr(pr, "name", "")
    if pr.nr < len(children):
        set_cstr(pr, "name", children[pr.nr].name)
    else:
        fail(errno.EBUSY)


@handles("DIOCGETRULES")
def diocgetrules(sim: Simulator, fd: SimTransport, pr: ctypes.Structure) -> None:
    """DIOCGETRULES: open a rule walk of pr.anchor: ticket, and last rule number + 1 in pr.nr.
    EINVAL for an unknown anchor, EBUSY when the descriptor already holds 512 tickets."""
    rs = sim.find_ruleset(anchor_arg(field_bytes(pr, "anchor")))
    if rs is None:
        fail(errno.EINVAL)
    assert rs is not None
    pr.nr = rs.active[-1].nr + 1 if rs.active else 0
    ticket = sim.open_trans(fd.unit, rs)
    if ticket is None:
        fail(errno.EBUSY)
    pr.ticket = ticket


@handles("DIOCGETRULE")
def diocgetrule(sim: Simulator, fd: SimTransport, pr: ctypes.Structure) -> None:
    """DIOCGETRULE: the walk's next rule.  ENXIO for a ticket not of this descriptor, EBUSY
    when the ruleset changed since DIOCGETRULES, ENOENT past the end.  Kernel pointers are
    zeroed, skip steps become rule numbers, tables show their address count."""
    t = sim.find_trans(fd.unit, pr.ticket)
    if t is None:
        fail(errno.ENXIO)
    assert t is not None
    rs = t.anchor
    if t.version != rs.active_version:
        fail(errno.EBUSY)
    if t.pos >= len(t.rules):
        fail(errno.ENOENT)
    r = t.rules[t.pos]
    out = pr.rule
    ctypes.memmove(ctypes.addressof(out), ctypes.addressof(r.kr), ctypes.sizeof(out))
    out.evaluations = int(r.evaluations)
    out.packets[0], out.packets[1] = int(r.packets[0]), int(r.packets[1])
    out.bytes[0], out.bytes[1] = int(r.bytes[0]), int(r.bytes[1])
    out.states_cur = r.states_cur
    out.states_tot = r.states_tot & U32
    out.src_nodes = r.src_nodes
    out.pktrate.limit = r.kr.pktrate.limit // C.PF_THRESHOLD_MULT
    set_cstr(pr, "anchor_call", sim.anchor_call_string(rs, r))
    for where, kt in r.tables:
        if where in ("src", "dst", "rdr", "nat", "route"):
            ra = getattr(out, where)
            ra.addr.p.tblcnt = sim.tables.copyout_count(kt)
    for where in ("src", "dst", "rdr", "nat", "route"):  # pfi_dynaddr_copyout()
        aw = getattr(out, where).addr
        if aw.type == C.PF_ADDR_DYNIFTL:
            aw.p.dyncnt = sim.dyn_count(cstr(field_bytes(aw.v, "ifname")), aw.iflags, r.af)
    if pr.action == C.PF_GET_CLR_CNTR:
        r.evaluations = 0.0
        r.packets = [0.0, 0.0]
        r.bytes = [0.0, 0.0]
        r.states_tot = 0
    pr.nr = r.nr
    t.pos += 1


@handles("DIOCXEND")
def diocxend(sim: Simulator, fd: SimTransport, ticket: ctypes.c_uint32) -> None:
    """DIOCXEND: release a rule-walk ticket (pf_rollback_trans); ENXIO if it is not ours."""
    if sim.find_trans(fd.unit, ticket.value) is None:
        fail(errno.ENXIO)
    sim.close_trans(ticket.value)

# --- queues (pf_ioctl.c, net/hfsc.c, net/fq_codel.c) ------------------------------------------

@handles("DIOCGETQUEUES")
def diocgetqueues(sim: Simulator, fd: SimTransport, pq: ctypes.Structure) -> None:
    """DIOCGETQUEUES: the number of active queues; the ticket is the main ruleset's version."""
    pq.ticket = sim.main.active_version
    pq.nr = len(sim.queues)


def _queue(sim: Simulator, ticket: int, nr: int) -> SimQueue:
    if ticket != sim.main.active_version or nr >= len(sim.queues):
        fail(errno.EBUSY)
    return sim.queues[nr]


@handles("DIOCGETQUEUE")
def diocgetqueue(sim: Simulator, fd: SimTransport, pq: ctypes.Structure) -> None:
    """DIOCGETQUEUE: queue number pq.nr (memcpy of the pf_queuespec); EBUSY for a stale ticket
    or past the end."""
    q = _queue(sim, pq.ticket, pq.nr)
    ctypes.memmove(ctypes.addressof(pq.queue), ctypes.addressof(q.spec), ctypes.sizeof(pq.queue))


@handles("DIOCGETQSTATS")
def diocgetqstats(sim: Simulator, fd: SimTransport, pq: ctypes.Structure) -> None:
    """DIOCGETQSTATS: the queue and its statistics: fqcodel_pf_qstats() for a root flow queue
    that is no HFSC root class, else hfsc_pf_qstats(); EINVAL when nbytes is too small."""
    q = _queue(sim, pq.ticket, pq.nr)
    ctypes.memmove(ctypes.addressof(pq.queue), ctypes.addressof(q.spec), ctypes.sizeof(pq.queue))
    kif = sim.kifs.get(q.ifname)
    if kif is None or not kif.has_ifp:
        fail(errno.EBADF)
    L = sim.layout
    if q.fq_stats():
        st = L.fqcodel_stats()
        if pq.nbytes < ctypes.sizeof(st):
            fail(errno.EINVAL)
        st.xmit_cnt.packets, st.xmit_cnt.bytes = int(q.xmit_packets), int(q.xmit_bytes)
        st.drop_cnt.packets, st.drop_cnt.bytes = int(q.drop_packets), int(q.drop_bytes)
        st.qlength = q.qlength
        st.qlimit = q.qlimit
        st.flows = q.flows
        st.delaysum = q.delaysum
        st.delaysumsq = q.delaysumsq
    else:
        st = L.hfsc_class_stats()
        if pq.nbytes < ctypes.sizeof(st):
            fail(errno.EINVAL)
        spec = q.spec
        st.class_id = q.qid
        st.class_handle = q.class_handle
        for dst, sc in ((st.rsc, spec.realtime), (st.fsc, spec.linkshare), (st.usc, spec.upperlimit)):
            dst.m1, dst.d, dst.m2 = sc.m1.absolute, sc.d, sc.m2.absolute
        st.total = int(q.xmit_bytes)
        st.cumul = int(q.xmit_bytes)
        st.cur_time = sim.clock.nsecuptime()
        st.machclk_freq = 1_000_000_000  # HFSC_FREQ
        st.qlength = q.qlength
        st.qlimit = q.qlimit
        st.xmit_cnt.packets, st.xmit_cnt.bytes = int(q.xmit_packets), int(q.xmit_bytes)
        st.drop_cnt.packets, st.drop_cnt.bytes = int(q.drop_packets), int(q.drop_bytes)
        st.period = q.period
        st.vtperiod = q.period
        st.parentperiod = q.period
        st.nactive = 1 if q.qlength else 0
    copyout(pq.buf, st, ctypes.sizeof(st))
    pq.nbytes = ctypes.sizeof(st)


@handles("DIOCADDQUEUE")
def diocaddqueue(sim: Simulator, fd: SimTransport, q: ctypes.Structure) -> None:
    """DIOCADDQUEUE: append to the inactive queue list (main ruleset's inactive ticket)."""
    sim.add_queue(q.ticket, q.queue)
