"""The simulator's write side: transactions commit atomically and roll back cleanly, table
address changes count like pf_table.c, killed states disappear; a rejected change leaves
the model exactly as it was (``sim.fingerprint()``)."""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import struct

import pytest

from pf_exporter.abi import constants as C
from pf_exporter.device import Device
from pf_exporter.pf import PacketFilter
from pf_exporter.simulator import Simulator, build_rule


def call(fd, name, arg=None):
    fd.ioctl(fd.sim.abi.request(name).number, arg)
    return arg


def err_of(fd, name, arg=None):
    with pytest.raises(OSError) as ei:
        call(fd, name, arg)
    return ei.value.errno


def set_str(obj, field, value: str | bytes):
    value = value.encode() if isinstance(value, str) else value
    desc = getattr(type(obj), field)
    ctypes.memmove(ctypes.addressof(obj) + desc.offset, value.ljust(desc.size, b"\0")[: desc.size], desc.size)


class Trans:
    """A pfioc_trans over (type, anchor) elements, as pfctl builds it."""

    def __init__(self, sim, *entries):
        L = sim.layout
        self.arr = (L.pfioc_trans_e * len(entries))()
        for i, (typ, anchor) in enumerate(entries):
            self.arr[i].type = typ
            set_str(self.arr[i], "anchor", anchor)
        self.io = L.pfioc_trans(size=len(entries), esize=ctypes.sizeof(L.pfioc_trans_e),
                                array=ctypes.addressof(self.arr))

    def ticket(self, i):
        return self.arr[i].ticket


def addrs(sim, *specs):
    L = sim.layout
    arr = (L.pfr_addr * max(1, len(specs)))()
    for i, spec in enumerate(specs):
        neg = spec.startswith("!")
        net = ipaddress.ip_network(spec.lstrip("!"), strict=False)
        a = arr[i]
        a.pfra_af = C.AF_INET if net.version == 4 else C.AF_INET6
        ctypes.memmove(ctypes.addressof(a.pfra_u), net.network_address.packed, len(net.network_address.packed))
        a.pfra_net = net.prefixlen
        a.pfra_not = int(neg)
    return arr


def table_io(sim, name, anchor="", arr=None, flags=0, esize_tag="pfr_addr"):
    """A pfioc_table; it keeps *arr* alive (the kernel only gets its address)."""
    L = sim.layout
    io = L.pfioc_table(pfrio_esize=ctypes.sizeof(getattr(L, esize_tag)) if esize_tag else 0, pfrio_flags=flags)
    set_str(io.pfrio_table, "pfrt_name", name)
    set_str(io.pfrio_table, "pfrt_anchor", anchor)
    if arr is not None:
        io.pfrio_buffer = ctypes.addressof(arr)
        io.pfrio_size = len(arr)
        io._keep = arr
    return io


def add_rule(sim, fd, anchor, ticket, call_anchor="", **spec):
    pr = sim.layout.pfioc_rule(ticket=ticket)
    set_str(pr, "anchor", anchor)
    set_str(pr, "anchor_call", call_anchor)
    pr.rule = build_rule(sim.layout, **spec)
    return call(fd, "DIOCADDRULE", pr)


@pytest.fixture
def rw(sim):
    return sim.open(True)


# --- transactions ---------------------------------------------------------------------------

def test_anchor_transaction_loads_rules_and_tables_atomically(sim, rw, pf):
    tr = Trans(sim, (C.PF_TRANS_RULESET, "admin/blocklist"), (C.PF_TRANS_TABLE, "admin/blocklist"))
    call(rw, "DIOCXBEGIN", tr.io)
    arr = addrs(sim, "198.51.100.0/24", "203.0.113.9")
    io = table_io(sim, "blocked", "admin/blocklist", arr, flags=C.PFR_FLAG_ADDRSTOO)
    io.pfrio_table.pfrt_flags = C.PFR_TFLAG_PERSIST
    io.pfrio_ticket = tr.ticket(1)
    call(rw, "DIOCRINADEFINE", io)
    assert (io.pfrio_nadd, io.pfrio_size2) == (1, 2)  # nadd, naddr
    add_rule(sim, rw, "admin/blocklist", tr.ticket(0), action="block", direction="in", quick=True,
             src="<blocked>", label="blocklist")
    add_rule(sim, rw, "admin/blocklist", tr.ticket(0), action="pass", direction="out", label="blocklist-out")
    # nothing is visible before the commit
    assert "admin/blocklist" not in [rs.path for rs in pf.iter_rulesets() if rs.rules]
    assert "blocked" not in {t.name for t in pf.tables()}
    call(rw, "DIOCXCOMMIT", tr.io)
    got = {rs.path: rs for rs in pf.iter_rulesets()}
    assert [(r.number, r.action, r.label) for r in got["admin/blocklist"].rules] == [
        (0, "block", "blocklist"), (1, "pass", "blocklist-out")]
    assert "admin" in got and pf.anchors().index("admin/blocklist") == pf.anchors().index("admin") + 1
    t = next(t for t in pf.tables() if t.name == "blocked")
    assert (t.anchor, t.addresses, t.rule_references) == ("admin/blocklist", 2, 1)
    assert "active" in t.flags and "referenced" in t.flags
    assert sim.open_tickets() == 0


