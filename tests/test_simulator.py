"""The simulator answers like OpenBSD's pfioctl(): permissions, errno values, tickets,
buffer negotiation and byte order (each test names the kernel behaviour it pins down)."""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest

from pf_exporter.abi import constants as C
from pf_exporter.abi import select_abi
from pf_exporter.abi.ioctls import ioc
from pf_exporter.simulator import Simulator, SimulatorUnsupported
from pf_exporter.simulator.clock import SimClock


def call(fd, name, arg=None):
    """Issue request *name* on a simulator descriptor; returns arg (raises OSError)."""
    fd.ioctl(fd.sim.abi.request(name).number, arg)
    return arg


def err_of(fd, name, arg=None, number=None):
    with pytest.raises(OSError) as ei:
        if number is not None:
            fd.ioctl(number, arg)
        else:
            call(fd, name, arg)
    return ei.value.errno


def set_str(obj, field, value: bytes):
    desc = getattr(type(obj), field)
    ctypes.memmove(ctypes.addressof(obj) + desc.offset, value.ljust(desc.size, b"\0")[: desc.size], desc.size)


@pytest.fixture
def ro(sim):
    return sim.open(False)


@pytest.fixture
def rw(sim):
    return sim.open(True)


# --- permissions: pfioctl's FWRITE and securelevel switches ----------------------------------

def test_read_only_descriptor_refuses_writes_with_eacces(sim, ro):
    L = sim.layout
    assert err_of(ro, "DIOCSTOP") == errno.EACCES
    assert err_of(ro, "DIOCKILLSTATES", L.pfioc_state_kill()) == errno.EACCES
    assert err_of(ro, "DIOCADDRULE", L.pfioc_rule()) == errno.EACCES
    assert err_of(ro, "DIOCSETLIMIT", L.pfioc_limit()) == errno.EACCES
    assert sim.running  # nothing happened


def test_read_only_descriptor_allows_dummy_table_changes_only(sim, ro):
    L = sim.layout
    io = L.pfioc_table(pfrio_esize=ctypes.sizeof(L.pfr_addr))
    set_str(io.pfrio_table, "pfrt_name", b"spamd")
    assert err_of(ro, "DIOCRCLRADDRS", L.pfioc_table()) == errno.EACCES
    before = sim.fingerprint()
    io2 = L.pfioc_table(pfrio_flags=C.PFR_FLAG_DUMMY)
    set_str(io2.pfrio_table, "pfrt_name", b"spamd")
    call(ro, "DIOCRCLRADDRS", io2)
    assert io2.pfrio_ndel == 25 and sim.fingerprint() == before


def test_getrule_clearing_counters_needs_a_writable_descriptor(sim, ro, rw):
    L = sim.layout
    for fd, expect in ((ro, errno.EACCES), (rw, None)):
        pr = call(fd, "DIOCGETRULES", L.pfioc_rule())
        pr.action = C.PF_GET_CLR_CNTR
        if expect:
            assert err_of(fd, "DIOCGETRULE", pr) == expect
        else:
            call(fd, "DIOCGETRULE", pr)
            assert pr.rule.evaluations > 0  # the values before clearing are returned
            assert sim.main.active[0].evaluations == 0
        call(fd, "DIOCXEND", ctypes.c_uint32(pr.ticket))


def test_unknown_request_is_enodev_on_writable_but_eacces_on_read_only(sim, ro, rw):
    bogus = ioc("_IOWR", "D", 21, 123)  # DIOCGETSTATUS's number with a wrong struct size
    arg = (ctypes.c_char * 123)()
    assert err_of(rw, None, arg, number=bogus) == errno.ENODEV
    assert err_of(ro, None, arg, number=bogus) == errno.EACCES


def test_a_struct_of_another_release_is_an_unknown_request():
    sim = Simulator("small", release="7.9")
    old = select_abi("7.8", "amd64")
    pr = old.layout.pfioc_rule()
    assert err_of(sim.open(True), None, pr, number=old.request("DIOCGETRULES").number) == errno.ENODEV


