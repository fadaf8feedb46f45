"""pfioctl()'s table cases: DIOCR* (net/pf_table.c)."""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..abi import array
from ..abi import constants as C
from .handlers import addr_req, copyout, fail, handles, table_req, user_array
from .ktable import USERIOCTL, Addr, KEntry, KTable, TableRequest
from .tables import _NeedMore
from .wire import set_cstr

if TYPE_CHECKING:
    from .kernel import PfKernel as Simulator
    from .transport import SimTransport


# --- tables (net/pf_table.c) -------------------------------------------------------------

def _esize(sim: Simulator, io: ctypes.Structure, tag: str | None) -> None:
    want = 0 if tag is None else ctypes.sizeof(getattr(sim.layout, tag))
    if io.pfrio_esize != want:
        fail(errno.ENODEV)


def _tables_in(sim: Simulator, io: ctypes.Structure) -> list[TableRequest]:
    arr = user_array(sim, "pfr_table", io.pfrio_buffer, io.pfrio_size)
    return [table_req(t) for t in arr]


def _addrs_in(sim: Simulator, io: ctypes.Structure) -> tuple[ctypes.Array, list[Addr]]:
    arr = user_array(sim, "pfr_addr", io.pfrio_buffer, io.pfrio_size)
    return arr, [addr_req(a) for a in arr]


def _feedback(arr: ctypes.Array) -> Callable[[int, Addr, int], None]:
    def write(i: int, a: Addr, code: int) -> None:
        arr[i].pfra_fback = code

    return write


