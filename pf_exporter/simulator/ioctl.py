"""pfioctl() for the simulator: permission checks and one handler per request.

:func:`dispatch` does what ``sys_ioctl()`` and ``pfioctl()`` do before a request's
case runs: copy the argument in (only the size the request number encodes), refuse
by securelevel and by the descriptor's FWRITE flag, pick the handler.  The handler
works on the kernel's copy; it is copied back only when it succeeds, because the
kernel copies nothing out when an ioctl fails.  Each handler's docstring names the
kernel code it mirrors (net/pf_ioctl.c unless said otherwise).

Buffer pointers inside the argument structs are real addresses in this process
(``ctypes.addressof`` of the caller's buffer); handlers read and write them with
``ctypes.memmove``, as the kernel does with copyin/copyout.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING

from ..abi import READ_ONLY_IF_DUMMY, READ_ONLY_REQUESTS
from ..abi import constants as C
from ..abi.ioctls import IOC_IN, IOC_OUT, IOCPARM_MASK
from .objects import U32, SimQueue, SimSourceLimiter, SimStateLimiter, cstr, field_bytes, set_cstr
from .tables import USERIOCTL, Addr, KEntry, KernelError, TableRequest, _NeedMore

if TYPE_CHECKING:
    from .kernel import SimTransport, Simulator

Handler = Callable[["Simulator", "SimTransport", ctypes.Structure], None]
HANDLERS: dict[str, Handler] = {}

# pfioctl(): the requests allowed at securelevel > 1 (the first switch).
SECURELEVEL_OK = frozenset({
    "DIOCGETRULES", "DIOCGETRULE", "DIOCGETSTATE", "DIOCSETSTATUSIF", "DIOCGETSTATUS", "DIOCCLRSTATUS",
    "DIOCNATLOOK", "DIOCSETDEBUG", "DIOCGETSTATES", "DIOCGETTIMEOUT", "DIOCGETLIMIT", "DIOCGETSTATELIM",
    "DIOCGETNSTATELIM", "DIOCGETSOURCELIM", "DIOCGETNSOURCELIM", "DIOCGETSOURCE", "DIOCGETNSOURCE",
    "DIOCGETRULESETS", "DIOCGETRULESET", "DIOCGETQUEUES", "DIOCGETQUEUE", "DIOCGETQSTATS", "DIOCRGETTABLES",
    "DIOCRGETTSTATS", "DIOCRCLRTSTATS", "DIOCRCLRADDRS", "DIOCRADDADDRS", "DIOCRDELADDRS", "DIOCRSETADDRS",
    "DIOCRGETADDRS", "DIOCRGETASTATS", "DIOCRCLRASTATS", "DIOCRTSTADDRS", "DIOCOSFPGET", "DIOCGETSRCNODES",
    "DIOCCLRSRCNODES", "DIOCIGETIFACES", "DIOCSETIFFLAG", "DIOCCLRIFFLAG", "DIOCGETSYNFLWATS",
})
SECURELEVEL_DUMMY = frozenset({"DIOCRCLRTABLES", "DIOCRADDTABLES", "DIOCRDELTABLES", "DIOCRSETTFLAGS"})
# pfioctl(): the requests a descriptor opened without FWRITE may issue (the second switch; the ABI
# layer's list, DIOCGETRULE checked on its own), and those it may issue only as a dry run.
READONLY_OK = READ_ONLY_REQUESTS - {"DIOCGETRULE"}
READONLY_DUMMY = READ_ONLY_IF_DUMMY
# Requests whose argument carries a pointer to a further user buffer.
POINTER_ARGS = frozenset({"pfioc_table", "pfioc_iface", "pfioc_states", "pfioc_src_nodes", "pfioc_qstats",
                          "pfioc_trans", "pfioc_source"})


def fail(err: int) -> None:
    raise KernelError(err)


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return register


def _arg_address(arg: object) -> tuple[int, int]:
    """Where the caller's argument lives and how many bytes it has."""
    if isinstance(arg, ctypes._SimpleCData | ctypes.Structure | ctypes.Union | ctypes.Array):
        return ctypes.addressof(arg), ctypes.sizeof(arg)
    if isinstance(arg, bytearray | memoryview):
        view = memoryview(arg)
        if view.readonly:
            raise TypeError("ioctl argument buffer must be writable")
        buf = (ctypes.c_char * view.nbytes).from_buffer(view)
        return ctypes.addressof(buf), view.nbytes
    raise TypeError(f"ioctl argument must be a ctypes object or a writable buffer, not {type(arg).__name__}")