def test_securelevel_2_refuses_changes_with_eperm_but_serves_reads():
    sim = Simulator("small", securelevel=2)
    fd = sim.open(True)
    L = sim.layout
    call(fd, "DIOCGETSTATUS", L.pf_status())
    assert err_of(fd, "DIOCSTOP") == errno.EPERM
    assert err_of(fd, "DIOCSETLIMIT", L.pfioc_limit()) == errno.EPERM
    io = L.pfioc_table(pfrio_esize=ctypes.sizeof(L.pfr_table))
    assert err_of(fd, "DIOCRADDTABLES", io) == errno.EPERM
    io.pfrio_flags = C.PFR_FLAG_DUMMY
    call(fd, "DIOCRADDTABLES", io)  # dummy runs are allowed
    assert err_of(fd, None, (ctypes.c_char * 8)(), number=ioc("_IOWR", "D", 250, 8)) == errno.EPERM


def test_securelevel_2_cannot_release_rule_tickets(sim):
    """DIOCXEND is missing from pfioctl's securelevel list: at securelevel > 1 it is EPERM and
    tickets stay open until the descriptor is closed."""
    sim.securelevel = 2
    fd = sim.open(False)
    pr = call(fd, "DIOCGETRULES", sim.layout.pfioc_rule())
    assert err_of(fd, "DIOCXEND", ctypes.c_uint32(pr.ticket)) == errno.EPERM
    assert fd.open_tickets == 1
    fd.close()
    assert sim.open_tickets() == 0


def test_start_and_stop_answer_eexist_and_enoent(sim, rw):
    assert err_of(rw, "DIOCSTART") == errno.EEXIST
    call(rw, "DIOCSTOP")
    assert not sim.running and sim.since == sim.clock.uptime()
    assert err_of(rw, "DIOCSTOP") == errno.ENOENT
    sim.advance(5)
    call(rw, "DIOCSTART")
    assert sim.running and sim.since == sim.clock.uptime()


def test_closed_descriptor_is_ebadf(sim):
    fd = sim.open(False)
    fd.close()
    assert err_of(fd, "DIOCGETSTATUS", sim.layout.pf_status()) == errno.EBADF


def test_argument_shorter_than_the_request_is_efault(sim, ro):
    assert err_of(ro, "DIOCGETSTATUS", (ctypes.c_char * 16)()) == errno.EFAULT


# --- nothing is copied back on error ------------------------------------------------------------

def test_failed_request_leaves_the_callers_struct_untouched(sim, ro):
    L = sim.layout
    pq = call(ro, "DIOCGETQUEUES", L.pfioc_queue())
    buf = ctypes.create_string_buffer(8)
    qs = L.pfioc_qstats(ticket=pq.ticket, nr=1, buf=ctypes.addressof(buf), nbytes=8)
    assert err_of(ro, "DIOCGETQSTATS", qs) == errno.EINVAL  # nbytes below the stats size
    assert bytes(qs.queue.qname) == b"" and qs.nbytes == 8  # the kernel had filled pq->queue already


# --- status -----------------------------------------------------------------------------------

def test_status_keeps_hostid_in_network_order_and_since_in_uptime(sim, ro):
    s = call(ro, "DIOCGETSTATUS", sim.layout.pf_status())
    assert struct.pack("<I", s.hostid) == struct.pack(">I", sim.hostid)
    assert s.since == 31 and s.running == 1
    assert bytes(s.ifname) == b"em0"
    assert s.pcounters[0][0][0] == int(sim.kifs["em0"].packets[0])  # loginterface counters: em0 only
    assert s.states == len(sim.states)


def test_loginterface_group_sums_its_members(large_sim):
    sim = large_sim
    fd = sim.open(False)
    s = call(fd, "DIOCGETSTATUS", sim.layout.pf_status())
    fd.close()
    assert bytes(s.ifname) == b"egress"
    assert s.bcounters[0][1] == sum(int(sim.kifs["em0"].bytes[i]) for i in (2, 3))


def test_clear_status_zeroes_pf_counters_but_not_limit_counters(sim, rw):
    sim.advance(10)
    call(rw, "DIOCCLRSTATUS", sim.layout.pfioc_iface())
    s = call(rw, "DIOCGETSTATUS", sim.layout.pf_status())
    assert list(s.counters) == [0] * C.PFRES_MAX and list(s.fcounters) == [0, 0, 0]
    assert s.lcounters[C.LCNT_SRCCONN] > 0
    assert s.since == sim.clock.uptime()