def test_main_ruleset_commit_changes_the_checksum_and_replaces_rules(sim, rw, pf):
    before = pf.status().checksum
    tr = Trans(sim, (C.PF_TRANS_RULESET, ""))
    call(rw, "DIOCXBEGIN", tr.io)
    add_rule(sim, rw, "", tr.ticket(0), action="block", label="lockdown")
    add_rule(sim, rw, "", tr.ticket(0), action="pass", direction="in", on="em1", label="lan")
    call(rw, "DIOCXCOMMIT", tr.io)
    assert pf.status().checksum != before
    assert [r.label for r in pf.rule_counters("")] == ["lockdown", "lan"]
    # nothing calls the anchors any more, but they keep their rules (and children), so they stay
    assert pf.anchors() == ["ftp-proxy", "ftp-proxy/21345.1", "office", "office/guests", "relayd",
                                "relayd/web"]
    assert pf.queues() == []  # a main-ruleset load replaces the queues too


def test_commit_with_a_stale_ticket_is_ebusy_and_changes_nothing(sim, rw):
    tr = Trans(sim, (C.PF_TRANS_RULESET, "office"), (C.PF_TRANS_TABLE, "office"))
    call(rw, "DIOCXBEGIN", tr.io)
    add_rule(sim, rw, "office", tr.ticket(0), action="block", label="new")
    staged = sim.fingerprint()
    tr.arr[1].ticket += 1
    assert err_of(rw, "DIOCXCOMMIT", tr.io) == errno.EBUSY
    assert sim.fingerprint() == staged
    assert [r.label for r in sim.find_ruleset("office").active] == ["office-in", "office-files", ""]


def test_rollback_restores_the_model(sim, rw):
    before = sim.fingerprint()
    tr = Trans(sim, (C.PF_TRANS_RULESET, "tmp/x"), (C.PF_TRANS_TABLE, "tmp/x"))
    call(rw, "DIOCXBEGIN", tr.io)
    add_rule(sim, rw, "tmp/x", tr.ticket(0), action="pass", label="t", src="<scratch>")
    io = table_io(sim, "scratch", "tmp/x", addrs(sim, "192.0.2.1"), flags=C.PFR_FLAG_ADDRSTOO)
    io.pfrio_ticket = tr.ticket(1)
    call(rw, "DIOCRINADEFINE", io)
    assert sim.fingerprint() != before
    call(rw, "DIOCXROLLBACK", tr.io)
    assert sim.fingerprint() == before
    assert "tmp" not in sim.anchors


def test_second_begin_invalidates_the_first_transaction(sim, rw):
    first = Trans(sim, (C.PF_TRANS_RULESET, "office"))
    call(rw, "DIOCXBEGIN", first.io)
    second = Trans(sim, (C.PF_TRANS_RULESET, "office"))
    call(rw, "DIOCXBEGIN", second.io)
    assert second.ticket(0) == first.ticket(0) + 1
    assert err_of(rw, "DIOCXCOMMIT", first.io) == errno.EBUSY
    call(rw, "DIOCXCOMMIT", second.io)
    assert sim.find_ruleset("office").active == []  # emptied, kept: it has a child and a caller