def dispatch(sim: Simulator, fd: SimTransport, number: int, arg: object) -> None:
    """sys_ioctl() + pfioctl(): copy in, check, handle, copy out on success."""
    req = sim.abi.by_number(number)
    name = req.name if req is not None else f"ioctl {number:#x}"
    size = (number >> 16) & IOCPARM_MASK
    kbuf = None
    addr = 0
    if number & (IOC_IN | IOC_OUT) and size:
        if arg is None:
            fail(errno.EFAULT)
        addr, avail = _arg_address(arg)
        if avail < size:
            fail(errno.EFAULT)
        kbuf = (ctypes.c_char * size)()
        ctypes.memmove(kbuf, addr, size)
    k = None
    if req is not None and kbuf is not None:
        argtype = sim.abi.arg_type(req)
        k = argtype.from_buffer(kbuf) if argtype is not None else None

    def table_dummy() -> bool:
        return k is not None and bool(k.pfrio_flags & C.PFR_FLAG_DUMMY)

    # pfioctl(): securelevel first, then the descriptor's FWRITE flag
    if sim.securelevel > 1 and name not in SECURELEVEL_OK:
        if not (name in SECURELEVEL_DUMMY and table_dummy()):
            fail(errno.EPERM)
    if not fd.writable and name not in READONLY_OK:
        if name in READONLY_DUMMY:
            if not table_dummy():
                fail(errno.EACCES)
        elif name == "DIOCGETRULE":
            if k.action == C.PF_GET_CLR_CNTR:  # type: ignore[union-attr]
                fail(errno.EACCES)
        else:
            fail(errno.EACCES)
    if req is None:
        fail(errno.ENODEV)
    assert req is not None
    handler = HANDLERS.get(name)
    if handler is None:
        raise _unsupported(f"the pf simulator does not implement {name}")
    if req.arg in POINTER_ARGS and not sim.abi.native:
        raise _unsupported(
            f"{name} passes a buffer pointer, which the simulator can only follow for this host's "
            f"word size; simulate arch amd64 or arm64 instead of {sim.abi.arch}"
        )
    sim._check_faults(name)
    sim._current = name
    handler(sim, fd, k)  # type: ignore[arg-type]
    if kbuf is not None and number & IOC_OUT:
        ctypes.memmove(addr, kbuf, size)


def _unsupported(msg: str) -> Exception:
    from .kernel import SimulatorUnsupported

    return SimulatorUnsupported(msg)


# --- helpers for user buffers ----------------------------------------------------------

def user_array(sim: Simulator, tag: str, address: int | None, n: int) -> ctypes.Array:
    """copyin() view of *n* structs *tag* at a user address (EFAULT for NULL)."""
    if n <= 0:
        return (getattr(sim.layout, tag) * 0)()
    if not address:
        fail(errno.EFAULT)
    return (getattr(sim.layout, tag) * n).from_address(address)


def copyout(address: int | None, data: bytes | bytearray | ctypes.Array | ctypes.Structure, size: int) -> None:
    if size <= 0:
        return
    if not address:
        fail(errno.EFAULT)
    if isinstance(data, bytearray):
        data = (ctypes.c_char * len(data)).from_buffer(data)
    if isinstance(data, ctypes.Structure | ctypes.Array):
        ctypes.memmove(address, ctypes.addressof(data), size)
    else:
        ctypes.memmove(address, data, size)


def table_req(t: ctypes.Structure) -> TableRequest:
    return TableRequest(field_bytes(t, "pfrt_name"), field_bytes(t, "pfrt_anchor"), t.pfrt_flags)


def addr_req(a: ctypes.Structure) -> Addr:
    return Addr(a.pfra_af, bytes(a.pfra_u), a.pfra_net, a.pfra_not, a.pfra_fback, a.pfra_type,
                cstr(field_bytes(a, "pfra_ifname")), a.pfra_weight)


def anchor_arg(raw: bytes) -> str:
    """A path argument with its last byte forced to NUL, as pfioctl does."""
    return cstr(raw[:-1])


# --- status, limits, timeouts, options ---------------------------------------------------