# --- limits and timeouts ---------------------------------------------------------------------

def test_limit_and_timeout_indexes_are_checked(sim, ro):
    L = sim.layout
    assert err_of(ro, "DIOCGETLIMIT", L.pfioc_limit(index=C.PF_LIMIT_MAX)) == errno.EINVAL
    assert err_of(ro, "DIOCGETLIMIT", L.pfioc_limit(index=-1)) == errno.EINVAL
    assert err_of(ro, "DIOCGETTIMEOUT", L.pfioc_tm(timeout=C.PFTM_MAX)) == errno.EINVAL
    assert call(ro, "DIOCGETLIMIT", L.pfioc_limit(index=C.PF_LIMIT_ANCHORS)).limit == 512


@pytest.mark.parametrize("release,immediate", [("7.6", False), ("7.7", False), ("7.8", True), ("7.9", True)])
def test_setlimit_is_immediate_from_78_and_waits_for_commit_before(release, immediate):
    sim = Simulator("small", release=release)
    fd = sim.open(True)
    L = sim.layout
    pl = call(fd, "DIOCSETLIMIT", L.pfioc_limit(index=C.PF_LIMIT_TABLES, limit=2000))
    assert sim.limits[C.PF_LIMIT_TABLES] == (2000 if immediate else 1000)
    assert pl.limit == (2000 if immediate else 1000)  # up to 7.7 the old value comes back
    tr = _trans(sim, [])
    call(fd, "DIOCXBEGIN", tr.io)
    call(fd, "DIOCXCOMMIT", tr.io)
    assert sim.limits[C.PF_LIMIT_TABLES] == 2000


def test_setlimit_below_what_is_in_use_is_ebusy(sim, rw):
    before = sim.fingerprint()
    assert err_of(rw, "DIOCSETLIMIT", sim.layout.pfioc_limit(index=C.PF_LIMIT_STATES, limit=10)) == errno.EBUSY
    assert sim.fingerprint() == before


def test_settimeout_takes_effect_at_commit_and_returns_the_old_value(sim, rw):
    L = sim.layout
    tr = _trans(sim, [])
    call(rw, "DIOCXBEGIN", tr.io)
    pt = call(rw, "DIOCSETTIMEOUT", L.pfioc_tm(timeout=C.PFTM_UDP_SINGLE, seconds=45))
    assert pt.seconds == 30 and sim.timeouts[C.PFTM_UDP_SINGLE] == 30
    call(rw, "DIOCXCOMMIT", tr.io)
    assert call(rw, "DIOCGETTIMEOUT", L.pfioc_tm(timeout=C.PFTM_UDP_SINGLE)).seconds == 45


# --- rule walks and tickets ---------------------------------------------------------------------

def test_rule_walk_tickets_belong_to_their_descriptor(sim):
    a, b = sim.open(False), sim.open(False)
    L = sim.layout
    pr = call(a, "DIOCGETRULES", L.pfioc_rule())
    assert pr.nr == len(sim.main.active)
    assert err_of(b, "DIOCGETRULE", L.pfioc_rule(ticket=pr.ticket)) == errno.ENXIO
    assert err_of(b, "DIOCXEND", ctypes.c_uint32(pr.ticket)) == errno.ENXIO
    call(a, "DIOCXEND", ctypes.c_uint32(pr.ticket))
    assert err_of(a, "DIOCXEND", ctypes.c_uint32(pr.ticket)) == errno.ENXIO
    assert sim.open_tickets() == 0


def test_getrule_iterates_then_answers_enoent(sim, ro):
    L = sim.layout
    pr = L.pfioc_rule()
    set_str(pr, "anchor", b"relayd/web")
    call(ro, "DIOCGETRULES", pr)
    assert pr.nr == 2
    labels = []
    for _ in range(2):
        call(ro, "DIOCGETRULE", pr)
        labels.append(bytes(pr.rule.label))
    assert labels == [b"relayd-web", b"relayd-web-out"]
    assert err_of(ro, "DIOCGETRULE", pr) == errno.ENOENT
    call(ro, "DIOCXEND", ctypes.c_uint32(pr.ticket))