def test_addrule_checks(sim, rw):
    tr = Trans(sim, (C.PF_TRANS_RULESET, "office"))
    call(rw, "DIOCXBEGIN", tr.io)
    t = tr.ticket(0)
    before = sim.fingerprint()
    assert _add_err(sim, rw, "office", t + 1, action="pass") == errno.EBUSY
    assert _add_err(sim, rw, "nope", t, action="pass") == errno.EINVAL
    assert _add_err(sim, rw, "office", t, action="pass", queue="no-such-queue") == errno.EBUSY
    assert _add_err(sim, rw, "office", t, action="pass", proto="tcp", dport=(2000, 1000)) == errno.EINVAL
    r = build_rule(sim.layout, "pass")
    r.af = 99
    pr = sim.layout.pfioc_rule(ticket=t)
    set_str(pr, "anchor", "office")
    pr.rule = r
    assert err_of(rw, "DIOCADDRULE", pr) == errno.EPFNOSUPPORT
    r.af = 0
    r.src.addr.type = C.PF_ADDR_NONE
    pr.rule = r
    assert err_of(rw, "DIOCADDRULE", pr) == errno.EINVAL
    assert _add_err(sim, rw, "office", t, action="anchor", call_anchor="../../x") == errno.EINVAL
    assert sim.fingerprint() == before
    call(rw, "DIOCXROLLBACK", tr.io)


def _add_err(sim, fd, anchor, ticket, call_anchor="", **spec):
    with pytest.raises(OSError) as ei:
        add_rule(sim, fd, anchor, ticket, call_anchor, **spec)
    return ei.value.errno


def test_relative_anchor_calls_come_back_as_written(sim, rw, pf):
    tr = Trans(sim, (C.PF_TRANS_RULESET, "office/guests"))
    call(rw, "DIOCXBEGIN", tr.io)
    add_rule(sim, rw, "office/guests", tr.ticket(0), call_anchor="../vip/*", action="anchor")
    add_rule(sim, rw, "office/guests", tr.ticket(0), call_anchor="/relayd", action="anchor")
    call(rw, "DIOCXCOMMIT", tr.io)
    assert [r.anchor_call for r in pf.rule_counters("office/guests")] == ["../vip/*", "/relayd"]
    assert "office/vip" in pf.anchors()


def test_options_wait_for_commit(sim, rw, pf):
    tr = Trans(sim, (C.PF_TRANS_RULESET, "office"))
    call(rw, "DIOCXBEGIN", tr.io)
    io = sim.layout.pfioc_iface()
    set_str(io, "pfiio_name", "em1")
    call(rw, "DIOCSETSTATUSIF", io)
    call(rw, "DIOCSETDEBUG", ctypes.c_uint32(7))
    call(rw, "DIOCSETHOSTID", ctypes.c_uint32(struct.unpack("<I", struct.pack(">I", 0x01020304))[0]))
    assert pf.status().loginterface == "em0"
    call(rw, "DIOCXCOMMIT", tr.io)
    st = pf.status()
    assert (st.loginterface, st.debug, st.hostid) == ("em1", 7, 0x01020304)
    call(rw, "DIOCSETSTATUSIF", sim.layout.pfioc_iface())  # an empty name clears it at once
    assert pf.status().loginterface == ""


# --- table addresses ---------------------------------------------------------------------------

def test_add_addresses_counts_new_ones_and_reports_feedback(sim, rw, pf):
    arr = addrs(sim, "192.0.2.200", "192.0.2.10", "192.0.2.200", "!192.0.2.11")
    io = table_io(sim, "spamd", arr=arr, flags=C.PFR_FLAG_FEEDBACK | C.PFR_FLAG_DUMMY)
    before = sim.fingerprint()
    call(rw, "DIOCRADDADDRS", io)
    assert io.pfrio_nadd == 1 and sim.fingerprint() == before  # a dummy run changes nothing
    assert [a.pfra_fback for a in arr] == [C.PFR_FB_ADDED, C.PFR_FB_NONE, C.PFR_FB_DUPLICATE, C.PFR_FB_CONFLICT]
    arr = addrs(sim, "192.0.2.200", "192.0.2.10")
    io = table_io(sim, "spamd", arr=arr)
    call(rw, "DIOCRADDADDRS", io)
    assert io.pfrio_nadd == 1
    assert next(t for t in pf.tables() if t.name == "spamd").addresses == 26
    assert "192.0.2.200" in {str(a) for a in pf.table_addresses("spamd")}