@handles("DIOCSTART")
def diocstart(sim: Simulator, fd: SimTransport, k: None) -> None:
    """DIOCSTART: EEXIST when running; `since` becomes the uptime; stateid seeded from the time."""
    if sim.running:
        fail(errno.EEXIST)
    sim.running = True
    sim.since = sim.clock.uptime()
    if sim.stateid == 0:
        sim.stateid = sim.clock.now() << 32


@handles("DIOCSTOP")
def diocstop(sim: Simulator, fd: SimTransport, k: None) -> None:
    """DIOCSTOP: ENOENT when already stopped."""
    if not sim.running:
        fail(errno.ENOENT)
    sim.running = False
    sim.since = sim.clock.uptime()


def host_from_network(value: int) -> int:
    """The u_int32_t field whose bytes are *value* in network order, as a native integer."""
    return int.from_bytes(value.to_bytes(4, "big"), "little")


@handles("DIOCGETSTATUS")
def diocgetstatus(sim: Simulator, fd: SimTransport, s: ctypes.Structure) -> None:
    """DIOCGETSTATUS: pf_status_read(), with pfi_update_status() summing the loginterface's counters."""
    ctypes.memset(ctypes.addressof(s), 0, ctypes.sizeof(s))
    for i, v in enumerate(sim.counters):
        s.counters[i] = int(v)
    for i, v in enumerate(sim.lcounters):
        s.lcounters[i] = int(v)
    for i in range(3):
        s.fcounters[i] = int(sim.fcounters[i])
        s.scounters[i] = int(sim.scounters[i])
        s.ncounters[i] = int(sim.ncounters[i])
    kif = sim.kifs.get(sim.status_ifname) if sim.status_ifname else None
    if kif is not None:
        for m in sim.kif_members(kif):
            if not m.has_ifp:
                continue
            for af in range(2):
                for d in range(2):
                    for a in range(2):
                        i = af * 4 + d * 2 + a
                        s.pcounters[af][d][a] += int(m.packets[i])
                        s.bcounters[af][d] += int(m.bytes[i])
    s.stateid = sim.stateid
    s.syncookies_inflight[0], s.syncookies_inflight[1] = sim.syncookies_inflight
    s.since = sim.since
    s.running = int(sim.running)
    s.states = len(sim.states)
    s.states_halfopen = sim.states_halfopen
    s.src_nodes = 0
    s.fragments = sim.fragments
    s.debug = sim.debug
    s.hostid = host_from_network(sim.hostid)
    s.reass = sim.reass
    s.syncookies_active = int(sim.syncookies_active)
    s.syncookies_mode = sim.syncookies_mode
    set_cstr(s, "ifname", sim.status_ifname)
    ctypes.memmove(ctypes.addressof(s.pf_chksum), sim.chksum, 16)


@handles("DIOCCLRSTATUS")
def diocclrstatus(sim: Simulator, fd: SimTransport, pi: ctypes.Structure) -> None:
    """DIOCCLRSTATUS: one interface's counters (pfi_update_status(name, NULL)) or pf's global ones."""
    name = cstr(field_bytes(pi, "pfiio_name"))
    if name:
        kif = sim.kifs.get(name)
        if kif is not None:
            for m in sim.kif_members(kif):
                m.packets = [0.0] * 8
                m.bytes = [0.0] * 8
                m.tzero = sim.clock.now()
        return
    sim.fcounters = [0.0] * C.FCNT_MAX
    sim.counters = [0.0] * C.PFRES_MAX
    sim.scounters = [0.0] * C.SCNT_MAX
    sim.ncounters = [0.0] * C.NCNT_MAX
    sim.since = sim.clock.uptime()


@handles("DIOCSETSTATUSIF")
def diocsetstatusif(sim: Simulator, fd: SimTransport, pi: ctypes.Structure) -> None:
    """DIOCSETSTATUSIF: an empty name clears the loginterface now; a name is set at DIOCXCOMMIT."""
    name = cstr(field_bytes(pi, "pfiio_name"))
    if not name:
        sim.status_ifname = ""
        return
    sim.trans_set["statusif"] = name


@handles("DIOCSETDEBUG")
def diocsetdebug(sim: Simulator, fd: SimTransport, level: ctypes.c_uint32) -> None:
    """DIOCSETDEBUG: takes effect at DIOCXCOMMIT (pf_trans_set)."""
    sim.trans_set["debug"] = level.value