def test_getrule_after_the_ruleset_changed_is_ebusy(sim, ro):
    pr = call(ro, "DIOCGETRULES", sim.layout.pfioc_rule())
    call(ro, "DIOCGETRULE", pr)
    sim.touch_ruleset("")
    assert err_of(ro, "DIOCGETRULE", pr) == errno.EBUSY
    call(ro, "DIOCXEND", ctypes.c_uint32(pr.ticket))


def test_a_descriptor_holds_at_most_512_tickets(sim):
    a, b = sim.open(False), sim.open(False)
    L = sim.layout
    tickets = [call(a, "DIOCGETRULES", L.pfioc_rule()).ticket for _ in range(512)]
    assert len(set(tickets)) == 512
    assert err_of(a, "DIOCGETRULES", L.pfioc_rule()) == errno.EBUSY
    call(b, "DIOCGETRULES", L.pfioc_rule())  # another descriptor is not affected
    a.close()
    assert sim.open_tickets() == 1


def test_unknown_anchor_is_einval_and_past_the_last_child_is_ebusy(sim, ro):
    L = sim.layout
    pr = L.pfioc_rule()
    set_str(pr, "anchor", b"nope")
    assert err_of(ro, "DIOCGETRULES", pr) == errno.EINVAL
    rs = L.pfioc_ruleset()
    set_str(rs, "path", b"office")
    assert call(ro, "DIOCGETRULESETS", rs).nr == 1
    rs.nr = 1
    assert err_of(ro, "DIOCGETRULESET", rs) == errno.EBUSY
    rs.nr = 0
    assert bytes(call(ro, "DIOCGETRULESET", rs).name) == b"guests"


def test_getrule_shows_anchor_calls_table_counts_and_no_kernel_pointers(sim, ro):
    L = sim.layout
    pr = call(ro, "DIOCGETRULES", L.pfioc_rule())
    rules = []
    for _ in range(pr.nr):
        call(ro, "DIOCGETRULE", pr)
        r = L.pfioc_rule.from_buffer_copy(pr)
        rules.append(r)
    call(ro, "DIOCXEND", ctypes.c_uint32(pr.ticket))
    calls = [bytes(r.anchor_call) for r in rules if r.anchor_call]
    assert calls == [b"relayd/*", b"ftp-proxy/*", b"office"]
    bf = next(r for r in rules if bytes(r.rule.label) == b"bruteforce")
    assert bf.rule.src.addr.type == C.PF_ADDR_TABLE and bf.rule.src.addr.p.tblcnt == 6
    assert all(not r.rule.kif and not r.rule.anchor and not r.rule.entries.tqe_next for r in rules)
    assert rules[-1].rule.skip[0].nr == 0xFFFFFFFF


# --- interfaces -------------------------------------------------------------------------------

def test_igetifaces_fills_size_minus_one_and_echoes_the_size_when_short(sim, ro):
    L = sim.layout
    n_kifs = len(sim.kifs)
    buf = (L.pfi_kif * 4)()
    io = L.pfioc_iface(pfiio_buffer=ctypes.addressof(buf), pfiio_esize=ctypes.sizeof(L.pfi_kif), pfiio_size=4)
    call(ro, "DIOCIGETIFACES", io)
    assert io.pfiio_size == 4  # "grow and retry"
    assert [bytes(k.pfik_name) for k in buf[:3]] == [b"all", b"egress", b"em0"] and bytes(buf[3].pfik_name) == b""
    big = (L.pfi_kif * (n_kifs + 1))()
    io = L.pfioc_iface(pfiio_buffer=ctypes.addressof(big), pfiio_esize=ctypes.sizeof(L.pfi_kif),
                       pfiio_size=n_kifs + 1)
    call(ro, "DIOCIGETIFACES", io)
    assert io.pfiio_size == n_kifs
    assert big[0].pfik_group and not big[0].pfik_ifp and big[2].pfik_ifp and not big[2].pfik_group


def test_igetifaces_checks_esize_and_the_buffer(sim, ro):
    L = sim.layout
    assert err_of(ro, "DIOCIGETIFACES", L.pfioc_iface(pfiio_esize=8, pfiio_size=4)) == errno.ENODEV
    io = L.pfioc_iface(pfiio_esize=ctypes.sizeof(L.pfi_kif), pfiio_size=0)
    assert err_of(ro, "DIOCIGETIFACES", io) == errno.EFAULT