@handles("DIOCRCLRTABLES")
def diocrclrtables(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRCLRTABLES: pfr_clr_tables()."""
    _esize(sim, io, None)
    io.pfrio_ndel = sim.tables.clr_tables(table_req(io.pfrio_table), io.pfrio_flags | USERIOCTL)


@handles("DIOCRADDTABLES")
def diocraddtables(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRADDTABLES: pfr_add_tables()."""
    _esize(sim, io, "pfr_table")
    io.pfrio_nadd = sim.tables.add_tables(_tables_in(sim, io), io.pfrio_flags | USERIOCTL)


@handles("DIOCRDELTABLES")
def diocrdeltables(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRDELTABLES: pfr_del_tables()."""
    _esize(sim, io, "pfr_table")
    io.pfrio_ndel = sim.tables.del_tables(_tables_in(sim, io), io.pfrio_flags | USERIOCTL)


def _export_table(sim: Simulator, kt: KTable, t: Any) -> None:
    set_cstr(t, "pfrt_anchor", kt.anchor)
    set_cstr(t, "pfrt_name", kt.name)
    t.pfrt_flags = kt.flags


@handles("DIOCRGETTABLES")
def diocrgettables(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRGETTABLES: pfr_get_tables(); too small a buffer only sets pfrio_size."""
    _esize(sim, io, "pfr_table")
    n, tables = sim.tables.listing(table_req(io.pfrio_table), io.pfrio_size, io.pfrio_flags | USERIOCTL)
    if tables:
        buf = array(sim.layout.pfr_table, len(tables))
        for i, kt in enumerate(tables):
            _export_table(sim, kt, buf[i])
        copyout(io.pfrio_buffer, buf, ctypes.sizeof(buf))
    io.pfrio_size = n


@handles("DIOCRGETTSTATS")
def diocrgettstats(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRGETTSTATS: pfr_get_tstats(); too small a buffer only sets pfrio_size.  Inactive
    tables (e.g. an anchor table's root) are listed too."""
    _esize(sim, io, "pfr_tstats")
    n, tables = sim.tables.listing(table_req(io.pfrio_table), io.pfrio_size, io.pfrio_flags | USERIOCTL)
    if tables:
        buf = array(sim.layout.pfr_tstats, len(tables))
        for i, kt in enumerate(tables):
            ts = buf[i]
            _export_table(sim, kt, ts.pfrts_t)
            for d in range(2):
                for op in range(4):
                    ts.pfrts_packets[d][op] = int(kt.packets[d * 4 + op])
                    ts.pfrts_bytes[d][op] = int(kt.bytes[d * 4 + op])
            ts.pfrts_match = int(kt.match)
            ts.pfrts_nomatch = int(kt.nomatch)
            ts.pfrts_tzero = kt.tzero
            ts.pfrts_cnt = len(kt.entries)
            ts.pfrts_refcnt[0], ts.pfrts_refcnt[1] = kt.refcnt
        copyout(io.pfrio_buffer, buf, ctypes.sizeof(buf))
    io.pfrio_size = n


@handles("DIOCRCLRTSTATS")
def diocrclrtstats(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRCLRTSTATS: pfr_clr_tstats()."""
    _esize(sim, io, "pfr_table")
    io.pfrio_nadd = sim.tables.clr_tstats(_tables_in(sim, io), io.pfrio_flags | USERIOCTL)


@handles("DIOCRSETTFLAGS")
def diocrsettflags(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRSETTFLAGS: pfr_set_tflags() (setflag in pfrio_size2, clrflag in pfrio_nadd)."""
    _esize(sim, io, "pfr_table")
    io.pfrio_nchange, io.pfrio_ndel = sim.tables.set_tflags(
        _tables_in(sim, io), io.pfrio_size2, io.pfrio_nadd, io.pfrio_flags | USERIOCTL)


@handles("DIOCRCLRADDRS")
def diocrclraddrs(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRCLRADDRS: pfr_clr_addrs()."""
    _esize(sim, io, None)
    io.pfrio_ndel = sim.tables.clr_addrs(table_req(io.pfrio_table), io.pfrio_flags | USERIOCTL)


def _addrs_op(sim: Simulator, io: ctypes.Structure, op: Callable[..., int]) -> int:
    """The shape DIOCRADDADDRS, DIOCRDELADDRS and DIOCRCLRASTATS share: a pfr_addr array in, the
    table operation, per-address feedback written back into the caller's array."""
    _esize(sim, io, "pfr_addr")
    arr, addrs = _addrs_in(sim, io)
    return op(table_req(io.pfrio_table), addrs, io.pfrio_flags | USERIOCTL, _feedback(arr))


@handles("DIOCRADDADDRS")
def diocraddaddrs(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRADDADDRS: pfr_add_addrs()."""
    io.pfrio_nadd = _addrs_op(sim, io, sim.tables.add_addrs)


@handles("DIOCRDELADDRS")
def diocrdeladdrs(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRDELADDRS: pfr_del_addrs()."""
    io.pfrio_ndel = _addrs_op(sim, io, sim.tables.del_addrs)


@handles("DIOCRSETADDRS")
def diocrsetaddrs(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRSETADDRS: pfr_set_addrs(); with PFR_FLAG_FEEDBACK and too small a pfrio_size2
    it only reports the size it needs."""
    _esize(sim, io, "pfr_addr")
    arr, addrs = _addrs_in(sim, io)
    L = sim.layout
    size2 = io.pfrio_size2

    def deleted(i: int, e: KEntry) -> None:
        out = L.pfr_addr()
        _export_addr(e, out)
        out.pfra_fback = C.PFR_FB_DELETED
        copyout(io.pfrio_buffer + i * ctypes.sizeof(L.pfr_addr), out, ctypes.sizeof(out))

    try:
        io.pfrio_nadd, io.pfrio_ndel, io.pfrio_nchange, io.pfrio_size2 = sim.tables.set_addrs(
            table_req(io.pfrio_table), addrs, size2, io.pfrio_flags | USERIOCTL, _feedback(arr), deleted)
    except _NeedMore as e:
        io.pfrio_size2 = e.size2


def _export_addr(e: KEntry, a: ctypes.Structure) -> None:
    """pfr_copyout_addr()."""
    ctypes.memmove(ctypes.addressof(a.pfra_u), e.addr, 16)
    a.pfra_af = e.af
    a.pfra_net = e.net
    a.pfra_type = e.type
    a.pfra_not = int(e.neg)
    a.pfra_states = e.states
    if e.type in (C.PFRKE_ROUTE, C.PFRKE_COST):
        set_cstr(a, "pfra_ifname", e.ifname)
        if e.type == C.PFRKE_COST:
            a.pfra_weight = e.weight


@handles("DIOCRGETADDRS")
def diocrgetaddrs(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRGETADDRS: pfr_get_addrs(); too small a buffer only sets pfrio_size."""
    _esize(sim, io, "pfr_addr")
    n, entries = sim.tables.get_addrs(table_req(io.pfrio_table), io.pfrio_size, io.pfrio_flags)
    if entries:
        buf = array(sim.layout.pfr_addr, len(entries))
        for i, e in enumerate(entries):
            _export_addr(e, buf[i])
        copyout(io.pfrio_buffer, buf, ctypes.sizeof(buf))
    io.pfrio_size = n


@handles("DIOCRGETASTATS")
def diocrgetastats(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRGETASTATS: pfr_get_astats(); entries of a table without `counters` say PFR_FB_NOCOUNT."""
    _esize(sim, io, "pfr_astats")
    n, entries, clear = sim.tables.get_astats(table_req(io.pfrio_table), io.pfrio_size, io.pfrio_flags)
    if entries:
        buf = array(sim.layout.pfr_astats, len(entries))
        for i, e in enumerate(entries):
            s = buf[i]
            _export_addr(e, s.pfras_a)
            if e.counters:
                for d in range(2):
                    for op in range(3):
                        s.pfras_packets[d][op] = int(e.packets[d * 3 + op])
                        s.pfras_bytes[d][op] = int(e.bytes[d * 3 + op])
            else:
                s.pfras_a.pfra_fback = C.PFR_FB_NOCOUNT
            s.pfras_tzero = e.tzero
        copyout(io.pfrio_buffer, buf, ctypes.sizeof(buf))
        clear()
    io.pfrio_size = n


@handles("DIOCRCLRASTATS")
def diocrclrastats(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRCLRASTATS: pfr_clr_astats()."""
    io.pfrio_nadd = _addrs_op(sim, io, sim.tables.clr_astats)


@handles("DIOCRTSTADDRS")
def diocrtstaddrs(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRTSTADDRS: pfr_tst_addrs()."""
    _esize(sim, io, "pfr_addr")
    arr, addrs = _addrs_in(sim, io)

    def result(i: int, a: Addr, e: KEntry | None, code: int) -> None:
        if io.pfrio_flags & C.PFR_FLAG_REPLACE:
            ctypes.memset(ctypes.addressof(arr[i]), 0, ctypes.sizeof(arr[i]))
            if e is not None:
                _export_addr(e, arr[i])
        arr[i].pfra_fback = code

    io.pfrio_nadd = sim.tables.tst_addrs(table_req(io.pfrio_table), addrs, io.pfrio_flags, result)


@handles("DIOCRINADEFINE")
def diocrinadefine(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRINADEFINE: pfr_ina_define(), a table of an open PF_TRANS_TABLE transaction."""
    _esize(sim, io, "pfr_addr")
    _arr, addrs = _addrs_in(sim, io)
    io.pfrio_nadd, io.pfrio_size2 = sim.tables.ina_define(table_req(io.pfrio_table), addrs, io.pfrio_ticket,
                                                          io.pfrio_flags | USERIOCTL)