@handles("DIOCSETHOSTID")
def diocsethostid(sim: Simulator, fd: SimTransport, hostid: ctypes.c_uint32) -> None:
    """DIOCSETHOSTID: 0 picks a random id; takes effect at DIOCXCOMMIT.  The argument is in
    network byte order, as pfctl passes it."""
    v = hostid.value
    sim.trans_set["hostid"] = sim.rng.getrandbits(32) if v == 0 else int.from_bytes(v.to_bytes(4, "little"), "big")


@handles("DIOCSETREASS")
def diocsetreass(sim: Simulator, fd: SimTransport, reass: ctypes.c_uint32) -> None:
    """DIOCSETREASS: takes effect at DIOCXCOMMIT."""
    sim.trans_set["reass"] = reass.value


@handles("DIOCGETLIMIT")
def diocgetlimit(sim: Simulator, fd: SimTransport, pl: ctypes.Structure) -> None:
    """DIOCGETLIMIT: EINVAL outside 0..PF_LIMIT_MAX-1."""
    if not 0 <= pl.index < C.PF_LIMIT_MAX:
        fail(errno.EINVAL)
    pl.limit = sim.limits[pl.index]


@handles("DIOCSETLIMIT")
def diocsetlimit(sim: Simulator, fd: SimTransport, pl: ctypes.Structure) -> None:
    """DIOCSETLIMIT: EBUSY below what is in use; frags above the mbuf clusters are EINVAL.
    Up to 7.7 the new limit waits for DIOCXCOMMIT and the old one is returned; from 7.8 it is
    set at once."""
    if not 0 <= pl.index < C.PF_LIMIT_MAX:
        fail(errno.EINVAL)
    if sim.pool_inuse(pl.index) > pl.limit:
        fail(errno.EBUSY)
    if pl.index == C.PF_LIMIT_FRAGS and pl.limit > 16 * 65536:
        fail(errno.EINVAL)
    if sim.release in ("7.6", "7.7"):
        sim.limits_new[pl.index] = pl.limit
        pl.limit = sim.limits[pl.index]
    else:
        sim.limits_new[pl.index] = sim.limits[pl.index] = pl.limit


@handles("DIOCGETTIMEOUT")
def diocgettimeout(sim: Simulator, fd: SimTransport, pt: ctypes.Structure) -> None:
    """DIOCGETTIMEOUT: EINVAL outside 0..PFTM_MAX-1."""
    if not 0 <= pt.timeout < C.PFTM_MAX:
        fail(errno.EINVAL)
    pt.seconds = sim.timeouts[pt.timeout]


@handles("DIOCSETTIMEOUT")
def diocsettimeout(sim: Simulator, fd: SimTransport, pt: ctypes.Structure) -> None:
    """DIOCSETTIMEOUT: sets pf_default_rule_new (applied at DIOCXCOMMIT), returns the current value."""
    if not 0 <= pt.timeout < C.PFTM_MAX or pt.seconds < 0:
        fail(errno.EINVAL)
    if pt.timeout == C.PFTM_INTERVAL and pt.seconds == 0:
        pt.seconds = 1
    sim.timeouts_new[pt.timeout] = pt.seconds
    pt.seconds = sim.timeouts[pt.timeout]