def test_igetifaces_filters_by_group_name(sim, ro):
    L = sim.layout
    buf = (L.pfi_kif * 10)()
    io = L.pfioc_iface(pfiio_buffer=ctypes.addressof(buf), pfiio_esize=ctypes.sizeof(L.pfi_kif), pfiio_size=10)
    set_str(io, "pfiio_name", b"vlan")
    call(ro, "DIOCIGETIFACES", io)
    assert [bytes(k.pfik_name) for k in buf[: io.pfiio_size]] == [b"vlan", b"vlan10", b"vlan20"]


# --- tables -------------------------------------------------------------------------------------

def _tstats(sim, fd, size, flags=C.PFR_FLAG_ALLRSETS, anchor=b""):
    L = sim.layout
    buf = (L.pfr_tstats * max(size, 1))()
    io = L.pfioc_table(pfrio_buffer=ctypes.addressof(buf), pfrio_esize=ctypes.sizeof(L.pfr_tstats),
                       pfrio_size=size, pfrio_flags=flags)
    set_str(io.pfrio_table, "pfrt_anchor", anchor)
    call(fd, "DIOCRGETTSTATS", io)
    return io, buf


def test_rgettstats_too_small_returns_success_and_the_size_needed(sim, ro):
    io, buf = _tstats(sim, ro, 2)
    assert io.pfrio_size == 8 and bytes(buf[0].pfrts_t.pfrt_name) == b""
    io, buf = _tstats(sim, ro, 8)
    names = [(bytes(t.pfrts_t.pfrt_anchor), bytes(t.pfrts_t.pfrt_name), t.pfrts_t.pfrt_flags) for t in buf]
    inactive = [n for n in names if not n[2] & C.PFR_TFLAG_ACTIVE]
    assert (b"", b"guests", C.PFR_TFLAG_REFDANCHOR) in inactive  # the root of office/guests' table
    assert len(inactive) == 2


def test_rgettstats_per_anchor_and_unknown_anchor(sim, ro):
    io, buf = _tstats(sim, ro, 8, flags=0, anchor=b"office/guests")
    assert io.pfrio_size == 2
    with pytest.raises(OSError) as ei:
        _tstats(sim, ro, 8, flags=0, anchor=b"nope")
    assert ei.value.errno == errno.ENOENT
    with pytest.raises(OSError) as ei:
        _tstats(sim, ro, 8, flags=C.PFR_FLAG_ALLRSETS | C.PFR_FLAG_DUMMY)
    assert ei.value.errno == errno.EINVAL


def test_table_names_must_be_nul_padded(sim, ro):
    L = sim.layout
    buf = (L.pfr_addr * 40)()
    io = L.pfioc_table(pfrio_buffer=ctypes.addressof(buf), pfrio_esize=ctypes.sizeof(L.pfr_addr), pfrio_size=40)
    set_str(io.pfrio_table, "pfrt_name", b"spamd\0junk")
    assert err_of(ro, "DIOCRGETADDRS", io) == errno.EINVAL
    set_str(io.pfrio_table, "pfrt_name", b"spamd")
    set_str(io.pfrio_table, "pfrt_anchor", b"\0x")
    assert err_of(ro, "DIOCRGETADDRS", io) == errno.EINVAL
    set_str(io.pfrio_table, "pfrt_anchor", b"")
    call(ro, "DIOCRGETADDRS", io)
    assert io.pfrio_size == 25
    set_str(io.pfrio_table, "pfrt_name", b"nope")
    assert err_of(ro, "DIOCRGETADDRS", io) == errno.ESRCH


def test_rgetastats_marks_entries_of_tables_without_counters(sim, ro):
    L = sim.layout
    out = {}
    for name in (b"bruteforce", b"admins"):
        buf = (L.pfr_astats * 10)()
        io = L.pfioc_table(pfrio_buffer=ctypes.addressof(buf), pfrio_esize=ctypes.sizeof(L.pfr_astats),
                           pfrio_size=10)
        set_str(io.pfrio_table, "pfrt_name", name)
        call(ro, "DIOCRGETASTATS", io)
        out[name] = [buf[i].pfras_a.pfra_fback for i in range(io.pfrio_size)]
    assert set(out[b"admins"]) == {C.PFR_FB_NOCOUNT} and set(out[b"bruteforce"]) == {C.PFR_FB_NONE}


