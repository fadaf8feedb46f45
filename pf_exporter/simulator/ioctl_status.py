"""pfioctl()'s status, option, limit, timeout, syncookie and interface cases (net/pf_ioctl.c,
net/pf_if.c)."""

from __future__ import annotations

import ctypes
import errno
from typing import TYPE_CHECKING, Any

from ..abi import array
from ..abi import constants as C
from .handlers import copyout, fail, handles
from .objects import SimKif
from .wire import cstr, field_bytes, set_cstr

if TYPE_CHECKING:
    from .kernel import PfKernel as Simulator
    from .transport import SimTransport


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
    s.src_nodes = len(sim.src_nodes)
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
    if "immediate-limits" not in sim.abi.features:
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

def _skip_if(sim: Simulator, filt: str, k: SimKif) -> bool:
    """pfi_skip_if(): a filter names a kif exactly or a group its interface belongs to."""
    if not filt or k.name == filt:
        return False
    if not 1 <= len(filt) < C.IFNAMSIZ or filt[-1].isdigit():
        return True
    return not (k.has_ifp and filt in k.groups)


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
    buf = array(L.pfi_kif, len(out))
    for i, kif in enumerate(out):
        export_kif(sim, kif, buf[i])
    copyout(io.pfiio_buffer, buf, esize * len(out))


def export_kif(sim: Simulator, kif: SimKif, p: Any) -> None:
    """The struct pfi_kif the kernel copies out verbatim (pointers included)."""
    set_cstr(p, "pfik_name", kif.name)
    for af in range(2):
        for d in range(2):
            for a in range(2):
                i = af * 4 + d * 2 + a
                p.pfik_packets[af][d][a] = int(kif.packets[i])
                p.pfik_bytes[af][d][a] = int(kif.bytes[i])
    p.pfik_tzero = kif.tzero
    p.pfik_flags = kif.flags
    p.pfik_flags_new = kif.flags_new
    p.pfik_states = kif.states
    p.pfik_rules = kif.rules
    p.pfik_routes = kif.routes
    p.pfik_srcnodes = kif.srcnodes
    p.pfik_flagrefs = kif.flagrefs
    if kif.has_ifp:
        p.pfik_ifp = kif.addr + 0x40
    if kif.is_group:
        p.pfik_group = kif.addr + 0x80
    p.pfik_tree.rbe_parent = kif.addr ^ 0x1000


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
        targets = [p]  # type: ignore[list-item]  # one kif, as the list of members
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