def test_delete_set_and_clear_addresses(sim, rw, pf):
    io = table_io(sim, "admins", arr=addrs(sim, "192.168.1.10", "192.0.2.1"))
    call(rw, "DIOCRDELADDRS", io)
    assert io.pfrio_ndel == 1
    io = table_io(sim, "admins", arr=addrs(sim, "!192.168.1.11", "10.99.0.2", "10.99.0.3", "10.99.0.4"))
    call(rw, "DIOCRSETADDRS", io)
    assert (io.pfrio_nadd, io.pfrio_ndel, io.pfrio_nchange) == (2, 0, 1)
    got = {str(a) for a in pf.table_addresses("admins")}
    assert got == {"!192.168.1.11", "10.99.0.2", "10.99.0.3", "10.99.0.4"}
    io = table_io(sim, "admins", arr=addrs(sim, "10.99.0.2"))
    call(rw, "DIOCRSETADDRS", io)
    assert (io.pfrio_nadd, io.pfrio_ndel, io.pfrio_nchange) == (0, 3, 0)
    io = table_io(sim, "admins", esize_tag=None)
    call(rw, "DIOCRCLRADDRS", io)
    assert io.pfrio_ndel == 1 and pf.table_addresses("admins") == []


def test_table_address_errors_change_nothing(sim, rw):
    before = sim.fingerprint()
    assert err_of(rw, "DIOCRADDADDRS", table_io(sim, "private", arr=addrs(sim, "192.0.2.1"))) == errno.EPERM
    assert err_of(rw, "DIOCRADDADDRS", table_io(sim, "nope", arr=addrs(sim, "192.0.2.1"))) == errno.ESRCH
    bad = addrs(sim, "192.0.2.1", "192.0.2.0")
    bad[1].pfra_net = 24
    bad[1].pfra_u._pfra_ip4addr.s_addr = 0x0102000C  # host bits set below the prefix
    assert err_of(rw, "DIOCRADDADDRS", table_io(sim, "spamd", arr=bad)) == errno.EINVAL
    io = table_io(sim, "spamd", arr=addrs(sim, "192.0.2.1"))
    io.pfrio_esize = 4
    assert err_of(rw, "DIOCRADDADDRS", io) == errno.ENODEV
    io = table_io(sim, "spamd", arr=addrs(sim, "192.0.2.1"), flags=C.PFR_FLAG_ALLRSETS)
    assert err_of(rw, "DIOCRADDADDRS", io) == errno.EINVAL
    assert sim.fingerprint() == before


def test_add_and_delete_tables(sim, rw, pf):
    L = sim.layout
    arr = (L.pfr_table * 2)()
    set_str(arr[0], "pfrt_name", "fresh")
    arr[0].pfrt_flags = C.PFR_TFLAG_PERSIST
    set_str(arr[1], "pfrt_name", "spamd")
    io = L.pfioc_table(pfrio_buffer=ctypes.addressof(arr), pfrio_esize=ctypes.sizeof(L.pfr_table), pfrio_size=2)
    call(rw, "DIOCRADDTABLES", io)
    assert io.pfrio_nadd == 1 and "fresh" in {t.name for t in pf.tables()}
    arr[1].pfrt_flags = 0
    arr[0].pfrt_flags = 0
    call(rw, "DIOCRDELTABLES", io)
    assert io.pfrio_ndel == 2
    assert {"fresh", "spamd"}.isdisjoint(t.name for t in pf.tables())
    spamd = sim.tables.lookup("spamd", "")  # a rule still refers to it: inactive, not gone
    assert spamd.flags == C.PFR_TFLAG_REFERENCED and sim.tables.lookup("fresh", "") is None


# --- states -----------------------------------------------------------------------------------

def _kill(sim, fd, **kw):
    psk = sim.layout.pfioc_state_kill()
    for k, v in kw.items():
        if k in ("psk_ifname", "psk_label"):
            set_str(psk, k, v)
        else:
            setattr(psk, k, v)
    call(fd, "DIOCKILLSTATES", psk)
    return psk


def test_kill_states_by_label_interface_and_network(sim, rw, pf):
    by_label = sum(1 for s in sim.states.values() if s.rule.label == "lan-in")
    assert by_label > 0
    assert _kill(sim, rw, psk_label="lan-in").psk_killed == by_label
    assert all(s.rule.label != "lan-in" for s in sim.states.values())
    assert next(r for r in pf.rule_counters("") if r.label == "lan-in").states_current == 0

    on_wg0 = sum(1 for s in sim.states.values() if s.kif == "wg0")
    assert on_wg0 and _kill(sim, rw, psk_ifname="wg0").psk_killed == on_wg0
    assert all(s.interface != "wg0" for s in pf.states())

    psk = sim.layout.pfioc_state_kill(psk_af=C.AF_INET)
    ctypes.memmove(ctypes.addressof(psk.psk_src.addr.v.a.addr), bytes([192, 168, 0, 0]), 4)
    ctypes.memmove(ctypes.addressof(psk.psk_src.addr.v.a.mask), bytes([255, 255, 0, 0]), 4)
    want = sum(1 for s in sim.states.values() if s.af == C.AF_INET and s.src[:2] == bytes([192, 168]))
    call(rw, "DIOCKILLSTATES", psk)
    assert want and psk.psk_killed == want
    assert pf.status().states == len(sim.states)