# --- states -------------------------------------------------------------------------------------

def test_getstates_negotiates_the_length_and_fills_whole_states(sim, ro):
    L = sim.layout
    esize = ctypes.sizeof(L.pfsync_state)
    ps = call(ro, "DIOCGETSTATES", L.pfioc_states())
    assert ps.ps_len == esize * len(sim.states)
    buf = (ctypes.c_char * (esize * 3 + 100))()
    ps.ps_len = len(buf)
    ps.ps_u.psu_buf = ctypes.addressof(buf)
    call(ro, "DIOCGETSTATES", ps)
    assert ps.ps_len == esize * 3
    first = L.pfsync_state.from_buffer_copy(buf)
    st = next(iter(sim.states.values()))
    assert struct.pack("<Q", first.id) == struct.pack(">Q", st.id)  # network byte order
    assert struct.pack("<I", first.creatorid) == struct.pack(">I", sim.hostid)
    assert struct.unpack(">I", struct.pack("<I", first.creation))[0] == sim.clock.uptime() - st.created
    assert bytes(first.ifname) == st.kif.encode()


def test_kill_states_by_id_uses_the_hostid_when_creatorid_is_zero(sim, rw):
    L = sim.layout
    st = next(iter(sim.states.values()))
    psk = L.pfioc_state_kill()
    psk.psk_pfcmp.id = struct.unpack("<Q", struct.pack(">Q", st.id))[0]
    call(rw, "DIOCKILLSTATES", psk)
    assert psk.psk_killed == 1 and st.id not in sim.states
    psk.psk_killed = 0
    call(rw, "DIOCKILLSTATES", psk)
    assert psk.psk_killed == 0


# --- queues -------------------------------------------------------------------------------------

@pytest.mark.parametrize("release,hfsc_size", [("7.6", 232), ("7.8", 232), ("7.9", 272), ("current", 272)])
def test_qstats_are_hfsc_or_fq_codel_in_each_release_layout(release, hfsc_size):
    sim = Simulator("small", release=release)
    fd = sim.open(False)
    L = sim.layout
    pq = call(fd, "DIOCGETQUEUES", L.pfioc_queue())
    assert pq.ticket == sim.main.active_version and pq.nr == 6
    sizes = {}
    for i in range(pq.nr):
        buf = ctypes.create_string_buffer(512)
        qs = L.pfioc_qstats(ticket=pq.ticket, nr=i, buf=ctypes.addressof(buf), nbytes=512)
        call(fd, "DIOCGETQSTATS", qs)
        sizes[bytes(qs.queue.qname)] = qs.nbytes
    assert sizes[b"lanq"] == 72  # a root flow queue: fq_codel statistics
    assert sizes[b"std"] == hfsc_size  # a flow queue inside the HFSC tree: HFSC statistics
    qs = L.pfioc_qstats(ticket=pq.ticket + 1, nr=0)
    assert err_of(fd, "DIOCGETQSTATS", qs) == errno.EBUSY
    assert err_of(fd, "DIOCGETQUEUE", L.pfioc_queue(ticket=pq.ticket, nr=6)) == errno.EBUSY


# --- 7.9 limiters ---------------------------------------------------------------------------------

def test_limiter_iteration_ends_with_enoent_for_state_and_esrch_for_source_limiters(sim, ro):
    L = sim.layout
    got = []
    ioc_ = L.pfioc_statelim(id=1)
    while True:
        try:
            call(ro, "DIOCGETNSTATELIM", ioc_)
        except OSError as e:
            assert e.errno == errno.ENOENT
            break
        got.append((ioc_.id, bytes(ioc_.name)))
        ioc_ = L.pfioc_statelim(id=ioc_.id + 1)
    assert got == [(1, b"web"), (2, b"ssh")]
    assert err_of(ro, "DIOCGETSTATELIM", L.pfioc_statelim(id=7)) == errno.ENOENT
    assert err_of(ro, "DIOCGETNSOURCELIM", L.pfioc_sourcelim(id=2)) == errno.ESRCH


def test_releases_before_79_have_no_limiter_requests():
    sim = Simulator("small", release="7.8")
    assert not sim.abi.has_limiters and not sim.statelims
    new = select_abi("7.9", "amd64")
    arg = new.layout.pfioc_statelim()
    assert err_of(sim.open(True), None, arg, number=new.request("DIOCGETNSTATELIM").number) == errno.ENODEV


