"""pfioctl()'s state, source-node and 7.9 limiter cases (net/pf_ioctl.c)."""

from __future__ import annotations

import ctypes
import errno
from itertools import islice
from typing import TYPE_CHECKING

from ..abi import array
from ..abi import constants as C
from .handlers import copyout, fail, handles, user_array
from .ioctl_status import host_from_network
from .objects import SimSourceLimiter, SimState, SimStateLimiter, source_key
from .wire import DYNAMIC, STATE_DYNAMIC_OFFSET, cstr, field_bytes, ntohs, set_cstr

if TYPE_CHECKING:
    from .kernel import PfKernel as Simulator
    from .transport import SimTransport


# --- states ---------------------------------------------------------------------------------

@handles("DIOCGETSTATES")
def diocgetstates(sim: Simulator, fd: SimTransport, ps: ctypes.Structure) -> None:
    """DIOCGETSTATES: pf_states_get().  ps_len 0 asks for the bytes needed; otherwise as many
    whole pfsync_states as fit are copied and ps_len says how many bytes were written."""
    esize = ctypes.sizeof(sim.layout.pfsync_state)
    if ps.ps_len == 0:
        ps.ps_len = esize * len(sim.states)
        return
    n = min(ps.ps_len // esize, len(sim.states))
    if n and not ps.ps_u.psu_buf:
        fail(errno.EFAULT)
    now = sim.clock.uptime()
    chosen = list(islice(sim.states.values(), n))
    out = bytearray(b"".join(st.tmpl for st in chosen))
    pack, dyn = DYNAMIC.pack_into, sim.state_dynamic
    for i, st in enumerate(chosen):
        pack(out, i * esize + STATE_DYNAMIC_OFFSET, *dyn(st, now))
    copyout(ps.ps_u.psu_buf, out, len(out))
    ps.ps_len = esize * n


@handles("DIOCGETSTATE")
def diocgetstate(sim: Simulator, fd: SimTransport, ps: ctypes.Structure) -> None:
    """DIOCGETSTATE: one state by (id, creatorid); ENOENT when there is none."""
    st = _state_by_id(sim, ps.state.id, ps.state.creatorid)
    if st is None:
        fail(errno.ENOENT)
    assert st is not None
    ctypes.memmove(ctypes.addressof(ps.state), sim.pack_state(st, sim.clock.uptime()), ctypes.sizeof(ps.state))


def _state_by_id(sim: Simulator, raw_id: int, raw_creator: int) -> SimState | None:
    """pf_find_state_byid(): ids are compared as the kernel stores them (network order)."""
    sid = int.from_bytes(raw_id.to_bytes(8, "little"), "big")
    creator = int.from_bytes(raw_creator.to_bytes(4, "little"), "big")
    st = sim.states.get(sid)
    return st if st is not None and creator == sim.hostid else None


@handles("DIOCCLRSTATES")
def diocclrstates(sim: Simulator, fd: SimTransport, psk: ctypes.Structure) -> None:
    """DIOCCLRSTATES: pf_states_clr(), every state or those of psk_ifname."""
    ifname = cstr(field_bytes(psk, "psk_ifname"))
    victims = [st for st in sim.states.values() if not ifname or st.kif == ifname]
    for st in victims:
        sim.remove_state(st)
    psk.psk_killed = len(victims)


def _match_addr(neg: int, a: bytes, m: bytes, b: bytes, af: int) -> bool:
    """pf_match_addr()."""
    n = 4 if af == C.AF_INET else 16
    hit = all((a[i] & m[i]) == (b[i] & m[i]) for i in range(n))
    return hit != bool(neg)


def _match_port(op: int, a1: int, a2: int, p: int) -> bool:
    """pf_match_port(): ports in network order, compared in host order."""
    a1, a2, p = ntohs(a1), ntohs(a2), ntohs(p)
    return {
        C.PF_OP_IRG: a1 < p < a2, C.PF_OP_XRG: p < a1 or p > a2, C.PF_OP_RRG: a1 <= p <= a2,
        C.PF_OP_EQ: p == a1, C.PF_OP_NE: p != a1, C.PF_OP_LT: p < a1, C.PF_OP_LE: p <= a1,
        C.PF_OP_GT: p > a1, C.PF_OP_GE: p >= a1,
    }.get(op, False)


def state_keys(st: object) -> tuple[tuple[bytes, bytes, int, int, int, int], ...]:
    """The (addr0, addr1, port0, port1, rdomain, af) of key[PF_SK_WIRE] and key[PF_SK_STACK];
    ports stay in network order."""
    import struct

    out = []
    for off in (24, 64):
        a0, a1, p0, p1, rd, af = struct.unpack_from("16s16s2s2s2sB", st.tmpl, off)  # type: ignore[attr-defined]  # states always have a template
        out.append((a0, a1, int.from_bytes(p0, "little"), int.from_bytes(p1, "little"),
                    int.from_bytes(rd, "big"), af))
    return tuple(out)


@handles("DIOCKILLSTATES")
def diockillstates(sim: Simulator, fd: SimTransport, psk: ctypes.Structure) -> None:  # noqa: C901 - mirrors pfioctl()'s DIOCKILLSTATES case condition by condition
    """DIOCKILLSTATES: by state id; by an exact connection (af, proto and both ports `=`);
    or every state matching af, proto, rdomain, addresses/masks, port ranges, label, interface."""
    if psk.psk_pfcmp.id:
        creator = psk.psk_pfcmp.creatorid or host_from_network(sim.hostid)
        st = _state_by_id(sim, psk.psk_pfcmp.id, creator)
        if st is not None:
            sim.remove_state(st)
            psk.psk_killed = 1
        return
    ifname = cstr(field_bytes(psk, "psk_ifname"))
    src, dst = psk.psk_src, psk.psk_dst
    saddr, daddr = bytes(src.addr.v.a.addr), bytes(dst.addr.v.a.addr)
    if psk.psk_af and psk.psk_proto and src.port_op == C.PF_OP_EQ and dst.port_op == C.PF_OP_EQ:
        killed = 0
        for st in list(sim.states.values()):
            wire, stack = state_keys(st)
            if st.proto != psk.psk_proto:
                continue
            hit = False
            for idx, sk in ((0, wire), (1, stack)):
                a0, a1, p0, p1, rd, af = sk
                if af != psk.psk_af or rd != psk.psk_rdomain:
                    continue
                n = 4 if af == C.AF_INET else 16
                if idx == 0:  # PF_IN: the key as sent, source first
                    hit = a0[:n] == saddr[:n] and a1[:n] == daddr[:n] and p0 == src.port[0] and p1 == dst.port[0]
                else:  # PF_OUT: source and destination swapped
                    hit = a1[:n] == saddr[:n] and a0[:n] == daddr[:n] and p1 == src.port[0] and p0 == dst.port[0]
                if hit:
                    break
            if hit and (not ifname or (st.kif != "all" and st.kif == ifname)):
                sim.remove_state(st)
                killed += 1
        if killed:
            psk.psk_killed = killed
        return
    smask, dmask = bytes(src.addr.v.a.mask), bytes(dst.addr.v.a.mask)
    label = cstr(field_bytes(psk, "psk_label"))
    killed = 0
    for st in sorted(sim.states.values(), key=lambda s: s.id):
        if psk.psk_af and st.af != psk.psk_af:
            continue
        if psk.psk_proto and st.proto != psk.psk_proto:
            continue
        if psk.psk_rdomain != st.rdomain:
            continue
        if not _match_addr(src.neg, saddr, smask, st.src, st.af):
            continue
        if not _match_addr(dst.neg, daddr, dmask, st.dst, st.af):
            continue
        if src.port_op and not _match_port(src.port_op, src.port[0], src.port[1], st.sport):
            continue
        if dst.port_op and not _match_port(dst.port_op, dst.port[0], dst.port[1], st.dport):
            continue
        if label and not (st.rule is not None and st.rule.label and st.rule.label == label):
            continue
        if ifname and st.kif != ifname:
            continue
        sim.remove_state(st)
        killed += 1
    psk.psk_killed = killed


# --- 7.9 limiters -------------------------------------------------------------------------

def _find_limiter(table: dict, wanted: int, nfind: bool) -> object:
    if not nfind:
        return table.get(wanted)
    ids = sorted(i for i in table if i >= wanted)
    return table[ids[0]] if ids else None


@handles("DIOCGETSTATELIM", "DIOCGETNSTATELIM")
def diocgetstatelim(sim: Simulator, fd: SimTransport, ioc: ctypes.Structure) -> None:
    """DIOCGETSTATELIM / DIOCGETNSTATELIM: pf_statelim_get() (RBT_FIND / RBT_NFIND by id);
    ENOENT when there is none.  The description is never filled in."""
    nfind = sim._current == "DIOCGETNSTATELIM"
    lim = _find_limiter(sim.statelims, ioc.id, nfind)
    if lim is None:
        fail(errno.ENOENT)
    assert isinstance(lim, SimStateLimiter)
    ioc.id = lim.id
    ioc.limit = lim.limit
    ioc.rate.limit, ioc.rate.seconds = lim.rate_limit, lim.rate_seconds
    set_cstr(ioc, "name", lim.name)
    ioc.inuse = lim.inuse
    ioc.admitted, ioc.hardlimited, ioc.ratelimited = int(lim.admitted), int(lim.hardlimited), int(lim.ratelimited)


@handles("DIOCGETSOURCELIM", "DIOCGETNSOURCELIM")
def diocgetsourcelim(sim: Simulator, fd: SimTransport, ioc: ctypes.Structure) -> None:
    """DIOCGETSOURCELIM / DIOCGETNSOURCELIM: pf_sourcelim_get(); ESRCH (not ENOENT) when
    there is none."""
    nfind = sim._current == "DIOCGETNSOURCELIM"
    lim = _find_limiter(sim.sourcelims, ioc.id, nfind)
    if lim is None:
        fail(errno.ESRCH)
    assert isinstance(lim, SimSourceLimiter)
    ioc.id = lim.id
    ioc.entries = lim.entries
    ioc.limit = lim.limit
    ioc.inet_prefix, ioc.inet6_prefix = lim.inet_prefix, lim.inet6_prefix
    ioc.rate.limit, ioc.rate.seconds = lim.rate_limit, lim.rate_seconds
    set_cstr(ioc, "overload_tblname", lim.overload_table)
    ioc.overload_hwm, ioc.overload_lwm = lim.overload_hwm, lim.overload_lwm
    set_cstr(ioc, "name", lim.name)
    ioc.nentries = lim.nsources
    ioc.inuse = lim.inuse
    ioc.addrallocs, ioc.addrnomem = int(lim.addrallocs), int(lim.addrnomem)
    ioc.admitted, ioc.addrlimited = int(lim.admitted), int(lim.addrlimited)
    ioc.hardlimited, ioc.ratelimited = int(lim.hardlimited), int(lim.ratelimited)


def _source_limiter(sim: Simulator, lim_id: int) -> SimSourceLimiter:
    lim = sim.sourcelims.get(lim_id)
    if lim is None:
        fail(errno.ESRCH)
    assert lim is not None
    return lim


@handles("DIOCGETSOURCE", "DIOCGETNSOURCE")
def diocgetsource(sim: Simulator, fd: SimTransport, ioc: ctypes.Structure) -> None:
    """DIOCGETSOURCE / DIOCGETNSOURCE: the entries of source limiter ``id`` from ``*key`` up (the one
    equal to it for DIOCGETSOURCE; for the N form as many as ``entrieslen`` bytes hold, in (af,
    rdomain, address) order); ``entrieslen`` is set to the bytes written.  ESRCH: no such limiter,
    or (DIOCGETSOURCE) no such entry; EINVAL: an ``entry_size`` that is not the struct's."""
    L = sim.layout
    esize = ctypes.sizeof(L.pfioc_source_entry)
    if ioc.entry_size != esize:
        fail(errno.EINVAL)
    lim = _source_limiter(sim, ioc.id)
    key = (0, 0, bytes(16))
    if ioc.key:
        k = user_array(sim, "pfioc_source_entry", ioc.key, 1)[0]
        key = (int(k.af), int(k.rdomain), bytes(k.addr))
    exact = sim._current == "DIOCGETSOURCE"
    found = [e for e in sorted(lim.sources) if (e == key if exact else e >= key)]
    if exact and not found:
        fail(errno.ESRCH)
    n = min(len(found), ioc.entrieslen // esize)
    if n:
        buf = array(L.pfioc_source_entry, n)
        for out, e in zip(buf, found[:n], strict=False):
            out.af, out.rdomain = e[0], e[1]
            ctypes.memmove(ctypes.addressof(out.addr), e[2], 16)
            out.inuse, out.admitted, out.hardlimited, out.ratelimited = lim.sources[e]
        copyout(ioc.entries, buf, ctypes.sizeof(buf))
    ioc.entrieslen = n * esize
    set_cstr(ioc, "name", lim.name)
    ioc.inet_prefix, ioc.inet6_prefix, ioc.limit = lim.inet_prefix, lim.inet6_prefix, lim.limit


@handles("DIOCCLRSOURCE")
def diocclrsource(sim: Simulator, fd: SimTransport, ioc: ctypes.Structure) -> None:
    """DIOCCLRSOURCE: forget one source of limiter ``id`` (its address masked to the limiter's
    prefix); with ``rmstates`` its states go too.  ESRCH when there is no such limiter or source."""
    lim = _source_limiter(sim, ioc.id)
    key = source_key(int(ioc.af), int(ioc.rdomain), bytes(ioc.addr), lim.inet_prefix, lim.inet6_prefix)
    entry = lim.sources.pop(key, None)
    if entry is None:
        fail(errno.ESRCH)
    assert entry is not None
    lim.nsources = len(lim.sources)
    lim.inuse -= entry[0]
    if ioc.rmstates:
        for st in list(sim.states.values()):
            if (st.rule is not None and st.rule.kr.sourcelim.id == lim.id and
                    source_key(st.af, st.rdomain, st.src, lim.inet_prefix, lim.inet6_prefix) == key):
                sim.remove_state(st)


@handles("DIOCADDSTATELIM")
def diocaddstatelim(sim: Simulator, fd: SimTransport, ioc: ctypes.Structure) -> None:
    """DIOCADDSTATELIM: pf_statelim_add() into the inactive set (committed with the main ruleset)."""
    if not C.PF_STATELIM_ID_MIN <= ioc.id <= C.PF_STATELIM_ID_MAX:
        fail(errno.EINVAL)
    if not C.PF_STATELIM_LIMIT_MIN <= ioc.limit <= C.PF_STATELIM_LIMIT_MAX:
        fail(errno.EINVAL)
    if (ioc.rate.limit == 0) != (ioc.rate.seconds == 0):
        fail(errno.EINVAL)
    raw = field_bytes(ioc, "name")
    if b"\0" not in raw:
        fail(errno.EINVAL)
    if ioc.ticket != sim.main.inactive_version:
        fail(errno.EBUSY)
    name = cstr(raw)
    if ioc.id in sim.statelims_inactive or any(s.name == name for s in sim.statelims_inactive.values()):
        fail(errno.EBUSY)
    sim.statelims_inactive[ioc.id] = SimStateLimiter(ioc.id, name, ioc.limit, ioc.rate.limit, ioc.rate.seconds)


@handles("DIOCADDSOURCELIM")
def diocaddsourcelim(sim: Simulator, fd: SimTransport, ioc: ctypes.Structure) -> None:
    """DIOCADDSOURCELIM: pf_sourcelim_add() (the id, size, rate and name checks) into the
    inactive set."""
    if not C.PF_SOURCELIM_ID_MIN <= ioc.id <= C.PF_SOURCELIM_ID_MAX or ioc.entries < 1:
        fail(errno.EINVAL)
    if ioc.limit < 1 or (ioc.rate.limit == 0) != (ioc.rate.seconds == 0):
        fail(errno.EINVAL)
    if ioc.inet_prefix > 32 or ioc.inet6_prefix > 128:
        fail(errno.EINVAL)
    raw, table = field_bytes(ioc, "name"), field_bytes(ioc, "overload_tblname")
    if b"\0" not in raw or b"\0" not in table:
        fail(errno.EINVAL)
    if ioc.ticket != sim.main.inactive_version:
        fail(errno.EBUSY)
    name = cstr(raw)
    if ioc.id in sim.sourcelims_inactive or any(s.name == name for s in sim.sourcelims_inactive.values()):
        fail(errno.EBUSY)
    sim.sourcelims_inactive[ioc.id] = SimSourceLimiter(
        ioc.id, name, ioc.entries, ioc.limit, rate_limit=ioc.rate.limit, rate_seconds=ioc.rate.seconds,
        overload_table=cstr(table), overload_hwm=ioc.overload_hwm, overload_lwm=ioc.overload_lwm,
        inet_prefix=ioc.inet_prefix, inet6_prefix=ioc.inet6_prefix)