def test_kill_states_by_port_range_and_exact_connection(sim, rw):
    psk = sim.layout.pfioc_state_kill(psk_proto=C.IPPROTO_TCP)
    psk.psk_dst.port_op = C.PF_OP_RRG
    psk.psk_dst.port[0], psk.psk_dst.port[1] = 0x0100, 0xBB01  # 1..443 in network order
    want = sum(1 for s in sim.states.values() if s.proto == C.IPPROTO_TCP and 1 <= _ntohs(s.dport) <= 443)
    call(sim.open(True), "DIOCKILLSTATES", psk)
    assert psk.psk_killed == want > 0

    st = next(s for s in sim.states.values() if s.proto == C.IPPROTO_UDP and s.direction == C.PF_IN)
    psk = sim.layout.pfioc_state_kill(psk_af=st.af, psk_proto=st.proto)
    psk.psk_src.port_op = psk.psk_dst.port_op = C.PF_OP_EQ
    psk.psk_src.port[0], psk.psk_dst.port[0] = st.sport, st.dport
    ctypes.memmove(ctypes.addressof(psk.psk_src.addr.v.a.addr), st.src, 16)
    ctypes.memmove(ctypes.addressof(psk.psk_dst.addr.v.a.addr), st.dst, 16)
    call(rw, "DIOCKILLSTATES", psk)
    assert psk.psk_killed == 1 and st.id not in sim.states


def _ntohs(v):
    return ((v & 0xFF) << 8) | (v >> 8)


def test_clear_states_of_one_interface_then_all(sim, rw):
    L = sim.layout
    on = sum(1 for s in sim.states.values() if s.kif == "vlan20")
    psk = L.pfioc_state_kill()
    set_str(psk, "psk_ifname", "vlan20")
    call(rw, "DIOCCLRSTATES", psk)
    assert psk.psk_killed == on
    rest = len(sim.states)
    psk = call(rw, "DIOCCLRSTATES", L.pfioc_state_kill())
    assert psk.psk_killed == rest and not sim.states
    assert sim.kifs["all"].states == 0 and all(r.states_cur == 0 for r in sim.iter_rules())


def test_killed_and_expired_states_count_as_removals(sim, rw):
    removals = sim.fcounters[C.FCNT_STATE_REMOVALS]
    _kill(sim, rw, psk_label="nat-lan")
    assert sim.fcounters[C.FCNT_STATE_REMOVALS] > removals


def test_writable_device_maps_errors_to_named_exceptions(sim):
    from pf_exporter.errors import PfBusy, PfExists, PfInvalid, PfPermissionError

    ro = Device(sim.abi, sim.open(False))
    rw = Device(sim.abi, sim.open(True))
    with pytest.raises(PfPermissionError):
        ro.ioctl("DIOCSTART")
    with pytest.raises(PfExists):
        rw.ioctl("DIOCSTART")
    with pytest.raises(PfBusy):
        rw.ioctl("DIOCSETLIMIT", sim.layout.pfioc_limit(index=C.PF_LIMIT_STATES, limit=1))
    with pytest.raises(PfInvalid):
        rw.ioctl("DIOCGETLIMIT", sim.layout.pfioc_limit(index=99))
    PacketFilter.from_device(rw).status()


def test_every_release_accepts_the_same_transaction():
    for release in ("7.6", "7.7", "7.8", "7.9", "current"):
        sim = Simulator("empty", release=release)
        fd = sim.open(True)
        tr = Trans(sim, (C.PF_TRANS_RULESET, ""))
        call(fd, "DIOCXBEGIN", tr.io)
        add_rule(sim, fd, "", tr.ticket(0), action="pass", label=f"r{release}")
        call(fd, "DIOCXCOMMIT", tr.io)
        ro = PacketFilter.from_device(Device(sim.abi, sim.open(False)))
        assert [r.label for r in ro.rule_counters()] == [f"r{release}"]