# --- architectures -------------------------------------------------------------------------------

def test_i386_serves_plain_requests_and_refuses_buffer_pointers_clearly():
    sim = Simulator("small", arch="i386")
    fd = sim.open(False)
    L = sim.layout
    assert call(fd, "DIOCGETSTATUS", L.pf_status()).running == 1
    pr = call(fd, "DIOCGETRULES", L.pfioc_rule())
    call(fd, "DIOCGETRULE", pr)
    with pytest.raises(SimulatorUnsupported, match="amd64 or arm64"):
        call(fd, "DIOCIGETIFACES", L.pfioc_iface(pfiio_esize=ctypes.sizeof(L.pfi_kif)))


# --- model, clock, determinism -----------------------------------------------------------------------

def test_same_seed_same_simulation_and_reads_change_nothing():
    a, b = Simulator("small", seed=7), Simulator("small", seed=7)
    assert a.fingerprint() == b.fingerprint()
    for s in (a, b):
        s.advance(30)
        s.advance(30)
    assert a.fingerprint() == b.fingerprint()
    assert Simulator("small", seed=8).fingerprint() != a.fingerprint()
    fd = a.open(False)
    before = a.fingerprint()
    pr = call(fd, "DIOCGETRULES", a.layout.pfioc_rule())
    call(fd, "DIOCGETRULE", pr)
    call(fd, "DIOCXEND", ctypes.c_uint32(pr.ticket))
    assert a.fingerprint() == before


def test_advance_moves_counters_and_keeps_the_state_count_near_its_target(sim):
    r0 = sim.main.active[8]
    ev, pk = r0.evaluations, sum(r0.packets)
    em0 = sum(sim.kifs["em0"].packets)
    inserts = sim.fcounters[C.FCNT_STATE_INSERT]
    for _ in range(20):
        sim.advance(60)
    assert r0.evaluations > ev and sum(r0.packets) > pk and sum(sim.kifs["em0"].packets) > em0
    assert sim.fcounters[C.FCNT_STATE_INSERT] > inserts and sim.fcounters[C.FCNT_STATE_REMOVALS] > 0
    assert 0.9 * sim.state_target <= len(sim.states) <= 1.1 * sim.state_target
    assert sim.queues[1].xmit_packets > 0


def test_stopped_pf_does_not_count():
    sim = Simulator("small")
    sim.running = False
    before = sim.counters[C.PFRES_MATCH]
    sim.advance(60)
    assert sim.counters[C.PFRES_MATCH] == before


def test_state_fill_sets_the_state_count_relative_to_the_limit():
    sim = Simulator("small", state_fill=0.85)
    assert len(sim.states) == 8500 and sim.limits[C.PF_LIMIT_STATES] == 10000


def test_injectable_clock_and_fault_hook():
    clock = SimClock(epoch=2_000_000_000, uptime=100)
    sim = Simulator("empty", clock=clock)
    assert sim.kifs["em0"].tzero == 2_000_000_000 - 100 + 12
    fd = sim.open(False)
    sim.inject("DIOCGETSTATUS", errno.EIO, after=1)
    call(fd, "DIOCGETSTATUS", sim.layout.pf_status())
    assert err_of(fd, "DIOCGETSTATUS", sim.layout.pf_status()) == errno.EIO
    call(fd, "DIOCGETSTATUS", sim.layout.pf_status())


def test_unknown_scenario_and_release_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="empty, small, large"):
        Simulator("huge")
    with pytest.raises(ValueError, match="7.6"):
        Simulator("small", release="6.9")


# --- helpers for transactions --------------------------------------------------------------------

class _Trans:
    def __init__(self, sim, entries):
        L = sim.layout
        self.arr = (L.pfioc_trans_e * max(1, len(entries)))()
        for i, (typ, anchor) in enumerate(entries):
            self.arr[i].type = typ
            set_str(self.arr[i], "anchor", anchor.encode())
        self.io = L.pfioc_trans(size=len(entries), esize=ctypes.sizeof(L.pfioc_trans_e),
                                array=ctypes.addressof(self.arr))


def _trans(sim, entries):
    return _Trans(sim, entries)