@handles("DIOCGETSYNFLWATS")
def diocgetsynflwats(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCGETSYNFLWATS: pf_syncookies_getwats() (net/pf_syncookies.c)."""
    io.hiwat, io.lowat = sim.synflwats


@handles("DIOCSETSYNFLWATS")
def diocsetsynflwats(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCSETSYNFLWATS: pf_syncookies_setwats(), EINVAL when lowat > hiwat."""
    if io.lowat > io.hiwat:
        fail(errno.EINVAL)
    sim.synflwats = (io.hiwat, io.lowat)


@handles("DIOCSETSYNCOOKIES")
def diocsetsyncookies(sim: Simulator, fd: SimTransport, mode: ctypes.c_uint8) -> None:
    """DIOCSETSYNCOOKIES: pf_syncookies_setmode()."""
    if mode.value > C.PF_SYNCOOKIES_MODE_MAX:
        fail(errno.EINVAL)
    if sim.syncookies_mode != mode.value:
        sim.syncookies_mode = mode.value
        if mode.value == C.PF_SYNCOOKIES_ALWAYS:
            sim.syncookies_active = True


# --- interfaces (net/pf_if.c) ---------------------------------------------------------------

def _skip_if(sim: Simulator, filt: str, k: object) -> bool:
    """pfi_skip_if(): a filter names a kif exactly or a group its interface belongs to."""
    if not filt or k.name == filt:  # type: ignore[attr-defined]
        return False
    if not 1 <= len(filt) < C.IFNAMSIZ or filt[-1].isdigit():
        return True
    return not (k.has_ifp and filt in k.groups)  # type: ignore[attr-defined]


@handles("DIOCIGETIFACES")
def diocigetifaces(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCIGETIFACES: pfi_get_ifaces() fills at most size - 1 kifs and returns how many it
    looked at, so a result equal to the size passed means "the buffer was too small"."""
    L = sim.layout
    if io.pfiio_esize != ctypes.sizeof(L.pfi_kif):
        fail(errno.ENODEV)
    size = io.pfiio_size
    if size < 0:
        fail(errno.EINVAL)  # mallocarray() of a negative count fails
    filt = cstr(field_bytes(io, "pfiio_name"))
    out = []
    n = 0
    for kif in sim.ordered_kifs():
        if _skip_if(sim, filt, kif):
            continue
        n += 1
        if size <= n:
            break
        if not kif.tzero:
            kif.tzero = sim.clock.now()
        out.append(kif)
    io.pfiio_size = n
    if not io.pfiio_buffer:
        fail(errno.EFAULT)
    esize = ctypes.sizeof(L.pfi_kif)
    buf = (L.pfi_kif * len(out))()
    for i, kif in enumerate(out):
        export_kif(sim, kif, buf[i])
    copyout(io.pfiio_buffer, buf, esize * len(out))


def export_kif(sim: Simulator, kif: object, p: ctypes.Structure) -> None:
    """The struct pfi_kif the kernel copies out verbatim (pointers included)."""
    set_cstr(p, "pfik_name", kif.name)  # type: ignore[attr-defined]
    for af in range(2):
        for d in range(2):
            for a in range(2):
                i = af * 4 + d * 2 + a
                p.pfik_packets[af][d][a] = int(kif.packets[i])  # type: ignore[attr-defined]
                p.pfik_bytes[af][d][a] = int(kif.bytes[i])  # type: ignore[attr-defined]
    p.pfik_tzero = kif.tzero  # type: ignore[attr-defined]
    p.pfik_flags = kif.flags  # type: ignore[attr-defined]
    p.pfik_flags_new = kif.flags_new  # type: ignore[attr-defined]
    p.pfik_states = kif.states  # type: ignore[attr-defined]
    p.pfik_rules = kif.rules  # type: ignore[attr-defined]
    p.pfik_routes = kif.routes  # type: ignore[attr-defined]
    p.pfik_srcnodes = kif.srcnodes  # type: ignore[attr-defined]
    p.pfik_flagrefs = kif.flagrefs  # type: ignore[attr-defined]
    if kif.has_ifp:  # type: ignore[attr-defined]
        p.pfik_ifp = kif.addr + 0x40  # type: ignore[attr-defined]
    if kif.is_group:  # type: ignore[attr-defined]
        p.pfik_group = kif.addr + 0x80  # type: ignore[attr-defined]
    p.pfik_tree.rbe_parent = kif.addr ^ 0x1000  # type: ignore[attr-defined]


@handles("DIOCSETIFFLAG")
def diocsetifflag(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCSETIFFLAG: pfi_set_flags(); the flags take effect at DIOCXCOMMIT (pfi_xcommit)."""
    name = cstr(field_bytes(io, "pfiio_name"))
    flags = io.pfiio_flags
    if name:
        p = sim.kifs.get(name)
        if p is None:
            if not 1 <= len(name) < C.IFNAMSIZ or not name[0].isalpha():
                fail(errno.EINVAL)
            p = sim.kif_get(name)
            p.flags_new = p.flags | flags
            if p.flags_new & C.PFI_IFLAG_SKIP:
                p.flagrefs = 1
        else:
            if flags & C.PFI_IFLAG_SKIP and not (p.flags_new | p.flags) & C.PFI_IFLAG_SKIP:
                p.flagrefs = 1
            p.flags_new = p.flags | flags
    else:
        for p in sim.kifs.values():
            p.flags_new = p.flags | flags


@handles("DIOCCLRIFFLAG")
def diocclrifflag(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCCLRIFFLAG: pfi_clear_flags(); ESRCH for an unknown name."""
    name = cstr(field_bytes(io, "pfiio_name"))
    targets = list(sim.kifs.values())
    if name:
        p = sim.kifs.get(name)
        if p is None:
            fail(errno.ESRCH)
        targets = [p]  # type: ignore[list-item]
    for p in targets:
        p.flags_new = p.flags & ~io.pfiio_flags
        if not p.flags_new & C.PFI_IFLAG_SKIP and p.flagrefs == 1:
            p.flagrefs = 0


def xcommit_kifs(sim: Simulator) -> None:
    """pfi_xcommit(): new flags apply; an interface inherits its groups' new flags."""
    for p in sim.ordered_kifs():
        p.flags = p.flags_new
        if p.has_ifp:
            for g in p.groups:
                gk = sim.kifs.get(g)
                if gk is not None:
                    p.flags |= gk.flags_new


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


def _export_table(sim: Simulator, kt: object, t: ctypes.Structure) -> None:
    set_cstr(t, "pfrt_anchor", kt.anchor)  # type: ignore[attr-defined]
    set_cstr(t, "pfrt_name", kt.name)  # type: ignore[attr-defined]
    t.pfrt_flags = kt.flags  # type: ignore[attr-defined]


@handles("DIOCRGETTABLES")
def diocrgettables(sim: Simulator, fd: SimTransport, io: ctypes.Structure) -> None:
    """DIOCRGETTABLES: pfr_get_tables(); too small a buffer only sets pfrio_size."""
    _esize(sim, io, "pfr_table")
    n, tables = sim.tables.listing(table_req(io.pfrio_table), io.pfrio_size, io.pfrio_flags | USERIOCTL)
    if tables:
        buf = (sim.layout.pfr_table * len(tables))()
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
        buf = (sim.layout.pfr_tstats * len(tables))()
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
        buf = (sim.layout.pfr_addr * len(entries))()
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
        buf = (sim.layout.pfr_astats * len(entries))()
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
    deferred_limits = sim.release in ("7.6", "7.7")
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
        sim.debug = int(ts["debug"])  # type: ignore[call-overload]
    if "hostid" in ts:
        sim.hostid = int(ts["hostid"])  # type: ignore[call-overload]
    if "reass" in ts:
        sim.reass = int(ts["reass"])  # type: ignore[call-overload]


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
    from .kernel import DYNAMIC, STATE_DYNAMIC_OFFSET

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


def _state_by_id(sim: Simulator, raw_id: int, raw_creator: int) -> object:
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
    from .kernel import _ntohs

    a1, a2, p = _ntohs(a1), _ntohs(a2), _ntohs(p)
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
        a0, a1, p0, p1, rd, af = struct.unpack_from("16s16s2s2s2sB", st.tmpl, off)  # type: ignore[attr-defined]
        out.append((a0, a1, int.from_bytes(p0, "little"), int.from_bytes(p1, "little"),
                    int.from_bytes(rd, "big"), af))
    return tuple(out)


@handles("DIOCKILLSTATES")
def diockillstates(sim: Simulator, fd: SimTransport, psk: ctypes.Structure) -> None:
    """DIOCKILLSTATES: by state id; by an exact connection (af, proto and both ports `=`);
    or every state matching af, proto, rdomain, addresses/masks, port ranges, label, interface."""
    if psk.psk_pfcmp.id:
        creator = psk.psk_pfcmp.creatorid or host_from_network(sim.hostid)
        st = _state_by_id(sim, psk.psk_pfcmp.id, creator)
        if st is not None:
            sim.remove_state(st)  # type: ignore[arg-type]
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


@handles("DIOCGETSRCNODES")
def diocgetsrcnodes(sim: Simulator, fd: SimTransport, psn: ctypes.Structure) -> None:
    """DIOCGETSRCNODES: the simulator tracks no source nodes, so the answer is always empty."""
    psn.psn_len = 0


@handles("DIOCCLRSRCNODES")
def diocclrsrcnodes(sim: Simulator, fd: SimTransport, k: None) -> None:
    """DIOCCLRSRCNODES: nothing to clear (no source nodes)."""


@handles("DIOCKILLSRCNODES")
def diockillsrcnodes(sim: Simulator, fd: SimTransport, psnk: ctypes.Structure) -> None:
    """DIOCKILLSRCNODES: nothing to kill (no source nodes)."""
    psnk.psnk_killed = 0


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