def test_dynamic_interface_addresses_show_their_address_count(sim, rw, pf):
    """pfi_dynaddr_copyout(): `(lo0)` stands for 127.0.0.1 in inet and ::1, fe80::1 in inet6."""
    tr = Trans(sim, (C.PF_TRANS_RULESET, "dyn"))
    call(rw, "DIOCXBEGIN", tr.io)
    for af, mask in (("inet", b"\xff" * 4), ("inet6", b"\xff" * 16), ("inet", b"\xff" * 4)):
        r = build_rule(sim.layout, "pass", af=af)
        r.src.addr.type = C.PF_ADDR_DYNIFTL
        set_str(r.src.addr.v, "ifname", "lo0")
        ctypes.memmove(ctypes.addressof(r.src.addr.v.a.mask), mask, len(mask))
        pr = sim.layout.pfioc_rule(ticket=tr.ticket(0), rule=r)
        set_str(pr, "anchor", "dyn")
        call(rw, "DIOCADDRULE", pr)
    call(rw, "DIOCXCOMMIT", tr.io)
    pr = sim.layout.pfioc_rule()
    set_str(pr, "anchor", "dyn")
    call(rw, "DIOCGETRULES", pr)
    got = []
    for _ in range(3):
        call(rw, "DIOCGETRULE", pr)
        got.append((pr.rule.src.addr.p.dyncnt, pr.rule.skip[C.PF_SKIP_SRC_ADDR].nr))
    call(rw, "DIOCXEND", ctypes.c_uint32(pr.ticket))
    # counts per family; and the three share one dynamic table, so the src-address skip runs to the end
    assert got == [(1, 0xFFFFFFFF), (2, 0xFFFFFFFF), (1, 0xFFFFFFFF)]
    assert sim.kifs["lo0"].rules == 3


# --- set limit table-entries, as the kernel's pool enforces it -------------------------------------

def _entries_room(sim: Simulator, room: int) -> None:
    sim.limits[C.PF_LIMIT_TABLE_ENTRIES] = sim.tables.entry_count() + room


def test_table_entries_past_the_limit_are_enomem_and_nothing_is_added() -> None:
    sim = Simulator("small", release="7.9")
    pf = PacketFilter.from_device(Device(sim.abi, sim.open(True)), sim)
    _entries_room(sim, 3)
    before = sim.fingerprint()
    with pytest.raises(OSError) as e:
        pf.add_addresses("bruteforce", [f"203.0.113.{i}" for i in range(1, 5)])  # 4 > 3
    assert e.value.errno == errno.ENOMEM
    assert sim.fingerprint() == before
    assert pf.add_addresses("bruteforce", [f"203.0.113.{i}" for i in range(1, 4)]).added == 3  # exactly the limit
    with pytest.raises(OSError):
        pf.add_addresses("bruteforce", ["203.0.113.200"])


def test_replacing_a_table_needs_room_for_the_new_entries_before_the_old_are_freed() -> None:
    sim = Simulator("small", release="7.9")
    pf = PacketFilter.from_device(Device(sim.abi, sim.open(True)), sim)
    pf.replace_addresses("bruteforce", ["203.0.113.1", "203.0.113.2"])
    _entries_room(sim, 1)
    before = sim.fingerprint()
    with pytest.raises(OSError) as e:
        pf.replace_addresses("bruteforce", ["198.51.100.1", "198.51.100.2"])
    assert e.value.errno == errno.ENOMEM and sim.fingerprint() == before


def test_a_load_whose_tables_do_not_fit_is_enomem_and_rolled_back() -> None:
    sim = Simulator("small", release="7.9")
    pf = PacketFilter.from_device(Device(sim.abi, sim.open(True)), sim)
    _entries_room(sim, 2)
    before = sim.fingerprint()
    with pytest.raises(OSError) as e:
        pf.load("table <t> { 192.0.2.1 192.0.2.2 192.0.2.3 }\npass from <t>\n", "deploy")
    assert e.value.errno == errno.ENOMEM and sim.fingerprint() == before


def test_killed_states_stay_gone_until_traffic_brings_new_ones_at_the_scenarios_rate() -> None:
    sim = Simulator("small", release="7.9")
    pf = PacketFilter.from_device(Device(sim.abi, sim.open(True)), sim)
    target = sim.state_target
    assert target > 100 and abs(len(sim.states) - target) < target * 0.1
    killed = pf.kill_states(all=True)
    assert killed > 100 and len(sim.states) == 0
    sim.advance(15)  # a scrape interval later: a few new connections, not a refilled table
    rate = target / sim.state_mean_life
    assert 0 < len(sim.states) <= 15 * rate * 1.3 + 1
    for _ in range(200):  # a few mean lifetimes later the table is back around its target
        sim.advance(15)
    assert abs(len(sim.states) - target) < target * 0.15
